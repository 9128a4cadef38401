"""MCRG: operators against hand counts and a brute-force loop, exact infinite-temperature RG eigenvalues, and the
magnetic exponent at T_c."""

import itertools

import jax
import numpy as np
import pytest

from jaxrg.rg import mcrg as mcrg_module
from jaxrg.rg.mcrg import analyze, max_levels, mcrg, rg_matrix
from jaxrg.rg.operators import ALL_OPERATORS, EVEN_OPERATORS, ODD_OPERATORS, operator, operator_values

T_C = 2.0 / np.log(1.0 + np.sqrt(2.0))  # Onsager: K_c = ln(1 + sqrt 2) / 2


def _random_spins(shape, seed):
    return np.where(np.random.default_rng(seed).random(shape) < 0.5, 1, -1).astype(np.int8)


# ---------------------------------------------------------------------------------------------------------------
# operator library
# ---------------------------------------------------------------------------------------------------------------


def test_library_is_complete_and_ordered():
    # Subsets of a 3x3 patch up to translations and the 8 lattice symmetries: 85 classes (44 even, 41 odd).
    assert len(ALL_OPERATORS) == 85 and len(EVEN_OPERATORS) == 44 and len(ODD_OPERATORS) == 41
    assert [op.name for op in EVEN_OPERATORS[:4]] == ["nn", "nnn", "3rd_nn", "plaquette"]
    assert ODD_OPERATORS[0].name == "magnetization"
    assert all(len(op.shape) % 2 == 0 for op in EVEN_OPERATORS) and all(len(op.shape) % 2 for op in ODD_OPERATORS)
    # image counts (orbit sizes under D4): bonds 2 orientations, plaquette 1, L-shaped triple 4, knight pair 4
    counts = {"nn": 2, "nnn": 2, "3rd_nn": 2, "plaquette": 1, "magnetization": 1, "s3[00,01,10]": 4,
              "s2[00,12]": 4}
    assert {name: len(operator(name).images) for name in counts} == counts


def test_operators_hand_counted_single_flipped_spin():
    # 4x4 all up except one spin: 4 of the 32 nn bonds, 4 of 32 diagonal pairs, 4 of 32 distance-2 pairs and
    # 4 of the 16 plaquettes contain it; it sits in 3 of the 16 L-triples of each of 4 orientations (12 of 64).
    s = np.ones((4, 4), np.int8)
    s[1, 2] = -1
    names = ["nn", "nnn", "3rd_nn", "plaquette", "magnetization", "s3[00,01,10]"]
    values = np.asarray(operator_values(s, [operator(n) for n in names]))
    np.testing.assert_array_equal(values, [32 - 8, 32 - 8, 32 - 8, 16 - 8, 16 - 2, 64 - 24])


def test_operators_hand_counted_antiferromagnet_and_stripes():
    i, j = np.indices((6, 6))
    neel = np.where((i + j) % 2 == 0, 1, -1).astype(np.int8)
    stripes = np.where(j % 2 == 0, 1, -1).astype(np.int8)  # columns alternate
    ops = [operator(n) for n in ["nn", "nnn", "3rd_nn", "plaquette", "magnetization"]]
    n = 36
    np.testing.assert_array_equal(np.asarray(operator_values(neel, ops)), [-2 * n, 2 * n, 2 * n, n, 0])
    # stripes: vertical bonds +1, horizontal -1; diagonals -1; distance 2 along both axes +1; plaquettes +1
    np.testing.assert_array_equal(np.asarray(operator_values(stripes, ops)), [0, -2 * n, 2 * n, n, 0])


def _brute_force(spins, op):
    L = spins.shape[0]
    total = 0
    for image in op.images:
        for y, x in itertools.product(range(L), range(L)):
            total += np.prod([spins[(y + dy) % L, (x + dx) % L] for dy, dx in image], dtype=np.int64)
    return total


def test_all_operators_against_brute_force_loop():
    s = _random_spins((5, 5), seed=3)
    values = np.asarray(operator_values(s, ALL_OPERATORS))
    expected = [_brute_force(s, op) for op in ALL_OPERATORS]
    np.testing.assert_array_equal(values, expected)
    # totally ordered state: every operator equals (number of images) x N
    ones = np.asarray(operator_values(np.ones((5, 5), np.int8), ALL_OPERATORS))
    np.testing.assert_array_equal(ones, [25 * len(op.images) for op in ALL_OPERATORS])


