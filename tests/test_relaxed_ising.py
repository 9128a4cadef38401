"""The relaxed-Ising (Hubbard-Stratonovich) HMC sampler against exact enumeration of the 4x4 torus.

The energy histogram of the sampled spins is compared with the exact Boltzmann distribution by Pearson's chi-square.
Measurements are thinned to every 8th trajectory (the energy autocorrelation time is ~ 2 trajectories), so they are
close to independent; the test asserts that, and the chi-square p-value must exceed 1e-3 (fixed seed). The same
statistic against the distribution at a nearby wrong temperature must be rejected, which shows the test has power.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats as sps

jax.config.update("jax_enable_x64", True)

from jaxrg import exact, ising, stats  # noqa: E402
from jaxrg.sampling import hmc as hmc_lib  # noqa: E402
from jaxrg.sampling import relaxed_ising as ri  # noqa: E402
from jaxrg.sampling.driver import run_chain  # noqa: E402

L, T = 4, 2.4
N = L * L


def pearson_p_value(counts, probabilities, min_expected=5.0):
    """Pearson chi-square of ``counts`` against ``probabilities``, pooling sparse levels into their neighbour."""
    expected = probabilities * counts.sum()
    obs, exp = [], []
    o_acc = e_acc = 0.0
    for o, e in zip(counts, expected):
        o_acc, e_acc = o_acc + o, e_acc + e
        if e_acc >= min_expected:
            obs.append(o_acc)
            exp.append(e_acc)
            o_acc = e_acc = 0.0
    obs[-1] += o_acc
    exp[-1] += e_acc
    obs, exp = np.asarray(obs), np.asarray(exp)
    chi2 = float(np.sum((obs - exp) ** 2 / exp))
    return chi2, len(obs) - 1, float(sps.chi2.sf(chi2, len(obs) - 1))


@pytest.fixture(scope="module")
def relaxed_run():
    seed, chains, n, thin = 4, 16, 500, 8
    c = ising.couplings(T)
    logp = ri.log_density(c, L)
    _, params, _ = hmc_lib.window_adaptation("hmc", logp, jax.random.key(seed), jnp.zeros((L, L)), num_steps=150,
                                             num_integration_steps=8)
    kernel = ri.relaxed_ising(c, step_size=params.step_size, num_integration_steps=8,
                              inverse_mass_matrix=params.inverse_mass_matrix)
    spins = ising.random_spins(jax.random.key(seed + 1), L, (chains,))
    state = jax.vmap(kernel.init)(spins, jax.random.split(jax.random.key(seed + 2), chains))

    def step(key, s, params):
        return jax.vmap(kernel.step)(jax.random.split(key, chains), s)

    def measure(s, params):
        return ising.energy_per_spin(s.spins), ising.magnetization_per_spin(s.spins)

    out = run_chain(step, jax.random.key(seed + 3), state, n_measurements=n + 25, steps_per_measurement=thin,
                    measure=measure)
    e, m = (np.asarray(x)[25:].T for x in out.measurements)  # drop 25 * 8 thermalisation trajectories; (chains, n)
    return seed, e, m, out.info


def test_energy_histogram_matches_exact_boltzmann_distribution(relaxed_run):
    seed, e, _, _ = relaxed_run
    tau = np.asarray(stats.integrated_autocorrelation_time(jnp.asarray(e), axis=-1))
    assert np.mean(tau) < 1.0, (seed, tau)  # thinned samples are nearly independent (tau = 1/2 when independent)
    levels, p = exact.energy_distribution(L, T)
    total = np.rint(e.reshape(-1) * N).astype(np.int64)
    counts = np.array([(total == lv).sum() for lv in levels])
    assert counts.sum() == total.size  # every sampled energy is an allowed level
    chi2, dof, p_value = pearson_p_value(counts, p)
    assert p_value > 1e-3, (seed, chi2, dof, p_value)
    _, p_wrong = exact.energy_distribution(L, T * 1.05)  # a 5% wrong temperature must be detected
    chi2_w, dof_w, p_value_wrong = pearson_p_value(counts, p_wrong)
    assert p_value_wrong < 1e-6, (seed, chi2_w, dof_w, p_value_wrong)


def test_magnetization_moments_match_enumeration(relaxed_run):
    seed, _, m, info = relaxed_run
    energy, magnetization = exact.enumerate_states(L)
    w = np.exp(-(energy - energy.min()) / T)
    w /= w.sum()
    m_exact = magnetization / N
    for power in (2, 4):
        exact_moment = float(np.sum(w * m_exact**power))
        per_chain = (m**power).mean(axis=1)
        err = per_chain.std(ddof=1) / math.sqrt(per_chain.size)
        assert abs(per_chain.mean() - exact_moment) < 4.5 * err, (seed, power, per_chain.mean(), exact_moment, err)
    assert np.all(np.asarray(info.acceptance) > 0.5) and np.all(np.asarray(info.divergent) == 0.0)


def test_conditionals_are_exact_gaussian_and_bernoulli():
    """u | s has mean B s and unit variance; s | u has P(+1) = sigmoid(2 (B u + h)); B^2 = K A + d I."""
    c = ising.Couplings(K=jnp.asarray(0.3), h=jnp.asarray(0.2))
    d = ri.default_shift(c.K)
    spectrum = ri.coupling_spectrum(L, c.K, d)
    x = jax.random.normal(jax.random.key(0), (L, L))
    bbx = ri.apply_sqrt_coupling(ri.apply_sqrt_coupling(x, spectrum), spectrum)
    neighbours = sum(jnp.roll(x, s, axis=a) for s in (1, -1) for a in (0, 1))
    np.testing.assert_allclose(bbx, c.K * neighbours + d * x, atol=1e-12)
    assert float(jnp.min(spectrum)) == pytest.approx(ri.DEFAULT_MARGIN)
    spins = ising.random_spins(jax.random.key(1), L)
    draws = jax.vmap(lambda k: ri.field_given_spins(k, spins, spectrum))(jax.random.split(jax.random.key(2), 4000))
    mean = ri.apply_sqrt_coupling(spins.astype(jnp.float64), spectrum)
    np.testing.assert_allclose(draws.mean(0), mean, atol=5 * 1 / math.sqrt(4000))
    np.testing.assert_allclose(draws.var(0), 1.0, atol=0.1)
    u = jax.random.normal(jax.random.key(3), (L, L))
    s = jax.vmap(lambda k: ri.spins_given_field(k, u, c, spectrum))(jax.random.split(jax.random.key(4), 4000))
    p_up = jax.nn.sigmoid(2 * (ri.apply_sqrt_coupling(u, spectrum) + c.h))
    np.testing.assert_allclose((s == 1).mean(0), p_up, atol=5 * 0.5 / math.sqrt(4000))


def test_invalid_arguments_raise():
    c = ising.Couplings(K=0.4, h=0.0)
    with pytest.raises(ValueError, match="shift"):
        ri.relaxed_ising(c, step_size=0.1, shift=1.0)
    with pytest.raises(ValueError, match="algorithm"):
        ri.relaxed_ising(c, step_size=0.1, algorithm="gibbs")
