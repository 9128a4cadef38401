"""Training of the learned flow: rounds of coupling sampling, blocked data and optimiser steps."""

from __future__ import annotations

import functools
import numbers
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

from jaxrg._summary import summary_repr
from jaxrg.rg.flow.data import FlowData, blocked_data
from jaxrg.rg.flow.losses import EnumerationTable, cd_loss, enumeration_table, exact_loss
from jaxrg.rg.flow.model import FlowModel
from jaxrg.rg.flow.sampling import sample_couplings
from jaxrg.rg.flow.spaces import coupling_space

__all__ = ["TrainingConfig", "FlowTrainingResult", "train_flow"]


class TrainingConfig(NamedTuple):
    """Hyper-parameters of :func:`train_flow` (all static).

    Attributes:
        L: fine lattice side (coarse ``L/2``); ``L = 8`` allows ``loss="exact"``.
        loss: ``"cd"`` (contrastive divergence) or ``"exact"`` (enumeration of the 4 x 4 coarse lattice).
        cd_sweeps: ``k`` of CD-k.
        rounds: data rounds; round ``r`` samples couplings with ``betas[r]``, generates data, trains.
        couplings_per_round: new training couplings per round.
        betas: annealing schedule of the HMC energy ``beta_a ||f||^2`` (length ``rounds``; 0 = uniform only).
        uniform_fraction: fraction of uniform (broad-exploration) couplings in HMC rounds.
        n_chains, n_thermalize, n_samples, sweeps_between: fine Monte Carlo effort per coupling.
        steps_per_round: optimiser steps per round; batch_size: couplings per step; cd_chains: blocked
            configurations per coupling used per CD step.
        learning_rate: Adam learning rate (cosine-decayed to 1% over all steps).
        width, depth: MLP size.
        anchored: build the exact infinite-temperature fixed point ``f(0) = 0`` into the flow (:class:`FlowModel`);
            without it a poorly constrained ``f(0)`` can create a spurious fixed point near ``J = 0`` that breaks the
            ``K_c`` bisection.
    """

    L: int = 16
    loss: str = "cd"
    cd_sweeps: int = 5
    rounds: int = 3
    couplings_per_round: int = 64
    betas: tuple = (0.0, 30.0, 100.0)
    uniform_fraction: float = 0.5
    n_chains: int = 8
    n_thermalize: int = 150
    n_samples: int = 8
    sweeps_between: int = 5
    steps_per_round: int = 200
    batch_size: int = 32
    cd_chains: int = 16
    learning_rate: float = 3e-3
    width: int = 32
    depth: int = 2
    anchored: bool = True


class FlowTrainingResult(NamedTuple):
    """What :func:`train_flow` returns: the trained flow, all data, and the loss history (numpy, one per step)."""

    flow: FlowModel
    data: FlowData
    loss_history: np.ndarray

    __repr__ = summary_repr  # one line: big arrays as dtype[shape]


def _validate_config(config: TrainingConfig) -> None:
    if config.loss not in ("cd", "exact"):
        raise ValueError(f"loss must be 'cd' or 'exact', got {config.loss!r}")
    if config.loss == "exact" and config.L != 8:
        raise ValueError(f"loss='exact' enumerates the 4x4 coarse lattice: L must be 8, got {config.L}")
    if len(config.betas) != config.rounds:
        raise ValueError(f"betas must have one entry per round ({config.rounds}), got {config.betas}")
    for name in ("cd_sweeps", "rounds", "couplings_per_round", "steps_per_round", "batch_size", "cd_chains"):
        v = getattr(config, name)
        if not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    if config.cd_chains > config.n_chains * config.n_samples:
        raise ValueError(
            f"cd_chains ({config.cd_chains}) must be <= n_chains * n_samples ({config.n_chains * config.n_samples})"
        )


