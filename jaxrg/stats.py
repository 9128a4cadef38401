"""Statistics for Markov-chain time series: autocorrelation, Sokal's integrated time, binning, jackknife.

Conventions
-----------
* Time runs along ``axis`` (default: last); every other axis is a batch axis (chains, temperatures, observables).
* The integrated autocorrelation time is ``tau_int = 1/2 + sum_{t>=1} rho(t)``, in units of the sample spacing, so
  that for a long series ``var(mean) = 2 tau_int var(x) / n`` (tau_int = 1/2 for independent samples).
* All functions are pure ``jax.numpy``: they jit and vmap; sizes (series length, number of blocks) are static.
  Integer inputs (e.g. int8 spins) are promoted to the default float type; float32 and float64 are kept.

References: A. D. Sokal, "Monte Carlo methods in statistical mechanics" (Cargese lectures, 1996), sec. 3;
N. Madras and A. D. Sokal, J. Stat. Phys. 50, 109 (1988); H. Flyvbjerg and H. G. Petersen, J. Chem. Phys. 91,
461 (1989) (blocking); B. Efron, "The jackknife, the bootstrap and other resampling plans" (1982).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

__all__ = [
    "Estimate",
    "autocorrelation",
    "integrated_autocorrelation_time",
    "binning_analysis",
    "binning_error",
    "block_means",
    "jackknife",
    "mean_and_error",
    "equilibration_time",
]

MIN_SERIES_LENGTH = 4


class Estimate(NamedTuple):
    """A value with its one-standard-error bar (a tuple: ``mean, error = estimate`` works).

    Attributes:
      mean: central value (array or pytree of arrays).
      error: one standard error, same structure and shape as ``mean``.
    """

    mean: Any
    error: Any


# ----------------------------------------------------------------------------------------------------------------
# boundary helpers
# ----------------------------------------------------------------------------------------------------------------


def _as_float_array(x: Any, name: str) -> Array:
    """Convert to a jax array with a floating dtype (ints/bools -> default float; float32/float64 kept)."""
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise ValueError(f"{name} must be real, got dtype {x.dtype}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def _time_last(x: Any, axis: int, name: str, min_length: int = MIN_SERIES_LENGTH) -> Array:
    """Validate a series and move its time axis last."""
    x = _as_float_array(x, name)
    if x.ndim == 0:
        raise ValueError(f"{name} must have at least one (time) axis, got a scalar")
    if not isinstance(axis, (int, np.integer)):
        raise ValueError(f"axis must be a Python int, got {axis!r}")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis={axis} out of range for {name} with {x.ndim} dimensions")
    x = jnp.moveaxis(x, int(axis), -1)
    n = x.shape[-1]
    if n < min_length:
        raise ValueError(f"{name} must have at least {min_length} samples along axis {axis}, got {n}")
    return x


def _next_fast_length(n: int) -> int:
    """Smallest power of two >= n (FFT length)."""
    return 1 << max(int(n) - 1, 0).bit_length()


# ----------------------------------------------------------------------------------------------------------------
# autocorrelation
# ----------------------------------------------------------------------------------------------------------------


# The private cores below are jitted so that eager calls (the usual use: analysing finished runs) compile once per
# shape instead of dispatching op by op; inside a user's jit they are simply inlined.


@jax.jit
def _autocorrelation_last(x: Array) -> Array:
    """Normalised autocorrelation along the last axis (x already validated, float)."""
    n = x.shape[-1]
    centred = x - jnp.mean(x, axis=-1, keepdims=True)
    n_fft = _next_fast_length(2 * n)  # zero padding to >= 2n: no circular wrap-around
    spectrum = jnp.fft.rfft(centred, n=n_fft, axis=-1)
    autocov = jnp.fft.irfft(spectrum * jnp.conj(spectrum), n=n_fft, axis=-1)[..., :n].astype(x.dtype)
    c0 = autocov[..., :1]
    # A constant series has no fluctuations: define rho = delta_{t,0} (tau_int = 1/2) instead of 0/0.
    is_constant = jnp.all(x == x[..., :1], axis=-1, keepdims=True) | (c0 <= 0)
    delta = (jnp.arange(n) == 0).astype(x.dtype)
    return jnp.where(is_constant, delta, autocov / jnp.where(is_constant, 1, c0))


def autocorrelation(x: Any, axis: int = -1) -> Array:
    """Normalised autocorrelation function rho(t) = C(t)/C(0), t = 0..n-1, by zero-padded FFT.

    Uses the standard (biased, positive-definite) estimator C(t) = (1/n) sum_{i<n-t} dx_i dx_{i+t} with
    dx = x - mean(x). A constant series gives rho(t) = delta_{t0} (no NaN).

    Args:
      x: series, shape (..., n, ...) with time along ``axis``, n >= 4.
      axis: the time axis (static int).

    Returns:
      rho with the same shape as x (lag t along ``axis``), rho(0) = 1.
    """
    x_last = _time_last(x, axis, "x")
    return jnp.moveaxis(_autocorrelation_last(x_last), -1, axis)


@jax.jit
def _tau_and_window(x_last: Array, c: Any) -> tuple[Array, Array]:
    """Sokal's self-consistent window on the last axis: returns (tau_int, W), both of batch shape."""
    n = x_last.shape[-1]
    rho = _autocorrelation_last(x_last)
    # tau(W) = 1/2 + sum_{t=1}^{W} rho(t) for W = 1 .. n-1 (index W-1)
    tau_of_window = 0.5 + jnp.cumsum(rho[..., 1:], axis=-1)
    windows = jnp.arange(1, n, dtype=x_last.dtype)
    accept = windows >= c * tau_of_window
    # First W that satisfies W >= c tau(W); if none does (series too short for its tau), use W = n - 1.
    index = jnp.where(jnp.any(accept, axis=-1), jnp.argmax(accept, axis=-1), n - 2)
    tau = jnp.take_along_axis(tau_of_window, index[..., None], axis=-1)[..., 0]
    return tau, index + 1


