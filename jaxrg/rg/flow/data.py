"""Training data of the learned flow: fine Monte Carlo at couplings J, 2 x 2 majority-rule blocking, moments."""

from __future__ import annotations

import functools
import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from jaxrg.rg.blocking import majority_rule
from jaxrg.rg.flow.spaces import CouplingSpace, coupling_operators, patch_couplings, space_sampler

__all__ = ["FlowData", "blocked_data", "metropolis_sweeps"]


class FlowData(NamedTuple):
    """Blocked Monte Carlo data for a batch of fine couplings.

    Attributes:
        couplings: ``(B, n)`` fine couplings ``J``.
        moments: ``(B, n)`` per-site blocked moments ``m_b`` (means over all blocked samples).
        spins: ``(B, M, L/2, L/2)`` int8 blocked configurations (starting points of contrastive divergence).
    """

    couplings: Array
    moments: Array
    spins: Array


def metropolis_sweeps(kernel, key: Array, state, n: int):
    """``n`` sweeps of a sampler ``kernel`` (``kernel.step(key, state) -> (state, info)``) from ``state``."""

    def body(st, k):
        return kernel.step(k, st)[0], None

    return jax.lax.scan(body, state, jax.random.split(key, n))[0]


def blocked_data(
    key: Array,
    couplings: Array,
    space: CouplingSpace,
    L: int,
    *,
    n_chains: int = 8,
    n_thermalize: int = 200,
    n_samples: int = 8,
    sweeps_between: int = 10,
    rng: str = "hash",
) -> FlowData:
    """Sample the fine model at each coupling, block with 2 x 2 majority rule, and record blocked moments.

    Chains start ordered (all +1; the even operators do not see the global sign), are thermalised for ``n_thermalize``
    sweeps, then ``n_samples`` configurations ``sweeps_between`` sweeps apart are blocked per chain.

    Args:
        key: PRNG key.
        couplings: ``(B, n)`` fine couplings in ``space``.
        space: the :class:`CouplingSpace`.
        L: fine lattice side (static; multiple of 4, >= 8, so that the coarse lattice is even and >= 4).
        n_chains, n_thermalize, n_samples, sweeps_between: Monte Carlo effort per coupling (static ints).
        rng: random bits of the Metropolis kernel.

    Returns:
        :class:`FlowData` with ``M = n_chains * n_samples`` blocked configurations per coupling.
    """
    if isinstance(L, bool) or not isinstance(L, numbers.Integral) or L < 8 or L % 4:
        raise ValueError(f"L must be a multiple of 4 and >= 8 (coarse lattice even, >= 4), got {L!r}")
    for name, v, lo in (("n_chains", n_chains, 1), ("n_thermalize", n_thermalize, 0), ("n_samples", n_samples, 1),
                        ("sweeps_between", sweeps_between, 1)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    couplings = jnp.asarray(couplings)
    if couplings.ndim != 2 or couplings.shape[-1] != space.n:
        raise ValueError(f"couplings must have shape (B, {space.n}) for this space, got {couplings.shape}")
    return _blocked_data(key, couplings, space, int(L), int(n_chains), int(n_thermalize), int(n_samples),
                         int(sweeps_between), rng)


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5, 6, 7, 8))
def _blocked_data(key, couplings, space, L, n_chains, n_thermalize, n_samples, sweeps_between, rng) -> FlowData:
    def one_coupling(key, J):
        kernel = space_sampler(space)(patch_couplings(J, space), rng=rng)

        def one_chain(key):
            k_therm, k_run = jax.random.split(key)
            state = kernel.init(jnp.ones((L, L), jnp.int8))
            state = metropolis_sweeps(kernel, k_therm, state, n_thermalize) if n_thermalize else state

            def sample(state, k):
                k_sweep, k_block = jax.random.split(k)
                state = metropolis_sweeps(kernel, k_sweep, state, sweeps_between)
                return state, majority_rule(state.spins, 2, key=k_block)

            return jax.lax.scan(sample, state, jax.random.split(k_run, n_samples))[1]

        blocked = jax.vmap(one_chain)(jax.random.split(key, n_chains)).reshape(-1, L // 2, L // 2)
        moments = jnp.mean(coupling_operators(blocked, space, J.dtype), axis=0)
        return moments, blocked

    keys = jax.random.split(key, couplings.shape[0])
    moments, spins = jax.vmap(one_coupling)(keys, couplings)
    return FlowData(couplings, moments, spins)
