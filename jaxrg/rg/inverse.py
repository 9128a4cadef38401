"""Inverse-RG generators: few-parameter networks that dream up critical Ising configurations at any size.

After Rancon, Rancon, Ivek and Balog, "Dreaming up scale invariance via inverse renormalization group"
(arXiv:2506.04016). A generator inverts one 2x2 majority-rule step *in distribution*: given a coarse configuration
``sigma`` on ``L x L`` it

1. upsamples it to ``2L x 2L`` by nearest-neighbour copying (every coarse spin fills its 2x2 block);
2. applies one circular convolution with a D4-symmetric kernel; for 3x3 the kernel is
   ``[[a, b, a], [b, c, b], [a, b, a]]`` (three trainable numbers), 5x5 and 7x7 have 6 and 10;
3. reads the result as a local field ``h`` and samples every fine spin independently,
   ``p(s | sigma) = exp(s h) / (2 cosh h)``, i.e. ``P(s = +1) = sigmoid(2 h)``.

There is no bias: ``h`` is an odd (here linear) function of the coarse spins, so flipping every coarse spin flips the
fine distribution exactly (the Ising up/down symmetry holds by construction, not by training). The multi-layer variant
(:class:`ConvNetGenerator`) keeps this property with bias-free convolutions and odd (tanh) activations.

Training (:func:`train`) minimises the cross-entropy ``-<log p(fine | coarse)>`` per fine spin over pairs
``(fine, majority_rule(fine))`` of critical configurations (:func:`critical_configurations`: the project's Wolff
sampler at ``K_c``). For the symmetric-kernel models the field is linear in the parameters, so the loss is that of a
logistic regression: convex, with a unique minimum, and maximum likelihood is consistent (a model trained on the
output of a known generator recovers its parameters). The tie-weighted variant gives the fine spins of blocks whose
block sum was zero (majority decided by a coin) the weight ``tie_weight`` instead of 1.

Generation (:func:`generate`) starts from a small random lattice and upsamples ``k`` times (``1 -> 2 -> ... -> 2^k``)
in one batched, jitted step per level. :func:`generate_levels` returns every level of the hierarchy, and
:func:`level_observables` the energy and magnetisation per spin of every level, which is how the study measures
ensembles of all sizes ``8 ... 1024`` from one generation run.

Sampling (:func:`sample_fine`) draws fine spin ``i`` as ``+1`` when its counter-based hash bits fall below an integer
threshold: a 3x3 or 5x5 field takes few values, so the thresholds of all of them are computed once per level (exactly
the float event ``uniform < sigmoid(2 h)``, so the samples are bitwise those of float fields and sigmoids) and every
site does integer work only. Generation runs one compiled step per level.

Off-critical generation (:class:`ThermalGenerator`) runs the relevant thermal direction backwards in scale: the
ensemble of side ``L`` at temperature ``T`` has thermal scaling field ``t = T / T_c - 1`` on its finest lattice and
``t b^(y_t m)`` on the lattice ``m`` levels coarser (:func:`thermal_scaling_fields`, the linearised flow of
:mod:`jaxrg.scale` integrated outwards), and each level's kernel is the critical one scaled by
``exp(-response tau / (1 + curvature |tau|))``; the responses and curvatures (below and above ``T_c``) are matched to
Monte Carlo at one or more sizes (:func:`calibrate_thermal`). :func:`load_pretrained_thermal` returns the shipped one.

Trained models are saved with equinox serialisation (:func:`save`, :func:`load`: a one-line JSON header that names
the architecture, then ``eqx.tree_serialise_leaves``); :func:`load_pretrained` returns the shipped 3x3 model.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import io
import json
import math
import numbers
import os
import time
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

from jaxrg import exact, files, ising, observables, rng
from jaxrg._summary import summary_repr
from jaxrg.observables import Timeseries
from jaxrg.rg.blocking import majority_rule
from jaxrg.sampling import wolff
from jaxrg.sampling.multispin import merge_sublattices
from jaxrg.sampling.base import BatchedKernel
from jaxrg.sampling.driver import run_chain
from jaxrg.stats import Estimate

__all__ = [
    "SymmetricConvGenerator",
    "ThermalGenerator",
    "thermal_generator",
    "reduced_temperature",
    "LinearThermalFlow",
    "thermal_scaling_fields",
    "ThermalCalibration",
    "calibrate_thermal",
    "ConvNetGenerator",
    "symmetric_generator",
    "convnet_generator",
    "upsample",
    "log_likelihood",
    "sample_fine",
    "cross_entropy",
    "majority_with_ties",
    "expected_energy",
    "critical_configurations",
    "GeneratorTrainingResult",
    "train",
    "generate",
    "generate_levels",
    "level_observables",
    "EnsembleObservables",
    "ensemble_observables",
    "save",
    "load",
    "load_pretrained",
    "PRETRAINED_PATH",
    "load_pretrained_thermal",
    "PRETRAINED_THERMAL_PATH",
]

PRETRAINED_PATH = "data/inverse_3x3.eqx"  # inside the jaxrg package
PRETRAINED_THERMAL_PATH = "data/inverse_thermal_3x3.eqx"
_FORMAT = "jaxrg.inverse/1"


# ----------------------------------------------------------------------------------------------------------------
# models
# ----------------------------------------------------------------------------------------------------------------


def _orbits(radius: int) -> list[tuple[int, int]]:
    """Classes ``(p, q)``, ``0 <= p <= q <= radius``, of kernel offsets under the square's symmetry group D4."""
    return [(p, q) for q in range(radius + 1) for p in range(q + 1)]


def _orbit_offsets(p: int, q: int) -> list[tuple[int, int]]:
    """All offsets ``(dy, dx)`` whose absolute values are ``{p, q}`` in some order."""
    out = set()
    for u, v in ((p, q), (q, p)):
        for su in (1, -1):
            for sv in (1, -1):
                out.add((su * u, sv * v))
    return sorted(out)


def upsample(coarse: Array) -> Array:
    """Nearest-neighbour 2x upsampling: every coarse spin fills its 2x2 block, ``(..., L, L) -> (..., 2L, 2L)``."""
    return jnp.repeat(jnp.repeat(coarse, 2, axis=-2), 2, axis=-1)


class SymmetricConvGenerator(eqx.Module):
    """Upsampling + one circular ``(2r+1) x (2r+1)`` convolution with a D4-symmetric kernel, no bias.

    Attributes:
        params: ``(n_params,)`` kernel values, one per offset class ``(p, q)`` with ``0 <= p <= q <= r``, ordered
            ``(0,0), (0,1), (1,1), (0,2), (1,2), (2,2), ...``; for 3x3 that is ``(c, b, a)`` of
            ``[[a, b, a], [b, c, b], [a, b, a]]``.
        radius: kernel radius ``r`` (static): 1, 2, 3 give 3, 6, 10 parameters.
    """

    params: Array
    radius: int = eqx.field(static=True)

    def kernel(self) -> Array:
        """The full ``(2r+1, 2r+1)`` kernel."""
        r = self.radius
        k = jnp.zeros((2 * r + 1, 2 * r + 1), self.params.dtype)
        for i, (p, q) in enumerate(_orbits(r)):
            for dy, dx in _orbit_offsets(p, q):
                k = k.at[r + dy, r + dx].set(self.params[i])
        return k

    def sublattice_fields(self, coarse: Array) -> Array:
        """The same fields on the four fine sublattices, ``(..., L, L) -> (..., 2, 2, L, L)``: ``[a, b, Y, X]`` is
        fine site ``(2Y + a, 2X + b)``.

        Computed on the coarse lattice: the fine site ``(2Y + a, 2X + b)`` sees, at kernel offset ``(dy, dx)``, the
        coarse spin ``(Y + (a - dy) // 2, X + (b - dx) // 2)``, so a few coarse-lattice shifts replace the fine
        upsampling and rolls. The orbit sums are the same small integers added in the same order as in
        :meth:`__call__`, so the fields are bitwise equal to it.
        """
        c = coarse.astype(self.params.dtype)
        rows = []
        for sums_a in _sublattice_orbit_sums(c, self.radius):
            cols = []
            for sums in sums_a:
                h = jnp.zeros_like(c)
                for i, orbit in enumerate(sums):
                    h = h + self.params[i] * orbit
                cols.append(h)
            rows.append(jnp.stack(cols, axis=-3))
        return jnp.stack(rows, axis=-4)

    def __call__(self, coarse: Array) -> Array:
        """Local field ``h`` of every fine spin, ``(..., L, L) -> (..., 2L, 2L)`` float (odd in ``coarse``)."""
        up = upsample(coarse.astype(self.params.dtype))
        h = jnp.zeros_like(up)
        for i, (p, q) in enumerate(_orbits(self.radius)):
            orbit = sum(jnp.roll(up, (dy, dx), axis=(-2, -1)) for dy, dx in _orbit_offsets(p, q))
            h = h + self.params[i] * orbit
        return h


