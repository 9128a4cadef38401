"""phi^4 samplers: effective samples of |M| per second (HMC vs NUTS vs local Metropolis), and a Binder crossing.

Part 1 (efficiency): 2D phi^4 at lam = 1 and a near-critical kappa (default 0.34, the crossing region found in part 2),
L in {16, 32, 64}. For each sampler (blackjax HMC with 16 leapfrog steps, blackjax NUTS, checkerboard Metropolis on
phi), thermalise/tune with jaxrg.phi4.prepare (window adaptation for HMC/NUTS, 50% acceptance for Metropolis), then
run the batched kernel in AOT-compiled chunks (compilation excluded) for a fixed wall-time budget, recording |M| after
every step. The first 20% of the series is discarded; tau_int(|M|) is Sokal's windowed estimate per chain (in kernel
steps), ESS = chains * n / (2 tau), and ESS/s divides by the wall time of the kept steps. ``n_over_tau`` < 50 flags a
run too short for a reliable tau (then ESS/s is an upper bound). All samplers run in the same process, interleaved per
L, so the ratios are meaningful on a shared, noisy machine.

Part 2 (physics): Binder ratio U = 1 - <m^4>/(3 <m^2>^2) with HMC on a kappa grid for L in {8, 16, 32} at lam = 1;
the difference U_L - U_2L is fitted by a weighted straight line over the 4 grid points around its sign change, and its
root is the crossing; its error comes from a parametric bootstrap over the Binder error bars.

Usage: python benchmarks/hmc.py [--quick] [--sizes 16 32 64] [--seconds 15] [--skip-binder | --skip-efficiency]
       [--binder-sizes 8 16 32] [--binder-kappas ...] [--binder-sweeps N] [--out PATH] [--recompute-crossings JSON]
Writes benchmarks/results/hmc-<host>.json (atomically).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxrg import phi4, stats

LAM = 1.0


def efficiency(sampler: str, L: int, kappa: float, *, chains: int, seconds: float, warmup: int, chunk: int, seed: int):
    """Tune, then sample for ``seconds`` of wall time; return the ESS/s record of one (sampler, L)."""
    t0 = time.perf_counter()
    kernel, state, params, _ = phi4.prepare(L, kappa, lam=LAM, sampler=sampler, thermalize=warmup, chains=chains,
                                          seed=seed, num_integration_steps=16)
    jax.block_until_ready(state)
    t_prepare = time.perf_counter() - t0

    def run_chunk(key, state):
        def body(s, k):
            s, info = kernel(k, s, params)
            grads = getattr(info, "gradient_evaluations", jnp.zeros_like(info.acceptance))
            return s, (jnp.abs(phi4.magnetization_per_site(s.position)), info.acceptance, grads)

        return jax.lax.scan(body, state, jax.random.split(key, chunk))

    t0 = time.perf_counter()
    compiled = jax.jit(run_chunk).lower(jax.random.key(0), state).compile()
    t_compile = time.perf_counter() - t0

    series, acceptance, grads, times = [], [], [], []
    key = jax.random.key(seed + 1000)
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < seconds or i < 4:
        t = time.perf_counter()
        state, (m, acc, g) = compiled(jax.random.fold_in(key, i), state)
        jax.block_until_ready(m)
        times.append(time.perf_counter() - t)
        series.append(np.asarray(m))
        acceptance.append(np.asarray(acc))
        grads.append(np.asarray(g))
        i += 1
    m = np.concatenate(series)[:, 0, :]  # (steps, chains)
    n_total = m.shape[0]
    drop = n_total // 5
    kept = m[drop:].T  # (chains, n)
    n = kept.shape[1]
    tau = np.asarray(stats.integrated_autocorrelation_time(jnp.asarray(kept), axis=-1))
    kept_seconds = float(np.sum(times)) * n / n_total
    ess = float(np.sum(n / (2.0 * tau)))
    grads_per_step = float(np.mean(np.concatenate(grads)))
    return {
        "sampler": sampler,
        "L": L,
        "kappa": kappa,
        "lam": LAM,
        "chains": chains,
        "steps_per_chain": n,
        "seconds_sampling": kept_seconds,
        "seconds_prepare": t_prepare,
        "seconds_compile": t_compile,
        "steps_per_second": chains * n / kept_seconds,
        "tau_abs_m_steps": float(np.mean(tau)),
        "tau_abs_m_gradients": float(np.mean(tau)) * grads_per_step if sampler != "metropolis" else None,
        "n_over_tau": float(n / np.mean(tau)),
        "ess": ess,
        "ess_per_second": ess / kept_seconds,
        "acceptance": float(np.mean(np.concatenate(acceptance))),
        "gradient_evaluations_per_step": grads_per_step if sampler != "metropolis" else None,
        "step_size_mean": float(np.mean(np.asarray(params if sampler == "metropolis" else params.step_size))),
        "mean_abs_m": float(np.mean(kept)),
    }


def _linear_crossing(k, d, e):
    """Root of the weighted straight-line fit of ``d(k)`` (with errors ``e``); NaN for a flat fit."""
    slope, intercept = np.polyfit(k, d, 1, w=1.0 / e)
    return -intercept / slope if slope != 0 else np.nan


def crossings_from_curves(sizes, kappas, curves, *, seed: int, n_boot: int = 2000):
    """Crossings of successive Binder curves ``curves[L]["binder"]`` (errors ``"binder_error"``) on ``kappas``."""
    k = np.asarray(kappas)
    rng = np.random.default_rng(seed)
    crossings = []
    for La, Lb in zip(sizes[:-1], sizes[1:]):
        ua, ea = np.asarray(curves[La]["binder"]), np.asarray(curves[La]["binder_error"])
        ub, eb = np.asarray(curves[Lb]["binder"]), np.asarray(curves[Lb]["binder_error"])

        d, e = ua - ub, np.hypot(ea, eb)
        change = np.nonzero(np.diff(np.sign(d)))[0]
        # window: the 4 grid points around the first sign change of U_La - U_Lb (the whole grid if none)
        centre = int(change[0]) if change.size else int(np.argmin(np.abs(d)))
        lo = max(0, min(centre - 1, k.size - 4))
        window = slice(lo, lo + 4)

        def cross(ua, ub):
            kc = _linear_crossing(k[window], (ua - ub)[window], e[window])
            fa = np.polyfit(k[window], ua[window], 1, w=1.0 / ea[window])
            return kc, np.polyval(fa, kc)

        kc, uc = cross(ua, ub)
        boot = np.array([cross(ua + ea * rng.standard_normal(ua.size), ub + eb * rng.standard_normal(ub.size))
                         for _ in range(n_boot)])
        ok = np.isfinite(boot[:, 0])
        # the crossing is a ratio of noisy slopes (heavy-tailed): quote half the central 68% interval as the error
        lo68, hi68 = np.percentile(boot[ok, 0], [16, 84]) if ok.sum() > 10 else (np.nan, np.nan)
        crossings.append({
            "sizes": [La, Lb],
            "fit_window": [float(k[window][0]), float(k[window][-1])],
            "sign_change_found": bool(change.size),
            "kappa_cross": kc,
            "kappa_cross_error": float(0.5 * (hi68 - lo68)),
            "kappa_cross_interval_68": [float(lo68), float(hi68)],
            "kappa_cross_bootstrap_std": float(np.std(boot[ok, 0], ddof=1)) if ok.sum() > 10 else None,
            "binder_at_cross": float(uc),
            "binder_at_cross_error": float(0.5 * np.subtract(*np.percentile(boot[ok, 1], [84, 16]))),
            "bootstrap_success_fraction": float(ok.mean()),
        })
        print(f"  crossing L={La},{Lb}: kappa = {kc:.5f} +- {crossings[-1]['kappa_cross_error']}, U = {uc:.4f}",
              flush=True)
    return crossings


def binder_crossing(sizes, kappas, *, sweeps: int, chains: int, warmup: int, seed: int, n_boot: int = 2000):
    """Binder curves U_L(kappa) at lam = 1 with HMC and the crossings of successive sizes (bootstrap errors)."""
    curves = {}
    for L in sizes:
        t0 = time.perf_counter()
        r = phi4.simulate(L, kappas, lam=LAM, sampler="hmc", sweeps=sweeps, thermalize=warmup, chains=chains,
                          seed=seed + L, num_integration_steps=16)
        curves[L] = {
            "binder": r.binder.mean.tolist(),
            "binder_error": r.binder.error.tolist(),
            "abs_magnetization": r.abs_magnetization.mean.tolist(),
            "susceptibility": r.susceptibility.mean.tolist(),
            "tau_abs_magnetization_trajectories": r.tau_abs_magnetization.tolist(),
            "acceptance": r.acceptance.tolist(),
            "schwinger_dyson": r.schwinger_dyson.mean.tolist(),
            "schwinger_dyson_error": r.schwinger_dyson.error.tolist(),
            "seconds": time.perf_counter() - t0,
        }
        print(f"  binder L={L}: {np.round(r.binder.mean, 3)} +- {np.round(r.binder.error, 3)} "
              f"({curves[L]['seconds']:.0f} s)", flush=True)
    crossings = crossings_from_curves(sizes, kappas, curves, seed=seed, n_boot=n_boot)
    curves = {str(L): v for L, v in curves.items()}
    return {"kappas": list(map(float, kappas)), "curves": curves, "crossings": crossings}


def _write_json(result, path):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and budgets (smoke test)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--kappa", type=float, default=0.34)
    parser.add_argument("--seconds", type=float, default=15.0, help="sampling wall time per (sampler, L)")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--binder-sizes", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--binder-sweeps", type=int, default=3000)
    parser.add_argument("--binder-kappas", type=float, nargs="+", default=None,
                        help="kappa grid (default 0.330..0.366)")
    parser.add_argument("--binder-thermalize", type=int, default=300)
    parser.add_argument("--skip-binder", action="store_true")
    parser.add_argument("--skip-efficiency", action="store_true")
    parser.add_argument("--out", default=None)
    parser.add_argument("--recompute-crossings", metavar="JSON", default=None,
                        help="recompute the Binder crossings of an existing result file in place, then exit")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.seconds, args.binder_sizes, args.binder_sweeps = [8, 16], 3.0, [8, 16], 400

    if args.recompute_crossings:
        with open(args.recompute_crossings) as f:
            result = json.load(f)
        b = result["binder"]
        sizes = sorted(int(L) for L in b["curves"])
        b["crossings"] = crossings_from_curves(sizes, b["kappas"], {L: b["curves"][str(L)] for L in sizes}, seed=1)
        _write_json(result, args.recompute_crossings)
        return

    host = socket.gethostname()
    result = {
        "benchmark": "hmc",
        "host": host,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "float": "float64" if jax.config.jax_enable_x64 else "float32",
        "command": " ".join(["python", "benchmarks/hmc.py", *(argv if argv is not None else sys.argv[1:])]),
        "note": "shared machine (2 cores, several concurrent jobs): absolute rates are noisy; compare ratios within L",
    }
    t_start = time.perf_counter()
    if not args.skip_efficiency:
        records = []
        for L in args.sizes:
            for sampler in ("hmc", "nuts", "metropolis"):
                rec = efficiency(sampler, L, args.kappa, chains=args.chains, seconds=args.seconds,
                                 warmup=300 if not args.quick else 100, chunk=50 if sampler != "metropolis" else 200,
                                 seed=L)
                records.append(rec)
                print(f"L={L:3d} {sampler:10s} ESS/s={rec['ess_per_second']:9.2f} "
                      f"tau={rec['tau_abs_m_steps']:8.1f} steps "
                      f"(n/tau={rec['n_over_tau']:6.1f}) steps/s={rec['steps_per_second']:9.1f} "
                      f"acc={rec['acceptance']:.2f} grads/step={rec['gradient_evaluations_per_step']}", flush=True)
            base = next(r for r in records if r["L"] == L and r["sampler"] == "metropolis")["ess_per_second"]
            for r in records:
                if r["L"] == L:
                    r["ess_per_second_over_metropolis"] = r["ess_per_second"] / base
        result["efficiency"] = records
    if not args.skip_binder:
        kappas = np.linspace(0.330, 0.366, 7) if not args.quick else np.linspace(0.30, 0.38, 5)
        if args.binder_kappas:
            kappas = np.asarray(args.binder_kappas)
        result["binder"] = binder_crossing(args.binder_sizes, kappas, sweeps=args.binder_sweeps, chains=8,
                                           warmup=args.binder_thermalize if not args.quick else 100, seed=1)
        result["binder"]["ising_universal_binder"] = 0.61069
    result["seconds_total"] = time.perf_counter() - t_start

    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", f"hmc-{host}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    _write_json(result, out)
    print(f"wrote {out} ({result['seconds_total']:.0f} s)")


if __name__ == "__main__":
    main()
