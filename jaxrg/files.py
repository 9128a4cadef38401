"""Files on disk: atomic writes, checksums, fingerprints, HDF5 trees of arrays, run directories, metadata.

The bottom layer of jaxrg: it imports no other jaxrg module. Every file is written atomically (to a temporary file in
the same directory, flushed and fsynced, then renamed over the target with :func:`os.replace`), so a reader sees
either the old or the new file, never a half-written one; files get the permissions of the user's umask (0644 by
default), and temporary files left by a killed writer are removed by the next write of the same file. Nothing is
pickled: results are HDF5 (h5py) groups of plain arrays, with a SHA-256 checksum of the file in its HDF5 user block
that :func:`read_hdf5` verifies before parsing, so a damaged or truncated file is a :class:`CorruptFileError`, never a
silent wrong number (nor a hang of the HDF5 library). Paths are checked before work with :func:`check_writable_file` and
:func:`check_writable_directory` (a :class:`PathError` names the path and the reason).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import re
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = [
    "CorruptFileError",
    "PathError",
    "check_writable_file",
    "check_writable_directory",
    "remove_stale_temporaries",
    "write_with_fallback",
    "verify_hdf5",
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


#: HDF5 files begin with a user block (which HDF5 skips) holding the SHA-256 of everything after it, so that a damaged
#: file is refused before the HDF5 library parses it (damaged HDF5 metadata can make the library hang or crash).
USERBLOCK_SIZE = 512
_MAGIC = b"jaxrg-sha256:"


class CorruptFileError(ValueError):
    """A file jaxrg wrote earlier is damaged: truncated, unreadable, or its checksum does not match its contents."""


class PathError(ValueError):
    """A path given for output cannot be used (not writable, a directory where a file is needed, or vice versa)."""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _writer_tag() -> str:
    """``<host>-<pid>``: who writes a temporary file (so that only a dead writer's leftovers are removed)."""
    return f"{socket.gethostname()}-{os.getpid()}"


def _new_temporary(path: Path) -> str:
    """A fresh temporary file next to ``path`` (same file system), with the umask's permissions rather than 0600."""
    remove_stale_temporaries(path.parent, path.name)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_writer_tag()}.", suffix=".tmp", dir=path.parent)
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    return tmp


