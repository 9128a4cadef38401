"""Tests of jaxrg.phi4 against exact results.

- Free field (lam = 0): <phi_0 phi_r> equals the lattice propagator (1/N) sum_k e^{ikr} / (2 - 4 kappa sum_mu cos k_mu),
  for two kappa values at once (one vmapped HMC batch); the 2x2 block-averaged field has the exact variance
  (1/16) sum_{x, y in block} G(x - y).
- Any lam (here also the interacting, near-critical lam = 1): the Schwinger-Dyson identity from integrating
  d/dphi_x (phi_x e^{-S}) by parts, <phi_x dS/dphi_x> = 1 at every site, checked for HMC, NUTS and local Metropolis.
Errors are standard errors between independent chains; tolerances are stated in them; seeds are fixed.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

import jaxrg  # noqa: E402
from jaxrg import phi4  # noqa: E402
from jaxrg.sampling.driver import run_chain  # noqa: E402


def chain_means(x):
    """Mean over the time axis (0) of a driver measurement -> one value per (kappa, chain)."""
    return np.asarray(x).mean(axis=0)


def test_action_of_constant_field_and_free_propagator_identities():
    L, kappa, lam, a = 6, 0.3, 0.7, 1.3
    phi = jnp.full((L, L), a)
    c = phi4.couplings(kappa, lam)
    expected = L * L * (-4.0 * kappa * a * a + a * a + lam * (a * a - 1.0) ** 2)
    np.testing.assert_allclose(phi4.action(phi, c), expected, rtol=1e-12)
    # The propagator inverts the quadratic form A = 2 - 2 kappa (adjacency): (A G)(r) = delta_{r,0}.
    G = phi4.free_field_propagator(8, 0.2)
    AG = 2 * G - 2 * 0.2 * sum(np.roll(G, s, axis=ax) for s in (1, -1) for ax in (0, 1))
    np.testing.assert_allclose(AG, np.eye(1, 64).reshape(8, 8), atol=1e-12)
    # two_point_function of a plane wave cos(2 pi x / L) is cos(2 pi r / L) / 2
    # the hand-written gradient used by schwinger_dyson is the autodiff gradient of the action
    field = jax.random.normal(jax.random.key(0), (L, L))
    g_auto = jax.grad(lambda p: phi4.action(p, c))(field)
    np.testing.assert_allclose(phi4.action_gradient(field, c), g_auto, rtol=1e-10, atol=1e-10)
    x = jnp.cos(2 * jnp.pi * jnp.arange(8) / 8)[None, :] * jnp.ones((8, 1))
    np.testing.assert_allclose(phi4.two_point_function(x)[0], 0.5 * np.cos(2 * np.pi * np.arange(8) / 8), atol=1e-12)


FREE_KAPPAS = (0.15, 0.23)
INTERACTING = (0.34, 1.0)  # (kappa, lam): near-critical, the Binder-crossing region of lam = 1 (benchmarks/hmc.py)


@pytest.fixture(scope="module")
def hmc_run():
    """One vmapped HMC batch: two free-field kappas and one interacting point, L = 8, 32 chains each (the error of
    a mean comes from the spread of the chain means: with 8 of them a 4.5-sigma bound on twelve comparisons failed
    about one realisation in thirty; with 32 about one in a thousand)."""
    L, seed, chains, n = 8, 3, 32, 300
    kappas = (*FREE_KAPPAS, INTERACTING[0])
    lams = (0.0, 0.0, INTERACTING[1])
    kernel, state, params, c = phi4.prepare(L, kappas, lam=lams, sampler="hmc", thermalize=150, chains=chains,
                                          seed=seed, num_integration_steps=8)
    cb = jax.tree.map(lambda x: x[:, None], c)

    def measure(s, p):
        phi = s.position
        C = phi4.two_point_function(phi)
        row = 0.5 * (C[..., 0, : L // 2 + 1] + C[..., : L // 2 + 1, 0])  # distances 0..L/2, both axes
        blocked = phi4.block_average(phi, 2)
        return row, jnp.mean(blocked**2, axis=(-2, -1)), phi4.schwinger_dyson(phi, cb)

    out = run_chain(kernel, jax.random.key(seed + 10), state, params, n_measurements=n, measure=measure)
    return seed, out, [chain_means(x) for x in out.measurements]  # each (n_kappa, chains, ...)


def test_free_field_correlator_matches_exact_propagator_for_two_kappas(hmc_run):
    seed, out, (rows, blocked_var, _) = hmc_run
    L, chains = 8, rows.shape[1]
    for i, kappa in enumerate(FREE_KAPPAS):
        G = phi4.free_field_propagator(L, kappa)
        exact_row = G[0, : L // 2 + 1]
        mean, err = rows[i].mean(axis=0), rows[i].std(axis=0, ddof=1) / math.sqrt(chains)
        assert np.all(np.abs(mean - exact_row) < 4.5 * err), (seed, kappa, mean, exact_row, err)
        # exact variance of a 2x2 block mean: (1/16) sum over the 16 ordered site pairs of a block
        exact_block = (4 * G[0, 0] + 4 * G[0, 1] + 4 * G[1, 0] + 4 * G[1, 1]) / 16
        bmean, berr = blocked_var[i].mean(), blocked_var[i].std(ddof=1) / math.sqrt(chains)
        assert abs(bmean - exact_block) < 4.5 * berr, (seed, kappa, bmean, exact_block, berr)


def test_hmc_info_diagnostics(hmc_run):
    _, out, _ = hmc_run
    info = out.info
    assert np.all(np.asarray(info.divergent) == 0.0)
    assert np.all((np.asarray(info.acceptance) > 0.5) & (np.asarray(info.acceptance) <= 1.0))
    np.testing.assert_allclose(info.gradient_evaluations, 8.0)
    creutz = np.asarray(info.exp_minus_energy_error).reshape(-1)  # one value per chain, <exp(-dH)> = 1
    assert abs(creutz.mean() - 1.0) < 4.5 * creutz.std(ddof=1) / math.sqrt(creutz.size) + 1e-3


def test_schwinger_dyson_identity_with_hmc(hmc_run):
    seed, _, (_, _, sd) = hmc_run
    for i in range(sd.shape[0]):  # free and interacting points: <(1/N) sum phi dS/dphi> = 1
        err = sd[i].std(ddof=1) / math.sqrt(sd.shape[1])
        assert abs(sd[i].mean() - 1.0) < 4.5 * err, (seed, i, sd[i].mean(), err)


@pytest.mark.parametrize("sampler", ["nuts", "metropolis"])
def test_simulate_free_phi_squared_and_interacting_schwinger_dyson(sampler):
    """simulate over (free kappa, interacting kappa): <phi^2> = G(0) exactly for the free point, SD = 1 for both."""
    seed = 2
    sweeps = {"nuts": 160, "metropolis": 800}[sampler]
    r = phi4.simulate(8, [FREE_KAPPAS[1], INTERACTING[0]], lam=[0.0, INTERACTING[1]], sampler=sampler,
                      sweeps=sweeps, thermalize=150, chains=8, seed=seed, max_num_doublings=6)
    exact = phi4.free_field_propagator(8, FREE_KAPPAS[1])[0, 0]
    assert abs(r.phi_squared.mean[0] - exact) < 4.5 * r.phi_squared.error[0], (seed, sampler, r.phi_squared, exact)
    assert np.all(np.abs(r.schwinger_dyson.mean - 1.0) < 4.5 * r.schwinger_dyson.error), (seed, r.schwinger_dyson)
    assert r.fields.shape == (2, 8, 8, 8) and r.timeseries.magnetization.shape == (2, 8, sweeps)
    assert np.all(np.isfinite(r.binder.mean)) and np.all(r.susceptibility.mean > 0)
    if sampler == "metropolis":
        assert np.all((0.3 < r.acceptance) & (r.acceptance < 0.7))  # width tuned to 50% during thermalisation
        assert np.all(np.isnan(r.energy_error))
    else:
        assert np.all(r.gradient_evaluations >= 1.0) and np.all(r.acceptance > 0.5)


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match="kappa"):
        phi4.couplings(0.3, 0.0)  # free field needs |kappa| < 1/4
    with pytest.raises(ValueError, match="lam"):
        phi4.couplings(0.1, -1.0)
    with pytest.raises(ValueError, match="sampler"):
        phi4.simulate(8, 0.1, lam=1.0, sampler="wolff")
    with pytest.raises(ValueError, match="L"):
        phi4.simulate(7, 0.1, lam=1.0)
    with pytest.raises(ValueError, match="measurements"):
        phi4.simulate(8, 0.1, lam=1.0, sweeps=10)
    with pytest.raises(ValueError, match="kappa"):
        phi4.free_field_propagator(8, 0.25)
    # the model on the shared path checks its own lattice and settings
    with pytest.raises(ValueError, match="L must be an even"):
        jaxrg.run_model(phi4.Phi4Model(phi4.couplings([0.2], 0.5), sampler="metropolis"), 5, sweeps=32, thermalize=0)
    with pytest.raises(ValueError, match="thermalize"):
        jaxrg.run_model(phi4.Phi4Model(phi4.couplings([0.2], 0.5)), 8, sweeps=32, thermalize=5)  # HMC needs >= 20


def test_simulate_resumes_from_checkpoints_bitwise(tmp_path):
    """phi4 runs on the one simulation path: checkpoints of the measurement run make a rerun bitwise identical."""
    kw = dict(lam=0.5, sampler="metropolis", sweeps=48, thermalize=8, chains=2, seed=3, chunk_size=8)
    reference = phi4.simulate(4, [0.2, 0.25], **kw)
    first = phi4.simulate(4, [0.2, 0.25], checkpoint=str(tmp_path), **kw)
    assert (tmp_path / "measure.npz").exists()
    again = phi4.simulate(4, [0.2, 0.25], checkpoint=str(tmp_path), **kw)  # resumes from the finished checkpoint
    for r in (first, again):
        np.testing.assert_array_equal(r.timeseries.energy, reference.timeseries.energy)
        np.testing.assert_array_equal(r.phi_squared_series, reference.phi_squared_series)
        np.testing.assert_array_equal(r.fields, reference.fields)
