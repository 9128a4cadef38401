"""Coupling operators of the square-lattice Ising model: all spin products that fit in a 3 x 3 patch.

An operator is a shape of sites (a set of offsets), summed over every translation of the periodic lattice and over
every distinct image of the shape under the lattice point group (the 8 rotations and reflections of D4):

    S_alpha(s) = sum_{images g} sum_{sites i} prod_{o in g(alpha)} s_{i + o}.

Every shape that fits in a 3 x 3 patch appears exactly once (85 classes: 44 even, 41 odd). Even operators (an even
number of spins) are invariant under the global flip s -> -s and couple to the temperature-like directions; odd ones
change sign and couple to the magnetic field. They are ordered as in Swendsen's MCRG studies: the named operators
first (even: nearest-neighbour pair, next-nearest (diagonal) pair, third-neighbour pair (distance 2 along an axis),
plaquette; odd: magnetisation), then by number of spins and by compactness (sum of squared pair distances).
Taking the first ``n`` of :data:`EVEN_OPERATORS` / :data:`ODD_OPERATORS` gives the usual truncations.

Conventions: ``s_{i + (dy, dx)}`` is ``spins[..., (y + dy) % L, (x + dx) % L]``. Values are totals over the lattice
(extensive), e.g. ``nn`` is ``sum_i s_i (s_{i + x} + s_{i + y})`` (2N terms) and ``magnetization`` is ``sum_i s_i``.
On lattices smaller than 3 x 3 a shape can wrap onto itself; the MCRG code requires L >= 4 at every level it uses.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import jax.numpy as jnp
from jax import Array

from jaxrg import ising

__all__ = [
    "Operator",
    "ALL_OPERATORS",
    "EVEN_OPERATORS",
    "ODD_OPERATORS",
    "operator",
    "operator_values",
    "even_operators",
    "odd_operators",
]

Offsets = tuple[tuple[int, int], ...]


class Operator(NamedTuple):
    """A translation- and D4-symmetrised spin product.

    Attributes:
        name: short name (``"nn"``, ``"plaquette"``, ... or ``"s3[00,01,10]"`` listing the offsets).
        shape: canonical offsets ``((dy, dx), ...)`` of the representative shape, inside the 3 x 3 patch.
        images: the distinct images of the shape under D4, each translated into the 3 x 3 patch.
        parity: +1 for even operators (even number of spins), -1 for odd ones.
    """

    name: str
    shape: Offsets
    images: tuple[Offsets, ...]
    parity: int


def _translate_to_origin(offsets) -> Offsets:
    min_y = min(dy for dy, _ in offsets)
    min_x = min(dx for _, dx in offsets)
    return tuple(sorted((dy - min_y, dx - min_x) for dy, dx in offsets))


def _d4_images(offsets) -> tuple[Offsets, ...]:
    images = set()
    for sy, sx, swap in itertools.product((1, -1), (1, -1), (False, True)):
        moved = [((sx * dx, sy * dy) if swap else (sy * dy, sx * dx)) for dy, dx in offsets]
        images.add(_translate_to_origin(moved))
    return tuple(sorted(images))


def _compactness(shape: Offsets) -> int:
    return sum((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 for a, b in itertools.combinations(shape, 2))


_NAMED = {
    ((0, 0), (0, 1)): "nn",
    ((0, 0), (1, 1)): "nnn",
    ((0, 0), (0, 2)): "3rd_nn",
    ((0, 0), (0, 1), (1, 0), (1, 1)): "plaquette",
    ((0, 0),): "magnetization",
}


def _name(shape: Offsets) -> str:
    if shape in _NAMED:
        return _NAMED[shape]
    return f"s{len(shape)}[" + ",".join(f"{dy}{dx}" for dy, dx in shape) + "]"


def _all_operators() -> tuple[Operator, ...]:
    patch = [(dy, dx) for dy in range(3) for dx in range(3)]
    classes: dict[Offsets, tuple[Offsets, ...]] = {}
    for size in range(1, 10):
        for subset in itertools.combinations(patch, size):
            images = _d4_images(subset)
            classes[min(images)] = images
    named_order = {shape: i for i, shape in enumerate(_NAMED)}

    def sort_key(shape):
        return (shape not in named_order, named_order.get(shape, 0), len(shape), _compactness(shape), shape)

    ordered = sorted(classes, key=sort_key)
    return tuple(Operator(_name(s), s, classes[s], 1 if len(s) % 2 == 0 else -1) for s in ordered)


ALL_OPERATORS: tuple[Operator, ...] = _all_operators()
"""Every spin product in a 3 x 3 patch, up to translations and D4 (85 operators)."""

EVEN_OPERATORS: tuple[Operator, ...] = tuple(op for op in ALL_OPERATORS if op.parity == 1)
"""The 44 even operators, in MCRG order: nn, nnn, 3rd_nn, plaquette, then by size and compactness."""

ODD_OPERATORS: tuple[Operator, ...] = tuple(op for op in ALL_OPERATORS if op.parity == -1)
"""The 41 odd operators, in MCRG order: magnetization, then 3-spin, 5-spin, ... by compactness."""


def even_operators(n: int) -> tuple[Operator, ...]:
    """The first ``n`` even operators (1 <= n <= 44)."""
    return _first(EVEN_OPERATORS, n, "n_even")


def odd_operators(n: int) -> tuple[Operator, ...]:
    """The first ``n`` odd operators (1 <= n <= 41)."""
    return _first(ODD_OPERATORS, n, "n_odd")


def _first(ops, n, name):
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(ops):
        raise ValueError(f"{name} must be an integer in [1, {len(ops)}], got {n!r}")
    return ops[:n]


def operator(name: str) -> Operator:
    """Look an operator up by its name (e.g. ``"nn"``, ``"plaquette"``, ``"s3[00,01,10]"``)."""
    for op in ALL_OPERATORS:
        if op.name == name:
            return op
    raise ValueError(f"unknown operator name {name!r}; names are in jaxrg.rg.operators.ALL_OPERATORS")


def operator_values(spins: Array, operators) -> Array:
    """Values of several operators on each configuration (totals over the periodic lattice).

    Args:
        spins: ``(..., L, L)`` int8 configurations.
        operators: a sequence of :class:`Operator` (static).

    Returns:
        ``(..., n_operators)`` array of the default float dtype; entries are integers, exact in float32 for
        ``8 N < 2**24``.
    """
    spins = ising.validate_spins(spins, minimum=1)
    operators = tuple(operators)
    if not operators or not all(isinstance(op, Operator) for op in operators):
        raise ValueError("operators must be a non-empty sequence of jaxrg.rg.operators.Operator")
    shifted: dict[tuple[int, int], Array] = {}

    def at(offset):  # s_{i + offset} for every i
        if offset not in shifted:
            shifted[offset] = jnp.roll(spins, (-offset[0], -offset[1]), axis=(-2, -1))
        return shifted[offset]

    values = []
    for op in operators:
        total = jnp.zeros(spins.shape[:-2], jnp.int32)
        for image in op.images:
            product = at(image[0])
            for offset in image[1:]:
                product = product * at(offset)
            total = total + jnp.sum(product, axis=(-2, -1), dtype=jnp.int32)
        values.append(total)
    return jnp.stack(values, axis=-1).astype(jnp.result_type(float))
