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

import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg import lattice, observables, stats
from jaxrg.observables import Timeseries
from jaxrg.rg.blocking import block_average
from jaxrg.sampling import hmc as hmc_lib
from jaxrg.sampling.base import Kernel
from jaxrg.sampling.driver import run_chain
from jaxrg.stats import Estimate

__all__ = [
    "Phi4Couplings",
    "couplings",
    "action",
    "action_per_site",
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
    "metropolis",
    "hmc",
    "nuts",
    "SAMPLERS",
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


def log_density(couplings: Phi4Couplings):
    """``phi -> -S(phi)``: the unnormalised log-density for HMC (scalar couplings; vmap the factory for batches)."""

    def logp(phi: Array) -> Array:
        return -action(phi, couplings)

    return logp


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


def metropolis(couplings: Phi4Couplings, *, step_size=1.0) -> Kernel:
    """Checkerboard local Metropolis on phi: every site of one colour proposes ``phi + step_size * U(-1, 1)``.

    Args:
        couplings: scalar :class:`Phi4Couplings` (vmap for batches).
        step_size: initial proposal half-width (> 0); it lives in the state, so a warmup can tune it.

    Returns:
        :class:`~jaxrg.sampling.base.Kernel`: ``init(key, phi) -> Phi4MetropolisState``,
        ``step(key, state) -> (Phi4MetropolisState, Phi4MetropolisInfo)``; one step is one sweep (both colours).
    """
    if isinstance(step_size, (int, float)) and not step_size > 0:
        raise ValueError(f"step_size must be > 0, got {step_size!r}")

    def init(key: Array, phi: Array) -> Phi4MetropolisState:
        del key
        if phi.shape[-1] % 2 or phi.shape[-2] % 2:
            raise ValueError(f"phi must be (L, L) with even L for the checkerboard, got shape {phi.shape}")
        return Phi4MetropolisState(phi, jnp.asarray(step_size, phi.dtype))

    def step(key: Array, state: Phi4MetropolisState) -> tuple[Phi4MetropolisState, Phi4MetropolisInfo]:
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

    return Kernel(init, step)


def _tune_metropolis_step(step, target: float = 0.5):
    """A thermalisation step that also moves ``step_size`` towards ``target`` acceptance (not a valid MCMC step)."""

    def tuning_step(key, state):
        state, info = step(key, state)
        factor = jnp.exp(jnp.clip(info.acceptance - target, -0.5, 0.5))
        return state._replace(step_size=state.step_size * factor), info

    return tuning_step


def hmc(couplings: Phi4Couplings, *, step_size, num_integration_steps: int, inverse_mass_matrix=None) -> Kernel:
    """blackjax HMC on ``exp(-S)``; see :func:`jaxrg.sampling.hmc.hmc` (state ``.position`` is the field)."""
    return hmc_lib.hmc(
        log_density(couplings), step_size=step_size, num_integration_steps=num_integration_steps,
        inverse_mass_matrix=inverse_mass_matrix,
    )


def nuts(couplings: Phi4Couplings, *, step_size, inverse_mass_matrix=None, max_num_doublings: int = 10) -> Kernel:
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


def _positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _batch(fn, n_kappa: int, chains: int):
    """vmap ``fn(couplings, key, *per_chain)`` over chains (inner) and couplings (outer), one key per lane."""
    inner = jax.vmap(fn, in_axes=(None, 0, 0))
    outer = jax.vmap(inner, in_axes=(0, 0, 0))

    def batched(c, key, per_chain):
        return outer(c, jax.random.split(key, (n_kappa, chains)), per_chain)

    return batched


def _kernel(sampler: str, c: Phi4Couplings, params, num_integration_steps: int, max_num_doublings: int) -> Kernel:
    if sampler == "hmc":
        return hmc(c, step_size=params.step_size, num_integration_steps=num_integration_steps,
                   inverse_mass_matrix=params.inverse_mass_matrix)
    if sampler == "nuts":
        return nuts(c, step_size=params.step_size, inverse_mass_matrix=params.inverse_mass_matrix,
                    max_num_doublings=max_num_doublings)
    return metropolis(c)


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
    """Thermalise (and for HMC/NUTS tune) a batch of chains; returns ``(step, state, params, couplings)``.

    ``step(key, state)`` is the batched kernel over ``(n_kappa, chains)`` with the tuned parameters fixed, ``params``
    holds the per-chain step size (and inverse mass matrix for HMC/NUTS). Used by :func:`simulate` and benchmarks.
    Arguments as in :func:`simulate`.
    """
    L = lattice.validate_size(L, name="L", minimum=4, even=True)
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    c = couplings(np.atleast_1d(np.asarray(kappa, dtype=np.float64)), lam)
    n_kappa = c.kappa.shape[0]
    chains = _positive_int(chains, "chains")
    thermalize = _positive_int(thermalize, "thermalize", minimum=20 if sampler != "metropolis" else 0)
    seed = _positive_int(seed, "seed", minimum=0)
    num_integration_steps = _positive_int(num_integration_steps, "num_integration_steps")
    max_num_doublings = _positive_int(max_num_doublings, "max_num_doublings")

    key_field, key_warm, _ = jax.random.split(jax.random.key(seed), 3)
    phi0 = jax.random.normal(key_field, (n_kappa, chains, L, L), c.kappa.dtype)

    if sampler == "metropolis":
        init = _batch(lambda cc, k, x: metropolis(cc).init(k, x), n_kappa, chains)
        step_one = lambda cc, k, s: metropolis(cc).step(k, s)  # noqa: E731
        state = init(c, key_warm, phi0)
        if thermalize:
            tune = _batch(lambda cc, k, s: _tune_metropolis_step(metropolis(cc).step)(k, s), n_kappa, chains)
            state = run_chain(lambda k, s: tune(c, k, s), key_warm, state, n_measurements=thermalize).state
        params = state.step_size
    else:

        def warm_one(cc, k, x):
            s, p, _ = hmc_lib.window_adaptation(
                sampler, log_density(cc), k, x, num_steps=thermalize, num_integration_steps=num_integration_steps,
                max_num_doublings=max_num_doublings, target_acceptance=target_acceptance,
            )
            return s, p

        state, params = _batch(warm_one, n_kappa, chains)(c, key_warm, phi0)

        def step_one(cc, k, sp):
            s, p = sp
            return _kernel(sampler, cc, p, num_integration_steps, max_num_doublings).step(k, s)

    if sampler == "metropolis":
        batched_step = _batch(step_one, n_kappa, chains)

        def step(key, s):
            return batched_step(c, key, s)

    else:
        batched_step = _batch(step_one, n_kappa, chains)

        def step(key, s):
            return batched_step(c, key, (s, params))

    return step, state, params, c


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
) -> Phi4Result:
    """Sample the ``L x L`` periodic phi^4 model at one or many kappa and estimate its observables.

    Mirrors :func:`jaxrg.simulate`: all (kappa, chain) pairs run as one vmapped batch through
    :func:`jaxrg.sampling.driver.run_chain`, and the series are reduced with :func:`jaxrg.observables.thermodynamics`.
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

    Returns:
        :class:`Phi4Result`.
    """
    sweeps = _positive_int(sweeps, "sweeps")
    measure_every = _positive_int(measure_every, "measure_every")
    n_measurements = sweeps // measure_every
    if n_measurements < 16:
        raise ValueError(
            f"sweeps // measure_every must be >= 16 measurements for error bars, got {sweeps} // {measure_every}"
        )
    step, state, params, c = prepare(
        L, kappa, lam=lam, sampler=sampler, thermalize=thermalize, chains=chains, seed=seed,
        num_integration_steps=num_integration_steps, max_num_doublings=max_num_doublings,
        target_acceptance=target_acceptance,
    )
    key_run = jax.random.split(jax.random.key(seed), 3)[2]
    couplings_b = jax.tree.map(lambda x: x[:, None], c)
    out = run_chain(
        step, key_run, state, n_measurements=n_measurements, steps_per_measurement=measure_every,
        measure=lambda s: measure(s.position, couplings_b), chunk_size=chunk_size, progress=progress,
        description=f"phi4 {sampler}",
    )
    s_series, m_series, p_series, sd_series = (np.moveaxis(x, 0, -1) for x in out.measurements)  # (n_kappa, chains, n)
    n_kappa = s_series.shape[0]
    thermo = observables.thermodynamics(
        Timeseries(s_series, m_series), L, np.ones(n_kappa), sweeps_per_measurement=measure_every
    )
    nb = observables.blocks_per_chain(s_series.shape[1], s_series.shape[2])

    def blocked_mean(series):
        blocked = jnp.moveaxis(stats.block_means(jnp.asarray(series), nb, axis=-1).reshape(n_kappa, -1), -1, 0)
        return stats.jackknife(lambda x: x, blocked)

    phi2 = blocked_mean(p_series)
    sd = blocked_mean(sd_series)

    info = out.info
    nan = np.full(n_kappa, np.nan)
    per_kappa = lambda x: np.mean(np.asarray(x), axis=-1)  # noqa: E731
    get = lambda name: per_kappa(getattr(info, name)) if hasattr(info, name) else nan  # noqa: E731
    step_size = np.asarray(params if sampler == "metropolis" else params.step_size)

    squeeze = np.ndim(kappa) == 0
    pick = (lambda x: x[0]) if squeeze else (lambda x: x)
    est = lambda e: Estimate(pick(np.asarray(e.mean)), pick(np.asarray(e.error)))  # noqa: E731
    return Phi4Result(
        L=int(L),
        sampler=sampler,
        kappa=pick(np.asarray(c.kappa)),
        lam=pick(np.asarray(c.lam)),
        action=est(thermo.energy),
        action_variance=est(thermo.heat_capacity),
        phi_squared=est(phi2),
        schwinger_dyson=est(sd),
        abs_magnetization=est(thermo.abs_magnetization),
        susceptibility=est(thermo.susceptibility),
        binder=est(thermo.binder),
        tau_abs_magnetization=pick(thermo.tau_abs_magnetization),
        tau_action=pick(thermo.tau_energy),
        acceptance=pick(get("acceptance")),
        energy_error=pick(get("energy_error")),
        exp_minus_energy_error=pick(get("exp_minus_energy_error")),
        gradient_evaluations=pick(get("gradient_evaluations")),
        step_size=pick(step_size),
        timeseries=Timeseries(pick(s_series), pick(m_series)),
        phi_squared_series=pick(p_series),
        fields=pick(np.asarray(out.state.position)),
    )
