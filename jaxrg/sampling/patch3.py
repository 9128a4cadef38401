"""Sublattice Metropolis for Ising Hamiltonians whose operators live in a 3 x 3 patch.

The reduced Hamiltonian is ``beta H(s) = -sum_a J_a S_a(s)`` with the nineteen *3 x 3-patch operators*: each is a
product of the spins on a *shape* (offsets ``(dy, dx)`` inside the patch ``{0, 1, 2}^2``), summed over all
translations on the periodic ``Ly x Lx`` torus, ``S_a(s) = sum_{y, x} prod_{(dy, dx) in shape_a} s_{y+dy, x+dx}``
(indices mod the sides). In the order of :data:`PATCH3_OPERATORS` (see :data:`PATCH3_SHAPES` for the offsets):

=====  ====================================================  ===========================================  =====
 a      names                                                 operator                                     spins
=====  ====================================================  ===========================================  =====
 0-3    ``nn_x, nn_y, diagonal, antidiagonal``                the pairs of the 2 x 2 patch                 2
 4-5    ``third_x, third_y``                                  pairs at distance 2 along an axis            2
 6-9    ``knight_x, knight_x_anti, knight_y, knight_y_anti``  pairs at offsets (1, +-2) and (2, +-1)       2
 10-11  ``far_diagonal, far_antidiagonal``                    pairs at offsets (2, +-2)                    2
 12     ``plaquette``                                         the 2 x 2 square                             4
 13-14  ``six_x, six_y``                                      2 x 3 and 3 x 2 rectangles                   6
 15     ``diamond``                                           the four nearest neighbours of a site        4
 16     ``corners``                                           the corners of the 3 x 3 square              4
 17     ``nine``                                              the whole 3 x 3 square                       9
 18     ``field``                                             single spins                                 1
=====  ====================================================  ===========================================  =====

Operators 0-3, 12 and 18 reduce to :mod:`jaxrg.sampling.multispin`: ``J_patch = (a, b, c, d, p, h)`` is the 3 x 3
vector with ``J_0..J_3 = a..d``, ``J_12 = p``, ``J_18 = h`` (:func:`patch3_from_patch_couplings`).

Update. Two sites interact when some shape holds both, i.e. when their displacement lies in ``{-2, ..., 2}^2`` (mod
the torus), so a checkerboard is not enough. The sites are split into ``py x px`` sublattices
``(y % py, x % px)`` with ``py`` the smallest divisor >= 3 of ``Ly`` (``px`` of ``Lx``): two sites of one sublattice
differ by a multiple of ``py`` (>= 3, and never +-1 or +-2 mod ``Ly``, since ``py`` divides ``Ly``) along some axis,
so they never interact and each sublattice is updated in parallel, every site flipped with probability
``min(1, exp(-2 s_i h_i))``, ``h_i = d(-beta H)/d s_i`` its local field. Each sublattice update is a product of
independent single-site Metropolis steps, so it satisfies detailed balance exactly; one step is one sweep over the
``py px`` sublattices in the fixed row-major order. Sides must be >= 3 (then the offsets of a shape are distinct
sites, ``beta H`` is multilinear and the local field is exact); for sides < 5 some operators wrap around the torus
(e.g. ``third_x`` counts each pair twice on ``Lx = 4``), which is a different but consistent Hamiltonian.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg import _checks, lattice, rng as rng_lib
from jaxrg.sampling.base import BoundKernel, SamplingAlgorithm, Sampler, closed_over
from jaxrg.sampling.multispin import (
    N_PATCH_OPERATORS,
    merge_sublattices,
    metropolis_flips,
    split_sublattices,
    sublattice_neighbour,
)

__all__ = [
    "PATCH3_SHAPES",
    "PATCH3_OPERATORS",
    "N_PATCH3_OPERATORS",
    "Patch3MetropolisState",
    "Patch3MetropolisInfo",
    "patch3_operator_sums",
    "patch3_reduced_hamiltonian",
    "patch3_local_field",
    "patch3_from_patch_couplings",
    "sublattice_period",
    "validate_patch3_couplings",
    "init",
    "kernel",
    "build_kernel",
    "as_sampling_algorithm",
    "patch3_metropolis",
]

_SIX_X = tuple((dy, dx) for dy in range(2) for dx in range(3))
_SIX_Y = tuple((dy, dx) for dy in range(3) for dx in range(2))
_NINE = tuple((dy, dx) for dy in range(3) for dx in range(3))

PATCH3_SHAPES: tuple[tuple[tuple[int, int], ...], ...] = (
    ((0, 0), (0, 1)),
    ((0, 0), (1, 0)),
    ((0, 0), (1, 1)),
    ((0, 1), (1, 0)),
    ((0, 0), (0, 2)),
    ((0, 0), (2, 0)),
    ((0, 0), (1, 2)),
    ((0, 2), (1, 0)),
    ((0, 0), (2, 1)),
    ((0, 1), (2, 0)),
    ((0, 0), (2, 2)),
    ((0, 2), (2, 0)),
    ((0, 0), (0, 1), (1, 0), (1, 1)),
    _SIX_X,
    _SIX_Y,
    ((0, 1), (1, 0), (1, 2), (2, 1)),
    ((0, 0), (0, 2), (2, 0), (2, 2)),
    _NINE,
    ((0, 0),),
)
"""Offsets ``(dy, dx)`` of the spins of each operator, in the order of :data:`PATCH3_OPERATORS`."""

PATCH3_OPERATORS: tuple[str, ...] = (
    "nn_x", "nn_y", "diagonal", "antidiagonal", "third_x", "third_y",
    "knight_x", "knight_x_anti", "knight_y", "knight_y_anti", "far_diagonal", "far_antidiagonal",
    "plaquette", "six_x", "six_y", "diamond", "corners", "nine", "field",
)
"""Names of the 3 x 3-patch operators, in the order of the coupling vector ``J``."""
N_PATCH3_OPERATORS = len(PATCH3_OPERATORS)

# (operator, offsets relative to the updated spin) for every way a site sits in a shape: the local field is
# h_i = sum over these of J_a prod_{d in offsets} s_{i + d}
_FIELD_TERMS: tuple[tuple[int, tuple[tuple[int, int], ...]], ...] = tuple(
    (a, tuple((oy - cy, ox - cx) for (oy, ox) in shape if (oy, ox) != (cy, cx)))
    for a, shape in enumerate(PATCH3_SHAPES)
    for (cy, cx) in shape
)
_FIELD_OFFSETS = tuple(sorted({d for _, offsets in _FIELD_TERMS for d in offsets}))


def _shifted(s: Array, dy: int, dx: int) -> Array:
    """``out[y, x] = s[y + dy, x + dx]`` (periodic) on the last two axes."""
    return jnp.roll(s, (-dy, -dx), axis=(-2, -1))


def patch3_operator_sums(spins: Array, dtype=None) -> Array:
    """The nineteen operator totals ``S_a(s)`` of each configuration (order of :data:`PATCH3_OPERATORS`).

    Args:
        spins: ``(..., Ly, Lx)`` spins in {-1, +1} (int8 or float), sides >= 3.
        dtype: float dtype of the result (default: the default float type).

    Returns:
        ``(..., 19)`` operator sums.
    """
    dtype = jnp.result_type(float) if dtype is None else dtype
    s = jnp.asarray(spins).astype(dtype)
    r = {d: _shifted(s, *d) for d in _NINE}
    totals = []
    for shape in PATCH3_SHAPES:
        product = r[shape[0]]
        for d in shape[1:]:
            product = product * r[d]
        totals.append(jnp.sum(product, axis=(-2, -1)))
    return jnp.stack(totals, axis=-1)


def patch3_reduced_hamiltonian(spins: Array, couplings: Array) -> Array:
    """``beta H(s) = -sum_a J_a S_a(s)`` of each configuration.

    Args:
        spins: ``(..., Ly, Lx)`` spins.
        couplings: ``(19,)`` coupling vector ``J`` (or broadcastable ``(..., 19)``).

    Returns:
        ``(...)`` reduced energies.
    """
    J = jnp.asarray(couplings)
    dtype = J.dtype if jnp.issubdtype(J.dtype, jnp.floating) else None
    return -jnp.sum(patch3_operator_sums(spins, dtype) * J, -1)


def _field(neighbour, J: Array) -> Array:
    """``sum_a J_a sum_{shapes of a through the site} prod_{other spins}`` from ``neighbour(dy, dx)`` arrays."""
    r = {d: neighbour(*d).astype(J.dtype) for d in _FIELD_OFFSETS}
    per_operator = [0.0] * N_PATCH3_OPERATORS
    for a, offsets in _FIELD_TERMS:
        product = 1.0
        for d in offsets:
            product = product * r[d]
        per_operator[a] = per_operator[a] + product
    return sum(J[a] * term for a, term in enumerate(per_operator))


def patch3_local_field(spins: Array, couplings: Array) -> Array:
    """Local field ``h_i = d(-beta H)/d s_i`` at every site; flipping ``s_i`` changes ``beta H`` by ``2 s_i h_i``.

    Args:
        spins: ``(..., Ly, Lx)`` spins, sides >= 3.
        couplings: ``(19,)`` coupling vector ``J``.

    Returns:
        ``(..., Ly, Lx)`` local fields (float dtype of ``couplings``).
    """
    J = jnp.asarray(couplings)
    s = jnp.asarray(spins)
    return _field(functools.partial(_shifted, s), J)


def patch3_from_patch_couplings(couplings: Array) -> Array:
    """The ``(..., 19)`` vector of the same Hamiltonian as a ``(..., 6)`` :mod:`~jaxrg.sampling.multispin` vector."""
    J = jnp.asarray(couplings)
    if J.shape[-1:] != (N_PATCH_OPERATORS,):
        raise ValueError(f"couplings must have shape (..., {N_PATCH_OPERATORS}), got {J.shape}")
    out = jnp.zeros((*J.shape[:-1], N_PATCH3_OPERATORS), jnp.result_type(J, float))
    return out.at[..., (0, 1, 2, 3, 12, 18)].set(J)


def sublattice_period(side: int) -> int:
    """The sublattice period along a side: its smallest divisor >= 3 (so that same-sublattice sites never interact)."""
    side = lattice.validate_size(side, name="side", minimum=3)
    return next(p for p in range(3, side + 1) if side % p == 0)


def validate_patch3_couplings(couplings, *, name: str = "couplings") -> Array:
    """Check a ``(..., 19)`` coupling vector at the Python boundary (finite when concrete); returns a jax float array.

    Raises:
        ValueError: for a wrong last axis or non-finite values.
    """
    J = jnp.asarray(couplings)
    if J.ndim < 1 or J.shape[-1] != N_PATCH3_OPERATORS:
        raise ValueError(f"{name} must have shape (..., {N_PATCH3_OPERATORS}) ordered as {PATCH3_OPERATORS}, "
                         f"got {J.shape}")
    if not jnp.issubdtype(J.dtype, jnp.floating):
        J = J.astype(jnp.result_type(float))
    if not isinstance(J, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(J))):
        raise ValueError(f"{name} must be finite, got {np.asarray(J)}")
    return J


class Patch3MetropolisState(NamedTuple):
    """State of :func:`patch3_metropolis`: the sublattices ``sub[a, b, Y, X] = s[py Y + a, px X + b]``.

    ``sub`` is ``(py, px, Ly/py, Lx/px)`` int8 (periods of :func:`sublattice_period`); :attr:`spins` gives the
    ``(Ly, Lx)`` configuration.
    """

    sub: Array

    @property
    def spins(self) -> Array:
        """The ``(Ly, Lx)`` int8 configuration."""
        return merge_sublattices(self.sub)


class Patch3MetropolisInfo(NamedTuple):
    """Diagnostics of one sweep: fraction of accepted flips and work done (1 sweep)."""

    acceptance: Array
    sweeps: Array


def init(spins: Array, key: Array | None = None) -> Patch3MetropolisState:
    """The sublattice state of one ``(Ly, Lx)`` int8 configuration (sides >= 3, need not be equal); ``key`` unused."""
    del key
    shape = np.shape(spins)
    if len(shape) != 2:
        raise ValueError(f"spins must be one (Ly, Lx) configuration (vmap for batches), got shape {shape}")
    if getattr(spins, "dtype", None) != jnp.int8:
        raise ValueError(f"spins must be int8 in {{-1, +1}}, got dtype {getattr(spins, 'dtype', None)}")
    periods = tuple(sublattice_period(side) for side in shape)
    return Patch3MetropolisState(split_sublattices(jnp.asarray(spins), periods))


def _neighbours(sub: Array, a: int, b: int) -> Array:
    """``(n_offsets, Ly/py, Lx/px)`` spins at every offset of :data:`_FIELD_OFFSETS` from sublattice ``(a, b)``."""
    return jnp.stack([sublattice_neighbour(sub, a, b, dy, dx) for dy, dx in _FIELD_OFFSETS])


def kernel(key: Array, state: Patch3MetropolisState, couplings: Array, *, rng: str = "hash"
           ) -> tuple[Patch3MetropolisState, Patch3MetropolisInfo]:
    """One sublattice Metropolis sweep at the ``(19,)`` 3 x 3-patch couplings ``J`` (traced).

    The ``py px`` sublattices are visited in row-major order by a ``lax.scan``; only the gathering of each one's
    neighbours (static rolls) is a ``lax.switch`` branch per sublattice, so the local-field code is compiled once.
    """
    J = couplings
    sub = state.sub
    py, px = sub.shape[:2]
    gather = [functools.partial(_neighbours, a=a, b=b) for a in range(py) for b in range(px)]

    def update(carry, inputs):
        sub, accepted = carry
        colour, k = inputs
        a, b = colour // px, colour % px
        s = sub[a, b]
        r = jax.lax.switch(colour, gather, sub)
        field = _field(lambda dy, dx: r[_FIELD_OFFSETS.index((dy, dx))], J)
        s, flips = metropolis_flips(k, s, field, rng)
        return (sub.at[a, b].set(s), accepted + flips), None

    colours = jnp.arange(py * px, dtype=jnp.int32)
    (sub, accepted), _ = jax.lax.scan(update, (sub, jnp.zeros((), jnp.float32)),
                                      (colours, jax.random.split(key, py * px)))
    info = Patch3MetropolisInfo(acceptance=accepted / (sub[0, 0].size * py * px), sweeps=jnp.ones((), jnp.float32))
    return Patch3MetropolisState(sub), info


def build_kernel(*, rng: str = "hash") -> BoundKernel:
    """The kernel ``kernel(key, state, J) -> (Patch3MetropolisState, Patch3MetropolisInfo)``, ``J`` of shape (19,).

    Args:
        rng: ``"hash"`` (counter-based bits, :mod:`jaxrg.rng`) or ``"threefry"``.
    """
    return BoundKernel(kernel, (("rng", _checks.choice(rng, "rng", rng_lib.RNG_CHOICES)),))


def as_sampling_algorithm(couplings: Array, *, rng: str = "hash") -> SamplingAlgorithm:
    """Sublattice Metropolis for the 3 x 3-patch Hamiltonian ``-sum_a J_a S_a`` (see module docstring).

    Args:
        couplings: ``(19,)`` coupling vector ``J`` ordered as :data:`PATCH3_OPERATORS` (vmap over it for batches).
        rng: ``"hash"`` (counter-based bits, :mod:`jaxrg.rng`) or ``"threefry"``.

    Returns:
        :class:`~jaxrg.sampling.base.SamplingAlgorithm`: ``init(spins)`` (``(Ly, Lx)`` int8, sides >= 3) and
        ``step(key, state) -> (Patch3MetropolisState, Patch3MetropolisInfo)``; one step is one sweep.
    """
    J = validate_patch3_couplings(couplings)
    if J.ndim != 1:
        raise ValueError(f"couplings must have shape ({N_PATCH3_OPERATORS},) (vmap the kernel for batches), "
                         f"got {J.shape}")
    return closed_over(init, build_kernel(rng=rng), J)


patch3_metropolis = Sampler("patch3_metropolis", init, build_kernel, as_sampling_algorithm)
