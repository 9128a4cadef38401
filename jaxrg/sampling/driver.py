"""The one place where jaxrg loops: ``lax.scan`` over steps, in chunks, with thinning and progress.

Library kernels are pure ``step(key, state) -> (state, info)`` functions; :func:`run_chain` runs any of them (batched or
not) for a number of measurements, calling ``measure(state)`` every ``steps_per_measurement`` steps. It compiles one
chunk function per run and calls it repeatedly, so between chunks it can show progress, checkpoint and resume. When
``step`` (and ``measure``) are pytrees of arrays, such as :class:`jax.tree_util.Partial` kernels from
:func:`jaxrg.simulation.batched_kernel`, or module-level functions, the compiled chunk is cached across runs: a new
temperature or a new seed reuses it.
The key for chunk ``c`` is ``fold_in(key, c)``: a run resumed at a chunk boundary draws exactly the random numbers an
uninterrupted run would.
"""

from __future__ import annotations

import math
import types
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

__all__ = ["ChainOutput", "ChunkOutput", "run_chain", "iterate_chain", "chunk_key", "default_chunk_size"]


class ChainOutput(NamedTuple):
    """What :func:`run_chain` returns.

    Attributes:
        state: the final sampler state.
        measurements: pytree of numpy arrays, ``measure(state)`` stacked along a new leading time axis.
        info: pytree of numpy arrays, the kernel's ``info`` averaged over all steps of the run.
    """

    state: Any
    measurements: Any
    info: Any


def chunk_key(key: Array, chunk: int) -> Array:
    """The PRNG key of chunk number ``chunk`` (independent of how the run is split into calls)."""
    return jax.random.fold_in(key, chunk)


def default_chunk_size(n_measurements: int, target_chunks: int = 20) -> int:
    """A chunk length giving about ``target_chunks`` chunks (progress granularity, checkpoint interval)."""
    return max(1, math.ceil(n_measurements / target_chunks))


def _chunk_impl(step, measure, key, state, *, steps_per_measurement: int, n: int):
    """``n`` measurements of ``steps_per_measurement`` steps each: ``(state, records, info summed over the chunk)``."""

    def one_measurement(state, key):
        keys = jax.random.split(key, steps_per_measurement)
        state, infos = jax.lax.scan(lambda state, k: step(k, state), state, keys)
        info = jax.tree.map(lambda x: jnp.mean(x, axis=0), infos)
        record = measure(state) if measure is not None else ()
        return state, (record, info)

    state, (records, infos) = jax.lax.scan(one_measurement, state, jax.random.split(key, n))
    info_sum = jax.tree.map(lambda x: jnp.sum(x, axis=0), infos)
    return state, records, info_sum


# One compiled program per (step structure, measure structure, shapes, steps_per_measurement, n) for pytree callables:
# their arrays (couplings, network weights) are traced arguments, so a new temperature does not recompile.
_pytree_chunk = jax.jit(_chunk_impl, static_argnames=("steps_per_measurement", "n"))


def _as_pytree_callable(f):
    """``f`` as a pytree whose leaves are all arrays (traceable argument of a jitted function), or None if it is not.

    :class:`jax.tree_util.Partial` (e.g. the kernels of :func:`jaxrg.simulation.batched_kernel`) and equinox modules
    qualify; a module-level function is wrapped in a ``Partial`` (its identity is stable); a closure is not (it may
    capture arrays, which must not be baked into a cached program).
    """
    if f is None:
        return None
    if isinstance(f, jax.tree_util.Partial) or hasattr(f, "__dataclass_fields__"):
        leaves = jax.tree.leaves(f)
        if all(isinstance(x, (jax.Array, np.ndarray, np.generic)) for x in leaves):
            return f
        return None
    if isinstance(f, types.FunctionType) and "<locals>" not in f.__qualname__ and not f.__closure__:
        return jax.tree_util.Partial(f)
    return None


def _make_chunk_fn(step: Callable, measure: Callable | None, steps_per_measurement: int) -> Callable:
    step_tree, measure_tree = _as_pytree_callable(step), _as_pytree_callable(measure)
    if step_tree is not None and (measure is None or measure_tree is not None):
        def chunk(key, state, n: int):
            return _pytree_chunk(step_tree, measure_tree, key, state, steps_per_measurement=steps_per_measurement,
                                 n=n)

        return chunk

    def closure_chunk(key, state, n: int):  # a closure: compiled for this run only
        return _chunk_impl(step, measure, key, state, steps_per_measurement=steps_per_measurement, n=n)

    return jax.jit(closure_chunk, static_argnums=2)


