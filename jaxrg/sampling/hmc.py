"""Hamiltonian Monte Carlo for continuous lattice fields: thin wrappers over blackjax HMC and NUTS.

blackjax does the physics of the trajectory (velocity Verlet, Metropolis test, multinomial NUTS); this module only puts
its kernels into the jaxrg kernel shape, so the same driver (:func:`jaxrg.sampling.driver.run_chain`) runs them::

    state = init(phi, log_density, couplings)       # state.position is the (L, L) field
    kernel = build_kernel("hmc", log_density, num_integration_steps=10)
    state, info = kernel(key, state, HMCParameters(couplings, step_size, inverse_mass_matrix))
    algo = hmc(lambda x: log_density(x, couplings), step_size=0.1, num_integration_steps=10)  # convenience

and runs blackjax's window adaptation (Stan's warmup: dual-averaging step size, Welford diagonal mass matrix) as a pure
function, :func:`window_adaptation`, so that tuning vmaps over couplings and chains like everything else.

``log_density(x, model)`` is a module-level function of the field and of the model's parameters (a pytree, traced
like the step size and mass matrix), so one compiled program serves every coupling. Sizes (lattice shape, number of
leapfrog steps, tree depth) are static.

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

import functools
from typing import Any, Callable, NamedTuple

import blackjax
import jax.numpy as jnp
from blackjax.mcmc import metrics as bj_metrics
from blackjax.mcmc.hmc import HMCState
from jax import Array

from jaxrg import _checks
from jaxrg.sampling.base import BoundKernel, SamplingAlgorithm

__all__ = ["HMCState", "HMCInfo", "HMCParameters", "AdaptedParameters", "init", "hmc_kernel", "nuts_kernel",
           "build_kernel", "hmc", "nuts", "window_adaptation", "ALGORITHMS"]

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


class HMCParameters(NamedTuple):
    """Call-time parameters of the HMC / NUTS kernels (all traced).

    Attributes:
        model: the parameters of the log-density, ``log_density(x, model)`` (e.g. couplings), any pytree.
        step_size: leapfrog step (scalar > 0).
        inverse_mass_matrix: ``(x.size,)`` diagonal inverse mass matrix (flattened field order).
    """

    model: Any
    step_size: Array
    inverse_mass_matrix: Array


def _validate_positive(value, name: str) -> None:
    if isinstance(value, (int, float)) and not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


def init(position: Array, log_density: Callable[[Array, Any], Array], model: Any = None) -> HMCState:
    """The HMC / NUTS state at ``position``: the field with its log-density and gradient at parameters ``model``."""
    return blackjax.hmc.init(position, functools.partial(_bound_density, log_density, model))


def _bound_density(log_density, model, x):
    return log_density(x, model)


def _info(state: HMCState, info: Any, imm: Array, gradient_evaluations: Array) -> HMCInfo:
    kinetic = bj_metrics.default_metric(imm).kinetic_energy(info.momentum)
    energy_error = info.energy - (-state.logdensity + kinetic)
    dtype = energy_error.dtype
    return HMCInfo(
        acceptance=jnp.asarray(info.acceptance_rate, dtype),
        energy_error=energy_error,
        exp_minus_energy_error=jnp.exp(-energy_error),
        divergent=jnp.asarray(info.is_divergent, dtype),
        gradient_evaluations=jnp.asarray(gradient_evaluations, dtype),
        sweeps=jnp.ones((), dtype),
    )


def hmc_kernel(key: Array, state: HMCState, params: HMCParameters, *, log_density: Callable,
               num_integration_steps: int) -> tuple[HMCState, HMCInfo]:
    """One HMC trajectory (blackjax ``hmc``) of ``num_integration_steps`` leapfrog steps at ``params`` (traced)."""
    density = functools.partial(_bound_density, log_density, params.model)
    imm = jnp.asarray(params.inverse_mass_matrix, state.position.dtype)
    new_state, info = blackjax.hmc.build_kernel()(key, state, density, params.step_size, imm, num_integration_steps)
    return new_state, _info(state, info, imm, num_integration_steps)


def nuts_kernel(key: Array, state: HMCState, params: HMCParameters, *, log_density: Callable,
                max_num_doublings: int) -> tuple[HMCState, HMCInfo]:
    """One NUTS trajectory (blackjax ``nuts``: iterative, multinomial) at ``params`` (traced)."""
    density = functools.partial(_bound_density, log_density, params.model)
    imm = jnp.asarray(params.inverse_mass_matrix, state.position.dtype)
    new_state, info = blackjax.nuts.build_kernel()(key, state, density, params.step_size, imm,
                                                   max_num_doublings=max_num_doublings)
    return new_state, _info(state, info, imm, info.num_integration_steps)


def build_kernel(algorithm: str, log_density: Callable[[Array, Any], Array], *, num_integration_steps: int = 16,
                 max_num_doublings: int = 10) -> BoundKernel:
    """The HMC or NUTS kernel ``kernel(key, state, HMCParameters) -> (HMCState, HMCInfo)``.

    Args:
        algorithm: ``"hmc"`` or ``"nuts"``.
        log_density: ``log_density(x, model) -> scalar``, ``log p(x)`` up to a constant at parameters ``model``; a
            module-level function (its identity keys the compiled programs, so a new closure per call recompiles).
        num_integration_steps: leapfrog steps per trajectory (HMC; static int >= 1).
        max_num_doublings: maximal tree depth (NUTS; static int in 1..15, at most ``2^depth - 1`` leapfrog steps;
            under ``vmap`` every lane waits for the longest trajectory of the batch).
    """
    _checks.choice(algorithm, "algorithm", ALGORITHMS)
    if algorithm == "hmc":
        n = _checks.integer(num_integration_steps, "num_integration_steps", minimum=1)
        return BoundKernel(hmc_kernel, (("log_density", log_density), ("num_integration_steps", n)))
    depth = _checks.integer(max_num_doublings, "max_num_doublings", minimum=1, maximum=15)
    return BoundKernel(nuts_kernel, (("log_density", log_density), ("max_num_doublings", depth)))


def _as_algorithm(algorithm, log_density, step_size, inverse_mass_matrix, **static) -> SamplingAlgorithm:
    _validate_positive(step_size, "step_size")
    kernel = build_kernel(algorithm, _ignore_model, **static)

    def init_one(position: Array, key: Array | None = None) -> HMCState:
        del key  # deterministic: the state is the position with its log-density and gradient
        return init(position, _ignore_model, log_density)

    def step(key: Array, state: HMCState) -> tuple[HMCState, HMCInfo]:
        imm = jnp.ones(state.position.size, state.position.dtype) if inverse_mass_matrix is None \
            else inverse_mass_matrix
        return kernel(key, state, HMCParameters(log_density, jnp.asarray(step_size), imm))

    return SamplingAlgorithm(init_one, step)


def _ignore_model(x: Array, log_density: Callable) -> Array:
    """``log_density(x)`` for the convenience layer: the model parameter is the one-argument density itself."""
    return log_density(x)


def hmc(
    log_density: Callable[[Array], Array],
    *,
    step_size,
    num_integration_steps: int,
    inverse_mass_matrix=None,
) -> SamplingAlgorithm:
    """Hamiltonian Monte Carlo (blackjax ``hmc``: velocity Verlet, end-point Metropolis test) at fixed parameters.

    Args:
        log_density: ``log p(x)`` up to a constant, a scalar function of the field ``x`` (any shape).
        step_size: leapfrog step (scalar, > 0; may be a traced array, e.g. from :func:`window_adaptation`).
        num_integration_steps: leapfrog steps per trajectory (static int >= 1).
        inverse_mass_matrix: ``(x.size,)`` diagonal inverse mass matrix (flattened field order), or None for ones.

    Returns:
        :class:`~jaxrg.sampling.base.SamplingAlgorithm`: ``init(x) -> HMCState`` (``state.position`` is ``x``) and
        ``step(key, state) -> (HMCState, HMCInfo)``.
    """
    return _as_algorithm("hmc", log_density, step_size, inverse_mass_matrix,
                         num_integration_steps=num_integration_steps)


def nuts(
    log_density: Callable[[Array], Array],
    *,
    step_size,
    inverse_mass_matrix=None,
    max_num_doublings: int = 10,
) -> SamplingAlgorithm:
    """The No-U-Turn Sampler (blackjax ``nuts``: iterative, multinomial) at fixed parameters.

    Args:
        log_density: ``log p(x)`` up to a constant, a scalar function of the field ``x``.
        step_size: leapfrog step (scalar, > 0).
        inverse_mass_matrix: ``(x.size,)`` diagonal inverse mass matrix, or None for ones.
        max_num_doublings: maximal tree depth (static int in 1..15; at most ``2^depth - 1`` leapfrog steps).

    Returns:
        :class:`~jaxrg.sampling.base.SamplingAlgorithm` with ``step(key, state) -> (HMCState, HMCInfo)``; under
        ``vmap`` every lane waits for the longest trajectory of the batch.
    """
    return _as_algorithm("nuts", log_density, step_size, inverse_mass_matrix, max_num_doublings=max_num_doublings)


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
    num_steps = _checks.integer(num_steps, "num_steps", minimum=20)
    if not 0.0 < float(target_acceptance) < 1.0:
        raise ValueError(f"target_acceptance must be in (0, 1), got {target_acceptance!r}")
    _validate_positive(initial_step_size, "initial_step_size")
    if algorithm == "hmc":
        extra = {"num_integration_steps": _checks.integer(num_integration_steps, "num_integration_steps", minimum=1)}
        algo = blackjax.hmc
    else:
        extra = {"max_num_doublings": _checks.integer(max_num_doublings, "max_num_doublings", minimum=1, maximum=15)}
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
