"""Replica exchange and reweighting, measured side by side in one run (ratios, not absolute times, are the result).

1. Tunnelling below T_c (T = 1.8, L = 64 by default, Metropolis): the mean number of sweeps between sign changes of
   the magnetisation at T = 1.8, for independent chains at T = 1.8 alone and for the same chains as the lowest rung
   of a replica-exchange ladder up to above T_c. Without exchange a sign change needs a domain wall across the whole
   torus, so usually none happens in the run: the time is then reported as a lower bound (the run length).
2. At T_c: the integrated autocorrelation time of |m| with and without replica exchange (same ladder, same sweeps).
3. T_c precision per CPU second: for the same runs of two sizes at a fixed temperature grid, the error of the
   reweighted Binder crossing (:func:`jaxrg.reweighting.binder_crossing`) against the error of the crossing of the
   straight lines through the two grid points around the sign change (the fixed-grid estimator), both from the same
   data and so the same CPU time: the precision ratio is (error_grid / error_reweighted)^2.

Usage: python benchmarks/tempering.py [--quick] [--L 64] [--sweeps 20000] [--out PATH]
Writes benchmarks/results/tempering-<host>.json with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jax.numpy as jnp
import numpy as np

import jaxrg
from jaxrg import exact, reweighting, stats


def sign_change_time(m: np.ndarray, sweeps_per_measurement: float) -> tuple[float, int]:
    """Mean sweeps between sign changes of m over all chains ((chains, n) series), and the number of changes."""
    signs = np.sign(m)
    changes = int(np.sum(signs[:, 1:] * signs[:, :-1] < 0))
    total = m.shape[0] * m.shape[1] * sweeps_per_measurement
    return (total / changes if changes else float("inf")), changes


def tunnelling(L: int, sweeps: int, chains: int, ladder: np.ndarray, seed: int) -> dict:
    kw = dict(sampler="metropolis", sweeps=sweeps, thermalize=sweeps // 10, chains=chains, measure_every=4, seed=seed,
              initial="ordered")
    t0 = time.process_time()
    alone = jaxrg.simulate(L, ladder[:1], **kw)
    cpu_alone = time.process_time() - t0
    t0 = time.process_time()
    pt = jaxrg.simulate(L, ladder, exchange_every=1, **kw)
    cpu_pt = time.process_time() - t0
    t_alone, n_alone = sign_change_time(alone.timeseries.magnetization[0], 4)
    t_pt, n_pt = sign_change_time(pt.timeseries.magnetization[0], 4)
    return {
        "T": float(ladder[0]), "L": L, "sweeps": sweeps, "chains": chains, "ladder": ladder.tolist(),
        "sweeps_between_sign_changes_alone": t_alone if n_alone else None,
        "lower_bound_alone": None if n_alone else float(chains * sweeps),
        "sign_changes_alone": n_alone,
        "sweeps_between_sign_changes_exchange": t_pt if n_pt else None, "sign_changes_exchange": n_pt,
        "swap_acceptance": pt.exchange.swap_acceptance.tolist(), "round_trips": pt.exchange.round_trips,
        "round_trip_time_sweeps": pt.exchange.round_trip_time,
        "cpu_seconds_alone": cpu_alone, "cpu_seconds_exchange": cpu_pt,
        "speedup_lower_bound_per_rung": (chains * sweeps / t_pt) if (n_pt and not n_alone) else None,
    }


def tau_at_tc(L: int, sweeps: int, chains: int, ladder: np.ndarray, seed: int) -> dict:
    i = int(np.argmin(np.abs(ladder - exact.CRITICAL_TEMPERATURE)))
    kw = dict(sampler="metropolis", sweeps=sweeps, thermalize=sweeps // 10, chains=chains, seed=seed)
    alone = jaxrg.simulate(L, ladder[i:i + 1], **kw)
    pt = jaxrg.simulate(L, ladder, exchange_every=1, **kw)
    tau = lambda r, k: float(np.mean(np.asarray(stats.integrated_autocorrelation_time(  # noqa: E731
        jnp.abs(jnp.asarray(r.timeseries.magnetization[k]))))))
    return {"T": float(ladder[i]), "L": L, "tau_abs_m_alone": tau(alone, 0), "tau_abs_m_exchange": tau(pt, i),
            "ratio": tau(alone, 0) / tau(pt, i)}


def _grid_crossing(T, U1, dU1, U2, dU2) -> tuple[float, float]:
    """Crossing of the straight lines through the two grid points around the sign change, with error propagation."""
    d = U2 - U1
    k = np.nonzero(np.sign(d[:-1]) != np.sign(d[1:]))[0]
    if k.size == 0:
        return float("nan"), float("nan")
    k = int(k[0])
    dd = d[k + 1] - d[k]
    t = T[k] - d[k] * (T[k + 1] - T[k]) / dd
    # dt/dd_k and dt/dd_{k+1}; the grid points are independent runs
    g_k = -(T[k + 1] - T[k]) * d[k + 1] / dd**2
    g_k1 = (T[k + 1] - T[k]) * d[k] / dd**2
    var = g_k**2 * (dU1[k] ** 2 + dU2[k] ** 2) + g_k1**2 * (dU1[k + 1] ** 2 + dU2[k + 1] ** 2)
    return float(t), float(np.sqrt(var))


def crossing_precision(sizes, sweeps: int, chains: int, seed: int) -> dict:
    T = np.linspace(2.20, 2.34, 8)
    runs, cpu = [], 0.0
    for L in sizes:
        t0 = time.process_time()
        runs.append(jaxrg.simulate(L, T, sampler="wolff", sweeps=sweeps, thermalize=sweeps // 10, chains=chains,
                                   seed=seed + L))
        cpu += time.process_time() - t0
    r1, r2 = runs
    grid = _grid_crossing(T, r1.binder.mean, r1.binder.error, r2.binder.mean, r2.binder.error)
    rw = reweighting.binder_crossing([(sizes[0], T, r1.timeseries.energy, r1.timeseries.magnetization),
                                      (sizes[1], T, r2.timeseries.energy, r2.timeseries.magnetization)])
    return {"sizes": list(sizes), "T_grid": T.tolist(), "cpu_seconds": cpu,
            "grid": {"T_c": grid[0], "error": grid[1]}, "reweighted": {"T_c": rw.mean, "error": rw.error},
            "precision_per_cpu_second_grid": 1.0 / (grid[1] ** 2 * cpu),
            "precision_per_cpu_second_reweighted": 1.0 / (rw.error**2 * cpu),
            "precision_ratio": (grid[1] / rw.error) ** 2, "exact": exact.CRITICAL_TEMPERATURE}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes and few sweeps (a smoke test)")
    p.add_argument("--L", type=int, default=64)
    p.add_argument("--sweeps", type=int, default=20_000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    L, sweeps = (16, 2_000) if args.quick else (args.L, args.sweeps)
    load_before = os.getloadavg()
    ladder = np.linspace(1.8, 3.0, 12)
    result = {
        "host": socket.gethostname(), "device": str(jaxrg.files.environment_metadata()["device"]),
        "load_average_before": load_before,
        "tunnelling": tunnelling(L, sweeps, args.chains, ladder, args.seed),
        "tau_at_T_c": tau_at_tc(L // 2, sweeps, args.chains, np.linspace(2.0, 2.6, 8), args.seed + 1),
        "T_c_precision": crossing_precision((16, 32) if not args.quick else (8, 16), sweeps // 4, args.chains,
                                            args.seed + 2),
    }
    result["load_average_after"] = os.getloadavg()
    out = args.out or os.path.join(os.path.dirname(__file__), "results", f"tempering-{socket.gethostname()}.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
