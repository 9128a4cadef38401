"""Exact results (jaxrg.exact) checked against independent routes: brute-force enumeration, scipy quadrature and
elliptic integrals, Catalan's constant, the transfer matrix, and known limits (ground state, T_c, L -> infinity)."""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special

from jaxrg import exact

TC = exact.CRITICAL_TEMPERATURE
KC = exact.CRITICAL_COUPLING


def _brute_force(shape, T):
    """f, e, C per spin of a small torus from explicit spin arrays (independent of the bit-trick enumeration)."""
    rows, cols = (shape, shape) if isinstance(shape, int) else shape
    N = rows * cols
    codes = np.arange(2**N)
    spins = (1 - 2 * ((codes[:, None] >> np.arange(N)) & 1)).astype(np.int8).reshape(-1, rows, cols)
    bonds = spins * (np.roll(spins, 1, axis=1) + np.roll(spins, 1, axis=2))
    E = -np.sum(bonds, axis=(1, 2), dtype=np.int32).astype(float)
    out = []
    for t in np.atleast_1d(T):
        log_w = -E / t
        log_z = np.logaddexp.reduce(log_w)
        p = np.exp(log_w - log_z)
        mean = p @ E
        out.append((-t * log_z / N, mean / N, (p @ (E - mean) ** 2) / (N * t * t)))
    return np.array(out).T


# ------------------------------------------------------------------------------------------------ constants


def test_critical_point_satisfies_self_duality():
    assert math.sinh(2 * KC) == pytest.approx(1.0, abs=1e-15)
    assert TC * KC == pytest.approx(1.0, abs=1e-15)


# ------------------------------------------------------------------------------------------------ enumeration


def test_enumeration_matches_explicit_spin_arrays():
    energy, magnetization = exact.enumerate_states(4)
    assert energy.shape == magnetization.shape == (2**16,)
    codes = np.arange(2**16)
    spins = (1 - 2 * ((codes[:, None] >> np.arange(16)) & 1)).reshape(-1, 4, 4)
    E = -np.sum(spins * (np.roll(spins, -1, axis=1) + np.roll(spins, -1, axis=2)), axis=(1, 2))
    np.testing.assert_array_equal(energy, E)
    np.testing.assert_array_equal(magnetization, spins.sum(axis=(1, 2)))
    levels, counts = np.unique(energy, return_counts=True)
    assert levels[0] == -32 and counts[0] == 2  # two ground states
    assert counts[list(levels).index(-24)] == 32  # one flipped spin (and its reversal): 4 broken bonds


@pytest.mark.parametrize("shape", [2, 3, 4, (3, 5), (2, 7)])
def test_finite_lattice_matches_enumeration(shape):
    T = np.array([0.5, 1.5, TC, 3.0, 10.0])
    f, e, c = _brute_force(shape, T)
    result = exact.finite_lattice(shape, T)
    np.testing.assert_allclose(result.free_energy, f, rtol=0, atol=1e-10)
    np.testing.assert_allclose(result.energy, e, rtol=0, atol=1e-10)
    np.testing.assert_allclose(result.heat_capacity, c, rtol=0, atol=1e-10)


def test_finite_lattice_rectangle_is_symmetric_and_log_z_consistent():
    T = np.array([1.0, TC, 4.0])
    a, b = exact.finite_lattice((6, 10), T), exact.finite_lattice((10, 6), T)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-13)
    log_z = exact.log_partition_function((6, 10), 1.0 / T)
    np.testing.assert_allclose(-T * log_z / 60, a.free_energy, rtol=1e-14)


def test_energy_distribution_moments_match_kaufman():
    T = np.array([0.8, TC, 5.0])
    levels, p = exact.energy_distribution(4, T)
    assert p.shape == (3, levels.size)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-14)
    mean = p @ levels
    var = p @ levels.astype(float) ** 2 - mean**2
    kaufman = exact.finite_lattice(4, T)
    np.testing.assert_allclose(mean / 16, kaufman.energy, atol=1e-12)
    np.testing.assert_allclose(var / (16 * T**2), kaufman.heat_capacity, atol=1e-10)