def train_flow(key: Array, n, config: TrainingConfig = TrainingConfig(), *, progress: bool = False
               ) -> FlowTrainingResult:
    """Learn the majority-rule RG flow in the coupling space of dimension ``n`` (see the module docstring).

    Args:
        key: PRNG key (fixes the network initialisation, coupling samples, Monte Carlo data and CD chains).
        n: coupling-space dimension of the 2 x 2 patch (1, 2, 3, 5) or a :class:`CouplingSpace` (e.g.
            ``coupling_space(8, patch=3)``).
        config: :class:`TrainingConfig`.
        progress: print one line per round.

    Returns:
        :class:`FlowTrainingResult`.
    """
    space = coupling_space(n)
    _validate_config(config)
    k_init, k_rounds = jax.random.split(key)
    scale = space.array("box_high") - space.array("box_low")
    flow = FlowModel(k_init, space.n, width=config.width, depth=config.depth, scale=scale,
                     symmetries=space.symmetries, anchored=config.anchored)
    optimizer = _optimizer(config.learning_rate, config.rounds * config.steps_per_round)
    opt_state = optimizer.init(eqx.filter(flow, eqx.is_inexact_array))
    table = None
    if config.loss == "exact":
        table = EnumerationTable(*(jnp.asarray(x, jnp.float32) for x in enumeration_table(space)))

    per_round = config.couplings_per_round
    pool, history = None, []
    for r in range(config.rounds):
        k_sample, k_data, k_train = jax.random.split(jax.random.fold_in(k_rounds, r), 3)
        J = sample_couplings(
            k_sample, flow, space, per_round, beta=config.betas[r], uniform_fraction=config.uniform_fraction
        )
        new = blocked_data(k_data, J, space, config.L, n_chains=config.n_chains, n_thermalize=config.n_thermalize,
                           n_samples=config.n_samples, sweeps_between=config.sweeps_between)
        if pool is None:  # preallocated: one compiled training step for all rounds
            pool = jax.tree.map(lambda x: jnp.zeros((config.rounds * per_round, *x.shape[1:]), x.dtype), new)
        pool = jax.tree.map(lambda a, b: a.at[r * per_round:(r + 1) * per_round].set(b), pool, new)
        filled = jnp.asarray((r + 1) * per_round)
        flow, opt_state, reports = _train_round(flow, opt_state, k_train, pool, filled, table, optimizer, space, config)
        history.extend(np.asarray(reports))
        if progress:
            print(f"round {r}: {(r + 1) * per_round} couplings, loss/mismatch {float(history[-1]):.4g}")
    return FlowTrainingResult(flow, pool, np.asarray(history))


@functools.lru_cache(maxsize=None)
def _optimizer(learning_rate: float, total_steps: int):
    return optax.adam(optax.cosine_decay_schedule(learning_rate, total_steps, alpha=0.01))


@eqx.filter_jit
def _train_round(flow, opt_state, key, pool: FlowData, filled, table, optimizer, space, config):
    params, static = eqx.partition(flow, eqx.is_array)

    def body(carry, k):
        params, opt_state = carry
        flow, opt_state, report = _train_step(
            eqx.combine(params, static), opt_state, k, pool, filled, table, optimizer, space, config
        )
        return (eqx.filter(flow, eqx.is_array), opt_state), report

    (params, opt_state), reports = jax.lax.scan(
        body, (params, opt_state), jax.random.split(key, config.steps_per_round)
    )
    return eqx.combine(params, static), opt_state, reports


def _train_step(flow, opt_state, key, pool: FlowData, filled, table, optimizer, space, config):
    k_batch, k_chains, k_cd = jax.random.split(key, 3)
    idx = jnp.floor(jax.random.uniform(k_batch, (config.batch_size,)) * filled).astype(jnp.int32)
    batch = jax.tree.map(lambda x: x[idx], pool)
    if config.loss == "cd":
        chains = jax.random.choice(k_chains, batch.spins.shape[1], (config.cd_chains,), replace=False)
        batch = batch._replace(spins=batch.spins[:, chains])

        def loss_fn(flow):
            surrogate, diff = cd_loss(flow, k_cd, batch, space, config.cd_sweeps)
            return surrogate, jnp.sqrt(jnp.mean(jnp.sum(diff * diff, -1)))
    else:

        def loss_fn(flow):
            value = exact_loss(flow, batch, table)
            return value, value

    (_, report), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(flow)
    updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(flow, eqx.is_inexact_array))
    return eqx.apply_updates(flow, updates), opt_state, report
