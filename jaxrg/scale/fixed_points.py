"""Fixed points of flows in coupling space, beta(g*) = 0, by optimistix root finding.

Newton's method (default), the chord method (Jacobian frozen at the start) or Powell's dogleg trust region
(`method="dogleg"`, more robust far from a root) on the flattened coupling vector. Fixed points are differentiable by
the implicit function theorem (optimistix's implicit adjoint: d g*/d theta = -M^-1 d beta/d theta with
M = d beta/d g), in forward and reverse mode. beta may be an equinox module (a learned map): its arrays are traced,
so new weights of the same shapes reuse the compiled solver.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, Float, Int

from jaxrg.scale._checks import check_callable, check_finite, check_positive_float, check_positive_int, float_array

__all__ = [
    "ROOT_METHODS",
    "RootResult",
    "FixedPoint",
    "FixedPoints",
    "default_tolerance",
    "root_solver",
    "find_root",
    "find_fixed_point",
    "fixed_points",
]

ROOT_METHODS = ("newton", "chord", "dogleg")
_METHOD_NAMES = {"newton": "Newton", "chord": "chord", "dogleg": "dogleg"}
_SOLVERS = {"newton": optx.Newton, "chord": optx.Chord, "dogleg": optx.Dogleg}


class RootResult(NamedTuple):
    """A root x of f(x) = 0 on a flat vector (see `find_root`).

    Fields:
        x: (n,) the root; residual: () max|f(x)|; n_iter: () solver steps;
        converged: () residual <= tol and the solver succeeded;
        singular: () the solver stopped where f or its Jacobian is singular (non-finite values or a failed linear
            solve), rather than by running out of steps.
    """

    x: Float[Array, " n"]
    residual: Float[Array, ""]
    n_iter: Int[Array, ""]
    converged: Array
    singular: Array


class FixedPoint(NamedTuple):
    """Result of root finding from one starting point.

    Fields:
        g_star: the fixed point (shape of the starting point).
        residual: () max-norm of beta(g_star).
        n_iter: () solver iterations used.
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
        n_iter: (k,) solver iterations.
    """

    points: Array
    residual: Float[Array, " k"]
    converged: Array
    n_iter: Int[Array, " k"]


def default_tolerance(dtype) -> float:
    """Default root tolerance on max|f|: 1e-10 in float64, 1e-5 in float32."""
    return 1e-10 if jnp.finfo(dtype).bits >= 64 else 1e-5


def root_solver(method: str, tol: float):
    """The optimistix solver for `method` ('newton', 'chord' or 'dogleg') with tolerance tol (y and f space)."""
    if method not in ROOT_METHODS:
        raise ValueError(f"method must be one of {ROOT_METHODS}, got {method!r}")
    return _SOLVERS[method](rtol=tol, atol=tol)


def find_root(f: Callable, x0: Array, tol: float, max_iter: int, method: str = "newton") -> RootResult:
    """Root of f: (n,) -> (n,) from x0 by optimistix (pure, jittable, vmappable; implicit-function derivatives).

    No validation (see `find_fixed_point` for the checked public entry); call it inside a jitted function.

    Args:
        f: (n,) -> (n,), JAX-traceable. x0: (n,) start. tol: tolerance on max|f| and on the last step.
        max_iter: maximum solver steps (static). method: 'newton', 'chord' or 'dogleg'.

    Returns:
        RootResult(x, residual, n_iter, converged, singular).
    """
    sol = optx.root_find(lambda x, _: f(x), root_solver(method, tol), x0, max_steps=max_iter, throw=False)
    x = sol.value
    residual = jnp.max(jnp.abs(f(x)))
    finite = jnp.all(jnp.isfinite(x)) & jnp.isfinite(residual)
    solver_ok = (sol.result == optx.RESULTS.successful) | (sol.result == optx.RESULTS.nonlinear_max_steps_reached)
    converged = finite & (residual <= tol)
    singular = ~converged & (~finite | ~solver_ok)
    return RootResult(x, residual, sol.stats["num_steps"], converged, singular)


@eqx.filter_jit
def _fixed_points_core(beta: Callable, guesses: Array, tol: float, max_iter: int, method: str) -> RootResult:
    shape = guesses.shape[1:]

    def one(g0):
        return find_root(lambda v: jnp.ravel(beta(v.reshape(shape))), jnp.ravel(g0), tol, max_iter, method)

    return jax.vmap(one)(guesses)


@eqx.filter_jit
def _fixed_point_core(beta: Callable, g0: Array, tol: float, max_iter: int, method: str) -> RootResult:
    return jax.tree.map(lambda x: x[0], _fixed_points_core(beta, g0[None], tol, max_iter, method))


def _checked(beta: Callable, max_iter: int, method: str, tol: Optional[float], dtype) -> tuple[int, float]:
    """Validate the common arguments; returns (max_iter, tol) with the default tolerance filled in."""
    check_callable(beta, "beta")
    root_solver(method, 1.0)
    if tol is None:
        return check_positive_int(max_iter, "max_iter"), default_tolerance(dtype)
    check_positive_float(tol, "tol")
    return check_positive_int(max_iter, "max_iter"), float(tol)


def find_fixed_point(
    beta: Callable, g0: Any, *, tol: Optional[float] = None, max_iter: int = 50, method: str = "newton"
) -> FixedPoint:
    """Fixed point beta(g*) = 0 by root finding from g0 (pure; differentiable via the implicit function theorem).

    Newton's method converges quadratically at a simple root; at a marginal root (singular M, e.g. beta = g^2) it is
    linear and g* is only accurate to about sqrt(tol). Under `jax.grad` / `jax.jvp`, d g*/d theta =
    -M^-1 d beta/d theta.

    Args:
        beta: g -> dg/ds (JAX-traceable, same shape as g; may be an equinox module).
        g0: starting point, scalar or array (float).
        tol: convergence threshold on max|beta(g)|; default 1e-10 (float64) or 1e-5 (float32).
        max_iter: maximum iterations (static).
        method: 'newton' (default), 'chord' or 'dogleg' (see `root_solver`).

    Returns:
        FixedPoint(g_star, residual, n_iter, converged); converged is False if the solver hit a point where beta or
        its Jacobian is singular, or ran out of iterations.
    """
    g0 = float_array(g0)
    check_finite(g0, "g0")
    max_iter, tol = _checked(beta, max_iter, method, tol, g0.dtype)
    root = _fixed_point_core(beta, g0, tol, max_iter, method)
    return FixedPoint(root.x.reshape(g0.shape), root.residual, root.n_iter, root.converged)


def fixed_points(
    beta: Callable,
    guesses: Any,
    *,
    tol: Optional[float] = None,
    max_iter: int = 50,
    unique: bool = True,
    unique_tol: float = 1e-6,
    method: str = "newton",
) -> FixedPoints:
    """Fixed points beta(g*) = 0 of a flow in R^n, by root finding from each of several starting points.

    With unique=False this is a pure, jittable vmap of `find_fixed_point`. With unique=True (default) it runs at
    the Python boundary: non-converged starts are dropped and points closer than unique_tol (max-norm) merged, and a
    ValueError is raised when no start converges or when beta / its Jacobian is singular where the solver stopped.

    Args:
        beta: g -> dg/ds, g of shape () or (n,).
        guesses: (k,) starting points for one coupling, or (k, n) for n couplings.
        tol: convergence threshold on max|beta|; default 1e-10 (float64) or 1e-5 (float32).
        max_iter: iterations per start.
        unique: drop failures and duplicates (not jittable) or return one row per guess (jittable).
        unique_tol: distance below which two converged points are the same.
        method: 'newton' (default), 'chord' or 'dogleg'.

    Returns:
        FixedPoints(points (k, ...), residual (k,), converged (k,), n_iter (k,)), sorted lexicographically when
        unique=True.
    """
    guesses = float_array(guesses)
    if guesses.ndim not in (1, 2) or guesses.shape[0] < 1:
        raise ValueError(f"guesses must have shape (k,) or (k, n) with k >= 1, got {guesses.shape}")
    check_finite(guesses, "guesses")
    max_iter, tol = _checked(beta, max_iter, method, tol, guesses.dtype)
    roots = _fixed_points_core(beta, guesses, tol, max_iter, method)
    pts, res, conv, nit = roots.x.reshape(guesses.shape), roots.residual, roots.converged, roots.n_iter
    if not unique:
        return FixedPoints(points=pts, residual=res, converged=conv, n_iter=nit)
    if isinstance(pts, jax.core.Tracer):
        raise ValueError("fixed_points(..., unique=True) runs at the Python boundary; use unique=False under jit/vmap")
    pts_np, conv_np, singular_np = np.asarray(pts), np.asarray(conv), np.asarray(roots.singular)
    if not conv_np.any():
        if singular_np.any():
            where = pts_np[np.argmax(singular_np)]
            raise ValueError(
                f"beta: root finding stopped at g = {where} where beta or its Jacobian d beta/dg is singular; "
                "no fixed point found from any guess"
            )
        raise ValueError(
            f"guesses: no {_METHOD_NAMES[method]} iteration converged to max|beta| <= {tol} in {max_iter} iterations; "
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
