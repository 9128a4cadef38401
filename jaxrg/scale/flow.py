"""Flows in coupling space: dg/ds = beta(g) + D(g), fixed points, linearisation, scaling fields, exponents.

Convention: s is the logarithm of the length scale (s = ln b after a block transformation of side b), so at a fixed
point g* the linearised flow d(g - g*)/ds = M (g - g*), M_ab = d beta_a / d g_b, has eigenvalues equal to the RG
eigenvalues y_i: Re y > 0 relevant (grows under coarse-graining), Re y < 0 irrelevant, Re y = 0 marginal.
The correlation-length exponent is nu = 1 / y_t and the leading correction-to-scaling exponent omega = -y_irr.

beta (and the optional non-Hamiltonian drift D) is any JAX-traceable function g -> array of g's shape: an analytic
beta function, a learned flow turned into a continuous beta (see `jaxrg.scale.bridge.beta_from_map`), or a fit to
Monte Carlo RG data. g may be a scalar (one coupling) or an array of couplings; fixed points and linearisation work
on the flattened vector of length n = g.size.

Every core here is a pure function: integrators use `lax.scan`, Newton uses `lax.while_loop` wrapped in
`lax.custom_root`, so fixed points are differentiable by the implicit function theorem (d g*/d theta = -M^-1 d beta/d theta).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Complex, Float, Int

from jaxrg.scale._util import (
    as_flat_field,
    check_callable,
    check_finite,
    check_positive_float,
    check_positive_int,
    float_array,
    identity_cache,
    is_concrete,
)

__all__ = [
    "RELEVANT",
    "MARGINAL",
    "IRRELEVANT",
    "FlowTrajectory",
    "AdaptiveFlowSolution",
    "FixedPoint",
    "FixedPoints",
    "Linearization",
    "CriticalExponents",
    "flow_vector_field",
    "rk4_step",
    "integrate_flow",
    "integrate_flow_adaptive",
    "find_fixed_point",
    "fixed_points",
    "linearize",
    "classify_eigenvalues",
    "classification_labels",
    "critical_exponents",
]

RELEVANT = 1
MARGINAL = 0
IRRELEVANT = -1
_LABELS = {RELEVANT: "relevant", MARGINAL: "marginal", IRRELEVANT: "irrelevant"}


# ----------------------------------------------------------------------------------------------------------------
# Integration
# ----------------------------------------------------------------------------------------------------------------


class FlowTrajectory(NamedTuple):
    """A flow line sampled at fixed steps.

    Fields:
        s: (m,) scale values (s0, s0 + save_every * ds, ...).
        g: (m, *g0.shape) couplings along the flow line (a pytree with a leading axis if g0 is a pytree).
    """

    s: Float[Array, " m"]
    g: Any


class AdaptiveFlowSolution(NamedTuple):
    """Result of the adaptive (Dormand-Prince 5(4)) integrator.

    Fields:
        s: (m,) the requested scale values.
        g: (m, *g0.shape) couplings at those scales (rows not reached are NaN when success is False).
        n_accepted: () number of accepted steps; n_rejected: () number of rejected steps.
        success: () True when every requested scale was reached within max_steps.
    """

    s: Float[Array, " m"]
    g: Any
    n_accepted: Int[Array, ""]
    n_rejected: Int[Array, ""]
    success: Array


def flow_vector_field(beta: Callable, dissipation: Optional[Callable] = None) -> Callable:
    """The right-hand side g -> beta(g) + D(g) of the scale flow (D = 0 when dissipation is None).

    Args:
        beta: g -> dg/ds, same shape as g.
        dissipation: optional g -> D(g), the irreversible (non-Hamiltonian) part of the flow.

    Returns:
        A function g -> dg/ds.
    """
    check_callable(beta, "beta")
    if dissipation is None:
        return beta
    check_callable(dissipation, "dissipation")
    return _with_dissipation(beta, dissipation)


@identity_cache
def _with_dissipation(beta: Callable, dissipation: Callable) -> Callable:
    return lambda g: jax.tree_util.tree_map(jnp.add, beta(g), dissipation(g))


def _axpy(a, x, y):
    """y + a * x on pytrees."""
    return jax.tree_util.tree_map(lambda xi, yi: yi + a * xi, x, y)


def rk4_step(field: Callable, y: Any, ds: Float[Array, ""]) -> Any:
    """One classical fourth-order Runge-Kutta step of the autonomous system dy/ds = field(y).

    Args:
        field: y -> dy/ds on pytrees of arrays.
        y: the state (any pytree of float arrays).
        ds: the step in s (may be negative).

    Returns:
        The state at s + ds (same pytree structure as y).
    """
    k1 = field(y)
    k2 = field(_axpy(ds / 2, k1, y))
    k3 = field(_axpy(ds / 2, k2, y))
    k4 = field(_axpy(ds, k3, y))
    return jax.tree_util.tree_map(
        lambda yi, a, b, c, d: yi + ds / 6 * (a + 2 * b + 2 * c + d), y, k1, k2, k3, k4
    )


@partial(jax.jit, static_argnames=("field", "n_steps", "save_every"))
def _rk4_scan(field: Callable, y0: Any, ds, n_steps: int, save_every: int):
    """RK4 in nested lax.scan: returns the stacked states after every `save_every` steps (y0 first)."""

    def inner(y, _):
        return rk4_step(field, y, ds), None

    def outer(y, _):
        y, _ = lax.scan(inner, y, None, length=save_every)
        return y, y

    _, ys = lax.scan(outer, y0, None, length=n_steps // save_every)
    return jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b], axis=0), y0, ys)


def integrate_flow(
    beta: Callable,
    g0: Any,
    ds: float,
    n_steps: int,
    *,
    dissipation: Optional[Callable] = None,
    s0: float = 0.0,
    save_every: int = 1,
) -> FlowTrajectory:
    """Integrate dg/ds = beta(g) + D(g) with fixed-step RK4 (global error O(ds^4)) in `lax.scan`.

    Args:
        beta: g -> dg/ds (JAX-traceable, same shape as g; g may be a pytree of arrays).
        g0: initial couplings, scalar, (n,) array or pytree.
        ds: step in s = ln(length scale); negative integrates towards the ultraviolet.
        n_steps: number of RK4 steps (static Python int >= 1).
        dissipation: optional D(g) added to beta.
        s0: initial scale.
        save_every: keep every `save_every`-th state (static; must divide n_steps).

    Returns:
        FlowTrajectory with s of shape (n_steps // save_every + 1,) and g stacked along a leading axis.
    """
    field = flow_vector_field(beta, dissipation)
    n_steps = check_positive_int(n_steps, "n_steps")
    save_every = check_positive_int(save_every, "save_every")
    if n_steps % save_every:
        raise ValueError(f"save_every must divide n_steps, got n_steps={n_steps}, save_every={save_every}")
    if is_concrete(ds):
        check_finite(ds, "ds")
        if float(np.asarray(ds)) == 0.0:
            raise ValueError("ds must be a finite non-zero step, got 0")
    g0 = jax.tree_util.tree_map(float_array, g0)
    check_finite(jax.tree_util.tree_leaves(g0), "g0")
    dtype = jax.tree_util.tree_leaves(g0)[0].dtype
    ds = jnp.asarray(ds, dtype)
    gs = _rk4_scan(field, g0, ds, n_steps, save_every)
    s = jnp.asarray(s0, dtype) + ds * save_every * jnp.arange(n_steps // save_every + 1, dtype=dtype)
    return FlowTrajectory(s=s, g=gs)


# Dormand-Prince 5(4) tableau (Dormand and Prince 1980; Hairer, Norsett and Wanner, Solving ODEs I, table 5.2).
_DP_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_DP_B5 = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_DP_B4 = (5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40)


def _dopri_step(field: Callable, y: Array, h: Array) -> tuple[Array, Array]:
    """One Dormand-Prince step on a flat vector: (fifth-order solution, embedded error estimate)."""
    ks = []
    for row in _DP_A:
        yi = y
        for a, k in zip(row, ks):
            if a != 0.0:
                yi = yi + h * a * k
        ks.append(field(yi))
    y5 = y + h * sum(b * k for b, k in zip(_DP_B5, ks) if b != 0.0)
    err = h * sum((b5 - b4) * k for b5, b4, k in zip(_DP_B5, _DP_B4, ks) if b5 != b4)
    return y5, err


@partial(jax.jit, static_argnames=("field_tree", "max_steps"))
def _adaptive_core(field_tree: Callable, g0: Any, s_save: Array, rtol, atol, max_steps: int):
    """Dormand-Prince loop (see integrate_flow_adaptive); returns (g at s_save, n_accepted, n_rejected, success)."""
    y0, unravel = jax.flatten_util.ravel_pytree(g0)
    dtype = y0.dtype
    m = s_save.shape[0]

    def field(v):
        return jax.flatten_util.ravel_pytree(field_tree(unravel(v)))[0]

    direction = jnp.sign(s_save[-1] - s_save[0])
    rtol = jnp.asarray(rtol, dtype)
    atol = jnp.asarray(atol, dtype)

    def err_norm(err, y, y_new):
        scale = atol + rtol * jnp.maximum(jnp.abs(y), jnp.abs(y_new))
        return jnp.sqrt(jnp.mean((err / scale) ** 2))

    # Initial step (Hairer, Norsett and Wanner, section II.4): h0 = 0.01 |y0| / |f(y0)| in the error norm.
    f0 = field(y0)
    sc0 = atol + rtol * jnp.abs(y0)
    d0 = jnp.sqrt(jnp.mean((y0 / sc0) ** 2))
    d1 = jnp.sqrt(jnp.mean((f0 / sc0) ** 2))
    span = jnp.abs(s_save[-1] - s_save[0])
    h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
    h0 = jnp.minimum(h0, span)

    out0 = jnp.full((m, y0.shape[0]), jnp.nan, dtype).at[0].set(y0)
    carry0 = (s_save[0], y0, h0, jnp.asarray(1), out0, jnp.asarray(0), jnp.asarray(0))

    def attempt(carry):
        s, y, h, idx, out, n_acc, n_rej = carry
        target = s_save[jnp.minimum(idx, m - 1)]
        remaining = (target - s) * direction
        hit = h >= remaining
        h_try = jnp.minimum(h, remaining)
        y_new, err = _dopri_step(field, y, direction * h_try)
        en = err_norm(err, y, y_new)
        ok = jnp.isfinite(en) & jnp.all(jnp.isfinite(y_new))
        accept = ok & (en <= 1.0)
        fac = jnp.where(ok, jnp.clip(0.9 * jnp.where(en > 0, en, 1e-10) ** (-0.2), 0.2, 5.0), 0.2)
        h_next = h_try * fac
        h_next = jnp.where(accept & hit, jnp.maximum(h_next, h), h_next)
        s = jnp.where(accept, jnp.where(hit, target, s + direction * h_try), s)
        y = jnp.where(accept, y_new, y)
        record = accept & hit
        out = jnp.where(record, out.at[idx].set(y_new), out)
        idx = idx + record.astype(idx.dtype)
        return (s, y, h_next, idx, out, n_acc + accept.astype(n_acc.dtype), n_rej + (~accept).astype(n_rej.dtype))

    def body(carry, _):
        done = carry[3] >= m
        return lax.cond(done, lambda c: c, attempt, carry), None

    (s, y, h, idx, out, n_acc, n_rej), _ = lax.scan(body, carry0, None, length=max_steps)
    gs = jax.vmap(unravel)(out)
    gs = jax.vmap(unravel)(out)
    return gs, n_acc, n_rej, idx >= m


def integrate_flow_adaptive(
    beta: Callable,
    g0: Any,
    s_save: Any,
    *,
    dissipation: Optional[Callable] = None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 4096,
) -> AdaptiveFlowSolution:
    """Integrate dg/ds = beta(g) + D(g) with adaptive Dormand-Prince 5(4) steps, reporting g at the scales s_save.

    Steps are accepted when the RMS of err / (atol + rtol |g|) is <= 1 and never step over a requested scale. The
    loop is a `lax.scan` of max_steps iterations (steps after the last requested scale are skipped with `lax.cond`),
    so it jit-compiles, vmaps and is reverse-mode differentiable.

    Args:
        beta: g -> dg/ds (JAX-traceable; g may be a pytree).
        g0: couplings at s_save[0].
        s_save: (m,) strictly monotonic scales, m >= 2; s_save[0] is the initial scale.
        dissipation: optional D(g) added to beta.
        rtol, atol: relative and absolute error tolerances per step (> 0).
        max_steps: static budget of step attempts (accepted + rejected).

    Returns:
        AdaptiveFlowSolution; check `success` (False if the budget ran out: unreached rows are NaN).
    """
    field_tree = flow_vector_field(beta, dissipation)
    max_steps = check_positive_int(max_steps, "max_steps")
    check_positive_float(rtol, "rtol")
    check_positive_float(atol, "atol")
    g0 = jax.tree_util.tree_map(float_array, g0)
    check_finite(jax.tree_util.tree_leaves(g0), "g0")
    dtype = jax.flatten_util.ravel_pytree(g0)[0].dtype
    s_save = jnp.asarray(s_save, dtype)
    if s_save.ndim != 1 or s_save.shape[0] < 2:
        raise ValueError(f"s_save must be a 1D array of at least 2 scales, got shape {s_save.shape}")
    if is_concrete(s_save):
        d = np.diff(np.asarray(s_save))
        if not (np.all(np.isfinite(np.asarray(s_save))) and (np.all(d > 0) or np.all(d < 0))):
            raise ValueError("s_save must be finite and strictly increasing or strictly decreasing")
    gs, n_acc, n_rej, success = _adaptive_core(field_tree, g0, s_save, rtol, atol, max_steps)
    return AdaptiveFlowSolution(s=s_save, g=gs, n_accepted=n_acc, n_rejected=n_rej, success=success)


# ----------------------------------------------------------------------------------------------------------------
# Fixed points
# ----------------------------------------------------------------------------------------------------------------


class FixedPoint(NamedTuple):
    """Result of Newton's method from one starting point.

    Fields:
        g_star: the fixed point (shape of the starting point).
        residual: () max-norm of beta(g_star).
        n_iter: () Newton iterations used.
        converged: () True when residual <= tol.
    """

    g_star: Array
    residual: Float[Array, ""]
    n_iter: Int[Array, ""]
    converged: Array


class FixedPoints(NamedTuple):
    """Fixed points found from several starting points (see `fixed_points`).

    Fields:
        points: (k, *g.shape) fixed points (k = number of guesses, or of distinct converged points if unique).
        residual: (k,) max-norm of beta at each point.
        converged: (k,) convergence flags.
        n_iter: (k,) Newton iterations.
    """

    points: Array
    residual: Float[Array, " k"]
    converged: Array
    n_iter: Int[Array, " k"]


def _default_tol(dtype) -> float:
    return 1e-10 if jnp.finfo(dtype).bits >= 64 else 1e-5


_LINE_SEARCH = 2.0 ** -np.arange(10)


def _newton_solve(f: Callable, x0: Array, tol, max_iter: int):
    """Damped Newton iteration on a flat vector; returns (x, (n_iter, broken))."""
    alphas = jnp.asarray(_LINE_SEARCH, x0.dtype)

    def norm(v):
        return jnp.max(jnp.abs(v))

    def cond(state):
        x, fx, i, broken = state
        return (i < max_iter) & (norm(fx) > tol) & ~broken

    def body(state):
        x, fx, i, broken = state
        jac = jax.jacfwd(f)(x)
        dx = jnp.linalg.solve(jac, fx)
        cand = x[None, :] - alphas[:, None] * dx[None, :]
        fc = jax.vmap(f)(cand)
        nc = jnp.max(jnp.abs(fc), axis=1)
        nc = jnp.where(jnp.isfinite(nc) & jnp.all(jnp.isfinite(cand), axis=1), nc, jnp.inf)
        n0 = norm(fx)
        good = nc <= (1.0 - 1e-4 * alphas) * n0
        j = jnp.where(jnp.any(good), jnp.argmax(good), jnp.argmin(nc))
        broken = ~jnp.isfinite(nc[j])
        x_new = jnp.where(broken, x, cand[j])
        f_new = jnp.where(broken, fx, fc[j])
        return x_new, f_new, i + 1, broken

    fx0 = f(x0)
    broken0 = ~jnp.all(jnp.isfinite(fx0))
    x, fx, i, broken = lax.while_loop(cond, body, (x0, fx0, jnp.asarray(0), broken0))
    # One polishing step: at a simple root Newton is quadratic, so this brings tol-level residuals to round-off.
    x_pol, f_pol, _, broken_pol = body((x, fx, i, broken))
    better = ~broken & ~broken_pol & (norm(f_pol) < norm(fx))
    x = jnp.where(better, x_pol, x)
    return x, (i, broken)


@partial(jax.jit, static_argnames=("f", "tol", "max_iter"))
def _find_fixed_point_flat(f: Callable, x0: Array, tol: float, max_iter: int):
    def solve(fn, x):
        # custom_root differentiates its aux output too, so integer / boolean diagnostics travel as floats.
        x, (n_iter, broken) = _newton_solve(fn, x, tol, max_iter)
        return x, (n_iter.astype(x.dtype), broken.astype(x.dtype))

    def tangent_solve(g, y):
        return jnp.linalg.solve(jax.jacobian(g)(y), y)

    x, (n_iter, broken) = lax.custom_root(f, x0, solve, tangent_solve, has_aux=True)
    n_iter = lax.stop_gradient(n_iter).astype(jnp.int32)
    broken = lax.stop_gradient(broken) > 0
    residual = jnp.max(jnp.abs(f(x)))
    converged = (residual <= tol) & ~broken
    return x, residual, n_iter, converged, broken


@partial(jax.jit, static_argnames=("f", "tol", "max_iter"))
def _fixed_points_batch(f: Callable, xs: Array, tol: float, max_iter: int):
    return jax.vmap(lambda x: _find_fixed_point_flat(f, x, tol, max_iter))(xs)


def find_fixed_point(
    beta: Callable, g0: Any, *, tol: Optional[float] = None, max_iter: int = 50
) -> FixedPoint:
    """Fixed point beta(g*) = 0 by damped Newton iteration from g0 (pure; differentiable via the implicit function theorem).

    Newton steps use the Jacobian M = d beta / d g from `jax.jacfwd`, with a backtracking line search on max|beta|.
    Convergence is quadratic at a simple root; at a marginal root (singular M, e.g. beta = g^2) it is linear and g*
    is only accurate to about sqrt(tol). Under `jax.grad`, d g*/d theta = -M^-1 d beta/d theta.

    Args:
        beta: g -> dg/ds (JAX-traceable, same shape as g).
        g0: starting point, scalar or array (float).
        tol: convergence threshold on max|beta(g)|; default 1e-10 (float64) or 1e-5 (float32).
        max_iter: maximum Newton iterations (static).

    Returns:
        FixedPoint(g_star, residual, n_iter, converged); converged is False if Newton hit a point where beta or
        its Jacobian is singular (non-finite step), or ran out of iterations.
    """
    check_callable(beta, "beta")
    max_iter = check_positive_int(max_iter, "max_iter")
    flat, unravel, x0 = as_flat_field(beta, g0)
    check_finite(x0, "g0")
    if tol is None:
        tol = _default_tol(x0.dtype)
    check_positive_float(tol, "tol")
    x, residual, n_iter, converged, _ = _find_fixed_point_flat(flat, x0, float(tol), max_iter)
    return FixedPoint(g_star=unravel(x), residual=residual, n_iter=n_iter, converged=converged)


def fixed_points(
    beta: Callable,
    guesses: Any,
    *,
    tol: Optional[float] = None,
    max_iter: int = 50,
    unique: bool = True,
    unique_tol: float = 1e-6,
) -> FixedPoints:
    """Fixed points beta(g*) = 0 of a flow in R^n, by Newton's method from each of several starting points.

    With unique=False this is a pure, jittable vmap of `find_fixed_point`. With unique=True (default) it runs at
    the Python boundary: non-converged starts are dropped and points closer than unique_tol (max-norm) merged, and a
    ValueError is raised when no start converges or when beta / its Jacobian is singular where Newton stopped.

    Args:
        beta: g -> dg/ds, g of shape () or (n,).
        guesses: (k,) starting points for one coupling, or (k, n) for n couplings.
        tol: convergence threshold on max|beta|; default 1e-10 (float64) or 1e-5 (float32).
        max_iter: Newton iterations per start.
        unique: drop failures and duplicates (not jittable) or return one row per guess (jittable).
        unique_tol: distance below which two converged points are the same.

    Returns:
        FixedPoints(points (k, ...), residual (k,), converged (k,), n_iter (k,)), sorted lexicographically when
        unique=True.
    """
    check_callable(beta, "beta")
    max_iter = check_positive_int(max_iter, "max_iter")
    guesses = float_array(guesses)
    if guesses.ndim not in (1, 2) or guesses.shape[0] < 1:
        raise ValueError(f"guesses must have shape (k,) or (k, n) with k >= 1, got {guesses.shape}")
    check_finite(guesses, "guesses")
    if tol is None:
        tol = _default_tol(guesses.dtype)
    check_positive_float(tol, "tol")
    tol = float(tol)
    flat, _, _ = as_flat_field(beta, guesses[0])
    xs, res, nit, conv, broken = _fixed_points_batch(flat, guesses.reshape(guesses.shape[0], -1), tol, max_iter)
    pts = xs.reshape(guesses.shape)
    if not unique:
        return FixedPoints(points=pts, residual=res, converged=conv, n_iter=nit)
    if not is_concrete(guesses, pts):
        raise ValueError("fixed_points(..., unique=True) runs at the Python boundary; use unique=False under jit/vmap")
    pts_np, conv_np, broken_np = np.asarray(pts), np.asarray(conv), np.asarray(broken)
    if not conv_np.any():
        if broken_np.any():
            where = pts_np[np.argmax(broken_np)]
            raise ValueError(
                f"beta: Newton's method stopped at g = {where} where beta or its Jacobian d beta/dg is singular "
                "(non-finite Newton step); no fixed point found from any guess"
            )
        raise ValueError(
            f"guesses: no Newton iteration converged to max|beta| <= {tol} in {max_iter} iterations; "
            f"best residual {float(np.min(np.asarray(res))):.3e}. Try other starting points or a larger max_iter"
        )
    keep: list[int] = []
    for i in np.flatnonzero(conv_np):
        p = pts_np[i].ravel()
        if all(np.max(np.abs(p - pts_np[j].ravel())) > unique_tol for j in keep):
            keep.append(int(i))
    keep.sort(key=lambda i: tuple(pts_np[i].ravel()))
    idx = jnp.asarray(keep)
    return FixedPoints(points=pts[idx], residual=res[idx], converged=conv[idx], n_iter=nit[idx])


# ----------------------------------------------------------------------------------------------------------------
# Linearisation, classification, exponents
# ----------------------------------------------------------------------------------------------------------------


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


def _eig(matrix: Array):
    """Eigenvalues and right eigenvectors of a general real matrix, differentiable.

    Eigenvector derivatives (opted in via enable_eigvec_derivs) assume distinct eigenvalues; eigenvalue derivatives
    do not need that. Non-symmetric eig runs on CPU; on GPU JAX uses its own eig implementation where available.
    """
    w, v = lax.linalg.eig(matrix, compute_left_eigenvectors=False, enable_eigvec_derivs=True)
    return w, v


def _sorted_eig(matrix: Array):
    w, v = _eig(matrix)
    order = jnp.lexsort((-jnp.imag(w), -jnp.real(w)))
    return w[order], v[:, order]


@partial(jax.jit, static_argnames=("flat",))
def _linearize_core(flat: Callable, x: Array):
    matrix = jax.jacfwd(flat)(x)
    w, v = _sorted_eig(matrix)
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
        ValueError: if beta or its Jacobian is not finite at g_star (beta singular there), or g_star is not a fixed point.
    """
    check_callable(beta, "beta")
    check_positive_float(marginal_tol, "marginal_tol", allow_zero=True)
    flat, unravel, x = as_flat_field(beta, g_star)
    check_finite(x, "g_star")
    bx, matrix, w, v, left = _linearize_core(flat, x)
    if is_concrete(x, bx, matrix):
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
        g_star=unravel(x),
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
