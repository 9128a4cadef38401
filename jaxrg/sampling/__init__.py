"""Samplers of the 2D Ising model and of continuous lattice fields, all in the kernel shape of :mod:`.base`.

Each sampler is a :class:`~jaxrg.sampling.base.Sampler`: ``jaxrg.metropolis(couplings)`` is the convenience layer,
``jaxrg.metropolis.init`` / ``jaxrg.metropolis.build_kernel`` the layers below it. ``SAMPLERS`` maps the names
accepted by ``jaxrg.simulate(..., sampler=...)`` to the Ising spin samplers.
"""

from jaxrg.sampling.base import (
    BatchedKernel as BatchedKernel,
    BoundKernel as BoundKernel,
    Kernel as Kernel,
    Sampler as Sampler,
    SamplingAlgorithm as SamplingAlgorithm,
)
from jaxrg.sampling.bitpacked import bitpacked_metropolis as bitpacked_metropolis
from jaxrg.sampling.metropolis import metropolis as metropolis
from jaxrg.sampling.multispin import patch_metropolis as patch_metropolis
from jaxrg.sampling.patch3 import patch3_metropolis as patch3_metropolis
from jaxrg.sampling.swendsen_wang import swendsen_wang as swendsen_wang
from jaxrg.sampling.wolff import wolff as wolff

SAMPLERS: dict[str, Sampler] = {s.name: s for s in (metropolis, wolff, swendsen_wang, bitpacked_metropolis)}

__all__ = [
    "SAMPLERS",
    "BatchedKernel",
    "BoundKernel",
    "Kernel",
    "Sampler",
    "SamplingAlgorithm",
    "bitpacked_metropolis",
    "metropolis",
    "patch_metropolis",
    "patch3_metropolis",
    "swendsen_wang",
    "wolff",
]
