"""Information-theoretic coarse-graining: exact entropies against brute force and closed forms, the Markov-blanket
reference I(H : E) against brute-force enumeration, a neural estimator against the reference, and a crippled map."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrg.exact import kaufman_log_z
from jaxrg.rg.blocking import FilterRule
from jaxrg.rg.information import (
    FilterMap, block_environments, boltzmann_distribution, conditional_table, exact_information_lost,
    information_budget, mutual_information, reference_information, window_conditional,
)
from jaxrg.rg.information.estimators import estimate_information, sample_coarse, train_critic
from jaxrg.rg.information.learning import filter_spread, learn_map
from jaxrg.rg.information.reference import ring_offsets
from jaxrg.rg.information.samples import ising_configurations

T_C = 2.0 / math.log(1.0 + math.sqrt(2.0))
LN2 = math.log(2.0)


def _states(L):
    """All states of the L x L torus, (2^N, L, L), spin 1 - 2 bit_i at site i = row * L + column."""
    x = np.arange(2 ** (L * L))[:, None]
    return (1 - 2 * ((x >> np.arange(L * L)) & 1)).reshape(-1, L, L).astype(np.int64)


def _gibbs(states, T):
    e = -np.sum(states * (np.roll(states, 1, -1) + np.roll(states, 1, -2)), axis=(1, 2))
    w = np.exp(-(e - e.min()) / T)
    return w / w.sum()


def _entropy(p):
    p = p[p > 0]
    return -np.sum(p * np.log(p))


def _majority_up(block_sum):
    return np.where(block_sum > 0, 1.0, np.where(block_sum < 0, 0.0, 0.5))


# ---------------------------------------------------------------------------------------------------------------
# exact entropies
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("T", [1.5, T_C, 3.5])
def test_exact_budget_4x4_majority_against_brute_force(T):
    states = _states(4)
    p = _gibbs(states, T)
    # brute force: P(s' | s) as a product over the four 2x2 blocks, coarse state bits in row-major block order
    sums = states.reshape(-1, 2, 2, 2, 2).sum(axis=(2, 4)).reshape(-1, 4)
    up = _majority_up(sums)  # (2^16, 4)
    coarse = 1 - 2 * ((np.arange(16)[:, None] >> np.arange(4)) & 1)  # (16, 4)
    trans = np.prod(np.where(coarse[None] > 0, up[:, None], 1 - up[:, None]), axis=-1)  # (2^16, 16)
    p_coarse = p @ trans
    h_map = np.sum(p * np.sum(np.where((up > 0) & (up < 1), LN2, 0.0), axis=1))
    lost = _entropy(p) + h_map - _entropy(p_coarse)
    budget, pc = information_budget(boltzmann_distribution(4, T), 4, "majority", 2)
    np.testing.assert_allclose(np.asarray(pc), p_coarse, atol=2e-6)
    assert abs(float(budget.fine_entropy) - _entropy(p)) < 2e-4
    assert abs(float(budget.map_entropy) - h_map) < 2e-4
    assert abs(float(budget.information_lost) - lost) < 3e-4
    # the fine entropy from Kaufman's exact ln Z: S = ln Z - K d ln Z / dK
    K = 1.0 / T
    log_z, dlog_z = jax.value_and_grad(lambda k: kaufman_log_z(k, 4))(K)
    assert abs(float(budget.fine_entropy) - float(log_z - K * dlog_z)) < 5e-4


def test_exact_budget_2x2_decimation_against_brute_force():
    states = _states(2)
    p = _gibbs(states, 2.0)
    kept = states[:, 0, 0]
    p_coarse = np.array([p[kept == 1].sum(), p[kept == -1].sum()])
    budget, pc = information_budget(boltzmann_distribution(2, 2.0), 2, "decimation", 2)
    np.testing.assert_allclose(np.asarray(pc), p_coarse, atol=1e-6)
    assert abs(float(budget.information_lost) - (_entropy(p) - _entropy(p_coarse))) < 1e-5
    assert float(budget.map_entropy) == 0.0


def test_infinite_temperature_closed_forms():
    # independent fair spins: decimation keeps 1 of 4 bits, majority adds a coin for the 6/16 tied blocks
    for levels_budget in (exact_information_lost(4, float("inf"), "decimation", levels=2),):
        for budget in levels_budget:
            assert abs(float(budget.information_lost_per_spin) - 0.75 * LN2) < 1e-5
    for budget in exact_information_lost(4, float("inf"), "majority", levels=2):
        assert abs(float(budget.information_lost_per_spin) - 27 / 32 * LN2) < 1e-5
    # a uniform filter of sharpness p: H(coarse | fine) is the mean binary entropy of sigmoid(2 p sum V)
    p_sharp = 0.3
    sums = np.array([4, 2, 0, -2, -4])
    mult = np.array([1, 4, 6, 4, 1]) / 16
    q = 1 / (1 + np.exp(-2 * p_sharp * sums))
    h2 = -(q * np.log(q) + (1 - q) * np.log(1 - q))
    budget = exact_information_lost(4, float("inf"), FilterRule(2 * p_sharp * np.ones((2, 2))))[0]
    assert abs(float(budget.information_lost_per_spin) - (4 * LN2 + mult @ h2 - LN2) / 4) < 1e-5


# ---------------------------------------------------------------------------------------------------------------
# the Markov-blanket reference
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("b, buffer", [(2, 1), (3, 0)])
def test_window_conditional_against_window_enumeration(b, buffer):
    W = b + 2 * buffer
    K = 0.44
    rng = np.random.default_rng(0)
    rings = np.where(rng.random((3, 4 * W)) < 0.5, 1, -1).astype(np.int8)
    got = np.asarray(window_conditional(rings, K, b=b, buffer=buffer))
    windows = _states(W)
    for n in range(3):
        grid = np.zeros((W + 2, W + 2))
        for (dy, dx), v in zip(ring_offsets(W), rings[n]):
            grid[dy + 1, dx + 1] = v
        full = np.broadcast_to(grid, (len(windows), W + 2, W + 2)).copy()
        full[:, 1:-1, 1:-1] = windows
        bonds = (full[:, 1:-1, :-1] * full[:, 1:-1, 1:]).sum((1, 2))
        bonds = bonds + (full[:, :-1, 1:-1] * full[:, 1:, 1:-1]).sum((1, 2))
        w = np.exp(K * (bonds - bonds.max()))
        V = windows[:, buffer:buffer + b, buffer:buffer + b].reshape(len(windows), -1)
        index = (((1 - V) // 2) << np.arange(b * b)).sum(1)
        expected = np.bincount(index, weights=w, minlength=2 ** (b * b)) / w.sum()
        np.testing.assert_allclose(got[n], expected, atol=2e-6)


@pytest.mark.parametrize("rule", ["majority", "decimation"])
def test_reference_information_against_brute_force_4x4(rule):
    # I(H : E) for the block at the origin of the 4x4 torus, E = the 12 other sites, exactly
    T = T_C
    states = _states(4)
    p = _gibbs(states, T)
    block_sum = states[:, :2, :2].sum(axis=(1, 2))
    up = _majority_up(block_sum) if rule == "majority" else (states[:, 0, 0] > 0).astype(float)
    outside = np.ones((4, 4), bool)
    outside[:2, :2] = False
    e_bits = ((1 - states[:, outside]) // 2) @ (1 << np.arange(12))
    p_e = np.bincount(e_bits, weights=p, minlength=4096)
    p_up_e = np.bincount(e_bits, weights=p * up, minlength=4096)
    joint = np.stack([p_up_e, p_e - p_up_e])  # (2, 4096)
    p_h = joint.sum(axis=1)
    mask = joint > 0
    exact = np.sum(joint[mask] * np.log((joint / (p_h[:, None] * p_e[None]))[mask]))
    env = block_environments(states.astype(np.int8), T, b=2, buffer=0, stride=4, batch_size=8192)
    got = float(mutual_information(env.conditional, conditional_table(rule, 2), weights=jnp.asarray(p)[:, None]))
    assert exact > 0.05 and abs(got - exact) < 2e-4, (got, exact)


@pytest.fixture(scope="module")
def critical_environments():
    configs = ising_configurations(16, T_C, 96, seed=5, chains=32, thermalize=100, sweeps_between=3)
    return block_environments(configs, T_C, b=2, buffer=1)


def test_crippled_map_retains_less(critical_environments):
    # a filter that ignores the right half of the block keeps less information than the uniform filter
    env = critical_environments
    uniform = FilterMap(3.0 * np.ones((1, 2, 2)))
    half = FilterMap(3.0 * np.array([[[1.0, 0.0], [1.0, 0.0]]]))
    i_uniform = reference_information(env, uniform)
    i_half = reference_information(env, half)
    diff = float(i_uniform.mean - i_half.mean)
    assert diff > 0.02 and diff > 4 * float(i_uniform.error), (i_uniform, i_half)
    assert float(reference_information(env, "majority").mean) > float(reference_information(env, "decimation").mean)


def test_learned_map_finds_a_uniform_filter(critical_environments):
    model, history = learn_map(critical_environments.conditional, b=2, steps=150, batch=2048, seed=1)
    assert float(filter_spread(model)[0]) < 0.1, np.asarray(model.weights)
    learned = float(mutual_information(critical_environments.conditional, model.table()))
    majority = float(mutual_information(critical_environments.conditional, conditional_table("majority", 2)))
    assert learned > majority - 0.005 and history[-1] > history[0]
    symmetric, _ = learn_map(critical_environments.conditional, b=2, steps=150, batch=2048, seed=1, symmetric=True)
    assert float(symmetric.bias[0]) == 0.0 and float(filter_spread(symmetric)[0]) < 0.1


def test_infonce_estimate_within_tolerance_of_reference(critical_environments):
    # small size, stated tolerance: InfoNCE within 10% of the reference on held-out pairs (benchmark: 3% at L = 32)
    env = critical_environments
    n = env.ring.shape[0] * env.ring.shape[1]
    h = sample_coarse(jax.random.key(0), env.blocks, "majority").reshape(-1)
    features = env.ring.reshape(n, -1)
    perm = np.random.default_rng(1).permutation(n)
    train, test = perm[: n // 2], perm[n // 2:]
    critic, _ = train_critic(jax.random.key(2), h[train], features[train], steps=400, batch=256,
                             learning_rate=3e-3, width=32)
    est = estimate_information(critic, h[test], features[test], batch=512)
    ref = float(mutual_information(env.conditional.reshape(n, -1)[test], conditional_table("majority", 2)))
    assert abs(float(est.mean) / ref - 1) < 0.10, (est, ref)


def test_cli_info_high_temperature_closed_forms(capsys):
    # near-independent spins: the exact 4x4 loss approaches the closed forms and no environment information is kept
    import json

    from jaxrg.cli import main

    code = main(["info", "--L", "8", "--T", "1000", "--configs", "8", "--learn-steps", "0", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    res = json.loads(out)
    exact = res["exact_4x4_information_lost_per_spin"]
    assert abs(exact["majority"][0] - 27 / 32 * LN2) < 2e-3 and abs(exact["decimation"][0] - 0.75 * LN2) < 2e-3
    assert abs(res["I_H_E"]["majority"]["mean"]) < 1e-3


def test_new_temperature_and_new_map_compile_nothing():
    names = []

    def listener(name, seconds, **kwargs):
        if name == "/jax/core/compile/backend_compile_duration":
            names.append(name)

    configs = np.where(np.random.default_rng(0).random((4, 8, 8)) < 0.5, 1, -1).astype(np.int8)

    def run(T, scale):
        env = block_environments(configs, T, b=2, buffer=1)
        return float(mutual_information(env.conditional, conditional_table(FilterMap(scale * np.ones((1, 2, 2))), 2)))

    run(2.5, 1.0)
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        run(3.1, 2.0)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert not names, f"{len(names)} compilations for a new temperature and filter"
