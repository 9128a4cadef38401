"""Inverse-RG study: train few-parameter generators on critical Wolff configurations, dream up ensembles up to
L = 1024, and compare them with real Monte Carlo at the same L.

    .venv/bin/python benchmarks/inverse.py                 # full study (~10-15 min on 2 busy cores)
    .venv/bin/python benchmarks/inverse.py --quick         # smoke run
    .venv/bin/python benchmarks/inverse.py --save-pretrained   # also writes jaxrg/data/inverse_3x3.eqx

Writes benchmarks/results/inverse-<host>.json (atomic). Reports: training time per model, generation throughput
(final-level spins per ns) at L = 1024, per model and L the energy, |m|, chi, C, Binder ratio and <m^4>/<m^2>^2 with
jackknife errors, gamma/nu from chi ~ L^(gamma/nu), the Binder-ratio flatness max_L |R(L)/R(32) - 1| (jackknifed on the
paired samples: all sizes come from one hierarchy), MCRG eigenvalues of generated and of real configurations, and the
goals of issue 8 as pass/fail.

All generated sizes come from one generation run per model (level_observables): the L = 1024 configurations are
upsampled from the L = 512 ones and so on, so every level is an ensemble of its own size.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import socket
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from jaxrg import exact, files, ising
from jaxrg.fss import power_law_fit
from jaxrg.rg import inverse as inv
from jaxrg.rg.mcrg import analyze

SQRT2 = math.sqrt(2.0)
ISING_RATIO = 1.1679  # <m^4>/<m^2>^2 at T_c on the periodic square (Salas & Sokal 2000: 1.167923)


def _est(e):
    return {"mean": float(e.mean), "error": float(e.error)}


@functools.lru_cache(maxsize=None)
def _exact(L):
    ex = exact.finite_lattice(L, exact.CRITICAL_TEMPERATURE)
    return float(ex.energy), float(ex.heat_capacity)


def _obs_dict(o):
    e_exact, c_exact = _exact(o.L)
    return {"exact_energy": e_exact, "exact_C": c_exact, "L": o.L, "n": o.n, "energy": _est(o.energy),
            "abs_m": _est(o.abs_magnetization),
            "chi": _est(o.susceptibility), "C": _est(o.heat_capacity), "binder": _est(o.binder),
            "ratio": _est(o.moment_ratio)}


def _jackknife(fn, samples, n_blocks=32):
    """Delete-one-block jackknife of ``fn(samples[idx])`` (samples along axis -1); returns (mean, error) arrays."""
    n = samples.shape[-1]
    edges = np.linspace(0, n, n_blocks + 1).astype(int)
    full = np.asarray(fn(samples))
    reps = np.stack([np.asarray(fn(np.delete(samples, np.s_[edges[i]:edges[i + 1]], axis=-1)))
                     for i in range(n_blocks)])
    mean_rep = reps.mean(axis=0)
    return n_blocks * full - (n_blocks - 1) * mean_rep, np.sqrt((n_blocks - 1) * np.mean((reps - mean_rep) ** 2, 0))


def binder_flatness(sizes, m, L_ref=32):
    """``R(L)/R(L_ref) - 1`` for every level with its paired jackknife error; ``m``: ``(levels, n)``."""
    i_ref = sizes.index(L_ref)

    def dev(x):
        r = np.mean(x**4, axis=-1) / np.mean(x**2, axis=-1) ** 2
        return r / r[i_ref] - 1.0

    mean, err = _jackknife(dev, np.asarray(m, np.float64))
    return mean, err


def generated_ensemble(model, size, n, batch, key):
    """Per-level energies and magnetisations of ``n`` generated configurations, generated ``batch`` at a time."""
    es, ms = [], []
    for i in range(math.ceil(n / batch)):
        sizes, e, m = inv.level_observables(model, size, batch, jax.random.fold_in(key, i))
        es.append(np.asarray(e))
        ms.append(np.asarray(m))
    return sizes, np.concatenate(es, axis=1)[:, :n], np.concatenate(ms, axis=1)[:, :n]


def throughput(model, size, n, repeats=2):
    """Final-level spins per nanosecond of ``generate`` (compiled first; best of ``repeats``)."""
    inv.generate(model, size, n, jax.random.key(0)).block_until_ready()
    best = float("inf")
    for r in range(repeats):
        t0 = time.perf_counter()
        inv.generate(model, size, n, jax.random.key(r + 1)).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return n * size * size / best / 1e9, best


@functools.partial(jax.jit, static_argnames=("n", "k"))
def float_generate(model, key, n, k):
    """The previous generation path: every level in one compiled program, float fields and a sigmoid per site."""
    key_start, key_levels = jax.random.split(key)
    x = jnp.where(jax.random.bernoulli(key_start, 0.5, (n, 1, 1)), 1, -1).astype(jnp.int8)
    out = [x]
    for kl in jax.random.split(key_levels, k):
        x = inv._sample_fine_float(model, x, kl)
        out.append(x)
    return tuple(out)


def fused_generate(model, size, n, key):
    """The previous threshold path: one compiled program per level, sampling and sublattice interleave fused."""
    key_start, key_levels = jax.random.split(key)
    x = inv._random_start(key_start, n, 1)
    for kl in jax.random.split(key_levels, int(round(math.log2(size)))):
        x = inv._next_level(model, x, kl)
    return x


def throughput_side_by_side(model, size, n, repeats=3):
    """Wall and CPU seconds of the previous and the current generation of ``n x size^2``, interleaved, with the
    load average; and whether all give the same spins for the same key."""
    k = int(round(math.log2(size)))
    runs = {"float_one_program": lambda key: float_generate(model, key, n, k)[-1],
            "threshold_fused_interleave": lambda key: fused_generate(model, size, n, key),
            "threshold_per_level": lambda key: inv.generate(model, size, n, key)}
    spins = {name: np.asarray(run(jax.random.key(0))) for name, run in runs.items()}
    same = all(np.array_equal(spins["float_one_program"], s) for s in spins.values())
    wall = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    loads = []
    for r in range(repeats):
        for name, run in runs.items():
            t0, c0 = time.perf_counter(), time.process_time()
            run(jax.random.key(r + 1)).block_until_ready()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
            loads.append(os.getloadavg()[0])
    out = {"L": size, "n": n, "bitwise_same_spins": same, "load_during": loads}
    for name in runs:
        best = min(wall[name])
        out[name] = {"wall_s": wall[name], "cpu_s": cpu[name], "spins_per_ns": n * size * size / best / 1e9}
    out["speedup_wall"] = min(wall["float_one_program"]) / min(wall["threshold_per_level"])
    out["speedup_cpu"] = min(cpu["float_one_program"]) / min(cpu["threshold_per_level"])
    out["speedup_wall_vs_fused"] = min(wall["threshold_fused_interleave"]) / min(wall["threshold_per_level"])
    out["speedup_cpu_vs_fused"] = min(cpu["threshold_fused_interleave"]) / min(cpu["threshold_per_level"])
    return out


def analyse_model(name, model, args, key, gen_n, gen_size):
    t0 = time.perf_counter()
    sizes, e, m = generated_ensemble(model, gen_size, gen_n, args.gen_batch, key)
    gen_seconds = time.perf_counter() - t0
    rows = [inv.ensemble_observables(e[i], m[i], L) for i, L in enumerate(sizes) if L >= 8]
    fit_rows = [o for o in rows if o.L >= args.fit_min]
    slope, _, chi2 = power_law_fit([o.L for o in fit_rows], [o.susceptibility.mean for o in fit_rows],
                                   [o.susceptibility.error for o in fit_rows])
    flat_mean, flat_err = binder_flatness(sizes, m)
    flat = {str(L): {"mean": float(flat_mean[i]), "error": float(flat_err[i])}
            for i, L in enumerate(sizes) if L >= 32}
    top = rows[-1]
    return {
        "name": name,
        "n_params": int(sum(np.size(x) for x in jax.tree_util.tree_leaves(
            __import__("equinox").filter(model, __import__("equinox").is_inexact_array)))),
        "params": np.asarray(model.params).tolist() if hasattr(model, "params") else None,
        "n_generated": int(gen_n),
        "generation_seconds": gen_seconds,
        "table": [_obs_dict(o) for o in rows],
        "gamma_over_nu": {"mean": slope.mean, "error": slope.error, "chi2_dof": chi2,
                          "L_range": [fit_rows[0].L, fit_rows[-1].L]},
        "binder_flatness_vs_L32": flat,
        "binder_flatness_max": float(max(abs(v["mean"]) for v in flat.values())),
        "goals": {
            "gamma_over_nu_within_0.05": bool(abs(slope.mean - 1.75) <= 0.05),
            "ratio_within_2pct": bool(abs(top.moment_ratio.mean / ISING_RATIO - 1) <= 0.02),
            "energy_within_2pct": bool(abs(top.energy.mean / -SQRT2 - 1) <= 0.02),
            "binder_flat_1pct": bool(max(abs(v["mean"]) for v in flat.values()) <= 0.01),
        },
    }


def mcrg_summary(configs, key, levels):
    r = analyze(jnp.asarray(configs), 2, levels, key=key, n_even=4, n_odd=2, n_blocks=16)
    return {"L": r.L, "n": r.n_samples, "y_t": [_est(type(r.y_t)(a, b)) for a, b in zip(r.y_t.mean, r.y_t.error)],
            "y_h": [_est(type(r.y_h)(a, b)) for a, b in zip(r.y_h.mean, r.y_h.error)]}


def print_table(results, real):
    print(f"\n{'model':>16} {'L':>5} {'e':>16} {'|m|':>16} {'chi':>18} {'C':>14} {'m4/m2^2':>16}"
          f" {'e_exact':>8} {'C_exact':>8}")
    for res in results:
        for row in res["table"]:
            f = lambda k, w=8: f"{row[k]['mean']:{w}.4f}({row[k]['error']:.4f})"  # noqa: E731
            print(f"{res['name']:>16} {row['L']:>5} {f('energy')} {f('abs_m')} {row['chi']['mean']:10.3f}"
                  f"({row['chi']['error']:.3f}) {row['C']['mean']:7.3f}({row['C']['error']:.3f}) {f('ratio')} "
                  f"{row['exact_energy']:8.4f} {row['exact_C']:8.4f}")
        print(f"{res['name']:>16} gamma/nu = {res['gamma_over_nu']['mean']:.4f}({res['gamma_over_nu']['error']:.4f})"
              f"  Binder max |R(L)/R(32)-1| = {res['binder_flatness_max']:.4f}  goals {res['goals']}")
    for row in real:
        f = lambda k, w=8: f"{row[k]['mean']:{w}.4f}({row[k]['error']:.4f})"  # noqa: E731
        print(f"{'Wolff MC':>16} {row['L']:>5} {f('energy')} {f('abs_m')} {row['chi']['mean']:10.3f}"
              f"({row['chi']['error']:.3f}) {row['C']['mean']:7.3f}({row['C']['error']:.3f}) {f('ratio')} "
                  f"{row['exact_energy']:8.4f} {row['exact_C']:8.4f}")


def write_json(path, data):
    """Write ``data`` as JSON atomically (``jaxrg.files.write_text``), creating the directory."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    files.write_text(path, json.dumps(data, indent=1))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny smoke run")
    p.add_argument("--train-L", type=int, default=64)
    p.add_argument("--train-n", type=int, default=256)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--gen-size", type=int, default=1024)
    p.add_argument("--gen-n", type=int, default=256, help="generated samples of the main (3x3) model")
    p.add_argument("--gen-n-variants", type=int, default=128, help="generated samples of every other model")
    p.add_argument("--gen-size-variants", type=int, default=256,
                   help="largest generated L of every other model (roll-based 5x5/7x7/CNN fields cost more per spin)")
    p.add_argument("--gen-batch", type=int, default=16)
    p.add_argument("--fit-min", type=int, default=32, help="smallest L in the gamma/nu fit")
    p.add_argument("--mc-sizes", type=int, nargs="*", default=[8, 16, 32, 64, 128])
    p.add_argument("--mc-n", type=int, default=256)
    p.add_argument("--models", nargs="*",
                   default=["3x3", "3x3-ties", "3x3-multilevel", "3x3-energy", "5x5", "7x7", "7x7-energy", "convnet"])
    p.add_argument("--mcrg-models", nargs="*", default=["3x3", "7x7"], help="models whose configurations get MCRG")
    p.add_argument("--save-pretrained", action="store_true")
    p.add_argument("--throughput-only", action="store_true",
                   help="only the side-by-side generation speed of the float and threshold paths (pretrained model)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.throughput_only:
        host = socket.gethostname().split(".")[0]
        out = args.out or os.path.join(os.path.dirname(__file__), "results", f"inverse-{host}-throughput.json")
        res = throughput_side_by_side(inv.load_pretrained(), args.gen_size, args.gen_batch)
        res.update(host=host, jax=jax.__version__, cpu_count=os.cpu_count(),
                   command="benchmarks/inverse.py " + " ".join(argv if argv is not None else sys.argv[1:]))
        for name in ("float_one_program", "threshold_fused_interleave", "threshold_per_level"):
            print(f"{name:>26}: best wall {min(res[name]['wall_s']):.3f} s, best CPU {min(res[name]['cpu_s']):.3f} s, "
                  f"{res[name]['spins_per_ns']:.4f} spins/ns")
        print(f"speedup vs fused interleave: wall {res['speedup_wall_vs_fused']:.2f}x, "
              f"CPU {res['speedup_cpu_vs_fused']:.2f}x")
        print(f"speedup vs float: wall {res['speedup_wall']:.2f}x, CPU {res['speedup_cpu']:.2f}x; same spins: "
              f"{res['bitwise_same_spins']}; load {res['load_during']}")
        write_json(out, res)
        return
    if args.quick:
        args.train_L, args.train_n, args.steps, args.gen_size = 32, 64, 100, 128
        args.gen_n, args.gen_n_variants, args.mc_sizes, args.mc_n = 64, 32, [8, 16], 64
        args.gen_size_variants = 64
    host = socket.gethostname().split(".")[0]
    out = args.out or os.path.join(os.path.dirname(__file__), "results", f"inverse-{host}.json")
    t_start = time.perf_counter()

    # 1. training data: Wolff at K_c
    t0 = time.perf_counter()
    data = inv.critical_configurations(args.train_L, args.train_n, seed=0)
    data_seconds = time.perf_counter() - t0
    print(f"training data: {args.train_n} Wolff configurations at K_c, L = {args.train_L}: {data_seconds:.1f} s")

    # 2. training
    key = jax.random.key(2025)
    specs = {
        "3x3": dict(model=lambda: inv.symmetric_generator(3)),
        "3x3-ties": dict(model=lambda: inv.symmetric_generator(3), tie_weight=0.5),
        "3x3-multilevel": dict(model=lambda: inv.symmetric_generator(3), levels=3),
        "3x3-energy": dict(model=lambda: inv.symmetric_generator(3), energy_target=-SQRT2, energy_weight=100.0),
        "5x5": dict(model=lambda: inv.symmetric_generator(5)),
        "7x7": dict(model=lambda: inv.symmetric_generator(7)),
        "7x7-energy": dict(model=lambda: inv.symmetric_generator(7), energy_target=-SQRT2, energy_weight=100.0),
        "3x3-multilevel-energy": dict(model=lambda: inv.symmetric_generator(3), levels=3, energy_target=-SQRT2,
                                      energy_weight=100.0),
        "5x5-multilevel-energy": dict(model=lambda: inv.symmetric_generator(5), levels=3, energy_target=-SQRT2,
                                      energy_weight=100.0),
        "7x7-multilevel-energy": dict(model=lambda: inv.symmetric_generator(7), levels=3, energy_target=-SQRT2,
                                      energy_weight=100.0),
        "convnet": dict(model=lambda: inv.convnet_generator(jax.random.key(7), channels=8, depth=3),
                        learning_rate=0.01, steps=150),
    }
    trained, training = {}, {}
    for name in args.models:
        spec = dict(specs[name])
        model = spec.pop("model")()
        lr = spec.pop("learning_rate", 0.05)
        steps = spec.pop("steps", args.steps)
        r = inv.train(model, data, key=jax.random.fold_in(key, len(trained)), steps=steps, learning_rate=lr,
                      batch_size=args.batch, **spec)
        # held-out-free comparison: plain cross-entropy on the whole training set
        coarse, _ = inv.majority_with_ties(jnp.asarray(data), jax.random.key(99))
        ce = float(inv.cross_entropy(r.model, jnp.asarray(data), coarse))
        e_exp = float(inv.expected_energy(r.model, coarse))
        trained[name] = r.model
        training[name] = {"seconds": r.seconds, "final_loss": float(r.loss[-1]), "cross_entropy": ce,
                          "expected_energy_on_data": e_exp, "options": {k: v for k, v in spec.items()},
                          "params": np.asarray(r.model.params).tolist() if hasattr(r.model, "params") else None}
        print(f"trained {name:>15}: {r.seconds:6.1f} s, cross-entropy {ce:.5f} nats/spin, "
              f"E[e_fine | real coarse] = {e_exp:.4f}, params {training[name]['params']}")
    if args.save_pretrained and "3x3" in trained:
        path = os.path.join(os.path.dirname(__file__), "..", "jaxrg", inv.PRETRAINED_PATH)
        inv.save(path, trained["3x3"])
        print(f"saved pretrained 3x3 model to {os.path.normpath(path)}")

    # 3. throughput at L = 1024 (3x3 model)
    main_model = trained.get("3x3", next(iter(trained.values())))
    spins_per_ns, seconds = throughput(main_model, args.gen_size, args.gen_batch)
    print(f"generation: {args.gen_batch} x {args.gen_size}^2 in {seconds:.3f} s = {spins_per_ns:.4f} spins/ns")

    # 4. ensembles of every model
    results = []
    for i, (name, model) in enumerate(trained.items()):
        n, size = (args.gen_n, args.gen_size) if name == "3x3" else (args.gen_n_variants, args.gen_size_variants)
        res = analyse_model(name, model, args, jax.random.key(1000 + i), n, size)
        res["training"] = training[name]
        results.append(res)
        print(f"analysed {name}: {res['generation_seconds']:.1f} s, gamma/nu {res['gamma_over_nu']['mean']:.4f}"
              f"({res['gamma_over_nu']['error']:.4f}), flatness {res['binder_flatness_max']:.4f}")

    # 5. real Monte Carlo at the same L (Wolff at K_c) and MCRG of real and generated configurations
    real = []
    for L in args.mc_sizes:
        t0 = time.perf_counter()
        cfg = data if L == args.train_L else inv.critical_configurations(L, args.mc_n, seed=L)
        e = np.asarray(ising.energy_per_spin(jnp.asarray(cfg)))
        m = np.asarray(ising.magnetization_per_spin(jnp.asarray(cfg)))
        row = _obs_dict(inv.ensemble_observables(e, m, L))
        row["seconds"] = time.perf_counter() - t0
        real.append(row)
    mc_L = args.train_L
    levels = max(1, int(round(math.log2(mc_L // 8))))
    mcrg = {"real": mcrg_summary(data, jax.random.key(5), levels)}
    for name in args.mcrg_models:
        if name in trained:
            gen = inv.generate(trained[name], mc_L, args.train_n, jax.random.key(6))
            mcrg[name] = mcrg_summary(np.asarray(gen), jax.random.key(5), levels)

    print_table(results, real)
    for k, v in mcrg.items():
        print(f"MCRG {k:>5} L={v['L']}: y_t " + " ".join(f"{x['mean']:.3f}({x['error']:.3f})" for x in v["y_t"])
              + "  y_h " + " ".join(f"{x['mean']:.3f}({x['error']:.3f})" for x in v["y_h"]))

    record = {
        "host": host, "platform": platform.platform(), "device": str(jax.devices()[0]), "jax": jax.__version__,
        "command": "benchmarks/inverse.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "args": vars(args), "training_data_seconds": data_seconds,
        "throughput": {"L": args.gen_size, "n": args.gen_batch, "seconds": seconds, "spins_per_ns": spins_per_ns},
        "models": results, "monte_carlo": real, "mcrg": mcrg,
        "exact": {"energy_per_spin_infinite": -SQRT2, "moment_ratio": ISING_RATIO, "gamma_over_nu": 1.75,
                  "y_t": 1.0, "y_h": 1.875},
        "total_seconds": time.perf_counter() - t_start,
    }
    write_json(out, record)
    print(f"wrote {out} ({record['total_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
