"""The 2D lattice phi^4 model: action, exact free-field propagator, samplers (HMC, NUTS, local Metropolis), simulate.

On the ``L x L`` periodic square lattice, with hopping parameter ``kappa`` and quartic coupling ``lam``,

    S(phi) = sum_x [ -2 kappa sum_{mu=1,2} phi_x phi_{x+mu} + phi_x^2 + lam (phi_x^2 - 1)^2 ],

and configurations are weighted by ``exp(-S)``. For ``lam > 0`` the model has a continuous Z2 transition at some
``kappa_c(lam)`` in the 2D Ising universality class (``lam -> inf`` is the Ising model with ``K = 2 kappa``); for
``lam = 1`` the Binder ratios of L = 16 and 32 cross at ``kappa = 0.3425 +- 0.0018`` with ``U = 0.616 +- 0.012``
(Ising: 0.6107), see ``benchmarks/hmc.py``.
For ``lam = 0`` it is the free massive field: ``S = phi^T A phi / 2`` with ``A(k) = 2 - 4 kappa (cos k_1 + cos k_2)``
in Fourier space, normalisable only for ``|kappa| < 1/4``; its propagator is :func:`free_field_propagator`.

Observables per configuration (:func:`measure`): action per site, magnetisation ``m = (1/N) sum phi_x`` and
``<phi^2>`` per site; :func:`simulate` reduces them with :func:`jaxrg.observables.thermodynamics` (``T = 1``), so
``susceptibility = N (<m^2> - <|m|>^2)`` and ``binder = 1 - <m^4> / (3 <m^2>^2)`` follow the Ising conventions.
Coarse-graining of configurations is :func:`jaxrg.rg.blocking.block_average` (re-exported here as
:func:`block_average`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg import _checks, lattice
from jaxrg._summary import summary_repr
from jaxrg.observables import Timeseries
from jaxrg.rg.blocking import block_average
from jaxrg.sampling import hmc as hmc_lib
from jaxrg.sampling.base import BatchedKernel, BoundKernel, SamplingAlgorithm, closed_over
from jaxrg.sampling.driver import run_chain
from jaxrg.simulation import Measurement, Prepared, run_model
from jaxrg.stats import Estimate

__all__ = [
    "Phi4Couplings",
    "couplings",
    "action",
    "action_per_site",
    "log_density_at",
    "log_density",
    "magnetization_per_site",
    "phi_squared_per_site",
    "two_point_function",
    "free_field_propagator",
    "block_average",
    "action_gradient",
    "schwinger_dyson",
    "measure",
    "Phi4MetropolisState",
    "Phi4MetropolisInfo",
    "metropolis_init",
    "metropolis_kernel",
    "tuning_kernel",
    "metropolis",
    "hmc",
    "nuts",
    "SAMPLERS",
    "measure_fields",
    "Phi4Model",
    "prepare",
    "Phi4Result",
    "simulate",
]

SAMPLERS = ("hmc", "nuts", "metropolis")


class Phi4Couplings(NamedTuple):
    """Couplings of the phi^4 action (a pytree: vmap over it).

    Attributes:
        kappa: hopping parameter, shape ``()`` or a batch shape.
        lam: quartic coupling lambda >= 0, same shape.
    """

    kappa: Array
    lam: Array


def couplings(kappa, lam) -> Phi4Couplings:
    """Validated :class:`Phi4Couplings` (default float dtype) from scalars or 1D arrays (broadcast together).

    Raises:
        ValueError: for non-finite values, ``lam < 0``, or ``lam == 0`` with ``|kappa| >= 1/4`` (no normalisable
            Gaussian measure).
    """
    try:
        k = np.asarray(kappa, dtype=np.float64)
        g = np.asarray(lam, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"kappa and lam must be real numbers or 1D arrays, got {kappa!r}, {lam!r}") from None
    if k.ndim > 1 or g.ndim > 1:
        raise ValueError(f"kappa and lam must be scalars or 1D arrays, got shapes {k.shape} and {g.shape}")
    if not (np.all(np.isfinite(k)) and np.all(np.isfinite(g))):
        raise ValueError(f"kappa and lam must be finite, got {kappa!r}, {lam!r}")
    if np.any(g < 0):
        raise ValueError(f"lam must be >= 0 (the action is unbounded below otherwise), got {lam!r}")
    k, g = np.broadcast_arrays(k, g)
    if np.any((g == 0) & (np.abs(k) >= 0.25)):
        raise ValueError(f"for lam = 0 (free field) kappa must satisfy |kappa| < 1/4, got {kappa!r}")
    dtype = jnp.result_type(float)
    return Phi4Couplings(kappa=jnp.asarray(k, dtype), lam=jnp.asarray(g, dtype))


def _hopping(phi: Array) -> Array:
    """``sum_mu phi_x phi_{x+mu}`` at every site (each bond once)."""
    return phi * (jnp.roll(phi, -1, axis=-1) + jnp.roll(phi, -1, axis=-2))


def action(phi: Array, couplings: Phi4Couplings) -> Array:
    """Total action ``S(phi)`` of each configuration.

    Args:
        phi: ``(..., L, L)`` real field.
        couplings: :class:`Phi4Couplings` broadcasting against the batch axes of ``phi``.

    Returns:
        ``(...)`` actions.
    """
    kappa = jnp.asarray(couplings.kappa)[..., None, None]
    lam = jnp.asarray(couplings.lam)[..., None, None]
    phi2 = phi * phi
    density = -2.0 * kappa * _hopping(phi) + phi2 + lam * (phi2 - 1.0) ** 2
    return jnp.sum(density, axis=(-2, -1))


def action_per_site(phi: Array, couplings: Phi4Couplings) -> Array:
    """``S(phi) / N`` of each configuration, ``(...)``."""
    return action(phi, couplings) / (phi.shape[-1] * phi.shape[-2])


def log_density_at(phi: Array, couplings: Phi4Couplings) -> Array:
    """``-S(phi)`` at ``couplings``: the unnormalised log-density in the ``log_density(x, model)`` form of kernels."""
    return -action(phi, couplings)


def log_density(couplings: Phi4Couplings):
    """``phi -> -S(phi)`` at fixed couplings (for tuning, e.g. window adaptation)."""
    return functools.partial(_log_density_of, couplings)


def _log_density_of(couplings: Phi4Couplings, phi: Array) -> Array:
    return log_density_at(phi, couplings)


def magnetization_per_site(phi: Array) -> Array:
    """``m = (1/N) sum_x phi_x`` over the last two axes."""
    return jnp.mean(phi, axis=(-2, -1))


def phi_squared_per_site(phi: Array) -> Array:
    """``(1/N) sum_x phi_x^2`` over the last two axes."""
    return jnp.mean(phi * phi, axis=(-2, -1))


def two_point_function(phi: Array) -> Array:
    """Translation-averaged correlator ``C(r) = (1/N) sum_x phi_x phi_{x+r}`` of each configuration (by FFT).

    Args:
        phi: ``(..., L, L)`` real field.

    Returns:
        ``(..., L, L)``; ``C[..., 0, 0]`` is ``phi^2`` per site, ``C[..., 0, r]`` the correlator at distance r along x.
    """
    f = jnp.fft.fft2(phi)
    n = phi.shape[-1] * phi.shape[-2]
    return jnp.real(jnp.fft.ifft2(f * jnp.conj(f))) / n


def free_field_propagator(L: int, kappa: float) -> np.ndarray:
    """Exact ``<phi_0 phi_r>`` of the free field (``lam = 0``) on the ``L x L`` torus, float64.

    ``G(r) = (1/N) sum_k exp(i k r) / (2 - 4 kappa (cos k_1 + cos k_2))``, ``k = 2 pi n / L``.

    Args:
        L: lattice size (>= 2).
        kappa: hopping parameter with ``|kappa| < 1/4``.

    Returns:
        ``(L, L)`` array ``G[r_1, r_2]``.
    """
    L = lattice.validate_size(L, name="L", minimum=2)
    kappa = float(kappa)
    if not abs(kappa) < 0.25:
        raise ValueError(f"kappa must satisfy |kappa| < 1/4 for the free field, got {kappa}")
    k = 2.0 * np.pi * np.arange(L) / L
    inverse = 1.0 / (2.0 - 4.0 * kappa * (np.cos(k)[:, None] + np.cos(k)[None, :]))
    return np.real(np.fft.ifft2(inverse))


def action_gradient(phi: Array, couplings: Phi4Couplings) -> Array:
    """``dS/dphi_x = -2 kappa (sum of the 4 neighbours) + 2 phi_x + 4 lam phi_x (phi_x^2 - 1)``, ``(..., L, L)``."""
    kappa = jnp.asarray(couplings.kappa)[..., None, None]
    lam = jnp.asarray(couplings.lam)[..., None, None]
    return -2.0 * kappa * lattice.neighbour_sum(phi) + 2.0 * phi + 4.0 * lam * phi * (phi * phi - 1.0)


def schwinger_dyson(phi: Array, couplings: Phi4Couplings) -> Array:
    """``(1/N) sum_x phi_x dS/dphi_x`` of each configuration; its exact expectation is 1 for any couplings.

    (Integrate ``d/dphi_x (phi_x exp(-S))`` over the field: ``<1 - phi_x dS/dphi_x> = 0``.) A sampler or action
    with an error shows up as a deviation from 1.
    """
    return jnp.mean(phi * action_gradient(phi, couplings), axis=(-2, -1))


def measure(phi: Array, couplings: Phi4Couplings) -> tuple[Array, Array, Array, Array]:
    """``(action per site, magnetisation per site, phi^2 per site, Schwinger-Dyson ratio)`` of each configuration."""
    return (
        action_per_site(phi, couplings),
        magnetization_per_site(phi),
        phi_squared_per_site(phi),
        schwinger_dyson(phi, couplings),
    )


# ---------------------------------------------------------------------------------------------------------------
# samplers
# ---------------------------------------------------------------------------------------------------------------


class Phi4MetropolisState(NamedTuple):
    """Field and proposal width of the local Metropolis sampler.

    Attributes:
        position: ``(L, L)`` field.
        step_size: half-width of the uniform proposal ``phi -> phi + step_size * U(-1, 1)``, scalar.
    """

    position: Array
    step_size: Array


class Phi4MetropolisInfo(NamedTuple):
    """Diagnostics of one sweep: fraction of accepted site updates and work done (1 sweep)."""

    acceptance: Array
    sweeps: Array


def _local_action_change(phi: Array, new: Array, neighbours: Array, couplings: Phi4Couplings) -> Array:
    old2, new2 = phi * phi, new * new
    return (
        -2.0 * couplings.kappa * (new - phi) * neighbours
        + (new2 - old2)
        + couplings.lam * ((new2 - 1.0) ** 2 - (old2 - 1.0) ** 2)
    )


def metropolis_init(phi: Array, key: Array | None = None, *, step_size=1.0) -> Phi4MetropolisState:
    """The local-Metropolis state of one ``(L, L)`` field (L even) with proposal half-width ``step_size``."""
    del key
    if phi.ndim != 2 or phi.shape[-1] % 2 or phi.shape[-2] % 2:
        raise ValueError(f"phi must be one (L, L) field with even L for the checkerboard, got shape {phi.shape}")
    return Phi4MetropolisState(phi, jnp.asarray(step_size, phi.dtype))


def metropolis_kernel(key: Array, state: Phi4MetropolisState, couplings: Phi4Couplings
                      ) -> tuple[Phi4MetropolisState, Phi4MetropolisInfo]:
    """One checkerboard sweep: every site of one colour proposes ``phi + step_size * U(-1, 1)``, then the other."""
    phi = state.position
    black = jnp.asarray(lattice.checkerboard_mask(phi.shape[-1]))
    accepted = jnp.zeros((), phi.dtype)
    for colour, k in zip((black, ~black), jax.random.split(key, 2)):
        k_prop, k_acc = jax.random.split(k)
        shift = state.step_size * jax.random.uniform(k_prop, phi.shape, phi.dtype, -1.0, 1.0)
        new = phi + shift
        d_action = _local_action_change(phi, new, lattice.neighbour_sum(phi), couplings)
        log_u = jnp.log(jax.random.uniform(k_acc, phi.shape, phi.dtype))
        accept = colour & (log_u < -d_action)
        phi = jnp.where(accept, new, phi)
        accepted = accepted + jnp.sum(accept)
    info = Phi4MetropolisInfo(acceptance=accepted / phi.size, sweeps=jnp.ones((), phi.dtype))
    return Phi4MetropolisState(phi, state.step_size), info


def tuning_kernel(key: Array, state: Phi4MetropolisState, couplings: Phi4Couplings, *, target: float = 0.5
                  ) -> tuple[Phi4MetropolisState, Phi4MetropolisInfo]:
    """A thermalisation sweep that also moves ``step_size`` towards ``target`` acceptance (not a valid MCMC step)."""
    state, info = metropolis_kernel(key, state, couplings)
    factor = jnp.exp(jnp.clip(info.acceptance - target, -0.5, 0.5))
    return state._replace(step_size=state.step_size * factor), info


def metropolis(couplings: Phi4Couplings, *, step_size=1.0) -> SamplingAlgorithm:
    """Checkerboard local Metropolis on phi at fixed couplings (the convenience layer of :func:`metropolis_kernel`).

    Args:
        couplings: scalar :class:`Phi4Couplings` (vmap for batches).
        step_size: initial proposal half-width (> 0); it lives in the state, so a warmup can tune it.

    Returns:
        :class:`~jaxrg.sampling.base.SamplingAlgorithm`: ``init(phi) -> Phi4MetropolisState``,
        ``step(key, state) -> (Phi4MetropolisState, Phi4MetropolisInfo)``; one step is one sweep (both colours).
    """
    if isinstance(step_size, (int, float)) and not step_size > 0:
        raise ValueError(f"step_size must be > 0, got {step_size!r}")
    return closed_over(functools.partial(metropolis_init, step_size=step_size), BoundKernel(metropolis_kernel),
                       couplings)


def hmc(couplings: Phi4Couplings, *, step_size, num_integration_steps: int, inverse_mass_matrix=None
        ) -> SamplingAlgorithm:
    """blackjax HMC on ``exp(-S)``; see :func:`jaxrg.sampling.hmc.hmc` (state ``.position`` is the field)."""
    return hmc_lib.hmc(
        log_density(couplings), step_size=step_size, num_integration_steps=num_integration_steps,
        inverse_mass_matrix=inverse_mass_matrix,
    )


def nuts(couplings: Phi4Couplings, *, step_size, inverse_mass_matrix=None, max_num_doublings: int = 10
         ) -> SamplingAlgorithm:
    """blackjax NUTS on ``exp(-S)``; see :func:`jaxrg.sampling.hmc.nuts`."""
    return hmc_lib.nuts(
        log_density(couplings), step_size=step_size, inverse_mass_matrix=inverse_mass_matrix,
        max_num_doublings=max_num_doublings,
    )


# ---------------------------------------------------------------------------------------------------------------
# simulate
# ---------------------------------------------------------------------------------------------------------------


class Phi4Result(NamedTuple):
    """Result of :func:`simulate`; arrays have a leading kappa axis (dropped for scalar ``kappa``).

    Attributes:
        L, sampler: lattice size and sampler name.
        kappa, lam: couplings.
        action: action per site <S>/N; ``action_variance`` is ``N (<s^2> - <s>^2)``.
        phi_squared: <phi^2> per site.
        schwinger_dyson: <(1/N) sum_x phi_x dS/dphi_x>, exactly 1 for a correct sampler (see :func:`schwinger_dyson`).
        abs_magnetization: <|m|>; susceptibility ``N (<m^2> - <|m|>^2)``; binder ``1 - <m^4> / (3 <m^2>^2)``.
        tau_abs_magnetization, tau_action: integrated autocorrelation times in kernel steps (trajectories for
            HMC/NUTS, sweeps for Metropolis).
        acceptance: mean acceptance per step; energy_error: mean dH per trajectory (HMC/NUTS, NaN otherwise);
        exp_minus_energy_error: <exp(-dH)> (= 1 at equilibrium for HMC); gradient_evaluations: leapfrog steps per
        trajectory; step_size: tuned step size per chain ``(n_kappa, chains)``.
        timeseries: :class:`~jaxrg.observables.Timeseries` (action per site, m) ``(n_kappa, chains, n)``;
        phi_squared_series: same shape; fields: final configurations ``(n_kappa, chains, L, L)``.
    """

    L: int
    sampler: str
    kappa: np.ndarray
    lam: np.ndarray
    action: Estimate
    action_variance: Estimate
    phi_squared: Estimate
    schwinger_dyson: Estimate
    abs_magnetization: Estimate
    susceptibility: Estimate
    binder: Estimate
    tau_abs_magnetization: np.ndarray
    tau_action: np.ndarray
    acceptance: np.ndarray
    energy_error: np.ndarray
    exp_minus_energy_error: np.ndarray
    gradient_evaluations: np.ndarray
    step_size: np.ndarray
    timeseries: Timeseries
    phi_squared_series: np.ndarray
    fields: np.ndarray

    __repr__ = summary_repr  # one line: big arrays as dtype[shape]


@functools.partial(jax.jit, static_argnames=("sampler", "num_steps", "num_integration_steps", "max_num_doublings",
                                             "target_acceptance"))
def _window_adaptation(couplings: Phi4Couplings, keys: Array, phi0: Array, *, sampler: str, num_steps: int,
                       num_integration_steps: int, max_num_doublings: int, target_acceptance: float):
    """blackjax window adaptation of every ``(kappa, chain)`` member at once; couplings ``(n_kappa, chains)``."""

    def warm_one(c, key, phi):
        state, adapted, _ = hmc_lib.window_adaptation(
            sampler, log_density(c), key, phi, num_steps=num_steps, num_integration_steps=num_integration_steps,
            max_num_doublings=max_num_doublings, target_acceptance=target_acceptance,
        )
        return state, adapted

    return jax.vmap(jax.vmap(warm_one))(couplings, keys, phi0)


def measure_fields(state: Any, params: Any) -> Measurement:
    """:func:`measure` of a ``(n_kappa, chains)`` batch as a :class:`~jaxrg.simulation.Measurement`.

    The couplings come from the kernel's parameters; ``<phi^2>`` and the Schwinger-Dyson ratio are the model's
    further observables (the latter is its exact check: 1 for any couplings).
    """
    if isinstance(params, hmc_lib.HMCParameters):
        c = params.model  # already (n_kappa, chains)
    else:
        c = jax.tree.map(lambda x: x[:, None], params)
    s, m, phi2, sd = measure(state.position, c)
    return Measurement(s, m, averaged={"phi_squared": phi2, "schwinger_dyson": sd})


@dataclasses.dataclass(frozen=True, eq=False)
class Phi4Model:
    """The phi^4 model at a batch of couplings with one of its samplers: a :class:`jaxrg.simulation.Model`.

    ``prepare`` draws Gaussian initial fields and thermalises: blackjax's window adaptation per chain for HMC/NUTS
    (each chain gets its own step size and diagonal mass matrix, then they are frozen), or Metropolis sweeps that tune
    each chain's proposal width to 50% acceptance (then frozen). The measured energy is the action per site at
    "temperature" 1.

    Attributes:
        couplings: :class:`Phi4Couplings` with ``(n_kappa,)`` leaves (validated by :func:`couplings`).
        sampler: ``"hmc"``, ``"nuts"`` or ``"metropolis"``.
        num_integration_steps, max_num_doublings, target_acceptance: HMC/NUTS settings (see :func:`simulate`).
    """

    couplings: Phi4Couplings
    sampler: str = "hmc"
    num_integration_steps: int = 16
    max_num_doublings: int = 10
    target_acceptance: float = 0.8

    def __post_init__(self):
        _checks.choice(self.sampler, "sampler", SAMPLERS)
        _checks.integer(self.num_integration_steps, "num_integration_steps", minimum=1)
        _checks.integer(self.max_num_doublings, "max_num_doublings", minimum=1, maximum=15)
        _checks.real(self.target_acceptance, "target_acceptance", minimum=0.0, maximum=1.0, strict=True)

    @property
    def temperatures(self) -> np.ndarray:
        return np.ones(self.couplings.kappa.shape[0])

    @property
    def run_args(self) -> dict[str, Any]:
        return dict(model="phi4", kappa=np.asarray(self.couplings.kappa), lam=np.asarray(self.couplings.lam),
                    sampler=self.sampler, num_integration_steps=self.num_integration_steps,
                    max_num_doublings=self.max_num_doublings, target_acceptance=self.target_acceptance)

    def prepare(self, key: Array, L: int, chains: int, thermalize: int, *, chunk_size: int | None = None,
                progress: bool = False, checkpoint_of: Callable[[str], dict] = lambda phase: {}) -> Prepared:
        L = lattice.validate_size(L, name="L", minimum=4, even=True)
        c = self.couplings
        thermalize = _checks.integer(thermalize, "thermalize", minimum=20 if self.sampler != "metropolis" else 0)
        n_kappa = c.kappa.shape[0]
        key_field, key_warm, key_run = jax.random.split(key, 3)
        phi0 = jax.random.normal(key_field, (n_kappa, chains, L, L), c.kappa.dtype)

        if self.sampler == "metropolis":
            state = jax.vmap(jax.vmap(metropolis_init))(phi0)
            if thermalize:
                state = run_chain(BatchedKernel(BoundKernel(tuning_kernel), chains), key_warm, state, c,
                                  n_measurements=thermalize, chunk_size=chunk_size, progress=progress,
                                  description="tuning", **checkpoint_of("thermalize")).state
            return Prepared(BatchedKernel(BoundKernel(metropolis_kernel), chains), state, c, measure_fields, key_run)

        c_chains = jax.tree.map(lambda x: jnp.broadcast_to(x[:, None], (n_kappa, chains)), c)
        state, adapted = _window_adaptation(
            c_chains, jax.random.split(key_warm, (n_kappa, chains)), phi0, sampler=self.sampler, num_steps=thermalize,
            num_integration_steps=self.num_integration_steps, max_num_doublings=self.max_num_doublings,
            target_acceptance=self.target_acceptance,
        )
        kernel = hmc_lib.build_kernel(self.sampler, log_density_at, num_integration_steps=self.num_integration_steps,
                                      max_num_doublings=self.max_num_doublings)
        params = hmc_lib.HMCParameters(c_chains, adapted.step_size, adapted.inverse_mass_matrix)
        return Prepared(BatchedKernel(kernel, chains, params_per_chain=True), state, params, measure_fields, key_run)


def prepare(
    L: int,
    kappa,
    *,
    lam,
    sampler: str = "hmc",
    thermalize: int = 500,
    chains: int = 1,
    seed: int = 0,
    num_integration_steps: int = 16,
    max_num_doublings: int = 10,
    target_acceptance: float = 0.8,
):
    """Thermalise (and for HMC/NUTS tune) a batch of chains; returns ``(kernel, state, params, couplings)``.

    ``kernel(key, state, params)`` is the batched kernel over ``(n_kappa, chains)``; ``params`` are the couplings
    (Metropolis, whose tuned proposal width lives in the state) or :class:`~jaxrg.sampling.hmc.HMCParameters` with
    the per-chain step size and inverse mass matrix (HMC/NUTS). Run them with :func:`jaxrg.sampling.driver.run_chain`
    (what :func:`simulate` does through :func:`jaxrg.simulation.run_model`). Arguments as in :func:`simulate`.
    """
    L = lattice.validate_size(L, name="L", minimum=4, even=True)
    chains = _checks.integer(chains, "chains", minimum=1)
    seed = _checks.integer(seed, "seed", minimum=0)
    model = Phi4Model(couplings(np.atleast_1d(np.asarray(kappa, dtype=np.float64)), lam), sampler,
                      num_integration_steps, max_num_doublings, target_acceptance)
    prepared = model.prepare(jax.random.key(seed), L, chains, thermalize)
    return prepared.kernel, prepared.state, prepared.params, model.couplings


def simulate(
    L: int,
    kappa,
    *,
    lam,
    sampler: str = "hmc",
    sweeps: int = 2_000,
    thermalize: int = 500,
    chains: int = 1,
    measure_every: int = 1,
    seed: int = 0,
    num_integration_steps: int = 16,
    max_num_doublings: int = 10,
    target_acceptance: float = 0.8,
    chunk_size: int | None = None,
    progress: bool = False,
    checkpoint: str | None = None,
) -> Phi4Result:
    """Sample the ``L x L`` periodic phi^4 model at one or many kappa and estimate its observables.

    The same path as :func:`jaxrg.simulate`: :class:`Phi4Model` runs through :func:`jaxrg.simulation.run_model`
    (all (kappa, chain) pairs as one vmapped batch, the one driver, the same observables and checkpoints).
    For ``"hmc"`` and ``"nuts"`` the ``thermalize`` steps are blackjax's window adaptation, run independently per
    chain (each chain gets its own step size and diagonal mass matrix, then they are frozen); for ``"metropolis"``
    they tune the proposal width of each chain to 50% acceptance, then it is frozen.

    Args:
        L: lattice size (even, >= 4).
        kappa: hopping parameter, scalar or 1D array.
        lam: quartic coupling (>= 0), scalar or broadcast against ``kappa``; ``lam = 0`` needs ``|kappa| < 1/4``.
        sampler: ``"hmc"``, ``"nuts"`` or ``"metropolis"`` (checkerboard local updates).
        sweeps: kernel steps after thermalisation (trajectories for HMC/NUTS, sweeps for Metropolis).
        thermalize: warmup steps (>= 20 for HMC/NUTS; Stan's schedule is meant for >= 150).
        chains: independent chains per kappa.
        measure_every: steps between measurements (>= 16 measurements needed).
        seed: integer seed.
        num_integration_steps: leapfrog steps per HMC trajectory.
        max_num_doublings: maximal NUTS tree depth.
        target_acceptance: acceptance targeted by the step-size adaptation (HMC/NUTS).
        chunk_size: measurements per compiled chunk.
        progress: show a progress bar.
        checkpoint: a directory for checkpoints of the measurement run (and of Metropolis tuning); a rerun resumes
            from them bitwise (see :func:`jaxrg.simulate`).

    Returns:
        :class:`Phi4Result`.
    """
    L = lattice.validate_size(L, name="L", minimum=4, even=True)
    model = Phi4Model(couplings(np.atleast_1d(np.asarray(kappa, dtype=np.float64)), lam), sampler,
                      num_integration_steps, max_num_doublings, target_acceptance)
    run = run_model(model, L, sweeps=sweeps, thermalize=thermalize, chains=chains, measure_every=measure_every,
                    seed=seed, chunk_size=chunk_size, progress=progress, checkpoint=checkpoint,
                    description=f"phi4 {sampler}")
    n_kappa = model.couplings.kappa.shape[0]
    nan = np.full(n_kappa, np.nan)
    per_kappa = lambda x: np.mean(np.asarray(x).reshape(n_kappa, -1), axis=-1)  # noqa: E731
    get = lambda name: per_kappa(getattr(run.info, name)) if hasattr(run.info, name) else nan  # noqa: E731
    step_size = np.asarray(run.state.step_size if sampler == "metropolis" else run.params.step_size)

    squeeze = np.ndim(kappa) == 0
    pick = (lambda x: x[0]) if squeeze else (lambda x: x)
    est = lambda e: Estimate(pick(np.asarray(e.mean)), pick(np.asarray(e.error)))  # noqa: E731
    thermo = run.thermo
    return Phi4Result(
        L=int(L),
        sampler=sampler,
        kappa=pick(np.asarray(model.couplings.kappa)),
        lam=pick(np.asarray(model.couplings.lam)),
        action=est(thermo.energy),
        action_variance=est(thermo.heat_capacity),
        phi_squared=est(run.averaged["phi_squared"]),
        schwinger_dyson=est(run.averaged["schwinger_dyson"]),
        abs_magnetization=est(thermo.abs_magnetization),
        susceptibility=est(thermo.susceptibility),
        binder=est(thermo.binder),
        tau_abs_magnetization=pick(thermo.tau_abs_magnetization),
        tau_action=pick(thermo.tau_energy),
        acceptance=pick(run.acceptance),
        energy_error=pick(get("energy_error")),
        exp_minus_energy_error=pick(get("exp_minus_energy_error")),
        gradient_evaluations=pick(get("gradient_evaluations")),
        step_size=pick(step_size),
        timeseries=Timeseries(pick(run.series.energy), pick(run.series.magnetization)),
        phi_squared_series=pick(run.series.averaged["phi_squared"]),
        fields=pick(np.asarray(run.state.position)),
    )
