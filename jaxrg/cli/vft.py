"""``jaxrg vft``: fit the Vogel-Fulcher-Tammann law to relaxation times and read it as a scale Hamiltonian."""

from __future__ import annotations

from jaxrg.cli import Command, Context, register
from jaxrg.config import Option

OPTIONS = (
    Option("data", "str", None, "CSV or whitespace-separated text file: columns T, tau[, sigma of ln tau]; lines "
           "starting with # and a header line are skipped"),
    Option("lam", "float", None, "RG rate lambda of the scale-Hamiltonian reading (A = D T0 lambda)", minimum=0.0,
           exclusive_minimum=True),
    Option("lam_error", "float", 0.0, "standard error of lambda", minimum=0.0),
)


def read_relaxation_data(path: str):
    """Read ``(T, tau, sigma_log_tau or None)`` from a text file of 2 or 3 numeric columns (comma or blank separated).

    Raises:
        ValueError: the file is missing, unreadable, or not 2-3 numeric columns with at least one row.
    """
    from pathlib import Path

    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"data: no such file {path!r}")
    try:
        text_lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f"data: {path} is not a text file ({e.reason} at byte {e.start})") from None
    rows = []
    for number, line in enumerate(text_lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        fields = [f for f in text.replace(",", " ").split()]
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            if not rows:  # a header line before the data
                continue
            raise ValueError(f"data: {path}:{number}: not numbers: {line.strip()!r}") from None
        if len(rows[-1]) not in (2, 3) or len(rows[-1]) != len(rows[0]):
            raise ValueError(f"data: {path}:{number}: expected 2 or 3 columns (T, tau[, sigma of ln tau]) in every "
                             f"row, got {len(rows[-1])}")
    if not rows:
        raise ValueError(f"data: {path} holds no data rows")
    table = np.asarray(rows, np.float64)
    return table[:, 0], table[:, 1], (table[:, 2] if table.shape[1] == 3 else None)


def execute(config: dict, ctx: Context) -> dict:
    """Fit tau = tau0 exp(D T0 / (T - T0)); with ``lam`` also the barrier amplitude A = D T0 lambda."""
    import jax
    import numpy as np

    from jaxrg import scale

    if config["data"] is None:
        raise ValueError("data is required: a file of columns T, tau[, sigma of ln tau] (--data FILE)")
    T, tau, sigma = read_relaxation_data(config["data"])
    with jax.enable_x64(True):
        fit = scale.fit_vft(T, tau, sigma_log_tau=sigma)
        reading = None if config["lam"] is None else scale.vft_scale_reading(fit, config["lam"], config["lam_error"])
    num = lambda x: float(np.asarray(x))  # noqa: E731
    result: dict = {"config": config, "n_points": int(T.size)}
    for name in ("tau0", "D", "T0", "D_T0"):
        result[name] = {"mean": num(getattr(fit, name)), "error": num(getattr(fit, name + "_error"))}
    result.update(chi2=num(fit.chi2), dof=int(fit.dof), converged=bool(np.asarray(fit.converged)))
    weights = "given errors of ln tau" if sigma is not None else "errors scaled by the residual variance"
    lines = [f"VFT fit of {T.size} points ({weights}): tau = tau0 exp(D T0 / (T - T0))"]
    for name in ("tau0", "D", "T0", "D_T0"):
        lines.append(f"  {name:5s} = {result[name]['mean']:.6g} +- {result[name]['error']:.3g}")
    lines.append(f"  chi^2 / dof = {result['chi2']:.4g} / {result['dof']}" + ("" if result["converged"] else
                                                                              "   (NOT converged)"))
    if reading is not None:
        result["barrier_amplitude"] = {"mean": num(reading.A), "error": num(reading.A_error)}
        lines.append(f"scale Hamiltonian beta(g) = lambda g, F(g) = A / g, g = T - T0, lambda = {config['lam']:g}: "
                     f"A = {result['barrier_amplitude']['mean']:.6g} +- {result['barrier_amplitude']['error']:.3g}")
    ctx.out("\n".join(lines))
    return result


register(Command(
    name="vft",
    help="scale dynamics: fit the VFT law to relaxation times, read it as a scale Hamiltonian",
    options=OPTIONS,
    execute=execute,
    description="Least-squares fit (Levenberg-Marquardt in JAX, float64) of the Vogel-Fulcher-Tammann law "
    "tau = tau0 exp(D T0 / (T - T0)) to measured relaxation times, with linearised errors; with --lam, the "
    "scale-Hamiltonian reading beta(g) = lambda g, F(g) = A / g (g = T - T0) and its barrier amplitude A = D T0 lambda "
    "(see jaxrg.scale.vft).",
))
