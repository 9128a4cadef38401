"""Pseudo-critical coupling of truncated tensor-network RG: phase indicator, bisection, validation, compiles."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

from jaxrg import exact  # noqa: E402
from jaxrg.rg import trg  # noqa: E402
from jaxrg.rg.trg import conformal, pseudo_critical  # noqa: E402

KC = exact.CRITICAL_COUPLING


def _product(vectors):
    return sum(jnp.einsum("a,b,c,d->abcd", v, v, v, v) for v in vectors)


def test_degeneracy_ratio_at_the_trivial_fixed_points():
    """X = 1 for a rank-one tensor (disordered), 2 for two orthogonal copies (Z2 broken), any scale and basis."""
    e0, e1 = jnp.array([1.0, 0.0, 0.0]), jnp.array([0.0, 1.0, 0.0])
    ones = jnp.ones((2, 3))
    assert float(pseudo_critical.degeneracy_ratio(3.7 * _product([e0]), ones)) == pytest.approx(1.0, abs=1e-14)
    rotated = jnp.array([[0.6, 0.8, 0.0], [-0.8, 0.6, 0.0], [0.0, 0.0, 1.0]])
    broken = 0.2 * _product([rotated @ e0, rotated @ e1])
    assert float(pseudo_critical.degeneracy_ratio(broken, ones)) == pytest.approx(2.0, abs=1e-14)


@pytest.mark.parametrize("K,phase", [(0.30, -1), (0.60, 1)])
def test_flow_phase_far_from_the_transition(K, phase):
    p, steps, x = pseudo_critical.flow_phase(jnp.asarray(K), chi=4, scheme=trg.TRG(), min_steps=4, max_steps=40)
    assert int(p) == phase and int(steps) < 15
    assert float(x) == pytest.approx(1.5 + 0.5 * phase, abs=0.1)


def test_pseudo_critical_coupling_separates_the_phases_near_kc():
    """BTRG at chi = 6: the tuned K lies between a disordered and an ordered flow 1e-6 apart, the flows from the
    bracket stay critical for many steps, and the finite-chi shift is small (measured 3.7e-4 relative)."""
    tuned = trg.pseudo_critical_coupling(6, method="btrg", tol=1e-8, max_steps=70)
    assert tuned.resolved and tuned.upper - tuned.lower <= 1e-8
    assert abs(tuned.coupling - KC) / KC < 1e-3
    assert min(tuned.lower_steps, tuned.upper_steps) >= 35  # 2 log2(1 / 1e-8) ~ 53 steps at unit amplitude
    for shift, phase in [(-1e-6, -1), (1e-6, 1)]:
        p, _, _ = pseudo_critical.flow_phase(jnp.asarray(tuned.coupling + shift), chi=6, scheme=trg.BTRG(),
                                             min_steps=4, max_steps=70)
        assert int(p) == phase


def test_trg_shift_is_larger_than_btrg_shift():
    """Plain TRG's pseudo-critical coupling at chi = 6 is shifted by more than BTRG's (known: BTRG is more
    accurate at equal chi), and both within 2% of K_c."""
    plain = trg.pseudo_critical_coupling(6, method="trg", tol=1e-6, max_steps=60)
    weighted = trg.pseudo_critical_coupling(6, method="btrg", tol=1e-6, max_steps=60)
    assert abs(weighted.coupling - KC) < abs(plain.coupling - KC) < 0.02 * KC


def test_validation():
    with pytest.raises(ValueError, match="does not enclose"):
        trg.pseudo_critical_coupling(4, bracket=(0.30, 0.35), max_steps=30)
    with pytest.raises(ValueError, match="tol"):
        trg.pseudo_critical_coupling(4, tol=0.0)
    with pytest.raises(ValueError, match="bracket"):
        trg.pseudo_critical_coupling(4, bracket=(0.5, 0.4))
    with pytest.raises(ValueError, match="max_steps"):
        trg.pseudo_critical_coupling(4, min_steps=10, max_steps=5)
    with pytest.raises(ValueError, match="chi"):
        trg.pseudo_critical_coupling(1)


def test_new_couplings_compile_nothing():
    compiles = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    trg.pseudo_critical_coupling(4, tol=1e-3, max_steps=40)
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        result = trg.pseudo_critical_coupling(4, bracket=(0.40, 0.50), tol=1e-4, max_steps=40)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert compiles == []
    assert np.isfinite(result.coupling)


@pytest.mark.parametrize("size", [3, 7])  # dense (D^4 <= 1296) and Arnoldi paths
def test_four_tensor_cylinder_of_a_decoupled_tensor(size):
    """T[l, u, r, d] = A[l, r] B[u, d]: the ring of four has eigenvalues tr(A^4) b_i b_j b_k b_l."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 3))
    b = np.array([1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01])[:size]
    tensor = np.einsum("lr,ud->lurd", a, np.diag(b))
    values, _ = conformal.cylinder_eigenvalues(tensor, 4, 5)
    top = abs(np.trace(np.linalg.matrix_power(a, 4))) * np.array([1.0, 0.5, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(values, top, rtol=1e-9)
    two, _ = conformal.cylinder_eigenvalues(tensor, 2, 2)
    np.testing.assert_allclose(two, abs(np.trace(a @ a)) * np.array([1.0, 0.5]), rtol=1e-12)


def test_four_tensor_cylinder_closer_to_the_cft_at_the_first_steps():
    """TRG at K_c, chi = 8, step 4 (before the truncation drift): x_eps from the cylinder of four tensors is closer to
    1 than from two (finite-size corrections ~ L^-2), and circumference 3 is rejected."""
    two = trg.trg_scaling_dimensions(chi=8, steps=4, num=2)
    four = trg.trg_scaling_dimensions(chi=8, steps=4, num=2, circumference=4)
    assert abs(four.scaling_dimensions[-1, 1] - 1.0) < abs(two.scaling_dimensions[-1, 1] - 1.0)
    assert abs(four.scaling_dimensions[-1, 0] - 0.125) < 5e-3
    with pytest.raises(ValueError, match="circumference"):
        trg.trg_scaling_dimensions(chi=4, steps=2, circumference=3)
