"""Observables from synthetic series with known moments (independent of any sampler)."""

import numpy as np

from jaxrg.observables import Timeseries, thermodynamics


def test_thermodynamics_on_gaussian_series_with_known_moments():
    # e ~ N(mu, s^2) iid: C = N s^2 / T^2 exactly; m = +-(a + noise): |m| and chi known analytically.
    rng = np.random.default_rng(42)
    n_T, chains, n, L = 2, 4, 4096, 8
    N = L * L
    T = np.array([1.0, 2.0])
    mu, s = -1.2, 0.05
    e = rng.normal(mu, s, (n_T, chains, n))
    a, sa = 0.7, 0.02
    m = rng.choice([-1.0, 1.0], (n_T, chains, n)) * rng.normal(a, sa, (n_T, chains, n))
    r = thermodynamics(Timeseries(e.astype(np.float32), m.astype(np.float32)), L, T)
    total = chains * n
    c_exact = N * s**2 / T**2
    chi_exact = N * sa**2 / T
    m2, m4 = a**2 + sa**2, a**4 + 6 * a**2 * sa**2 + 3 * sa**4
    u4_exact = 1 - m4 / (3 * m2**2)
    checks = {
        "energy": (r.energy, mu),
        "abs_magnetization": (r.abs_magnetization, a),
        "heat_capacity": (r.heat_capacity, c_exact),
        "susceptibility": (r.susceptibility, chi_exact),
        "binder": (r.binder, u4_exact),
    }
    for name, (est, want) in checks.items():
        z = np.abs(est.mean - want) / est.error
        assert np.all(z < 4), f"{name}: {est.mean} +- {est.error} vs {want} (seed 42)"
    # the error of the mean energy is s / sqrt(total) for iid data (jackknife over 32 blocks: ~13% scatter)
    np.testing.assert_allclose(r.energy.error, s / np.sqrt(total), rtol=0.4)
    # heat capacity error: var of sample variance = 2 s^4 / total
    np.testing.assert_allclose(r.heat_capacity.error, N * s**2 * np.sqrt(2 / total) / T**2, rtol=0.4)
    np.testing.assert_allclose(r.tau_energy, 0.5, atol=0.1)
