"""Analysis of the learned flow: fixed point and exponents through :mod:`jaxrg.scale`, and K_c by bisection."""

from __future__ import annotations

import numbers
from typing import Callable, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg.rg.flow.model import FlowModel
from jaxrg.rg.flow.spaces import CouplingSpace, coupling_space
from jaxrg.scale import RGMatrixExponents, analyze_map, rg_matrix_exponents

__all__ = ["map_exponents", "critical_coupling", "FlowAnalysis", "analyze_flow"]


def map_exponents(f: Callable[[Array], Array], J_star: Array, b: float = 2.0) -> RGMatrixExponents:
    """Eigen-analysis of the RG map ``R(J) = J + f(J)`` at the fixed point ``J_star`` (scale factor ``b``).

    The Jacobian ``dR/dJ = I + Df(J*)`` by autodiff goes to :func:`jaxrg.scale.rg_matrix_exponents`: eigenvalues
    ``lambda_i`` (``rg_eigenvalues``), ``y_i = ln lambda_i / ln b`` sorted by decreasing real part, scaling directions
    (right) and fields (left, row 0 the relevant thermal field), classification, ``nu = 1 / y_t = ln b / ln lambda_t``.
    Differentiable (eigenvalue derivatives through ``lax.linalg.eig``).

    Args:
        f: the flow ``(n,) -> (n,)``.
        J_star: ``(n,)`` fixed point (e.g. from :func:`jaxrg.scale.find_fixed_point` on ``f``).
        b: rescaling factor of one RG step (> 1).

    Returns:
        :class:`jaxrg.scale.RGMatrixExponents`.
    """
    J_star = jnp.asarray(J_star)
    if J_star.ndim != 1:
        raise ValueError(f"J_star must be a coupling vector of shape (n,), got shape {J_star.shape}")
    T = jnp.eye(J_star.shape[0], dtype=J_star.dtype) + jax.jacfwd(f)(J_star)
    return rg_matrix_exponents(T, b)


