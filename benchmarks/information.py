"""Information-theoretic coarse-graining benchmark: estimators vs the Markov-blanket reference, learned maps, the
information lost per RG step, and Swendsen's stochastic map P(s' | V) ~ exp(p s' sum V).

Sections (``--only`` picks some):
- ``estimators``: InfoNCE and NWJ (equinox critics, optax) against the reference I(H : E), 2x2 majority blocks, buffer
  widths 1 and 2, T = 2.0, T_c, 3.0 on L = 32 (goal: within 3%). Critic trained on half the (block, ring) pairs,
  evaluated on the other half; the reference is evaluated on the same held-out environments.
- ``learned``: FilterMaps trained by gradient on the reference I(H : E) at T_c (b = 2, 3; one and two hidden variables)
  and the 2x2 filter across T, against majority rule and decimation (paired jackknife differences).
- ``loss``: exact information lost per fine spin H(fine | coarse) on the 4x4 torus (levels 1 and 2) for T = 1.5..3.5;
  at L = 64 the environment information the block carries and the coarse variable drops, I(V : E) - I(H : E), per block.
- ``swendsen``: the p-map's information loss against p (exact 4x4 and reference at L = 32), p by gradient ascent on
  I(H : E).
- ``trajectory``: InfoNCE estimates of I(V : E), I(H : E) and their difference along the RG trajectory (levels 0-3
  at T_c, L = 64), for majority rule and decimation.
- ``mcrg``: MCRG exponents against p on one set of T_c configurations (``--mcrg-L``, ``--mcrg-samples``, ``--mcrg-p``).

Usage: python benchmarks/information.py [--quick] [--only estimators learned loss swendsen] [--out FILE]
Writes benchmarks/results/information-<host>.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxrg import files, stats
from jaxrg.exact import CRITICAL_COUPLING
from jaxrg.rg.blocking import swendsen_rule
from jaxrg.rg.information import (
    FilterMap, block_environments, boltzmann_distribution, conditional_table, exact_information_lost,
    information_budget, mutual_information, reference_information,
)
from jaxrg.rg.information.estimators import estimate_information, sample_coarse, train_critic
from jaxrg.rg.information.learning import filter_spread, learn_map
from jaxrg.rg.information.samples import ising_configurations
from jaxrg.rg.mcrg import analyze

T_C = 1.0 / CRITICAL_COUPLING


def _est(e):
    return {"mean": np.asarray(e.mean).tolist(), "error": np.asarray(e.error).tolist()}


def _paired(env, rules, n_blocks=20, differences=False):
    """Jackknife estimates of I(H : E) for several maps on the same environments (``(n_rules,)`` Estimate).

    With ``differences``, also the paired differences ``I_0 - I_k`` for ``k >= 1`` (appended, jackknifed as such).
    """
    tables = [conditional_table(r, env.b) for r in rules]
    n_configs = env.conditional.shape[0]
    n_blocks = min(n_blocks, n_configs)
    edges = np.linspace(0, n_configs, n_blocks + 1).astype(int)
    p_blocks, h_blocks = [], []
    for t in tables:
        p_h = np.asarray(env.conditional @ t, np.float64)  # (n_configs, n_pos, n_H)
        ent = -np.sum(np.where(p_h > 0, p_h * np.log(np.maximum(p_h, 1e-300)), 0.0), axis=-1)
        p_blocks.append(np.stack([p_h[i:j].mean((0, 1)) for i, j in zip(edges[:-1], edges[1:])]))
        h_blocks.append(np.array([ent[i:j].mean() for i, j in zip(edges[:-1], edges[1:])]))

    def estimator(*args):
        ps, hs = args[: len(tables)], args[len(tables):]
        values = jnp.stack([-jnp.sum(p * jnp.log(jnp.maximum(p, 1e-30)), -1) - h for p, h in zip(ps, hs)])
        return jnp.concatenate([values, values[0] - values[1:]]) if differences else values

    return stats.jackknife(estimator, *p_blocks, *h_blocks)


def section_estimators(args):
    out = []
    for T in args.estimator_T:
        n_configs = args.configs * (2 if T == 3.0 else 1)
        configs = ising_configurations(32, T, n_configs, seed=11)
        for buffer in (1, 2):
            t0 = time.perf_counter()
            env = block_environments(configs, T, b=2, buffer=buffer)
            n = env.ring.shape[0] * env.ring.shape[1]
            h = sample_coarse(jax.random.key(0), env.blocks, "majority").reshape(-1)
            features = env.ring.reshape(n, -1)
            perm = np.random.default_rng(0).permutation(n)
            train, test = perm[: n // 2], perm[n // 2:]
            ref_test = float(mutual_information(env.conditional.reshape(n, -1)[test], conditional_table("majority", 2)))
            row = {"T": T, "buffer": buffer, "L": 32, "n_configs": n_configs, "pairs": n,
                   "reference_all": _est(reference_information(env, "majority")), "reference_test": ref_test}
            for bound in ("infonce", "nwj"):
                critic, hist = train_critic(jax.random.key(1), h[train], features[train], bound=bound,
                                            steps=args.steps, batch=args.batch, learning_rate=args.learning_rate,
                                            width=args.width, depth=args.depth)
                est = estimate_information(critic, h[test], features[test], bound=bound, batch=2 * args.batch)
                row[bound] = {**_est(est), "ratio_to_reference": float(est.mean) / ref_test,
                              "train_bound_end": float(np.mean(np.asarray(hist)[-100:]))}
            row["seconds"] = time.perf_counter() - t0
            print(json.dumps(row), flush=True)
            out.append(row)
    return out


def _learned_row(env, b, n_hidden, steps, seed=0):
    model, hist = learn_map(env.conditional, b=b, n_hidden=n_hidden, steps=steps, seed=seed)
    est = _paired(env, [model, "majority", "decimation"], differences=True)
    w = np.asarray(model.weights)
    return model, {
        "b": b, "n_hidden": n_hidden, "weights": w.tolist(), "bias": np.asarray(model.bias).tolist(),
        "weights_over_mean": (w / w.reshape(n_hidden, -1).mean(1)[:, None, None]).tolist(),
        "spread": filter_spread(model).tolist(), "information": _est(est),
        "learned_minus_majority": {"mean": float(est.mean[3]), "error": float(est.error[3])},
        "history_end": float(hist[-1]),
    }


def section_learned(args):
    out = {"T_c": [], "across_T": []}
    configs = ising_configurations(36, T_C, args.configs // 2, seed=12)
    learned = {}
    for b in (2, 3):
        env = block_environments(configs, T_C, b=b, buffer=1)
        for n_hidden in (1, 2):
            model, row = _learned_row(env, b, n_hidden, args.learn_steps)
            learned[(b, n_hidden)] = model
            print(json.dumps({k: row[k] for k in ("b", "n_hidden", "spread", "information", "bias")}), flush=True)
            out["T_c"].append(row)
    for T in (2.0, 2.2, T_C, 2.4, 2.6, 3.0):
        env = block_environments(ising_configurations(32, T, args.configs // 2, seed=13), T, b=2, buffer=1)
        _, row = _learned_row(env, 2, 1, args.learn_steps)
        row["T"] = T
        print(json.dumps({k: row[k] for k in ("T", "spread", "bias", "information")}), flush=True)
        out["across_T"].append(row)
    return out, learned


def section_loss(args, learned):
    out = {"exact_4x4": [], "L64": []}
    map_b2 = learned.get((2, 1), FilterMap(3.0 * np.ones((1, 2, 2))))
    rules = {"majority": "majority", "decimation": "decimation", "learned": map_b2.rule(0)}
    for T in np.linspace(1.5, 3.5, 9):
        row = {"T": float(T)}
        for name, rule in rules.items():
            budgets = exact_information_lost(4, float(T), rule, levels=2)
            row[name] = [float(b.information_lost_per_spin) for b in budgets]
        out["exact_4x4"].append(row)
    print("exact 4x4 H(fine|coarse) per spin [level 1, level 2]:", json.dumps(out["exact_4x4"]), flush=True)
    identity = jnp.eye(16)
    for T in np.linspace(1.5, 3.5, 9):
        T = float(T)
        env = block_environments(ising_configurations(64, T, args.configs // 8, seed=14), T, b=2, buffer=1)
        est = _paired(env, [identity, "majority", "decimation", map_b2], differences=True)
        row = {"T": T, "I_V_E": float(est.mean[0]), "I_V_E_error": float(est.error[0])}
        for k, name in enumerate(["majority", "decimation", "learned"], start=1):
            row[f"I_H_E_{name}"] = float(est.mean[k])
            row[f"error_{name}"] = float(est.error[k])
            row[f"dropped_{name}"] = float(est.mean[3 + k])  # I(V : E) - I(H : E), paired jackknife
            row[f"dropped_error_{name}"] = float(est.error[3 + k])
        print(json.dumps(row), flush=True)
        out["L64"].append(row)
    return out


def section_trajectory(args):
    """InfoNCE estimates of I(V : E), I(H : E) and the dropped part along the RG trajectory at T_c (L = 64).

    Level n: the configurations blocked n times by the map, then 2x2 blocks with buffer 1 on that lattice. The
    Markov-blanket reference holds at level 0 only (coarse-grained configurations have longer-range couplings), where
    it checks the estimates; the critic sees the ring around the buffer (at level >= 1 an approximation of E).
    """
    from jaxrg.rg.blocking import block_hierarchy
    from jaxrg.rg.information import block_patches
    from jaxrg.rg.information.maps import block_index

    out = []
    configs = jnp.asarray(ising_configurations(64, T_C, args.configs // 2, seed=17))
    identity = jnp.eye(16)
    for rule in ("majority", "decimation"):
        levels = block_hierarchy(configs, 2, 3, key=jax.random.key(4), rule=rule)
        for n, level_configs in enumerate(levels):
            ring, blocks = block_patches(level_configs, b=2, buffer=1)
            m = ring.shape[0] * ring.shape[1]
            features = ring.reshape(m, -1)
            perm = np.random.default_rng(n).permutation(m)
            train, test = perm[: m // 2], perm[m // 2:]
            row = {"rule": rule, "level": n, "L": int(level_configs.shape[-1]), "pairs": m}
            for name, values, n_values in (
                ("I_V_E", block_index(blocks).reshape(-1), 16),
                ("I_H_E", sample_coarse(jax.random.key(n), blocks, rule).reshape(-1), 2),
            ):
                batch = min(512, len(train) // 2)
                critic, _ = train_critic(jax.random.key(5), values[train], features[train], steps=args.steps // 2,
                                         batch=batch, learning_rate=2e-3, n_values=n_values)
                est = estimate_information(critic, values[test], features[test], batch=batch)
                row[name] = _est(est)
            row["dropped"] = {"mean": row["I_V_E"]["mean"] - row["I_H_E"]["mean"],
                              "error": math.hypot(row["I_V_E"]["error"], row["I_H_E"]["error"])}
            if n == 0:
                env = block_environments(level_configs, T_C, b=2, buffer=1)
                est = _paired(env, [identity, rule], differences=True)
                row["reference"] = _est(est)
            print(json.dumps(row), flush=True)
            out.append(row)
    del identity
    return out


def section_mcrg(args):
    """MCRG exponents against p on one set of configurations (majority rule first)."""
    out = []
    t0 = time.perf_counter()
    L = args.mcrg_L
    configs = ising_configurations(L, T_C, args.mcrg_samples, seed=16, chains=50, thermalize=300, sweeps_between=4)
    sampling_seconds = time.perf_counter() - t0
    for p in [None] + list(args.mcrg_p):
        t1 = time.perf_counter()
        rule = "majority" if p is None else swendsen_rule(p)
        r = analyze(configs, 2, args.mcrg_levels, key=jax.random.key(3), n_even=args.n_even, n_odd=args.n_odd,
                    n_blocks=50, rule=rule)
        row = {"p": "inf (majority)" if p is None else p, "L": L, "samples": args.mcrg_samples,
               "levels": args.mcrg_levels, "y_t": _est(r.y_t), "y_h": _est(r.y_h),
               "y_t_table": _est(r.y_t_table), "y_h_table": _est(r.y_h_table),
               "sampling_seconds": sampling_seconds, "analysis_seconds": time.perf_counter() - t1}
        print(json.dumps({k: row[k] for k in ("p", "y_t", "y_h", "analysis_seconds")}), flush=True)
        out.append(row)
    return out


def section_swendsen(args):
    out = {"exact_4x4": [], "reference_L32": [], "gradient": None}
    p4 = boltzmann_distribution(4, T_C)
    ps = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
    for p in ps:
        out["exact_4x4"].append({"p": p, "lost_per_spin": float(information_budget(p4, 4, swendsen_rule(p))[0]
                                                                .information_lost_per_spin)})
    out["exact_4x4"].append({"p": "inf (majority)", "lost_per_spin": float(
        information_budget(p4, 4, "majority")[0].information_lost_per_spin)})
    env = block_environments(ising_configurations(32, T_C, args.configs // 4, seed=15), T_C, b=2, buffer=1)

    def info(log_p):
        return mutual_information(env.conditional, conditional_table(swendsen_rule(jnp.exp(log_p)), 2))

    for p in ps:
        out["reference_L32"].append({"p": p, "I_H_E": float(info(jnp.log(p)))})
    out["reference_L32"].append({"p": "inf (majority)", "I_H_E": float(
        mutual_information(env.conditional, conditional_table("majority", 2)))})
    log_p, grad = jnp.log(0.3), jax.jit(jax.grad(info))
    path = []
    for _ in range(60):  # gradient ascent on ln p
        log_p = log_p + 2.0 * grad(log_p)
        path.append(float(jnp.exp(log_p)))
    out["gradient"] = {"start_p": 0.3, "p_path_every_10": path[::10], "final_p": path[-1],
                       "final_I_H_E": float(info(log_p))}
    print(json.dumps({k: out[k] for k in ("exact_4x4", "reference_L32", "gradient")}), flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", nargs="*", default=["estimators", "learned", "loss", "swendsen", "mcrg"])
    ap.add_argument("--configs", type=int, default=512, help="configurations per temperature (L = 32)")
    ap.add_argument("--steps", type=int, default=1500, help="critic training steps")
    ap.add_argument("--learn-steps", type=int, default=300)
    ap.add_argument("--estimator-T", type=float, nargs="*", default=[2.0, T_C, 3.0])
    ap.add_argument("--batch", type=int, default=512, help="critic minibatch (evaluation batches are twice that)")
    ap.add_argument("--learning-rate", type=float, default=2e-3)
    ap.add_argument("--width", type=int, default=64, help="critic MLP width")
    ap.add_argument("--depth", type=int, default=2, help="critic MLP hidden layers")
    ap.add_argument("--mcrg-L", type=int, default=64)
    ap.add_argument("--mcrg-samples", type=int, default=2000)
    ap.add_argument("--mcrg-levels", type=int, default=2)
    ap.add_argument("--mcrg-p", type=float, nargs="*", default=[0.5, 1.0, 2.0])
    ap.add_argument("--n-even", type=int, default=8)
    ap.add_argument("--n-odd", type=int, default=6)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.configs, args.steps, args.learn_steps, args.mcrg_samples, args.mcrg_L = 64, 200, 50, 200, 16
    result = {"benchmark": "information", "args": vars(args),
              "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "load_average_start": os.getloadavg(), "environment": files.environment_metadata()}
    out = args.out or os.path.join(os.path.dirname(__file__), "results", f"information-{socket.gethostname()}.json")
    learned = {}
    for name in args.only:
        t0 = time.perf_counter()
        if name == "estimators":
            result["estimators"] = section_estimators(args)
        elif name == "learned":
            result["learned"], learned = section_learned(args)
        elif name == "loss":
            result["loss"] = section_loss(args, learned)
        elif name == "swendsen":
            result["swendsen"] = section_swendsen(args)
        elif name == "trajectory":
            result["trajectory"] = section_trajectory(args)
        elif name == "mcrg":
            result["mcrg"] = section_mcrg(args)
        else:
            raise SystemExit(f"unknown section {name!r}")
        result[f"{name}_seconds"] = time.perf_counter() - t0
        result["load_average_end"] = os.getloadavg()
        files.write_text(out, json.dumps(result, indent=2))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
