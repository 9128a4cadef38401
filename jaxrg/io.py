"""Results on disk: run directories, HDF5 results files, and checkpoints that survive ``kill -9``.

Every file is written atomically (to a temporary file in the same directory, flushed and fsynced, then renamed over
the target with :func:`os.replace`), so a reader sees either the old or the new file, never a half-written one.
Nothing is pickled: results are HDF5 (h5py) groups of plain arrays, checkpoints are ``.npz`` archives of plain arrays
read back with ``allow_pickle=False``.

A checkpoint holds a fingerprint (hash of everything that determines the run) and a SHA-256 checksum of its arrays:
loading one written for another run, or one that was damaged, raises :class:`CheckpointError` instead of resuming with
wrong data. :func:`run_chain_checkpointed` runs a chain through :func:`jaxrg.sampling.driver.iterate_chain` and saves
state, PRNG key data, accumulated measurements and info after every chunk; resumed, it reproduces an uninterrupted run
bit for bit (the key of chunk ``c`` is ``fold_in(key, c)``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import socket
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np

__all__ = [
    "CheckpointError",
    "atomic_write",
    "fingerprint",
    "save_checkpoint",
    "load_checkpoint",
    "run_chain_checkpointed",
    "write_hdf5",
    "read_hdf5",
    "environment_metadata",
    "new_run_directory",
    "write_text",
    "utc_timestamp",
    "simulation_to_tree",
    "simulation_from_tree",
]

CHECKPOINT_FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, corrupted (checksum), or written by a different run."""


