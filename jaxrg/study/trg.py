"""The ``[trg]`` study section: tensor-network RG free energy against Onsager, and critical scaling dimensions.

One stage runs :func:`jaxrg.rg.trg.trg_free_energy` on a temperature grid (vmapped, float64) and, if asked,
:func:`jaxrg.rg.trg.trg_scaling_dimensions` at K_c (Gu-Wen transfer matrix of the coarse-grained tensor); the analysis
compares f with Onsager's exact free energy and the spectrum with c = 1/2, x_sigma = 1/8, x_epsilon = 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxrg import files
from jaxrg.config import Option
from jaxrg.study import Section, Stage, register_section

#: the schemes of :data:`jaxrg.rg.trg.METHODS` (listed here so that reading the options imports no JAX)
METHODS = ("trg", "hotrg", "btrg", "gilt-trg")

OPTIONS = (
    Option("method", "str", "btrg", "tensor-network scheme (btrg: bond-weighted TRG, the most accurate at TRG cost)",
           choices=METHODS),
    Option("chi", "int", 16, "bond dimension", minimum=2),
    Option("steps", "int", None, "coarse-graining steps (default: converged to the infinite lattice)", minimum=1),
    Option("T_min", "float", 1.8, "lowest temperature", minimum=0.0, exclusive_minimum=True),
    Option("T_max", "float", 2.8, "highest temperature", minimum=0.0, exclusive_minimum=True),
    Option("n_T", "int", 11, "temperatures on the grid (T_c is added)", minimum=1),
    Option("scaling_steps", "int", 10, "RG steps for the scaling dimensions at K_c (0: skip)", minimum=0),
)


def temperatures(cfg: dict) -> np.ndarray:
    """The grid, with the exact T_c added."""
    if cfg["T_max"] < cfg["T_min"]:
        raise ValueError(f"[trg].T_max must be >= T_min, got T_min={cfg['T_min']}, T_max={cfg['T_max']}")
    from jaxrg.exact import CRITICAL_TEMPERATURE

    return np.unique(np.append(np.linspace(cfg["T_min"], cfg["T_max"], cfg["n_T"]), CRITICAL_TEMPERATURE))


def _check(cfg: dict) -> None:
    temperatures(cfg)


def stages(cfg: dict, seed: int) -> list[Stage]:
    """One deterministic stage (no random numbers)."""
    T = temperatures(cfg)

    def run(checkpoint: Path, progress: bool) -> dict:
        import jax

        from jaxrg.rg.trg import trg_free_energy, trg_scaling_dimensions

        with jax.enable_x64(True):
            f = np.asarray(trg_free_energy(T, chi=cfg["chi"], steps=cfg["steps"], method=cfg["method"]), np.float64)
            tree = {"T": T, "free_energy": f}
            if cfg["scaling_steps"]:
                s = trg_scaling_dimensions(chi=cfg["chi"], steps=cfg["scaling_steps"], method=cfg["method"], num=4)
                tree["scaling"] = {"step": np.asarray(s.step), "central_charge": np.asarray(s.central_charge),
                                   "scaling_dimensions": np.asarray(s.scaling_dimensions),
                                   "stationarity": np.asarray(s.stationarity), "plateau": np.asarray(s.plateau)}
        return tree

    return [Stage("trg", run, files.fingerprint(dict(cfg, T=T, stage="trg")))]


def analyze(cfg: dict, stage_results: dict) -> dict:
    """Relative error of f against Onsager at every temperature."""
    from jaxrg import exact

    tr = stage_results["trg"]
    T = np.asarray(tr["T"])
    f_exact = exact.infinite_lattice(T).free_energy
    rel = np.asarray(tr["free_energy"]) / f_exact - 1.0
    ic = int(np.argmin(np.abs(T - exact.CRITICAL_TEMPERATURE)))
    return {"free_energy_exact": f_exact, "relative_error": rel, "max_abs_relative_error": np.max(np.abs(rel)),
            "relative_error_at_T_c": rel[ic]}


def summary(cfg: dict, res: dict) -> dict:
    """Worst relative free-energy error, and the error at T_c."""
    a = res["analysis"]
    out = {"free_energy_max_abs_relative_error": float(a["max_abs_relative_error"]),
           "free_energy_relative_error_at_T_c": float(a["relative_error_at_T_c"])}
    if "scaling" in res["trg"]:
        s = res["trg"]["scaling"]
        i = int(s["plateau"])  # the most stationary RG step (chosen without the exact values)
        out.update(central_charge=float(s["central_charge"][i]), central_charge_exact=0.5,
                   x_sigma=float(s["scaling_dimensions"][i, 0]), x_sigma_exact=0.125,
                   x_epsilon=float(s["scaling_dimensions"][i, 1]), x_epsilon_exact=1.0)
    return out


def report(cfg: dict, res: dict) -> str:
    """Markdown: f vs Onsager per temperature; scaling dimensions at K_c."""
    tr, a = res["trg"], res["analysis"]
    lines = [
        f"Method `{cfg['method']}`, chi = {cfg['chi']}, float64; exact: Onsager's free energy per spin.",
        "",
        f"Largest relative error |f/f_exact - 1| = {float(a['max_abs_relative_error']):.2e}; "
        f"at T_c: {float(a['relative_error_at_T_c']):+.2e}.",
        "",
        f"| T | f ({cfg['method']}) | f (Onsager) | relative error |",
        "|---|---|---|---|",
    ]
    for T, f, fe, r in zip(tr["T"], tr["free_energy"], a["free_energy_exact"], a["relative_error"]):
        lines.append(f"| {T:.6f} | {f:.12f} | {fe:.12f} | {r:+.2e} |")
    if "scaling" in tr:
        s = tr["scaling"]
        i = int(s["plateau"])
        lines += ["", "Critical point (K = K_c): central charge and lowest scaling dimensions from the transfer matrix "
                  "of a two-tensor cylinder of the coarse-grained tensor (Gu-Wen; exact: c = 1/2, x_sigma = 1/8, "
                  f"x_epsilon = 1). Estimate: the most stationary step ({int(s['step'][i])}, in bold): "
                  f"c = {s['central_charge'][i]:.4f}, x_sigma = {s['scaling_dimensions'][i, 0]:.4f}, "
                  f"x_epsilon = {s['scaling_dimensions'][i, 1]:.4f}. Early steps still see the lattice; late steps "
                  "drift away from the fixed point because truncation makes the network slightly off-critical.", "",
                  "| RG step | c | x_1 | x_2 | x_3 |", "|---|---|---|---|---|"]
        for j, (k, c, x) in enumerate(zip(s["step"], s["central_charge"], s["scaling_dimensions"])):
            b = "**" if j == i else ""
            lines.append(f"| {b}{int(k)}{b} | {c:.4f} | {x[0]:.4f} | {x[1]:.4f} | {x[2]:.4f} |")
    return "\n".join(lines)


def figures(cfg: dict, res: dict, figure_dir: Path) -> list[tuple[str, str]]:
    """Relative error of the TRG free energy vs T."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxrg.exact import CRITICAL_TEMPERATURE

    tr, a = res["trg"], res["analysis"]
    fig, ax = plt.subplots(figsize=(6.5, 4.2), constrained_layout=True)
    ax.semilogy(tr["T"], np.maximum(np.abs(a["relative_error"]), 1e-17), "o-", ms=4)
    ax.axvline(CRITICAL_TEMPERATURE, color="k", lw=0.8, ls="--", label="exact T_c")
    ax.set_xlabel("T")
    ax.set_ylabel(f"|f_{cfg['method']} / f_Onsager - 1|")
    ax.set_title(f"{cfg['method'].upper()} free energy, chi = {cfg['chi']}")
    ax.legend()
    fig.savefig(figure_dir / "trg_free_energy.png", dpi=110)
    plt.close(fig)
    return [("trg_free_energy.png", "Relative error of the tensor-network free energy against Onsager's exact "
             "result at every temperature of the grid (dashed: T_c).")]


register_section(Section(
    name="trg",
    title="Tensor-network RG: free energy vs Onsager, critical scaling dimensions",
    options=OPTIONS,
    stages=stages,
    analyze=analyze,
    report=report,
    figures=figures,
    summary=summary,
    check=_check,
))