# ------------------------------------------------------------------------------------------------ Onsager


def test_onsager_log_z_at_kc_equals_catalan_closed_form():
    # ln Z / N at K_c = ln 2 / 2 + 2 G / pi, Catalan's G = (psi_1(1/4) - psi_1(3/4)) / 16
    catalan = (special.polygamma(1, 0.25) - special.polygamma(1, 0.75)) / 16.0
    expected = 0.5 * math.log(2.0) + 2.0 * catalan / math.pi
    assert -exact.infinite_lattice(TC).free_energy / TC == pytest.approx(expected, abs=1e-13)
    assert expected == pytest.approx(0.9296953983, abs=1e-10)  # REFERENCES.md


@pytest.mark.parametrize("T", [1.5, 3.5])
def test_onsager_log_z_matches_double_integral(T):
    K = 1.0 / T
    ch, sh = math.cosh(2 * K) ** 2, math.sinh(2 * K)
    value, _ = integrate.dblquad(
        lambda a, b: math.log(ch - sh * (math.cos(a) + math.cos(b))), 0, math.pi, 0, math.pi, epsabs=1e-13
    )
    expected = math.log(2.0) + value / (2 * math.pi**2)
    assert -exact.infinite_lattice(T).free_energy / T == pytest.approx(expected, abs=1e-11)


def test_infinite_energy_and_heat_capacity_from_independent_routes():
    T = np.array([0.8, 1.5, 2.0, 2.2, 2.35, 2.6, 3.5, 10.0])
    K = 1.0 / T
    result = exact.infinite_lattice(T)
    # energy: closed form with scipy's K(k) (parameter m = k^2)
    k = 2 * np.sinh(2 * K) / np.cosh(2 * K) ** 2
    e = -(1 + 2 / np.pi * (2 * np.tanh(2 * K) ** 2 - 1) * special.ellipk(k * k)) / np.tanh(2 * K)
    np.testing.assert_allclose(result.energy, e, rtol=0, atol=1e-12)
    # energy and C: autodiff of the quadrature ln Z / N (x64 on in tests)
    first = jax.grad(exact.onsager_log_z)
    d1, d2 = jax.jit(jax.vmap(lambda k: jax.jvp(first, (k,), (jnp.ones_like(k),))))(jnp.asarray(K))
    np.testing.assert_allclose(result.energy, -np.asarray(d1), rtol=0, atol=1e-10)
    np.testing.assert_allclose(result.heat_capacity, K**2 * np.asarray(d2), rtol=1e-9, atol=1e-10)


def test_infinite_lattice_near_and_at_tc():
    T = TC * (1 + np.array([-1e-3, -1e-8, -1e-14, 0.0, 1e-14, 1e-8, 1e-3]))
    result = exact.infinite_lattice(T)
    for field in result:
        assert np.all(np.isfinite(field))
    np.testing.assert_allclose(result.energy[2:5], -math.sqrt(2.0), atol=1e-12)
    assert np.all(result.magnetization[:3] > 0) and np.all(result.magnetization[3:] == 0)
    # log divergence: C grows as ln|t| approaches 0, symmetric to leading order (8 K_c^2 / pi per e-fold)
    slope = (result.heat_capacity[1] - result.heat_capacity[0]) / math.log(1e5)
    assert slope == pytest.approx(8 * KC**2 / math.pi, rel=1e-3)
    assert result.heat_capacity[1] == pytest.approx(result.heat_capacity[5], rel=1e-6)


def test_low_and_high_temperature_limits():
    low, high = exact.infinite_lattice(0.05), exact.infinite_lattice(1e4)
    assert low.energy == pytest.approx(-2.0, abs=1e-14) and low.magnetization == pytest.approx(1.0, abs=1e-15)
    assert high.energy == pytest.approx(-2e-4, rel=1e-7)  # e = -2 tanh K + O(K^3)
    assert high.heat_capacity == pytest.approx(2e-8, rel=1e-6)  # C = 2 K^2 + O(K^4)
    assert high.free_energy == pytest.approx(-1e4 * math.log(2.0) - 1e-4, rel=1e-12)