def integrated_autocorrelation_time(
    x: Any, *, c: float = 5.0, axis: int = -1, return_window: bool = False
) -> Array | tuple[Array, Array]:
    """Integrated autocorrelation time tau_int with Sokal's automatic window.

    tau_int(W) = 1/2 + sum_{t=1}^{W} rho(t); the window is the smallest W with W >= c * tau_int(W)
    (c ~ 5 suits nearly exponential decays; use c ~ 8-10 for slowly decaying tails). Units: sample spacing, with
    var(mean) = 2 tau_int var(x) / n. The Madras-Sokal statistical error of the estimate is
    tau_int * sqrt(2 (2W + 1) / n). Reliable only when n >> c tau_int; if no window satisfies the condition,
    W = n - 1 is used (a sign that the series is too short).

    Args:
      x: series, shape (..., n, ...) with time along ``axis``, n >= 4; other axes are batch axes.
      c: window constant (> 0); may be a traced scalar.
      axis: the time axis (static int).
      return_window: if True also return the window W (static Python bool).

    Returns:
      tau_int, shape x.shape without ``axis`` (float, dtype of x); and W (int) of the same shape if
      ``return_window``. A constant series gives tau_int = 0.5.
    """
    if isinstance(c, (int, float)) and not c > 0:
        raise ValueError(f"c must be > 0, got {c}")
    x_last = _time_last(x, axis, "x")
    tau, window = _tau_and_window(x_last, c)
    return (tau, window) if return_window else tau


def mean_and_error(x: Any, *, c: float = 5.0, axis: int = -1) -> Estimate:
    """Sample mean with its error from the integrated autocorrelation time: sqrt(2 tau_int var(x) / n).

    var(x) is the unbiased (ddof=1) sample variance; tau_int from :func:`integrated_autocorrelation_time`
    (clipped at 0 for strongly anticorrelated series).

    Args:
      x: series, shape (..., n, ...) with time along ``axis``, n >= 4.
      c: Sokal window constant.
      axis: the time axis (static int).

    Returns:
      Estimate(mean, error), each of shape x.shape without ``axis``.
    """
    return _mean_and_error_last(_time_last(x, axis, "x"), c)


@jax.jit
def _mean_and_error_last(x_last: Array, c: Any) -> Estimate:
    n = x_last.shape[-1]
    tau, _ = _tau_and_window(x_last, c)
    variance = jnp.var(x_last, axis=-1, ddof=1)
    error = jnp.sqrt(2.0 * jnp.maximum(tau, 0.0) * variance / n)
    return Estimate(jnp.mean(x_last, axis=-1), error)


# ----------------------------------------------------------------------------------------------------------------
# blocking / binning
# ----------------------------------------------------------------------------------------------------------------


def _block_means_last(x: Array, n_blocks: int) -> Array:
    n = x.shape[-1]
    size = n // n_blocks
    kept = x[..., n - n_blocks * size :]  # drop the remainder at the start (the least equilibrated part)
    return jnp.mean(kept.reshape(*x.shape[:-1], n_blocks, size), axis=-1)


