"""Glass formers: the Vogel-Fulcher-Tammann law, its least-squares fit, and its scale-Hamiltonian reading.

VFT law: tau(T) = tau0 exp(D T0 / (T - T0)), valid for T > T0.

Scale-Hamiltonian reading (seed 001): with g = T - T0 (in kelvin), beta(g) = lambda g and F(g) = A / g, the
Hamilton-Jacobi action is S(g) = A / (lambda g) (`jaxrg.scale.hj_action`), and tau = tau0 exp(S) is the VFT law with
D T0 = A / lambda. A fit of D T0 and an independent estimate of the RG rate lambda therefore predict the barrier
amplitude A = D T0 lambda (e.g. D T0 = 500 K, lambda = 0.1 give A = 50 K).

Fit: ln tau_i = a + B / (T_i - T0) with a = ln tau0 and B = D T0, by optimistix's Levenberg-Marquardt,
started from the best point of a profile scan over T0 (for fixed T0 the model is linear in a and B).
T0 is parametrised as min(T) - exp(u) during the iteration so that every data temperature stays above T0.
Uncertainties are the usual linearised ones: covariance = (J^T W J)^-1 at the optimum, with W = 1/sigma^2 when the
errors of ln tau are given (absolute sigma, chi^2 reported), or scaled by the residual variance chi^2/(N - 3) when
they are not (as scipy.optimize.curve_fit with absolute_sigma=False). Errors of tau0 and D follow by linear error
propagation with the full covariance of (a, B, T0) (D = B / T0 and T0 are strongly correlated).
"""

from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import optimistix as optx
from jaxtyping import Array, Float

from jaxrg.scale._checks import check_positive_float, check_positive_int, float_array, is_concrete

__all__ = [
    "VFTFit",
    "VFTScaleReading",
    "vft_log_tau",
    "vft_tau",
    "fit_vft",
    "barrier_amplitude",
    "vft_scale_reading",
]


class VFTFit(NamedTuple):
    """Least-squares VFT fit of relaxation times (all fields are JAX scalars unless stated).

    Fields:
        tau0, D, T0: fitted parameters (tau0 in the units of tau, T0 in the units of T).
        tau0_error, D_error, T0_error: one-standard-error uncertainties (linear error propagation).
        log_tau0, log_tau0_error: a = ln tau0 and its error (the fitted parameter; tau0_error = tau0 * log_tau0_error).
        D_T0, D_T0_error: B = D T0 (the VFT activation temperature) and its error.
        covariance: (3, 3) covariance of (ln tau0, D T0, T0).
        chi2: sum of squared (weighted) residuals of ln tau; dof: N - 3.
        converged: True when Levenberg-Marquardt met its tolerance; n_iter: iterations used.
    """

    tau0: Float[Array, ""]
    D: Float[Array, ""]
    T0: Float[Array, ""]
    tau0_error: Float[Array, ""]
    D_error: Float[Array, ""]
    T0_error: Float[Array, ""]
    log_tau0: Float[Array, ""]
    log_tau0_error: Float[Array, ""]
    D_T0: Float[Array, ""]
    D_T0_error: Float[Array, ""]
    covariance: Float[Array, "3 3"]
    chi2: Float[Array, ""]
    dof: int
    converged: Array
    n_iter: Array


class VFTScaleReading(NamedTuple):
    """The scale-Hamiltonian reading of a VFT law: beta(g) = lambda g, F(g) = A / g, g = T - T0.

    Fields:
        lam, lam_error: the RG rate lambda and its error (inputs).
        A, A_error: predicted barrier amplitude A = D T0 lambda and its propagated error.
        T0: the glass temperature of the mapping g = T - T0.
        beta: g -> lambda g; F: g -> A / g (callables for `hj_action`, `hamiltonian_trajectory`, ...).
    """

    lam: Float[Array, ""]
    lam_error: Float[Array, ""]
    A: Float[Array, ""]
    A_error: Float[Array, ""]
    T0: Float[Array, ""]
    beta: Callable
    F: Callable


def vft_log_tau(T, log_tau0, D_T0, T0) -> Array:
    """ln tau(T) = ln tau0 + D T0 / (T - T0) (pure, no validation; NaN-free only for T > T0)."""
    return log_tau0 + D_T0 / (T - T0)


def vft_tau(T, tau0, D, T0) -> Array:
    """VFT relaxation time tau(T) = tau0 exp(D T0 / (T - T0)).

    Args:
        T: temperatures, any shape (> T0). tau0: prefactor (> 0). D: fragility strength. T0: divergence temperature.

    Returns:
        tau(T), same shape as T.

    Raises:
        ValueError: (concrete inputs) if any T <= T0, where the law diverges, or tau0 <= 0.
    """
    T = float_array(T)
    if is_concrete(T, T0):
        if np.any(np.asarray(T) <= float(T0)):
            raise ValueError(f"T must be > T0 = {float(T0)} for the VFT law (tau diverges at T0), got min(T) = "
                             f"{float(np.min(np.asarray(T)))}")
    check_positive_float(tau0, "tau0")
    return tau0 * jnp.exp(D * T0 / (T - T0))


