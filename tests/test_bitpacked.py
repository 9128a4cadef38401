"""Bit-packed Metropolis against exact results: neighbour logic, flip probabilities, Boltzmann histogram, Kaufman.

Statistical tolerances are stated per test; seeds are fixed and printed in failure messages.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrg import exact, ising, lattice, observables
from jaxrg.sampling import bitpacked as bp
from jaxrg.sampling.bitpacked import bitpacked_metropolis, pack_spins, unpack_spins
from chisquare import energy_histogram_p

# L = 6, 16, 96: 1, 8 and 16 bits per word; three, one and three words per row.
SIZES = [6, 16, 96]


def test_pack_unpack_round_trip():
    pack = jax.jit(pack_spins)  # traced: the +-1 value check is done eagerly only
    for L in (6, 16, 96):
        spins = ising.random_spins(jax.random.key(L), L, (2,))
        black, white = pack(spins)
        G = bp.packed_segments(L)
        S = L // 2 // G
        assert black.dtype == jnp.uint16 and black.shape == (2, L, S)
        np.testing.assert_array_equal(np.asarray(jax.jit(unpack_spins)(black, white)), np.asarray(spins))
        # bit g of word w holds compact site k = g S + w: check one site against the compact layout directly
        b_compact, _ = lattice.split_checkerboard(spins)
        k = L // 2 - 1
        bit = (np.asarray(black)[..., 1, k % S] >> (k // S)) & 1
        np.testing.assert_array_equal(2 * bit.astype(int) - 1, np.asarray(b_compact)[..., 1, k])
        if G < 16:
            assert np.all(np.asarray(black) >> G == 0)  # unused bits stay zero


@pytest.mark.parametrize("L", SIZES)
def test_half_sweep_flips_exactly_the_downhill_sites(L):
    # K = 30: p3, p4 < 2^-32, so exactly the sites of the colour with at most two aligned neighbours flip;
    # K = 0: p = 1, every site of the colour flips. Checks the packed neighbour words against lattice.neighbour_sum.
    s = ising.random_spins(jax.random.key(100 + L), L)
    black, white = pack_spins(s)

    @jax.jit
    def both_colours(K):
        digits = bp.threshold_planes(K)
        new_b, flipped_b, _ = bp._half_sweep(jax.random.key(0), black, white, 0, digits, 8)
        new_w, flipped_w, _ = bp._half_sweep(jax.random.key(1), white, black, 1, digits, 8)
        return unpack_spins(new_b, white), unpack_spins(black, new_w), flipped_b, flipped_w

    s = np.asarray(s)
    aligned = (s * np.asarray(lattice.neighbour_sum(jnp.asarray(s))) + 4) // 2
    masks = (lattice.checkerboard_mask(L), ~lattice.checkerboard_mask(L))
    after_b, after_w, flipped_b, flipped_w = both_colours(30.0)
    for after, flipped, mask in ((after_b, flipped_b, masks[0]), (after_w, flipped_w, masks[1])):
        np.testing.assert_array_equal(np.asarray(after), np.where(mask & (aligned <= 2), -s, s))
        assert int(flipped) == np.sum(mask & (aligned <= 2))
    after_b, after_w, _, _ = both_colours(0.0)
    for after, mask in ((after_b, masks[0]), (after_w, masks[1])):
        np.testing.assert_array_equal(np.asarray(after), np.where(mask, -s, s))


@pytest.mark.parametrize("L, planes_per_round", [(6, 2), (64, 8), (64, 32)])
def test_flip_probabilities_are_metropolis(L, planes_per_round):
    # Many independent half-sweeps of one configuration: the flip frequency of sites with 3 and 4 aligned neighbours
    # must be exp(-4K) and exp(-8K) within 4 binomial standard errors (the while-loop rounds of 2 and 8 planes and
    # the single unrolled round of 32).
    K, reps, seed = 0.3, 3000 if L == 6 else 400, 21
    s = ising.random_spins(jax.random.key(7), L)
    black, white = pack_spins(s)
    planes = bp.threshold_planes(K)

    def one(key):
        new, _, used = bp._half_sweep(key, black, white, 0, planes, planes_per_round)
        return unpack_spins(new, white) != s, used

    flipped, used = jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(seed), reps))
    flipped = np.asarray(flipped)
    assert np.all(np.asarray(used) <= 32)
    s_np = np.asarray(s)
    aligned = (s_np * np.asarray(lattice.neighbour_sum(s)) + 4) // 2
    black_mask = lattice.checkerboard_mask(L)
    for a, p in ((3, np.exp(-4 * K)), (4, np.exp(-8 * K))):
        sites = black_mask & (aligned == a)
        n = reps * sites.sum()
        freq = flipped[:, sites].mean()
        se = np.sqrt(p * (1 - p) / n)
        assert abs(freq - p) < 4 * se, f"a={a}: {freq:.5f} vs {p:.5f} +- {se:.5f} (n={n}, seed {seed})"
    assert np.all(flipped[:, black_mask & (aligned <= 2)])
    assert not np.any(flipped[:, ~black_mask])


def test_trajectory_does_not_depend_on_planes_per_round():
    # Plane i always draws the same bits and settled comparisons never change: rounds of 4 planes (early exit) and
    # one unrolled round of 32 give bitwise the same chain.
    c = ising.couplings(2.269)
    spins = ising.random_spins(jax.random.key(3), 16)
    results = []
    for planes_per_round in (4, 32):
        kernel = bitpacked_metropolis(c, planes_per_round=planes_per_round)

        def run(state):
            return jax.lax.scan(lambda st, k: kernel.step(k, st), state, jax.random.split(jax.random.key(4), 5))

        state, info = jax.jit(run)(kernel.init(spins))
        results.append((np.asarray(state.spins), np.asarray(info.acceptance)))
    for spins_i, acc_i in results[1:]:
        np.testing.assert_array_equal(spins_i, results[0][0])
        np.testing.assert_array_equal(acc_i, results[0][1])


def test_threshold_planes_encode_probabilities():
    K = 0.37
    planes = np.asarray(bp.threshold_planes(K)) != 0
    weights = 2.0 ** -np.arange(1, 33)
    for c, p in enumerate((np.exp(-4 * K), np.exp(-8 * K))):
        value = np.sum(weights * planes[c])
        assert 0 <= p - value < 2.0**-32 + 1e-7 * p, (c, p, value)


def _sample(L, T, *, chains, n_measure, every, thermalize, seed):
    """Energy and magnetisation series ``(n_T, chains, n_measure)`` from the bit-packed kernel, one compiled run."""
    T = np.asarray(T, dtype=float)
    couplings = ising.couplings(np.repeat(T, chains))
    spins = ising.random_spins(jax.random.key(seed), L, (T.size * chains,))

    def chain(c, key, s):
        kernel = bitpacked_metropolis(c)

        def sweeps(state, keys):
            return jax.lax.scan(lambda st, k: (kernel.step(k, st)[0], None), state, keys)[0]

        k_therm, k_run = jax.random.split(key)
        state = sweeps(kernel.init(s), jax.random.split(k_therm, thermalize))

        def measure(state, k):
            state = sweeps(state, jax.random.split(k, every))
            return state, (ising.energy_per_spin(state.spins), ising.magnetization_per_spin(state.spins))

        return jax.lax.scan(measure, state, jax.random.split(k_run, n_measure))[1]

    keys = jax.random.split(jax.random.key(seed + 1), T.size * chains)
    e, m = jax.jit(jax.vmap(chain))(couplings, keys, spins)
    return (np.asarray(x).reshape(T.size, chains, n_measure) for x in (e, m))


def test_energy_histogram_4x4_matches_boltzmann():
    # Both temperatures, 32 chains each, 400 measurements per chain 8 sweeps apart; chi-square p > 1e-3.
    T, seed = np.array([1.8, 3.0]), 12
    energies, _ = _sample(4, T, chains=32, n_measure=400, every=8, thermalize=100, seed=seed)
    for T_i, e in zip(T, energies):
        p, chi2, dof = energy_histogram_p(e, 4, T_i)
        assert p > 1e-3, f"T={T_i}: chi2={chi2:.1f} for {dof} dof, p={p:.2e} (seed {seed})"


def test_energy_and_heat_capacity_16x16_match_kaufman():
    # 4 chains x 6000 sweeps per temperature after 500, measured every 2nd sweep; errors from jaxrg.observables
    # (binning + jackknife, tau in sweeps).
    T, seed = np.array([2.0, 2.269, 2.6]), 4
    e, m = _sample(16, T, chains=4, n_measure=3000, every=2, thermalize=500, seed=seed)
    est = observables.thermodynamics(observables.Timeseries(e, m), 16, T, sweeps_per_measurement=2)
    ref = exact.finite_lattice(16, T)
    for name in ("energy", "heat_capacity"):
        got, want = getattr(est, name), np.asarray(getattr(ref, name))
        z = np.abs(got.mean - want) / got.error
        assert np.all(z < 4), f"{name}: {got.mean} +- {got.error} vs exact {want} (z={z}, seed {seed})"


def test_kernel_vmaps_and_jits_identically():
    L = 64
    c = ising.couplings(jnp.array([1.5, 3.0]))
    spins = ising.ordered_spins(L, (2,))
    keys = jax.random.split(jax.random.key(1), 2)

    def one(c, key, s):
        k = bitpacked_metropolis(c)
        state, info = k.step(key, k.init(s))
        return state.spins, info.acceptance, info.planes

    s1, acc1, planes = jax.jit(jax.vmap(one))(c, keys, spins)
    single = jax.jit(one)  # the batched kernel is the single-lattice kernel, lattice by lattice
    for i in range(2):
        s2 = single(ising.Couplings(c.K[i], c.h[i]), keys[i], spins[i])[0]
        np.testing.assert_array_equal(np.asarray(s1[i]), np.asarray(s2))
    assert s1.dtype == jnp.int8 and s1.shape == (2, L, L)
    assert acc1[1] > acc1[0] and np.all((np.asarray(planes) >= 2) & (np.asarray(planes) <= 32))


def test_traced_field_stops_the_run_with_an_error():
    """Inside jit the field cannot be checked in Python: the kernel raises (equinox.error_if), never samples."""
    spins = ising.random_spins(jax.random.key(0), 8)

    def one(h):
        k = bitpacked_metropolis.build_kernel()
        state, info = k(jax.random.key(1), bitpacked_metropolis.init(spins), ising.Couplings(jnp.asarray(0.4), h))
        return state.spins, info.acceptance

    jax.block_until_ready(jax.jit(one)(jnp.asarray(0.0)))  # zero field runs
    # under jax.jit the runtime error surfaces as XLA's error type, carrying the kernel's message
    with pytest.raises(Exception, match="needs h = 0 and K >= 0"):
        jax.block_until_ready(jax.jit(one)(jnp.asarray(0.2)))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: bitpacked_metropolis(ising.couplings(2.0, h=0.1)), "h"),
        (lambda: bitpacked_metropolis(ising.Couplings(K=jnp.asarray(-0.2), h=jnp.asarray(0.0))), "K"),
        (lambda: bitpacked_metropolis(ising.Couplings(K=jnp.asarray(np.nan), h=jnp.asarray(0.0))), "K"),
        (lambda: bitpacked_metropolis(ising.couplings([2.0, 3.0])), "scalars"),
        (lambda: bitpacked_metropolis(ising.couplings(2.0), planes_per_round=3), "planes_per_round"),
        (lambda: bitpacked_metropolis(ising.couplings(2.0), planes_per_round=34), "planes_per_round"),
        (lambda: bitpacked_metropolis(ising.couplings(2.0)).init(ising.random_spins(jax.random.key(0), 8, (2,))),
         "one"),
        (lambda: pack_spins(jnp.ones((6, 6), jnp.int32)), "int8"),
        (lambda: pack_spins(jnp.ones((5, 5), jnp.int8)), "even"),
        (lambda: pack_spins(jnp.ones((2, 2), jnp.int8)), "even"),
        (lambda: pack_spins(jnp.ones((4, 6), jnp.int8)), "shape"),
        (lambda: pack_spins(jnp.zeros((4, 4), jnp.int8)), "-1 and \\+1"),
        (lambda: unpack_spins(jnp.zeros((4, 1), jnp.uint16), jnp.zeros((4, 2), jnp.uint16)), "same shape"),
        (lambda: unpack_spins(jnp.zeros((8, 2), jnp.uint16), jnp.zeros((8, 2), jnp.uint16)), "do not come"),
        (lambda: unpack_spins(jnp.zeros((8, 1), jnp.int32), jnp.zeros((8, 1), jnp.int32)), "uint16"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_simulate_rejects_a_field_up_front():
    """simulate checks the concrete couplings before compiling: the bit-packed kernel has no field term."""
    import jaxrg

    with pytest.raises(ValueError, match="must be 0 for the bit-packed kernel"):
        jaxrg.simulate(8, [2.0, 2.5], sampler="bitpacked_metropolis", h=0.1, sweeps=32)