def block_means(x: Any, n_blocks: int, *, axis: int = -1) -> Array:
    """Non-overlapping block means: n_blocks blocks of size n // n_blocks, remainder dropped at the start.

    Args:
      x: series, shape (..., n, ...) with time along ``axis``.
      n_blocks: number of blocks (static int), 2 <= n_blocks <= n.
      axis: the time axis (static int).

    Returns:
      Block means, shape of x with the time axis replaced by a block axis of length n_blocks.
    """
    if not isinstance(n_blocks, (int, np.integer)) or isinstance(n_blocks, bool):
        raise ValueError(f"n_blocks must be a static Python int, got {n_blocks!r}")
    x_last = _time_last(x, axis, "x", min_length=1)
    n = x_last.shape[-1]
    if not 2 <= n_blocks <= n:
        raise ValueError(f"n_blocks must satisfy 2 <= n_blocks <= n = {n}, got {n_blocks}")
    return jnp.moveaxis(_block_means_last(x_last, int(n_blocks)), -1, axis)


def binning_analysis(x: Any, *, min_blocks: int = 32, axis: int = -1) -> tuple[np.ndarray, Array]:
    """Standard error of the mean from block means, for block sizes 1, 2, 4, ... while >= min_blocks blocks.

    At block size b the series is cut into n_b = n // b blocks (remainder dropped at the start) and the error is
    std(block means, ddof=1) / sqrt(n_b). For b >> tau_int it plateaus at sqrt(2 tau_int var(x) / n); the
    approach is from below, with a relative deficit O(tau_int / b).

    Args:
      x: series, shape (..., n, ...) with time along ``axis``, n >= min_blocks.
      min_blocks: smallest number of blocks kept (static int >= 2); fewer makes the error of the error large
        (relative error ~ 1/sqrt(2 (n_b - 1))).
      axis: the time axis (static int).

    Returns:
      block_sizes: numpy int array (n_levels,), 1, 2, 4, ...
      errors: shape x.shape without ``axis`` + (n_levels,).
    """
    if not isinstance(min_blocks, (int, np.integer)) or min_blocks < 2:
        raise ValueError(f"min_blocks must be an int >= 2, got {min_blocks!r}")
    x_last = _time_last(x, axis, "x", min_length=max(MIN_SERIES_LENGTH, int(min_blocks)))
    n = x_last.shape[-1]
    block_sizes = []
    size = 1
    while n // size >= min_blocks:
        block_sizes.append(size)
        size *= 2
    block_sizes = tuple(block_sizes)
    return np.asarray(block_sizes, dtype=np.int64), _binning_errors_last(x_last, block_sizes)


