"""``jaxrg reweight RUN_DIR``: continuous curves from the raw series of a finished study (multi-histogram)."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaxrg.cli import Command, Context, register
from jaxrg.config import ConfigError, Option

OPTIONS = (
    Option("points", "int", 25, "temperatures on the reweighting grid across the sampled range", minimum=2,
           maximum=10_000),
    Option("T", "floats", None, "temperatures to reweight to instead of the grid (inside the sampled range)",
           minimum=0.0, exclusive_minimum=True),
    Option("jackknife_blocks", "int", 8, "jackknife blocks per chain", minimum=2),
)


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory of `jaxrg run` (holds results.h5)")


def execute(config: dict, ctx: Context) -> dict:
    """Reweight every size of the run's temperature sweep; print e, C, |m|, chi', U4 and the peaks of C and chi'."""
    import numpy as np

    from jaxrg import files, reweighting

    path = Path(ctx.args.run_dir) / "results.h5"
    if not path.is_file():
        raise ConfigError(f"{path} not found: RUN_DIR must be a finished run directory of `jaxrg run`")
    tree, _ = files.read_hdf5(path)
    sweep = tree.get("sweep")
    stages = sorted((k for k in (sweep or {}) if k.startswith("sweep-L")), key=lambda k: int(k[len("sweep-L"):]))
    if not stages:
        raise ConfigError(f"{path} holds no [sweep] section with raw series to reweight")
    out: dict = {"run_dir": str(ctx.args.run_dir), "sizes": {}}
    for name in stages:
        st = sweep[name]
        L = int(st["L"])
        T_run = np.asarray(st["T"], np.float64)
        e, m = st["timeseries"]["energy"], st["timeseries"]["magnetization"]
        T = np.asarray(config["T"], np.float64) if config["T"] else np.linspace(T_run.min(), T_run.max(),
                                                                                 config["points"])
        if T.min() < T_run.min() or T.max() > T_run.max():
            raise ConfigError(f"T must lie inside the sampled range [{T_run.min():.4f}, {T_run.max():.4f}]")
        blocks = config["jackknife_blocks"]
        curves = reweighting.reweight(L, T_run, e, m, T, n_blocks=blocks)
        peaks = {obs: reweighting.peak(L, T_run, e, m, obs, n_blocks=blocks)
                 for obs in ("heat_capacity", "susceptibility")}
        columns = ("energy", "heat_capacity", "abs_magnetization", "susceptibility", "binder")
        out["sizes"][str(L)] = {
            "T": T, **{c: {"mean": getattr(curves, c).mean, "error": getattr(curves, c).error} for c in columns},
            "peaks": {k: {"T": p.T._asdict(), "height": p.height._asdict()} for k, p in peaks.items()},
        }
        lines = [f"L = {L}: reweighted from {T_run.size} temperatures ({e.shape[1]} chains x {e.shape[2]} "
                 "measurements each); chi' = N(<m^2> - <|m|>^2)/T",
                 f"{'T':>9} {'e':>20} {'C':>20} {'<|m|>':>20} {'chi_prime':>20} {'U4':>20}"]
        for i, t in enumerate(T):
            cells = [f"{getattr(curves, c).mean[i]:.5f} +- {getattr(curves, c).error[i]:.5f}" for c in columns]
            lines.append(f"{t:9.5f} " + " ".join(f"{x:>20}" for x in cells))
        for k, p in peaks.items():
            lines.append(f"  peak of {k}: T = {p.T.mean:.5f} +- {p.T.error:.5f}, "
                         f"height {p.height.mean:.4f} +- {p.height.error:.4f}")
        ctx.out("\n".join(lines))
    return out


register(Command(
    name="reweight",
    help="continuous curves (e, C, |m|, chi', U4, peaks) of a finished study by multi-histogram reweighting",
    options=OPTIONS,
    execute=execute,
    description="Reads RUN_DIR/results.h5 of `jaxrg run` (its raw energy and magnetisation series) and reweights "
    "every lattice size of the temperature sweep to a fine temperature grid (Ferrenberg-Swendsen / MBAR, "
    "jaxrg.reweighting), with jackknife errors, plus the positions and heights of the C and chi' peaks. "
    "No Monte Carlo is rerun.",
    configure=_configure,
))
