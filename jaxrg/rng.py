"""Fast counter-based random bits for lattice updates.

Drawing one ``uint32`` per updated site with JAX's default threefry costs far more than the Metropolis update itself on
CPU. Lattice kernels therefore use a keyed counter-based hash: the bits for site ``i`` in a step are
``triple32(triple32(i ^ k1) ^ k2)``, where ``triple32`` is a bijective 32-bit integer hash with very low bias
(C. Wellons, "hash-prospector", 2018) and ``(k1, k2)`` are two words drawn from the step's JAX key with threefry.
So the stream of each step is fixed by its key (splitting, ``fold_in`` and reproducibility work as usual), the bits of
a site depend only on the key and the site's global index (domain decomposition gives identical numbers on any number
of devices), and the cost is a dozen integer operations per site. Samplers take ``rng="threefry"`` to use
``jax.random.bits`` instead, for cross-checks.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

__all__ = ["triple32", "hash_bits", "site_bits", "RNG_CHOICES"]

RNG_CHOICES = ("hash", "threefry")


def triple32(x: Array) -> Array:
    """Bijective 32-bit integer hash (Wellons' ``triple32``), elementwise on ``uint32``."""
    x = x ^ (x >> 17)
    x = x * jnp.uint32(0xED5AD4BB)
    x = x ^ (x >> 11)
    x = x * jnp.uint32(0xAC4C1B51)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x31848BAB)
    x = x ^ (x >> 14)
    return x


def site_bits(key: Array, site_index: Array) -> Array:
    """Random ``uint32`` bits for the given global site indices (``uint32``), fixed by ``key``."""
    k = jax.random.bits(key, (2,), jnp.uint32)
    return triple32(triple32(site_index.astype(jnp.uint32) ^ k[0]) ^ k[1])


def hash_bits(key: Array, shape: tuple[int, ...], rng: str = "hash") -> Array:
    """``uint32`` random bits of ``shape``: the counter-based hash (default) or JAX's threefry (``rng="threefry"``)."""
    if rng == "threefry":
        return jax.random.bits(key, shape, jnp.uint32)
    if rng != "hash":
        raise ValueError(f"rng must be one of {RNG_CHOICES}, got {rng!r}")
    size = 1
    for d in shape:
        size *= d
    if size >= 2**32:
        raise ValueError(f"at most 2^32 random words per call, asked for shape {shape}")
    counter = jax.lax.iota(jnp.uint32, size).reshape(shape)
    return site_bits(key, counter)
