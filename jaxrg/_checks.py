"""Input checks at the public boundary: the one place where Python values are validated before tracing.

Every public function checks its static arguments (sizes, counts, names) and its concrete physics values here, and
raises :class:`ValueError` naming the parameter and the allowed range. Traced values cannot be checked in Python;
kernels guard those with :func:`equinox.error_if` where a wrong value would otherwise give silent garbage.
"""

from __future__ import annotations

import numbers
from typing import Any, Iterable

import jax
import numpy as np

__all__ = ["integer", "real", "choice", "is_concrete", "temperatures"]


def integer(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None,
            even: bool = False) -> int:
    """``value`` as a Python int after checking that it is an integer in ``[minimum, maximum]`` (and even if asked).

    Booleans are rejected (``True`` is not a lattice size); numpy integers are accepted.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    low = minimum is not None and value < minimum
    high = maximum is not None and value > maximum
    if low or high or (even and value % 2):
        kind = "an even integer" if even else "an integer"
        bounds = [f">= {minimum}" if minimum is not None else "", f"<= {maximum}" if maximum is not None else ""]
        bound = " and ".join(b for b in bounds if b)
        raise ValueError(f"{name} must be {kind}{' ' + bound if bound else ''}, got {value}")
    return value


def real(value: Any, name: str, *, minimum: float | None = None, maximum: float | None = None,
         strict: bool = False) -> float:
    """``value`` as a finite Python float in ``[minimum, maximum]`` (open at ``minimum`` when ``strict``)."""
    if isinstance(value, (bool, np.bool_)) or isinstance(value, jax.core.Tracer):
        raise ValueError(f"{name} must be a concrete real number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not np.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x}")
    if minimum is not None and (x < minimum or (strict and x == minimum)):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {x}")
    if maximum is not None and x > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {x}")
    return x


def choice(value: Any, name: str, choices: Iterable[Any]) -> Any:
    """``value`` after checking that it is one of ``choices``."""
    choices = tuple(choices)
    if not isinstance(value, str) and isinstance(value, (list, dict, set)):
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def is_concrete(*values: Any) -> bool:
    """Whether every array leaf of ``values`` is concrete (no tracer), so that it can be checked in Python."""
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(values))


def temperatures(T: Any, *, name: str = "T", minimum: float = 0.0, max_ndim: int | None = 1) -> np.ndarray:
    """Temperatures as a float64 numpy array after checking that they are finite and > 0 (and >= ``minimum``).

    Args:
        T: temperature(s), a number or an array.
        name: the parameter name used in error messages.
        minimum: smallest allowed value (inclusive) when > 0; values must always be > 0.
        max_ndim: largest allowed number of dimensions (None: any shape).

    Raises:
        ValueError: naming ``name`` when a value is NaN, infinite, not positive, below ``minimum``, not numeric, or the
            array has too many dimensions or no element.
        TypeError: when ``T`` is a traced value (this is a Python-boundary check, not traceable).
    """
    if not is_concrete(T):
        raise TypeError(f"{name} is a traced value: temperatures are checked at the Python boundary, outside jit")
    try:
        arr = np.asarray(T, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive real number or array of them, got {T!r}") from None
    if max_ndim is not None and arr.ndim > max_ndim:
        raise ValueError(f"{name} must be a scalar or a 1D array of temperatures, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must contain at least one temperature")
    bad = ~np.isfinite(arr) | (arr <= 0.0) | (arr < minimum)
    if np.any(bad):
        first = arr[bad].flat[0]
        bound = f">= {minimum}" if minimum > 0.0 else "> 0"
        raise ValueError(f"{name} must be finite and {bound} (temperatures in units of J), got {first}")
    return arr
