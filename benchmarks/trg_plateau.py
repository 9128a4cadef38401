"""Critical plateau of TRG, BTRG and Gilt-TRG at the pseudo-critical coupling of each (scheme, chi).

Usage (from the repository root):
    .venv/bin/python benchmarks/trg_plateau.py [--cases trg:8,gilt:8:1e-4] [--steps 28] [--tol 1e-10] [--bracket 0.05]

Each case ``method:chi[:epsilon[:max_iterations]]`` (method trg, btrg or gilt; epsilon and max_iterations for
Gilt) first finds the pseudo-critical coupling by bisection on the phase the flow ends in
(:func:`jaxrg.rg.trg.pseudo_critical.pseudo_critical_coupling`), then reads c, x_sigma, x_eps step by step from the
2x1 transfer matrix (:func:`jaxrg.rg.trg.trg_scaling_dimensions`) at that coupling and counts the longest run of
consecutive steps with |x_sigma - 1/8| <= 1e-3, |x_eps - 1| <= 5e-3 and |c - 1/2| <= 0.01 (the issue's goal: 15).
Writes the section "plateau_at_pseudo_critical" of benchmarks/results/trg-<host>.json (atomically), with the load
average and the time of each part.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax

jax.config.update("jax_enable_x64", True)

from benchmarks.trg import atomic_json_update, goal_table, print_goal_table  # noqa: E402
from jaxrg import exact  # noqa: E402
from jaxrg.rg import trg  # noqa: E402
from jaxrg.rg.trg.pseudo_critical import pseudo_critical_coupling  # noqa: E402


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
    parser.add_argument("--max-steps", type=int, default=90, help="most RG steps per bisection flow")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                      f"trg-{socket.gethostname()}.json"))
    args = parser.parse_args()
    for case in args.cases.split(","):
        scheme, chi = parse_case(case)
        t0, load0 = time.perf_counter(), os.getloadavg()[0]
        bracket = (exact.CRITICAL_COUPLING * (1 - args.bracket), exact.CRITICAL_COUPLING * (1 + args.bracket))
        tuned = pseudo_critical_coupling(chi, method=scheme, bracket=bracket, tol=args.tol, max_steps=args.max_steps)
        t1 = time.perf_counter()
        spec = trg.trg_scaling_dimensions(tuned.coupling, chi=chi, steps=args.steps, method=scheme, num=4)
        t2 = time.perf_counter()
        row = {"scheme": repr(scheme), "chi": chi, "pseudo_critical": tuned._asdict(),
               "relative_shift_from_Kc": (tuned.coupling - exact.CRITICAL_COUPLING) / exact.CRITICAL_COUPLING,
               **goal_table(spec), "seconds_bisection": t1 - t0, "seconds_table": t2 - t1,
               "load_average_1min": [load0, os.getloadavg()[0]]}
        print(f"{case}: K* = {tuned.coupling:.12f} ({row['relative_shift_from_Kc']:+.3e} from K_c, "
              f"{tuned.evaluations} flows, decided after {tuned.lower_steps}/{tuned.upper_steps} steps), "
              f"longest run {row['longest_run_within_goal']}, {t1 - t0:.0f} s + {t2 - t1:.0f} s, "
              f"load {load0:.1f}", flush=True)
        print_goal_table(spec)
        atomic_json_update(args.out, "plateau_at_pseudo_critical", {case: row})


if __name__ == "__main__":
    main()
