"""The ``jaxrg`` command: ``jaxrg run`` (the default study) and one subcommand per capability.

Each subcommand is a :class:`Command` in the registry ``COMMANDS`` (its module calls :func:`register`): a name, a
one-line help, its typed :class:`~jaxrg.config.Option` list (which gives both ``--option`` flags and the keys
accepted in a ``--config`` TOML file), and ``execute(config, context) -> dict`` (the dict is what ``--json`` prints).
Exit codes: 0 success, 2 bad input or an unusable file or path (unknown keys, invalid values, damaged or unwritable
files: the message names the file and what to do), 130 interrupted (Ctrl-C or SIGTERM; the message says how to
resume), 1 anything else (a bug: please report it with the traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from jaxrg.config import ConfigError, Option, add_arguments, given_arguments, read_toml, resolve

__all__ = ["Command", "ConfigError", "Context", "COMMANDS", "register", "main", "to_json", "check_memory"]


@dataclass
class Context:
    """What a command needs besides its config: output mode and the parsed arguments.

    Attributes:
        json: print one JSON object on stdout instead of tables.
        quiet: no progress bars and no log lines.
        progress: show progress bars (not quiet and stderr is a terminal).
        args: the parsed argparse namespace (for command-specific positional arguments).
    """

    json: bool = False
    quiet: bool = False
    progress: bool = False
    args: Any = None

    def log(self, message: str) -> None:
        """Print a progress line on stderr unless quiet."""
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)

    def out(self, text: str) -> None:
        """Print human-readable output on stdout unless ``--json`` is on."""
        if not self.json:
            print(text, flush=True)


@dataclass(frozen=True)
class Command:
    """A ``jaxrg`` subcommand.

    Attributes:
        name: the subcommand.
        help: one line for ``jaxrg --help``.
        options: options usable as ``--flags`` and as keys of a ``--config`` TOML file.
        execute: ``execute(config, context) -> dict`` (JSON-able after :func:`to_json`).
        description: longer text for ``jaxrg NAME --help``.
        configure: optional ``configure(parser)`` adding command-specific arguments (e.g. positional ones).
        takes_config: whether ``--config FILE.toml`` applies (``run`` has its own nested config).
    """

    name: str
    help: str
    options: tuple[Option, ...]
    execute: Callable[[dict, Context], dict]
    description: str = ""
    configure: Callable[[argparse.ArgumentParser], None] | None = None
    takes_config: bool = True
    aliases: tuple[str, ...] = field(default=())


COMMANDS: dict[str, Command] = {}

# Modules whose import registers a command; a capability adds its module here.
_COMMAND_MODULES = ("jaxrg.cli.run", "jaxrg.cli.simulate", "jaxrg.cli.exact", "jaxrg.cli.trg", "jaxrg.cli.mcrg",
                    "jaxrg.cli.phi4", "jaxrg.cli.generate", "jaxrg.cli.flow", "jaxrg.cli.vft", "jaxrg.cli.reweight",
                    "jaxrg.cli.info", "jaxrg.cli.linearized")


def register(command: Command) -> Command:
    """Add ``command`` to :data:`COMMANDS` (its module is listed in ``_COMMAND_MODULES``)."""
    COMMANDS[command.name] = command
    return command


def _load_commands() -> None:
    import importlib

    for module in _COMMAND_MODULES:
        importlib.import_module(module)


def to_json(value: Any) -> Any:
    """Convert numpy/jax values to JSON types (arrays -> lists, NaN/inf -> None)."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if hasattr(value, "__array__") and not isinstance(value, (str, bytes)):
        arr = np.asarray(value)
        return to_json(arr.tolist()) if arr.ndim else to_json(arr.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (np.generic,)):
        return to_json(value.item())
    return value


def available_memory() -> int | None:
    """Bytes the default device can still hold: free accelerator memory, or the host's available memory on CPU."""
    import jax

    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # backends without memory statistics
        stats = None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(estimate: float, what: str, advice: str) -> None:
    """Refuse, before any work, a job whose estimated peak memory exceeds what the device has free.

    Args:
        estimate: estimated peak in bytes.
        what: the job and the parameters that set its size (e.g. ``"L = 40000, 3 temperatures x 4 chains"``).
        advice: which parameter to lower.

    Raises:
        ValueError: naming the estimate, the memory available and ``advice``.
    """
    free = available_memory()
    if free is not None and estimate > 0.8 * free:
        raise ValueError(f"{what} needs about {estimate / 2**30:.1f} GiB of memory, more than the "
                         f"{free / 2**30:.1f} GiB available; {advice}")


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("jaxrg")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def _file_error_message(e: BaseException) -> str:
    """An OS or HDF5 error as one line naming the file."""
    if isinstance(e, OSError) and e.filename is not None:
        what = e.strerror or str(e)
        paths = f"{e.filename}" + (f" -> {e.filename2}" if e.filename2 else "")
        return f"{paths}: {what}"
    return str(e) or type(e).__name__


