"""Fortuin-Kasteleyn bonds and cluster finding on the periodic square lattice, as pure array code for cluster samplers.

Bonds are stored per site: ``right[i, j]`` is the bond ``(i, j) - (i, j + 1)`` and ``down[i, j]`` the bond
``(i, j) - (i + 1, j)`` (indices mod L), so the two ``(L, L)`` boolean arrays hold all 2N bonds once. A bond between
equal spins is active with probability ``p = 1 - exp(-2K)``; bonds between unequal spins are never active
(Fortuin-Kasteleyn / Swendsen-Wang construction). The random numbers are raw 31-bit integers compared against the
integer threshold ``floor(p * 2^31)``, one word per bond and step.

Two cluster finders, both ``lax.while_loop`` over whole-lattice array operations (no Python loop over sites, so they
run on GPU and vmap):

- :func:`grow_cluster`: breadth-first frontier expansion from one seed site (Wolff). Iterations = chemical distance
  from the seed to the farthest site of its cluster.
- :func:`label_clusters`: connected-component labelling of every cluster (Swendsen-Wang) by min-label hooking with
  a scatter-min onto the current parent (after Shiloach and Vishkin) and pointer jumping; converges in a few tens of
  iterations even for percolating clusters. Every site ends up pointing at the smallest site index of its cluster.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

__all__ = [
    "bond_probability_threshold",
    "random_words",
    "uniform_from_word",
    "active_bonds",
    "grow_cluster",
    "label_clusters",
    "cluster_sizes",
]

_THRESHOLD_SCALE = 2.0**31  # compare 31 random bits against floor(p * 2^31)


def bond_probability_threshold(K: Array) -> Array:
    """Integer threshold ``floor((1 - exp(-2K)) * 2^31)`` (uint32) of the Fortuin-Kasteleyn bond probability."""
    p_bond = -jnp.expm1(-2.0 * jnp.asarray(K))
    return jnp.floor(p_bond * _THRESHOLD_SCALE).astype(jnp.uint32)


def random_words(key: Array, n: int) -> Array:
    """``n`` raw uint32 random words from one flat draw.

    One flat ``jax.random.bits`` call per step: a multi-dimensional draw compiles several times slower on XLA:CPU.
    """
    return jax.random.bits(key, (n,), jnp.uint32)


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


def grow_cluster(seed: Array, right: Array, down: Array, substeps: int = 2) -> Array:
    """The cluster of site ``seed`` (flat index) on the active-bond graph, by frontier expansion.

    Each iteration of the ``lax.while_loop`` adds the sites bonded to the current frontier (``substeps`` expansions
    per iteration, to amortise the loop-condition check); it stops when the frontier is empty.

    Args:
        seed: flat site index in ``[0, L*L)`` (int scalar).
        right, down: ``(L, L)`` bool active bonds (see :func:`active_bonds`).
        substeps: expansions per while-loop iteration (static int >= 1).

    Returns:
        ``(L, L)`` bool mask of the cluster.
    """
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

    def neighbour_min(label):
        m = jnp.minimum(label, jnp.where(right, jnp.roll(label, -1, axis=-1), none))
        m = jnp.minimum(m, jnp.where(right_in, jnp.roll(label, 1, axis=-1), none))
        m = jnp.minimum(m, jnp.where(down, jnp.roll(label, -1, axis=-2), none))
        return jnp.minimum(m, jnp.where(down_in, jnp.roll(label, 1, axis=-2), none))

    def iterate(carry):
        parent, _ = carry
        m = neighbour_min(parent.reshape(shape)).reshape(-1)
        # Hooking: the parent of every site adopts the smallest label seen next to that site. Labels only decrease and
        # always name a site of the same cluster, so parent[x] <= x and the pointers form a forest.
        new = parent.at[parent].min(m)
        new = jnp.minimum(new, m)
        new = new[new]  # pointer jumping (path halving)
        return new, jnp.any(new != parent)

    parent = jnp.arange(n_sites, dtype=jnp.int32)
    parent, _ = jax.lax.while_loop(lambda c: c[1], iterate, (parent, jnp.bool_(True)))
    # At the fixed point every bonded pair has the same label and parent[parent] == parent, so labels are roots.
    return parent.reshape(shape)


def cluster_sizes(labels: Array) -> Array:
    """Size of the cluster of every site, ``(L, L)`` int32, from :func:`label_clusters` labels."""
    flat = labels.reshape(-1)
    counts = jnp.zeros(flat.shape[0], jnp.int32).at[flat].add(1)
    return counts[flat].reshape(labels.shape)