# ----------------------------------------------------------------------------------------------------------------
# atomic writes
# ----------------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb"):
    """Context manager yielding a temporary file object that replaces ``path`` atomically on success.

    The temporary file lives in the target's directory (same file system, so the rename is atomic), is fsynced before
    :func:`os.replace`, and is removed if the body raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _atomic_path(path: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(tmp_path)`` (for libraries that open files by name, like h5py) then rename onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_write(path, "wb") as f:
        f.write(text.encode("utf-8"))


# ----------------------------------------------------------------------------------------------------------------
# fingerprints and checksums
# ----------------------------------------------------------------------------------------------------------------


def _canonical(obj: Any) -> Any:
    """JSON-serialisable canonical form: numpy arrays -> (dtype, shape, list), tuples -> lists, keys sorted later."""
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, np.ndarray) or isinstance(obj, jax.Array):
        arr = np.asarray(obj)
        return {"dtype": arr.dtype.str, "shape": list(arr.shape), "data": arr.ravel().tolist()}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float):
        return repr(obj)  # exact round trip, no JSON float formatting issues
    return obj


def fingerprint(obj: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of ``obj`` (dicts, lists, numbers, strings, numpy arrays)."""
    text = json.dumps(_canonical(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------------------------
# checkpoints (npz of plain arrays, checksummed)
# ----------------------------------------------------------------------------------------------------------------


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
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as e:
        raise CheckpointError(f"checkpoint {path} is unreadable (corrupted or truncated): {e}") from None
    stored = payload.pop("__checksum__", None)
    if stored is None or "__meta__" not in payload:
        raise CheckpointError(f"checkpoint {path} is not a jaxrg checkpoint (no checksum or metadata)")
    if stored.tobytes().decode("ascii", "replace") != _checksum(payload):
        raise CheckpointError(f"checkpoint {path} is corrupted: its SHA-256 checksum does not match its contents")
    meta = json.loads(payload.pop("__meta__").tobytes().decode("utf-8"))
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {path} has format {meta.get('format')!r}, expected {CHECKPOINT_FORMAT}")
    if fingerprint is not None and meta.get("fingerprint") != fingerprint:
        raise CheckpointError(
            f"checkpoint {path} belongs to a different run (fingerprint {str(meta.get('fingerprint'))[:12]}..., "
            f"expected {fingerprint[:12]}...): the configuration, seed or code path changed; "
            "remove the checkpoint to start over"
        )
    return payload, meta


def _leaf_to_numpy(leaf) -> np.ndarray:
    if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(leaf))
    return np.asarray(leaf)


def _flatten(prefix: str, tree: Any) -> dict[str, np.ndarray]:
    leaves = jax.tree.leaves(tree)
    return {f"{prefix}{i}": _leaf_to_numpy(x) for i, x in enumerate(leaves)}


def _unflatten(prefix: str, arrays: dict[str, np.ndarray], template: Any, what: str, path: Path) -> Any:
    leaves, treedef = jax.tree.flatten(template)
    out = []
    for i, t in enumerate(leaves):
        name = f"{prefix}{i}"
        if name not in arrays:
            raise CheckpointError(f"checkpoint {path} lacks {what} leaf {i}: it was written by a different sampler")
        a = arrays[name]
        ref = _leaf_to_numpy(t)
        if a.shape != ref.shape or a.dtype != ref.dtype:
            raise CheckpointError(
                f"checkpoint {path}: {what} leaf {i} is {a.dtype}{list(a.shape)}, expected {ref.dtype}{list(ref.shape)}"
            )
        if isinstance(t, jax.Array) and jax.dtypes.issubdtype(t.dtype, jax.dtypes.prng_key):
            out.append(jax.random.wrap_key_data(a, impl=jax.random.key_impl(t)))
        else:
            out.append(a)
    if any(k.startswith(prefix) and int(k[len(prefix):]) >= len(leaves) for k in arrays if k[len(prefix):].isdigit()):
        raise CheckpointError(f"checkpoint {path} has more {what} leaves than expected: it was written by another run")
    return jax.tree.unflatten(treedef, out)


def run_chain_checkpointed(
    step: Callable,
    key,
    state: Any,
    *,
    checkpoint: str | os.PathLike,
    fingerprint: str,
    n_measurements: int,
    steps_per_measurement: int = 1,
    measure: Callable | None = None,
    chunk_size: int | None = None,
    progress: bool = False,
    description: str = "sampling",
):
    """:func:`jaxrg.sampling.driver.run_chain`, saving a checkpoint after every chunk and resuming from one.

    If ``checkpoint`` exists it must carry the same ``fingerprint`` and PRNG key; the run continues after its last
    chunk (a complete checkpoint returns at once). The result is bitwise identical to an uninterrupted
    ``run_chain`` with the same arguments.

    Args:
        step, key, state, n_measurements, steps_per_measurement, measure, chunk_size, progress, description:
            as for :func:`~jaxrg.sampling.driver.run_chain` (``state`` is also the template of the saved state).
        checkpoint: the checkpoint file (``.npz``), created or replaced after every chunk.
        fingerprint: hash of everything that determines this chain (see :func:`fingerprint`).

    Returns:
        :class:`~jaxrg.sampling.driver.ChainOutput`.

    Raises:
        CheckpointError: the checkpoint is corrupted or belongs to another run.
    """
    from jaxrg.sampling.driver import ChainOutput, default_chunk_size, iterate_chain

    path = Path(checkpoint)
    n_measurements = int(n_measurements)
    chunk_size = default_chunk_size(n_measurements) if chunk_size is None else int(chunk_size)
    key_data = np.asarray(jax.random.key_data(key))
    template_records = None
    if measure is not None:
        template_records = jax.eval_shape(measure, state)

    first_chunk, records, info_total = 0, [], None
    if path.exists():
        arrays, meta = load_checkpoint(path, fingerprint=fingerprint)
        if not np.array_equal(arrays.get("key_data"), key_data):
            raise CheckpointError(f"checkpoint {path} was written with another PRNG key (seed): refusing to resume")
        if meta.get("chunk_size") != chunk_size or meta.get("n_measurements") != n_measurements:
            raise CheckpointError(f"checkpoint {path} was written with another chunking or length: refusing to resume")
        first_chunk = int(meta["next_chunk"])
        state = _unflatten("state_", arrays, state, "state", path)
        if meta.get("has_info"):
            info_total = {k[len("info_"):]: v for k, v in arrays.items() if k.startswith("info_")}
        if template_records is not None and first_chunk > 0:
            records = [_unflatten_records(arrays, template_records, path)]

    n_chunks = -(-n_measurements // chunk_size)
    bar = None
    if progress and first_chunk < n_chunks:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_chunks, initial=first_chunk, desc=description, leave=False)
    info_tree = None
    for out in iterate_chain(
        step, key, state, n_measurements=n_measurements, steps_per_measurement=steps_per_measurement,
        measure=measure, chunk_size=chunk_size, first_chunk=first_chunk,
    ):
        state = out.state
        if measure is not None:
            records.append(out.records)
        leaves, info_tree = jax.tree.flatten(out.info_sum)
        info_flat = {str(i): leaf for i, leaf in enumerate(leaves)}
        info_total = info_flat if info_total is None else {k: np.add(info_total[k], info_flat[k]) for k in info_flat}
        if measure is not None and len(records) > 1:
            records = [jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *records)]
        arrays = dict(_flatten("state_", state), key_data=key_data)
        arrays.update({f"info_{k}": v for k, v in info_total.items()})
        if measure is not None:
            arrays.update(_flatten("records_", records[0]))
        save_checkpoint(
            path, arrays,
            {"fingerprint": fingerprint, "next_chunk": out.index + 1, "n_chunks": out.n_chunks,
             "chunk_size": chunk_size, "n_measurements": n_measurements, "has_info": True},
        )
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    measurements = records[0] if measure is not None else ()
    if info_tree is None:  # nothing left to run: rebuild the info tree structure from one traced step
        _, info_shape = jax.eval_shape(step, key, state)
        info_tree = jax.tree.structure(info_shape)
    info = jax.tree.unflatten(info_tree, [info_total[str(i)] / n_measurements for i in range(info_tree.num_leaves)])
    # mirror run_chain: state leaves as jax arrays
    state = jax.tree.map(lambda x: x if isinstance(x, jax.Array) else jax.numpy.asarray(x), state)
    return ChainOutput(state, measurements, info)


