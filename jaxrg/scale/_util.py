"""Internal helpers shared by the scale-dynamics modules (validation at the Python boundary, dtypes)."""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(*xs: Any) -> bool:
    """True when none of the array leaves is a tracer, so values can be checked at the Python boundary."""
    leaves = jax.tree_util.tree_leaves(xs)
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in leaves)


def float_array(x: Any) -> jax.Array:
    """`x` as a JAX array of the default floating dtype (float64 when x64 is enabled) unless already inexact."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        x = x.astype(jnp.result_type(float))
    return x


def check_callable(fn: Any, name: str) -> None:
    if not callable(fn):
        raise ValueError(f"{name} must be a callable (a JAX-traceable function), got {type(fn).__name__}")


def check_positive_int(n: Any, name: str, minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ValueError(f"{name} must be a Python int >= {minimum} (it is a static size), got {n!r}")
    if int(n) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {n}")
    return int(n)


def check_positive_float(x: Any, name: str, allow_zero: bool = False) -> None:
    """Reject non-finite or non-positive scalars (skipped for traced values)."""
    if not is_concrete(x):
        return
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got shape {arr.shape}")
    v = float(arr)
    ok = math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {v}")


def check_finite(x: Any, name: str) -> None:
    """Reject non-finite entries in any leaf of x (skipped for traced values)."""
    if not is_concrete(x):
        return
    for leaf in jax.tree_util.tree_leaves(x):
        if not np.all(np.isfinite(np.asarray(leaf))):
            raise ValueError(f"{name} must contain only finite values, got {np.asarray(leaf)}")


def identity_cache(factory: Callable) -> Callable:
    """Memoise a factory of wrapped functions on its (hashable) arguments, user functions by identity.

    Jitted cores take the user's beta / F / map as static arguments; returning the same wrapper object for the same
    user function lets jax.jit reuse its compilation across calls. Unhashable arguments (e.g. a callable pytree
    holding arrays) fall back to building a fresh wrapper. The cache is bounded (LRU, 256 entries).
    """
    cached = functools.lru_cache(maxsize=256)(factory)

    @functools.wraps(factory)
    def wrapper(*args):
        try:
            return cached(*args)
        except TypeError:
            return factory(*args)

    return wrapper


@identity_cache
def _flat_wrappers(fn: Callable, shape: tuple) -> tuple[Callable, Callable]:
    def unravel(v):
        return jnp.reshape(v, shape)

    def flat_fn(v):
        return jnp.ravel(fn(unravel(v)))

    return flat_fn, unravel


def as_flat_field(fn: Callable, g0: jax.Array) -> tuple[Callable, Callable, jax.Array]:
    """Wrap fn: g -> array of g's shape as a function of the flattened coupling vector (shape (n,))."""
    g0 = float_array(g0)
    flat_fn, unravel = _flat_wrappers(fn, tuple(g0.shape))
    return flat_fn, unravel, jnp.ravel(g0)
