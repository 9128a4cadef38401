"""Finite-size scaling fits recover known values from synthetic data (and report honest errors)."""

import numpy as np
import pytest

from jaxrg import fss


def test_power_law_fit_recovers_exponent_from_synthetic_data():
    rng = np.random.default_rng(5)
    L = np.array([8, 16, 32, 64, 128])
    y = 0.9 * L**1.75
    dy = 0.01 * y
    pulls = []
    for _ in range(200):
        fit = fss.power_law_fit(L, y * (1 + 0.01 * rng.standard_normal(L.size)), dy)
        pulls.append((fit.exponent.mean - 1.75) / fit.exponent.error)
    pulls = np.asarray(pulls)
    assert abs(np.mean(pulls)) < 0.25 and 0.7 < np.std(pulls) < 1.4  # unbiased, errors of the right size


def test_critical_temperature_fit_recovers_tc_and_amplitude():
    rng = np.random.default_rng(6)
    L = np.array([8, 16, 32, 64])
    T_c, a = 2.269185, 0.6
    dT = np.full(L.size, 2e-4)
    pulls = []
    for _ in range(200):
        T_L = T_c + a / L + dT * rng.standard_normal(L.size)
        fit = fss.critical_temperature_fit(L, T_L, dT)
        pulls.append((fit.T_c.mean - T_c) / fit.T_c.error)
        assert abs(fit.amplitude.mean - a) < 6 * fit.amplitude.error
    pulls = np.asarray(pulls)
    assert abs(np.mean(pulls)) < 0.25 and 0.7 < np.std(pulls) < 1.4


def test_wrong_nu_is_visible_in_chi2():
    L = np.array([8, 16, 32, 64])
    T_L = 2.269185 + 0.6 * L ** (-1.0)
    fit = fss.critical_temperature_fit(L, T_L, np.full(4, 1e-5), nu=0.5)
    assert fit.chi2_per_dof > 100


def test_bad_input():
    with pytest.raises(ValueError):
        fss.critical_temperature_fit([8, 8], [2.3, 2.3], [1e-3, 1e-3])
    with pytest.raises(ValueError):
        fss.power_law_fit([8, 16], [1.0, -2.0], [0.1, 0.1])
