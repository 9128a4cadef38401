"""Scale flows on diffrax / optimistix: adjoint and implicit derivatives against finite differences, a stiff flow,
the steady-state event, dense output, root-finding methods, and no recompilation for new weights of a learned map."""

import math

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrg import scale

K_C = math.log1p(math.sqrt(2.0)) / 2.0  # 2D Ising critical coupling


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


class PredatorPrey(eqx.Module):
    """beta(g) = (theta g0 - g0 g1, g0 g1 - g1): a nonlinear flow with a parameter theta, fixed point (1, theta)."""

    theta: jax.Array

    def __call__(self, g):
        return jnp.stack([self.theta * g[0] - g[0] * g[1], g[0] * g[1] - g[1]])


class Damped(eqx.Module):
    """An attracting nonlinear flow whose fixed point moves with theta (found numerically)."""

    theta: jax.Array

    def __call__(self, g):
        d = g - jnp.array([0.3, -0.2])
        return -self.theta * d - d**3 / 3 + 0.2 * self.theta * jnp.roll(d, 1) + jnp.array([self.theta**2, 0.1])


def central_difference(fn, x, h):
    return (fn(x + h) - fn(x - h)) / (2 * h)


def test_flow_end_point_gradient_matches_central_differences():
    g0 = jnp.array([0.5, 0.8])
    s = jnp.array([0.0, 1.5])

    def end_point(theta):
        sol = scale.integrate_flow_adaptive(PredatorPrey(theta), g0, s, rtol=1e-12, atol=1e-12)
        return sol.g[-1] @ jnp.array([1.0, 0.5])

    theta = jnp.asarray(1.3)
    grad = jax.grad(end_point)(theta)  # reverse mode through diffrax's RecursiveCheckpointAdjoint
    fd = central_difference(end_point, theta, 1e-4)
    print(f"flow end point: adjoint {float(grad):.12e}, central difference {float(fd):.12e}")
    np.testing.assert_allclose(grad, fd, rtol=1e-6)
    assert abs(float(grad)) > 0.1


def test_fixed_point_gradient_matches_central_differences():
    def g_star(theta):
        fp = scale.find_fixed_point(Damped(theta), jnp.array([0.5, 0.1]), tol=1e-13)
        return fp.g_star @ jnp.array([1.0, 0.5])

    theta = jnp.asarray(0.7)
    assert bool(scale.find_fixed_point(Damped(theta), jnp.array([0.5, 0.1])).converged)
    # d g*/d theta by the implicit function theorem (optimistix), reverse and forward mode, against central
    # differences of the fixed point of the perturbed beta.
    rev = jax.grad(g_star)(theta)
    fwd = jax.jvp(g_star, (theta,), (jnp.ones_like(theta),))[1]
    fd = central_difference(g_star, theta, 1e-5)
    print(f"fixed point: implicit (reverse) {float(rev):.12e}, (forward) {float(fwd):.12e}, central {float(fd):.12e}")
    np.testing.assert_allclose(rev, fd, rtol=1e-6)
    np.testing.assert_allclose(fwd, rev, rtol=1e-12)
    assert abs(float(rev)) > 0.1


def test_stiff_flow_implicit_solver_takes_ten_times_fewer_steps():
    # Linear flow with eigenvalues -1 and -1e4 in a non-orthogonal basis: exact g(s) = expm(M s) g0.
    Q = jnp.array([[1.0, 0.3], [0.2, 1.0]])
    M = Q @ jnp.diag(jnp.array([-1.0, -1e4])) @ jnp.linalg.inv(Q)
    g0 = jnp.array([1.0, 2.0])
    s = jnp.array([0.0, 0.5, 1.0])
    exact = jnp.stack([jax.scipy.linalg.expm(M * si) @ g0 for si in s])
    beta = lambda g: M @ g  # noqa: E731
    explicit = scale.integrate_flow_adaptive(beta, g0, s, rtol=1e-10, atol=1e-12, max_steps=20000)
    implicit = scale.integrate_flow_adaptive(beta, g0, s, rtol=1e-10, atol=1e-12, solver=diffrax.Kvaerno5())
    for sol in (explicit, implicit):
        assert bool(sol.success)
        np.testing.assert_allclose(sol.g, exact, atol=1e-8)
    n_explicit, n_implicit = int(explicit.n_accepted), int(implicit.n_accepted)
    print(f"stiff flow: Tsit5 {n_explicit} accepted steps, Kvaerno5 {n_implicit}")
    assert n_explicit >= 10 * n_implicit