# ------------------------------------------------------------------------------------------------ L -> infinity


@pytest.mark.parametrize("L", [64, 256])
@pytest.mark.parametrize("T", [1.5, 3.5])
def test_finite_lattice_converges_to_onsager_away_from_tc(L, T):
    finite, infinite = exact.finite_lattice(L, T), exact.infinite_lattice(T)
    # the only finite-size term left below T_c is the two-fold ground-state degeneracy: f_L - f = -T ln 2 / N
    degeneracy = -T * math.log(2.0) / L**2 if T < TC else 0.0
    assert finite.free_energy - infinite.free_energy == pytest.approx(degeneracy, abs=1e-10)
    assert finite.energy == pytest.approx(infinite.energy, abs=1e-10)
    assert finite.heat_capacity == pytest.approx(infinite.heat_capacity, abs=1e-8)


def test_finite_size_scaling_at_tc():
    Ls = np.array([64, 128, 256, 512])
    energy = np.array([exact.finite_lattice(int(L), TC).energy for L in Ls])
    heat = np.array([exact.finite_lattice(int(L), TC).heat_capacity for L in Ls])
    # e_L(T_c) = -sqrt 2 + a / L + O(1/L^2): L (e_L + sqrt 2) converges, and e_512 is within that bound
    amplitude = Ls * (energy + math.sqrt(2.0))
    assert np.all(np.abs(np.diff(amplitude)) < 2e-3)
    assert abs(energy[-1] + math.sqrt(2.0)) < 1.0 / 512
    # C_L(T_c) = (8 K_c^2 / pi) ln L + const + O(ln L / L) (Ferdinand-Fisher)
    increments = np.diff(heat) / math.log(2.0)
    assert increments[-1] == pytest.approx(8 * KC**2 / math.pi, rel=1e-2)


def test_no_nan_for_large_lattice_near_tc():
    T = np.concatenate([np.linspace(TC - 0.02, TC + 0.02, 41), [TC, 0.01, 0.05, 1e3, 1e6]])
    result = exact.finite_lattice(512, T)
    for field in result:
        assert np.all(np.isfinite(field))
    assert np.all(result.heat_capacity > -1e-12)
    # heat-capacity peak of the finite lattice sits just above T_c (T_c(L) - T_c ~ 1/L)
    peak = T[:41][np.argmax(result.heat_capacity[:41])]
    assert 0 <= peak - TC < 0.005


# ------------------------------------------------------------------------------------------------ transfer matrix


def test_magnetization_distribution_matches_enumeration():
    T = np.array([0.5, TC, 10.0])
    energy, magnetization = exact.enumerate_states(4)
    M, p = exact.magnetization_distribution(4, T)
    np.testing.assert_array_equal(M, np.arange(-16, 17, 2))
    for t, row in zip(T, p):
        w = np.exp(-(energy - energy.min()) / t)
        expected = np.bincount((magnetization + 16) // 2, weights=w, minlength=17) / w.sum()
        np.testing.assert_allclose(row, expected, rtol=1e-12)  # tails included (all terms positive)


def test_magnetization_distribution_is_symmetric_and_normalised():
    M, p = exact.magnetization_distribution(6, [1.8, TC, 3.0])
    np.testing.assert_allclose(p, p[:, ::-1], rtol=1e-12)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-14)
    assert M.shape == (37,) and np.all(p > 0)


@pytest.mark.parametrize("L", [6, 8])
def test_transfer_matrix_energy_matches_kaufman(L):
    T = np.array([1.2, TC, 3.0])
    moments, kaufman = exact.finite_lattice_moments(L, T), exact.finite_lattice(L, T)
    np.testing.assert_allclose(moments.energy, kaufman.energy, rtol=0, atol=1e-12)
    np.testing.assert_allclose(moments.heat_capacity, kaufman.heat_capacity, rtol=0, atol=1e-11)


