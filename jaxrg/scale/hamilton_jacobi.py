"""Hamilton-Jacobi actions of the scale Hamiltonian: the scale-independent S with beta . grad S + F = 0.

With H(g, p) = p . beta(g) + F(g) and S(g, s) = S(g) (no explicit scale dependence), the Hamilton-Jacobi equation
dS/ds + H(g, grad S) = 0 reduces to

    beta(g) . grad S(g) + F(g) = 0.

Along a flow line g(s) of dg/ds = beta this says dS/ds = -F(g(s)), so S(g(s)) - S(g(0)) = -int_0^s F ds'
(any number of couplings: `hj_action_along_flow`). With one coupling, dg = beta ds gives the quadrature
S(g) - S(g_ref) = -int_{g_ref}^{g} F(g') / beta(g') dg' (`hj_action`), which exists only if beta has no zero (fixed
point) between g_ref and g: a flow line never crosses a fixed point, and S diverges there.
Example (glass formers): beta = lambda g, F = A / g gives S(g) = A / (lambda g) + const.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float

from jaxrg.scale._checks import check_callable, check_finite, check_positive_int, float_array, is_concrete
from jaxrg.scale.integrate import integrate_flow

__all__ = ["FlowAction", "hj_action", "hj_action_along_flow", "hj_residual"]


class FlowAction(NamedTuple):
    """The Hamilton-Jacobi action accumulated along a flow line.

    Fields:
        s: (m,) scales; g: (m, *g0.shape) couplings on the flow line;
        S: (m,) S(g(s)) - S(g0) = -int_0^s F(g(s')) ds'.
    """

    s: Float[Array, " m"]
    g: Array
    S: Float[Array, " m"]


def _graded_unit_edges(r: Array, n: int) -> Array:
    """Panel edges on [0, 1] graded geometrically towards 0 for a singularity at distance 1/r before 0.

    Edge k sits at ((1 + r)^(k/n) - 1) / r, so each panel is as wide as a fixed fraction of its distance to the
    singularity and Gauss-Legendre converges at the same geometric rate on every panel; r -> 0 gives uniform panels.
    """
    k = jnp.arange(n + 1, dtype=r.dtype) / n
    safe_r = jnp.where(r > 1e-8, r, 1.0)
    graded = jnp.expm1(k * jnp.log1p(safe_r)) / safe_r
    return jnp.where(r > 1e-8, graded, k)


def _one_sided_integral(f: Callable, a: Array, b: Array, delta: Array, n_panels: int, t, w) -> Array:
    """int_a^b f with panels graded towards a, where delta estimates the distance from a to f's nearest singularity."""
    length = jnp.abs(b - a)
    info = jnp.finfo(length.dtype)
    r = jnp.minimum(length / jnp.maximum(delta, info.tiny), info.max)
    edges = a + (b - a) * _graded_unit_edges(r, n_panels)
    lo, hi = edges[:-1], edges[1:]
    half = (hi - lo) / 2
    x = (lo + hi)[:, None] / 2 + half[:, None] * t[None, :]
    fx = jax.vmap(jax.vmap(f))(x)
    return jnp.sum(half[:, None] * w[None, :] * fx), x


def _action_1d(beta: Callable, F: Callable, g: Array, g_ref: Array, n_panels: int, order: int):
    t_np, w_np = np.polynomial.legendre.leggauss(order)
    t = jnp.asarray(t_np, g.dtype)
    w = jnp.asarray(w_np, g.dtype)

    def integrand(x):
        return F(x) / beta(x)

    dintegrand = jax.grad(integrand)

    def pole_distance(x):
        # |f / f'| is the distance to a simple pole of f (an underestimate for higher-order poles: finer panels).
        # It only places the panels, so it is kept out of derivatives (no second derivatives of F / beta needed).
        x = lax.stop_gradient(x)
        return jnp.abs(integrand(x) / dintegrand(x))

    mid = (g + g_ref) / 2
    i1, x1 = _one_sided_integral(integrand, g_ref, mid, pole_distance(g_ref), n_panels, t, w)
    i2, x2 = _one_sided_integral(integrand, g, mid, pole_distance(g), n_panels, t, w)
    action = -(i1 - i2)
    nodes = jnp.concatenate([jnp.ravel(x1), jnp.ravel(x2), jnp.stack([g, g_ref])])
    b_nodes = jax.vmap(beta)(nodes)
    same_sign = jnp.all(b_nodes > 0) | jnp.all(b_nodes < 0)
    return jnp.where(same_sign, action, jnp.nan), b_nodes, nodes


@eqx.filter_jit
def _action_points(beta: Callable, F: Callable, gv: Array, g_ref: Array, n_panels: int, order: int):
    return jax.vmap(lambda gi: _action_1d(beta, F, gi, g_ref, n_panels, order))(gv)


def hj_action(
    beta: Callable, F: Callable, g, g_ref, *, n_panels: int = 16, order: int = 16
) -> Array:
    """One-coupling Hamilton-Jacobi action S(g) - S(g_ref) = -int_{g_ref}^{g} F(g') / beta(g') dg'.

    Composite Gauss-Legendre quadrature: the interval is split at its midpoint and each half is covered by n_panels
    panels of `order` nodes, graded geometrically towards its outer endpoint according to the distance |f / f'| of
    the integrand f = F / beta to its nearest pole, so integrands like 1/g^2 near g = 0 keep near machine precision
    (relative error ~1e-14 for beta = lambda g, F = A / g on [1e-3, 1e3]). Pure and differentiable in g, g_ref and
    any parameters closed over by beta and F; d/dg of the result is -F(g) / beta(g) up to quadrature error.

    Args:
        beta: scalar g -> dg/ds. F: scalar g -> F(g).
        g: () or (m,) couplings where S is evaluated.
        g_ref: () reference coupling (S(g_ref) := 0).
        n_panels: panels per half-interval (static); order: Gauss-Legendre nodes per panel (static).

    Returns:
        S(g) - S(g_ref), same shape as g (NaN under jit where beta vanishes or changes sign on the interval).

    Raises:
        ValueError: (for concrete inputs) if beta is zero, changes sign (a fixed point lies between g_ref and g, where
            the action diverges) or is not finite on the interval; or if F / beta is not finite there.
    """
    check_callable(beta, "beta")
    check_callable(F, "F")
    n_panels = check_positive_int(n_panels, "n_panels")
    order = check_positive_int(order, "order", minimum=2)
    g = float_array(g)
    g_ref = float_array(g_ref)
    if g_ref.ndim != 0:
        raise ValueError(f"g_ref must be a scalar coupling, got shape {g_ref.shape}")
    if g.ndim > 1:
        raise ValueError(f"g must be a scalar or a 1D array of couplings (one-coupling action), got shape {g.shape}")
    check_finite(g, "g")
    check_finite(g_ref, "g_ref")
    dtype = jnp.result_type(g, g_ref)
    g, g_ref = g.astype(dtype), g_ref.astype(dtype)
    for name, fn in (("beta", beta), ("F", F)):
        shape = jax.eval_shape(fn, g_ref).shape
        if shape != ():
            raise ValueError(f"{name} must map a scalar coupling to a scalar (one-coupling action), got shape {shape}")

    gv = jnp.atleast_1d(g)
    action, b_nodes, nodes = _action_points(beta, F, gv, g_ref, n_panels, order)
    if is_concrete(gv, g_ref, action):
        b_np = np.asarray(b_nodes)
        for i in range(b_np.shape[0]):
            bi = b_np[i]
            if not np.all(np.isfinite(bi)):
                raise ValueError(f"beta is not finite between g_ref = {float(g_ref)} and g = {float(gv[i])}")
            if not (np.all(bi > 0) or np.all(bi < 0)):
                j = int(np.argmin(np.abs(bi)))
                raise ValueError(
                    f"beta vanishes between g_ref = {float(g_ref)} and g = {float(gv[i])} (beta is singular in "
                    f"F/beta: fixed point near g = {float(np.asarray(nodes)[i, j]):.6g}); the action "
                    "S = -int F/beta dg diverges there. Choose g and g_ref on the same side of every fixed point"
                )
        if not np.all(np.isfinite(np.asarray(action))):
            raise ValueError(f"F / beta is not integrable (non-finite) between g_ref = {float(g_ref)} and g")
    return action.reshape(g.shape)


def hj_action_along_flow(
    beta: Callable, F: Callable, g0, ds: float, n_steps: int, *, save_every: int = 1
) -> FlowAction:
    """Hamilton-Jacobi action along a flow line in R^n: S(g(s)) - S(g0) = -int_0^s F(g(s')) ds'.

    Integrates the augmented system dg/ds = beta(g), dS/ds = -F(g) with fixed-step RK4 (`integrate_flow`, O(ds^4)).

    Args:
        beta: g -> dg/ds (g of shape () or (n,)). F: g -> scalar.
        g0: initial couplings. ds: step in s (non-zero). n_steps: number of steps (static).
        save_every: keep every k-th state (must divide n_steps).

    Returns:
        FlowAction(s (m,), g (m, *g0.shape), S (m,)).
    """
    check_callable(beta, "beta")
    check_callable(F, "F")
    g0 = float_array(g0)
    check_finite(g0, "g0")
    if jax.eval_shape(F, g0).shape != ():
        raise ValueError("F must return a scalar F(g)")
    traj = integrate_flow(_ActionField(beta, F), (g0, jnp.zeros((), g0.dtype)), ds, n_steps, save_every=save_every)
    gs, Ss = traj.g
    return FlowAction(s=traj.s, g=gs, S=Ss)


class _ActionField(eqx.Module):
    """The augmented flow (g, S) -> (beta(g), -F(g)), whose S component accumulates the action."""

    beta: Callable
    F: Callable

    def __call__(self, state):
        g, _ = state
        return self.beta(g), -self.F(g)


def hj_residual(beta: Callable, F: Callable, action: Callable) -> Callable:
    """The Hamilton-Jacobi residual g -> beta(g) . grad S(g) + F(g) of a candidate action S (forward-mode autodiff).

    Args:
        beta: g -> dg/ds. F: g -> scalar. action: S, g -> scalar (e.g. lambda g: hj_action(beta, F, g, g_ref)).

    Returns:
        A function g -> residual (scalar); zero for an exact scale-independent action.
    """
    check_callable(beta, "beta")
    check_callable(F, "F")
    check_callable(action, "action")
    return _HJResidual(beta, F, action)


class _HJResidual(eqx.Module):
    """g -> beta(g) . grad S(g) + F(g), evaluated by one module-level jitted function."""

    beta: Callable
    F: Callable
    action: Callable

    def __call__(self, g):
        return _hj_residual_at(self, float_array(g))


@eqx.filter_jit
def _hj_residual_at(r: _HJResidual, g: Array) -> Array:
    # beta . grad S is the derivative of S along beta: one forward-mode JVP.
    _, dS_along_beta = jax.jvp(r.action, (g,), (r.beta(g),))
    return dS_along_beta + r.F(g)
