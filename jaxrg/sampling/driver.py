"""The one place where jaxrg loops: ``lax.scan`` over kernel steps, in chunks, with thinning, progress and checkpoints.

:func:`run_chain` runs any kernel ``kernel(key, state, params) -> (state, info)`` (batched or not) for a number of
measurements, calling ``measure(state, params)`` every ``steps_per_measurement`` steps. Each chunk is one call of a
module-level jitted function in which the kernel and the measurement are static (hashable: the frozen kernels of
``build_kernel``, module-level functions) and the state and ``params`` are traced, so a new temperature, seed or
network weight with the same shapes reuses the compiled program. A user's fresh closure still works; it compiles
once per closure object.

Between chunks the driver shows progress, calls ``on_chunk`` hooks, and saves a checkpoint if asked. The key for
chunk ``c`` is ``fold_in(key, c)``: a run resumed at a chunk boundary draws exactly the random numbers an
uninterrupted run would, so it is bitwise identical to it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxrg import _checks
from jaxrg.checkpoints import (
    CheckpointError,
    flatten_tree,
    load_checkpoint,
    save_checkpoint,
    unflatten_records,
    unflatten_tree,
)

__all__ = ["ChainOutput", "run_chain", "chunk_key", "default_chunk_size"]


class ChainOutput(NamedTuple):
    """What :func:`run_chain` returns.

    Attributes:
        state: the final sampler state.
        measurements: pytree of numpy arrays, ``measure(state, params)`` stacked along a new leading time axis
            (``()`` when there is no ``measure``).
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


def _chunk_impl(kernel, measure, key, state, params, *, steps_per_measurement: int, n: int):
    """``n`` measurements of ``steps_per_measurement`` steps each: ``(state, records, info summed over the chunk)``."""

    def one_measurement(state, key):
        keys = jax.random.split(key, steps_per_measurement)
        state, infos = jax.lax.scan(lambda state, k: kernel(k, state, params), state, keys)
        info = jax.tree.map(lambda x: jnp.mean(x, axis=0), infos)
        record = measure(state, params) if measure is not None else ()
        return state, (record, info)

    state, (records, infos) = jax.lax.scan(one_measurement, state, jax.random.split(key, n))
    info_sum = jax.tree.map(lambda x: jnp.sum(x, axis=0), infos)
    return state, records, info_sum


_chunk = jax.jit(_chunk_impl, static_argnames=("kernel", "measure", "steps_per_measurement", "n"))


class _Resume(NamedTuple):
    first_chunk: int
    state: Any
    records: list
    info_total: Any


def _resume(path: Path, fingerprint: str, key_data: np.ndarray, chunk_size: int, n_measurements: int, state: Any,
            template_records: Any, template_info: Any) -> _Resume:
    """Where a run stands according to its checkpoint (nothing done when there is none)."""
    if not path.exists():
        return _Resume(0, state, [], None)
    arrays, meta = load_checkpoint(path, fingerprint=fingerprint)
    if not np.array_equal(arrays.get("key_data"), key_data):
        raise CheckpointError(f"checkpoint {path} was written with another PRNG key (seed): refusing to resume")
    if meta.get("chunk_size") != chunk_size or meta.get("n_measurements") != n_measurements:
        raise CheckpointError(f"checkpoint {path} was written with another chunking or length: refusing to resume")
    first_chunk = int(meta["next_chunk"])
    state = jax.tree.map(jnp.asarray, unflatten_tree("state_", arrays, state, "state", path))
    info_total = unflatten_tree("info_", arrays, template_info, "info", path)
    records = [unflatten_records(arrays, template_records, path)] if template_records is not None else []
    return _Resume(first_chunk, state, records, info_total)


