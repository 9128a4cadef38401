"""``jaxrg.simulate``: a batched Monte Carlo run of the 2D Ising model over temperatures and chains.

All temperatures and chains run as one vmapped batch through :func:`jaxrg.sampling.driver.run_chain`; the time series
are reduced to observables with error bars by :func:`jaxrg.observables.thermodynamics`.
"""

from __future__ import annotations

import functools
import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg import ising, lattice, observables, parallel
from jaxrg.observables import Timeseries
from jaxrg.sampling import SAMPLERS
from jaxrg.sampling.driver import run_chain
from jaxrg.stats import Estimate

__all__ = ["SimulationResult", "simulate", "batched_kernel"]


class SimulationResult(NamedTuple):
    """Result of :func:`simulate`; every array has a leading temperature axis (dropped for scalar ``T``).

    Attributes:
        L: lattice size.
        T: temperatures.
        energy, abs_magnetization, heat_capacity, susceptibility, binder: :class:`~jaxrg.stats.Estimate`
            (``.mean``, ``.error``), per spin (see :mod:`jaxrg.observables`).
        tau_energy, tau_abs_magnetization: integrated autocorrelation times in sweeps.
        acceptance: mean acceptance (Metropolis) or other per-step diagnostic averaged over the run, or NaN.
        sweeps_per_step: mean lattice sweeps per kernel step (1 for local samplers; <cluster>/N for Wolff).
        timeseries: :class:`~jaxrg.observables.Timeseries`, ``(n_T, chains, n_measurements)``.
        spins: final configurations, ``(n_T, chains, L, L)`` int8.
    """

    L: int
    T: np.ndarray
    energy: Estimate
    abs_magnetization: Estimate
    heat_capacity: Estimate
    susceptibility: Estimate
    binder: Estimate
    tau_energy: np.ndarray
    tau_abs_magnetization: np.ndarray
    acceptance: np.ndarray
    sweeps_per_step: np.ndarray
    timeseries: Timeseries
    spins: np.ndarray


def _positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


@functools.lru_cache(maxsize=None)
def _batched_functions(sampler: str, chains: int):
    """``init(couplings, key, spins)`` and ``step(couplings, key, state)`` over ``(n_T, chains)``, cached by name.

    The identities are stable, so kernels built from them share compiled programs (see :func:`batched_kernel`).
    """
    def init_one(c, key, spins):
        return SAMPLERS[sampler](c).init(key, spins)

    def step_one(c, key, state):
        return SAMPLERS[sampler](c).step(key, state)

    batch_init = jax.vmap(jax.vmap(init_one, in_axes=(None, 0, 0)), in_axes=(0, 0, 0))
    batch_step = jax.vmap(jax.vmap(step_one, in_axes=(None, 0, 0)), in_axes=(0, 0, 0))

    def init(couplings, key, spins):
        n_T = couplings.K.shape[0]
        return batch_init(couplings, jax.random.split(key, (n_T, chains)), spins)

    def step(couplings, key, state):
        n_T = couplings.K.shape[0]
        return batch_step(couplings, jax.random.split(key, (n_T, chains)), state)

    return init, step


