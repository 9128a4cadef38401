"""Learned, differentiable RG flows in coupling space (MLRG, after Hou and You 2023 and Shen and Kao 2024).

Model. A *coupling space* of dimension ``n`` is a linear subspace of the 2 x 2-patch Hamiltonians of
:mod:`jaxrg.sampling.multispin`: flow coordinates ``J in R^n`` give the patch couplings ``J @ basis`` (``basis`` is
``(n, 6)``), and the flow operators are ``S(s) = basis @ S_patch(s)``, so ``beta H = -J . S``. Spaces by ``n``:

===  ================================================  ============================================================
 n    coordinates                                       meaning
===  ================================================  ============================================================
 1    ``nn``                                            isotropic nearest neighbour, ``K (S_x + S_y)``
 2    ``nn, nnn``                                       + both diagonals with one coupling
 3    ``nn, nnn, plaquette``                            + the 4-spin plaquette
 5    ``nn_x, nn_y, diagonal, antidiagonal, plaquette``  the five even patch couplings, each separate
===  ================================================  ============================================================

The 2 x 2 patch holds exactly three square-symmetric even operators (nearest neighbour, next-nearest neighbour,
plaquette), so n = 5 adds only the two anisotropies (``nn_x - nn_y`` and ``diagonal - antidiagonal``). The blocked
distribution of a symmetric model is symmetric, so the n = 5 flow is made equivariant under the reflections that swap
them (:attr:`CouplingSpace.symmetries`): the isotropic subspace (= the n = 3 space) is invariant, K_c and nu come from
it, and the anisotropies are (nearly) marginal directions -- in the true RG a spatial anisotropy is a redundant
perturbation with eigenvalue 1 (a line of fixed points); Newton starts on the isotropic axis and stays in it.

Wider spaces: ``coupling_space(n, patch=3)`` (n = 1..8) are linear subspaces of the nineteen 3 x 3-patch operators of
:mod:`jaxrg.sampling.patch3` (sampled with its sublattice Metropolis kernel); each coordinate multiplies the sum over
a square-symmetry class, so all n couplings are genuinely different, and the spaces are nested:

===  ==========================================================================================================
 n    coordinates (3 x 3 patch)
===  ==========================================================================================================
 3    ``nn, nnn, plaquette`` (the same Hamiltonians as the 2 x 2 space n = 3)
 4    + ``third``: pairs at distance 2 along the axes
 5    + ``six``: the six-spin 2 x 3 and 3 x 2 rectangles
 6    + ``knight``: pairs at offsets (1, 2) and (2, 1)
 7    + ``far_diagonal``: pairs at offsets (2, 2)
 8    + ``diamond``: the four-spin product of the nearest neighbours of a site
===  ==========================================================================================================

RG step. The fine model at ``J`` on an ``L x L`` torus is sampled with the Metropolis kernel of the space's patch
(:func:`space_sampler`: four sublattices for the 2 x 2 patch, ``py x px`` for the 3 x 3 patch), blocked
with 2 x 2 majority rule (random tie-break, :func:`jaxrg.rg.blocking.majority_rule`) to ``L/2 x L/2``, and the coarse
model is the Gibbs distribution of the same coupling space at ``J' = J + f_theta(J)`` on the ``L/2`` torus (same
boundary conditions: the two-lattice matching of MCRG). ``f_theta`` is an equinox MLP (:class:`FlowModel`).

Loss. ``KL(P_blocked || P_J') / N' = -J' . m_b + ln Z(J') / N' + const`` with per-site moments ``m = <S> / N'``;
its gradient in ``J'`` is ``m_J' - m_b`` (model minus data). Two estimators:

* contrastive divergence (:func:`cd_loss`): ``m_J'`` from ``k`` Metropolis sweeps at ``J'`` started from the blocked
  configurations; the surrogate ``stop_gradient(m_J' - m_b) . J'`` has the CD gradient in ``theta`` (chain rule through
  ``J' = J + f_theta(J)``). Its value is not the KL; :func:`cd_loss` also returns the moment mismatch.
* exact (:func:`exact_loss`, coarse lattice 4 x 4 only): ``ln Z(J')`` by enumeration of the 2^16 coarse states, so the
  cross-entropy and its gradient in ``J'`` are exact *given the blocked moments* ``m_b``; the blocked moments are
  Monte Carlo estimates (enumerating the 8 x 8 fine lattice is impossible), and the entropy of ``P_blocked`` (the
  constant) is not known, so the returned value is the KL up to that constant.

Training couplings (:func:`sample_couplings`): a mixture of uniform draws in a box (broad exploration) and blackjax HMC
samples of ``p(J) ~ exp(-beta_a ||f_theta(J)||^2)`` inside the box, with ``beta_a`` annealed upwards over the rounds,
so that training concentrates near the fixed points of the current flow.

Analysis (all pure JAX; derivatives through the implicit function theorem):

* fixed points and eigen-analysis are those of :mod:`jaxrg.scale` (no second Newton solver here):
  :func:`jaxrg.scale.analyze_map` / :func:`jaxrg.scale.find_fixed_point` on the map ``J + f_theta(J)`` (optimistix
  Newton with autodiff Jacobian, derivatives by the implicit function theorem); :func:`map_exponents` is the
  eigen-analysis of ``M = I + Df(J*)`` via :func:`jaxrg.scale.rg_matrix_exponents`: ``nu = ln 2 / ln lambda_t`` with
  ``lambda_t`` the largest eigenvalue, ``|lambda| > 1`` relevant, ``< 1`` irrelevant.
* :func:`critical_coupling`: ``K_c`` on the nearest-neighbour axis by bisection on the sink of the iterated map (the
  sign of the projection on the relevant left eigenvector after ``m`` iterations), made differentiable by a final
  implicit Newton step, so ``jax.grad`` gives the sensitivity of ``K_c`` to anything the flow depends on.
"""

