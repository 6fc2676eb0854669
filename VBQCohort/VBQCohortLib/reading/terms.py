"""Model term names as R's ``model.matrix`` writes them, and the words the report uses for them.

* A numeric covariate, a two-valued 0/1 column included, is one term named after the column (``age``,
  ``diabetes``).
* A text (or ``categorical``) covariate is treatment-coded: its levels are sorted (:func:`sort_levels`), the
  first is the reference, and every other level gets a 0/1 dummy named ``<column><level>``, spaces and all,
  as R names it (``smokingformer``, ``dietHigh salt``, ``grade10``).
* A text column of the yes/no or sex vocabulary, which :func:`VBQCohortLib.spreadsheet.prepare_cohort` codes
  1/0 (1 = yes, 1 = male), is one dummy named after the spelling coded 1 (``sexM``, ``hypertensionyes``); its
  reference is the spelling coded 0 (``F``, ``no``). For every usual spelling (no/yes, n/y, false/true, F/M,
  female/male, in any letter case) that is R's first level in sorted order too, so the term equals R's;
  :func:`binary_order_note` says when R would choose the other one (``man``/``woman``).

Sort order (:func:`sort_levels`): numbers by value (R sorts the levels of ``factor(<numeric>)`` by value; the
level text is R's ``as.character``: ``2``, ``2.5``, ``1e+05``); text by Unicode code point (= UTF-8 byte
order: digits < upper case < lower case), which is R's order under ``LC_COLLATE=C`` and that of R's
``sort(method = "radix")``. R in a UTF-8 locale collates with ICU instead (letter case second:
``balanced`` < ``High salt``); both orders agree whenever the levels do not differ in letter case or
punctuation, and :func:`collation_note` warns when they would pick different reference levels.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any, Iterable, Mapping

__all__ = ["level_text", "sort_levels", "term_name", "term_info", "describe_term", "collation_note",
           "binary_order_note"]

_NUM_TEXT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and type(v).__name__ != "bool_"


def _r_double(x: float) -> str:
    """R's ``as.character`` of a double: at most 15 significant digits, as few as represent it, fixed notation
    unless scientific is shorter (R's formatReal with scipen = 0)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    if x == 0:
        return "0"
    r15 = float(f"{x:.14e}")
    sig = next(s for s in range(1, 16) if float(f"{x:.{s - 1}e}") == r15)
    sci = f"{x:.{sig - 1}e}"
    exp = int(sci.split("e")[1])
    fixed = f"{x:.{max(0, sig - 1 - exp)}f}"
    return fixed if len(fixed) <= len(sci) else sci


def level_text(level) -> str:
    """The text R shows for a factor level: numbers as R's ``as.character`` (``2`` not ``2.0``), text as is."""
    if _is_number(level):
        return _r_double(float(level))
    return str(level)


def sort_levels(values: Iterable[Any]) -> list:
    """Distinct non-missing ``values`` in R's factor order (see the module doc): by value when every value is
    a number (or text that reads as one, like ``"10"``), else by the code points of their text."""
    seen: dict = {}
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        seen.setdefault(v, None)
    vals = list(seen)
    if vals and all(_is_number(v) for v in vals):
        return sorted(vals, key=float)
    if vals and all(isinstance(v, str) and _NUM_TEXT.match(v.strip()) for v in vals):
        return sorted(vals, key=lambda v: (float(v), v))
    return sorted(vals, key=str)


def term_name(column: str, level) -> str:
    """R's name of the dummy of ``level`` of ``column``: ``sexM``, ``smokingex smoker``, ``grade10``."""
    return f"{column}{level_text(level)}"


def term_info(column: str, level, reference) -> dict:
    """What a dummy codes, as results.json keeps it (``term_levels``)."""
    return {"column": str(column), "level": level_text(level), "reference": level_text(reference)}


def describe_term(term: str, term_levels: Mapping[str, Mapping[str, str]] | None) -> str:
    """``sexM`` -> ``sex (M vs F)`` when ``term_levels`` says what it codes; other terms as they are."""
    info = (term_levels or {}).get(term)
    if not info:
        return str(term)
    return f"{info['column']} ({info['level']} vs {info['reference']})"


def _icu_like_key(s: str):
    """An approximation of R's ICU collation in a UTF-8 locale for plain text: letter case second."""
    return (s.casefold(), s.swapcase())


def collation_note(column: str, levels: Iterable[str]) -> str | None:
    """A warning when R in a UTF-8 locale (ICU collation) would take another level of the text ``column``
    as the reference than the code-point order used here (R's LC_COLLATE=C order), else None."""
    levels = [str(v) for v in levels]
    if len(levels) < 2:
        return None
    ours = sorted(levels)[0]
    icu = sorted(levels, key=_icu_like_key)[0]
    if ours == icu:
        return None
    return (f"column '{column}': reference level '{ours}' (first in character-code order, as R with "
            f"LC_COLLATE=C sorts); R in a UTF-8 locale sorts letter case last and would take '{icu}'")


def binary_order_note(column: str, level0: str, level1: str) -> str | None:
    """A warning when R would take the spelling coded 1 (``level1``) as reference of a yes/no or sex column,
    in both the C and the UTF-8 locale order (``man`` sorts before ``woman``), else None."""
    if sorted([level0, level1])[0] == level0 or sorted([level0, level1], key=_icu_like_key)[0] == level0:
        return None
    return (f"column '{column}': '{level1}' is coded 1 and '{level0}' is the reference (1 = "
            f"{'male' if level1.casefold() in ('m', 'male', 'man') else 'yes'}); R sorts '{level1}' first and "
            f"would report {column}{level0} with the inverse odds ratio")
