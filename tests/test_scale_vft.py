"""VFT fit of synthetic relaxation times and the scale-Hamiltonian reading A = D T0 lambda (seed 001)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

from jaxrg import scale  # noqa: E402

# Synthetic glass former: tau0 = 1e-13 s, D = 8, T0 = 150 K (D T0 = 1200 K); tau(190 K) ~ 10 s.
TAU0, D, T0 = 1e-13, 8.0, 150.0
T = jnp.linspace(190.0, 400.0, 25)
LOG_TAU = jnp.log(TAU0) + D * T0 / (T - T0)
NOISE = 0.01  # 1 % relative noise on tau = 0.01 standard deviation of ln tau
SEED = 20251122


def _noisy(key):
    return jnp.exp(LOG_TAU + NOISE * jax.random.normal(key, T.shape))


def test_noise_free_fit_is_exact():
    fit = scale.fit_vft(T, scale.vft_tau(T, TAU0, D, T0))
    assert bool(fit.converged)
    assert float(fit.tau0) == pytest.approx(TAU0, rel=1e-8)
    assert float(fit.D) == pytest.approx(D, rel=1e-8)
    assert float(fit.T0) == pytest.approx(T0, rel=1e-8)


def test_fit_recovers_parameters_within_two_percent_at_one_percent_noise():
    fit = scale.fit_vft(T, _noisy(jax.random.PRNGKey(SEED)))
    for name, true in (("tau0", TAU0), ("D", D), ("T0", T0)):
        value, error = float(getattr(fit, name)), float(getattr(fit, name + "_error"))
        assert abs(value / true - 1.0) < 0.02, f"{name} = {value} vs {true} (seed {SEED})"
        # The reported errors are consistent with the deviation (4 standard errors).
        assert abs(value - true) < 4.0 * error, f"{name}: {value} +- {error} vs {true} (seed {SEED})"
    assert fit.dof == T.shape[0] - 3


def test_reported_errors_match_scatter_over_noise_realisations():
    # 200 fits (jit + vmap): the spread of each parameter equals the mean reported error within 15 %
    # (the relative standard error of a standard deviation from 200 samples is 5 %), and chi2/dof averages to 1.
    keys = jax.random.split(jax.random.PRNGKey(SEED + 1), 200)
    fits = jax.jit(jax.vmap(lambda k: scale.fit_vft(T, _noisy(k), sigma_log_tau=NOISE)))(keys)
    assert bool(jnp.all(fits.converged))
    for name, true in (("log_tau0", np.log(TAU0)), ("D", D), ("T0", T0), ("D_T0", D * T0)):
        values = np.asarray(getattr(fits, name))
        errors = np.asarray(getattr(fits, name + "_error"))
        assert abs(values.std(ddof=1) / errors.mean() - 1.0) < 0.15, name
        assert abs(values.mean() - true) < 4.0 * values.std(ddof=1) / np.sqrt(values.size), name
    chi2_per_dof = np.asarray(fits.chi2) / (T.shape[0] - 3)
    assert abs(chi2_per_dof.mean() - 1.0) < 4.0 * np.sqrt(2.0 / (T.shape[0] - 3) / chi2_per_dof.size)


def test_barrier_amplitude_prediction_and_error_propagation():
    A, A_err = scale.barrier_amplitude(500.0, 0.1)
    assert float(A) == pytest.approx(50.0, rel=1e-15)
    assert float(A_err) == 0.0
    A, A_err = scale.barrier_amplitude(500.0, 0.1, D_T0_error=10.0, lam_error=0.01)
    assert float(A_err) == pytest.approx(np.hypot(0.1 * 10.0, 500.0 * 0.01), rel=1e-14)


def test_scale_hamiltonian_reading_reproduces_the_fitted_law():
    fit = scale.fit_vft(T, _noisy(jax.random.PRNGKey(SEED)))
    reading = scale.vft_scale_reading(fit, 0.1, lam_error=0.005)
    assert float(reading.A) == pytest.approx(0.1 * float(fit.D_T0), rel=1e-14)
    expect_err = np.hypot(0.1 * float(fit.D_T0_error), float(fit.D_T0) * 0.005)
    assert float(reading.A_error) == pytest.approx(expect_err, rel=1e-12)
    # S(g) - S(g_ref) with beta = lambda g, F = A/g and g = T - T0 equals the fitted ln tau(T) - ln tau(T_ref).
    g = T - fit.T0
    S = scale.hj_action(reading.beta, reading.F, g, g[-1])
    log_tau_fit = scale.vft_log_tau(T, fit.log_tau0, fit.D_T0, fit.T0)
    np.testing.assert_allclose(S, log_tau_fit - log_tau_fit[-1], rtol=1e-11, atol=1e-11)


def test_bad_vft_input_gives_clear_errors():
    with pytest.raises(ValueError, match="T must be > T0"):
        scale.vft_tau(jnp.array([140.0, 200.0]), TAU0, D, T0)
    with pytest.raises(ValueError, match="T0_init must be < min"):
        scale.fit_vft(T, scale.vft_tau(T, TAU0, D, T0), T0_init=200.0)
    with pytest.raises(ValueError, match="at least 4"):
        scale.fit_vft(T[:3], scale.vft_tau(T[:3], TAU0, D, T0))
    with pytest.raises(ValueError, match="tau must be > 0"):
        scale.fit_vft(T, -scale.vft_tau(T, TAU0, D, T0))
    with pytest.raises(ValueError, match="equal length"):
        scale.fit_vft(T, scale.vft_tau(T[:-1], TAU0, D, T0))
    with pytest.raises(ValueError, match="sigma_log_tau"):
        scale.fit_vft(T, scale.vft_tau(T, TAU0, D, T0), sigma_log_tau=0.0)
    with pytest.raises(ValueError, match="lam"):
        scale.barrier_amplitude(500.0, -0.1)
