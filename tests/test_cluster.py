"""Wolff and Swendsen-Wang against exact results: cluster finding, Boltzmann histograms, Kaufman E and C, |m| moments.

Statistical tolerances are stated per test (4 standard errors, or chi-square p > 1e-3); seeds are fixed and printed in
failure messages.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import sparse
from scipy.sparse import csgraph

import jaxrg
from jaxrg import exact, ising
from jaxrg.sampling.clusters import (
    active_bonds,
    bond_probability_threshold,
    grow_cluster,
    grow_cluster_unpacked,
    label_clusters,
    random_words,
)
from jaxrg.sampling.swendsen_wang import swendsen_wang
from jaxrg.sampling.wolff import wolff
from chisquare import chi_square_p, energy_histogram_p

CLUSTER_SAMPLERS = ["wolff", "swendsen_wang"]


def _scipy_components(right, down):
    """Reference connected components (scipy) of the active-bond graph: (n_components, labels)."""
    L = right.shape[0]
    idx = np.arange(L * L).reshape(L, L)
    rows = np.concatenate([idx[right], idx[down]])
    cols = np.concatenate([np.roll(idx, -1, axis=1)[right], np.roll(idx, -1, axis=0)[down]])
    graph = sparse.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(L * L, L * L))
    return csgraph.connected_components(graph, directed=False)


def test_cluster_finders_match_scipy_connected_components():
    L, seed = 24, 2
    bonds = jax.jit(lambda key, spins, K: active_bonds(random_words(key, 2 * L * L), spins, K))
    labels_of, cluster_of = jax.jit(label_clusters), jax.jit(grow_cluster)
    cluster_unpacked = jax.jit(grow_cluster_unpacked)
    for K in (0.3, 0.4406868, 0.6):  # below, at and above the percolation of FK clusters
        for trial in range(3):
            key = jax.random.fold_in(jax.random.key(seed), trial)
            spins = ising.random_spins(key, L) if trial else ising.ordered_spins(L)
            right, down = (np.asarray(b) for b in bonds(jax.random.fold_in(key, 1), spins, K))
            n, ref = _scipy_components(right, down)
            labels = np.asarray(labels_of(right, down)).ravel()
            smallest = np.array([np.flatnonzero(ref == c).min() for c in range(n)])
            np.testing.assert_array_equal(labels, smallest[ref], err_msg=f"K={K} trial {trial} (seed {seed})")
            site = (37 * trial + 5) % (L * L)
            for grow in (cluster_of, cluster_unpacked):  # bit-packed (L = 24: 8-bit words) and plain bool growth
                cluster = np.asarray(grow(jnp.int32(site), right, down)).ravel()
                np.testing.assert_array_equal(cluster, ref == ref[site], err_msg=f"K={K} trial {trial} (seed {seed})")


def test_bond_probability_and_no_bonds_between_unequal_spins():
    K, L, seed = 0.35, 64, 4
    np.testing.assert_allclose(float(bond_probability_threshold(K)) / 2.0**31, 1 - np.exp(-2 * K), rtol=1e-7)
    spins = ising.random_spins(jax.random.key(seed), L)
    right, down = (np.asarray(b) for b in active_bonds(random_words(jax.random.key(seed + 1), 2 * L * L), spins, K))
    s = np.asarray(spins)
    equal_r, equal_d = s == np.roll(s, -1, 1), s == np.roll(s, -1, 0)
    assert not np.any(right & ~equal_r) and not np.any(down & ~equal_d)
    n_equal = equal_r.sum() + equal_d.sum()
    frac = (right.sum() + down.sum()) / n_equal
    p = 1 - np.exp(-2 * K)
    assert abs(frac - p) < 4 * np.sqrt(p * (1 - p) / n_equal), f"bond fraction {frac} vs {p} (seed {seed})"


@pytest.mark.parametrize("sampler", CLUSTER_SAMPLERS)
def test_histograms_4x4_match_boltzmann_with_and_without_field(sampler):
    # One batch: T = 2.269 and 3.5 at h = 0, and T = 2.5 in a field h = 0.3 (Wolff accepts cluster flips with
    # min(1, exp(-2 h sigma |C|)), SW orients clusters by heat bath). Chi-square of the energy histogram against
    # exact.energy_distribution (h = 0) and of the joint (E, M) histogram against enumeration (all three).
    # Measurements 4 steps apart are nearly independent on 4x4 (tau_int <~ 1 step).
    T, h, seed = np.array([2.269, 3.5, 2.5]), np.array([0.0, 0.0, 0.3]), 11
    r = jaxrg.simulate(4, T, h=h, sampler=sampler, sweeps=300 * 4, measure_every=4, thermalize=50, chains=32,
                       seed=seed, chunk_size=300)
    E_all, M_all = (np.asarray(x) for x in exact.enumerate_states(4))
    pairs, pair_index = np.unique(np.stack([E_all, M_all], axis=1), axis=0, return_inverse=True)
    for t in range(len(T)):
        energies = np.rint(np.asarray(r.timeseries.energy[t]).ravel() * 16).astype(int)
        mags = np.rint(np.asarray(r.timeseries.magnetization[t]).ravel() * 16).astype(int)
        if h[t] == 0:
            p, chi2, dof = energy_histogram_p(r.timeseries.energy[t], 4, T[t])
            assert p > 1e-3, f"{sampler} T={T[t]}: energy chi2={chi2:.1f} for {dof} dof, p={p:.2e} (seed {seed})"
        logw = -(E_all - h[t] * M_all) / T[t]
        w = np.exp(logw - logw.max())
        w /= w.sum()
        if h[t] == 0:
            p_pairs = np.bincount(pair_index.ravel(), weights=w)
            code = {(int(e), int(m)): k for k, (e, m) in enumerate(pairs)}
            sampled = np.array([code[(e, m)] for e, m in zip(energies, mags)])  # KeyError: impossible (E, M)
            counts = np.bincount(sampled, minlength=len(pairs)).astype(float)
            p, chi2, dof = chi_square_p(counts, p_pairs)
            assert p > 1e-3, f"{sampler} T={T[t]}: (E, M) chi2={chi2:.1f} for {dof} dof, p={p:.2e} (seed {seed})"
        else:
            # In a field, flips of large clusters are mostly rejected (Wolff) or rare (SW), so M is strongly
            # autocorrelated and a histogram test would need heavy thinning: compare <m>, <m^2>, <e> with errors from
            # the spread of the 32 independent chain means instead.
            m_series = np.asarray(r.timeseries.magnetization[t])
            e_series = np.asarray(r.timeseries.energy[t])
            for name, series, exact_value in (
                ("<m>", m_series, w @ M_all / 16),
                ("<m^2>", m_series**2, w @ (M_all / 16) ** 2),
                ("<e>", e_series, w @ E_all / 16),
            ):
                per_chain = series.mean(axis=-1)
                mean, err = per_chain.mean(), per_chain.std(ddof=1) / np.sqrt(len(per_chain))
                assert abs(mean - exact_value) < 4 * err, (
                    f"{sampler} T={T[t]} h={h[t]}: {name} = {mean:.4f} +- {err:.4f}, exact {exact_value:.4f} "
                    f"(seed {seed})"
                )


@pytest.mark.parametrize("sampler", CLUSTER_SAMPLERS)
@pytest.mark.parametrize("L", [16, 32])
def test_critical_energy_and_heat_capacity_match_kaufman(sampler, L):
    T, seed = 2.269, 3
    steps = {"wolff": 3000, "swendsen_wang": 2000}[sampler]  # Wolff steps are ~ L^-1/4 of a sweep
    r = jaxrg.simulate(L, T, sampler=sampler, sweeps=steps, thermalize=200, chains=4, seed=seed,
                       chunk_size=steps // 2)
    ref = exact.finite_lattice(L, T)
    for name in ("energy", "heat_capacity"):
        est, want = getattr(r, name), float(getattr(ref, name))
        z = abs(est.mean - want) / est.error
        assert z < 4, f"{sampler} L={L}: {name} {est.mean:.5f} +- {est.error:.5f} vs exact {want:.5f} (seed {seed})"
    # Cluster dynamics near T_c: a few sweeps per independent sample even at L = 32 (Metropolis needs hundreds).
    assert 0.5 <= r.tau_energy < 10, f"{sampler}: tau_E = {r.tau_energy} sweeps (seed {seed})"


@pytest.mark.parametrize("sampler", CLUSTER_SAMPLERS)
def test_low_and_high_temperature_moments_match_exact(sampler):
    # Detailed balance far from T_c: at T = 1.5 (clusters span the lattice) and T = 5 (tiny clusters), <|m|> and <e>
    # on 8x8 against exact.finite_lattice_moments (enumeration / transfer matrix), jackknife errors over 32 blocks.
    L, T, seed = 8, np.array([1.5, 5.0]), 6
    r = jaxrg.simulate(L, T, sampler=sampler, sweeps=2000, thermalize=100, chains=8, seed=seed, chunk_size=1000)
    ref = exact.finite_lattice_moments(L, T)
    for name in ("abs_magnetization", "energy"):
        est, want = getattr(r, name), np.asarray(getattr(ref, name))
        z = np.abs(est.mean - want) / est.error
        assert np.all(z < 4), f"{sampler}: {name} {est.mean} +- {est.error} vs exact {want} (z={z}, seed {seed})"


def test_wolff_info_reports_cluster_size_and_sweeps():
    L, chains = 16, 64
    state = ising.ordered_spins(L)
    # T = 1: p_bond = 0.86, the cluster of an ordered state is nearly the lattice; T = 100: p_bond = 0.02, the seed
    # is almost always alone.
    c = ising.couplings(jnp.array([1.0, 100.0]))

    def one(c, key):
        kernel = wolff(c)
        new, info = kernel.step(key, kernel.init(state))
        return jnp.sum(new.spins == -1), info

    flipped, info = jax.jit(jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None)))(
        c, jax.random.split(jax.random.key(0), chains)
    )
    np.testing.assert_array_equal(np.asarray(info.cluster_size), np.asarray(flipped))
    np.testing.assert_allclose(np.asarray(info.sweeps), np.asarray(flipped) / (L * L), rtol=1e-6)
    assert np.all(np.asarray(info.acceptance) == 1.0)
    assert np.mean(np.asarray(info.sweeps[0])) > 0.9 and np.mean(np.asarray(info.cluster_size[1])) < 1.5


@pytest.mark.parametrize("factory", [wolff, swendsen_wang])
def test_kernels_vmap_over_temperatures_and_chains(factory):
    L, n_T, chains = 8, 2, 3
    c = ising.couplings(jnp.array([1.5, 4.0]))
    spins = ising.random_spins(jax.random.key(0), L, (n_T, chains))
    keys = jax.random.split(jax.random.key(1), (n_T, chains))

    def one(c, key, s):
        k = factory(c)
        state, info = k.step(key, k.init(s))
        return state.spins, info.sweeps

    s1, w1 = jax.jit(jax.vmap(jax.vmap(one, in_axes=(None, 0, 0))))(c, keys, spins)
    assert s1.dtype == jnp.int8 and s1.shape == (n_T, chains, L, L)
    assert w1.shape == (n_T, chains) and np.all(np.asarray(w1) > 0)
    # Each member is updated as if alone: the same key and input unbatched give the same output.
    single, _ = jax.jit(one)(jax.tree.map(lambda x: x[1], c), keys[1, 2], spins[1, 2])
    np.testing.assert_array_equal(np.asarray(single), np.asarray(s1[1, 2]))


@pytest.mark.parametrize("factory", [wolff, swendsen_wang])
def test_init_rejects_bad_spins(factory):
    kernel = factory(ising.couplings(2.0))
    with pytest.raises(ValueError, match="spins"):
        kernel.init(jnp.ones((4, 4), jnp.int32))
    with pytest.raises(ValueError, match="spins"):
        kernel.init(jnp.ones((4, 6), jnp.int8))
    with pytest.raises(ValueError, match="substeps"):
        wolff(ising.couplings(2.0), substeps=0)
    with pytest.raises(ValueError, match="rng"):
        factory(ising.couplings(2.0), rng="mt19937")
