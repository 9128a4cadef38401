"""Coupling spaces of the learned flow: linear subspaces of the 2 x 2-patch couplings, and their operators."""

from __future__ import annotations

import numbers
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg.sampling.multispin import N_PATCH_OPERATORS, patch_operator_sums

__all__ = ["CouplingSpace", "COUPLING_SPACES", "coupling_space", "coupling_operators", "patch_couplings"]


class CouplingSpace(NamedTuple):
    """A linear subspace of the patch couplings.

    Attributes:
        names: names of the ``n`` flow coordinates.
        basis: ``(n, 6)`` (nested tuples, so the space is hashable and static under jit; :meth:`array` gives numpy);
            patch couplings are ``J @ basis``.
        nn_axis: ``(n,)`` direction of the isotropic nearest-neighbour model ``K (S_x + S_y)`` in flow coordinates.
        box_low, box_high: ``(n,)`` default box of training couplings.
        symmetries: permutations of the coordinates induced by lattice reflections (``()`` is the identity); the
            flow model is averaged over them, so it is equivariant (for n = 5: x <-> y swaps ``nn_x, nn_y``, and
            x -> -x swaps ``diagonal, antidiagonal``).
    """

    names: tuple[str, ...]
    basis: tuple
    nn_axis: tuple
    box_low: tuple
    box_high: tuple
    symmetries: tuple = ((),)

    @property
    def n(self) -> int:
        """Number of couplings."""
        return len(self.names)

    def array(self, field: str) -> np.ndarray:
        """A field (``"basis"``, ``"nn_axis"``, ``"box_low"``, ``"box_high"``) as a float64 numpy array."""
        return np.asarray(getattr(self, field), np.float64)


def _space(names, rows, nn_axis, low, high, symmetries=((),)) -> CouplingSpace:
    basis = np.zeros((len(rows), N_PATCH_OPERATORS))
    for i, row in enumerate(rows):
        for j in row:
            basis[i, j] = 1.0
    f = lambda x: tuple(float(v) for v in x)  # noqa: E731
    return CouplingSpace(tuple(names), tuple(f(row) for row in basis), f(nn_axis), f(low), f(high), symmetries)


COUPLING_SPACES = {
    1: _space(("nn",), [(0, 1)], [1.0], [0.0], [0.8]),
    2: _space(("nn", "nnn"), [(0, 1), (2, 3)], [1.0, 0.0], [0.0, -0.15], [0.8, 0.2]),
    3: _space(
        ("nn", "nnn", "plaquette"), [(0, 1), (2, 3), (4,)], [1.0, 0.0, 0.0], [0.0, -0.15, -0.15], [0.8, 0.2, 0.15]
    ),
    5: _space(
        ("nn_x", "nn_y", "diagonal", "antidiagonal", "plaquette"),
        [(0,), (1,), (2,), (3,), (4,)],
        [1.0, 1.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, -0.15, -0.15, -0.15],
        [0.8, 0.8, 0.2, 0.2, 0.15],
        symmetries=((), (1, 0, 2, 3, 4), (0, 1, 3, 2, 4), (1, 0, 3, 2, 4)),
    ),
}
"""The coupling spaces by dimension (see the module docstring)."""


def coupling_space(n) -> CouplingSpace:
    """The coupling space of dimension ``n`` (1, 2, 3 or 5), see the module docstring."""
    if isinstance(n, CouplingSpace):
        return n
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or int(n) not in COUPLING_SPACES:
        raise ValueError(f"n (number of couplings) must be one of {sorted(COUPLING_SPACES)}, got {n!r}")
    return COUPLING_SPACES[int(n)]


def coupling_operators(spins: Array, space: CouplingSpace, dtype=None) -> Array:
    """Per-site flow operators ``basis @ S_patch(s) / N`` of each configuration, ``(..., n)``."""
    S = patch_operator_sums(spins, dtype)
    n_sites = spins.shape[-1] * spins.shape[-2]
    return S @ jnp.asarray(space.array("basis").T, S.dtype) / n_sites


def patch_couplings(J: Array, space: CouplingSpace) -> Array:
    """Patch couplings ``J @ basis`` (``(..., 6)``) of flow coordinates ``J`` (``(..., n)``)."""
    return J @ jnp.asarray(space.array("basis"), J.dtype)
