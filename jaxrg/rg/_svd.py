"""Singular value decomposition with a derivative that stays finite for degenerate singular values.

The textbook SVD derivative contains ``F_ij = 1 / (s_j^2 - s_i^2)``, which diverges when two singular values
coincide, as they do in tensor-network RG (symmetry-related pairs, and the many exact zeros of a low-rank tensor).
Following Liao, Liu, Wang and Xiang, PRX 9, 031041 (2019), ``F`` is split into ``1/(s_j - s_i)`` (acting on the
symmetric part of the projected perturbation) and ``1/(s_j + s_i)`` (antisymmetric part), and each ``1/x`` is
replaced by the Lorentzian-broadened ``x / (x^2 + delta^2)``, ``delta = broadening * s_max``, so that the rule does
not depend on the scale of the matrix. For perturbations that keep a degeneracy (the usual case: degeneracies
protected by a symmetry of the model, and derivatives in the couplings of that model) the result is exact up to
O(delta); a perturbation that splits an exact degeneracy has no derivative of ``u`` and ``v`` at all, and the
broadened rule then drops the splitting part. The rule is a ``custom_jvp``: it serves forward and reverse mode
(``jax.grad``) and any order of differentiation (the rule calls the function itself, so second derivatives see the
same regularisation).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import Array

__all__ = ["regularized_svd", "regularized_eigh", "regularized_sqrt", "regularized_power", "DEFAULT_BROADENING"]

#: Relative Lorentzian width ``delta / s_max`` used by the TRG code (near-degenerate pairs closer than this,
#: relative to the largest singular value, stop contributing to the derivative). 1e-12 lets round-off in nearly
#: degenerate small singular values blow up through 30 TRG steps; 1e-10 .. 1e-6 give the same energies.
DEFAULT_BROADENING = 1e-8


def _lorentzian_inverse(x: Array, delta: Array) -> Array:
    return x / (x * x + delta * delta)


@partial(jax.custom_jvp, nondiff_argnums=(1,))
def regularized_svd(a: Array, broadening: float = DEFAULT_BROADENING) -> tuple[Array, Array, Array]:
    """Thin SVD ``a = u @ diag(s) @ vt`` of a real matrix with a Lorentzian-regularised derivative.

    Args:
        a: real matrix, shape ``(m, n)``.
        broadening: relative Lorentzian width (static float); ``0`` gives the unregularised rule.

    Returns:
        ``(u, s, vt)`` with shapes ``(m, k)``, ``(k,)``, ``(k, n)``, ``k = min(m, n)``, ``s`` descending.
    """
    return _thin_svd(a)


#: On XLA:CPU, matrices with ``min(m, n)`` up to this size are decomposed by the QR algorithm (see
#: :func:`_thin_svd`).
CPU_QR_MAX_SIZE = 200


def _thin_svd(a: Array) -> tuple[Array, Array, Array]:
    """Thin SVD; on XLA:CPU by the QR algorithm (LAPACK gesvd) for small matrices, by divide and conquer (gesdd,
    the default) for large ones.

    For small matrices gesdd has a median latency of 50..400 ms on a loaded 2-core host (64 x 64; minimum 0.5 ms),
    which made a chi = 8 HOTRG step cost 0.19 s; gesvd takes ~1 ms there. Its cost grows much faster, though
    (measured on an idle host, square matrices, gesvd / gesdd: 144: 8.8 / 3.3 ms, 256: 74 / 12 ms, 576: 556 / 78 ms),
    so above ``CPU_QR_MAX_SIZE`` (TRG and HOTRG at chi >= 15) gesdd is used. Accelerators keep their default.
    """
    if jax.default_backend() == "cpu" and min(a.shape) <= CPU_QR_MAX_SIZE:
        return jax.lax.linalg.svd(a, full_matrices=False, algorithm=jax.lax.linalg.SvdAlgorithm.QR)
    u, s, vt = jnp.linalg.svd(a, full_matrices=False)  # a plain tuple, as the derivative rule returns
    return u, s, vt


@regularized_svd.defjvp
def _regularized_svd_jvp(broadening, primals, tangents):
    (a,), (da,) = primals, tangents
    u, s, vt = regularized_svd(a, broadening)  # differentiable again: higher orders use this same rule
    v = vt.T
    smax = jnp.maximum(s[0], jnp.finfo(s.dtype).tiny)
    delta = broadening * smax
    dp = u.T @ da @ v  # (k, k): projected perturbation
    ds = jnp.diagonal(dp)
    sym, anti = 0.5 * (dp + dp.T), 0.5 * (dp - dp.T)
    off = ~jnp.eye(s.shape[0], dtype=bool)
    # 1/(s_j^2 - s_i^2) split as 1/(2(s_j - s_i)) + 1/(2(s_j + s_i)) (Liao et al.): only the first part diverges
    # at a degeneracy, and it multiplies the symmetric part of dp, which a degeneracy-preserving perturbation
    # leaves proportional to the identity on the degenerate block; both are Lorentzian-broadened.
    f_diff = jnp.where(off, _lorentzian_inverse(s[None, :] - s[:, None], delta), 0.0)
    g_sum = jnp.where(off, _lorentzian_inverse(s[None, :] + s[:, None], delta), 0.0)
    du = u @ (sym * f_diff + anti * g_sum)
    dv = v @ (sym * f_diff - anti * g_sum)
    m, n = a.shape
    # components outside the span of u (m > n) or v (n > m), with 1/s regularised the same way
    s_inv = _lorentzian_inverse(s, delta)
    if m > n:
        dav = da @ v
        du = du + (dav - u @ (u.T @ dav)) * s_inv[None, :]
    if n > m:
        dau = da.T @ u
        dv = dv + (dau - v @ (v.T @ dau)) * s_inv[None, :]
    return (u, s, vt), (du, ds, dv.T)


@partial(jax.custom_jvp, nondiff_argnums=(1,))
def regularized_eigh(a: Array, broadening: float = DEFAULT_BROADENING) -> tuple[Array, Array]:
    """Eigendecomposition ``a = v @ diag(w) @ v.T`` of a real symmetric matrix, eigenvalues descending, with the
    derivative ``1 / (w_j - w_i)`` Lorentzian-broadened as in :func:`regularized_svd` (``delta = broadening *
    max |w|``), so degenerate eigenvalues (e.g. the exact zeros of a Gram matrix of low rank) give finite tangents.

    For a positive semi-definite Gram matrix ``a = m @ m.T`` this gives the left singular vectors of ``m`` and
    ``w = s^2`` several times faster than an SVD of ``m`` (singular values below ~1e-8 s_max lose their relative
    accuracy, as in any squared formulation).

    Args:
        a: real symmetric matrix, shape ``(n, n)``.
        broadening: relative Lorentzian width (static float).

    Returns:
        ``(w, v)``: eigenvalues, shape ``(n,)``, descending; eigenvectors as columns, shape ``(n, n)``.
    """
    w, v = jnp.linalg.eigh(a)
    return w[::-1], v[:, ::-1]


@regularized_eigh.defjvp
def _regularized_eigh_jvp(broadening, primals, tangents):
    (a,), (da,) = primals, tangents
    w, v = regularized_eigh(a, broadening)
    delta = broadening * jnp.maximum(jnp.max(jnp.abs(w)), jnp.finfo(w.dtype).tiny)
    dp = v.T @ (0.5 * (da + da.T)) @ v
    off = ~jnp.eye(w.shape[0], dtype=bool)
    f = jnp.where(off, _lorentzian_inverse(w[None, :] - w[:, None], delta), 0.0)
    return (w, v), (jnp.diagonal(dp), v @ (dp * f))


@partial(jax.custom_jvp, nondiff_argnums=(1,))
def regularized_sqrt(s: Array, broadening: float = 1e-12) -> Array:
    """Square root of non-negative singular values whose derivative stays finite at ``s = 0``.

    The derivative ``1 / (2 sqrt s)`` is replaced by ``sqrt(s) / (2 (s + delta))`` with
    ``delta = broadening * max(s)``; it differs from the exact one only for ``s`` within ``delta`` of zero.

    Args:
        s: non-negative values, shape ``(k,)``.
        broadening: relative width (static float).

    Returns:
        ``sqrt(max(s, 0))``, shape ``(k,)``.
    """
    return jnp.sqrt(jnp.maximum(s, 0.0))


@regularized_sqrt.defjvp
def _regularized_sqrt_jvp(broadening, primals, tangents):
    (s,), (ds,) = primals, tangents
    r = regularized_sqrt(s, broadening)
    delta = broadening * jnp.maximum(jnp.max(s), jnp.finfo(s.dtype).tiny)
    return r, 0.5 * ds * r / (jnp.maximum(s, 0.0) + delta)


@partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def regularized_power(s: Array, exponent: float, broadening: float = 1e-12) -> Array:
    """Power ``s**exponent`` of non-negative singular values with a derivative that stays finite near ``s = 0``.

    With ``delta = broadening * max(s)``: for ``exponent > 0`` the value is ``max(s, 0)**exponent``; for
    ``exponent <= 0`` values ``s <= delta`` map to 0 (the pseudo-inverse convention: a discarded or exactly zero
    singular value carries no weight). The derivative ``exponent s**(exponent - 1)`` is replaced by
    ``exponent s**exponent / (s + delta)``, exact for ``s >> delta``.

    Args:
        s: non-negative values, shape ``(k,)``.
        exponent: the power (static float).
        broadening: relative width (static float).

    Returns:
        the powers, shape ``(k,)``.
    """
    s = jnp.maximum(s, 0.0)
    if exponent > 0:
        return s**exponent
    keep = s > broadening * jnp.maximum(jnp.max(s), jnp.finfo(s.dtype).tiny)
    return jnp.where(keep, jnp.where(keep, s, 1.0) ** exponent, 0.0)


@regularized_power.defjvp
def _regularized_power_jvp(exponent, broadening, primals, tangents):
    (s,), (ds,) = primals, tangents
    r = regularized_power(s, exponent, broadening)
    delta = broadening * jnp.maximum(jnp.max(s), jnp.finfo(s.dtype).tiny)
    return r, exponent * ds * r / (jnp.maximum(s, 0.0) + delta)