def test_steady_state_event_stops_at_the_fixed_point_and_dense_output():
    # Logistic flow dg/ds = g (1 - g): g(s) = 1 / (1 + (1/g0 - 1) e^-s), fixed point g* = 1 reached long before 100.
    s = jnp.array([0.0, 1.0, 100.0])
    sol = scale.integrate_flow_adaptive(lambda g: g * (1.0 - g), 0.1, s, rtol=1e-10, atol=1e-12, steady_state=1e-9,
                                        dense=True)
    assert bool(sol.success) and bool(sol.at_fixed_point)
    assert 1.0 < float(sol.s_final) < 100.0
    assert abs(float(sol.g_final) - 1.0) < 1e-8
    assert np.isnan(float(sol.g[-1])) and np.isfinite(np.asarray(sol.g[:2])).all()
    # Dense output interpolates between steps.
    exact = lambda x: 1.0 / (1.0 + 9.0 * jnp.exp(-x))  # noqa: E731
    for x in (0.37, 5.5, float(sol.s_final) / 2):
        assert abs(float(sol.dense.evaluate(x)) - float(exact(x))) < 1e-8


def test_root_finding_methods_agree():
    beta = lambda g: jnp.stack([g[0] ** 2 + g[1] ** 2 - 4.0, g[0] - g[1]])  # noqa: E731
    r = math.sqrt(2.0)
    for method in ("newton", "chord", "dogleg"):
        fp = scale.find_fixed_point(beta, jnp.array([1.2, 1.6]), method=method, max_iter=200)
        assert bool(fp.converged), method
        np.testing.assert_allclose(fp.g_star, [r, r], atol=1e-9, err_msg=method)
    with pytest.raises(ValueError, match="method must be one of"):
        scale.find_fixed_point(beta, jnp.ones(2), method="bisection")


def _count_compilations():
    events = []

    def listener(name, duration, **kwargs):
        if name == "/jax/core/compile/backend_compile_duration":
            events.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listener)
    return events, listener


def _toy_flow_model(w, a):
    """FlowModel J -> J + a tanh(w (J - K_c)): fixed point K_c, dR/dJ = 1 + a w."""
    from jaxrg.rg.flow import FlowModel

    model = FlowModel(jax.random.PRNGKey(0), 1, width=1, depth=1)
    return eqx.tree_at(
        lambda m: (m.mlp.layers[0].weight, m.mlp.layers[0].bias, m.mlp.layers[1].weight, m.mlp.layers[1].bias),
        model,
        (jnp.array([[w]]), jnp.array([-w * K_C]), jnp.array([[a]]), jnp.array([0.0])),
    )


def test_new_weights_of_a_learned_map_compile_nothing():
    g0 = jnp.array([0.42])
    first = _toy_flow_model(4.0, 0.25)
    an = scale.analyze_map(first.step, g0, 2.0)
    fp = scale.find_fixed_point(first, g0)
    sol = scale.integrate_flow_adaptive(first, g0, jnp.array([0.0, 0.5]))
    lin = scale.linearize(first, fp.g_star)
    assert float(an.y_t) == pytest.approx(1.0, abs=1e-10)
    events, listener = _count_compilations()
    try:
        second = _toy_flow_model(3.0, 1.0 / 3.0)  # dR/dJ = 2 again, other weights
        an2 = scale.analyze_map(second.step, g0, 2.0)
        fp2 = scale.find_fixed_point(second, g0)
        sol2 = scale.integrate_flow_adaptive(second, g0, jnp.array([0.0, 0.5]))
        lin2 = scale.linearize(second, fp2.g_star)
        jax.block_until_ready((an2, fp2, sol2, lin2))
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert events == [], f"{len(events)} XLA compilations on the second call"
    np.testing.assert_allclose(an2.g_star, [K_C], atol=1e-12)
    assert float(an2.y_t) == pytest.approx(1.0, abs=1e-10)
    np.testing.assert_allclose(fp2.g_star, [K_C], atol=1e-12)
    assert float(sol2.g[-1, 0]) != float(sol.g[-1, 0])
    assert float(jnp.real(lin2.eigenvalues[0])) == pytest.approx(1.0, abs=1e-12)  # slope a w = 1 of f
    assert float(jnp.real(lin.eigenvalues[0])) == pytest.approx(1.0, abs=1e-12)
