"""``jaxrg generate``: dream up critical Ising configurations of any size with an inverse-RG generator."""

from __future__ import annotations

from jaxrg.cli import Command, Context, register
from jaxrg.config import Option

#: Sites generated per batch (about 40 bytes each at the peak): 2^24 sites keep a batch under 1 GB of memory.
BATCH_SITES = 2**24

OPTIONS = (
    Option("size", "int", 256, "side of the generated configurations (a power of 2)", minimum=2, maximum=2**15),
    Option("n", "int", 256, "number of configurations (>= 64: the jackknife uses blocks of >= 8)", minimum=64,
           maximum=2**20),
    Option("seed", "int", 0, "seed", minimum=0),
    Option("model", "str", None, "generator file written by jaxrg.rg.inverse.save (default: the pretrained "
           "three-parameter generator shipped with jaxrg)"),
    Option("output", "str", None, "write the configurations (int8) and the per-level table to this HDF5 file"),
    Option("picture", "str", None, "write a PNG picture of the first configuration to this file"),
)


def _check(config: dict) -> None:
    """Values, output paths and memory checked before any work."""
    from jaxrg import files
    from jaxrg.cli import check_memory

    size, n = config["size"], config["n"]
    if size & (size - 1):
        raise ValueError(f"size must be a power of 2, got {size}")
    if config["output"]:
        files.check_writable_file(config["output"], "--output")
        check_memory(2 * n * size * size + 40 * batch_size(size, n) * size * size,
                     f"--output of {n} configurations of {size} x {size}", "lower n or size, or drop --output")
    if config["picture"]:
        files.check_writable_file(config["picture"], "--picture")


def batch_size(size: int, n: int) -> int:
    """Configurations generated at once: ``n`` if they fit in :data:`BATCH_SITES` sites, else fewer (at least 1)."""
    return max(1, min(n, BATCH_SITES // (size * size)))


def _batches(size: int, n: int, key, run, log):
    """``run(key, b)`` over batches of ``b = batch_size(size, n)`` configurations (the last one padded: one compile).

    The whole job's key is used as is when one batch holds everything, else batch ``i`` uses ``fold_in(key, i)``.
    Returns the per-batch outputs, trimmed to ``n`` configurations in all.
    """
    import jax

    b = batch_size(size, n)
    count = -(-n // b)
    out = []
    for i in range(count):
        out.append(run(key if count == 1 else jax.random.fold_in(key, i), b))
        if count > 1 and ((i + 1) % max(1, count // 10) == 0 or i + 1 == count):
            log(f"  {min((i + 1) * b, n)} of {n} configurations")
    return out, count * b - n


def execute(config: dict, ctx: Context) -> dict:
    """Generate ``n`` configurations by repeated upsampling from one random spin; measure every level at T_c."""
    import jax
    import numpy as np

    from jaxrg import exact, files
    from jaxrg.rg import inverse

    _check(config)
    model = inverse.load(config["model"]) if config["model"] else inverse.load_pretrained()
    size, n = config["size"], config["n"]
    key_levels, key_spins = jax.random.split(jax.random.key(config["seed"]))
    ctx.log(f"jaxrg generate: {n} configurations of {size} x {size} (batches of {batch_size(size, n)})")
    parts, pad = _batches(size, n, key_levels, lambda k, b: _measure(inverse, model, size, b, k), ctx.log)
    sizes = parts[0][0]
    e = np.concatenate([p[1] for p in parts], axis=1)[:, :n]
    m = np.concatenate([p[2] for p in parts], axis=1)[:, :n]
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
        if config["output"]:
            spins = np.empty((n, size, size), np.int8)
            parts, _ = _batches(size, n, key_spins, lambda k, b: np.asarray(inverse.generate(model, size, b, k)),
                                ctx.log)
            done = 0
            for p in parts:
                take = min(p.shape[0], n - done)
                spins[done:done + take] = p[:take]
                done += take
            del parts
        else:  # the picture shows the first configuration: generate the first batch only
            spins = np.asarray(inverse.generate(model, size, batch_size(size, n), key_spins if batch_size(size, n) == n
                                                else jax.random.fold_in(key_spins, 0)))[:1]
        if config["output"]:
            tree = {"spins": spins, "levels": table, "params": result["params"]}
            attrs = {"config": config, **files.environment_metadata()}
            where = files.write_with_fallback(config["output"], lambda p: files.write_hdf5(p, tree, attrs=attrs),
                                              ctx.log)
            ctx.log(f"wrote {where}")
        if config["picture"]:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(6, 6))
            ax.imshow(spins[0], cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
            ax.set_axis_off()
            ax.set_title(f"generated {config['size']} x {config['size']} configuration at T_c")

            def save(path):
                with files.atomic_write(path, "wb") as f:
                    fig.savefig(f, format="png", dpi=100, bbox_inches="tight")

            try:
                where = files.write_with_fallback(config["picture"], save, ctx.log)
            finally:
                plt.close(fig)
            ctx.log(f"wrote {where}")
    return result


def _measure(inverse, model, size: int, b: int, key):
    """Energies and magnetisations per level of ``b`` generated configurations, as numpy arrays."""
    import numpy as np

    sizes, e, m = inverse.level_observables(model, size, b, key)
    return sizes, np.asarray(e), np.asarray(m)


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
