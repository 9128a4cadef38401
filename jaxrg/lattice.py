"""Square-lattice geometry: periodic neighbour sums, checkerboard colourings and the compact two-colour layout.

Spins live on an ``L x L`` periodic lattice in the last two axes of an array (leading axes are batch axes).
The checkerboard colour of site ``(i, j)`` is ``(i + j) % 2``: colour 0 ("black") and colour 1 ("white"). Every
nearest-neighbour bond joins a black and a white site, so a colour can be updated in parallel.

Compact layout (after the NVIDIA ising-gpu code): each colour is stored as an ``(L, L/2)`` array,
``black[i, k] = s[i, 2k + i % 2]`` and ``white[i, k] = s[i, 2k + 1 - i % 2]``. The four neighbours of a black site
are the white sites ``(i - 1, k)``, ``(i + 1, k)``, ``(i, k)`` and ``(i, k - 1)`` on even rows or ``(i, k + 1)`` on odd
rows; for white sites the horizontal partner is ``k + 1`` on even rows and ``k - 1`` on odd rows.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg import _checks

__all__ = [
    "validate_size",
    "neighbour_sum",
    "checkerboard_mask",
    "split_checkerboard",
    "merge_checkerboard",
    "compact_neighbour_sum",
]


#: Largest lattice side: site indices and the random words of one sweep are uint32 counters (N = L^2 <= 2^30).
MAX_SIDE = 2**15


def validate_size(L, *, name: str = "L", minimum: int = 2, even: bool = False) -> int:
    """Return ``L`` as a Python int after checking it is an integer in ``[minimum, MAX_SIDE]`` (and even if asked).

    Raises:
        ValueError: naming ``name`` and the allowed values.
    """
    return _checks.integer(L, name, minimum=minimum, maximum=MAX_SIDE, even=even)


def neighbour_sum(spins: Array) -> Array:
    """Sum of the four nearest neighbours of every site on the periodic lattice.

    Args:
        spins: ``(..., L, L)`` spins (any numeric dtype).

    Returns:
        ``(..., L, L)`` array of the same dtype (int8 spins give values in {-4, ..., 4}).
    """
    return (
        jnp.roll(spins, 1, axis=-2)
        + jnp.roll(spins, -1, axis=-2)
        + jnp.roll(spins, 1, axis=-1)
        + jnp.roll(spins, -1, axis=-1)
    )


def checkerboard_mask(L: int) -> np.ndarray:
    """Boolean ``(L, L)`` mask that is True on black sites, ``(i + j) % 2 == 0``."""
    i, j = np.indices((L, L))
    return (i + j) % 2 == 0


def split_checkerboard(spins: Array) -> tuple[Array, Array]:
    """Split ``(..., L, L)`` spins into the compact ``(black, white)`` layout, each ``(..., L, L/2)``."""
    L = spins.shape[-1]
    even_rows = spins[..., 0::2, :]
    odd_rows = spins[..., 1::2, :]
    black = _interleave_rows(even_rows[..., 0::2], odd_rows[..., 1::2], L)
    white = _interleave_rows(even_rows[..., 1::2], odd_rows[..., 0::2], L)
    return black, white


def merge_checkerboard(black: Array, white: Array) -> Array:
    """Inverse of :func:`split_checkerboard`: rebuild ``(..., L, L)`` spins from the compact colours."""
    L = black.shape[-2]
    # Columns of even rows alternate black, white; of odd rows white, black.
    even = jnp.stack([black[..., 0::2, :], white[..., 0::2, :]], axis=-1).reshape(*black.shape[:-2], L // 2, L)
    odd = jnp.stack([white[..., 1::2, :], black[..., 1::2, :]], axis=-1).reshape(*black.shape[:-2], L // 2, L)
    return jnp.stack([even, odd], axis=-2).reshape(*black.shape[:-2], L, L)


def _interleave_rows(even_part: Array, odd_part: Array, L: int) -> Array:
    """Put rows of ``even_part`` at even row indices and ``odd_part`` at odd ones."""
    return jnp.stack([even_part, odd_part], axis=-2).reshape(*even_part.shape[:-2], L, L // 2)


def compact_neighbour_sum(other: Array, colour: int) -> Array:
    """Neighbour sum, in the compact layout, of the sites of ``colour`` (0 black, 1 white) from the other colour.

    Args:
        other: ``(..., L, L/2)`` spins of the opposite colour.
        colour: the colour whose neighbour sums are wanted (static int, 0 or 1).

    Returns:
        ``(..., L, L/2)`` neighbour sums, same dtype as ``other``.
    """
    vertical = jnp.roll(other, 1, axis=-2) + jnp.roll(other, -1, axis=-2)
    # black: even rows take k-1 (roll +1), odd rows k+1 (roll -1); white the other way round.
    shift_even = 1 if colour == 0 else -1
    rows = other.shape[-2]
    even_row = (jnp.arange(rows) % 2 == 0)[:, None]
    horizontal = jnp.where(even_row, jnp.roll(other, shift_even, axis=-1), jnp.roll(other, -shift_even, axis=-1))
    return vertical + other + horizontal
