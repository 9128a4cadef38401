"""Validation of the Python-level arguments of the tensor-network API, before anything is traced."""

from __future__ import annotations

import warnings

import jax
import numpy as np

from jaxrg.rg.trg.gilt import GiltTRG
from jaxrg.rg.trg.network import BTRG, DEFAULT_STEPS, HOTRG, TRG, Scheme

_SCHEMES = {scheme.name: scheme for scheme in (TRG, HOTRG, BTRG, GiltTRG)}
#: Names accepted as ``method`` (each the scheme with its default parameters).
METHODS = tuple(_SCHEMES)


def check_chi(chi) -> int:
    if isinstance(chi, bool) or not isinstance(chi, (int, np.integer)) or chi < 2:
        raise ValueError(f"chi (bond dimension) must be an integer >= 2, got {chi!r}")
    return int(chi)


def check_steps(steps, *, minimum: int = 0) -> int:
    if steps is None:
        return DEFAULT_STEPS
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < minimum:
        raise ValueError(f"steps (number of coarse-graining steps) must be an integer >= {minimum} or None, "
                         f"got {steps!r}")
    return int(steps)


def check_method(method) -> Scheme:
    """A method name from :data:`METHODS` or a scheme instance (e.g. ``BTRG(k=-0.3)``) -> the scheme."""
    if isinstance(method, str):
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS} or a scheme instance, got {method!r}")
        return _SCHEMES[method]()
    if not isinstance(method, Scheme):
        raise ValueError(f"method must be one of {METHODS} or a scheme instance, got {method!r}")
    method.validate()
    return method


def check_broadening(broadening) -> float:
    try:
        b = float(broadening)
    except (TypeError, ValueError):
        raise ValueError(f"broadening must be a float in [0, 1e-3], got {broadening!r}") from None
    if not (0.0 <= b <= 1e-3):
        raise ValueError(f"broadening must be a float in [0, 1e-3], got {broadening!r}")
    return b


def is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def check_coupling(K, h) -> None:
    """Check concrete (non-traced) couplings: K finite and > 0, h finite."""
    if is_concrete(K):
        k = np.asarray(K, dtype=np.float64)
        if not np.all(np.isfinite(k)) or np.any(k <= 0):
            raise ValueError(f"K (= J/T) must be finite and > 0 (ferromagnet), got {K!r}")
    if is_concrete(h):
        hh = np.asarray(h, dtype=np.float64)
        if not np.all(np.isfinite(hh)):
            raise ValueError(f"h (reduced field) must be finite, got {h!r}")


def warn_if_float32() -> None:
    if not jax.config.jax_enable_x64:
        warnings.warn("jaxrg TRG/HOTRG: float64 is disabled; results are limited to ~1e-6 relative accuracy and "
                      "second derivatives are unreliable. Call jax.config.update('jax_enable_x64', True) first.",
                      RuntimeWarning, stacklevel=3)


def temperatures(T) -> np.ndarray:
    try:
        arr = np.asarray(T, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"T must be a positive real number or 1D array of them, got {T!r}") from None
    if arr.ndim > 1 or arr.size == 0:
        raise ValueError(f"T must be a scalar or a non-empty 1D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"T must be finite and > 0 (units of J), got {T!r}")
    return arr


def finite_scalar(x, name):
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite real scalar, got {x!r}") from None
    if not np.isfinite(v):
        raise ValueError(f"{name} must be a finite real scalar, got {x!r}")
    return v


def positive_int(x, name: str, minimum: int = 1) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {x!r}")
    return int(x)


def coupling_or_critical(K) -> float:
    """K finite and > 0, or None for the critical coupling."""
    from jaxrg import exact

    if K is None:
        return exact.CRITICAL_COUPLING
    K = finite_scalar(K, "K")
    if K <= 0:
        raise ValueError(f"K must be > 0, got {K!r}")
    return K


def check_reverse_mode(scheme: Scheme) -> None:
    """Reverse-mode derivatives need a scheme without a data-dependent loop (Gilt-TNR has one)."""
    if isinstance(scheme, GiltTRG):
        raise ValueError("method 'gilt-trg' supports values and forward-mode derivatives only; use 'trg', 'btrg' "
                         "or 'hotrg' for derivatives by jax.grad (energy, heat capacity, magnetisation)")