def _linear_profile(T, y, w, T0):
    """Weighted linear least squares of y = a + B x, x = 1/(T - T0): returns (a, B, chi2)."""
    x = 1.0 / (T - T0)
    sw = jnp.sum(w)
    xm = jnp.sum(w * x) / sw
    ym = jnp.sum(w * y) / sw
    B = jnp.sum(w * (x - xm) * (y - ym)) / jnp.sum(w * (x - xm) ** 2)
    a = ym - B * xm
    return a, B, jnp.sum(w * (y - a - B * x) ** 2)


def _residuals(params, data):
    """Weighted residuals of ln tau in the natural parameters (a, B, T0)."""
    T, y, sw = data
    return sw * (y - vft_log_tau(T, params[0], params[1], params[2]))


@partial(jax.jit, static_argnames=("max_iter", "rtol"))
def _fit_core(T, y, w, T0_init, max_iter: int, rtol: float):
    """Levenberg-Marquardt (optimistix) on (a, B, u), then the covariance (J^T J)^-1 at the optimum by lineax."""
    t_min = jnp.min(T)
    t_span = jnp.max(T) - t_min
    data = (T, y, jnp.sqrt(w))

    if T0_init is None:
        # Profile scan: T0 = min(T) - span * q, q log-spaced from 1e-4 to 1e2.
        q = jnp.logspace(-4, 2, 241, dtype=T.dtype)
        T0s = t_min - t_span * q
        _, _, chi2s = jax.vmap(lambda t0: _linear_profile(T, y, w, t0))(T0s)
        T0_init = T0s[jnp.argmin(jnp.where(jnp.isfinite(chi2s), chi2s, jnp.inf))]
    a0, B0, _ = _linear_profile(T, y, w, T0_init)
    theta0 = jnp.stack([a0, B0, jnp.log(t_min - T0_init)])

    solver = optx.LevenbergMarquardt(rtol=rtol, atol=rtol)
    # Iteration variables (a, B, u) with T0 = min(T) - exp(u), so every data temperature stays above T0.
    natural = lambda theta: theta.at[2].set(t_min - jnp.exp(theta[2]))  # noqa: E731
    sol = optx.least_squares(lambda theta, d: _residuals(natural(theta), d), solver, theta0, args=data,
                             max_steps=max_iter, throw=False)
    nat = natural(sol.value)

    # Covariance (J^T J)^-1: J^T J is symmetric positive definite at a regular optimum, so Cholesky.
    J = jax.jacfwd(_residuals)(nat, data)
    normal = lx.MatrixLinearOperator(J.T @ J, lx.positive_semidefinite_tag)
    cov = jax.vmap(lambda e: lx.linear_solve(normal, e, lx.Cholesky()).value)(jnp.eye(3, dtype=T.dtype))
    chi2 = jnp.sum(_residuals(nat, data) ** 2)
    return nat, cov, chi2, sol.result == optx.RESULTS.successful, sol.stats["num_steps"]