from jaxrg.rg.flow.spaces import (
    CouplingSpace as CouplingSpace,
    COUPLING_SPACES as COUPLING_SPACES,
    PATCH3_COUPLING_SPACES as PATCH3_COUPLING_SPACES,
    coupling_space as coupling_space,
    coupling_operators as coupling_operators,
    patch_couplings as patch_couplings,
    space_sampler as space_sampler,
)
from jaxrg.rg.flow.model import (
    FlowModel as FlowModel,
)
from jaxrg.rg.flow.data import (
    FlowData as FlowData,
    blocked_data as blocked_data,
    metropolis_sweeps as metropolis_sweeps,
)
from jaxrg.rg.flow.losses import (
    cd_model_moments as cd_model_moments,
    cd_loss as cd_loss,
    EnumerationTable as EnumerationTable,
    enumeration_table as enumeration_table,
    exact_model_moments as exact_model_moments,
    exact_loss as exact_loss,
)
from jaxrg.rg.flow.sampling import (
    sample_couplings as sample_couplings,
)
from jaxrg.rg.flow.training import (
    TrainingConfig as TrainingConfig,
    FlowTrainingResult as FlowTrainingResult,
    train_flow as train_flow,
)
from jaxrg.rg.flow.analysis import (
    map_exponents as map_exponents,
    critical_coupling as critical_coupling,
    FlowAnalysis as FlowAnalysis,
    analyze_flow as analyze_flow,
)

__all__ = [
    "CouplingSpace", "COUPLING_SPACES", "PATCH3_COUPLING_SPACES", "coupling_space", "coupling_operators",
    "patch_couplings", "space_sampler",
    "FlowModel",
    "FlowData", "blocked_data", "metropolis_sweeps",
    "cd_model_moments", "cd_loss", "EnumerationTable", "enumeration_table", "exact_model_moments", "exact_loss",
    "sample_couplings",
    "TrainingConfig", "FlowTrainingResult", "train_flow",
    "map_exponents", "critical_coupling", "FlowAnalysis", "analyze_flow",
]
