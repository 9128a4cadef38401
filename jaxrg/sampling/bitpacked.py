"""Bit-packed (multi-spin-coded) checkerboard Metropolis for the 2D Ising model at zero field.

Layout. The compact two-colour layout of :mod:`jaxrg.lattice` stores each colour as an ``(L, n)`` array, ``n = L/2``.
Here every row of a colour is cut into ``G = gcd(n, 16)`` segments of ``S = n / G`` sites, and bit ``g`` of word ``w``
holds site ``k = g * S + w`` (1 for spin +1, 0 for -1): a colour is an ``(L, S)`` ``uint16`` array, one bit per spin
(16 spins per word once ``L`` is a multiple of 32; smaller lattices leave the upper ``16 - G`` bits unused and zero).
With this strided packing (as in the classic multi-spin codes) the horizontal neighbour ``k -+ 1`` is the same bit of
word ``w -+ 1``, except at the segment ends where it is the word at the other end of the row with its bits rotated by
one place; vertical neighbours are whole-word row shifts. Each lattice has its own words (no multi-lattice coding):
nothing couples or correlates two lattices, and batches are taken with ``jax.vmap`` as for every jaxrg kernel.

Update (exact Metropolis). With ``a`` the number of neighbours aligned with a spin, a flip costs
``dE / T = 2 K (2 a - 4)``: spins with ``a <= 2`` flip with probability 1, spins with ``a = 3`` and ``a = 4`` with
``p3 = exp(-4K)`` and ``p4 = exp(-8K)``. The four aligned-neighbour words are counted with bitwise logic, 16 spins
per operation. Every spin that needs a random decision compares its own uniform variate ``u`` with its ``p``
bit-serially: plane ``i`` supplies one fresh random bit per spin, and ``u < p`` is settled at the first binary digit
where ``u`` and ``p`` differ, so a spin is still undecided after ``k`` planes with probability ``2^-k``. Planes are
applied in rounds of ``planes_per_round`` until no spin of the half-sweep is undecided (about ``log2(sites) + 1``
planes; the loop is skipped when ``planes_per_round = 32``, the default off CPU: one fused kernel, no host sync).
A 32-bit hash word serves two planes of a 16-spin word: random bits come from the keyed counter hash of
:mod:`jaxrg.rng` (counter = plane pair * words + word, fresh key per half-sweep), so every spin of every lattice at
every plane gets its own bits; nothing is shared between spins, lattices or sweeps. (NVIDIA's ising-gpu packs 4 bits
per spin, 16 spins per 64-bit word, adds neighbour words nibble-wise and draws one Philox float per spin; here one bit
per spin is stored and a half-sweep draws about ``(log2(sites) + 1) / 32`` hash words per spin.)

Precision. ``p`` is evaluated in the default float dtype (float32, relative rounding ~ 6e-8; float64 under x64) and
truncated to 32 binary digits; spins still undecided after plane 32 (``u`` agrees with ``p`` to 32 digits) are
rejected. Each acceptance probability is therefore ``p`` to within ``max(2^-32, float rounding of exp)`` -- the
precision of the int8 kernel's thresholds; nothing is quantised more coarsely.

Field. Only ``h = 0`` and ``K >= 0`` are supported. Concrete couplings outside that raise ``ValueError``; traced
couplings (inside ``vmap``/``jit``) cannot be checked in Python, so the kernel then stops with an error
(:func:`equinox.error_if`) instead of sampling a wrong distribution. Use :func:`jaxrg.metropolis` for a field.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg import _checks, ising, lattice, rng as rng_lib
from jaxrg.ising import Couplings
from jaxrg.sampling.base import BoundKernel, SamplingAlgorithm, Sampler, closed_over

__all__ = [
    "BitpackedState",
    "BitpackedInfo",
    "init",
    "kernel",
    "build_kernel",
    "check_params",
    "as_sampling_algorithm",
    "bitpacked_metropolis",
    "pack_spins",
    "unpack_spins",
    "packed_segments",
    "threshold_planes",
    "default_planes_per_round",
]

WORD_BITS = 16  # spins per word: the comparison state (accepted, undecided) of a word then fits one uint32
MAX_PLANES = 32  # thresholds have 32 binary digits
MAX_L = 2**15  # hash counters (plane pair) * words + word must fit in uint32
WORD_DTYPE = jnp.uint16


class BitpackedState(NamedTuple):
    """Packed spins: ``black`` and ``white`` are ``(L, S)`` uint16 words (see the module docstring)."""

    black: Array
    white: Array

    @property
    def spins(self) -> Array:
        """The ``(L, L)`` int8 configuration."""
        return unpack_spins(self.black, self.white)


class BitpackedInfo(NamedTuple):
    """Diagnostics of one sweep.

    Attributes:
        acceptance: fraction of sites flipped (NaN when the couplings are unsupported, see module docstring).
        sweeps: work done, 1 sweep.
        planes: random bit-planes drawn (the larger of the two half-sweeps; at most 32): with rounds, the first
            multiple of ``planes_per_round`` at which every comparison of the half-sweep was settled (about
            ``log2(sites) + 1``); 32 when ``planes_per_round = 32``.
    """

    acceptance: Array
    sweeps: Array
    planes: Array


def packed_segments(L: int) -> int:
    """Bits used per word, ``G = gcd(L/2, 16)``, for an ``L x L`` lattice (``L`` even)."""
    return math.gcd(L // 2, WORD_BITS)


def _used_mask(G: int, dtype=WORD_DTYPE) -> Array:
    return jnp.asarray((1 << G) - 1, dtype)


def _pack_colour(colour: Array) -> Array:
    """``(..., L, n)`` int8 spins of one colour -> ``(..., L, S)`` uint16 words."""
    *batch, L, n = colour.shape
    G = math.gcd(n, WORD_BITS)
    bits = (colour > 0).astype(WORD_DTYPE).reshape(*batch, L, G, n // G)
    shifts = jnp.arange(G, dtype=WORD_DTYPE)[:, None]
    return jnp.sum(bits << shifts, axis=-2, dtype=WORD_DTYPE)  # distinct bits: the sum is the bitwise OR


def _unpack_colour(words: Array, n: int) -> Array:
    """``(..., L, S)`` uint16 words -> ``(..., L, n)`` int8 spins in {-1, +1}."""
    *batch, L, S = words.shape
    G = n // S
    bits = (words[..., None, :] >> jnp.arange(G, dtype=WORD_DTYPE)[:, None]) & jnp.asarray(1, WORD_DTYPE)
    return (2 * bits.astype(jnp.int8) - 1).reshape(*batch, L, n)


def pack_spins(spins: Array) -> tuple[Array, Array]:
    """Pack a ``+-1`` int8 lattice into the bit-packed two-colour layout.

    Args:
        spins: ``(..., L, L)`` int8 in {-1, +1}, ``L`` even, ``4 <= L <= 32768``.

    Returns:
        ``(black, white)``, each ``(..., L, S)`` uint16 with ``S = L / (2 G)``, ``G = gcd(L/2, 16)``.

    Raises:
        ValueError: for a wrong dtype or shape, an odd or too small ``L``, or (concrete input) values other than +-1.
    """
    spins = ising.validate_spins(spins, even=True, minimum=4)
    L = spins.shape[-1]
    if L > MAX_L:
        raise ValueError(f"spins: L must be <= {MAX_L} for the bit-packed counters, got L = {L}")
    if _checks.is_concrete(spins) and not bool(np.all(np.abs(np.asarray(spins)) == 1)):
        raise ValueError("spins must hold only -1 and +1")
    black, white = lattice.split_checkerboard(jnp.asarray(spins))
    return _pack_colour(black), _pack_colour(white)


def unpack_spins(black: Array, white: Array) -> Array:
    """Inverse of :func:`pack_spins`: ``(..., L, S)`` uint16 words of both colours -> ``(..., L, L)`` int8 spins.

    Raises:
        ValueError: when the two arrays differ in shape, are not uint16, or ``S`` does not fit any ``L``.
    """
    if np.shape(black) != np.shape(white) or len(np.shape(black)) < 2:
        raise ValueError(f"black and white must have the same shape (..., L, S), got {np.shape(black)}, "
                         f"{np.shape(white)}")
    if getattr(black, "dtype", None) != WORD_DTYPE or getattr(white, "dtype", None) != WORD_DTYPE:
        raise ValueError("black and white must be uint16 words from pack_spins")
    L, S = np.shape(black)[-2:]
    if L % 2 or L < 4 or (L // 2) % S or (L // 2) // S != packed_segments(L):
        raise ValueError(f"packed words of shape (L, S) = ({L}, {S}) do not come from an L x L lattice: "
                         f"need S = L / (2 gcd(L/2, 16))")
    n = L // 2
    return lattice.merge_checkerboard(_unpack_colour(black, n), _unpack_colour(white, n))


def threshold_planes(K: Array) -> Array:
    """Binary digits of ``p3 = exp(-4K)`` and ``p4 = exp(-8K)`` as all-ones/all-zeros ``uint32`` masks.

    Args:
        K: scalar coupling ``J/T >= 0``.

    Returns:
        ``(2, 32)`` uint32: entry ``[c, i]`` is ``0xFFFFFFFF`` if binary digit ``i + 1`` of ``p`` (after the point)
        is 1, where ``p`` is ``p3`` (c = 0) or ``p4`` (c = 1) truncated to 32 digits.
    """
    K = jnp.asarray(K, jnp.result_type(float))
    p = jnp.exp(-jnp.stack([4.0 * K, 8.0 * K]))
    scaled = jnp.floor(p * 2.0**32)
    thresholds = jnp.where(p >= 1.0, jnp.uint32(0xFFFFFFFF), jnp.minimum(scaled, 2.0**32 - 1).astype(jnp.uint32))
    digits = jnp.arange(MAX_PLANES, dtype=jnp.uint32)
    bits = (thresholds[:, None] >> (jnp.uint32(31) - digits)) & jnp.uint32(1)
    return jnp.uint32(0) - bits  # 1 -> 0xFFFFFFFF


def _rotate_up(x: Array, G: int) -> Array:
    """Bit ``g`` <- bit ``g - 1`` within the low ``G`` bits (bit 0 <- bit ``G - 1``)."""
    if G == 1:
        return x
    one, back = jnp.asarray(1, x.dtype), jnp.asarray(G - 1, x.dtype)
    return ((x << one) | (x >> back)) & _used_mask(G, x.dtype)


def _rotate_down(x: Array, G: int) -> Array:
    """Bit ``g`` <- bit ``g + 1`` within the low ``G`` bits (bit ``G - 1`` <- bit 0)."""
    if G == 1:
        return x
    one, back = jnp.asarray(1, x.dtype), jnp.asarray(G - 1, x.dtype)
    return ((x >> one) | (x << back)) & _used_mask(G, x.dtype)


def _horizontal(flat: Array, L: int, S: int, colour: int) -> Array:
    """Flattened words of the horizontal neighbour of every site, from the other colour's flattened words.

    The compact-layout partner is ``k - 1`` (left) for black sites on even rows and white sites on odd rows, ``k + 1``
    (right) otherwise; at a segment end it is the word at the other end of the row with its bits rotated.
    """
    G = (L // 2) // S
    j = jax.lax.iota(jnp.int32, L * S)
    w = j % S
    left = jnp.where(w == 0, _rotate_up(jnp.roll(flat, -(S - 1)), G), jnp.roll(flat, 1))
    right = jnp.where(w == S - 1, _rotate_down(jnp.roll(flat, S - 1), G), jnp.roll(flat, -1))
    even_row = (j // S) % 2 == 0
    return jnp.where(even_row, left, right) if colour == 0 else jnp.where(even_row, right, left)


_LOW = 0xFFFF


def _compare_planes(first_pair, pairs, three, four, state, counter, key_words, digits, n_words):
    """Bit-serial ``u < p`` over the plane pairs ``first_pair .. first_pair + pairs - 1`` (``first_pair`` traceable).

    ``state`` (uint32 per 16-spin word) holds the undecided spins in its low half and the accepted ones in its high
    half: one array, so XLA evaluates each hash once. Pair ``q`` draws one 32-bit hash word per packed word (counter
    ``q * n_words + word``): its low half is plane ``2q``, its high half plane ``2q + 1``, one bit per spin. An
    undecided spin is accepted at a plane where its random bit is 0 and the digit of its ``p`` is 1, and is settled at
    the first plane where the two differ. ``three``/``four`` are uint32 masks of the spins whose ``p`` is ``p3``/``p4``;
    ``digits`` is :func:`threshold_planes` padded with zero digits.
    """
    for i in range(pairs):
        pair = first_pair + i
        offset = (jnp.asarray(pair, jnp.int32) * n_words).astype(jnp.uint32)
        r = rng_lib.triple32(rng_lib.triple32((counter + offset) ^ key_words[0]) ^ key_words[1])
        for half in range(2):
            plane = 2 * pair + half
            r_half = (r >> jnp.uint32(16)) if half else r
            p_bit = (three & digits[0, plane]) | (four & digits[1, plane])
            undecided = state & jnp.uint32(_LOW)
            accepted = undecided & ~r_half & p_bit
            state = (state & jnp.uint32(~_LOW & 0xFFFFFFFF)) | (accepted << jnp.uint32(16)) | (
                undecided & ~(r_half ^ p_bit)
            )
    return state


def _half_sweep(key, words, other, colour, digits, planes_per_round):
    """Metropolis update of one colour; returns ``(new words, number flipped, random bit-planes used)``."""
    L, S = words.shape
    G = (L // 2) // S
    n_words = L * S
    own, nb = words.reshape(-1), other.reshape(-1)  # flat: XLA CPU vectorises poorly over a short minor axis
    a1 = ~(own ^ jnp.roll(nb, S))  # row above
    a2 = ~(own ^ jnp.roll(nb, -S))  # row below
    a3 = ~(own ^ nb)
    a4 = ~(own ^ _horizontal(nb, L, S, colour))
    four = a1 & a2 & a3 & a4
    at_least_three = (a1 & a2 & (a3 | a4)) | (a3 & a4 & (a1 | a2))
    used = _used_mask(G)
    three = (at_least_three & ~four & used).astype(jnp.uint32)
    four = (four & used).astype(jnp.uint32)
    accept = (~at_least_three & used).astype(jnp.uint32)  # dE <= 0: always flipped
    state = (accept << jnp.uint32(16)) | three | four  # undecided: the spins with a = 3 or 4

    key_words = jax.random.bits(key, (2,), jnp.uint32)
    counter = jax.lax.iota(jnp.uint32, n_words)
    pairs_per_round = planes_per_round // 2
    if planes_per_round == MAX_PLANES:  # one round of all 32 planes, unrolled: no loop
        state = _compare_planes(0, pairs_per_round, three, four, state, counter, key_words, digits, n_words)
        planes = jnp.int32(MAX_PLANES)
    else:
        # Rounds while any spin is undecided and digits of p remain. Digits beyond the 32nd are 0, so planes past 32
        # (in a last round that overhangs) can only reject, as truncating p to 32 digits requires.
        digits = jnp.concatenate([digits, jnp.zeros((2, planes_per_round), jnp.uint32)], axis=1)

        def more(carry):
            return (2 * carry[0] < MAX_PLANES) & jnp.any((carry[1] & jnp.uint32(_LOW)) != 0)

        def next_round(carry):
            pair, st = carry
            st = _compare_planes(pair, pairs_per_round, three, four, st, counter, key_words, digits, n_words)
            return pair + pairs_per_round, st

        pair, state = jax.lax.while_loop(more, next_round, (jnp.int32(0), state))
        planes = jnp.minimum(2 * pair, MAX_PLANES)
    accept = (state >> jnp.uint32(16)).astype(WORD_DTYPE)
    flipped = jnp.sum(jax.lax.population_count(accept).astype(jnp.int32))
    return (own ^ accept).reshape(L, S), flipped, planes


def _check_couplings(couplings: Couplings) -> None:
    K, h = couplings
    if np.ndim(K) or np.ndim(h):
        raise ValueError(f"couplings must be scalars (vmap for batches), got K shape {np.shape(K)}, "
                         f"h shape {np.shape(h)}")
    if _checks.is_concrete(couplings):
        check_params(couplings)


def default_planes_per_round() -> int:
    """8 on CPU (rounds in a while loop: stop early), 32 elsewhere (one unrolled round: no host sync per round)."""
    return 8 if jax.default_backend() == "cpu" else MAX_PLANES


def init(spins: Array, key: Array | None = None) -> BitpackedState:
    """The bit-packed state of one ``(L, L)`` int8 configuration (``L`` even, ``4 <= L <= 32768``); ``key`` unused."""
    del key
    spins = ising.validate_spins(spins, even=True, minimum=4, max_ndim=2)
    return BitpackedState(*pack_spins(spins))


def kernel(key: Array, state: BitpackedState, couplings: Couplings, *, planes_per_round: int
           ) -> tuple[BitpackedState, BitpackedInfo]:
    """One bit-packed checkerboard sweep at ``K >= 0`` (traced) and zero field.

    A traced ``h != 0`` or ``K < 0`` stops the run with an error (:func:`equinox.error_if`): the kernel has no field
    term, so it must not return a chain of the wrong distribution.
    """
    K, h = couplings
    K = eqx.error_if(K, (jnp.asarray(h) != 0) | (jnp.asarray(K) < 0),
                     "bit-packed Metropolis needs h = 0 and K >= 0; use jaxrg.metropolis for a field")
    digits = threshold_planes(K)
    key_black, key_white = jax.random.split(key)
    black, flipped_b, planes_b = _half_sweep(key_black, state.black, state.white, 0, digits, planes_per_round)
    white, flipped_w, planes_w = _half_sweep(key_white, state.white, black, 1, digits, planes_per_round)
    L = state.black.shape[-2]
    info = BitpackedInfo(
        acceptance=(flipped_b + flipped_w).astype(jnp.float32) / (L * L),
        sweeps=jnp.ones((), jnp.float32),
        planes=jnp.maximum(planes_b, planes_w),
    )
    return BitpackedState(black, white), info


def build_kernel(*, planes_per_round: int | None = None) -> BoundKernel:
    """The bit-packed kernel ``kernel(key, state, couplings) -> (BitpackedState, BitpackedInfo)``.

    Args:
        planes_per_round: random bit-planes per round (static even int in 2..32; ``None``:
            :func:`default_planes_per_round`). A speed knob only: plane ``i`` always draws the same bits and a
            settled comparison never changes, so the trajectory for a given key is bitwise the same for every value.
    """
    if planes_per_round is None:
        planes_per_round = default_planes_per_round()
    planes_per_round = _checks.integer(planes_per_round, "planes_per_round", minimum=2, maximum=MAX_PLANES, even=True)
    return BoundKernel(kernel, (("planes_per_round", planes_per_round),))


def check_params(couplings: Couplings) -> None:
    """Raise ValueError for concrete couplings the kernel cannot sample (``h != 0``, ``K < 0`` or not finite)."""
    K, h = (np.asarray(x, np.float64) for x in couplings)
    if not np.all(np.isfinite(K) & (K >= 0.0)):
        raise ValueError(f"couplings.K must be finite and >= 0 (ferromagnet, K = J/T), got {K[~(K >= 0)].flat[0]}")
    if np.any(h != 0.0):
        raise ValueError(f"couplings.h must be 0 for the bit-packed kernel (got {h[h != 0].flat[0]}); "
                         "use jaxrg.metropolis for a field")


def as_sampling_algorithm(couplings: Couplings, *, planes_per_round: int | None = None) -> SamplingAlgorithm:
    """Bit-packed checkerboard Metropolis (one bit per spin) for ``K >= 0`` at zero field.

    Args:
        couplings: :class:`~jaxrg.ising.Couplings` with scalar ``K >= 0`` and ``h = 0`` (vmap for batches).
        planes_per_round: see :func:`build_kernel`.

    Returns:
        :class:`~jaxrg.sampling.base.SamplingAlgorithm`: ``init(spins)`` with ``(L, L)`` int8 spins returns a
        :class:`BitpackedState`; ``step(key, state) -> (BitpackedState, BitpackedInfo)`` is one full sweep.

    Raises:
        ValueError: for non-scalar couplings, concrete ``K`` negative or not finite, concrete ``h != 0``, or a bad
            ``planes_per_round``.
    """
    _check_couplings(couplings)
    return closed_over(init, build_kernel(planes_per_round=planes_per_round), couplings)


bitpacked_metropolis = Sampler("bitpacked_metropolis", init, build_kernel, as_sampling_algorithm, check_params)
