"""Lattice geometry: neighbour sums and the compact checkerboard layout, checked against direct indexing."""

import jax
import numpy as np
import pytest

from jaxrg import ising, lattice


@pytest.mark.parametrize("L", [4, 6, 8])
def test_neighbour_sum_matches_explicit_loop(L):
    s = np.asarray(ising.random_spins(jax.random.key(L), L))
    expected = np.zeros_like(s, dtype=np.int64)
    for i in range(L):
        for j in range(L):
            expected[i, j] = s[(i + 1) % L, j] + s[(i - 1) % L, j] + s[i, (j + 1) % L] + s[i, (j - 1) % L]
    np.testing.assert_array_equal(np.asarray(lattice.neighbour_sum(s)), expected)


@pytest.mark.parametrize("L", [4, 8, 10])
def test_compact_layout_round_trip_and_neighbours(L):
    s = ising.random_spins(jax.random.key(1), L, (3,))
    black, white = lattice.split_checkerboard(s)
    assert black.shape == (3, L, L // 2)
    mask = lattice.checkerboard_mask(L)
    # black holds exactly the (i + j) even sites, row by row
    np.testing.assert_array_equal(np.asarray(black[0]).ravel(), np.asarray(s[0])[mask])
    np.testing.assert_array_equal(np.asarray(lattice.merge_checkerboard(black, white)), np.asarray(s))
    n_black, n_white = lattice.split_checkerboard(lattice.neighbour_sum(s))
    np.testing.assert_array_equal(np.asarray(lattice.compact_neighbour_sum(white, 0)), np.asarray(n_black))
    np.testing.assert_array_equal(np.asarray(lattice.compact_neighbour_sum(black, 1)), np.asarray(n_white))


@pytest.mark.parametrize("bad", [3.0, "8", True, 1, -4])
def test_validate_size_rejects(bad):
    with pytest.raises(ValueError, match="L"):
        lattice.validate_size(bad, minimum=2)


def test_validate_size_even():
    with pytest.raises(ValueError, match="even"):
        lattice.validate_size(5, even=True)
