"""Warm starts from the inverse-RG generator against hot and cold starts at T_c: sweeps to equilibrium, side by side.

For each lattice size and sampler, chains start hot (random), cold (ordered) or generated
(``simulate(..., initial="generated")``: critical configurations dreamt up at the target size) and run at T_c with
no thermalisation. The equilibration time of the energy is the first sweep after which the chain-averaged energy
stays within 2 standard errors of Kaufman's exact finite-lattice value for a window of ``window`` measurements
(``jaxrg.stats.equilibration_time``); the same for |m| against <|m|> of an equilibrium reference run of Wolff chains
(which equilibrate in a few hundred cluster steps at T_c). The standard errors of a chain average are the reference's
single-chain equilibrium spreads / sqrt(chains). When neither hot nor cold start settles within the run, the saving
is reported as a lower bound (run length / generated). Wolff steps are converted to sweeps with the cluster size.

Usage: python benchmarks/warm_start.py [--sizes 128 256] [--samplers metropolis wolff] [--sweeps 4000]
       [--wolff-steps 1000] [--chains 4] [--out PATH]
GPU (L = 512, 1024 as the issue asks): python benchmarks/warm_start.py --sizes 512 1024 --sweeps 20000
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


def equilibrium(L: int, chains: int, steps: int, seed: int) -> dict:
    """Reference at T_c from Wolff chains started ordered (z ~ 0.25: they equilibrate in a few hundred cluster steps).

    Returns <|m|> and the single-chain equilibrium standard deviations of e and |m| (over configurations).
    """
    # from ordered spins: Wolff from a random start at T_c grows only small clusters (the bonds percolate below
    # threshold) and stays far from equilibrium for thousands of steps at L >= 256
    r = jaxrg.simulate(L, exact.CRITICAL_TEMPERATURE, sampler="wolff", sweeps=steps, thermalize=steps // 4,
                       chains=chains, initial="ordered", seed=seed + 1000)
    e, m = r.timeseries.energy, np.abs(r.timeseries.magnetization)
    return {"abs_m": float(np.mean(m)), "abs_m_error": float(r.abs_magnetization.error),
            "std_energy": float(np.std(e)), "std_abs_m": float(np.std(m)), "wolff_chains": chains,
            "wolff_steps": steps}


def one(L: int, sampler: str, sweeps: int, chains: int, window: int, seed: int, reference: dict) -> dict:
    T = exact.CRITICAL_TEMPERATURE
    runs, seconds = {}, {}
    for i, start in enumerate(("random", "ordered", "generated")):
        # a different seed per start: with common random numbers the three chains coalesce (Metropolis at equal
        # random numbers is a monotone coupling), which would tie their settling times together
        t0 = time.perf_counter()
        runs[start] = jaxrg.simulate(L, T, sampler=sampler, sweeps=sweeps, thermalize=0, chains=chains,
                                     initial=start, seed=seed + i)
        seconds[start] = time.perf_counter() - t0
    e_exact = float(exact.finite_lattice(L, T).energy)
    # equilibrium spread of a chain average of `chains` chains, from the Wolff reference
    sigma_e = reference["std_energy"] / np.sqrt(chains)
    sigma_m = reference["std_abs_m"] / np.sqrt(chains)
    out = {"L": L, "sampler": sampler, "chains": chains, "steps": sweeps, "window": window, "energy_exact": e_exact,
           "reference": reference, "sigma_energy": sigma_e, "sigma_abs_m": sigma_m, "seconds": seconds}
    for start, r in runs.items():
        e = np.mean(r.timeseries.energy, axis=0)
        m = np.mean(np.abs(r.timeseries.magnetization), axis=0)
        te = stats.equilibration_time(e, e_exact, sigma_e, window=window)
        tm = stats.equilibration_time(m, reference["abs_m"], sigma_m, window=window)
        to_sweeps = float(r.sweeps_per_step)
        out[start] = {"sweeps_energy": None if te is None else (te + 1) * to_sweeps,
                      "sweeps_abs_m": None if tm is None else (tm + 1) * to_sweeps,
                      "sweeps_per_step": to_sweeps,
                      "energy_first": float(e[0]), "abs_m_first": float(m[0]),
                      "energy_last_quarter": float(np.mean(e[-sweeps // 4:])),
                      "abs_m_last_quarter": float(np.mean(m[-sweeps // 4:]))}
    budget = sweeps * max(float(runs[s].sweeps_per_step) for s in runs)
    for obs in ("energy", "abs_m"):
        hot_cold = [out[s][f"sweeps_{obs}"] for s in ("random", "ordered")]
        gen = out["generated"][f"sweeps_{obs}"]
        finite = [b for b in hot_cold if b is not None]
        if gen is None:
            saving, bound = None, "generated start did not settle"
        elif finite:
            saving, bound = min(finite) / gen, "measured"
        else:  # neither hot nor cold settled within the run: the saving is at least budget / generated
            saving, bound = budget / gen, "lower bound (hot and cold did not settle)"
        out[f"saving_{obs}_vs_better_of_hot_cold"] = saving
        out[f"saving_{obs}_kind"] = bound
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    p.add_argument("--samplers", nargs="+", default=["metropolis", "wolff"])
    p.add_argument("--sweeps", type=int, default=4000, help="Metropolis sweeps per start")
    p.add_argument("--wolff-steps", type=int, default=1000,
                   help="Wolff cluster steps per start (a cluster step flips ~L^1.75 spins: far fewer are needed)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--window", type=int, default=50)
    p.add_argument("--reference-chains", type=int, default=8, help="Wolff chains of the equilibrium reference")
    p.add_argument("--reference-steps", type=int, default=4000, help="Wolff cluster steps of the reference")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    result = {"host": socket.gethostname(), "device": jaxrg.files.environment_metadata()["device"],
              "load_average_before": os.getloadavg(), "rows": []}
    for L in args.sizes:
        reference = equilibrium(L, args.reference_chains, args.reference_steps, args.seed)
        for sampler in args.samplers:
            steps = args.wolff_steps if sampler == "wolff" else args.sweeps
            row = one(L, sampler, steps, args.chains, args.window, args.seed, reference)
            keys = ("L", "sampler", "random", "ordered", "generated", "saving_energy_vs_better_of_hot_cold",
                    "saving_abs_m_vs_better_of_hot_cold")
            print(json.dumps({k: row[k] for k in keys}), flush=True)
            result["rows"].append(row)
    result["load_average_after"] = os.getloadavg()
    out = args.out or os.path.join(os.path.dirname(__file__), "results", f"warm_start-{socket.gethostname()}.json")
    jaxrg.files.write_text(out, json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
