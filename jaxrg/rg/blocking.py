"""Block-spin maps on ``b x b`` blocks of the periodic square lattice: majority rule, decimation, block averages.

A block-spin map sends an ``(..., L, L)`` configuration to an ``(..., L/b, L/b)`` one; block ``(I, J)`` holds the fine
sites ``(b I + u, b J + v)`` for ``0 <= u, v < b``. Every map here is a pure ``jax.numpy`` function: it jit-compiles,
vmaps over configurations (and keys), and treats leading axes as batch axes. ``b`` is static.

- :func:`majority_rule`: the block spin is the sign of the block sum. For even ``b`` the sum can vanish; such ties are
  broken by an independent fair coin per tied block, drawn from an explicit PRNG key, so the map keeps the up/down
  symmetry exactly (Swendsen 1979). For odd ``b`` no tie is possible and no key is needed.
- :func:`decimation`: the block spin is the spin in the block's top-left corner (site ``(b I, b J)``).
- :func:`stochastic_block_spins`: a stochastic map with a linear filter, ``P(s' = +1 | V) = sigmoid(w . V + c)``;
  :class:`FilterRule` holds ``(w, c)`` as an equinox module (trainable, a pytree of arrays, so compiled code that
  takes it as an argument is reused for new weights), and :func:`swendsen_rule` is Swendsen's
  ``P(s' | V) ~ exp(p s' sum V)`` (uniform ``w = 2 p``, ``c = 0``; ``p -> infinity`` is the majority rule).
- :func:`block_hierarchy`: a map applied repeatedly, giving the configurations on ``L, L/b, L/b^2, ...``. A rule is a
  name in :data:`BLOCK_RULES` or any callable ``rule(spins, b, key)`` (e.g. a :class:`FilterRule`).
- :func:`block_average`: the mean of a continuous field over each block (for soft-spin / phi^4 fields).
"""

from __future__ import annotations

import numbers

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg import ising

__all__ = [
    "BLOCK_RULES", "FilterRule", "majority_rule", "decimation", "stochastic_block_spins", "swendsen_rule",
    "block_hierarchy", "block_average", "validate_block_size", "resolve_rule",
]


def validate_block_size(b, L: int, *, levels: int = 1, name: str = "b") -> int:
    """Return ``b`` as a Python int after checking it is an integer >= 2 with ``b**levels`` dividing ``L``.

    Raises:
        ValueError: naming ``name`` and the allowed values.
    """
    if isinstance(b, bool) or not isinstance(b, (numbers.Integral, np.integer)):
        raise ValueError(f"{name} must be an integer block size >= 2, got {b!r}")
    b = int(b)
    if b < 2:
        raise ValueError(f"{name} must be an integer block size >= 2, got {b}")
    if L % (b**levels):
        if levels == 1:
            raise ValueError(f"{name} = {b} must divide the lattice size L = {L} (L % b == 0)")
        raise ValueError(
            f"{name}**levels = {b}**{levels} = {b**levels} must divide the lattice size L = {L} "
            f"to block {levels} times"
        )
    return b


def _validate_levels(levels) -> int:
    if isinstance(levels, bool) or not isinstance(levels, (numbers.Integral, np.integer)) or int(levels) < 0:
        raise ValueError(f"levels must be an integer >= 0, got {levels!r}")
    return int(levels)


