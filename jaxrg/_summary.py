"""Short ``repr`` of result tuples: small values in full, arrays as dtype and shape, so a result prints in a line."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["summary_repr"]

#: Arrays with more elements than this are shown as ``dtype[shape]``.
MAX_SHOWN = 6


def _short(value: Any) -> str:
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # nested NamedTuple (Estimate, Timeseries, ...)
        return f"{type(value).__name__}({', '.join(f'{k}={_short(v)}' for k, v in zip(value._fields, value))})"
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        if np.size(value) > MAX_SHOWN:
            return f"{np.dtype(value.dtype).name}{list(np.shape(value))}"
        return np.array2string(np.asarray(value), precision=5, separator=", ")
    if isinstance(value, (list, tuple)) and len(value) > MAX_SHOWN:
        return f"{type(value).__name__}[{len(value)}]"
    text = repr(value)
    return text if len(text) <= 80 else f"{type(value).__name__}(...)"


def summary_repr(result: Any) -> str:
    """``Name(field=value, ...)`` with arrays of more than :data:`MAX_SHOWN` elements as ``dtype[shape]``."""
    fields = ", ".join(f"{k}={_short(v)}" for k, v in zip(result._fields, result))
    return f"{type(result).__name__}({fields})"
