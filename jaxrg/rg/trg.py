"""Tensor-network coarse-graining of the 2D Ising model: Levin-Nave TRG and HOTRG, differentiable.

Conventions (as in :mod:`jaxrg.ising`): J = 1, k_B = 1, reduced Hamiltonian

    beta H(s) = -K sum_<ij> s_i s_j - h sum_i s_i,     K = 1 / T,  h = (field in units of J) / T.

The core functions take the dimensionless ``(K, h)``; the temperature functions take ``T`` and the field in units
of J (``h_J``, converted to ``h = h_J / T``). Let ``g(K, h) = ln Z / N`` on the infinite lattice. Then

    free energy      f = -T g,
    energy           e = -dg/dK                      (bond energy per spin, -<sum s_i s_j>/N, as jaxrg.ising),
    heat capacity    C = K^2 d^2g/dK^2               (at fixed reduced field h; = de/dT at h = 0),
    magnetisation    m = dg/dh.

Network. Each site carries the tensor ``T[l, u, r, d] = sum_s exp(h s) W[s, l] W[s, u] W[s, r] W[s, d]`` with
``W = [[sqrt cosh K, sqrt sinh K], [sqrt cosh K, -sqrt sinh K]]`` (so ``sum_a W[s, a] W[s', a] = exp(K s s')``);
legs are ordered (left, up, right, down), ``r`` of a tensor contracts with ``l`` of its right neighbour and
``d`` with ``u`` of the one below. One coarse-graining *step* halves the number of tensors, for both methods:

- TRG (Levin and Nave, PRL 99, 120601 (2007)): each tensor is split along its two diagonals by truncated SVDs
  (``chi`` kept singular values, shared as ``sqrt(s)`` between the halves) and four halves around a plaquette are
  contracted into the new tensor; the lattice turns by 45 degrees. Cost O(chi^6) per step.
- HOTRG (Xie et al., PRB 86, 045139 (2012)): two neighbouring tensors are merged along one axis and the doubled
  legs are truncated to ``chi`` by the isometry from the higher-order SVD (eigenvectors of the Gram matrix of
  the doubled leg, left or right side, whichever discards less weight). The tensor is then turned by 90 degrees
  so the next step merges along the other axis. Cost O(chi^7) per step, memory O(chi^5).

After every step the tensor is divided by its Frobenius norm ``c_k`` (nothing overflows). With ``n`` steps,

    ln Z / N = sum_{k=0..n} 2^-k ln c_k + 2^-n ln |Tr T_n|,

which is exact (up to truncation) for the torus of ``2^n`` sites that the final one-tensor trace closes. At K_c the
torus adds the universal term ``ln Z_torus - N f = +0.64`` (c = 1/2 CFT on a square torus), i.e. ``+0.69 / 2^n``
relative to ln Z / N: 6e-7 at n = 20, which partly cancels the (negative) truncation error of TRG at chi = 24..32;
with the default ``n = 32`` it is 1.6e-10, i.e. the infinite-lattice value. Derivatives go through every SVD with
the Lorentzian-regularised rule of :mod:`jaxrg.rg._svd` (Liao et al., PRX 9, 031041 (2019)), so they stay finite
at degenerate singular values, including at K_c.

Precision: relative accuracies of 1e-7 need float64 (``jax.config.update("jax_enable_x64", True)``); in float32
the SVD truncation noise (~1e-7 relative) dominates and second derivatives are meaningless. The public functions
warn when called without x64.

Symmetry breaking: at ``h = 0`` the network is exactly Z2 symmetric, so ``dg/dh = 0`` at every temperature.
:func:`trg_thermodynamics` therefore takes the h-derivative at the reduced field ``h + eta`` with a small
``eta = symmetry_breaking_field`` (default ``32 / 2^steps``: 7e-9 at the default 32 steps), which selects the + phase
below T_c once ``2^steps * eta m >> 1`` (the network closes on a torus of ``2^steps`` sites). Free energy,
energy and heat capacity are evaluated at ``h`` itself. Above T_c the returned m is the linear response
``chi * eta`` (~1e-8 at 32 steps).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg.rg._svd import DEFAULT_BROADENING, regularized_sqrt, regularized_svd

__all__ = [
    "METHODS",
    "DEFAULT_STEPS",
    "TRGThermodynamics",
    "ScalingSpectrum",
    "ising_site_tensor",
    "trg_step",
    "hotrg_step",
    "coarse_grain",
    "trg_log_partition",
    "trg_free_energy",
    "trg_thermodynamics",
    "trg_scaling_dimensions",
    "HeatCapacityPeak",
    "trg_heat_capacity_and_slope",
    "trg_heat_capacity_peak",
]

METHODS = ("trg", "hotrg")
#: Default number of coarse-graining steps: a torus of 2^32 sites, finite-size term < 1e-9 in ln Z / N.
DEFAULT_STEPS = 32


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


class ScalingSpectrum(NamedTuple):
    """Conformal data from the transfer matrix of a 2x1 patch of coarse-grained tensors (Gu and Wen 2009).

    Attributes:
        step: RG step at which the tensor was taken, shape ``(n,)`` (int).
        central_charge: c estimated at each step, shape ``(n,)``.
        scaling_dimensions: the lowest non-zero scaling dimensions ``x_1 <= x_2 <= ...`` at each step,
            shape ``(n, num)``; for the Ising critical point x_1 -> x_sigma = 1/8, x_2 -> x_epsilon = 1.
        stationarity: largest deviation of ``(c, x_1, x_2)`` at the two steps before and the two after this one
            from its own values, shape ``(n,)`` (``inf`` where those steps are missing); small on the plateau.
        plateau: index (into the arrays above) of the most stationary step: the estimate to report.
    """

    step: np.ndarray
    central_charge: np.ndarray
    scaling_dimensions: np.ndarray
    stationarity: np.ndarray
    plateau: int

    @property
    def estimate(self) -> tuple[int, float, np.ndarray]:
        """``(step, c, x)`` at the most stationary step (the fixed-point plateau between the crossover from the
        lattice at small steps and the drift away from criticality caused by truncation at large steps)."""
        i = self.plateau
        return int(self.step[i]), float(self.central_charge[i]), self.scaling_dimensions[i]


# --------------------------------------------------------------------------------------------------------------
# validation


def _check_chi(chi) -> int:
    if isinstance(chi, bool) or not isinstance(chi, (int, np.integer)) or chi < 2:
        raise ValueError(f"chi (bond dimension) must be an integer >= 2, got {chi!r}")
    return int(chi)


def _check_steps(steps, *, minimum: int = 0) -> int:
    if steps is None:
        return DEFAULT_STEPS
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < minimum:
        raise ValueError(f"steps (number of coarse-graining steps) must be an integer >= {minimum} or None, "
                         f"got {steps!r}")
    return int(steps)


def _check_method(method) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


def _check_broadening(broadening) -> float:
    try:
        b = float(broadening)
    except (TypeError, ValueError):
        raise ValueError(f"broadening must be a float in [0, 1e-3], got {broadening!r}") from None
    if not (0.0 <= b <= 1e-3):
        raise ValueError(f"broadening must be a float in [0, 1e-3], got {broadening!r}")
    return b


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _check_coupling(K, h) -> None:
    """Check concrete (non-traced) couplings: K finite and > 0, h finite."""
    if _is_concrete(K):
        k = np.asarray(K, dtype=np.float64)
        if not np.all(np.isfinite(k)) or np.any(k <= 0):
            raise ValueError(f"K (= J/T) must be finite and > 0 (ferromagnet), got {K!r}")
    if _is_concrete(h):
        hh = np.asarray(h, dtype=np.float64)
        if not np.all(np.isfinite(hh)):
            raise ValueError(f"h (reduced field) must be finite, got {h!r}")


def _warn_if_float32() -> None:
    if not jax.config.jax_enable_x64:
        warnings.warn("jaxrg TRG/HOTRG: float64 is disabled; results are limited to ~1e-6 relative accuracy and "
                      "second derivatives are unreliable. Call jax.config.update('jax_enable_x64', True) first.",
                      RuntimeWarning, stacklevel=3)


def _temperatures(T) -> np.ndarray:
    try:
        arr = np.asarray(T, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"T must be a positive real number or 1D array of them, got {T!r}") from None
    if arr.ndim > 1 or arr.size == 0:
        raise ValueError(f"T must be a scalar or a non-empty 1D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"T must be finite and > 0 (units of J), got {T!r}")
    return arr


# --------------------------------------------------------------------------------------------------------------
# the tensors and one step of each method


def ising_site_tensor(K: Array, h: Array = 0.0) -> Array:
    """Site tensor of the 2D Ising model: bonds exp(K s s') split symmetrically, field exp(h s) on the site.

    Args:
        K: coupling J/T > 0, scalar.
        h: reduced field, scalar.

    Returns:
        ``T[l, u, r, d]``, shape ``(2, 2, 2, 2)``, ``sum`` over a 1x1 torus trace is ``2 e^{2K} cosh h``.
    """
    K = jnp.asarray(K)
    dtype = jnp.result_type(K, float)
    K = K.astype(dtype)
    h = jnp.asarray(h, dtype)
    c, s = jnp.sqrt(jnp.cosh(K)), jnp.sqrt(jnp.sinh(K))
    w = jnp.stack([jnp.stack([c, s]), jnp.stack([c, -s])])  # w[spin, bond]
    weight = jnp.stack([jnp.exp(h), jnp.exp(-h)])
    return jnp.einsum("s,sa,sb,sc,sd->abcd", weight, w, w, w, w)


#: Relative width in the derivative of sqrt(s) at s -> 0 (see :func:`jaxrg.rg._svd.regularized_sqrt`).
_SQRT_BROADENING = 1e-12


def _split(matrix: Array, chi: int, broadening: float) -> tuple[Array, Array]:
    """Truncated SVD split ``matrix ~ left @ right`` with sqrt(s) on each side (Levin-Nave); rank min(chi, k)."""
    u, s, vt = regularized_svd(matrix, broadening)
    keep = min(chi, s.shape[0])
    root = regularized_sqrt(s[:keep], _SQRT_BROADENING)
    return u[:, :keep] * root[None, :], root[:, None] * vt[:keep, :]


def trg_step(tensor: Array, chi: int, broadening: float = DEFAULT_BROADENING) -> Array:
    """One Levin-Nave TRG step: two diagonal SVD splits and a plaquette contraction (2 tensors -> 1).

    Args:
        tensor: ``T[l, u, r, d]`` with ``dim l == dim r = D1`` and ``dim u == dim d = D2``.
        chi: bond dimension kept (static).
        broadening: relative Lorentzian width of the SVD derivative (static).

    Returns:
        The coarse tensor ``T'[l', u', r', d']`` (not normalised), bond dimension ``min(chi, D1 * D2)``; its legs
        point to the top-left, top-right, bottom-right and bottom-left sites of the old plaquette.
    """
    d_l, d_u, d_r, d_d = tensor.shape
    # split 1: (l, u) | (r, d)  ->  s1[l, u, a] s3[a, r, d]
    a_left, a_right = _split(tensor.reshape(d_l * d_u, d_r * d_d), chi, broadening)
    s1 = a_left.reshape(d_l, d_u, -1)
    s3 = a_right.reshape(-1, d_r, d_d)
    # split 2: (u, r) | (d, l)  ->  s2[u, r, b] s4[b, d, l]
    b_left, b_right = _split(jnp.transpose(tensor, (1, 2, 3, 0)).reshape(d_u * d_r, d_d * d_l), chi, broadening)
    s2 = b_left.reshape(d_u, d_r, -1)
    s4 = b_right.reshape(-1, d_d, d_l)
    # plaquette: TL gives s3 (r=x, d=w), TR gives s4 (d=y, l=x), BR gives s1 (l=z, u=y), BL gives s2 (u=w, r=z)
    upper = jnp.einsum("pxw,qyx->pwqy", s3, s4)  # [l', w, u', y]   O(chi^5)
    lower = jnp.einsum("zyr,wzd->rydw", s1, s2)  # [r', y, d', w]   O(chi^5)
    return jnp.einsum("pwqy,rydw->pqrd", upper, lower)  # O(chi^6)


def _hotrg_isometry(tensor: Array, chi: int, broadening: float) -> Array:
    """Isometry ``(D_l * D_l, chi')`` truncating the doubled horizontal leg of two vertically stacked tensors."""

    def gram(t):  # t[l, u, r, d]: Gram matrix of the doubled l leg of t (above) t (below)
        top = jnp.einsum("iurm,jurn->imjn", t, t)  # [l1, m, l1', m']
        bottom = jnp.einsum("imrd,jnrd->imjn", t, t)  # [l2, m, l2', m']
        g = jnp.einsum("imjn,kmln->ikjl", top, bottom)  # [l1, l2, l1', l2']  O(chi^6)
        d = t.shape[0]
        return g.reshape(d * d, d * d)

    g_left = gram(tensor)
    g_right = gram(jnp.transpose(tensor, (2, 1, 0, 3)))
    u_left, w_left, _ = regularized_svd(g_left, broadening)
    u_right, w_right, _ = regularized_svd(g_right, broadening)
    keep = min(chi, w_left.shape[0])
    if keep == w_left.shape[0]:
        return u_left  # no truncation: any complete basis is exact
    # Xie et al.: use the side whose discarded weight is smaller (equal for reflection-symmetric tensors)
    discarded_left = jnp.sum(w_left[keep:]) / jnp.sum(w_left)
    discarded_right = jnp.sum(w_right[keep:]) / jnp.sum(w_right)
    return jnp.where(discarded_left <= discarded_right, u_left[:, :keep], u_right[:, :keep])


def hotrg_step(tensor: Array, chi: int, broadening: float = DEFAULT_BROADENING) -> Array:
    """One HOTRG step: merge two vertically adjacent tensors, truncate the doubled legs, turn by 90 degrees.

    Args:
        tensor: ``T[l, u, r, d]`` with ``dim l == dim r = D1`` and ``dim u == dim d = D2``.
        chi: bond dimension kept (static).
        broadening: relative Lorentzian width of the SVD derivative (static).

    Returns:
        The coarse tensor (not normalised), turned so that the merged axis is now vertical: shape
        ``(D2, D1', D2, D1')`` with ``D1' = min(chi, D1^2)``; the next step therefore merges along the other axis.
    """
    d1 = tensor.shape[0]
    iso = _hotrg_isometry(tensor, chi, broadening).reshape(d1, d1, -1)  # [l1, l2, L]
    x = jnp.einsum("abL,aurm->bLurm", iso, tensor)  # O(chi^6), memory chi^5
    y = jnp.einsum("bLurm,bmsd->Lursd", x, tensor)  # O(chi^7), memory chi^5
    merged = jnp.einsum("Lursd,rsR->LuRd", y, iso)  # O(chi^6)
    # turn by 90 degrees: new (l, u, r, d) = old (u, R, d, L); pairs (l, r) and (u, d) stay pairs
    return jnp.transpose(merged, (1, 2, 3, 0))


_STEPS = {"trg": trg_step, "hotrg": hotrg_step}


def _normalise(tensor: Array) -> tuple[Array, Array]:
    norm = jnp.sqrt(jnp.sum(tensor * tensor))
    return tensor / norm, jnp.log(norm)


def _padded_site_tensor(K: Array, h: Array, chi: int) -> Array:
    """The site tensor with every leg zero-padded to ``chi``: the network and all its truncations are unchanged
    (the padding only adds exactly zero singular values), and every step then has the same shapes."""
    tensor = ising_site_tensor(K, h)
    return jnp.pad(tensor, [(0, max(chi - 2, 0))] * 4)


def coarse_grain(K: Array, h: Array = 0.0, *, chi: int, steps: int, method: str = "trg",
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
        method: ``"trg"`` or ``"hotrg"``.
        broadening: relative Lorentzian width of the SVD derivative (static).

    Returns:
        ``(log_norms, tensor)``: ``log_norms[k] = ln c_k``, shape ``(steps + 1,)`` (``k = 0`` is the site tensor),
        and the normalised tensor after the last step, shape ``(chi, chi, chi, chi)``.
    """
    step = _STEPS[method]
    tensor, log_norm = _normalise(_padded_site_tensor(K, h, chi))
    if steps == 0:
        return log_norm[None], tensor

    @jax.checkpoint  # reverse mode stores one tensor per step and recomputes the rest (HOTRG: chi^5 per step)
    def body(t, _):
        return _normalise(step(t, chi, broadening))

    tensor, rest = jax.lax.scan(body, tensor, None, length=steps)
    return jnp.concatenate([log_norm[None], rest]), tensor


def _log_partition(K, h, chi, steps, method, broadening):
    log_norms, tensor = coarse_grain(K, h, chi=chi, steps=steps, method=method, broadening=broadening)
    weights = 0.5 ** jnp.arange(steps + 1, dtype=log_norms.dtype)
    trace = jnp.einsum("ijij->", tensor)
    return jnp.sum(weights * log_norms) + 0.5**steps * jnp.log(jnp.abs(trace))


def trg_log_partition(K: Array, h: Array = 0.0, *, chi: int, steps: int | None = None, method: str = "trg",
                      broadening: float = DEFAULT_BROADENING) -> Array:
    """ln Z / N of the 2D Ising model from TRG or HOTRG: a pure, differentiable function of ``(K, h)``.

    With ``steps`` steps the value is that of the torus of ``2^steps`` sites closed by a one-tensor trace
    (steps = 0: one site, 1: two sites with four bonds between them, 2: the 2x2 torus); the default
    (:data:`DEFAULT_STEPS` = 32) is the infinite lattice to better than 1e-9. Scalar ``K, h``: ``jax.vmap`` for
    batches. First and second derivatives in ``K`` and ``h`` are finite (regularised SVD rule).

    Args:
        K: coupling J/T > 0, scalar (float64 recommended).
        h: reduced field (field / T), scalar.
        chi: bond dimension >= 2 (static).
        steps: number of coarse-graining steps >= 0, each halving the number of tensors; None for the default.
        method: ``"trg"`` (Levin-Nave, O(chi^6)) or ``"hotrg"`` (O(chi^7), more accurate at equal chi).
        broadening: relative Lorentzian width of the SVD derivative, in [0, 1e-3].

    Returns:
        ln Z / N, shape ``()``.
    """
    chi, steps, method = _check_chi(chi), _check_steps(steps), _check_method(method)
    broadening = _check_broadening(broadening)
    _check_coupling(K, h)
    _warn_if_float32()
    return _log_partition(K, h, chi, steps, method, broadening)


# --------------------------------------------------------------------------------------------------------------
# temperature-level API (mapped over T, jit-compiled once per static configuration)


def _over_temperatures(fn, static: tuple[int, ...]):
    """jit of ``fn(T, *args)`` mapped over a 1D array of temperatures with ``lax.map`` (sequentially).

    Not ``vmap``: a batched SVD on XLA:CPU (jax 0.10.1) splits its batch over the intra-op thread pool and waits
    for it, and two such SVDs running concurrently on a 2-thread pool deadlock (seen on the 2-core host). The core
    functions stay vmappable (use ``jax.vmap`` on accelerators).
    """

    def mapped(temps, *args):
        return jax.lax.map(lambda t: fn(t, *args), temps)

    return jax.jit(mapped, static_argnums=static)


def _free_energy_one(T, h_j, chi, steps, method, broadening):
    K = 1.0 / T
    return -T * _log_partition(K, h_j * K, chi, steps, method, broadening)


_free_energy_batch = _over_temperatures(_free_energy_one, (2, 3, 4, 5))


def _k_derivatives_one(T, h_j, chi, steps, method, broadening):
    K = 1.0 / T
    h = h_j * K

    def dg_dk(k):  # forward mode inside, so that the second derivative is reverse-over-forward
        g, g_k = jax.jvp(lambda kk: _log_partition(kk, h, chi, steps, method, broadening), (k,), (jnp.ones_like(k),))
        return g_k, g

    # (reverse-over-reverse and forward-over-reverse through lax.scan gave NaN with jax 0.10.1 here)
    (g_k, g), g_kk = jax.value_and_grad(dg_dk, has_aux=True)(K)
    return -T * g, -g_k, K * K * g_kk


def _field_derivative_one(T, h_j, eta, chi, steps, method, broadening):
    K = 1.0 / T
    return jax.grad(lambda hh: _log_partition(K, hh, chi, steps, method, broadening))(h_j * K + eta)


# Two executables, run one after the other (independent K- and h-derivative scans in one program ran concurrently
# on the 2-core host and deadlocked in the batched SVD; see _over_temperatures).
_k_derivatives_batch = _over_temperatures(_k_derivatives_one, (2, 3, 4, 5))
_field_derivative_batch = _over_temperatures(_field_derivative_one, (3, 4, 5, 6))


def trg_free_energy(T, *, chi: int, h=0.0, steps: int | None = None, method: str = "trg",
                    broadening: float = DEFAULT_BROADENING) -> Array:
    """Free energy per site ``f = -T ln Z / N`` of the infinite 2D Ising lattice from TRG or HOTRG.

    Args:
        T: temperature(s) in units of J, scalar or 1D array, finite and > 0 (mapped, one compile).
        chi: bond dimension >= 2 (relative error of ln Z at T_c: TRG chi = 24 1.1e-6, 32 5.3e-7; HOTRG chi = 24 1.0e-7).
        h: magnetic field in units of J (reduced field h / T), finite.
        steps: coarse-graining steps (None: 32, i.e. converged to the infinite lattice).
        method: ``"trg"`` or ``"hotrg"``.
        broadening: relative Lorentzian width of the SVD derivative, in [0, 1e-3].

    Returns:
        f per site in units of J, shape of ``T``.
    """
    temps = _temperatures(T)
    chi, steps, method = _check_chi(chi), _check_steps(steps), _check_method(method)
    broadening = _check_broadening(broadening)
    h_j = float(_finite_scalar(h, "h"))
    _warn_if_float32()
    out = _free_energy_batch(jnp.asarray(temps.reshape(-1)), h_j, chi, steps, method, broadening)
    return out.reshape(temps.shape)


def _finite_scalar(x, name):
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite real scalar, got {x!r}") from None
    if not np.isfinite(v):
        raise ValueError(f"{name} must be a finite real scalar, got {x!r}")
    return v


def trg_thermodynamics(T, *, chi: int, h=0.0, steps: int | None = None, method: str = "trg",
                       symmetry_breaking_field: float | None = None,
                       broadening: float = DEFAULT_BROADENING) -> TRGThermodynamics:
    """Free energy, energy, heat capacity and magnetisation per site from one differentiable TRG/HOTRG function.

    Free energy, energy and heat capacity at the reduced field ``h / T``: energy = -dg/dK by ``jax.grad`` of the
    forward-mode derivative (which also gives d^2g/dK^2 for the heat capacity: reverse-over-forward), magnetisation
    = dg/dh by ``jax.grad`` at ``h / T + symmetry_breaking_field``. Below T_c and at h = 0 the small positive field
    selects the + phase, so ``magnetization`` is the spontaneous magnetisation (needs
    ``2^steps * symmetry_breaking_field * m >> 1``; the default ``32 / 2^steps`` gives ``32 m``); set it to 0 for
    the Z2-symmetric network (m = 0 at h = 0).

    Args:
        T: temperature(s) in units of J, scalar or 1D array, finite and > 0 (mapped, one compile).
        chi: bond dimension >= 2 (static).
        h: magnetic field in units of J, finite.
        steps: coarse-graining steps (None: 32).
        method: ``"trg"`` or ``"hotrg"``.
        symmetry_breaking_field: extra reduced field, in [0, 1e-3]; None for ``min(1e-3, 32 / 2^steps)``.
        broadening: relative Lorentzian width of the SVD derivative, in [0, 1e-3].

    Returns:
        :class:`TRGThermodynamics` of arrays with the shape of ``T``.
    """
    temps = _temperatures(T)
    chi, steps, method = _check_chi(chi), _check_steps(steps), _check_method(method)
    broadening = _check_broadening(broadening)
    h_j = _finite_scalar(h, "h")
    if symmetry_breaking_field is None:
        symmetry_breaking_field = default_symmetry_breaking_field(steps)
    eta = _finite_scalar(symmetry_breaking_field, "symmetry_breaking_field")
    if not 0.0 <= eta <= 1e-3:
        raise ValueError(f"symmetry_breaking_field must be in [0, 1e-3], got {symmetry_breaking_field!r}")
    _warn_if_float32()
    t = jnp.asarray(temps.reshape(-1))
    f, e, c = jax.block_until_ready(_k_derivatives_batch(t, h_j, chi, steps, method, broadening))
    m = jax.block_until_ready(_field_derivative_batch(t, h_j, eta, chi, steps, method, broadening))
    return TRGThermodynamics(*(x.reshape(temps.shape) for x in (f, e, c, m)))


# --------------------------------------------------------------------------------------------------------------
# scaling dimensions and central charge (Gu and Wen, PRB 80, 155131 (2009))


def _two_by_one_transfer_matrix(tensor: Array) -> Array:
    """Transfer matrix of two tensors side by side, closed periodically: ``M[(u1 u2), (d1 d2)]``."""
    m = jnp.einsum("aubd,bvae->uvde", tensor, tensor)
    du = tensor.shape[1]
    return m.reshape(du * du, du * du)


#: Extra coarse-graining steps after the last analysed one, used only to sum the free energy per tensor.
_SCALING_TAIL_STEPS = 20


def trg_scaling_dimensions(K=None, *, chi: int, steps: int = 16, method: str = "trg", num: int = 6,
                           ) -> ScalingSpectrum:
    """Central charge and scaling dimensions from the coarse-grained tensor at (or near) the critical point.

    Gu and Wen, PRB 80, 155131 (2009). After step ``n`` the tensor ``T_n`` (Frobenius-normalised) is divided by
    ``exp(f_n)``, ``f_n = sum_{k>n} 2^{n-k} ln c_k`` (+ the closing trace term) the free energy per tensor of the
    coarse lattice, so that the normalised network has zero bulk free energy. Two such tensors side by side,
    closed periodically, give the transfer matrix of a cylinder of circumference ``L = 2 w`` and height ``v``
    (``w x v``: width and height of the region one tensor covers; ``w / v = 1`` for TRG, and for HOTRG after
    even steps; ``w / v = 2`` for HOTRG after odd steps). For a CFT its eigenvalues are
    ``lambda_i = exp(-(2 pi v / L)(x_i - c / 12))``, so

        x_i = (w / v) ln(lambda_0 / lambda_i) / pi,       c = 12 (w / v) ln(lambda_0) / pi.

    At small ``n`` lattice corrections dominate, at large ``n`` the truncation (finite chi, a relevant
    perturbation at K_c) drives the tensor away from the critical fixed point; :attr:`ScalingSpectrum.estimate`
    takes the most stationary step in between. Not differentiable (eigenvalues in numpy).

    Args:
        K: coupling, finite and > 0; None for the critical coupling ln(1 + sqrt 2) / 2.
        chi: bond dimension >= 2 (static).
        steps: last RG step analysed, >= 1 (20 more steps are run to sum the free energy per tensor).
        method: ``"trg"`` or ``"hotrg"``.
        num: number of scaling dimensions returned per step, >= 2.

    Returns:
        :class:`ScalingSpectrum` (numpy arrays) over steps ``1..steps``.
    """
    if K is None:
        K = 0.5 * np.log1p(np.sqrt(2.0))
    chi, steps, method = _check_chi(chi), _check_steps(steps, minimum=1), _check_method(method)
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 2:
        raise ValueError(f"num must be an integer >= 2, got {num!r}")
    K = _finite_scalar(K, "K")
    if K <= 0:
        raise ValueError(f"K must be > 0, got {K!r}")
    _warn_if_float32()
    step_fn = _STEPS[method]
    total = steps + _SCALING_TAIL_STEPS

    step_jit = jax.jit(lambda t: _normalise(step_fn(t, chi, DEFAULT_BROADENING)))  # recompiles per shape (few)
    tensor, _ = _normalise(ising_site_tensor(jnp.asarray(K), 0.0))
    tensors, log_norms = [None], [0.0]  # index k: after step k
    for k in range(1, total + 1):  # python loop over jitted steps: the tensors are inspected one by one
        tensor, ln = step_jit(tensor)
        if k <= steps:
            tensors.append(np.asarray(tensor))
        log_norms.append(float(ln))
    log_norms = np.asarray(log_norms)
    log_trace = float(np.log(np.abs(np.einsum("ijij->", np.asarray(tensor)))))
    charges, dims = [], []
    for n in range(1, steps + 1):
        k = np.arange(n + 1, total + 1)
        free_energy = np.sum(0.5 ** (k - n) * log_norms[k]) + 0.5 ** (total - n) * log_trace  # ln Z per tensor
        aspect = 2.0 if (method == "hotrg" and n % 2) else 1.0  # width / height of the region of one tensor
        mat = np.asarray(_two_by_one_transfer_matrix(jnp.asarray(tensors[n]))) * np.exp(-2.0 * free_energy)
        lam = np.abs(np.linalg.eigvals(mat))
        lam = np.sort(lam)[::-1]
        with np.errstate(divide="ignore"):
            x = aspect * np.log(lam[0] / lam[1:num + 1]) / np.pi
        if x.shape[0] < num:
            x = np.concatenate([x, np.full(num - x.shape[0], np.inf)])
        charges.append(12.0 * aspect * np.log(lam[0]) / np.pi)
        dims.append(x)
    charges, dims = np.asarray(charges), np.asarray(dims)
    # stationarity: largest deviation of (c, x_1, x_2) at the steps n-2 .. n+2 from the values at n (a window of
    # two periods: TRG turns the lattice by 45 degrees per step, HOTRG alternates the aspect ratio)
    data = np.concatenate([charges[:, None], dims[:, :2]], axis=1)
    stat = np.full(steps, np.inf)
    for i in range(2, steps - 2):  # step i + 1; step 1 (bond dimension still growing) never qualifies
        stat[i] = np.max(np.abs(data[i - 2:i + 3] - data[i]))
    plateau = int(np.argmin(stat)) if np.isfinite(stat).any() else steps - 1
    return ScalingSpectrum(step=np.arange(1, steps + 1), central_charge=charges, scaling_dimensions=dims,
                           stationarity=stat, plateau=plateau)


# --------------------------------------------------------------------------------------------------------------
# the heat-capacity peak: third derivative by nested forward mode


def _heat_capacity_and_slope_one(T, chi, steps, method, broadening):
    K = 1.0 / T

    def g(k):
        return _log_partition(k, jnp.zeros_like(k), chi, steps, method, broadening)

    def derivative(f):
        return lambda k: jax.jvp(f, (k,), (jnp.ones_like(k),))[1]

    g2 = derivative(derivative(g))
    # forward over forward over forward: every level re-enters the regularised SVD rule (finite at degeneracies);
    # forward-over-reverse gave NaN through lax.scan here, pure forward mode does not
    g2_k, g3_k = jax.jvp(g2, (K,), (jnp.ones_like(K),))
    heat_capacity = K * K * g2_k
    slope_k = 2.0 * K * g2_k + K * K * g3_k  # dC/dK
    return heat_capacity, -K * K * slope_k  # dC/dT = -K^2 dC/dK


_heat_capacity_and_slope_batch = _over_temperatures(_heat_capacity_and_slope_one, (1, 2, 3, 4))


def trg_heat_capacity_and_slope(T, *, chi: int, steps: int | None = None, method: str = "trg",
                                broadening: float = DEFAULT_BROADENING) -> tuple[Array, Array]:
    """Heat capacity per site ``C = K^2 d^2(ln Z/N)/dK^2`` and its temperature derivative ``dC/dT`` (h = 0).

    Both by automatic differentiation of the TRG/HOTRG ln Z / N: the second and third K-derivatives come from
    nested forward mode (``jax.jvp`` three times), each level through the regularised SVD rule, so ``dC/dT``
    stays finite at and near T_c; ``dC/dT`` is what gradient ascent on the (finite-chi) heat-capacity peak needs
    (:func:`trg_heat_capacity_peak`). Costs about 8 forward evaluations.

    Args:
        T: temperature(s) in units of J, scalar or 1D array, finite and > 0 (mapped, one compile).
        chi: bond dimension >= 2 (static).
        steps: coarse-graining steps (None: 32; the network is the torus of 2^steps sites).
        method: ``"trg"`` or ``"hotrg"``.
        broadening: relative Lorentzian width of the SVD derivative, in [0, 1e-3].

    Returns:
        ``(C, dC/dT)``, each of the shape of ``T``.
    """
    temps = _temperatures(T)
    chi, steps, method = _check_chi(chi), _check_steps(steps), _check_method(method)
    broadening = _check_broadening(broadening)
    _warn_if_float32()
    c, dc = _heat_capacity_and_slope_batch(jnp.asarray(temps.reshape(-1)), chi, steps, method, broadening)
    return c.reshape(temps.shape), dc.reshape(temps.shape)


class HeatCapacityPeak(NamedTuple):
    """Result of :func:`trg_heat_capacity_peak`.

    Attributes:
        temperature: temperature of the heat-capacity maximum found (units of J), float.
        heat_capacity: C per site there, float.
        slope: dC/dT there (close to 0 at convergence), float.
        converged: whether the step size fell below ``tol`` within ``max_iterations``.
        history: ``(iterations, 3)`` array of ``(T, C, dC/dT)`` at every iterate.
    """

    temperature: float
    heat_capacity: float
    slope: float
    converged: bool
    history: np.ndarray


def trg_heat_capacity_peak(*, chi: int, steps: int | None = None, method: str = "trg", T_init: float = 2.4,
                           step_size: float = 0.02, tol: float = 1e-4, max_iterations: int = 60,
                           broadening: float = DEFAULT_BROADENING) -> HeatCapacityPeak:
    """Locate the maximum of the TRG/HOTRG heat capacity C(T) by gradient ascent on the autodiff ``dC/dT``.

    Sign-gradient ascent with step halving (Rprop): ``T <- T + step * sign(dC/dT)``, the step halved each time
    the sign of ``dC/dT`` flips (the maximum was stepped over), until it is below ``tol``. The step is set by the
    sign only because C is sharply peaked (``|d^2C/dT^2|`` grows like chi at T_c), so no fixed learning rate
    suits both the flanks and the top. ``dC/dT`` is exact autodiff of the network (third K-derivative by nested
    forward mode, :func:`trg_heat_capacity_and_slope`). At finite chi and ``2^steps`` sites the peak sits above
    T_c by the finite-chi (and finite-size) offset; it moves to T_c as chi and steps grow.

    Args:
        chi: bond dimension >= 2 (static).
        steps: coarse-graining steps (None: 32).
        method: ``"trg"`` or ``"hotrg"``.
        T_init: starting temperature (units of J), > 0.
        step_size: initial step in T, > 0.
        tol: stop when the step falls below this, > 0.
        max_iterations: evaluations of (C, dC/dT) at most, >= 1.
        broadening: relative Lorentzian width of the SVD derivative, in [0, 1e-3].

    Returns:
        :class:`HeatCapacityPeak`.
    """
    chi, steps, method = _check_chi(chi), _check_steps(steps), _check_method(method)
    broadening = _check_broadening(broadening)
    T = _finite_scalar(T_init, "T_init")
    step = _finite_scalar(step_size, "step_size")
    tol = _finite_scalar(tol, "tol")
    if T <= 0 or step <= 0 or tol <= 0:
        raise ValueError(f"T_init, step_size and tol must be > 0, got {T_init!r}, {step_size!r}, {tol!r}")
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, (int, np.integer)) or max_iterations < 1:
        raise ValueError(f"max_iterations must be an integer >= 1, got {max_iterations!r}")
    _warn_if_float32()
    history, previous_sign, converged, seen = [], 0.0, False, {}
    for _ in range(int(max_iterations)):
        if T not in seen:  # the iterates revisit temperatures while they bracket the top
            c, dc = _heat_capacity_and_slope_batch(jnp.asarray([T]), chi, steps, method, broadening)
            seen[T] = (float(c[0]), float(dc[0]))
        c, dc = seen[T]
        if not (np.isfinite(c) and np.isfinite(dc)):
            raise FloatingPointError(f"non-finite heat capacity or slope at T = {T}: C = {c}, dC/dT = {dc}")
        history.append((T, c, dc))
        sign = float(np.sign(dc))
        if sign == 0.0:
            converged = True
            break
        if previous_sign and sign != previous_sign:
            step *= 0.5
            if step < tol:
                converged = True
                break
        previous_sign = sign
        T = T + step * sign
        if T <= 0:
            raise FloatingPointError("gradient ascent left T > 0; start closer to the peak (T_init)")
    hist = np.asarray(history)
    best = int(np.argmax(hist[:, 1]))  # the highest C evaluated (the last iterates bracket the top within tol)
    return HeatCapacityPeak(temperature=float(hist[best, 0]), heat_capacity=float(hist[best, 1]),
                            slope=float(hist[best, 2]), converged=converged, history=hist)
