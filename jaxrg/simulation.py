"""``jaxrg.simulate``: a batched Monte Carlo run of the 2D Ising model over temperatures and chains.

All temperatures and chains run as one vmapped batch: the sampler's module-level kernel, vmapped over couplings and
chains (:class:`~jaxrg.sampling.base.BatchedKernel`), runs through :func:`jaxrg.sampling.driver.run_chain` with the
couplings as traced arguments, so a new temperature or seed with the same shapes compiles nothing. The time series are
reduced to observables with error bars by :func:`jaxrg.observables.thermodynamics`.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg import _checks, files, ising, lattice, observables, parallel
from jaxrg._summary import summary_repr
from jaxrg.observables import Timeseries
from jaxrg.sampling import SAMPLERS, tempering
from jaxrg.sampling.base import BatchedKernel
from jaxrg.sampling.driver import run_chain
from jaxrg.stats import Estimate

__all__ = ["SimulationResult", "simulate", "measure_spins", "simulation_to_tree", "simulation_from_tree"]


class ExchangeResult(NamedTuple):
    """Diagnostics of replica exchange.

    Attributes:
        swap_acceptance: ``(n_T - 1,)`` accepted / proposed swaps of each neighbouring pair ``(T_t, T_t+1)``.
        round_trip_time: mean time in sweeps of a replica's round trip between the lowest and highest temperature
            (NaN if none completed); ``round_trips`` is how many completed.
        replica: ``(n_T, chains, n_measurements)`` int32, the replica at each temperature at each measurement.
    """

    swap_acceptance: np.ndarray
    round_trip_time: float
    round_trips: int
    replica: np.ndarray


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
        exchange: :class:`ExchangeResult` of a replica-exchange run (``exchange_every``), else None.
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
    exchange: ExchangeResult | None = None

    __repr__ = summary_repr  # one line: big arrays as dtype[shape]


def initial_spins(initial: str, key: Array, L: int, batch: tuple[int, ...]) -> Array:
    """Starting configurations ``batch + (L, L)``: ``"random"``, ``"ordered"`` or ``"generated"`` (see simulate)."""
    if initial == "random":
        return ising.random_spins(key, L, batch)
    if initial == "ordered":
        return ising.ordered_spins(L, batch)
    from jaxrg.rg import inverse

    n = int(np.prod(batch))
    return inverse.generate(inverse.load_pretrained(), L, n, key).reshape(*batch, L, L)


def measure_spins_and_replica(state: Any, params: Any = None) -> tuple[Array, Array, Array]:
    """:func:`measure_spins` plus the replica at each temperature (replica exchange)."""
    return (*measure_spins(state, params), state.replica)


def _exchange_result(out: Any, n_T: int, sweeps_per_measurement: float) -> ExchangeResult:
    info = out.info
    attempted = np.sum(np.asarray(info.swap_attempted)[: n_T - 1], axis=-1)
    accepted = np.sum(np.asarray(info.swap_accepted)[: n_T - 1], axis=-1)
    replica = np.moveaxis(np.asarray(out.measurements[2]), 0, -1)  # (n_T, chains, n)
    times = tempering.round_trip_times(replica)
    return ExchangeResult(
        swap_acceptance=np.where(attempted > 0, accepted / np.maximum(attempted, 1e-300), np.nan),
        round_trip_time=float(np.mean(times)) * sweeps_per_measurement if times.size else float("nan"),
        round_trips=int(times.size),
        replica=replica,
    )


def measure_spins(state: Any, params: Any = None) -> tuple[Array, Array]:
    """Energy and magnetisation per spin of a state exposing ``state.spins`` (the measurement of :func:`simulate`)."""
    del params
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
    exchange_every: int | None = None,
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
        initial: ``"random"`` (hot start), ``"ordered"`` (cold start, all +1) or ``"generated"`` (warm start:
            critical configurations dreamt up at size L by the pretrained inverse-RG generator,
            :func:`jaxrg.rg.inverse.generate`; L must be ``start * 2^k``, k >= 1, e.g. a power of 2).
        chunk_size: measurements per compiled chunk (default about 20 chunks).
        progress: show a progress bar.
        checkpoint: a directory for checkpoints (``thermalize.npz``, ``measure.npz``) saved after every chunk; if it
            holds checkpoints of the same run, the run resumes from them, bitwise identical to an uninterrupted run
            (see :func:`jaxrg.sampling.driver.run_chain`). ``None``: no checkpoints.
        devices: list of ``jax.Device`` to shard the ``(n_T, chains)`` batch over (default ``None``: all devices of
            all processes); results are bitwise identical for any device list (see :mod:`jaxrg.parallel`).
        exchange_every: replica exchange (parallel tempering, :mod:`jaxrg.sampling.tempering`): every that many
            kernel steps, neighbouring temperatures of each chain column propose to swap configurations (total
            energies, exact detailed balance); needs >= 2 temperatures in increasing or decreasing order. ``None``
            (default): independent temperatures. The result's ``exchange`` then holds the swap acceptance per pair,
            the round-trip times and every replica's walk.

    Returns:
        :class:`SimulationResult`.

    Example:
        >>> r = jaxrg.simulate(16, [2.0, 2.269, 2.6], sweeps=2000)
        >>> r.energy.mean, r.energy.error
    """
    L = lattice.validate_size(L, name="L", minimum=4, even=True)
    T_arr = ising.validate_temperature(T)
    sampler = _checks.choice(sampler, "sampler", sorted(SAMPLERS))
    sweeps = _checks.integer(sweeps, "sweeps", minimum=1)
    thermalize = _checks.integer(thermalize, "thermalize", minimum=0)
    chains = _checks.integer(chains, "chains", minimum=1)
    measure_every = _checks.integer(measure_every, "measure_every", minimum=1)
    seed = _checks.integer(seed, "seed", minimum=0)
    initial = _checks.choice(initial, "initial", ("random", "ordered", "generated"))
    if exchange_every is not None:
        exchange_every = _checks.integer(exchange_every, "exchange_every", minimum=1)
        steps = np.diff(np.atleast_1d(T_arr))
        if steps.size == 0 or not (np.all(steps > 0) or np.all(steps < 0)):
            raise ValueError("exchange_every needs >= 2 temperatures in strictly increasing or decreasing order "
                             f"(swaps are between neighbours), got T = {np.atleast_1d(T_arr)}")
    n_measurements = sweeps // measure_every
    if n_measurements < 16:
        raise ValueError(
            f"sweeps // measure_every must be >= 16 measurements for error bars, got {sweeps} // {measure_every}"
        )

    T_1d = np.atleast_1d(T_arr)
    n_T = T_1d.shape[0]
    couplings = ising.couplings(T_1d, h)
    if SAMPLERS[sampler].check_params is not None:
        SAMPLERS[sampler].check_params(couplings)
    devices = parallel.resolve_devices(devices)
    sharded = parallel.sharded_batch(sampler, couplings, chains, devices) if len(devices) > 1 else None
    if sharded is None:
        kernel, params, measure = BatchedKernel(SAMPLERS[sampler].build_kernel(), chains), couplings, measure_spins
    else:
        kernel, params, measure = sharded.kernel, sharded.params, sharded.measure(measure_spins)

    key = jax.random.key(seed)
    key_spins, key_init, key_therm, key_run = jax.random.split(key, 4)
    spins = initial_spins(initial, key_spins, L, (n_T, chains))
    if sharded is None:
        if devices != [jax.devices()[0]]:
            spins = jax.device_put(spins, devices[0])
        state = _batched_init(SAMPLERS[sampler].init, spins, jax.random.split(key_init, (n_T, chains)))
    else:
        state = sharded.init(spins, key_init)
    if exchange_every is not None:
        kernel = tempering.ReplicaExchange(kernel, exchange_every, n_T)
        state = kernel.init(state)
        measure = measure_spins_and_replica if sharded is None else sharded.measure(measure_spins_and_replica)

    def checkpoint_of(phase: str) -> dict:
        if checkpoint is None:
            return {}
        run_args = dict(L=L, T=T_1d, sampler=sampler, sweeps=sweeps, thermalize=thermalize, chains=chains,
                        measure_every=measure_every, seed=seed, h=float(h), initial=initial, chunk_size=chunk_size,
                        dtype=str(jnp.result_type(float)))
        if exchange_every is not None:
            run_args["exchange_every"] = exchange_every
        return dict(checkpoint=f"{checkpoint}/{phase}.npz", fingerprint=files.fingerprint(dict(run_args, phase=phase)))

    if thermalize:
        state = run_chain(
            kernel, key_therm, state, params, n_measurements=thermalize, chunk_size=chunk_size, progress=progress,
            description="thermalizing", **checkpoint_of("thermalize"),
        ).state
    out = run_chain(
        kernel, key_run, state, params, n_measurements=n_measurements, steps_per_measurement=measure_every,
        measure=measure, chunk_size=chunk_size, progress=progress, description="measuring", **checkpoint_of("measure"),
    )
    if sharded is not None:  # drop the padding temperatures; make the final state readable on every process
        out = sharded.unpad(out)
    e_series, m_series = (np.moveaxis(x, 0, -1) for x in out.measurements[:2])  # (n_T, chains, n)
    sweeps_per_step = np.mean(np.asarray(out.info.sweeps), axis=-1)
    exchange = None
    if exchange_every is not None:
        exchange = _exchange_result(out, n_T, measure_every * float(np.mean(sweeps_per_step)))
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
        exchange=exchange,
    )