@functools.partial(jax.jit, static_argnums=1)
def _binning_errors_last(x_last: Array, block_sizes: tuple[int, ...]) -> Array:
    n = x_last.shape[-1]
    errors = []
    for size in block_sizes:
        means = _block_means_last(x_last, n // size)
        errors.append(jnp.std(means, axis=-1, ddof=1) / np.sqrt(n // size))
    return jnp.stack(errors, axis=-1)


def binning_error(x: Any, *, min_blocks: int = 32, plateau_levels: int = 3, axis: int = -1) -> Array:
    """Plateau estimate of the standard error of the mean from a binning analysis (conservative).

    Rule: the maximum of the binning errors over the last ``plateau_levels`` block sizes that still have
    >= ``min_blocks`` blocks (the largest blocks, where the O(tau/b) deficit is smallest). Taking the maximum
    guards against the downward bias of a not-yet-converged plateau at the cost of a small upward bias
    (~ +5-10% for the defaults on a converged plateau). The estimate is trustworthy only when the largest block
    size is well above tau_int, i.e. n >> min_blocks * tau_int; compare with :func:`mean_and_error`.

    Args:
      x: series, shape (..., n, ...) with time along ``axis``, n >= min_blocks.
      min_blocks: smallest number of blocks at a level (static int >= 2).
      plateau_levels: number of largest-block levels over which the maximum is taken (static int >= 1).
      axis: the time axis (static int).

    Returns:
      error, shape x.shape without ``axis``.
    """
    if not isinstance(plateau_levels, (int, np.integer)) or plateau_levels < 1:
        raise ValueError(f"plateau_levels must be an int >= 1, got {plateau_levels!r}")
    _, errors = binning_analysis(x, min_blocks=min_blocks, axis=axis)
    return jnp.max(errors[..., -int(plateau_levels) :], axis=-1)


# ----------------------------------------------------------------------------------------------------------------
# jackknife
# ----------------------------------------------------------------------------------------------------------------


def jackknife(estimator: Callable[..., Any], *samples: Any) -> Estimate:
    """Bias-corrected jackknife estimate and standard error of a non-linear function of means.

    With theta = f(means over all blocks) and theta_i = f(means leaving block i out), i = 1..B:
    estimate = B theta - (B - 1) mean_i theta_i (removes the O(1/B) bias), and
    error = sqrt((B - 1)/B * sum_i (theta_i - mean_i theta_i)^2). Leave-one-out means are formed in closed form
    and the estimator is vmapped over them.

    Precision: the bias correction multiplies the rounding error of each estimator evaluation by ~B. For
    estimators with cancellations (N (<e^2> - <e>^2), 1 - <m^4>/(3<m^2>^2)) and many blocks, float32 is not
    enough: pass float64 samples (under ``jax.enable_x64``) or moments of centred data (e.g. e - e_ref).

    Args:
      estimator: f(*means) -> array (or pytree of arrays), written for the full-sample means; it must broadcast
        over any trailing batch axes of the samples, e.g. ``lambda e, e2: n_sites * (e2 - e**2) / T**2``.
      *samples: one array per primary observable, shape (B, ...) with B >= 2 blocks (block means, possibly pooled
        from independent chains); all must share B.

    Returns:
      Estimate(mean, error), each with the structure and shape of estimator's output.
    """
    if not callable(estimator):
        raise ValueError(f"estimator must be callable, got {type(estimator).__name__}")
    if len(samples) == 0:
        raise ValueError("jackknife needs at least one array of samples")
    arrays = [_as_float_array(s, f"samples[{i}]") for i, s in enumerate(samples)]
    for i, a in enumerate(arrays):
        if a.ndim == 0:
            raise ValueError(f"samples[{i}] must have a leading block axis, got a scalar")
    n_blocks = arrays[0].shape[0]
    for i, a in enumerate(arrays):
        if a.shape[0] != n_blocks:
            raise ValueError(
                f"samples[{i}] has {a.shape[0]} blocks along axis 0, samples[0] has {n_blocks}: all must match"
            )
    if n_blocks < 2:
        raise ValueError(f"samples must have at least 2 blocks along axis 0, got {n_blocks}")

    full_means = [jnp.mean(a, axis=0) for a in arrays]
    # (B mean - a_i) / (B - 1), written as a correction to the mean: no large sum, so float32 keeps the small
    # leave-one-out differences that the error is made of.
    leave_one_out = [m - (a - m) / (n_blocks - 1) for a, m in zip(arrays, full_means)]
    theta_full = estimator(*full_means)
    theta_loo = jax.vmap(estimator)(*leave_one_out)

    def loo_mean(loo):
        return jnp.mean(jnp.asarray(loo), axis=0)

    def bias_corrected(full, loo):
        return n_blocks * jnp.asarray(full) - (n_blocks - 1) * loo_mean(loo)

    def standard_error(loo):
        spread = jnp.asarray(loo) - loo_mean(loo)
        return jnp.sqrt((n_blocks - 1) / n_blocks * jnp.sum(spread**2, axis=0))

    estimate = jax.tree.map(bias_corrected, theta_full, theta_loo)
    error = jax.tree.map(standard_error, theta_loo)
    return Estimate(estimate, error)


def equilibration_time(series: Any, target: float, sigma: float, *, window: int = 50) -> int | None:
    """First index from which ``series`` stays within ``2 sigma`` of ``target`` for ``window`` points in a row.

    A diagnostic of thermalisation (how many steps a chain started somewhere needs to reach an equilibrium value
    known independently, e.g. an exact energy): host-side, on a short 1D series.

    Args:
        series: 1D series (e.g. the chain-averaged energy after each sweep).
        target: the equilibrium value.
        sigma: the equilibrium standard deviation of a series point (> 0).
        window: consecutive points that must lie inside (>= 1).

    Returns:
        The index of the first point of the first such window, or None if the series never settles.
    """
    x = np.asarray(series, np.float64)
    if x.ndim != 1:
        raise ValueError(f"series must be 1D, got shape {x.shape}")
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be finite and > 0, got {sigma!r}")
    if not (isinstance(window, (int, np.integer)) and window >= 1):
        raise ValueError(f"window must be an integer >= 1, got {window!r}")
    inside = np.abs(x - float(target)) < 2.0 * float(sigma)
    run = 0
    for t, ok in enumerate(inside):
        run = run + 1 if ok else 0
        if run >= window:
            return t - int(window) + 1
    return None
