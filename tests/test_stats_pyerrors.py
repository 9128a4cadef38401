"""jaxrg.stats against an independent, well-kept implementation: pyerrors' Gamma method (Wolff, automatic window).

Both estimate the integrated autocorrelation time and the error of the mean of the same series; they use different
window rules (Sokal's c = 5 here, Wolff's S = 2 there), so they agree to within the 10% the tests allow, not exactly.
"""

import jax.numpy as jnp
import numpy as np
import pyerrors as pe
import pytest

import jaxrg
from jaxrg import stats


def _gamma_method(x):
    obs = pe.Obs([np.asarray(x, np.float64)], ["series"])
    obs.gamma_method()
    return obs.e_tauint["series"], obs.dvalue


def _ar1(phi, n, seed):
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = noise[0] / np.sqrt(1 - phi**2)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + noise[i]
    return x


@pytest.mark.parametrize("phi", [0.5, 0.9])
def test_autoregressive_series(phi):
    seed = 7
    x = _ar1(phi, 100_000, seed)
    tau_pe, err_pe = _gamma_method(x)
    tau = float(stats.integrated_autocorrelation_time(jnp.asarray(x)))
    err = float(stats.mean_and_error(jnp.asarray(x)).error)
    assert abs(tau / tau_pe - 1) < 0.10, (seed, phi, tau, tau_pe)
    assert abs(err / err_pe - 1) < 0.10, (seed, phi, err, err_pe)
    assert abs(tau_pe / ((1 + phi) / (2 * (1 - phi))) - 1) < 0.15  # both near the exact value


def test_metropolis_energy_series():
    seed = 2
    r = jaxrg.simulate(16, 2.6, sweeps=20_000, thermalize=1_000, seed=seed)
    e = np.asarray(r.timeseries.energy)[0]
    tau_pe, err_pe = _gamma_method(e)
    tau = float(stats.integrated_autocorrelation_time(jnp.asarray(e)))
    err = float(stats.mean_and_error(jnp.asarray(e)).error)
    assert tau_pe > 1.0  # a correlated series: the comparison is not trivial
    assert abs(tau / tau_pe - 1) < 0.10, (seed, tau, tau_pe)
    assert abs(err / err_pe - 1) < 0.10, (seed, err, err_pe)
