"""Fortuin-Kasteleyn bonds and cluster finding on the periodic square lattice, as pure array code for cluster samplers.

Bonds are stored per site: ``right[i, j]`` is the bond ``(i, j) - (i, j + 1)`` and ``down[i, j]`` the bond
``(i, j) - (i + 1, j)`` (indices mod L), so the two ``(L, L)`` boolean arrays hold all 2N bonds once. A bond between
equal spins is active with probability ``p = 1 - exp(-2K)``; bonds between unequal spins are never active
(Fortuin-Kasteleyn / Swendsen-Wang construction). The random numbers are raw 31-bit integers compared against the
integer threshold ``floor(p * 2^31)``, one word per bond and step.

Two cluster finders, both ``lax.while_loop`` over whole-lattice array operations (no Python loop over sites, so they
run on GPU and vmap):

- :func:`grow_cluster`: breadth-first frontier expansion from one seed site (Wolff). Iterations = chemical distance
  from the seed to the farthest site of its cluster; the masks are bit-packed (8 to 32 sites per word) when L is a
  multiple of 8, so each iteration is a handful of word operations on N/32 words.
- :func:`label_clusters`: connected-component labelling of every cluster (Swendsen-Wang) by label equivalence:
  root hooking with a scatter-min and full pointer jumping; a few iterations even for percolating clusters. Every
  site ends up pointing at the smallest site index of its cluster.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from jaxrg import ising, rng as rng_lib

__all__ = [
    "ClusterState",
    "init",
    "bond_probability_threshold",
    "random_words",
    "uniform_from_word",
    "active_bonds",
    "grow_cluster",
    "grow_cluster_unpacked",
    "packing_width",
    "pack_columns",
    "unpack_columns",
    "label_clusters",
    "cluster_sizes",
]

_THRESHOLD_SCALE = 2.0**31  # compare 31 random bits against floor(p * 2^31)


class ClusterState(NamedTuple):
    """The state of the cluster samplers (Wolff, Swendsen-Wang): ``spins`` is ``(L, L)`` int8 in {-1, +1}."""

    spins: Array


def init(spins: Array, key: Array | None = None) -> ClusterState:
    """The cluster-sampler state of one ``(L, L)`` int8 configuration; ``key`` is unused."""
    del key
    return ClusterState(ising.validate_spins(spins, max_ndim=2))


def bond_probability_threshold(K: Array) -> Array:
    """Integer threshold ``floor((1 - exp(-2K)) * 2^31)`` (uint32) of the Fortuin-Kasteleyn bond probability."""
    p_bond = -jnp.expm1(-2.0 * jnp.asarray(K))
    return jnp.floor(p_bond * _THRESHOLD_SCALE).astype(jnp.uint32)


def random_words(key: Array, n: int, rng: str = "threefry") -> Array:
    """``n`` raw uint32 random words from one flat draw.

    Args:
        key: PRNG key.
        n: number of words (static).
        rng: ``"threefry"`` (``jax.random.bits``; one flat draw, since a multi-dimensional draw compiles several
            times slower) or ``"hash"`` (counter-based bits of :mod:`jaxrg.rng`).
    """
    return rng_lib.hash_bits(key, (n,), rng)


def uniform_from_word(word: Array) -> Array:
    """Uniform float32 in ``[0, 1)`` from the top 24 bits of a uint32 word (exact multiples of 2^-24)."""
    return (word >> 8).astype(jnp.float32) * jnp.float32(2.0**-24)


def active_bonds(words: Array, spins: Array, K: Array) -> tuple[Array, Array]:
    """The active Fortuin-Kasteleyn bonds of a configuration, one random word per bond.

    Args:
        words: ``(2 * L * L,)`` uint32 random words (see :func:`random_words`), consumed here.
        spins: ``(L, L)`` int8 spins.
        K: coupling ``J / T`` (scalar).

    Returns:
        ``(right, down)``, each ``(L, L)`` bool: bond to the right / lower neighbour is active.
    """
    threshold = bond_probability_threshold(K)
    bits = (words >> 1).reshape(2, *spins.shape)
    right = (spins == jnp.roll(spins, -1, axis=-1)) & (bits[0] < threshold)
    down = (spins == jnp.roll(spins, -1, axis=-2)) & (bits[1] < threshold)
    return right, down


def _bonded_neighbours(mask: Array, right: Array, down: Array) -> Array:
    """Sites joined by an active bond to at least one site of ``mask`` (bool ``(L, L)``)."""
    from_left = jnp.roll(mask & right, 1, axis=-1)
    from_right = jnp.roll(mask, -1, axis=-1) & right
    from_above = jnp.roll(mask & down, 1, axis=-2)
    from_below = jnp.roll(mask, -1, axis=-2) & down
    return from_left | from_right | from_above | from_below


def packing_width(L: int) -> int:
    """Bits per word of the packed masks of :func:`grow_cluster`: the largest of 32, 16, 8 dividing ``L``, else 0."""
    for width in (32, 16, 8):
        if L % width == 0:
            return width
    return 0


_UINT = {32: jnp.uint32, 16: jnp.uint16, 8: jnp.uint8}


def pack_columns(mask: Array, width: int) -> Array:
    """Pack an ``(L, L)`` bool mask into ``(L / width, L)`` words: bit ``k`` of word ``[r, j]`` is site ``(kS + r, j)``.

    ``S = L / width``. Horizontal neighbours are then neighbouring words of a row (``roll`` along axis 1) and vertical
    neighbours the next word row, or a one-bit rotation at the seam (see :func:`_packed_from_above`).
    """
    L = mask.shape[-1]
    dtype = _UINT[width]
    planes = mask.reshape(width, L // width, L).astype(dtype)
    shifts = jnp.arange(width, dtype=dtype)[:, None, None]
    return jnp.sum(planes << shifts, axis=0, dtype=dtype)  # distinct bits: the sum is an OR


def unpack_columns(words: Array) -> Array:
    """Inverse of :func:`pack_columns`: ``(S, L)`` words back to the ``(L, L)`` bool mask."""
    width = jnp.iinfo(words.dtype).bits
    shifts = jnp.arange(width, dtype=words.dtype)[:, None, None]
    return ((words[None] >> shifts) & 1).astype(bool).reshape(width * words.shape[0], words.shape[1])


def _rotate_left(x: Array, width: int) -> Array:
    return (x << 1) | (x >> (width - 1))


def _rotate_right(x: Array, width: int) -> Array:
    return (x >> 1) | (x << (width - 1))


def _packed_from_above(x: Array, width: int) -> Array:
    """Packed mask whose site ``(i, j)`` holds ``x`` at ``(i - 1, j)`` (periodic)."""
    seam = _rotate_left(x[-1:], width)  # row r = 0, bit k <- row S-1, bit k-1
    return jnp.concatenate([seam, x[:-1]], axis=0)


def _packed_from_below(x: Array, width: int) -> Array:
    """Packed mask whose site ``(i, j)`` holds ``x`` at ``(i + 1, j)`` (periodic)."""
    seam = _rotate_right(x[:1], width)  # row r = S-1, bit k <- row 0, bit k+1
    return jnp.concatenate([x[1:], seam], axis=0)


def _grow_cluster_packed(seed: Array, right: Array, down: Array, width: int, substeps: int) -> Array:
    L = right.shape[-1]
    S = L // width
    dtype = _UINT[width]
    right_w, down_w = pack_columns(right, width), pack_columns(down, width)
    i, j = seed // L, seed % L
    one = jnp.asarray(1, dtype) << (i // S).astype(dtype)
    cluster = jnp.zeros((S, L), dtype).at[i % S, j].set(one)

    def expand(carry):
        cluster, frontier = carry
        for _ in range(substeps):
            reached = (
                jnp.roll(frontier & right_w, 1, axis=1)
                | (jnp.roll(frontier, -1, axis=1) & right_w)
                | _packed_from_above(frontier & down_w, width)
                | (_packed_from_below(frontier, width) & down_w)
            )
            frontier = reached & ~cluster
            cluster = cluster | frontier
        return cluster, frontier

    cluster, _ = jax.lax.while_loop(lambda c: jnp.any(c[1] != 0), expand, (cluster, cluster))
    return unpack_columns(cluster)


def grow_cluster(seed: Array, right: Array, down: Array, substeps: int = 1) -> Array:
    """The cluster of site ``seed`` (flat index) on the active-bond graph, by frontier expansion.

    Each iteration of the ``lax.while_loop`` adds the sites bonded to the current frontier (``substeps`` expansions
    per iteration); it stops when the frontier is empty. When ``L`` is a multiple of 8 the masks are bit-packed
    (:func:`pack_columns`, 8 to 32 sites per word), so an expansion costs ``O(N / 32)`` word operations; otherwise
    the expansion runs on ``(L, L)`` bool arrays.

    Args:
        seed: flat site index in ``[0, L*L)`` (int scalar).
        right, down: ``(L, L)`` bool active bonds (see :func:`active_bonds`).
        substeps: expansions per while-loop iteration (static int >= 1).

    Returns:
        ``(L, L)`` bool mask of the cluster.
    """
    width = packing_width(right.shape[-1])
    if width:
        return _grow_cluster_packed(seed, right, down, width, substeps)
    return grow_cluster_unpacked(seed, right, down, substeps)


def grow_cluster_unpacked(seed: Array, right: Array, down: Array, substeps: int = 1) -> Array:
    """:func:`grow_cluster` on ``(L, L)`` bool arrays (any L; the reference for the packed version)."""
    shape = right.shape
    cluster = jnp.zeros(shape[0] * shape[1], bool).at[seed].set(True).reshape(shape)

    def expand(carry):
        cluster, frontier = carry
        for _ in range(substeps):
            frontier = _bonded_neighbours(frontier, right, down) & ~cluster
            cluster = cluster | frontier
        return cluster, frontier

    cluster, _ = jax.lax.while_loop(lambda c: jnp.any(c[1]), expand, (cluster, cluster))
    return cluster


def label_clusters(right: Array, down: Array) -> Array:
    """Connected-component labels of the active-bond graph: each site's label is the smallest flat index of its cluster.

    Label-equivalence algorithm (after Komura's GPU Swendsen-Wang, Comput. Phys. Commun. 194, 54 (2015)):
    start from horizontal runs (each site points at the first site of its run of active ``right`` bonds, via a
    cumulative max); then repeat (1) every site finds the smallest root label among its bonded neighbours and
    (2) hooks its own root onto it with a scatter-min, (3) full pointer jumping (``p = p[p]`` until stable) makes every
    site point at its root again; stop when an iteration changes nothing. A few iterations suffice even for
    percolating clusters.

    Args:
        right, down: ``(L, L)`` bool active bonds.

    Returns:
        ``(L, L)`` int32 labels in ``[0, L*L)``.
    """
    shape = right.shape
    n_sites = shape[0] * shape[1]
    none = jnp.int32(n_sites)  # larger than every label: "no bonded neighbour in this direction"
    right_in = jnp.roll(right, 1, axis=-1)  # bond from the left neighbour
    down_in = jnp.roll(down, 1, axis=-2)  # bond from the upper neighbour
    index = jnp.arange(n_sites, dtype=jnp.int32).reshape(shape)
    column = jnp.arange(shape[1], dtype=jnp.int32)
    run_start = jnp.where((column == 0) | ~right_in, index, 0)
    parent = jax.lax.cummax(run_start, axis=1).reshape(-1)  # a star: run starts are their own parents

    def neighbour_min(label):
        m = jnp.minimum(label, jnp.where(right, jnp.roll(label, -1, axis=-1), none))
        m = jnp.minimum(m, jnp.where(right_in, jnp.roll(label, 1, axis=-1), none))
        m = jnp.minimum(m, jnp.where(down, jnp.roll(label, -1, axis=-2), none))
        return jnp.minimum(m, jnp.where(down_in, jnp.roll(label, 1, axis=-2), none))

    def compress(parent):
        def jump(carry):
            p, _ = carry
            q = p[p]
            return q, jnp.any(q != p)

        return jax.lax.while_loop(lambda c: c[1], jump, (parent, jnp.bool_(True)))[0]

    def iterate(carry):
        parent, _ = carry
        m = neighbour_min(parent.reshape(shape)).reshape(-1)
        # Labels only decrease and always name a site of the same cluster, so parent[x] <= x: a forest.
        new = compress(parent.at[parent].min(m))
        return new, jnp.any(new != parent)

    parent, _ = jax.lax.while_loop(lambda c: c[1], iterate, (parent, jnp.bool_(True)))
    # No change: every bonded pair shares a root label, and roots are the smallest sites of their clusters.
    return parent.reshape(shape)


def cluster_sizes(labels: Array) -> Array:
    """Size of the cluster of every site, ``(L, L)`` int32, from :func:`label_clusters` labels."""
    flat = labels.reshape(-1)
    counts = jnp.zeros(flat.shape[0], jnp.int32).at[flat].add(1)
    return counts[flat].reshape(labels.shape)
