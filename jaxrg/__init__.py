"""jaxrg: JAX-accelerated renormalization-group physics on the 2D Ising model.

Every numerical core is a pure function of arrays and PRNG keys, so it jit-compiles, vmaps over temperatures and
chains, differentiates, and runs unchanged on CPU, GPU and TPU. The public API is re-exported here explicitly.

Quick example::

    import jaxrg
    r = jaxrg.simulate(16, [2.0, 2.269, 2.6], sweeps=5000)
    exact = jaxrg.exact.finite_lattice(16, r.T)
    print(r.energy.mean, r.energy.error, exact.energy)
"""

__version__ = "0.1.0"

# --- foundation: model, exact results, samplers, driver, statistics -----------------------------------------
from jaxrg import exact, ising, lattice, observables, rng, stats  # noqa: E402
from jaxrg.ising import Couplings  # noqa: E402
from jaxrg.sampling import SAMPLERS, Kernel, metropolis  # noqa: E402
from jaxrg.sampling.driver import run_chain  # noqa: E402
from jaxrg.simulation import SimulationResult, simulate  # noqa: E402
from jaxrg.stats import Estimate  # noqa: E402

# --- capabilities (each issue adds its own block below) -------------------------------------------------------
from jaxrg.rg import blocking  # issue 4: block-spin maps  # noqa: E402
from jaxrg.rg.blocking import block_average, block_hierarchy, decimation, majority_rule  # issue 4  # noqa: E402
from jaxrg.rg.mcrg import MCRGResult, mcrg  # issue 4: Monte Carlo RG  # noqa: E402
from jaxrg.rg.trg import TRGThermodynamics, trg_free_energy, trg_scaling_dimensions, trg_thermodynamics  # issue 5  # noqa: E402,E501
from jaxrg.rg.trg import trg_heat_capacity_and_slope, trg_heat_capacity_peak  # issue 5: C peak by autodiff  # noqa: E402
from jaxrg import scale  # issue 9  # noqa: E402
from jaxrg import phi4  # issue 6: phi^4 model, HMC/NUTS via blackjax  # noqa: E402
from jaxrg.sampling.hmc import hmc, nuts, window_adaptation  # issue 6  # noqa: E402
from jaxrg.sampling.relaxed_ising import relaxed_ising  # issue 6  # noqa: E402
from jaxrg.sampling.multispin import patch_metropolis  # issue 7: 2x2-patch Hamiltonians  # noqa: E402
from jaxrg.rg.flow import FlowModel, analyze_flow, coupling_space, train_flow  # issue 7: learned flows  # noqa: E402
from jaxrg.sampling import swendsen_wang, wolff  # issue 3: cluster samplers  # noqa: E402
from jaxrg.rg.inverse import generate  # issue 8: inverse-RG generators (jaxrg.rg.inverse)  # noqa: E402
from jaxrg.sampling.bitpacked import bitpacked_metropolis, pack_spins, unpack_spins  # issue 12: multi-spin coding  # noqa: E402,E501
from jaxrg import parallel  # issue 11: sharded batches, domain decomposition  # noqa: E402
