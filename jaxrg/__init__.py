"""jaxrg: JAX-accelerated renormalization-group physics on the 2D Ising model.

Every numerical core is a pure function of arrays and PRNG keys, so it jit-compiles, vmaps over temperatures and
chains, differentiates, and runs unchanged on CPU, GPU and TPU. The public API, by concept:

- the model and its exact results: :mod:`jaxrg.lattice`, :mod:`jaxrg.ising`, :mod:`jaxrg.exact`;
- samplers, each in three layers (``init``, ``build_kernel`` with call-time parameters, the convenience factory
  called here): ``metropolis``, ``bitpacked_metropolis``, ``wolff``, ``swendsen_wang``, ``patch_metropolis``,
  ``patch3_metropolis``, ``hmc``, ``nuts``, ``relaxed_ising``; the one driver loop ``run_chain``;
- simulation and statistics: ``simulate`` (replica exchange with ``exchange_every``), the one simulation path
  ``run_model`` that every ``Model`` (``IsingModel``, :class:`jaxrg.phi4.Phi4Model`) runs on, :mod:`jaxrg.stats`,
  :mod:`jaxrg.observables`, :mod:`jaxrg.reweighting` (multi-histogram), :mod:`jaxrg.fss` (finite-size scaling);
- renormalization group: block spins and Monte Carlo RG, tensor networks, learned flows, inverse-RG generators
  (:mod:`jaxrg.rg`); scale dynamics in coupling space (:mod:`jaxrg.scale`); the phi^4 field theory
  (:mod:`jaxrg.phi4`);
- at scale and on disk: :mod:`jaxrg.parallel`, :mod:`jaxrg.files`, :mod:`jaxrg.checkpoints`.

Quick example::

    import jaxrg
    r = jaxrg.simulate(16, [2.0, 2.269, 2.6], sweeps=5000)
    exact = jaxrg.exact.finite_lattice(16, r.T)
    print(r.energy.mean, r.energy.error, exact.energy)
"""

__version__ = "0.1.0"

# the model, its geometry and its exact results
from jaxrg import exact as exact, ising as ising, lattice as lattice
from jaxrg.exact import CRITICAL_COUPLING as CRITICAL_COUPLING, CRITICAL_TEMPERATURE as CRITICAL_TEMPERATURE
from jaxrg.ising import Couplings as Couplings

# samplers (three layers each) and the one driver loop
from jaxrg import sampling as sampling
from jaxrg.sampling import (
    SAMPLERS as SAMPLERS,
    BatchedKernel as BatchedKernel,
    BoundKernel as BoundKernel,
    Kernel as Kernel,
    Sampler as Sampler,
    SamplingAlgorithm as SamplingAlgorithm,
    bitpacked_metropolis as bitpacked_metropolis,
    metropolis as metropolis,
    patch3_metropolis as patch3_metropolis,
    patch_metropolis as patch_metropolis,
    swendsen_wang as swendsen_wang,
    wolff as wolff,
)
from jaxrg.sampling.bitpacked import pack_spins as pack_spins, unpack_spins as unpack_spins
from jaxrg.sampling.driver import ChainOutput as ChainOutput, run_chain as run_chain
from jaxrg.sampling.hmc import hmc as hmc, nuts as nuts, window_adaptation as window_adaptation
from jaxrg.sampling.relaxed_ising import relaxed_ising as relaxed_ising

# simulation, observables, errors, finite-size scaling
from jaxrg import fss as fss, observables as observables, reweighting as reweighting, rng as rng, stats as stats
from jaxrg.observables import Timeseries as Timeseries
from jaxrg.simulation import (
    IsingModel as IsingModel,
    Model as Model,
    SimulationResult as SimulationResult,
    run_model as run_model,
    simulate as simulate,
)
from jaxrg.stats import Estimate as Estimate

# renormalization group: block spins, Monte Carlo RG, tensor networks, learned flows, generators
from jaxrg import rg as rg
from jaxrg.rg.blocking import (
    FilterRule as FilterRule,
    block_average as block_average,
    block_hierarchy as block_hierarchy,
    decimation as decimation,
    majority_rule as majority_rule,
    swendsen_rule as swendsen_rule,
)
from jaxrg.rg.flow import (
    FlowModel as FlowModel,
    analyze_flow as analyze_flow,
    coupling_space as coupling_space,
    train_flow as train_flow,
)
from jaxrg.rg.inverse import (
    ThermalGenerator as ThermalGenerator,
    calibrate_thermal as calibrate_thermal,
    generate as generate,
    load_pretrained as load_pretrained,
    load_pretrained_thermal as load_pretrained_thermal,
)
from jaxrg.rg.mcrg import MCRGResult as MCRGResult, mcrg as mcrg
from jaxrg.rg.trg import (
    BTRG as BTRG,
    FixedPoint as FixedPoint,
    GiltTRG as GiltTRG,
    LinearizedSpectrum as LinearizedSpectrum,
    PseudoCriticalCoupling as PseudoCriticalCoupling,
    TRGThermodynamics as TRGThermodynamics,
    linearized_pseudo_critical_coupling as linearized_pseudo_critical_coupling,
    linearized_scaling_dimensions as linearized_scaling_dimensions,
    linearized_spectrum as linearized_spectrum,
    pseudo_critical_coupling as pseudo_critical_coupling,
    rg_fixed_point as rg_fixed_point,
    trg_free_energy as trg_free_energy,
    trg_heat_capacity_and_slope as trg_heat_capacity_and_slope,
    trg_heat_capacity_peak as trg_heat_capacity_peak,
    trg_scaling_dimensions as trg_scaling_dimensions,
    trg_thermodynamics as trg_thermodynamics,
)

# field theory and scale dynamics
from jaxrg import phi4 as phi4, scale as scale

# at scale and on disk
from jaxrg import checkpoints as checkpoints, files as files, parallel as parallel

__all__ = [
    # model and exact results
    "exact", "ising", "lattice", "CRITICAL_COUPLING", "CRITICAL_TEMPERATURE", "Couplings",
    # samplers and driver
    "sampling", "SAMPLERS", "BatchedKernel", "BoundKernel", "Kernel", "Sampler", "SamplingAlgorithm",
    "bitpacked_metropolis", "metropolis", "patch_metropolis", "patch3_metropolis", "swendsen_wang", "wolff",
    "pack_spins", "unpack_spins", "ChainOutput", "run_chain", "hmc", "nuts", "window_adaptation", "relaxed_ising",
    # simulation and statistics
    "fss", "observables", "reweighting", "rng", "stats", "Timeseries", "SimulationResult", "simulate", "Estimate",
    "Model", "IsingModel", "run_model",
    # renormalization group
    "rg", "FilterRule", "block_average", "block_hierarchy", "decimation", "majority_rule", "swendsen_rule",
    "FlowModel", "analyze_flow", "coupling_space", "train_flow", "generate", "load_pretrained", "MCRGResult", "mcrg",
    "ThermalGenerator", "calibrate_thermal", "load_pretrained_thermal",
    "FixedPoint", "LinearizedSpectrum", "linearized_scaling_dimensions", "linearized_spectrum", "rg_fixed_point",
    "linearized_pseudo_critical_coupling",
    "PseudoCriticalCoupling", "pseudo_critical_coupling",
    "BTRG", "GiltTRG", "TRGThermodynamics", "trg_free_energy", "trg_heat_capacity_and_slope", "trg_heat_capacity_peak",
    "trg_scaling_dimensions", "trg_thermodynamics",
    # field theory and scale dynamics
    "phi4", "scale",
    # at scale and on disk
    "checkpoints", "files", "parallel",
]
