"""Multi-histogram reweighting (Ferrenberg-Swendsen, the MBAR estimator): observables as continuous functions of T.

From the energy and magnetisation series of a run at temperatures ``T_1 .. T_K`` (all chains, all measurements;
e.g. ``SimulationResult.timeseries``), the self-consistent equations

    exp(-f_k) = sum_n exp(-beta_k E_n) / sum_j N_j exp(f_j - beta_j E_n)

give the dimensionless free energies ``f_k`` (up to a constant), and then any temperature ``T`` gets the weights
``w_n(beta) ~ exp(-beta E_n) / sum_j N_j exp(f_j - beta_j E_n)`` over ALL samples. ``E`` is the total energy in units
of J, ``E = N (e - H m)`` (zero field: ``N e``). Errors come from a jackknife over blocks of each chain's series
(blocks much longer than the autocorrelation time): the whole estimate, free energies included, is redone leaving
one block out.

Why not pymbar: pymbar 4 turns on JAX's 64-bit mode for the whole process the first time its solver runs
(``pymbar/mbar_solvers.py``), which would silently change the dtype of every later jaxrg computation in the same
program. The estimator is the same (the tests check it against pymbar's with its JAX path off); this module solves it
in float64 NumPy with log-sum-exp iterations.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxrg import _checks
from jaxrg.stats import Estimate

__all__ = ["ReweightedCurves", "free_energies", "reweight", "Peak", "peak", "binder_crossing", "binder_temperature"]


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.squeeze(m, axis) + np.log(np.sum(np.exp(a - m), axis=axis))


def _solve(beta: np.ndarray, levels: np.ndarray, counts: np.ndarray, *, tol: float, max_iter: int,
           f0: np.ndarray | None) -> np.ndarray:
    """The self-consistent ``f_k`` from the energy histograms ``counts[k, level]`` (only levels matter)."""
    n_k = counts.sum(axis=1)
    with np.errstate(divide="ignore"):
        log_h = np.log(counts.sum(axis=0))  # all samples per level
    log_n = np.log(n_k)
    minus_beta_e = -beta[:, None] * levels[None, :]
    f = np.zeros_like(beta) if f0 is None else np.asarray(f0, np.float64).copy()
    for _ in range(max_iter):
        log_denominator = _logsumexp(log_n[:, None] + f[:, None] + minus_beta_e, axis=0)
        new = -_logsumexp(log_h[None, :] + minus_beta_e - log_denominator[None, :], axis=1)
        new -= new[0]
        if np.max(np.abs(new - f)) < tol:
            return new
        f = new
    return f


def free_energies(beta: np.ndarray, energy: list[np.ndarray], *, tol: float = 1e-10, max_iter: int = 100_000,
                  f0: np.ndarray | None = None) -> np.ndarray:
    """Dimensionless free energies ``f_k = -ln Z_k`` (``f_0 = 0``) of the sampled inverse temperatures.

    The equations depend on the samples only through their energy histograms, so they are solved on the distinct
    energy levels (exact; for the Ising model at zero field there are at most ``N + 1`` of them).

    Args:
        beta: ``(K,)`` inverse temperatures of the samples.
        energy: K arrays of total energies sampled at each ``beta_k``.
        tol: convergence of ``max |f_new - f|``.
        max_iter: iterations at most.
        f0: starting values (e.g. from the full data, for jackknife samples).

    Returns:
        ``(K,)`` float64.
    """
    beta = np.asarray(beta, np.float64)
    flat = [np.asarray(e, np.float64).ravel() for e in energy]
    levels, inverse = np.unique(np.concatenate(flat), return_inverse=True)
    counts = np.zeros((beta.size, levels.size))
    start = 0
    for k, e in enumerate(flat):
        counts[k] = np.bincount(inverse[start:start + e.size], minlength=levels.size)
        start += e.size
    return _solve(beta, levels, counts, tol=tol, max_iter=max_iter, f0=f0)


class ReweightedCurves(NamedTuple):
    """Observables per spin at the target temperatures (each an :class:`~jaxrg.stats.Estimate` of shape ``(n,)``).

    Conventions as in :mod:`jaxrg.observables`: ``heat_capacity = N (<e^2> - <e>^2) / T^2``, ``susceptibility``
    the connected ``N (<m^2> - <|m|>^2) / T``, ``full_susceptibility = N <m^2> / T``, ``binder = 1 - <m^4>/(3<m^2>^2)``.
    """

    T: np.ndarray
    energy: Estimate
    heat_capacity: Estimate
    abs_magnetization: Estimate
    susceptibility: Estimate
    full_susceptibility: Estimate
    binder: Estimate


_OBSERVABLES = ("energy", "heat_capacity", "abs_magnetization", "susceptibility", "full_susceptibility", "binder")


def _curves(T: np.ndarray, beta: np.ndarray, levels: np.ndarray, stats: np.ndarray, N: int,
            f0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(f, curves)`` from per-temperature level statistics ``stats[k, q, level]`` (q: count, |m|, m^2, m^4 sums)."""
    counts = stats[:, 0]
    f = _solve(beta, levels, counts, tol=1e-10, max_iter=100_000, f0=f0)
    total = stats.sum(axis=0)  # (4, level)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_h = np.log(total[0])
        log_denominator = _logsumexp(np.log(counts.sum(axis=1))[:, None] + f[:, None]
                                     - beta[:, None] * levels[None, :], axis=0)
        lw = log_h[None, :] - (1.0 / T)[:, None] * levels[None, :] - log_denominator[None, :]
        w = np.exp(lw - _logsumexp(lw, axis=1)[:, None])  # (n_target, level), sums to 1
        per_level = np.where(total[0] > 0, total[1:] / total[0], 0.0)  # level means of |m|, m^2, m^4
    e = levels / N
    e1, e2 = w @ e, w @ (e * e)
    am, m2, m4 = (w @ per_level[i] for i in range(3))
    return f, np.stack([e1, N * (e2 - e1**2) / T**2, am, N * (m2 - am**2) / T, N * m2 / T, 1 - m4 / (3 * m2**2)])


