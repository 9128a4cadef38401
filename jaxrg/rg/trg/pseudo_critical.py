"""The pseudo-critical coupling of a truncated coarse-graining scheme: bisection on the phase the RG flow ends in.

At finite bond dimension (and, for Gilt-TNR, finite threshold) the coupling at which a scheme's flow stays on the
critical fixed point is shifted from the exact K_c. The shift is a relevant perturbation: at the exact K_c the
flow leaves the fixed point after a few steps, towards the disordered (high-temperature) or the ordered
(Z2-broken) trivial fixed point. Hauru, Delcamp and Mizera (PRB 97, 045111 (2018)) therefore tune the coupling per
bond dimension; this module does so by bisection on the phase the flow ends in.

The phase is read from Gu and Wen's degeneracy ratio of the normalised tensor (PRB 80, 155131 (2009)),

    X = (Tr_1x1 T)^2 / Tr_2x1 (T T),

the square of the 1x1 torus trace over the trace of two tensors side by side on a torus: X = 1 at the disordered
fixed point (a rank-one tensor), X = 2 at the ordered one (two degenerate states), in between on the critical
plateau. The flow runs in a ``lax.while_loop`` until X leaves ``(1.1, 1.9)`` or ``max_steps`` is reached, so a
coupling far from the pseudo-critical one costs few steps; near it, a distance ``dK`` takes about
``2 log2(1 / dK)`` TRG steps (the thermal eigenvalue is ``b^(1/nu) = sqrt(2)`` per step). The coupling is a traced
argument of one compiled program per (chi, scheme, step limits): the bisection compiles once.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from jaxrg.rg._svd import DEFAULT_BROADENING
from jaxrg.rg.trg import _checks
from jaxrg.rg.trg.conformal import two_by_one_transfer_matrix
from jaxrg.rg.trg.network import Scheme, absorb_weights, normalise, padded_site_tensor

__all__ = ["PseudoCriticalCoupling", "bisect_phase", "degeneracy_ratio", "flow_phase", "on_critical_plateau",
           "phase_of_flow", "pseudo_critical_coupling"]

#: The flow counts as disordered once X <= this, as ordered once X >= :data:`_ORDERED`.
_DISORDERED = 1.1
_ORDERED = 1.9


class PseudoCriticalCoupling(NamedTuple):
    """Result of :func:`pseudo_critical_coupling`.

    Attributes:
        coupling: the pseudo-critical coupling, midpoint of the final bracket.
        lower: largest coupling found whose flow ends disordered.
        upper: smallest coupling found whose flow ends ordered.
        lower_steps: RG steps the flow from ``lower`` took to reach the disordered phase.
        upper_steps: RG steps the flow from ``upper`` took to reach the ordered phase.
        evaluations: number of flows run (two for the bracket, one per bisection).
        resolved: False when a flow ran ``max_steps`` without deciding (the bracket is then as narrow as
            ``max_steps`` can resolve, and ``coupling`` is that undecided coupling).
    """

    coupling: float
    lower: float
    upper: float
    lower_steps: int
    upper_steps: int
    evaluations: int
    resolved: bool


def degeneracy_ratio(tensor: Array, weights: Array) -> Array:
    """Gu-Wen ratio ``X = (Tr_1x1 T)^2 / Tr_2x1 (T T)``: 1 disordered, 2 ordered (Z2 broken), between at K_c.

    Args:
        tensor: ``T[l, u, r, d]``, shape ``(D, D, D, D)``.
        weights: bond weights ``(horizontal, vertical)``, shape ``(2, D)`` (ones for schemes without them).

    Returns:
        X, scalar; independent of the normalisation of ``T``.
    """
    plain = absorb_weights(tensor, weights)
    one = jnp.einsum("ijij->", plain)
    return one * one / jnp.trace(two_by_one_transfer_matrix(plain))


@partial(jax.jit, static_argnames=("chi", "scheme", "min_steps", "max_steps"))
def flow_phase(K: Array, *, chi: int, scheme: Scheme, min_steps: int, max_steps: int) -> tuple[Array, Array, Array]:
    """Coarse-grain from ``K`` until the degeneracy ratio decides the phase (at most ``max_steps`` steps).

    Args:
        K: coupling, scalar (traced: new values reuse the compiled program).
        chi: bond dimension (static).
        scheme: coarse-graining scheme (static).
        min_steps: steps always taken before the phase is read (static).
        max_steps: most steps (static).

    Returns:
        ``(phase, steps, X)``: +1 ordered, -1 disordered, 0 undecided after ``max_steps``; the steps taken; the
        last degeneracy ratio.
    """
    tensor, _ = normalise(padded_site_tensor(K, 0.0, chi))

    def step(state):
        t, w = scheme.step(*state, chi, DEFAULT_BROADENING)
        return normalise(t)[0], w

    return phase_of_flow(step, (tensor, jnp.ones((2, chi), tensor.dtype)), lambda state: degeneracy_ratio(*state),
                         min_steps=min_steps, max_steps=max_steps)


def on_critical_plateau(x):
    """Whether degeneracy ratios ``x`` (array or scalar) lie strictly between the disordered and ordered values."""
    return (x > _DISORDERED) & (x < _ORDERED)


def phase_of_flow(step, state, ratio, *, min_steps: int, max_steps: int) -> tuple[Array, Array, Array]:
    """Apply an RG ``step`` to ``state`` until its degeneracy ratio leaves the critical plateau (traced: call it
    inside a jitted function; the loop is a ``lax.while_loop``).

    Args:
        step: ``state -> state``, one normalised RG step.
        state: the flow's start (any pytree).
        ratio: ``state -> X``, the degeneracy ratio (:func:`degeneracy_ratio`).
        min_steps: steps always taken before the phase is read.
        max_steps: most steps.

    Returns:
        ``(phase, steps, X)``: +1 ordered, -1 disordered, 0 undecided after ``max_steps``; the steps taken; the
        last degeneracy ratio.
    """

    def undecided(carry):
        _, n, x = carry
        return (n < max_steps) & ((n < min_steps) | on_critical_plateau(x))

    def advance(carry):
        state, n, _ = carry
        state = step(state)
        return state, n + 1, ratio(state)

    _, steps, x = jax.lax.while_loop(undecided, advance, (state, jnp.asarray(0), ratio(state)))
    phase = jnp.where(x >= _ORDERED, 1, jnp.where(x <= _DISORDERED, -1, 0))
    return phase, steps, x


def pseudo_critical_coupling(chi: int, *, method: Scheme | str = "trg", bracket: tuple[float, float] | None = None,
                             tol: float = 1e-9, min_steps: int = 4, max_steps: int = 80) -> PseudoCriticalCoupling:
    """The coupling at which a truncated scheme's RG flow stays critical, by bisection on the phase it ends in.

    Args:
        chi: bond dimension >= 2.
        method: a name in :data:`jaxrg.rg.trg.METHODS` or a scheme instance (e.g. ``GiltTRG(epsilon=1e-6)``).
        bracket: ``(K_low, K_high)`` with the flow from ``K_low`` ending disordered and from ``K_high`` ordered;
            default ``K_c (1 -+ 0.05)``.
        tol: bisection stops when the bracket is narrower than this (> 0).
        min_steps: steps always taken before the phase is read (>= 1).
        max_steps: most steps per flow (> min_steps); bounds the resolution to about ``2^(-max_steps / 2)``.

    Returns:
        :class:`PseudoCriticalCoupling` (Python floats and ints).

    Raises:
        ValueError: for arguments out of range, or when the bracket does not enclose the transition.
    """
    chi, scheme = _checks.check_chi(chi), _checks.check_method(method)
    min_steps = _checks.positive_int(min_steps, "min_steps", minimum=1)
    max_steps = _checks.positive_int(max_steps, "max_steps", minimum=min_steps + 1)
    _checks.warn_if_float32()

    def phase(K):
        p, n, _ = flow_phase(jnp.asarray(K, jnp.float64 if jax.config.jax_enable_x64 else jnp.float32), chi=chi,
                             scheme=scheme, min_steps=min_steps, max_steps=max_steps)
        return int(p), int(n)

    return bisect_phase(phase, bracket, tol)


def bisect_phase(phase, bracket: tuple[float, float] | None, tol: float) -> PseudoCriticalCoupling:
    """Bisection on the phase a flow from ``K`` ends in (the search behind :func:`pseudo_critical_coupling`).

    Args:
        phase: ``K -> (phase, steps)``: +1 ordered, -1 disordered, 0 undecided; the steps the flow took.
        bracket: ``(K_low, K_high)``, the flow from ``K_low`` ending disordered and from ``K_high`` ordered;
            None for ``K_c (1 -+ 0.05)``.
        tol: stop when the bracket is narrower than this (> 0).

    Returns:
        :class:`PseudoCriticalCoupling`.

    Raises:
        ValueError: for a malformed ``tol`` or bracket, or one that does not enclose the transition.
    """
    from jaxrg import exact

    tol = _checks.finite_scalar(tol, "tol")
    if tol <= 0:
        raise ValueError(f"tol must be > 0, got {tol!r}")
    if bracket is None:
        bracket = (exact.CRITICAL_COUPLING * 0.95, exact.CRITICAL_COUPLING * 1.05)
    try:
        lower, upper = (_checks.finite_scalar(k, "bracket") for k in bracket)
    except TypeError:
        raise ValueError(f"bracket must be a pair (K_low, K_high), got {bracket!r}") from None
    if not 0 < lower < upper:
        raise ValueError(f"bracket must satisfy 0 < K_low < K_high, got {bracket!r}")
    (p_low, lower_steps), (p_high, upper_steps) = phase(lower), phase(upper)
    if p_low != -1 or p_high != 1:
        raise ValueError(f"bracket {bracket!r} does not enclose the transition: the flow from K_low ends "
                         f"{_PHASE_NAMES[p_low]}, from K_high {_PHASE_NAMES[p_high]} (need disordered, ordered)")
    evaluations, resolved, coupling = 2, True, None
    while upper - lower > tol:
        middle = 0.5 * (lower + upper)
        p, n = phase(middle)
        evaluations += 1
        if p == 1:
            upper, upper_steps = middle, n
        elif p == -1:
            lower, lower_steps = middle, n
        else:
            resolved, coupling = False, middle
            break
    if coupling is None:
        coupling = 0.5 * (lower + upper)
    return PseudoCriticalCoupling(coupling=float(coupling), lower=float(lower), upper=float(upper),
                                  lower_steps=lower_steps, upper_steps=upper_steps, evaluations=evaluations,
                                  resolved=resolved)


_PHASE_NAMES = {1: "ordered", -1: "disordered", 0: "undecided"}

