"""The 2D Ising model on an ``L x L`` periodic square lattice.

Conventions (used throughout jaxrg): J = 1, k_B = 1. The reduced Hamiltonian (energy over temperature) is

    beta H(s) = -K sum_<ij> s_i s_j - h sum_i s_i,      K = J / T,  h = H / T,

so :class:`Couplings` holds the dimensionless ``K`` and ``h``. Spins are ``int8`` in {-1, +1}. The energy per spin
reported by observables is ``e = -(1/N) sum_<ij> s_i s_j`` in units of J (the field term is not included), the
magnetisation per spin is ``m = (1/N) sum_i s_i``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg import _checks, lattice

validate_temperature = _checks.temperatures  # the one temperature check, public under the model's name

__all__ = [
    "Couplings",
    "couplings",
    "validate_temperature",
    "validate_spins",
    "energy_per_spin",
    "magnetization_per_spin",
    "reduced_hamiltonian",
    "local_field",
    "random_spins",
    "ordered_spins",
]


class Couplings(NamedTuple):
    """Dimensionless couplings of the Ising model (a pytree: vmap over it for many temperatures).

    Attributes:
        K: nearest-neighbour coupling J / T, shape ``()`` or a batch shape.
        h: magnetic field H / T, same shape as ``K``.
    """

    K: Array
    h: Array


def couplings(T, h=0.0) -> Couplings:
    """Couplings ``(K, h/T)`` for temperature(s) ``T`` and field ``h`` (both in units of J).

    Args:
        T: temperature, scalar or 1D array, finite and > 0.
        h: magnetic field in units of J (finite), broadcast against ``T``.

    Returns:
        :class:`Couplings` with arrays of the shape of ``T`` (default float dtype).
    """
    T = validate_temperature(T)
    h_arr = np.asarray(h, dtype=np.float64)
    if not np.all(np.isfinite(h_arr)):
        raise ValueError(f"h must be finite, got {h!r}")
    h_arr = np.broadcast_to(h_arr, T.shape)
    dtype = jnp.result_type(float)
    return Couplings(K=jnp.asarray(1.0 / T, dtype), h=jnp.asarray(h_arr / T, dtype))


def validate_spins(spins, *, name: str = "spins", even: bool = False, minimum: int = 2,
                   max_ndim: int | None = None) -> Array:
    """Check that ``spins`` is an ``(..., L, L)`` int8 array; returns it as a jax array.

    The one spins check of the library: every sampler's ``init`` calls it.

    Args:
        spins: the configuration(s).
        name: the parameter name used in error messages.
        even: require an even ``L`` (checkerboard layouts).
        minimum: smallest allowed ``L``.
        max_ndim: largest allowed number of axes (2: a single configuration; vmap for batches).

    Raises:
        ValueError: for a wrong dtype, a non-square last pair of axes, too many axes, or a bad size.
    """
    shape = np.shape(spins)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"{name} must have shape (..., L, L), got {shape}")
    if max_ndim is not None and len(shape) > max_ndim:
        raise ValueError(f"{name} must be one (L, L) configuration (vmap for batches), got shape {shape}")
    dtype = getattr(spins, "dtype", None)
    if dtype != jnp.int8:
        raise ValueError(f"{name} must be int8 in {{-1, +1}}, got dtype {dtype}")
    lattice.validate_size(shape[-1], name=f"{name}.shape[-1] (L)", minimum=minimum, even=even)
    return jnp.asarray(spins)


def _float(spins: Array) -> Array:
    return spins.astype(jnp.result_type(float))


def energy_per_spin(spins: Array) -> Array:
    """Nearest-neighbour energy per spin ``-(1/N) sum_<ij> s_i s_j`` (J = 1), over the last two axes."""
    s = _float(spins)
    bonds = s * (jnp.roll(s, 1, axis=-1) + jnp.roll(s, 1, axis=-2))
    return -jnp.mean(bonds, axis=(-2, -1))  # each site owns its right and lower bond: all 2N bonds once


def magnetization_per_spin(spins: Array) -> Array:
    """Magnetisation per spin ``(1/N) sum_i s_i`` over the last two axes."""
    return jnp.mean(_float(spins), axis=(-2, -1))


def reduced_hamiltonian(spins: Array, couplings: Couplings) -> Array:
    """Total ``beta H = -K sum_<ij> s_i s_j - h sum_i s_i`` of each configuration."""
    n = spins.shape[-1] * spins.shape[-2]
    return n * (couplings.K * energy_per_spin(spins) - couplings.h * magnetization_per_spin(spins))


def local_field(spins: Array, couplings: Couplings) -> Array:
    """Dimensionless local field ``K * (sum of neighbours) + h`` at every site, ``(..., L, L)``."""
    return couplings.K * _float(lattice.neighbour_sum(spins)) + couplings.h


def random_spins(key: Array, L: int, shape: tuple[int, ...] = ()) -> Array:
    """Independent uniformly random spins (infinite-temperature state), ``shape + (L, L)`` int8."""
    L = lattice.validate_size(L)
    return jnp.where(jax.random.bernoulli(key, 0.5, (*shape, L, L)), 1, -1).astype(jnp.int8)


def ordered_spins(L: int, shape: tuple[int, ...] = (), sign: int = 1) -> Array:
    """All spins equal to ``sign`` (+1 or -1), ``shape + (L, L)`` int8 (zero-temperature state)."""
    L = lattice.validate_size(L)
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 or -1, got {sign!r}")
    return jnp.full((*shape, L, L), sign, dtype=jnp.int8)

