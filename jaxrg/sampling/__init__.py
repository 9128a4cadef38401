"""Samplers of the 2D Ising model, all sharing the kernel shape of :mod:`jaxrg.sampling.base`.

``SAMPLERS`` maps the names accepted by ``jaxrg.simulate(..., sampler=...)`` to kernel factories
``factory(couplings) -> Kernel``.
"""

from jaxrg.sampling.base import Kernel
from jaxrg.sampling.bitpacked import bitpacked_metropolis
from jaxrg.sampling.metropolis import metropolis
from jaxrg.sampling.swendsen_wang import swendsen_wang
from jaxrg.sampling.wolff import wolff

SAMPLERS = {
    "metropolis": metropolis,
    "wolff": wolff,
    "swendsen_wang": swendsen_wang,
    "bitpacked_metropolis": bitpacked_metropolis,  # zero field only (h != 0: ValueError / NaN acceptance)
}

__all__ = ["Kernel", "SAMPLERS", "metropolis", "wolff", "swendsen_wang", "bitpacked_metropolis"]
