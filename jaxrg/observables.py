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

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg import stats
from jaxrg.stats import Estimate

__all__ = ["Timeseries", "Thermodynamics", "thermodynamics", "blocks_per_chain"]


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
    """Number of jackknife blocks cut from each chain: about 32 blocks in all, at least 2 per chain, >= 8 samples each."""
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
    e = jnp.asarray(series.energy)
    m = jnp.asarray(series.magnetization)
    if e.ndim != 3 or e.shape != m.shape:
        raise ValueError(f"series must hold two (n_T, chains, n) arrays of equal shape, got {e.shape} and {m.shape}")
    n_T, chains, n = e.shape
    if n < 16:
        raise ValueError(f"need at least 16 measurements per chain for error bars, got {n}")
    T = jnp.asarray(T, e.dtype).reshape(n_T)
    N = L * L
    am = jnp.abs(m)
    primaries = (e, e * e, am, m * m, (m * m) ** 2)

    nb = blocks_per_chain(chains, n)
    # (n_T, chains, nb) -> (chains * nb, n_T): leading axis = pooled blocks.
    blocked = [
        jnp.moveaxis(stats.block_means(x, nb, axis=-1).reshape(n_T, chains * nb), -1, 0) for x in primaries
    ]
    energy = stats.jackknife(lambda e, e2, a, m2, m4: e, *blocked)
    abs_m = stats.jackknife(lambda e, e2, a, m2, m4: a, *blocked)
    heat = stats.jackknife(lambda e, e2, a, m2, m4: N * (e2 - e * e) / T**2, *blocked)
    chi = stats.jackknife(lambda e, e2, a, m2, m4: N * (m2 - a * a) / T, *blocked)
    binder = stats.jackknife(lambda e, e2, a, m2, m4: 1.0 - m4 / (3.0 * m2 * m2), *blocked)

    spm = jnp.broadcast_to(jnp.asarray(sweeps_per_measurement, e.dtype), (n_T,))
    tau_e = jnp.mean(stats.integrated_autocorrelation_time(e, axis=-1), axis=-1) * spm
    tau_m = jnp.mean(stats.integrated_autocorrelation_time(am, axis=-1), axis=-1) * spm
    as_np = lambda est: Estimate(np.asarray(est[0]), np.asarray(est[1]))  # noqa: E731
    return Thermodynamics(
        energy=as_np(energy),
        abs_magnetization=as_np(abs_m),
        heat_capacity=as_np(heat),
        susceptibility=as_np(chi),
        binder=as_np(binder),
        tau_energy=np.asarray(tau_e),
        tau_abs_magnetization=np.asarray(tau_m),
    )
