"""Four-sublattice Metropolis for Ising Hamiltonians whose operators live in a 2 x 2 patch.

The reduced Hamiltonian is ``beta H(s) = -sum_a J_a S_a(s)`` with the six *patch operators* (totals over the periodic
``L x L`` lattice, ``s_{y, x}`` with indices mod L), in the order of :data:`PATCH_OPERATORS`:

====  ================  ====================================================  ==========
 a     name              S_a(s)                                                 spins
====  ================  ====================================================  ==========
 0     ``nn_x``          sum_i s_{y,x} s_{y,x+1}                                even (2)
 1     ``nn_y``          sum_i s_{y,x} s_{y+1,x}                                even (2)
 2     ``diagonal``      sum_i s_{y,x} s_{y+1,x+1}                              even (2)
 3     ``antidiagonal``  sum_i s_{y,x+1} s_{y+1,x}                              even (2)
 4     ``plaquette``     sum_i s_{y,x} s_{y,x+1} s_{y+1,x} s_{y+1,x+1}          even (4)
 5     ``field``         sum_i s_{y,x}                                          odd (1)
====  ================  ====================================================  ==========

So ``J = (K, K, 0, 0, 0, h)`` is the nearest-neighbour model of :mod:`jaxrg.ising` with coupling K and field h.

Every operator couples a site only to sites of its 3 x 3 neighbourhood, so the four sublattices
``(y % 2, x % 2)`` are each free of internal interactions (two sites of a sublattice differ by an even displacement
>= 2 along some axis) and can be updated in parallel. One step is one sweep: the four sublattices in the fixed order
(0,0), (0,1), (1,0), (1,1), each site flipped with probability ``min(1, exp(-2 s_i h_i))`` where
``h_i = d(-beta H)/d s_i`` is the local field. Random numbers are per-site counter-hash bits (:mod:`jaxrg.rng`).
``L`` must be even and >= 4 (on L = 2 the diagonal bonds would wrap onto themselves).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg import _checks, ising, rng as rng_lib
from jaxrg.sampling.base import BoundKernel, SamplingAlgorithm, Sampler, closed_over

__all__ = [
    "PATCH_OPERATORS",
    "N_PATCH_OPERATORS",
    "PatchMetropolisState",
    "PatchMetropolisInfo",
    "patch_operator_sums",
    "patch_reduced_hamiltonian",
    "patch_local_field",
    "init",
    "kernel",
    "build_kernel",
    "as_sampling_algorithm",
    "patch_metropolis",
    "split_sublattices",
    "merge_sublattices",
    "sublattice_neighbour",
    "metropolis_flips",
    "nearest_neighbour_patch_couplings",
    "validate_patch_couplings",
]

PATCH_OPERATORS: tuple[str, ...] = ("nn_x", "nn_y", "diagonal", "antidiagonal", "plaquette", "field")
"""Names of the patch operators, in the order of the coupling vector ``J``."""
N_PATCH_OPERATORS = len(PATCH_OPERATORS)


def _roll(s: Array, dy: int, dx: int) -> Array:
    """``out[y, x] = s[y + dy, x + dx]`` (periodic) on the last two axes."""
    return jnp.roll(s, (-dy, -dx), axis=(-2, -1))


def patch_operator_sums(spins: Array, dtype=None) -> Array:
    """The six patch operator totals ``S_a(s)`` of each configuration (order of :data:`PATCH_OPERATORS`).

    Args:
        spins: ``(..., L, L)`` spins in {-1, +1} (int8 or float).
        dtype: float dtype of the result (default: the default float type).

    Returns:
        ``(..., 6)`` operator sums.
    """
    dtype = jnp.result_type(float) if dtype is None else dtype
    s = jnp.asarray(spins).astype(dtype)
    right = _roll(s, 0, 1)
    down = _roll(s, 1, 0)
    down_right = _roll(s, 1, 1)
    terms = (
        s * right,
        s * down,
        s * down_right,
        right * down,
        s * right * down * down_right,
        s,
    )
    return jnp.stack([jnp.sum(t, axis=(-2, -1)) for t in terms], axis=-1)


def patch_reduced_hamiltonian(spins: Array, couplings: Array) -> Array:
    """``beta H(s) = -sum_a J_a S_a(s)`` of each configuration.

    Args:
        spins: ``(..., L, L)`` spins.
        couplings: ``(6,)`` coupling vector ``J`` (or broadcastable ``(..., 6)``).

    Returns:
        ``(...)`` reduced energies.
    """
    J = jnp.asarray(couplings)
    return -jnp.sum(patch_operator_sums(spins, J.dtype if jnp.issubdtype(J.dtype, jnp.floating) else None) * J, -1)


def patch_local_field(spins: Array, couplings: Array) -> Array:
    """Local field ``h_i = d(-beta H)/d s_i`` at every site; flipping ``s_i`` changes ``beta H`` by ``2 s_i h_i``.

    Args:
        spins: ``(..., L, L)`` spins.
        couplings: ``(6,)`` coupling vector ``J``.

    Returns:
        ``(..., L, L)`` local fields (float dtype of ``couplings``).
    """
    J = jnp.asarray(couplings)
    s = jnp.asarray(spins).astype(J.dtype)
    r = {(dy, dx): _roll(s, dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    nn_x = r[0, 1] + r[0, -1]
    nn_y = r[1, 0] + r[-1, 0]
    diagonal = r[1, 1] + r[-1, -1]
    antidiagonal = r[-1, 1] + r[1, -1]
    # the four plaquettes containing the site: products of the other three spins
    plaquette = (
        r[0, 1] * r[1, 0] * r[1, 1]
        + r[0, -1] * r[1, 0] * r[1, -1]
        + r[0, 1] * r[-1, 0] * r[-1, 1]
        + r[0, -1] * r[-1, 0] * r[-1, -1]
    )
    return (
        J[0] * nn_x + J[1] * nn_y + J[2] * diagonal + J[3] * antidiagonal + J[4] * plaquette + J[5]
    )


def nearest_neighbour_patch_couplings(K, h=0.0) -> Array:
    """Patch coupling vector ``(K, K, 0, 0, 0, h)`` of the nearest-neighbour Ising model (traceable)."""
    K = jnp.asarray(K)
    h = jnp.asarray(h, K.dtype if jnp.issubdtype(K.dtype, jnp.floating) else None)
    zero = jnp.zeros_like(K, dtype=jnp.result_type(K, h, float))
    return jnp.stack([K + zero, K + zero, zero, zero, zero, h + zero], axis=-1)


def validate_patch_couplings(couplings, *, name: str = "couplings") -> Array:
    """Check a ``(..., 6)`` coupling vector at the Python boundary (finite when concrete); returns a jax float array.

    Raises:
        ValueError: for a wrong last axis or non-finite values.
    """
    J = jnp.asarray(couplings)
    if J.ndim < 1 or J.shape[-1] != N_PATCH_OPERATORS:
        raise ValueError(
            f"{name} must have shape (..., {N_PATCH_OPERATORS}) ordered as {PATCH_OPERATORS}, got {J.shape}"
        )
    if not jnp.issubdtype(J.dtype, jnp.floating):
        J = J.astype(jnp.result_type(float))
    if not isinstance(J, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(J))):
        raise ValueError(f"{name} must be finite, got {np.asarray(J)}")
    return J


class PatchMetropolisState(NamedTuple):
    """State of :func:`patch_metropolis`: the four sublattices ``sub[a, b, Y, X] = s[2Y + a, 2X + b]``.

    ``sub`` is ``(2, 2, L/2, L/2)`` int8; :attr:`spins` gives the ``(L, L)`` configuration.
    """

    sub: Array

    @property
    def spins(self) -> Array:
        """The ``(L, L)`` int8 configuration."""
        return merge_sublattices(self.sub)


class PatchMetropolisInfo(NamedTuple):
    """Diagnostics of one sweep: fraction of accepted flips and work done (1 sweep)."""

    acceptance: Array
    sweeps: Array


def split_sublattices(spins: Array, period=2) -> Array:
    """``(..., Ly, Lx)`` spins to the sublattice layout ``sub[a, b, Y, X] = s[py Y + a, px X + b]``.

    Args:
        spins: ``(..., Ly, Lx)`` spins; ``py`` divides ``Ly`` and ``px`` divides ``Lx``.
        period: ``p`` or ``(py, px)``, the sublattice periods (2 for the four sublattices of a 2 x 2 patch).

    Returns:
        ``(..., py, px, Ly/py, Lx/px)`` array.
    """
    py, px = (period, period) if isinstance(period, int) else period
    Ly, Lx = spins.shape[-2:]
    x = spins.reshape(*spins.shape[:-2], Ly // py, py, Lx // px, px)
    nb = spins.ndim - 2
    perm = tuple(range(nb)) + (nb + 1, nb + 3, nb, nb + 2)
    return jnp.transpose(x, perm)


def merge_sublattices(sub: Array) -> Array:
    """Inverse of :func:`split_sublattices`: ``(..., py, px, Ly/py, Lx/px)`` to ``(..., Ly, Lx)``."""
    nb = sub.ndim - 4
    py, px, ny, nx = sub.shape[-4:]
    perm = tuple(range(nb)) + (nb + 2, nb, nb + 3, nb + 1)
    return jnp.transpose(sub, perm).reshape(*sub.shape[:-4], py * ny, px * nx)


def sublattice_neighbour(sub: Array, a: int, b: int, dy: int, dx: int) -> Array:
    """Spins at offset ``(dy, dx)`` from every site of sublattice ``(a, b)``, as an ``(Ly/py, Lx/px)`` array.

    Args:
        sub: ``(..., py, px, Ly/py, Lx/px)`` sublattice layout of :func:`split_sublattices`.
        a, b: the sublattice (static ints).
        dy, dx: the offset (static ints, any sign).
    """
    py, px = sub.shape[-4:-2]
    ty, tx = a + dy, b + dx
    return _roll(sub[..., ty % py, tx % px, :, :], ty // py, tx // px)


def _sublattice_field(sub: Array, a: int, b: int, J: Array) -> Array:
    r = {
        (dy, dx): sublattice_neighbour(sub, a, b, dy, dx).astype(J.dtype)
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if (dy, dx) != (0, 0)
    }
    plaquette = (
        r[0, 1] * r[1, 0] * r[1, 1]
        + r[0, -1] * r[1, 0] * r[1, -1]
        + r[0, 1] * r[-1, 0] * r[-1, 1]
        + r[0, -1] * r[-1, 0] * r[-1, -1]
    )
    return (
        J[0] * (r[0, 1] + r[0, -1])
        + J[1] * (r[1, 0] + r[-1, 0])
        + J[2] * (r[1, 1] + r[-1, -1])
        + J[3] * (r[-1, 1] + r[1, -1])
        + J[4] * plaquette
        + J[5]
    )


def metropolis_flips(key: Array, s: Array, field: Array, rng: str) -> tuple[Array, Array]:
    """Independent single-spin Metropolis updates of a sublattice whose sites do not interact.

    Each spin flips with probability ``min(1, exp(-2 s h))`` (``h`` its local field in units of kT), drawn from 24
    random bits per site.

    Args:
        key: PRNG key.
        s: sublattice spins, int8.
        field: local fields, same shape.
        rng: ``"hash"`` or ``"threefry"`` (:mod:`jaxrg.rng`).

    Returns:
        ``(new spins, number of flips as float32)``.
    """
    p = jnp.exp(jnp.minimum(0.0, -2.0 * s.astype(field.dtype) * field)).astype(jnp.float32)
    u = (rng_lib.hash_bits(key, s.shape, rng) >> 8).astype(jnp.float32) * (1.0 / 2**24)
    flip = u < p
    return jnp.where(flip, -s, s), jnp.sum(flip.astype(jnp.float32))


def init(spins: Array, key: Array | None = None) -> PatchMetropolisState:
    """The sublattice state of one ``(L, L)`` int8 configuration (L even >= 4); ``key`` is unused."""
    del key
    spins = ising.validate_spins(spins, even=True, minimum=4, max_ndim=2)
    return PatchMetropolisState(split_sublattices(spins))


def kernel(key: Array, state: PatchMetropolisState, couplings: Array, *, rng: str = "hash"
           ) -> tuple[PatchMetropolisState, PatchMetropolisInfo]:
    """One four-sublattice Metropolis sweep at the ``(6,)`` patch couplings ``J`` (traced)."""
    J = couplings
    sub = state.sub
    keys = jax.random.split(key, 4)
    accepted = jnp.zeros((), jnp.float32)
    for c, (a, b) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        s, flips = metropolis_flips(keys[c], sub[a, b], _sublattice_field(sub, a, b, J), rng)
        sub = sub.at[a, b].set(s)
        accepted = accepted + flips
    info = PatchMetropolisInfo(acceptance=accepted / sub[0, 0].size / 4, sweeps=jnp.ones((), jnp.float32))
    return PatchMetropolisState(sub), info


def build_kernel(*, rng: str = "hash") -> BoundKernel:
    """The patch kernel ``kernel(key, state, J) -> (PatchMetropolisState, PatchMetropolisInfo)``, ``J`` of shape (6,).

    Args:
        rng: ``"hash"`` (counter-based bits, :mod:`jaxrg.rng`) or ``"threefry"``.
    """
    return BoundKernel(kernel, (("rng", _checks.choice(rng, "rng", rng_lib.RNG_CHOICES)),))


def as_sampling_algorithm(couplings: Array, *, rng: str = "hash") -> SamplingAlgorithm:
    """Four-sublattice Metropolis for the 2 x 2-patch Hamiltonian ``-sum_a J_a S_a`` (see module docstring).

    Args:
        couplings: ``(6,)`` coupling vector ``J`` ordered as :data:`PATCH_OPERATORS` (vmap over it for batches).
        rng: ``"hash"`` (counter-based bits, :mod:`jaxrg.rng`) or ``"threefry"``.

    Returns:
        :class:`~jaxrg.sampling.base.SamplingAlgorithm`: ``init(spins)`` (``(L, L)`` int8, L even >= 4) and
        ``step(key, state) -> (PatchMetropolisState, PatchMetropolisInfo)``; one step is one sweep.
    """
    J = validate_patch_couplings(couplings)
    if J.ndim != 1:
        raise ValueError(f"couplings must have shape (6,) (vmap the kernel for batches), got {J.shape}")
    return closed_over(init, build_kernel(rng=rng), J)


patch_metropolis = Sampler("patch_metropolis", init, build_kernel, as_sampling_algorithm)
