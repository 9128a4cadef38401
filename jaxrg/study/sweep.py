"""The ``[sweep]`` study section: a temperature sweep through T_c for several L, measured against exact results.

For each lattice size ``L`` one :func:`jaxrg.simulate` run (all temperatures and chains as one vmapped batch,
checkpointed between chunks) gives energy, ``|m|``, heat capacity, susceptibility and the Binder cumulant with
jackknife errors. The analysis compares them with exact values (Kaufman's finite-lattice energy and heat capacity for
every L; exact magnetisation moments from the transfer matrix for ``L <= 8``), estimates T_c from the crossings of
the Binder cumulants of successive sizes, and gamma/nu from ``chi(T_c, L) ~ L^(gamma/nu)``; finite-size scaling
of the reweighted peaks adds T_c(L -> infinity).

Estimators (multi-histogram reweighting, :mod:`jaxrg.reweighting`, turns each size's series into continuous curves):

* Binder crossing of ``(L1, L2)``: the zero of the reweighted ``U_L2(T) - U_L1(T)``; jackknife error over blocks of
  both runs. The headline T_c is the crossing of the two largest sizes.
* T_c(L -> infinity): the positions of the maxima of the reweighted connected susceptibility
  ``chi' = N (<m^2> - <|m|>^2) / T`` of every L, extrapolated as ``T_c + a / L`` (nu = 1 fixed,
  :func:`jaxrg.fss.critical_temperature_fit`); gamma/nu also from the peak heights ``chi'_max ~ L^(gamma/nu)``.
* gamma/nu: weighted least-squares line through ``ln chi`` vs ``ln L`` at the grid temperature nearest the exact
  T_c (put T_c on the grid with ``include_critical``), with ``chi = N <m^2> / T`` (jackknife errors); the error is
  the fit's, scaled by ``sqrt(chi^2/dof)`` when that exceeds 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxrg import exact, files, fss, observables, reweighting, simulation
from jaxrg.config import Option
from jaxrg.study import Section, Stage, register_section, stage_seed

T_C = exact.CRITICAL_TEMPERATURE
GAMMA_OVER_NU = exact.GAMMA_OVER_NU
EXACT_MOMENTS_MAX_L = 8
CURVE_POINTS = 121  # exact Kaufman curves in the figures
MOMENT_CURVE_POINTS = 25  # exact transfer-matrix moments (L <= 8) cost ~0.2 s per temperature


def _samplers():
    from jaxrg.sampling import SAMPLERS

    return list(SAMPLERS)


def _default_sampler():
    return "wolff" if "wolff" in _samplers() else "metropolis"


OPTIONS = (
    Option("sampler", "str", _default_sampler(), "Monte Carlo algorithm", choices=_samplers),
    Option("L", "ints", [8, 16, 32], "lattice sizes (even, >= 4), at least two for Binder crossings", minimum=4),
    Option("T_min", "float", 2.15, "lowest temperature of the grid", minimum=0.0, exclusive_minimum=True),
    Option("T_max", "float", 2.39, "highest temperature of the grid", minimum=0.0, exclusive_minimum=True),
    Option("n_T", "int", 13, "temperatures on the grid (evenly spaced)", minimum=2),
    Option("include_critical", "bool", True, "add the exact T_c to the grid (for chi(T_c, L))"),
    Option("sweeps", "int", 4000, "kernel steps measured per chain (cluster steps for wolff)", minimum=16),
    Option("thermalize", "int", 500, "kernel steps discarded first", minimum=0),
    Option("chains", "int", 4, "independent chains per temperature", minimum=1),
    Option("measure_every", "int", 1, "steps between measurements", minimum=1),
    Option("chunk_size", "int", None, "measurements per chunk (checkpoint interval); default about 20 chunks",
           minimum=1),
    Option("jackknife_blocks", "int", 8, "jackknife blocks per chain for the reweighted curves", minimum=2),
)


def temperatures(cfg: dict) -> np.ndarray:
    """The temperature grid of the section (sorted; with the exact T_c if ``include_critical``)."""
    if cfg["T_max"] <= cfg["T_min"]:
        raise ValueError(f"[sweep].T_max must be > T_min, got T_min={cfg['T_min']}, T_max={cfg['T_max']}")
    T = np.linspace(cfg["T_min"], cfg["T_max"], cfg["n_T"])
    if cfg["include_critical"]:
        T = np.unique(np.append(T, T_C))
    return T


def _check(cfg: dict) -> None:
    Ls = cfg["L"]
    if len(set(Ls)) != len(Ls) or len(Ls) < 2:
        raise ValueError(f"[sweep].L must hold at least two different sizes, got {Ls}")
    for L in Ls:
        if L % 2:
            raise ValueError(f"[sweep].L must hold even sizes >= 4, got {L}")
    temperatures(cfg)  # checks the range
    if cfg["sweeps"] // cfg["measure_every"] < 16:
        raise ValueError("[sweep].sweeps // measure_every must be >= 16 measurements")
    if cfg["jackknife_blocks"] > cfg["sweeps"] // cfg["measure_every"]:
        raise ValueError("[sweep].jackknife_blocks must be <= the measurements per chain (sweeps // measure_every), "
                         f"got {cfg['jackknife_blocks']}")


def stages(cfg: dict, seed: int) -> list[Stage]:
    """One stage per lattice size: a checkpointed :func:`jaxrg.simulate` over the whole temperature grid."""
    _check(cfg)
    T = temperatures(cfg)
    out = []
    for L in sorted(cfg["L"]):
        name = f"sweep-L{L}"
        args = dict(sampler=cfg["sampler"], sweeps=cfg["sweeps"], thermalize=cfg["thermalize"], chains=cfg["chains"],
                    measure_every=cfg["measure_every"], chunk_size=cfg["chunk_size"], seed=stage_seed(seed, name))

        def run(checkpoint: Path, progress: bool, L=L, args=args) -> dict:
            import jaxrg

            r = jaxrg.simulate(L, T, progress=progress, checkpoint=str(checkpoint), **args)
            return simulation.simulation_to_tree(r)

        out.append(Stage(name, run, files.fingerprint(dict(args, L=L, T=T, stage=name))))
    return out


# ---------------------------------------------------------------------------------------------------------------
# analysis
# ---------------------------------------------------------------------------------------------------------------


def _power_law(L, y, dy) -> tuple[float, float, float, float]:
    fit = fss.power_law_fit(L, y, dy)
    chi2 = fit.chi2_per_dof if np.isfinite(fit.chi2_per_dof) else 0.0
    return fit.exponent.mean, fit.exponent.error, fit.log_amplitude.mean, chi2


def analyze(cfg: dict, stage_results: dict) -> dict:
    """Exact comparisons, Binder crossings, T_c and gamma/nu from the per-L simulations."""
    from jaxrg import exact

    Ls = sorted(cfg["L"])
    trees = [stage_results[f"sweep-L{L}"] for L in Ls]
    T = np.asarray(trees[0]["T"], np.float64)
    out: dict = {"L": np.asarray(Ls), "T": T}
    # Exact curves for the figures, computed in the same calls as the grid values (each new shape recompiles).
    Tf = np.linspace(T.min(), T.max(), CURVE_POINTS)
    Tm = np.linspace(T.min(), T.max(), MOMENT_CURVE_POINTS)
    inf = exact.infinite_lattice(Tf)
    curves: dict = {"T": Tf, "T_moments": Tm,
                    "infinite": {"energy": inf.energy, "abs_magnetization": inf.magnetization}}
    for L, tr in zip(Ls, trees):
        fl = exact.finite_lattice(L, np.concatenate([T, Tf]))
        ex = {"energy": fl.energy[: T.size], "heat_capacity": fl.heat_capacity[: T.size]}
        curves[f"L{L}"] = {"energy": fl.energy[T.size:], "heat_capacity": fl.heat_capacity[T.size:]}
        if L <= EXACT_MOMENTS_MAX_L:
            mo = exact.finite_lattice_moments(L, np.concatenate([T, Tm]))
            ex.update(abs_magnetization=mo.abs_magnetization[: T.size], susceptibility=mo.susceptibility[: T.size],
                      binder=mo.binder[: T.size], full_susceptibility=mo.full_susceptibility[: T.size])
            curves[f"L{L}"].update(abs_magnetization=mo.abs_magnetization[T.size:],
                                   susceptibility=mo.susceptibility[T.size:], binder=mo.binder[T.size:])
        chi, dchi = observables.full_susceptibility(tr["timeseries"]["magnetization"], int(tr["L"]), tr["T"])
        pulls = {}
        for obs, val in ex.items():
            if obs == "full_susceptibility":
                mean, err = chi, dchi
            else:
                mean, err = tr[obs]["mean"], tr[obs]["error"]
            pulls[obs] = (np.asarray(mean, np.float64) - val) / np.asarray(err, np.float64)
        out[f"L{L}"] = {"exact": ex, "pull": pulls, "full_susceptibility": {"mean": chi, "error": dchi}}

    blocks = cfg["jackknife_blocks"]
    series = {L: (L, T, tr["timeseries"]["energy"], tr["timeseries"]["magnetization"]) for L, tr in zip(Ls, trees)}
    pairs, crossings, crossing_errors = [], [], []
    for L1, L2 in zip(Ls[:-1], Ls[1:]):
        c = reweighting.binder_crossing([series[L1], series[L2]], n_blocks=blocks)
        pairs.append((L1, L2))
        crossings.append(c.mean)
        crossing_errors.append(c.error)
    out["binder_pairs"] = np.asarray(pairs)
    out["binder_crossing"] = {"mean": np.asarray(crossings), "error": np.asarray(crossing_errors)}
    out["T_c"] = {"mean": np.asarray(crossings[-1]), "error": np.asarray(crossing_errors[-1]), "exact": T_C}
    # T_c from each size alone: where U_L(T) takes the universal critical cumulant U* of the torus (an exact input;
    # U_L(T_c) - U* = O(L^-omega), so the shift is O(L^(-1/nu - omega)) and the error that of one cumulant)
    fixed = [reweighting.binder_temperature(*series[L], exact.CRITICAL_BINDER_RATIO, n_blocks=blocks) for L in Ls]
    out["T_c_fixed_binder"] = {"mean": np.array([f.mean for f in fixed]), "error": np.array([f.error for f in fixed]),
                               "U_star": exact.CRITICAL_BINDER_RATIO, "exact": T_C}

    peaks = [reweighting.peak(*series[L], "susceptibility", n_blocks=blocks) for L in Ls]
    c_peaks = [reweighting.peak(*series[L], "heat_capacity", n_blocks=blocks) for L in Ls]
    out["peaks"] = {name: {"T": {"mean": np.array([p.T.mean for p in ps]), "error": np.array([p.T.error for p in ps])},
                           "height": {"mean": np.array([p.height.mean for p in ps]),
                                      "error": np.array([p.height.error for p in ps])}}
                    for name, ps in (("susceptibility", peaks), ("heat_capacity", c_peaks))}
    def inside(ps):  # maxima inside the grid (at an edge the curve has no maximum there)
        return [i for i, p in enumerate(ps) if T.min() < p.T.mean < T.max() and p.T.error > 0]

    # T_c + a/L through the chi' maxima, or the C maxima when the grid misses those of the small sizes
    for name, ps in (("susceptibility", peaks), ("heat_capacity", c_peaks)):
        idx = inside(ps)
        if len(idx) >= 2:
            fit = fss.critical_temperature_fit(np.asarray(Ls)[idx], [ps[i].T.mean for i in idx],
                                               [ps[i].T.error for i in idx], nu=exact.NU)
            out["T_c_extrapolated"] = {"mean": np.asarray(fit.T_c.mean), "error": np.asarray(fit.T_c.error),
                                       "amplitude": np.asarray(fit.amplitude.mean),
                                       "chi2_dof": np.asarray(fit.chi2_per_dof), "sizes": np.asarray(Ls)[idx],
                                       "observable": name, "exact": T_C}
            break
    idx = inside(peaks)
    if len(idx) >= 2:
        heights = fss.power_law_fit(np.asarray(Ls)[idx], [peaks[i].height.mean for i in idx],
                                    [peaks[i].height.error for i in idx])
        out["gamma_over_nu_peaks"] = {"mean": np.asarray(heights.exponent.mean),
                                      "error": np.asarray(heights.exponent.error),
                                      "chi2_dof": np.asarray(heights.chi2_per_dof), "sizes": np.asarray(Ls)[idx],
                                      "exact": GAMMA_OVER_NU}

    ic = int(np.argmin(np.abs(T - T_C)))
    chi = np.array([out[f"L{L}"]["full_susceptibility"]["mean"][ic] for L in Ls])
    dchi = np.array([out[f"L{L}"]["full_susceptibility"]["error"][ic] for L in Ls])
    p, dp, a, chi2 = _power_law(Ls, chi, dchi)
    chi_abs = np.array([tr["susceptibility"]["mean"][ic] for tr in trees])
    dchi_abs = np.array([tr["susceptibility"]["error"][ic] for tr in trees])
    p2, dp2, a2, chi2b = _power_law(Ls, chi_abs, dchi_abs)
    out["gamma_over_nu"] = {
        "mean": np.asarray(p), "error": np.asarray(dp), "chi2_dof": np.asarray(chi2), "amplitude_log": np.asarray(a),
        "T": np.asarray(T[ic]), "chi": chi, "chi_error": dchi, "exact": GAMMA_OVER_NU,
        "abs_estimator": {"mean": np.asarray(p2), "error": np.asarray(dp2), "chi2_dof": np.asarray(chi2b),
                          "chi": chi_abs, "chi_error": dchi_abs},
    }
    out["exact_curves"] = curves
    return out


# ---------------------------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------------------------


def _sigma(value, error, exact) -> str:
    if not np.isfinite(error) or error <= 0:
        return "n/a"
    return f"{(value - exact) / error:+.1f} sigma"


def summary(cfg: dict, res: dict) -> dict:
    """Headline numbers: T_c and gamma/nu with errors and exact values, worst pull against exact results."""
    a = res["analysis"]
    worst = max(float(np.max(np.abs(v))) for L in a["L"] for v in a[f"L{L}"]["pull"].values())
    return {
        "T_c": float(a["T_c"]["mean"]), "T_c_error": float(a["T_c"]["error"]), "T_c_exact": T_C,
        "gamma_over_nu": float(a["gamma_over_nu"]["mean"]), "gamma_over_nu_error": float(a["gamma_over_nu"]["error"]),
        "gamma_over_nu_exact": GAMMA_OVER_NU, "max_abs_pull_vs_exact": worst,
        "T_c_fixed_binder": float(a["T_c_fixed_binder"]["mean"][-1]),
        "T_c_fixed_binder_error": float(a["T_c_fixed_binder"]["error"][-1]), "T_c_fixed_binder_exact": T_C,
        **({"T_c_extrapolated": float(a["T_c_extrapolated"]["mean"]),
            "T_c_extrapolated_error": float(a["T_c_extrapolated"]["error"]), "T_c_extrapolated_exact": T_C}
           if "T_c_extrapolated" in a else {}),
        **({"gamma_over_nu_peaks": float(a["gamma_over_nu_peaks"]["mean"]),
            "gamma_over_nu_peaks_error": float(a["gamma_over_nu_peaks"]["error"]),
            "gamma_over_nu_peaks_exact": GAMMA_OVER_NU}
           if "gamma_over_nu_peaks" in a else {}),
    }


def _extrapolation_rows(a: dict) -> list[str]:
    """Report rows of the finite-size-scaling fits (each absent when fewer than two maxima lie inside the grid)."""
    rows = []
    if "T_c_extrapolated" in a:
        t = a["T_c_extrapolated"]
        tm, te = float(t["mean"]), float(t["error"])
        label = "chi'" if str(t["observable"]) == "susceptibility" else "C"
        rows.append(f"| T_c ({label} maxima of L = {[int(x) for x in t['sizes']]}, T_c + a/L) | {tm:.5f} +- {te:.5f} "
                    f"| {T_C:.6f} | {_sigma(tm, te, T_C)} |")
    if "gamma_over_nu_peaks" in a:
        g = a["gamma_over_nu_peaks"]
        gm, ge = float(g["mean"]), float(g["error"])
        rows.append(f"| gamma/nu (chi' maxima of L = {[int(x) for x in g['sizes']]}) | {gm:.4f} +- {ge:.4f} | "
                    f"{GAMMA_OVER_NU} | {_sigma(gm, ge, GAMMA_OVER_NU)} |")
    return rows


def report(cfg: dict, res: dict) -> str:
    """Markdown: headline estimates vs exact, pulls against exact finite-lattice values, per-L tables."""
    a = res["analysis"]
    Ls = [int(x) for x in a["L"]]
    T = a["T"]
    tc, dtc = float(a["T_c"]["mean"]), float(a["T_c"]["error"])
    tf, dtf = float(a["T_c_fixed_binder"]["mean"][-1]), float(a["T_c_fixed_binder"]["error"][-1])
    g = a["gamma_over_nu"]
    gm, dg = float(g["mean"]), float(g["error"])
    lines = [
        f"Sampler `{cfg['sampler']}`, L = {Ls}, {T.size} temperatures in [{T.min():.4f}, {T.max():.4f}], "
        f"{cfg['chains']} chains x {cfg['sweeps']} steps (after {cfg['thermalize']}) per temperature and size. "
        "Errors are one standard error (jackknife over blocks much longer than tau_int).",
        "",
        "| quantity | measured | exact | deviation |",
        "|---|---|---|---|",
        f"| T_c (reweighted Binder crossing L={Ls[-2]}/{Ls[-1]}) | {tc:.5f} +- {dtc:.5f} | {T_C:.6f} | "
        f"{_sigma(tc, dtc, T_C)} |",
        f"| T_c (U_{Ls[-1]}(T) = U* = {float(a['T_c_fixed_binder']['U_star'])}, the exact critical cumulant) | "
        f"{tf:.5f} +- {dtf:.5f} | {T_C:.6f} | {_sigma(tf, dtf, T_C)} |",
        *_extrapolation_rows(a),
        f"| gamma/nu (chi = N<m^2>/T at T = {float(g['T']):.6f}, L = {Ls}) | {gm:.4f} +- {dg:.4f} | "
        f"{GAMMA_OVER_NU} | {_sigma(gm, dg, GAMMA_OVER_NU)} |",
        f"| gamma/nu (chi' = N(<m^2>-<abs m>^2)/T) | {float(g['abs_estimator']['mean']):.4f} +- "
        f"{float(g['abs_estimator']['error']):.4f} | {GAMMA_OVER_NU} | "
        f"{_sigma(float(g['abs_estimator']['mean']), float(g['abs_estimator']['error']), GAMMA_OVER_NU)} |",
        "",
        "Binder crossings of successive sizes (they drift towards T_c as L grows):",
        "",
        "| L1 / L2 | T_cross |",
        "|---|---|",
    ]
    for (L1, L2), m, e in zip(a["binder_pairs"], a["binder_crossing"]["mean"], a["binder_crossing"]["error"]):
        lines.append(f"| {L1} / {L2} | {m:.5f} +- {e:.5f} |")
    lines += ["", "Temperature where U_L = U* for each size alone:", "", "| L | T(U_L = U*) |", "|---|---|"]
    for L, m, e in zip(Ls, a["T_c_fixed_binder"]["mean"], a["T_c_fixed_binder"]["error"]):
        lines.append(f"| {L} | {m:.5f} +- {e:.5f} |")
    lines += [
        "",
        f"gamma/nu fit: chi^2/dof = {float(g['chi2_dof']):.2f}; chi(T_c) = "
        + ", ".join(f"{c:.3f} +- {d:.3f} (L={L})" for L, c, d in zip(Ls, g["chi"], g["chi_error"])) + ".",
        "",
        "### Measured vs exact",
        "",
        "Pull = (measured - exact) / error over all temperatures. Exact: energy and heat capacity from Kaufman's "
        "finite-torus partition function for every L; |m|, chi, U4 from the transfer matrix for "
        f"L <= {EXACT_MOMENTS_MAX_L}. "
        "For correct error bars the pulls scatter like a unit normal: rms near 1, |pull| above 3 rare.",
        "",
        "| L | observable | points | rms pull | max abs pull |",
        "|---|---|---|---|---|",
    ]
    for L in Ls:
        for obs, p in a[f"L{L}"]["pull"].items():
            p = np.asarray(p)
            lines.append(f"| {L} | {obs} | {p.size} | {np.sqrt(np.mean(p**2)):.2f} | {np.max(np.abs(p)):.2f} |")
    ic = int(np.argmin(np.abs(T - T_C)))
    lines += ["", f"### At T = {T[ic]:.6f} (nearest grid point to T_c)", "",
              "| L | energy | exact | heat capacity | exact | abs m | chi' | U4 | tau_int(abs m) [sweeps] |",
              "|---|---|---|---|---|---|---|---|---|"]
    for L in Ls:
        tr = res[f"sweep-L{L}"]
        ex = a[f"L{L}"]["exact"]
        v = lambda o: f"{tr[o]['mean'][ic]:.5f} +- {tr[o]['error'][ic]:.5f}"  # noqa: E731
        lines.append(
            f"| {L} | {v('energy')} | {ex['energy'][ic]:.5f} | {v('heat_capacity')} | {ex['heat_capacity'][ic]:.5f} "
            f"| {v('abs_magnetization')} | {v('susceptibility')} | {v('binder')} | "
            f"{tr['tau_abs_magnetization'][ic]:.2f} |"
        )
    lines += ["", "Full tables (every temperature, every size) are in `results.h5` under `sweep/sweep-L<L>`."]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------------------------


def figures(cfg: dict, res: dict, figure_dir: Path) -> list[tuple[str, str]]:
    """Observables vs T with exact curves, Binder crossing, scaling collapse, spin configurations (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = res["analysis"]
    Ls = [int(x) for x in a["L"]]
    T = a["T"]
    curves = a["exact_curves"]
    Tf, Tm = curves["T"], curves["T_moments"]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    out = []

    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), constrained_layout=True)
    panels = [("energy", "energy per spin e"), ("heat_capacity", "heat capacity per spin C"),
              ("abs_magnetization", "<|m|>"), ("susceptibility", "chi' = N(<m^2>-<|m|>^2)/T")]
    for ax, (obs, label) in zip(axes.flat, panels):
        for k, L in enumerate(Ls):
            tr, c = res[f"sweep-L{L}"], colors[k % len(colors)]
            ax.errorbar(T, tr[obs]["mean"], tr[obs]["error"], fmt="o", ms=3, color=c, label=f"L={L} MC")
            if obs in curves[f"L{L}"]:
                x = Tf if obs in ("energy", "heat_capacity") else Tm
                ax.plot(x, curves[f"L{L}"][obs], "-", color=c, lw=1, label=f"L={L} exact")
        if obs in curves["infinite"]:
            ax.plot(Tf, curves["infinite"][obs], "k--", lw=1, label="L=inf (Onsager, Yang)")
        ax.axvline(T_C, color="gray", lw=0.5)
        ax.set_xlabel("T")
        ax.set_ylabel(label)
    axes[0, 0].legend(fontsize=7, ncol=2)
    fig.suptitle("Monte Carlo (points) vs exact (lines); grey line: exact T_c")
    fig.savefig(figure_dir / "observables.png", dpi=110)
    plt.close(fig)
    out.append(("observables.png", "Energy, heat capacity, |m| and susceptibility vs T: Monte Carlo points with error "
                "bars, exact finite-lattice curves (Kaufman; transfer matrix for L <= 8) and the infinite lattice."))

    fig, ax = plt.subplots(figsize=(6.5, 4.5), constrained_layout=True)
    for k, L in enumerate(Ls):
        tr = res[f"sweep-L{L}"]
        ax.errorbar(T, tr["binder"]["mean"], tr["binder"]["error"], fmt="o", ms=3,
                    color=colors[k % len(colors)], label=f"L={L}")
        if "binder" in curves[f"L{L}"]:
            ax.plot(Tm, curves[f"L{L}"]["binder"], "-", lw=1, color=colors[k % len(colors)], label=f"L={L} exact")
    tc, dtc = float(a["T_c"]["mean"]), float(a["T_c"]["error"])
    ax.axvspan(tc - dtc, tc + dtc, color="C3", alpha=0.25, label=f"crossing {tc:.4f}+-{dtc:.4f}")
    ax.axvline(T_C, color="k", lw=0.8, ls="--", label=f"exact T_c {T_C:.4f}")
    ax.axhline(0.61069, color="gray", lw=0.5, ls=":", label="U4* = 0.61069")
    ax.set_xlabel("T")
    ax.set_ylabel("U4 = 1 - <m^4>/(3<m^2>^2)")
    ax.legend(fontsize=8)
    ax.set_title("Binder cumulant crossing")
    fig.savefig(figure_dir / "binder.png", dpi=110)
    plt.close(fig)
    out.append(("binder.png", "Binder cumulants of all sizes; their crossing estimates T_c (band: largest pair, "
                "one standard error; dashed: exact)."))

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3), constrained_layout=True)
    for k, L in enumerate(Ls):
        tr, c = res[f"sweep-L{L}"], colors[k % len(colors)]
        x = (T / T_C - 1.0) * L  # nu = 1
        chi = a[f"L{L}"]["full_susceptibility"]
        axes[0].errorbar(x, chi["mean"] * L**-GAMMA_OVER_NU, chi["error"] * L**-GAMMA_OVER_NU, fmt="o", ms=3,
                         color=c, label=f"L={L}")
        axes[1].errorbar(x, tr["binder"]["mean"], tr["binder"]["error"], fmt="o", ms=3, color=c, label=f"L={L}")
    axes[0].set_ylabel("chi L^(-gamma/nu)")
    axes[1].set_ylabel("U4")
    for ax in axes:
        ax.set_xlabel("t L^(1/nu),  t = T/T_c - 1")
        ax.legend(fontsize=8)
    fig.suptitle("Finite-size scaling collapse with exact T_c, nu = 1, gamma/nu = 7/4")
    fig.savefig(figure_dir / "collapse.png", dpi=110)
    plt.close(fig)
    out.append(("collapse.png", "Scaling collapse: chi L^(-7/4) and U4 against (T/T_c - 1) L with the exact exponents; "
                "the sizes fall on one curve."))

    L = Ls[-1]
    tr = res[f"sweep-L{L}"]
    picks = [0, int(np.argmin(np.abs(T - T_C))), T.size - 1]
    fig, axes = plt.subplots(1, 3, figsize=(11, 4), constrained_layout=True)
    for ax, i in zip(axes, picks):
        ax.imshow(np.asarray(tr["spins"][i, 0]), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(f"L={L}, T={T[i]:.4f}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.savefig(figure_dir / "spins.png", dpi=110)
    plt.close(fig)
    out.append(("spins.png", f"Final spin configurations of one chain (L = {L}): ordered below T_c, "
                "clusters of all sizes at T_c, disordered above."))
    return out


register_section(Section(
    name="sweep",
    title="Ising critical point: temperature sweep, Binder crossing, finite-size scaling",
    options=OPTIONS,
    stages=stages,
    analyze=analyze,
    report=report,
    figures=figures,
    summary=summary,
    check=_check,
))
