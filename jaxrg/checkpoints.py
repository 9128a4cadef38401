"""Checkpoints: named arrays plus JSON metadata in an ``.npz``, checksummed, fingerprinted, written atomically.

A checkpoint holds a fingerprint (hash of everything that determines the run, :func:`jaxrg.files.fingerprint`) and a
SHA-256 checksum of its arrays: loading one written for another run, or one that was damaged, raises
:class:`CheckpointError` instead of resuming with wrong data. ``.npz`` archives are read back with
``allow_pickle=False``. :func:`jaxrg.sampling.driver.run_chain` saves one after every chunk when asked.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxrg.files import atomic_write

__all__ = [
    "CheckpointError", "save_checkpoint", "load_checkpoint", "flatten_tree", "unflatten_tree", "unflatten_records",
]

CHECKPOINT_FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, corrupted (checksum), or written by a different run."""


# What to do about an unusable checkpoint, appended to every message.
_FIX = "delete the checkpoint file to start this part of the run over"


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike, arrays: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write a checkpoint: named arrays plus JSON metadata, with a SHA-256 checksum over both, atomically.

    Args:
        path: target file (``.npz``).
        arrays: name -> array (numeric or bool dtypes; no objects). Names must not start with ``__``.
        meta: JSON-serialisable metadata (must hold ``"fingerprint"`` to be checked on load).
    """
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    for k, v in arrays.items():
        if k.startswith("__"):
            raise ValueError(f"checkpoint array names must not start with '__', got {k!r}")
        if v.dtype.hasobject:
            raise ValueError(f"checkpoint array {k!r} has dtype object; only plain numeric arrays are stored")
    meta = dict(meta, format=CHECKPOINT_FORMAT)
    meta_arr = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    payload = dict(arrays, __meta__=meta_arr)
    checksum = np.frombuffer(_checksum(payload).encode("ascii"), dtype=np.uint8)
    with atomic_write(path, "wb") as f:
        np.savez(f, __checksum__=checksum, **payload)


def load_checkpoint(path: str | os.PathLike, *, fingerprint: str | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by :func:`save_checkpoint`, verifying its checksum and fingerprint.

    Args:
        path: the ``.npz`` file.
        fingerprint: if given, the checkpoint's ``meta["fingerprint"]`` must equal it.

    Returns:
        ``(arrays, meta)``.

    Raises:
        CheckpointError: unreadable file, checksum mismatch, unknown format, or fingerprint mismatch.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            payload = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise CheckpointError(f"checkpoint {path} is a directory, not a checkpoint file") from None
    except PermissionError:
        raise
    except Exception as e:  # zipfile, zlib and numpy report damaged archives in many ways
        raise CheckpointError(f"checkpoint {path} is unreadable (corrupted or truncated: {type(e).__name__}: {e}); "
                              f"{_FIX}") from None
    stored = payload.pop("__checksum__", None)
    if stored is None or "__meta__" not in payload:
        raise CheckpointError(f"checkpoint {path} is not a jaxrg checkpoint (no checksum or metadata); {_FIX}")
    if stored.tobytes().decode("ascii", "replace") != _checksum(payload):
        raise CheckpointError(f"checkpoint {path} is corrupted: its SHA-256 checksum does not match its contents; "
                              f"{_FIX}")
    try:
        meta = json.loads(payload.pop("__meta__").tobytes().decode("utf-8"))
    except ValueError as e:
        raise CheckpointError(f"checkpoint {path} has unreadable metadata ({e}); {_FIX}") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {path} has an unknown format (expected {CHECKPOINT_FORMAT}); {_FIX}")
    if fingerprint is not None and meta.get("fingerprint") != fingerprint:
        raise CheckpointError(
            f"checkpoint {path} belongs to a different run (fingerprint {str(meta.get('fingerprint'))[:12]}..., "
            f"expected {fingerprint[:12]}...): the configuration, seed or code path changed; "
            f"{_FIX}"
        )
    return payload, meta


def _leaf_to_numpy(leaf) -> np.ndarray:
    if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(leaf))
    return np.asarray(leaf)


def flatten_tree(prefix: str, tree: Any) -> dict[str, np.ndarray]:
    """The leaves of ``tree`` as numpy arrays named ``prefix0, prefix1, ...`` (PRNG keys as their key data)."""
    leaves = jax.tree.leaves(tree)
    return {f"{prefix}{i}": _leaf_to_numpy(x) for i, x in enumerate(leaves)}


def unflatten_tree(prefix: str, arrays: dict[str, np.ndarray], template: Any, what: str, path: Path) -> Any:
    """Inverse of :func:`flatten_tree` with the structure, shapes and dtypes of ``template`` (checked).

    ``template`` may hold arrays or :class:`jax.ShapeDtypeStruct` leaves (PRNG keys must be real key arrays).
    """
    leaves, treedef = jax.tree.flatten(template)
    out = []
    for i, t in enumerate(leaves):
        name = f"{prefix}{i}"
        if name not in arrays:
            raise CheckpointError(f"checkpoint {path} lacks {what} leaf {i}: it was written by a different sampler")
        a = arrays[name]
        is_key = jax.dtypes.issubdtype(t.dtype, jax.dtypes.prng_key)
        ref = _leaf_to_numpy(t) if is_key else jax.ShapeDtypeStruct(np.shape(t), np.dtype(t.dtype))
        if a.shape != ref.shape or a.dtype != ref.dtype:
            raise CheckpointError(
                f"checkpoint {path}: {what} leaf {i} is {a.dtype}{list(a.shape)}, expected {ref.dtype}{list(ref.shape)}"
            )
        if is_key:
            out.append(jax.random.wrap_key_data(a, impl=jax.random.key_impl(t)))
        else:
            out.append(a)
    if any(k.startswith(prefix) and int(k[len(prefix):]) >= len(leaves) for k in arrays if k[len(prefix):].isdigit()):
        raise CheckpointError(f"checkpoint {path} has more {what} leaves than expected: it was written by another run")
    return jax.tree.unflatten(treedef, out)


def unflatten_records(arrays: dict[str, np.ndarray], template_records: Any, path: Path) -> Any:
    """Measurement series ``records_i`` with a leading time axis, checked against ``template_records`` (one record)."""
    leaves, treedef = jax.tree.flatten(template_records)
    out = []
    for i, t in enumerate(leaves):
        name = f"records_{i}"
        if name not in arrays:
            raise CheckpointError(f"checkpoint {path} lacks measurement series {i}: written by a different run")
        a = arrays[name]
        if a.shape[1:] != tuple(t.shape) or a.dtype != t.dtype:
            raise CheckpointError(f"checkpoint {path}: measurement series {i} has the wrong shape or dtype")
        out.append(a)
    return jax.tree.unflatten(treedef, out)
