"""Checkerboard Metropolis for the 2D Ising model, in the compact two-colour layout.

One step is one sweep: all black sites, then all white sites, each flipped with probability
``min(1, exp(-2 s (K n + h)))`` where ``n`` is the neighbour sum. The random numbers are raw ``uint32`` bits (one per
updated site, nothing wasted on the other colour) compared against integer thresholds precomputed once per step from
the ten possible (spin, neighbour sum) pairs, so no ``exp`` is evaluated per site.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from jaxrg import _checks, ising, lattice, rng as rng_lib
from jaxrg.ising import Couplings
from jaxrg.sampling.base import BoundKernel, SamplingAlgorithm, Sampler, closed_over

__all__ = ["MetropolisState", "MetropolisInfo", "init", "kernel", "build_kernel", "as_sampling_algorithm", "metropolis",
           "acceptance_thresholds"]

_THRESHOLD_SCALE = 2.0**31  # compare 31 random bits against floor(p * 2^31); p = 1 gives 2^31 > any draw


class MetropolisState(NamedTuple):
    """Spins in the compact layout: ``black`` and ``white`` are ``(L, L/2)`` int8 (see :mod:`jaxrg.lattice`)."""

    black: Array
    white: Array

    @property
    def spins(self) -> Array:
        """The ``(L, L)`` int8 configuration."""
        return lattice.merge_checkerboard(self.black, self.white)


class MetropolisInfo(NamedTuple):
    """Diagnostics of one sweep: fraction of accepted flips and work done (1 sweep)."""

    acceptance: Array
    sweeps: Array


def acceptance_thresholds(couplings: Couplings) -> Array:
    """Integer thresholds ``floor(p * 2^31)`` for the ten (spin, neighbour sum) cases, shape ``(10,)`` uint32.

    Index ``(s * n + 4) // 2 + 5 * (s > 0)`` selects ``p = min(1, exp(-2 s (K n + h)))``.
    """
    sn = jnp.arange(-4, 5, 2)
    K = jnp.asarray(couplings.K)
    h = jnp.asarray(couplings.h)
    p_down = jnp.minimum(1.0, jnp.exp(-2.0 * (K * sn - h)))  # s = -1: s*h = -h
    p_up = jnp.minimum(1.0, jnp.exp(-2.0 * (K * sn + h)))
    p = jnp.concatenate([p_down, p_up])
    return jnp.floor(p * _THRESHOLD_SCALE).astype(jnp.uint32)


def _flat_neighbour_sum(other: Array, colour: int) -> Array:
    """:func:`jaxrg.lattice.compact_neighbour_sum` on the flattened ``(L * L/2,)`` colour array.

    Same values; written on one flat axis because XLA's CPU code for the 2D version (a row-parity select between two
    column rolls) ran about 20% slower.
    """
    L, n = other.shape
    flat = other.reshape(-1)
    j = jax.lax.iota(jnp.int32, L * n)
    column = j % n
    left = jnp.where(column == 0, jnp.roll(flat, -(n - 1)), jnp.roll(flat, 1))  # k - 1, periodic within the row
    right = jnp.where(column == n - 1, jnp.roll(flat, n - 1), jnp.roll(flat, -1))  # k + 1
    even_row = (j // n) % 2 == 0
    horizontal = jnp.where(even_row, left, right) if colour == 0 else jnp.where(even_row, right, left)
    return jnp.roll(flat, n) + jnp.roll(flat, -n) + flat + horizontal


def _update_colour(
    key: Array, spins: Array, other: Array, colour: int, thresholds: Array, rng: str
) -> tuple[Array, Array]:
    s = spins.reshape(-1)
    sn = s * _flat_neighbour_sum(other, colour)
    # thresholds[(sn + 4) // 2 + 5 * (s > 0)] as a chain of selects: XLA CPU runs the table gather (jnp.take) about
    # 2x slower than the whole rest of the update.
    up = s > 0
    entry = lambda k: jnp.where(up, thresholds[k + 5], thresholds[k])  # noqa: E731
    threshold = jnp.where(
        sn == 4, entry(4), jnp.where(sn == 2, entry(3), jnp.where(sn == 0, entry(2), jnp.where(sn == -2, entry(1),
                                                                                               entry(0))))
    )
    bits = rng_lib.hash_bits(key, s.shape, rng) >> 1  # same counters, row-major, as for the (L, L/2) shape
    accept = bits < threshold
    return jnp.where(accept, -s, s).reshape(spins.shape), jnp.mean(accept.astype(jnp.float32))


def init(spins: Array, key: Array | None = None) -> MetropolisState:
    """The Metropolis state of ``(L, L)`` int8 spins (L even, for the checkerboard); ``key`` is unused."""
    del key
    spins = ising.validate_spins(spins, even=True, max_ndim=2)
    return MetropolisState(*lattice.split_checkerboard(spins))


def kernel(key: Array, state: MetropolisState, couplings: Couplings, *, rng: str = "hash"
           ) -> tuple[MetropolisState, MetropolisInfo]:
    """One checkerboard sweep at couplings ``(K, h)`` (scalars, traced): black sites, then white sites."""
    thresholds = acceptance_thresholds(couplings)
    key_black, key_white = jax.random.split(key)
    black, acc_b = _update_colour(key_black, state.black, state.white, 0, thresholds, rng)
    white, acc_w = _update_colour(key_white, state.white, black, 1, thresholds, rng)
    info = MetropolisInfo(acceptance=0.5 * (acc_b + acc_w), sweeps=jnp.ones((), jnp.float32))
    return MetropolisState(black, white), info


def build_kernel(*, rng: str = "hash") -> BoundKernel:
    """The Metropolis kernel ``kernel(key, state, couplings) -> (MetropolisState, MetropolisInfo)``.

    Args:
        rng: ``"hash"`` (fast counter-based bits, see :mod:`jaxrg.rng`) or ``"threefry"`` (``jax.random.bits``).
    """
    return BoundKernel(kernel, (("rng", _checks.choice(rng, "rng", rng_lib.RNG_CHOICES)),))


def as_sampling_algorithm(couplings: Couplings, *, rng: str = "hash") -> SamplingAlgorithm:
    """Checkerboard Metropolis at fixed couplings ``(K, h)`` (scalars; vmap for batches).

    Args:
        couplings: :class:`~jaxrg.ising.Couplings` with scalar ``K`` and ``h``.
        rng: ``"hash"`` (fast counter-based bits, see :mod:`jaxrg.rng`) or ``"threefry"`` (``jax.random.bits``).

    Returns:
        :class:`~jaxrg.sampling.base.SamplingAlgorithm` with ``init(spins)`` (spins ``(L, L)`` int8, L even) and
        ``step(key, state) -> (MetropolisState, MetropolisInfo)``; one step is one full sweep.
    """
    return closed_over(init, build_kernel(rng=rng), couplings)


metropolis = Sampler("metropolis", init, build_kernel, as_sampling_algorithm)
