"""``tables.xlsx``: every report table on its own worksheet (openpyxl through pandas), ready to edit.

Text cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
return, unless they read as a number such as ``-0.21``) get a single quote character in front (OWASP's advice
against CSV/XLSX formula injection; :mod:`VBQScoreLib.csv_safe`, the rule of every CSV writer too). Sheet
names are cut to Excel's 31 characters and made unique.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from VBQScoreLib.csv_safe import safe_cell, safe_frame  # the package's one rule for formula-like text

__all__ = ["safe_cell", "safe_frame", "write_tables_xlsx", "sheet_name"]

_BAD_SHEET = re.compile(r"[\[\]\*\?/\\:]")


def sheet_name(name: str, used: set) -> str:
    base = _BAD_SHEET.sub("_", str(name)).strip("'")[:31] or "table"
    s, i = base, 2
    while s.lower() in used:
        suffix = f" ({i})"
        s = base[: 31 - len(suffix)] + suffix
        i += 1
    used.add(s.lower())
    return s


def write_tables_xlsx(tables: Mapping[str, pandas.DataFrame], path) -> Path:  # noqa: F821
    """Write ``{sheet: DataFrame}`` to ``path`` (one worksheet per table, header row bold and frozen, columns
    sized to their text). The caller writes into a temporary folder (the report is written atomically)."""
    import pandas as pd
    from openpyxl.styles import Font

    path = Path(path)
    used: set = set()
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for name, df in tables.items():
            sn = sheet_name(name, used)
            sdf = safe_frame(df)
            keep_index = df.index.name is not None
            sdf.to_excel(xw, sheet_name=sn, index=keep_index)
            ws = xw.sheets[sn]
            ws.freeze_panes = "A2"
            for cell in ws[1]:
                cell.font = Font(bold=True)
            for col in ws.columns:
                width = max(len(str(c.value)) if c.value is not None else 0 for c in col)
                ws.column_dimensions[col[0].column_letter].width = min(max(8, width + 2), 60)
    return path
