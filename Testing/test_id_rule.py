"""One rule for ids (issue 16): ``007`` and ``7`` in one table are an error in every table (the VBQ table said
"duplicate", the clinical table made two patients of them, cohort match too); across tables the same number
matches, with a warning. Ids are never merged or split silently."""

from __future__ import annotations

import pandas as pd
import pytest

from VBQCohortLib.reading.cohort import CohortSpec, prepare_cohort
from VBQCohortLib.reading.join import join_vbq, read_vbq_table
from VBQCohortLib.reading.spreadsheet import read_table
from VBQScoreLib.errors import VBQInputError
from vbq_cli.main import main

MSG = r"ids '007' \(row 2\) and '7' \(row 5\) are the same number written differently"


def _clinical(tmp_path, ids):
    rows = [f"{i},{'AB'[k % 2]},{50 + k},{20 + k}" for k, i in enumerate(ids)]
    p = tmp_path / "c.csv"
    p.write_text("pid,grp,age,bmi\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return p


IDS = ["007", "010", "011", "7", "012", "013"]


def test_clinical_table(tmp_path):
    df, _ = read_table(_clinical(tmp_path, IDS))
    with pytest.raises(VBQInputError, match=MSG):
        prepare_cohort(df, CohortSpec(id="pid", group="grp", treated="A", control="B", covariates=["age"],
                                      min_group_size=1))


def test_vbq_table(tmp_path):
    p = tmp_path / "v.csv"
    pd.DataFrame({"case_id": IDS, "status": "ok", "VBQ_C3": [2.5] * 6}).to_csv(p, index=False)
    with pytest.raises(VBQInputError, match=MSG):
        read_vbq_table(p)


def test_cohort_match(tmp_path, capsys):
    p = _clinical(tmp_path, IDS)
    assert main(["cohort", "match", str(p), "--id", "pid", "--group", "grp", "--treated", "A", "--covariates",
                 "age", "--out", str(tmp_path / "m.csv")]) == 2
    err = capsys.readouterr().err
    assert "'007' (row 2) and '7' (row 5) are the same number written differently" in err


def test_distinct_ids_and_across_tables(tmp_path):
    ok = ["007", "010", "011", "8", "012", "013"]
    df, _ = read_table(_clinical(tmp_path, ok))
    c = prepare_cohort(df, CohortSpec(id="pid", group="grp", treated="A", control="B", covariates=["age"],
                                      min_group_size=1))
    assert c.data["pid"].tolist() == ok
    v = pd.DataFrame({"case_id": ["7", "10"], "status": "ok", "VBQ_C3": [2.5, 2.0]})
    out, info = join_vbq(df.assign(pid=["007", "010", "011", "8", "012", "013"]), v, id_col="pid")
    assert out["VBQ_C3"].tolist()[:2] == [2.5, 2.0]  # the same number in another table: matched ...
    assert any("only when read as numbers" in w for w in info["warnings"])  # ... and said
