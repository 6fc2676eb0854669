"""Which data VBQ Cohort analyses: exactly the table selected in the panel.

- a table read from a file and not changed since (Slicer's storage node, ``GetModifiedSinceRead``; or a file
  opened with the module's *Load* button, whose content digest is kept on the node) -> that file, so that
  messages name the user's file and rows and the report's provenance hashes it;
- any other table (VBQ Score's "VBQ cohort" table, a table edited after loading, one made by a script) -> its
  content written to a temporary CSV named after the table, removed after the run.

Never another file: the last file loaded is not a fallback. Slicer-free (duck-typed MRML/VTK calls only).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import math
import os
import re
import shutil
import tempfile
from typing import Iterator, Optional

SOURCE_PATH_ATTRIBUTE = "VBQCohort.sourcePath"
SOURCE_DIGEST_ATTRIBUTE = "VBQCohort.sourceDigest"


def _cell(col, row: int) -> str:
    v = col.GetValue(row)
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)  # repr: the shortest text that reads back to the same double
    return str(v)


def table_rows(tableNode) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a table node as text (numbers exact, NaN as an empty cell)."""
    table = tableNode.GetTable()
    cols = [table.GetColumn(c) for c in range(table.GetNumberOfColumns())]
    header = [c.GetName() or f"column{i + 1}" for i, c in enumerate(cols)]
    rows = [[_cell(c, r) for c in cols] for r in range(table.GetNumberOfRows())]
    return header, rows


def content_digest(tableNode) -> str:
    h = hashlib.sha256()
    header, rows = table_rows(tableNode)
    for line in [header] + rows:
        h.update(("\x1f".join(line) + "\x1e").encode("utf-8"))
    return h.hexdigest()


def mark_loaded(tableNode, path) -> None:
    """Remember the file a table node was filled from (the *Load* button) and a digest of what it holds."""
    tableNode.SetAttribute(SOURCE_PATH_ATTRIBUTE, str(path))
    tableNode.SetAttribute(SOURCE_DIGEST_ATTRIBUTE, content_digest(tableNode))


def source_file(tableNode) -> Optional[str]:
    """The file whose content the table node holds unchanged, else None."""
    storage = tableNode.GetStorageNode()
    if storage is not None:
        name = storage.GetFileName()
        if name and os.path.isfile(name) and not tableNode.GetModifiedSinceRead():
            return name
    path = tableNode.GetAttribute(SOURCE_PATH_ATTRIBUTE)
    if path and os.path.isfile(path) and tableNode.GetAttribute(SOURCE_DIGEST_ATTRIBUTE) == content_digest(tableNode):
        return path
    return None


def write_table_csv(tableNode, path) -> None:
    header, rows = table_rows(tableNode)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def _safe_name(name: str) -> str:
    s = re.sub(r"[^\w.\- ]+", "_", name or "").strip(" .")
    return (s or "table")[:100]


@contextlib.contextmanager
def analysis_source(tableNode) -> Iterator[str]:
    """The path to analyse for the selected table (see the module docstring); a temporary CSV is removed on exit."""
    if tableNode is None:
        raise ValueError("select the cohort table (or Load a spreadsheet)")
    if tableNode.GetNumberOfRows() == 0 or tableNode.GetNumberOfColumns() == 0:
        raise ValueError(f"table '{tableNode.GetName()}' is empty")
    path = source_file(tableNode)
    if path is not None:
        yield path
        return
    folder = tempfile.mkdtemp(prefix="vbq-cohort-")
    try:
        stem = _safe_name(tableNode.GetName())
        if stem.lower().endswith(".csv"):
            stem = stem[:-4]
        path = os.path.join(folder, stem + ".csv")
        write_table_csv(tableNode, path)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)
