"""``jaxrg trg``: tensor-network RG free energy of the infinite lattice against Onsager (float64)."""

from __future__ import annotations

from jaxrg.cli import Command, Context, register
from jaxrg.config import Option

OPTIONS = (
    Option("T", "floats", [2.0, 2.269185314213022, 2.6], "temperatures (J = k_B = 1)", minimum=0.0,
           exclusive_minimum=True),
    Option("chi", "int", 16, "bond dimension", minimum=2),
    Option("method", "str", "trg", "tensor-network scheme (btrg: bond-weighted TRG; gilt-trg: Gilt-TNR on TRG)",
           choices=("trg", "hotrg", "btrg", "gilt-trg")),
    Option("steps", "int", None, "coarse-graining steps (default: converged to the infinite lattice)", minimum=1),
    Option("h", "float", 0.0, "magnetic field (units of J)"),
    Option("scaling_steps", "int", 0, "also print c and scaling dimensions at K_c over this many RG steps", minimum=0),
    Option("circumference", "int", 2, "tensors around the cylinder of the scaling dimensions, 2 or 4 (4: smaller "
           "finite-size corrections, Arnoldi)", minimum=2, maximum=4),
    Option("pseudo_critical", "bool", False, "scaling dimensions at the scheme's own pseudo-critical coupling (found "
           "by bisection on the phase the flow ends in) instead of the exact K_c"),
    Option("gilt_epsilon", "float", None, "Gilt-TNR truncation threshold (method gilt-trg; default 1e-7; a plateau "
           "at chi <= 16 needs 1e-5 to 1e-4)", minimum=0.0, maximum=1e-2),
)


def _scheme(config: dict):
    """The method name, or a GiltTRG instance when a Gilt threshold is given (refused for other methods)."""
    if config["gilt_epsilon"] is None:
        return config["method"]
    if config["method"] != "gilt-trg":
        raise ValueError(f"gilt_epsilon applies to --method gilt-trg only, got --method {config['method']}")
    from jaxrg.rg.trg import GiltTRG

    return GiltTRG(epsilon=float(config["gilt_epsilon"]))


def execute(config: dict, ctx: Context) -> dict:
    """Free energy per spin by TRG/HOTRG at each T, with Onsager's exact value at h = 0."""
    import jax
    import numpy as np

    from jaxrg import exact
    from jaxrg.rg.trg import pseudo_critical_coupling, trg_free_energy, trg_scaling_dimensions

    T = np.asarray(config["T"], np.float64)
    method = _scheme(config)
    if config["circumference"] not in (2, 4):
        raise ValueError(f"circumference must be 2 or 4, got {config['circumference']}")
    ctx.log(f"jaxrg trg: {method}, chi = {config['chi']}, {T.size} temperatures (float64)")
    with jax.enable_x64(True):
        f = np.asarray(trg_free_energy(T, chi=config["chi"], h=config["h"], steps=config["steps"], method=method),
                       np.float64)
        scaling, K = None, None
        if config["scaling_steps"]:
            if config["pseudo_critical"]:
                ctx.log("bisection for the pseudo-critical coupling (one RG flow per step of the bisection)")
                K = pseudo_critical_coupling(config["chi"], method=method).coupling
            s = trg_scaling_dimensions(K, chi=config["chi"], steps=config["scaling_steps"], method=method, num=4,
                                       circumference=config["circumference"])
            step_c, c_c, x_c = s.estimate
            scaling = {"step": s.step, "central_charge": s.central_charge, "scaling_dimensions": s.scaling_dimensions,
                       "coupling": exact.CRITICAL_COUPLING if K is None else K,
                       "estimate": {"step": step_c, "central_charge": c_c, "scaling_dimensions": x_c}}
    result = {"config": config, "T": T, "free_energy": f}
    lines = [f"{'T':>10} {'f (' + config['method'] + ')':>20}"]
    if config["h"] == 0.0:
        fe = exact.infinite_lattice(T).free_energy
        result.update(free_energy_exact=fe, relative_error=f / fe - 1.0)
        lines[0] += f" {'f (Onsager)':>20} {'rel. error':>10}"
        lines += [f"{t:10.6f} {a:20.14f} {b:20.14f} {a / b - 1:10.2e}" for t, a, b in zip(T, f, fe)]
    else:
        lines += [f"{t:10.6f} {a:20.14f}" for t, a in zip(T, f)]
    if scaling is not None:
        result["scaling"] = scaling
        where = "K = K_c" if K is None else f"K = {K:.12f} (pseudo-critical; K_c = {exact.CRITICAL_COUPLING:.12f})"
        lines += ["", f"{where}, cylinder of {config['circumference']} tensors: step, central charge (exact 1/2), "
                  "x_1 (1/8), x_2 (1), x_3 (9/8)"]
        lines += [f"{int(k):4d} {c:8.4f} " + " ".join(f"{x:8.4f}" for x in xs[:3])
                  for k, c, xs in zip(scaling["step"], scaling["central_charge"], scaling["scaling_dimensions"])]
        est = scaling["estimate"]
        lines.append(f"estimate (most stationary step {est['step']}): c = {est['central_charge']:.4f}, "
                     f"x_sigma = {est['scaling_dimensions'][0]:.4f}, x_epsilon = {est['scaling_dimensions'][1]:.4f}")
    ctx.out("\n".join(lines))
    return result


register(Command(
    name="trg",
    help="tensor-network RG (TRG, HOTRG, BTRG, Gilt-TRG) free energy vs Onsager, critical scaling dimensions",
    options=OPTIONS,
    execute=execute,
    description="Free energy per spin of the infinite 2D Ising lattice by Levin-Nave TRG, HOTRG, bond-weighted TRG "
    "(Adachi, Okubo, Todo) or Gilt-TNR on TRG (Hauru, Delcamp, Mizera) at bond dimension "
    "chi, in float64, against Onsager's exact result; optionally the central charge and scaling dimensions at K_c.",
))
