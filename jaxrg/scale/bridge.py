"""Bridge from discrete RG maps (Monte Carlo RG, learned flows, fits) to continuous scale flows and exponents.

A block transformation of side b maps couplings g -> g' = R(g) and advances the scale s = ln(length) by ln b.
At a fixed point g* = R(g*) the linearised map has eigenvalues lambda_i = b^{y_i}, so the RG eigenvalues are
y_i = ln(lambda_i) / ln b, the same as the eigenvalues of the matrix M = log(dR/dg) / ln b of the continuous flow
dg/ds = beta(g) whose scale-(ln b) map reproduces R to linear order at g*.

Continuous beta from a map (`beta_from_map`):
  * first order (g_star=None): beta(g) = (R(g) - g) / ln b. Exact fixed points, but its linearisation
    (dR/dg - 1) / ln b has eigenvalues (lambda - 1) / ln b, which equal y = ln(lambda) / ln b only to first order in
    ln(lambda) (for the 2D Ising thermal eigenvalue lambda_t = b = 2 it gives 1/ln 2 = 1.44 instead of y_t = 1).
  * exact at a fixed point (g_star given): beta(g) = P (R(g) - g) / ln b with P = f(J*), f(lambda) =
    ln(lambda) / (lambda - 1), J* = dR/dg(g*). Same zeros (P is invertible), and d beta/dg (g*) = log(J*) / ln b
    exactly, so `linearize` of this beta returns the exact y_i; away from g* it remains an approximation.
`analyze_map` does the whole chain: Newton on R(g) - g, Jacobian by autodiff, y_i, scaling fields, nu = 1 / y_t.

Plugging in the rest of jaxrg: a learned flow J -> J + f_theta(J) is `rg_map = lambda J: J + f_theta(J)`; a
linearised MCRG matrix T (from correlation functions) goes to `rg_matrix_exponents(T, b)`; measured pairs (K, K')
go through `polynomial_map` first.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float, Int

from jaxrg.scale._checks import (
    check_callable,
    check_finite,
    check_positive_float,
    check_positive_int,
    float_array,
    is_concrete,
)
from jaxrg.scale.fixed_points import default_tolerance, find_root, root_solver
from jaxrg.scale.linearization import classify_eigenvalues, critical_exponents, eigensystem

__all__ = [
    "MapAnalysis",
    "RGMatrixExponents",
    "beta_from_map",
    "analyze_map",
    "rg_matrix_exponents",
    "polynomial_map",
]


class RGMatrixExponents(NamedTuple):
    """RG eigenvalues of a linearised RG map (e.g. the MCRG matrix T).

    Fields:
        rg_eigenvalues: (n,) complex eigenvalues lambda_i of the map's Jacobian, ordered like `eigenvalues`.
        eigenvalues: (n,) complex y_i = ln(lambda_i) / ln b, by decreasing real part (-inf for lambda = 0).
        right_eigenvectors: (n, n) columns = scaling directions; left_eigenvectors: (n, n) rows = scaling fields,
            left @ right = identity.
        classification: (n,) +1 relevant, 0 marginal, -1 irrelevant (by Re y).
        y_t, nu, omega: from `critical_exponents` with the given thermal_index.
    """

    rg_eigenvalues: Complex[Array, " n"]
    eigenvalues: Complex[Array, " n"]
    right_eigenvectors: Complex[Array, "n n"]
    left_eigenvectors: Complex[Array, "n n"]
    classification: Int[Array, " n"]
    y_t: Float[Array, ""]
    nu: Float[Array, ""]
    omega: Float[Array, ""]


class MapAnalysis(NamedTuple):
    """Fixed point and exponents of a discrete RG map (see `analyze_map`).

    Fields:
        g_star: fixed point g* = R(g*) (shape of g0); residual: max|R(g*) - g*|; converged: Newton flag.
        jacobian: (n, n) dR/dg at g*.
        matrix: (n, n) M = log(dR/dg) / ln b, the linearised continuous flow (real part; NaN if some lambda = 0).
        rg_eigenvalues: (n,) complex lambda_i; eigenvalues: (n,) complex y_i = ln(lambda_i) / ln b (sorted by
            decreasing real part); right_eigenvectors, left_eigenvectors: scaling directions / fields.
        classification: (n,) +1 relevant, 0 marginal, -1 irrelevant.
        y_t, nu, omega: thermal eigenvalue, nu = 1 / y_t, leading correction exponent.
    """

    g_star: Array
    residual: Float[Array, ""]
    converged: Array
    jacobian: Float[Array, "n n"]
    matrix: Float[Array, "n n"]
    rg_eigenvalues: Complex[Array, " n"]
    eigenvalues: Complex[Array, " n"]
    right_eigenvectors: Complex[Array, "n n"]
    left_eigenvectors: Complex[Array, "n n"]
    classification: Int[Array, " n"]
    y_t: Float[Array, ""]
    nu: Float[Array, ""]
    omega: Float[Array, ""]


def _check_b(b) -> None:
    check_positive_float(b, "b")
    if is_concrete(b) and float(b) <= 1.0:
        raise ValueError(f"b (the rescaling factor of the RG map) must be > 1, got {float(b)}")


def _log_over_minus_one(lam: Array) -> Array:
    """f(lambda) = ln(lambda) / (lambda - 1), continued by f(1) = 1 (complex-safe)."""
    d = lam - 1.0
    small = jnp.abs(d) < 1e-6
    safe = jnp.where(small, 2.0 + 0j, lam)
    return jnp.where(small, 1.0 - d / 2 + d**2 / 3, jnp.log(safe) / (safe - 1.0))


def _real_matrix_function(J: Array, fn: Callable) -> Array:
    """fn(J) = V diag(fn(lambda)) V^-1 for a diagonalisable real J, returned as a real matrix."""
    w, v = eigensystem(J)
    return jnp.real(v @ jnp.diag(fn(w)) @ jnp.linalg.inv(v))


def _flat_map(rg_map: Callable, shape: tuple) -> Callable:
    """R as a function of the flattened coupling vector, (n,) -> (n,)."""
    return lambda v: jnp.ravel(rg_map(v.reshape(shape)))


@eqx.filter_jit
def _map_jacobian_and_preconditioner(rg_map: Callable, g: Array):
    flat, x = _flat_map(rg_map, g.shape), jnp.ravel(g)
    J = jax.jacfwd(flat)(x)
    return flat(x), J, _real_matrix_function(J, _log_over_minus_one)


class _FirstOrderBeta(eqx.Module):
    """beta(g) = (R(g) - g) / ln b."""

    rg_map: Callable
    ln_b: Array

    def __call__(self, g):
        return (self.rg_map(g) - g) / self.ln_b


class _PreconditionedBeta(eqx.Module):
    """beta(g) = P (R(g) - g) / ln b with P = f(dR/dg(g*)), exact linearisation at g*."""

    rg_map: Callable
    P: Array
    ln_b: Array
    shape: tuple = eqx.field(static=True)

    def __call__(self, g):
        g = float_array(g)
        r = jnp.ravel(self.rg_map(g) - g)
        return jnp.reshape(self.P @ r / self.ln_b, self.shape)


def beta_from_map(rg_map: Callable, b: float, *, g_star: Optional[Any] = None) -> Callable:
    """Continuous-scale beta(g) of a discrete RG map R with rescaling factor b (see the module docstring).

    Args:
        rg_map: R, g -> g' (JAX-traceable, g of shape () or (n,)); e.g. a learned flow lambda J: J + f_theta(J).
        b: rescaling factor of one application of R (> 1); one step advances s by ln b.
        g_star: optional fixed point of R; if given, beta is preconditioned so that its linearisation at g_star is
            exactly log(dR/dg) / ln b (requires no real eigenvalue of dR/dg <= 0 and a diagonalisable Jacobian).

    Returns:
        beta: g -> dg/ds, same shape as g, zero exactly at the fixed points of R.

    Raises:
        ValueError: b <= 1; g_star given but not a fixed point, or dR/dg has an eigenvalue <= 0 there (no real log).
    """
    check_callable(rg_map, "rg_map")
    _check_b(b)
    ln_b = jnp.log(jnp.asarray(b, dtype=jnp.result_type(float)))
    if g_star is None:
        return _FirstOrderBeta(rg_map, ln_b)
    g_star = float_array(g_star)
    check_finite(g_star, "g_star")
    x = jnp.ravel(g_star)
    Rx, J, P = _map_jacobian_and_preconditioner(rg_map, g_star)
    if is_concrete(x, J):
        res = float(np.max(np.abs(np.asarray(Rx) - np.asarray(x))))
        if not np.isfinite(res) or res > 1e-6 * (1.0 + float(np.max(np.abs(np.asarray(x))))):
            raise ValueError(f"g_star is not a fixed point of rg_map: max|R(g*) - g*| = {res:.3e}")
        lam = np.linalg.eigvals(np.asarray(J))
        bad = (np.abs(lam.imag) <= 1e-12 * (1 + np.abs(lam.real))) & (lam.real <= 0)
        if np.any(bad) or not np.all(np.isfinite(lam)):
            raise ValueError(
                f"rg_map: dR/dg at g_star has eigenvalues {lam} with a real eigenvalue <= 0 (or non-finite), so "
                "log(dR/dg) is not real; use beta_from_map(rg_map, b) (first order) instead"
            )
    return _PreconditionedBeta(rg_map, P, ln_b, g_star.shape)


def _exponents_from_jacobian(J: Array, ln_b, marginal_tol, thermal_index: int):
    lam, v = eigensystem(J)
    y = jnp.log(lam.astype(jnp.result_type(lam.dtype, jnp.complex64))) / ln_b
    order = jnp.lexsort((-jnp.imag(y), -jnp.real(y)))
    lam, y, v = lam[order], y[order], v[:, order]
    left = jnp.linalg.inv(v)
    cls = classify_eigenvalues(y, marginal_tol)
    ex = critical_exponents(y, thermal_index=thermal_index)
    return lam, y, v, left, cls, ex


def rg_matrix_exponents(
    T: Any, b: float, *, marginal_tol: float = 1e-8, thermal_index: int = 0
) -> RGMatrixExponents:
    """RG eigenvalues y = ln(lambda) / ln b of a linearised RG map (e.g. the MCRG matrix T_ab = d K'_a / d K_b).

    Args:
        T: (n, n) Jacobian of the map at its fixed point (real).
        b: rescaling factor (> 1).
        marginal_tol: |Re y| <= marginal_tol is marginal.
        thermal_index: index of y_t among the sorted y (0: the most relevant).

    Returns:
        RGMatrixExponents (see its fields).
    """
    _check_b(b)
    T = float_array(T)
    if T.ndim != 2 or T.shape[0] != T.shape[1]:
        raise ValueError(f"T must be a square (n, n) matrix, got shape {T.shape}")
    check_finite(T, "T")
    ln_b = jnp.log(jnp.asarray(b, T.dtype))
    lam, y, v, left, cls, ex = _exponents_from_jacobian(T, ln_b, marginal_tol, thermal_index)
    return RGMatrixExponents(lam, y, v, left, cls, ex.y_t, ex.nu, ex.omega)


@eqx.filter_jit
def _analyze_core(rg_map: Callable, g0: Array, ln_b: Array, tol: float, max_iter: int, method: str,
                  marginal_tol: float, thermal_index: int):
    flat_R = _flat_map(rg_map, g0.shape)
    root = find_root(lambda v: flat_R(v) - v, jnp.ravel(g0), tol, max_iter, method)
    J = jax.jacfwd(flat_R)(root.x)
    lam, y, v, left, cls, ex = _exponents_from_jacobian(J, ln_b, marginal_tol, thermal_index)
    return root, (J, jnp.real(v @ jnp.diag(y) @ left), lam, y, v, left, cls, ex)


def analyze_map(
    rg_map: Callable,
    g0: Any,
    b: float,
    *,
    tol: Optional[float] = None,
    max_iter: int = 50,
    marginal_tol: float = 1e-8,
    thermal_index: int = 0,
    method: str = "newton",
) -> MapAnalysis:
    """Fixed point, linearisation and critical exponents of a discrete RG map R with rescaling factor b.

    Root finding on R(g) - g from g0 (optimistix; differentiable by the implicit function theorem), the Jacobian
    dR/dg by autodiff, y_i = ln(lambda_i) / ln b, scaling fields, nu = 1 / y_t. Works under jit/grad (then no
    exception is raised; check `converged`), so exponents can be differentiated with respect to parameters of a
    learned map.

    Args:
        rg_map: R, g -> g' (JAX-traceable; g of shape () or (n,)); a learned flow is lambda J: J + f_theta(J).
        g0: starting point for the fixed-point search.
        b: rescaling factor of R (> 1).
        tol: Newton tolerance on max|R(g) - g| (default 1e-10 in float64, 1e-5 in float32); max_iter: iterations.
        marginal_tol: |Re y| <= marginal_tol is marginal.
        thermal_index: index of y_t among the y sorted by decreasing real part (0: the most relevant).
        method: root finder, 'newton' (default), 'chord' or 'dogleg'.

    Returns:
        MapAnalysis (see its fields). For the 2D Ising thermal direction y_t = 1, nu = 1.

    Raises:
        ValueError: (concrete inputs) b <= 1, or Newton did not converge / hit a singular Jacobian.
    """
    check_callable(rg_map, "rg_map")
    _check_b(b)
    max_iter = check_positive_int(max_iter, "max_iter")
    root_solver(method, 1.0)  # validates method
    g0 = float_array(g0)
    check_finite(g0, "g0")
    if tol is None:
        tol = default_tolerance(g0.dtype)
    check_positive_float(tol, "tol")
    check_positive_float(marginal_tol, "marginal_tol", allow_zero=True)
    ln_b = jnp.log(jnp.asarray(b, g0.dtype))
    root, (J, M, lam, y, v, left, cls, ex) = _analyze_core(
        rg_map, g0, ln_b, float(tol), max_iter, method, float(marginal_tol), thermal_index
    )
    if is_concrete(root.x, root.converged) and not bool(root.converged):
        if bool(root.singular):
            raise ValueError(
                f"rg_map: root finding stopped at g = {np.asarray(root.x)}: R(g) - g or its Jacobian is singular there"
            )
        raise ValueError(
            f"g0: no fixed point of rg_map found from g0 = {np.asarray(g0)} (max|R(g) - g| = "
            f"{float(root.residual):.3e} after {int(root.n_iter)} iterations); try another g0"
        )
    return MapAnalysis(
        g_star=root.x.reshape(g0.shape),
        residual=root.residual,
        converged=root.converged,
        jacobian=J,
        matrix=M,
        rg_eigenvalues=lam,
        eigenvalues=y,
        right_eigenvectors=v,
        left_eigenvectors=left,
        classification=cls,
        y_t=ex.y_t,
        nu=ex.nu,
        omega=ex.omega,
    )


def polynomial_map(g: Any, g_prime: Any, degree: int) -> Callable:
    """One-coupling RG map R(g) fitted as a polynomial to measured pairs (g, g'), e.g. (K, K') from MCRG matching.

    Args:
        g: (N,) couplings; g_prime: (N,) their images under one RG step; degree: polynomial degree (< N).

    Returns:
        R: g -> polynomial value (JAX-traceable), ready for `analyze_map` / `beta_from_map`.
    """
    degree = check_positive_int(degree, "degree")
    g = float_array(g)
    g_prime = float_array(g_prime)
    if g.ndim != 1 or g.shape != g_prime.shape:
        raise ValueError(f"g and g_prime must be 1D arrays of equal length, got {g.shape} and {g_prime.shape}")
    if g.shape[0] <= degree:
        raise ValueError(f"degree must be < number of points {g.shape[0]}, got {degree}")
    check_finite(g, "g")
    check_finite(g_prime, "g_prime")
    coef = jnp.polyfit(g, g_prime, degree)
    return lambda x: jnp.polyval(coef, x)
