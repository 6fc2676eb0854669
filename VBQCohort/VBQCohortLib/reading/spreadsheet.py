"""Reading clinical tables: CSV/TSV/XLSX into a DataFrame of text and numbers (issue 3).

Usage::

    df, warnings = read_table("cohort.xlsx")                   # or .csv / .tsv / .txt

Row numbers are the ones a spreadsheet program shows: the header is row 1, the first subject row 2 (for CSV:
line numbers). ``read_table`` keeps them as the DataFrame index (named ``row``). All cells are text except
columns of numbers only (not identifiers such as ``007``); what a cell means is in :mod:`.cells`. Delimited text
goes through pandas' C tokenizer where it can (:mod:`.delimited`). Preparing a cohort from the table (column
roles, normalisation, exclusions) is :mod:`.cohort`. Hard errors raise
:class:`VBQScoreLib.errors.VBQInputError` with one line.
"""

from __future__ import annotations

import csv
import operator
from pathlib import Path
from typing import Any

from VBQScoreLib.errors import VBQInputError

from .cells import (
    COMMA_NUM_RE,
    EXCEL_ERRORS,
    ID_LIKE_RE,
    MISSING_TOKENS,
    NUM_RE,
    check_header,
    is_missing,
    normalise_label,
    rows_text,
)
from .labels import RAW_COLUMNS, RAW_TEXT

__all__ = ["read_table", "read_data_file", "MISSING_TOKENS", "normalise_label", "MAX_COLUMNS", "WIDE_TABLE"]

#: more columns than a spreadsheet program holds (Excel: 16,384): not a cohort table (a wrong delimiter, a
#: transposed export); refused with one line before anything is parsed
MAX_COLUMNS = 16_384
#: a table wider than this is read with only the columns a command names (``read_table(needed=...)``)
WIDE_TABLE = 1_000


# ---------------------------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------------------------

def read_table(path, sheet: str | int | None = None, needed=None):
    """Read a CSV, TSV or XLSX table. Returns ``(DataFrame, warnings)``.

    All cells are kept as text except that columns whose every non-missing cell is a number become float
    columns (not when a value has leading zeros, like ``007``, or more than 15 digits: such columns are
    identifiers and stay text); missing tokens (``MISSING_TOKENS``, Excel error cells) become missing. Blank rows
    are dropped (and counted in a warning); the index holds the spreadsheet row number. ``sheet`` selects an XLSX
    worksheet by name or 0-based position (default: the first). The file is only read.

    A delimited table with more than :data:`MAX_COLUMNS` columns is refused (one line). ``needed``: the column
    names a command uses (compared as :func:`.labels.fold` does: case and spacing aside); when given and the
    table is wider than :data:`WIDE_TABLE` columns, only those columns are read (pandas ``usecols``) and a
    warning says so, so that a wide export costs the memory of the columns used, not of all."""
    path = Path(path)
    if not path.exists():
        raise VBQInputError(f"{path}: file not found")
    if path.is_dir():
        raise VBQInputError(f"{path}: is a folder, not a spreadsheet")
    ext = path.suffix.lower()
    warnings: list[str] = []
    if ext in (".xlsx", ".xlsm"):
        header, rows, rownums = _read_xlsx(path, sheet, warnings)
        decimal_comma = False
    elif ext == ".xls":
        raise VBQInputError(f"{path}: old Excel .xls files are not supported; save it as .xlsx or CSV")
    elif ext in (".csv", ".tsv", ".tab", ".txt", ""):
        if sheet is not None:
            raise VBQInputError(f"{path}: --sheet applies to .xlsx files only")
        text, sep, width = _decode_delimited(path, ext, warnings)
        from .delimited import frame_from_text  # pandas' C tokenizer; None when the text needs the csv module

        keep = None
        if needed is not None and width > WIDE_TABLE:
            from .labels import fold

            wanted = {fold(c) for c in needed if c is not None}
            keep = wanted
        df = frame_from_text(path, text, sep, warnings, keep=keep)
        if df is not None:
            if keep is not None:
                warnings.append(f"{path.name}: {width} columns; only the {df.shape[1]} named by the command were "
                                "read")
            return df, warnings
        header, rows, rownums = _split_delimited(path, text, sep)
        if keep is not None:
            from .labels import fold

            cols = [j for j, h in enumerate(header) if fold(h) in keep]
            header = [header[j] for j in cols]
            rows = [[r[j] for j in cols] for r in rows]
            warnings.append(f"{path.name}: {width} columns; only the {len(cols)} named by the command were read")
        decimal_comma = sep == ";"
    else:
        raise VBQInputError(f"{path}: unsupported spreadsheet type '{ext}' (use .csv, .tsv or .xlsx)")
    return _to_frame(path, header, rows, rownums, warnings, decimal_comma), warnings


