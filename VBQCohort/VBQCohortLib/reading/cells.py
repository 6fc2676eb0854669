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


_WHOLE_RE = re.compile(r"^[+-]?\d+(?:\.0*)?$")


def id_number_key(text: str) -> str:
    """The key under which an id is compared with the ids of another table: a whole number without its leading
    zeros or ``.0`` (``"007"``, ``"7"``, ``"7.0"`` -> ``"7"``: a spreadsheet drops leading zeros), any other text
    as it is."""
    s = str(text).strip()
    return str(int(s.split(".")[0])) if _WHOLE_RE.match(s) else s


def check_id_spellings(ids, rows, where: str) -> None:
    """One rule for ids in every table (clinical, VBQ, matching input): two different spellings of the same whole
    number (``007`` and ``7``) in one table are an error, never two patients and never one. Across tables the
    same number matches, with a warning (:func:`VBQCohortLib.reading.join.join_vbq`). ``ids``: the id texts
    (None for missing), ``rows``: their row numbers, ``where``: the table and column for the message."""
    first: dict[str, tuple] = {}
    for v, r in zip(ids, rows):
        if v is None:
            continue
        t = str(v).strip()
        seen = first.setdefault(id_number_key(t), (t, r))
        if seen[0] != t:
            raise VBQInputError(f"{where}: ids '{seen[0]}' (row {seen[1]}) and '{t}' (row {r}) are the same number "
                                "written differently (leading zeros?); one patient twice or two patients? Write "
                                "each id the same way everywhere (as text, e.g. 007) or make them distinct")
