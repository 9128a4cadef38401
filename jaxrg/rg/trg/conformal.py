"""Central charge and scaling dimensions from the coarse-grained tensor (Gu and Wen, PRB 80, 155131 (2009))."""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse.linalg as sla
from jax import Array

from jaxrg.rg._svd import DEFAULT_BROADENING
from jaxrg.rg.trg import _checks
from jaxrg.rg.trg.network import Scheme, absorb_weights, network_trace, normalise, padded_site_tensor

__all__ = ["ScalingSpectrum", "trg_scaling_dimensions", "critical_flow", "cylinder_eigenvalues", "spectrum_from_flow"]

#: Circumferences (in tensors) of the cylinder whose transfer matrix gives the conformal data.
CIRCUMFERENCES = (2, 4)


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


def two_by_one_transfer_matrix(tensor: Array) -> Array:
    """Transfer matrix of two tensors side by side, closed periodically: ``M[(u1 u2), (d1 d2)]``."""
    m = jnp.einsum("aubd,bvae->uvde", tensor, tensor)
    du = tensor.shape[1]
    return m.reshape(du * du, du * du)


#: Largest D^4 for which the four-tensor transfer matrix is built densely (D <= 6).
_DENSE_RING_SIZE = 1296


@jax.jit
def _ring_of_four(tensor: Array, vector: Array) -> Array:
    """Transfer matrix of four tensors side by side, closed periodically, applied to ``v[u1, u2, u3, u4]``
    (flattened, shape ``(D^4,)``). Cost O(D^6) (never builds the D^4 x D^4 matrix)."""
    d = tensor.shape[1]
    v = vector.reshape(d, d, d, d)
    x = jnp.einsum("aubd,uvwz->adbvwz", tensor, v)  # [a, d1, b, u2, u3, u4]
    x = jnp.einsum("adbvwz,bvce->adecwz", x, tensor)  # [a, d1, d2, c, u3, u4]
    x = jnp.einsum("adecwz,cwfg->adegfz", x, tensor)  # [a, d1, d2, d3, f, u4]
    return jnp.einsum("adegfz,fzah->degh", x, tensor).reshape(-1)


def cylinder_eigenvalues(tensor, circumference: int, num: int, start: np.ndarray | None = None,
                         ) -> tuple[np.ndarray, np.ndarray | None]:
    """Largest ``num`` eigenvalue magnitudes of the transfer matrix of ``circumference`` tensors side by side,
    closed periodically, descending.

    Circumference 2: the dense ``D^2 x D^2`` matrix, all eigenvalues (numpy). Circumference 4: implicitly restarted
    Arnoldi (ARPACK via scipy ``eigs``) on the jitted matrix-vector product (dense below D = 7). Both on the host
    on purpose (the non-symmetric eigensolvers of XLA are CPU-only, and no derivative is needed).

    Args:
        tensor: ``T[l, u, r, d]``, shape ``(D1, D2, D1, D2)``.
        circumference: 2 or 4.
        num: eigenvalues wanted (circumference 4: fewer than ``D2^4 - 1``).
        start: Arnoldi starting vector, shape ``(D2^4,)`` (e.g. the ``next_start`` of the previous RG step: the
            leading eigenvectors barely change on a plateau, and the iteration then converges in a few restarts).

    Returns:
        ``(magnitudes, next_start)``: shape ``(min(num, D2^circumference),)``; the sum of the real parts of the
        leading eigenvectors (Arnoldi only, else None).
    """
    if circumference == 2:
        mat = np.asarray(two_by_one_transfer_matrix(jnp.asarray(tensor)))
        return np.sort(np.abs(np.linalg.eigvals(mat)))[::-1][:num], None
    tensor = jnp.asarray(tensor)
    size = tensor.shape[1] ** 4
    if size <= _DENSE_RING_SIZE:  # small: the dense matrix, column by column
        mat = np.asarray(jax.vmap(lambda e: _ring_of_four(tensor, e))(jnp.eye(size, dtype=tensor.dtype))).T
        return np.sort(np.abs(np.linalg.eigvals(mat)))[::-1][:num], None
    operator = sla.LinearOperator((size, size), dtype=np.float64,
                                  matvec=lambda v: np.asarray(_ring_of_four(tensor, jnp.asarray(v.real))))
    values, vectors = sla.eigs(operator, k=num, which="LM", tol=1e-12, v0=start)
    return np.sort(np.abs(values))[::-1], np.sum(vectors.real, axis=1)


#: Extra coarse-graining steps after the last analysed one, used only to sum the free energy per tensor.
_SCALING_TAIL_STEPS = 20


@partial(jax.jit, static_argnames=("chi", "steps", "tail", "scheme"))
def critical_flow(K: Array, *, chi: int, steps: int, tail: int, scheme: Scheme) -> tuple[Array, Array, Array]:
    """The normalised tensors after steps ``1..steps`` and the bookkeeping to undo the normalisation.

    Args:
        K: coupling, scalar.
        chi: bond dimension (static; the site tensor is zero-padded to it).
        steps: steps whose tensors are returned (static).
        tail: further steps whose norms are summed (static).
        scheme: coarse-graining scheme (static).

    Returns:
        ``(tensors, log_norms, log_trace)``: tensors with bond weights absorbed, shape ``(steps, chi, chi, chi,
        chi)``; ``ln c_k`` for ``k = 0..steps + tail``; ``ln |Tr|`` of the last network.
    """
    tensor, log_norm = normalise(padded_site_tensor(K, 0.0, chi))
    weights = jnp.ones((2, chi), tensor.dtype)

    def body(carry, _):
        t, w = scheme.step(*carry, chi, DEFAULT_BROADENING)
        t, ln = normalise(t)
        return (t, w), (ln, absorb_weights(t, w))

    (tensor, weights), (head, tensors) = jax.lax.scan(body, (tensor, weights), None, length=steps)
    (tensor, weights), (rest, _) = jax.lax.scan(body, (tensor, weights), None, length=tail)
    log_norms = jnp.concatenate([log_norm[None], head, rest])
    return tensors, log_norms, jnp.log(jnp.abs(network_trace(tensor, weights)))