def run_chain(
    kernel: Callable,
    key: Array,
    state: Any,
    params: Any = None,
    *,
    n_measurements: int,
    steps_per_measurement: int = 1,
    measure: Callable | None = None,
    chunk_size: int | None = None,
    on_chunk: Callable | None = None,
    progress: bool = False,
    description: str = "sampling",
    checkpoint: str | os.PathLike | None = None,
    fingerprint: str | None = None,
) -> ChainOutput:
    """Run ``kernel`` for ``n_measurements * steps_per_measurement`` steps in jit-compiled chunks.

    Args:
        kernel: ``kernel(key, state, params) -> (state, info)``, pure and hashable (a ``build_kernel`` result, a
            :class:`~jaxrg.sampling.base.BatchedKernel`, a module-level function); it is a static argument of the
            compiled chunk.
        key: PRNG key of the whole run; chunk ``c`` uses :func:`chunk_key` ``(key, c)``.
        state: initial state (pytree).
        params: the kernel's call-time parameters (pytree of arrays: couplings, step sizes), traced.
        n_measurements: number of measurements (> 0) to record (thermalisation: pass ``measure=None``).
        steps_per_measurement: steps between measurements (thinning), >= 1.
        measure: ``measure(state, params) -> pytree of arrays`` recorded after each group of steps, or None
            (hashable, like ``kernel``).
        chunk_size: measurements per compiled chunk (default: about 20 chunks).
        on_chunk: called as ``on_chunk(chunk_index, state, records)`` after every chunk.
        progress: show a tqdm progress bar over chunks.
        description: label of the progress bar.
        checkpoint: a file (``.npz``) saved after every chunk; if it exists, the run resumes after its last chunk
            (it must carry ``fingerprint`` and the same key and chunking). The result is bitwise identical to an
            uninterrupted run.
        fingerprint: hash of everything that determines the run (:func:`jaxrg.files.fingerprint`); required with
            ``checkpoint``.

    Returns:
        :class:`ChainOutput` with the final state, stacked measurements and mean info.

    Raises:
        CheckpointError: the checkpoint is corrupted or belongs to another run.
    """
    n_measurements = _checks.integer(n_measurements, "n_measurements", minimum=1)
    steps_per_measurement = _checks.integer(steps_per_measurement, "steps_per_measurement", minimum=1)
    chunk_size = default_chunk_size(n_measurements) if chunk_size is None else chunk_size
    chunk_size = _checks.integer(chunk_size, "chunk_size", minimum=1)
    n_chunks = math.ceil(n_measurements / chunk_size)
    if checkpoint is not None and fingerprint is None:
        raise ValueError("fingerprint is required with checkpoint (see jaxrg.files.fingerprint)")

    first_chunk, records, info_total = 0, [], None
    if checkpoint is not None:
        path = Path(checkpoint)
        key_data = np.asarray(jax.random.key_data(key))
        template_records = jax.eval_shape(measure, state, params) if measure is not None else None
        template_info = jax.eval_shape(kernel, key, state, params)[1]
        first_chunk, state, records, info_total = _resume(path, fingerprint, key_data, chunk_size, n_measurements,
                                                          state, template_records, template_info)

    bar = None
    if progress and first_chunk < n_chunks:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_chunks, initial=first_chunk, desc=description, leave=False)
    for c in range(first_chunk, n_chunks):
        n = min(chunk_size, n_measurements - c * chunk_size)
        state, chunk_records, info_sum = _chunk(kernel, measure, chunk_key(key, c), state, params,
                                                steps_per_measurement=steps_per_measurement, n=n)
        chunk_records = jax.tree.map(np.asarray, chunk_records)
        info_sum = jax.tree.map(np.asarray, info_sum)
        info_total = info_sum if info_total is None else jax.tree.map(np.add, info_total, info_sum)
        if measure is not None:
            records.append(chunk_records)
        if checkpoint is not None:
            if len(records) > 1:
                records = [jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *records)]
            arrays = dict(flatten_tree("state_", state), key_data=key_data, **flatten_tree("info_", info_total))
            if measure is not None:
                arrays.update(flatten_tree("records_", records[0]))
            save_checkpoint(path, arrays, {"fingerprint": fingerprint, "next_chunk": c + 1, "n_chunks": n_chunks,
                                           "chunk_size": chunk_size, "n_measurements": n_measurements})
        if on_chunk is not None:
            on_chunk(c, state, chunk_records)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    measurements = jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *records) if measure is not None else ()
    info = jax.tree.map(lambda x: x / n_measurements, info_total)
    return ChainOutput(state, measurements, info)