def run_chain(
    step: Callable,
    key: Array,
    state: Any,
    *,
    n_measurements: int,
    steps_per_measurement: int = 1,
    measure: Callable | None = None,
    chunk_size: int | None = None,
    on_chunk: Callable | None = None,
    progress: bool = False,
    description: str = "sampling",
) -> ChainOutput:
    """Run ``step`` for ``n_measurements * steps_per_measurement`` steps in jit-compiled chunks.

    Args:
        step: ``step(key, state) -> (state, info)``, pure (batched kernels are fine).
        key: PRNG key of the whole run; chunk ``c`` uses :func:`chunk_key` ``(key, c)``.
        state: initial state (pytree).
        n_measurements: number of measurements (> 0) to record (thermalisation: pass ``measure=None``).
        steps_per_measurement: steps between measurements (thinning), >= 1.
        measure: ``measure(state) -> pytree of arrays`` recorded after each group of steps, or None.
        chunk_size: measurements per compiled chunk (default: about 20 chunks).
        on_chunk: called as ``on_chunk(chunk_index, state, records)`` after every chunk.
        progress: show a tqdm progress bar over chunks.
        description: label of the progress bar.

    Returns:
        :class:`ChainOutput` with the final state, stacked measurements and mean info. To checkpoint and resume
        mid-run, iterate over :func:`iterate_chain` instead (``jaxrg.io.run_chain_checkpointed`` does).
    """
    chunks = iterate_chain(
        step, key, state, n_measurements=n_measurements, steps_per_measurement=steps_per_measurement,
        measure=measure, chunk_size=chunk_size,
    )
    bar = None
    records, info_total = [], None
    for chunk in chunks:
        if progress and bar is None:
            from tqdm.auto import tqdm

            bar = tqdm(total=chunk.n_chunks, desc=description, leave=False)
        state = chunk.state
        records.append(chunk.records)
        info_total = chunk.info_sum if info_total is None else jax.tree.map(np.add, info_total, chunk.info_sum)
        if on_chunk is not None:
            on_chunk(chunk.index, state, chunk.records)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    measurements = jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *records)
    info = jax.tree.map(lambda x: x / int(n_measurements), info_total)
    return ChainOutput(state, measurements, info)


class ChunkOutput(NamedTuple):
    """One chunk yielded by :func:`iterate_chain` (numpy records and info summed over the chunk's measurements)."""

    index: int
    n_chunks: int
    state: Any
    records: Any
    info_sum: Any


def iterate_chain(
    step: Callable,
    key: Array,
    state: Any,
    *,
    n_measurements: int,
    steps_per_measurement: int = 1,
    measure: Callable | None = None,
    chunk_size: int | None = None,
    first_chunk: int = 0,
):
    """Yield the chunks ``first_chunk, ..., n_chunks - 1`` of the run :func:`run_chain` would do (for checkpointing).

    ``n_measurements`` and ``chunk_size`` describe the WHOLE run, so a run resumed at ``first_chunk`` from the state
    saved after chunk ``first_chunk - 1`` draws exactly the random numbers of an uninterrupted run, and the chunks'
    records concatenated and info sums added in order reproduce :func:`run_chain` bit for bit.

    Yields:
        :class:`ChunkOutput` after each chunk.
    """
    if int(n_measurements) < 1:
        raise ValueError(f"n_measurements must be >= 1, got {n_measurements}")
    if int(steps_per_measurement) < 1:
        raise ValueError(f"steps_per_measurement must be >= 1, got {steps_per_measurement}")
    n_measurements = int(n_measurements)
    chunk_size = default_chunk_size(n_measurements) if chunk_size is None else int(chunk_size)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    n_chunks = math.ceil(n_measurements / chunk_size)
    if not 0 <= int(first_chunk) <= n_chunks:
        raise ValueError(f"first_chunk must be in [0, {n_chunks}], got {first_chunk}")
    chunk_fn = _make_chunk_fn(step, measure, int(steps_per_measurement))
    for c in range(int(first_chunk), n_chunks):
        n = min(chunk_size, n_measurements - c * chunk_size)
        state, records, info_sum = chunk_fn(chunk_key(key, c), state, n)
        yield ChunkOutput(c, n_chunks, state, jax.tree.map(np.asarray, records), jax.tree.map(np.asarray, info_sum))
