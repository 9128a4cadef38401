"""Neural variational lower bounds on ``I(H : E)`` with equinox critics trained by optax.

A critic maps environment features ``e`` (e.g. the ring of :mod:`~jaxrg.rg.information.reference`, or any patch) to
one score per coarse value, ``f(h, e) = G(e)[h]``. For a batch of ``n`` joint samples ``(h_i, e_i)`` the score matrix
``F_ij = f(h_j, e_i)`` holds the joint pairs on its diagonal and product-of-marginals pairs off it:

- InfoNCE (van den Oord et al. 2018; contrast over the coarse values of the batch):
  ``I >= mean_i [F_ii - ln (1/n) sum_j exp F_ij]`` (at most ``ln n``; the optimum ``f = ln p(h | e) / p(h)``);
- NWJ (Nguyen, Wainwright and Jordan 2010, the ``f``-divergence bound):
  ``I >= mean_i F_ii - mean_{i != j} exp(F_ij - 1)`` (tight at ``f = 1 + ln p(h | e) / p(h)``).

Both are trained by maximising the bound on minibatches (Adam) and evaluated on held-out pairs in batches; the error
is the standard error over evaluation batches. The whole training run is one compiled ``lax.scan``; a new data set of
the same shapes, or a new learning rate, compiles nothing.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

from jaxrg.rg.information.maps import block_index, conditional_table
from jaxrg.stats import Estimate

__all__ = ["Critic", "BOUNDS", "infonce_bound", "nwj_bound", "sample_coarse", "train_critic", "estimate_information"]


class Critic(eqx.Module):
    """Scores ``f(h, e)`` for every coarse value ``h`` from environment features: an MLP ``e -> (n_H,)``."""

    mlp: eqx.nn.MLP

    def __init__(self, key: Array, n_features: int, n_values: int = 2, width: int = 64, depth: int = 2):
        self.mlp = eqx.nn.MLP(n_features, n_values, width, depth, activation=jax.nn.gelu, key=key)

    def __call__(self, env: Array) -> Array:
        """``(n_features,)`` -> ``(n_values,)`` scores."""
        return self.mlp(env.astype(jnp.result_type(float)))


def _score_matrix(critic: Critic, h: Array, env: Array) -> Array:
    scores = jax.vmap(critic)(env)  # (n, n_H)
    return scores[:, h]  # F_ij = f(h_j, e_i)


def infonce_bound(F: Array) -> Array:
    """InfoNCE lower bound from an ``(n, n)`` score matrix ``F_ij = f(h_j, e_i)`` (joint pairs on the diagonal)."""
    n = F.shape[0]
    return jnp.mean(jnp.diagonal(F) - jax.nn.logsumexp(F, axis=1) + math.log(n))


def nwj_bound(F: Array) -> Array:
    """NWJ lower bound from an ``(n, n)`` score matrix (off-diagonal pairs sample the product of marginals)."""
    n = F.shape[0]
    off = jnp.sum(jnp.exp(F - 1.0)) - jnp.sum(jnp.exp(jnp.diagonal(F) - 1.0))
    return jnp.mean(jnp.diagonal(F)) - off / (n * (n - 1))


BOUNDS = {"infonce": infonce_bound, "nwj": nwj_bound}
"""Lower bounds by name: ``bound(F) -> scalar``."""

_OPTIMIZER = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)


def sample_coarse(key: Array, blocks: Array, rule="majority") -> Array:
    """Draw the coarse value ``h`` of every block from the map: ``(..., b, b)`` blocks -> ``(...,)`` int32 indices."""
    b = blocks.shape[-1]
    table = conditional_table(rule, b)
    probs = table[block_index(jnp.asarray(blocks))]
    return jax.random.categorical(key, jnp.log(jnp.maximum(probs, 1e-30)), axis=-1).astype(jnp.int32)


@eqx.filter_jit
def _train(critic, opt_state, key, h, env, *, bound: str, steps: int, batch: int):
    params, static = eqx.partition(critic, eqx.is_array)

    def loss(params, h, env):
        return -BOUNDS[bound](_score_matrix(eqx.combine(params, static), h, env))

    def step(carry, key):
        params, opt_state = carry
        idx = jax.random.randint(key, (batch,), 0, h.shape[0])
        value, grads = jax.value_and_grad(loss)(params, h[idx], env[idx])
        updates, opt_state = _OPTIMIZER.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), -value

    (params, opt_state), history = jax.lax.scan(step, (params, opt_state), jax.random.split(key, steps))
    return eqx.combine(params, static), history


def train_critic(key: Array, h, env, *, bound: str = "infonce", steps: int = 2000, batch: int = 256,
                 learning_rate: float = 1e-3, width: int = 64, depth: int = 2, n_values: int = 2):
    """Train a :class:`Critic` by maximising a lower bound on ``I(H : E)``.

    Args:
        key: PRNG key (initial weights and minibatches).
        h: ``(n,)`` int coarse values (indices in ``[0, n_values)``), e.g. from :func:`sample_coarse`.
        env: ``(n, n_features)`` environment features of the same samples (e.g. ``ring.reshape(n, -1)``).
        bound: ``"infonce"`` or ``"nwj"``.
        steps, batch: Adam steps and minibatch size (``batch <= n``).
        learning_rate: Adam step size (traced).
        width, depth: MLP size.
        n_values: number of coarse values ``2^n_hidden``.

    Returns:
        ``(critic, history)``: trained critic and the ``(steps,)`` training bound values.
    """
    if bound not in BOUNDS:
        raise ValueError(f"bound must be one of {sorted(BOUNDS)}, got {bound!r}")
    h, env = jnp.asarray(h, jnp.int32), jnp.asarray(env)
    if h.ndim != 1 or env.ndim != 2 or env.shape[0] != h.shape[0]:
        raise ValueError(f"h must be (n,) and env (n, n_features), got {h.shape} and {env.shape}")
    if not 2 <= batch <= h.shape[0]:
        raise ValueError(f"batch must be in [2, n = {h.shape[0]}], got {batch}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    key_init, key_train = jax.random.split(key)
    critic = Critic(key_init, env.shape[1], n_values, width, depth)
    opt_state = _OPTIMIZER.init(eqx.filter(critic, eqx.is_array))
    opt_state.hyperparams["learning_rate"] = jnp.asarray(learning_rate, jnp.result_type(float))
    return _train(critic, opt_state, key_train, h, env, bound=bound, steps=int(steps), batch=int(batch))


@eqx.filter_jit
def _evaluate(critic, h, env, *, bound: str):
    return jax.vmap(lambda h, e: BOUNDS[bound](_score_matrix(critic, h, e)))(h, env)


def estimate_information(critic: Critic, h, env, *, bound: str = "infonce", batch: int = 512) -> Estimate:
    """Evaluate a trained critic's bound on held-out pairs: mean over batches and its standard error.

    Args:
        critic: from :func:`train_critic`.
        h, env: ``(n,)`` coarse values and ``(n, n_features)`` features (not used in training); the first
            ``batch * (n // batch)`` pairs are used, in batches of consecutive pairs (shuffle first if ordered).
        bound: ``"infonce"`` or ``"nwj"``.
        batch: evaluation batch size.

    Returns:
        :class:`~jaxrg.stats.Estimate` in nats.
    """
    if bound not in BOUNDS:
        raise ValueError(f"bound must be one of {sorted(BOUNDS)}, got {bound!r}")
    h, env = jnp.asarray(h, jnp.int32), jnp.asarray(env)
    n_batches = h.shape[0] // batch
    if n_batches < 2:
        raise ValueError(f"need at least 2 batches of {batch} pairs, got {h.shape[0]} pairs")
    use = n_batches * batch
    values = np.asarray(_evaluate(critic, h[:use].reshape(n_batches, batch),
                                  env[:use].reshape(n_batches, batch, -1), bound=bound), np.float64)
    return Estimate(values.mean(), values.std(ddof=1) / math.sqrt(n_batches))
