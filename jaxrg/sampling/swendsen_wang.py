"""Swendsen-Wang multi-cluster updates of the 2D Ising model as a pure, jittable, vmappable kernel.

One step (R. H. Swendsen and J.-S. Wang, PRL 58, 86 (1987)):

1. draw every Fortuin-Kasteleyn bond once: a bond between equal spins is active with probability ``1 - exp(-2K)``;
2. label all connected components of the active-bond graph (:func:`jaxrg.sampling.clusters.label_clusters`:
   min-label hooking and pointer jumping in a ``lax.while_loop``);
3. give every cluster a new orientation, independently: ``+1`` with probability ``1 / (1 + exp(-2 h |C|))``
   (heat bath on the cluster in the field ``h``). At ``h = 0`` this is probability 1/2 either way, i.e. every cluster
   is flipped with probability 1/2.

One step touches every site, so it is worth one sweep (``info.sweeps = 1``) and autocorrelation times from
``jaxrg.simulate(..., sampler="swendsen_wang")`` are in sweeps directly. Under ``vmap`` the labelling loop runs until
the slowest member of the batch has converged (the iteration count varies little: a few tens at T_c).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from jaxrg import _checks, rng as rng_lib
from jaxrg.ising import Couplings
from jaxrg.sampling.base import BoundKernel, SamplingAlgorithm, Sampler, closed_over
from jaxrg.sampling.clusters import ClusterState, active_bonds, init, label_clusters, random_words, uniform_from_word

__all__ = ["ClusterState", "SwendsenWangInfo", "init", "kernel", "build_kernel", "as_sampling_algorithm",
           "swendsen_wang"]


class SwendsenWangInfo(NamedTuple):
    """Diagnostics of one step.

    Attributes:
        n_clusters: number of Fortuin-Kasteleyn clusters (float32).
        largest_cluster: size of the largest cluster over N (float32).
        acceptance: always 1 (every new orientation is accepted; heat bath on the clusters).
        sweeps: work in lattice sweeps, always 1 (float32).
    """

    n_clusters: Array
    largest_cluster: Array
    acceptance: Array
    sweeps: Array


def kernel(key: Array, state: ClusterState, couplings: Couplings, *, rng: str = "threefry"
           ) -> tuple[ClusterState, SwendsenWangInfo]:
    """Relabel all Fortuin-Kasteleyn clusters and re-orient each at couplings ``(K, h)`` (scalars, traced)."""
    spins = state.spins
    n_sites = spins.shape[-1] * spins.shape[-2]
    words = random_words(key, 3 * n_sites, rng)
    right, down = active_bonds(words[: 2 * n_sites], spins, couplings.K)
    labels = label_clusters(right, down).reshape(-1)
    sizes = jnp.zeros(n_sites, jnp.int32).at[labels].add(1)  # indexed by root (the smallest site of a cluster)
    # One uniform per root; a cluster reads the draw of its root, so all its sites get the same orientation.
    # p_up is exactly 1/2 at h = 0 and the uniforms are multiples of 2^-24, so then each orientation has
    # probability exactly 1/2.
    p_up = jax.nn.sigmoid(2.0 * couplings.h * sizes).astype(jnp.float32)
    up = uniform_from_word(words[2 * n_sites :]) < p_up
    new = jnp.where(up[labels], 1, -1).astype(jnp.int8).reshape(spins.shape)
    info = SwendsenWangInfo(
        n_clusters=jnp.sum(sizes > 0).astype(jnp.float32),
        largest_cluster=jnp.max(sizes).astype(jnp.float32) / n_sites,
        acceptance=jnp.ones((), jnp.float32),
        sweeps=jnp.ones((), jnp.float32),
    )
    return ClusterState(new), info


def build_kernel(*, rng: str = "threefry") -> BoundKernel:
    """The Swendsen-Wang kernel ``kernel(key, state, couplings) -> (ClusterState, SwendsenWangInfo)``.

    Args:
        rng: ``"threefry"`` (``jax.random.bits``, default) or ``"hash"`` (counter-based bits of :mod:`jaxrg.rng`,
            cheaper on CPU; the physics tests run with the default).
    """
    return BoundKernel(kernel, (("rng", _checks.choice(rng, "rng", rng_lib.RNG_CHOICES)),))


def as_sampling_algorithm(couplings: Couplings, *, rng: str = "threefry") -> SamplingAlgorithm:
    """Swendsen-Wang updates at fixed couplings ``(K, h)`` (scalars; vmap for batches).

    Args:
        couplings: :class:`~jaxrg.ising.Couplings` with scalar ``K`` (> 0, ferromagnet) and ``h``.
        rng: see :func:`build_kernel`.

    Returns:
        :class:`~jaxrg.sampling.base.SamplingAlgorithm`: ``init(spins)`` with ``(L, L)`` int8 spins, and
        ``step(key, state) -> (ClusterState, SwendsenWangInfo)``; one step relabels and re-orients all clusters.
    """
    return closed_over(init, build_kernel(rng=rng), couplings)


swendsen_wang = Sampler("swendsen_wang", init, build_kernel, as_sampling_algorithm)
