"""Learned RG flows: CD vs exact-KL gradients, the infinite-temperature fixed point, and the analysis tools.

Statistical tests state their tolerances; seeds are fixed and printed on failure.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrg import scale
from jaxrg.rg import flow as fl
from jaxrg.sampling.multispin import patch_operator_sums


def test_enumeration_table_matches_brute_force():
    space = fl.coupling_space(3)
    table = fl.enumeration_table(space)
    assert math.isclose(np.exp(table.log_multiplicity).sum(), 2**16)
    # brute force moments of a random 4x4 model at J' from all 2^16 states
    x = np.arange(2**16)[:, None]
    states = (1 - 2 * ((x >> np.arange(16)) & 1)).astype(np.int8).reshape(-1, 4, 4)
    ops = np.asarray(fl.coupling_operators(jnp.asarray(states), space, jnp.float64))
    J = np.array([0.3, -0.05, 0.08])
    w = np.exp(16 * ops @ J - (16 * ops @ J).max())
    brute = (w / w.sum()) @ ops
    np.testing.assert_allclose(fl.exact_model_moments(jnp.asarray(J), table), brute, rtol=1e-10, atol=1e-12)


def test_cd_gradient_agrees_with_exact_kl_gradient():
    """CD-k model moments vs exact enumeration on the 4x4 coarse lattice, from blocked 8x8 data."""
    seed = 7
    space = fl.coupling_space(3)
    key_data, key_cd = jax.random.split(jax.random.key(seed))
    J_fine = jnp.array([[0.42, 0.03, 0.0]])
    data = fl.blocked_data(key_data, J_fine, space, 8, n_chains=64, n_thermalize=100, n_samples=8, sweeps_between=4)
    table = fl.enumeration_table(space)
    for J_coarse in (jnp.array([0.25, 0.0, 0.0]), jnp.array([0.45, 0.08, 0.05])):
        exact_grad = np.asarray(fl.exact_model_moments(J_coarse, table) - data.moments[0])
        cd = jax.jit(fl.cd_model_moments, static_argnums=(3, 4))(key_cd, J_coarse, data.spins[0], space, 10)
        cd_grad = np.asarray(cd - data.moments[0])
        cosine = cd_grad @ exact_grad / np.linalg.norm(cd_grad) / np.linalg.norm(exact_grad)
        ratio = np.linalg.norm(cd_grad) / np.linalg.norm(exact_grad)
        msg = f"seed {seed}, J'={J_coarse}: cd {cd_grad}, exact {exact_grad}"
        assert np.linalg.norm(exact_grad) > 0.05, msg  # a gradient worth comparing
        assert cosine > 0.95, msg
        assert 0.6 < ratio < 1.25, msg  # CD-k under-relaxes: same sign, comparable magnitude
        big = np.abs(exact_grad) > 0.3 * np.abs(exact_grad).max()
        assert np.all(np.sign(cd_grad[big]) == np.sign(exact_grad[big])), msg


def test_cd_surrogate_gradient_is_chain_rule_of_moment_difference():
    """d(surrogate)/d(theta) equals (m_J' - m_b) . dJ'/dtheta, the chain rule the CD estimator relies on."""
    space = fl.coupling_space(1)
    flow = fl.FlowModel(jax.random.key(0), 1, width=4, depth=1)
    # any starting configurations and data moments will do for the chain rule (blocked_data is tested above)
    spins = jnp.where(jax.random.bernoulli(jax.random.key(1), 0.5, (2, 4, 4, 4)), 1, -1).astype(jnp.int8)
    data = fl.FlowData(jnp.array([[0.3], [0.5]]), jnp.array([[0.6], [1.2]]), spins)
    key = jax.random.key(2)
    loss = lambda f: fl.cd_loss(f, key, data, space, 3)  # noqa: E731
    loss_and_grad = eqx.filter_jit(eqx.filter_value_and_grad(loss, has_aux=True))
    (surrogate, diff), grads = loss_and_grad(flow)
    jac = eqx.filter_jacfwd(lambda f: f.step(data.couplings))(flow)
    expected = jax.tree.map(lambda j: jnp.tensordot(diff, j, axes=([0, 1], [0, 1])) / 2, jac)
    for g, e in zip(jax.tree.leaves(grads), jax.tree.leaves(expected)):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-8)  # float32 network


SMALL_SPACE = fl.coupling_space(1)._replace(box_high=(0.3,))
SMALL_EXACT = fl.TrainingConfig(
    L=8, loss="exact", rounds=1, betas=(0.0,), couplings_per_round=48, n_chains=8, n_thermalize=30,
    n_samples=8, sweeps_between=2, steps_per_round=600, batch_size=32, learning_rate=1e-2, anchored=False,
)


def test_learned_flow_maps_infinite_temperature_to_itself():
    """Trained on small couplings, the flow sends J = 0 (independent spins, majority-blocked: independent) to 0.

    The unanchored network (``anchored=False``) has to learn this from the data; the default (anchored) flow has it
    built in, see test_anchored_flow_fixes_the_origin.
    """
    seed = 3
    result = fl.train_flow(jax.random.key(seed), SMALL_SPACE, SMALL_EXACT)
    f0 = float(result.flow(jnp.zeros(1, jnp.float32))[0])
    # statistical resolution: blocked moments from 1024 coarse sites per coupling, ~48 couplings -> ~0.005
    assert abs(f0) < 0.02, f"seed {seed}: f(0) = {f0}"
    # and the flow is attracted to J = 0 at high temperature: |J'| < J for J in the box
    J = jnp.array([[0.1], [0.2]], jnp.float32)
    assert np.all(np.abs(np.asarray(result.flow.step(J))) < np.asarray(J)), f"seed {seed}"


def test_anchored_flow_fixes_the_origin():
    """f(J) = g(J) - g(0): the infinite-temperature point is an exact fixed point for any weights, and the
    symmetrised 5-coupling flow stays equivariant (x <-> y swaps nn_x and nn_y)."""
    space = fl.coupling_space(5)
    flow = fl.FlowModel(jax.random.key(4), 5, width=8, depth=2, scale=0.5, symmetries=space.symmetries,
                        anchored=True)
    # perturb all weights so that the raw network has a sizeable g(0)
    flow = jax.tree.map(lambda x: x + 0.3 if eqx.is_inexact_array(x) else x, flow)
    raw = fl.FlowModel(jax.random.key(4), 5, width=8, depth=2, scale=0.5, symmetries=space.symmetries)
    raw = jax.tree.map(lambda x: x + 0.3 if eqx.is_inexact_array(x) else x, raw)
    zero = jnp.zeros(5)
    assert float(jnp.max(jnp.abs(raw(zero)))) > 0.05  # the unanchored network does not fix the origin
    np.testing.assert_array_equal(np.asarray(flow(zero)), np.zeros(5))
    J = jnp.array([0.3, 0.2, 0.05, -0.02, 0.01])
    swap = np.array([1, 0, 2, 3, 4])
    np.testing.assert_allclose(flow(J[swap]), flow(J)[swap], atol=1e-12)
    np.testing.assert_allclose(flow(J), raw(J) - raw(zero), atol=1e-12)


def _synthetic_flow(J_star, eigenvalues, P, curvature=0.0):
    M = P @ np.diag(eigenvalues) @ np.linalg.inv(P)
    A = jnp.asarray(M - np.eye(len(eigenvalues)))

    def f(J):
        d = J - J_star
        return A @ d + curvature * d * d

    return f, M


def test_newton_and_eigen_analysis_recover_synthetic_fixed_point():
    J_star = jnp.array([0.35, 0.06, -0.02])
    P = np.array([[1.0, 0.3, 0.1], [0.2, 1.0, -0.4], [0.1, 0.2, 1.0]])
    f, M = _synthetic_flow(J_star, [2.0, 0.5, 0.25], P, curvature=0.8)
    found = scale.find_fixed_point(f, jnp.array([0.45, 0.0, 0.0]))
    assert bool(found.converged)
    np.testing.assert_allclose(found.g_star, J_star, atol=1e-10)
    lin = fl.map_exponents(f, found.g_star)
    np.testing.assert_allclose(np.real(lin.rg_eigenvalues), [2.0, 0.5, 0.25], atol=1e-10)
    np.testing.assert_allclose(np.imag(lin.rg_eigenvalues), 0.0, atol=1e-10)
    np.testing.assert_allclose(np.real(lin.eigenvalues), np.log([2.0, 0.5, 0.25]) / np.log(2), atol=1e-10)
    np.testing.assert_allclose(float(lin.nu), 1.0, atol=1e-10)  # ln 2 / ln 2
    assert list(np.asarray(lin.classification)) == [1, -1, -1]  # one relevant, two irrelevant
    # the decomposition reassembles the Jacobian of the map
    recon = lin.right_eigenvectors @ jnp.diag(lin.rg_eigenvalues) @ lin.left_eigenvectors
    np.testing.assert_allclose(np.real(np.asarray(recon)), M, atol=1e-10)
    # right eigenvector of the relevant direction is P's first column (up to normalisation)
    v = np.real(np.asarray(lin.right_eigenvectors[:, 0]))
    np.testing.assert_allclose(v / v[0], P[:, 0] / P[0, 0], atol=1e-10)


def test_analyze_flow_recovers_a_synthetic_network_flow():
    """A FlowModel with weights set to f(J) = a tanh(w (J - K0)): fixed point K0, lambda_t = 1 + a w, and on the
    one-coupling axis K_c = K0 (the orbit from K flows to the sink on its side of K0)."""
    K0, w, a = 0.43, 4.0, 0.25
    model = fl.FlowModel(jax.random.key(0), 1, width=1, depth=1)
    model = eqx.tree_at(
        lambda m: (m.mlp.layers[0].weight, m.mlp.layers[0].bias, m.mlp.layers[1].weight, m.mlp.layers[1].bias),
        model, (jnp.array([[w]]), jnp.array([-w * K0]), jnp.array([[a]]), jnp.array([0.0])),
    )
    res = fl.analyze_flow(model, fl.coupling_space(1))
    np.testing.assert_allclose(res.fixed_point, [K0], atol=1e-10)
    np.testing.assert_allclose(np.real(res.eigenvalues), [1 + a * w], atol=1e-10)
    np.testing.assert_allclose(res.nu, math.log(2) / math.log(1 + a * w), atol=1e-10)
    assert res.n_relevant == 1
    np.testing.assert_allclose(res.K_c, K0, atol=1e-8)


def test_fixed_point_is_differentiable_by_implicit_function_theorem():
    P = np.array([[1.0, 0.3], [0.2, 1.0]])

    def fixed_point(shift):
        f, _ = _synthetic_flow(jnp.array([0.3, 0.1]) + shift, [1.8, 0.4], P, curvature=0.5)
        return scale.find_fixed_point(f, jnp.array([0.35, 0.0])).g_star

    jac = jax.jacobian(fixed_point)(jnp.zeros(2))
    np.testing.assert_allclose(jac, np.eye(2), atol=1e-8)


def test_critical_coupling_on_linear_synthetic_flow_and_its_gradient():
    """Linear flow: the critical surface is u . (J - J*) = 0, so K_c = u . J* / u . e and dK_c/dJ* = u / u . e."""
    P = np.array([[1.0, 0.3, 0.1], [0.2, 1.0, -0.4], [0.1, 0.2, 1.0]])
    e = jnp.array([1.0, 0.0, 0.0])
    J_star0 = jnp.array([0.35, 0.06, -0.02])

    def kc(J_star):
        f, _ = _synthetic_flow(J_star, [1.9, 0.5, 0.25], P)
        fp = scale.find_fixed_point(f, jnp.array([0.3, 0.0, 0.0])).g_star
        lin = fl.map_exponents(f, jax.lax.stop_gradient(fp))
        return fl.critical_coupling(f, fp, lin.left_eigenvectors[0], e, n_maps=15, escape=10.0)

    u = np.linalg.inv(P)[0]
    expected = u @ np.asarray(J_star0) / u[0]
    np.testing.assert_allclose(float(kc(J_star0)), expected, atol=1e-9)
    np.testing.assert_allclose(jax.grad(kc)(J_star0), u / u[0], atol=1e-6)


def test_critical_coupling_nan_without_bracket():
    f = lambda J: -0.5 * J  # noqa: E731  (only the trivial sink)
    K = fl.critical_coupling(f, jnp.array([0.4]), jnp.array([1.0]), jnp.array([1.0]))
    assert np.isnan(float(K))


def test_hmc_couplings_concentrate_near_the_fixed_point():
    """With f(J) = J - 0.4 the HMC target is a Gaussian of mean 0.4 and sd 1/sqrt(2 beta) (inside the box)."""
    seed = 11
    space = fl.coupling_space(1)
    beta = 200.0

    def flow(J):
        return J - 0.4

    uniform = np.asarray(fl.sample_couplings(jax.random.key(seed), flow, space, 64, beta=0.0))[:, 0]
    hmc = np.asarray(fl.sample_couplings(jax.random.key(seed), flow, space, 256, beta=beta, uniform_fraction=0.0,
                                         n_trajectories=30))[:, 0]
    sd = 1 / math.sqrt(2 * beta)
    assert np.all((hmc >= 0.0) & (hmc <= 0.8)) and np.all((uniform >= 0.0) & (uniform <= 0.8))
    # 256 (nearly independent) chains: mean within 4 standard errors, sd within 20%
    assert abs(hmc.mean() - 0.4) < 4 * sd / 16, f"seed {seed}: mean {hmc.mean()}"
    assert abs(hmc.std() / sd - 1) < 0.2, f"seed {seed}: sd {hmc.std()} vs {sd}"
    assert uniform.std() > 0.15  # broad exploration: uniform on [0, 0.8] has sd 0.23
    mixed = np.asarray(fl.sample_couplings(jax.random.key(seed), flow, space, 64, beta=beta, uniform_fraction=0.5))
    assert np.sum(np.abs(mixed[:, 0] - 0.4) < 3 * sd) >= 32


def test_coupling_operators_of_nn_space():
    s = jnp.ones((4, 4), jnp.int8).at[0, 0].set(-1)
    ops = fl.coupling_operators(s, fl.coupling_space(1), jnp.float64)
    np.testing.assert_allclose(ops, [(32 - 8) / 16])  # 4 broken bonds of 32
    np.testing.assert_allclose(
        fl.coupling_operators(s, fl.coupling_space(5), jnp.float64),
        np.asarray(patch_operator_sums(s, jnp.float64))[:5] / 16,
    )


def test_bad_input_rejected():
    with pytest.raises(ValueError, match="n"):
        fl.coupling_space(4)
    with pytest.raises(ValueError, match="L"):
        fl.blocked_data(jax.random.key(0), jnp.zeros((1, 1)), fl.coupling_space(1), 6)
    with pytest.raises(ValueError, match="couplings"):
        fl.blocked_data(jax.random.key(0), jnp.zeros((1, 3)), fl.coupling_space(1), 8)
    with pytest.raises(ValueError, match="L must be 8"):
        fl.train_flow(jax.random.key(0), 1, fl.TrainingConfig(L=16, loss="exact"))
    with pytest.raises(ValueError, match="betas"):
        fl.train_flow(jax.random.key(0), 1, fl.TrainingConfig(rounds=2))
    with pytest.raises(ValueError, match="L must be 4"):
        fl.enumeration_table(fl.coupling_space(1), L=6)


def test_training_with_new_data_compiles_nothing():
    """A second training run (new key: new couplings, new Monte Carlo data, new weights) reuses every compiled step."""
    fl.train_flow(jax.random.key(11), SMALL_SPACE, SMALL_EXACT)  # compiled here unless an earlier test did
    compiles = []

    def listener(name, duration, **kwargs):
        if name == "/jax/core/compile/backend_compile_duration":
            compiles.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        result = fl.train_flow(jax.random.key(12), SMALL_SPACE, SMALL_EXACT)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert compiles == [], f"{len(compiles)} XLA compilations in the second training run"
    assert np.all(np.isfinite(result.loss_history)) and len(result.loss_history) == SMALL_EXACT.steps_per_round
