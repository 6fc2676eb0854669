"""CSV files meant for spreadsheets (issue 16): a text cell starting with ``=``, ``+``, ``-``, ``@`` (tab, CR) is
written with a leading ``'`` (OWASP, CSV injection); numbers, also negative ones, are untouched. Each writer is
checked on its real output: before the fix the raw ``=1+1`` cells were there."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from VBQScoreLib.csv_safe import safe_cell, safe_frame
from vbq_cli.main import main

BAD = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", "=HYPERLINK(\"http://x\")"]


@pytest.mark.parametrize("v", BAD)
def test_formula_text_gets_a_quote(v):
    assert safe_cell(v) == "'" + v


@pytest.mark.parametrize("v", ["-2.5", "+3", "-1e-5", ".5", "-inf", "abc", "", "a=b", "'=x", "P-1"])
def test_numbers_and_plain_text_untouched(v):
    assert safe_cell(v) == v


def test_non_text_untouched():
    for v in (-2.5, -3, None, float("nan"), True):
        assert safe_cell(v) is v


def test_safe_frame_keeps_numbers_and_the_input():
    import pandas as pd

    df = pd.DataFrame({"id": ["=1+1", "P2"], "x": [-2.5, 1.0], "=col": ["-2.5", "-x"]}, index=["@a", "b"])
    out = safe_frame(df)
    assert out["id"].tolist() == ["'=1+1", "P2"] and out["x"].tolist() == [-2.5, 1.0]
    assert out["'=col"].tolist() == ["-2.5", "'-x"] and out.index.tolist() == ["'@a", "b"]
    assert df["id"].tolist() == ["=1+1", "P2"] and list(df.columns) == ["id", "x", "=col"]  # input unchanged


def _cells(path):
    with open(path, newline="", encoding="utf-8") as f:
        return [c for row in csv.reader(f) for c in row]


def _assert_safe(path):
    cells = _cells(path)
    bad = [c for c in cells if c and c[0] in "=+-@\t\r" and safe_cell(c) != c]
    assert not bad, (path, bad[:5])
    return cells


@pytest.fixture
def cohort(tmp_path):
    from VBQCohortLib.demo import make_cohort

    import pandas as pd

    df = make_cohort(80, 5)
    df = df[pd.to_numeric(df["bmi"], errors="coerce").notna()].reset_index(drop=True)
    df["patient_id"] = [f"=1+{i}" if i % 2 else f"@P{i}" for i in range(len(df))]
    p = tmp_path / "c.csv"
    df.to_csv(p, index=False)
    return p


def test_cohort_match_csv(cohort, tmp_path):
    out = tmp_path / "m.csv"
    assert main(["cohort", "match", str(cohort), "--id", "patient_id", "--group", "diagnosis", "--treated", "OPLL",
                 "--covariates", "age,sex,bmi", "--out", str(out)]) == 0
    cells = _assert_safe(out)
    assert "'=1+1" in cells and "'@P2" in cells


def test_cohort_analyze_tables_and_matched(cohort, tmp_path):
    out = tmp_path / "s"
    assert main(["cohort", "analyze", str(cohort), "--out", str(out), "--quiet"]) == 0
    cells = _assert_safe(out / "matched.csv")
    assert any(c.startswith("'=1+") for c in cells) and any(c.startswith("'@P") for c in cells)
    assert any(c.startswith("-") and float(c) < 0 for c in cells if c[:1] == "-")  # negative numbers stay numbers
    for t in (out / "tables").glob("*.csv"):
        _assert_safe(t)


def test_batch_tables_and_score_csv(tmp_path):
    from VBQScoreLib.batch import write_tables
    from VBQScoreLib.batch.records import long_path_for
    from VBQScoreLib.measuring.result import CsfResult, LevelResult, VBQResult

    recs = [{"case_id": "=2+3", "status": "ok", "wide": {"case_id": "=2+3", "status": "ok", "VBQ_C3": -2.5},
             "long": [{"case_id": "=2+3", "level": "C3", "vbq": -2.5}]}]
    out = tmp_path / "r.csv"
    write_tables(recs, out)
    for p in (out, long_path_for(out)):
        cells = _assert_safe(p)
        assert "'=2+3" in cells and "-2.5" in cells
    lv = LevelResult("C3", "=cmd|x", 10, 8.0, 300.0, 301.0, 5.0, 290.0, 310.0, 280.0, 320.0, 5 / 300, vbq=-3.0)
    csf = CsfResult("CSF", "CSF", 20, 16.0, 100.0, 100.0, 2.0, 97.0, 103.0, 95.0, 105.0, 0.02, "cisterna magna")
    text = VBQResult([lv], csf, {"vbq": 3.0}, [], {}).to_csv()
    (tmp_path / "s.csv").write_text(text, encoding="utf-8")
    cells = _assert_safe(tmp_path / "s.csv")
    assert "'=cmd|x" in cells and "-3.0" in cells


def test_diagnostic_tables(tmp_path):
    import numpy as np
    import pandas as pd

    from VBQCohortLib.diagnostic.analysis import run_diagnostic
    from VBQCohortLib.diagnostic.report import write_diagnostic_report

    rng = np.random.default_rng(5)
    n = 40
    t = np.round(rng.normal(-1.3, 1.1, n), 1)
    df = pd.DataFrame({"pid": [f"=cmd{i}" for i in range(n)], "vbq": np.round(3.0 - 0.3 * t, 2), "t": t})
    df.loc[[3], "vbq"] = np.nan  # listed in excluded.csv with its id
    res, frames = run_diagnostic(df, ["vbq"], ["t <= -2.5"], id_col="pid", return_frames=True)
    write_diagnostic_report(res, tmp_path / "d", frames)
    cells = _assert_safe(tmp_path / "d" / "tables" / "excluded.csv")
    assert "'=cmd3" in cells
    for t in (tmp_path / "d" / "tables").glob("*.csv"):
        _assert_safe(t)
