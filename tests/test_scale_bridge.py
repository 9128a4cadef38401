"""Bridge from discrete RG maps to continuous flows and exponents, on maps with known fixed points and exponents."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

from jaxrg import scale  # noqa: E402

K_C = math.log1p(math.sqrt(2.0)) / 2.0  # 2D Ising critical coupling


def ising_toy_map(K):
    """2D Ising-like map with b = 2: fixed point K_c, dR/dK = 2 = b^{y_t} with y_t = 1."""
    return K_C + 2.0 * (K - K_C) + 0.5 * (K - K_C) ** 2


def square(t):
    return t**2


def test_toy_ising_map_reads_y_t_equal_one():
    an = scale.analyze_map(ising_toy_map, 0.45, 2.0)
    assert bool(an.converged)
    assert float(an.g_star) == pytest.approx(K_C, abs=1e-15)
    np.testing.assert_allclose(an.rg_eigenvalues, [2.0], atol=1e-13)
    np.testing.assert_allclose(an.eigenvalues, [1.0], atol=1e-13)
    assert float(an.y_t) == pytest.approx(1.0, abs=1e-13)
    assert float(an.nu) == pytest.approx(1.0, abs=1e-13)
    assert scale.classification_labels(an.classification) == ("relevant",)
    np.testing.assert_allclose(an.matrix, [[1.0]], atol=1e-13)


def test_beta_from_map_first_order_and_exact_linearisation():
    # First order, beta = (R - g)/ln b: same fixed point, slope (lambda - 1)/ln b = 1/ln 2 instead of y_t = 1.
    beta1 = scale.beta_from_map(ising_toy_map, 2.0)
    fp = scale.fixed_points(beta1, jnp.array([0.3, 0.5]))
    np.testing.assert_allclose(fp.points, [K_C], atol=1e-15)
    lin1 = scale.linearize(beta1, K_C)
    assert float(jnp.real(lin1.eigenvalues[0])) == pytest.approx(1.0 / math.log(2.0), rel=1e-12)
    # Preconditioned at g*: d beta/dg = log(dR/dg)/ln b exactly, so the flow toolkit reads y_t = 1.
    beta_exact = scale.beta_from_map(ising_toy_map, 2.0, g_star=K_C)
    lin = scale.linearize(beta_exact, K_C)
    assert float(jnp.real(lin.eigenvalues[0])) == pytest.approx(1.0, abs=1e-13)
    assert float(scale.critical_exponents(lin).nu) == pytest.approx(1.0, abs=1e-13)


def test_one_dimensional_ising_decimation():
    # b = 2 decimation: t' = t^2 with t = tanh K. Zero-temperature fixed point t* = 1 has lambda = 2 (y = 1; the
    # correlation length xi = -1/ln t ~ 1/(1 - t) so nu = 1 in 1 - t); t* = 0 has lambda = 0 (y = -inf).
    an = scale.analyze_map(square, 0.8, 2.0)
    assert float(an.g_star) == pytest.approx(1.0, abs=1e-14)
    assert float(an.y_t) == pytest.approx(1.0, abs=1e-13)
    an0 = scale.analyze_map(square, 0.3, 2.0)
    assert abs(float(an0.g_star)) < 1e-14
    # lambda = 2 t* vanishes at t* = 0: y = ln(lambda)/ln 2 is -inf, or hugely negative at a round-off-sized t*.
    assert float(jnp.real(an0.eigenvalues[0])) < -40.0
    assert scale.classification_labels(an0.classification) == ("irrelevant",)
    assert np.isnan(float(an0.nu))
    # In the coupling K itself, tanh K' = tanh^2 K flows to the K = 0 fixed point.
    anK = scale.analyze_map(lambda K: jnp.arctanh(jnp.tanh(K) ** 2), 0.3, 2.0)
    assert abs(float(anK.g_star)) < 1e-12
    assert float(jnp.real(anK.eigenvalues[0])) < -20.0


def test_two_coupling_map_with_known_jacobian():
    # R(g) = g* + J (g - g*) + quadratic, J = P diag(2, 1/4) P^-1: y = (1, -2), scaling directions = columns of P.
    P = jnp.array([[1.0, 0.5], [0.3, 1.0]])
    J = P @ jnp.diag(jnp.array([2.0, 0.25])) @ jnp.linalg.inv(P)
    g_star = jnp.array([0.3, -0.2])

    def rg_map(g):
        d = g - g_star
        return g_star + J @ d + 0.3 * d**2

    an = scale.analyze_map(rg_map, jnp.array([0.25, -0.1]), 2.0)
    np.testing.assert_allclose(an.g_star, g_star, atol=1e-14)
    np.testing.assert_allclose(an.jacobian, J, atol=1e-13)
    np.testing.assert_allclose(an.eigenvalues, [1.0, -2.0], atol=1e-12)
    np.testing.assert_array_equal(an.classification, [1, -1])
    assert float(an.nu) == pytest.approx(1.0, abs=1e-12)
    assert float(an.omega) == pytest.approx(2.0, abs=1e-12)
    M_exact = P @ jnp.diag(jnp.array([1.0, -2.0])) @ jnp.linalg.inv(P)
    np.testing.assert_allclose(an.matrix, M_exact, atol=1e-12)
    # Scaling fields: left eigenvectors are biorthogonal to the columns of P (left @ P diagonal).
    LP = np.asarray(an.left_eigenvectors @ P)
    np.testing.assert_allclose(LP - np.diag(np.diag(LP)), 0.0, atol=1e-12)
    # The continuous flow built from the map has the same fixed point and exponents.
    beta = scale.beta_from_map(rg_map, 2.0, g_star=an.g_star)
    lin = scale.linearize(beta, an.g_star)
    np.testing.assert_allclose(lin.eigenvalues, [1.0, -2.0], atol=1e-12)


def test_mcrg_matrix_with_ising_eigenvalues():
    # A linearised MCRG matrix with lambda_h = 2^(15/8) and lambda_t = 2 (in a rotated operator basis).
    Q = jnp.array([[1.0, 0.2], [-0.4, 1.0]])
    T = Q @ jnp.diag(jnp.array([2.0, 2.0 ** (15 / 8)])) @ jnp.linalg.inv(Q)
    ex = scale.rg_matrix_exponents(T, 2.0, thermal_index=1)
    np.testing.assert_allclose(ex.eigenvalues, [15 / 8, 1.0], atol=1e-13)
    assert float(ex.nu) == pytest.approx(1.0, abs=1e-13)


def test_exponent_is_differentiable_through_the_fixed_point():
    # R(K) = K_c + a (K - K_c) + c (K - K_c)^2: nu = ln 2 / ln a, d nu/da = -ln 2 / (a ln^2 a).
    def nu(a):
        return scale.analyze_map(lambda K: K_C + a * (K - K_C) + 0.5 * (K - K_C) ** 2, 0.45, 2.0).nu

    a = 2.5
    value, grad = jax.value_and_grad(nu)(a)
    assert float(value) == pytest.approx(math.log(2) / math.log(a), rel=1e-12)
    assert float(grad) == pytest.approx(-math.log(2) / (a * math.log(a) ** 2), rel=1e-9)


def test_polynomial_map_from_sampled_pairs():
    K = jnp.linspace(0.40, 0.48, 9)
    R = scale.polynomial_map(K, ising_toy_map(K), 2)
    an = scale.analyze_map(R, 0.45, 2.0)
    assert float(an.g_star) == pytest.approx(K_C, abs=1e-10)
    assert float(an.y_t) == pytest.approx(1.0, abs=1e-9)


def test_bad_maps_give_clear_errors():
    with pytest.raises(ValueError, match="b .*must be > 1"):
        scale.analyze_map(ising_toy_map, 0.45, 1.0)
    with pytest.raises(ValueError, match="no fixed point"):
        scale.analyze_map(lambda g: g + 1.0 + g**2, 0.1, 2.0)
    with pytest.raises(ValueError, match="not a fixed point"):
        scale.beta_from_map(ising_toy_map, 2.0, g_star=0.3)
    with pytest.raises(ValueError, match="eigenvalue"):
        scale.beta_from_map(lambda g: -g, 2.0, g_star=0.0)
    with pytest.raises(ValueError, match="square"):
        scale.rg_matrix_exponents(jnp.ones((2, 3)), 2.0)


def test_learned_flow_model_plugs_into_the_bridge():
    # A jaxrg.rg.flow.FlowModel (J' = J + f_theta(J), an equinox MLP) with weights set so that
    # f(J) = a tanh(w (J - K_c)): fixed point K_c and dR/dJ = 1 + a w = 2 = b^{y_t}, so y_t = 1.
    import equinox as eqx

    from jaxrg.rg.flow import FlowModel
    from jaxrg.rg.flow import map_exponents as flow_linearize

    w, a = 4.0, 0.25
    model = FlowModel(jax.random.PRNGKey(0), 1, width=1, depth=1)
    model = eqx.tree_at(
        lambda m: (m.mlp.layers[0].weight, m.mlp.layers[0].bias, m.mlp.layers[1].weight, m.mlp.layers[1].bias),
        model,
        (jnp.array([[w]]), jnp.array([-w * K_C]), jnp.array([[a]]), jnp.array([0.0])),
    )
    an = scale.analyze_map(model.step, jnp.array([0.42]), 2.0)
    np.testing.assert_allclose(an.g_star, [K_C], atol=1e-12)
    assert float(an.y_t) == pytest.approx(1.0, abs=1e-10)
    # Same nu as the learned-flow module's own eigen-analysis.
    assert float(an.nu) == pytest.approx(float(flow_linearize(model, an.g_star).nu), abs=1e-10)
    # Its continuous beta (exact at K_c) drives the flow toolkit: K_c is a relevant fixed point with y = 1.
    beta = scale.beta_from_map(model.step, 2.0, g_star=an.g_star)
    lin = scale.linearize(beta, an.g_star)
    np.testing.assert_allclose(lin.eigenvalues, [1.0], atol=1e-10)
