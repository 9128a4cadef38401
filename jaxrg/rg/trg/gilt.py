"""Graph-independent local truncations (Gilt) before every TRG step: Gilt-TNR on a translation-invariant lattice.

Hauru, Delcamp and Mizera, PRB 97, 045111 (2018). Short-range (corner double-line) correlations survive plain TRG
for ever; Gilt removes them. For a bond of a plaquette of four tensors, the rest of the plaquette is its
*environment* ``E[(a b), i] = U[(a b), i] S_i`` (an SVD: ``a``, ``b`` the two ends of the cut bond). A matrix ``Q``
on the bond that leaves the plaquette unchanged obeys ``sum_ab U[ab, i] Q[a, b] = t_i = sum_a U[aa, i]`` for the
directions ``i`` that matter (large ``S_i``); Gilt chooses ``Q[a, b] = sum_i t'_i U[ab, i]`` with
``t'_i = t_i S_i^2 / (S_i^2 + epsilon^2)`` (``S`` normalised to sum 1), i.e. it drops the loop directions the
environment does not see. ``Q = R1 R2`` by an SVD; ``R1`` goes into the left tensor, ``R2`` into the right one.
Applied again to the truncated environment until ``Q`` stops changing (its singular values within 1e-2 of one),
as in the authors' code. Because every tensor of the lattice is the same, one ``Q`` serves all horizontal bonds
(``R1`` on the r legs, ``R2`` on the l legs) and one more all vertical bonds, and the lattice stays
translation invariant with a single tensor. Shapes stay fixed (nothing is cut away here): the directions Gilt
suppresses get small singular values and the next TRG truncation drops them. The environment spectra come from an
eigendecomposition of the Gram matrix ``E E^T`` (as in the authors' code), several times cheaper than an SVD.

At finite ``chi`` and ``epsilon`` the flow holds the critical fixed point only at the scheme's own pseudo-critical
coupling (:func:`jaxrg.rg.trg.pseudo_critical_coupling`); at chi = 12, epsilon = 1e-4 it then stays for 20 steps.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
from jax import Array

from jaxrg.rg._svd import DEFAULT_BROADENING, regularized_eigh, regularized_power, regularized_svd
from jaxrg.rg.trg.network import Scheme, trg_step

__all__ = ["GiltTRG", "gilt_truncate", "gilt_trg_step"]

#: The inner Gilt iteration stops when every singular value of the last correction is within this of one.
_CONVERGENCE = 1e-2


def _horizontal_environment(tensor: Array) -> Array:
    """Environment of the top bond of a 2x2 plaquette: ``E[a, b, a', b']`` (a: TL side, b: TR side), shape
    ``(D, D, D, D)``, the plaquette contracted with itself over all its outer legs. Cost O(D^6)."""
    t = tensor
    c_tl = jnp.einsum("luxw,luXW->xwXW", t, t)  # outer legs of TL: l, u
    c_tr = jnp.einsum("xury,XurY->xyXY", t, t)  # outer legs of TR: u, r
    c_br = jnp.einsum("zyrd,ZYrd->zyZY", t, t)  # outer legs of BR: r, d
    c_bl = jnp.einsum("lwzd,lWZd->wzWZ", t, t)  # outer legs of BL: l, d
    lower = jnp.einsum("wzWZ,zyZY->wWyY", c_bl, c_br)
    left = jnp.einsum("awAW,wWyY->aAyY", c_tl, lower)
    return jnp.einsum("aAyY,byBY->abAB", left, c_tr)


def _gilt_matrix(u: Array, s: Array, epsilon: float) -> Array:
    """``Q[a, b] = sum_i t'_i u[a, b, i]``, ``t'_i = t_i s_i^2 / (s_i^2 + epsilon^2)``, ``t_i = sum_a u[a, a, i]``."""
    t = jnp.einsum("aai->i", u)
    return jnp.einsum("i,abi->ab", t * s * s / (s * s + epsilon * epsilon), u)


def _split_root(q: Array, broadening: float) -> tuple[Array, Array, Array]:
    """``q = r1 @ r2`` with ``sqrt(s)`` on each side; also the singular values ``s``."""
    uq, sq, vq = regularized_svd(q, broadening)
    root = regularized_power(sq, 0.5, 1e-12)
    return uq * root[None, :], root[:, None] * vq, sq


def _environment_spectrum(gram: Array, broadening: float) -> tuple[Array, Array]:
    """Singular vectors ``U[(a b), i]`` and values ``S_i`` (normalised to sum 1) of an environment from its Gram
    matrix ``E E^T`` (symmetric, positive semi-definite), by an eigendecomposition (as Hauru et al. do)."""
    w, u = regularized_eigh(gram, broadening)
    s = regularized_power(jnp.maximum(w, 0.0), 0.5, 1e-12)
    return u, s / jnp.sum(s)


def _horizontal_gilt(tensor: Array, epsilon: float, max_iterations: int, broadening: float) -> Array:
    """Gilt on every horizontal bond: ``T'[m, u, n, d] = sum R2[m, b] T[b, u, a, d] R1[a, n]``.

    The refinement works on the Gram matrix of the environment with the bond matrices inserted,
    ``(R1^T x R2) E E^T (R1 x R2^T)``, whose eigenvectors are the left singular vectors of the inner environment."""
    d = tensor.shape[0]
    env = _horizontal_environment(tensor)  # [a, b, a', b']
    u, s = _environment_spectrum(env.reshape(d * d, d * d), broadening)
    r1, r2, sq = _split_root(_gilt_matrix(u.reshape(d, d, -1), s, epsilon), broadening)

    def unfinished(state):
        _, _, sq, n = state
        return (n < max_iterations) & (jnp.max(jnp.abs(sq - 1.0) * (sq > 1e-3)) >= _CONVERGENCE)

    def refine(state):  # Gilt on the environment that already has the bond matrices in it
        r1, r2, _, n = state
        half = jnp.einsum("ABCD,Aa,bB->abCD", env, r1, r2)
        inner = jnp.einsum("abCD,Cc,dD->abcd", half, r1, r2).reshape(d * d, d * d)
        ui, si = _environment_spectrum(inner, broadening)
        c1, c2, sq = _split_root(_gilt_matrix(ui.reshape(d, d, -1), si, epsilon), broadening)
        return r1 @ c1, c2 @ r2, sq, n + 1

    r1, r2, _, _ = jax.lax.while_loop(unfinished, refine, (r1, r2, sq, jnp.asarray(0)))
    return jnp.einsum("mb,buad,an->mund", r2, tensor, r1)


def gilt_truncate(tensor: Array, epsilon: float = 1e-7, max_iterations: int = 20,
                  broadening: float = DEFAULT_BROADENING) -> Array:
    """Gilt on all horizontal and then all vertical bonds of a translation-invariant square lattice.

    Args:
        tensor: ``T[l, u, r, d]``, all legs of dimension ``D``.
        epsilon: Gilt threshold (static): environment directions with ``S_i << epsilon`` (``S`` summing to 1) are
            truncated; 0 truncates nothing.
        max_iterations: most refinements of each bond matrix (static; forward-mode differentiable loop).
        broadening: relative Lorentzian width of the SVD derivative (static).

    Returns:
        The tensor with its short-range loops removed, same shape.
    """
    tensor = _horizontal_gilt(tensor, epsilon, max_iterations, broadening)
    reflect = (1, 0, 3, 2)  # reflection on the diagonal: vertical bonds become horizontal ones
    return jnp.transpose(_horizontal_gilt(jnp.transpose(tensor, reflect), epsilon, max_iterations, broadening),
                         reflect)


def gilt_trg_step(tensor: Array, chi: int, epsilon: float = 1e-7, max_iterations: int = 20,
                  broadening: float = DEFAULT_BROADENING) -> Array:
    """One Gilt-TNR step: :func:`gilt_truncate`, then a TRG step (2 tensors -> 1, lattice turned by 45 degrees).

    Args:
        tensor: ``T[l, u, r, d]``, all legs of dimension ``D``.
        chi: bond dimension kept (static).
        epsilon: Gilt threshold (static).
        max_iterations: most refinements of each bond matrix (static).
        broadening: relative Lorentzian width of the SVD derivative (static).

    Returns:
        The coarse tensor (not normalised), as :func:`jaxrg.rg.trg.trg_step`.
    """
    return trg_step(gilt_truncate(tensor, epsilon, max_iterations, broadening), chi, broadening)


@dataclasses.dataclass(frozen=True)
class GiltTRG(Scheme):
    """Gilt-TNR on TRG with threshold ``epsilon`` (environment singular values normalised to sum 1)."""

    epsilon: float = 1e-7
    max_iterations: int = 20
    name: ClassVar[str] = "gilt-trg"

    def step(self, tensor, weights, chi, broadening):
        return gilt_trg_step(tensor, chi, self.epsilon, self.max_iterations, broadening), weights

    def validate(self):
        if not (isinstance(self.epsilon, (int, float)) and 0.0 <= float(self.epsilon) <= 1e-2):
            raise ValueError(f"Gilt epsilon must be a float in [0, 1e-2], got {self.epsilon!r}")
        if isinstance(self.max_iterations, bool) or not isinstance(self.max_iterations, int) or \
                self.max_iterations < 0:
            raise ValueError(f"Gilt max_iterations must be an integer >= 0, got {self.max_iterations!r}")
