"""Block-spin maps: hand-built patterns, tie statistics, hierarchy shapes, purity (jit/vmap) and input checks."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrg.rg.blocking import block_average, block_hierarchy, decimation, majority_rule

KEY = jax.random.key(1234)


def _spins(a):
    return jnp.asarray(np.asarray(a, dtype=np.int8))


def _random_spins(shape, seed=0):
    return _spins(np.where(np.random.default_rng(seed).random(shape) < 0.5, 1, -1))


def test_majority_rule_known_4x4_pattern_without_ties():
    # Four 2x2 blocks with sums +4, +2, -2, -4 (top-left, top-right, bottom-left, bottom-right).
    s = _spins(
        [
            [1, 1, 1, -1],
            [1, 1, 1, 1],
            [-1, -1, -1, -1],
            [1, -1, -1, -1],
        ]
    )
    expected = np.array([[1, 1], [-1, -1]], dtype=np.int8)
    out = majority_rule(s, 2, key=KEY)
    assert out.dtype == jnp.int8 and out.shape == (2, 2)
    np.testing.assert_array_equal(np.asarray(out), expected)


def test_majority_rule_odd_block_needs_no_key():
    # 3x3 blocks of a 6x6 lattice: block sums 9, -1, 1, -9.
    s = np.ones((6, 6), dtype=np.int8)
    s[0:3, 3:6] = [[1, 1, -1], [-1, -1, 1], [1, -1, -1]]  # sum -1
    s[3:6, 0:3] = [[1, 1, -1], [-1, -1, 1], [1, -1, 1]]  # sum +1
    s[3:6, 3:6] = -1
    out = majority_rule(_spins(s), 3)
    np.testing.assert_array_equal(np.asarray(out), [[1, -1], [1, -1]])


def test_majority_ties_are_fair_coins_per_block():
    # Every 2x2 block of a striped lattice is a tie: block spins must be independent fair coins.
    s = np.tile(np.array([[1, -1], [1, -1]], dtype=np.int8), (32, 32))  # 64 x 64 -> 1024 tied blocks
    out = np.asarray(majority_rule(_spins(s), 2, key=KEY)).astype(float)
    assert set(np.unique(out)) == {-1.0, 1.0}
    n = out.size
    assert abs(out.mean()) < 4.0 / np.sqrt(n), f"tie-break mean {out.mean()} (seed 1234)"
    # neighbouring block spins uncorrelated: |<s s'>| within 4 standard errors of 0
    corr = np.mean(out * np.roll(out, 1, axis=-1))
    assert abs(corr) < 4.0 / np.sqrt(n), f"tie-break neighbour correlation {corr} (seed 1234)"
    # different keys give different coins, the same key the same coins
    again = np.asarray(majority_rule(_spins(s), 2, key=KEY))
    other = np.asarray(majority_rule(_spins(s), 2, key=jax.random.key(99)))
    np.testing.assert_array_equal(out, again)
    assert np.any(other != out)


def test_majority_ties_only_where_block_sum_is_zero_exhaustive_2x2():
    # All 16 states of one 2x2 block: non-tied blocks follow the sign, tied ones (6 of 16) are +-1.
    states = np.array(list(itertools.product([-1, 1], repeat=4)), dtype=np.int8).reshape(16, 2, 2)
    out = np.asarray(majority_rule(_spins(states), 2, key=KEY))[:, 0, 0]
    sums = states.reshape(16, 4).sum(axis=1)
    np.testing.assert_array_equal(out[sums != 0], np.sign(sums[sums != 0]))
    assert np.sum(sums == 0) == 6 and set(out[sums == 0]) <= {-1, 1}


def test_majority_rule_is_odd_under_global_flip_for_odd_b_and_keeps_flip_symmetry_with_key():
    s = np.where(np.random.default_rng(0).random((4, 9, 9)) < 0.5, 1, -1).astype(np.int8)
    a = np.asarray(majority_rule(_spins(s), 3))
    np.testing.assert_array_equal(np.asarray(majority_rule(_spins(-s), 3)), -a)


def test_decimation_known_pattern():
    s = np.arange(36).reshape(6, 6)
    spins = np.where(s % 3 == 0, 1, -1).astype(np.int8)
    np.testing.assert_array_equal(np.asarray(decimation(_spins(spins), 2)), spins[::2, ::2])
    np.testing.assert_array_equal(np.asarray(decimation(_spins(spins), 3)), [[spins[0, 0], spins[0, 3]],
                                                                              [spins[3, 0], spins[3, 3]]])


def test_hierarchy_shapes_and_consistency():
    key_b = KEY
    s = _random_spins((3, 16, 16))
    levels = jax.jit(lambda x, k: block_hierarchy(x, 2, 3, key=k))(s, key_b)
    assert [x.shape for x in levels] == [(3, 16, 16), (3, 8, 8), (3, 4, 4), (3, 2, 2)]
    assert all(x.dtype == jnp.int8 for x in levels)
    keys = jax.random.split(key_b, 3)
    one_level = jax.jit(lambda x, k: majority_rule(x, 2, key=k))
    np.testing.assert_array_equal(np.asarray(levels[1]), np.asarray(one_level(s, keys[0])))
    np.testing.assert_array_equal(np.asarray(levels[2]), np.asarray(one_level(levels[1], keys[1])))
    dec = block_hierarchy(s, 2, 2, rule="decimation")
    np.testing.assert_array_equal(np.asarray(dec[2]), np.asarray(s[..., ::4, ::4]))
    assert len(block_hierarchy(s, 2, 0)) == 1


def test_uniform_configurations_are_fixed_points():
    for sign in (1, -1):
        s = jnp.full((8, 8), sign, jnp.int8)
        for x in jax.jit(lambda x, k: block_hierarchy(x, 2, 3, key=k))(s, KEY):
            assert np.all(np.asarray(x) == sign)


def test_jit_and_vmap_over_configurations_and_keys():
    key_b = KEY
    s = _random_spins((5, 8, 8))
    keys = jax.random.split(key_b, 5)
    vmapped = jax.jit(jax.vmap(lambda x, k: majority_rule(x, 2, key=k)))(s, keys)
    single = jax.jit(lambda x, k: majority_rule(x, 2, key=k))
    one_by_one = np.stack([np.asarray(single(s[i], keys[i])) for i in range(5)])
    np.testing.assert_array_equal(np.asarray(vmapped), one_by_one)
    assert jax.jit(lambda x: decimation(x, 2))(s).shape == (5, 4, 4)


def test_block_average():
    phi = jnp.arange(16.0).reshape(4, 4)
    np.testing.assert_allclose(np.asarray(block_average(phi, 2)), [[2.5, 4.5], [10.5, 12.5]])
    spins = jnp.ones((2, 6, 6), jnp.int8)
    out = block_average(spins, 3)
    assert out.shape == (2, 2, 2) and jnp.issubdtype(out.dtype, jnp.floating)
    np.testing.assert_allclose(np.asarray(out), 1.0)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda s: majority_rule(s, 3, key=KEY), "must divide"),
        (lambda s: majority_rule(s, 2), "key is required"),
        (lambda s: majority_rule(s, 1, key=KEY), ">= 2"),
        (lambda s: majority_rule(s, 2.0, key=KEY), "integer"),
        (lambda s: majority_rule(s.astype(jnp.int32), 2, key=KEY), "int8"),
        (lambda s: decimation(s, 5), "must divide"),
        (lambda s: block_hierarchy(s, 2, 4, key=KEY), "2\\*\\*4"),
        (lambda s: block_hierarchy(s, 2, 2), "key is required"),
        (lambda s: block_hierarchy(s, 2, 1, key=KEY, rule="median"), "rule"),
        (lambda s: block_hierarchy(s, 2, -1, key=KEY), "levels"),
        (lambda s: block_average(s[..., :3], 2), "shape"),
        (lambda s: block_average(s, 3), "must divide"),
    ],
)
def test_invalid_input_raises_clear_errors(call, match):
    s = jnp.ones((8, 8), jnp.int8)
    with pytest.raises(ValueError, match=match):
        call(s)


def test_stochastic_block_spins_frequencies_match_the_filter():
    # blocks with sums 4, 2, 0, -2 (one per coarse site), many keys: P(+1) = sigmoid(2 p sum V) within 4 sigma
    from jaxrg.rg.blocking import FilterRule, swendsen_rule

    fine = np.ones((2, 8), np.int8)
    fine[:, 4:6] = [[1, -1], [1, -1]]  # sum 0
    fine[:, 2:4] = [[1, 1], [1, -1]]  # sum 2
    fine[:, 6:8] = [[-1, -1], [-1, 1]]  # sum -2
    fine = np.tile(fine, (4, 1))[:8]  # (8, 8): each coarse row repeats the pattern of sums (4, 2, 0, -2)
    p = 0.4
    rule = swendsen_rule(p)
    n = 4000
    coarse = jax.vmap(lambda k: rule(jnp.asarray(fine), 2, k))(jax.random.split(jax.random.key(3), n))
    freq = np.mean(np.asarray(coarse) > 0, axis=(0, 1))  # (4,) over keys and rows
    expected = 1 / (1 + np.exp(-2 * p * np.array([4, 2, 0, -2])))
    sigma = np.sqrt(expected * (1 - expected) / (n * 4))
    assert np.all(np.abs(freq - expected) < 4 * sigma + 1e-9), (freq, expected)
    with pytest.raises(ValueError, match="p must be finite"):
        swendsen_rule(np.inf)
    with pytest.raises(ValueError, match="does not match"):
        FilterRule(np.ones((3, 3)))(jnp.asarray(fine), 2, KEY)
    # a rule object works in the block hierarchy like a named rule
    levels = block_hierarchy(jnp.asarray(fine), 2, 2, key=KEY, rule=rule)
    assert [x.shape for x in levels] == [(8, 8), (4, 4), (2, 2)]
