"""Linearised flow at a fixed point: M = d beta/d g, RG eigenvalues, scaling fields, classification, exponents.

Convention: s is the logarithm of the length scale (s = ln b after a block transformation of side b), so at a fixed
point g* the linearised flow d(g - g*)/ds = M (g - g*), M_ab = d beta_a / d g_b, has eigenvalues equal to the RG
eigenvalues y_i: Re y > 0 relevant (grows under coarse-graining), Re y < 0 irrelevant, Re y = 0 marginal.
The correlation-length exponent is nu = 1 / y_t and the leading correction-to-scaling exponent omega = -y_irr.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Complex, Float, Int

from jaxrg.scale._checks import check_callable, check_finite, check_positive_float, float_array, is_concrete

__all__ = [
    "RELEVANT",
    "MARGINAL",
    "IRRELEVANT",
    "Linearization",
    "CriticalExponents",
    "eigensystem",
    "linearize",
    "classify_eigenvalues",
    "classification_labels",
    "critical_exponents",
]

RELEVANT = 1
MARGINAL = 0
IRRELEVANT = -1
_LABELS = {RELEVANT: "relevant", MARGINAL: "marginal", IRRELEVANT: "irrelevant"}


class Linearization(NamedTuple):
    """The linearised flow d(g - g*)/ds = M (g - g*) at a fixed point.

    Fields:
        g_star: the fixed point (shape of g).
        matrix: (n, n) M_ab = d beta_a / d g_b at g_star (flattened couplings).
        eigenvalues: (n,) complex RG eigenvalues y_i of M, sorted by decreasing real part (most relevant first).
        right_eigenvectors: (n, n) complex; column i is the scaling direction e_i, M e_i = y_i e_i.
        left_eigenvectors: (n, n) complex; row i gives the scaling field u_i = left[i] . (g - g*), which obeys
            du_i/ds = y_i u_i; normalised so that left @ right = identity.
        classification: (n,) int: +1 relevant (Re y > tol), 0 marginal (|Re y| <= tol), -1 irrelevant.
    """

    g_star: Array
    matrix: Float[Array, "n n"]
    eigenvalues: Complex[Array, " n"]
    right_eigenvectors: Complex[Array, "n n"]
    left_eigenvectors: Complex[Array, "n n"]
    classification: Int[Array, " n"]


class CriticalExponents(NamedTuple):
    """Exponents read off the RG eigenvalues (s = ln length scale).

    Fields:
        y: (n,) real parts of the eigenvalues, decreasing.
        y_t: () the thermal eigenvalue y[thermal_index].
        nu: () correlation-length exponent 1 / y_t (NaN unless y_t > 0).
        omega: () leading correction-to-scaling exponent -max{Re y < 0} (NaN if no irrelevant direction).
    """

    y: Float[Array, " n"]
    y_t: Float[Array, ""]
    nu: Float[Array, ""]
    omega: Float[Array, ""]


def classify_eigenvalues(eigenvalues: Array, tol: float = 1e-8) -> Int[Array, " n"]:
    """Classify RG eigenvalues: +1 relevant (Re y > tol), 0 marginal (|Re y| <= tol), -1 irrelevant (Re y < -tol).

    Args:
        eigenvalues: (n,) real or complex eigenvalues y of the linearised flow (s = ln length scale).
        tol: half-width of the marginal band (>= 0).

    Returns:
        (n,) int32 codes (RELEVANT, MARGINAL, IRRELEVANT).
    """
    check_positive_float(tol, "tol", allow_zero=True)
    re = jnp.real(jnp.asarray(eigenvalues))
    return jnp.where(re > tol, RELEVANT, jnp.where(re < -tol, IRRELEVANT, MARGINAL)).astype(jnp.int32)


def classification_labels(codes: Any) -> tuple[str, ...]:
    """Human-readable labels ('relevant', 'marginal', 'irrelevant') for classification codes (host-side)."""
    return tuple(_LABELS[int(c)] for c in np.asarray(codes).ravel())


def eigensystem(matrix: Float[Array, "n n"]) -> tuple[Complex[Array, " n"], Complex[Array, "n n"]]:
    """Eigenvalues and right eigenvectors (columns) of a general real matrix, differentiable.

    Eigenvector derivatives (opted in via enable_eigvec_derivs) assume distinct eigenvalues; eigenvalue derivatives
    do not need that. Non-symmetric eig runs on CPU; on GPU JAX uses its own eig implementation where available.

    Args:
        matrix: (n, n) real.

    Returns:
        (w (n,), v (n, n)) complex, unsorted, matrix @ v[:, i] = w[i] v[:, i].
    """
    return lax.linalg.eig(matrix, compute_left_eigenvectors=False, enable_eigvec_derivs=True)


@eqx.filter_jit
def _linearize_core(beta: Callable, g: Array):
    def flat(v):
        return jnp.ravel(beta(v.reshape(g.shape)))

    x = jnp.ravel(g)
    matrix = jax.jacfwd(flat)(x)
    w, v = eigensystem(matrix)
    order = jnp.lexsort((-jnp.imag(w), -jnp.real(w)))
    w, v = w[order], v[:, order]
    return flat(x), matrix, w, v, jnp.linalg.inv(v)


def linearize(
    beta: Callable,
    g_star: Any,
    *,
    marginal_tol: float = 1e-8,
    fixed_point_tol: Optional[float] = 1e-6,
) -> Linearization:
    """Linearised flow at a fixed point: M = d beta/d g (autodiff), its eigen-decomposition and classification.

    Args:
        beta: g -> dg/ds (JAX-traceable).
        g_star: the fixed point (scalar or (n,) array), e.g. from `fixed_points`.
        marginal_tol: eigenvalues with |Re y| <= marginal_tol are marginal.
        fixed_point_tol: at the Python boundary, reject g_star if max|beta(g_star)| exceeds this (None: no check).

    Returns:
        Linearization (see its fields). Eigenvalues are complex (conjugate pairs mean spiralling flow).

    Raises:
        ValueError: if beta or its Jacobian is not finite at g_star (beta singular there), or g_star is not a fixed
            point.
    """
    check_callable(beta, "beta")
    check_positive_float(marginal_tol, "marginal_tol", allow_zero=True)
    g_star = float_array(g_star)
    check_finite(g_star, "g_star")
    bx, matrix, w, v, left = _linearize_core(beta, g_star)
    if is_concrete(g_star, bx, matrix):
        if not np.all(np.isfinite(np.asarray(bx))):
            raise ValueError(f"beta is singular at g_star = {np.asarray(g_star)}: beta(g_star) = {np.asarray(bx)}")
        if not np.all(np.isfinite(np.asarray(matrix))):
            raise ValueError(
                f"beta is singular at g_star = {np.asarray(g_star)}: its Jacobian d beta/dg is not finite there, "
                "so the flow has no linearisation (exponents undefined)"
            )
        if fixed_point_tol is not None and float(np.max(np.abs(np.asarray(bx)))) > fixed_point_tol:
            raise ValueError(
                f"g_star is not a fixed point: max|beta(g_star)| = {float(np.max(np.abs(np.asarray(bx)))):.3e} > "
                f"fixed_point_tol = {fixed_point_tol}; find it first with jaxrg.scale.fixed_points"
            )
    return Linearization(
        g_star=g_star,
        matrix=matrix,
        eigenvalues=w,
        right_eigenvectors=v,
        left_eigenvectors=left,
        classification=classify_eigenvalues(w, marginal_tol),
    )


def critical_exponents(eigenvalues: Any, *, thermal_index: int = 0) -> CriticalExponents:
    """Critical exponents from RG eigenvalues y (eigenvalues of M, or a Linearization).

    Args:
        eigenvalues: (n,) eigenvalues y (real or complex), or a Linearization / MapAnalysis with an `eigenvalues`
            field; they are re-sorted by decreasing real part.
        thermal_index: which of the sorted eigenvalues is the thermal one (0: the most relevant; for a coupling space
            that contains the magnetic field, y_h = 15/8 > y_t = 1 in 2D Ising, so pass 1).

    Returns:
        CriticalExponents(y, y_t, nu = 1/y_t, omega).
    """
    if hasattr(eigenvalues, "eigenvalues"):
        eigenvalues = eigenvalues.eigenvalues
    y = jnp.sort(jnp.real(jnp.atleast_1d(jnp.asarray(eigenvalues))))[::-1]
    if not isinstance(thermal_index, (int, np.integer)) or not 0 <= thermal_index < y.shape[0]:
        raise ValueError(f"thermal_index must be an int in [0, {y.shape[0] - 1}], got {thermal_index!r}")
    y_t = y[thermal_index]
    nu = jnp.where(y_t > 0, 1.0 / jnp.where(y_t > 0, y_t, 1.0), jnp.nan)
    neg = jnp.where(y < 0, y, -jnp.inf)
    y_irr = jnp.max(neg)
    omega = jnp.where(jnp.isfinite(y_irr), -y_irr, jnp.nan)
    return CriticalExponents(y=y, y_t=y_t, nu=nu, omega=omega)