def _is_stale(p: Path) -> bool:
    """Whether the temporary file ``p`` was left by a writer that is gone.

    A writer on this host is gone when its process is (or when it is this process: a previous life of the same pid);
    one on another host (a shared file system) when the file is a day old.
    """
    m = re.search(r"-(\d+)\.[a-z0-9_]+\.tmp$", p.name)
    if m is None:
        return True  # not written by this version's atomic writes
    pid = int(m.group(1))
    if f".{socket.gethostname()}-{pid}." not in p.name:
        with contextlib.suppress(OSError):
            return time.time() - p.stat().st_mtime > 86400
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def remove_stale_temporaries(directory: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Remove temporary files ``.<name>.*.tmp`` left in ``directory`` by an interrupted atomic write.

    Only files whose writer is gone are removed (another process writing the same file keeps its own).

    Args:
        directory: where to look (nothing happens if it does not exist).
        name: only the temporaries of this target file name (default: of every file).

    Returns:
        The removed paths.
    """
    directory = Path(directory)
    removed = []
    with contextlib.suppress(OSError):
        for p in directory.glob(f".{glob_escape(name) if name else '*'}.*.tmp"):
            if not _is_stale(p):
                continue
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
    return removed


def glob_escape(name: str) -> str:
    """``name`` with the glob metacharacters ``*?[`` escaped."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_writable_directory(path: str | os.PathLike, what: str = "directory") -> Path:
    """Check that ``path`` is, or can be created as, a directory where this process can write; returns it.

    Raises:
        PathError: naming ``what`` and the path: a file is in the way, or a parent is not writable.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PathError(f"{what} {path} is a file, not a directory: give a directory path")
    base = _nearest_existing(path.absolute())
    if not base.is_dir():
        raise PathError(f"{what} {path}: {base} is a file, not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise PathError(f"{what} {path}: {base} is not writable (permission denied); choose another location")
    return path


def check_writable_file(path: str | os.PathLike, what: str = "output file") -> Path:
    """Check, before any work, that a file can be written at ``path`` (atomically, in its directory); returns it.

    Raises:
        PathError: ``path`` is a directory, ends in a separator, or its directory cannot be created or written.
    """
    text = os.fspath(path)
    path = Path(path)
    if text.endswith(os.sep) or path.is_dir():
        raise PathError(f"{what} {text} is a directory: give a file name (e.g. {path / 'out'})")
    if path.exists() and not os.access(path, os.W_OK) and not os.access(path.parent, os.W_OK):
        raise PathError(f"{what} {path} is not writable (permission denied)")
    check_writable_directory(path.parent, f"directory of {what}")
    return path


def write_with_fallback(path: str | os.PathLike, write: Callable[[Path], None],
                        log: Callable[[str], None] = lambda s: None) -> Path:
    """Call ``write(path)``; if that fails with an OS error, write to a fallback place instead and say where.

    The fallbacks are the current directory and then the temporary directory, under the same file name, so computed
    results are not lost when the file system changed during the work (a full disk, a revoked permission).

    Returns:
        The path actually written.

    Raises:
        PathError: the requested path failed (the message names the fallback that was written, or says that none
            could be).
    """
    path = Path(path)
    try:
        write(path)
        return path
    except OSError as first:
        failure = f"could not write {path} ({first.strerror or first})"
    for place in (Path.cwd(), Path(tempfile.gettempdir())):
        alt = place / path.name
        if alt.absolute() == path.absolute():
            continue
        try:
            write(alt)
        except OSError:
            continue
        log(f"{failure}; wrote {alt} instead")
        raise PathError(f"{failure}; the results were written to {alt} instead")
    raise PathError(f"{failure}, nor in the current or the temporary directory")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb"):
    """Context manager yielding a temporary file object that replaces ``path`` atomically on success.

    The temporary file lives in the target's directory (same file system, so the rename is atomic), is fsynced before
    :func:`os.replace`, and is removed if the body raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temporary(path)
    try:
        with open(tmp, mode) as f:
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
    tmp = _new_temporary(path)
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


COMPRESS_MIN_SIZE = 4096  # elements: arrays at least this long are written gzip-compressed


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
            # Long arrays (raw series, configurations) are stored gzip-compressed (lossless, deterministic bytes).
            long = arr.size >= COMPRESS_MIN_SIZE
            compress = dict(compression="gzip", compression_opts=4, shuffle=True) if long else {}
            group.create_dataset(name, data=arr, **compress)


def _file_digest(path: Path) -> str:
    """SHA-256 of the bytes of ``path`` after the user block."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(USERBLOCK_SIZE)
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_hdf5(path: str | os.PathLike, tree: dict[str, Any], attrs: dict[str, Any] | None = None) -> None:
    """Write a nested dict of arrays (groups for dicts, datasets for arrays and strings) to HDF5 atomically.

    The file's first 512 bytes are an HDF5 user block holding the SHA-256 checksum of the rest of the file (every
    dataset, attribute and all HDF5 metadata); :func:`read_hdf5` verifies it before opening the file. h5py and other
    HDF5 readers open the file as usual (they skip the user block).

    Args:
        path: target ``.h5`` file.
        tree: name -> array, scalar, str, or nested dict.
        attrs: root attributes (str, numbers); dicts are stored as JSON strings.
    """
    import h5py

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w", userblock_size=USERBLOCK_SIZE) as f:
            for k, v in (attrs or {}).items():
                f.attrs[k] = json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v
            _write_group(f, tree)
        stamp = _MAGIC + _file_digest(tmp).encode("ascii") + b"\n"
        with open(tmp, "r+b") as f:
            f.write(stamp.ljust(USERBLOCK_SIZE, b"\0"))

    atomic_path(path, write)


def _read_file(f) -> tuple[dict[str, Any], dict[str, Any]]:
    import h5py

    def read(group) -> dict[str, Any]:
        out = {}
        for name, item in group.items():
            if isinstance(item, h5py.Group):
                out[name] = read(item)
            elif isinstance(item, h5py.Dataset):
                v = item[()]
                out[name] = v.decode("utf-8") if isinstance(v, bytes) else v
            else:
                raise OSError(f"unexpected HDF5 object {name!r}")
        return out

    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return read(f), attrs


def verify_hdf5(path: str | os.PathLike) -> None:
    """Check the SHA-256 checksum of a file written by :func:`write_hdf5` without parsing it as HDF5.

    Raises:
        FileNotFoundError: no file at ``path``.
        PathError: ``path`` is a directory.
        CorruptFileError: no checksum (not written by jaxrg's :func:`write_hdf5`), or a checksum mismatch (damaged or
            truncated); the message says to delete the file and rerun.
    """
    path = Path(path)
    if path.is_dir():
        raise PathError(f"{path} is a directory, not an HDF5 file")
    with open(path, "rb") as f:
        head = f.read(USERBLOCK_SIZE)
    fix = "delete it and rerun to recompute it"
    if not head.startswith(_MAGIC):
        raise CorruptFileError(f"{path} has no checksum (damaged, or not written by this version of jaxrg); {fix}")
    stored = head[len(_MAGIC):len(_MAGIC) + 64]
    if len(head) < USERBLOCK_SIZE or stored != _file_digest(path).encode("ascii"):
        raise CorruptFileError(f"{path} is corrupted or truncated: the SHA-256 checksum of its contents does not "
                               f"match; {fix}")


def read_hdf5(path: str | os.PathLike, *, verify: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a file written by :func:`write_hdf5`: returns ``(tree, attrs)`` with numpy arrays and str.

    Args:
        path: the ``.h5`` file.
        verify: check the checksum first (:func:`verify_hdf5`); False reads any HDF5 file of groups and datasets.

    Raises:
        FileNotFoundError: no file at ``path``.
        CorruptFileError: the file is damaged, truncated or has no checksum (with ``verify``), or is unreadable.
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if verify:
        verify_hdf5(path)
    elif path.is_dir():
        raise PathError(f"{path} is a directory, not an HDF5 file")
    try:
        with h5py.File(path, "r") as f:
            return _read_file(f)
    except PermissionError:
        raise
    except Exception as e:  # h5py reports damaged files as OSError, KeyError, RuntimeError, ValueError, ...
        raise CorruptFileError(f"{path} is damaged or truncated ({type(e).__name__}: {e}); "
                               "delete it and rerun to recompute it") from None


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
