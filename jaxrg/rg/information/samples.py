"""Equilibrium Ising configurations for information measurements, from the library's samplers (one helper)."""

from __future__ import annotations

import math

import jax
import numpy as np

from jaxrg import ising, lattice
from jaxrg.sampling import SAMPLERS
from jaxrg.sampling.base import BatchedKernel
from jaxrg.sampling.driver import run_chain

__all__ = ["ising_configurations"]


def _spins(state, params):
    del params
    return state.spins


def ising_configurations(L: int, T: float, n_configs: int, *, seed: int = 0, chains: int = 32,
                         thermalize: int = 200, sweeps_between: int = 4, sampler: str = "swendsen_wang") -> np.ndarray:
    """Equilibrium configurations of the ``L x L`` Ising torus at temperature ``T``.

    ``chains`` independent chains start ordered, are thermalised for ``thermalize`` kernel steps and record a
    configuration every ``sweeps_between`` steps (Swendsen-Wang: one step is one sweep, with short autocorrelation
    times at all temperatures). This is the only place where the information package calls a sampler.

    Args:
        L: even lattice side >= 4.
        T: temperature.
        n_configs: number of configurations returned (in order: chain-major).
        seed: integer seed.
        chains, thermalize, sweeps_between: sampling schedule (kernel steps).
        sampler: a name in ``jaxrg.sampling.SAMPLERS``.

    Returns:
        ``(n_configs, L, L)`` int8 configurations.
    """
    L = lattice.validate_size(L, name="L", minimum=4, even=True)
    T = float(ising.validate_temperature(T, max_ndim=0))
    if n_configs < 1 or chains < 1 or thermalize < 0 or sweeps_between < 1:
        raise ValueError("n_configs, chains and sweeps_between must be >= 1 and thermalize >= 0")
    chains = min(chains, n_configs)
    couplings = ising.couplings(np.atleast_1d(T))
    kernel = BatchedKernel(SAMPLERS[sampler].build_kernel(), chains)
    _, key_therm, key_run = jax.random.split(jax.random.key(seed), 3)
    state = jax.vmap(jax.vmap(SAMPLERS[sampler].init))(ising.ordered_spins(L, (1, chains)))
    if thermalize:
        state = run_chain(kernel, key_therm, state, couplings, n_measurements=thermalize).state
    n_time = math.ceil(n_configs / chains)
    out = run_chain(kernel, key_run, state, couplings, n_measurements=n_time, steps_per_measurement=sweeps_between,
                    measure=_spins)
    spins = np.asarray(out.measurements)[:, 0]  # (n_time, chains, L, L)
    return np.swapaxes(spins, 0, 1).reshape(-1, L, L)[:n_configs]