class ConvNetGenerator(eqx.Module):
    """Upsampling + a small bias-free circular CNN with tanh activations (an odd function: exact up/down symmetry).

    Attributes:
        layers: tuple of ``eqx.nn.Conv2d`` (circular padding, no bias); tanh between layers, none after the last.
    """

    layers: tuple

    def __call__(self, coarse: Array) -> Array:
        """Local field ``h`` of every fine spin, ``(..., L, L) -> (..., 2L, 2L)`` float."""
        dtype = self.layers[0].weight.dtype
        up = upsample(coarse.astype(dtype))
        batch = up.shape[:-2]
        x = up.reshape(-1, 1, *up.shape[-2:])

        def one(x):
            for i, layer in enumerate(self.layers):
                x = layer(x)
                if i < len(self.layers) - 1:
                    x = jnp.tanh(x)
            return x[0]

        return jax.vmap(one)(x).reshape(*batch, *up.shape[-2:])


def symmetric_generator(kernel_size: int = 3, params=None, *, dtype=jnp.float32) -> SymmetricConvGenerator:
    """A :class:`SymmetricConvGenerator` with a ``kernel_size x kernel_size`` kernel (3, 5 or 7; any odd size >= 3).

    Args:
        kernel_size: odd kernel side >= 3 (3: 3 parameters, 5: 6, 7: 10).
        params: initial parameters (``(n_params,)``, order of :class:`SymmetricConvGenerator`); default zeros
            (the infinite-temperature generator: fine spins independent and unbiased).
        dtype: float dtype of the parameters.

    Returns:
        :class:`SymmetricConvGenerator`.
    """
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, numbers.Integral) or kernel_size < 3 \
            or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be an odd integer >= 3, got {kernel_size!r}")
    radius = (int(kernel_size) - 1) // 2
    n = len(_orbits(radius))
    if params is None:
        params = jnp.zeros((n,), dtype)
    params = jnp.asarray(params, dtype)
    if params.shape != (n,):
        raise ValueError(f"params must have shape ({n},) for kernel_size {kernel_size}, got {params.shape}")
    return SymmetricConvGenerator(params, radius)


def convnet_generator(key: Array, *, channels: int = 8, depth: int = 3, kernel_size: int = 3,
                      dtype=jnp.float32) -> ConvNetGenerator:
    """A :class:`ConvNetGenerator`: ``depth`` circular convolutions ``1 -> channels -> ... -> 1``, tanh between.

    Args:
        key: PRNG key for the initial weights.
        channels: hidden channels (>= 1).
        depth: number of convolution layers (>= 2).
        kernel_size: odd kernel side of every layer (>= 3).
        dtype: float dtype of the weights.
    """
    for name, value, lo in (("channels", channels, 1), ("depth", depth, 2), ("kernel_size", kernel_size, 3)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}")
    sizes = [1] + [int(channels)] * (depth - 1) + [1]
    keys = jax.random.split(key, depth)
    layers = tuple(
        eqx.nn.Conv2d(sizes[i], sizes[i + 1], kernel_size, padding=kernel_size // 2, padding_mode="CIRCULAR",
                      use_bias=False, dtype=dtype, key=keys[i])
        for i in range(depth)
    )
    return ConvNetGenerator(layers)


# ----------------------------------------------------------------------------------------------------------------
# likelihood and sampling
# ----------------------------------------------------------------------------------------------------------------


def _log_2cosh(h: Array) -> Array:
    a = jnp.abs(h)
    return a + jnp.log1p(jnp.exp(-2.0 * a))


def log_likelihood(model, fine: Array, coarse: Array) -> Array:
    """``log p(fine | coarse)`` of every fine spin, ``s h - log(2 cosh h)``, ``(..., 2L, 2L)``.

    Args:
        model: a generator.
        fine: ``(..., 2L, 2L)`` spins (int8 or float) in {-1, +1}.
        coarse: ``(..., L, L)`` spins in {-1, +1}.
    """
    h = model(coarse)
    return fine.astype(h.dtype) * h - _log_2cosh(h)


def _uniform_from_bits(bits: Array) -> Array:
    """The uniform number in (0, 1) of a draw: the top 24 bits, ``(k + 1/2) / 2^24`` in float32."""
    return (bits >> 8).astype(jnp.float32) * jnp.float32(2.0**-24) + jnp.float32(2.0**-25)


def _spins_from_fields(h: Array, bits: Array) -> Array:
    p_up = jax.nn.sigmoid(2.0 * h.astype(jnp.float32))
    return jnp.where(_uniform_from_bits(bits) < p_up, 1, -1).astype(jnp.int8)


def _up_thresholds(h: Array) -> Array:
    """``uint32`` thresholds ``T(h)``: ``_uniform_from_bits(bits) < sigmoid(2 h)`` exactly when ``bits >> 8 < T(h)``.

    The uniform number is non-decreasing in ``k = bits >> 8``, so the event is ``k < T`` with ``T`` the number of
    ``k`` in ``[0, 2^24)`` whose uniform is below ``p = sigmoid(2 h)``; ``T`` lies within two of ``floor(p 2^24)``
    (the uniform is ``(k + 1/2) / 2^24`` up to one float32 rounding), so five exact float32 comparisons find it.
    """
    p = jax.nn.sigmoid(2.0 * h.astype(jnp.float32))
    k0 = jnp.floor(p * jnp.float32(2.0**24)).astype(jnp.int32)  # p 2^24 is exact in float32
    k = k0[..., None] + jnp.arange(-2, 3, dtype=jnp.int32)
    inside = (k >= 0) & (k < 2**24)
    u = _uniform_from_bits(jnp.clip(k, 0, 2**24 - 1).astype(jnp.uint32) << 8)
    below = jnp.where(inside, u < p[..., None], k < 0)  # k < 0 counts as below, k >= 2^24 as above
    return (k0 - 2 + jnp.sum(below, axis=-1, dtype=jnp.int32)).astype(jnp.uint32)


_MAX_TABLE = 2**16  # field lookup tables up to this many entries (radius 1: 50, radius 2: 11250)


def _orbit_sizes(radius: int) -> list[int]:
    return [len(_orbit_offsets(p, q)) for p, q in _orbits(radius)]


def _table_size(radius: int) -> int:
    return math.prod(n + 1 for n in _orbit_sizes(radius))


