"""Validation of Python-side inputs of the scale-dynamics functions, before tracing (and the float dtype rule)."""

from __future__ import annotations

import math
from typing import Any

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
