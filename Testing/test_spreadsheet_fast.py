"""The fast CSV/TSV reader (VBQCohortLib.delimited, pandas' C tokenizer) gives exactly what the general reader
(csv module + per-cell rules of spreadsheet._to_frame) gives: the same DataFrame (columns, dtypes, values, row
numbers, attrs), the same warnings, the same one-line error; and it really is the path taken for plain files."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import VBQCohortLib.delimited as delimited
from VBQCohortLib.spreadsheet import read_table
from VBQScoreLib.errors import VBQInputError

CELLS = ["1", "2.5", "-3", "+4", "1e3", "2E-2", ".5", "5.", "007", "0", "12345678901234567", "1,5", "-0,25",
         "NA", "n/a", "", " ", "?", "None", "MISSING", "-", ".", "nan", "inf", "1_0", "\u0663", "0x1F",
         "M", "F", "m", "opll", " OPLL ", "CSM", "a b", "yes", "No", "TRUE", "é", "#N/A", "#DIV/0!", "3 ", " 4"]
HEADERS = ["id", "group", "age", "sex", " bmi ", "VBQ_C2", "x"]


def _read(path: Path, fast: bool, monkeypatch):
    if not fast:
        monkeypatch.setattr(delimited, "frame_from_text", lambda *a, **k: None)
    try:
        return read_table(path)
    except VBQInputError as exc:
        return f"error: {exc}"
    finally:
        monkeypatch.undo()


def _same(a, b):
    if isinstance(a, str) or isinstance(b, str):
        assert a == b
        return
    (da, wa), (db, wb) = a, b
    assert wa == wb
    assert list(da.columns) == list(db.columns)
    assert list(da.dtypes) == list(db.dtypes)
    assert da.index.equals(db.index) and da.index.name == db.index.name
    assert da.attrs == db.attrs
    for c in da.columns:
        x, y = da[c].to_numpy(), db[c].to_numpy()
        if x.dtype == float:
            assert np.array_equal(x, y, equal_nan=True), c
        else:
            assert [type(v) for v in x] == [type(v) for v in y] and list(x) == list(y), c


@st.composite
def tables(draw):
    sep = draw(st.sampled_from([",", ";", "\t"]))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    ncol = draw(st.integers(1, 5))
    header = draw(st.lists(st.sampled_from(HEADERS), min_size=ncol, max_size=ncol))
    col_cells = [draw(st.lists(st.sampled_from(CELLS), min_size=1, max_size=4)) for _ in range(ncol)]
    lines = [""] * draw(st.integers(0, 2)) + [sep.join(header)]
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["row"] * 6 + ["blank", "short", "extra_blank", "extra"]))
        row = [draw(st.sampled_from(cells)) for cells in col_cells]
        if kind == "blank":
            row = [""] * draw(st.integers(0, ncol))
        elif kind == "short":
            row = row[:draw(st.integers(0, ncol))]
        elif kind == "extra_blank":
            row = row + ["", " "]
        elif kind == "extra":
            row = row + ["9"]
        lines.append(sep.join(row))
    return eol.join(lines) + (eol if draw(st.booleans()) else "")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=tables())
def test_fast_reader_equals_general_reader(text, monkeypatch):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.csv"
        path.write_bytes(text.encode("utf-8"))
        _same(_read(path, True, monkeypatch), _read(path, False, monkeypatch))


def test_fast_path_is_taken_for_plain_files_and_not_for_quoted(tmp_path, monkeypatch):
    calls = []
    real = delimited.frame_from_text

    def spy(*a, **k):
        out = real(*a, **k)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(delimited, "frame_from_text", spy)
    p = tmp_path / "plain.csv"
    p.write_text("id;age;sex\r\n1;61,5;M\r\n\r\n2;NA;f\r\n", encoding="utf-8")
    df, warnings = read_table(p)
    assert calls == [True]
    assert df["age"].tolist()[0] == 61.5 and np.isnan(df["age"].tolist()[1])
    assert list(df.index) == [2, 4] and df.index.name == "row"
    assert warnings == ["plain.csv: 1 blank row(s) ignored", "plain.csv: decimal commas read as decimal points in age"]
    q = tmp_path / "quoted.csv"
    q.write_text('id,name\n1,"Doe, J"\n', encoding="utf-8")
    df, _ = read_table(q)
    assert calls == [True, False] and df["name"].tolist() == ["Doe, J"]


@pytest.mark.parametrize("text", [
    "a,b\n1,2,3\n",            # a row wider than the header: the general reader names it
    "a,b\n1,2,\n",             # wider but blank: truncated
    "a,a,b,b\n1,2,3,4\n",      # duplicate names
    "a,,b\n1,2,3\n",           # a nameless column
    "a,b\n\n \n",              # no data rows
    ",,\n\na,b\n1,2\n",        # header after blank lines
    "a,b\r1,2\r",              # old Mac line ends
    "a,b\n1,\u20282\n",        # a line separator inside a cell
])
def test_edge_cases_agree(text, tmp_path, monkeypatch):
    p = tmp_path / "e.csv"
    p.write_bytes(text.encode("utf-8"))
    _same(_read(p, True, monkeypatch), _read(p, False, monkeypatch))


def test_large_table_agrees(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    n = 20000
    df = pd.DataFrame({"id": [f"u{i}" for i in range(n)], "age": rng.integers(20, 90, n),
                       "bmi": np.round(rng.normal(26, 4, n), 3), "sex": rng.choice(["F", "M", "NA"], n),
                       "code": rng.choice(["001", "002"], n)})
    p = tmp_path / "big.csv"
    df.to_csv(p, index=False)
    a, b = _read(p, True, monkeypatch), _read(p, False, monkeypatch)
    _same(a, b)
    assert a[0]["code"].dtype == object and a[0]["age"].dtype == float

