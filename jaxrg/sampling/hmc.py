"""Hamiltonian Monte Carlo for continuous lattice fields: thin wrappers over blackjax HMC and NUTS.

blackjax does the physics of the trajectory (velocity Verlet, Metropolis test, multinomial NUTS); this module only puts
its kernels into the jaxrg kernel shape, so the same driver (:func:`jaxrg.sampling.driver.run_chain`) runs them::

    kernel = hmc(log_density, step_size=0.1, inverse_mass_matrix=None, num_integration_steps=10)
    state = kernel.init(key, phi)               # state.position is the (L, L) field
    state, info = kernel.step(key, state)       # info: acceptance, energy_error, divergent, gradient evaluations

and runs blackjax's window adaptation (Stan's warmup: dual-averaging step size, Welford diagonal mass matrix) as a pure
function, :func:`window_adaptation`, so that tuning vmaps over couplings and chains like everything else.

``log_density`` is any function of one array (the field) returning a scalar; physics parameters enter through its
closure, so a factory ``lambda couplings: hmc(model.log_density(couplings), ...)`` vmaps over couplings. Sizes
(lattice shape, number of leapfrog steps, tree depth) are static.

Conventions of ``info`` (one kernel step = one trajectory):

- ``acceptance``: Metropolis acceptance probability ``min(1, exp(-dH))`` of the trajectory end point (HMC), or the
  mean acceptance over the NUTS trajectory (what blackjax adapts the step size on);
- ``energy_error``: ``dH = H(proposal) - H(start)`` of the Hamiltonian ``H = -log p(x) + p^T M^-1 p / 2``; for HMC
  ``<exp(-dH)> = 1`` exactly at equilibrium (Creutz's identity), a check of the integrator and of the log-density;
  for NUTS the proposal is the state drawn from the trajectory, and ``dH`` is a diagnostic only (no such identity);
- ``exp_minus_energy_error``: ``exp(-dH)``, whose average is 1 for HMC (a failing check flags a wrong gradient);
- ``divergent``: ``dH`` above blackjax's divergence threshold (1000);
- ``gradient_evaluations``: leapfrog steps of the trajectory (the cost of a step in units of one gradient);
- ``sweeps``: 1 per trajectory, so the driver's autocorrelation times are in trajectories.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import blackjax
import jax
import jax.numpy as jnp
from blackjax.mcmc import metrics as bj_metrics
from blackjax.mcmc.hmc import HMCState
from jax import Array

from jaxrg.sampling.base import Kernel

__all__ = ["HMCState", "HMCInfo", "AdaptedParameters", "hmc", "nuts", "window_adaptation", "ALGORITHMS"]

ALGORITHMS = ("hmc", "nuts")


class HMCInfo(NamedTuple):
    """Diagnostics of one HMC or NUTS trajectory (see the module docstring); every field is a scalar array."""

    acceptance: Array
    energy_error: Array
    exp_minus_energy_error: Array
    divergent: Array
    gradient_evaluations: Array
    sweeps: Array


class AdaptedParameters(NamedTuple):
    """What :func:`window_adaptation` returns besides the state: the tuned step size and diagonal inverse mass matrix.

    Attributes:
        step_size: scalar.
        inverse_mass_matrix: ``(n,)`` with ``n`` the number of field components (flattened position).
    """

    step_size: Array
    inverse_mass_matrix: Array


def _default_inverse_mass_matrix(inverse_mass_matrix, position: Array) -> Array:
    if inverse_mass_matrix is None:
        return jnp.ones((position.size,), position.dtype)
    return jnp.asarray(inverse_mass_matrix, position.dtype)


def _validate_positive(value, name: str) -> None:
    if isinstance(value, (int, float)) and not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


def _validate_steps(value, name: str, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (maximum and value > maximum):
        bound = f" and <= {maximum}" if maximum else ""
        raise ValueError(f"{name} must be an integer >= 1{bound}, got {value!r}")
    return value


def _initial_energy(state: HMCState, momentum: Array, inverse_mass_matrix: Array) -> Array:
    kinetic = bj_metrics.default_metric(inverse_mass_matrix).kinetic_energy(momentum)
    return -state.logdensity + kinetic


def _wrap(log_density: Callable, blackjax_step: Callable, inverse_mass_matrix, n_steps: Callable) -> Kernel:
    def init(key: Array, position: Array) -> HMCState:
        del key  # deterministic: the state is the position with its log-density and gradient
        return blackjax.hmc.init(position, log_density)

    def step(key: Array, state: HMCState) -> tuple[HMCState, HMCInfo]:
        imm = _default_inverse_mass_matrix(inverse_mass_matrix, state.position)
        new_state, info = blackjax_step(key, state, imm)
        energy_error = info.energy - _initial_energy(state, info.momentum, imm)
        dtype = energy_error.dtype
        return new_state, HMCInfo(
            acceptance=jnp.asarray(info.acceptance_rate, dtype),
            energy_error=energy_error,
            exp_minus_energy_error=jnp.exp(-energy_error),
            divergent=jnp.asarray(info.is_divergent, dtype),
            gradient_evaluations=jnp.asarray(n_steps(info), dtype),
            sweeps=jnp.ones((), dtype),
        )

    return Kernel(init, step)


def hmc(
    log_density: Callable[[Array], Array],
    *,
    step_size,
    num_integration_steps: int,
    inverse_mass_matrix=None,
) -> Kernel:
    """Hamiltonian Monte Carlo (blackjax ``hmc``: velocity Verlet, end-point Metropolis test) in the jaxrg kernel shape.

    Args:
        log_density: ``log p(x)`` up to a constant, a scalar function of the field ``x`` (any shape).
        step_size: leapfrog step (scalar, > 0; may be a traced array, e.g. from :func:`window_adaptation`).
        num_integration_steps: leapfrog steps per trajectory (static int >= 1).
        inverse_mass_matrix: ``(x.size,)`` diagonal inverse mass matrix (flattened field order), or None for ones.

    Returns:
        :class:`~jaxrg.sampling.base.Kernel`: ``init(key, x) -> HMCState`` (``state.position`` is ``x``) and
        ``step(key, state) -> (HMCState, HMCInfo)``.
    """
    _validate_positive(step_size, "step_size")
    n = _validate_steps(num_integration_steps, "num_integration_steps")
    build = blackjax.hmc.build_kernel()

    def blackjax_step(key, state, imm):
        return build(key, state, log_density, step_size, imm, n)

    return _wrap(log_density, blackjax_step, inverse_mass_matrix, lambda info: n)


def nuts(
    log_density: Callable[[Array], Array],
    *,
    step_size,
    inverse_mass_matrix=None,
    max_num_doublings: int = 10,
) -> Kernel:
    """The No-U-Turn Sampler (blackjax ``nuts``: iterative, multinomial) in the jaxrg kernel shape.

    Args:
        log_density: ``log p(x)`` up to a constant, a scalar function of the field ``x``.
        step_size: leapfrog step (scalar, > 0).
        inverse_mass_matrix: ``(x.size,)`` diagonal inverse mass matrix, or None for ones.
        max_num_doublings: maximal tree depth (static int in 1..15; at most ``2^depth - 1`` leapfrog steps).

    Returns:
        :class:`~jaxrg.sampling.base.Kernel` with ``step(key, state) -> (HMCState, HMCInfo)``; under ``vmap`` every
        lane waits for the longest trajectory of the batch.
    """
    _validate_positive(step_size, "step_size")
    depth = _validate_steps(max_num_doublings, "max_num_doublings", maximum=15)
    build = blackjax.nuts.build_kernel()

    def blackjax_step(key, state, imm):
        return build(key, state, log_density, step_size, imm, max_num_doublings=depth)

    return _wrap(log_density, blackjax_step, inverse_mass_matrix, lambda info: info.num_integration_steps)


def _acceptance_only(state, info, adaptation_state):
    del state, adaptation_state
    return info.acceptance_rate


def window_adaptation(
    algorithm: str,
    log_density: Callable[[Array], Array],
    key: Array,
    position: Array,
    *,
    num_steps: int,
    num_integration_steps: int = 16,
    max_num_doublings: int = 10,
    target_acceptance: float = 0.8,
    initial_step_size: float = 0.1,
) -> tuple[HMCState, AdaptedParameters, Array]:
    """Tune step size and diagonal mass matrix with blackjax's Stan-style window adaptation (pure; vmaps).

    The warmup moves the chain too, so the returned state is also thermalised by ``num_steps`` trajectories.

    Args:
        algorithm: ``"hmc"`` or ``"nuts"``.
        log_density: ``log p(x)``, scalar function of the field.
        key: PRNG key.
        position: initial field ``x``.
        num_steps: warmup trajectories (static int >= 20; Stan's schedule wants >= 150 for its slow windows).
        num_integration_steps: leapfrog steps per trajectory (HMC only).
        max_num_doublings: maximal tree depth (NUTS only).
        target_acceptance: acceptance the step size is tuned to (in (0, 1)).
        initial_step_size: first step size of the dual averaging (> 0).

    Returns:
        ``(state, AdaptedParameters(step_size, inverse_mass_matrix), acceptance)``: the last warmup state, the tuned
        parameters, and the per-step acceptance during warmup, ``(num_steps,)``.
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    num_steps = _validate_steps(num_steps, "num_steps")
    if num_steps < 20:
        raise ValueError(f"num_steps must be >= 20 for the adaptation windows, got {num_steps}")
    if not 0.0 < float(target_acceptance) < 1.0:
        raise ValueError(f"target_acceptance must be in (0, 1), got {target_acceptance!r}")
    _validate_positive(initial_step_size, "initial_step_size")
    if algorithm == "hmc":
        extra = {"num_integration_steps": _validate_steps(num_integration_steps, "num_integration_steps")}
        algo = blackjax.hmc
    else:
        extra = {"max_num_doublings": _validate_steps(max_num_doublings, "max_num_doublings", maximum=15)}
        algo = blackjax.nuts
    warmup = blackjax.window_adaptation(
        algo,
        log_density,
        is_mass_matrix_diagonal=True,
        initial_step_size=float(initial_step_size),
        target_acceptance_rate=float(target_acceptance),
        adaptation_info_fn=_acceptance_only,
        **extra,
    )
    (state, parameters), acceptance = warmup.run(key, position, num_steps=num_steps)
    adapted = AdaptedParameters(
        step_size=jnp.asarray(parameters["step_size"]),
        inverse_mass_matrix=jnp.asarray(parameters["inverse_mass_matrix"]),
    )
    return state, adapted, acceptance