def critical_coupling(
    f: Callable[[Array], Array],
    J_star: Array,
    relevant_left: Array,
    nn_axis: Array,
    *,
    K_low: float = 0.0,
    K_high: float = 1.0,
    n_maps: int = 12,
    n_bisect: int = 40,
    escape: float = 1.0,
) -> Array:
    """Critical coupling on the nearest-neighbour axis: where iterated maps switch between the two sinks.

    ``g(K) = u . (R^m(K e) - J*)`` with ``R(J) = J + f(J)``, ``e = nn_axis``, ``u`` the relevant left eigenvector at
    ``J*`` (oriented so that ``u . e > 0``) and ``m = n_maps`` (an orbit is frozen once ``|g|`` exceeds ``escape``,
    so orbits that leave the trained region do not run away). ``g < 0``: flows to the high-temperature sink; ``g > 0``:
    to the low-temperature sink. Bisection brackets the sign change in ``[K_low, K_high]``; a final Newton step from
    the stop-gradient bisection result makes ``K_c`` differentiable (implicit function theorem; ``u`` is held fixed).

    Returns:
        scalar ``K_c`` (NaN if ``g`` has the same sign at both ends).
    """
    u = jnp.real(jnp.asarray(relevant_left))
    e = jnp.asarray(nn_axis, J_star.dtype)
    u = jnp.where(u @ e >= 0, u, -u).astype(J_star.dtype)

    def g(K):
        def body(i, J):
            proj = u @ (J - J_star)
            return jnp.where(jnp.abs(proj) > escape, J, J + f(J))

        return u @ (jax.lax.fori_loop(0, n_maps, body, K * e) - J_star)

    lo, hi = jnp.asarray(K_low, J_star.dtype), jnp.asarray(K_high, J_star.dtype)
    g_lo, g_hi = jax.lax.stop_gradient(g(lo)), jax.lax.stop_gradient(g(hi))

    def bisect(i, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        high_side = jax.lax.stop_gradient(g(mid)) > 0
        return jnp.where(high_side, lo, mid), jnp.where(high_side, mid, hi)

    lo, hi = jax.lax.fori_loop(0, n_bisect, bisect, (jax.lax.stop_gradient(lo), jax.lax.stop_gradient(hi)))
    K0 = jax.lax.stop_gradient(0.5 * (lo + hi))
    slope = jax.lax.stop_gradient(jax.grad(g)(K0))
    K_c = K0 - (g(K0) - jax.lax.stop_gradient(g(K0))) / slope
    return jnp.where((g_lo < 0) & (g_hi > 0), K_c, jnp.nan)


class FlowAnalysis(NamedTuple):
    """Fixed point, linearisation and critical coupling of a learned flow (numpy / float values).

    Attributes:
        fixed_point: ``(n,)`` non-trivial fixed point ``J*``.
        residual: ``||f(J*)||``.
        eigenvalues: ``(n,)`` eigenvalues ``lambda_i`` of the linearised map (complex), decreasing modulus.
        nu: ``ln 2 / ln lambda_t``.
        n_relevant: number of eigenvalues with modulus > 1.
        K_c: critical coupling on the nearest-neighbour axis.
    """

    fixed_point: np.ndarray
    residual: float
    eigenvalues: np.ndarray
    nu: float
    n_relevant: int
    K_c: float


def analyze_flow(flow: FlowModel, space: CouplingSpace, *, J0=None, n_maps: int = 12) -> FlowAnalysis:
    """Critical fixed point by Newton, eigen-analysis, and ``K_c`` by bisection.

    Fixed point and eigen-analysis are :func:`jaxrg.scale.analyze_map` of the map ``J + f_theta(J)`` (optimistix
    Newton, implicit derivatives), one vmapped search over all starts ``J0`` (``(n,)`` or ``(k, n)``; default
    ``K e_nn`` for K = 0.3 ... 0.5); the solution kept is the converged one inside the training box with a
    thermal eigenvalue > 1.2 and the smallest residual; the infinite-temperature fixed point ``J = 0`` is never
    kept. ``K_c``: :func:`critical_coupling` bracketed inside the training box (NaN, as is ``nu``, when no
    non-trivial fixed point with a relevant direction is found).

    Args:
        flow: a trained :class:`FlowModel` (evaluated in float64 when x64 is enabled).
        space: its coupling space (or its dimension).
        J0: Newton starting points.
        n_maps: iterations of the map in the sink test of :func:`critical_coupling`.

    Returns:
        :class:`FlowAnalysis`.
    """
    space = coupling_space(space)
    if isinstance(n_maps, bool) or not isinstance(n_maps, numbers.Integral) or n_maps < 1:
        raise ValueError(f"n_maps must be an integer >= 1, got {n_maps!r}")
    dtype = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    f64 = jax.tree.map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, flow)
    if J0 is None:
        starts = np.asarray([K * space.array("nn_axis") for K in (0.3, 0.35, 0.4, 0.45, 0.5)])
    else:
        starts = np.atleast_2d(np.asarray(J0, np.float64))
        if starts.ndim != 2 or starts.shape[-1] != space.n:
            raise ValueError(f"J0 must have shape ({space.n},) or (k, {space.n}), got {np.shape(J0)}")
    low, high = space.array("box_low"), space.array("box_high")
    analyses = _analyze_map_jit(f64, jnp.asarray(starts, dtype))
    best, best_score = None, np.inf
    for i in range(starts.shape[0]):
        an = jax.tree.map(lambda x: x[i], analyses)
        Jn = np.asarray(an.g_star)
        if not (bool(an.converged) and np.all(np.isfinite(Jn))) or np.max(np.abs(Jn)) < 1e-3:
            continue  # not converged, or the infinite-temperature fixed point J = 0
        lam_t = float(np.real(np.asarray(an.rg_eigenvalues)[0]))
        # the critical fixed point: inside the box, one relevant (thermal) eigenvalue clearly > 1
        inside = np.all(Jn >= low - 1e-6) and np.all(Jn <= high + 1e-6)
        score = float(an.residual) + (0 if inside else 1.0) + (0 if lam_t > 1.2 else 1.0)
        if score < best_score:
            best, best_score = an, score
    if best is None:
        nan = np.full(space.n, np.nan)
        return FlowAnalysis(nan, float("nan"), nan.astype(complex), float("nan"), 0, float("nan"))
    if not float(np.abs(np.asarray(best.rg_eigenvalues)[0])) > 1.0:
        # only the trivial (attractive) fixed point was found: no critical point, no K_c
        return FlowAnalysis(np.asarray(best.g_star), float(jnp.linalg.norm(f64(best.g_star))),
                            np.asarray(best.rg_eigenvalues), float("nan"), 0, float("nan"))
    # bracket inside the trained box: beyond it the network extrapolates and the low-temperature sink is not learned
    axis = space.array("nn_axis")
    K_high = float(np.min(high[axis > 0] / axis[axis > 0]))
    K_c = _critical_jit(f64, best.g_star, best.left_eigenvectors[0], jnp.asarray(axis, dtype), n_maps, K_high)
    return FlowAnalysis(
        np.asarray(best.g_star), float(jnp.linalg.norm(f64(best.g_star))), np.asarray(best.rg_eigenvalues),
        float(best.nu), int(np.sum(np.abs(np.asarray(best.rg_eigenvalues)) > 1.0)), float(K_c),
    )


@eqx.filter_jit
def _analyze_map_jit(flow, starts):
    # one root search per start, vmapped; traced, so analyze_map reports convergence instead of raising
    return jax.vmap(lambda J0: analyze_map(flow.step, J0, 2.0))(starts)


@eqx.filter_jit
def _critical_jit(flow, J_star, left, nn_axis, n_maps, K_high):
    return critical_coupling(flow, J_star, left, nn_axis, n_maps=n_maps, K_high=K_high)
