"""Exact results for the 2D Ising model: Onsager (infinite lattice), Kaufman (finite torus), small-lattice counts.

Conventions (shared by all of jaxrg): square lattice with periodic boundaries, J = 1, k_B = 1, zero field, coupling
``K = 1 / T``. On an ``m x n`` torus there are ``2 N`` bonds (``N = m n``; on a side of length 2 the two bonds
between the same pair of rows/columns are both counted, as ``jnp.roll`` neighbour sums do). Per spin:

* free energy ``f = -T ln Z / N``,
* energy ``e = -(1/N) sum_<ij> s_i s_j = -(1/N) d ln Z / dK``,
* heat capacity ``C = (K^2 / N) d^2 ln Z / dK^2 = (<E^2> - <E>^2) / (N T^2)``,
* magnetisation ``m = (1/N) sum_i s_i``.

Precision. Exact reference values are only useful in float64. Two kinds of functions live here:

* pure-JAX cores (:func:`kaufman_log_z`, :func:`onsager_log_z`): traceable, jit/vmap/grad-able, computed in the
  dtype of their input (call them with x64 enabled to get float64);
* validated front ends (:func:`infinite_lattice`, :func:`finite_lattice`, :func:`log_partition_function`, ...):
  they check their arguments at the Python level, run the cores inside ``jax.enable_x64(True)`` and return **numpy
  float64 arrays**, whatever the global ``jax_enable_x64`` setting is (a float64 jax array would be silently
  truncated to float32 by the next jnp operation when x64 is off; numpy arrays are not). They accept a Python float
  or a numpy/jax array of temperatures and return arrays of that shape. They are reference tools, not meant to be
  traced: under ``jit`` use the cores.

Small-lattice distributions for sampler tests: :func:`enumerate_states` (all ``2^N`` states, ``N <= 20``),
:func:`energy_distribution` (``L <= 4``), :func:`magnetization_distribution` and :func:`finite_lattice_moments`
(row transfer matrix, ``L <= 8``).
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrg import ising

__all__ = [
    "CRITICAL_COUPLING",
    "CRITICAL_TEMPERATURE",
    "NU",
    "GAMMA_OVER_NU",
    "Y_H",
    "CRITICAL_BINDER_RATIO",
    "InfiniteLattice",
    "FiniteLattice",
    "FiniteLatticeMoments",
    "onsager_log_z",
    "kaufman_log_z",
    "infinite_lattice",
    "finite_lattice",
    "log_partition_function",
    "spontaneous_magnetization",
    "enumerate_states",
    "energy_distribution",
    "magnetization_distribution",
    "finite_lattice_moments",
]

CRITICAL_COUPLING: float = math.log1p(math.sqrt(2.0)) / 2.0
"""K_c = ln(1 + sqrt 2) / 2 = 0.44068679350977..."""
CRITICAL_TEMPERATURE: float = 1.0 / CRITICAL_COUPLING
"""T_c = 1 / K_c = 2.26918531421302..."""
NU: float = 1.0
"""Correlation-length exponent nu of the 2D Ising universality class (y_t = 1 / nu = 1)."""
GAMMA_OVER_NU: float = 7.0 / 4.0
"""Susceptibility exponent ratio gamma / nu = 2 - eta = 7/4."""
Y_H: float = 15.0 / 8.0
"""Magnetic RG eigenvalue exponent y_h = 2 - x_sigma = 15/8 (x_sigma = 1/8)."""
CRITICAL_BINDER_RATIO: float = 0.61069
"""Binder cumulant ``1 - <m^4> / (3 <m^2>^2)`` at T_c on the periodic square lattice as L -> infinity, i.e.
``<m^4> / <m^2>^2 = 1.1679...`` (Salas and Sokal, J. Stat. Phys. 98, 551 (2000))."""

# Largest coupling used inside the Onsager correction integral and the closed form for e (and C): beyond it the
# corrections are below exp(-8 K_MAX) ~ 1e-174 relative, so clamping changes nothing in float64 and avoids overflow.
_K_CLAMP = 50.0
# Smallest temperature accepted by the finite-lattice functions: below it sinh(2K) overflows float64 (K > 355);
# every finite-lattice quantity has reached its ground-state value to double precision long before.
_T_MIN_FINITE = 0.01
_ENUMERATION_MAX_SITES = 20
_TRANSFER_MATRIX_MAX_L = 8

# Composite Gauss-Legendre rule for the Onsager integral (in the sinh-mapped variable, see onsager_log_z).
_GL_PANELS = 12
_GL_NODES = 32


# ------------------------------------------------------------------------------------------------ result types


class InfiniteLattice(NamedTuple):
    """Thermodynamics of the infinite square lattice (Onsager), per spin, each with the shape of ``T``."""

    free_energy: np.ndarray
    energy: np.ndarray
    heat_capacity: np.ndarray
    magnetization: np.ndarray


class FiniteLattice(NamedTuple):
    """Thermodynamics of a finite periodic lattice (Kaufman), per spin, each with the shape of ``T``."""

    free_energy: np.ndarray
    energy: np.ndarray
    heat_capacity: np.ndarray


class FiniteLatticeMoments(NamedTuple):
    """Exact magnetisation moments and thermodynamics of an ``L x L`` torus, each with the shape of ``T``.

    Attributes:
        abs_magnetization: ``<|m|>``.
        magnetization_sq: ``<m^2>``.
        magnetization_4th: ``<m^4>``.
        binder: Binder cumulant ``1 - <m^4> / (3 <m^2>^2)``.
        susceptibility: ``N (<m^2> - <|m|>^2) / T``, the connected form with ``|m|`` (as in Monte Carlo results).
        full_susceptibility: ``N <m^2> / T`` (zero-field susceptibility per spin; ``<m> = 0`` on a finite lattice).
        energy: energy per spin ``<E> / N``.
        heat_capacity: heat capacity per spin.
    """

    abs_magnetization: np.ndarray
    magnetization_sq: np.ndarray
    magnetization_4th: np.ndarray
    binder: np.ndarray
    susceptibility: np.ndarray
    full_susceptibility: np.ndarray
    energy: np.ndarray
    heat_capacity: np.ndarray


# ------------------------------------------------------------------------------------------------ validation


def _validate_temperature(T, *, name: str = "T", minimum: float = 0.0) -> np.ndarray:
    """Temperatures of any shape as float64, by :func:`jaxrg.ising.validate_temperature`."""
    return ising.validate_temperature(T, name=name, minimum=minimum, max_ndim=None)


def _validate_int(value, *, name: str, minimum: int, maximum: int | None = None) -> int:
    """A Python int in ``[minimum, maximum]``, else ValueError naming the parameter."""
    allowed = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer {allowed} (got {value!r})")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an integer {allowed} (got {value})")
    return value


def _validate_shape(L, *, name: str = "L", minimum: int = 2, maximum: int | None = None) -> tuple[int, int]:
    """``L`` (square) or ``(rows, columns)`` as a pair of ints, each in range."""
    if isinstance(L, (tuple, list)):
        if len(L) != 2:
            raise ValueError(f"{name} must be an int or a pair (rows, columns) (got {L!r})")
        return (
            _validate_int(L[0], name=f"{name}[0]", minimum=minimum, maximum=maximum),
            _validate_int(L[1], name=f"{name}[1]", minimum=minimum, maximum=maximum),
        )
    side = _validate_int(L, name=name, minimum=minimum, maximum=maximum)
    return side, side


# ------------------------------------------------------------------------------------------------ stable helpers


def _log1mexp(a):
    """``ln(1 - exp(-a))`` for ``a >= 0``, accurate everywhere, with NaN-free gradients (double-where)."""
    small = a <= math.log(2.0)
    a_small = jnp.where(small, a, 1.0)
    a_big = jnp.where(small, 1.0, a)
    return jnp.where(small, jnp.log(-jnp.expm1(-a_small)), jnp.log1p(-jnp.exp(-a_big)))


def _logaddexp(x, y):
    """``ln(e^x + e^y)`` as ``max + ln(1 + e^-|x-y|)``.

    Its derivatives come out as ``y' + w (x' - y')`` with weights that sum to one exactly; ``jnp.logaddexp``'s
    weights ``exp(x - out)`` carry an absolute error ~ ulp(out), which for ``ln Z ~ 2 N K`` (large) ruins the
    second derivative (heat capacity) at large ``N`` or low ``T``.
    """
    big = jnp.maximum(x, y)
    return big + jnp.log1p(jnp.exp(-jnp.abs(x - y)))


def _log_2cosh(x):
    """``ln(2 cosh x)`` without overflow."""
    ax = jnp.abs(x)
    return ax + jnp.log1p(jnp.exp(-2.0 * ax))


def _log_tanh(y):
    """``ln tanh y`` for ``y > 0`` without overflow or cancellation."""
    return _log1mexp(2.0 * y) - jnp.log1p(jnp.exp(-2.0 * y))


def _log_minus_log_tanh(y):
    """``ln(-ln tanh y) = ln(2 atanh(exp(-2y)))`` for ``y > 0``, finite for any large ``y`` (no underflow)."""
    q = jnp.exp(-2.0 * y)
    small = q < 1e-4
    q_big = jnp.where(small, 0.5, q)
    q_small = jnp.where(small, q, 0.0)
    # atanh(q) / q = 1 + q^2/3 + q^4/5 + ... (two terms exact to 1e-16 for q < 1e-4)
    log_ratio = jnp.where(small, jnp.log1p(q_small * q_small / 3.0), jnp.log(jnp.arctanh(q_big) / q_big))
    return math.log(2.0) - 2.0 * y + log_ratio


def _elliptic_ke(kp):
    """Complete elliptic integrals ``K(k), E(k)`` from the complementary modulus ``k' = sqrt(1 - k^2)`` (AGM).

    Uses ``K = pi / (2 AGM(1, k'))`` and ``E = K (1 - sum_n 2^(n-1) c_n^2)``; 40 fixed iterations converge for
    any ``k' >= 1e-300`` (quadratic convergence after ~log2 ln(1/k') steps). ``k'`` as input keeps full precision
    near ``k = 1``.
    """
    def agm_step(_, carry):
        a, b, power, csum = carry
        c = 0.5 * (a - b)
        power = 2.0 * power
        return 0.5 * (a + b), jnp.sqrt(a * b), power, csum + power * c * c

    init = (jnp.ones_like(kp), kp, jnp.full_like(kp, 0.5), 0.5 * (1.0 - kp * kp))
    a, _, _, csum = jax.lax.fori_loop(0, 40, agm_step, init)
    ellip_k = 0.5 * jnp.pi / a
    return ellip_k, ellip_k * (1.0 - csum)


def _sinh_2k_minus_1(K):
    """``sinh 2K - 1 = sinh 2K - sinh 2K_c = 2 cosh(K + K_c) sinh(K - K_c)``, accurate near ``K_c``."""
    return 2.0 * jnp.cosh(K + CRITICAL_COUPLING) * jnp.sinh(K - CRITICAL_COUPLING)


def _onsager_moduli(K):
    """``s = sinh 2K``, modulus ``k = 2 s / (1 + s^2)`` and ``k' = |1 - s^2| / (1 + s^2)`` (no cancellation)."""
    s = jnp.sinh(2.0 * K)
    denom = 1.0 + s * s
    return s, 2.0 * s / denom, jnp.abs(_sinh_2k_minus_1(K)) * (1.0 + s) / denom


