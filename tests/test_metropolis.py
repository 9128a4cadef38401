"""Checkerboard Metropolis against exact results: Boltzmann histogram, Kaufman energy and heat capacity, error bars.

Statistical tolerances are stated per test; seeds are fixed and printed in failure messages.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrg
from jaxrg import exact, ising
from jaxrg.sampling.metropolis import acceptance_thresholds, metropolis
from chisquare import energy_histogram_p


@pytest.mark.parametrize("T", [1.8, 2.5, 4.0])
def test_energy_histogram_4x4_matches_boltzmann(T):
    seed = 11
    r = jaxrg.simulate(4, T, sweeps=400 * 8, measure_every=8, thermalize=100, chains=32, seed=seed)
    p, chi2, dof = energy_histogram_p(r.timeseries.energy, 4, T)
    assert p > 1e-3, f"T={T}: chi2={chi2:.1f} for {dof} dof, p={p:.2e} (seed {seed})"


def test_field_magnetisation_4x4_matches_enumeration():
    T, h, seed = 2.5, 0.3, 5
    E, M = (np.asarray(x, float) for x in exact.enumerate_states(4))
    logw = -(E - h * M) / T
    w = np.exp(logw - logw.max())
    m_exact = np.sum(w * M) / np.sum(w) / 16
    chains = 32
    r = jaxrg.simulate(4, T, h=h, sweeps=2000, measure_every=4, thermalize=100, chains=chains, seed=seed)
    per_chain = np.asarray(r.timeseries.magnetization).mean(axis=-1)
    mean, err = per_chain.mean(), per_chain.std(ddof=1) / np.sqrt(chains)
    assert abs(mean - m_exact) < 4 * err, f"<m> = {mean:.4f} +- {err:.4f}, exact {m_exact:.4f} (seed {seed})"


def test_energy_and_heat_capacity_16x16_match_kaufman():
    T = np.array([2.0, 2.269, 2.6])
    seed = 3
    r = jaxrg.simulate(16, T, sweeps=12000, thermalize=1000, chains=4, seed=seed)
    ref = exact.finite_lattice(16, T)
    for name in ("energy", "heat_capacity"):
        est, want = getattr(r, name), np.asarray(getattr(ref, name))
        z = np.abs(est.mean - want) / est.error
        assert np.all(z < 4), f"{name}: {est.mean} +- {est.error} vs exact {want} (z={z}, seed {seed})"
    assert np.all(r.tau_energy > 0.5) and np.all(np.isfinite(r.tau_abs_magnetization))


def test_error_bars_shrink_like_inverse_sqrt_samples():
    # 4x the samples -> errors halve; tolerance covers the scatter of error estimates from ~32 blocks each.
    T, seed = 2.6, 7
    small = jaxrg.simulate(8, T, sweeps=1000, thermalize=200, chains=16, seed=seed)
    large = jaxrg.simulate(8, T, sweeps=4000, thermalize=200, chains=16, seed=seed + 1)
    for name in ("energy", "abs_magnetization", "heat_capacity", "susceptibility"):
        ratio = getattr(small, name).error / getattr(large, name).error
        assert 1.4 < ratio < 2.8, f"{name}: error ratio {ratio:.2f}, expected ~2 (seeds {seed}, {seed + 1})"


def test_thresholds_encode_metropolis_probabilities():
    c = ising.Couplings(K=jnp.asarray(0.4), h=jnp.asarray(0.1))
    thr = np.asarray(acceptance_thresholds(c), dtype=np.float64) / 2.0**31
    for s_index, s in enumerate((-1, 1)):
        for k, sn in enumerate(range(-4, 5, 2)):
            n = sn * s
            p = min(1.0, np.exp(-2 * s * (0.4 * n + 0.1)))
            assert abs(thr[5 * s_index + k] - p) < 1e-6, (s, n)


def test_kernel_is_vmappable_and_deterministic():
    L = 32
    c = ising.couplings(jnp.array([1.5, 3.0]))
    spins = ising.ordered_spins(L, (2,))
    keys = jax.random.split(jax.random.key(1), 2)

    def one(c, key, s):
        k = metropolis(c)
        state, info = k.step(key, k.init(s))
        return state.spins, info.acceptance

    s1, acc1 = jax.jit(jax.vmap(one))(c, keys, spins)
    s2, acc2 = jax.vmap(one)(c, keys, spins)
    np.testing.assert_array_equal(np.asarray(s1), np.asarray(s2))
    assert s1.dtype == jnp.int8 and s1.shape == (2, L, L)
    assert acc1[1] > acc1[0]  # from the ordered state, the higher temperature accepts more


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(L=5), "L"),
        (dict(L=2), "L"),
        (dict(T=-1.0), "T"),
        (dict(T=float("nan")), "T"),
        (dict(sampler="gibbs"), "sampler"),
        (dict(sweeps=0), "sweeps"),
        (dict(chains=0), "chains"),
        (dict(sweeps=100, measure_every=10), "measure"),
        (dict(initial="warm"), "initial"),
        (dict(seed=-1), "seed"),
        (dict(T=[2.0, 2.5], h=[0.1]), "h must be"),
        (dict(h=float("inf")), "h must be finite"),
    ],
)
def test_simulate_rejects_bad_input(kwargs, match):
    args = dict(L=8, T=2.0, sweeps=64, thermalize=0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        jaxrg.simulate(args.pop("L"), args.pop("T"), **args)


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(T=[-1.0]), "T"), (dict(sampler="gibbs"), "sampler"), (dict(initial="warm"), "initial"),
     (dict(exchange_every=0), "exchange_every")],
)
def test_ising_model_checks_its_arguments_at_construction(kwargs, match):
    """A model built directly for run_model gets the same errors as simulate, before any work."""
    args = dict(T=[2.0, 2.5])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        jaxrg.IsingModel(**args)


@pytest.mark.parametrize("L", [4, 6, 16])
def test_flat_neighbour_sum_matches_lattice(L):
    from jaxrg import lattice
    from jaxrg.sampling.metropolis import _flat_neighbour_sum

    black, white = lattice.split_checkerboard(ising.random_spins(jax.random.key(L), L))
    for colour, other in ((0, white), (1, black)):
        want = np.asarray(lattice.compact_neighbour_sum(other, colour))
        np.testing.assert_array_equal(np.asarray(_flat_neighbour_sum(other, colour)).reshape(want.shape), want)
