"""Replica exchange: exact Boltzmann histograms at every temperature, a wrong swap rule caught, bookkeeping, resume."""

import numpy as np
import pytest
from chisquare import energy_histogram_p

import jaxrg
from jaxrg.sampling import driver, tempering

L = 4
T = np.linspace(1.5, 4.0, 8)
RUN = dict(sampler="metropolis", sweeps=12_000, thermalize=500, chains=8, measure_every=8, exchange_every=1, seed=21)


def _histogram_p_values(result):
    return [energy_histogram_p(result.timeseries.energy[i], L, T[i])[0] for i in range(T.size)]


def test_every_temperature_keeps_its_exact_boltzmann_distribution():
    r = jaxrg.simulate(L, T, **RUN)
    p = _histogram_p_values(r)
    assert min(p) > 1e-3, f"chi-square p-values per temperature {np.round(p, 4)} (seed {RUN['seed']})"
    # swaps happen at a useful rate and replicas travel the whole temperature range
    assert np.all(r.exchange.swap_acceptance > 0.2), r.exchange.swap_acceptance
    assert r.exchange.round_trips > 10
    # every temperature holds one replica of each column at every measurement
    rep = r.exchange.replica
    assert np.all(np.sort(rep, axis=0) == np.arange(T.size)[:, None, None])


def test_a_swap_rule_with_the_energy_per_spin_fails_the_same_test(monkeypatch):
    """The bug of a public Ising code: the swap exponent with e per spin instead of the total energy."""
    monkeypatch.setattr(tempering, "total_energy", lambda spins, field: jaxrg.ising.energy_per_spin(spins))
    # the chunk program was traced with the correct rule: drop that one program (not every compiled program of the
    # session, which the following tests would recompile) so that it is traced again with the wrong rule
    driver._chunk.clear_cache()
    try:
        r = jaxrg.simulate(L, T, **RUN)
    finally:
        monkeypatch.undo()
        driver._chunk.clear_cache()
    assert min(_histogram_p_values(r)) < 1e-3


def test_round_trip_times_of_a_known_walk():
    # 3 temperatures, one column; replica 0 goes 0 -> 2 -> 0 in 4 measurements, then 0 -> 2 -> 0 again in 4
    position = [0, 1, 2, 1, 0, 1, 2, 1, 0]
    series = np.zeros((3, 1, len(position)), int)
    for k, t in enumerate(position):
        series[t, 0, k] = 0
        for r, x in zip((1, 2), [x for x in range(3) if x != t]):
            series[x, 0, k] = r
    times = tempering.round_trip_times(series)
    assert 4.0 in times and np.sum(times == 4.0) >= 2


@pytest.mark.parametrize("bad", [dict(exchange_every=0), dict(exchange_every=2, T=[2.0]),
                                 dict(exchange_every=2, T=[2.0, 3.0, 2.5])])
def test_bad_exchange_input_is_refused(bad):
    args = dict(T=[2.0, 2.5], sweeps=32, thermalize=0)
    args.update(bad)
    with pytest.raises(ValueError, match="exchange_every"):
        jaxrg.simulate(4, **args)


def test_checkpointed_exchange_run_resumes_bitwise(tmp_path):
    args = dict(sweeps=64, thermalize=16, chains=2, exchange_every=2, seed=3, chunk_size=8)
    reference = jaxrg.simulate(4, T[:4], **args)
    ckpt = tmp_path / "ckpt"
    jaxrg.simulate(4, T[:4], checkpoint=str(ckpt), **args)
    again = jaxrg.simulate(4, T[:4], checkpoint=str(ckpt), **args)  # complete checkpoints: read back
    np.testing.assert_array_equal(reference.timeseries.energy, again.timeseries.energy)
    np.testing.assert_array_equal(reference.exchange.replica, again.exchange.replica)


def test_generated_warm_start_begins_near_the_critical_energy():
    """initial="generated": chains start from inverse-RG configurations, already near the critical energy."""
    L = 32
    r = jaxrg.simulate(L, jaxrg.CRITICAL_TEMPERATURE, sweeps=16, thermalize=0, chains=2, initial="generated", seed=1)
    hot = jaxrg.simulate(L, jaxrg.CRITICAL_TEMPERATURE, sweeps=16, thermalize=0, chains=2, initial="random", seed=1)
    e_exact = float(jaxrg.exact.finite_lattice(L, jaxrg.CRITICAL_TEMPERATURE).energy)
    first = lambda res: float(np.mean(res.timeseries.energy[:, 0]))  # noqa: E731  after one sweep
    assert abs(first(r) - e_exact) < 0.5 * abs(first(hot) - e_exact), (first(r), first(hot), e_exact)