# ------------------------------------------------------------------------------------------------ Onsager


def onsager_log_z(K):
    """Onsager's ``ln Z / N`` of the infinite square lattice (pure JAX: jit, vmap and grad work).

    Evaluates ``ln(2 cosh 2K) + (1/pi) int_0^{pi/2} ln[(1 + sqrt(k'^2 + k^2 sin^2 phi)) / 2] dphi`` (the
    REFERENCES form with ``phi = pi/2 - theta``). The integrand has branch points at ``phi = +-i asinh(k'/k)``,
    which pinch the real axis at ``T_c``; the substitution ``phi = eps sinh u`` with ``eps = asinh(k'/k)`` maps them
    to ``u = +-i pi/2`` for every ``K``, so a fixed composite Gauss-Legendre rule in ``u`` converges geometrically
    uniformly in ``K`` (about 1e-15 absolute, also at ``T_c``).

    Args:
        K: coupling ``1/T``, any shape, ``K > 0``. Use float64 (x64) for exact-reference accuracy.

    Returns:
        ``ln Z / N``, same shape as ``K``.
    """
    K = jnp.asarray(K)
    if not jnp.issubdtype(K.dtype, jnp.floating):
        K = K.astype(jnp.result_type(float))
    log_2cosh_2k = 2.0 * K + jnp.log1p(jnp.exp(-4.0 * K))
    Kc = jnp.minimum(K, _K_CLAMP)
    _, k, kp = _onsager_moduli(Kc)
    eps = jnp.clip(jnp.arcsinh(kp / k), 1e-18, 1.0)
    u_max = jnp.arcsinh(0.5 * jnp.pi / eps)
    x, w = np.polynomial.legendre.leggauss(_GL_NODES)
    # nodes and weights of the composite rule on [0, 1]
    edges = np.arange(_GL_PANELS)[:, None]
    t = ((edges + 0.5 * (x[None, :] + 1.0)) / _GL_PANELS).ravel()
    wt = (np.broadcast_to(w, (_GL_PANELS, _GL_NODES)) / (2.0 * _GL_PANELS)).ravel()
    t = jnp.asarray(t, K.dtype)
    wt = jnp.asarray(wt, K.dtype)
    u = u_max[..., None] * t
    phi = eps[..., None] * jnp.sinh(u)
    jac = eps[..., None] * jnp.cosh(u) * u_max[..., None]
    sin_phi = jnp.sin(phi)
    root = jnp.sqrt(kp[..., None] ** 2 + (k[..., None] * sin_phi) ** 2)
    integrand = jnp.log1p(0.5 * (root - 1.0)) * jac
    integral = jnp.sum(integrand * wt, axis=-1)
    return log_2cosh_2k + integral / jnp.pi


