"""Low-variance reference for the mutual information ``I(H : E)`` between a block's coarse variable and its environment.

Geometry: a ``b x b`` block ``V`` sits in the middle of a ``W x W`` window, ``W = b + 2 w``, whose other sites are the
buffer ``B`` (width ``w``); the environment ``E`` is every site outside the window. For a nearest-neighbour model the
window is independent of ``E`` given the *ring* ``R``: the ``4 W`` sites just outside the window that touch it
(Markov property). Hence

    P(V | E) = P(V | R) = sum_B exp(-beta H_window(V, B; R)) / Z(R),

an exact finite sum for each sampled environment, done here by a row transfer matrix across the window (``2^W`` row
states, rows holding block sites clamped to ``V``). For a map ``P(H | V)``:

    P(H | E) = sum_V P(H | V) P(V | R),   I(H : E) = H[E_E P(H | E)] - E_E H[P(H | E)],

where ``E_E`` is the average over sampled configurations (all block positions of each). The only statistical error is
the sampling of environments (no estimator bias, no sampled ``H``); error bars are jackknifed over configurations.
Since ``H - V - R - E`` is a Markov chain, ``I(H : E) = I(H : R)`` exactly, so a critic needs only the ring.

``P(V | R)`` does not depend on the map, so :func:`mutual_information` is a cheap, differentiable function of the
map's table for fixed environments: the objective used to learn maps (:mod:`jaxrg.rg.information.learning`).
"""

from __future__ import annotations

import functools
import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.special import xlogy

from jaxrg import ising, stats
from jaxrg.rg.information.maps import binary_configurations, block_configurations, conditional_table
from jaxrg.stats import Estimate

__all__ = [
    "BlockEnvironments", "block_environments", "block_patches", "window_conditional", "mutual_information",
    "reference_information",
    "ring_offsets",
]

MAX_WINDOW = 8  # 2^8 row states


class BlockEnvironments(NamedTuple):
    """Blocks, rings and exact conditionals of sampled configurations.

    Attributes:
        ring: ``(n_configs, n_positions, 4 W)`` int8 ring spins (top, bottom, left, right; see :func:`ring_offsets`).
        blocks: ``(n_configs, n_positions, b, b)`` int8 block spins (the sampled ``V``).
        conditional: ``(n_configs, n_positions, 2^(b^2))`` exact ``P(V | R)``.
        b, buffer: block side and buffer width.
    """

    ring: Array
    blocks: Array
    conditional: Array
    b: int
    buffer: int


def _check_geometry(b, buffer) -> tuple[int, int, int]:
    for value, name in ((b, "b"), (buffer, "buffer")):
        if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if b not in (2, 3):
        raise ValueError(f"b must be 2 or 3, got {b}")
    if buffer < 0:
        raise ValueError(f"buffer must be >= 0, got {buffer}")
    W = b + 2 * buffer
    if W > MAX_WINDOW:
        raise ValueError(f"the window b + 2 buffer = {W} must be <= {MAX_WINDOW} (2^W row states)")
    return int(b), int(buffer), W


def ring_offsets(W: int) -> np.ndarray:
    """Offsets ``(dy, dx)`` of the ring sites from the window's top-left site: ``(4 W, 2)``.

    Order: top row (``dy = -1``, ``dx = 0..W-1``), bottom row (``dy = W``), left column (``dx = -1``, ``dy = 0..W-1``),
    right column (``dx = W``).
    """
    r = np.arange(W)
    top = np.stack([np.full(W, -1), r], -1)
    bottom = np.stack([np.full(W, W), r], -1)
    left = np.stack([r, np.full(W, -1)], -1)
    right = np.stack([r, np.full(W, W)], -1)
    return np.concatenate([top, bottom, left, right])


@functools.lru_cache(maxsize=16)
def _transfer(W: int, b: int, buffer: int):
    """Row states ``(2^W, W)``, block-row clamp indicators ``(b, 2^(b^2), 2^W)``."""
    rows = binary_configurations(W).astype(np.float64)
    blocks = block_configurations(b).astype(np.float64)  # (n_V, b, b)
    clamp = np.all(rows[None, None, :, buffer:buffer + b] == blocks.transpose(1, 0, 2)[:, :, None, :], axis=-1)
    return rows, clamp.astype(np.float64)


