"""Real-space and tensor-network renormalization group: block-spin maps, Monte Carlo RG, TRG/HOTRG, learned flows."""

from jaxrg.rg import blocking, mcrg, operators  # noqa: F401  issue 4
from jaxrg.rg import trg  # noqa: F401  issue 5: TRG / HOTRG
