"""Inverse-RG generators (jaxrg.rg.inverse): symmetry, parameter counts, likelihood, recovery, generation."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from jaxrg import ising
from jaxrg.fss import power_law_fit
from jaxrg.rg import inverse as inv
from jaxrg.rg.blocking import majority_rule


def _n_trainable(model) -> int:
    leaves = jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array))
    return sum(int(np.size(x)) for x in leaves)


def _random_spins(seed, shape):
    return np.where(np.random.default_rng(seed).random(shape) < 0.5, 1, -1).astype(np.int8)


@pytest.mark.parametrize("kernel_size, n_params", [(3, 3), (5, 6), (7, 10)])
def test_parameter_counts(kernel_size, n_params):
    assert _n_trainable(inv.symmetric_generator(kernel_size)) == n_params


def test_3x3_kernel_layout():
    c, b, a = 0.7, 0.2, 0.05
    k = np.asarray(inv.symmetric_generator(3, [c, b, a]).kernel())
    np.testing.assert_array_equal(k, np.array([[a, b, a], [b, c, b], [a, b, a]], np.float32))


@pytest.mark.parametrize("kernel_size", [3, 5, 7])
def test_field_is_circular_correlation_of_upsampled_spins(kernel_size):
    """The field equals an independent scipy circular correlation of the nearest-neighbour-upsampled lattice."""
    rng = np.random.default_rng(1)
    model = inv.symmetric_generator(kernel_size, rng.normal(size=_n_trainable(inv.symmetric_generator(kernel_size))),
                                    dtype=jnp.float64)
    coarse = _random_spins(2, (2, 6, 6))
    h = np.asarray(model(jnp.asarray(coarse)))
    kernel = np.asarray(model.kernel())
    up = np.kron(coarse.astype(np.float64), np.ones((1, 2, 2)))
    want = np.stack([ndimage.correlate(u, kernel, mode="wrap") for u in up])
    np.testing.assert_allclose(h, want, rtol=1e-12, atol=1e-12)


def _models():
    rng = np.random.default_rng(3)
    return [
        inv.symmetric_generator(3, rng.normal(size=3)),
        inv.symmetric_generator(7, rng.normal(size=10)),
        inv.convnet_generator(jax.random.key(4), channels=4, depth=3),
    ]


@pytest.mark.parametrize("model", _models(), ids=["3x3", "7x7", "convnet"])
def test_exact_up_down_symmetry(model):
    """Flipping every coarse spin flips the field exactly (bitwise), so p(-fine | -coarse) = p(fine | coarse)."""
    coarse = jnp.asarray(_random_spins(5, (3, 8, 8)))
    fine = jnp.asarray(_random_spins(6, (3, 16, 16)))
    h_plus, h_minus = model(coarse), model(-coarse)
    np.testing.assert_array_equal(np.asarray(h_minus), -np.asarray(h_plus))
    np.testing.assert_array_equal(np.asarray(inv.log_likelihood(model, -fine, -coarse)),
                                  np.asarray(inv.log_likelihood(model, fine, coarse)))
    # and the field is not trivially zero
    assert float(jnp.max(jnp.abs(h_plus))) > 0.1


def test_sampling_frequencies_match_the_conditional_law():
    """Mean of sampled fine spins given a fixed coarse lattice = tanh(h), within 5 standard errors per site."""
    model = inv.symmetric_generator(3, [0.5, 0.15, -0.05])
    coarse = jnp.asarray(_random_spins(7, (1, 8, 8)))
    reps = 2000
    keys = jax.random.split(jax.random.key(8), reps)
    samples = jax.vmap(lambda k: inv.sample_fine(model, coarse, k))(keys)  # (reps, 1, 16, 16)
    assert samples.dtype == jnp.int8
    mean = np.asarray(samples, np.float64).mean(axis=0)[0]
    t = np.tanh(np.asarray(model(coarse), np.float64))[0]
    err = np.sqrt((1 - t**2) / reps)
    z = (mean - t) / err
    assert np.max(np.abs(z)) < 5.0, f"max |z| = {np.max(np.abs(z)):.2f} (seed 8)"


def test_expected_energy_matches_sampled_energy():
    model = inv.symmetric_generator(3, [0.6, 0.2, 0.1])
    coarse = jnp.asarray(_random_spins(9, (4, 8, 8)))
    reps = 400
    keys = jax.random.split(jax.random.key(10), reps)
    e = np.asarray(jax.vmap(lambda k: ising.energy_per_spin(inv.sample_fine(model, coarse, k)).mean())(keys))
    want = float(inv.expected_energy(model, coarse))
    z = (e.mean() - want) / (e.std(ddof=1) / np.sqrt(reps))
    assert abs(z) < 5.0, f"z = {z:.2f} (seed 10)"


def test_deterministic_limit_inverts_majority_rule():
    """With a large central weight the generator copies each coarse spin into its block: majority rule undoes it."""
    model = inv.symmetric_generator(3, [40.0, 0.0, 0.0])
    levels = inv.generate_levels(model, 32, 2, jax.random.key(11))
    for coarse, fine in zip(levels[:-1], levels[1:]):
        np.testing.assert_array_equal(np.asarray(majority_rule(fine, 2, key=jax.random.key(0))), np.asarray(coarse))


def test_generation_sizes_and_dtypes():
    model = inv.symmetric_generator(3, [0.4, 0.1, 0.1])
    x = inv.generate(model, 64, 3, jax.random.key(0))
    assert x.shape == (3, 64, 64) and x.dtype == jnp.int8
    assert set(np.unique(np.asarray(x))) <= {-1, 1}
    levels = inv.generate_levels(model, 24, 2, jax.random.key(1))  # 3 -> 6 -> 12 -> 24
    assert [lv.shape for lv in levels] == [(2, 3, 3), (2, 6, 6), (2, 12, 12), (2, 24, 24)]
    assert all(lv.dtype == jnp.int8 for lv in levels)
    assert inv.generate(model, 16, 1, jax.random.key(2), start_size=4).shape == (1, 16, 16)
    sizes, e, m = inv.level_observables(model, 32, 5, jax.random.key(3))
    assert sizes == [2, 4, 8, 16, 32] and e.shape == m.shape == (5, 5)


@pytest.mark.parametrize("kwargs", [dict(size=12, n=1, start_size=5), dict(size=16, n=0), dict(size=1, n=1),
                                    dict(size=8, n=1, start_size=8)])
def test_generation_rejects_bad_sizes(kwargs):
    with pytest.raises(ValueError):
        inv.generate(inv.symmetric_generator(3), key=jax.random.key(0), **kwargs)


def test_training_recovers_known_generator():
    """Maximum likelihood on data drawn from a known generator recovers its parameters within 5 standard errors."""
    truth = jnp.asarray([0.6, 0.15, 0.05])
    true_model = inv.symmetric_generator(3, truth)
    coarse = jnp.asarray(_random_spins(12, (48, 16, 16)))
    fine = inv.sample_fine(true_model, coarse, jax.random.key(13))
    result = inv.train(inv.symmetric_generator(3), fine, coarse, key=jax.random.key(14), steps=250,
                       learning_rate=0.05)
    assert result.loss[-1] < result.loss[0]
    # standard errors from the observed Fisher information of the total log-likelihood at the truth
    nll = lambda p: -jnp.sum(inv.log_likelihood(inv.symmetric_generator(3, p, dtype=jnp.float64), fine, coarse))  # noqa: E731
    fisher = np.asarray(jax.hessian(nll)(jnp.asarray(truth, jnp.float64)))
    sigma = np.sqrt(np.diag(np.linalg.inv(fisher)))
    z = (np.asarray(result.model.params, np.float64) - np.asarray(truth)) / sigma
    assert np.all(np.abs(z) < 5.0), f"params {result.model.params}, sigma {sigma}, z {z} (seeds 12-14)"


def test_tied_blocks_and_tie_weighted_training():
    fine = jnp.asarray(_random_spins(15, (8, 8, 8)))
    coarse, tied = inv.majority_with_ties(fine, jax.random.key(0))
    block_sum = np.asarray(fine, np.int32).reshape(8, 4, 2, 4, 2).sum(axis=(2, 4))
    np.testing.assert_array_equal(np.asarray(tied), np.kron(block_sum == 0, np.ones((1, 2, 2), bool)))
    sign = np.sign(block_sum)
    np.testing.assert_array_equal(np.asarray(coarse)[block_sum != 0], sign[block_sum != 0])
    r = inv.train(inv.symmetric_generator(3), fine, key=jax.random.key(1), steps=5, tie_weight=0.0)
    assert r.loss.shape == (5,) and np.all(np.isfinite(r.loss))
    with pytest.raises(ValueError, match="tie_weight"):
        inv.train(inv.symmetric_generator(3), fine, key=jax.random.key(1), steps=5, tie_weight=-1.0)


@pytest.mark.parametrize("model", _models()[1:], ids=["7x7", "convnet"])
def test_save_load_roundtrip(tmp_path, model):
    path = tmp_path / "model.eqx"
    inv.save(path, model)
    loaded = inv.load(path)
    coarse = jnp.asarray(_random_spins(16, (1, 4, 4)))
    np.testing.assert_array_equal(np.asarray(loaded(coarse)), np.asarray(model(coarse)))


def test_pretrained_model_is_scale_invariant():
    """The shipped 3-parameter model: three parameters, and chi ~ L^(gamma/nu) with gamma/nu near 7/4 on 8..64."""
    model = inv.load_pretrained()
    assert isinstance(model, inv.SymmetricConvGenerator) and _n_trainable(model) == 3
    sizes, e, m = inv.level_observables(model, 64, 512, jax.random.key(17))
    obs = [inv.ensemble_observables(e[i], m[i], L) for i, L in enumerate(sizes) if L >= 8]
    slope = power_law_fit([o.L for o in obs], [o.susceptibility.mean for o in obs],
                          [o.susceptibility.error for o in obs]).exponent
    assert abs(slope.mean - 1.75) < max(0.15, 5 * slope.error), f"gamma/nu = {slope} (seed 17)"


@pytest.mark.parametrize("radius", [1, 2])
def test_sublattice_generation_is_bitwise_the_fine_lattice_computation(radius):
    """sample_fine's coarse-lattice path draws exactly the spins of upsampling + rolls + row-major hash bits."""
    from jaxrg import rng

    params = jax.random.normal(jax.random.key(radius), (len(inv._orbits(radius)),)) * 0.4
    model = inv.symmetric_generator(2 * radius + 1, params)
    coarse = ising.random_spins(jax.random.key(9), 12, (3,))
    np.testing.assert_array_equal(np.asarray(inv.merge_sublattices(model.sublattice_fields(coarse))),
                                  np.asarray(model(coarse)))
    # the draws (integer thresholds on the sublattices) are those of float fields + sigmoids on the fine lattice
    for seed in (4, 5):
        key = jax.random.key(seed)
        h = model(coarse)
        reference = inv._spins_from_fields(h, rng.hash_bits(key, h.shape))
        np.testing.assert_array_equal(np.asarray(jax.jit(inv.sample_fine)(model, coarse, key)), np.asarray(reference))


