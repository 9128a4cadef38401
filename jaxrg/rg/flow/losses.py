"""Losses of the learned flow: contrastive divergence, and the exact cross-entropy on the 4 x 4 coarse torus."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg.rg.flow.data import FlowData, metropolis_sweeps
from jaxrg.rg.flow.model import FlowModel
from jaxrg.rg.flow.spaces import CouplingSpace, coupling_operators, coupling_space, patch_couplings, space_sampler

__all__ = ["cd_model_moments", "cd_loss", "EnumerationTable", "enumeration_table", "exact_model_moments", "exact_loss"]


def cd_model_moments(key: Array, coarse_couplings: Array, spins: Array, space: CouplingSpace, k: int) -> Array:
    """Contrastive-divergence estimate of the coarse model moments: ``k`` sweeps at ``J'`` from each configuration.

    Args:
        key: PRNG key.
        coarse_couplings: ``(n,)`` coarse couplings ``J'``.
        spins: ``(M, L', L')`` int8 starting configurations (the blocked data).
        space: coupling space.
        k: Metropolis sweeps (static int >= 1).

    Returns:
        ``(n,)`` per-site moments averaged over the ``M`` chains after ``k`` sweeps.
    """
    kernel = space_sampler(space)(patch_couplings(coarse_couplings, space))

    def chain(key, s):
        return metropolis_sweeps(kernel, key, kernel.init(s), k).spins

    final = jax.vmap(chain)(jax.random.split(key, spins.shape[0]), spins)
    return jnp.mean(coupling_operators(final, space, coarse_couplings.dtype), axis=0)


def cd_loss(flow: FlowModel, key: Array, data: FlowData, space: CouplingSpace, k: int) -> tuple[Array, Array]:
    """Surrogate loss whose ``theta`` gradient is the CD-k estimate of the gradient of the mean KL per coarse site.

    Returns:
        ``(surrogate, mismatch)``: scalar surrogate ``mean_B stop_gradient(m_J' - m_b) . J'`` and the ``(B, n)``
        moment differences ``m_J' - m_b`` (the CD estimate of ``dKL/dJ'`` per site).
    """
    J_coarse = flow.step(data.couplings)
    keys = jax.random.split(key, data.couplings.shape[0])
    model = jax.vmap(lambda kk, J, s: cd_model_moments(kk, J, s, space, k))(
        keys, jax.lax.stop_gradient(J_coarse), data.spins
    )
    diff = jax.lax.stop_gradient(model - data.moments)
    return jnp.mean(jnp.sum(diff * J_coarse, axis=-1)), diff


class EnumerationTable(NamedTuple):
    """The distinct per-site operator vectors of all 2^16 states of the 4 x 4 torus, with their multiplicities.

    Attributes:
        values: ``(U, n)`` distinct per-site flow-operator vectors ``S(s) / 16``.
        log_multiplicity: ``(U,)`` log of the number of states with each vector.
    """

    values: Array
    log_multiplicity: Array


@functools.lru_cache(maxsize=None)
def _enumeration_table(space: CouplingSpace) -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(2**16, dtype=np.int64)[:, None]
    s = (1 - 2 * ((x >> np.arange(16)) & 1)).astype(np.int8).reshape(-1, 4, 4)
    flow_ops = np.rint(np.asarray(coupling_operators(jnp.asarray(s), space, jnp.float32)) * 16).astype(np.int64)
    # integer totals (exact in float32, |S| <= 16 per operator): exact uniqueness
    values, counts = np.unique(flow_ops, axis=0, return_counts=True)
    return values / 16.0, np.log(counts.astype(np.float64))


def enumeration_table(space: CouplingSpace, L: int = 4) -> EnumerationTable:
    """Exact density of states of the flow operators on the ``L x L`` coarse torus by enumeration of ``2^(L^2)`` states.

    Args:
        space: coupling space.
        L: coarse side, 4 (2^16 states; the only even side >= 4 that can be enumerated).

    Returns:
        :class:`EnumerationTable` (float64 numpy arrays; ``Z(J') = sum_u exp(log_multiplicity_u + 16 J' . values_u)``).
    """
    if L != 4:
        raise ValueError(f"L must be 4 for exact enumeration (2^16 states), got {L!r}")
    values, log_mult = _enumeration_table(coupling_space(space))
    return EnumerationTable(values, log_mult)


def _log_weights(coarse_couplings: Array, table: EnumerationTable) -> Array:
    values = jnp.asarray(table.values, coarse_couplings.dtype)
    return jnp.asarray(table.log_multiplicity, coarse_couplings.dtype) + 16.0 * (coarse_couplings @ values.T)


def exact_model_moments(coarse_couplings: Array, table: EnumerationTable) -> Array:
    """Exact per-site moments ``<S>_J' / 16`` of the 4 x 4 coarse model by enumeration, ``(..., n)``."""
    p = jax.nn.softmax(_log_weights(coarse_couplings, table), axis=-1)
    return p @ jnp.asarray(table.values, p.dtype)


def exact_loss(flow: FlowModel, data: FlowData, table: EnumerationTable) -> Array:
    """Mean cross-entropy per coarse site ``-J' . m_b + ln Z(J') / 16`` on the 4 x 4 coarse torus (by enumeration).

    This is ``KL(P_blocked || P_J') / 16`` up to the (unknown, ``J'``-independent) entropy of the blocked
    distribution; its gradient ``m_J' - m_b`` is exact given the Monte Carlo blocked moments ``data.moments``.
    """
    J_coarse = flow.step(data.couplings)
    log_z = jax.nn.logsumexp(_log_weights(J_coarse, table), axis=-1) / 16.0
    return jnp.mean(log_z - jnp.sum(J_coarse * data.moments, axis=-1))