def _decode_delimited(path: Path, ext: str, warnings: list[str]) -> tuple[str, str, int]:
    """The file's text, its delimiter and the number of columns of its header line."""
    raw = path.read_bytes()
    if not raw.strip():
        raise VBQInputError(f"{path}: the file is empty")
    if raw[:4] == b"PK\x03\x04":
        raise VBQInputError(f"{path}: this is an Excel/zip file, not text; give it the .xlsx extension")
    kind = _binary_kind(raw)
    if kind:
        raise VBQInputError(f"{path}: this is {kind}, not a text table (CSV/TSV)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
        warnings.append(f"{path.name}: not UTF-8; read as Windows-1252 text")
    first_end = 0
    while True:  # the first non-blank line, found without splitting a huge text into lines
        nl = text.find("\n", first_end)
        line = text[first_end:] if nl < 0 else text[first_end:nl]
        if line.strip() or nl < 0:
            break
        first_end = nl + 1
    widest = max(line.count(d) for d in (",", "\t", ";")) + 1
    if widest > MAX_COLUMNS:
        raise VBQInputError(f"{path}: the header has {widest:,} columns, more than a spreadsheet holds "
                            f"({MAX_COLUMNS:,}); a cohort table has one column per variable (check the delimiter, "
                            "or that the table is not transposed)")
    lines = _head_lines(text)
    first = next((ln for ln in lines if ln.strip()), "")
    if ext in (".tsv", ".tab"):
        sep = "\t"
    else:
        sample = "\n".join(lines[:50])
        try:
            sep = csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
        except csv.Error:
            counts = {d: first.count(d) for d in (",", "\t", ";")}
            sep = max(counts, key=counts.get) if max(counts.values()) > 0 else ","
        # the sniffer can be fooled by decimal commas; trust the header when it is unambiguous
        hc = {d: first.count(d) for d in (",", "\t", ";")}
        if hc.get(sep, 0) == 0 and max(hc.values()) > 0:
            sep = max(hc, key=hc.get)
    return text, sep, first.count(sep) + 1


def _head_lines(text: str, n: int = 50) -> list[str]:
    """The first lines of ``text.splitlines()``: at least ``n`` and the first non-blank one (or all lines)."""
    size = 1 << 16
    while size < len(text):
        full = text[:size].splitlines()[:-1]  # the last piece may be cut; every other line is complete
        if len(full) >= n and any(ln.strip() for ln in full):
            return full
        size *= 4
    return text.splitlines()


def _split_delimited(path: Path, text: str, sep: str):
    """(header, rows padded to the header's width, their row numbers) by the csv module."""
    lines = text.splitlines()
    reader = csv.reader(lines, delimiter=sep)
    all_rows = list(reader)
    # header = first non-blank line
    start = 0
    while start < len(all_rows) and not any(c.strip() for c in all_rows[start]):
        start += 1
    if start == len(all_rows):
        raise VBQInputError(f"{path}: the file is empty")
    header = all_rows[start]
    rows, rownums = [], []
    width = len(header)
    for i in range(start + 1, len(all_rows)):
        r = all_rows[i]
        if len(r) > width and any(c.strip() for c in r[width:]):
            raise VBQInputError(f"{path}: row {i + 1} has {len(r)} cells but the header has {width} "
                                f"(check the delimiter {sep!r} and quoting)")
        rows.append((r + [""] * width)[:width])
        rownums.append(i + 1)
    return header, rows, rownums


def _binary_kind(raw: bytes) -> str | None:
    """A short description when ``raw`` is plainly not text (an image, an archive, any file with NUL bytes)."""
    magic = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
             (b"\x1f\x8b", "a gzip file (e.g. .nii.gz)"), (b"%PDF", "a PDF document"),
             (b"\xd0\xcf\x11\xe0", "an old Excel .xls/Office file"), (b"NRRD", "an NRRD image"))
    for m, what in magic:
        if raw.startswith(m):
            return what
    if len(raw) >= 348 and raw[344:348] in (b"n+1\x00", b"ni1\x00"):
        return "a NIfTI image"
    if b"\x00" in raw[:4096]:
        return "a binary file"
    return None