def _block_sums(x: Array, b: int, dtype) -> Array:
    """Sum of ``x`` over each ``b x b`` block: ``(..., L, L) -> (..., L/b, L/b)``."""
    L = x.shape[-1]
    blocks = x.astype(dtype).reshape(*x.shape[:-2], L // b, b, L // b, b)
    return jnp.sum(blocks, axis=(-3, -1))


def majority_rule(spins: Array, b: int = 2, *, key: Array | None = None) -> Array:
    """Majority-rule block spins: the sign of each ``b x b`` block sum, ties broken by a fair coin per block.

    Args:
        spins: ``(..., L, L)`` int8 configurations in {-1, +1}; ``b`` must divide ``L``.
        b: block side (static int >= 2).
        key: PRNG key for the tie-breaking coins, required for even ``b`` (one coin per block of every
            configuration in the batch; vmap over keys to give each configuration its own). Ignored for odd ``b``.

    Returns:
        ``(..., L/b, L/b)`` int8 block spins.

    Raises:
        ValueError: for bad spins, a ``b`` that does not divide ``L``, or a missing key with even ``b``.
    """
    spins = ising.validate_spins(spins, minimum=1)
    b = validate_block_size(b, spins.shape[-1])
    block_sum = _block_sums(spins, b, jnp.int32)
    if b % 2:
        return jnp.sign(block_sum).astype(jnp.int8)
    if key is None:
        raise ValueError(f"key is required for majority_rule with even b = {b}: ties (block sum 0) are random")
    coins = jnp.where(jax.random.bernoulli(key, 0.5, block_sum.shape), 1, -1).astype(jnp.int8)
    return jnp.where(block_sum == 0, coins, jnp.sign(block_sum).astype(jnp.int8))


def decimation(spins: Array, b: int = 2) -> Array:
    """Decimation: keep the top-left spin ``(b I, b J)`` of each ``b x b`` block.

    Args:
        spins: ``(..., L, L)`` int8 configurations; ``b`` must divide ``L``.
        b: block side (static int >= 2).

    Returns:
        ``(..., L/b, L/b)`` int8 block spins.
    """
    spins = ising.validate_spins(spins, minimum=1)
    b = validate_block_size(b, spins.shape[-1])
    return spins[..., ::b, ::b]


def stochastic_block_spins(spins: Array, weights: Array, bias=0.0, *, key: Array) -> Array:
    """Stochastic block spins with a linear filter: ``P(s' = +1 | V) = sigmoid(sum_uv w_uv V_uv + c)`` per block.

    Args:
        spins: ``(..., L, L)`` int8 configurations; the block side ``b = weights.shape[-1]`` must divide ``L``.
        weights: ``(b, b)`` filter ``w`` (weight of the fine spin ``(b I + u, b J + v)`` at ``[u, v]``).
        bias: scalar ``c``.
        key: PRNG key; one independent uniform number per block of every configuration.

    Returns:
        ``(..., L/b, L/b)`` int8 block spins.
    """
    spins = ising.validate_spins(spins, minimum=1)
    weights = jnp.asarray(weights)
    if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
        raise ValueError(f"weights must be a (b, b) filter, got shape {weights.shape}")
    b = validate_block_size(weights.shape[-1], spins.shape[-1], name="weights.shape[-1]")
    L = spins.shape[-1]
    dtype = jnp.result_type(weights.dtype, float)
    blocks = spins.astype(dtype).reshape(*spins.shape[:-2], L // b, b, L // b, b)
    field = jnp.einsum("...iujv,uv->...ij", blocks, weights.astype(dtype)) + jnp.asarray(bias, dtype)
    up = jax.random.uniform(key, field.shape, dtype) < jax.nn.sigmoid(field)
    return jnp.where(up, 1, -1).astype(jnp.int8)


class FilterRule(eqx.Module):
    """A stochastic block-spin rule ``P(s' = +1 | V) = sigmoid(w . V + c)``, callable as ``rule(spins, b, key)``.

    Attributes:
        weights: ``(b, b)`` filter ``w``.
        bias: scalar ``c`` (0 keeps the up/down symmetry).
    """

    weights: Array
    bias: Array

    def __init__(self, weights, bias=0.0):
        weights = jnp.asarray(weights, jnp.result_type(float))
        if weights.ndim != 2 or weights.shape[0] != weights.shape[1] or weights.shape[0] < 2:
            raise ValueError(f"weights must be a (b, b) filter with b >= 2, got shape {weights.shape}")
        self.weights = weights
        self.bias = jnp.asarray(bias, weights.dtype)

    @property
    def b(self) -> int:
        """Block side."""
        return int(self.weights.shape[-1])

    def __call__(self, spins: Array, b: int, key: Array) -> Array:
        if b != self.b:
            raise ValueError(f"b = {b} does not match the filter's block side {self.b}")
        return stochastic_block_spins(spins, self.weights, self.bias, key=key)


def swendsen_rule(p, b: int = 2) -> FilterRule:
    """Swendsen's stochastic block spin ``P(s' | V) ~ exp(p s' sum V)``, i.e. ``sigmoid(2 p sum V)`` for ``s' = +1``.

    Args:
        p: finite sharpness ``>= 0`` (``p = 0``: a fair coin; ``p -> infinity``: majority rule, random ties).
        b: block side (>= 2).

    Returns:
        :class:`FilterRule` with uniform weights ``2 p`` and zero bias.
    """
    if isinstance(b, bool) or not isinstance(b, (numbers.Integral, np.integer)) or b < 2:
        raise ValueError(f"b must be an integer block size >= 2, got {b!r}")
    if not isinstance(p, jax.core.Tracer):
        p_value = float(np.asarray(p))
        if not (np.isfinite(p_value) and p_value >= 0):
            raise ValueError(f"p must be finite and >= 0 (use rule='majority' for p = infinity), got {p!r}")
    return FilterRule(2.0 * jnp.asarray(p, jnp.result_type(float)) * jnp.ones((b, b)), 0.0)


def _majority(spins, b, key):
    return majority_rule(spins, b, key=key)


def _decimation(spins, b, key):
    del key
    return decimation(spins, b)


BLOCK_RULES = {"majority": _majority, "decimation": _decimation}
"""Block-spin rules by name, each ``rule(spins, b, key) -> block spins`` (``key`` is ignored by decimation)."""


def resolve_rule(rule):
    """A block-spin rule as a pytree callable ``rule(spins, b, key)``: a name in :data:`BLOCK_RULES`, or a callable.

    Named rules come back as :class:`jax.tree_util.Partial` of a module-level function (no array leaves) and a
    :class:`FilterRule` as itself, so either can be an argument of a jitted function without recompiling for new
    weights.

    Raises:
        ValueError: for an unknown name or a non-callable.
    """
    if (isinstance(rule, str) and rule not in BLOCK_RULES) or not (isinstance(rule, str) or callable(rule)):
        raise ValueError(f"rule must be one of {sorted(BLOCK_RULES)} or a callable rule(spins, b, key), got {rule!r}")
    return jax.tree_util.Partial(BLOCK_RULES[rule]) if isinstance(rule, str) else rule


def _rule_needs_key(rule, b: int) -> bool:
    if isinstance(rule, str):
        return rule == "majority" and b % 2 == 0
    return True


def block_hierarchy(
    spins: Array, b: int = 2, levels: int = 1, *, key: Array | None = None, rule: str = "majority"
) -> tuple[Array, ...]:
    """Apply a block-spin map ``levels`` times: configurations on ``L, L/b, ..., L/b**levels``.

    Args:
        spins: ``(..., L, L)`` int8 configurations; ``b**levels`` must divide ``L``.
        b: block side (static int >= 2).
        levels: number of blockings (static int >= 0).
        key: PRNG key (required for the majority rule with even ``b``); level ``n`` uses
            ``jax.random.split(key, levels)[n - 1]``.
        rule: ``"majority"``, ``"decimation"`` or a callable ``rule(spins, b, key)`` (e.g. :class:`FilterRule`;
            a key is then required).

    Returns:
        Tuple of ``levels + 1`` int8 arrays; entry ``n`` has shape ``(..., L/b**n, L/b**n)`` (entry 0 is ``spins``).
    """
    spins = ising.validate_spins(spins, minimum=1)
    levels = _validate_levels(levels)
    b = validate_block_size(b, spins.shape[-1], levels=max(levels, 1))
    needs_key = _rule_needs_key(rule, b)
    apply = resolve_rule(rule)
    if needs_key and key is None and levels > 0:
        raise ValueError(f"key is required for the majority rule with even b = {b} and for stochastic rules")
    keys = jax.random.split(key, levels) if (needs_key and levels > 0) else [None] * levels
    out = [spins]
    for n in range(levels):
        out.append(apply(out[-1], b, keys[n]))
    return tuple(out)


def block_average(phi: Array, b: int = 2) -> Array:
    """Mean of a continuous field over each ``b x b`` block.

    Args:
        phi: ``(..., L, L)`` real field (integer inputs are promoted to the default float type); ``b`` must divide L.
        b: block side (static int >= 2).

    Returns:
        ``(..., L/b, L/b)`` block means (float dtype of ``phi``, or the default float for integer input).
    """
    shape = np.shape(phi)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"phi must have shape (..., L, L), got {shape}")
    phi = jnp.asarray(phi)
    if jnp.issubdtype(phi.dtype, jnp.complexfloating):
        raise ValueError(f"phi must be real, got dtype {phi.dtype}")
    dtype = phi.dtype if jnp.issubdtype(phi.dtype, jnp.floating) else jnp.result_type(float)
    b = validate_block_size(b, shape[-1])
    return _block_sums(phi, b, dtype) / (b * b)
