"""The ``[flow]`` study section: learn the majority-rule RG flow in coupling space, read off K_c and nu.

One stage per training seed (:mod:`jaxrg.rg.flow`): the fine model at couplings J on an ``L x L`` torus is sampled
with the four-sublattice Metropolis kernel, blocked 2x2 by majority rule, and an equinox MLP ``f_theta`` with
``J' = J + f_theta(J)`` is trained with optax so that the coarse Gibbs distribution at J' matches the blocked one
(contrastive divergence, or the exact KL by enumeration for L = 8). The analysis finds the non-trivial fixed point by
Newton, ``nu = ln 2 / ln lambda_t`` from the linearised map, and ``K_c`` on the nearest-neighbour axis by bisection on
where iterated maps flow; seeds give the spread. Exact: K_c = ln(1 + sqrt 2) / 2 = 0.440687, nu = 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxrg import exact, files
from jaxrg.config import Option
from jaxrg.study import Section, Stage, register_section, stage_seed

K_C = exact.CRITICAL_COUPLING
NU = exact.NU
#: RG steps of the trajectories drawn in the figure.
TRAJECTORY_STEPS = 5

OPTIONS = (
    Option("n", "int", 3, "coupling-space dimension: 1 (nn), 2 (+nnn), 3 (+plaquette), 5 (anisotropic)",
           minimum=1, maximum=5),
    Option("L", "int", 16, "fine lattice side (coarse L/2; L = 8 allows loss = 'exact')", minimum=8),
    Option("loss", "str", "cd", "KL estimator: contrastive divergence or exact enumeration (L = 8)",
           choices=("cd", "exact")),
    Option("seeds", "int", 1, "training seeds (the spread of K_c and nu over them is reported)", minimum=1),
    Option("rounds", "int", 3, "data rounds (HMC in coupling space concentrates the later ones near fixed points)",
           minimum=1),
    Option("couplings", "int", 64, "new training couplings per round", minimum=8),
    Option("steps", "int", 300, "Adam steps per round", minimum=1),
    Option("cd_sweeps", "int", 5, "Metropolis sweeps of CD-k", minimum=1),
    Option("learning_rate", "float", 1e-2, "Adam learning rate (cosine-decayed)", minimum=0.0, exclusive_minimum=True),
)


def _check(cfg: dict) -> None:
    if cfg["n"] not in (1, 2, 3, 5):
        raise ValueError(f"[flow].n must be one of 1, 2, 3, 5, got {cfg['n']}")
    if cfg["L"] % 4:
        raise ValueError(f"[flow].L must be a multiple of 4 (the coarse lattice L/2 must be even), got {cfg['L']}")
    if cfg["loss"] == "exact" and cfg["L"] != 8:
        raise ValueError(f"[flow].loss = 'exact' enumerates the 4x4 coarse lattice: L must be 8, got {cfg['L']}")


def training_config(cfg: dict):
    """The :class:`jaxrg.rg.flow.TrainingConfig` of a resolved ``[flow]`` table."""
    from jaxrg.rg import flow as fl

    betas = tuple([0.0] + [30.0 * 3.0**r for r in range(cfg["rounds"] - 1)])
    return fl.TrainingConfig(L=cfg["L"], loss=cfg["loss"], cd_sweeps=cfg["cd_sweeps"], rounds=cfg["rounds"],
                             couplings_per_round=cfg["couplings"], betas=betas, steps_per_round=cfg["steps"],
                             learning_rate=cfg["learning_rate"])


def train_and_analyze(cfg: dict, seed: int) -> dict:
    """Train one flow; analyze it: fixed point, eigenvalues, nu, K_c, RG trajectories from the nn axis (numpy)."""
    import jax
    import jax.numpy as jnp

    from jaxrg.rg import flow as fl

    space = fl.coupling_space(cfg["n"])
    tr = fl.train_flow(jax.random.key(seed), cfg["n"], training_config(cfg))
    with jax.enable_x64(True):
        an = fl.analyze_flow(tr.flow, space)
        # RG trajectories J_{j+1} = J_j + f_theta(J_j) started on the nearest-neighbour axis either side of K_c
        K = np.linspace(0.30, 0.60, 13)
        axis = jnp.asarray(space.array("nn_axis"), jnp.float32)

        def trajectory(k):
            return jax.lax.scan(lambda J, _: (tr.flow.step(J), J), k * axis, None, length=TRAJECTORY_STEPS + 1)[1]

        paths = np.asarray(jax.vmap(trajectory)(jnp.asarray(K, jnp.float32)), np.float64)
    eig = np.asarray(an.eigenvalues)
    return {"fixed_point": np.asarray(an.fixed_point, np.float64), "residual": np.asarray(an.residual),
            "eigenvalues_real": eig.real, "eigenvalues_imag": eig.imag, "nu": np.asarray(an.nu),
            "n_relevant": np.asarray(an.n_relevant), "K_c": np.asarray(an.K_c),
            "loss_history": np.asarray(tr.loss_history, np.float64), "trajectory_K": K, "trajectories": paths}


def stages(cfg: dict, seed: int) -> list[Stage]:
    """One stage per training seed."""
    out = []
    for i in range(cfg["seeds"]):
        name = f"flow-n{cfg['n']}-seed{i}"
        s = stage_seed(seed, name)
        out.append(Stage(name, lambda checkpoint, progress, s=s: train_and_analyze(cfg, s),
                         files.fingerprint(dict(cfg, seed=s, stage=name))))
    return out


def analyze(cfg: dict, stage_results: dict) -> dict:
    """Mean and spread (sd over seeds) of K_c and nu; failed seeds (NaN) are counted, not averaged."""
    runs = list(stage_results.values())
    K_c = np.array([float(r["K_c"]) for r in runs])
    nu = np.array([float(r["nu"]) for r in runs])
    ok = np.isfinite(K_c) & np.isfinite(nu)

    def spread(x):
        x = x[ok]
        if x.size == 0:
            return np.nan, np.nan
        return float(np.mean(x)), (float(np.std(x, ddof=1)) if x.size > 1 else np.nan)

    kc_m, kc_s = spread(K_c)
    nu_m, nu_s = spread(nu)
    return {"K_c": K_c, "nu": nu, "K_c_mean": np.asarray(kc_m), "K_c_sd": np.asarray(kc_s),
            "nu_mean": np.asarray(nu_m), "nu_sd": np.asarray(nu_s), "failed_seeds": np.asarray(int(np.sum(~ok))),
            "K_c_exact": np.asarray(K_C), "nu_exact": np.asarray(NU)}


def summary(cfg: dict, res: dict) -> dict:
    """K_c and nu of the learned flow against the exact values."""
    a = res["analysis"]
    return {"flow_K_c": float(a["K_c_mean"]), "flow_K_c_exact": K_C,
            "flow_K_c_relative_error": float(a["K_c_mean"] / K_C - 1.0),
            "flow_nu": float(a["nu_mean"]), "flow_nu_exact": NU}


def report(cfg: dict, res: dict) -> str:
    """Markdown: per-seed fixed point, eigenvalues, nu, K_c; the mean against exact."""
    from jaxrg.rg import flow as fl

    a = res["analysis"]
    names = fl.coupling_space(cfg["n"]).names
    lines = [
        f"Coupling space n = {cfg['n']} ({', '.join(names)}); {cfg['loss'].upper()} loss, L = {cfg['L']} -> "
        f"{cfg['L'] // 2}, {cfg['rounds']} rounds x {cfg['couplings']} couplings x {cfg['steps']} Adam steps; "
        f"{cfg['seeds']} seed(s), {int(a['failed_seeds'])} failed.",
        "",
        f"K_c = {float(a['K_c_mean']):.5f} (sd {float(a['K_c_sd']):.5f}) vs exact {K_C:.6f}: relative error "
        f"{float(a['K_c_mean']) / K_C - 1:+.2%}; nu = {float(a['nu_mean']):.4f} (sd {float(a['nu_sd']):.4f}) vs 1. "
        "A short training run on a small lattice: expect errors of a few percent (benchmarks/flow.py runs the "
        "full study over n = 1, 3, 5 and 5 seeds).",
        "",
        "| stage | fixed point J* | leading eigenvalues | nu | K_c |",
        "|---|---|---|---|---|",
    ]
    for name, r in res.items():
        if name == "analysis":
            continue
        eig = ", ".join(f"{x:.3f}" for x in np.asarray(r["eigenvalues_real"])[:3])
        fp = ", ".join(f"{x:.4f}" for x in np.asarray(r["fixed_point"]))
        lines.append(f"| {name} | ({fp}) | {eig} | {float(r['nu']):.4f} | {float(r['K_c']):.5f} |")
    return "\n".join(lines)


def figures(cfg: dict, res: dict, figure_dir: Path) -> list[tuple[str, str]]:
    """RG trajectories of the learned map (first seed) started on the nn axis either side of K_c; training loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {k: v for k, v in res.items() if k != "analysis"}
    first = next(iter(runs.values()))
    K_c = float(first["K_c"])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    paths, fp = np.asarray(first["trajectories"]), np.asarray(first["fixed_point"])
    for K, path in zip(np.asarray(first["trajectory_K"]), paths):
        colour = "C0" if K < K_c else "C3"
        if cfg["n"] == 1:
            ax.plot(np.arange(path.shape[0]), path[:, 0], "o-", ms=3, lw=0.9, color=colour)
        else:
            ax.plot(path[:, 0], path[:, 1], "o-", ms=3, lw=0.9, color=colour)
    if cfg["n"] == 1:
        ax.axhline(fp[0], color="k", ls="--", lw=0.8, label=f"fixed point K* = {fp[0]:.4f}")
        ax.axhline(K_C, color="0.5", ls=":", lw=1.0, label=f"exact K_c = {K_C:.4f}")
        ax.set_xlabel("RG step")
        ax.set_ylabel("K")
    else:
        from jaxrg.rg.flow import coupling_space

        names = coupling_space(cfg["n"]).names
        ax.plot(fp[0], fp[1], "k*", ms=12, label="non-trivial fixed point")
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
    ax.set_title(f"learned RG trajectories, n = {cfg['n']} (blue: K < K_c, red: K > K_c)")
    ax.legend(fontsize=8)
    for name, r in runs.items():
        bx.semilogy(np.abs(r["loss_history"]) + 1e-12, lw=0.8, label=name)
    bx.set_xlabel("Adam step")
    bx.set_ylabel("moment mismatch" if cfg["loss"] == "cd" else "loss")
    bx.set_title("training")
    fig.savefig(figure_dir / "flow.png", dpi=110)
    plt.close(fig)
    return [("flow.png", f"Left: {TRAJECTORY_STEPS} steps of the learned map J' = J + f_theta(J) started on the "
             "nearest-neighbour axis at K = 0.30 ... 0.60 (first seed): starts below the learned K_c flow to the "
             "high-temperature sink, starts above it to the low-temperature one, and both pass near the "
             "non-trivial fixed point. Right: training history.")]


register_section(Section(
    name="flow",
    title="Learned RG flow in coupling space: K_c and nu",
    options=OPTIONS,
    stages=stages,
    analyze=analyze,
    report=report,
    figures=figures,
    summary=summary,
    check=_check,
))
