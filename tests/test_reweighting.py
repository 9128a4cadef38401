"""Multi-histogram reweighting: Kaufman's exact e and C between the simulated temperatures, pymbar's free energies."""

import subprocess
import sys

import numpy as np
import pytest

import jaxrg
from jaxrg import exact, reweighting

L = 16
T_RUN = np.array([2.1, 2.2, 2.3, 2.4, 2.5])
T_BETWEEN = np.array([2.15, 2.27, 2.45])


@pytest.fixture(scope="module")
def run():
    seed = 4
    r = jaxrg.simulate(L, T_RUN, sampler="metropolis", sweeps=16_000, thermalize=2_000, chains=4, measure_every=4,
                       seed=seed)
    return seed, r


def test_reweighted_energy_and_heat_capacity_match_kaufman_between_the_simulated_temperatures(run):
    seed, r = run
    curves = reweighting.reweight(L, r.T, r.timeseries.energy, r.timeseries.magnetization, T_BETWEEN)
    ref = exact.finite_lattice(L, T_BETWEEN)
    for name, value in (("energy", ref.energy), ("heat_capacity", ref.heat_capacity)):
        est = getattr(curves, name)
        pull = (est.mean - value) / est.error
        assert np.all(np.abs(pull) < 4), f"{name}: {est.mean} +- {est.error} vs exact {value} (seed {seed})"
        assert np.all(est.error < 0.05 * np.abs(value))  # informative error bars


def test_reweighting_to_a_simulated_temperature_reproduces_the_direct_estimate(run):
    _, r = run
    curves = reweighting.reweight(L, r.T, r.timeseries.energy, r.timeseries.magnetization, r.T)
    np.testing.assert_allclose(curves.energy.mean, r.energy.mean, atol=3 * np.max(r.energy.error))


def test_heat_capacity_peak_matches_the_exact_finite_lattice_peak(run):
    seed, r = run
    p = reweighting.peak(L, r.T, r.timeseries.energy, r.timeseries.magnetization, "heat_capacity")
    grid = np.linspace(2.1, 2.5, 4001)
    c = exact.finite_lattice(L, grid).heat_capacity
    T_peak, c_peak = grid[np.argmax(c)], np.max(c)
    assert abs(p.T.mean - T_peak) < 4 * p.T.error + 2e-3, (seed, p, T_peak)
    assert abs(p.height.mean - c_peak) < 4 * p.height.error, (seed, p, c_peak)


def test_free_energies_agree_with_pymbar(run, tmp_path):
    """pymbar runs in its own process: it switches JAX to 64-bit globally when its solver starts."""
    _, r = run
    energy = [L * L * np.asarray(r.timeseries.energy[k]).ravel()[::8] for k in range(T_RUN.size)]
    f = reweighting.free_energies(1.0 / T_RUN, energy)
    path = tmp_path / "u.npz"
    np.savez(path, beta=1.0 / T_RUN, *energy)
    script = (
        "import numpy as np, pymbar, sys\n"
        f"z = np.load({str(path)!r})\n"
        "beta = z['beta']; E = [z[f'arr_{k}'] for k in range(len(beta))]\n"
        "allE = np.concatenate(E); u = beta[:, None] * allE[None, :]\n"
        "m = pymbar.MBAR(u, np.array([len(e) for e in E]), solver_protocol='robust')\n"
        "f = m.f_k - m.f_k[0]; print(' '.join(repr(float(x)) for x in f))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    f_pymbar = np.array([float(x) for x in out.stdout.split()])
    np.testing.assert_allclose(f, f_pymbar, atol=1e-6 * np.max(np.abs(f_pymbar)) + 1e-8)


def test_binder_temperature_finds_where_the_exact_cumulant_takes_a_value():
    """On 8x8 the exact U_8(T) is known (transfer matrix): solve U_8(T) = U_8(2.27) from a Wolff run and get 2.27."""
    seed, T_target = 9, 2.27
    r = jaxrg.simulate(8, T_RUN, sampler="wolff", sweeps=4000, thermalize=200, chains=4, seed=seed)
    value = float(exact.finite_lattice_moments(8, T_target).binder)
    est = reweighting.binder_temperature(8, r.T, r.timeseries.energy, r.timeseries.magnetization, value)
    assert abs(est.mean - T_target) < 4 * est.error, (seed, est)
    assert 0 < est.error < 0.01  # an informative error bar
    with pytest.raises(ValueError, match="value"):
        reweighting.binder_temperature(8, r.T, r.timeseries.energy, r.timeseries.magnetization, 0.9)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="energy and magnetization"):
        reweighting.reweight(4, [2.0, 2.5], np.zeros((3, 1, 16)), np.zeros((3, 1, 16)), [2.2])
    with pytest.raises(ValueError, match="T"):
        reweighting.reweight(4, [2.0, 2.5], np.zeros((2, 1, 16)), np.zeros((2, 1, 16)), [-1.0])