@pytest.mark.parametrize("radius", [1, 2])
def test_generate_is_bitwise_a_chain_of_float_draws(radius):
    """generate's per-level steps (sublattice draws, then the interleave) give the spins of float fields + sigmoids
    on the fine lattice, level by level from the same keys."""
    from jaxrg import rng

    params = jax.random.normal(jax.random.key(radius + 7), (len(inv._orbits(radius)),)) * 0.4
    model = inv.symmetric_generator(2 * radius + 1, params)
    key = jax.random.key(31)
    key_start, key_levels = jax.random.split(key)
    x = inv._random_start(key_start, 3, 3)
    for kl in jax.random.split(key_levels, 3):
        h = model(x)
        x = inv._spins_from_fields(h, rng.hash_bits(kl, h.shape))
    np.testing.assert_array_equal(np.asarray(inv.generate(model, 24, 3, key, start_size=3)), np.asarray(x))


# ----------------------------------------------------------------------------------------------------------------
# the integer-threshold draws and off-critical generation
# ----------------------------------------------------------------------------------------------------------------


def test_up_thresholds_are_the_exact_float_boundaries():
    """bits >> 8 < T(h) is exactly the float event uniform(bits) < sigmoid(2h): checked at the boundary k = T - 1, T."""
    h = jnp.asarray(np.concatenate([np.random.default_rng(20).normal(size=400) * 3, [0.0, -40.0, 40.0, 1e-8]]),
                    jnp.float32)
    T = np.asarray(inv._up_thresholds(h)).astype(np.int64)
    p = np.asarray(jax.nn.sigmoid(2.0 * h))

    def u(k):
        return np.float32(np.float32(k) * np.float32(2.0**-24)) + np.float32(2.0**-25)

    for k, pk in zip(T, p):
        assert 0 <= k <= 2**24
        assert k == 0 or u(k - 1) < pk, (k, pk)
        assert k == 2**24 or not u(k) < pk, (k, pk)


