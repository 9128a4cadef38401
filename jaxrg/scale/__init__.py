"""Scale dynamics: flows in coupling space, scale Hamiltonians, Hamilton-Jacobi actions, the VFT law.

With s the logarithm of the length scale, couplings flow as dg/ds = beta(g) (+ an optional dissipative D(g)):

* `integrate`: flows on diffrax: fixed-step RK4 (`integrate_flow`), adaptive explicit or implicit stiff solvers with
  dense output and a steady-state event (`integrate_flow_adaptive`), gradients by diffrax's adjoints.
* `fixed_points`: fixed points by optimistix root finding (Newton / chord / dogleg; implicit-function derivatives).
* `linearization`: M = d beta/dg at a fixed point (`linearize`), scaling fields, relevant / marginal / irrelevant
  classification, `critical_exponents`.
* `hamiltonian`: the scale Hamiltonian H(g, p) = p . beta(g) + F(g), Hamilton's equations by autodiff, trajectories.
* `hamilton_jacobi`: the scale-independent action with beta . grad S + F = 0: `hj_action` (one coupling, quadrature
  S(g) - S(g_ref) = -int F/beta dg), `hj_action_along_flow` (any n, S = -int F ds), `hj_residual`.
* `vft`: glass formers, `fit_vft` (optimistix Levenberg-Marquardt: tau0, D, T0 with errors) and the
  scale-Hamiltonian reading A = D T0 lambda.
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
    MapAnalysis as MapAnalysis,
    RGMatrixExponents as RGMatrixExponents,
    analyze_map as analyze_map,
    beta_from_map as beta_from_map,
    polynomial_map as polynomial_map,
    rg_matrix_exponents as rg_matrix_exponents,
)
from jaxrg.scale.fixed_points import (
    ROOT_METHODS as ROOT_METHODS,
    FixedPoint as FixedPoint,
    FixedPoints as FixedPoints,
    RootResult as RootResult,
    find_fixed_point as find_fixed_point,
    find_root as find_root,
    fixed_points as fixed_points,
    root_solver as root_solver,
)
from jaxrg.scale.hamilton_jacobi import (
    FlowAction as FlowAction,
    hj_action as hj_action,
    hj_action_along_flow as hj_action_along_flow,
    hj_residual as hj_residual,
)
from jaxrg.scale.hamiltonian import (
    HamiltonianTrajectory as HamiltonianTrajectory,
    hamilton_equations as hamilton_equations,
    hamiltonian_trajectory as hamiltonian_trajectory,
    scale_hamiltonian as scale_hamiltonian,
)
from jaxrg.scale.integrate import (
    RK4 as RK4,
    AdaptiveFlowSolution as AdaptiveFlowSolution,
    FlowTrajectory as FlowTrajectory,
    flow_vector_field as flow_vector_field,
    integrate_flow as integrate_flow,
    integrate_flow_adaptive as integrate_flow_adaptive,
    rk4_step as rk4_step,
)
from jaxrg.scale.linearization import (
    IRRELEVANT as IRRELEVANT,
    MARGINAL as MARGINAL,
    RELEVANT as RELEVANT,
    CriticalExponents as CriticalExponents,
    Linearization as Linearization,
    classification_labels as classification_labels,
    classify_eigenvalues as classify_eigenvalues,
    critical_exponents as critical_exponents,
    eigensystem as eigensystem,
    linearize as linearize,
)
from jaxrg.scale.vft import (
    VFTFit as VFTFit,
    VFTScaleReading as VFTScaleReading,
    barrier_amplitude as barrier_amplitude,
    fit_vft as fit_vft,
    vft_log_tau as vft_log_tau,
    vft_scale_reading as vft_scale_reading,
    vft_tau as vft_tau,
)

__all__ = [
    "RK4", "AdaptiveFlowSolution", "FlowTrajectory", "flow_vector_field", "integrate_flow", "integrate_flow_adaptive",
    "rk4_step",
    "ROOT_METHODS", "FixedPoint", "FixedPoints", "RootResult", "find_fixed_point", "find_root", "fixed_points",
    "root_solver",
    "IRRELEVANT", "MARGINAL", "RELEVANT", "CriticalExponents", "Linearization", "classification_labels",
    "classify_eigenvalues", "critical_exponents", "eigensystem", "linearize",
    "HamiltonianTrajectory", "hamilton_equations", "hamiltonian_trajectory", "scale_hamiltonian",
    "FlowAction", "hj_action", "hj_action_along_flow", "hj_residual",
    "VFTFit", "VFTScaleReading", "barrier_amplitude", "fit_vft", "vft_log_tau", "vft_scale_reading", "vft_tau",
    "MapAnalysis", "RGMatrixExponents", "analyze_map", "beta_from_map", "polynomial_map", "rg_matrix_exponents",
]
