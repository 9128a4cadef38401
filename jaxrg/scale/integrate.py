"""Integration of flows in coupling space, dg/ds = beta(g) + D(g), with diffrax.

s is the logarithm of the length scale. beta (and the optional non-Hamiltonian drift D) is any JAX-traceable function
g -> array of g's shape; g may be a scalar, an array or a pytree of arrays. beta may be an equinox module (a learned
map): its arrays are traced, so new weights of the same shapes reuse the compiled solver.

* `integrate_flow`: fixed steps (classical RK4 by default, `RK4`, or any diffrax solver), states every k steps.
* `integrate_flow_adaptive`: adaptive steps (Tsit5 by default, or an implicit stiff solver such as
  `diffrax.Kvaerno5()`), states at requested scales, dense output, and a steady-state event that stops the flow at a
  fixed point. Gradients of any output with respect to parameters of beta go through diffrax's adjoints
  (`diffrax.RecursiveCheckpointAdjoint` by default).
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, NamedTuple, Optional

import diffrax
import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, Float, Int

from jaxrg.scale._checks import check_callable, check_finite, check_positive_float, check_positive_int, float_array

__all__ = [
    "RK4",
    "FlowTrajectory",
    "AdaptiveFlowSolution",
    "flow_vector_field",
    "rk4_step",
    "integrate_flow",
    "integrate_flow_adaptive",
]


class RK4(diffrax.AbstractERK):
    """The classical fourth-order Runge-Kutta method as a diffrax solver (fixed steps only: no error estimate)."""

    tableau: ClassVar[diffrax.ButcherTableau] = diffrax.ButcherTableau(
        a_lower=(np.array([0.5]), np.array([0.0, 0.5]), np.array([0.0, 0.0, 1.0])),
        b_sol=np.array([1 / 6, 1 / 3, 1 / 3, 1 / 6]),
        b_error=np.zeros(4),
        c=np.array([0.5, 0.5, 1.0]),
    )
    interpolation_cls: ClassVar[Callable] = diffrax.ThirdOrderHermitePolynomialInterpolation.from_k

    def order(self, terms):
        return 4


class FlowTrajectory(NamedTuple):
    """A flow line sampled at fixed steps.

    Fields:
        s: (m,) scale values (s0, s0 + save_every * ds, ...).
        g: (m, *g0.shape) couplings along the flow line (a pytree with a leading axis if g0 is a pytree).
    """

    s: Float[Array, " m"]
    g: Any


class AdaptiveFlowSolution(NamedTuple):
    """Result of the adaptive integrator.

    Fields:
        s: (m,) the requested scales.
        g: (m, *g0.shape) couplings at those scales (NaN for rows not reached: budget exhausted or flow stopped).
        n_accepted: () accepted steps; n_rejected: () rejected steps.
        success: () True when the flow reached s[-1] or stopped at a fixed point within max_steps.
        s_final: () the scale where the integration ended (s[-1], or where the steady-state event fired).
        g_final: couplings at s_final.
        at_fixed_point: () True when the steady-state event stopped the flow.
        dense: the `diffrax.Solution` when dense=True (`dense.evaluate(s)` interpolates g(s)), else None.
    """

    s: Float[Array, " m"]
    g: Any
    n_accepted: Int[Array, ""]
    n_rejected: Int[Array, ""]
    success: Array
    s_final: Float[Array, ""]
    g_final: Any
    at_fixed_point: Array
    dense: Optional[diffrax.Solution]


class _FlowField(eqx.Module):
    """g -> beta(g) + D(g); a module, so that the pair of functions is one static (or traced) argument."""

    beta: Callable
    dissipation: Callable

    def __call__(self, g):
        return jax.tree_util.tree_map(jnp.add, self.beta(g), self.dissipation(g))


def flow_vector_field(beta: Callable, dissipation: Optional[Callable] = None) -> Callable:
    """The right-hand side g -> beta(g) + D(g) of the scale flow (D = 0 when dissipation is None).

    Args:
        beta: g -> dg/ds, same shape as g.
        dissipation: optional g -> D(g), the irreversible (non-Hamiltonian) part of the flow.

    Returns:
        A function g -> dg/ds (beta itself when dissipation is None).
    """
    check_callable(beta, "beta")
    if dissipation is None:
        return beta
    check_callable(dissipation, "dissipation")
    return _FlowField(beta, dissipation)


def _term(field: Callable) -> diffrax.ODETerm:
    return diffrax.ODETerm(lambda s, g, args: field(g))


def rk4_step(field: Callable, y: Any, ds: Float[Array, ""]) -> Any:
    """One classical fourth-order Runge-Kutta step of the autonomous system dy/ds = field(y).

    Args:
        field: y -> dy/ds on pytrees of arrays.
        y: the state (any pytree of float arrays).
        ds: the step in s (may be negative).

    Returns:
        The state at s + ds (same pytree structure as y).
    """
    solver, term = RK4(), _term(field)
    zero = jnp.zeros_like(ds)
    state = solver.init(term, zero, ds, y, None)
    y1, *_ = solver.step(term, zero, ds, y, None, state, made_jump=False)
    return y1


def _validate_g0(g0: Any) -> Any:
    g0 = jax.tree_util.tree_map(float_array, g0)
    check_finite(jax.tree_util.tree_leaves(g0), "g0")
    return g0


@eqx.filter_jit
def _fixed_step_core(field: Callable, g0: Any, s: Array, ds: Array, n_steps: int, solver, adjoint) -> Any:
    sol = diffrax.diffeqsolve(
        _term(field), solver, s[0], s[0] + n_steps * ds, ds, g0,
        saveat=diffrax.SaveAt(ts=s),
        stepsize_controller=diffrax.ConstantStepSize(),
        max_steps=n_steps + 1,
        adjoint=adjoint,
    )
    return sol.ys


def integrate_flow(
    beta: Callable,
    g0: Any,
    ds: float,
    n_steps: int,
    *,
    dissipation: Optional[Callable] = None,
    s0: float = 0.0,
    save_every: int = 1,
    solver: Optional[diffrax.AbstractSolver] = None,
    adjoint: Optional[diffrax.AbstractAdjoint] = None,
) -> FlowTrajectory:
    """Integrate dg/ds = beta(g) + D(g) with fixed steps (classical RK4 by default, global error O(ds^4)).

    Args:
        beta: g -> dg/ds (JAX-traceable, same shape as g; g may be a pytree of arrays; may be an equinox module).
        g0: initial couplings, scalar, (n,) array or pytree.
        ds: step in s = ln(length scale); negative integrates towards the ultraviolet.
        n_steps: number of steps (static Python int >= 1).
        dissipation: optional D(g) added to beta.
        s0: initial scale.
        save_every: keep every `save_every`-th state (static; must divide n_steps).
        solver: a diffrax solver taking fixed steps (default `RK4()`; e.g. `diffrax.Tsit5()`).
        adjoint: a diffrax adjoint (default `diffrax.RecursiveCheckpointAdjoint()`, reverse mode;
            `diffrax.ForwardMode()` for jax.jvp / jacfwd).

    Returns:
        FlowTrajectory with s of shape (n_steps // save_every + 1,) and g stacked along a leading axis.
    """
    field = flow_vector_field(beta, dissipation)
    n_steps = check_positive_int(n_steps, "n_steps")
    save_every = check_positive_int(save_every, "save_every")
    if n_steps % save_every:
        raise ValueError(f"save_every must divide n_steps, got n_steps={n_steps}, save_every={save_every}")
    check_finite(ds, "ds")
    if not isinstance(ds, jax.core.Tracer) and float(np.asarray(ds)) == 0.0:
        raise ValueError("ds must be a finite non-zero step, got 0")
    g0 = _validate_g0(g0)
    dtype = jax.tree_util.tree_leaves(g0)[0].dtype
    ds = jnp.asarray(ds, dtype)
    s = jnp.asarray(s0, dtype) + ds * save_every * jnp.arange(n_steps // save_every + 1, dtype=dtype)
    gs = _fixed_step_core(field, g0, s, ds, n_steps, RK4() if solver is None else solver,
                          diffrax.RecursiveCheckpointAdjoint() if adjoint is None else adjoint)
    return FlowTrajectory(s=s, g=gs)


@eqx.filter_jit
def _adaptive_core(field, g0, s_save, rtol, atol, max_steps, solver, steady_state, dense, adjoint):
    event = None
    if steady_state is not None:
        event = diffrax.Event(diffrax.steady_state_event(rtol=0.0, atol=steady_state, norm=optx.max_norm))
    sol = diffrax.diffeqsolve(
        _term(field), solver, s_save[0], s_save[-1], None, g0,
        saveat=diffrax.SaveAt(subs=[diffrax.SubSaveAt(ts=s_save), diffrax.SubSaveAt(t1=True)], dense=dense),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
        adjoint=adjoint,
        event=event,
        throw=False,
    )
    stopped = sol.result == diffrax.RESULTS.event_occurred
    success = (sol.result == diffrax.RESULTS.successful) | stopped
    (ts, t_end), (ys, y_end) = sol.ts, sol.ys
    # Rows the solver did not reach (ts = inf) are reported as NaN.
    reached = jnp.isfinite(ts)

    def rows(y):
        return jnp.where(reached.reshape((-1,) + (1,) * (y.ndim - 1)), y, jnp.nan)

    gs = jax.tree_util.tree_map(rows, ys)
    g_final = jax.tree_util.tree_map(lambda y: y[0], y_end)
    s_final = t_end[0]
    n_acc = sol.stats["num_accepted_steps"]
    n_rej = sol.stats["num_rejected_steps"]
    return gs, n_acc, n_rej, success, s_final, g_final, stopped, sol if dense else None


def integrate_flow_adaptive(
    beta: Callable,
    g0: Any,
    s_save: Any,
    *,
    dissipation: Optional[Callable] = None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 4096,
    solver: Optional[diffrax.AbstractSolver] = None,
    steady_state: Optional[float] = None,
    dense: bool = False,
    adjoint: Optional[diffrax.AbstractAdjoint] = None,
) -> AdaptiveFlowSolution:
    """Integrate dg/ds = beta(g) + D(g) with adaptive steps (diffrax, PID step control), reporting g at s_save.

    Steps are accepted when the RMS of err / (atol + rtol |g|) is <= 1. For stiff flows (eigenvalues of d beta/dg
    spread over decades) pass an implicit solver, `solver=diffrax.Kvaerno5()`: its step is set by accuracy, not by
    the stability limit of an explicit method. Jit-compiles, vmaps and is reverse-mode differentiable (adjoint).

    Args:
        beta: g -> dg/ds (JAX-traceable; g may be a pytree; may be an equinox module).
        g0: couplings at s_save[0].
        s_save: (m,) strictly monotonic scales, m >= 2; s_save[0] is the initial scale.
        dissipation: optional D(g) added to beta.
        rtol, atol: relative and absolute error tolerances per step (> 0).
        max_steps: static budget of steps (accepted + rejected).
        solver: a diffrax solver (default `diffrax.Tsit5()`, explicit 5(4); e.g. `diffrax.Dopri5()`,
            `diffrax.Kvaerno5()` for stiff flows).
        steady_state: if given, stop when max|dg/ds| < steady_state (a fixed point is reached); rows of s_save
            beyond the stopping scale are NaN and `at_fixed_point` is True.
        dense: keep the diffrax solution for dense output (`result.dense.evaluate(s)`).
        adjoint: a diffrax adjoint for reverse-mode derivatives (default `diffrax.RecursiveCheckpointAdjoint()`;
            `diffrax.ForwardMode()` for jax.jvp / jacfwd).

    Returns:
        AdaptiveFlowSolution; check `success` (False if the budget ran out: unreached rows are NaN).
    """
    field = flow_vector_field(beta, dissipation)
    max_steps = check_positive_int(max_steps, "max_steps")
    check_positive_float(rtol, "rtol")
    check_positive_float(atol, "atol")
    if steady_state is not None:
        check_positive_float(steady_state, "steady_state")
    g0 = _validate_g0(g0)
    dtype = jax.flatten_util.ravel_pytree(g0)[0].dtype
    s_save = jnp.asarray(s_save, dtype)
    if s_save.ndim != 1 or s_save.shape[0] < 2:
        raise ValueError(f"s_save must be a 1D array of at least 2 scales, got shape {s_save.shape}")
    if not isinstance(s_save, jax.core.Tracer):
        d = np.diff(np.asarray(s_save))
        if not (np.all(np.isfinite(np.asarray(s_save))) and (np.all(d > 0) or np.all(d < 0))):
            raise ValueError("s_save must be finite and strictly increasing or strictly decreasing")
    out = _adaptive_core(
        field, g0, s_save, rtol, atol, max_steps,
        diffrax.Tsit5() if solver is None else solver,
        None if steady_state is None else float(steady_state),
        bool(dense),
        diffrax.RecursiveCheckpointAdjoint() if adjoint is None else adjoint,
    )
    return AdaptiveFlowSolution(s_save, *out)