def _unflatten_records(arrays, template_records, path):
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


# ----------------------------------------------------------------------------------------------------------------
# HDF5 results
# ----------------------------------------------------------------------------------------------------------------


def _write_group(group, tree: dict[str, Any]) -> None:
    for name, value in tree.items():
        if isinstance(value, dict):
            _write_group(group.create_group(name), value)
        elif isinstance(value, str):
            group.create_dataset(name, data=value)
        else:
            arr = np.asarray(value)
            if arr.dtype.hasobject or arr.dtype.kind == "U":
                raise ValueError(f"results entry {name!r} must be numeric (or a str), got dtype {arr.dtype}")
            group.create_dataset(name, data=arr)


def write_hdf5(path: str | os.PathLike, tree: dict[str, Any], attrs: dict[str, Any] | None = None) -> None:
    """Write a nested dict of arrays (groups for dicts, datasets for arrays and strings) to HDF5 atomically.

    Args:
        path: target ``.h5`` file.
        tree: name -> array, scalar, str, or nested dict.
        attrs: root attributes (str, numbers); dicts are stored as JSON strings.
    """
    import h5py

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            for k, v in (attrs or {}).items():
                f.attrs[k] = json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v
            _write_group(f, tree)

    _atomic_path(Path(path), write)


def read_hdf5(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a file written by :func:`write_hdf5`: returns ``(tree, attrs)`` with numpy arrays and str."""
    import h5py

    def read(group) -> dict[str, Any]:
        out = {}
        for name, item in group.items():
            if isinstance(item, h5py.Group):
                out[name] = read(item)
            else:
                v = item[()]
                out[name] = v.decode("utf-8") if isinstance(v, bytes) else v
        return out

    with h5py.File(path, "r") as f:
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        return read(f), attrs


# ----------------------------------------------------------------------------------------------------------------
# run directories and metadata
# ----------------------------------------------------------------------------------------------------------------


def environment_metadata() -> dict[str, str]:
    """Versions and device of this process: jaxrg, jax, jaxlib, numpy, h5py, python, platform, device, host."""
    import h5py
    import jaxlib

    import jaxrg

    dev = jax.devices()[0]
    return {
        "jaxrg_version": jaxrg.__version__,
        "jax_version": jax.__version__,
        "jaxlib_version": jaxlib.__version__,
        "numpy_version": np.__version__,
        "h5py_version": h5py.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "device": f"{dev.platform}:{getattr(dev, 'device_kind', '')} x{jax.device_count()}",
        "hostname": socket.gethostname(),
        "x64": str(bool(jax.config.jax_enable_x64)),
    }


def utc_timestamp() -> str:
    """The current UTC time as ``YYYYmmdd-HHMMSS``."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")


def new_run_directory(base: str | os.PathLike, name: str) -> Path:
    """Create ``base/name`` (and ``base``); raises FileExistsError if it already exists."""
    path = Path(base) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir()
    return path


# ----------------------------------------------------------------------------------------------------------------
# simulation results <-> HDF5 trees
# ----------------------------------------------------------------------------------------------------------------

_ESTIMATES = ("energy", "abs_magnetization", "heat_capacity", "susceptibility", "binder")
_ARRAYS = ("T", "tau_energy", "tau_abs_magnetization", "acceptance", "sweeps_per_step", "spins")


def simulation_to_tree(result) -> dict[str, Any]:
    """A :class:`jaxrg.SimulationResult` as a nested dict of numpy arrays (for :func:`write_hdf5`)."""
    tree: dict[str, Any] = {"L": np.asarray(result.L)}
    for name in _ARRAYS:
        tree[name] = np.asarray(getattr(result, name))
    for name in _ESTIMATES:
        est = getattr(result, name)
        tree[name] = {"mean": np.asarray(est.mean), "error": np.asarray(est.error)}
    tree["timeseries"] = {"energy": np.asarray(result.timeseries.energy),
                          "magnetization": np.asarray(result.timeseries.magnetization)}
    return tree


def simulation_from_tree(tree: dict[str, Any]):
    """Inverse of :func:`simulation_to_tree`: a :class:`jaxrg.SimulationResult` with numpy arrays."""
    from jaxrg.observables import Timeseries
    from jaxrg.simulation import SimulationResult
    from jaxrg.stats import Estimate

    kwargs = {"L": int(tree["L"])}
    kwargs.update({name: np.asarray(tree[name]) for name in _ARRAYS})
    kwargs.update({name: Estimate(np.asarray(tree[name]["mean"]), np.asarray(tree[name]["error"]))
                   for name in _ESTIMATES})
    kwargs["timeseries"] = Timeseries(np.asarray(tree["timeseries"]["energy"]),
                                      np.asarray(tree["timeseries"]["magnetization"]))
    return SimulationResult(**kwargs)