# ---------------------------------------------------------------------------------------------------------------
# estimator at infinite temperature: exact eigenvalues
# ---------------------------------------------------------------------------------------------------------------
#
# Independent random spins stay independent and fair under 2x2 majority rule with random ties. For one block,
# E[s' * (block sum)] = (4 + 4 + 2*4 + 2*4) / 16 = 3/2, so E[s' s_i] = 3/8 for each of its four spins. Hence
# - magnetisation only: T = Cov(M', M) / Var(M') = (3/2) N' / N' = 3/2;
# - nn only: a coarse bond is crossed by b = 2 fine bonds, each correlated (3/8)^2 with it, T = 2 (3/8)^2 / 1 = 9/32
#   (Var of the coarse nn sum is 2N', Cov with the fine one 2N' * 2 * 9/64);
# - decimation: M' is a subset of M, T_mag = 1, and coarse nn pairs are not fine nn pairs, T_nn = 0.

N_SIGMA = 4.0


@pytest.fixture(scope="module")
def random_configs():
    return _random_spins((4000, 8, 8), seed=7)


def test_infinite_temperature_exact_eigenvalues_majority(random_configs):
    r = analyze(random_configs, 2, 1, key=jax.random.key(11), n_even=1, n_odd=1, n_blocks=20)
    for est, exact in [(r.lambda_h, 1.5), (r.lambda_t, 9 / 32)]:
        mean, err = est.mean[0], est.error[0]
        assert 0 < err < 0.05
        assert abs(mean - exact) < N_SIGMA * err, f"{mean} +- {err} vs {exact} (seed 7/11)"


def test_infinite_temperature_exact_eigenvalues_decimation(random_configs):
    r = analyze(random_configs, 2, 1, key=jax.random.key(11), n_even=1, n_odd=1, n_blocks=20, rule="decimation")
    assert abs(r.lambda_h.mean[0] - 1.0) < N_SIGMA * r.lambda_h.error[0]
    assert abs(r.lambda_t.mean[0]) < N_SIGMA * r.lambda_t.error[0]


def test_infinite_temperature_no_relevant_even_eigenvalue_two_lattice(random_configs):
    # Four even operators, two levels: every even eigenvalue stays below 1 (K = 0 is the stable high-T fixed point).
    big = _random_spins((4000, 16, 16), seed=9)
    small = _random_spins((4000, 8, 8), seed=8)
    r = analyze(big, 2, 2, key=jax.random.key(12), n_even=4, n_odd=2, n_blocks=20, small_configs=small)
    for res in (r, r.two_lattice):
        lead, err = res.lambda_t.mean, res.lambda_t.error
        assert np.all(lead + N_SIGMA * err < 1.0), f"leading even eigenvalue {lead} +- {err} (seeds 8/9/12)"
    # two-lattice, C from the independent L/b ensemble: the field still scales exactly by 3/2 per level (at first
    # order in h the blocks stay independent, so no other odd coupling is generated and 3/2 stays the leading one)
    tl = r.two_lattice.lambda_h
    assert np.all(np.abs(tl.mean - 1.5) < N_SIGMA * tl.error), f"{tl} (seeds 8/9/12)"
    assert r.y_t_table.mean.shape == (2, 4) and r.even_eigenvalues.mean.shape == (2, 4)


def test_rg_matrix_point_estimate_matches_hand_value(random_configs):
    series = mcrg_module.operator_series(random_configs, 2, 1, key=jax.random.key(5), n_even=1, n_odd=1)
    T_odd = rg_matrix(series[:, 0, 1:], series[:, 1, 1:])
    assert T_odd.shape == (1, 1) and abs(T_odd[0, 0] - 1.5) < 0.1


# ---------------------------------------------------------------------------------------------------------------
# critical point
# ---------------------------------------------------------------------------------------------------------------


def test_magnetic_exponent_at_critical_point_L32():
    # y_h = 15/8 at level 1 with magnetisation + the L-shaped 3-spin operator, 1600 Wolff samples on L = 32.
    r = mcrg(32, T_C, levels=1, n_even=4, n_odd=2, samples=1600, chains=8, thermalize=200, thin=1.0, seed=2)
    y_h, err = r.y_h.mean[0], r.y_h.error[0]
    assert err < 0.02, f"error bar {err} too large (seed 2)"
    assert abs(y_h - 15 / 8) < 0.05, f"y_h = {y_h} +- {err} (seed 2)"
    # the thermal exponent is relevant (y_t > 0) and not far from 1 already at level 1 with four operators
    assert 0.6 < r.y_t.mean[0] < 1.2, f"y_t = {r.y_t.mean[0]} +- {r.y_t.error[0]} (seed 2)"


