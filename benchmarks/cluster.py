"""Cluster vs local updates at T_c: autocorrelation times, dynamic exponents and time per independent sample.

For L in {16, 32, 64, 128} at T_c = 2 / ln(1 + sqrt 2), for Metropolis (checkerboard sweeps), Wolff (single cluster)
and Swendsen-Wang, this script measures

- the integrated autocorrelation times (Sokal window, c = 6) of the energy and of |m|, in kernel steps and in sweeps
  (Wolff: steps x <|C|>/N; Metropolis and SW: one step = one sweep), averaged over independent chains, with the
  standard error over chains;
- the wall time per kernel step of one chain (jit-compiled ``lax.scan`` of steps, best of 3, after warm-up);
- the wall time per independent sample, ``time per step x 2 tau_int`` (tau in steps), per observable and for the
  slower of the two;
- the dynamic exponents z from least-squares fits of ln tau (in sweeps) against ln L.

Chains start from equilibrium: Wolff thermalises from a random start, then every sampler starts from Wolff
configurations (Metropolis would otherwise need ~ tau_exp ~ L^2.17 sweeps of burn-in). Chains of one sampler run as one
vmapped batch (the timing uses one chain).

Usage::

    .venv/bin/python benchmarks/cluster.py               # full run, writes benchmarks/results/cluster-<host>.json
    .venv/bin/python benchmarks/cluster.py --quick       # L in {16, 32}, short chains (smoke test)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import socket
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from jaxrg import ising, stats
from jaxrg.sampling.driver import run_chain
from jaxrg.sampling import SAMPLERS, BatchedKernel

T_C = 2.0 / math.log(1.0 + math.sqrt(2.0))
LITERATURE_Z = {"metropolis": 2.17, "wolff": 0.25, "swendsen_wang": 0.22}
# Observable whose z is compared with the literature value: |m| for Metropolis (the slow mode), E for cluster samplers
# (|m| decorrelates almost at once under cluster moves, its z is ~ 0 and not the one quoted).
Z_OBSERVABLE = {"metropolis": "abs_magnetization", "wolff": "energy", "swendsen_wang": "energy"}
WINDOW_C = 6.0


def plan(L: int, quick: bool) -> dict:
    """Chains, measurements and thinning per sampler: runs of ~ 300-1500 tau per chain (tau from a rough prior)."""
    scale = 0.1 if quick else 1.0
    tau_metropolis = 0.03 * L**2.17  # rough tau_|m| in sweeps (measured: 11 at L = 16, 42 at L = 32)
    thin = max(1, int(tau_metropolis / 40))
    return {
        "wolff": dict(chains=4, measurements=int(scale * 6000), every=1),
        "swendsen_wang": dict(chains=4, measurements=int(scale * (4000 if L < 128 else 2000)), every=1),
        "metropolis": dict(chains=8 if L < 128 else 4, measurements=int(scale * (16_000 if L < 128 else 12_000)),
                           every=thin),
    }


def measure(state, params):
    s = state.spins
    return ising.energy_per_spin(s), jnp.abs(ising.magnetization_per_spin(s))


def sample(sampler: str, L: int, spins: jax.Array, key, *, measurements: int, every: int, thermalize: int):
    """Run ``spins.shape[1]`` chains at T_c; returns (e, |m|) series (chains, n), mean sweeps/step, final spins."""
    couplings = ising.couplings(np.array([T_C]))
    chains = spins.shape[1]
    kernel = BatchedKernel(SAMPLERS[sampler].build_kernel(), chains)
    _, k_therm, k_run = jax.random.split(key, 3)
    state = jax.vmap(jax.vmap(SAMPLERS[sampler].init))(spins)
    if thermalize:
        state = run_chain(kernel, k_therm, state, couplings, n_measurements=thermalize, chunk_size=thermalize).state
    out = run_chain(kernel, k_run, state, couplings, n_measurements=measurements, steps_per_measurement=every,
                    measure=measure, chunk_size=max(1, measurements // 4))
    e, am = (np.moveaxis(np.asarray(x), 0, -1)[0] for x in out.measurements)  # (chains, n)
    sweeps_per_step = float(np.mean(np.asarray(out.info.sweeps)))
    return e, am, sweeps_per_step, out.state.spins


def time_per_step(sampler: str, L: int, spins: jax.Array, key, n_steps: int, repeats: int = 3) -> float:
    """Best-of-``repeats`` wall time of one kernel step of a single chain, from a jit-compiled scan of ``n_steps``."""
    couplings = ising.couplings(np.array([T_C]))
    kernel = BatchedKernel(SAMPLERS[sampler].build_kernel(), 1)
    state = jax.vmap(jax.vmap(SAMPLERS[sampler].init))(spins[:, :1])

    @jax.jit
    def run(key, state):
        def body(state, k):
            return kernel(k, state, couplings)[0], None

        return jax.lax.scan(body, state, jax.random.split(key, n_steps))[0]

    jax.block_until_ready(run(key, state))  # compile + warm-up
    best = math.inf
    for r in range(repeats):
        t0 = time.perf_counter()
        state = jax.block_until_ready(run(jax.random.fold_in(key, r + 1), state))
        best = min(best, time.perf_counter() - t0)
    return best / n_steps


def tau_over_chains(series: np.ndarray) -> tuple[float, float]:
    """Mean integrated autocorrelation time over chains (in samples) and its standard error over chains."""
    taus = np.asarray(stats.integrated_autocorrelation_time(jnp.asarray(series), c=WINDOW_C, axis=-1))
    return float(taus.mean()), float(taus.std(ddof=1) / math.sqrt(len(taus))) if len(taus) > 1 else float("nan")


def fit_z(Ls, taus, errors) -> dict:
    """Weighted least-squares fit ln tau = a + z ln L; returns z, its standard error and the amplitude."""
    x, y = np.log(np.asarray(Ls, float)), np.log(np.asarray(taus, float))
    w = (np.asarray(taus, float) / np.maximum(np.asarray(errors, float), 1e-12)) ** 2  # 1 / var(ln tau)
    A = np.stack([np.ones_like(x), x], axis=1)
    cov = np.linalg.inv(A.T @ (A * w[:, None]))
    a, z = cov @ (A.T @ (w * y))
    return {"z": float(z), "z_error": float(math.sqrt(cov[1, 1])), "amplitude": float(math.exp(a))}


def summarize(rows: list, sizes: list, samplers: list) -> tuple[dict, dict]:
    """Dynamic exponents (fit over all sizes, and the slope between the two largest) and speed-ups vs Metropolis."""
    fits = {}
    for name in samplers:
        sub = sorted((r for r in rows if r["sampler"] == name), key=lambda r: r["L"])
        if len(sub) < 2:
            continue
        Ls = [r["L"] for r in sub]
        fits[name] = {}
        for obs in ("energy", "abs_magnetization"):
            taus = [r[f"tau_{obs}_sweeps"] for r in sub]
            errs = [r[f"tau_{obs}_sweeps_error"] for r in sub]
            fits[name][obs] = fit_z(Ls, taus, errs)
            fits[name][obs]["largest_two"] = fit_z(Ls[-2:], taus[-2:], errs[-2:])
            fits[name][obs]["sizes"] = Ls
        obs = Z_OBSERVABLE[name]
        fits[name]["compared"] = {"observable": obs, "literature_z": LITERATURE_Z[name],
                                  "deviation": fits[name][obs]["z"] - LITERATURE_Z[name],
                                  "deviation_largest_two": fits[name][obs]["largest_two"]["z"] - LITERATURE_Z[name]}
        f_e, f_m = fits[name]["energy"], fits[name]["abs_magnetization"]
        print(f"z[{name}]: E {f_e['z']:.3f} +- {f_e['z_error']:.3f} (largest two L: {f_e['largest_two']['z']:.3f}), "
              f"|m| {f_m['z']:.3f} +- {f_m['z_error']:.3f} (largest two L: {f_m['largest_two']['z']:.3f})"
              f"  [literature {LITERATURE_Z[name]} for {obs}]")
    speedup = {}
    for L in sizes:
        by = {r["sampler"]: r for r in rows if r["L"] == L}
        if "metropolis" not in by:
            continue
        reference = by["metropolis"]["time_per_independent_sample_s"]
        speedup[str(L)] = {name: reference / by[name]["time_per_independent_sample_s"]
                           for name in ("wolff", "swendsen_wang") if name in by}
        print(f"L={L}: independent samples per second relative to Metropolis: "
              + ", ".join(f"{k} {v:.1f}x" for k, v in speedup[str(L)].items()))
    return fits, speedup


def write_json(result: dict, out: str) -> None:
    """Write ``result`` to ``out`` atomically (temporary file, then ``os.replace``)."""
    os.makedirs(os.path.dirname(out), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(out), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, out)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="L in {16, 32} with short chains (smoke test)")
    parser.add_argument("--sizes", type=int, nargs="*", default=None, help="lattice sizes (default 16 32 64 128)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None, help="JSON path (default benchmarks/results/cluster-<host>.json)")
    parser.add_argument("--samplers", nargs="*", default=None, choices=list(LITERATURE_Z),
                        help="samplers to run (default all three)")
    parser.add_argument("--reuse", default=None, metavar="JSON",
                        help="take the rows of samplers not run now from this earlier result (same sizes)")
    parser.add_argument("--retime", default=None, metavar="JSON",
                        help="re-measure the time per step of every row of an existing result side by side (one "
                             "process, one sampler after the other per L) and recompute the derived numbers")
    parser.add_argument("--refit", default=None, metavar="JSON",
                        help="recompute fits of an existing result, no sampling")
    args = parser.parse_args(argv)
    if args.retime:
        with open(args.retime) as f:
            result = json.load(f)
        key = jax.random.key(args.seed + 1)
        for L in sorted({r["L"] for r in result["rows"]}):
            cold = ising.ordered_spins(L, (1, 1))
            _, _, _, equilibrium = sample("wolff", L, cold, jax.random.fold_in(key, L + 1), measurements=1, every=1,
                                          thermalize=int(400 * L**0.25))
            for row in (r for r in result["rows"] if r["L"] == L):
                name = row["sampler"]
                steps_timed = {"metropolis": 2000, "wolff": 200, "swendsen_wang": 100}[name]
                row["time_per_step_s"] = time_per_step(name, L, equilibrium, jax.random.fold_in(key, 7), steps_timed)
                for obs in ("energy", "abs_magnetization"):
                    row[f"time_per_independent_sample_{obs}_s"] = row["time_per_step_s"] * 2 * row[f"tau_{obs}_steps"]
                row["time_per_independent_sample_s"] = max(row["time_per_independent_sample_energy_s"],
                                                           row["time_per_independent_sample_abs_magnetization_s"])
                row["independent_samples_per_s"] = 1.0 / row["time_per_independent_sample_s"]
                print(f"L={L:4d} {name:14s} t/step={row['time_per_step_s'] * 1e6:9.1f} us"
                      f"  t/indep={row['time_per_independent_sample_s'] * 1e3:9.3f} ms", flush=True)
        result["retimed"] = True
        args.refit = args.retime
    if args.refit:
        with open(args.refit) as f:
            result = json.load(f) if not args.retime else result
        sizes = sorted({r["L"] for r in result["rows"]})
        result["z_fits"], result["speedup_vs_metropolis"] = summarize(result["rows"], sizes, list(LITERATURE_Z))
        write_json(result, args.refit)
        return result
    sizes = args.sizes or ([16, 32] if args.quick else [16, 32, 64, 128])
    samplers = args.samplers or list(LITERATURE_Z)
    key = jax.random.key(args.seed)
    rows = []
    t_start = time.perf_counter()
    for L in sizes:
        cfg = plan(L, args.quick)
        k_L = jax.random.fold_in(key, L)
        n_chains = max(c["chains"] for c in cfg.values())
        # Equilibrium start for every sampler: Wolff from a cold (ordered) start, 400 L^(1/4) cluster steps (> 100
        # sweeps). A hot start coarsens slowly under single-cluster moves (tiny clusters): do not use one here.
        cold = ising.ordered_spins(L, (1, n_chains))
        therm_steps = int(400 * L**0.25)
        _, _, _, equilibrium = sample("wolff", L, cold, jax.random.fold_in(k_L, 1), measurements=1, every=1,
                                      thermalize=therm_steps)
        for i, name in enumerate(samplers):
            c = cfg[name]
            t0 = time.perf_counter()
            e, am, sweeps_per_step, final = sample(
                name, L, equilibrium[:, : c["chains"]], jax.random.fold_in(k_L, 10 + i), measurements=c["measurements"],
                every=c["every"], thermalize=0,
            )
            run_wall = time.perf_counter() - t0
            steps_timed = {"metropolis": 2000, "wolff": 200, "swendsen_wang": 100}[name]
            t_step = time_per_step(name, L, final, jax.random.fold_in(k_L, 20 + i), steps_timed)
            row = {"sampler": name, "L": L, "chains": c["chains"], "measurements": c["measurements"],
                   "steps_per_measurement": c["every"], "sweeps_per_step": sweeps_per_step,
                   "time_per_step_s": t_step, "run_wall_s": run_wall}
            for obs, series in (("energy", e), ("abs_magnetization", am)):
                tau, err = tau_over_chains(series)
                tau_steps, err_steps = tau * c["every"], err * c["every"]
                row[f"tau_{obs}_steps"] = tau_steps
                row[f"tau_{obs}_steps_error"] = err_steps
                row[f"tau_{obs}_sweeps"] = tau_steps * sweeps_per_step
                row[f"tau_{obs}_sweeps_error"] = err_steps * sweeps_per_step
                row[f"samples_per_run_over_tau_{obs}"] = c["measurements"] * c["every"] / tau_steps
                row[f"time_per_independent_sample_{obs}_s"] = t_step * 2 * tau_steps
            row["time_per_independent_sample_s"] = max(row["time_per_independent_sample_energy_s"],
                                                       row["time_per_independent_sample_abs_magnetization_s"])
            row["independent_samples_per_s"] = 1.0 / row["time_per_independent_sample_s"]
            rows.append(row)
            print(f"L={L:4d} {name:14s} tau_E={row['tau_energy_sweeps']:9.2f} "
                  f"tau_|m|={row['tau_abs_magnetization_sweeps']:9.2f}"
                  f" sweeps  (steps: {row['tau_energy_steps']:.2f}, {row['tau_abs_magnetization_steps']:.2f})"
                  f"  <|C|>/N={sweeps_per_step:.3f}  t/step={t_step * 1e6:9.1f} us"
                  f"  t/indep={row['time_per_independent_sample_s'] * 1e3:9.3f} ms  [{run_wall:.0f} s]", flush=True)

    reused = []
    if args.reuse:
        with open(args.reuse) as f:
            earlier = json.load(f)
        done = {(r["sampler"], r["L"]) for r in rows}
        reused = [r for r in earlier["rows"] if (r["sampler"], r["L"]) not in done]
        rows = sorted(reused + rows, key=lambda r: (r["L"], list(LITERATURE_Z).index(r["sampler"])))
        sizes = sorted({r["L"] for r in rows})
    fits, speedup = summarize(rows, sizes, sorted({r["sampler"] for r in rows}, key=list(LITERATURE_Z).index))
    result = {
        "benchmark": "cluster",
        "T": T_C,
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "quick": args.quick,
        "window_c": WINDOW_C,
        "rows": rows,
        "reused_rows": ({"from": args.reuse, "rows": sorted({f"{r['sampler']}@{r['L']}" for r in reused})}
                        if reused else None),
        "z_fits": fits,
        "speedup_vs_metropolis": speedup,
        "wall_s": time.perf_counter() - t_start,
        "notes": "tau in sweeps: Wolff steps x <|C|>/N; time per independent sample = time per step x 2 tau (steps), "
                 "max over E and |m|; timings are single-chain on a shared machine (noisy; compare within one run).",
    }
    out = args.output or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                      f"cluster-{socket.gethostname()}{'-quick' if args.quick else ''}.json")
    write_json(result, out)
    print(f"wrote {out} ({result['wall_s']:.0f} s)")
    return result


if __name__ == "__main__":
    main()