def fit_vft(
    T,
    tau,
    *,
    sigma_log_tau=None,
    T0_init: Optional[float] = None,
    max_iter: int = 200,
    rtol: float = 1e-12,
) -> VFTFit:
    """Fit the VFT law tau = tau0 exp(D T0 / (T - T0)) to relaxation times, in log space, with uncertainties.

    Args:
        T: (N,) temperatures, N >= 4, at least 4 distinct values.
        tau: (N,) relaxation times (> 0), any unit.
        sigma_log_tau: optional scalar or (N,) standard errors of ln tau (relative errors of tau); when given, the
            covariance uses them as absolute weights; when None, errors are scaled by the residual variance.
        T0_init: optional starting T0 (< min T); default from a profile scan over T0.
        max_iter: Levenberg-Marquardt iterations (static). rtol: relative (and absolute) tolerance on the parameters
            and the residuals at termination.

    Returns:
        VFTFit with tau0, D, T0 and their errors (see VFTFit).

    Raises:
        ValueError: fewer than 4 points, mismatched shapes, non-finite values, tau <= 0, sigma <= 0, or
            T0_init >= min(T) (the VFT law needs T > T0 at every data point).
    """
    T = float_array(T)
    tau = float_array(tau)
    dtype = jnp.result_type(T, tau)
    T, tau = T.astype(dtype), tau.astype(dtype)
    if T.ndim != 1 or tau.shape != T.shape:
        raise ValueError(f"T and tau must be 1D arrays of equal length, got shapes {T.shape} and {tau.shape}")
    if T.shape[0] < 4:
        raise ValueError(f"T, tau: the VFT fit has 3 parameters and needs at least 4 data points, got {T.shape[0]}")
    max_iter = check_positive_int(max_iter, "max_iter")
    check_positive_float(rtol, "rtol")
    if is_concrete(T, tau):
        T_np, tau_np = np.asarray(T), np.asarray(tau)
        if not (np.all(np.isfinite(T_np)) and np.all(np.isfinite(tau_np))):
            raise ValueError("T and tau must be finite")
        if np.any(tau_np <= 0):
            raise ValueError(f"tau must be > 0 (the fit is in ln tau), got min(tau) = {tau_np.min()}")
        if np.unique(T_np).size < 4:
            raise ValueError(f"T must contain at least 4 distinct temperatures, got {np.unique(T_np).size}")
    if sigma_log_tau is None:
        w = jnp.ones_like(T)
        absolute_sigma = False
    else:
        sig = jnp.broadcast_to(float_array(sigma_log_tau).astype(dtype), T.shape)
        if is_concrete(sig):
            s_np = np.asarray(sig)
            if not (np.all(np.isfinite(s_np)) and np.all(s_np > 0)):
                raise ValueError(f"sigma_log_tau must be finite and > 0, got min {s_np.min()}")
        w = 1.0 / sig**2
        absolute_sigma = True
    if T0_init is not None:
        if is_concrete(T0_init, T) and float(T0_init) >= float(jnp.min(T)):
            raise ValueError(
                f"T0_init must be < min(T) = {float(jnp.min(T))}: the VFT law requires T > T0 at every data point "
                f"(T <= T0 found), got T0_init = {float(T0_init)}"
            )
        T0_init = jnp.asarray(T0_init, dtype)
    y = jnp.log(tau)
    nat, cov, chi2, done, it = _fit_core(T, y, w, T0_init, max_iter, float(rtol))
    dof = T.shape[0] - 3
    if not absolute_sigma:
        cov = cov * chi2 / dof
    a, B, T0 = nat
    D = B / T0
    grad_D = jnp.stack([jnp.zeros_like(B), 1.0 / T0, -B / T0**2])
    D_err = jnp.sqrt(grad_D @ cov @ grad_D)
    tau0 = jnp.exp(a)
    return VFTFit(
        tau0=tau0,
        D=D,
        T0=T0,
        tau0_error=tau0 * jnp.sqrt(cov[0, 0]),
        D_error=D_err,
        T0_error=jnp.sqrt(cov[2, 2]),
        log_tau0=a,
        log_tau0_error=jnp.sqrt(cov[0, 0]),
        D_T0=B,
        D_T0_error=jnp.sqrt(cov[1, 1]),
        covariance=cov,
        chi2=chi2,
        dof=dof,
        converged=done,
        n_iter=it,
    )


def barrier_amplitude(D_T0, lam, D_T0_error=0.0, lam_error=0.0) -> tuple[Array, Array]:
    """Scale-Hamiltonian prediction A = D T0 lambda of the barrier amplitude, with propagated error.

    From S = A / (lambda g) = D T0 / (T - T0) (beta = lambda g, F = A / g, g = T - T0). Errors of D T0 and lambda are
    treated as independent: sigma_A^2 = (lambda sigma_DT0)^2 + (D T0 sigma_lambda)^2.

    Args:
        D_T0: VFT activation temperature D T0 (K). lam: RG rate lambda (> 0, units of 1/s in scale s).
        D_T0_error, lam_error: their standard errors (>= 0).

    Returns:
        (A, A_error) in the units of D T0.
    """
    check_positive_float(lam, "lam")
    check_positive_float(D_T0_error, "D_T0_error", allow_zero=True)
    check_positive_float(lam_error, "lam_error", allow_zero=True)
    D_T0 = float_array(D_T0)
    A = D_T0 * lam
    A_err = jnp.sqrt((lam * D_T0_error) ** 2 + (D_T0 * lam_error) ** 2)
    return A, A_err


def vft_scale_reading(fit: VFTFit, lam, lam_error=0.0) -> VFTScaleReading:
    """Read a VFT fit as a scale Hamiltonian: beta(g) = lambda g, F(g) = A / g with A = D T0 lambda, g = T - T0.

    Args:
        fit: a VFTFit (its D_T0 and D_T0_error are used: the direct fit parameter, not D * T0 from separate errors).
        lam: the RG rate lambda (> 0), e.g. from a measured or learned flow. lam_error: its standard error (>= 0).

    Returns:
        VFTScaleReading(lam, lam_error, A, A_error, T0, beta, F); then hj_action(beta, F, T - T0, g_ref) + const
        reproduces ln tau(T) - ln tau0 = D T0 / (T - T0).
    """
    A, A_err = barrier_amplitude(fit.D_T0, lam, fit.D_T0_error, lam_error)

    def beta(g):
        return lam * g

    def F(g):
        return A / g

    return VFTScaleReading(
        lam=jnp.asarray(lam, A.dtype),
        lam_error=jnp.asarray(lam_error, A.dtype),
        A=A,
        A_error=A_err,
        T0=fit.T0,
        beta=beta,
        F=F,
    )
