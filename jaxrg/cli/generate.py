"""``jaxrg generate``: dream up critical Ising configurations of any size with an inverse-RG generator."""

from __future__ import annotations

from jaxrg.cli import Command, Context, register
from jaxrg.config import Option

OPTIONS = (
    Option("size", "int", 256, "side of the generated configurations (a power of 2)", minimum=2),
    Option("n", "int", 256, "number of configurations (>= 64: the jackknife uses blocks of >= 8)", minimum=64),
    Option("seed", "int", 0, "seed", minimum=0),
    Option("model", "str", None, "generator file written by jaxrg.rg.inverse.save (default: the pretrained "
           "three-parameter generator shipped with jaxrg)"),
    Option("output", "str", None, "write the configurations (int8) and the per-level table to this HDF5 file"),
    Option("picture", "str", None, "write a PNG picture of the first configuration to this file"),
)


def _check(config: dict) -> None:
    size = config["size"]
    if size & (size - 1):
        raise ValueError(f"size must be a power of 2, got {size}")


def execute(config: dict, ctx: Context) -> dict:
    """Generate ``n`` configurations by repeated upsampling from one random spin; measure every level at T_c."""
    import jax
    import numpy as np

    from jaxrg import exact, files
    from jaxrg.rg import inverse

    _check(config)
    model = inverse.load(config["model"]) if config["model"] else inverse.load_pretrained()
    key_levels, key_spins = jax.random.split(jax.random.key(config["seed"]))
    ctx.log(f"jaxrg generate: {config['n']} configurations of {config['size']} x {config['size']}")
    sizes, e, m = inverse.level_observables(model, config["size"], config["n"], key_levels)
    table: dict = {"sizes": np.asarray(sizes)}
    obs = [inverse.ensemble_observables(np.asarray(e[j]), np.asarray(m[j]), int(L)) for j, L in enumerate(sizes)]
    for name in ("energy", "abs_magnetization", "susceptibility", "binder"):
        table[name] = {"mean": np.array([float(getattr(o, name).mean) for o in obs]),
                       "error": np.array([float(getattr(o, name).error) for o in obs])}
    table["energy_exact_critical"] = np.array([float(exact.finite_lattice(int(L), exact.CRITICAL_TEMPERATURE).energy)
                                               for L in sizes])
    params = np.asarray(model.params) if hasattr(model, "params") else np.zeros(0)  # a convnet has no flat params
    result: dict = {"config": config, "params": params, "levels": table}
    lines = [f"generator parameters: {', '.join(f'{p:.4f}' for p in params.ravel()) or type(model).__name__}",
             f"{'L':>6} {'energy':>20} {'exact (T_c torus)':>18} {'<|m|>':>20} {'chi':>22} {'U4 (0.61069)':>20}"]
    for j, L in enumerate(sizes):
        v = lambda o, w=20: f"{table[o]['mean'][j]:.5f}+-{table[o]['error'][j]:.5f}".rjust(w)  # noqa: E731
        lines.append(f"{int(L):6d} {v('energy')} {table['energy_exact_critical'][j]:18.5f} "
                     f"{v('abs_magnetization')} {v('susceptibility', 22)} {v('binder')}")
    ctx.out("\n".join(lines))
    if config["output"] or config["picture"]:
        spins = np.asarray(inverse.generate(model, config["size"], config["n"], key_spins), np.int8)
        if config["output"]:
            files.write_hdf5(config["output"], {"spins": spins, "levels": table, "params": result["params"]},
                          attrs={"config": config, **files.environment_metadata()})
            ctx.log(f"wrote {config['output']}")
        if config["picture"]:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(6, 6))
            ax.imshow(spins[0], cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
            ax.set_axis_off()
            ax.set_title(f"generated {config['size']} x {config['size']} configuration at T_c")
            with files.atomic_write(config["picture"], "wb") as f:
                fig.savefig(f, format="png", dpi=100, bbox_inches="tight")
            plt.close(fig)
            ctx.log(f"wrote {config['picture']}")
    return result


register(Command(
    name="generate",
    help="inverse RG: generate critical configurations of any size with a three-parameter generator",
    options=OPTIONS,
    execute=execute,
    description="Start from one random spin and upsample repeatedly with an inverse-RG generator (default: the "
    "pretrained three-parameter D4-symmetric one, trained to invert 2x2 majority rule on Wolff configurations at "
    "K_c) up to size x size. Prints every level's energy, |m|, susceptibility and Binder cumulant with jackknife "
    "errors, against the exact critical energy of the same torus. Train a new generator with the [inverse] section of "
    "`jaxrg run`.",
))
