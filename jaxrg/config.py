"""Typed options shared by the command line, the study and TOML configs: one declaration gives ``--help``, parsing
and checks.

An :class:`Option` declares a name, a kind (``int``, ``float``, ``str``, ``bool``, ``ints``, ``floats``), a default and
its allowed values. :func:`resolve` merges a TOML table and command-line values over the defaults and checks every
value, raising :class:`ConfigError` (the command line exits with code 2) with a message naming the offending key.
"""

from __future__ import annotations

import argparse
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

__all__ = ["ConfigError", "Option", "add_arguments", "resolve", "read_toml"]

_MISSING = object()


class ConfigError(ValueError):
    """An unknown key or an invalid value in a config file or on the command line (exit code 2)."""


@dataclass(frozen=True)
class Option:
    """One option of a command or config section.

    Attributes:
        name: key in TOML and ``--name`` on the command line.
        kind: ``"int"``, ``"float"``, ``"str"``, ``"bool"``, ``"ints"`` or ``"floats"`` (lists, at least one item).
        default: value when not given (``None``: optional, no value).
        help: one line for ``--help``.
        minimum, maximum: inclusive bounds for numbers (each list item).
        choices: allowed values for ``str`` options (a callable returning them is allowed, for registries).
        exclusive_minimum: if True, ``minimum`` is exclusive (``> minimum``).
    """

    name: str
    kind: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: Any = None
    exclusive_minimum: bool = False
    cli: bool = field(default=True)

    def allowed_choices(self) -> list[str] | None:
        """The allowed values of a ``str`` option, or None."""
        if self.choices is None:
            return None
        return sorted(self.choices() if callable(self.choices) else self.choices)


def _describe(opt: Option) -> str:
    base = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
            "ints": "a list of integers", "floats": "a list of numbers"}[opt.kind]
    bounds = []
    if opt.minimum is not None:
        bounds.append(f"{'>' if opt.exclusive_minimum else '>='} {opt.minimum:g}")
    if opt.maximum is not None:
        bounds.append(f"<= {opt.maximum:g}")
    if opt.allowed_choices() is not None:
        return f"one of {', '.join(repr(c) for c in opt.allowed_choices())}"
    return base + (" " + " and ".join(bounds) if bounds else "")


def _check_number(opt: Option, v, where: str, value) -> None:
    if not math.isfinite(v):
        raise ConfigError(f"{where} must be {_describe(opt)}, got {value!r}")
    if opt.minimum is not None and (v < opt.minimum or (opt.exclusive_minimum and v <= opt.minimum)):
        raise ConfigError(f"{where} must be {_describe(opt)}, got {value!r}")
    if opt.maximum is not None and v > opt.maximum:
        raise ConfigError(f"{where} must be {_describe(opt)}, got {value!r}")


def check_value(opt: Option, value: Any, where: str) -> Any:
    """``value`` converted to the option's type after checking it; raises :class:`ConfigError` naming ``where``."""
    if value is None and opt.default is None:
        return None
    kind = opt.kind
    bad = ConfigError(f"{where} must be {_describe(opt)}, got {value!r}")
    if kind in ("ints", "floats"):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)) or len(value) == 0:
            raise bad
        item = Option(opt.name, kind[:-1], None, opt.help, opt.minimum, opt.maximum, None, opt.exclusive_minimum)
        return [check_value(item, v, f"every value of {where}") for v in value]
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        if not -(2**63) <= value < 2**63:
            raise ConfigError(f"{where} must be {_describe(opt)} and fit in 64 bits, got {value!r}")
        _check_number(opt, value, where, value)
        return int(value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        _check_number(opt, float(value), where, value)
        return float(value)
    if kind == "str":
        if not isinstance(value, str):
            raise bad
        choices = opt.allowed_choices()
        if choices is not None and value not in choices:
            raise bad
        return value
    raise AssertionError(f"unknown option kind {kind!r}")


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; a missing or malformed file raises :class:`ConfigError`."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory, not a TOML file") from None
    except OSError as e:
        raise ConfigError(f"config file {path} cannot be read: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path} is not UTF-8 text: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None


def resolve(options: Sequence[Option], given: dict[str, Any], *, where: str = "") -> dict[str, Any]:
    """Defaults overridden by ``given`` (a TOML table or command-line values), every value checked.

    Args:
        options: the declared options.
        given: key -> value; keys not declared are an error.
        where: prefix of key names in messages (e.g. ``"[sweep]"``).

    Returns:
        dict option name -> checked value, for every option.
    """
    names = {o.name: o for o in options}
    unknown = sorted(set(given) - set(names))
    if unknown:
        prefix = f"{where} " if where else ""
        raise ConfigError(
            f"{prefix}unknown key{'s' if len(unknown) > 1 else ''} {', '.join(repr(k) for k in unknown)}; "
            f"allowed: {', '.join(sorted(names))}"
        )
    out = {}
    for o in options:
        label = f"{where}.{o.name}" if where else o.name
        out[o.name] = check_value(o, given[o.name], label) if o.name in given else o.default
    return out


def add_arguments(parser: argparse.ArgumentParser, options: Sequence[Option]) -> None:
    """Add ``--name`` arguments for ``options`` (values default to "not given", so a TOML config can supply them)."""
    for o in options:
        if not o.cli:
            continue
        flag = "--" + o.name.replace("_", "-")
        dflt = "" if o.default is None else f" (default: {o.default})"
        extra = ""
        choices = o.allowed_choices()
        if choices is not None:
            extra = f" [{', '.join(choices)}]"
        if o.kind == "bool":
            parser.add_argument(flag, dest=o.name, action=argparse.BooleanOptionalAction, default=_MISSING,
                                help=o.help + dflt)
        else:
            typ = {"int": int, "ints": int, "float": float, "floats": float, "str": str}[o.kind]
            nargs = "+" if o.kind in ("ints", "floats") else None
            parser.add_argument(flag, dest=o.name, type=typ, nargs=nargs, default=_MISSING, metavar=o.name.upper(),
                                help=o.help + extra + dflt)


def given_arguments(namespace: argparse.Namespace, options: Sequence[Option]) -> dict[str, Any]:
    """The options actually given on the command line."""
    return {o.name: getattr(namespace, o.name) for o in options
            if o.cli and getattr(namespace, o.name, _MISSING) is not _MISSING}