def test_thermal_scaling_fields_grow_by_b_to_the_y_t_per_level():
    t = 0.01
    tau = np.asarray(inv.thermal_scaling_fields(t, 6))
    np.testing.assert_allclose(tau, t * 2.0 ** np.arange(5, -1, -1), rtol=1e-5)
    assert inv.thermal_scaling_fields(-0.3, 1).shape == (1,)
    # another flow: y_t = 2 (a steeper relevant direction) gives 4 per level
    tau2 = np.asarray(inv.thermal_scaling_fields(t, 4, beta=inv.LinearThermalFlow(jnp.float32(2.0))))
    np.testing.assert_allclose(tau2, t * 4.0 ** np.arange(3, -1, -1), rtol=1e-4)  # RK4, 8 steps per level
    np.testing.assert_allclose(np.asarray(inv.reduced_temperature(2 * 2.269185314213022)), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        inv.reduced_temperature(-1.0)


def _thermal(response=(1.0, 1.4)):
    return inv.thermal_generator(inv.symmetric_generator(3, [0.34, 0.166, 0.13]), response)


def test_thermal_generator_at_t_c_is_the_critical_generator():
    g = _thermal()
    critical = inv.generate(g.critical, 32, 4, jax.random.key(5))
    at_tc = inv.generate(g, 32, 4, jax.random.key(5), temperature=2.269185314213022)
    np.testing.assert_array_equal(np.asarray(at_tc), np.asarray(critical))
    with pytest.raises(ValueError, match="temperature"):
        inv.generate(g, 32, 4, jax.random.key(5))
    with pytest.raises(ValueError, match="temperature"):
        inv.generate(g.critical, 32, 4, jax.random.key(5), temperature=2.3)
    with pytest.raises(ValueError, match="response"):
        inv.thermal_generator(g.critical, [1.0, 2.0, 3.0])


def test_thermal_generator_orders_below_and_disorders_above_t_c():
    """<|m|> at L = 64 falls through T_c: near Yang's spontaneous magnetisation at T = 1.5, near 0 at T = 5."""
    g = _thermal()
    m = {}
    for T in (1.5, 2.269185314213022, 5.0):
        _, _, mag = inv.level_observables(g, 64, 64, jax.random.key(7), temperature=T)
        m[T] = float(np.mean(np.abs(np.asarray(mag[-1]))))
    yang = (1 - np.sinh(2 / 1.5) ** -4) ** 0.125  # 0.986
    assert abs(m[1.5] - yang) < 0.03, m
    assert 0.3 < m[2.269185314213022] < 0.9, m
    assert m[5.0] < 0.05, m  # paramagnet: <|m|> ~ sqrt(chi / N) with chi ~ 1.5


def test_far_from_t_c_the_thermal_kernel_saturates_without_nan():
    """Scaling fields far beyond the calibrated range (coarse levels of a large lattice far from T_c) keep the fields
    finite: deep in the ordered direction a fine spin copies its block's ordered neighbourhood (both signs alike),
    deep in the disordered one it is a fair coin."""
    g = _thermal()
    for tau in (-400.0, 400.0):
        assert np.all(np.isfinite(np.asarray(inv._field_table(g.at_scaling_field(tau))))), tau
    up = jnp.ones((2, 8, 8), jnp.int8)
    for sign in (1, -1):
        fine = np.asarray(inv.sample_fine(g.at_scaling_field(-400.0), sign * up, jax.random.key(3)))
        assert np.all(fine == sign), sign
    coin = np.asarray(inv.sample_fine(g.at_scaling_field(400.0), up, jax.random.key(4)))
    assert abs(coin.mean()) < 0.1  # 512 fair coins: mean within ~2.3 sigma of 0


def test_thermal_curvature_keeps_the_kernel_monotonic_and_bounded():
    """With curvature c the kernel scale exp(-r tau / (1 + c |tau|)) falls monotonically with tau and tends to
    exp(-+r / c) far from T_c (r = 0.8, c = 0.1 below T_c; r = 1.6, c = 0.4 above); negative curvatures are refused."""
    g = inv.thermal_generator(inv.symmetric_generator(3, [0.34, 0.166, 0.13]), (0.8, 1.6), (0.1, 0.4))
    tau = np.concatenate([-np.logspace(4, -3, 50), [0.0], np.logspace(-3, 4, 50)])
    scale = np.array([float(g.at_scaling_field(t).params[0]) / 0.34 for t in tau])
    assert np.all(np.diff(scale) < 0)
    np.testing.assert_allclose(scale[[0, -1]], [np.exp(0.8e4 / 1001), np.exp(-1.6e4 / 4001)], rtol=1e-5)
    assert scale[0] < np.exp(0.8 / 0.1) and scale[-1] > np.exp(-1.6 / 0.4)  # the bounds are approached from inside
    np.testing.assert_allclose(scale[50], 1.0)
    with pytest.raises(ValueError, match="curvature must be >= 0"):
        inv.thermal_generator(g.critical, 1.0, (0.1, -0.1))


def test_new_temperature_compiles_nothing():
    g = _thermal()
    inv.generate(g, 16, 2, jax.random.key(0), temperature=2.2).block_until_ready()
    compiles = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        inv.generate(g, 16, 2, jax.random.key(1), temperature=2.4).block_until_ready()
        inv.generate(g, 16, 2, jax.random.key(2), temperature=2.1).block_until_ready()
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert compiles == []


def test_thermal_save_load_roundtrip(tmp_path):
    g = _thermal((0.9, 1.3))
    inv.save(tmp_path / "thermal.eqx", g)
    loaded = inv.load(tmp_path / "thermal.eqx")
    assert isinstance(loaded, inv.ThermalGenerator)
    np.testing.assert_array_equal(np.asarray(loaded.response), np.asarray(g.response))
    np.testing.assert_array_equal(np.asarray(loaded.critical.params), np.asarray(g.critical.params))


def test_calibration_recovers_the_responses_of_a_known_generator():
    """Calibrating against the observables of a generator with known responses finds them on the grid."""
    from jaxrg.stats import Estimate

    truth = _thermal((0.8, 1.6))
    T = [2.1, 2.4]
    obs = np.stack([inv._abs_m_and_binder(truth, 16, 256, jax.random.key(3), Ti) for Ti in T])  # (T, value/err, 2)
    m, u = Estimate(obs[:, 0, 0], obs[:, 1, 0]), Estimate(obs[:, 0, 1], obs[:, 1, 1])
    cal = inv.calibrate_thermal(truth.critical, 16, T, m, u, key=jax.random.key(3), n=256,
                                grid=[0.4, 0.8, 1.2, 1.6, 2.0])
    np.testing.assert_allclose(np.asarray(cal.model.response), [0.8, 1.6], rtol=1e-6)
    np.testing.assert_allclose(cal.abs_magnetization.mean, obs[:, 0, 0], rtol=1e-12)
    with pytest.raises(ValueError, match="binder"):
        inv.calibrate_thermal(truth.critical, 16, T, m, u.mean, key=jax.random.key(3))


def test_calibration_over_two_sizes_recovers_responses_and_curvatures(tmp_path):
    """Calibration points at two sizes and a curvature grid: the known (response, curvature) of each side are found,
    and the calibrated generator (with its curvatures) survives save / load."""
    from jaxrg.stats import Estimate

    truth = inv.thermal_generator(inv.symmetric_generator(3, [0.34, 0.166, 0.13]), (0.8, 1.6), (0.1, 0.3))
    L, T = [16, 32, 16, 32], [2.1, 2.2, 2.4, 2.35]
    obs = np.stack([inv._abs_m_and_binder(truth, Li, 256, jax.random.key(3), Ti) for Li, Ti in zip(L, T)])
    m, u = Estimate(obs[:, 0, 0], obs[:, 1, 0]), Estimate(obs[:, 0, 1], obs[:, 1, 1])
    cal = inv.calibrate_thermal(truth.critical, L, T, m, u, key=jax.random.key(3), n=256, grid=[0.8, 1.6],
                                curvature_grid=[0.0, 0.1, 0.3])
    np.testing.assert_allclose(np.asarray(cal.model.response), [0.8, 1.6], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(cal.model.curvature), [0.1, 0.3], rtol=1e-6)
    assert cal.chi2.shape == (2, 2, 3)
    inv.save(tmp_path / "thermal.eqx", cal.model)
    loaded = inv.load(tmp_path / "thermal.eqx")
    np.testing.assert_array_equal(np.asarray(loaded.curvature), np.asarray(cal.model.curvature))
    with pytest.raises(ValueError, match="L must be one size or one per temperature"):
        inv.calibrate_thermal(truth.critical, [16, 32], T, m, u, key=jax.random.key(3))


def test_pretrained_thermal_generator_has_yang_magnetisation_below_t_c():
    """The shipped off-critical generator (calibrated at 2.15 <= T <= 2.6, L = 64) extrapolates to T = 2.0, L = 128:
    <|m|> within 4% of Yang's spontaneous magnetisation (1 - sinh(2K)^-4)^(1/8) = 0.9113 (xi ~ 2 << L)."""
    g = inv.load_pretrained_thermal()
    assert isinstance(g, inv.ThermalGenerator) and g.response.shape == (2,) and np.all(np.asarray(g.response) > 0)
    _, _, m = inv.level_observables(g, 128, 64, jax.random.key(7), temperature=2.0)
    abs_m = float(np.mean(np.abs(np.asarray(m[-1]))))
    yang = (1 - np.sinh(2 / 2.0) ** -4) ** 0.125
    assert abs(abs_m / yang - 1) < 0.04, f"<|m|> = {abs_m:.4f}, Yang {yang:.4f} (seed 7)"
