"""Indented JSON text at the speed of the C encoder.

``json.dumps(obj, indent=...)`` uses the pure-Python encoder (the C one only runs without indentation): for a
result with a few hundred thousand entries (per-subject propensity scores, pairs and weights of a cohort
match) that takes seconds. :func:`dumps` returns exactly the same text as ``json.dumps(obj, indent=indent,
allow_nan=False)`` (checked in ``Testing/test_json_text.py``), handing every flat dict and list (scalar values
only) to the C encoder with ``",\\n" + indentation`` as its item separator.

The one rule for values JSON cannot hold: NaN, +inf and -inf are written as ``null`` (as R's jsonlite writes
``NA``/``Inf``); :func:`finite_or_none` applies it to one number, :func:`jsonable` to a whole result.
"""

from __future__ import annotations

import functools
import json
import math
from json.encoder import encode_basestring_ascii as _KEY
from typing import Any, Optional

__all__ = ["dumps", "finite_or_none", "jsonable"]

_SCALARS = (str, int, float)  # bool is an int
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})


def _flat(values) -> bool:
    types = set(map(type, values))
    return types <= _SCALAR_TYPES or all(isinstance(v, _SCALARS) for v in values if v is not None)


def finite_or_none(v) -> Optional[float]:
    """``float(v)``, or None when ``v`` is None, NaN, +inf, -inf or not a number (a JSON-safe float)."""
    if v is None:
        return None
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def jsonable(x) -> Any:
    """``x`` as plain JSON-safe Python: dicts (keys as text), lists (from tuples too), bool, int, float (NaN and
    ±inf -> None, :func:`finite_or_none`), str, None; numpy scalars as their Python values, objects with
    ``to_dict()`` (pandas Series, result objects) through it, pandas' NA/NaT as None, anything else as its text."""
    import numpy as np

    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return finite_or_none(x)
    if x is None or isinstance(x, str):
        return x
    if hasattr(x, "to_dict"):
        return jsonable(x.to_dict())
    try:
        import pandas as pd

        if x is pd.NA or x is pd.NaT:
            return None
    except Exception:  # pragma: no cover
        pass
    return str(x)


def dumps(obj, indent: int = 1) -> str:
    """``json.dumps(obj, indent=indent, allow_nan=False)``, faster for large dicts and lists."""
    return _encode(obj, indent, 1)


@functools.lru_cache(maxsize=64)
def _flat_encoder(inner: str):
    """The C encoder's ``encode`` with ``"," + inner`` between items (json.dumps builds a new encoder per
    call when given separators, which costs more than encoding a short list)."""
    return json.JSONEncoder(separators=("," + inner, ": "), allow_nan=False).encode


def _encode(obj, indent: int, level: int) -> str:
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        inner, outer = "\n" + " " * (indent * level), "\n" + " " * (indent * (level - 1))
        str_keys = set(map(type, obj)) == {str} or all(isinstance(k, str) for k in obj)
        if str_keys and _flat(obj.values()):
            text = _flat_encoder(inner)(obj)
            return "{" + inner + text[1:-1] + outer + "}"
        if not str_keys:  # json's key coercion (1 -> "1", None -> "null", ...)
            return _indent_block(json.dumps(obj, indent=indent, allow_nan=False), indent, level)
        vals = obj.values()
        if set(map(type, vals)) == {list} and all(set(map(type, v)) <= {str} for v in vals):
            # {key: [text, ...]} (a match's pairs): no recursion per entry
            inner2 = inner + " " * indent
            sep2 = "," + inner2
            items = [_KEY(k) + ": " + ("[" + inner2 + sep2.join(map(_KEY, v)) + inner + "]" if v else "[]")
                     for k, v in obj.items()]
        else:
            items = [_KEY(k) + ": " + _encode(v, indent, level + 1) for k, v in obj.items()]
        return "{" + inner + ("," + inner).join(items) + outer + "}"
    if isinstance(obj, (list, tuple)):
        if not obj:
            return "[]"
        inner, outer = "\n" + " " * (indent * level), "\n" + " " * (indent * (level - 1))
        if len(obj) <= 64 and all(type(v) is str for v in obj):  # e.g. a treated unit's controls
            return "[" + inner + ("," + inner).join(map(_KEY, obj)) + outer + "]"
        if _flat(obj):
            text = _flat_encoder(inner)(list(obj))
            return "[" + inner + text[1:-1] + outer + "]"
        return "[" + inner + ("," + inner).join(_encode(v, indent, level + 1) for v in obj) + outer + "]"
    if obj is None or isinstance(obj, _SCALARS):
        return _flat_encoder("")(obj)
    return _indent_block(json.dumps(obj, indent=indent, allow_nan=False), indent, level)


def _indent_block(text: str, indent: int, level: int) -> str:
    """Text that json.dumps indented as a top-level value, re-indented for nesting ``level``."""
    return text.replace("\n", "\n" + " " * (indent * (level - 1)))
