"""Learned coarse-graining: a :class:`~jaxrg.rg.information.maps.FilterMap` trained by gradient to maximise
``I(H : E)``.

The objective is the reference ``I(H : E)`` of :mod:`~jaxrg.rg.information.reference` for a fixed set of sampled
environments: ``P(V | R)`` is computed once, and ``I`` is a smooth function of the map's table, so Adam maximises it
without estimator noise (Koch-Janusz and Ringel maximise a neural estimate of the same quantity). The filter is not
constrained: whether the optimum is symmetric and uniform is an outcome, measured by :func:`filter_spread`.

Without a constraint the information grows as the filter sharpens (weights grow); training stops after a fixed number
of steps, and the direction of the filter (weights divided by their mean) is the result to compare.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

from jaxrg.rg.information.maps import FilterMap
from jaxrg.rg.information.reference import mutual_information

__all__ = ["learn_map", "filter_spread"]

_OPTIMIZER = optax.inject_hyperparams(optax.adam)(learning_rate=0.05)


@eqx.filter_jit
def _fit(model, opt_state, key, conditional, *, steps: int, batch: int, symmetric: bool):
    def loss(model, cond):
        if symmetric:  # zero bias, so the bias gets no gradient and stays 0
            model = eqx.tree_at(lambda m: m.bias, model, jnp.zeros_like(model.bias))
        return -mutual_information(cond, model.table())

    def step(carry, key):
        model, opt_state = carry
        idx = jax.random.randint(key, (batch,), 0, conditional.shape[0])
        value, grads = eqx.filter_value_and_grad(loss)(model, conditional[idx])
        updates, opt_state = _OPTIMIZER.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return (eqx.apply_updates(model, updates), opt_state), -value

    (model, opt_state), history = jax.lax.scan(step, (model, opt_state), jax.random.split(key, steps))
    return model, history


def learn_map(conditional: Array, *, b: int = 2, n_hidden: int = 1, steps: int = 400, batch: int = 4096,
              learning_rate: float = 0.05, init_scale: float = 0.1, seed: int = 0,
              symmetric: bool = False) -> tuple[FilterMap, np.ndarray]:
    """Maximise ``I(H : E)`` over the filters of a :class:`FilterMap` by Adam on minibatches of environments.

    Args:
        conditional: ``(..., 2^(b^2))`` exact ``P(V | R)`` of sampled environments
            (:attr:`~jaxrg.rg.information.reference.BlockEnvironments.conditional`).
        b: block side (2 or 3).
        n_hidden: coarse variables per block.
        steps, batch: Adam steps and environments per step.
        learning_rate: Adam step size (traced).
        init_scale: standard deviation of the random initial weights (no symmetry imposed).
        seed: integer seed (initial weights, minibatches).
        symmetric: keep the bias at 0 (up/down symmetric map: needed where the coarse model must stay at zero field,
            e.g. MCRG, which treats even and odd operators separately). Free biases learn to break block-sum ties
            deterministically, which keeps slightly more information.

    Returns:
        ``(model, history)``: the trained map and the ``(steps,)`` minibatch information values (nats).
    """
    conditional = jnp.asarray(conditional)
    if conditional.shape[-1] != 2 ** (b * b):
        raise ValueError(f"conditional must end in 2^(b^2) = {2 ** (b * b)} block configurations, got "
                         f"{conditional.shape}")
    conditional = conditional.reshape(-1, conditional.shape[-1])
    if steps < 1 or batch < 1:
        raise ValueError(f"steps and batch must be >= 1, got {steps}, {batch}")
    key_init, key_fit = jax.random.split(jax.random.key(seed))
    model = FilterMap.random(key_init, b, n_hidden, init_scale)
    opt_state = _OPTIMIZER.init(eqx.filter(model, eqx.is_array))
    opt_state.hyperparams["learning_rate"] = jnp.asarray(learning_rate, jnp.result_type(float))
    model, history = _fit(model, opt_state, key_fit, conditional, steps=int(steps),
                          batch=int(min(batch, conditional.shape[0])), symmetric=bool(symmetric))
    return model, np.asarray(history)


def filter_spread(model: FilterMap) -> np.ndarray:
    """Relative spread ``(max - min) / |mean|`` of each filter's weights, ``(n_hidden,)`` (0: a uniform filter)."""
    w = np.asarray(model.weights).reshape(model.n_hidden, -1)
    return (w.max(axis=1) - w.min(axis=1)) / np.abs(w.mean(axis=1))
