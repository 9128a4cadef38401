"""Tests for jaxrg.stats against analytic results for AR(1) series and Gaussian samples.

AR(1): x_t = phi x_{t-1} + sqrt(1 - phi^2) eps_t, stationary start x_0 ~ N(0, 1). Then var(x) = 1,
rho(t) = phi^t, tau_int = (1 + phi) / (2 (1 - phi)), and var(mean) -> 2 tau_int / n.
Statistical tolerances are stated in standard errors; seeds are fixed and printed on failure.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)  # also done by tests/conftest.py; the module runs alone too

from jaxrg import stats  # noqa: E402


def ar1_series(seed: int, phi: float, n: int, batch: tuple = ()) -> jax.Array:
    """Stationary AR(1) series with unit variance, shape batch + (n,)."""
    key_start, key_noise = jax.random.split(jax.random.key(seed))
    x0 = jax.random.normal(key_start, batch, dtype=jnp.float64)
    noise = math.sqrt(1.0 - phi**2) * jax.random.normal(key_noise, (n - 1,) + batch, dtype=jnp.float64)

    def step(x, e):
        x = phi * x + e
        return x, x

    _, rest = jax.lax.scan(step, x0, noise)
    return jnp.moveaxis(jnp.concatenate([x0[None], rest]), 0, -1)


def exact_tau(phi: float) -> float:
    return (1.0 + phi) / (2.0 * (1.0 - phi))


# ----------------------------------------------------------------------------------------------------------------
# autocorrelation and tau_int
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("phi", [0.5, 0.9])
def test_autocorrelation_matches_ar1(phi):
    seed, n, max_lag = 11, 2**16, 12
    x = ar1_series(seed, phi, n)
    rho = np.asarray(stats.autocorrelation(x))
    assert rho.shape == (n,)
    assert rho[0] == pytest.approx(1.0, abs=1e-12)
    lags = np.arange(1, max_lag + 1)
    # Bartlett's formula for AR(1): n var(r_k) = (1+phi^2)(1-phi^2k)/(1-phi^2) - 2 k phi^2k
    sigma = np.sqrt(((1 + phi**2) * (1 - phi ** (2 * lags)) / (1 - phi**2) - 2 * lags * phi ** (2 * lags)) / n)
    deviation = np.abs(rho[1 : max_lag + 1] - phi**lags) / sigma
    assert np.all(deviation < 5.0), f"seed={seed} phi={phi}: |rho - phi^t| / sigma = {deviation}"


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9])
def test_tau_int_matches_ar1(phi):
    seed, n, n_series = 20 + int(10 * phi), 2**16, 8
    x = ar1_series(seed, phi, n, (n_series,))
    tau, window = stats.integrated_autocorrelation_time(x, return_window=True)
    tau, window = np.asarray(tau), np.asarray(window)
    exact = exact_tau(phi)
    assert tau.shape == (n_series,) and window.shape == (n_series,)
    # Sokal's window condition holds at the chosen W.
    assert np.all(window >= 5.0 * tau - 1e-9), f"seed={seed}: W={window}, tau={tau}"
    # Madras-Sokal statistical error tau sqrt(2(2W+1)/n); truncation bias -sum_{t>W} phi^t = -phi^(W+1)/(1-phi).
    sigma = exact * np.sqrt(2.0 * (2 * window + 1) / n)
    truncation = phi ** (window + 1) / (1.0 - phi)
    per_series = np.abs(tau - exact) / sigma
    assert np.all(per_series < 5.0), f"seed={seed} phi={phi}: tau={tau}, exact={exact}, |dev|/sigma={per_series}"
    pooled_sigma = np.mean(sigma) / np.sqrt(n_series)
    pooled_dev = abs(np.mean(tau) - exact)
    assert pooled_dev < 4.0 * pooled_sigma + np.max(truncation), (
        f"seed={seed} phi={phi}: mean tau={np.mean(tau)}, exact={exact}, sigma of mean={pooled_sigma}"
    )


def test_tau_int_axis_jit_vmap_and_float32_agree():
    seed, n = 3, 1024
    x = ar1_series(seed, 0.7, n, (3,))
    reference = stats.integrated_autocorrelation_time(x)
    along_axis0 = stats.integrated_autocorrelation_time(x.T, axis=0)
    jitted = jax.jit(stats.integrated_autocorrelation_time)(x)
    vmapped = jax.vmap(stats.integrated_autocorrelation_time)(x)
    single = stats.integrated_autocorrelation_time(x[1])
    np.testing.assert_allclose(single, reference[1], rtol=1e-10, err_msg=f"seed={seed}")
    for other in (along_axis0, jitted, vmapped):
        np.testing.assert_allclose(other, reference, rtol=1e-10, err_msg=f"seed={seed}")
    as_float32 = stats.integrated_autocorrelation_time(np.asarray(x, dtype=np.float32))
    assert as_float32.dtype == jnp.float32
    np.testing.assert_allclose(as_float32, reference, rtol=2e-3, err_msg=f"seed={seed}")
    # Batched rho keeps the time axis where it was.
    assert stats.autocorrelation(x.T, axis=0).shape == (n, 3)


def test_mean_and_error_coverage():
    """About 68.3% of |mean - 0| < error over many independent series (binomial tolerance, 4 sigma)."""
    seed, phi, n, n_series = 5, 0.5, 2048, 2000
    x = ar1_series(seed, phi, n, (n_series,))
    mean, error = stats.mean_and_error(x)
    assert mean.shape == error.shape == (n_series,)
    expected = math.erf(1.0 / math.sqrt(2.0))
    binomial_sigma = math.sqrt(expected * (1.0 - expected) / n_series)
    coverage = float(jnp.mean(jnp.abs(mean) < error))
    assert abs(coverage - expected) < 4.0 * binomial_sigma, f"seed={seed}: coverage {coverage}, expected {expected}"
    # The error bars themselves scatter around the analytic sqrt(2 tau / n) (var = 1).
    ratio = np.asarray(error) / math.sqrt(2.0 * exact_tau(phi) / n)
    ratio_sigma = np.std(ratio) / math.sqrt(n_series)
    assert abs(np.mean(ratio) - 1.0) < 4.0 * ratio_sigma + 0.01, f"seed={seed}: mean error ratio {np.mean(ratio)}"
    # Binning errors are conservative by design (max over the last levels): coverage at least nominal.
    binned_coverage = float(jnp.mean(jnp.abs(mean) < stats.binning_error(x)))
    assert expected - 4.0 * binomial_sigma < binned_coverage < 0.80, f"seed={seed}: binning coverage {binned_coverage}"


# ----------------------------------------------------------------------------------------------------------------
# blocking / binning
# ----------------------------------------------------------------------------------------------------------------


def test_block_means_drop_remainder_at_start():
    x = jnp.arange(11.0)
    np.testing.assert_allclose(stats.block_means(x, 3), [3.0, 6.0, 9.0])  # [2,3,4] [5,6,7] [8,9,10]; 0, 1 dropped
    two_d = jnp.stack([x, 2 * x], axis=1)  # time along axis 0
    means = stats.block_means(two_d, 5, axis=0)  # [1,2] [3,4] ... [9,10]; 0 dropped
    assert means.shape == (5, 2)
    np.testing.assert_allclose(means[:, 0], [1.5, 3.5, 5.5, 7.5, 9.5])
    np.testing.assert_allclose(means[:, 1], [3.0, 7.0, 11.0, 15.0, 19.0])
    assert stats.block_means(jnp.ones((4, 8), dtype=jnp.float32), 2).dtype == jnp.float32


def test_binning_analysis_levels_and_ar1_block_variance():
    seed, phi, n, n_series = 7, 0.9, 2**14, 16
    x = ar1_series(seed, phi, n, (n_series,))
    sizes, errors = stats.binning_analysis(x)
    np.testing.assert_array_equal(sizes, 2 ** np.arange(10))  # 2^14 / 2^9 = 32 blocks is the last level
    assert errors.shape == (n_series, 10)
    np.testing.assert_allclose(errors[:, 0], np.std(np.asarray(x), axis=-1, ddof=1) / np.sqrt(n), rtol=1e-12)
    # Expected squared error at block size b, from the exact AR(1) block-mean variance (ignoring the small
    # correlation between neighbouring blocks): v_b / n_b with v_b = [(1+phi)/(1-phi) - 2phi(1-phi^b)/(b(1-phi)^2)]/b.
    b = sizes.astype(float)
    block_variance = ((1 + phi) / (1 - phi) - 2 * phi * (1 - phi**b) / (b * (1 - phi) ** 2)) / b
    expected = np.sqrt(block_variance / (n // sizes))
    measured = np.sqrt(np.mean(np.asarray(errors) ** 2, axis=0))  # rms over series
    # relative error of the mean squared error from n_b blocks and N series: sqrt(2 / ((n_b - 1) N)); the neglected
    # inter-block correlation biases it by about -2 tau / n.
    tolerance = 4.0 * np.sqrt(2.0 / ((n // sizes - 1) * n_series)) + 4.0 * exact_tau(phi) / n
    relative = np.abs(measured**2 / expected**2 - 1.0)
    assert np.all(relative < tolerance), f"seed={seed}: relative deviations {relative}, tolerance {tolerance}"
    # The plateau is far above the naive iid error: sqrt(2 tau) = sqrt(19).
    assert float(np.mean(errors[:, -1] / errors[:, 0])) > 3.5, f"seed={seed}"


def test_binning_error_plateau_matches_analytic():
    seed, phi, n, n_series = 9, 0.9, 2**15, 32
    x = ar1_series(seed, phi, n, (n_series,))
    analytic = math.sqrt(2.0 * exact_tau(phi) / n)
    # Single largest level (32 blocks of 1024 >> tau): unbiased up to O(tau/b) ~ 2%.
    last_level = np.asarray(stats.binning_error(x, plateau_levels=1)) / analytic
    se = np.std(last_level) / math.sqrt(n_series)
    assert abs(np.mean(last_level) - 1.0) < 4.0 * se + 0.02, f"seed={seed}: mean ratio {np.mean(last_level)} +- {se}"
    # Default rule (max over last 3 levels) is conservative: at least nominal, at most ~10% above.
    default = np.asarray(stats.binning_error(x)) / analytic
    se = np.std(default) / math.sqrt(n_series)
    assert 1.0 - 4.0 * se < np.mean(default) < 1.10 + 4.0 * se, f"seed={seed}: mean ratio {np.mean(default)} +- {se}"
    assert np.all(default >= last_level * (1.0 - 1e-12))


# ----------------------------------------------------------------------------------------------------------------
# jackknife
# ----------------------------------------------------------------------------------------------------------------


def plug_in_variance(mean_x, mean_x2):
    return mean_x2 - mean_x**2


def test_jackknife_variance_is_exactly_unbiased_sample_variance():
    """The bias-corrected jackknife of the plug-in variance is the ddof=1 sample variance (an identity)."""
    seed = 13
    x = np.random.default_rng(seed).normal(1.5, 2.0, size=(25, 4))  # 25 blocks, 4 independent columns
    estimate, error = stats.jackknife(plug_in_variance, x, x**2)
    np.testing.assert_allclose(estimate, np.var(x, axis=0, ddof=1), rtol=1e-10, err_msg=f"seed={seed}")
    single = stats.jackknife(plug_in_variance, x[:, 2], x[:, 2] ** 2)
    np.testing.assert_allclose(single.mean, estimate[2], rtol=1e-12)
    np.testing.assert_allclose(single.error, error[2], rtol=1e-12)


def test_jackknife_corrects_bias_and_error_matches_analytic():
    seed, sigma = 17, 2.0
    key_small, key_large = jax.random.split(jax.random.key(seed))
    # Bias: n = 10 samples, plug-in variance has bias -sigma^2/n = -10%; 10000 replicas resolve it by ~20 se.
    n_small, n_replicas = 10, 10000
    x = sigma * jax.random.normal(key_small, (n_replicas, n_small))
    naive = plug_in_variance(jnp.mean(x, axis=1), jnp.mean(x**2, axis=1))
    corrected, _ = jax.jit(jax.vmap(lambda s: stats.jackknife(plug_in_variance, s, s**2)))(x)
    se_naive = float(jnp.std(naive)) / math.sqrt(n_replicas)
    se_corrected = float(jnp.std(corrected)) / math.sqrt(n_replicas)
    assert abs(float(jnp.mean(naive)) - sigma**2 * (1 - 1 / n_small)) < 4.0 * se_naive, f"seed={seed}"
    assert abs(float(jnp.mean(corrected)) - sigma**2) < 4.0 * se_corrected, f"seed={seed}"
    assert abs(float(jnp.mean(naive)) - sigma**2) > 10.0 * se_naive, f"seed={seed}: bias not resolved"
    # Error: var of the sample variance of n Gaussians is 2 sigma^4 / (n - 1).
    n_large, n_replicas = 400, 2000
    x = sigma * jax.random.normal(key_large, (n_replicas, n_large))
    estimates, errors = jax.jit(jax.vmap(lambda s: stats.jackknife(plug_in_variance, s, s**2)))(x)
    analytic_var = 2.0 * sigma**4 / (n_large - 1)
    mean_sq_error = float(jnp.mean(errors**2))
    se = float(jnp.std(errors**2)) / math.sqrt(n_replicas)
    assert abs(mean_sq_error - analytic_var) < 4.0 * se + 0.01 * analytic_var, (
        f"seed={seed}: <jackknife err^2> = {mean_sq_error}, analytic {analytic_var} (se {se})"
    )
    # ... and the actual scatter of the estimates across replicas agrees (relative se sqrt(2/(R-1))).
    spread_var = float(jnp.var(estimates, ddof=1))
    assert abs(spread_var / analytic_var - 1.0) < 4.0 * math.sqrt(2.0 / (n_replicas - 1)), f"seed={seed}"


def test_jackknife_ratio_of_means_matches_delta_method_with_batch_axis():
    seed, n = 19, 4000
    mu_x, mu_y, s_x, s_y = np.array([1.0, 2.0, -3.0]), np.array([4.0, 5.0, 6.0]), 0.5, 0.8
    rng = np.random.default_rng(seed)
    x = mu_x + s_x * rng.standard_normal((n, 3))
    y = mu_y + s_y * rng.standard_normal((n, 3))
    estimate, error = stats.jackknife(lambda a, b: a / b, x, y)
    assert estimate.shape == error.shape == (3,)
    delta_method = np.sqrt(s_x**2 / mu_y**2 + mu_x**2 * s_y**2 / mu_y**4) / np.sqrt(n)
    # relative sampling error of a jackknife error bar from n blocks ~ 1/sqrt(2n) ~ 1.1%; allow ~4.5 of those
    np.testing.assert_allclose(error, delta_method, rtol=0.05, err_msg=f"seed={seed}")
    assert np.all(np.abs(estimate - mu_x / mu_y) < 5.0 * delta_method), f"seed={seed}: {estimate}"
    # pytree output and float32 input
    out = stats.jackknife(lambda a, b: {"ratio": a / b, "product": a * b}, x.astype(np.float32), y.astype(np.float32))
    assert isinstance(out, stats.Estimate)
    assert out.mean["ratio"].dtype == jnp.float32
    np.testing.assert_allclose(out.error["ratio"], error, rtol=1e-3)


# ----------------------------------------------------------------------------------------------------------------
# degenerate and bad input
# ----------------------------------------------------------------------------------------------------------------


def test_constant_series_gives_finite_results():
    x = np.full((2, 256), 3, dtype=np.float32)
    rho = stats.autocorrelation(x)
    np.testing.assert_array_equal(rho[:, 0], 1.0)
    np.testing.assert_array_equal(rho[:, 1:], 0.0)
    np.testing.assert_array_equal(stats.integrated_autocorrelation_time(x), 0.5)
    mean, error = stats.mean_and_error(x)
    np.testing.assert_array_equal(mean, 3.0)
    np.testing.assert_array_equal(error, 0.0)
    np.testing.assert_array_equal(stats.binning_error(x), 0.0)
    est = stats.jackknife(lambda a, b: a / b, x[0], x[1])
    np.testing.assert_allclose(est.mean, 1.0)
    np.testing.assert_array_equal(est.error, 0.0)
    spins = np.ones(64, dtype=np.int8)  # integer input is promoted to the default float type
    np.testing.assert_array_equal(stats.integrated_autocorrelation_time(spins), 0.5)
    assert stats.mean_and_error(spins) == (1.0, 0.0)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="x"):
        stats.integrated_autocorrelation_time(np.zeros(3))
    with pytest.raises(ValueError, match="x"):
        stats.autocorrelation(np.float64(1.0))
    with pytest.raises(ValueError, match="axis"):
        stats.mean_and_error(np.zeros((4, 8)), axis=2)
    with pytest.raises(ValueError, match="c"):
        stats.integrated_autocorrelation_time(np.zeros(8), c=0.0)
    with pytest.raises(ValueError, match="n_blocks"):
        stats.block_means(np.zeros(8), 1)
    with pytest.raises(ValueError, match="n_blocks"):
        stats.block_means(np.zeros(8), 9)
    with pytest.raises(ValueError, match="x"):
        stats.binning_analysis(np.zeros(31))
    with pytest.raises(ValueError, match="min_blocks"):
        stats.binning_analysis(np.zeros(64), min_blocks=1)
    with pytest.raises(ValueError, match="samples"):
        stats.jackknife(lambda a: a, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="samples"):
        stats.jackknife(lambda a, b: a / b, np.ones(5), np.ones(6))
    with pytest.raises(ValueError, match="samples"):
        stats.jackknife(lambda a: a)


def test_equilibration_time_of_a_known_relaxation():
    """An exponential relaxation e^(-t/tau) onto 0 enters the 2-sigma band at t = tau ln(1/(2 sigma)) and stays."""
    tau, sigma = 20.0, 0.01
    t = np.arange(400)
    series = np.exp(-t / tau)
    expected = int(np.ceil(tau * np.log(1 / (2 * sigma)) + 1e-12))
    assert stats.equilibration_time(series, 0.0, sigma, window=50) == expected
    # a brief excursion out of the band inside the window restarts it; a series that never settles gives None
    bumped = series.copy()
    bumped[expected + 10] = 1.0
    assert stats.equilibration_time(bumped, 0.0, sigma, window=50) == expected + 11
    assert stats.equilibration_time(series[:expected + 20], 0.0, sigma, window=50) is None
    with pytest.raises(ValueError, match="sigma"):
        stats.equilibration_time(series, 0.0, 0.0)
