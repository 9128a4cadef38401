"""``jaxrg simulate``: one Monte Carlo run over temperatures (``jaxrg.simulate``), measured vs exact."""

from __future__ import annotations

from jaxrg.cli import Command, Context, register
from jaxrg.config import Option


def _samplers():
    from jaxrg.sampling import SAMPLERS

    return list(SAMPLERS)


def default_sampler() -> str:
    """``"wolff"`` where it is installed, else ``"metropolis"``."""
    return "wolff" if "wolff" in _samplers() else "metropolis"


#: Peak bytes per lattice site of one chain (spins, random words, cluster labels, temporaries), measured on CPU as the
#: growth of the peak resident memory from L = 64 to L = 1024 with 3 temperatures x 4 chains: metropolis 8.5,
#: wolff 26, swendsen_wang 67; with a margin. Samplers not listed get the largest value.
BYTES_PER_SITE = {"metropolis": 12, "bitpacked_metropolis": 12, "wolff": 32, "swendsen_wang": 80}

OPTIONS = (
    Option("L", "int", 16, "lattice size (even, >= 4)", minimum=4, maximum=2**15),
    Option("T", "floats", [2.0, 2.269185314213022, 2.6], "temperatures (J = k_B = 1)", minimum=0.0,
           exclusive_minimum=True),
    Option("sampler", "str", default_sampler(), "Monte Carlo algorithm", choices=_samplers),
    Option("sweeps", "int", 2000, "kernel steps measured (for wolff these are cluster steps, not lattice sweeps)",
           minimum=16, maximum=2**31 - 1),
    Option("thermalize", "int", 500, "kernel steps discarded first (cluster steps for wolff)", minimum=0,
           maximum=2**31 - 1),
    Option("chains", "int", 4, "independent chains per temperature", minimum=1, maximum=2**20),
    Option("measure_every", "int", 1, "steps between measurements", minimum=1, maximum=2**31 - 1),
    Option("seed", "int", 0, "seed of the whole run", minimum=0),
    Option("h", "float", 0.0, "magnetic field (units of J)"),
    Option("initial", "str", "random", "initial spins: random (hot), ordered (cold), generated (inverse-RG warm start)",
           choices=("random", "ordered", "generated")),
    Option("chunk_size", "int", None, "measurements per compiled chunk (default: about 20 chunks)", minimum=1,
           maximum=2**31 - 1),
    Option("checkpoint", "str", None, "directory for checkpoints; an existing one of the same run is resumed"),
    Option("output", "str", None, "write the results to this HDF5 file"),
)


def execute(config: dict, ctx: Context) -> dict:
    """Run :func:`jaxrg.simulate` with ``config``; print a table (or return it for ``--json``)."""
    import numpy as np

    import jaxrg
    from jaxrg import files, observables, simulation

    if config["sampler"] not in _samplers():  # choices are checked already; this guards a changed registry
        raise ValueError(f"sampler must be one of {sorted(_samplers())}, got {config['sampler']!r}")
    run_args = {k: v for k, v in config.items() if k not in ("output",)}
    L, T = run_args.pop("L"), run_args.pop("T")
    _check_before_work(config)
    ctx.log(f"jaxrg simulate: L={L}, {len(T)} temperatures, sampler={config['sampler']}")
    r = jaxrg.simulate(L, np.asarray(T, dtype=np.float64), progress=ctx.progress, **run_args)
    exact = _exact(L, r.T, config["h"])
    tree = simulation.simulation_to_tree(r)
    chi_full, dchi_full = observables.full_susceptibility(r.timeseries.magnetization, L, r.T)
    tree["full_susceptibility"] = {"mean": chi_full, "error": dchi_full}
    if exact is not None:
        tree["exact"] = exact
    ctx.out(format_table(r, exact))
    result = {k: v for k, v in tree.items() if k not in ("timeseries", "spins")}
    result["config"] = config
    if config["output"]:
        attrs = {"config": config, **files.environment_metadata()}
        where = files.write_with_fallback(config["output"], lambda p: files.write_hdf5(p, tree, attrs=attrs), ctx.log)
        ctx.log(f"wrote {where}")
    return result