def batched_kernel(sampler: str, couplings: ising.Couplings, chains: int):
    """``(init, step)`` over a batch ``(n_T, chains)``: temperatures from ``couplings`` (shape ``(n_T,)``).

    Returns:
        ``init(key, spins)`` with spins ``(n_T, chains, L, L)`` and ``step(key, state)``; each (T, chain) pair draws
        its own key from ``jax.random.split(key, (n_T, chains))``. Both are :class:`jax.tree_util.Partial` over the
        couplings, so :func:`jaxrg.sampling.driver.run_chain` compiles once per sampler, batch shape and lattice size
        and reuses the program for other temperatures.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {sampler!r}")
    init, step = _batched_functions(sampler, int(chains))
    couplings = jax.tree.map(jnp.asarray, couplings)
    # Inside the compiled chain the couplings are traced: let each factory check the concrete values here (e.g. a
    # sampler without field support rejects h != 0 now instead of returning frozen spins).
    for K, h in zip(np.ravel(np.asarray(couplings.K)), np.ravel(np.asarray(couplings.h))):
        SAMPLERS[sampler](ising.Couplings(jnp.asarray(K), jnp.asarray(h)))
    return jax.tree_util.Partial(init, couplings), jax.tree_util.Partial(step, couplings)


def _measure(state):
    s = state.spins
    return ising.energy_per_spin(s), ising.magnetization_per_spin(s)


def simulate(
    L: int,
    T,
    *,
    sampler: str = "metropolis",
    sweeps: int = 10_000,
    thermalize: int = 1_000,
    chains: int = 1,
    measure_every: int = 1,
    seed: int = 0,
    h: float = 0.0,
    initial: str = "random",
    chunk_size: int | None = None,
    progress: bool = False,
    checkpoint: str | None = None,
    devices=None,
) -> SimulationResult:
    """Sample the ``L x L`` periodic Ising model at one or many temperatures and estimate its thermodynamics.

    Args:
        L: lattice size (even, >= 4).
        T: temperature (J = k_B = 1), a scalar or 1D array; all temperatures run as one vmapped batch.
        sampler: one of ``jaxrg.sampling.SAMPLERS``: ``"metropolis"``, ``"wolff"``, ``"swendsen_wang"``, ...
        sweeps: kernel steps after thermalisation: one step is one sweep for Metropolis and Swendsen-Wang, one
            cluster flip for Wolff (``<|C|>/N`` sweeps, reported as ``sweeps_per_step``; ``sweeps``,
            ``thermalize`` and ``measure_every`` then count cluster flips). Autocorrelation times are always
            converted to sweeps, so they compare across samplers.
        thermalize: kernel steps discarded before measuring.
        chains: independent chains per temperature.
        measure_every: steps between measurements (at least 16 measurements per chain are needed).
        seed: integer seed of the whole run.
        h: magnetic field in units of J.
        initial: ``"random"`` (hot start) or ``"ordered"`` (cold start, all +1).
        chunk_size: measurements per compiled chunk (default about 20 chunks).
        progress: show a progress bar.
        checkpoint: a directory for checkpoints (``thermalize.npz``, ``measure.npz``) saved after every chunk; if it
            holds checkpoints of the same run, the run resumes from them, bitwise identical to an uninterrupted run
            (see :func:`jaxrg.io.run_chain_checkpointed`). ``None``: no checkpoints.
        devices: list of ``jax.Device`` to shard the ``(n_T, chains)`` batch over (default ``None``: all devices of
            all processes); results are bitwise identical for any device list (see :mod:`jaxrg.parallel`).

    Returns:
        :class:`SimulationResult`.

    Example:
        >>> r = jaxrg.simulate(16, [2.0, 2.269, 2.6], sweeps=2000)
        >>> r.energy.mean, r.energy.error
    """
    L = lattice.validate_size(L, name="L", minimum=4, even=True)
    T_arr = ising.validate_temperature(T)
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {sampler!r}")
    sweeps = _positive_int(sweeps, "sweeps")
    thermalize = _positive_int(thermalize, "thermalize", minimum=0)
    chains = _positive_int(chains, "chains")
    measure_every = _positive_int(measure_every, "measure_every")
    seed = _positive_int(seed, "seed", minimum=0)
    if initial not in ("random", "ordered"):
        raise ValueError(f"initial must be 'random' or 'ordered', got {initial!r}")
    n_measurements = sweeps // measure_every
    if n_measurements < 16:
        raise ValueError(
            f"sweeps // measure_every must be >= 16 measurements for error bars, got {sweeps} // {measure_every}"
        )

    T_1d = np.atleast_1d(T_arr)
    n_T = T_1d.shape[0]
    couplings = ising.couplings(T_1d, h)
    devices = parallel.resolve_devices(devices)
    sharded = parallel.sharded_batch(sampler, couplings, chains, devices) if len(devices) > 1 else None
    init, step = batched_kernel(sampler, couplings, chains) if sharded is None else (sharded.init, sharded.step)
    measure = _measure if sharded is None else sharded.measure(_measure)

    key = jax.random.key(seed)
    key_spins, key_init, key_therm, key_run = jax.random.split(key, 4)
    if initial == "random":
        spins = ising.random_spins(key_spins, L, (n_T, chains))
    else:
        spins = ising.ordered_spins(L, (n_T, chains))
    if sharded is None and devices != [jax.devices()[0]]:
        spins = jax.device_put(spins, devices[0])
    state = init(key_init, spins)
    chain = run_chain
    if checkpoint is not None:  # same chains, saved after every chunk and resumed from the saved chunks
        from jaxrg import io

        run_args = dict(L=L, T=T_1d, sampler=sampler, sweeps=sweeps, thermalize=thermalize, chains=chains,
                        measure_every=measure_every, seed=seed, h=float(h), initial=initial, chunk_size=chunk_size,
                        dtype=str(jnp.result_type(float)))

        def chain(*args, description, **kwargs):
            phase = "thermalize" if description == "thermalizing" else "measure"
            return io.run_chain_checkpointed(
                *args, checkpoint=f"{checkpoint}/{phase}.npz", fingerprint=io.fingerprint(dict(run_args, phase=phase)),
                description=description, **kwargs,
            )

    if thermalize:
        state = chain(
            step, key_therm, state, n_measurements=thermalize, chunk_size=chunk_size, progress=progress,
            description="thermalizing",
        ).state
    out = chain(
        step, key_run, state, n_measurements=n_measurements, steps_per_measurement=measure_every, measure=measure,
        chunk_size=chunk_size, progress=progress, description="measuring",
    )
    if sharded is not None:  # drop the padding temperatures; make the final state readable on every process
        out = sharded.unpad(out)
    e_series, m_series = (np.moveaxis(x, 0, -1) for x in out.measurements)  # (n_T, chains, n)
    sweeps_per_step = np.mean(np.asarray(out.info.sweeps), axis=-1)
    thermo = observables.thermodynamics(
        Timeseries(e_series, m_series), L, T_1d, sweeps_per_measurement=measure_every * sweeps_per_step
    )
    acceptance = getattr(out.info, "acceptance", None)
    acceptance = np.full(n_T, np.nan) if acceptance is None else np.mean(np.asarray(acceptance), axis=-1)
    final_spins = np.asarray(out.state.spins)

    squeeze = np.ndim(T_arr) == 0
    pick = (lambda x: x[0]) if squeeze else (lambda x: x)
    est = lambda e: Estimate(pick(e.mean), pick(e.error))  # noqa: E731
    return SimulationResult(
        L=L,
        T=pick(T_1d),
        energy=est(thermo.energy),
        abs_magnetization=est(thermo.abs_magnetization),
        heat_capacity=est(thermo.heat_capacity),
        susceptibility=est(thermo.susceptibility),
        binder=est(thermo.binder),
        tau_energy=pick(thermo.tau_energy),
        tau_abs_magnetization=pick(thermo.tau_abs_magnetization),
        acceptance=pick(acceptance),
        sweeps_per_step=pick(sweeps_per_step),
        timeseries=Timeseries(pick(e_series), pick(m_series)),
        spins=pick(final_spins),
    )
