"""The linearised RG map: exact spectra at the trivial fixed points, Newton's method, Z2 sectors, compile policy.

At the low-temperature fixed point (two ordered states) a perturbation changes the partition function at first order
only through its expectation in each ordered state: the sum (the identity, removed by the normalisation) and the
difference (the magnetic field, Z2-odd). A field h couples to the total magnetisation ``N m``, so under b = 2 it
grows by ``b^d = 4`` (x = 0: the discontinuity fixed point); everything else is null at first order and has
eigenvalue 0. At the high-temperature fixed point ``e0^4`` only the identity acts at first order: nothing is relevant,
and the remaining eigenvalues belong to null directions (leg states that the neighbours' ``e0`` never contracts
with): changes of the leg bases (gauge, projected out) and corners of short loops, which plain HOTRG keeps
(eigenvalue 1) and Gilt removes (eigenvalue 0).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrg import exact
from jaxrg.rg.trg import linearized

_COUNT = {"n": 0}


def _listener(event: str, duration: float, **kwargs) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        _COUNT["n"] += 1


jax.monitoring.register_event_duration_secs_listener(_listener)


def _self_reference(tensor):
    """The isometries the step chooses for ``tensor`` (its own sign reference)."""
    chi = tensor.shape[0]
    _, ref = linearized.linearized_rg_map(tensor, jnp.ones((2, chi * chi, chi)))
    return ref


@pytest.mark.parametrize("projectors", ["full", "frozen"])
def test_low_temperature_fixed_point(projectors):
    """Z2-odd sector: the field, eigenvalue 4 (x = 0); all other eigenvalues 0; the tensor is fixed."""
    t = linearized.low_temperature_tensor(4)
    ref = _self_reference(t)
    image, _ = linearized.linearized_rg_map(t, ref)
    assert float(jnp.linalg.norm(image - t)) < 1e-12
    spec = linearized.linearized_spectrum(t, ref, num=6, projectors=projectors, remove_gauge=True)
    np.testing.assert_allclose(spec.odd[0], 4.0, atol=1e-10)
    assert spec.x_odd[0] == pytest.approx(0.0, abs=1e-10)
    assert np.max(np.abs(spec.odd[1:])) < 1e-8
    assert np.max(np.abs(spec.even)) < 1e-8


def test_high_temperature_fixed_point():
    """Gauge directions removed, every eigenvalue is 0, with and without Gilt. Without the quarter turn plain HOTRG
    would keep the (chi - 1)^2 corners of short loops on one corner (``e_a`` on the left leg, ``e_b`` on the lower
    leg, ``a, b != 0``: eigenvalue 1); the turn moves such a corner to a corner the next merges do not pass on, so
    the map is nilpotent there. No perturbation reaches the identity component ``e0^4`` after the normalised step."""
    chi = 4
    t = linearized.high_temperature_tensor(chi)
    ref = _self_reference(t)
    image, _ = linearized.linearized_rg_map(t, ref)
    assert float(jnp.linalg.norm(image - t)) < 1e-12
    for epsilon in (0.0, 1e-6):
        spec = linearized.linearized_spectrum(t, ref, epsilon=epsilon, num=chi**4 // 2, remove_gauge=True)
        assert np.max(np.abs(np.concatenate([spec.even, spec.odd]))) < 1e-9, (epsilon, spec)
    d = jax.random.normal(jax.random.PRNGKey(1), t.shape)
    out = linearized._jvp(t, ref, d, epsilon=0.0, frozen=False)
    assert abs(float(out[0, 0, 0, 0])) < 1e-12


def test_critical_fixed_point_by_newton():
    """chi = 6 (three states per Z2 sector), Gilt 1e-3: Newton's method reaches |R(T) - T| <= 1e-8 from the most
    stationary tensor of the flow (flow residuals >= 1e-2 there). The Jacobian's spectrum is that of b = 2 and a
    quarter turn, an operator of spin s at ``i^s 2^(2 - x)``: Z2-odd sigma at 2^(15/8) = 3.668, then the total
    derivatives d sigma (x = 9/8, spin 1: a purely imaginary pair); Z2-even epsilon at 2, then the stress tensor
    T, T-bar (x = 2, spin 2: real, negative). Seen: x_sigma 0.139, x_dsigma 1.18, x_epsilon 0.995, T at -0.98 and
    -0.93."""
    fp = linearized.rg_fixed_point(chi=6, epsilon=1e-3, flow_steps=10, newton_steps=30)
    assert fp.residual <= 1e-8
    assert np.min(fp.flow_residuals) > 1e-3, "the flow alone must not be the fixed point"
    assert fp.tensor.shape == (6,) * 4
    image, _ = linearized.linearized_rg_map(fp.tensor, fp.reference, 1e-3)
    assert float(jnp.linalg.norm(image - fp.tensor)) <= 1e-8
    spec = linearized.linearized_spectrum(fp.tensor, fp.reference, epsilon=1e-3, num=4)
    assert abs(spec.x_odd[0] - 0.125) < 0.02, spec.x_odd
    assert abs(spec.x_even[0] - 1.0) < 0.02, spec.x_even
    assert abs(spec.odd[0].imag) < 1e-8 and abs(spec.even[0].imag) < 1e-8
    d_sigma = spec.odd[1:3]
    assert np.all(np.abs(d_sigma.real) < 1e-2 * np.abs(d_sigma)) and d_sigma[0] == pytest.approx(np.conj(d_sigma[1]))
    assert np.all(np.abs(spec.x_odd[1:3] - 9 / 8) < 0.1), spec.x_odd
    spin2 = spec.even[1:3]
    assert np.all(np.abs(spin2.imag) < 1e-8) and np.all(spin2.real < 0), spin2
    assert np.all(np.abs(np.abs(spin2) - 1.0) < 0.1), spin2
    # the fixed point is isolated: a flow from the map's own critical coupling (which stays near it longer) leads
    # Newton to the same spectrum
    pc = linearized.linearized_pseudo_critical_coupling(6, epsilon=1e-3, tol=1e-7, max_steps=24)
    assert pc.resolved and abs(pc.coupling / exact.CRITICAL_COUPLING - 1) < 5e-3
    other = linearized.rg_fixed_point(pc.coupling, chi=6, epsilon=1e-3, flow_steps=10, newton_steps=30)
    assert other.coupling == pc.coupling and other.residual <= 1e-8
    assert np.min(other.flow_residuals) < np.min(fp.flow_residuals)
    again = linearized.linearized_spectrum(other.tensor, other.reference, epsilon=1e-3, num=4)
    np.testing.assert_allclose(np.abs(again.even[:3]), np.abs(spec.even[:3]), rtol=1e-6)
    np.testing.assert_allclose(np.abs(again.odd[:1]), np.abs(spec.odd[:1]), rtol=1e-6)


def test_second_call_compiles_nothing():
    """A new coupling and a new fixed point with the same shapes reuse every compiled program."""
    kw = dict(chi=6, epsilon=1e-3, flow_steps=10, newton_steps=30)  # the critical test's programs
    fp = linearized.rg_fixed_point(0.44, **kw)
    linearized.linearized_spectrum(fp.tensor, fp.reference, epsilon=1e-3, num=3)
    before = _COUNT["n"]
    fp = linearized.rg_fixed_point(exact.CRITICAL_COUPLING, **kw)
    linearized.linearized_spectrum(fp.tensor, fp.reference, epsilon=1e-3, num=3)
    assert _COUNT["n"] - before == 0


def test_validation():
    with pytest.raises(ValueError, match="even_states must be an int in"):
        linearized.rg_fixed_point(chi=5, even_states=5)
    with pytest.raises(ValueError, match="even_states must be an int in"):
        linearized.linearized_spectrum(jnp.zeros((4,) * 4), jnp.ones((2, 16, 4)), even_states=0)
    with pytest.raises(ValueError, match="even_states must be an int in"):
        linearized.z2_site_tensor(0.44, 4, even_states=4)  # would silently drop the odd state
    with pytest.raises(ValueError, match="epsilon"):
        linearized.rg_fixed_point(chi=4, epsilon=0.5)
    t = linearized.high_temperature_tensor(2)
    with pytest.raises(ValueError, match="projectors"):
        linearized.linearized_spectrum(t, _self_reference(t), projectors="half")
    with pytest.raises(ValueError, match="shape"):
        linearized.rg_fixed_point(chi=4, tensor=jnp.zeros((2, 2, 2, 2)))
    with pytest.raises(ValueError, match="neither K nor tensor"):
        linearized.rg_fixed_point(0.44, chi=4, pseudo_critical=True)
    fp = linearized.rg_fixed_point(chi=4, flow_steps=4, newton_steps=0, pseudo_critical=True)
    assert fp.coupling == linearized.linearized_pseudo_critical_coupling(4).coupling != exact.CRITICAL_COUPLING
    with pytest.raises(ValueError, match="does not enclose"):
        linearized.linearized_pseudo_critical_coupling(4, bracket=(0.2, 0.3))


def test_unequal_z2_sectors_keep_their_layout():
    """chi = 5 with two even and three odd states per leg (not the default, ceil(chi / 2) = 3 even): the flow from
    K_c keeps every entry of odd total parity exactly zero (the spin-flip symmetry in the chosen layout), puts weight
    on all three odd states of a leg (the odd sector is used in full) and stays between the trivial fixed points."""
    chi, even_states = 5, 2
    t0 = linearized.z2_site_tensor(jnp.asarray(exact.CRITICAL_COUPLING), chi, even_states)
    tensors, _, _, ratios = linearized.linearized_rg_flow(t0, jnp.ones((2, chi * chi, chi)), steps=6,
                                                          even_states=even_states)
    odd_entries = linearized._sector_mask(chi, True, even_states)
    last = np.asarray(tensors[-1])
    assert np.max(np.abs(last.reshape(-1)[odd_entries])) < 1e-14 * np.max(np.abs(last))
    leg_weight = np.einsum("lurd,lurd->l", last, last)  # weight of each state of the left leg
    assert np.all(leg_weight[even_states:] > 1e-8), leg_weight
    assert np.all((np.asarray(ratios)[2:] > 1.05) & (np.asarray(ratios)[2:] < 1.95)), ratios
    np.testing.assert_array_equal(linearized._parity(chi), [0, 0, 0, 1, 1])


def test_gauge_directions_leave_the_partition_function_unchanged():
    """Every gauge direction changes the 2x2 torus partition function by zero at first order (to 1e-12 of a generic
    direction's change), in both Z2 sectors. A generic tensor has chi^2 / 2 generators per bond direction and sector
    (parity-preserving blocks of X: even sector; parity-changing: odd), all independent except X = 1 on each
    direction (no change): chi^2 - 2 even and chi^2 odd gauge directions."""
    chi = 4
    key = jax.random.PRNGKey(3)
    t = jax.random.normal(key, (chi,) * 4)
    even = np.zeros(chi**4)
    even[linearized._sector_mask(chi, False)] = 1.0
    t = t * jnp.asarray(even.reshape(t.shape))

    def torus(x):  # A B / C D, periodic in both directions
        return jnp.einsum("aebf,bgah,cfde,dhcg->", x, x, x, x)

    generic = jax.random.normal(jax.random.PRNGKey(4), t.shape)
    scale = abs(float(jax.jvp(torus, (t,), (generic,))[1]))
    for odd in (False, True):
        basis = linearized.gauge_directions(t, odd)
        assert basis.shape[1] == chi**2 - (0 if odd else 2)
        idx = linearized._sector_mask(chi, odd)
        for column in basis.T:
            d = np.zeros(chi**4)
            d[idx] = column
            change = float(jax.jvp(torus, (t,), (jnp.asarray(d.reshape(t.shape)),))[1])
            assert abs(change) < 1e-12 * scale