def _jackknife_curves(L, T_sampled, energy, magnetization, T, n_blocks, field):
    """The curves at ``T`` from all data, ``(6, n)``, and from each leave-one-block-out sample, ``(J, 6, n)``."""
    T_sampled = _checks.temperatures(T_sampled, name="T_sampled")
    e = np.asarray(energy, np.float64)
    m = np.asarray(magnetization, np.float64)
    if e.ndim != 3 or e.shape != m.shape or e.shape[0] != T_sampled.size:
        raise ValueError(f"energy and magnetization must be (K, chains, n) with K = {T_sampled.size} temperatures, "
                         f"got {e.shape} and {m.shape}")
    n_blocks = _checks.integer(n_blocks, "n_blocks", minimum=2, maximum=e.shape[2])
    N = L * L
    K, chains, n = e.shape
    E = N * (e - field * m)  # total energy in units of J
    if field == 0.0:
        E = np.rint(E)  # integer levels: the float32 series per spin carry rounding noise
    usable = (n // n_blocks) * n_blocks
    levels, inverse = np.unique(E[:, :, :usable], return_inverse=True)
    inverse = inverse.reshape(K, chains, n_blocks, -1)
    mb = m[:, :, :usable].reshape(K, chains, n_blocks, -1)
    # per (temperature, chain, block): count, sum |m|, sum m^2, sum m^4 on every energy level
    stats = np.zeros((K, chains, n_blocks, 4, levels.size))
    am = np.abs(mb)
    for k in range(K):
        for c in range(chains):
            for b in range(n_blocks):
                idx = inverse[k, c, b]
                x = am[k, c, b]
                for q, v in enumerate((None, x, x * x, x**4)):
                    stats[k, c, b, q] = np.bincount(idx, weights=v, minlength=levels.size)
    beta = 1.0 / T_sampled
    total = stats.sum(axis=(1, 2))  # (K, 4, level)
    f, full = _curves(T, beta, levels, total, N)
    loo = []
    for c in range(chains):
        for b in range(n_blocks):
            minus = total - stats[:, c, b]  # time block b of chain c left out at every temperature at once
            loo.append(_curves(T, beta, levels, minus, N, f0=f)[1])
    return full, np.asarray(loo)


def _jackknife_error(loo: np.ndarray) -> np.ndarray:
    J = loo.shape[0]
    return np.sqrt((J - 1) / J * np.sum((loo - loo.mean(axis=0)) ** 2, axis=0))


def reweight(L: int, T_sampled, energy, magnetization, T, *, n_blocks: int = 8, field: float = 0.0
             ) -> ReweightedCurves:
    """Reweight the series of a multi-temperature run to the temperatures ``T``, with jackknife errors.

    Args:
        L: lattice size (``N = L^2``).
        T_sampled: ``(K,)`` temperatures of the run.
        energy, magnetization: ``(K, chains, n)`` series per spin (e.g. ``SimulationResult.timeseries``).
        T: temperatures to estimate at (inside the sampled range, where the histograms overlap).
        n_blocks: jackknife blocks per chain (>= 2); each block should be much longer than the autocorrelation time.
        field: magnetic field ``H`` of the run in units of J (the energy gets ``-H M``).

    Returns:
        :class:`ReweightedCurves`.
    """
    T = np.atleast_1d(_checks.temperatures(T))
    full, loo = _jackknife_curves(L, T_sampled, energy, magnetization, T, n_blocks, field)
    error = _jackknife_error(loo)
    return ReweightedCurves(T, *(Estimate(full[i], error[i]) for i in range(full.shape[0])))


class Peak(NamedTuple):
    """Position and height of a maximum of a reweighted curve, with jackknife errors."""

    T: Estimate
    height: Estimate


def _parabolic_maximum(grid: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    i = int(np.clip(np.argmax(y), 1, grid.size - 2))
    x0, x1 = grid[i - 1], grid[i]
    y0, y1, y2 = y[i - 1: i + 2]
    denominator = y0 - 2 * y1 + y2
    if denominator >= 0:
        return float(x1), float(y1)
    shift = 0.5 * (y0 - y2) / denominator
    return float(x1 + shift * (x1 - x0)), float(y1 - 0.25 * (y0 - y2) * shift)


def peak(L: int, T_sampled, energy, magnetization, observable: str = "heat_capacity", *, n_blocks: int = 8,
         points: int = 101, field: float = 0.0) -> Peak:
    """The maximum of ``heat_capacity``, ``susceptibility`` or ``full_susceptibility`` over the sampled range.

    The curve is evaluated on ``points`` temperatures and the maximum refined by a parabola through the best three;
    the same is done for every jackknife sample, which gives the errors of position and height.
    """
    k = _OBSERVABLES.index(_checks.choice(observable, "observable",
                                          ("heat_capacity", "susceptibility", "full_susceptibility")))
    T_sampled = _checks.temperatures(T_sampled, name="T_sampled")
    grid = np.linspace(T_sampled.min(), T_sampled.max(), _checks.integer(points, "points", minimum=5))
    full, loo = _jackknife_curves(L, T_sampled, energy, magnetization, grid, n_blocks, field)
    best = np.asarray(_parabolic_maximum(grid, full[k]))
    samples = np.asarray([_parabolic_maximum(grid, x[k]) for x in loo])
    error = _jackknife_error(samples)
    return Peak(Estimate(float(best[0]), float(error[0])), Estimate(float(best[1]), float(error[1])))


def _root(grid: np.ndarray, d: np.ndarray) -> float:
    """The zero of ``d`` on ``grid`` nearest the middle sign change, by linear interpolation (NaN if none)."""
    k = np.nonzero(np.sign(d[:-1]) != np.sign(d[1:]))[0]
    if k.size == 0:
        return float("nan")
    k = k[np.argmin(np.abs(k - grid.size / 2))]
    return float(grid[k] - d[k] * (grid[k + 1] - grid[k]) / (d[k + 1] - d[k]))


def binder_crossing(runs, *, n_blocks: int = 8, points: int = 401) -> Estimate:
    """Temperature where the reweighted Binder cumulants of two sizes cross, with a jackknife error.

    Args:
        runs: two tuples ``(L, T_sampled, energy, magnetization)`` (independent runs; series ``(K, chains, n)``).
        n_blocks: jackknife blocks per chain.
        points: grid points over the common sampled range.

    Returns:
        :class:`~jaxrg.stats.Estimate` (NaN if the curves do not cross in the common range). The error adds the
        jackknife variances of the two independent runs.
    """
    if len(runs) != 2:
        raise ValueError(f"runs must hold exactly two (L, T, energy, magnetization) tuples, got {len(runs)}")
    lo = max(float(np.min(r[1])) for r in runs)
    hi = min(float(np.max(r[1])) for r in runs)
    if not hi > lo:
        raise ValueError("the two runs must share a temperature range to compare their Binder cumulants")
    grid = np.linspace(lo, hi, _checks.integer(points, "points", minimum=5))
    k = _OBSERVABLES.index("binder")
    (full1, loo1), (full2, loo2) = (_jackknife_curves(L, T, e, m, grid, n_blocks, 0.0) for L, T, e, m in runs)
    best = _root(grid, full2[k] - full1[k])
    one = np.array([_root(grid, full2[k] - x[k]) for x in loo1])
    two = np.array([_root(grid, x[k] - full1[k]) for x in loo2])
    if not (np.all(np.isfinite(one)) and np.all(np.isfinite(two))):
        return Estimate(best, float("nan"))
    return Estimate(best, float(np.hypot(_jackknife_error(one), _jackknife_error(two))))


def binder_temperature(L: int, T_sampled, energy, magnetization, value: float, *, n_blocks: int = 8,
                       points: int = 401) -> Estimate:
    """Temperature where the reweighted Binder cumulant of one size equals ``value``, with a jackknife error.

    With ``value`` the universal critical Binder cumulant of the torus (``jaxrg.exact.CRITICAL_BINDER_RATIO`` for the
    2D Ising model) this estimates T_c from one size: ``U_L(T_c) = U* + O(L^(-omega))``, so the estimate approaches
    T_c as ``L^(-1/nu - omega)``, and its statistical error is that of one cumulant divided by its slope (a crossing
    of two sizes divides the errors of two cumulants by the difference of their slopes).

    Args:
        L: lattice size.
        T_sampled: ``(K,)`` temperatures of the run.
        energy, magnetization: ``(K, chains, n)`` series per spin.
        value: the cumulant ``1 - <m^4> / (3 <m^2>^2)`` to solve for, in ``(0, 2/3)``.
        n_blocks: jackknife blocks per chain.
        points: grid points over the sampled range.

    Returns:
        :class:`~jaxrg.stats.Estimate` (NaN if the cumulant does not take ``value`` in the sampled range).
    """
    value = _checks.real(value, "value", minimum=0.0, maximum=2.0 / 3.0, strict=True)
    T_sampled = _checks.temperatures(T_sampled, name="T_sampled")
    grid = np.linspace(T_sampled.min(), T_sampled.max(), _checks.integer(points, "points", minimum=5))
    k = _OBSERVABLES.index("binder")
    full, loo = _jackknife_curves(L, T_sampled, energy, magnetization, grid, n_blocks, 0.0)
    best = _root(grid, full[k] - value)
    samples = np.array([_root(grid, x[k] - value) for x in loo])
    if not np.all(np.isfinite(samples)):
        return Estimate(best, float("nan"))
    return Estimate(best, float(_jackknife_error(samples)))
