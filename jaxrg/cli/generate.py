"""``jaxrg generate``: dream up Ising configurations of any size with an inverse-RG generator, at T_c or (with a
thermal generator) at a temperature near it."""

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
    Option("temperature", "float", None, "temperature of the generated ensemble (default: T_c); needs a thermal "
           "generator (the default one then is the shipped off-critical generator, calibrated for T in 2.15 .. 2.6)",
           minimum=0.01),
    Option("model", "str", None, "generator file written by jaxrg.rg.inverse.save (default: the pretrained "
           "three-parameter generator shipped with jaxrg, or its thermal version with --temperature)"),
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


def _load_model(config: dict):
    """The generator: the file given, or the shipped one (critical, or thermal with a temperature); a thermal
    generator needs a temperature and the others refuse one."""
    from jaxrg.rg import inverse

    T = config["temperature"]
    if not config["model"]:
        return inverse.load_pretrained() if T is None else inverse.load_pretrained_thermal()
    model = inverse.load(config["model"])
    thermal = isinstance(model, inverse.ThermalGenerator)
    if T is None and thermal:
        raise ValueError(f"temperature is required: --model {config['model']!r} is a thermal generator (give "
                         "--temperature, a number >= 0.01)")
    if T is not None and not thermal:
        raise ValueError(f"temperature needs a thermal generator, but --model {config['model']!r} is a "
                         f"{type(model).__name__} (critical only); drop --temperature or give a ThermalGenerator file")
    return model