def _field_table(model: SymmetricConvGenerator) -> Array:
    """The field of every combination of orbit sums, ``(table_size,)``, indexed as in :func:`_orbit_index`.

    Orbit ``i`` of ``n_i`` offsets sums to ``o_i = 2 j_i - n_i``, ``j_i = 0 .. n_i``; the entry at the mixed-radix
    index of ``(j_0, j_1, ...)`` is ``sum_i params_i o_i`` accumulated in the order of
    :meth:`SymmetricConvGenerator.__call__`, so it is bitwise the field computed there.
    """
    sizes = _orbit_sizes(model.radius)
    grids = jnp.meshgrid(*[jnp.arange(n + 1) for n in sizes], indexing="ij")
    h = jnp.zeros(grids[0].shape, model.params.dtype)
    for i, (n, j) in enumerate(zip(sizes, grids)):
        h = h + model.params[i] * (2 * j - n).astype(model.params.dtype)
    return h.reshape(-1)


def _orbit_index(model: SymmetricConvGenerator, coarse: Array) -> Array:
    """Mixed-radix index of the orbit sums of every fine site, on the four sublattices: ``(..., 2, 2, L, L)`` int32.

    Integer version of :meth:`SymmetricConvGenerator.sublattice_fields` (same coarse-lattice shifts).
    """
    c = coarse.astype(jnp.int8)
    sizes = _orbit_sizes(model.radius)
    strides = [math.prod(n + 1 for n in sizes[i + 1:]) for i in range(len(sizes))]
    rows = []
    for sums_a in _sublattice_orbit_sums(c, model.radius):
        cols = []
        for sums in sums_a:
            idx = jnp.zeros(c.shape, jnp.int32)
            for i, orbit in enumerate(sums):
                idx = idx + ((orbit.astype(jnp.int32) + sizes[i]) // 2) * strides[i]
            cols.append(idx)
        rows.append(jnp.stack(cols, axis=-3))
    return jnp.stack(rows, axis=-4)


def _sublattice_orbit_sums(c: Array, radius: int) -> list[list[list[Array]]]:
    """Orbit sums of the kernel seen by every fine sublattice, from coarse-lattice shifts: ``[a][b][orbit]``.

    Fine site ``(2Y + a, 2X + b)`` sees, at kernel offset ``(dy, dx)``, the coarse spin
    ``(Y + (a - dy) // 2, X + (b - dx) // 2)``; each ``(..., L, L)`` sum (in the dtype of ``c``) adds the same small
    integers in the same order as the fine-lattice computation. Each shift of ``c`` is made once.
    """
    shifted: dict[tuple[int, int], Array] = {}

    def at(sy: int, sx: int) -> Array:  # c[Y + sy, X + sx], periodic
        if (sy, sx) not in shifted:
            shifted[(sy, sx)] = jnp.roll(c, (-sy, -sx), axis=(-2, -1))
        return shifted[(sy, sx)]

    return [[[sum(at((a - dy) // 2, (b - dx) // 2) for dy, dx in _orbit_offsets(p, q)) for p, q in _orbits(radius)]
             for b in (0, 1)] for a in (0, 1)]


def _nearest_thresholds(table: Array, coarse: Array) -> Array:
    """The thresholds of a 3x3 generator on the four sublattices, ``(..., 2, 2, L, L)``, by selects (no gather).

    Fine site ``(2Y + a, 2X + b)`` sees its own coarse spin ``C``, the two coarse neighbours across the nearer block
    edges (sum ``S``) and the coarse spin across the nearer corner ``D``: orbit sums ``(C, 2C + S, C + S + D)``. The
    twelve values of ``(C, S, D)`` pick the entry of ``table`` (indexed as in :func:`_orbit_index`) by a tree of
    elementwise selects, which XLA vectorises (a gather from a table does not on CPU).
    """
    c = coarse.astype(jnp.int8)

    def entry(C: int, S: int, D: int) -> Array:
        return table[((C + 1) // 2) * 25 + ((2 * C + S + 4) // 2) * 5 + (C + S + D + 4) // 2]

    rows = []
    for a in (0, 1):
        cols = []
        for b in (0, 1):
            sy, sx = (1 if a else -1), (1 if b else -1)
            S = jnp.roll(c, -sy, axis=-2) + jnp.roll(c, -sx, axis=-1)
            D = jnp.roll(c, (-sy, -sx), axis=(-2, -1))
            by_spin = {}
            for C in (-1, 1):
                for Dv in (-1, 1):
                    middle = jnp.where(S < 0, entry(C, -2, Dv), entry(C, 0, Dv))
                    by_spin[C, Dv] = jnp.where(S > 0, entry(C, 2, Dv), middle)
            up = jnp.where(D > 0, by_spin[1, 1], by_spin[1, -1])
            down = jnp.where(D > 0, by_spin[-1, 1], by_spin[-1, -1])
            cols.append(jnp.where(c > 0, up, down))
        rows.append(jnp.stack(cols, axis=-3))
    return jnp.stack(rows, axis=-4)


def sample_fine(model, coarse: Array, key: Array) -> Array:
    """Draw fine spins given coarse spins: ``P(s = +1) = sigmoid(2 h)`` independently per site.

    The bits of fine site ``i`` (row-major over ``(..., 2L, 2L)``) are :func:`jaxrg.rng.site_bits` ``(key, i)`` and
    the spin is ``+1`` when the uniform number ``(bits >> 8 + 1/2) / 2^24`` is below ``sigmoid(2 h)``. For a
    :class:`SymmetricConvGenerator` with at most ``2^16`` combinations of orbit sums (kernel 3x3 or 5x5) the field
    takes few values: the acceptance thresholds of all of them are computed once per call (:func:`_up_thresholds`)
    and every site compares its bits with the threshold of its orbit sums (integer work on the four sublattices,
    from coarse-lattice shifts), which is the same event as the float comparison, so the samples are bitwise those
    of the fine-lattice float computation. Larger kernels compute the float fields on the sublattices.

    Args:
        model: a generator.
        coarse: ``(..., L, L)`` spins in {-1, +1} (int8 or float).
        key: PRNG key (counter-based hash bits, :func:`jaxrg.rng.hash_bits`).

    Returns:
        ``(..., 2L, 2L)`` int8 spins.
    """
    if not isinstance(model, SymmetricConvGenerator):
        h = model(coarse)
        return _spins_from_fields(h, rng.hash_bits(key, h.shape))
    return merge_sublattices(_sample_fine_sublattices(model, coarse, key))


def _sample_fine_sublattices(model: SymmetricConvGenerator, coarse: Array, key: Array) -> Array:
    """The spins of :func:`sample_fine` on the four fine sublattices, ``(..., L, L) -> (..., 2, 2, L, L)`` int8."""
    bits = _fine_site_bits(coarse, key)
    if model.radius == 1:
        thresholds = _nearest_thresholds(_up_thresholds(_field_table(model)), coarse)
        return jnp.where((bits >> 8) < thresholds, 1, -1).astype(jnp.int8)
    if _table_size(model.radius) <= _MAX_TABLE:
        thresholds = _up_thresholds(_field_table(model))
        return jnp.where((bits >> 8) < thresholds[_orbit_index(model, coarse)], 1, -1).astype(jnp.int8)
    return _spins_from_fields(model.sublattice_fields(coarse), bits)


def _fine_site_bits(coarse: Array, key: Array) -> Array:
    """The hash bits of every fine site on the four sublattices, ``(..., 2, 2, L, L)`` ``uint32``: fine site
    ``(2Y + a, 2X + b)`` of configuration ``n`` draws :func:`jaxrg.rng.site_bits` at its row-major index."""
    *batch, L, _ = coarse.shape
    F = 2 * L
    n_batch = math.prod(batch)
    if n_batch * F * F >= 2**32:
        raise ValueError(f"at most 2^32 fine spins per call, asked for {n_batch} x {F} x {F}")
    shape = (n_batch, 2, 2, L, L)
    iota = lambda d: jax.lax.broadcasted_iota(jnp.uint32, shape, d)  # noqa: E731
    counter = iota(0) * jnp.uint32(F * F) + (2 * iota(3) + iota(1)) * jnp.uint32(F) + 2 * iota(4) + iota(2)
    return rng.site_bits(key, counter.reshape(*batch, 2, 2, L, L))


def _sample_fine_float(model: SymmetricConvGenerator, coarse: Array, key: Array) -> Array:
    """:func:`sample_fine` through float fields and sigmoids on every site (the reference for the lookup path)."""
    return merge_sublattices(_spins_from_fields(model.sublattice_fields(coarse), _fine_site_bits(coarse, key)))


def expected_energy(model, coarse: Array) -> Array:
    """Mean over the batch of the exact expected fine energy per spin given coarse spins, ``-<tanh h_i tanh h_j>``.

    Args:
        model: a generator; coarse: ``(..., L, L)`` spins.

    Returns:
        Scalar: ``-(1/N) sum_<ij> tanh(h_i) tanh(h_j)`` averaged over the leading axes (fine spins are independent
        given the coarse ones, so this is ``E[e_fine | coarse]`` exactly).
    """
    t = jnp.tanh(model(coarse))
    return -jnp.mean(t * (jnp.roll(t, 1, axis=-1) + jnp.roll(t, 1, axis=-2)))


def majority_with_ties(fine: Array, key: Array) -> tuple[Array, Array]:
    """2x2 majority rule with random tie-breaks, and the tie indicator of every fine spin.

    Args:
        fine: ``(n, 2L, 2L)`` int8 configurations.
        key: PRNG key for the tie-breaking coins.

    Returns:
        ``(coarse, tied)``: ``(n, L, L)`` int8 block spins and ``(n, 2L, 2L)`` bool, True for fine spins of a block
        whose sum was zero.
    """
    coarse = majority_rule(fine, 2, key=key)
    L2 = fine.shape[-1]
    block_sum = fine.astype(jnp.int32).reshape(*fine.shape[:-2], L2 // 2, 2, L2 // 2, 2).sum(axis=(-3, -1))
    return coarse, upsample(block_sum == 0)


def cross_entropy(model, fine: Array, coarse: Array, weights: Array | None = None) -> Array:
    """Mean cross-entropy ``-log p(fine | coarse)`` per fine spin (optionally weighted per spin).

    Args:
        model: a generator.
        fine: ``(n, 2L, 2L)`` spins; ``coarse``: ``(n, L, L)`` spins.
        weights: optional ``(n, 2L, 2L)`` non-negative weights (e.g. ``tie_weight`` on tied blocks, else 1).

    Returns:
        Scalar loss in nats per spin (weighted mean).
    """
    ll = log_likelihood(model, fine, coarse)
    if weights is None:
        return -jnp.mean(ll)
    w = weights.astype(ll.dtype)
    return -jnp.sum(w * ll) / jnp.sum(w)


# ----------------------------------------------------------------------------------------------------------------
# training data and training
# ----------------------------------------------------------------------------------------------------------------


def _scalar_temperature(value) -> float:
    T = np.asarray(value, np.float64) if isinstance(value, (numbers.Real, np.ndarray, jax.Array)) else None
    if T is None or T.shape != () or not np.isfinite(T) or T <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {value!r}")
    return float(T)


def _int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def critical_configurations(
    L: int, n: int, *, seed: int = 0, chains: int = 8, thermalize: int | None = None,
    steps_between: int | None = None,
) -> np.ndarray:
    """Critical Ising configurations from the project's Wolff sampler at ``K_c = ln(1 + sqrt 2) / 2``.

    Args:
        L: lattice size (even, >= 4).
        n: number of configurations (rounded up to a multiple of ``chains``, then cut to ``n``).
        seed: integer seed.
        chains: independent chains run as one vmapped batch.
        thermalize: Wolff steps discarded per chain, from an ordered start (at K_c a cluster grown in the ordered
            state percolates, so the cold start relaxes within a few sweeps; from a random start the first clusters
            are tiny and a few hundred steps leave an L = 64 lattice far from equilibrium). Default
            ``100 + 20 * steps_between``.
        steps_between: Wolff steps between saved configurations (default ``max(2, L // 8)``: about one lattice
            sweep's worth of clusters, since a critical cluster holds a fraction ~ L^(-1/4) of the lattice).

    Returns:
        ``(n, L, L)`` int8 numpy array (chain-major: consecutive entries come from the same chain).
    """
    from jaxrg import lattice

    L = lattice.validate_size(L, name="L", minimum=4, even=True)
    n = _int(n, "n", 1)
    chains = _int(chains, "chains", 1)
    steps_between = max(2, L // 8) if steps_between is None else _int(steps_between, "steps_between", 1)
    thermalize = 100 + 20 * steps_between if thermalize is None else _int(thermalize, "thermalize", 0)
    couplings = ising.couplings(np.array([exact.CRITICAL_TEMPERATURE]))
    kernel = BatchedKernel(wolff.build_kernel(), chains)
    _, k_therm, k_run = jax.random.split(jax.random.key(seed), 3)
    state = jax.vmap(jax.vmap(wolff.init))(ising.ordered_spins(L, (1, chains)))
    if thermalize:
        state = run_chain(kernel, k_therm, state, couplings, n_measurements=thermalize).state
    per_chain = math.ceil(n / chains)
    out = run_chain(kernel, k_run, state, couplings, n_measurements=per_chain, steps_per_measurement=steps_between,
                    measure=_spins_of)
    spins = np.asarray(out.measurements)[:, 0]  # (per_chain, chains, L, L)
    return np.ascontiguousarray(np.swapaxes(spins, 0, 1).reshape(-1, L, L)[:n])


def _spins_of(state, params):
    del params
    return state.spins


class GeneratorTrainingResult(NamedTuple):
    """What :func:`train` returns.

    Attributes:
        model: the trained generator.
        loss: ``(steps,)`` training loss per step (nats per fine spin).
        seconds: wall-clock training time (compilation included).
    """

    model: object
    loss: np.ndarray
    seconds: float

    __repr__ = summary_repr  # one line: big arrays as dtype[shape]


def _loss(params, static, pairs, idx, energy_target, energy_weight):
    """Mean cross-entropy over the level pairs (each level weighs equally per fine spin), plus the energy term."""
    m = eqx.combine(params, static)
    total = 0.0
    for f, c, w in pairs:
        total = total + cross_entropy(m, f[idx], c[idx], None if w is None else w[idx])
    total = total / len(pairs)
    if energy_target is not None:
        f, c, _ = pairs[0]
        total = total + energy_weight * (expected_energy(m, c[idx]) - energy_target) ** 2
    return total


@eqx.filter_jit
def _fit(params, static, pairs, keys, learning_rate, energy_target, energy_weight, *, batch_size):
    """Adam with a cosine-decayed step over ``len(keys)`` minibatch steps, as one compiled scan over the data."""
    n = pairs[0][0].shape[0]
    optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, keys.shape[0], alpha=0.01))

    def update(carry, k):
        params, opt_state = carry
        idx = jax.random.permutation(k, n)[:batch_size] if batch_size < n else jnp.arange(n)
        loss, grads = jax.value_and_grad(_loss)(params, static, pairs, idx, energy_target, energy_weight)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    (params, _), losses = jax.lax.scan(update, (params, optimizer.init(params)), keys)
    return params, losses


def train(
    model,
    fine,
    coarse=None,
    *,
    key: Array,
    steps: int = 300,
    learning_rate: float = 0.05,
    batch_size: int | None = None,
    tie_weight: float | None = None,
    levels: int = 1,
    energy_target: float | None = None,
    energy_weight: float = 10.0,
) -> GeneratorTrainingResult:
    """Fit a generator by minimising the cross-entropy of fine configurations given their coarse images (optax Adam).

    Args:
        model: initial generator (e.g. :func:`symmetric_generator` ``(3)``).
        fine: ``(n, 2L, 2L)`` int8 fine configurations.
        coarse: optional ``(n, L, L)`` int8 coarse images; default: the 2x2 majority rule of ``fine`` (random
            tie-breaks from ``key``).
        key: PRNG key (tie-breaks, minibatches).
        steps: optimisation steps (>= 1).
        learning_rate: initial Adam step size (> 0), cosine-decayed to 1% of it over ``steps`` (so the minibatch
            noise of the final parameters shrinks with the step size).
        batch_size: configurations per step (default: all, i.e. full-batch).
        tie_weight: if given (>= 0), the weight of fine spins of tied blocks in the loss (the others weigh 1);
            needs ``coarse=None``.
        levels: multi-level consistency: train on the pairs of ``levels`` successive majority-rule steps
            (fine -> coarse, coarse -> coarser, ...) at once, so one map must serve every scale; needs ``coarse=None``.
        energy_target: observable matching: if given, add ``energy_weight * (E_model - energy_target)^2`` to the
            loss, where ``E_model`` is the exact conditional expectation of the fine energy per spin given the
            coarse images (fine spins are independent given the coarse ones, so ``<s_i s_j> = tanh h_i tanh h_j``;
            differentiable without relaxation). E.g. ``-sqrt(2)``, the critical energy per spin.
        energy_weight: weight of the energy penalty (>= 0).

    Returns:
        :class:`GeneratorTrainingResult`.
    """
    fine = ising.validate_spins(fine, name="fine", minimum=4, even=True)
    if fine.ndim != 3:
        raise ValueError(f"fine must have shape (n, 2L, 2L), got {fine.shape}")
    steps = _int(steps, "steps", 1)
    levels = _int(levels, "levels", 1)
    if not (isinstance(learning_rate, numbers.Real) and learning_rate > 0):
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
    if tie_weight is not None and not (isinstance(tie_weight, numbers.Real) and tie_weight >= 0):
        raise ValueError(f"tie_weight must be None or a number >= 0, got {tie_weight!r}")
    if coarse is not None and (tie_weight is not None or levels > 1):
        raise ValueError("tie_weight and levels > 1 need coarse=None (coarse images are made from fine here)")
    if fine.shape[-1] % (2**levels) or fine.shape[-1] // 2**levels < 2:
        raise ValueError(f"levels = {levels} needs 2**levels to divide L = {fine.shape[-1]} with L / 2**levels >= 2")
    key_cg, key_batch = jax.random.split(key)
    pairs = []  # (fine, coarse, weights) per level
    if coarse is not None:
        coarse = ising.validate_spins(coarse, name="coarse", minimum=2)
        if coarse.shape != (fine.shape[0], fine.shape[1] // 2, fine.shape[2] // 2):
            expected = (fine.shape[0], fine.shape[1] // 2, fine.shape[2] // 2)
            raise ValueError(f"coarse must have shape (n, L/2, L/2) = {expected}, got {coarse.shape}")
        pairs.append((fine, coarse, None))
    else:
        x = fine
        for k in jax.random.split(key_cg, levels):
            c, tied = majority_with_ties(x, k)
            w = None if tie_weight is None else jnp.where(tied, jnp.float32(tie_weight), jnp.float32(1.0))
            pairs.append((x, c, w))
            x = c
    n = fine.shape[0]
    batch_size = n if batch_size is None else min(_int(batch_size, "batch_size", 1), n)

    params, static = eqx.partition(model, eqx.is_inexact_array)
    t0 = time.perf_counter()
    params, losses = _fit(params, static, pairs, jax.random.split(key_batch, steps), jnp.float32(learning_rate),
                          None if energy_target is None else jnp.float32(energy_target), jnp.float32(energy_weight),
                          batch_size=batch_size)
    losses = np.asarray(jax.device_get(losses))
    seconds = time.perf_counter() - t0
    return GeneratorTrainingResult(eqx.combine(params, static), losses, seconds)


# ----------------------------------------------------------------------------------------------------------------
# off-critical generation: the thermal direction, run backwards in scale
# ----------------------------------------------------------------------------------------------------------------


_MAX_EXPONENT = 40.0


class ThermalGenerator(eqx.Module):
    """A critical generator with a thermal direction: at thermal scaling field ``tau`` its kernel is
    ``critical.params * exp(-response tau / (1 + curvature |tau|))``, with one response and one curvature below
    ``T_c`` (``tau < 0``) and one of each above.

    ``tau = 0`` is the critical generator; ``tau -> +inf`` (far above ``T_c`` on the scale of the level) sends the
    kernel to zero (fine spins independent: paramagnetic noise), ``tau -> -inf`` to infinity (every coarse spin copied
    into its block: the ordered phase). The two responses are the non-universal metric factors of the two sides of the
    flow (the flows to the high- and low-temperature fixed points differ). :func:`generate` with ``temperature``
    feeds every level the scaling field of its lattice spacing (:func:`thermal_scaling_fields`), so the ensemble of
    the final size is at that temperature.

    Attributes:
        critical: the critical :class:`SymmetricConvGenerator`.
        response: ``(2,)`` thermal responses ``(ordered side, disordered side)``, > 0 for a field that weakens with T.
        curvature: ``(2,)`` fall-off (>= 0) of the response with ``|tau|`` on each side, or None (zero: a linear
            response). The exponent stays monotonic in ``tau`` and saturates at ``-+response / curvature``.
    """

    critical: SymmetricConvGenerator
    response: Array
    curvature: Array | None = None

    def at_scaling_field(self, tau) -> SymmetricConvGenerator:
        """The symmetric generator of one level whose thermal scaling field is ``tau`` (scalar, may be traced)."""
        tau = jnp.asarray(tau, self.critical.params.dtype)
        rate = jnp.where(tau < 0, self.response[0], self.response[1])
        if self.curvature is not None:
            rate = rate / (1.0 + jnp.where(tau < 0, self.curvature[0], self.curvature[1]) * jnp.abs(tau))
        # |exponent| <= 40 keeps the kernel finite and non-zero (0 * inf would make NaN fields); the draws are then
        # already saturated (exp(+-40) puts sigmoid(2 h) at 1/2 or at 0, 1 within float32 resolution)
        scale = jnp.exp(jnp.clip(-rate * tau, -_MAX_EXPONENT, _MAX_EXPONENT))
        return SymmetricConvGenerator(self.critical.params * scale, self.critical.radius)

    def __call__(self, coarse: Array, tau=0.0) -> Array:
        """Local field ``h`` of every fine spin at scaling field ``tau``, ``(..., L, L) -> (..., 2L, 2L)``."""
        return self.at_scaling_field(tau)(coarse)


def thermal_generator(critical: SymmetricConvGenerator, response, curvature=None) -> ThermalGenerator:
    """A :class:`ThermalGenerator` from a critical generator and its thermal responses.

    Args:
        critical: a :class:`SymmetricConvGenerator` (e.g. :func:`load_pretrained` ``()``).
        response: a finite number (both sides) or ``(ordered side, disordered side)``.
        curvature: None (a linear response), a number >= 0 (both sides) or a pair.

    Returns:
        :class:`ThermalGenerator`.
    """
    if not isinstance(critical, SymmetricConvGenerator):
        raise ValueError(f"critical must be a SymmetricConvGenerator, got {type(critical).__name__}")

    def pair(value, name):
        v = np.asarray(value, np.float64)
        if v.ndim == 0:
            v = np.full((2,), float(v))
        if v.shape != (2,) or not np.all(np.isfinite(v)):
            raise ValueError(f"{name} must be a finite number or a pair (ordered, disordered side), got {value!r}")
        return jnp.asarray(v, critical.params.dtype)

    if curvature is not None:
        curvature = pair(curvature, "curvature")
        if np.any(np.asarray(curvature) < 0):
            raise ValueError(f"curvature must be >= 0 on both sides, got {np.asarray(curvature).tolist()}")
    return ThermalGenerator(critical, pair(response, "response"), curvature)


def reduced_temperature(temperature) -> Array:
    """``t = T / T_c - 1``, the thermal scaling field of the finest lattice (to first order in ``T - T_c``).

    Args:
        temperature: ``T > 0`` (scalar or array).
    """
    T = np.asarray(temperature, np.float64)
    if not np.all(np.isfinite(T)) or np.any(T <= 0):
        raise ValueError(f"temperature must be finite and > 0, got {temperature!r}")
    return jnp.asarray(T / exact.CRITICAL_TEMPERATURE - 1.0, jnp.float32)


class LinearThermalFlow(eqx.Module):
    """The linearised flow of the thermal scaling field at the critical fixed point, ``d tau / ds = y_t tau``."""

    y_t: Array

    def __call__(self, tau: Array) -> Array:
        return self.y_t * tau


_SUBSTEPS = 8  # RK4 steps per level: relative error ~3e-7 per level on exp(y_t ln b)


def thermal_scaling_fields(t, levels: int, *, b: float = 2.0, beta=None) -> Array:
    """The thermal scaling field at the lattice spacing of every generated level: the RG flow run from the finest
    lattice outwards, read from the coarsest level inwards.

    The fine lattice of level ``j`` (``j = 1 .. levels``; level ``levels`` is the final lattice) has spacing
    ``b^(levels - j)``; its scaling field is the solution at ``s = (levels - j) ln b`` of ``d tau / ds = beta(tau)``,
    ``tau(0) = t``, integrated by :func:`jaxrg.scale.integrate_flow`. The default ``beta`` is the linearised flow
    ``y_t tau`` with ``y_t = 1 / nu`` (:data:`jaxrg.exact.NU`), so ``tau_j = t b^(y_t (levels - j))``: the relevant
    direction grows by ``b^(y_t)`` per level towards the coarse end.

    Args:
        t: scalar thermal scaling field of the final lattice (e.g. :func:`reduced_temperature`).
        levels: number of generated levels (>= 1).
        b: block side of one level (> 1).
        beta: optional flow ``tau -> d tau / ds`` (an equinox module or module-level function, so that a new ``t``
            compiles nothing); default :class:`LinearThermalFlow` ``(1 / nu)``.

    Returns:
        ``(levels,)`` float32 scaling fields, coarsest level first.
    """
    from jaxrg import scale

    levels = _int(levels, "levels", 1)
    if not (isinstance(b, numbers.Real) and b > 1):
        raise ValueError(f"b must be a number > 1, got {b!r}")
    t = jnp.asarray(t, jnp.float32)
    if t.shape != ():
        raise ValueError(f"t must be a scalar, got shape {t.shape}")
    if levels == 1:
        return t[None]
    beta = LinearThermalFlow(jnp.float32(1.0 / exact.NU)) if beta is None else beta
    flow = scale.integrate_flow(beta, t, math.log(b) / _SUBSTEPS, (levels - 1) * _SUBSTEPS, save_every=_SUBSTEPS)
    return flow.g[::-1]


class ThermalCalibration(NamedTuple):
    """What :func:`calibrate_thermal` returns.

    Attributes:
        model: the calibrated :class:`ThermalGenerator`.
        grid: ``(n_grid,)`` responses tried on each side.
        curvature_grid: ``(n_curvature,)`` curvatures tried on each side (``[0]``: a linear response, and then
            ``model.curvature`` is None).
        chi2: ``(2, n_grid, n_curvature)`` matching chi-square of every candidate, ordered side first (``nan`` for
            a side without calibration points).
        abs_magnetization, binder: :class:`~jaxrg.stats.Estimate` of ``(n_T,)`` ``<|m|>`` and ``U4`` of the
            calibrated model at the calibration points (jackknife errors).
    """

    model: ThermalGenerator
    grid: np.ndarray
    curvature_grid: np.ndarray
    chi2: np.ndarray
    abs_magnetization: Estimate
    binder: Estimate

    __repr__ = summary_repr


def _abs_m_and_binder(model, L: int, n: int, key: Array, temperature, n_blocks: int = 16) -> np.ndarray:
    """``[[<|m|>, U4], [their jackknife errors]]`` of ``n`` generated configurations of side ``L``,
    ``U4 = 1 - <m^4> / (3 <m^2>^2)``."""
    _, _, m = level_observables(model, L, n, key, temperature=temperature)
    m = np.asarray(m[-1], np.float64)

    def stats(x):
        return np.array([np.mean(np.abs(x)), 1.0 - np.mean(x**4) / (3.0 * np.mean(x**2) ** 2)])

    edges = np.linspace(0, m.size, n_blocks + 1).astype(int)
    reps = np.stack([stats(np.delete(m, np.s_[edges[i]:edges[i + 1]])) for i in range(n_blocks)])
    return np.stack([stats(m), np.sqrt((n_blocks - 1) * np.mean((reps - reps.mean(0)) ** 2, axis=0))])


def _estimate_arrays(x, name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(x, Estimate):
        raise ValueError(f"{name} must be an Estimate (mean, error) of {n} values, got {type(x).__name__}")
    mean = np.atleast_1d(np.asarray(x.mean, np.float64))
    error = np.atleast_1d(np.asarray(x.error, np.float64))
    if mean.shape != (n,) or error.shape != (n,) or not np.all(np.isfinite(mean)) or not np.all(error >= 0):
        raise ValueError(f"{name} must be an Estimate (mean, error) of {n} finite values with errors >= 0, got {x!r}")
    return mean, error


def calibrate_thermal(critical: SymmetricConvGenerator, L, temperatures, abs_magnetization, binder, *,
                      key: Array, n: int = 1024, grid=None, curvature_grid=None) -> ThermalCalibration:
    """Match the thermal responses (and optionally curvatures) of a generator to Monte Carlo at one or more sizes.

    For each side of ``T_c`` separately (the two sides act on disjoint temperatures), the pair (response on ``grid``,
    curvature on ``curvature_grid``) that minimises ``chi2 = sum (x_gen - x_MC)^2 / (err_gen^2 + err_MC^2)`` over
    ``x = <|m|>, U4`` and the calibration points on that side. Every candidate is generated from the same key
    (common random numbers).

    Args:
        critical: the critical :class:`SymmetricConvGenerator`.
        L: size of the Monte Carlo ensembles (``start * 2^k``, e.g. a power of 2): one for all points, or ``(n_T,)``
            sizes, one per calibration point.
        temperatures: ``(n_T,)`` calibration temperatures, none equal to ``T_c`` (both sides are optional).
        abs_magnetization, binder: Monte Carlo ``<|m|>`` and ``U4`` at those points, as
            :class:`~jaxrg.stats.Estimate` of ``(n_T,)`` arrays (e.g. the fields of :func:`jaxrg.simulate`'s result).
        key: PRNG key of the generated ensembles.
        n: generated configurations per point and candidate (>= 16).
        grid: responses tried (default ``0.5, 0.55, ..., 2.5``).
        curvature_grid: curvatures tried (>= 0; default ``[0]``: a linear response).

    Returns:
        :class:`ThermalCalibration`.
    """
    T = np.atleast_1d(np.asarray(temperatures, np.float64))
    if T.ndim != 1 or T.size == 0:
        raise ValueError(f"temperatures must be a non-empty 1D array, got shape {T.shape}")
    sizes = np.broadcast_to(np.asarray(L), T.shape) if np.ndim(L) == 0 else np.asarray(L)
    if sizes.shape != T.shape:
        raise ValueError(f"L must be one size or one per temperature ({T.size}), got {L!r}")
    sizes = [_int(x.item() if isinstance(x, np.generic) else x, "L", 2) for x in sizes]
    m_mc, m_err = _estimate_arrays(abs_magnetization, "abs_magnetization", T.size)
    u_mc, u_err = _estimate_arrays(binder, "binder", T.size)
    t = np.asarray(reduced_temperature(T))
    if np.any(t == 0):
        raise ValueError("calibration temperatures must differ from T_c (the responses act on either side)")
    n = _int(n, "n", 16)
    grid = np.arange(0.5, 2.5 + 1e-9, 0.05) if grid is None else np.asarray(grid, np.float64).reshape(-1)
    curvatures = np.zeros(1) if curvature_grid is None else np.asarray(curvature_grid, np.float64).reshape(-1)
    for name, values in (("grid", grid), ("curvature_grid", curvatures)):
        if values.size == 0 or not np.all(np.isfinite(values)):
            raise ValueError(f"{name} must hold finite values")
    linear = curvature_grid is None

    def observables(model, points):  # (n_points, 2, 2): [[<|m|>, U4], [errors]] per point
        return np.stack([_abs_m_and_binder(model, sizes[i], n, key, T[i]) for i in points])

    chi2 = np.full((2, grid.size, curvatures.size), np.nan)
    best = [[float(grid[0]), 0.0], [float(grid[0]), 0.0]]
    for side, on_side in enumerate((t < 0, t > 0)):
        points = np.flatnonzero(on_side)
        if points.size == 0:
            continue
        for j, r in enumerate(grid):
            for c_index, c in enumerate(curvatures):
                gen = observables(thermal_generator(critical, float(r), None if linear else float(c)), points)
                chi2[side, j, c_index] = np.sum(
                    (gen[:, 0, 0] - m_mc[points]) ** 2 / (gen[:, 1, 0] ** 2 + m_err[points] ** 2)
                    + (gen[:, 0, 1] - u_mc[points]) ** 2 / (gen[:, 1, 1] ** 2 + u_err[points] ** 2))
        j, c_index = np.unravel_index(int(np.nanargmin(chi2[side])), chi2[side].shape)
        best[side] = [float(grid[j]), float(curvatures[c_index])]
    model = thermal_generator(critical, [best[0][0], best[1][0]], None if linear else [best[0][1], best[1][1]])
    final = observables(model, range(T.size))
    return ThermalCalibration(model, grid, curvatures, chi2, Estimate(final[:, 0, 0], final[:, 1, 0]),
                              Estimate(final[:, 0, 1], final[:, 1, 1]))


# ----------------------------------------------------------------------------------------------------------------
# generation
# ----------------------------------------------------------------------------------------------------------------


def _plan(size, start_size) -> tuple[int, int]:
    """``(start_size, k)`` with ``size = start_size * 2**k``."""
    size = _int(size, "size", 2)
    if start_size is None:
        start_size = size
        while start_size % 2 == 0:
            start_size //= 2
    start_size = _int(start_size, "start_size", 1)
    k = 0
    s = start_size
    while s < size:
        s *= 2
        k += 1
    if s != size or k == 0:
        raise ValueError(f"size must be start_size * 2**k with k >= 1, got size = {size}, start_size = {start_size}")
    return start_size, k


@eqx.filter_jit
def _random_start(key: Array, n: int, start_size: int) -> Array:
    return jnp.where(jax.random.bernoulli(key, 0.5, (n, start_size, start_size)), 1, -1).astype(jnp.int8)


@eqx.filter_jit
def _next_level(model, coarse: Array, key: Array) -> Array:
    return sample_fine(model, coarse, key)


@eqx.filter_jit
def _next_level_sublattices(model: SymmetricConvGenerator, coarse: Array, key: Array) -> Array:
    return _sample_fine_sublattices(model, coarse, key)


_merge_sublattices = jax.jit(merge_sublattices)


def _generation_step(model, coarse: Array, key: Array) -> Array:
    """One level of :func:`sample_fine` as compiled steps. On the CPU a symmetric generator's sublattice spins and
    their interleaving into the fine lattice are two programs: XLA:CPU fuses the interleave into the sampling loop,
    whose inner loop then alternates between sublattices and runs several times slower than the two apart."""
    if isinstance(model, SymmetricConvGenerator) and jax.default_backend() == "cpu":
        return _merge_sublattices(_next_level_sublattices(model, coarse, key))
    return _next_level(model, coarse, key)


@jax.jit
def _energy_and_magnetization(spins: Array) -> tuple[Array, Array]:
    return ising.energy_per_spin(spins), ising.magnetization_per_spin(spins)


def _generate_levels(model, key, n: int, start_size: int, k: int, output: str, scaling_fields=None):
    """One generation run; ``output``: ``"levels"`` (every level), ``"last"`` (the final one) or ``"measure"``
    (energy and magnetisation per spin of levels ``1 .. k``).

    Every level is a call of module-level jitted steps (:func:`_generation_step`, compiled once per lattice shape):
    on XLA:CPU the levels compiled one by one run several times faster than all of them compiled into one program.
    """
    key_start, key_levels = jax.random.split(key)
    x = _random_start(key_start, n, start_size)
    out = [x]
    for level, kl in enumerate(jax.random.split(key_levels, k)):
        step = model if scaling_fields is None else model.at_scaling_field(scaling_fields[level])
        x = _generation_step(step, x, kl)
        if output == "measure":
            out.append(_energy_and_magnetization(x))
        elif output == "levels":
            out.append(x)
    if output == "last":
        return x
    return tuple(out[1:]) if output == "measure" else tuple(out)


def _scaling_fields_for(model, k: int, temperature):
    """The per-level thermal scaling fields of a :class:`ThermalGenerator` at ``temperature`` (None otherwise)."""
    if isinstance(model, ThermalGenerator):
        if temperature is None:
            raise ValueError("temperature is required for a ThermalGenerator (a number > 0)")
        return thermal_scaling_fields(reduced_temperature(temperature), k)
    if temperature is not None:
        raise ValueError(f"temperature needs a ThermalGenerator, got a {type(model).__name__} (critical only)")
    return None


def generate_levels(model, size: int, n: int, key: Array, *, start_size: int | None = None,
                    temperature=None) -> tuple[Array, ...]:
    """Every level of one batched generation run: ``start_size, 2 start_size, ..., size``.

    Args: as :func:`generate`.

    Returns:
        Tuple of ``k + 1`` int8 arrays ``(n, start_size * 2**j, start_size * 2**j)``, ``j = 0 .. k``.
    """
    start_size, k = _plan(size, start_size)
    n = _int(n, "n", 1)
    return _generate_levels(model, key, n, start_size, k, "levels", _scaling_fields_for(model, k, temperature))


def generate(model, size: int, n: int, key: Array, *, start_size: int | None = None, temperature=None) -> Array:
    """Generate ``n`` configurations of ``size x size`` spins by upsampling a small random lattice ``k`` times.

    One batched, jitted step per level (each compiled once per model structure and lattice shape; a new model
    weight, key or temperature compiles nothing).

    Args:
        model: a generator (e.g. :func:`load_pretrained` ``()``).
        size: final lattice side, ``start_size * 2**k`` with ``k >= 1``.
        n: number of configurations (>= 1).
        key: PRNG key.
        start_size: side of the initial random lattice (default: the odd part of ``size``, i.e. 1 for powers of 2).
        temperature: for a :class:`ThermalGenerator` only (required there): the temperature ``T > 0`` of the
            ensemble at size ``size`` (traced: a new temperature compiles nothing).

    Returns:
        ``(n, size, size)`` int8 spins in {-1, +1}.

    Example:
        >>> spins = jaxrg.generate(jaxrg.rg.inverse.load_pretrained(), 1024, 4, jax.random.key(0))
    """
    start_size, k = _plan(size, start_size)
    n = _int(n, "n", 1)
    return _generate_levels(model, key, n, start_size, k, "last", _scaling_fields_for(model, k, temperature))


def level_observables(model, size: int, n: int, key: Array, *, start_size: int | None = None, temperature=None):
    """Energy and magnetisation per spin of every generated level (levels ``1 .. k``), without keeping the spins.

    For a :class:`ThermalGenerator` the ensemble of size ``size`` is at ``temperature``; the smaller levels are
    then intermediate stages of the hierarchy, not ensembles at that temperature.

    Returns:
        ``(sizes, energy, magnetization)``: a list of the ``k`` sizes and two ``(k, n)`` float arrays.
    """
    start_size, k = _plan(size, start_size)
    n = _int(n, "n", 1)
    per_level = _generate_levels(model, key, n, start_size, k, "measure",
                                     _scaling_fields_for(model, k, temperature))
    sizes = [start_size * 2**j for j in range(1, k + 1)]
    return sizes, jnp.stack([e for e, _ in per_level]), jnp.stack([m for _, m in per_level])


# ----------------------------------------------------------------------------------------------------------------
# analysis
# ----------------------------------------------------------------------------------------------------------------


class EnsembleObservables(NamedTuple):
    """Observables of an ensemble of independent configurations at temperature ``T`` (each an :class:`Estimate`).

    Attributes:
        L: lattice size; n: number of configurations.
        energy, abs_magnetization, heat_capacity, susceptibility, binder: as in :mod:`jaxrg.observables`
            (``chi = N (<m^2> - <|m|>^2) / T``, ``C = N var(e) / T^2``, ``U4 = 1 - <m^4> / (3 <m^2>^2)``).
        moment_ratio: ``<m^4> / <m^2>^2`` (``= 3 (1 - U4)``; 1.1679... for the critical Ising torus).
    """

    L: int
    n: int
    energy: Estimate
    abs_magnetization: Estimate
    heat_capacity: Estimate
    susceptibility: Estimate
    binder: Estimate
    moment_ratio: Estimate


def ensemble_observables(energy, magnetization, L: int, *, temperature=None) -> EnsembleObservables:
    """Observables with jackknife errors from per-configuration energies and magnetisations (per spin).

    Args:
        energy, magnetization: ``(n,)`` per-spin values of ``n >= 16`` configurations (independent, or in sampling
            order: contiguous blocks form the jackknife samples, so correlated series are handled as well).
        L: lattice size.
        temperature: ``T > 0`` of the ensemble (enters ``chi`` and ``C``); default ``T_c``.

    Returns:
        :class:`EnsembleObservables`.
    """
    e = np.asarray(energy, np.float64).reshape(-1)
    m = np.asarray(magnetization, np.float64).reshape(-1)
    if e.shape != m.shape or e.size < 16:
        raise ValueError(f"energy and magnetization must be equal-length with >= 16 entries, got {e.shape}, {m.shape}")
    T = exact.CRITICAL_TEMPERATURE if temperature is None else _scalar_temperature(temperature)
    th = observables.thermodynamics(Timeseries(e[None, None], m[None, None]), L, [T])
    pick = lambda est: Estimate(float(est.mean[0]), float(est.error[0]))  # noqa: E731
    binder = pick(th.binder)
    ratio = Estimate(3.0 * (1.0 - binder.mean), 3.0 * binder.error)
    return EnsembleObservables(int(L), int(e.size), pick(th.energy), pick(th.abs_magnetization),
                               pick(th.heat_capacity), pick(th.susceptibility), binder, ratio)


# ----------------------------------------------------------------------------------------------------------------
# serialisation
# ----------------------------------------------------------------------------------------------------------------


def _header(model) -> dict:
    if isinstance(model, ThermalGenerator):
        header = {"format": _FORMAT, "kind": "thermal", "kernel_size": 2 * model.critical.radius + 1,
                  "dtype": str(model.critical.params.dtype)}
        if model.curvature is not None:
            header["curvature"] = True
        return header
    if isinstance(model, SymmetricConvGenerator):
        return {"format": _FORMAT, "kind": "symmetric", "kernel_size": 2 * model.radius + 1,
                "dtype": str(model.params.dtype)}
    if isinstance(model, ConvNetGenerator):
        first = model.layers[0]
        return {"format": _FORMAT, "kind": "convnet", "channels": int(first.out_channels),
                "depth": len(model.layers), "kernel_size": int(first.kernel_size[0]),
                "dtype": str(first.weight.dtype)}
    raise ValueError("model must be a SymmetricConvGenerator, ThermalGenerator or ConvNetGenerator, got "
                     f"{type(model).__name__}")


def _skeleton(header: dict):
    if header.get("format") != _FORMAT:
        raise ValueError(f"not a jaxrg inverse-RG model file (header {header!r})")
    dtype = jnp.dtype(header["dtype"])
    if header["kind"] == "symmetric":
        return symmetric_generator(header["kernel_size"], dtype=dtype)
    if header["kind"] == "thermal":
        return thermal_generator(symmetric_generator(header["kernel_size"], dtype=dtype), 0.0,
                                 0.0 if header.get("curvature") else None)
    if header["kind"] == "convnet":
        return convnet_generator(jax.random.key(0), channels=header["channels"], depth=header["depth"],
                                 kernel_size=header["kernel_size"], dtype=dtype)
    raise ValueError(f"unknown model kind {header['kind']!r}")


def _digest(header: dict, weights: bytes) -> str:
    """SHA-256 of a generator file's header (without its checksum) and weights."""
    text = json.dumps({k: v for k, v in header.items() if k != "sha256"}, sort_keys=True)
    return hashlib.sha256(text.encode() + b"\n" + weights).hexdigest()


def save(path, model) -> None:
    """Save a generator: a JSON header line (architecture and SHA-256 checksum), then the weights (atomic).

    The weights are ``eqx.tree_serialise_leaves``; the checksum covers the header and the weights.
    """
    header = _header(model)
    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, model)
    weights = buf.getvalue()
    header["sha256"] = _digest(header, weights)
    with files.atomic_write(path, "wb") as f:
        f.write((json.dumps(header) + "\n").encode() + weights)


def _load_bytes(data: bytes, require_checksum: bool = False):
    newline = data.index(b"\n")
    header = json.loads(data[:newline].decode())
    weights = data[newline + 1:]
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    if "sha256" in header or require_checksum:
        if header.get("sha256") != _digest(header, weights):
            raise files.CorruptFileError("its SHA-256 checksum does not match its contents (damaged or truncated)")
    return eqx.tree_deserialise_leaves(io.BytesIO(weights), _skeleton(header))


def load(path):
    """Load a generator written by :func:`save`.

    Raises:
        ValueError: the file does not exist, or is not a generator file written by :func:`save` (never unpickled:
            the header is JSON and the weights are read into the architecture the header names).
        jaxrg.files.CorruptFileError: its checksum does not match (a damaged or truncated file).
    """
    if not os.path.isfile(path):
        raise ValueError(f"model: no such file {os.fspath(path)!r}")
    with open(path, "rb") as f:
        data = f.read()
    try:
        return _load_bytes(data, require_checksum=True)
    except Exception as e:  # bad checksum, malformed header, unknown architecture, truncated or mismatched weights
        raise files.CorruptFileError(
            f"model: {os.fspath(path)!r} is damaged or not a generator file written by jaxrg.rg.inverse.save "
            f"({type(e).__name__}: {e}); save the generator again") from None


def load_pretrained() -> SymmetricConvGenerator:
    """The shipped 3-parameter generator, trained on Wolff configurations at ``K_c`` (see ``benchmarks/inverse.py``)."""
    data = importlib.resources.files("jaxrg").joinpath(PRETRAINED_PATH).read_bytes()
    return _load_bytes(data)


def load_pretrained_thermal() -> ThermalGenerator:
    """The shipped off-critical generator: a 3-parameter critical generator trained on three levels of Wolff
    configurations at ``K_c``, with thermal responses matched to Monte Carlo at ``L = 64``
    (``benchmarks/inverse_thermal.py``).

    Example:
        >>> spins = jaxrg.generate(load_pretrained_thermal(), 256, 64, jax.random.key(0), temperature=2.25)
    """
    data = importlib.resources.files("jaxrg").joinpath(PRETRAINED_THERMAL_PATH).read_bytes()
    return _load_bytes(data)
