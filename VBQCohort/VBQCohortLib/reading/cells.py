"""What a cell of a clinical table means, shared by the readers (:mod:`.spreadsheet`, :mod:`.delimited`) and by
preparing a cohort (:mod:`.cohort`): the text read as missing, numbers (decimal point; decimal comma in
``;``-separated files), identifier-like numbers kept as text, yes/no and sex vocabularies, label normalisation."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Sequence

from VBQScoreLib.errors import VBQInputError

#: text read as a missing value (case-insensitive, after stripping whitespace)
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", ".", "-", "missing", "#n/a", "?"})
EXCEL_ERRORS = frozenset({"#DIV/0!", "#N/A", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!",
                          "#CALC!", "#GETTING_DATA"})
YES = frozenset({"yes", "y", "true", "t", "1", "1.0"})
NO = frozenset({"no", "n", "false", "f", "0", "0.0"})
MALE = frozenset({"male", "m", "man", "1", "1.0"})
FEMALE = frozenset({"female", "f", "woman", "0", "0.0"})
NUM_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
COMMA_NUM_RE = re.compile(r"^[+-]?\d+,\d+$")
ID_LIKE_RE = re.compile(r"^(0\d+|\d{16,})$")


def normalise_label(v: Any) -> str:
    """Case- and whitespace-insensitive form of a label (``" OPLL "`` -> ``"opll"``)."""
    return " ".join(str(v).split()).casefold()


def rows_text(rows: Sequence[Any], limit: int = 8) -> str:
    rows = list(rows)
    s = ", ".join(str(r) for r in rows[:limit])
    if len(rows) > limit:
        s += f" and {len(rows) - limit} more"
    return s



def is_missing(v) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and v.strip().casefold() in MISSING_TOKENS


def check_header(path: Path, header: list[str]) -> None:
    """Every column named, no name twice (``header``: the stripped names)."""
    if any(not h for h in header):
        j = header.index("")
        raise VBQInputError(f"{path}: column {j + 1} has no header")
    seen: dict[str, int] = {}
    dups = []
    for h in header:
        seen[h] = seen.get(h, 0) + 1
        if seen[h] == 2:
            dups.append(h)
    if dups:
        raise VBQInputError(f"{path}: duplicate column name(s): {', '.join(repr(d) for d in dups)}")
