"""Information-theoretic coarse-graining: what a block-spin map keeps and loses.

- :mod:`~jaxrg.rg.information.maps`: block maps as tables ``P(H | V)``; the trainable :class:`FilterMap`.
- :mod:`~jaxrg.rg.information.exact`: exact entropies of one RG step on small tori (enumeration), the information
  lost per step ``H(fine | coarse)``.
- :mod:`~jaxrg.rg.information.reference`: a low-variance reference for ``I(H : E)`` at any ``L`` from the Markov
  property (exact sums over block and buffer for each sampled environment).
- :mod:`~jaxrg.rg.information.estimators`: neural variational lower bounds (InfoNCE, NWJ) with equinox critics.
- :mod:`~jaxrg.rg.information.learning`: maps trained by gradient to maximise ``I(H : E)``.
- :mod:`~jaxrg.rg.information.samples`: equilibrium configurations from the library's samplers (one helper).
"""

from jaxrg.rg.information import estimators as estimators
from jaxrg.rg.information import exact as exact
from jaxrg.rg.information import learning as learning
from jaxrg.rg.information import maps as maps
from jaxrg.rg.information import reference as reference
from jaxrg.rg.information import samples as samples
from jaxrg.rg.information.estimators import Critic as Critic
from jaxrg.rg.information.estimators import estimate_information as estimate_information
from jaxrg.rg.information.estimators import sample_coarse as sample_coarse
from jaxrg.rg.information.estimators import train_critic as train_critic
from jaxrg.rg.information.exact import InformationBudget as InformationBudget
from jaxrg.rg.information.exact import boltzmann_distribution as boltzmann_distribution
from jaxrg.rg.information.exact import exact_information_lost as exact_information_lost
from jaxrg.rg.information.exact import information_budget as information_budget
from jaxrg.rg.information.learning import filter_spread as filter_spread
from jaxrg.rg.information.learning import learn_map as learn_map
from jaxrg.rg.information.maps import FilterMap as FilterMap
from jaxrg.rg.information.maps import block_configurations as block_configurations
from jaxrg.rg.information.maps import conditional_table as conditional_table
from jaxrg.rg.information.reference import BlockEnvironments as BlockEnvironments
from jaxrg.rg.information.reference import block_environments as block_environments
from jaxrg.rg.information.reference import block_patches as block_patches
from jaxrg.rg.information.reference import mutual_information as mutual_information
from jaxrg.rg.information.reference import reference_information as reference_information
from jaxrg.rg.information.reference import window_conditional as window_conditional
from jaxrg.rg.information.samples import ising_configurations as ising_configurations

__all__ = [
    "estimators", "exact", "learning", "maps", "reference", "samples",
    "Critic", "estimate_information", "sample_coarse", "train_critic", "filter_spread", "learn_map",
    "ising_configurations",
    "InformationBudget", "boltzmann_distribution", "exact_information_lost", "information_budget",
    "FilterMap", "block_configurations", "conditional_table",
    "BlockEnvironments", "block_environments", "block_patches", "mutual_information", "reference_information",
    "window_conditional",
]
