"""CFT data from the linearised RG map: fixed point by flow + Newton, Arnoldi eigenvalues per Z2 sector, vs exact.

Usage (from the repository root):
    .venv/bin/python benchmarks/trg_linearized.py [--cases 6:0,8:0,8:1e-4] [--flow-steps 16] [--newton-steps 30]
        [--pseudo-critical]

Each case ``chi:epsilon[:even_states]`` (epsilon = Gilt threshold, 0 for plain HOTRG; even_states = Z2-even
states per leg, default ceil(chi / 2); rows keyed with ``:e<n>`` when given) starts the gauge-fixed step
(:mod:`jaxrg.rg.trg.linearized`) from the critical site tensor, takes the most stationary tensor of the flow, runs
Newton's method, and reads the leading eigenvalues of the Jacobian in the Z2-odd and Z2-even sectors: as it is
("jacobian", the library's default), with the gauge directions projected out ("gauge_projected"), and with the
projectors held fixed ("frozen"). Exact (b = 2): lambda_sigma = 2^(15/8) = 3.668 (x = 1/8),
lambda_epsilon = 2 (x = 1), the stress tensor (x = 2, spin 2) -1 (the step includes a quarter turn).
Writes the section "linearized" of benchmarks/results/trg_linearized-<host>.json (atomically), with the load
average, and the transfer-matrix (Gu-Wen) estimate of c and x at the same fixed-point tensor (is the fixed point
itself critical?).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax

jax.config.update("jax_enable_x64", True)

from benchmarks.trg import atomic_json_update  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from jaxrg.rg.trg import linearized  # noqa: E402
from jaxrg.rg.trg.conformal import two_by_one_transfer_matrix  # noqa: E402

EXACT = {"lambda_sigma": 2.0 ** (15 / 8), "lambda_epsilon": 2.0, "x_sigma": 0.125, "x_epsilon": 1.0, "x_2": 2.0}


def _summary(spec):
    """The operators the issue asks for: the leading odd (sigma) and even (epsilon) eigenvalues, and the stress
    tensor: the quarter turn gives a spin-2 operator the phase i^2 = -1, so T is the largest real negative
    eigenvalue of the even sector (x_spin2); x_2 is the x closest to 2 among the rest, in either sector."""
    lam_s, lam_e = abs(spec.odd[0]), abs(spec.even[0])
    rest = np.concatenate([spec.x_even[1:], spec.x_odd[1:]])
    x2 = float(rest[np.argmin(np.abs(rest - 2.0))])
    negative = [i for i in range(1, len(spec.even))
                if spec.even[i].real < 0 and abs(spec.even[i].imag) < 1e-6 * abs(spec.even[i])]
    x_spin2 = float(spec.x_even[negative[0]]) if negative else float("nan")
    return {"lambda_sigma": lam_s, "lambda_epsilon": lam_e, "x_sigma": float(spec.x_odd[0]),
            "x_epsilon": float(spec.x_even[0]), "x_2": x2, "x_spin2": x_spin2, "err_x_spin2": x_spin2 - 2.0,
            "rel_err_lambda_sigma": lam_s / EXACT["lambda_sigma"] - 1,
            "rel_err_lambda_epsilon": lam_e / EXACT["lambda_epsilon"] - 1,
            "err_x_sigma": float(spec.x_odd[0]) - 0.125, "err_x_epsilon": float(spec.x_even[0]) - 1.0,
            "err_x_2": x2 - 2.0,
            "odd_abs": np.abs(spec.odd).tolist(), "even_abs": np.abs(spec.even).tolist(),
            "odd_re_im": np.stack([spec.odd.real, spec.odd.imag], 1).tolist(),
            "even_re_im": np.stack([spec.even.real, spec.even.imag], 1).tolist(),
            "x_odd": spec.x_odd.tolist(), "x_even": spec.x_even.tolist()}


def transfer_matrix_check(fp, epsilon):
    """Gu-Wen estimate at the same tensor: c and x from the 2x1 transfer matrix, the free energy per tensor being
    ln(|R_unnormalised(T*)|) / 3 at a fixed point (four tensors -> one)."""
    projectors = linearized._projectors(fp.tensor, fp.reference, epsilon, linearized.DEFAULT_BROADENING,
                                        fp.even_states)
    t = linearized._apply_gilt(fp.tensor, projectors.gilt)
    t = jnp.transpose(linearized.hotrg_merge(t, projectors.isometries[0]), linearized._TURN)
    t = linearized.hotrg_merge(t, projectors.isometries[1])
    free_energy = float(jnp.log(jnp.sqrt(jnp.sum(t * t)))) / 3
    mat = np.asarray(two_by_one_transfer_matrix(fp.tensor)) * np.exp(-2 * free_energy)
    lam = np.sort(np.abs(np.linalg.eigvals(mat)))[::-1]
    return {"c": 12 * np.log(lam[0]) / np.pi, "x": (np.log(lam[0] / lam[1:7]) / np.pi).tolist()}


def run_case(chi, epsilon, even_states, args):
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    fp = linearized.rg_fixed_point(chi=chi, epsilon=epsilon, even_states=even_states, flow_steps=args.flow_steps,
                                   newton_steps=args.newton_steps, pseudo_critical=args.pseudo_critical)
    t_fixed = time.perf_counter() - t0
    row = {"chi": chi, "epsilon": epsilon, "even_states": fp.even_states, "quarter_turn": True, "coupling": fp.coupling,
           "pseudo_critical": args.pseudo_critical, "flow_residuals": fp.flow_residuals.tolist(), "start": fp.start,
           "newton_steps": fp.newton_steps, "residual": fp.residual, "time_fixed_point_s": t_fixed,
           "load_average_1min": [load]}
    # the Jacobian itself (the library's default), the same with the gauge directions projected out, and the
    # response with the projectors held fixed
    variants = {"jacobian": ("full", False), "gauge_projected": ("full", True), "frozen": ("frozen", False)}
    for key, (projectors, remove_gauge) in variants.items():
        t0 = time.perf_counter()
        spec = linearized.linearized_spectrum(fp.tensor, fp.reference, epsilon=epsilon, even_states=fp.even_states,
                                              num=args.num, projectors=projectors, remove_gauge=remove_gauge)
        row[key] = _summary(spec) | {"time_s": time.perf_counter() - t0}
    row["transfer_matrix_at_fixed_point"] = transfer_matrix_check(fp, epsilon)
    row["load_average_1min"].append(os.getloadavg()[0])
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="6:0,8:0", help="comma-separated chi:epsilon[:even_states]")
    p.add_argument("--flow-steps", type=int, default=16)
    p.add_argument("--newton-steps", type=int, default=30)
    p.add_argument("--num", type=int, default=8, help="eigenvalues per Z2 sector")
    p.add_argument("--pseudo-critical", action="store_true",
                   help="start the flow from the map's own critical coupling (rows keyed chi:epsilon:pc)")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                   f"trg_linearized-{socket.gethostname()}.json")
    for case in args.cases.split(","):
        chi, epsilon, *even = case.split(":")
        row = run_case(int(chi), float(epsilon), int(even[0]) if even else None, args)
        key = f"{chi}:{epsilon}" + (f":e{even[0]}" if even else "") + (":pc" if args.pseudo_critical else "")
        atomic_json_update(out, "linearized", {key: row})
        f, g = row["jacobian"], row["gauge_projected"]
        print(f"chi {chi} eps {epsilon} even states {row['even_states']}: residual {row['residual']:.1e} "
              f"({row['newton_steps']} Newton steps, "
              f"{row['time_fixed_point_s']:.0f} s); lambda_sigma {f['lambda_sigma']:.4f} "
              f"({f['rel_err_lambda_sigma']:+.2%}), lambda_eps {f['lambda_epsilon']:.4f} "
              f"({f['rel_err_lambda_epsilon']:+.2%}); x_sigma {f['x_sigma']:.4f}, x_eps {f['x_epsilon']:.4f}, "
              f"x_spin2 {f['x_spin2']:.4f}; gauge projected: x_sigma {g['x_sigma']:.4f} x_eps {g['x_epsilon']:.4f}; "
              f"frozen x_eps {row['frozen']['x_epsilon']:.4f}; transfer matrix at T*: x "
              f"{np.round(row['transfer_matrix_at_fixed_point']['x'][:2], 4)}", flush=True)


if __name__ == "__main__":
    main()
