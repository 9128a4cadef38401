"""Block-spin maps as conditional tables ``P(H | V)`` over every configuration ``V`` of a ``b x b`` block.

Block configuration ``v`` in ``[0, 2^(b^2))`` has spin ``V_k = 1 - 2 bit_k(v)`` at flat position ``k = b u + w``
(row ``u``, column ``w``), the convention of :func:`jaxrg.exact.enumerate_states`. A map with ``n_hidden`` coarse
variables per block has ``2^n_hidden`` coarse values ``h``, with ``H_j = 1 - 2 bit_j(h)``. Every map is a row-stochastic
``(2^(b^2), 2^n_hidden)`` table; named rules (majority with fair-coin ties, decimation) have ``n_hidden = 1``.

:class:`FilterMap` is the trainable map ``P(H_j = +1 | V) = sigmoid(w_j . V + c_j)``, one filter per hidden variable,
the hidden variables independent given ``V``; it is an equinox module (a pytree of arrays), so ``jax.grad`` and optax
train it, and :meth:`FilterMap.rule` turns one of its filters into a :class:`jaxrg.rg.blocking.FilterRule` for
``jaxrg.rg.blocking`` / ``jaxrg.rg.mcrg``.
"""

from __future__ import annotations

import functools
import numbers

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg.rg.blocking import BLOCK_RULES, FilterRule

__all__ = ["FilterMap", "block_configurations", "binary_configurations", "block_index", "conditional_table"]

MAX_BLOCK_SITES = 9  # 3 x 3 blocks: 512 configurations
MAX_HIDDEN = 4


def _check_block_size(b) -> int:
    if isinstance(b, bool) or not isinstance(b, (numbers.Integral, np.integer)) or not 2 <= b * b <= MAX_BLOCK_SITES:
        raise ValueError(f"b must be 2 or 3 (a block of at most {MAX_BLOCK_SITES} spins), got {b!r}")
    return int(b)


