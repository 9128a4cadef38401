"""Thermodynamics of the infinite lattice from the coarse-grained network: ln Z / N and its derivatives by autodiff.

Conventions (as in :mod:`jaxrg.ising`): J = 1, k_B = 1, reduced Hamiltonian

    beta H(s) = -K sum_<ij> s_i s_j - h sum_i s_i,     K = 1 / T,  h = (field in units of J) / T.

The core functions take the dimensionless ``(K, h)``; the temperature functions take ``T`` and the field in units
of J (``h_J``, converted to ``h = h_J / T``). Let ``g(K, h) = ln Z / N`` on the infinite lattice. Then

    free energy      f = -T g,
    energy           e = -dg/dK                      (bond energy per spin, -<sum s_i s_j>/N, as jaxrg.ising),
    heat capacity    C = K^2 d^2g/dK^2               (at fixed reduced field h; = de/dT at h = 0),
    magnetisation    m = dg/dh.

After every step the tensor is divided by its Frobenius norm ``c_k`` (nothing overflows). With ``n`` steps,

    ln Z / N = sum_{k=0..n} 2^-k ln c_k + 2^-n ln |Tr T_n|,

(the trace includes the bond weights of BTRG), exact up to truncation for the torus of ``2^n`` sites that the final
one-tensor trace closes. At K_c the torus adds the universal term ``ln Z_torus - N f = +0.64`` (c = 1/2 CFT on a
square torus), i.e. ``+0.69 / 2^n`` relative to ln Z / N: 6e-7 at n = 20; with the default ``n = 32`` it is
1.6e-10, i.e. the infinite-lattice value. Derivatives go through every SVD with the Lorentzian-regularised rule of
:mod:`jaxrg.rg._svd` (Liao et al., PRX 9, 031041 (2019)), so they stay finite at degenerate singular values.

Precision: relative accuracies of 1e-7 need float64 (``jax.config.update("jax_enable_x64", True)``); in float32
the SVD truncation noise (~1e-7 relative) dominates and second derivatives are meaningless. The public functions
warn when called without x64.

Symmetry breaking: at ``h = 0`` the network is exactly Z2 symmetric, so ``dg/dh = 0`` at every temperature.
:func:`trg_thermodynamics` therefore takes the h-derivative at the reduced field ``h + eta`` with a small
``eta = symmetry_breaking_field`` (default ``32 / 2^steps``: 7e-9 at the default 32 steps), which selects the + phase
below T_c once ``2^steps * eta m >> 1``. Free energy, energy and heat capacity are evaluated at ``h`` itself.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from jaxrg.rg._svd import DEFAULT_BROADENING
from jaxrg.rg.trg import _checks
from jaxrg.rg.trg.network import Scheme, absorb_weights, coarse_grain_network, network_trace

__all__ = ["TRGThermodynamics", "coarse_grain", "trg_log_partition", "trg_free_energy", "trg_thermodynamics"]


def default_symmetry_breaking_field(steps: int) -> float:
    """Reduced field ``32 / 2^steps`` (capped at 1e-3) used for the magnetisation by :func:`trg_thermodynamics`:
    on the torus of ``2^steps`` sites it gives the + phase a weight ``exp(64 m)`` over the - phase."""
    return min(1e-3, 32.0 * 0.5**steps)


class TRGThermodynamics(NamedTuple):
    """Thermodynamics per site of the infinite 2D Ising lattice from tensor-network RG.

    Attributes (each of the shape of the temperature input):
        free_energy: f = -T ln Z / N, units of J.
        energy: bond energy per spin e = -d(ln Z/N)/dK, units of J.
        heat_capacity: C = K^2 d^2(ln Z/N)/dK^2 per spin (fixed reduced field).
        magnetization: m = d(ln Z/N)/dh per spin (at reduced field h + symmetry_breaking_field).
    """

    free_energy: Array
    energy: Array
    heat_capacity: Array
    magnetization: Array


def coarse_grain(K: Array, h: Array = 0.0, *, chi: int, steps: int, method: Scheme | str = "trg",
                 broadening: float = DEFAULT_BROADENING) -> tuple[Array, Array]:
    """Coarse-grain the Ising network ``steps`` times, normalising after every step.

    Pure function of ``(K, h)`` (jit, vmap and grad work); ``chi``, ``steps``, ``method`` are static.
    The site tensor is zero-padded to bond dimension ``chi`` so that all steps run in one ``lax.scan`` with one
    compiled body (exactly the same network; the first steps cost as much as the later ones).

    Args:
        K: coupling J/T > 0, scalar.
        h: reduced field, scalar.
        chi: bond dimension (static).
        steps: number of coarse-graining steps, each halving the number of tensors (static).
        method: a name in :data:`jaxrg.rg.trg.METHODS` or a scheme instance (e.g. ``BTRG(k=-0.3)``).
        broadening: relative Lorentzian width of the SVD derivative (static).

    Returns:
        ``(log_norms, tensor)``: ``log_norms[k] = ln c_k``, shape ``(steps + 1,)`` (``k = 0`` is the site tensor),
        and the tensor after the last step, shape ``(chi, chi, chi, chi)``: Frobenius-normalised, with the square
        roots of the bond weights (BTRG) absorbed into its legs, so that it alone represents the network.
    """
    chi, steps, scheme = _checks.check_chi(chi), _checks.check_steps(steps), _checks.check_method(method)
    broadening = _checks.check_broadening(broadening)
    return _coarse_grain(K, h, chi, steps, scheme, broadening)


#: The static arguments of the module-level compiled functions (one executable per configuration).
_STATIC = ("chi", "steps", "scheme", "broadening")


@partial(jax.jit, static_argnames=_STATIC)
def _coarse_grain(K, h, chi: int, steps: int, scheme: Scheme, broadening: float) -> tuple[Array, Array]:
    log_norms, tensor, weights = coarse_grain_network(K, h, chi, steps, scheme, broadening)
    return log_norms, absorb_weights(tensor, weights)


def log_partition(K, h, chi: int, steps: int, scheme: Scheme, broadening: float) -> Array:
    """ln Z / N of the torus of ``2^steps`` sites (no validation; all but ``K, h`` static)."""
    log_norms, tensor, weights = coarse_grain_network(K, h, chi, steps, scheme, broadening)
    scale = 0.5 ** jnp.arange(steps + 1, dtype=log_norms.dtype)
    return jnp.sum(scale * log_norms) + 0.5**steps * jnp.log(jnp.abs(network_trace(tensor, weights)))


# the public entry point's compiled program (log_partition itself is also traced inside other compiled functions)
_log_partition = jax.jit(log_partition, static_argnames=_STATIC)


def trg_log_partition(K: Array, h: Array = 0.0, *, chi: int, steps: int | None = None,
                      method: Scheme | str = "trg", broadening: float = DEFAULT_BROADENING) -> Array:
    """ln Z / N of the 2D Ising model from tensor-network RG: a pure, differentiable function of ``(K, h)``.

    With ``steps`` steps the value is that of the torus of ``2^steps`` sites closed by a one-tensor trace
    (steps = 0: one site, 1: two sites with four bonds between them (TRG) or the 1 x 2 torus (HOTRG), 2: the 2x2
    torus); the default (32) is the infinite lattice to better than 1e-9. Scalar ``K, h``: ``jax.vmap`` for batches.
    First derivatives in ``K`` and ``h`` are finite in either mode (regularised SVD rule; Gilt-TNR only forward
    mode); second derivatives with forward mode inside (``jax.grad`` of a ``jax.jvp``, ``jax.jacfwd`` twice, as
    :func:`trg_thermodynamics` does) are finite too, while ``jax.grad(jax.grad(...))`` and ``jax.jacfwd(jax.grad(...))``
    return nan beyond the smallest network (chi = 2, one step, is finite; chi = 4 is not). The cause is the
    differentiation of a reverse pass through the ``lax.scan`` over steps: the same steps as a Python loop give
    finite values equal to forward mode's in every nesting; not resolved.

    Args:
        K: coupling J/T > 0, scalar (float64 recommended).
        h: reduced field (field / T), scalar.
        chi: bond dimension >= 2 (static).
        steps: number of coarse-graining steps >= 0, each halving the number of tensors; None for the default.
        method: ``"trg"`` (Levin-Nave, O(chi^6)), ``"btrg"`` (bond-weighted, O(chi^6), most accurate per cost),
            ``"hotrg"`` (O(chi^7)), ``"gilt-trg"``, or a scheme instance such as ``BTRG(k=-0.3)``.
        broadening: relative Lorentzian width of the SVD derivative, in [0, 1e-3].

    Returns:
        ln Z / N, shape ``()``.
    """
    chi, steps, scheme = _checks.check_chi(chi), _checks.check_steps(steps), _checks.check_method(method)
    broadening = _checks.check_broadening(broadening)
    _checks.check_coupling(K, h)
    _checks.warn_if_float32()
    return _log_partition(K, h, chi, steps, scheme, broadening)


# --------------------------------------------------------------------------------------------------------------
# temperature-level API: module-level jitted functions, mapped over a 1D array of temperatures


def map_temperatures(fn, temps: Array):
    """``fn`` over a 1D array: ``vmap`` on accelerators, ``lax.map`` (one temperature at a time) on XLA:CPU.

    A batched SVD on XLA:CPU (jax 0.10.1) splits its batch over the intra-op thread pool and waits for it, and two
    such SVDs running concurrently on a 2-thread pool deadlocked (seen on a 2-core host)."""
    if jax.default_backend() == "cpu":
        return jax.lax.map(fn, temps)
    return jax.vmap(fn)(temps)


@partial(jax.jit, static_argnames=_STATIC)
def _free_energy_batch(temps, h_j, *, chi, steps, scheme, broadening):
    def one(T):
        K = 1.0 / T
        return -T * log_partition(K, h_j * K, chi, steps, scheme, broadening)

    return map_temperatures(one, temps)


@partial(jax.jit, static_argnames=_STATIC)
def _k_derivatives_batch(temps, h_j, *, chi, steps, scheme, broadening):
    def one(T):
        K = 1.0 / T
        h = h_j * K

        def dg_dk(k):  # forward mode inside, so that the second derivative is reverse-over-forward
            g, g_k = jax.jvp(lambda kk: log_partition(kk, h, chi, steps, scheme, broadening), (k,),
                             (jnp.ones_like(k),))
            return g_k, g

        # (reverse-over-reverse and forward-over-reverse through lax.scan gave NaN with jax 0.10.1 here)
        (g_k, g), g_kk = jax.value_and_grad(dg_dk, has_aux=True)(K)
        return -T * g, -g_k, K * K * g_kk

    return map_temperatures(one, temps)


@partial(jax.jit, static_argnames=_STATIC)
def _field_derivative_batch(temps, h_j, eta, *, chi, steps, scheme, broadening):
    def one(T):
        K = 1.0 / T
        return jax.grad(lambda hh: log_partition(K, hh, chi, steps, scheme, broadening))(h_j * K + eta)

    return map_temperatures(one, temps)


def trg_free_energy(T, *, chi: int, h=0.0, steps: int | None = None, method: Scheme | str = "trg",
                    broadening: float = DEFAULT_BROADENING) -> Array:
    """Free energy per site ``f = -T ln Z / N`` of the infinite 2D Ising lattice from tensor-network RG.

    Args:
        T: temperature(s) in units of J, scalar or 1D array, finite and > 0 (mapped, one compile).
        chi: bond dimension >= 2 (relative error of ln Z at T_c: TRG chi = 24 1.1e-6, 32 5.3e-7; HOTRG chi = 24
            1.0e-7; BTRG chi = 24 see benchmarks/trg.py).
        h: magnetic field in units of J (reduced field h / T), finite.
        steps: coarse-graining steps (None: 32, i.e. converged to the infinite lattice).
        method: a name in :data:`METHODS` or a scheme instance.
        broadening: relative Lorentzian width of the SVD derivative, in [0, 1e-3].

    Returns:
        f per site in units of J, shape of ``T``.
    """
    temps = _checks.temperatures(T)
    chi, steps, scheme = _checks.check_chi(chi), _checks.check_steps(steps), _checks.check_method(method)
    broadening = _checks.check_broadening(broadening)
    h_j = _checks.finite_scalar(h, "h")
    _checks.warn_if_float32()
    out = _free_energy_batch(jnp.asarray(temps.reshape(-1)), h_j, chi=chi, steps=steps, scheme=scheme,
                             broadening=broadening)
    return out.reshape(temps.shape)


def trg_thermodynamics(T, *, chi: int, h=0.0, steps: int | None = None, method: Scheme | str = "trg",
                       symmetry_breaking_field: float | None = None,
                       broadening: float = DEFAULT_BROADENING) -> TRGThermodynamics:
    """Free energy, energy, heat capacity and magnetisation per site from one differentiable network function.

    Free energy, energy and heat capacity at the reduced field ``h / T``: energy = -dg/dK by ``jax.grad`` of the
    forward-mode derivative (which also gives d^2g/dK^2 for the heat capacity: reverse-over-forward), magnetisation
    = dg/dh by ``jax.grad`` at ``h / T + symmetry_breaking_field``. Below T_c and at h = 0 the small positive field
    selects the + phase, so ``magnetization`` is the spontaneous magnetisation (needs
    ``2^steps * symmetry_breaking_field * m >> 1``; the default ``32 / 2^steps`` gives ``32 m``); set it to 0 for
    the Z2-symmetric network (m = 0 at h = 0). Not for ``"gilt-trg"`` (its inner loop is forward-mode only).

    Args:
        T: temperature(s) in units of J, scalar or 1D array, finite and > 0 (mapped, one compile).
        chi: bond dimension >= 2 (static).
        h: magnetic field in units of J, finite.
        steps: coarse-graining steps (None: 32).
        method: ``"trg"``, ``"btrg"``, ``"hotrg"`` or a scheme instance.
        symmetry_breaking_field: extra reduced field, in [0, 1e-3]; None for ``min(1e-3, 32 / 2^steps)``.
        broadening: relative Lorentzian width of the SVD derivative, in [0, 1e-3].

    Returns:
        :class:`TRGThermodynamics` of arrays with the shape of ``T``.
    """
    temps = _checks.temperatures(T)
    chi, steps, scheme = _checks.check_chi(chi), _checks.check_steps(steps), _checks.check_method(method)
    _checks.check_reverse_mode(scheme)
    broadening = _checks.check_broadening(broadening)
    h_j = _checks.finite_scalar(h, "h")
    if symmetry_breaking_field is None:
        symmetry_breaking_field = default_symmetry_breaking_field(steps)
    eta = _checks.finite_scalar(symmetry_breaking_field, "symmetry_breaking_field")
    if not 0.0 <= eta <= 1e-3:
        raise ValueError(f"symmetry_breaking_field must be in [0, 1e-3], got {symmetry_breaking_field!r}")
    _checks.warn_if_float32()
    t = jnp.asarray(temps.reshape(-1))
    static = dict(chi=chi, steps=steps, scheme=scheme, broadening=broadening)
    # two executables, run one after the other (independent K- and h-derivative scans in one program ran
    # concurrently on the 2-core host and deadlocked in the batched SVD; see map_temperatures)
    f, e, c = jax.block_until_ready(_k_derivatives_batch(t, h_j, **static))
    m = jax.block_until_ready(_field_derivative_batch(t, h_j, eta, **static))
    return TRGThermodynamics(*(x.reshape(temps.shape) for x in (f, e, c, m)))
