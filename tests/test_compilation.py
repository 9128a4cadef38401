"""The compile policy: a second call with new physics values and the same shapes compiles nothing.

XLA compilations are counted with ``jax.monitoring`` (the backend-compile duration event fires once per program
compiled). Each case calls a library entry point twice: first to compile, then with a new temperature (coupling,
seed, data) and identical shapes; the second call must trigger zero compilations.
"""

from __future__ import annotations

import contextlib

import jax
import numpy as np
import pytest

import jaxrg
from jaxrg import phi4
from jaxrg.rg import inverse

_COUNT = {"n": 0}


def _listener(event: str, duration: float, **kwargs) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        _COUNT["n"] += 1


jax.monitoring.register_event_duration_secs_listener(_listener)


@contextlib.contextmanager
def count_compilations():
    box = {}
    before = _COUNT["n"]
    yield box
    box["n"] = _COUNT["n"] - before


def _second_call_compiles_nothing(first, second):
    first()
    with count_compilations() as compiled:
        second()
    return compiled["n"]


@pytest.mark.parametrize("sampler", sorted(jaxrg.SAMPLERS))
def test_simulate(sampler):
    kw = dict(sampler=sampler, sweeps=32, thermalize=8, chains=2)
    n = _second_call_compiles_nothing(lambda: jaxrg.simulate(8, [2.0, 2.5], seed=0, **kw),
                                      lambda: jaxrg.simulate(8, [2.1, 2.7], seed=1, **kw))
    assert n == 0, f"{sampler}: {n} compilations on the second call"


@pytest.mark.parametrize("sampler", ["metropolis", "hmc"])
def test_phi4_simulate(sampler):
    kw = dict(sampler=sampler, sweeps=32, thermalize=20, num_integration_steps=4)
    n = _second_call_compiles_nothing(lambda: phi4.simulate(4, 0.2, lam=0.5, seed=0, **kw),
                                      lambda: phi4.simulate(4, 0.23, lam=0.7, seed=1, **kw))
    assert n == 0, f"phi4 {sampler}: {n} compilations on the second call"


def test_mcrg():
    kw = dict(levels=1, samples=64, chains=2, thermalize=8, n_even=2, n_odd=1, n_blocks=4)
    n = _second_call_compiles_nothing(lambda: jaxrg.mcrg(8, 2.27, seed=0, **kw),
                                      lambda: jaxrg.mcrg(8, 2.35, seed=1, **kw))
    assert n == 0, f"mcrg: {n} compilations on the second call"


def test_inverse_train():
    key = jax.random.key(0)
    fine = [jaxrg.ising.random_spins(jax.random.fold_in(key, i), 8, (16,)) for i in range(2)]
    kw = dict(steps=5, learning_rate=0.05)
    n = _second_call_compiles_nothing(
        lambda: inverse.train(inverse.symmetric_generator(3), fine[0], key=key, **kw),
        lambda: inverse.train(inverse.symmetric_generator(3), fine[1], key=jax.random.key(1), **kw),
    )
    assert n == 0, f"inverse.train: {n} compilations on the second call"


def test_trg_free_energy():
    kw = dict(chi=4, steps=4)
    n = _second_call_compiles_nothing(lambda: jaxrg.trg_free_energy(np.array([2.0, 2.5]), **kw),
                                      lambda: jaxrg.trg_free_energy(np.array([2.2, 3.0]), **kw))
    assert n == 0, f"trg_free_energy: {n} compilations on the second call"
