"""Tests of jaxrg.sampling.hmc (blackjax HMC / NUTS in the jaxrg kernel shape) on Gaussian targets with exact answers.

Exact facts used: for a Gaussian target x ~ N(0, diag(sigma^2)) the second moments are sigma^2; at equilibrium HMC
satisfies <exp(-dH)> = 1 (Creutz 1988); and for a high-dimensional Gaussian the energy error dH is asymptotically
normal with variance 2 <dH>, so the mean Metropolis acceptance is erfc(sqrt(<dH>) / 2) (Gupta, Kilcup and Sharpe,
Phys. Rev. D 38, 1278 (1988)). Tolerances are in standard errors from independent chains; seeds are fixed.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

from jaxrg.sampling import hmc as hmc_lib  # noqa: E402
from jaxrg.sampling.driver import run_chain  # noqa: E402

SHAPE = (8, 8)
SIGMA = jnp.asarray(np.exp(np.linspace(np.log(0.3), np.log(3.0), 64)).reshape(SHAPE))


def gaussian_log_density(x):
    return -0.5 * jnp.sum((x / SIGMA) ** 2)


def exact_gaussian_draws(seed, chains):
    return SIGMA * jax.random.normal(jax.random.key(seed), (chains, *SHAPE))


def test_acceptance_and_energy_error_obey_exact_gaussian_relations():
    """Fixed step, identity mass, 256-d Gaussian started in equilibrium: <e^-dH> = 1, <acc> = erfc(sqrt<dH> / 2)."""
    seed, chains, n = 11, 16, 400
    logp = lambda x: -0.5 * jnp.sum(x * x)  # noqa: E731
    kernel = hmc_lib.hmc(logp, step_size=0.45, num_integration_steps=5)
    x0 = jax.random.normal(jax.random.key(seed), (chains, 16, 16))
    state = jax.vmap(kernel.init)(x0)

    def step(key, s, params):
        return jax.vmap(kernel.step)(jax.random.split(key, chains), s)

    out = run_chain(step, jax.random.key(seed + 2), state, n_measurements=n,
                    measure=lambda s, p: jnp.mean(s.position**2, axis=(-2, -1)))
    # per-chain averages over all steps (the driver averages info); chains are independent
    info = out.info
    assert set(info._fields) >= {"acceptance", "energy_error", "exp_minus_energy_error", "divergent", "sweeps"}
    np.testing.assert_allclose(info.sweeps, 1.0)
    np.testing.assert_allclose(info.gradient_evaluations, 5.0)
    assert np.all(info.divergent == 0.0)
    creutz = np.asarray(info.exp_minus_energy_error)
    creutz_err = creutz.std(ddof=1) / math.sqrt(chains)
    assert abs(creutz.mean() - 1.0) < 4 * creutz_err + 1e-3, (seed, creutz.mean(), creutz_err)
    mean_dh = float(np.mean(info.energy_error))
    assert mean_dh > 0.0, (seed, mean_dh)  # <dH> >= 0 by Jensen, strictly for a finite step
    predicted = math.erfc(math.sqrt(mean_dh) / 2.0)
    acceptance = float(np.mean(info.acceptance))
    assert 0.3 < acceptance < 0.98, (seed, acceptance)  # the test exercises a non-trivial regime
    assert abs(acceptance - predicted) < 0.03, (seed, acceptance, predicted)
    # exact second moment <x^2> = 1
    m2 = np.asarray(out.measurements).mean(axis=0)
    assert abs(m2.mean() - 1.0) < 4 * m2.std(ddof=1) / math.sqrt(chains), (seed, m2.mean())


def test_window_adaptation_then_sampling_recovers_gaussian_variances():
    """Adaptation learns the diagonal mass matrix (~ sigma^2); sampling reproduces <x^2> = sigma^2 (64 scales 0.3..3).

    (NUTS runs the same wrapper path; it is checked against exact results in tests/test_phi4.py.)
    """
    algorithm, seed, chains, n = "hmc", 5, 8, 300
    keys = jax.random.split(jax.random.key(seed), chains)
    x0 = exact_gaussian_draws(seed + 1, chains)
    warm = jax.vmap(lambda k, x: hmc_lib.window_adaptation(algorithm, gaussian_log_density, k, x, num_steps=200,
                                                           num_integration_steps=8))
    state, params, warm_acceptance = warm(keys, x0)
    assert warm_acceptance.shape == (chains, 200)
    ratio = np.asarray(params.inverse_mass_matrix).reshape(chains, -1) / np.asarray(SIGMA).reshape(-1) ** 2
    assert 0.3 < np.median(ratio) < 3.0, (seed, np.median(ratio))  # the mass matrix follows the 100x spread

    def one(key, s, p):
        kern = hmc_lib.hmc(gaussian_log_density, step_size=p.step_size, num_integration_steps=8,
                           inverse_mass_matrix=p.inverse_mass_matrix)
        return kern.step(key, s)

    def step(key, s, params):
        return jax.vmap(one)(jax.random.split(key, chains), s, params)

    out = run_chain(step, jax.random.key(seed + 2), state, params, n_measurements=n,
                    measure=lambda s, p: jnp.mean((s.position / SIGMA) ** 2, axis=(-2, -1)))
    z2 = np.asarray(out.measurements).mean(axis=0)  # per chain, exact expectation 1
    err = z2.std(ddof=1) / math.sqrt(chains)
    assert abs(z2.mean() - 1.0) < 4.5 * err, (seed, algorithm, z2.mean(), err)
    assert 0.5 < float(np.mean(out.info.acceptance)) <= 1.0


def test_invalid_arguments_raise():
    logp = lambda x: -0.5 * jnp.sum(x * x)  # noqa: E731
    with pytest.raises(ValueError, match="step_size"):
        hmc_lib.hmc(logp, step_size=0.0, num_integration_steps=4)
    with pytest.raises(ValueError, match="num_integration_steps"):
        hmc_lib.hmc(logp, step_size=0.1, num_integration_steps=0)
    with pytest.raises(ValueError, match="max_num_doublings"):
        hmc_lib.nuts(logp, step_size=0.1, max_num_doublings=99)
    with pytest.raises(ValueError, match="algorithm"):
        hmc_lib.window_adaptation("mala", logp, jax.random.key(0), jnp.zeros(3), num_steps=100)
    with pytest.raises(ValueError, match="num_steps"):
        hmc_lib.window_adaptation("hmc", logp, jax.random.key(0), jnp.zeros(3), num_steps=5)
