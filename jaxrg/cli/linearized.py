"""``jaxrg linearized``: scaling dimensions from the Jacobian of the RG map at its Newton fixed point (float64)."""

from __future__ import annotations

from jaxrg.cli import Command, Context, register
from jaxrg.config import Option

OPTIONS = (
    Option("chi", "int", 8, "bond dimension", minimum=2),
    Option("even_states", "int", 0, "Z2-even states per leg (the other chi - even_states are odd); 0: ceil(chi / 2)",
           minimum=0),
    Option("gilt_epsilon", "float", 7e-4, "Gilt truncation threshold before every step (0: plain HOTRG)", minimum=0.0,
           maximum=1e-2),
    Option("pseudo_critical", "bool", False, "start the flow from the map's own critical coupling (bisection; "
           "needed from chi = 10 on) instead of K_c"),
    Option("num", "int", 6, "eigenvalues per Z2 sector", minimum=1),
    Option("newton_steps", "int", 30, "most Newton iterations", minimum=0),
)


def execute(config: dict, ctx: Context) -> dict:
    """Fixed point by flow + Newton, then the leading eigenvalues of the Jacobian per Z2 sector against exact CFT."""
    import jax
    import numpy as np

    from jaxrg.rg.trg import linearized

    chi, epsilon = config["chi"], float(config["gilt_epsilon"])
    even_states = config["even_states"] or None  # checked by rg_fixed_point before any work
    ctx.log(f"jaxrg linearized: chi = {chi}, Gilt epsilon = {epsilon:g} (float64)")
    with jax.enable_x64(True):
        fp = linearized.rg_fixed_point(chi=chi, epsilon=epsilon, even_states=even_states,
                                       newton_steps=config["newton_steps"], pseudo_critical=config["pseudo_critical"])
        spec = linearized.linearized_spectrum(fp.tensor, fp.reference, epsilon=epsilon, even_states=fp.even_states,
                                              num=config["num"])
    sectors = {"odd": (spec.odd, spec.x_odd), "even": (spec.even, spec.x_even)}
    result = {"config": config, "coupling": fp.coupling, "residual": fp.residual, "newton_steps": fp.newton_steps,
              "even_states": fp.even_states,
              "exact": {"x_sigma": 0.125, "x_epsilon": 1.0, "x_T": 2.0, "lambda_sigma": 2.0 ** (15 / 8),
                        "lambda_epsilon": 2.0, "lambda_T": -1.0}}
    lines = [f"fixed point: |R(T) - T| = {fp.residual:.2e} after {fp.newton_steps} Newton steps, flow from "
             f"K = {fp.coupling:.12f}; {fp.even_states} even + {chi - fp.even_states} odd states per leg",
             "eigenvalues of the Jacobian (b = 2 and a quarter turn: spin s at i^s 2^(2 - x)); exact: sigma 3.6680 "
             "(x 1/8), d sigma +-1.8340i (9/8), epsilon 2 (1), T, T-bar -1 (2)"]
    for name, (lam, x) in sectors.items():
        result[name] = {"eigenvalue_re": np.real(lam), "eigenvalue_im": np.imag(lam), "x": x}
        lines.append(f"Z2-{name}:")
        lines += [f"  {complex(v).real:9.5f} {complex(v).imag:+9.5f}i   x = {xv:.5f}" for v, xv in zip(lam, x)]
    ctx.out("\n".join(lines))
    return result


register(Command(
    name="linearized",
    help="scaling dimensions from the linearised RG map (HOTRG + Gilt, Newton fixed point, Arnoldi)",
    options=OPTIONS,
    execute=execute,
    description="Finds the fixed point of the gauge-fixed RG step (two HOTRG merges with Gilt and a quarter turn, "
    "b = 2) by the flow from K_c and Newton's method, and prints the leading eigenvalues of its Jacobian in the "
    "Z2-odd and Z2-even sectors with the scaling dimensions x = 2 - log2|lambda| (sigma, its derivatives, epsilon, "
    "the stress tensor).",
))
