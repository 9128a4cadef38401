"""Four-sublattice Metropolis for 2x2-patch Hamiltonians against exact enumeration of the 4x4 torus.

Statistical tolerances: independent chains, standard error from the spread of chain means; each operator mean must lie
within 4.5 standard errors of the exact value (six operators per coupling set: a false alarm rate ~1e-4 per test).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrg import ising
from jaxrg.sampling.multispin import (
    PATCH_OPERATORS,
    merge_sublattices,
    nearest_neighbour_patch_couplings,
    patch_local_field,
    patch_metropolis,
    patch_operator_sums,
    patch_reduced_hamiltonian,
    split_sublattices,
)


def _all_states(L):
    n = L * L
    x = np.arange(2**n, dtype=np.int64)[:, None]
    bits = (x >> np.arange(n)) & 1
    return (1 - 2 * bits).astype(np.int8).reshape(-1, L, L)


_STATES_4 = _all_states(4)
_SUMS_4 = np.asarray(patch_operator_sums(jnp.asarray(_STATES_4), jnp.float64))


def _exact_means(J):
    logw = _SUMS_4 @ np.asarray(J, np.float64)
    w = np.exp(logw - logw.max())
    w /= w.sum()
    return w @ _SUMS_4


def test_operator_sums_by_hand():
    s = np.ones((4, 4), np.int8)
    s[1, 2] = -1
    S = np.asarray(patch_operator_sums(jnp.asarray(s), jnp.float64))
    # one flipped spin: 2 of 16 bonds of each pair type turn to -1, 4 of 16 plaquettes, field 14
    np.testing.assert_allclose(S, [12, 12, 12, 12, 8, 14])
    J = np.array([0.3, -0.2, 0.1, 0.05, -0.15, 0.07])
    np.testing.assert_allclose(patch_reduced_hamiltonian(jnp.asarray(s), jnp.asarray(J)), -S @ J, rtol=1e-12)


def test_local_field_is_energy_difference():
    key = jax.random.key(3)
    L = 6
    s = ising.random_spins(key, L)
    J = jnp.array([0.3, -0.2, 0.1, 0.05, -0.15, 0.07])
    h = np.asarray(patch_local_field(s, J))
    e0 = float(patch_reduced_hamiltonian(s, J))
    for y, x in [(0, 0), (2, 5), (5, 3)]:
        flipped = s.at[y, x].set(-s[y, x])
        d = float(patch_reduced_hamiltonian(flipped, J)) - e0
        np.testing.assert_allclose(d, 2 * int(s[y, x]) * h[y, x], rtol=1e-10, atol=1e-12)


def test_sublattice_layout_round_trip():
    s = ising.random_spins(jax.random.key(0), 8, (3,))
    sub = split_sublattices(s)
    assert sub.shape == (3, 2, 2, 4, 4)
    assert int(sub[1, 0, 1, 2, 3]) == int(s[1, 2 * 2 + 0, 2 * 3 + 1])
    np.testing.assert_array_equal(merge_sublattices(sub), s)


@pytest.mark.parametrize(
    "J",
    [
        (0.25, 0.35, 0.08, -0.06, 0.1, 0.05),  # all six couplings non-zero, ordered side
        (0.2, 0.15, -0.1, 0.12, -0.2, -0.1),  # frustrated diagonals, negative plaquette
    ],
)
def test_patch_metropolis_matches_enumeration_4x4(J):
    seed = 20261122
    n_chains, n_therm, n_sweeps = 256, 60, 300
    J = jnp.asarray(J, jnp.float64)
    kernel = patch_metropolis(J)

    def chain(key):
        k_init, k_run = jax.random.split(key)
        state = kernel.init(ising.random_spins(k_init, 4))

        def body(state, k):
            state, info = kernel.step(k, state)
            return state, (patch_operator_sums(state.spins), info.acceptance)

        keys = jax.random.split(k_run, n_therm + n_sweeps)
        state, _ = jax.lax.scan(lambda st, k: (kernel.step(k, st)[0], None), state, keys[:n_therm])
        _, (sums, acc) = jax.lax.scan(body, state, keys[n_therm:])
        return sums.mean(0), acc.mean()

    means, acc = jax.jit(jax.vmap(chain))(jax.random.split(jax.random.key(seed), n_chains))
    means = np.asarray(means)
    exact = _exact_means(J)
    estimate = means.mean(0)
    error = means.std(0, ddof=1) / np.sqrt(n_chains)
    z = (estimate - exact) / error
    assert 0.05 < float(acc.mean()) < 0.95
    assert np.all(np.abs(z) < 4.5), f"seed {seed}: {dict(zip(PATCH_OPERATORS, np.round(z, 2)))}"
    # and the resolution is good enough to matter: errors below 1% of the operator range (16 terms)
    assert np.all(error < 0.16)


def test_nearest_neighbour_reduces_to_ising():
    J = nearest_neighbour_patch_couplings(0.4, 0.1)
    np.testing.assert_allclose(J, [0.4, 0.4, 0, 0, 0, 0.1])
    s = ising.random_spins(jax.random.key(5), 6)
    np.testing.assert_allclose(
        patch_reduced_hamiltonian(s, J), ising.reduced_hamiltonian(s, ising.Couplings(K=0.4, h=0.1)), rtol=1e-12
    )


def test_bad_input_rejected():
    with pytest.raises(ValueError, match="couplings"):
        patch_metropolis(jnp.zeros(5))
    with pytest.raises(ValueError, match="finite"):
        patch_metropolis(jnp.array([np.nan, 0, 0, 0, 0, 0]))
    kernel = patch_metropolis(jnp.zeros(6))
    with pytest.raises(ValueError):
        kernel.init(jnp.ones((2, 2), jnp.int8))
    with pytest.raises(ValueError):
        kernel.init(jnp.ones((5, 5), jnp.int8))
    with pytest.raises(ValueError, match="rng"):
        patch_metropolis(jnp.zeros(6), rng="mt")