@functools.lru_cache(maxsize=16)
def binary_configurations(n: int) -> np.ndarray:
    """All ``2^n`` configurations of ``n`` spins, ``(2^n, n)`` int8, spin ``k`` of row ``x`` = ``1 - 2 bit_k(x)``."""
    bits = (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1
    out = (1 - 2 * bits).astype(np.int8)
    out.flags.writeable = False
    return out


def block_configurations(b: int) -> np.ndarray:
    """All ``2^(b^2)`` configurations of a ``b x b`` block, ``(2^(b^2), b, b)`` int8."""
    b = _check_block_size(b)
    return binary_configurations(b * b).reshape(-1, b, b)


def block_index(blocks: Array) -> Array:
    """Index ``v`` of each block configuration: ``(..., b, b)`` spins -> ``(...,)`` int32 in ``[0, 2^(b^2))``."""
    b2 = blocks.shape[-1] * blocks.shape[-2]
    bits = (1 - blocks.reshape(*blocks.shape[:-2], b2).astype(jnp.int32)) // 2
    return jnp.sum(bits << jnp.arange(b2, dtype=jnp.int32), axis=-1)


class FilterMap(eqx.Module):
    """Trainable stochastic block-spin map ``P(H_j = +1 | V) = sigmoid(w_j . V + c_j)``, ``j < n_hidden``.

    Attributes:
        weights: ``(n_hidden, b, b)`` filters.
        bias: ``(n_hidden,)`` offsets (0 keeps the up/down symmetry).
    """

    weights: Array
    bias: Array

    def __init__(self, weights, bias=None):
        weights = jnp.asarray(weights, jnp.result_type(float))
        if weights.ndim == 2:
            weights = weights[None]
        if weights.ndim != 3 or weights.shape[1] != weights.shape[2] or not 1 <= weights.shape[0] <= MAX_HIDDEN:
            raise ValueError(f"weights must be (n_hidden, b, b), 1 <= n_hidden <= {MAX_HIDDEN}, got {weights.shape}")
        _check_block_size(weights.shape[-1])
        self.weights = weights
        self.bias = jnp.zeros(weights.shape[0], weights.dtype) if bias is None else jnp.asarray(bias, weights.dtype)

    @classmethod
    def random(cls, key: Array, b: int = 2, n_hidden: int = 1, scale: float = 0.5) -> "FilterMap":
        """A map with independent normal weights of standard deviation ``scale`` and zero bias."""
        b = _check_block_size(b)
        return cls(scale * jax.random.normal(key, (n_hidden, b, b)))

    @property
    def b(self) -> int:
        """Block side."""
        return int(self.weights.shape[-1])

    @property
    def n_hidden(self) -> int:
        """Number of coarse variables per block."""
        return int(self.weights.shape[0])

    def up_probabilities(self, blocks: Array) -> Array:
        """``P(H_j = +1 | V)``: ``(..., b, b)`` blocks -> ``(..., n_hidden)``."""
        field = jnp.einsum("...uv,juv->...j", blocks.astype(self.weights.dtype), self.weights) + self.bias
        return jax.nn.sigmoid(field)

    def table(self) -> Array:
        """``P(H = h | V = v)``, ``(2^(b^2), 2^n_hidden)``."""
        up = self.up_probabilities(jnp.asarray(block_configurations(self.b)))  # (n_V, n_hidden)
        hidden = jnp.asarray(binary_configurations(self.n_hidden)) > 0  # (n_H, n_hidden): H_j = +1
        factors = jnp.where(hidden[None], up[:, None, :], 1.0 - up[:, None, :])
        return jnp.prod(factors, axis=-1)

    def rule(self, j: int = 0) -> FilterRule:
        """Filter ``j`` as a :class:`jaxrg.rg.blocking.FilterRule` (a block-spin rule for blocking and MCRG)."""
        if not 0 <= j < self.n_hidden:
            raise ValueError(f"j must be in [0, {self.n_hidden}), got {j!r}")
        return FilterRule(self.weights[j], self.bias[j])


def _named_table(name: str, b: int) -> np.ndarray:
    configs = block_configurations(b).astype(np.int64)
    if name == "majority":
        total = configs.sum(axis=(1, 2))
        up = np.where(total > 0, 1.0, np.where(total < 0, 0.0, 0.5))
    else:  # decimation keeps the top-left spin
        up = (configs[:, 0, 0] > 0).astype(np.float64)
    return np.stack([up, 1.0 - up], axis=-1)


def conditional_table(rule, b: int = 2) -> Array:
    """The map ``P(H = h | V = v)`` as a ``(2^(b^2), 2^n_hidden)`` table.

    Args:
        rule: ``"majority"`` (fair-coin ties), ``"decimation"``, a :class:`FilterMap`, a
            :class:`jaxrg.rg.blocking.FilterRule`, or a table itself (rows are validated to be distributions).
        b: block side (2 or 3); must match the block side of a map or filter.

    Returns:
        ``(2^(b^2), 2^n_hidden)`` array, rows summing to 1.
    """
    b = _check_block_size(b)
    if isinstance(rule, str):
        if rule not in BLOCK_RULES:
            raise ValueError(f"rule must be one of {sorted(BLOCK_RULES)}, a FilterMap, a FilterRule or a table, got "
                             f"{rule!r}")
        return jnp.asarray(_named_table(rule, b), jnp.result_type(float))
    if isinstance(rule, FilterRule):
        rule = FilterMap(rule.weights[None], jnp.reshape(rule.bias, (1,)))
    if isinstance(rule, FilterMap):
        if rule.b != b:
            raise ValueError(f"b = {b} does not match the map's block side {rule.b}")
        return rule.table()
    table = jnp.asarray(rule)
    if table.ndim != 2 or table.shape[0] != 2 ** (b * b) or table.shape[1] not in [2**k for k in range(1, 5)]:
        raise ValueError(f"a table must have shape (2^(b^2), 2^n_hidden) = ({2 ** (b * b)}, 2..16), got {table.shape}")
    return table
