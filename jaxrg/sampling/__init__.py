"""Samplers of the 2D Ising model, all sharing the kernel shape of :mod:`jaxrg.sampling.base`.

``SAMPLERS`` maps the names accepted by ``jaxrg.simulate(..., sampler=...)`` to kernel factories
``factory(couplings) -> Kernel``.
"""

from jaxrg.sampling.base import Kernel
from jaxrg.sampling.metropolis import metropolis

SAMPLERS = {
    "metropolis": metropolis,
}

__all__ = ["Kernel", "SAMPLERS", "metropolis"]
