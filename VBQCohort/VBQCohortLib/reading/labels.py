"""Matching a value the user names (``--treated OPLL``) to the values a column holds, out loud.

Values are compared exactly first. When that fails, a value that differs only in letter case or spacing
(surrounding spaces, or runs of spaces inside) is still taken -- and a warning says so::

    --treated 'OPLL' matched group value 'opll' (case differs)

A column that holds two spellings which differ only in that way (``OPLL`` and ``opll``, ``OPLL`` and ``OPLL ``)
is bad input (:class:`VBQScoreLib.errors.VBQInputError` naming both spellings and their row counts): no rule
could tell whether they mean one group or two. :func:`VBQCohortLib.spreadsheet.read_table` strips the spaces
around text cells; the spellings it read are kept in ``DataFrame.attrs[RAW_TEXT]`` so that these checks still
see them, and :func:`stripped_note` words the warning for a column a command uses.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from VBQScoreLib.errors import VBQInputError

__all__ = ["RAW_TEXT", "RAW_COLUMNS", "fold", "how_differs", "spelling_counts", "check_spellings", "match_value",
           "find_column", "check_column_spellings", "resolve_column_value", "stripped_note", "raw_column_name"]

#: ``DataFrame.attrs`` keys of read_table: ``{column: {cell text as read: [row numbers]}}`` for the text cells
#: whose surrounding spaces it removed, and ``{column name: header as read}`` for such column names
RAW_TEXT = "vbq_raw_text"
RAW_COLUMNS = "vbq_raw_columns"


def fold(v: Any) -> str:
    """Letter case and spacing ignored: ``" OPLL  A "`` -> ``"opll a"``."""
    return " ".join(str(v).split()).casefold()


def _difference(a: str, b: str) -> str:
    a, b = str(a), str(b)
    if a.strip() == b.strip():
        return "surrounding spaces"
    if " ".join(a.split()) == " ".join(b.split()):
        return "spacing"
    if a.casefold() == b.casefold():
        return "case"
    return "case and spacing"


def how_differs(a: str, b: str) -> str:
    """``case differs`` / ``surrounding spaces differ`` / ``spacing differs`` / ``case and spacing differ``."""
    d = _difference(a, b)
    return f"{d} differ{'s' if d in ('case', 'spacing') else ''}"


def _text(v) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def spelling_counts(values: Iterable[Any], raw: Mapping[str, Any] | None = None) -> dict[str, int]:
    """``{spelling: number of cells}`` of the non-missing ``values`` (text stripped; numbers as text), with the
    spellings read_table stripped (``raw``: ``{cell text as read: rows}``) counted as they were read."""
    import pandas as pd

    counts: dict[str, int] = {}
    for v, n in pd.Series(values, dtype=object).value_counts(dropna=True).items():  # hashing, not a loop
        t = _text(v)
        if t is not None and t != "":
            counts[t] = counts.get(t, 0) + int(n)
    for r, rows in (raw or {}).items():
        n = rows if isinstance(rows, int) else len(rows)
        s = r.strip()
        if counts.get(s, 0) >= n and r != s:
            counts[s] -= n
            if not counts[s]:
                del counts[s]
            counts[r] = counts.get(r, 0) + n
    return counts


def check_spellings(counts: Mapping[str, int], what: str) -> None:
    """Raise when two spellings of ``counts`` differ only in case or spacing (``what``: "group column 'dx'")."""
    groups: dict[str, list[str]] = {}
    for s in counts:
        groups.setdefault(fold(s), []).append(s)
    clash = [sorted(v, key=lambda s: (-counts[s], s)) for v in groups.values() if len(v) > 1]
    if not clash:
        return
    a, b = clash[0][:2]
    more = "" if len(clash) == 1 and len(clash[0]) == 2 else " (and more such spellings)"
    raise VBQInputError(f"{what} holds {a!r} ({_n_rows(counts[a])}) and {b!r} ({_n_rows(counts[b])}), which "
                        f"differ only in {_difference(a, b)}{more}: write them one way in the spreadsheet")


def _n_rows(n: int) -> str:
    return f"{n} row{'s' if n != 1 else ''}"


def match_value(given: Any, counts: Mapping[str, int]) -> str | None:
    """The spelling in ``counts`` that ``given`` names: itself, else the one equal up to case and spacing
    (call :func:`check_spellings` first: then there is at most one); None when none matches."""
    g = str(given)
    if g in counts:
        return g
    if g.strip() in counts:
        return g.strip()
    hits = [s for s in counts if fold(s) == fold(g)]
    return hits[0] if hits else None


def find_column(columns, name: str, what: str):
    """The column called ``name``: itself, else the one equal up to case and spacing, else None; two such
    columns are bad input (``what``: how the message starts, e.g. "covariate column 'AGE'")."""
    if name in columns:
        return name
    hits = [c for c in columns if fold(c) == fold(name)]
    if len(hits) > 1:
        raise VBQInputError(f"{what} matches columns {', '.join(repr(str(c)) for c in hits)}, which differ only "
                            f"in case or spacing; rename one of them")
    return hits[0] if hits else None


def _raw(df, column: str) -> dict[str, list]:
    return ((getattr(df, "attrs", None) or {}).get(RAW_TEXT) or {}).get(column) or {}


def stripped_note(df, column: str) -> str | None:
    """The warning for the text cells of ``column`` that read_table read without their surrounding spaces."""
    raw = _raw(df, column)
    if not raw:
        return None
    rows = sorted(r for v in raw.values() for r in v)
    shown = ", ".join(repr(v) for v in sorted(raw, key=lambda v: (-len(raw[v]), v))[:3])
    listed = ", ".join(map(str, rows[:6])) + (f" and {len(rows) - 6} more" if len(rows) > 6 else "")
    return (f"column '{column}': spaces around the text of {len(rows)} cell{'s' if len(rows) > 1 else ''} "
            f"removed (row{'s' if len(rows) > 1 else ''} {listed}: {shown})")


def raw_column_name(df, column: str) -> str:
    """The header of ``column`` as the spreadsheet spells it (read_table strips surrounding spaces)."""
    return ((getattr(df, "attrs", None) or {}).get(RAW_COLUMNS) or {}).get(column, column)


def check_column_spellings(df, column: str, what: str | None = None) -> dict[str, int]:
    """:func:`check_spellings` on a DataFrame column (with the spellings read_table stripped); returns the
    spelling counts."""
    counts = spelling_counts(df[column], _raw(df, column))
    check_spellings(counts, what or f"column '{column}'")
    return counts


def resolve_column_value(df, column: str, given: Any, *, flag: str, role: str = "group"):
    """``(value, warning)``: the value of text column ``column`` that ``given`` (from option ``flag``) names, as
    the DataFrame holds it, and a warning line when it matched only up to case or spacing (None when exact or
    when nothing matched: the caller reports that). Raises when the column holds two such spellings."""
    counts = check_column_spellings(df, column, f"{role} column '{column}'")
    hit = match_value(given, counts)
    if hit is None:
        return given, None
    if hit == str(given).strip():
        return hit, None
    return hit.strip(), f"{flag} '{given}' matched {role} value '{hit}' ({how_differs(str(given), hit)})"