class _Heartbeat:
    """A line on stderr every ``$JAXRG_HEARTBEAT_S`` seconds (default 30) while a command works without a terminal.

    Batch jobs and CI logs get signs of life where a progress bar would not be drawn.
    """

    def __init__(self, name: str):
        import os
        import threading
        import time

        self.name, self.start = name, time.monotonic()
        try:
            self.interval = float(os.environ.get("JAXRG_HEARTBEAT_S", "30"))
        except ValueError:
            self.interval = 30.0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)
        if self.interval > 0:
            self.thread.start()

    def _beat(self) -> None:
        import time

        while not self.done.wait(self.interval):
            with contextlib.suppress(Exception):
                print(f"jaxrg {self.name}: working, {time.monotonic() - self.start:.0f} s elapsed", file=sys.stderr,
                      flush=True)

    def stop(self) -> None:
        self.done.set()


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _resume_hint(cmd: str, args, interrupt: BaseException) -> str:
    """How to continue an interrupted command (a run directory, or the checkpoint directory of simulate)."""
    notes = getattr(interrupt, "__notes__", None)
    if notes:
        return f" ({'; '.join(notes)})"
    if getattr(args, "checkpoint", None):
        return " (run the same command again: it resumes from the checkpoints)"
    return ""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxrg",
        description="jaxrg: renormalization-group physics of the 2D Ising model in JAX. "
        "Start with `jaxrg run` (the default study, a few minutes on a laptop).",
    )
    parser.add_argument("--version", action="version", version=f"jaxrg {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.description or cmd.help, aliases=list(cmd.aliases))
        if cmd.configure is not None:
            cmd.configure(p)
        if cmd.takes_config:
            p.add_argument("--config", metavar="FILE.toml", help="read options from a TOML file (flags override it)")
        add_arguments(p, cmd.options)
        p.add_argument("--json", action="store_true", help="print the results as one JSON object on stdout")
        p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or log lines")
        p.add_argument("--no-compilation-cache", action="store_true",
                       help="do not read or write JAX's persistent compilation cache ($JAXRG_CACHE_DIR, or "
                            "~/.cache/jaxrg/xla on GPU/TPU; JAXRG_CACHE_DIR=off also turns it off)")
        p.set_defaults(_command=cmd.name)
    return parser


def compilation_cache_dir(environ=None, backend: str | None = None) -> str | None:
    """Where the ``jaxrg`` command keeps JAX's persistent compilation cache, or None when it is off.

    ``$JAXRG_CACHE_DIR`` if set (``off``, ``0`` or an empty value turn the cache off). Otherwise, on GPU and TPU,
    ``$XDG_CACHE_HOME/jaxrg/xla`` (``~/.cache/jaxrg/xla``); on CPU the cache is off unless asked for, because XLA:CPU
    logs a harmless but alarming machine-feature message for every program it loads from the cache (set
    ``TF_CPP_MIN_LOG_LEVEL=3`` in the environment to silence it).
    """
    import os

    env = os.environ if environ is None else environ
    value = env.get("JAXRG_CACHE_DIR")
    if value is not None:
        return None if value.strip().lower() in ("", "0", "off", "false", "no") else value
    if backend is None:
        import jax

        backend = jax.default_backend()
    if backend == "cpu":
        return None
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "jaxrg", "xla")


def _use_compilation_cache(directory: str) -> None:
    """Let JAX read and write compiled programs in ``directory``: a second run of the same config skips compiling."""
    import jax

    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``jaxrg`` command line; returns the exit code (0 ok, 2 bad input, 1 failure)."""
    _load_commands()
    parser = _parser()
    args = parser.parse_args(argv)  # argparse itself exits with 2 on malformed flags
    if getattr(args, "_command", None) is None:
        parser.print_help(sys.stderr)
        return 2
    cmd = COMMANDS[args._command]
    cache = None if args.no_compilation_cache else compilation_cache_dir()
    if cache is not None:
        _use_compilation_cache(cache)
    ctx = Context(json=args.json, quiet=args.quiet, progress=not args.quiet and sys.stderr.isatty(), args=args)
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)  # `kill`: the same clean stop as Ctrl-C
    heartbeat = _Heartbeat(cmd.name) if not (args.quiet or sys.stderr.isatty()) else None
    try:
        code = _execute(cmd, args, ctx)
        if code == 130 and argv is None:
            # Interrupted in the middle of a compiled computation: leave at once, since finalising the interpreter
            # while XLA's threads still run can crash. Everything worth keeping is already on disk (atomic writes).
            sys.stdout.flush()
            sys.stderr.flush()
            import os

            os._exit(130)
        return code
    except BrokenPipeError:  # `jaxrg exact --json | head`: the reader left; stop quietly
        import os

        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 0
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)


def _execute(cmd: Command, args, ctx: Context) -> int:
    """Resolve the config, run the command and print its JSON; map user-facing failures to exit codes."""
    try:
        given: dict[str, Any] = {}
        if cmd.takes_config and args.config:
            given.update(read_toml(args.config))
        given.update(given_arguments(args, cmd.options))
        config = resolve(cmd.options, given) if cmd.options else {}
        result = cmd.execute(config, ctx)
    except (ValueError, OverflowError) as e:  # ConfigError, CheckpointError, file and path errors, input checks
        print(f"jaxrg {cmd.name}: error: {e}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"jaxrg {cmd.name}: error: out of memory; use a smaller size or fewer chains/temperatures",
              file=sys.stderr)
        return 2
    except OSError as e:  # file system faults (h5py reports its errors as OSError too)
        if isinstance(e, BrokenPipeError):
            raise
        notes = "".join(f"; {n}" for n in getattr(e, "__notes__", ()))
        print(f"jaxrg {cmd.name}: error: {_file_error_message(e)}{notes}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"jaxrg {cmd.name}: interrupted{_resume_hint(cmd.name, args, e)}", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(to_json(result), indent=1, allow_nan=False), flush=True)
    return 0