def trg_scaling_dimensions(K=None, *, chi: int, steps: int = 16, method: Scheme | str = "trg", num: int = 6,
                           circumference: int = 2) -> ScalingSpectrum:
    """Central charge and scaling dimensions from the coarse-grained tensor at (or near) the critical point.

    Gu and Wen, PRB 80, 155131 (2009). After step ``n`` the tensor ``T_n`` (Frobenius-normalised) is divided by
    ``exp(f_n)``, ``f_n = sum_{k>n} 2^{n-k} ln c_k`` (+ the closing trace term) the free energy per tensor of the
    coarse lattice, so that the normalised network has zero bulk free energy. Two such tensors side by side,
    closed periodically, give the transfer matrix of a cylinder of circumference ``L = 2 w`` and height ``v``
    (``w x v``: width and height of the region one tensor covers; ``w / v = 1`` for TRG-based schemes, and for
    HOTRG after even steps; ``w / v = 2`` for HOTRG after odd steps). For a CFT its eigenvalues are
    ``lambda_i = exp(-(2 pi v / L)(x_i - c / 12))``, so

        x_i = (w / v) ln(lambda_0 / lambda_i) / pi,       c = 12 (w / v) ln(lambda_0) / pi.

    ``circumference=4`` uses four tensors (``L = 4 w``, ``x_i = 2 (w / v) ln(lambda_0 / lambda_i) / pi``,
    ``c = 24 (w / v) ln(lambda_0) / pi``) by Arnoldi iteration: the finite-size corrections from irrelevant
    operators (``~ L^-2`` for the stress-tensor descendant T Tbar) are four times smaller, at a cost of
    O(chi^6) per matrix-vector product instead of one O(chi^6) dense eigenproblem.

    For TRG, BTRG and HOTRG lattice corrections dominate at small ``n`` and the truncation (a relevant perturbation
    at K_c) drives the tensor away from the critical fixed point at large ``n``; :attr:`ScalingSpectrum.estimate`
    takes the most stationary step in between. Gilt-TNR holds the fixed point over many steps. Eigenvalues in
    numpy (not differentiable); the flow is one compiled program per configuration.

    Args:
        K: coupling, finite and > 0; None for the critical coupling.
        chi: bond dimension >= 2 (static).
        steps: last RG step analysed, >= 1 (20 more steps are run to sum the free energy per tensor).
        method: a name in :data:`METHODS` or a scheme instance.
        num: number of scaling dimensions returned per step, >= 2.
        circumference: tensors around the cylinder, 2 (dense eigenvalues) or 4 (Arnoldi).

    Returns:
        :class:`ScalingSpectrum` (numpy arrays) over steps ``1..steps``.
    """
    K = _checks.coupling_or_critical(K)
    chi, steps, scheme = _checks.check_chi(chi), _checks.check_steps(steps, minimum=1), _checks.check_method(method)
    num = _checks.positive_int(num, "num", minimum=2)
    if circumference not in CIRCUMFERENCES:
        raise ValueError(f"circumference must be one of {CIRCUMFERENCES}, got {circumference!r}")
    _checks.warn_if_float32()
    tensors, log_norms, log_trace = critical_flow(jnp.asarray(K), chi=chi, steps=steps, tail=_SCALING_TAIL_STEPS,
                                                  scheme=scheme)
    return spectrum_from_flow(tensors, log_norms, log_trace, scheme=scheme, num=num, circumference=circumference)


def spectrum_from_flow(tensors, log_norms, log_trace, *, scheme: Scheme, num: int,
                       circumference: int = 2) -> ScalingSpectrum:
    """:class:`ScalingSpectrum` from the output of :func:`critical_flow` (see :func:`trg_scaling_dimensions`).

    Args:
        tensors, log_norms, log_trace: as returned by :func:`critical_flow` (any array type).
        scheme: the scheme that produced them.
        num: number of scaling dimensions per step.
        circumference: 2 or 4 tensors around the cylinder.

    Returns:
        :class:`ScalingSpectrum` over the steps of ``tensors``.
    """
    tensors, log_norms, log_trace = np.asarray(tensors), np.asarray(log_norms), float(log_trace)
    steps = tensors.shape[0]
    total = log_norms.shape[0] - 1
    charges, dims, start = [], [], None
    for n in range(1, steps + 1):
        k = np.arange(n + 1, total + 1)
        free_energy = np.sum(0.5 ** (k - n) * log_norms[k]) + 0.5 ** (total - n) * log_trace  # ln Z per tensor
        aspect = scheme.aspect(n)  # width / height of the region of one tensor
        # the tensor divided by exp(f_n): the cylinder's bulk free energy is zero
        lam, start = cylinder_eigenvalues(tensors[n - 1] * np.exp(-free_energy), circumference, num + 1, start)
        scale = 0.5 * circumference * aspect  # (L / 2 v) in units of the tensor
        with np.errstate(divide="ignore"):
            x = scale * np.log(lam[0] / lam[1:num + 1]) / np.pi
        if x.shape[0] < num:
            x = np.concatenate([x, np.full(num - x.shape[0], np.inf)])
        charges.append(12.0 * scale * np.log(lam[0]) / np.pi)
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
