"""Warm starts from the inverse-RG generator against hot and cold starts at T_c: sweeps to equilibrium, side by side.

For each lattice size and sampler, chains start hot (random), cold (ordered) or generated
(``simulate(..., initial="generated")``: critical configurations dreamt up at the target size) and run at T_c with
no thermalisation. The equilibration time of the energy is the first sweep after which the chain-averaged energy
stays within 2 standard errors of Kaufman's exact finite-lattice value for a window of ``window`` measurements;
the same for |m| against the mean over the second half of the longest (cold-start) run. Wolff steps are converted
to sweeps with the measured cluster size.

Usage: python benchmarks/warm_start.py [--sizes 128 256] [--samplers metropolis wolff] [--sweeps 4000] [--out PATH]
Writes benchmarks/results/warm_start-<host>.json with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np

import jaxrg
from jaxrg import exact, stats


def one(L: int, sampler: str, sweeps: int, chains: int, window: int, seed: int) -> dict:
    T = exact.CRITICAL_TEMPERATURE
    runs, seconds = {}, {}
    for start in ("random", "ordered", "generated"):
        t0 = time.perf_counter()
        runs[start] = jaxrg.simulate(L, T, sampler=sampler, sweeps=sweeps, thermalize=0, chains=chains,
                                     initial=start, seed=seed)
        seconds[start] = time.perf_counter() - t0
    e_exact = float(exact.finite_lattice(L, T).energy)
    ref = runs["ordered"]
    m_late = np.abs(ref.timeseries.magnetization)[:, sweeps // 2:]
    m_ref = float(np.mean(m_late))
    out = {"L": L, "sampler": sampler, "chains": chains, "steps": sweeps, "energy_exact": e_exact,
           "abs_m_reference": m_ref, "seconds": seconds}
    for start, r in runs.items():
        e = np.mean(r.timeseries.energy, axis=0)
        m = np.mean(np.abs(r.timeseries.magnetization), axis=0)
        # equilibrium fluctuations of the chain average, from the second half of the cold-start run
        sigma_e = float(np.std(ref.timeseries.energy[:, sweeps // 2:]) / np.sqrt(chains))
        sigma_m = float(np.std(m_late) / np.sqrt(chains))
        te = stats.equilibration_time(e, e_exact, sigma_e, window=window)
        tm = stats.equilibration_time(m, m_ref, sigma_m, window=window)
        to_sweeps = float(r.sweeps_per_step)
        out[start] = {"sweeps_energy": None if te is None else te * to_sweeps,
                      "sweeps_abs_m": None if tm is None else tm * to_sweeps,
                      "sweeps_per_step": to_sweeps}
    best = [out[s]["sweeps_energy"] for s in ("random", "ordered")]
    gen = out["generated"]["sweeps_energy"]
    finite = [b for b in best if b is not None]
    out["saving_energy_vs_better_of_hot_cold"] = (min(finite) / max(gen, 1.0)) if finite and gen is not None else None
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    p.add_argument("--samplers", nargs="+", default=["metropolis", "wolff"])
    p.add_argument("--sweeps", type=int, default=4000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--window", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    result = {"host": socket.gethostname(), "device": jaxrg.files.environment_metadata()["device"],
              "load_average_before": os.getloadavg(), "rows": []}
    for L in args.sizes:
        for sampler in args.samplers:
            row = one(L, sampler, args.sweeps, args.chains, args.window, args.seed)
            print(json.dumps({k: row[k] for k in ("L", "sampler", "random", "ordered", "generated")}), flush=True)
            result["rows"].append(row)
    result["load_average_after"] = os.getloadavg()
    out = args.out or os.path.join(os.path.dirname(__file__), "results", f"warm_start-{socket.gethostname()}.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