def _onsager_energy(K):
    """Closed form for the energy per spin of the infinite lattice (pure JAX, differentiable).

    ``e = -coth 2K [1 + (2/pi) (2 tanh^2 2K - 1) K(k)]``, ``k = 2 sinh 2K / cosh^2 2K``; at ``T_c`` the product
    ``(2 tanh^2 2K - 1) K(k)`` tends to 0 (``x ln x``), and ``k'`` is floored at 1e-300 so it stays finite.
    """
    Kc = jnp.minimum(K, _K_CLAMP)
    s, _, kp = _onsager_moduli(Kc)
    ellip_k, _ = _elliptic_ke(jnp.maximum(kp, 1e-300))
    two_tanh2_m1 = _sinh_2k_minus_1(Kc) * (s + 1.0) / (1.0 + s * s)
    return -(1.0 + (2.0 / jnp.pi) * two_tanh2_m1 * ellip_k) / jnp.tanh(2.0 * Kc)


def _onsager_energy_heat_capacity(K):
    """Energy and heat capacity ``C = -K^2 de/dK`` per spin of the infinite lattice (autodiff of the closed form)."""
    energy, de_dk = jax.jvp(_onsager_energy, (K,), (jnp.ones_like(K),))
    return energy, -jnp.minimum(K, _K_CLAMP) ** 2 * de_dk


