"""Critical plateau of TRG, BTRG and Gilt-TRG at the pseudo-critical coupling of each (scheme, chi).

Usage (from the repository root):
    .venv/bin/python benchmarks/trg_plateau.py [--cases trg:8,gilt:8:1e-4] [--steps 28] [--tol 1e-10] [--bracket 0.05]

Each case ``method:chi[:epsilon[:max_iterations]]`` (method trg, btrg or gilt; epsilon and max_iterations for
Gilt) first finds the pseudo-critical coupling by bisection on the phase the flow ends in
(:func:`jaxrg.rg.trg.pseudo_critical.pseudo_critical_coupling`), then reads c, x_sigma, x_eps step by step at that
coupling from the transfer matrices of cylinders of 2 and 4 tensors (:func:`jaxrg.rg.trg.trg_scaling_dimensions`),
and their L^-2 extrapolation, and counts, for each of the three, the longest run of consecutive steps with
|x_sigma - 1/8| <= 1e-3, |x_eps - 1| <= 5e-3 and |c - 1/2| <= 0.01 (the issue's goal: 15).
Writes the section "plateau_at_pseudo_critical" of benchmarks/results/trg-<host>.json (atomically), with the load
average and the time of each part.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

from benchmarks.trg import atomic_json_update, goal_table, print_goal_table  # noqa: E402
from jaxrg import exact  # noqa: E402
from jaxrg.rg import trg  # noqa: E402
from jaxrg.rg.trg.conformal import ScalingSpectrum, critical_flow, spectrum_from_flow  # noqa: E402
from jaxrg.rg.trg.pseudo_critical import PseudoCriticalCoupling, pseudo_critical_coupling  # noqa: E402

#: Further steps whose norms enter the free energy per tensor (as trg_scaling_dimensions).
TAIL = 20


def extrapolated(two, four):
    """c and x on an infinitely wide cylinder from circumferences 2 and 4, assuming the leading finite-size
    correction ~ L^-2 (the T Tbar descendant of the identity, x = 4): y_inf = y_4 - (y_2 - y_4) / 3."""
    return ScalingSpectrum(step=two.step, central_charge=four.central_charge - (two.central_charge
                                                                                 - four.central_charge) / 3,
                           scaling_dimensions=four.scaling_dimensions - (two.scaling_dimensions
                                                                         - four.scaling_dimensions) / 3,
                           stationarity=four.stationarity, plateau=four.plateau)


def parse_case(case):
    parts = case.split(":")
    method, chi = parts[0], int(parts[1])
    if method == "gilt":
        epsilon = float(parts[2]) if len(parts) > 2 else 1e-7
        iterations = int(parts[3]) if len(parts) > 3 else 20
        return trg.GiltTRG(epsilon=epsilon, max_iterations=iterations), chi
    return {"trg": trg.TRG(), "btrg": trg.BTRG()}[method], chi


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="trg:8,btrg:8,gilt:8:1e-6")
    parser.add_argument("--steps", type=int, default=28, help="last RG step tabulated")
    parser.add_argument("--tol", type=float, default=1e-10, help="bisection tolerance on K")
    parser.add_argument("--bracket", type=float, default=0.05,
                        help="bisection bracket K_c (1 -+ this); must enclose every case's pseudo-critical coupling")
    parser.add_argument("--reuse", action="store_true",
                        help="take the pseudo-critical coupling of a case already in --out instead of bisecting")
    parser.add_argument("--max-steps", type=int, default=90, help="most RG steps per bisection flow")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                      f"trg-{socket.gethostname()}.json"))
    args = parser.parse_args()
    previous = {}
    if args.reuse and os.path.exists(args.out):
        with open(args.out) as fh:
            previous = json.load(fh).get("plateau_at_pseudo_critical", {})
    for case in args.cases.split(","):
        scheme, chi = parse_case(case)
        t0, load0 = time.perf_counter(), os.getloadavg()[0]
        if case in previous:  # the bisection of an earlier run (same scheme, chi)
            tuned = PseudoCriticalCoupling(**previous[case]["pseudo_critical"])
            seconds_bisection = previous[case]["seconds_bisection"]
        else:
            bracket = (exact.CRITICAL_COUPLING * (1 - args.bracket), exact.CRITICAL_COUPLING * (1 + args.bracket))
            tuned = pseudo_critical_coupling(chi, method=scheme, bracket=bracket, tol=args.tol,
                                             max_steps=args.max_steps)
            seconds_bisection = time.perf_counter() - t0
        t1 = time.perf_counter()
        flow = critical_flow(jnp.asarray(tuned.coupling), chi=chi, steps=args.steps, tail=TAIL, scheme=scheme)
        spectra = {f"circumference_{n}": spectrum_from_flow(*flow, scheme=scheme, num=4, circumference=n)
                   for n in (2, 4)}
        spectra["extrapolated"] = extrapolated(spectra["circumference_2"], spectra["circumference_4"])
        t2 = time.perf_counter()
        row = {"scheme": repr(scheme), "chi": chi, "pseudo_critical": tuned._asdict(),
               "relative_shift_from_Kc": (tuned.coupling - exact.CRITICAL_COUPLING) / exact.CRITICAL_COUPLING,
               "seconds_bisection": seconds_bisection, "seconds_table": t2 - t1,
               "load_average_1min": [load0, os.getloadavg()[0]]}
        row.update({name: goal_table(spec) for name, spec in spectra.items()})
        runs = {name: row[name]["longest_run_within_goal"] for name in spectra}
        print(f"{case}: K* = {tuned.coupling:.12f} ({row['relative_shift_from_Kc']:+.3e} from K_c, "
              f"{tuned.evaluations} flows, decided after {tuned.lower_steps}/{tuned.upper_steps} steps), "
              f"longest runs {runs}, {seconds_bisection:.0f} s + {t2 - t1:.0f} s, load {load0:.1f}", flush=True)
        for name, spec in spectra.items():
            print(" ", name)
            print_goal_table(spec)
        atomic_json_update(args.out, "plateau_at_pseudo_critical", {case: row})

if __name__ == "__main__":
    main()