def _check_before_work(config: dict) -> None:
    """Output file, checkpoint directory and memory checked before anything is computed."""
    from jaxrg import files
    from jaxrg.cli import check_memory

    if config["output"]:
        files.check_writable_file(config["output"], "--output")
    if config["checkpoint"]:
        files.check_writable_directory(config["checkpoint"], "--checkpoint")
    L, n_T, chains = config["L"], len(config["T"]), config["chains"]
    measurements = config["sweeps"] // config["measure_every"]
    per_site = BYTES_PER_SITE.get(config["sampler"], max(BYTES_PER_SITE.values()))
    estimate = n_T * chains * (per_site * L * L + 2 * 8 * measurements)
    check_memory(estimate, f"simulate with L = {L}, {n_T} temperatures x {chains} chains, {measurements} measurements",
                 "lower L, chains, the number of temperatures, or sweeps (raise measure_every)")


def _exact(L, T, h):
    """Exact finite-lattice energy and heat capacity (zero field only), or None."""
    import numpy as np

    try:
        from jaxrg import exact
    except ImportError:
        return None
    if h != 0.0:
        return None
    fl = exact.finite_lattice(L, np.asarray(T))
    return {"energy": np.asarray(fl.energy), "heat_capacity": np.asarray(fl.heat_capacity)}


def format_table(r, exact) -> str:
    """Plain-text table of a simulation, with exact values and pulls where known."""
    import numpy as np

    T = np.atleast_1d(r.T)
    col = lambda est: (np.atleast_1d(est.mean), np.atleast_1d(est.error))  # noqa: E731
    e, de = col(r.energy)
    m, dm = col(r.abs_magnetization)
    c, dc = col(r.heat_capacity)
    x, dx = col(r.susceptibility)  # connected: N (<m^2> - <|m|>^2) / T
    u, du = col(r.binder)
    head = f"{'T':>8} {'energy':>20} {'|m|':>18} {'C':>16} {'chi':>16} {'U4':>16}"
    if exact is not None:
        head += f" {'e exact':>10} {'pull':>6} {'C exact':>8} {'pull':>6}"
    lines = [f"L = {r.L}", head]
    for i in range(T.size):
        line = (f"{T[i]:8.4f} {e[i]:11.6f}+-{de[i]:7.6f} {m[i]:10.5f}+-{dm[i]:6.5f} {c[i]:8.4f}+-{dc[i]:6.4f} "
                f"{x[i]:8.3f}+-{dx[i]:6.3f} {u[i]:8.4f}+-{du[i]:6.4f}")
        if exact is not None:
            ee, ce = np.atleast_1d(exact["energy"])[i], np.atleast_1d(exact["heat_capacity"])[i]
            line += f" {ee:10.6f} {(e[i] - ee) / de[i]:6.2f} {ce:8.4f} {(c[i] - ce) / dc[i]:6.2f}"
        lines.append(line)
    lines.append("pull = (measured - exact) / error; |pull| < 3 expected for ~99.7% of points")
    return "\n".join(lines)


register(Command(
    name="simulate",
    help="Monte Carlo run of the L x L Ising model over temperatures, compared with exact results",
    options=OPTIONS,
    execute=execute,
    description="Sample the 2D Ising model at several temperatures (one vmapped batch) and print energy, |m|, "
    "heat capacity, susceptibility and Binder cumulant with error bars, against Kaufman's exact finite-lattice "
    "energy and heat capacity. Every option can also be given in a TOML file with --config. The defaults here (wolff, "
    "2000 steps, 500 thermalisation steps, 4 chains) differ from the Python API's jaxrg.simulate (metropolis, 10000, "
    "1000, 1 chain). For wolff, sweeps and thermalize count cluster steps, not lattice sweeps. chi is the connected "
    "N(<m^2> - <|m|>^2)/T; --json also gives full_susceptibility = N<m^2>/T.",
))