def _spontaneous_magnetization(K):
    """``(1 - sinh(2K)^-4)^(1/8)`` below T_c, 0 above (pure JAX)."""
    ordered = K > CRITICAL_COUPLING
    Ko = jnp.where(ordered, jnp.minimum(K, _K_CLAMP), 1.0)
    s = jnp.sinh(2.0 * Ko)
    one_minus_s4 = _sinh_2k_minus_1(Ko) * (s + 1.0) * (s * s + 1.0) / s**4  # (s^4 - 1) / s^4 without cancellation
    return jnp.where(ordered, jnp.maximum(one_minus_s4, 0.0) ** 0.125, 0.0)


def spontaneous_magnetization(T) -> np.ndarray:
    """Yang's spontaneous magnetisation per spin of the infinite lattice, 0 for ``T >= T_c``.

    Args:
        T: temperature(s) > 0, float or array.

    Returns:
        float64 numpy array with the shape of ``T``.
    """
    T = _validate_temperature(T)
    with jax.enable_x64(True):
        return np.asarray(_spontaneous_magnetization(jnp.asarray(1.0 / T)), dtype=np.float64)


@jax.jit
def _onsager_thermodynamics(K):
    """``ln Z / N``, energy, heat capacity and spontaneous magnetisation per spin (K 1-D; compiled once per batch)."""
    energy, heat_capacity = _onsager_energy_heat_capacity(K)
    return onsager_log_z(K), energy, heat_capacity, _spontaneous_magnetization(K)


def infinite_lattice(T) -> InfiniteLattice:
    """Onsager's exact thermodynamics per spin of the infinite square lattice, in float64.

    Free energy from :func:`onsager_log_z` (quadrature, ~1e-15); energy from the closed form with the complete
    elliptic integral K(k) (AGM, ~1e-15), heat capacity ``-K^2 de/dK`` by forward-mode autodiff of it. At ``T_c``
    the energy is exactly ``-sqrt 2`` and the heat capacity, which diverges logarithmically, is returned large but
    finite (no NaN near or at ``T_c``). Magnetisation is the spontaneous magnetisation ``(1 - sinh(2K)^-4)^(1/8)``
    below ``T_c`` and 0 above.

    Args:
        T: temperature(s), float or numpy/jax array, finite and > 0.

    Returns:
        :class:`InfiniteLattice` of float64 numpy arrays with the shape of ``T``.
    """
    T = _validate_temperature(T)
    K = (1.0 / T).ravel()
    with jax.enable_x64(True):
        log_z, energy, heat_capacity, magnetization = _in_batches(_onsager_thermodynamics, K)
    out = [v.reshape(T.shape) for v in (-T.ravel() * log_z, energy, heat_capacity, magnetization)]
    return InfiniteLattice(*out)


# ------------------------------------------------------------------------------------------------ Kaufman


def kaufman_log_z(K, rows: int, columns: int | None = None):
    """Kaufman's exact ``ln Z`` of the ``rows x columns`` periodic lattice (pure JAX: jit, vmap, grad work).

    Ferdinand and Fisher's form (REFERENCES.md) with ``m = rows``, ``n = columns`` (``Z`` is symmetric in them):
    ``Z = 1/2 (2 sinh 2K)^(mn/2) (Z1 + Z2 + Z3 + Z4)``, ``Z1,2 = prod_r 2 cosh|sinh (m g_{2r+1} / 2)``,
    ``Z3,4`` the same over ``g_{2r}``, ``cosh g_l = cosh 2K coth 2K - cos(pi l / n)``, ``g_0 = 2K + ln tanh K``.
    Everything is in log space: ``ln(Z1 + Z2) = ln Z1 + ln(1 + prod tanh)``, and ``Z3 + Z4`` is handled with the sign
    of ``g_0`` (negative above ``T_c``, where ``Z4 < 0``) without cancellation; ``g_l`` uses
    ``cosh g_l - 1 = (1 - s)^2 / s + 2 sin^2(pi l / 2n)`` so it is accurate near ``T_c``. Gradients are NaN-free
    for all ``K`` (including ``K_c`` exactly), so ``jax.grad`` gives energy and heat capacity.

    Args:
        K: coupling ``1/T``, any shape, ``0 < K <= 300``. Use float64 (x64) for reference accuracy.
        rows: number of rows ``m`` (static int >= 2).
        columns: number of columns ``n`` (static int >= 2), default ``rows``.

    Returns:
        ``ln Z``, same shape as ``K``.
    """
    m = int(rows)
    n = m if columns is None else int(columns)
    K = jnp.asarray(K)
    if not jnp.issubdtype(K.dtype, jnp.floating):
        K = K.astype(jnp.result_type(float))
    return _kaufman_log_z_core(K, m, n, *_kaufman_modes(n, n, K.dtype))