@functools.partial(jax.jit, static_argnames="init")
def _batched_init(init: Any, spins: Array, keys: Array) -> Any:
    """``init`` over a ``(n_T, chains)`` batch of configurations, one key per member (compiled once per shape)."""
    return jax.vmap(jax.vmap(init))(spins, keys)


# --- the result schema on disk (a nested dict of arrays for jaxrg.files.write_hdf5) -------------------------------

_ESTIMATES = ("energy", "abs_magnetization", "heat_capacity", "susceptibility", "binder")
_ARRAYS = ("T", "tau_energy", "tau_abs_magnetization", "acceptance", "sweeps_per_step", "spins")


def simulation_to_tree(result) -> dict[str, Any]:
    """A :class:`jaxrg.SimulationResult` as a nested dict of numpy arrays (for :func:`write_hdf5`)."""
    tree: dict[str, Any] = {"L": np.asarray(result.L)}
    for name in _ARRAYS:
        tree[name] = np.asarray(getattr(result, name))
    for name in _ESTIMATES:
        est = getattr(result, name)
        tree[name] = {"mean": np.asarray(est.mean), "error": np.asarray(est.error)}
    tree["timeseries"] = {"energy": np.asarray(result.timeseries.energy),
                          "magnetization": np.asarray(result.timeseries.magnetization)}
    return tree


def simulation_from_tree(tree: dict[str, Any]):
    """Inverse of :func:`simulation_to_tree`: a :class:`jaxrg.SimulationResult` with numpy arrays."""
    kwargs = {"L": int(tree["L"])}
    kwargs.update({name: np.asarray(tree[name]) for name in _ARRAYS})
    kwargs.update({name: Estimate(np.asarray(tree[name]["mean"]), np.asarray(tree[name]["error"]))
                   for name in _ESTIMATES})
    kwargs["timeseries"] = Timeseries(np.asarray(tree["timeseries"]["energy"]),
                                      np.asarray(tree["timeseries"]["magnetization"]))
    return SimulationResult(**kwargs)
