"""Bond-weighted TRG and Gilt-TNR: hand-derived first step, Onsager free energies, corner double-line removal."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrg import exact
from jaxrg.rg._svd import regularized_eigh
from jaxrg.rg import trg
from jaxrg.rg.trg import network

KC = exact.CRITICAL_COUPLING


def _two_site_log_z(K, h):
    """Two sites joined by four bonds (the one-step TRG torus), by hand."""
    return np.log(2 * np.exp(4 * K) * np.cosh(2 * h) + 2 * np.exp(-4 * K)) / 2


def test_btrg_first_step_by_hand():
    """chi = 2, one step, h = 0: the diagonal unfolding of the Ising tensor is sum_s a_s a_s^T with |a_s|^2 = e^{2K}
    and a_+ . a_- = e^{-2K}, so its singular values are 2 cosh 2K and 2 sinh 2K (|T|_F = 2 sqrt(cosh 4K)); the
    new bond weights are their k-th powers after normalisation, and the two-site torus is exact."""
    K, k = 0.52, -0.5
    site, _ = network.normalise(network.ising_site_tensor(K))
    tensor, weights = trg.btrg_step(site, jnp.ones((2, 2)), chi=2, k=k)
    s = np.array([2 * np.cosh(2 * K), 2 * np.sinh(2 * K)]) / (2 * np.sqrt(np.cosh(4 * K)))
    np.testing.assert_allclose(np.asarray(weights), np.stack([s**k, s**k]), rtol=1e-12)
    # the one-step network: ln Z / N = ln c_0 + (1/2) ln(Tr T' w w), i.e. the two-site torus
    got = float(trg.trg_log_partition(K, 0.0, chi=2, steps=1, method="btrg"))
    assert got == pytest.approx(_two_site_log_z(K, 0.0), rel=1e-13)
    got = float(trg.trg_log_partition(K, -0.07, chi=2, steps=1, method=trg.BTRG(k=-0.3)))
    assert got == pytest.approx(_two_site_log_z(K, -0.07), rel=1e-13)


def test_btrg_with_zero_exponent_is_trg():
    """k = 0 puts sqrt(s) on both halves and unit weights: TRG exactly, truncation included (chi = 4, 8 steps)."""
    a = float(trg.trg_log_partition(0.42, 0.01, chi=4, steps=8, method=trg.BTRG(k=0.0)))
    b = float(trg.trg_log_partition(0.42, 0.01, chi=4, steps=8, method="trg"))
    assert a == pytest.approx(b, rel=1e-13)


@pytest.mark.parametrize("method,tol", [("btrg", 4e-5), ("gilt-trg", 1.5e-4)])
def test_free_energy_vs_onsager(method, tol):
    """chi = 6, 2^20 sites, at K = 0.40, K_c, 0.50 (TRG chi = 6: relative errors 7e-5, 1e-4, 3e-5; BTRG about 4x
    smaller; Gilt-TNR with a small epsilon about as TRG). The torus term at K_c is 7e-7, well below both."""
    K = np.array([0.40, KC, 0.50])
    f = np.asarray(trg.trg_free_energy(1 / K, chi=6, steps=20, method=method))
    rel = np.abs(f / exact.infinite_lattice(1 / K).free_energy - 1)
    assert np.all(rel < tol), rel
    assert np.all(rel > 1e-12), "truncation at chi = 8 must leave an error; an exact match means no truncation"
    if method == "btrg":
        f_trg = float(trg.trg_free_energy(1 / KC, chi=6, steps=20, method="trg"))
        assert rel[1] < 0.5 * abs(f_trg / exact.infinite_lattice(1 / KC).free_energy - 1)


def test_btrg_heat_capacity_vs_onsager():
    """Energy and heat capacity by autodiff through BTRG (negative powers of singular values included), chi = 6:
    relative errors 7e-5 .. 2e-4 (energy) and 6e-4 .. 1e-3 (heat capacity) seen."""
    T = np.array([2.0, 2.6])
    r = trg.trg_thermodynamics(T, chi=6, steps=18, method="btrg", symmetry_breaking_field=1e-4)
    ref = exact.infinite_lattice(T)
    np.testing.assert_allclose(r.energy, ref.energy, rtol=5e-4)
    np.testing.assert_allclose(r.heat_capacity, ref.heat_capacity, rtol=3e-3)
    assert float(r.magnetization[0]) == pytest.approx(ref.magnetization[0], abs=2e-3)


def _corner_double_line(corner):
    """CDL tensor: every leg carries two lines, each corner of the site a matrix ``corner`` joining two legs."""
    m = corner.shape[0]
    # legs (l1 upper, l2 lower), (u1 left, u2 right), (r1 upper, r2 lower), (d1 left, d2 right);
    # corners: top-left (l1, u1), top-right (u2, r1), bottom-right (r2, d2), bottom-left (d1, l2)
    t = np.einsum("lu,Ur,RD,dL->lLuUrRdD", corner, corner, corner, corner).reshape(m * m, m * m, m * m, m * m)
    return jnp.asarray(t / np.linalg.norm(t))


def _leg_spectrum(tensor):
    s = np.linalg.svd(np.asarray(tensor).reshape(tensor.shape[0], -1), compute_uv=False)
    return s / s[0]


def test_gilt_removes_corner_double_lines():
    """A pure CDL tensor (only short-range loops) is a fixed point of TRG; Gilt-TNR flows it to a rank-one tensor."""
    cdl = _corner_double_line(np.array([[1.0, 0.3], [0.3, 0.8]]))
    start = _leg_spectrum(cdl)
    assert start[1] > 0.4  # the loops entangle the legs
    plain, gilt = cdl, cdl
    for _ in range(3):
        plain, _ = network.normalise(trg.trg_step(plain, 4))
        gilt, _ = network.normalise(trg.gilt_trg_step(gilt, 4, epsilon=1e-7))
    np.testing.assert_allclose(_leg_spectrum(plain), start, atol=1e-10)
    assert _leg_spectrum(gilt)[1] < 1e-6


def test_methods_and_validation():
    assert set(trg.METHODS) == {"trg", "hotrg", "btrg", "gilt-trg"}
    with pytest.raises(ValueError, match="k must be"):
        trg.trg_free_energy(2.0, chi=4, method=trg.BTRG(k=3.0))
    with pytest.raises(ValueError, match="epsilon"):
        trg.trg_free_energy(2.0, chi=4, method=trg.GiltTRG(epsilon=-1.0))
    with pytest.raises(ValueError, match="forward-mode"):
        trg.trg_thermodynamics(2.0, chi=4, method="gilt-trg")


def test_second_call_compiles_nothing():
    """New temperatures and a new K with the same shapes and static configuration reuse the executables (also for
    the scalar entry points, whose scan would otherwise be compiled again on every call)."""
    compiles = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    trg.trg_free_energy([2.1, 2.2], chi=4, steps=6, method="btrg")
    trg.trg_scaling_dimensions(0.4, chi=4, steps=4, method="gilt-trg", num=2)
    trg.trg_log_partition(0.40, chi=4, steps=6, method="btrg")
    trg.coarse_grain(0.40, chi=4, steps=6, method="hotrg")
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        trg.trg_free_energy([2.3, 2.4], chi=4, steps=6, method="btrg")
        trg.trg_scaling_dimensions(0.41, chi=4, steps=4, method="gilt-trg", num=2)
        trg.trg_log_partition(0.41, chi=4, steps=6, method="btrg")
        trg.coarse_grain(0.41, chi=4, steps=6, method="hotrg")
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert compiles == []


def test_regularized_eigh_derivative():
    """Descending eigenvalues; forward derivative of eigenvalues and of the top eigenprojector equal to central
    differences for distinct eigenvalues; finite for a rank-deficient Gram matrix (three zero eigenvalues)."""
    rng = np.random.default_rng(0)
    m = jnp.asarray(rng.normal(size=(5, 5)))
    a, da = m @ m.T, jnp.asarray(rng.normal(size=(5, 5)))
    da = da + da.T

    def observables(x):
        w, v = regularized_eigh(x)
        return w, jnp.outer(v[:, 0], v[:, 0])

    (w, proj), (dw, dproj) = jax.jvp(observables, (a,), (da,))
    np.testing.assert_allclose(w, np.linalg.eigvalsh(np.asarray(a))[::-1], rtol=1e-12)
    h = 1e-6
    (wp, pp), (wm, pm) = observables(a + h * da), observables(a - h * da)
    np.testing.assert_allclose(dw, (wp - wm) / (2 * h), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dproj, (pp - pm) / (2 * h), rtol=1e-5, atol=1e-6)
    low_rank = m[:, :2] @ m[:, :2].T
    _, tangents = jax.jvp(regularized_eigh, (low_rank,), (da,))
    assert all(bool(jnp.all(jnp.isfinite(t))) for t in tangents)