def _kaufman_modes(n: int, size: int, dtype):
    """Mode numbers ``l`` (odd ones, even ones > 0) padded to ``size`` entries, with validity masks."""
    l_odd = np.ones(size)
    l_odd[:n] = 2 * np.arange(n) + 1
    l_even = np.full(size, 2.0)
    l_even[: n - 1] = 2 * np.arange(1, n)
    valid = np.arange(size)
    return (jnp.asarray(l_odd, dtype), jnp.asarray(l_even, dtype), jnp.asarray(valid < n), jnp.asarray(valid < n - 1))


def _kaufman_log_z_core(K, m, n, l_odd, l_even, valid_odd, valid_even):
    """:func:`kaufman_log_z` with ``m, n`` as (possibly traced) numbers and padded, masked mode lists."""
    Ke = K[..., None]
    s = jnp.sinh(2.0 * Ke)

    def g_of(mode):
        d = (s - 2.0 + 1.0 / s) + 2.0 * jnp.sin(0.5 * jnp.pi * mode / n) ** 2  # cosh g - 1 >= 0
        return jnp.log1p(d + jnp.sqrt(d) * jnp.sqrt(d + 2.0))  # arccosh(1 + d)

    def masked_sum(x, valid):
        return jnp.sum(jnp.where(valid, x, 0.0), -1)

    y_odd = 0.5 * m * g_of(l_odd)
    y_even = 0.5 * m * g_of(l_even)
    y0 = 0.5 * m * (2.0 * K + jnp.log(jnp.tanh(K)))  # signed: < 0 above T_c

    # ln(Z1 + Z2) = sum ln 2cosh + ln(1 + prod tanh), all tanh in (0, 1]
    log_z12 = masked_sum(_log_2cosh(y_odd), valid_odd) + jax.nn.softplus(masked_sum(_log_tanh(y_odd), valid_odd))
    # ln(Z3 + Z4) = sum ln 2cosh + ln(1 + tanh(y0) prod_{l>0} tanh)
    log_even_cosh = masked_sum(_log_2cosh(y_even), valid_even) + _log_2cosh(y0)
    # ln(-ln prod_{l>0} tanh y_l) = logsumexp_l ln(2 atanh q_l), q_l = exp(-2 y_l): finite even when P == 1.0
    log_neg_s_even = jax.nn.logsumexp(jnp.where(valid_even, _log_minus_log_tanh(y_even), -jnp.inf), axis=-1)
    neg_s_even = jnp.exp(log_neg_s_even)  # -ln P >= 0
    p_even = jnp.exp(-neg_s_even)
    # 1 + t0 P directly while it is >= 1/2 (smooth through g_0 = 0 at T_c, so grad of grad is exact there) ...
    direct = jnp.tanh(y0) * p_even > -0.5
    y0_direct = jnp.where(direct, y0, 0.0)
    log1p_direct = jnp.log1p(jnp.tanh(y0_direct) * p_even)
    # ... else (y0 < 0, |t0| > 1/2) as (1 - |t0|) + |t0| (1 - P), two non-negative terms: no cancellation
    a = jnp.where(direct, 1.0, -y0)
    log_one_minus_t = math.log(2.0) - 2.0 * a - jnp.log1p(jnp.exp(-2.0 * a))
    tiny = neg_s_even < 1e-10
    log_one_minus_p = jnp.where(
        tiny, log_neg_s_even - 0.5 * neg_s_even, _log1mexp(jnp.where(tiny, 1.0, neg_s_even))
    )
    log1p_cancel = _logaddexp(log_one_minus_t, _log_tanh(a) + log_one_minus_p)
    log_z34 = log_even_cosh + jnp.where(direct, log1p_direct, log1p_cancel)

    log_2sinh_2k = 2.0 * K + _log1mexp(4.0 * K)
    return -math.log(2.0) + 0.5 * m * n * log_2sinh_2k + _logaddexp(log_z12, log_z34)


# One compiled program serves every lattice with n <= _KAUFMAN_PAD columns (m, n are traced numbers, modes are
# padded and masked); temperatures go through in padded batches of _KAUFMAN_BATCH. Tests and scripts that use many
# sizes and temperature grids therefore compile once.
_KAUFMAN_PAD = 1024
_KAUFMAN_BATCH = 64


@jax.jit
def _kaufman_thermodynamics(K, m, n, l_odd, l_even, valid_odd, valid_even):
    """``ln Z``, ``d ln Z / dK``, ``d^2 ln Z / dK^2`` elementwise (K is 1-D), by nested forward-mode autodiff."""

    def log_z(k):
        return _kaufman_log_z_core(k, m, n, l_odd, l_even, valid_odd, valid_even)

    def first(k):
        return jax.jvp(log_z, (k,), (jnp.ones_like(k),))

    (value, d1), (_, d2) = jax.jvp(first, (K,), (jnp.ones_like(K),))
    return value, d1, d2


