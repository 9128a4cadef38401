"""Single-cluster Wolff updates of the 2D Ising model as a pure, jittable, vmappable kernel.

One step (U. Wolff, PRL 62, 361 (1989)):

1. draw every Fortuin-Kasteleyn bond once: a bond between equal spins is active with probability ``1 - exp(-2K)``;
2. pick a uniformly random seed site and grow its cluster on the active bonds by frontier expansion inside a
   ``lax.while_loop`` (:func:`jaxrg.sampling.clusters.grow_cluster`);
3. flip the cluster. In a field ``h`` the flip is accepted with probability ``min(1, exp(-2 h sigma |C|))``
   (``sigma`` the cluster's spin), which keeps detailed balance; at ``h = 0`` every cluster is flipped.

Work and time units. A step flips ``|C|`` spins, so it is worth ``|C| / N`` lattice sweeps; ``info.sweeps`` reports
that per step and ``info.cluster_size`` the size. ``jaxrg.simulate(..., sampler="wolff")`` counts ``sweeps``,
``thermalize`` and ``measure_every`` in *cluster steps* and converts autocorrelation times to sweeps with the mean
``<|C|> / N`` (``SimulationResult.sweeps_per_step``), the usual convention that makes tau comparable with local
samplers (z_Wolff ~ 0.25 in these units).

Cost. Every expansion is a whole-lattice array operation on bit-packed masks (32 sites per word when 32 divides L),
so a step costs ``O(N * D / 32)`` word operations plus ``O(N)`` for drawing the bonds, with ``D`` the chemical
distance from the seed to the farthest site of its cluster (about L at and below T_c), instead of ``O(|C|)`` as in a
serial stack-based code; this is the form that runs on GPU. Under ``vmap`` (many chains or temperatures) the while
loop runs until the last member's cluster is complete, so a batch step costs the *largest* D in the batch: batch
chains at similar temperatures, and expect low-temperature members (D ~ L) to set the pace.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax import Array

from jaxrg import _checks, rng as rng_lib
from jaxrg.ising import Couplings
from jaxrg.sampling.base import BoundKernel, SamplingAlgorithm, Sampler, closed_over
from jaxrg.sampling.clusters import ClusterState, active_bonds, grow_cluster, init, random_words, uniform_from_word

__all__ = ["ClusterState", "WolffInfo", "init", "kernel", "build_kernel", "as_sampling_algorithm", "wolff"]


class WolffInfo(NamedTuple):
    """Diagnostics of one cluster step.

    Attributes:
        cluster_size: number of sites in the grown cluster (float32).
        sweeps: work in lattice sweeps, ``cluster_size / N`` (float32).
        acceptance: 1 if the cluster was flipped (always at h = 0), else 0 (float32).
    """

    cluster_size: Array
    sweeps: Array
    acceptance: Array


def kernel(key: Array, state: ClusterState, couplings: Couplings, *, substeps: int = 1, rng: str = "threefry"
           ) -> tuple[ClusterState, WolffInfo]:
    """Grow and flip one Wolff cluster at couplings ``(K, h)`` (scalars, traced)."""
    spins = state.spins
    L = spins.shape[-1]
    n_sites = L * L
    words = random_words(key, 2 * n_sites + 2, rng)
    right, down = active_bonds(words[: 2 * n_sites], spins, couplings.K)
    # Seed site: uniform, exactly so when N divides 2^32 (L a power of 2), else with relative bias < N / 2^32.
    seed = (words[2 * n_sites] % jnp.uint32(n_sites)).astype(jnp.int32)
    cluster = grow_cluster(seed, right, down, substeps)
    size = jnp.sum(cluster, dtype=jnp.int32)
    sigma = spins.reshape(-1)[seed].astype(jnp.float32)
    # Metropolis acceptance of the cluster flip in a field: d(beta H) = 2 h sigma |C|; always 1 at h = 0.
    log_accept = (-2.0 * couplings.h * sigma * size).astype(jnp.float32)
    accept = uniform_from_word(words[2 * n_sites + 1]) < jnp.exp(jnp.minimum(log_accept, 0.0))
    flipped = jnp.where(cluster & accept, -spins, spins)
    size_f = size.astype(jnp.float32)
    info = WolffInfo(cluster_size=size_f, sweeps=size_f / n_sites, acceptance=accept.astype(jnp.float32))
    return ClusterState(flipped), info


def build_kernel(*, substeps: int = 1, rng: str = "threefry") -> BoundKernel:
    """The Wolff kernel ``kernel(key, state, couplings) -> (ClusterState, WolffInfo)``.

    Args:
        substeps: frontier expansions per while-loop iteration (static, >= 1; a tuning knob, not physics).
        rng: ``"threefry"`` (``jax.random.bits``, default) or ``"hash"`` (counter-based bits of :mod:`jaxrg.rng`,
            cheaper on CPU; the physics tests run with the default).
    """
    substeps = _checks.integer(substeps, "substeps", minimum=1)
    return BoundKernel(kernel, (("substeps", substeps), ("rng", _checks.choice(rng, "rng", rng_lib.RNG_CHOICES))))


def as_sampling_algorithm(couplings: Couplings, *, substeps: int = 1, rng: str = "threefry") -> SamplingAlgorithm:
    """Single-cluster Wolff updates at fixed couplings ``(K, h)`` (scalars; vmap for batches).

    Args:
        couplings: :class:`~jaxrg.ising.Couplings` with scalar ``K`` (> 0, ferromagnet) and ``h``.
        substeps, rng: see :func:`build_kernel`.

    Returns:
        :class:`~jaxrg.sampling.base.SamplingAlgorithm`: ``init(spins)`` with ``(L, L)`` int8 spins, and
        ``step(key, state) -> (ClusterState, WolffInfo)``; one step grows and flips one cluster.
    """
    return closed_over(init, build_kernel(substeps=substeps, rng=rng), couplings)


wolff = Sampler("wolff", init, build_kernel, as_sampling_algorithm)
