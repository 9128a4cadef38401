"""Training couplings of the learned flow: uniform in a box, mixed with HMC samples near the flow's fixed points."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array

from jaxrg.rg.flow.model import FlowModel
from jaxrg.rg.flow.spaces import CouplingSpace

__all__ = ["sample_couplings"]


def sample_couplings(
    key: Array,
    flow: FlowModel,
    space: CouplingSpace,
    n: int,
    *,
    beta: float,
    uniform_fraction: float = 0.5,
    n_trajectories: int = 20,
    step_size: float = 0.02,
    num_integration_steps: int = 10,
    box_low=None,
    box_high=None,
) -> Array:
    """Training couplings: uniform draws in the box mixed with HMC samples of ``exp(-beta ||f_theta(J)||^2)``.

    ``flow`` is a :class:`FlowModel` or any jax-traceable callable ``(n,) -> (n,)``.

    The HMC target has a soft wall outside the box (quadratic penalty of stiffness 1e4), so chains stay inside;
    each of the ``n - n_uniform`` HMC chains starts from a uniform point and runs ``n_trajectories`` trajectories
    (blackjax HMC through :func:`jaxrg.sampling.hmc.hmc`). ``beta = 0`` gives uniform samples only.

    Returns:
        ``(n, space.n)`` couplings, clipped to the box.
    """
    if not 0.0 <= float(uniform_fraction) <= 1.0:
        raise ValueError(f"uniform_fraction must be in [0, 1], got {uniform_fraction!r}")
    if float(beta) < 0:
        raise ValueError(f"beta must be >= 0, got {beta!r}")
    low = jnp.asarray(space.box_low if box_low is None else box_low, jnp.float32)
    high = jnp.asarray(space.box_high if box_high is None else box_high, jnp.float32)
    if low.shape != (space.n,) or high.shape != (space.n,) or not bool(jnp.all(high > low)):
        raise ValueError(f"box_low, box_high must be ({space.n},) with box_high > box_low")
    k_u, k_h, k_s = jax.random.split(key, 3)
    uniform = jax.random.uniform(k_u, (n, space.n), jnp.float32, low, high)
    n_hmc = 0 if float(beta) == 0.0 else n - int(round(float(uniform_fraction) * n))
    if n_hmc == 0:
        return uniform
    concentrated = _hmc_couplings(
        k_h, k_s, flow, n_hmc, jnp.asarray(beta, jnp.float32), low, high, int(n_trajectories),
        jnp.asarray(step_size, jnp.float32), int(num_integration_steps),
    )
    return jnp.clip(jnp.concatenate([uniform[: n - n_hmc], concentrated]), low, high)


@eqx.filter_jit
def _hmc_couplings(k_h, k_s, flow, n_hmc, beta, low, high, n_trajectories, step_size, num_integration_steps):
    from jaxrg.sampling.hmc import hmc

    flow32 = jax.tree.map(lambda x: x.astype(jnp.float32) if eqx.is_inexact_array(x) else x, flow)

    def log_density(J):
        wall = jnp.sum((J - jnp.clip(J, low, high)) ** 2)
        f = flow32(J)
        return -beta * jnp.sum(f * f) - 1e4 * wall

    kernel = hmc(log_density, step_size=step_size, num_integration_steps=num_integration_steps)

    def chain(key, J0):
        state = kernel.init(J0)
        state = jax.lax.scan(lambda st, k: (kernel.step(k, st)[0], None), state,
                             jax.random.split(key, n_trajectories))[0]
        return state.position

    starts = jax.random.uniform(k_s, (n_hmc, low.shape[0]), jnp.float32, low, high)
    return jax.vmap(chain)(jax.random.split(k_h, n_hmc), starts)
