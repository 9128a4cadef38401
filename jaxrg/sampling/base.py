"""The kernel shape shared by every jaxrg sampler (after blackjax).

Each sampler module has three layers::

    state = metropolis.init(spins)                         # validated once, through ising.validate_spins
    kernel = metropolis.build_kernel(rng="hash")           # static options only; hashable by value
    state, info = kernel(key, state, couplings)            # physics parameters are call-time, traced arguments
    algo = jaxrg.metropolis(couplings)                     # convenience: closes over them -> SamplingAlgorithm

``jaxrg.simulate`` and the driver vmap the module-level kernel over parameters and chains, so a new temperature, seed
or network weight reuses the compiled program. Every ``info`` has ``acceptance`` (fraction of accepted proposals) and
``sweeps`` (the work of the step in lattice sweeps, for comparing autocorrelation times across samplers: 1 for a local
sweep, ``|C| / N`` for a Wolff cluster, the number of gradient evaluations for HMC).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple, Protocol

import jax

__all__ = ["SamplingAlgorithm", "Kernel", "BoundKernel", "BatchedKernel", "Sampler", "closed_over"]


class SamplingAlgorithm(NamedTuple):
    """A pure ``(init, step)`` pair with the physics parameters closed over (the convenience layer).

    Attributes:
        init: ``init(spins, key=None) -> state`` (the key is used only by samplers with auxiliary variables).
        step: ``step(key, state) -> (state, info)``.
    """

    init: Callable[..., Any]
    step: Callable[..., Any]


class Kernel(Protocol):
    """``kernel(key, state, params) -> (state, info)``: one step; ``params`` (couplings, step sizes) are traced."""

    def __call__(self, key: jax.Array, state: Any, params: Any) -> tuple[Any, Any]: ...


@dataclasses.dataclass(frozen=True)
class BoundKernel:
    """A module-level kernel function with its static options bound: ``fn(key, state, params, **options)``.

    Frozen, so it compares and hashes by value: two ``build_kernel(rng="hash")`` calls give equal kernels, and the
    driver's compiled programs (keyed by the kernel as a static argument) are shared between them.
    """

    fn: Callable[..., tuple[Any, Any]]
    options: tuple[tuple[str, Any], ...] = ()

    def __call__(self, key: jax.Array, state: Any, params: Any) -> tuple[Any, Any]:
        return self.fn(key, state, params, **dict(self.options))


@dataclasses.dataclass(frozen=True)
class BatchedKernel:
    """A kernel over a ``(n_params, chains)`` batch: parameters have a leading axis ``n_params``, state two axes.

    With ``params_per_chain`` the parameters have both axes (e.g. step sizes tuned per chain). Each
    ``(parameter, chain)`` member draws its own key from ``jax.random.split(key, (n_params, chains))``.
    """

    kernel: Callable[..., tuple[Any, Any]]
    chains: int
    params_per_chain: bool = False

    def __call__(self, key: jax.Array, state: Any, params: Any) -> tuple[Any, Any]:
        n_params = jax.tree.leaves(params)[0].shape[0]
        keys = jax.random.split(key, (n_params, self.chains))
        over_chains = jax.vmap(self.kernel, in_axes=(0, 0, 0 if self.params_per_chain else None))
        return jax.vmap(over_chains, in_axes=(0, 0, 0))(keys, state, params)


@dataclasses.dataclass(frozen=True)
class Sampler:
    """The public face of a sampler module: call it for the convenience layer, or use its layers directly.

    ``jaxrg.metropolis(couplings)`` returns a :class:`SamplingAlgorithm`; ``jaxrg.metropolis.init`` and
    ``jaxrg.metropolis.build_kernel`` are the module's functions.

    Attributes:
        name: the name accepted by ``jaxrg.simulate(..., sampler=name)``.
        init: ``init(spins, key=None) -> state``.
        build_kernel: ``build_kernel(**static) -> kernel(key, state, params)``.
        factory: ``factory(params, **static) -> SamplingAlgorithm``.
        check_params: ``check_params(params)`` raises ValueError for concrete parameter values the kernel does not
            support (e.g. a field for a zero-field kernel); called once on the whole batch before sampling.
    """

    name: str
    init: Callable[..., Any]
    build_kernel: Callable[..., Kernel]
    factory: Callable[..., SamplingAlgorithm]
    check_params: Callable[[Any], None] | None = None

    def __call__(self, params: Any, **static: Any) -> SamplingAlgorithm:
        return self.factory(params, **static)


def closed_over(init: Callable, kernel: Kernel, params: Any) -> SamplingAlgorithm:
    """The convenience layer: ``(init, step)`` with ``step(key, state) = kernel(key, state, params)``."""

    def step(key: jax.Array, state: Any) -> tuple[Any, Any]:
        return kernel(key, state, params)

    return SamplingAlgorithm(init, step)
