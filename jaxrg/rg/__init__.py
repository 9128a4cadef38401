"""Real-space and tensor-network renormalization group.

- :mod:`jaxrg.rg.blocking`: block-spin maps (majority rule, decimation, block averages) and their hierarchies;
- :mod:`jaxrg.rg.operators` and :mod:`jaxrg.rg.mcrg`: Monte Carlo RG eigenvalue exponents from blocked correlations;
- :mod:`jaxrg.rg.trg`: differentiable TRG / HOTRG free energies, thermodynamics and conformal data;
- :mod:`jaxrg.rg.flow`: learned RG flows in coupling space (fixed points, exponents);
- :mod:`jaxrg.rg.inverse`: inverse-RG generators that upsample coarse configurations;
- :mod:`jaxrg.rg.information`: the information a block-spin map loses per RG step (exact references, mutual-information
  estimators, learned information-optimal maps).
"""

from jaxrg.rg import (
    blocking as blocking,
    flow as flow,
    information as information,
    inverse as inverse,
    mcrg as mcrg,
    operators as operators,
    trg as trg,
)

__all__ = ["blocking", "flow", "information", "inverse", "mcrg", "operators", "trg"]