def _read_xlsx(path: Path, sheet, warnings: list[str]):
    import openpyxl
    from openpyxl.utils import get_column_letter

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - BadZipFile, KeyError, InvalidFileException, XML errors...: any is bad input
        raise VBQInputError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from None
    try:
        names = wb.sheetnames
        if sheet is None:
            ws = wb[names[0]]
        elif isinstance(sheet, int) or (isinstance(sheet, str) and sheet.isdigit() and sheet not in names):
            k = int(sheet)
            if not 0 <= k < len(names):
                raise VBQInputError(f"{path}: there is no sheet number {k} (sheets: {', '.join(names)})")
            ws = wb[names[k]]
        elif sheet in names:
            ws = wb[sheet]
        else:
            raise VBQInputError(f"{path}: there is no sheet named {sheet!r} (sheets: {', '.join(names)})")
        header = None
        rows, rownums = [], []
        errors: list[str] = []
        for cells in ws.iter_rows():
            vals = []
            rnum = None
            for c in cells:
                if getattr(c, "row", None) is not None:
                    rnum = c.row
                v = c.value
                if v is not None and (getattr(c, "data_type", None) == "e" or (isinstance(v, str)
                                                                                 and v.strip() in EXCEL_ERRORS)):
                    errors.append(f"{c.coordinate} {v}")
                    v = None
                vals.append(v)
            if rnum is None:
                continue
            if header is None:
                if all(v is None or (isinstance(v, str) and not v.strip()) for v in vals):
                    continue
                header = ["" if v is None else str(v) for v in vals]
                continue
            rows.append(vals)
            rownums.append(rnum)
        if header is None:
            raise VBQInputError(f"{path}: sheet '{ws.title}' is empty")
        # drop trailing unnamed, empty columns; reject unnamed columns with data
        width = len(header)
        rows = [(list(r) + [None] * width)[:width] for r in rows]
        uncached = _uncached_formulas(path, ws.title, rows, rownums, width)
        keep = []
        for j, h in enumerate(header):
            if h.strip():
                keep.append(j)
            elif any(r[j] is not None and str(r[j]).strip() for r in rows):
                raise VBQInputError(f"{path}: column {get_column_letter(j + 1)} of sheet '{ws.title}' has values "
                                    f"but no header")
        header = [header[j] for j in keep]
        rows = [[r[j] for j in keep] for r in rows]
        if errors:
            warnings.append(f"{path.name}: Excel error cells read as missing: {rows_text(errors, 10)}")
        if uncached:
            warnings.append(f"{path.name}: formula cells without a saved result read as missing (open and save "
                            f"the file in Excel or LibreOffice to compute them): {rows_text(uncached, 10)}")
        if len(names) > 1 and sheet is None:
            warnings.append(f"{path.name}: read the first sheet '{ws.title}' of {len(names)} "
                            f"({', '.join(names)}); choose another with --sheet NAME")
        return header, rows, rownums
    finally:
        wb.close()


def _uncached_formulas(path: Path, title: str, rows, rownums, width: int) -> list[str]:
    """Coordinates of formula cells whose saved value is empty (workbooks written by scripts, never opened in a
    spreadsheet program, keep formulas without results; data_only reading then sees empty cells)."""
    import openpyxl

    empty = {(rn, j) for r, rn in zip(rows, rownums) for j, v in enumerate(r[:width]) if v is None}
    if not empty:
        return []
    wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    try:
        out = []
        for cells in wb[title].iter_rows():
            for j, c in enumerate(cells[:width]):
                v = getattr(c, "value", None)
                if isinstance(v, str) and v.startswith("=") and (getattr(c, "row", None), j) in empty:
                    out.append(c.coordinate)
        return out
    finally:
        wb.close()



