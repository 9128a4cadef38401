"""The model: energies of known configurations, couplings, validation at the boundary."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrg import ising


def test_energy_of_ordered_and_antiferromagnetic_states():
    L = 6
    up = ising.ordered_spins(L)
    assert float(ising.energy_per_spin(up)) == -2.0
    assert float(ising.magnetization_per_spin(ising.ordered_spins(L, sign=-1))) == -1.0
    i, j = np.indices((L, L))
    neel = jnp.asarray(np.where((i + j) % 2 == 0, 1, -1), jnp.int8)
    assert float(ising.energy_per_spin(neel)) == 2.0
    assert float(ising.magnetization_per_spin(neel)) == 0.0


def test_energy_counts_each_bond_once():
    # one flipped spin in an ordered lattice breaks exactly 4 bonds: E = -2N + 8
    L = 8
    s = ising.ordered_spins(L).at[3, 5].set(-1)
    assert float(ising.energy_per_spin(s)) * L * L == -2 * L * L + 8


def test_reduced_hamiltonian_and_local_field():
    L = 4
    s = ising.random_spins(jax.random.key(0), L)
    c = ising.Couplings(K=jnp.asarray(0.3), h=jnp.asarray(0.1))
    beta_h = ising.reduced_hamiltonian(s, c)
    # flipping site (1, 2) changes beta*H by 2 * s * local_field
    s2 = s.at[1, 2].multiply(-1)
    delta = ising.reduced_hamiltonian(s2, c) - beta_h
    expected = 2 * s[1, 2] * ising.local_field(s, c)[1, 2]
    np.testing.assert_allclose(delta, expected, rtol=1e-12)


def test_couplings_from_temperature():
    c = ising.couplings([1.0, 2.0, 4.0], h=0.5)
    np.testing.assert_allclose(c.K, [1.0, 0.5, 0.25])
    np.testing.assert_allclose(c.h, [0.5, 0.25, 0.125])


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), [1.0, -2.0], "hot", [[1.0]]])
def test_bad_temperature(bad):
    with pytest.raises(ValueError, match="T"):
        ising.couplings(bad)


def test_bad_field():
    with pytest.raises(ValueError, match="h"):
        ising.couplings(1.0, h=float("nan"))


def test_validate_spins():
    with pytest.raises(ValueError, match="int8"):
        ising.validate_spins(jnp.ones((4, 4), jnp.float32))
    with pytest.raises(ValueError, match="shape"):
        ising.validate_spins(jnp.ones((4, 6), jnp.int8))
    with pytest.raises(ValueError, match="even"):
        ising.validate_spins(jnp.ones((5, 5), jnp.int8), even=True)
    with pytest.raises(ValueError, match="sign"):
        ising.ordered_spins(4, sign=0)
