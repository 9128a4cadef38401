"""The kernel shape shared by every jaxrg sampler (after blackjax).

A sampler is a factory ``sampler(couplings, ...) -> Kernel`` returning a pure ``(init, step)`` pair::

    kernel = jaxrg.metropolis(couplings)
    state = kernel.init(key, spins)          # state exposes ``state.spins`` as (L, L) int8
    state, info = kernel.step(key, state)    # info: diagnostics (acceptance, cluster size, ...)

Physics parameters are call-time arrays (vmap over them for many temperatures); sizes are static. ``sweeps_per_step``
says how many lattice sweeps one ``step`` is worth for comparing autocorrelation times across samplers: 1 for local
sweeps; for Wolff the mean cluster size over N, reported per step in ``info.sweeps``.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

__all__ = ["Kernel"]


class Kernel(NamedTuple):
    """A pure ``(init, step)`` pair.

    Attributes:
        init: ``init(key, spins) -> state``.
        step: ``step(key, state) -> (state, info)``; ``info.sweeps`` is the work done in lattice sweeps.
    """

    init: Callable[..., Any]
    step: Callable[..., Any]
