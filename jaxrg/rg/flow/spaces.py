"""Coupling spaces of the learned flow: linear subspaces of the 2 x 2- or 3 x 3-patch couplings, and their operators."""

from __future__ import annotations

import numbers
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg.sampling.base import Sampler
from jaxrg.sampling.multispin import N_PATCH_OPERATORS, patch_metropolis, patch_operator_sums
from jaxrg.sampling.patch3 import N_PATCH3_OPERATORS, PATCH3_OPERATORS, patch3_metropolis, patch3_operator_sums

__all__ = [
    "CouplingSpace", "COUPLING_SPACES", "PATCH3_COUPLING_SPACES", "coupling_space", "coupling_operators",
    "patch_couplings", "space_sampler",
]

# the operator family of each patch size: (number of operators, operator sums, sampler)
_FAMILIES = {
    2: (N_PATCH_OPERATORS, patch_operator_sums, patch_metropolis),
    3: (N_PATCH3_OPERATORS, patch3_operator_sums, patch3_metropolis),
}


class CouplingSpace(NamedTuple):
    """A linear subspace of the patch couplings.

    Attributes:
        names: names of the ``n`` flow coordinates.
        basis: ``(n, n_ops)`` (nested tuples, so the space is hashable and static under jit; :meth:`array` gives
            numpy); patch couplings are ``J @ basis``, in the operator order of the patch family (``n_ops = 6`` for
            :mod:`jaxrg.sampling.multispin`, 19 for :mod:`jaxrg.sampling.patch3`).
        nn_axis: ``(n,)`` direction of the isotropic nearest-neighbour model ``K (S_x + S_y)`` in flow coordinates.
        box_low, box_high: ``(n,)`` default box of training couplings.
        symmetries: permutations of the coordinates induced by lattice reflections (``()`` is the identity); the
            flow model is averaged over them, so it is equivariant (for n = 5: x <-> y swaps ``nn_x, nn_y``, and
            x -> -x swaps ``diagonal, antidiagonal``).
        patch: 2 (operators and sampler of :mod:`jaxrg.sampling.multispin`) or 3 (of :mod:`jaxrg.sampling.patch3`).
    """

    names: tuple[str, ...]
    basis: tuple
    nn_axis: tuple
    box_low: tuple
    box_high: tuple
    symmetries: tuple = ((),)
    patch: int = 2

    @property
    def n(self) -> int:
        """Number of couplings."""
        return len(self.names)

    def array(self, field: str) -> np.ndarray:
        """A field (``"basis"``, ``"nn_axis"``, ``"box_low"``, ``"box_high"``) as a float64 numpy array."""
        return np.asarray(getattr(self, field), np.float64)


def _space(names, rows, nn_axis, low, high, symmetries=((),), patch=2) -> CouplingSpace:
    basis = np.zeros((len(rows), _FAMILIES[patch][0]))
    for i, row in enumerate(rows):
        for j in row:
            basis[i, j] = 1.0
    f = lambda x: tuple(float(v) for v in x)  # noqa: E731
    return CouplingSpace(tuple(names), tuple(f(row) for row in basis), f(nn_axis), f(low), f(high), symmetries,
                         patch)


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
"""The coupling spaces of the 2 x 2 patch by dimension (see :mod:`jaxrg.rg.flow`)."""


def _isotropic_patch3_spaces() -> dict[int, CouplingSpace]:
    """Nested square-symmetric spaces of the 3 x 3 patch: each coordinate multiplies the sum of a symmetry class."""
    index = {name: i for i, name in enumerate(PATCH3_OPERATORS)}
    classes = (  # (name, operators of the class, box low, box high), in the order they enter
        ("nn", ("nn_x", "nn_y"), 0.0, 0.8),
        ("nnn", ("diagonal", "antidiagonal"), -0.15, 0.2),
        ("plaquette", ("plaquette",), -0.15, 0.15),
        ("third", ("third_x", "third_y"), -0.1, 0.1),
        ("six", ("six_x", "six_y"), -0.1, 0.1),
        ("knight", ("knight_x", "knight_x_anti", "knight_y", "knight_y_anti"), -0.1, 0.1),
        ("far_diagonal", ("far_diagonal", "far_antidiagonal"), -0.1, 0.1),
        ("diamond", ("diamond",), -0.1, 0.1),
    )
    spaces = {}
    for n in range(1, len(classes) + 1):
        names, ops, low, high = zip(*classes[:n])
        rows = [tuple(index[o] for o in group) for group in ops]
        spaces[n] = _space(names, rows, [1.0] + [0.0] * (n - 1), low, high, patch=3)
    return spaces


PATCH3_COUPLING_SPACES = _isotropic_patch3_spaces()
"""The square-symmetric coupling spaces of the 3 x 3 patch by dimension 1..8 (see :mod:`jaxrg.rg.flow`)."""


def coupling_space(n, *, patch: int = 2) -> CouplingSpace:
    """The coupling space of dimension ``n``: of the 2 x 2 patch (1, 2, 3 or 5) or of the 3 x 3 patch (1 to 8).

    Args:
        n: the dimension, or a :class:`CouplingSpace` (returned as it is).
        patch: 2 (:data:`COUPLING_SPACES`) or 3 (:data:`PATCH3_COUPLING_SPACES`).
    """
    if isinstance(n, CouplingSpace):
        return n
    if patch not in (2, 3):
        raise ValueError(f"patch must be 2 or 3, got {patch!r}")
    spaces = COUPLING_SPACES if patch == 2 else PATCH3_COUPLING_SPACES
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or int(n) not in spaces:
        raise ValueError(f"n (number of couplings) must be one of {sorted(spaces)} for patch={patch}, got {n!r}")
    return spaces[int(n)]


def space_sampler(space: CouplingSpace) -> Sampler:
    """The Metropolis sampler of the space's patch family (takes the patch couplings ``J @ basis``)."""
    return _FAMILIES[space.patch][2]


def coupling_operators(spins: Array, space: CouplingSpace, dtype=None) -> Array:
    """Per-site flow operators ``basis @ S_patch(s) / N`` of each configuration, ``(..., n)``."""
    S = _FAMILIES[space.patch][1](spins, dtype)
    n_sites = spins.shape[-1] * spins.shape[-2]
    return S @ jnp.asarray(space.array("basis").T, S.dtype) / n_sites


def patch_couplings(J: Array, space: CouplingSpace) -> Array:
    """Patch couplings ``J @ basis`` (``(..., 6)``) of flow coordinates ``J`` (``(..., n)``)."""
    return J @ jnp.asarray(space.array("basis"), J.dtype)
