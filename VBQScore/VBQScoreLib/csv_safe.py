"""Text cells made safe for spreadsheets (OWASP "CSV injection"): a CSV written for a spreadsheet must not let a
cell run as a formula. A text cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
leading ``'`` (a spreadsheet shows the text as typed); numbers are left as they are (``-2.5`` stays a number,
also when it comes as text). Every CSV writer of the package goes through :func:`safe_cell` / :func:`safe_frame`:
the batch tables, ``vbq score --csv``, ``vbq cohort match --out``, the report's ``matched.csv`` and
``tables/*.csv``, the agreement tables.
"""

from __future__ import annotations

__all__ = ["safe_cell", "safe_frame", "TRIGGERS"]

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(v):
    """``v`` unchanged unless it is text starting with a formula character that is not a number (as Python's
    ``float`` reads one: ``-2.5``, ``+3``, ``-1e-5``, ``-inf`` as pandas writes it): then ``"'" + v``."""
    if isinstance(v, str) and v and v[0] in TRIGGERS:
        try:
            float(v)
        except ValueError:
            return "'" + v
    return v


def safe_frame(df):
    """A copy of the pandas DataFrame ``df`` with :func:`safe_cell` applied to its text cells, column names and
    index labels (numeric columns untouched; the frame itself is not modified)."""
    import pandas as pd

    out = df.copy(deep=False)
    for i, c in enumerate(out.columns):
        col = out.iloc[:, i]
        if col.dtype == object or isinstance(col.dtype, pd.StringDtype) or isinstance(col.dtype, pd.CategoricalDtype):
            out.isetitem(i, col.map(safe_cell, na_action="ignore") if not isinstance(col.dtype, pd.CategoricalDtype)
                         else col.astype(object).map(safe_cell, na_action="ignore"))
    out.columns = _safe_index(out.columns)
    out.index = _safe_index(out.index)
    return out


def _safe_index(idx):
    import pandas as pd

    if isinstance(idx, pd.MultiIndex):
        return idx.set_levels([_safe_index(lv) for lv in idx.levels])
    if idx.dtype == object or isinstance(idx.dtype, pd.StringDtype):
        return idx.map(safe_cell).rename(idx.name)
    return idx