def level_temperatures(model, size: int, temperature) -> list[float | None]:
    """Temperature of every generated level ``2, 4, ..., size``: ``T_c`` for a critical generator; for a thermal one
    ``T_c (1 + tau)`` with ``tau`` the level's thermal scaling field, None where that is not a temperature (<= 0)."""
    import numpy as np

    from jaxrg import exact
    from jaxrg.rg import inverse

    k = int(size).bit_length() - 1
    if temperature is None:
        return [exact.CRITICAL_TEMPERATURE] * k
    tau = np.asarray(inverse.thermal_scaling_fields(inverse.reduced_temperature(temperature), k), np.float64)
    T = exact.CRITICAL_TEMPERATURE * (1.0 + tau)
    T[-1] = temperature  # the final level is at the asked temperature (not rounded through float32)
    return [float(t) if t >= 0.01 else None for t in T]


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
    """Generate ``n`` configurations by repeated upsampling from one random spin; measure every level against the
    exact energy of the same torus at the level's temperature (``T_c``, or its thermal scaling temperature)."""
    import jax
    import numpy as np

    from jaxrg import exact, files
    from jaxrg.rg import inverse

    _check(config)
    model = _load_model(config)
    size, n, T = config["size"], config["n"], config["temperature"]
    key_levels, key_spins = jax.random.split(jax.random.key(config["seed"]))
    at = "T_c" if T is None else f"T = {T:g}"
    ctx.log(f"jaxrg generate: {n} configurations of {size} x {size} at {at} (batches of {batch_size(size, n)})")
    parts, pad = _batches(size, n, key_levels, lambda k, b: _measure(inverse, model, size, b, k, T), ctx.log)
    sizes = parts[0][0]
    e = np.concatenate([p[1] for p in parts], axis=1)[:, :n]
    m = np.concatenate([p[2] for p in parts], axis=1)[:, :n]
    table: dict = {"sizes": np.asarray(sizes)}
    T_level = level_temperatures(model, size, T)
    obs = [inverse.ensemble_observables(np.asarray(e[j]), np.asarray(m[j]), int(L), temperature=T)
           for j, L in enumerate(sizes)]
    for name in ("energy", "abs_magnetization", "susceptibility", "binder"):
        table[name] = {"mean": np.array([float(getattr(o, name).mean) for o in obs]),
                       "error": np.array([float(getattr(o, name).error) for o in obs])}
    if T is None:
        table["energy_exact_critical"] = np.array([float(exact.finite_lattice(int(L), exact.CRITICAL_TEMPERATURE)
                                                         .energy) for L in sizes])
        exact_energy = table["energy_exact_critical"]
    else:  # the exact torus energy at each level's scaling temperature (nan where it has none)
        table["temperature"] = np.array([np.nan if t is None else t for t in T_level])
        table["energy_exact"] = np.array([np.nan if t is None else float(exact.finite_lattice(int(L), t).energy)
                                          for L, t in zip(sizes, T_level)])
        exact_energy = table["energy_exact"]
    if isinstance(model, inverse.ThermalGenerator):
        params = np.concatenate([np.asarray(model.critical.params), np.asarray(model.response)])
        described = (f"generator parameters: {', '.join(f'{p:.4f}' for p in params[:-2])}; thermal responses "
                     f"(ordered, disordered side) {params[-2]:.3f}, {params[-1]:.3f}")
    else:
        params = np.asarray(model.params) if hasattr(model, "params") else np.zeros(0)  # a convnet has no flat params
        described = f"generator parameters: {', '.join(f'{p:.4f}' for p in params.ravel()) or type(model).__name__}"
    result: dict = {"config": config, "params": params, "levels": table}
    lines = [described]
    if T is None:
        lines.append(f"{'L':>6} {'energy':>20} {'exact (T_c torus)':>18} {'<|m|>':>20} {'chi':>22} "
                     f"{'U4 (0.61069)':>20}")
    else:
        lines += [f"ensemble at T = {T:g} (size {size}); smaller levels are stages of the hierarchy at their thermal "
                  "scaling temperature T_level = T_c (1 + tau), compared with the exact torus energy there "
                  "(- where T_level <= 0); chi = N var(|m|) / T; U4 has no exact reference off T_c",
                  f"{'L':>6} {'T_level':>8} {'energy':>20} {'exact (torus)':>14} {'<|m|>':>20} {'chi':>22} "
                  f"{'U4':>20}"]
    for j, L in enumerate(sizes):
        v = lambda o, w=20: f"{table[o]['mean'][j]:.5f}+-{table[o]['error'][j]:.5f}".rjust(w)  # noqa: E731
        if T is None:
            lines.append(f"{int(L):6d} {v('energy')} {exact_energy[j]:18.5f} "
                         f"{v('abs_magnetization')} {v('susceptibility', 22)} {v('binder')}")
        else:
            t_text = "-" if T_level[j] is None else f"{T_level[j]:.4f}"
            e_text = "-" if np.isnan(exact_energy[j]) else f"{exact_energy[j]:.5f}"
            lines.append(f"{int(L):6d} {t_text:>8} {v('energy')} {e_text:>14} "
                         f"{v('abs_magnetization')} {v('susceptibility', 22)} {v('binder')}")
    ctx.out("\n".join(lines))
    if config["output"] or config["picture"]:
        if config["output"]:
            spins = np.empty((n, size, size), np.int8)
            parts, _ = _batches(size, n, key_spins,
                                lambda k, b: np.asarray(inverse.generate(model, size, b, k, temperature=T)), ctx.log)
            done = 0
            for p in parts:
                take = min(p.shape[0], n - done)
                spins[done:done + take] = p[:take]
                done += take
            del parts
        else:  # the picture shows the first configuration: generate the first batch only
            spins = np.asarray(inverse.generate(model, size, batch_size(size, n), key_spins if batch_size(size, n) == n
                                                else jax.random.fold_in(key_spins, 0), temperature=T))[:1]
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
            ax.set_title(f"generated {config['size']} x {config['size']} configuration at {at}")

            def save(path):
                with files.atomic_write(path, "wb") as f:
                    fig.savefig(f, format="png", dpi=100, bbox_inches="tight")

            try:
                where = files.write_with_fallback(config["picture"], save, ctx.log)
            finally:
                plt.close(fig)
            ctx.log(f"wrote {where}")
    return result


def _measure(inverse, model, size: int, b: int, key, temperature):
    """Energies and magnetisations per level of ``b`` generated configurations, as numpy arrays."""
    import numpy as np

    sizes, e, m = inverse.level_observables(model, size, b, key, temperature=temperature)
    return sizes, np.asarray(e), np.asarray(m)


register(Command(
    name="generate",
    help="inverse RG: generate critical (or, with --temperature, near-critical) configurations of any size",
    options=OPTIONS,
    execute=execute,
    description="Start from one random spin and upsample repeatedly with an inverse-RG generator (default: the "
    "pretrained three-parameter D4-symmetric one, trained to invert 2x2 majority rule on Wolff configurations at "
    "K_c) up to size x size. Prints every level's energy, |m|, susceptibility and Binder cumulant with jackknife "
    "errors, against the exact critical energy of the same torus. With --temperature T the shipped thermal generator "
    "(or a ThermalGenerator file) runs the thermal scaling field backwards in scale so that the final level is at T; "
    "the table then gives every level's scaling temperature and the exact torus energy there. Train a new generator "
    "with the [inverse] section of `jaxrg run`.",
))
