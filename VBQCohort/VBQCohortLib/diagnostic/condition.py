"""The positive class of a diagnostic analysis: ``--condition "COLUMN OP VALUE"``.

``OP`` is one of ``<=``, ``<``, ``>=``, ``>``, ``==``, ``!=``. A numeric column is compared with a number
(``"dxa_t_lumbar <= -2.5"``); a text column only with ``==`` / ``!=`` and a value matched by the project's label
rules (:mod:`VBQCohortLib.reading.labels`: exact first, else up to case and spacing with a warning; a column holding two
such spellings is bad input): ``"screw_loosening == yes"``. The column name is found the same way. A row whose
column is missing stays missing (excluded from the analyses and counted). Values may be quoted
(``"sex == 'F'"``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from VBQScoreLib.errors import VBQInputError

__all__ = ["Condition", "parse_condition", "evaluate_condition", "numeric_column", "OPS"]

OPS = ("<=", ">=", "==", "!=", "<", ">")
_EXPR = re.compile(r"^\s*(?P<col>.+?)\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<val>.*?)\s*$", re.S)


@dataclass(frozen=True)
class Condition:
    expression: str
    column: str
    op: str
    value: str

    @property
    def label(self) -> str:
        return f"{self.column} {self.op} {self.value}"


@dataclass
class Evaluated:
    condition: Condition
    column: str                     # the column as the table spells it
    positive: np.ndarray            # float 1 / 0 / NaN (missing)
    value: object                   # the number or the text value matched
    warnings: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        v = self.value if isinstance(self.value, str) else f"{self.value:g}"
        return f"{self.column} {self.condition.op} {v}"


def parse_condition(expr: str) -> Condition:
    """Split ``"COLUMN OP VALUE"``; raises VBQInputError naming the expression when it does not parse."""
    text = str(expr)
    m = _EXPR.match(text)
    if not m or not m.group("col") or not m.group("val"):
        raise VBQInputError(f"--condition {text!r}: cannot read it; write COLUMN OP VALUE with OP one of "
                            f"{', '.join(OPS)} (e.g. \"dxa_t_lumbar <= -2.5\" or \"screw_loosening == yes\")")
    col, op, val = m.group("col").strip(), m.group("op"), m.group("val").strip()
    if len(val) >= 2 and val[0] == val[-1] and val[0] in "'\"":
        val = val[1:-1]
    if any(o in val for o in ("<", ">", "==", "!=")) or any(o in col for o in ("<", ">", "=", "!")):
        raise VBQInputError(f"--condition {text!r}: more than one comparison; give one COLUMN OP VALUE per "
                            f"--condition")
    return Condition(expression=text, column=col, op=op, value=val)


def _number(text: str):
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def numeric_column(df, col: str, role: str) -> np.ndarray:
    """Float array of ``df[col]``; a text cell (not a missing token) or an infinite value is bad input naming
    its row(s)."""
    x = _numeric_column(df, col, role)
    inf = np.isinf(x)
    if inf.any():
        rows = [str(r) for r in df.index[inf][:6]]
        raise VBQInputError(f"{role} column '{col}' row{'s' if inf.sum() > 1 else ''} {', '.join(rows)}: infinite "
                            f"value")
    return x


def _numeric_column(df, col: str, role: str) -> np.ndarray:
    import pandas as pd

    s = df[col]
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float).to_numpy()
    if pd.api.types.is_numeric_dtype(s):
        return s.to_numpy(dtype=float)
    from ..reading.cells import MISSING_TOKENS

    conv = pd.to_numeric(s.map(lambda v: v.strip() if isinstance(v, str) else v), errors="coerce")
    miss_tok = s.map(lambda v: v is None or (isinstance(v, float) and math.isnan(v))
                     or (isinstance(v, str) and v.strip().lower() in MISSING_TOKENS))
    bad = conv.isna() & ~miss_tok
    if bad.any():
        rows = [str(r) for r in s.index[bad.to_numpy()][:6]]
        more = f" and {int(bad.sum()) - 6} more" if bad.sum() > 6 else ""
        shown = sorted({str(v) for v in s[bad]})[:3]
        raise VBQInputError(f"{role} column '{col}' is not numeric: row{'s' if bad.sum() > 1 else ''} "
                            f"{', '.join(rows)}{more} hold{'s' if bad.sum() == 1 else ''} "
                            f"{', '.join(repr(v) for v in shown)}")
    return conv.to_numpy(dtype=float)


def evaluate_condition(df, cond: Condition | str) -> Evaluated:
    """The positive class (1), negative (0) and missing (NaN) of every row of ``df``."""
    import pandas as pd

    from ..reading.labels import find_column, resolve_column_value

    if isinstance(cond, str):
        cond = parse_condition(cond)
    cols = [str(c) for c in df.columns]
    col = find_column(cols, cond.column, f"--condition {cond.expression!r}: column '{cond.column}'")
    if col is None:
        raise VBQInputError(f"--condition {cond.expression!r}: column '{cond.column}' not found "
                            f"(columns: {', '.join(cols[:12])}{' ...' if len(cols) > 12 else ''})")
    warnings: list[str] = []
    if col != cond.column:
        warnings.append(f"--condition {cond.expression!r}: column '{cond.column}' matched '{col}'")
    s = df[col]
    num = _number(cond.value)
    is_num_col = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
    if not is_num_col and num is not None and cond.op not in ("==", "!="):
        is_num_col = True  # mixed column compared with a number: numeric_column names the bad cells
    if is_num_col:
        if num is None:
            raise VBQInputError(f"--condition {cond.expression!r}: column '{col}' holds numbers; compare it with a "
                                f"number, not {cond.value!r}")
        x = numeric_column(df, col, "condition")
        with np.errstate(invalid="ignore"):
            res = {"<=": x <= num, "<": x < num, ">=": x >= num, ">": x > num, "==": x == num, "!=": x != num}[cond.op]
        out = np.where(np.isnan(x), np.nan, res.astype(float))
        return Evaluated(cond, col, out, num, warnings)
    if cond.op not in ("==", "!="):
        raise VBQInputError(f"--condition {cond.expression!r}: column '{col}' holds text; use == or != with it")
    value, warn = resolve_column_value(df, col, cond.value, flag="--condition", role="condition")
    if warn:
        warnings.append(warn)
    from ..reading.labels import spelling_counts

    counts = spelling_counts(s)
    if value not in counts and str(value).strip() not in counts:
        have = ", ".join(repr(k) for k in sorted(counts)[:8])
        raise VBQInputError(f"--condition {cond.expression!r}: column '{col}' has no value {cond.value!r} "
                            f"(has {have})")

    def txt(v):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()

    t = s.map(txt)
    eq = (t == str(value).strip()).to_numpy()
    res = eq if cond.op == "==" else ~eq
    out = np.where(t.isna().to_numpy(), np.nan, res.astype(float))
    return Evaluated(cond, col, out, str(value).strip(), warnings)
