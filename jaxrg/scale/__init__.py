"""Scale dynamics: flows in coupling space, scale Hamiltonians, Hamilton-Jacobi actions, the VFT law.

With s the logarithm of the length scale, couplings flow as dg/ds = beta(g) (+ an optional dissipative D(g)):

* `flow`: RK4 / adaptive integration, fixed points by Newton (`fixed_points`), linearisation M = d beta/dg
  (`linearize`), scaling fields, relevant / marginal / irrelevant classification, `critical_exponents`.
* `hamiltonian`: the scale Hamiltonian H(g, p) = p . beta(g) + F(g), Hamilton's equations by autodiff, trajectories.
* `hamilton_jacobi`: the scale-independent action with beta . grad S + F = 0: `hj_action` (one coupling, quadrature
  S(g) - S(g_ref) = -int F/beta dg), `hj_action_along_flow` (any n, S = -int F ds), `hj_residual`.
* `vft`: glass formers, `fit_vft` (tau0, D, T0 with errors) and the scale-Hamiltonian reading A = D T0 lambda.
* `bridge`: discrete RG maps (MCRG, learned flows) to beta(g), fixed points and exponents (`analyze_map`).

Example::

    import jax.numpy as jnp
    from jaxrg import scale

    beta = lambda g: 0.1 * g                      # glass former: beta = lambda g, F = A / g
    F = lambda g: 50.0 / g
    S = scale.hj_action(beta, F, 2.0, 10.0)       # = A/lambda (1/2 - 1/10) = 200
    fit = scale.fit_vft(T, tau)                   # fit.tau0, fit.D, fit.T0 and fit.*_error
    A, A_err = scale.barrier_amplitude(fit.D_T0, 0.1, fit.D_T0_error)
    an = scale.analyze_map(lambda K: K_c + 2 * (K - K_c), 0.4, b=2.0)   # an.y_t = 1, an.nu = 1

References: seeds 000 ("From time to scale") and 001 ("A scale Hamiltonian framework for multiscale systems");
Vogel (1921), Fulcher (1925), Tammann and Hesse (1926) for the VFT law; Wilson and Kogut, Phys. Rep. 12, 75 (1974).
"""

from jaxrg.scale.bridge import (
    MapAnalysis,
    RGMatrixExponents,
    analyze_map,
    beta_from_map,
    polynomial_map,
    rg_matrix_exponents,
)
from jaxrg.scale.flow import (
    IRRELEVANT,
    MARGINAL,
    RELEVANT,
    AdaptiveFlowSolution,
    CriticalExponents,
    FixedPoint,
    FixedPoints,
    FlowTrajectory,
    Linearization,
    classification_labels,
    classify_eigenvalues,
    critical_exponents,
    find_fixed_point,
    fixed_points,
    flow_vector_field,
    integrate_flow,
    integrate_flow_adaptive,
    linearize,
    rk4_step,
)
from jaxrg.scale.hamilton_jacobi import FlowAction, hj_action, hj_action_along_flow, hj_residual
from jaxrg.scale.hamiltonian import (
    HamiltonianTrajectory,
    hamilton_equations,
    hamiltonian_trajectory,
    scale_hamiltonian,
)
from jaxrg.scale.vft import (
    VFTFit,
    VFTScaleReading,
    barrier_amplitude,
    fit_vft,
    vft_log_tau,
    vft_scale_reading,
    vft_tau,
)

__all__ = [
    "RELEVANT",
    "MARGINAL",
    "IRRELEVANT",
    "FlowTrajectory",
    "AdaptiveFlowSolution",
    "FixedPoint",
    "FixedPoints",
    "Linearization",
    "CriticalExponents",
    "flow_vector_field",
    "rk4_step",
    "integrate_flow",
    "integrate_flow_adaptive",
    "find_fixed_point",
    "fixed_points",
    "linearize",
    "classify_eigenvalues",
    "classification_labels",
    "critical_exponents",
    "HamiltonianTrajectory",
    "scale_hamiltonian",
    "hamilton_equations",
    "hamiltonian_trajectory",
    "FlowAction",
    "hj_action",
    "hj_action_along_flow",
    "hj_residual",
    "VFTFit",
    "VFTScaleReading",
    "vft_log_tau",
    "vft_tau",
    "fit_vft",
    "barrier_amplitude",
    "vft_scale_reading",
    "MapAnalysis",
    "RGMatrixExponents",
    "beta_from_map",
    "analyze_map",
    "rg_matrix_exponents",
    "polynomial_map",
]
