"""One contract for every sampler: three layers, dtypes and shapes, jit = eager, vmap = loop, info fields, bad input.

Each case gives the layers of one sampler: ``init(x)`` (the state of one configuration), the module-level kernel
``kernel(key, state, params)`` from ``build_kernel``, call-time parameters, and a configuration. The checks do not
look at the physics (the per-sampler tests do); they pin down the shape every kernel shares.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrg
from jaxrg import ising, parallel, phi4
from jaxrg.sampling import hmc as hmc_lib, multispin, patch3, relaxed_ising as ri

L = 8
KEY = jax.random.key(3)


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    init: object  # init(x) -> state
    kernel: object  # kernel(key, state, params)
    params: object
    x: object  # one configuration
    spins: bool = True  # the state exposes int8 spins
    square: bool = True  # init accepts only L x L configurations (patch3 takes any Ly x Lx torus)


def _spins():
    return ising.random_spins(jax.random.key(1), L)


def _cases() -> list[Case]:
    c = ising.couplings(2.3)
    cases = [
        Case(s.name, s.init, s.build_kernel(), c, _spins()) for s in jaxrg.SAMPLERS.values()
    ]
    cases.append(Case("patch_metropolis", multispin.init, multispin.build_kernel(),
                      multispin.nearest_neighbour_patch_couplings(0.4), _spins()))
    cases.append(Case("patch3_metropolis", patch3.init, patch3.build_kernel(),
                      patch3.patch3_from_patch_couplings(multispin.nearest_neighbour_patch_couplings(0.4)), _spins(),
                      square=False))
    rp = ri.RelaxedIsingParameters(c, ri.default_shift(c.K), jnp.asarray(0.2), jnp.ones(L * L))
    cases.append(Case("relaxed_ising", functools.partial(_relaxed_init, params=rp), ri.build_kernel(), rp, _spins()))
    pc = phi4.couplings(0.2, 0.5)
    field = jax.random.normal(jax.random.key(2), (L, L))
    cases.append(Case("phi4_metropolis", phi4.metropolis_init, jaxrg.BoundKernel(phi4.metropolis_kernel), pc, field,
                      spins=False))
    for algorithm in hmc_lib.ALGORITHMS:
        hp = hmc_lib.HMCParameters(pc, jnp.asarray(0.1), jnp.ones(L * L))
        cases.append(Case(f"phi4_{algorithm}", functools.partial(hmc_lib.init, log_density=phi4.log_density_at,
                                                                 model=pc),
                          hmc_lib.build_kernel(algorithm, phi4.log_density_at, num_integration_steps=4,
                                               max_num_doublings=3), hp, field, spins=False))
    mesh = parallel.rows_mesh(jax.devices()[:1])
    cases.append(Case("domain_metropolis", functools.partial(parallel.domain_init, mesh=mesh),
                      jaxrg.BoundKernel(parallel.domain_kernel, (("mesh", mesh),)), c, _spins()))
    return cases


def _relaxed_init(x, params):
    return ri.init(x, jax.random.key(5), params)


CASES = _cases()


def _configuration(state, case):
    return state.spins if case.spins else state.position


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_kernel_contract(case):
    state = case.init(case.x)
    new, info = case.kernel(KEY, state, case.params)

    # the state keeps its structure, dtypes and shapes; the configuration is readable
    assert jax.tree.structure(new) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(state)):
        assert a.shape == b.shape and a.dtype == b.dtype, case.name
    conf = _configuration(new, case)
    assert conf.shape == (L, L)
    if case.spins:
        assert conf.dtype == jnp.int8 and set(np.unique(np.asarray(conf))) <= {-1, 1}

    # every info has acceptance in [0, 1] and the work of the step in sweeps
    assert 0.0 <= float(info.acceptance) <= 1.0, case.name
    assert float(info.sweeps) > 0.0, case.name

    # jit equals eager, bit for bit
    jitted_state, jitted_info = jax.jit(case.kernel)(KEY, state, case.params)
    for a, b in zip(jax.tree.leaves((new, info)), jax.tree.leaves((jitted_state, jitted_info))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, err_msg=case.name)

    # build_kernel gives equal (hashable) kernels: the driver's compiled programs are shared between them
    hash(case.kernel)


@pytest.mark.parametrize("case", [c for c in CASES if c.name != "domain_metropolis"],
                         ids=[c.name for c in CASES if c.name != "domain_metropolis"])
def test_vmap_over_chains_equals_a_loop(case):
    keys = jax.random.split(KEY, 3)
    states = [case.init(case.x) for _ in range(3)]
    batched = jax.tree.map(lambda *xs: jnp.stack(xs), *states)
    out, _ = jax.vmap(case.kernel, in_axes=(0, 0, None))(keys, batched, case.params)
    for i in range(3):
        one, _ = case.kernel(keys[i], states[i], case.params)
        np.testing.assert_allclose(np.asarray(_configuration(one, case)),
                                   np.asarray(_configuration(out, case))[i], rtol=1e-5, err_msg=case.name)


@pytest.mark.parametrize("case", [c for c in CASES if c.spins], ids=[c.name for c in CASES if c.spins])
def test_init_rejects_bad_spins(case):
    with pytest.raises(ValueError, match="int8"):
        case.init(jnp.ones((L, L), jnp.int32))
    if case.square:
        with pytest.raises(ValueError, match="shape"):
            case.init(jnp.ones((L, L + 2), jnp.int8))
    with pytest.raises(ValueError, match="one"):
        case.init(jnp.ones((2, L, L), jnp.int8))


@pytest.mark.parametrize("sampler", sorted(jaxrg.SAMPLERS))
def test_convenience_layer_equals_the_kernel(sampler):
    s = jaxrg.SAMPLERS[sampler]
    c = ising.couplings(2.3)
    algo = s(c)
    a, _ = algo.step(KEY, algo.init(_spins()))
    b, _ = s.build_kernel()(KEY, s.init(_spins()), c)
    np.testing.assert_array_equal(np.asarray(a.spins), np.asarray(b.spins))
    assert s.build_kernel() == s.build_kernel()