def _kaufman_derivatives(K: np.ndarray, rows: int, columns: int):
    """float64 numpy ``ln Z`` and its first two K-derivatives for a 1-D numpy array of couplings."""
    size = max(_KAUFMAN_PAD, 1 << (columns - 1).bit_length())
    with jax.enable_x64(True):
        modes = _kaufman_modes(columns, size, jnp.float64)
        m = jnp.asarray(float(rows))
        n = jnp.asarray(float(columns))
        return _in_batches(lambda k: _kaufman_thermodynamics(k, m, n, *modes), K)


def _in_batches(fn, K: np.ndarray):
    """Apply a jitted ``fn`` of a 1-D float64 array to ``K`` in fixed-size padded batches (one compilation)."""
    chunks = []
    for start in range(0, max(K.size, 1), _KAUFMAN_BATCH):
        part = K[start : start + _KAUFMAN_BATCH]
        padded = np.full(_KAUFMAN_BATCH, 0.5)
        padded[: part.size] = part
        values = fn(jnp.asarray(padded, jnp.float64))
        chunks.append([np.asarray(v, np.float64)[: part.size] for v in values])
    return tuple(np.concatenate(parts) for parts in zip(*chunks))


def log_partition_function(L, K) -> np.ndarray:
    """Exact ``ln Z`` of the ``L x L`` (or ``rows x columns``) torus, in float64 (validated :func:`kaufman_log_z`).

    Args:
        L: side ``>= 2`` (int), or a pair ``(rows, columns)``.
        K: coupling(s) ``1/T``, float or array, finite, ``0 < K <= 100``.

    Returns:
        float64 numpy array with the shape of ``K``.
    """
    rows, columns = _validate_shape(L)
    K = _validate_temperature(K, name="K")
    if np.any(K > 1.0 / _T_MIN_FINITE):
        raise ValueError(f"K must be finite and in (0, {1.0 / _T_MIN_FINITE:g}] (got {np.max(K)})")
    return _kaufman_derivatives(K.ravel(), rows, columns)[0].reshape(K.shape)


def finite_lattice(L, T) -> FiniteLattice:
    """Exact thermodynamics per spin of the ``L x L`` torus (Kaufman / Ferdinand-Fisher), in float64.

    ``ln Z`` from :func:`kaufman_log_z`; energy ``-(1/N) d ln Z/dK`` and heat capacity ``(K^2/N) d^2 ln Z/dK^2`` by
    nested forward-mode autodiff (``jax.jvp``) in float64. Agrees with brute-force enumeration (2x2 to 4x5) and with
    the transfer matrix (L = 6, 8) to ~1e-14, and with Onsager away from ``T_c`` for L = 64 ... 2048 to ~1e-15; no
    NaN at or near ``T_c`` (checked up to L = 1024). One compiled program serves all ``n <= 1024`` and all ``T``.

    Args:
        L: side ``>= 2`` (int), or a pair ``(rows, columns)`` for a rectangular torus.
        T: temperature(s), float or numpy/jax array, finite, ``T >= 0.01`` (below it ``sinh 2K`` overflows;
            every quantity has reached its ground-state value long before).

    Returns:
        :class:`FiniteLattice` of float64 numpy arrays with the shape of ``T``.
    """
    rows, columns = _validate_shape(L)
    T = _validate_temperature(T, minimum=_T_MIN_FINITE)
    N = rows * columns
    Kn = (1.0 / T).ravel()
    log_z, d1, d2 = _kaufman_derivatives(Kn, rows, columns)
    free_energy = -log_z / (Kn * N)
    energy = -d1 / N
    heat_capacity = Kn**2 * d2 / N
    return FiniteLattice(*(v.reshape(T.shape) for v in (free_energy, energy, heat_capacity)))


# ------------------------------------------------------------------------------------------------ enumeration