# ---------------------------------------------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------------------------------------------


def test_max_levels():
    assert max_levels(32, 2) == 3 and max_levels(128, 2) == 5 and max_levels(24, 2) == 2 and max_levels(27, 3) == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(b=3), "must divide"),
        (dict(levels=4), "coarsest level"),
        (dict(n_even=45), "n_even"),
        (dict(n_odd=0), "n_odd"),
        (dict(sampler="gibbs"), "sampler"),
        (dict(rule="median"), "rule"),
        (dict(thin=0.0), "thin"),
        (dict(initial="warm"), "initial"),
        (dict(samples=4, n_blocks=32), "samples"),
    ],
)
def test_mcrg_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mcrg(32, T_C, **kwargs)


def test_analyze_rejects_bad_input(random_configs):
    with pytest.raises(ValueError, match="key"):
        analyze(random_configs[:40], 2, 1, key=None)
    with pytest.raises(ValueError, match="small_configs"):
        analyze(random_configs[:40], 2, 1, key=jax.random.key(0), small_configs=random_configs[:40])
    with pytest.raises(ValueError, match="coarsest"):
        analyze(random_configs[:40], 2, 2, key=jax.random.key(0))


def test_checkpointed_run_resumes_bitwise_and_refuses_another_seed(tmp_path):
    """A checkpointed MCRG run equals an unchecked one bitwise (chunk-level resume itself: tests/test_io.py); a
    checkpoint of another seed is refused, never silently reused."""
    from jaxrg.checkpoints import CheckpointError

    kw = dict(levels=1, samples=64, chains=4, thermalize=10, sampler="metropolis", chunk_size=4)
    plain = mcrg(8, 2.269185314213022, seed=1, **kw)
    first = mcrg(8, 2.269185314213022, seed=1, checkpoint=str(tmp_path), **kw)
    assert (tmp_path / "lattice.npz").is_file()
    np.testing.assert_array_equal(first.y_h.mean, plain.y_h.mean)
    np.testing.assert_array_equal(first.y_t.error, plain.y_t.error)
    with pytest.raises(CheckpointError):
        mcrg(8, 2.269185314213022, seed=2, checkpoint=str(tmp_path), **kw)


# ---------------------------------------------------------------------------------------------------------------
# compile policy
# ---------------------------------------------------------------------------------------------------------------


def _count_compilations(fn):
    """Number of XLA backend compilations while ``fn()`` runs."""
    names = []

    def listener(name, seconds, **kwargs):
        if name == "/jax/core/compile/backend_compile_duration":
            names.append(name)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        fn()
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    return len(names)


def test_second_mcrg_call_with_new_temperature_compiles_nothing():
    from jaxrg.rg.blocking import swendsen_rule

    kwargs = dict(levels=1, n_even=2, n_odd=1, samples=32, chains=4, thermalize=8, thin=0.5, n_blocks=4)
    first = _count_compilations(lambda: mcrg(8, 2.5, seed=0, **kwargs))
    assert first > 0
    assert _count_compilations(lambda: mcrg(8, 2.8, seed=1, **kwargs)) == 0
    # a stochastic rule's weights are traced arguments too: a new p compiles once for the rule, then nothing
    mcrg(8, 2.5, rule=swendsen_rule(1.0), **kwargs)
    assert _count_compilations(lambda: mcrg(8, 2.6, rule=swendsen_rule(2.0), **kwargs)) == 0


def test_infinite_temperature_exact_eigenvalue_swendsen_map(random_configs):
    # P(s' | V) ~ exp(p s' sum V) on independent fair spins: T_mag = E[s' sum V] = tanh(4p)/2 + tanh(2p)
    from jaxrg.rg.blocking import swendsen_rule

    p = 0.5
    r = analyze(random_configs, 2, 1, key=jax.random.key(11), n_even=1, n_odd=1, n_blocks=20, rule=swendsen_rule(p))
    exact = np.tanh(4 * p) / 2 + np.tanh(2 * p)
    mean, err = r.lambda_h.mean[0], r.lambda_h.error[0]
    assert abs(mean - exact) < N_SIGMA * err, f"{mean} +- {err} vs {exact} (seed 7/11)"
