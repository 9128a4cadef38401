"""The Ising tensor network and one coarse-graining step of each scheme: TRG, HOTRG, bond-weighted TRG.

Each site carries ``T[l, u, r, d] = sum_s exp(h s) W[s, l] W[s, u] W[s, r] W[s, d]`` with
``W = [[sqrt cosh K, sqrt sinh K], [sqrt cosh K, -sqrt sinh K]]`` (so ``sum_a W[s, a] W[s', a] = exp(K s s')``);
legs are ordered (left, up, right, down), ``r`` of a tensor contracts with ``l`` of its right neighbour and ``d``
with ``u`` of the one below. Every bond may carry a diagonal *bond weight*: ``weights[0]`` on the horizontal
(l-r) bonds and ``weights[1]`` on the vertical (u-d) bonds, shape ``(2, D)``; TRG and HOTRG keep them equal to one.
One step halves the number of tensors:

- TRG (Levin and Nave, PRL 99, 120601 (2007)): each tensor is split along its two diagonals by truncated SVDs
  (``chi`` kept singular values, shared as ``sqrt(s)`` between the halves) and four halves around a plaquette are
  contracted into the new tensor; the lattice turns by 45 degrees. Cost O(chi^6) per step.
- BTRG (Adachi, Okubo and Todo, PRB 105, L060402 (2022)): the same splits of the bare tensor, but the halves get
  ``s^((1 - k)/2)`` and the new bond gets the weight ``s^k``; the plaquette contraction includes the old bond
  weights. ``k = 0`` is TRG; the paper's optimum is ``k = -1/2``. Same cost as TRG, more accurate than HOTRG.
- HOTRG (Xie et al., PRB 86, 045139 (2012)): two neighbouring tensors are merged along one axis and the doubled
  legs are truncated to ``chi`` by the isometry from the higher-order SVD (eigenvectors of the Gram matrix of the
  doubled leg, left or right side, whichever discards less weight), then the tensor is turned by 90 degrees.
  Cost O(chi^7) per step, memory O(chi^5).

A scheme is a small frozen dataclass (hashable: a static argument of the jitted functions), so parameters such as
the BTRG exponent are part of the compiled configuration; names in :data:`jaxrg.rg.trg.METHODS` map to defaults.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
from jax import Array

from jaxrg.rg._svd import DEFAULT_BROADENING, regularized_power, regularized_sqrt, regularized_svd

__all__ = [
    "DEFAULT_STEPS",
    "Scheme",
    "TRG",
    "HOTRG",
    "BTRG",
    "ising_site_tensor",
    "trg_step",
    "btrg_step",
    "hotrg_step",
    "hotrg_gram",
    "hotrg_merge",
    "network_trace",
]

#: Default number of coarse-graining steps: a torus of 2^32 sites, finite-size term < 1e-9 in ln Z / N.
DEFAULT_STEPS = 32

#: Relative width in the derivative of powers of singular values at s -> 0 (:func:`regularized_power`), and the
#: relative size below which a singular value gets no (negative-power) bond weight.
_SQRT_BROADENING = 1e-12


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


# --------------------------------------------------------------------------------------------------------------
# TRG and BTRG


def _split(matrix: Array, chi: int, broadening: float) -> tuple[Array, Array]:
    """Truncated SVD split ``matrix ~ left @ right`` with sqrt(s) on each side (Levin-Nave); rank min(chi, k)."""
    u, s, vt = regularized_svd(matrix, broadening)
    keep = min(chi, s.shape[0])
    root = regularized_sqrt(s[:keep], _SQRT_BROADENING)
    return u[:, :keep] * root[None, :], root[:, None] * vt[:keep, :]


def _weighted_split(matrix: Array, chi: int, k: float, broadening: float) -> tuple[Array, Array, Array]:
    """BTRG split ``matrix ~ left @ diag(weight) @ right``: ``s^((1-k)/2)`` on each side, ``s^k`` on the bond."""
    u, s, vt = regularized_svd(matrix, broadening)
    keep = min(chi, s.shape[0])
    s = s[:keep]
    side = regularized_power(s, 0.5 * (1.0 - k), _SQRT_BROADENING)
    return u[:, :keep] * side[None, :], side[:, None] * vt[:keep, :], regularized_power(s, k, _SQRT_BROADENING)


def _diagonal_splits(tensor: Array, split) -> tuple[tuple, tuple]:
    """Both diagonal splits of ``T[l, u, r, d]``: ``(l, u) | (r, d)`` and ``(u, r) | (d, l)``, legs unfolded."""
    d_l, d_u, d_r, d_d = tensor.shape
    a_left, a_right, *a_rest = split(tensor.reshape(d_l * d_u, d_r * d_d))
    b_left, b_right, *b_rest = split(jnp.transpose(tensor, (1, 2, 3, 0)).reshape(d_u * d_r, d_d * d_l))
    s1, s3 = a_left.reshape(d_l, d_u, -1), a_right.reshape(-1, d_r, d_d)  # s1[l, u, a] s3[a, r, d]
    s2, s4 = b_left.reshape(d_u, d_r, -1), b_right.reshape(-1, d_d, d_l)  # s2[u, r, b] s4[b, d, l]
    return (s1, s2, s3, s4), (*a_rest, *b_rest)


def _plaquette(s1: Array, s2: Array, s3: Array, s4: Array) -> Array:
    """Contract four halves around a plaquette: TL gives s3 (r=x, d=w), TR s4 (d=y, l=x), BR s1 (l=z, u=y),
    BL s2 (u=w, r=z); new legs (l', u', r', d') = (a of s3, b of s4, a of s1, b of s2)."""
    upper = jnp.einsum("pxw,qyx->pwqy", s3, s4)  # [l', w, u', y]   O(chi^5)
    lower = jnp.einsum("zyr,wzd->rydw", s1, s2)  # [r', y, d', w]   O(chi^5)
    return jnp.einsum("pwqy,rydw->pqrd", upper, lower)  # O(chi^6)


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
    halves, _ = _diagonal_splits(tensor, lambda m: _split(m, chi, broadening))
    return _plaquette(*halves)


def btrg_step(tensor: Array, weights: Array, chi: int, k: float = -0.5,
              broadening: float = DEFAULT_BROADENING) -> tuple[Array, Array]:
    """One bond-weighted TRG step (Adachi, Okubo and Todo 2022): TRG splits with bond weights ``s^k``.

    Args:
        tensor: ``T[l, u, r, d]``, all legs of dimension ``D``.
        weights: bond weights ``(horizontal, vertical)`` of the current network, shape ``(2, D)``.
        chi: bond dimension kept (static).
        k: bond-weight exponent (static); 0 is TRG, -1/2 the optimum.
        broadening: relative Lorentzian width of the SVD derivative (static).

    Returns:
        ``(T', weights')``: the coarse tensor (not normalised), legs as :func:`trg_step`, bond dimension
        ``min(chi, D^2)``, and its bond weights, shape ``(2, min(chi, D^2))``.
    """
    halves, (w_a, w_b) = _diagonal_splits(tensor, lambda m: _weighted_split(m, chi, k, broadening))
    s1, s2, s3, s4 = halves
    horizontal, vertical = weights[0], weights[1]
    # the old bonds inside the plaquette: x (TL-TR) and z (BL-BR) horizontal, w (TL-BL) and y (TR-BR) vertical
    s3 = s3 * horizontal[None, :, None] * vertical[None, None, :]
    s1 = s1 * horizontal[:, None, None] * vertical[None, :, None]
    # new legs l', r' are a-bonds (first split), u', d' are b-bonds (second split)
    return _plaquette(s1, s2, s3, s4), jnp.stack([w_a, w_b])


# --------------------------------------------------------------------------------------------------------------
# HOTRG


def hotrg_gram(tensor: Array) -> Array:
    """Gram matrix of the doubled left leg of ``T`` (above) ``T`` (below): ``G[(l1 l2), (l1' l2')]``, shape
    ``(D^2, D^2)``, symmetric positive semi-definite. Cost O(D^6)."""
    t = tensor
    top = jnp.einsum("iurm,jurn->imjn", t, t)  # [l1, m, l1', m']
    bottom = jnp.einsum("imrd,jnrd->imjn", t, t)  # [l2, m, l2', m']
    g = jnp.einsum("imjn,kmln->ikjl", top, bottom)  # [l1, l2, l1', l2']  O(chi^6)
    d = t.shape[0]
    return g.reshape(d * d, d * d)


def _hotrg_isometry(tensor: Array, chi: int, broadening: float) -> Array:
    """Isometry ``(D_l * D_l, chi')`` truncating the doubled horizontal leg of two vertically stacked tensors."""
    g_left = hotrg_gram(tensor)
    g_right = hotrg_gram(jnp.transpose(tensor, (2, 1, 0, 3)))
    u_left, w_left, _ = regularized_svd(g_left, broadening)
    u_right, w_right, _ = regularized_svd(g_right, broadening)
    keep = min(chi, w_left.shape[0])
    if keep == w_left.shape[0]:
        return u_left  # no truncation: any complete basis is exact
    # Xie et al.: use the side whose discarded weight is smaller (equal for reflection-symmetric tensors)
    discarded_left = jnp.sum(w_left[keep:]) / jnp.sum(w_left)
    discarded_right = jnp.sum(w_right[keep:]) / jnp.sum(w_right)
    return jnp.where(discarded_left <= discarded_right, u_left[:, :keep], u_right[:, :keep])


def hotrg_merge(tensor: Array, iso: Array) -> Array:
    """Two vertically stacked tensors with both doubled horizontal legs projected by ``iso``.

    Args:
        tensor: ``T[l, u, r, d]``, shape ``(D1, D2, D1, D2)``.
        iso: ``iso[(l_top l_bottom), L]``, shape ``(D1 * D1, D1')``.

    Returns:
        ``M[L, u, R, d]`` (``u`` of the upper tensor, ``d`` of the lower one), shape ``(D1', D2, D1', D2)``, not
        turned. Cost O(D^7), memory O(D^5).
    """
    d1 = tensor.shape[0]
    iso = iso.reshape(d1, d1, -1)  # [l1, l2, L]
    x = jnp.einsum("abL,aurm->bLurm", iso, tensor)  # O(chi^6), memory chi^5
    y = jnp.einsum("bLurm,bmsd->Lursd", x, tensor)  # O(chi^7), memory chi^5
    return jnp.einsum("Lursd,rsR->LuRd", y, iso)  # O(chi^6)


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
    merged = hotrg_merge(tensor, _hotrg_isometry(tensor, chi, broadening))
    # turn by 90 degrees: new (l, u, r, d) = old (u, R, d, L); pairs (l, r) and (u, d) stay pairs
    return jnp.transpose(merged, (1, 2, 3, 0))


# --------------------------------------------------------------------------------------------------------------
# schemes: one step of the network (tensor, bond weights) -> (tensor, bond weights)


class Scheme:
    """Base of the coarse-graining schemes (frozen dataclasses, hashable, static under jit)."""

    name: ClassVar[str] = ""

    def step(self, tensor: Array, weights: Array, chi: int, broadening: float) -> tuple[Array, Array]:
        """One coarse-graining step of the network ``(tensor, weights)``, not normalised."""
        raise NotImplementedError

    def aspect(self, step: int) -> float:
        """Width / height of the region one tensor covers after ``step`` steps (1 for schemes on TRG)."""
        return 1.0

    def validate(self) -> None:
        """Raise ValueError for parameters out of range."""


@dataclasses.dataclass(frozen=True)
class TRG(Scheme):
    """Levin-Nave TRG."""

    name: ClassVar[str] = "trg"

    def step(self, tensor, weights, chi, broadening):
        return trg_step(tensor, chi, broadening), weights


@dataclasses.dataclass(frozen=True)
class HOTRG(Scheme):
    """Higher-order TRG (merges along alternating axes)."""

    name: ClassVar[str] = "hotrg"

    def step(self, tensor, weights, chi, broadening):
        return hotrg_step(tensor, chi, broadening), weights

    def aspect(self, step):
        return 2.0 if step % 2 else 1.0


@dataclasses.dataclass(frozen=True)
class BTRG(Scheme):
    """Bond-weighted TRG with bond-weight exponent ``k`` (default: the optimum -1/2 of Adachi et al.)."""

    k: float = -0.5
    name: ClassVar[str] = "btrg"

    def step(self, tensor, weights, chi, broadening):
        return btrg_step(tensor, weights, chi, self.k, broadening)

    def validate(self):
        if not (isinstance(self.k, (int, float)) and -1.0 <= float(self.k) <= 1.0):
            raise ValueError(f"BTRG bond-weight exponent k must be a float in [-1, 1], got {self.k!r}")


def normalise(tensor: Array) -> tuple[Array, Array]:
    """``(T / |T|, ln |T|)`` with the Frobenius norm."""
    norm = jnp.sqrt(jnp.sum(tensor * tensor))
    return tensor / norm, jnp.log(norm)


def padded_site_tensor(K: Array, h: Array, chi: int) -> Array:
    """The site tensor with every leg zero-padded to ``chi``: the network and all its truncations are unchanged
    (the padding only adds exactly zero singular values), and every step then has the same shapes."""
    tensor = ising_site_tensor(K, h)
    return jnp.pad(tensor, [(0, max(chi - 2, 0))] * 4)


def network_trace(tensor: Array, weights: Array) -> Array:
    """Trace of one tensor on the 1x1 torus with its bond weights: ``sum_ij T[i, j, i, j] w_h[i] w_v[j]``."""
    return jnp.einsum("ijij,i,j->", tensor, weights[0], weights[1])


def absorb_weights(tensor: Array, weights: Array) -> Array:
    """The plain tensor of the same network: the square root of each bond weight absorbed into both of its legs."""
    root_h = regularized_power(weights[0], 0.5, _SQRT_BROADENING)
    root_v = regularized_power(weights[1], 0.5, _SQRT_BROADENING)
    return jnp.einsum("lurd,l,u,r,d->lurd", tensor, root_h, root_v, root_h, root_v)


def coarse_grain_network(K: Array, h: Array, chi: int, steps: int, scheme: Scheme,
                         broadening: float) -> tuple[Array, Array, Array]:
    """``(log_norms, tensor, weights)`` after ``steps`` normalised steps of ``scheme`` (one ``lax.scan``)."""
    tensor, log_norm = normalise(padded_site_tensor(K, h, chi))
    weights = jnp.ones((2, tensor.shape[0]), tensor.dtype)
    if steps == 0:
        return log_norm[None], tensor, weights

    @jax.checkpoint  # reverse mode stores one tensor per step and recomputes the rest (HOTRG: chi^5 per step)
    def body(carry, _):
        t, w = scheme.step(*carry, chi, broadening)
        t, ln = normalise(t)
        return (t, w), ln

    (tensor, weights), rest = jax.lax.scan(body, (tensor, weights), None, length=steps)
    return jnp.concatenate([log_norm[None], rest]), tensor, weights
