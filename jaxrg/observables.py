"""Thermodynamic observables of Ising time series, with honest error bars.

From time series of the energy per spin ``e`` and magnetisation per spin ``m`` (several independent chains per
temperature) this module estimates, per temperature, with their standard errors:

- ``energy``: <e>;
- ``abs_magnetization``: <|m|>;
- ``heat_capacity`` per spin: ``C = N (<e^2> - <e>^2) / T^2``;
- ``susceptibility`` per spin: ``chi = N (<m^2> - <|m|>^2) / T`` (the finite-lattice convention with ``|m|``, which
  has a peak near T_c; ``N <m^2> / T`` is the other common choice and is available as ``N * moments`` from the series);
- ``binder``: ``U4 = 1 - <m^4> / (3 <m^2>^2)``;
- ``tau_energy``, ``tau_abs_magnetization``: integrated autocorrelation times (Sokal window), in sweeps.

Errors of all five come from a jackknife over blocks: each chain's series is cut into blocks much longer than the
autocorrelation time, the blocks of all chains are pooled, and each observable (linear or not) is re-estimated
leaving one block out.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg import stats
from jaxrg.stats import Estimate

__all__ = ["Timeseries", "Thermodynamics", "thermodynamics", "blocks_per_chain", "full_susceptibility"]


class Timeseries(NamedTuple):
    """Measured series, each ``(n_T, chains, n_measurements)``: energy and magnetisation per spin."""

    energy: Array
    magnetization: Array


class Thermodynamics(NamedTuple):
    """Per-temperature estimates (each :class:`~jaxrg.stats.Estimate` holds ``mean`` and ``error`` arrays over T)."""

    energy: Estimate
    abs_magnetization: Estimate
    heat_capacity: Estimate
    susceptibility: Estimate
    binder: Estimate
    tau_energy: Array
    tau_abs_magnetization: Array


def blocks_per_chain(chains: int, n_measurements: int) -> int:
    """Jackknife blocks cut from each chain: about 32 blocks in all, at least 2 per chain, >= 8 samples each."""
    n_blocks = max(2, -(-32 // chains))
    return int(max(1, min(n_blocks, n_measurements // 8)))


def thermodynamics(series: Timeseries, L: int, T, *, sweeps_per_measurement=1.0) -> Thermodynamics:
    """Estimate the observables of :class:`Thermodynamics` from time series.

    Args:
        series: :class:`Timeseries` with arrays ``(n_T, chains, n)`` (n >= 16).
        L: linear lattice size (N = L^2).
        T: temperatures, shape ``(n_T,)``.
        sweeps_per_measurement: sweeps between measurements (scalar or ``(n_T,)``), converts tau to sweeps.

    Returns:
        :class:`Thermodynamics` with arrays over temperature.
    """
    e = np.asarray(series.energy, dtype=np.float64)
    m = np.asarray(series.magnetization, dtype=np.float64)
    if e.ndim != 3 or e.shape != m.shape:
        raise ValueError(f"series must hold two (n_T, chains, n) arrays of equal shape, got {e.shape} and {m.shape}")
    n_T, chains, n = e.shape
    if n < 16:
        raise ValueError(f"need at least 16 measurements per chain for error bars, got {n}")
    T = np.asarray(T, dtype=np.float64).reshape(n_T)
    # The error analysis runs in float64 whatever the global setting: the jackknife's bias correction multiplies
    # rounding errors by the number of blocks. One compiled reduction per shape (not a chain of eager operations).
    spm = np.broadcast_to(np.asarray(sweeps_per_measurement, np.float64), (n_T,))
    with jax.enable_x64(True):
        out = _reduce(e, m, T, spm, n_sites=L * L, n_blocks=blocks_per_chain(chains, n))
        out = jax.tree.map(np.asarray, out)
    return Thermodynamics(*out)


@functools.partial(jax.jit, static_argnames=("n_sites", "n_blocks"))
def _reduce(e: Array, m: Array, T: Array, spm: Array, *, n_sites: int, n_blocks: int) -> tuple:
    """The fields of :class:`Thermodynamics` from ``(n_T, chains, n)`` float64 series (traced under x64)."""
    n_T, chains, _ = e.shape
    N = n_sites
    am = jnp.abs(m)
    # Fluctuations are taken about the sample means (shifts that cancel exactly in C and chi) so that
    # <x^2> - <x>^2 does not lose digits.
    e_shift = e.mean(axis=(1, 2), keepdims=True)
    a_shift = am.mean(axis=(1, 2), keepdims=True)
    de, da, m2 = e - e_shift, am - a_shift, m * m
    primaries = (de, de * de, da, da * da, m2, m2 * m2)
    # (n_T, chains, nb) -> (chains * nb, n_T): leading axis = pooled blocks.
    blocked = [jnp.moveaxis(stats.block_means(x, n_blocks, axis=-1).reshape(n_T, chains * n_blocks), -1, 0)
               for x in primaries]
    e0, a0 = e_shift.reshape(n_T), a_shift.reshape(n_T)
    energy = stats.jackknife(lambda de, de2, da, da2, m2, m4: e0 + de, *blocked)
    abs_m = stats.jackknife(lambda de, de2, da, da2, m2, m4: a0 + da, *blocked)
    heat = stats.jackknife(lambda de, de2, da, da2, m2, m4: N * (de2 - de * de) / T**2, *blocked)
    chi = stats.jackknife(lambda de, de2, da, da2, m2, m4: N * (da2 - da * da) / T, *blocked)
    binder = stats.jackknife(lambda de, de2, da, da2, m2, m4: 1.0 - m4 / (3.0 * m2 * m2), *blocked)
    tau_e = jnp.mean(stats.integrated_autocorrelation_time(e, axis=-1), axis=-1) * spm
    tau_m = jnp.mean(stats.integrated_autocorrelation_time(am, axis=-1), axis=-1) * spm
    as_est = lambda est: Estimate(est[0], est[1])  # noqa: E731
    return (as_est(energy), as_est(abs_m), as_est(heat), as_est(chi), as_est(binder), tau_e, tau_m)


def full_susceptibility(magnetization, L: int, T) -> tuple[np.ndarray, np.ndarray]:
    """The full susceptibility ``chi_full = N <m^2> / T`` per temperature with its block-jackknife error.

    (The ``susceptibility`` of :func:`thermodynamics` is the connected finite-lattice form
    ``N (<m^2> - <|m|>^2) / T``; ``chi_full`` is the one that scales as ``L^(gamma/nu)`` at T_c.)

    Args:
        magnetization: ``(n_T, chains, n)`` magnetisation per spin.
        L: lattice size.
        T: ``(n_T,)`` temperatures.

    Returns:
        ``(chi_full, error)``, each ``(n_T,)`` float64.
    """
    m = np.asarray(magnetization, dtype=np.float64)
    n_T, chains, n = m.shape
    T = np.asarray(T, dtype=np.float64)
    nb = blocks_per_chain(chains, n)
    blocks = np.asarray(stats.block_means(m * m, nb, axis=-1)).reshape(n_T, chains * nb)  # linear: jackknife = SE
    m2 = blocks.mean(axis=1)
    err = blocks.std(axis=1, ddof=1) / np.sqrt(blocks.shape[1])
    return L * L * m2 / T, L * L * err / T
