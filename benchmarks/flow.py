"""Study: learned RG flows of the 2D Ising model with n = 1, 3, 5 couplings: K_c and nu over several training seeds.

For each coupling space (see jaxrg.rg.flow) and seed: train f_theta (majority-rule b = 2 blocking, L -> L/2, KL loss
by contrastive divergence or by exact enumeration of the 4 x 4 coarse lattice), find the non-trivial fixed point by
Newton (jaxrg.scale.analyze_map), nu = ln 2 / ln lambda_t from the linearised map, and K_c on the nearest-neighbour
axis by bisection on the sink of the iterated map. Also reports, by jax.grad through the implicit derivatives, the
sensitivity of K_c and nu to a rescaling of the learned step, J' = J + (1 + eps) f_theta(J), at eps = 0.

    .venv/bin/python benchmarks/flow.py                       # CD-20, L = 16 -> 8, n = 1 3 5, 5 seeds (the study)
    .venv/bin/python benchmarks/flow.py --cd-sweeps 5         # CD-5 (cheaper, larger spread)
    .venv/bin/python benchmarks/flow.py --loss exact --L 8    # exact KL on the 4 x 4 coarse lattice
    .venv/bin/python benchmarks/flow.py --no-anchor           # f(0) learned instead of built in
    .venv/bin/python benchmarks/flow.py --patch 3 --n 5 8     # the wider spaces of the 3 x 3 patch (below)

Wider coupling spaces (``--patch 3``): for n >= 4 the square-symmetric spaces of the 3 x 3 patch
(``coupling_space(n, patch=3)``: nn, nnn, plaquette, third, six-spin, knight, (2, 2) pairs, diamond), sampled with the
sublattice Metropolis kernel of jaxrg.sampling.patch3; n <= 3 are the same Hamiltonians as the 2 x 2 spaces and keep
their cheaper kernel (and the same keys), so ``--merge`` of an earlier 2 x 2 run with the same configuration gives
the table of K_c and nu against n = 1, 3, 5, 8. Whether the fixed-point bias shrinks with n is read off that table.

Writes benchmarks/results/flow-<host>.json for the default configuration, flow-<host>-<loss>-L<L>[-free].json
otherwise, with -patch3 for --patch 3 (atomically).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from jaxrg import scale  # noqa: E402
from jaxrg.exact import CRITICAL_COUPLING  # noqa: E402
from jaxrg.rg import flow as fl  # noqa: E402


def sensitivities(flow, space, analysis):
    """d K_c / d eps and d nu / d eps for J' = J + (1 + eps) f(J), by jax.grad (implicit derivatives)."""
    f64 = jax.tree.map(lambda x: x.astype(jnp.float64) if eqx.is_inexact_array(x) else x, flow)
    J_star = jnp.asarray(analysis.fixed_point, jnp.float64)
    left = fl.map_exponents(f64, J_star).left_eigenvectors[0]
    e = jnp.asarray(space.nn_axis, jnp.float64)

    def kc(eps):
        f = lambda J: (1.0 + eps) * f64(J)  # noqa: E731
        fp = scale.find_fixed_point(f, J_star).g_star
        return fl.critical_coupling(f, fp, left, e, K_high=0.8)

    def nu(eps):
        f = lambda J: (1.0 + eps) * f64(J)  # noqa: E731
        return fl.map_exponents(f, scale.find_fixed_point(f, J_star).g_star).nu

    return float(jax.grad(kc)(0.0)), float(jax.grad(nu)(0.0))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[1, 3, 5])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--loss", choices=["exact", "cd"], default="cd")
    p.add_argument("--L", type=int, default=16)
    p.add_argument("--no-anchor", action="store_true", help="learn f(0) instead of building in f(0) = 0")
    p.add_argument("--steps", type=int, default=1500, help="optimiser steps per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--couplings", type=int, default=64, help="new training couplings per round")
    p.add_argument("--cd-sweeps", type=int, default=20)
    p.add_argument("--patch", type=int, choices=[2, 3], default=2,
                   help="3: coupling spaces of the 3 x 3 patch for n >= 4 (n <= 3 are the same as for 2)")
    p.add_argument("--out", default=None)
    p.add_argument("--merge", default=None,
                   help="results JSON of an earlier run with the same configuration: its rows for other n are kept")
    args = p.parse_args()

    betas = tuple([0.0] + [30.0 * 3.0**r for r in range(args.rounds - 1)])
    config = fl.TrainingConfig(
        L=args.L, loss=args.loss, cd_sweeps=args.cd_sweeps, rounds=args.rounds, couplings_per_round=args.couplings,
        betas=betas, steps_per_round=args.steps, learning_rate=1e-2, anchored=not args.no_anchor,
    )
    runs, table, merged_from = [], [], None
    if args.merge:
        with open(args.merge) as f:
            old = json.load(f)
        mine = json.loads(json.dumps(config._asdict(), default=list))
        if old["config"] != mine:
            raise ValueError(f"--merge: {args.merge} was run with another configuration: {old['config']} != {mine}")
        keep = [n for n in sorted({s["n"] for s in old["summary"]}) if n not in args.n]
        runs = [r for r in old["runs"] if r["n"] in keep]
        table = [s for s in old["summary"] if s["n"] in keep]
        merged_from = {"file": os.path.basename(args.merge), "command": old.get("command"), "n": keep,
                       "wall_seconds": old.get("wall_seconds")}
    t_start = time.time()
    load_before = os.getloadavg()
    for n in args.n:
        space = fl.coupling_space(n, patch=3 if args.patch == 3 and n > 3 else 2)
        per_seed = []
        for seed in range(args.seeds):
            t0 = time.time()
            result = fl.train_flow(jax.random.key(1000 * n + seed), space, config)
            t_train = time.time() - t0
            a = fl.analyze_flow(result.flow, space)
            found = bool(np.all(np.isfinite(a.fixed_point)))  # no non-trivial fixed point: a failed seed
            dkc, dnu = sensitivities(result.flow, space, a) if found else (float("nan"), float("nan"))
            row = {
                "n": n, "patch": space.patch, "seed": seed, "K_c": a.K_c, "nu": a.nu,
                "fixed_point": a.fixed_point.tolist(),
                "f_at_zero": np.asarray(result.flow(jnp.zeros(n))).tolist(),
                "fixed_point_residual": a.residual, "eigenvalues_real": np.real(a.eigenvalues).tolist(),
                "eigenvalues_imag": np.imag(a.eigenvalues).tolist(), "n_relevant": a.n_relevant,
                "dKc_deps": dkc, "dnu_deps": dnu, "final_loss": float(result.loss_history[-1]),
                "train_seconds": t_train, "total_seconds": time.time() - t0,
            }
            print(f"n={n} seed={seed}: K_c={a.K_c:.5f} nu={a.nu:.4f} J*={np.round(a.fixed_point, 4)} "
                  f"lambda={np.round(np.real(a.eigenvalues), 3)} ({row['total_seconds']:.0f} s)", flush=True)
            runs.append(row)
            per_seed.append(row)
        kc = np.array([r["K_c"] for r in per_seed])
        nu = np.array([r["nu"] for r in per_seed])
        ok = np.isfinite(kc) & np.isfinite(nu)
        summary = {
            "n": n, "patch": space.patch, "couplings": list(space.names), "seeds": int(ok.sum()),
            "failed_seeds": int((~ok).sum()),
            "K_c_mean": float(kc[ok].mean()), "K_c_sd": float(kc[ok].std(ddof=1)),
            "K_c_rel_error": float(kc[ok].mean() / CRITICAL_COUPLING - 1),
            "nu_mean": float(nu[ok].mean()), "nu_sd": float(nu[ok].std(ddof=1)),
            "nu_rel_error": float(nu[ok].mean() - 1),
            "fixed_point_mean": np.mean([r["fixed_point"] for r, g in zip(per_seed, ok) if g], 0).tolist(),
            "fixed_point_sd": np.std([r["fixed_point"] for r, g in zip(per_seed, ok) if g], 0, ddof=1).tolist(),
            "lambda_mean": np.mean([r["eigenvalues_real"] for r, g in zip(per_seed, ok) if g], 0).tolist(),
        }
        table.append(summary)
    table.sort(key=lambda s: s["n"])
    runs.sort(key=lambda r: (r["n"], r["seed"]))

    print(f"\nmajority rule b=2, L={args.L} -> {args.L // 2}, loss={args.loss}, anchored={config.anchored}, "
          f"{args.seeds} seeds "
          f"(K_c exact {CRITICAL_COUPLING:.6f}, nu exact 1)")
    print(f"{'n':>2} {'K_c (mean +- sd)':>22} {'rel.err':>8} {'nu (mean +- sd)':>20} {'rel.err':>8}  fixed point")
    for s in table:
        print(f"{s['n']:>2} {s['K_c_mean']:>12.5f} +- {s['K_c_sd']:.5f} {100 * s['K_c_rel_error']:>7.2f}% "
              f"{s['nu_mean']:>10.4f} +- {s['nu_sd']:.4f} {100 * s['nu_rel_error']:>7.2f}%  "
              f"{np.round(s['fixed_point_mean'], 4).tolist()}  lambda {np.round(s['lambda_mean'], 3).tolist()}")
    host = socket.gethostname()
    result = {
        "benchmark": "flow", "host": host, "platform": platform.platform(), "backend": jax.default_backend(),
        "command": " ".join(["benchmarks/flow.py", *sys.argv[1:]]), "config": config._asdict(),
        "K_c_exact": CRITICAL_COUPLING, "nu_exact": 1.0,
        "summary": table, "runs": runs, "wall_seconds": time.time() - t_start, "merged_from": merged_from,
        "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
    }
    default = (args.loss, args.L, args.steps, args.rounds, args.couplings, args.cd_sweeps, config.anchored) == (
        "cd", 16, 1500, 3, 64, 20, True)
    suffix = "" if default else (f"-{args.loss}-L{args.L}" + (f"-k{args.cd_sweeps}" if args.loss == "cd" else "")
                                 + ("" if config.anchored else "-free"))
    suffix += "-patch3" if args.patch == 3 else ""
    out = args.out or os.path.join(os.path.dirname(__file__), "results", f"flow-{host}{suffix}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2, default=lambda x: list(x) if isinstance(x, tuple) else str(x))
    os.replace(tmp, out)
    print(f"wrote {out} ({time.time() - t_start:.0f} s)")


if __name__ == "__main__":
    main()
