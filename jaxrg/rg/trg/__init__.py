"""Tensor-network coarse-graining of the 2D Ising model: TRG, HOTRG, bond-weighted TRG and Gilt-TNR, differentiable.

- :mod:`~jaxrg.rg.trg.network`: the site tensor, one step of each scheme (TRG, BTRG, HOTRG), the scanned flow;
- :mod:`~jaxrg.rg.trg.gilt`: graph-independent local truncations, Gilt-TNR on top of TRG;
- :mod:`~jaxrg.rg.trg.thermodynamics`: ``coarse_grain`` (validated), ln Z / N, free energy, energy, heat capacity,
  magnetisation by autodiff;
- :mod:`~jaxrg.rg.trg.conformal`: central charge and scaling dimensions from the coarse-grained tensor;
- :mod:`~jaxrg.rg.trg.linearized`: the gauge-fixed RG step (b = 2 and a quarter turn) as a map on tensors, its
  fixed point by Newton's method and scaling dimensions from the eigenvalues of its Jacobian;
- :mod:`~jaxrg.rg.trg.pseudo_critical`: the pseudo-critical coupling of a truncated scheme (bisection on the phase
  its flow ends in), where Gilt-TNR holds the critical fixed point;
- :mod:`~jaxrg.rg.trg.peak`: the heat-capacity peak by gradient ascent on the autodiff dC/dT.

``method`` is a name in :data:`METHODS` (``"trg"``, ``"hotrg"``, ``"btrg"``, ``"gilt-trg"``) or a scheme instance
with its own parameters: ``BTRG(k=-0.5)`` (bond-weight exponent), ``GiltTRG(epsilon=1e-7)`` (Gilt threshold).
"""

from jaxrg.rg.trg._checks import METHODS as METHODS
from jaxrg.rg.trg.conformal import ScalingSpectrum as ScalingSpectrum
from jaxrg.rg.trg.conformal import trg_scaling_dimensions as trg_scaling_dimensions
from jaxrg.rg.trg.gilt import GiltTRG as GiltTRG
from jaxrg.rg.trg.gilt import gilt_trg_step as gilt_trg_step
from jaxrg.rg.trg.gilt import gilt_truncate as gilt_truncate
from jaxrg.rg.trg.linearized import FixedPoint as FixedPoint
from jaxrg.rg.trg.linearized import LinearizedSpectrum as LinearizedSpectrum
from jaxrg.rg.trg.linearized import gauge_directions as gauge_directions
from jaxrg.rg.trg.linearized import linearized_rg_flow as linearized_rg_flow
from jaxrg.rg.trg.linearized import linearized_pseudo_critical_coupling as linearized_pseudo_critical_coupling
from jaxrg.rg.trg.linearized import linearized_rg_map as linearized_rg_map
from jaxrg.rg.trg.linearized import linearized_scaling_dimensions as linearized_scaling_dimensions
from jaxrg.rg.trg.linearized import linearized_spectrum as linearized_spectrum
from jaxrg.rg.trg.linearized import rg_fixed_point as rg_fixed_point
from jaxrg.rg.trg.linearized import z2_site_tensor as z2_site_tensor
from jaxrg.rg.trg.network import BTRG as BTRG
from jaxrg.rg.trg.network import DEFAULT_STEPS as DEFAULT_STEPS
from jaxrg.rg.trg.network import HOTRG as HOTRG
from jaxrg.rg.trg.network import TRG as TRG
from jaxrg.rg.trg.network import Scheme as Scheme
from jaxrg.rg.trg.network import btrg_step as btrg_step
from jaxrg.rg.trg.network import hotrg_step as hotrg_step
from jaxrg.rg.trg.network import ising_site_tensor as ising_site_tensor
from jaxrg.rg.trg.network import trg_step as trg_step
from jaxrg.rg.trg.peak import HeatCapacityPeak as HeatCapacityPeak
from jaxrg.rg.trg.peak import trg_heat_capacity_and_slope as trg_heat_capacity_and_slope
from jaxrg.rg.trg.peak import trg_heat_capacity_peak as trg_heat_capacity_peak
from jaxrg.rg.trg.pseudo_critical import PseudoCriticalCoupling as PseudoCriticalCoupling
from jaxrg.rg.trg.pseudo_critical import pseudo_critical_coupling as pseudo_critical_coupling
from jaxrg.rg.trg.thermodynamics import TRGThermodynamics as TRGThermodynamics
from jaxrg.rg.trg.thermodynamics import coarse_grain as coarse_grain
from jaxrg.rg.trg.thermodynamics import trg_free_energy as trg_free_energy
from jaxrg.rg.trg.thermodynamics import trg_log_partition as trg_log_partition
from jaxrg.rg.trg.thermodynamics import trg_thermodynamics as trg_thermodynamics

__all__ = [
    "METHODS",
    "DEFAULT_STEPS",
    "Scheme",
    "TRG",
    "HOTRG",
    "BTRG",
    "GiltTRG",
    "TRGThermodynamics",
    "ScalingSpectrum",
    "HeatCapacityPeak",
    "ising_site_tensor",
    "trg_step",
    "btrg_step",
    "hotrg_step",
    "gilt_truncate",
    "gilt_trg_step",
    "coarse_grain",
    "trg_log_partition",
    "trg_free_energy",
    "trg_thermodynamics",
    "trg_scaling_dimensions",
    "trg_heat_capacity_and_slope",
    "trg_heat_capacity_peak",
    "FixedPoint",
    "LinearizedSpectrum",
    "z2_site_tensor",
    "linearized_rg_map",
    "linearized_rg_flow",
    "linearized_pseudo_critical_coupling",
    "rg_fixed_point",
    "linearized_spectrum",
    "linearized_scaling_dimensions",
    "gauge_directions",
    "PseudoCriticalCoupling",
    "pseudo_critical_coupling",
]