@functools.partial(jax.jit, static_argnames=("b", "buffer"))
def window_conditional(ring: Array, K, *, b: int, buffer: int) -> Array:
    """Exact ``P(V | R)`` of the block given the ring, by a row transfer matrix over the window.

    Args:
        ring: ``(..., 4 W)`` ring spins in the order of :func:`ring_offsets`, ``W = b + 2 buffer``.
        K: coupling ``J / T`` (traced: a new temperature does not recompile).
        b, buffer: block side and buffer width (static).

    Returns:
        ``(..., 2^(b^2))`` probabilities of the block configurations.
    """
    W = b + 2 * buffer
    rows_np, clamp_np = _transfer(W, b, buffer)
    dtype = jnp.result_type(float)
    rows, clamp = jnp.asarray(rows_np, dtype), jnp.asarray(clamp_np, dtype)
    K = jnp.asarray(K, dtype)
    ring = jnp.asarray(ring, dtype)
    top, bottom, left, right = (ring[..., k * W:(k + 1) * W] for k in range(4))
    inner = K * jnp.sum(rows[:, :-1] * rows[:, 1:], axis=-1)  # (n_R,) bonds inside a row
    coupling = K * rows @ rows.T  # (n_R, n_R) bonds between consecutive rows
    # rescale by the largest entry: exp(coupling) stays finite; the shift cancels in P(V | R)
    transfer = jnp.exp(coupling - K * W)

    def row_log_weight(r):
        field = left[..., r, None] * rows[:, 0] + right[..., r, None] * rows[:, -1]
        if r == 0:
            field = field + top @ rows.T
        if r == W - 1:
            field = field + bottom @ rows.T
        return inner + K * field  # (..., n_R)

    n_V = clamp.shape[1]
    batch = ring.shape[:-1]
    log_w = row_log_weight(0)
    a = jnp.exp(log_w - jnp.max(log_w, axis=-1, keepdims=True))
    a = jnp.broadcast_to(a[..., None, :], (*batch, n_V, a.shape[-1]))
    log_norm = jnp.zeros((*batch, n_V), dtype)
    for r in range(W):
        if r > 0:
            log_w = row_log_weight(r)
            a = (a @ transfer) * jnp.exp(log_w - jnp.max(log_w, axis=-1, keepdims=True))[..., None, :]
        if buffer <= r < buffer + b:
            a = a * clamp[r - buffer]
        total = jnp.sum(a, axis=-1)
        log_norm = log_norm + jnp.log(jnp.maximum(total, jnp.finfo(dtype).tiny))
        a = a / jnp.maximum(total, jnp.finfo(dtype).tiny)[..., None]
    return jax.nn.softmax(log_norm, axis=-1)


def _window_origins(L: int, b: int, buffer: int, stride: int) -> np.ndarray:
    starts = np.arange(0, L, stride)
    oy, ox = np.meshgrid(starts, starts, indexing="ij")
    return np.stack([oy.ravel(), ox.ravel()], -1) - buffer  # top-left site of each window


def block_patches(configs, *, b: int = 2, buffer: int = 1, stride: int | None = None) -> tuple[Array, Array]:
    """The ring and the block of every block position: any configurations (also coarse-grained ones).

    Args:
        configs: ``(n_configs, L, L)`` int8 configurations (``L >= b + 2 buffer + 1``).
        b, buffer: block side and buffer width.
        stride: spacing of block positions (default ``b``).

    Returns:
        ``(ring, blocks)``: ``(n_configs, n_positions, 4 W)`` ring spins (order of :func:`ring_offsets`) and
        ``(n_configs, n_positions, b, b)`` block spins.
    """
    b, buffer, W = _check_geometry(b, buffer)
    configs = ising.validate_spins(configs, name="configs", minimum=1)
    if configs.ndim != 3:
        raise ValueError(f"configs must have shape (n_configs, L, L), got {configs.shape}")
    L = configs.shape[-1]
    if L < W + 1:
        raise ValueError(f"L = {L} must be >= b + 2 buffer + 1 = {W + 1} (a non-empty environment)")
    stride = b if stride is None else int(stride)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    origins = _window_origins(L, b, buffer, stride)  # (n_pos, 2)
    ring_sites = (origins[:, None, :] + ring_offsets(W)[None]) % L  # (n_pos, 4W, 2)
    offsets = np.stack(np.meshgrid(np.arange(b), np.arange(b), indexing="ij"), -1).reshape(-1, 2)
    block_sites = (origins[:, None, :] + buffer + offsets[None]) % L  # (n_pos, b*b, 2)
    ring = configs[:, ring_sites[..., 0], ring_sites[..., 1]]
    blocks = configs[:, block_sites[..., 0], block_sites[..., 1]].reshape(configs.shape[0], -1, b, b)
    return ring, blocks


