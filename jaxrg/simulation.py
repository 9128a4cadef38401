"""``jaxrg.simulate``: a batched Monte Carlo run of a lattice model over its parameter points and chains.

One path runs every model: a :class:`Model` prepares a batched kernel, its state and its call-time parameters (the
model's own thermalisation or tuning included), :func:`run_model` runs it through
:func:`jaxrg.sampling.driver.run_chain` (checkpoints, progress) and reduces the recorded series to observables with
error bars (:func:`jaxrg.observables.thermodynamics` for the energy and magnetisation, block jackknife means for the
model's further observables). :class:`IsingModel` is the 2D Ising model behind :func:`simulate`; the phi^4 model of
:mod:`jaxrg.phi4` runs on the same path.

All parameter points and chains run as one vmapped batch: the sampler's module-level kernel, vmapped over couplings and
chains (:class:`~jaxrg.sampling.base.BatchedKernel`), takes the couplings as traced arguments, so a new temperature or
seed with the same shapes compiles nothing.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg import _checks, files, ising, lattice, observables, parallel, stats
from jaxrg._summary import summary_repr
from jaxrg.observables import Timeseries
from jaxrg.sampling import SAMPLERS, tempering
from jaxrg.sampling.base import BatchedKernel
from jaxrg.sampling.driver import run_chain
from jaxrg.stats import Estimate

__all__ = [
    "Measurement",
    "Prepared",
    "Model",
    "BatchRun",
    "run_model",
    "IsingModel",
    "SimulationResult",
    "simulate",
    "measure_spins",
    "simulation_to_tree",
    "simulation_from_tree",
]


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


# --- the one simulation path: a model prepares, run_model runs and reduces ------------------------------------------


class Measurement(NamedTuple):
    """What a model's ``measure(state, params)`` records after each group of steps; leaves ``(n_points, chains)``.

    Attributes:
        energy: energy (Ising) or action (phi^4) per site.
        magnetization: magnetisation per site.
        averaged: further per-site observables (name -> array), reported as block-jackknife means.
        recorded: series kept but not averaged (name -> array), e.g. the replica at each temperature.
    """

    energy: Array
    magnetization: Array
    averaged: dict[str, Array] = {}
    recorded: dict[str, Array] = {}


class Prepared(NamedTuple):
    """A model ready to measure: what :func:`run_model` runs.

    Attributes:
        kernel: hashable batched kernel ``kernel(key, state, params) -> (state, info)`` over ``(n_points, chains)``;
            every info has ``acceptance`` and ``sweeps``.
        state: the thermalised (and tuned) batched state.
        params: the kernel's call-time parameters (traced).
        measure: hashable ``measure(state, params) -> Measurement``.
        key: the PRNG key of the measurement run (the rest of the seed's stream went into preparing).
        unpad: maps the driver's :class:`~jaxrg.sampling.driver.ChainOutput` to the unpadded, host-readable one
            (sharded batches), or None.
    """

    kernel: Callable[..., Any]
    state: Any
    params: Any
    measure: Callable[..., Measurement]
    key: Array
    unpad: Callable[[Any], Any] | None = None


class Model(Protocol):
    """A lattice model that :func:`run_model` can simulate.

    Attributes:
        temperatures: ``(n_points,)`` temperature of each parameter point in the units of the measured energy (the
            heat capacity and susceptibility divide by it; 1 for an action such as phi^4's).
        run_args: the model's arguments as a dict of JSON-able values (part of the checkpoint fingerprint).
    """

    temperatures: np.ndarray
    run_args: dict[str, Any]

    def prepare(self, key: Array, L: int, chains: int, thermalize: int, *, chunk_size: int | None,
                progress: bool, checkpoint_of: Callable[[str], dict]) -> Prepared:
        """Initial states, thermalisation (and tuning) and the measurement kernel, from the seed's key.

        ``checkpoint_of(phase)`` gives the ``checkpoint`` / ``fingerprint`` keyword arguments of
        :func:`~jaxrg.sampling.driver.run_chain` for a named phase (empty without checkpoints).
        """
        ...


class BatchRun(NamedTuple):
    """What :func:`run_model` returns: the reduced observables and the raw material, over ``(n_points, ...)``.

    Attributes:
        thermo: :class:`~jaxrg.observables.Thermodynamics` of the energy and magnetisation series.
        averaged: name -> :class:`~jaxrg.stats.Estimate`, block-jackknife means of ``Measurement.averaged``.
        series: :class:`Measurement` of numpy series ``(n_points, chains, n)``.
        info: the kernel's info averaged over the run (numpy, leading ``n_points`` axis).
        state: the final batched state.
        params: the kernel's call-time parameters as prepared (couplings, tuned step sizes).
        sweeps_per_step: ``(n_points,)`` mean lattice sweeps per kernel step.
        acceptance: ``(n_points,)`` mean acceptance, NaN where the info has none.
    """

    thermo: observables.Thermodynamics
    averaged: dict[str, Estimate]
    series: Measurement
    info: Any
    state: Any
    params: Any
    sweeps_per_step: np.ndarray
    acceptance: np.ndarray


def run_model(
    model: Model,
    L: int,
    *,
    sweeps: int,
    thermalize: int,
    chains: int = 1,
    measure_every: int = 1,
    seed: int = 0,
    chunk_size: int | None = None,
    progress: bool = False,
    checkpoint: str | None = None,
    description: str = "measuring",
) -> BatchRun:
    """Prepare ``model``, run its batched kernel for ``sweeps`` steps measuring every ``measure_every``, and reduce.

    Args:
        model: a :class:`Model` (e.g. :class:`IsingModel`, :class:`jaxrg.phi4.Phi4Model`).
        L: lattice size (each model's ``prepare`` validates it by its own rules).
        sweeps, thermalize, chains, measure_every, seed, chunk_size, progress, checkpoint: as in :func:`simulate`
            (``thermalize`` is handed to the model, whose preparation decides what a thermalisation step is).
        description: label of the measurement progress bar.

    Returns:
        :class:`BatchRun`.
    """
    sweeps = _checks.integer(sweeps, "sweeps", minimum=1)
    thermalize = _checks.integer(thermalize, "thermalize", minimum=0)
    chains = _checks.integer(chains, "chains", minimum=1)
    measure_every = _checks.integer(measure_every, "measure_every", minimum=1)
    seed = _checks.integer(seed, "seed", minimum=0)
    n_measurements = sweeps // measure_every
    if n_measurements < 16:
        raise ValueError(
            f"sweeps // measure_every must be >= 16 measurements for error bars, got {sweeps} // {measure_every}"
        )

    def checkpoint_of(phase: str) -> dict:
        if checkpoint is None:
            return {}
        run_args = dict(model.run_args, L=L, sweeps=sweeps, thermalize=thermalize, chains=chains,
                        measure_every=measure_every, seed=seed, chunk_size=chunk_size,
                        dtype=str(jnp.result_type(float)))
        return dict(checkpoint=f"{checkpoint}/{phase}.npz", fingerprint=files.fingerprint(dict(run_args, phase=phase)))

    prepared = model.prepare(jax.random.key(seed), L, chains, thermalize, chunk_size=chunk_size, progress=progress,
                             checkpoint_of=checkpoint_of)
    out = run_chain(
        prepared.kernel, prepared.key, prepared.state, prepared.params, n_measurements=n_measurements,
        steps_per_measurement=measure_every, measure=prepared.measure, chunk_size=chunk_size, progress=progress,
        description=description, **checkpoint_of("measure"),
    )
    if prepared.unpad is not None:
        out = prepared.unpad(out)
    series = jax.tree.map(lambda x: np.moveaxis(np.asarray(x), 0, -1), out.measurements)  # (n_points, chains, n)
    info = jax.tree.map(np.asarray, out.info)
    sweeps_per_step = np.mean(info.sweeps.reshape(info.sweeps.shape[0], -1), axis=-1)
    acceptance = getattr(info, "acceptance", None)
    n_points = series.energy.shape[0]
    acceptance = (np.full(n_points, np.nan) if acceptance is None
                  else np.mean(acceptance.reshape(n_points, -1), axis=-1))
    thermo = observables.thermodynamics(
        Timeseries(series.energy, series.magnetization), L, model.temperatures,
        sweeps_per_measurement=measure_every * sweeps_per_step,
    )
    averaged = {name: _blocked_mean(x) for name, x in series.averaged.items()}
    return BatchRun(thermo, averaged, series, info, out.state, prepared.params, sweeps_per_step, acceptance)


def _blocked_mean(series: np.ndarray) -> Estimate:
    """Block-jackknife mean and error of ``(n_points, chains, n)`` series per point (float64)."""
    n_points, chains, n = series.shape
    nb = observables.blocks_per_chain(chains, n)
    with jax.enable_x64(True):
        x = np.asarray(series, np.float64)
        blocked = jnp.moveaxis(stats.block_means(x, nb, axis=-1).reshape(n_points, chains * nb), -1, 0)
        est = stats.jackknife(_identity, blocked)
    return Estimate(np.asarray(est.mean), np.asarray(est.error))


def _identity(x):
    return x


# --- the 2D Ising model -------------------------------------------------------------------------------------------


def initial_spins(initial: str, key: Array, L: int, batch: tuple[int, ...]) -> Array:
    """Starting configurations ``batch + (L, L)``: ``"random"``, ``"ordered"`` or ``"generated"`` (see simulate)."""
    if initial == "random":
        return ising.random_spins(key, L, batch)
    if initial == "ordered":
        return ising.ordered_spins(L, batch)
    from jaxrg.rg import inverse

    n = int(np.prod(batch))
    return inverse.generate(inverse.load_pretrained(), L, n, key).reshape(*batch, L, L)


def measure_spins(state: Any, params: Any = None) -> Measurement:
    """Energy and magnetisation per spin of a state exposing ``state.spins`` (the measurement of :func:`simulate`)."""
    del params
    s = state.spins
    return Measurement(ising.energy_per_spin(s), ising.magnetization_per_spin(s))


def measure_spins_and_replica(state: Any, params: Any = None) -> Measurement:
    """:func:`measure_spins` plus the replica at each temperature (replica exchange)."""
    return measure_spins(state, params)._replace(recorded={"replica": state.replica})


@dataclasses.dataclass(frozen=True, eq=False)
class IsingModel:
    """The 2D Ising model at temperatures ``T`` and field ``h`` with a spin sampler: the model of :func:`simulate`.

    The arguments are checked at construction (ValueError naming the parameter); ``prepare`` draws the initial
    configurations, initialises the sampler states, thermalises with the measurement kernel and, with
    ``exchange_every``, wraps the kernel in :class:`~jaxrg.sampling.tempering.ReplicaExchange`.

    Attributes:
        T: ``(n_T,)`` temperatures.
        h: magnetic field in units of J, one for all temperatures or ``(n_T,)``.
        sampler: a name in ``jaxrg.sampling.SAMPLERS``.
        initial: ``"random"``, ``"ordered"`` or ``"generated"``.
        devices: resolved device list (more than one: the batch is sharded, :mod:`jaxrg.parallel`).
        exchange_every: replica exchange period in kernel steps, or None.
    """

    T: np.ndarray
    h: float | np.ndarray = 0.0
    sampler: str = "metropolis"
    initial: str = "random"
    devices: tuple = ()
    exchange_every: int | None = None

    def __post_init__(self):  # validated (and normalised) once, at construction
        T = np.atleast_1d(ising.validate_temperature(self.T))
        if T.ndim != 1:
            raise ValueError(f"T must be a scalar or 1D array of temperatures, got shape {T.shape}")
        h = self.h
        if np.ndim(h) == 0:
            h = _checks.real(h, "h")
        else:
            h = np.asarray(h, np.float64)
            if h.shape != T.shape or not np.all(np.isfinite(h)):
                raise ValueError(f"h must be a finite scalar or one value per temperature {T.shape}, got {self.h!r}")
        object.__setattr__(self, "T", T)
        object.__setattr__(self, "h", h)
        object.__setattr__(self, "sampler", _checks.choice(self.sampler, "sampler", sorted(SAMPLERS)))
        object.__setattr__(self, "initial", _checks.choice(self.initial, "initial", ("random", "ordered", "generated")))
        if self.exchange_every is not None:
            every = _checks.integer(self.exchange_every, "exchange_every", minimum=1)
            object.__setattr__(self, "exchange_every", every)
            steps = np.diff(T)
            if steps.size == 0 or not (np.all(steps > 0) or np.all(steps < 0)):
                raise ValueError("exchange_every needs >= 2 temperatures in strictly increasing or decreasing order "
                                 f"(swaps are between neighbours), got T = {T}")

    @property
    def temperatures(self) -> np.ndarray:
        return self.T

    @property
    def run_args(self) -> dict[str, Any]:
        args = dict(T=self.T, sampler=self.sampler, h=self.h, initial=self.initial)
        if self.exchange_every is not None:
            args["exchange_every"] = self.exchange_every
        return args

    def prepare(self, key: Array, L: int, chains: int, thermalize: int, *, chunk_size: int | None = None,
                progress: bool = False, checkpoint_of: Callable[[str], dict] = lambda phase: {}) -> Prepared:
        L = lattice.validate_size(L, name="L", minimum=4, even=True)
        n_T = self.T.shape[0]
        sampler = SAMPLERS[self.sampler]
        couplings = ising.couplings(self.T, self.h)
        if sampler.check_params is not None:
            sampler.check_params(couplings)
        devices = list(self.devices) or [jax.devices()[0]]
        sharded = parallel.sharded_batch(self.sampler, couplings, chains, devices) if len(devices) > 1 else None
        key_spins, key_init, key_therm, key_run = jax.random.split(key, 4)
        spins = initial_spins(self.initial, key_spins, L, (n_T, chains))
        if sharded is None:
            kernel, params, unpad = BatchedKernel(sampler.build_kernel(), chains), couplings, None
            measure = measure_spins
            if devices != [jax.devices()[0]]:
                spins = jax.device_put(spins, devices[0])
            state = _batched_init(sampler.init, spins, jax.random.split(key_init, (n_T, chains)))
        else:
            kernel, params, unpad = sharded.kernel, sharded.params, sharded.unpad
            measure = sharded.measure(measure_spins)
            state = sharded.init(spins, key_init)
        if self.exchange_every is not None:
            kernel = tempering.ReplicaExchange(kernel, self.exchange_every, n_T)
            state = kernel.init(state)
            measure = measure_spins_and_replica if sharded is None else sharded.measure(measure_spins_and_replica)
        if thermalize:
            state = run_chain(
                kernel, key_therm, state, params, n_measurements=thermalize, chunk_size=chunk_size,
                progress=progress, description="thermalizing", **checkpoint_of("thermalize"),
            ).state
        return Prepared(kernel, state, params, measure, key_run, unpad)


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
        h: magnetic field in units of J: a scalar, or one value per temperature.
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
    T_1d = np.atleast_1d(T_arr)
    model = IsingModel(T_1d, h, sampler, initial, tuple(parallel.resolve_devices(devices)), exchange_every)
    run = run_model(model, L, sweeps=sweeps, thermalize=thermalize, chains=chains, measure_every=measure_every,
                    seed=seed, chunk_size=chunk_size, progress=progress, checkpoint=checkpoint)
    exchange = None
    if exchange_every is not None:
        spm = _checks.integer(measure_every, "measure_every", minimum=1) * float(np.mean(run.sweeps_per_step))
        exchange = _exchange_result(run.info, run.series.recorded["replica"], T_1d.shape[0], spm)

    squeeze = np.ndim(T_arr) == 0
    pick = (lambda x: x[0]) if squeeze else (lambda x: x)
    est = lambda e: Estimate(pick(e.mean), pick(e.error))  # noqa: E731
    thermo = run.thermo
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
        acceptance=pick(run.acceptance),
        sweeps_per_step=pick(run.sweeps_per_step),
        timeseries=Timeseries(pick(run.series.energy), pick(run.series.magnetization)),
        spins=pick(np.asarray(run.state.spins)),
        exchange=exchange,
    )


def _exchange_result(info: Any, replica: np.ndarray, n_T: int, sweeps_per_measurement: float) -> ExchangeResult:
    """Swap acceptance per pair and round-trip times from the run's info and the ``(n_T, chains, n)`` replica walk."""
    attempted = np.sum(np.asarray(info.swap_attempted)[: n_T - 1], axis=-1)
    accepted = np.sum(np.asarray(info.swap_accepted)[: n_T - 1], axis=-1)
    times = tempering.round_trip_times(replica)
    return ExchangeResult(
        swap_acceptance=np.where(attempted > 0, accepted / np.maximum(attempted, 1e-300), np.nan),
        round_trip_time=float(np.mean(times)) * sweeps_per_measurement if times.size else float("nan"),
        round_trips=int(times.size),
        replica=replica,
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
    if result.exchange is not None:
        tree["exchange"] = {name: np.asarray(value) for name, value in result.exchange._asdict().items()}
    return tree


def simulation_from_tree(tree: dict[str, Any]):
    """Inverse of :func:`simulation_to_tree`: a :class:`jaxrg.SimulationResult` with numpy arrays."""
    kwargs = {"L": int(tree["L"])}
    kwargs.update({name: np.asarray(tree[name]) for name in _ARRAYS})
    kwargs.update({name: Estimate(np.asarray(tree[name]["mean"]), np.asarray(tree[name]["error"]))
                   for name in _ESTIMATES})
    kwargs["timeseries"] = Timeseries(np.asarray(tree["timeseries"]["energy"]),
                                      np.asarray(tree["timeseries"]["magnetization"]))
    if "exchange" in tree:
        x = tree["exchange"]
        kwargs["exchange"] = ExchangeResult(np.asarray(x["swap_acceptance"]), float(x["round_trip_time"]),
                                            int(x["round_trips"]), np.asarray(x["replica"]))
    return SimulationResult(**kwargs)
