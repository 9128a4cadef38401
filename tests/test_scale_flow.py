"""Flows in coupling space: integrators against exact solutions, fixed points, linearisation and classification."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

from jaxrg import scale  # noqa: E402

# A linear flow with known spectrum y = (1, 0, -1/2) in a non-orthogonal basis P (columns = scaling directions).
P = jnp.array([[1.0, 0.4, -0.2], [0.3, 1.0, 0.5], [-0.1, 0.2, 1.0]])
Y = jnp.array([1.0, 0.0, -0.5])
M0 = P @ jnp.diag(Y) @ jnp.linalg.inv(P)
G_STAR = jnp.array([0.2, -0.1, 0.4])


def linear_beta(g):
    return M0 @ (g - G_STAR)


def exact_linear(g0, s):
    return G_STAR + jax.scipy.linalg.expm(M0 * s) @ (g0 - G_STAR)


def test_rk4_linear_flow_matches_matrix_exponential_with_fourth_order_error():
    g0 = jnp.array([0.5, 0.3, -0.2])
    errs = []
    for n in (50, 100):
        traj = scale.integrate_flow(linear_beta, g0, 1.0 / n, n)
        assert traj.g.shape == (n + 1, 3) and traj.s.shape == (n + 1,)
        np.testing.assert_allclose(traj.s[-1], 1.0, rtol=1e-14)
        errs.append(float(jnp.max(jnp.abs(traj.g[-1] - exact_linear(g0, 1.0)))))
    assert errs[1] < 1e-9
    # RK4: halving ds divides the global error by 2^4 = 16.
    assert 12.0 < errs[0] / errs[1] < 20.0


def test_logistic_flow_and_dissipation_against_closed_forms():
    # dg/ds = g (1 - g): g(s) = 1 / (1 + (1/g0 - 1) e^-s).
    beta = lambda g: g * (1.0 - g)  # noqa: E731
    traj = scale.integrate_flow(beta, 0.1, 0.01, 400, save_every=100)
    exact = 1.0 / (1.0 + (1.0 / 0.1 - 1.0) * jnp.exp(-traj.s))
    np.testing.assert_allclose(traj.g, exact, rtol=1e-9)
    # Dissipation adds to beta: beta = M0 (g - g*), D = -gamma (g - g*) is the linear flow with M0 - gamma.
    gamma = 0.3
    traj = scale.integrate_flow(linear_beta, jnp.ones(3), 0.01, 100, dissipation=lambda g: -gamma * (g - G_STAR))
    expect = G_STAR + jax.scipy.linalg.expm((M0 - gamma * jnp.eye(3)) * 1.0) @ (jnp.ones(3) - G_STAR)
    np.testing.assert_allclose(traj.g[-1], expect, atol=1e-9)


def test_adaptive_integrator_hits_requested_scales_forward_and_backward():
    g0 = jnp.array([0.5, 0.3, -0.2])
    s_save = jnp.array([0.0, 0.1, 0.7, 2.0])
    sol = scale.integrate_flow_adaptive(linear_beta, g0, s_save, rtol=1e-10, atol=1e-12)
    assert bool(sol.success)
    expect = jnp.stack([exact_linear(g0, s) for s in s_save])
    np.testing.assert_allclose(sol.g, expect, atol=1e-8)
    # Backward in s (towards the ultraviolet) from the end point retraces the flow line back to g0.
    back = scale.integrate_flow_adaptive(linear_beta, sol.g[-1], s_save[::-1], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(back.g, expect[::-1], atol=1e-8)
    # A budget that is too small is reported, not hidden: unreached rows are NaN.
    short = scale.integrate_flow_adaptive(linear_beta, g0, s_save, rtol=1e-12, atol=1e-14, max_steps=3)
    assert not bool(short.success)
    assert np.isnan(np.asarray(short.g[-1])).all()


def test_fixed_points_by_newton_one_and_two_couplings():
    fp = scale.fixed_points(lambda g: g**3 - g, jnp.array([-2.0, -0.3, 0.2, 0.7, 3.0]))
    np.testing.assert_allclose(fp.points, [-1.0, 0.0, 1.0], atol=1e-14)
    assert bool(jnp.all(fp.converged))

    def beta2(g):
        return jnp.stack([g[0] ** 2 + g[1] ** 2 - 4.0, g[0] - g[1]])

    fp2 = scale.fixed_points(beta2, jnp.array([[1.0, 2.0], [3.0, 0.5], [-1.0, -3.0]]))
    r = np.sqrt(2.0)
    np.testing.assert_allclose(fp2.points, [[-r, -r], [r, r]], atol=1e-14)
    # The pure (jittable) variant keeps one row per guess.
    jitted = jax.jit(lambda gs: scale.fixed_points(beta2, gs, unique=False))(jnp.array([[1.0, 2.0], [-1.0, -3.0]]))
    np.testing.assert_allclose(jitted.points, [[r, r], [-r, -r]], atol=1e-14)


def test_linear_flow_is_classified_and_scaling_fields_evolve_as_exponentials():
    lin = scale.linearize(linear_beta, G_STAR)
    np.testing.assert_allclose(lin.matrix, M0, atol=1e-14)
    np.testing.assert_allclose(lin.eigenvalues, Y.astype(complex), atol=1e-12)
    assert scale.classification_labels(lin.classification) == ("relevant", "marginal", "irrelevant")
    np.testing.assert_array_equal(lin.classification, [scale.RELEVANT, scale.MARGINAL, scale.IRRELEVANT])
    # Scaling directions are parallel to the columns of P, and left @ right = 1.
    for i in range(3):
        v = np.real(np.asarray(lin.right_eigenvectors[:, i]))
        p = np.asarray(P[:, i])
        assert abs(abs(v @ p) / (np.linalg.norm(v) * np.linalg.norm(p)) - 1.0) < 1e-12
    np.testing.assert_allclose(lin.left_eigenvectors @ lin.right_eigenvectors, np.eye(3), atol=1e-12)
    # Scaling fields u_i = left[i] . (g - g*) obey du_i/ds = y_i u_i along the integrated flow.
    g0 = jnp.array([0.5, 0.3, -0.2])
    traj = scale.integrate_flow(linear_beta, g0, 0.01, 150)
    u0 = lin.left_eigenvectors @ (g0 - G_STAR)
    u1 = lin.left_eigenvectors @ (traj.g[-1] - G_STAR)
    np.testing.assert_allclose(u1, u0 * jnp.exp(Y * 1.5), atol=1e-9)
    ex = scale.critical_exponents(lin)
    assert float(ex.nu) == pytest.approx(1.0, abs=1e-12)
    assert float(ex.omega) == pytest.approx(0.5, abs=1e-12)


def test_spiral_fixed_point_and_marginal_tolerance():
    # Eigenvalues -0.3 +- 1i: both irrelevant (flow spirals in).
    M = jnp.array([[-0.3, 1.0], [-1.0, -0.3]])
    lin = scale.linearize(lambda g: M @ g, jnp.zeros(2))
    np.testing.assert_allclose(lin.eigenvalues, [-0.3 + 1j, -0.3 - 1j], atol=1e-12)
    np.testing.assert_array_equal(lin.classification, [-1, -1])
    # With a marginal band wider than 0.3 they count as marginal; no relevant direction means nu is NaN.
    lin = scale.linearize(lambda g: M @ g, jnp.zeros(2), marginal_tol=0.5)
    np.testing.assert_array_equal(lin.classification, [0, 0])
    assert np.isnan(float(scale.critical_exponents(lin).nu))


def test_fixed_point_and_exponent_are_differentiable():
    # beta = a - g^2: g* = sqrt(a), y = -2 sqrt(a); forward mode through Newton (implicit function theorem) and eig.
    def g_star_and_y(a):
        beta = lambda g: a - g**2  # noqa: E731
        g_star = scale.find_fixed_point(beta, 1.0).g_star
        return jnp.stack([g_star, jnp.real(scale.linearize(beta, g_star).eigenvalues[0])])

    a = 2.0
    values, derivs = jax.jvp(g_star_and_y, (a,), (1.0,))
    np.testing.assert_allclose(values, [np.sqrt(a), -2.0 * np.sqrt(a)], atol=1e-14)
    np.testing.assert_allclose(derivs, [0.5 / np.sqrt(a), -1.0 / np.sqrt(a)], rtol=1e-10)
    # (Reverse mode through the same machinery is checked in test_scale_bridge.py on nu of an RG map.)


def test_bad_input_gives_clear_errors():
    # beta singular at the fixed point g* = 0: g log|g| (value NaN at 0) and a cusp sign(g) sqrt|g| (infinite slope).
    with pytest.raises(ValueError, match="singular"):
        scale.linearize(lambda g: g * jnp.log(jnp.abs(g)), 0.0)
    with pytest.raises(ValueError, match="singular"):
        scale.linearize(lambda g: jnp.sign(g) * jnp.sqrt(jnp.abs(g)), 0.0)
    with pytest.raises(ValueError, match="not a fixed point"):
        scale.linearize(linear_beta, G_STAR + 0.1)
    with pytest.raises(ValueError, match="no Newton iteration converged"):
        scale.fixed_points(lambda g: g**2 + 1.0, jnp.array([0.5, 2.0]))
    with pytest.raises(ValueError, match="n_steps"):
        scale.integrate_flow(linear_beta, jnp.ones(3), 0.1, 10.5)
    with pytest.raises(ValueError, match="save_every"):
        scale.integrate_flow(linear_beta, jnp.ones(3), 0.1, 10, save_every=3)
    with pytest.raises(ValueError, match="s_save"):
        scale.integrate_flow_adaptive(linear_beta, jnp.ones(3), jnp.array([0.0, 1.0, 0.5]))
    with pytest.raises(ValueError, match="beta"):
        scale.integrate_flow("not a function", jnp.ones(3), 0.1, 10)