def block_environments(configs, T, *, b: int = 2, buffer: int = 1, stride: int | None = None,
                       batch_size: int = 64) -> BlockEnvironments:
    """Blocks, rings and exact ``P(V | R)`` for every block position of every configuration.

    Args:
        configs: ``(n_configs, L, L)`` int8 equilibrium configurations at temperature ``T`` (``L >= b + 2 buffer + 1``).
        T: their temperature.
        b: block side (2 or 3).
        buffer: buffer width ``w >= 0`` between block and environment.
        stride: spacing of block positions (default ``b``: the blocks of one blocking).
        batch_size: configurations per compiled batch.

    Returns:
        :class:`BlockEnvironments`.
    """
    b, buffer, W = _check_geometry(b, buffer)
    K = 1.0 / float(ising.validate_temperature(T, max_ndim=0))
    ring, blocks = block_patches(configs, b=b, buffer=buffer, stride=stride)
    out = []
    for start in range(0, ring.shape[0], batch_size):
        chunk = ring[start:start + batch_size]
        n = chunk.shape[0]
        if n < batch_size and ring.shape[0] > batch_size:  # one compiled shape
            chunk = jnp.concatenate([chunk, jnp.broadcast_to(chunk[-1:], (batch_size - n, *chunk.shape[1:]))])
        out.append(window_conditional(chunk, K, b=b, buffer=buffer)[:n])
    return BlockEnvironments(ring, blocks, jnp.concatenate(out), b, buffer)


def _entropy(p: Array) -> Array:
    return -jnp.sum(xlogy(p, p), axis=-1)


def mutual_information(conditional: Array, table: Array, weights: Array | None = None) -> Array:
    """``I(H : E)`` from exact conditionals ``P(V | R)`` and a map table ``P(H | V)`` (differentiable in both).

    Args:
        conditional: ``(..., 2^(b^2))`` exact ``P(V | R)`` of sampled environments (all leading axes averaged).
        table: ``(2^(b^2), n_H)`` map.
        weights: optional probabilities of the environments, shape ``conditional.shape[:-1]`` (default uniform).

    Returns:
        Scalar ``H[E P(H | E)] - E H[P(H | E)]`` in nats.
    """
    p_h = conditional @ table  # (..., n_H)
    flat = p_h.reshape(-1, p_h.shape[-1])
    w = jnp.full(flat.shape[0], 1.0 / flat.shape[0]) if weights is None else jnp.reshape(weights, -1)
    return _entropy(w @ flat) - w @ _entropy(flat)


def reference_information(environments: BlockEnvironments, rule="majority", n_blocks: int = 20) -> Estimate:
    """Reference ``I(H : E)`` of a map with a jackknife error over configurations.

    Args:
        environments: from :func:`block_environments`.
        rule: a map accepted by :func:`~jaxrg.rg.information.maps.conditional_table`.
        n_blocks: jackknife blocks of consecutive configurations (>= 2, <= number of configurations).

    Returns:
        :class:`~jaxrg.stats.Estimate` of ``I(H : E)`` in nats (scalar mean and error).
    """
    table = conditional_table(rule, environments.b)
    p_h = np.asarray(environments.conditional @ table, np.float64)  # (n_configs, n_pos, n_H)
    n_configs = p_h.shape[0]
    if not 2 <= n_blocks <= n_configs:
        raise ValueError(f"n_blocks must be in [2, {n_configs}], got {n_blocks}")
    per_config_p = p_h.mean(axis=1)
    per_config_h = np.asarray(_entropy(jnp.asarray(p_h))).mean(axis=1)
    edges = np.linspace(0, n_configs, n_blocks + 1).astype(int)
    block_p = np.stack([per_config_p[i:j].mean(0) for i, j in zip(edges[:-1], edges[1:])])
    block_h = np.array([per_config_h[i:j].mean() for i, j in zip(edges[:-1], edges[1:])])

    def estimator(p, h):
        return -jnp.sum(xlogy(p, p), axis=-1) - h

    return stats.jackknife(estimator, block_p, block_h)

