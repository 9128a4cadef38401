"""Files on disk: atomic writes, fingerprints, HDF5 trees of arrays, run directories and environment metadata.

The bottom layer of jaxrg: it imports no other jaxrg module. Every file is written atomically (to a temporary file in
the same directory, flushed and fsynced, then renamed over the target with :func:`os.replace`), so a reader sees
either the old or the new file, never a half-written one. Nothing is pickled: results are HDF5 (h5py) groups of plain
arrays.
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
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = [
    "atomic_write",
    "atomic_path",
    "write_text",
    "fingerprint",
    "write_hdf5",
    "read_hdf5",
    "environment_metadata",
    "utc_timestamp",
    "new_run_directory",
]


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


def atomic_path(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Run ``write(tmp_path)`` (for libraries that open files by name, like h5py) then rename onto ``path``."""
    path = Path(path)
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


def _canonical(obj: Any) -> Any:
    """JSON-serialisable canonical form: numpy arrays -> (dtype, shape, list), tuples -> lists, keys sorted later."""
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, np.ndarray) or hasattr(obj, "__array__"):
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

    atomic_path(path, write)


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


def environment_metadata() -> dict[str, str]:
    """Versions and device of this process: jaxrg, jax, jaxlib, numpy, h5py, python, platform, device, host."""
    import importlib.metadata

    import h5py
    import jax
    import jaxlib

    dev = jax.devices()[0]
    return {
        "jaxrg_version": importlib.metadata.version("jaxrg"),
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
