"""``jaxrg flow``: learn the RG flow in coupling space and read off K_c and nu (same options as ``[flow]``)."""

from __future__ import annotations

from jaxrg.cli import Command, Context, register
from jaxrg.config import Option
from jaxrg.study.flow import K_C, NU
from jaxrg.study.flow import OPTIONS as _STUDY_OPTIONS
from jaxrg.study.flow import _check

OPTIONS = _STUDY_OPTIONS + (Option("seed", "int", 0, "seed of the first training run (seed + i for the others)",
                                   minimum=0),)


def execute(config: dict, ctx: Context) -> dict:
    """Train ``seeds`` flows, print each one's fixed point, eigenvalues, nu and K_c, and their mean and spread."""
    import numpy as np

    from jaxrg.study.flow import analyze, train_and_analyze

    _check(config)
    ctx.log(f"jaxrg flow: n = {config['n']}, {config['loss']} loss, L = {config['L']} -> {config['L'] // 2}, "
            f"{config['seeds']} seed(s)")
    runs = {}
    for i in range(config["seeds"]):
        runs[f"seed{config['seed'] + i}"] = r = train_and_analyze(config, config["seed"] + i)
        ctx.log(f"seed {config['seed'] + i}: K_c = {float(r['K_c']):.5f}, nu = {float(r['nu']):.4f}")
    a = analyze(config, runs)
    lines = [f"{'run':>8} {'K_c':>9} {'nu':>8}  fixed point J*, leading eigenvalues"]
    for name, r in runs.items():
        fp = ", ".join(f"{x:.4f}" for x in r["fixed_point"])
        eig = ", ".join(f"{x:.3f}" for x in r["eigenvalues_real"][:3])
        lines.append(f"{name:>8} {float(r['K_c']):9.5f} {float(r['nu']):8.4f}  ({fp}), {eig}")
    lines.append(f"{'mean':>8} {float(a['K_c_mean']):9.5f} {float(a['nu_mean']):8.4f}  "
                 f"(exact K_c = {K_C:.6f}, nu = {NU:g}; {int(a['failed_seeds'])} failed seeds)")
    ctx.out("\n".join(lines))
    keep = ("fixed_point", "eigenvalues_real", "eigenvalues_imag", "nu", "K_c", "n_relevant", "residual")
    return {"config": config, "runs": {k: {f: r[f] for f in keep} for k, r in runs.items()},
            "K_c": float(a["K_c_mean"]), "K_c_sd": float(a["K_c_sd"]), "nu": float(a["nu_mean"]),
            "nu_sd": float(a["nu_sd"]), "failed_seeds": int(a["failed_seeds"]), "K_c_exact": K_C, "nu_exact": NU,
            "K_c_relative_error": float(a["K_c_mean"] / K_C - 1.0) if np.isfinite(a["K_c_mean"]) else None}


register(Command(
    name="flow",
    help="learned RG flow in coupling space (equinox + optax): fixed point, K_c, nu",
    options=OPTIONS,
    execute=execute,
    description="Train a neural RG map J' = J + f_theta(J) on majority-rule blocked Monte Carlo data of the "
    "L x L Ising model with n couplings (contrastive divergence or exact KL), then find its non-trivial fixed point "
    "by Newton, nu = ln 2 / ln lambda_t from the linearised map, and K_c on the nearest-neighbour axis by bisection "
    "on where iterated maps flow. Exact: K_c = 0.440687, nu = 1.",
))