def test_moments_limits_and_binder_at_tc():
    moments = exact.finite_lattice_moments(8, [0.3, TC, 1e3])
    assert moments.binder[0] == pytest.approx(2.0 / 3.0, abs=1e-12)  # ordered: m = +-1
    # lowest excitation: one flipped spin (8 broken-bond energy, N sites, |m| = 1 - 2/N): 1 - <|m|> ~ 2 exp(-8K)
    assert 1.0 - moments.abs_magnetization[0] == pytest.approx(2 * math.exp(-8 / 0.3), rel=1e-3)
    assert moments.magnetization_sq[2] == pytest.approx(1 / 64, rel=1e-2)  # independent spins: <m^2> = 1/N
    assert 0.58 < moments.binder[1] < 0.62  # -> 0.61069 as L -> infinity
    assert moments.full_susceptibility[1] == pytest.approx(64 * moments.magnetization_sq[1] / TC)
    connected = 64 * (moments.magnetization_sq[1] - moments.abs_magnetization[1] ** 2) / TC
    assert moments.susceptibility[1] == pytest.approx(connected)


@pytest.mark.parametrize("T", [1.5, 2.0])
def test_abs_magnetization_approaches_spontaneous_magnetization(T):
    spontaneous = exact.spontaneous_magnetization(T)
    assert spontaneous == pytest.approx(exact.infinite_lattice(T).magnetization)
    gaps = [abs(exact.finite_lattice_moments(L, T).abs_magnetization - spontaneous) for L in (4, 6, 8)]
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < {1.5: 5e-6, 2.0: 5e-4}[T]


# ------------------------------------------------------------------------------------------------ API contract


def test_float64_without_global_x64_and_shapes():
    with jax.enable_x64(False):
        finite = exact.finite_lattice(16, jnp.asarray([[2.0, 2.5]]))
        infinite = exact.infinite_lattice(2.0)
    assert finite.energy.dtype == np.float64 and finite.energy.shape == (1, 2)
    assert infinite.energy.dtype == np.float64 and infinite.energy.shape == ()
    np.testing.assert_allclose(finite.energy, exact.finite_lattice(16, np.array([[2.0, 2.5]])).energy, rtol=1e-15)


def test_kaufman_log_z_is_pure_jax():
    K = jnp.asarray([0.3, KC, 0.6])
    grad = jax.jit(jax.vmap(jax.grad(lambda k: exact.kaufman_log_z(k, 8))))(K)
    np.testing.assert_allclose(-np.asarray(grad) / 64, exact.finite_lattice(8, 1 / np.asarray(K)).energy, atol=1e-12)
    log_z = jax.jit(exact.kaufman_log_z, static_argnums=(1, 2))(K, 8, 8)
    np.testing.assert_allclose(np.asarray(log_z), exact.log_partition_function(8, np.asarray(K)), rtol=1e-15)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: exact.finite_lattice(1, 2.0), "L"),
        (lambda: exact.finite_lattice(4.5, 2.0), "L"),
        (lambda: exact.finite_lattice(True, 2.0), "L"),
        (lambda: exact.finite_lattice((4, 1), 2.0), "L[1]"),
        (lambda: exact.finite_lattice(4, 0.0), "T"),
        (lambda: exact.finite_lattice(4, 0.001), "T"),
        (lambda: exact.infinite_lattice([1.0, -1.0]), "T"),
        (lambda: exact.infinite_lattice(float("nan")), "T"),
        (lambda: exact.infinite_lattice(float("inf")), "T"),
        (lambda: exact.log_partition_function(4, -0.1), "K"),
        (lambda: exact.enumerate_states(5), "L"),
        (lambda: exact.energy_distribution(5, 2.0), "L"),
        (lambda: exact.magnetization_distribution(9, 2.0), "L"),
        (lambda: exact.finite_lattice_moments(4, 0.0), "T"),
    ],
)
def test_bad_input_raises_value_error_naming_parameter(call, name):
    with pytest.raises(ValueError, match="^" + re.escape(name) + " must"):
        call()
