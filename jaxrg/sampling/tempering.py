"""Replica exchange (parallel tempering) across the temperature axis of a ``(n_T, chains)`` batch.

Every ``exchange_every`` kernel steps, neighbouring temperatures ``(i, i + 1)`` of each chain column propose to swap
their configurations, alternately the even pairs ``(0, 1), (2, 3), ...`` and the odd pairs ``(1, 2), (3, 4), ...``
(so that every proposed pair is disjoint). A swap of configurations ``x_i`` at ``beta_i`` and ``x_j`` at ``beta_j``
is accepted with probability

    min(1, exp((beta_i - beta_j) (E(x_i) - E(x_j)))),

where ``E = -sum_<ij> s_i s_j - H sum_i s_i`` is the TOTAL energy of the configuration in units of J (the field
``H = h T`` is the same at every temperature). This is the Metropolis rule for the product distribution of all
replicas, so detailed balance holds exactly and every temperature keeps its Boltzmann distribution. (Using the
energy per spin instead would rescale the exponent by ``1/N`` and sample the wrong distribution.)

Configurations move, temperatures stay: observables stay per temperature without bookkeeping, and ``replica``, the
identity of the replica now at each temperature, is carried along so that each replica's walk in temperature can be
followed (:func:`round_trip_times`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg import ising

__all__ = ["ExchangeState", "ExchangeInfo", "ReplicaExchange", "total_energy", "swap_acceptance", "round_trip_times"]


class ExchangeState(NamedTuple):
    """The batched sampler state with the replica bookkeeping.

    Attributes:
        inner: the ``(n_T, chains)`` state of the sampler.
        replica: ``(n_T, chains)`` int32, the replica now at each temperature (at the start, replica ``i`` is at
            temperature ``i``).
        step: int32 scalar, kernel steps done (swaps follow every ``exchange_every``-th step).
    """

    inner: Any
    replica: Array
    step: Array

    @property
    def spins(self) -> Array:
        """The ``(n_T, chains, L, L)`` configurations, ordered by temperature."""
        return self.inner.spins


class ExchangeInfo(NamedTuple):
    """The sampler's info plus swap statistics.

    Attributes:
        inner: the sampler's info, ``(n_T, chains)`` leaves.
        acceptance, sweeps: the sampler's acceptance and work in sweeps (as every info has).
        swap_attempted: ``(n_T, chains)``, 1 where the pair ``(t, t + 1)`` was proposed in this step (last row 0).
        swap_accepted: ``(n_T, chains)``, 1 where that swap was accepted.
    """

    inner: Any
    acceptance: Array
    sweeps: Array
    swap_attempted: Array
    swap_accepted: Array


def total_energy(spins: Array, field: Array) -> Array:
    """Total energy ``-sum_<ij> s_i s_j - H sum_i s_i`` (units of J) of each configuration, ``(...)``."""
    n = spins.shape[-1] * spins.shape[-2]
    return n * (ising.energy_per_spin(spins) - field * ising.magnetization_per_spin(spins))


def swap_acceptance(beta: Array, energy: Array, parity: Array) -> tuple[Array, Array]:
    """Which neighbouring pairs are proposed (``t % 2 == parity``) and their acceptance probabilities.

    Args:
        beta: ``(n_T,)`` inverse temperatures.
        energy: ``(n_T, chains)`` total energies.
        parity: 0 for the pairs ``(0, 1), (2, 3), ...``, 1 for ``(1, 2), (3, 4), ...`` (traced).

    Returns:
        ``(proposed, probability)``, each ``(n_T - 1, chains)`` for the pairs ``(t, t + 1)``.
    """
    n_T = beta.shape[0]
    t = jnp.arange(n_T - 1)
    proposed = jnp.broadcast_to(((t % 2) == parity)[:, None], (n_T - 1, energy.shape[1]))
    log_ratio = (beta[:-1] - beta[1:])[:, None] * (energy[:-1] - energy[1:])
    return proposed, jnp.exp(jnp.minimum(log_ratio, 0.0))


def _swap_pairs(x: Array, accept: Array) -> Array:
    """Exchange rows ``t`` and ``t + 1`` of ``x`` (leading axes ``(n_T, chains)``) where ``accept[t]``."""
    n_T = x.shape[0]
    lower = jnp.concatenate([accept, jnp.zeros_like(accept[:1])], axis=0)  # row t takes row t + 1
    upper = jnp.concatenate([jnp.zeros_like(accept[:1]), accept], axis=0)  # row t + 1 takes row t
    idx = jnp.arange(n_T)
    shape = (n_T, accept.shape[1]) + (1,) * (x.ndim - 2)
    source = jnp.where(lower, idx[:, None] + 1, jnp.where(upper, idx[:, None] - 1, idx[:, None]))
    return jnp.take_along_axis(x, source.reshape(shape).astype(jnp.int32), axis=0)


@dataclasses.dataclass(frozen=True)
class ReplicaExchange:
    """A batched kernel with replica-exchange swaps across its temperature axis every ``exchange_every`` steps.

    ``kernel(key, state, params)`` with ``state`` an :class:`ExchangeState` and ``params`` the couplings of the
    batch (``K = 1/T`` and ``h = H/T``, shape ``(n_T,)``, temperatures in any order); ``batched`` is the
    ``(n_T, chains)`` kernel (e.g. :class:`~jaxrg.sampling.base.BatchedKernel`). Frozen and hashable.
    """

    batched: Callable[..., tuple[Any, Any]]
    exchange_every: int
    n_temperatures: int | None = None  # rows beyond it (padding of a sharded batch) never swap

    def init(self, inner: Any) -> ExchangeState:
        """The exchange state around a batched sampler state (replica ``t`` starts at temperature ``t``)."""
        n_T, chains = inner.spins.shape[:2]
        replica = jnp.broadcast_to(jnp.arange(n_T, dtype=jnp.int32)[:, None], (n_T, chains))
        return ExchangeState(inner, replica, jnp.zeros((), jnp.int32))

    def __call__(self, key: Array, state: ExchangeState, params: ising.Couplings) -> tuple[ExchangeState, Any]:
        key_step, key_swap = jax.random.split(key)
        inner, info = self.batched(key_step, state.inner, params)
        step = state.step + 1
        beta = params.K
        field = params.h / params.K  # H in units of J, the same at every temperature
        energy = total_energy(inner.spins, field[:, None])
        parity = (step // self.exchange_every) % 2
        proposed, probability = swap_acceptance(beta, energy, parity)
        if self.n_temperatures is not None:  # keep the padding rows of a sharded batch out of every pair
            proposed = proposed & (jnp.arange(proposed.shape[0]) < self.n_temperatures - 1)[:, None]
        u = jax.random.uniform(key_swap, probability.shape, probability.dtype)
        exchange_now = (step % self.exchange_every) == 0
        accept = proposed & (u < probability) & exchange_now
        inner = jax.tree.map(lambda x: _swap_pairs(x, accept), inner)
        replica = _swap_pairs(state.replica, accept)
        pad = lambda x: jnp.concatenate([x, jnp.zeros_like(x[:1])], axis=0).astype(jnp.float32)  # noqa: E731
        out = ExchangeInfo(info, info.acceptance, info.sweeps, pad(proposed & exchange_now), pad(accept))
        return ExchangeState(inner, replica, step), out


def round_trip_times(replica_series: np.ndarray) -> np.ndarray:
    """Round-trip times of every replica between the lowest and the highest temperature, in measurements.

    A round trip is a walk from temperature index 0 to ``n_T - 1`` and back to 0 (or the reverse); its time is the
    number of measurements between its two visits to the starting end.

    Args:
        replica_series: ``(n_T, chains, n)`` integer array, the replica at each temperature at each measurement.

    Returns:
        1D float array of all completed round-trip times (empty if none completed).
    """
    series = np.asarray(replica_series)
    n_T, chains, n = series.shape
    # position[r, c, k]: temperature index of replica r in column c at measurement k
    position = np.argsort(series, axis=0)
    times = []
    for c in range(chains):
        for r in range(n_T):
            walk = position[r, c]
            last_end, start, direction = None, None, 0
            for k, t in enumerate(walk):
                end = 0 if t == 0 else (1 if t == n_T - 1 else None)
                if end is None or end == last_end:
                    continue
                if last_end is None:
                    start, last_end = k, end
                    continue
                direction += 1
                last_end = end
                if direction == 2:  # back at the end it started from
                    times.append(k - start)
                    start, direction = k, 0
    return np.asarray(times, dtype=np.float64)
