"""Finite-size scaling: power laws in L and the extrapolation of pseudo-critical temperatures T_c(L).

(Binder-cumulant crossings of reweighted curves are :func:`jaxrg.reweighting.binder_crossing`.)

One power-law fit with one error convention serves the whole package (:func:`power_law_fit`): weighted least
squares of ``ln y = ln A + p ln L`` with weights from the standard errors of ``y``; the parameter errors are the
square roots of the covariance diagonal, scaled up by ``sqrt(chi^2 / dof)`` when that exceeds 1 (the Birge-ratio
convention of the Particle Data Group: a poor fit never shrinks its own error bars).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxrg.stats import Estimate

__all__ = ["PowerLawFit", "power_law_fit", "CriticalTemperatureFit", "critical_temperature_fit"]


def _weighted_line(x: np.ndarray, y: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted least squares ``y = c0 + c1 x``: ``(coef, errors, chi2/dof)``, errors by the module's convention."""
    A = np.stack([np.ones_like(x), x], axis=1) / dy[:, None]
    b = y / dy
    coef, *_ = np.linalg.lstsq(A, b, rcond=None)
    cov = np.linalg.inv(A.T @ A)
    dof = x.size - 2
    chi2 = float(np.sum((A @ coef - b) ** 2)) / dof if dof > 0 else float("nan")
    err = np.sqrt(np.diag(cov)) * (max(1.0, np.sqrt(chi2)) if dof > 0 else 1.0)
    return coef, err, chi2


class PowerLawFit(NamedTuple):
    """``y = amplitude * L^exponent``.

    Attributes:
        exponent: :class:`~jaxrg.stats.Estimate` of ``p``.
        log_amplitude: :class:`~jaxrg.stats.Estimate` of ``ln A``.
        chi2_per_dof: chi^2 per degree of freedom of the fit (NaN for two points: an exact fit).
    """

    exponent: Estimate
    log_amplitude: Estimate
    chi2_per_dof: float


def power_law_fit(L, y, dy) -> PowerLawFit:
    """Weighted fit of ``y = A L^p`` on log-log axes (errors: see the module docstring).

    Args:
        L: sizes (> 0), at least two distinct.
        y: values (> 0).
        dy: standard errors of ``y`` (> 0).

    Returns:
        :class:`PowerLawFit`.
    """
    L, y, dy = (np.asarray(a, np.float64) for a in (L, y, dy))
    if L.ndim != 1 or L.shape != y.shape or L.shape != dy.shape or np.unique(L).size < 2:
        raise ValueError(f"L, y, dy must be 1D of equal length with >= 2 distinct sizes, got {L}, {y}, {dy}")
    if np.any(L <= 0) or np.any(y <= 0) or np.any(~(dy > 0)):
        raise ValueError("L, y and dy must be > 0 for a power-law fit on log-log axes")
    coef, err, chi2 = _weighted_line(np.log(L), np.log(y), dy / y)  # dy / y: standard error of ln y
    return PowerLawFit(Estimate(float(coef[1]), float(err[1])), Estimate(float(coef[0]), float(err[0])), chi2)


class CriticalTemperatureFit(NamedTuple):
    """``T_c(L) = T_c + a L^(-1/nu)`` fitted to pseudo-critical temperatures of several sizes.

    Attributes:
        T_c: :class:`~jaxrg.stats.Estimate` of the infinite-lattice critical temperature.
        amplitude: :class:`~jaxrg.stats.Estimate` of ``a``.
        nu: the exponent used (fixed, not fitted).
        chi2_per_dof: chi^2 per degree of freedom (NaN with two sizes: an exact fit).
    """

    T_c: Estimate
    amplitude: Estimate
    nu: float
    chi2_per_dof: float


def critical_temperature_fit(L, T_L, dT_L, *, nu: float = 1.0) -> CriticalTemperatureFit:
    """Extrapolate pseudo-critical temperatures ``T_c(L)`` (peaks, crossings) to ``L -> infinity``.

    A weighted straight line in ``x = L^(-1/nu)``; ``nu`` is fixed (default the exact 2D Ising value 1): with three
    to five sizes a free ``nu`` is poorly determined and would widen the error of ``T_c`` several-fold. Errors as
    in :func:`power_law_fit` (scaled up by ``sqrt(chi^2/dof)`` when that exceeds 1).

    Args:
        L: sizes (>= 2 distinct); for crossings of sizes ``(L1, L2)`` pass e.g. the geometric mean.
        T_L: pseudo-critical temperatures; dT_L: their standard errors (> 0).
        nu: the correlation-length exponent.

    Returns:
        :class:`CriticalTemperatureFit`.
    """
    L, T_L, dT_L = (np.asarray(a, np.float64) for a in (L, T_L, dT_L))
    if L.ndim != 1 or L.shape != T_L.shape or L.shape != dT_L.shape or np.unique(L).size < 2:
        raise ValueError(f"L, T_L, dT_L must be 1D of equal length with >= 2 distinct sizes, got {L}, {T_L}, {dT_L}")
    if np.any(~(dT_L > 0)) or not nu > 0:
        raise ValueError("dT_L must be > 0 and nu > 0")
    coef, err, chi2 = _weighted_line(L ** (-1.0 / nu), T_L, dT_L)
    return CriticalTemperatureFit(Estimate(float(coef[0]), float(err[0])), Estimate(float(coef[1]), float(err[1])),
                                  float(nu), chi2)
