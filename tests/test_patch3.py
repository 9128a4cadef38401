"""Sublattice Metropolis for 3x3-patch Hamiltonians against exact enumeration of small tori, and its flow spaces.

Statistical tolerances: independent chains; each of the 19 operator means must lie within 4.5 standard errors (spread
of chain means) of the exact value, and the histogram of the exact energy levels (couplings are multiples of 1/20, so
``20 beta H`` is an integer) must pass a chi-square test at p > 1e-3 (samples 5 sweeps apart).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrg import ising
from jaxrg.rg import flow as fl
from jaxrg.sampling import multispin, patch3
from jaxrg.sampling.patch3 import (
    N_PATCH3_OPERATORS,
    PATCH3_OPERATORS,
    patch3_from_patch_couplings,
    patch3_local_field,
    patch3_metropolis,
    patch3_operator_sums,
    patch3_reduced_hamiltonian,
)
from chisquare import chi_square_p

# all nineteen couplings non-zero, in units of 1/20 (order of PATCH3_OPERATORS)
UNITS = np.array([5, 4, 2, -1, 1, -2, 1, -1, 1, 1, -1, 1, 2, 1, -1, 1, -1, 1, 1])
RANDOM_J = jnp.asarray(np.random.default_rng(7).normal(0.0, 0.3, N_PATCH3_OPERATORS))
# one compiled program per lattice shape instead of many small eager ones
local_field = jax.jit(patch3_local_field)
reduced_hamiltonian = jax.jit(patch3_reduced_hamiltonian)


def _by_name(S):
    return dict(zip(PATCH3_OPERATORS, np.asarray(S).tolist()))


def test_operator_sums_by_hand():
    # one flipped spin on 6 x 6: a k-spin operator has k of its 36 terms through the site, each turns to -1
    s = np.ones((6, 6), np.int8)
    s[2, 3] = -1
    sizes = np.array([len(shape) for shape in patch3.PATCH3_SHAPES])
    np.testing.assert_array_equal(patch3_operator_sums(jnp.asarray(s), jnp.float32), 36 - 2 * sizes)
    # columns of alternating sign, s = (-1)^x: the orientation of every operator shows
    cols = np.broadcast_to((-1) ** np.arange(6), (6, 6)).astype(np.int8)
    expected = dict(nn_x=-36, nn_y=36, diagonal=-36, antidiagonal=-36, third_x=36, third_y=36, knight_x=36,
                    knight_x_anti=36, knight_y=-36, knight_y_anti=-36, far_diagonal=36, far_antidiagonal=36,
                    plaquette=36, six_x=36, six_y=-36, diamond=36, corners=36, nine=0, field=0)
    assert _by_name(patch3_operator_sums(jnp.asarray(cols), jnp.float32)) == expected
    # and the transpose swaps the x and y operators
    swapped = dict(expected, nn_x=36, nn_y=-36, knight_x=-36, knight_x_anti=-36, knight_y=36, knight_y_anti=36,
                   six_x=-36, six_y=36)
    assert _by_name(patch3_operator_sums(jnp.asarray(cols.T), jnp.float32)) == swapped


def test_reduces_to_the_2x2_patch_hamiltonian():
    s = ising.random_spins(jax.random.key(5), 6, (3,))
    J6 = jnp.array([0.3, -0.2, 0.1, 0.05, -0.15, 0.07])
    np.testing.assert_allclose(patch3_reduced_hamiltonian(s, patch3_from_patch_couplings(J6)),
                               multispin.patch_reduced_hamiltonian(s, J6), rtol=1e-6)


@pytest.mark.parametrize("shape", [(5, 7), (4, 3)])
def test_local_field_is_energy_difference(shape):
    s = jnp.asarray(np.random.default_rng(1).choice(np.array([-1, 1], np.int8), shape))
    J = RANDOM_J.astype(jnp.float32)
    h = np.asarray(local_field(s, J))
    flips = 1 - 2 * np.eye(s.size, dtype=np.int8).reshape(-1, *shape)  # one configuration per flipped site
    d = np.asarray(reduced_hamiltonian(s * jnp.asarray(flips), J) - reduced_hamiltonian(s, J))
    np.testing.assert_allclose(d, 2 * np.asarray(s).ravel() * h.ravel(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("side, period", [(12, 3), (8, 4), (10, 5), (16, 4)])
def test_sublattice_sites_do_not_interact(side, period):
    # flipping any set of sites of one sublattice leaves the local fields on that sublattice unchanged
    assert patch3.sublattice_period(side) == period
    s = ising.random_spins(jax.random.key(side), side)
    J = RANDOM_J.astype(jnp.float32)
    h0 = np.asarray(local_field(s, J))
    y, x = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    rng = np.random.default_rng(side)
    for a, b in [(0, 0), (period - 1, 1), (1, period - 1)]:
        on = (y % period == a) & (x % period == b)
        flip = on & (rng.random(on.shape) < 0.5)
        h1 = np.asarray(local_field(jnp.where(jnp.asarray(flip), -s, s), J))
        np.testing.assert_allclose(h1[on], h0[on], atol=1e-5)


def _enumerate(shape, units):
    """Integer operator sums and integer energies ``20 beta H`` of all states of the torus, with exact weights."""
    n = shape[0] * shape[1]
    sums = jax.jit(lambda s: patch3_operator_sums(s, jnp.float32))
    chunks = []
    for start in range(0, 2**n, 2**16):
        x = np.arange(start, start + 2**16, dtype=np.int64)[:, None]
        s = (1 - 2 * ((x >> np.arange(n)) & 1)).astype(np.int8).reshape(-1, *shape)
        chunks.append(np.rint(np.asarray(sums(jnp.asarray(s)))).astype(np.int64))
    S = np.concatenate(chunks)
    level = -(S @ units)
    logw = -level / 20.0
    w = np.exp(logw - logw.max())
    return S, level, w / w.sum()


@pytest.mark.parametrize("shape", [(5, 4), (3, 6)])
def test_patch3_metropolis_matches_enumeration(shape):
    # (5, 4): no operator wraps along y and every sublattice is one site; (3, 6): two sites per sublattice along x
    seed = 20261201
    n_chains, n_therm, n_records, thin = 192, 30, 40, 5
    S, level, p = _enumerate(shape, UNITS)
    exact = p @ S
    J = jnp.asarray(UNITS / 20.0, jnp.float32)
    kernel = patch3.build_kernel()

    def chain(key):
        k_init, k_run = jax.random.split(key)
        spins = jnp.where(jax.random.bernoulli(k_init, 0.5, shape), 1, -1).astype(jnp.int8)
        state = patch3.init(spins)

        def sweeps(state, keys):
            state, info = jax.lax.scan(lambda st, k: kernel(k, st, J), state, keys)
            return state, (patch3_operator_sums(state.spins), info.acceptance[-1])

        keys = jax.random.split(k_run, n_therm + n_records * thin)
        state, _ = jax.lax.scan(lambda st, k: (kernel(k, st, J)[0], None), state, keys[:n_therm])
        _, (sums, acc) = jax.lax.scan(sweeps, state, keys[n_therm:].reshape(n_records, thin))
        return sums, acc.mean()

    sums, acc = jax.jit(jax.vmap(chain))(jax.random.split(jax.random.key(seed), n_chains))
    sums = np.rint(np.asarray(sums)).astype(np.int64)
    assert 0.05 < float(acc.mean()) < 0.95
    # energy histogram over the exact levels
    levels, inverse = np.unique(level, return_inverse=True)
    p_levels = np.bincount(inverse, weights=p)
    sampled = -(sums.reshape(-1, N_PATCH3_OPERATORS) @ UNITS)
    assert np.all(np.isin(sampled, levels)), f"seed {seed}: impossible energies sampled"
    counts = np.array([np.sum(sampled == e) for e in levels], dtype=float)
    p_value, chi2, dof = chi_square_p(counts, p_levels)
    assert p_value > 1e-3, f"seed {seed}: chi2 {chi2:.1f} for {dof} dof (p = {p_value:.2g})"
    # mean of every operator
    means = sums.mean(1)
    estimate = means.mean(0)
    error = means.std(0, ddof=1) / np.sqrt(n_chains)
    z = (estimate - exact) / error
    assert np.all(np.abs(z) < 4.5), f"seed {seed}: {_by_name(np.round(z, 2))}"
    assert np.all(error < 0.01 * shape[0] * shape[1] * 9)  # resolution: 1% of the largest operator range


def test_second_call_with_new_couplings_compiles_nothing():
    kernel = patch3.build_kernel()
    run = jax.jit(lambda key, state, J: jax.lax.scan(lambda st, k: kernel(k, st, J), state,
                                                     jax.random.split(key, 3))[0])
    state = patch3.init(ising.random_spins(jax.random.key(0), 8))
    J1, J2 = RANDOM_J.astype(jnp.float32), jnp.asarray(0.5 * np.asarray(RANDOM_J), jnp.float32)
    key1, key2 = jax.random.key(1), jax.random.key(2)
    run(key1, state, J1).sub.block_until_ready()
    compiles = []
    listener = lambda name, *a, **k: compiles.append(name) if name == "/jax/core/compile/backend_compile_duration" \
        else None  # noqa: E731
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        run(key2, state, J2).sub.block_until_ready()
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert compiles == []


def test_flow_spaces_of_the_3x3_patch():
    s = ising.random_spins(jax.random.key(3), 8, (4,))
    # the n = 3 space of the 3 x 3 patch is the n = 3 space of the 2 x 2 patch
    np.testing.assert_allclose(fl.coupling_operators(s, fl.coupling_space(3, patch=3), jnp.float32),
                               fl.coupling_operators(s, fl.coupling_space(3), jnp.float32), atol=1e-6)
    space = fl.coupling_space(8, patch=3)
    basis = space.array("basis")
    assert basis.shape == (8, N_PATCH3_OPERATORS)
    assert np.all(basis.sum(0) <= 1) and np.all(basis.sum(1) >= 1)  # disjoint classes: genuinely different
    assert fl.space_sampler(space) is patch3_metropolis
    # square symmetry: the operators are invariant under transposition and reflection
    for t in (lambda a: jnp.swapaxes(a, -1, -2), lambda a: a[..., ::-1]):
        np.testing.assert_allclose(fl.coupling_operators(t(s), space, jnp.float32),
                                   fl.coupling_operators(s, space, jnp.float32), atol=1e-6)
    # the exact coarse table and the contrastive-divergence chains run in the wide space
    table = fl.enumeration_table(space)
    assert table.values.shape[1] == 8 and np.isclose(np.exp(table.log_multiplicity).sum(), 2**16)
    start = jnp.ones((2, 4, 4), jnp.int8)
    cd = fl.cd_model_moments(jax.random.key(4), jnp.zeros(8), start, space, 1)  # J' = 0: every flip accepted
    np.testing.assert_allclose(cd, fl.coupling_operators(-start, space, jnp.float32).mean(0), atol=1e-6)


def test_bad_input_rejected():
    with pytest.raises(ValueError, match="couplings"):
        patch3_metropolis(jnp.zeros(6))
    with pytest.raises(ValueError, match="finite"):
        patch3_metropolis(jnp.zeros(N_PATCH3_OPERATORS).at[3].set(jnp.nan))
    with pytest.raises(ValueError, match="rng"):
        patch3_metropolis(jnp.zeros(N_PATCH3_OPERATORS), rng="mt")
    with pytest.raises(ValueError, match="side"):
        patch3.init(jnp.ones((2, 6), jnp.int8))
    with pytest.raises(ValueError, match="int8"):
        patch3.init(jnp.ones((6, 6), jnp.float32))
    with pytest.raises(ValueError, match="one"):
        patch3.init(jnp.ones((2, 6, 6), jnp.int8))
    with pytest.raises(ValueError, match="patch"):
        fl.coupling_space(3, patch=4)
    with pytest.raises(ValueError, match="patch=3"):
        fl.coupling_space(9, patch=3)