@functools.lru_cache(maxsize=8)
def _enumerate(rows: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
    N = rows * columns
    states = np.arange(2**N, dtype=np.uint32)
    unsatisfied = np.zeros(states.shape, dtype=np.int32)  # bonds with s_i != s_j
    n_down = np.zeros(states.shape, dtype=np.int32)
    for r in range(rows):
        for c in range(columns):
            i = r * columns + c
            bit_i = (states >> np.uint32(i)) & np.uint32(1)
            n_down += bit_i.astype(np.int32)
            for j in (r * columns + (c + 1) % columns, ((r + 1) % rows) * columns + c):
                unsatisfied += (bit_i ^ ((states >> np.uint32(j)) & np.uint32(1))).astype(np.int32)
    energy = (2 * unsatisfied - 2 * N).astype(np.int64)  # E = -sum s_i s_j = -(2N - 2 * unsatisfied)
    magnetization = (N - 2 * n_down).astype(np.int64)
    energy.flags.writeable = False
    magnetization.flags.writeable = False
    return energy, magnetization


def enumerate_states(L) -> tuple[np.ndarray, np.ndarray]:
    """Total energy and magnetisation of every state of a small torus (exact enumeration, vectorised bit tricks).

    State ``x`` in ``[0, 2^N)`` has spin ``s_i = 1 - 2 * bit_i(x)`` at site ``i = row * columns + column``; bonds
    are to the right and down neighbours (periodic), ``2 N`` in all.

    Args:
        L: side (int) or ``(rows, columns)``, each >= 2, with ``N = rows * columns <= 20``.

    Returns:
        ``(energy, magnetization)``: read-only int64 arrays of shape ``(2^N,)``, total ``E = -sum_<ij> s_i s_j``
        and total ``M = sum_i s_i``.
    """
    rows, columns = _validate_shape(L)
    if rows * columns > _ENUMERATION_MAX_SITES:
        raise ValueError(f"L must have rows * columns <= {_ENUMERATION_MAX_SITES} sites (got {rows}x{columns})")
    return _enumerate(rows, columns)


def _normalized_weights(log_weights: np.ndarray) -> np.ndarray:
    """Probabilities from log weights along the last axis (stable)."""
    shifted = log_weights - np.max(log_weights, axis=-1, keepdims=True)
    p = np.exp(shifted)
    return p / np.sum(p, axis=-1, keepdims=True)


def energy_distribution(L, T) -> tuple[np.ndarray, np.ndarray]:
    """Exact distribution of the total energy ``E = -sum_<ij> s_i s_j`` of a small torus, from enumeration.

    Args:
        L: side (int) in [2, 4] or ``(rows, columns)`` with ``rows * columns <= 20``.
        T: temperature(s) > 0, float or array.

    Returns:
        ``(levels, probabilities)``: int64 ``levels`` of shape ``(n_levels,)`` (sorted distinct total energies) and
        float64 ``probabilities`` of shape ``T.shape + (n_levels,)``, summing to 1 along the last axis.
    """
    energy, _ = enumerate_states(L)
    T = _validate_temperature(T)
    levels, counts = np.unique(energy, return_counts=True)
    K = (1.0 / T)[..., None]
    return levels, _normalized_weights(np.log(counts) - K * levels)


# ------------------------------------------------------------------------------------------------ transfer matrix


@functools.lru_cache(maxsize=8)
def _row_states(L: int):
    """Row configurations of length L sorted by number of up spins.

    Returns:
        spins (S, L) float64 in {-1, +1}, n_up (S,) ascending, h (S,) periodic horizontal bond sums,
        representatives (R,) indices of one row per class under cyclic column shifts, multiplicity (R,) class sizes.
    """
    codes = np.arange(2**L)
    bits = (codes[:, None] >> np.arange(L)) & 1
    order = np.argsort(L - bits.sum(1), kind="stable")
    codes, bits = codes[order], bits[order]
    spins = (1 - 2 * bits).astype(np.float64)
    n_up = (spins > 0).sum(1)
    h = np.sum(spins * np.roll(spins, -1, axis=1), axis=1)
    mask = 2**L - 1
    rotations = [((codes << r) | (codes >> (L - r))) & mask for r in range(L)]
    canonical = np.min(rotations, axis=0)
    _, representatives, multiplicity = np.unique(canonical, return_index=True, return_counts=True)
    return spins, n_up, h, representatives, multiplicity


def _magnetization_weights(L: int, K: float) -> np.ndarray:
    """Unnormalised weights of ``n_up = 0..N`` on the L x L torus (row transfer matrix carrying M), float64.

    The first row ``s0`` is kept for the periodic closure; a cyclic column shift of the whole lattice maps the
    configurations with first row ``s0`` onto those with its shifted copy (same energy and M), so only one ``s0``
    per shift class is propagated, weighted by the class size (36 of 256 rows for L = 8).
    """
    spins, n_up, h, reps, mult = _row_states(L)
    N = L * L
    S = spins.shape[0]
    R = reps.shape[0]
    v = spins @ spins.T
    # all exponents shifted by their maximum (L per row and per row pair) so every factor is <= 1
    step = np.exp(K * (v - L + h[None, :] - L))  # B[s, s'] for adding row s' below row s
    close = np.exp(K * (v[:, reps] - L))  # vertical bonds between the last row s and the first row s0
    bounds = np.searchsorted(n_up, np.arange(L + 2))  # rows with n_up == g are bounds[g]:bounds[g+1]
    W = np.zeros((R, N + 1, S))  # W[s0, n_up so far, last row]
    W[np.arange(R), n_up[reps], reps] = np.exp(K * (h[reps] - L))
    for row in range(1, L):
        top = row * L + 1  # populated n_up range before adding this row: [0, row * L]
        X = (W[:, :top, :].reshape(R * top, S) @ step).reshape(R, top, S)
        W = np.zeros_like(W)
        for g in range(L + 1):
            lo, hi = bounds[g], bounds[g + 1]
            W[:, g : g + top, lo:hi] = X[:, :, lo:hi]
        W /= W.max()
    return np.einsum("aks,sa,a->k", W, close, mult.astype(np.float64))


def magnetization_distribution(L, T) -> tuple[np.ndarray, np.ndarray]:
    """Exact distribution of the total magnetisation ``M`` of the ``L x L`` torus (row transfer matrix).

    Rows are added one at a time to weights ``W[s0, M, s]`` (first row ``s0`` kept for the periodic closure, last
    row ``s``, magnetisation so far ``M``); each row is a matrix product followed by a shift of ``M`` by the new
    row's magnetisation, with rescaling so nothing overflows. All terms are non-negative, so every probability
    (tails included) has full float64 relative precision. Cost ~ ``L^2 4^L 2^L / L`` per temperature
    (one first row per cyclic-shift class).

    Args:
        L: side, int in [2, 8].
        T: temperature(s) > 0, float or array.

    Returns:
        ``(M, probabilities)``: int64 ``M = -N, -N+2, ..., N`` of shape ``(N+1,)`` and float64 probabilities of
        shape ``T.shape + (N+1,)``.
    """
    L = _validate_int(L, name="L", minimum=2, maximum=_TRANSFER_MATRIX_MAX_L)
    T = _validate_temperature(T)
    N = L * L
    probs = np.empty(T.shape + (N + 1,))
    flat = probs.reshape(-1, N + 1)
    for i, t in enumerate(T.ravel()):
        w = _magnetization_weights(L, 1.0 / float(t))
        flat[i] = w / w.sum()
    M = 2 * np.arange(N + 1, dtype=np.int64) - N
    return M, probs


def _transfer_matrix_thermodynamics(L: int, K: float) -> tuple[float, float]:
    """``d ln Z / dK`` and ``d^2 ln Z / dK^2`` of the L x L torus from the row transfer matrix (numpy, float64).

    ``Z = Tr A^L`` with the symmetric ``A = exp(K b)``, ``b[s, s'] = (h(s) + h(s'))/2 + v(s, s') - 2L <= 0``, so
    ``A' = b A`` and ``A'' = b^2 A`` elementwise. In the eigenbasis ``A = V diag(lambda) V^T`` (``B = V^T A' V``):
    ``Z' = L sum_a lambda_a^(L-1) B_aa`` and
    ``Z'' = L sum_a lambda_a^(L-1) (V^T A'' V)_aa + L sum_ab B_ab^2 sum_(j=0)^(L-2) lambda_a^j lambda_b^(L-2-j)``
    (the double sum written out, so degenerate eigenvalues need no care). Independent of Kaufman's formula.
    """
    spins, _, h, _, _ = _row_states(L)
    bonds = spins @ spins.T + 0.5 * (h[:, None] + h[None, :]) - 2 * L
    A = np.exp(K * bonds)
    lam, V = np.linalg.eigh(A)
    scale = np.max(np.abs(lam))
    mu = lam / scale
    B = V.T @ (bonds * A) @ V / scale
    C = V.T @ (bonds**2 * A) @ V / scale
    z = np.sum(mu**L)
    z1 = L * np.sum(mu ** (L - 1) * np.diag(B))
    pair = sum(np.outer(mu**j, mu ** (L - 2 - j)) for j in range(L - 1))
    z2 = L * np.sum(mu ** (L - 1) * np.diag(C)) + L * np.sum(B * B * pair)
    mean = z1 / z
    return mean + 2 * L * L, z2 / z - mean**2


def finite_lattice_moments(L, T) -> FiniteLatticeMoments:
    """Exact ``<|m|>``, ``<m^2>``, ``<m^4>``, Binder cumulant, susceptibilities, energy and heat capacity per spin.

    Moments from :func:`magnetization_distribution`; energy and heat capacity from the derivatives of
    ``Z = Tr A^L`` of the row transfer matrix in its eigenbasis (float64; independent of :func:`finite_lattice`,
    which they agree with to ~1e-13).

    Args:
        L: side, int in [2, 8].
        T: temperature(s) > 0, float or array.

    Returns:
        :class:`FiniteLatticeMoments` of float64 numpy arrays with the shape of ``T``.
    """
    L = _validate_int(L, name="L", minimum=2, maximum=_TRANSFER_MATRIX_MAX_L)
    T = _validate_temperature(T)
    N = L * L
    M, probs = magnetization_distribution(L, T)
    m = M / N
    abs_m = probs @ np.abs(m)
    m2 = probs @ m**2
    m4 = probs @ m**4
    K = (1.0 / T).ravel()
    d1, d2 = np.array([_transfer_matrix_thermodynamics(L, k) for k in K]).T.reshape(2, -1)
    energy = (-d1 / N).reshape(T.shape)
    heat_capacity = (K**2 * d2 / N).reshape(T.shape)
    return FiniteLatticeMoments(
        abs_magnetization=abs_m,
        magnetization_sq=m2,
        magnetization_4th=m4,
        binder=1.0 - m4 / (3.0 * m2**2),
        susceptibility=N * (m2 - abs_m**2) / T,
        full_susceptibility=N * m2 / T,
        energy=energy,
        heat_capacity=heat_capacity,
    )