def _to_frame(path: Path, header, rows, rownums, warnings, decimal_comma: bool):
    import numpy as np
    import pandas as pd

    spaced = {str(h).strip(): str(h) for h in header if str(h) != str(h).strip() and str(h).strip()}
    header = [str(h).strip() for h in header]
    check_header(path, header)
    # blank rows
    keep_rows, keep_nums, blank = [], [], 0
    for r, num in zip(rows, rownums):
        if all(is_missing(v) if not isinstance(v, str) else not v.strip() for v in r):
            blank += 1
            continue
        keep_rows.append(r)
        keep_nums.append(num)
    if blank:
        warnings.append(f"{path.name}: {blank} blank row(s) ignored")
    if not keep_rows:
        raise VBQInputError(f"{path}: no data rows below the header")
    cols = {}
    comma_used = []
    raw_text: dict[str, dict[str, int]] = {}
    for j, h in enumerate(header):
        raw = [r[j] for r in keep_rows]
        vals = [None if is_missing(v) else (v.strip() if isinstance(v, str) else v) for v in raw]
        nums = []
        numeric = True
        for v in vals:
            if v is None:
                nums.append(np.nan)
            elif isinstance(v, bool):
                nums.append(float(v))
            elif isinstance(v, (int, float)):
                nums.append(float(v))
            elif isinstance(v, str) and NUM_RE.match(v):
                nums.append(float(v))
            elif decimal_comma and isinstance(v, str) and COMMA_NUM_RE.match(v):
                nums.append(float(v.replace(",", ".")))
                if h not in comma_used:
                    comma_used.append(h)
            else:
                numeric = False
                break
        if numeric and any(isinstance(v, str) and ID_LIKE_RE.match(v) for v in vals):
            numeric = False  # leading zeros or > 15 digits: an identifier/code, keep the text exactly
        if numeric and any(v is not None for v in vals):
            cols[h] = pd.Series(nums, dtype=float)
        else:
            if h in comma_used:
                comma_used.remove(h)
            cols[h] = pd.Series([v if v is None or isinstance(v, str) else _cell_text(v) for v in vals],
                                dtype=object)
            if any(map(operator.is_not, raw, vals)):  # C speed; str.strip() returns the same object if unchanged
                hits: dict[str, list] = {}
                for r, v in zip(keep_nums, raw):
                    if isinstance(v, str) and v != v.strip() and not is_missing(v):
                        hits.setdefault(v, []).append(r)
                if hits:
                    raw_text[h] = hits
    if comma_used:
        warnings.append(f"{path.name}: decimal commas read as decimal points in {', '.join(comma_used)}")
    df = pd.DataFrame(cols)
    df.index = pd.Index(keep_nums, name="row")
    if raw_text:
        df.attrs[RAW_TEXT] = raw_text  # the spellings as read (see labels.py), for warnings and checks
    if spaced:
        df.attrs[RAW_COLUMNS] = spaced
    return df


def _cell_text(v) -> Any:
    """Keep dates as they are; other non-text cell values as text."""
    import datetime

    if isinstance(v, (datetime.date, datetime.datetime, datetime.time)):
        return v
    return str(v)


# ---------------------------------------------------------------------------------------------------------------
# the old VBQCohortLib.spreadsheet also prepared cohorts: those names now live in .cohort

def __getattr__(name):
    if name in ("CohortSpec", "Cohort", "prepare_cohort"):
        from . import cohort

        return getattr(cohort, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def read_data_file(data, sheet: str | int | None = None, needed=None):
    """The data table of an analysis: ``(DataFrame, source name, SHA-256, read warnings)`` from a spreadsheet
    path, with one line for a folder or a missing file (``needed``: as for :func:`read_table`)."""
    from VBQScoreLib.provenance import sha256_file

    path = Path(data)
    if path.is_dir():
        raise VBQInputError(f"{path}: is a folder, not a spreadsheet (give a CSV, TSV or XLSX file)")
    if not path.is_file():
        raise VBQInputError(f"{path}: data file not found")
    df, warns = read_table(path, sheet=sheet, needed=needed)
    return df, str(path), sha256_file(path), list(warns)
