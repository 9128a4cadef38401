"""Scale Hamiltonian and Hamilton-Jacobi actions against their analytic cases (seed 001)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

from jaxrg import scale  # noqa: E402

LAM, A = 0.1, 50.0


def glass_beta(g):
    return LAM * g


def glass_F(g):
    return A / g


def test_hj_action_of_glass_flow_is_A_over_lambda_g():
    # beta = lambda g, F = A / g: S(g) - S(g_ref) = A / lambda (1/g - 1/g_ref), over six decades of g.
    g = jnp.array([1e-3, 0.01, 0.5, 3.0, 40.0, 1e3])
    for g_ref in (1.0, 1e3):
        S = scale.hj_action(glass_beta, glass_F, g, g_ref)
        exact = A / LAM * (1.0 / g - 1.0 / g_ref)
        np.testing.assert_allclose(S, exact, rtol=1e-12, atol=1e-12 * A / LAM)
    # dS/dg = -F / beta by autodiff through the quadrature, and the HJ residual beta S' + F vanishes.
    res = scale.hj_residual(glass_beta, glass_F, lambda x: scale.hj_action(glass_beta, glass_F, x, 1.0))
    for x in (0.02, 0.7, 9.0):
        assert abs(float(res(x))) < 1e-10 * A / (LAM * x**2) * LAM * x


def test_hj_action_nonlinear_flow_closed_form():
    # beta = g (1 - g) on (0, 1), F = g: S = -int dg / (1 - g) = ln(1 - g) + const.
    beta = lambda g: g * (1.0 - g)  # noqa: E731
    F = lambda g: g  # noqa: E731
    g = jnp.array([0.05, 0.3, 0.9, 0.999])
    S = scale.hj_action(beta, F, g, 0.5)
    np.testing.assert_allclose(S, jnp.log((1.0 - g) / 0.5), rtol=1e-12)


def test_action_along_flow_lines_matches_quadrature_and_two_coupling_closed_form():
    # One coupling: S(g(s)) - S(g0) = -int F ds equals the quadrature -int F / beta dg at the flow's end points.
    fa = scale.hj_action_along_flow(glass_beta, glass_F, 0.5, 0.05, 400, save_every=100)
    np.testing.assert_allclose(fa.g, 0.5 * jnp.exp(LAM * fa.s), rtol=1e-9)
    quad = scale.hj_action(glass_beta, glass_F, fa.g, 0.5)
    np.testing.assert_allclose(fa.S, quad, rtol=1e-9)  # RK4, lambda ds = 5e-3: error ~1e-11
    # Two decoupled couplings: beta = (l1 g1, l2 g2), F = A1/g1 + A2/g2 -> S = A1/(l1 g1) + A2/(l2 g2).
    lam = jnp.array([0.1, 0.7])
    amp = jnp.array([50.0, 3.0])
    beta2 = lambda g: lam * g  # noqa: E731
    F2 = lambda g: jnp.sum(amp / g)  # noqa: E731
    S2 = lambda g: jnp.sum(amp / (lam * g))  # noqa: E731
    g0 = jnp.array([0.5, 2.0])
    fa2 = scale.hj_action_along_flow(beta2, F2, g0, 0.01, 300)
    np.testing.assert_allclose(fa2.S[-1], S2(fa2.g[-1]) - S2(g0), rtol=1e-10)
    res = scale.hj_residual(beta2, F2, S2)
    assert abs(float(res(jnp.array([0.3, 1.7])))) < 1e-12


def test_hamilton_equations_by_autodiff_match_hand_derivation():
    field = scale.hamilton_equations(glass_beta, glass_F)
    g, p = 0.8, -3.0
    dg, dp = field((jnp.asarray(g), jnp.asarray(p)))
    assert float(dg) == pytest.approx(LAM * g, rel=1e-15)
    assert float(dp) == pytest.approx(-p * LAM + A / g**2, rel=1e-14)
    H = scale.scale_hamiltonian(glass_beta, glass_F)
    assert float(H(g, p)) == pytest.approx(p * LAM * g + A / g, rel=1e-15)


def test_hamiltonian_conserved_on_rk4_trajectories():
    # One coupling: g = g0 e^{lambda s}, p from H conservation p = (H0 - A/g) / (lambda g).
    traj = scale.hamiltonian_trajectory(glass_beta, glass_F, 1.0, 3.0, 0.01, 2000)
    assert float(traj.max_drift) < 1e-8
    H0 = 3.0 * LAM * 1.0 + A / 1.0
    np.testing.assert_allclose(traj.g, jnp.exp(LAM * traj.s), rtol=1e-10)
    np.testing.assert_allclose(traj.p, (H0 - A / traj.g) / (LAM * traj.g), rtol=1e-9)
    # Two coupled couplings with a nonlinear beta and F: H conserved to 1e-8 relative.
    beta = lambda g: jnp.stack([-g[0] + g[0] * g[1], 0.5 * g[1] - g[0] ** 2])  # noqa: E731
    F = lambda g: g[0] ** 2 + jnp.cos(g[1])  # noqa: E731
    traj2 = scale.hamiltonian_trajectory(beta, F, jnp.array([0.6, 0.2]), jnp.array([0.3, -0.4]), 0.005, 400)
    assert float(traj2.max_drift) < 1e-8 * max(1.0, float(jnp.abs(traj2.H[0])))


def test_hj_momentum_gives_zero_energy_trajectory():
    # p = dS/dg = -F / beta starts the trajectory on the HJ solution: H = 0 and p(s) = S'(g(s)) all along.
    g0 = 2.0
    p0 = -glass_F(g0) / glass_beta(g0)
    traj = scale.hamiltonian_trajectory(glass_beta, glass_F, g0, p0, 0.01, 500)
    assert float(jnp.max(jnp.abs(traj.H))) < 1e-10
    np.testing.assert_allclose(traj.p, -A / (LAM * traj.g**2), rtol=1e-10)


def test_action_across_a_fixed_point_is_rejected():
    with pytest.raises(ValueError, match="beta vanishes"):
        scale.hj_action(glass_beta, glass_F, 0.5, -1.0)  # beta = lambda g vanishes at g = 0, inside [-1, 0.5]
    with pytest.raises(ValueError, match="beta vanishes"):
        scale.hj_action(lambda g: g - 1.0, glass_F, 0.5, 2.0)
    with pytest.raises(ValueError, match="beta vanishes|not finite"):
        scale.hj_action(glass_beta, glass_F, 0.5, 0.0)  # g_ref at the fixed point, where S diverges
    # Under jit no exception can be raised: the result is NaN instead.
    out = jax.jit(lambda x: scale.hj_action(glass_beta, glass_F, x, -1.0))(0.5)
    assert np.isnan(float(out))
    with pytest.raises(ValueError, match="scalar"):
        scale.hj_action(lambda g: jnp.stack([g, g]), glass_F, 0.5, 1.0)
    with pytest.raises(ValueError, match="F must return a scalar"):
        scale.hamiltonian_trajectory(glass_beta, lambda g: jnp.stack([g, g]), 1.0, 1.0, 0.1, 10)
