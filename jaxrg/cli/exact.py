"""``jaxrg exact``: exact 2D Ising thermodynamics (Onsager's infinite lattice, Kaufman's finite torus)."""

from __future__ import annotations

from jaxrg.cli import Command, Context, register
from jaxrg.config import Option

#: Largest side for which the exact magnetisation moments (row transfer matrix) are available.
MOMENTS_MAX_L = 8

OPTIONS = (
    Option("T", "floats", [2.0, 2.269185314213022, 2.6], "temperatures (J = k_B = 1)", minimum=0.01),
    Option("L", "int", None, "side of the L x L torus (Kaufman); default: the infinite lattice (Onsager)", minimum=2,
           maximum=2**15),
)


def execute(config: dict, ctx: Context) -> dict:
    """Exact free energy, energy and heat capacity per spin (and magnetisation moments when they are known)."""
    import numpy as np

    from jaxrg import exact

    T = np.asarray(config["T"], np.float64)
    L = config["L"]
    result: dict = {"config": config, "T": T}
    if L is None:
        r = exact.infinite_lattice(T)
        result.update(lattice="infinite", free_energy=r.free_energy, energy=r.energy,
                      heat_capacity=r.heat_capacity, magnetization=r.magnetization)
        head = ["T", "f", "e", "C", "m"]
        cols = [T, r.free_energy, r.energy, r.heat_capacity, r.magnetization]
        title = "infinite lattice (Onsager; m is the spontaneous magnetisation)"
    else:
        r = exact.finite_lattice(L, T)
        result.update(lattice=f"{L}x{L} torus", free_energy=r.free_energy, energy=r.energy,
                      heat_capacity=r.heat_capacity)
        head = ["T", "f", "e", "C"]
        cols = [T, r.free_energy, r.energy, r.heat_capacity]
        title = f"{L} x {L} torus (Kaufman)"
        if L <= MOMENTS_MAX_L:
            m = exact.finite_lattice_moments(L, T)
            result.update(abs_magnetization=m.abs_magnetization, binder=m.binder, susceptibility=m.susceptibility,
                          full_susceptibility=m.full_susceptibility)
            head += ["<|m|>", "U4", "chi", "chi_full"]
            cols += [m.abs_magnetization, m.binder, m.susceptibility, m.full_susceptibility]
            title += ("; <|m|>, Binder U4, chi = N(<m^2> - <|m|>^2)/T (connected, as in `jaxrg simulate`) and "
                      "chi_full = N<m^2>/T from the row transfer matrix")
    lines = [f"exact 2D Ising, {title}", " ".join(f"{h:>18}" for h in head)]
    lines += [" ".join(f"{c[i]:18.12f}" for c in cols) for i in range(T.size)]
    ctx.out("\n".join(lines))
    return result


register(Command(
    name="exact",
    help="exact thermodynamics: Onsager (infinite lattice) or Kaufman (L x L torus)",
    options=OPTIONS,
    execute=execute,
    description="Exact free energy, energy and heat capacity per spin of the 2D Ising model (J = k_B = 1) in float64: "
    "Onsager's solution (with the spontaneous magnetisation) for the infinite lattice, Kaufman's for the L x L torus, "
    f"and for L <= {MOMENTS_MAX_L} also <|m|>, the Binder cumulant and the susceptibilities (susceptibility = "
    "N(<m^2> - <|m|>^2)/T, full_susceptibility = N<m^2>/T) from the row transfer matrix.",
))
