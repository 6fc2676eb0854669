"""The VBQCohort module's Slicer-free parts (VBQCohort/VBQCohortModuleLib) and the steps of its in-Slicer test,
run on the same synthetic cohort with plain pytest (the Slicer application is not needed)."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import pytest

from helpers import REPO

sys.path.insert(0, str(REPO / "VBQCohort"))  # Slicer puts the module folder on sys.path; do the same

from VBQCohortModuleLib.helpers import frame_to_columns, guess_columns, level_columns, level_medians, love_plot_rows  # noqa: E402


def _cohort_csv(folder: Path) -> tuple[Path, list[dict]]:
    rows = []
    for i in range(24):
        grp = "OPLL" if i < 12 else "CSM"
        base = 2.0 + 0.05 * i
        rows.append({"patient_id": f"P{i:03d}", "diagnosis": grp, "age": 50 + i % 7, "sex": "M" if i % 2 else "F",
                     **{f"VBQ_C{k}": round(base + 0.1 * k, 4) for k in range(2, 8)}})
    path = folder / "cohort.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path, rows


def test_level_columns_in_spine_order():
    assert level_columns(["vbq_c3", "VBQ_C2", "VBQ L1", "VBQ_overall", "VBQ_T12", "age"]) == \
        ["VBQ_C2", "vbq_c3", "VBQ_T12", "VBQ L1"]


def test_guess_columns_without_plan():
    cols = ["Case ID", "Group", "Gender", "age", "bmi", "VBQ_C3", "VBQ_C2", "VBQ_overall", "flags", "CSF_SI"]
    values = {"Case ID": ["a", "b", "c"], "Group": ["CSM", "OPLL", "CSM"]}
    g = guess_columns(cols, values)
    assert g["id"] == "Case ID" and g["group"] == "Group" and g["sex"] == "Gender"
    assert (g["treated"], g["control"]) == ("CSM", "OPLL")  # first seen labels; the user swaps if needed
    assert g["levels"] == ["VBQ_C2", "VBQ_C3"]
    assert g["covariates"] == ["Gender", "age", "bmi"]


def test_guess_columns_unique_text_column_as_id_and_plan_names_win():
    cols = ["mrn_x", "diagnosis", "VBQ_C2"]
    values = {"mrn_x": ["x1", "x2"], "diagnosis": ["CSM", "OPLL"], "VBQ_C2": [2.0, 3.0]}
    g = guess_columns(cols, values, {"id": "patient_id", "group": "diagnosis", "treated": "OPLL", "control": "CSM",
                                     "levels": ["VBQ_C2", "VBQ_C3"], "covariates": ["age"]})
    assert g["id"] == "mrn_x"
    assert (g["treated"], g["control"]) == ("OPLL", "CSM")
    assert g["levels"] == ["VBQ_C2"]


def test_frame_to_columns_types_and_missing():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1.5, None], "b": ["x", None], "c": [True, False]},
                      index=pd.Index([3, 4], name="row"))
    cols = frame_to_columns(df)
    assert [c[0] for c in cols] == ["row", "a", "b", "c"]
    assert cols[1][1] == "double" and cols[1][2][0] == 1.5 and math.isnan(cols[1][2][1])
    assert cols[2] == ("b", "string", ["x", ""])
    assert cols[3] == ("c", "string", ["true", "false"])


@pytest.mark.slow  # imports statsmodels/scipy.stats and runs the whole analysis (about 5-10 s on 2 busy cores)
def test_in_slicer_cohort_steps_on_plain_python(tmp_path):
    """What VBQCohortTest.test_LoadGuessRun does, minus the MRML nodes."""
    from VBQCohortLib.analysis import run_analysis
    from VBQCohortLib.plan import load_plan
    from VBQCohortLib.spreadsheet import read_table

    path, rows = _cohort_csv(tmp_path)
    df, _ = read_table(path)
    values = {c: list(df[c]) for c in df.columns}
    g = guess_columns(list(df.columns), values, load_plan("lu2024").columns)
    assert (g["id"], g["group"], g["treated"], g["control"]) == ("patient_id", "diagnosis", "OPLL", "CSM")
    assert g["levels"] == [f"VBQ_C{k}" for k in range(2, 8)]
    results = run_analysis(path, "lu2024", overrides={"covariates": ["age"], "levels": g["levels"],
                                                      "no_matching": True, "sex_column": ""})
    c3 = results["comparison"]["levels"]["VBQ_C3"]
    # complete separation, 12 vs 12, no ties -> exact test: W = 0, p = 2 / choose(24, 12)
    assert c3["ranksum"]["W"] == 0.0
    assert c3["ranksum"]["p"] == pytest.approx(2.0 / math.comb(24, 12), rel=1e-9)
    levels, medians = level_medians(results)
    assert levels == g["levels"]
    # OPLL: 2 + 0.05 i + 0.1 k for i = 0..11 -> median at i = 5.5; CSM: i = 12..23 -> i = 17.5
    for j, k in enumerate(range(2, 8)):
        assert medians["OPLL"][j] == pytest.approx(2.275 + 0.1 * k, abs=1e-12)
        assert medians["CSM"][j] == pytest.approx(2.875 + 0.1 * k, abs=1e-12)
    assert love_plot_rows(results)[0][2] is None  # no matching: no 'after' balance


def test_love_plot_rows_from_matching_balance():
    results = {"matching": {"balance": {
        "before": {"distance": {"Std. Mean Diff.": 1.2}, "age": {"Std. Mean Diff.": -0.5},
                   "bmi": {"Std. Mean Diff.": 0.25}},
        "after": {"distance": {"Std. Mean Diff.": 0.1}, "age": {"Std. Mean Diff.": 0.05},
                  "bmi": {"Std. Mean Diff.": -0.02}}}}}
    assert love_plot_rows(results) == [("age", 0.5, 0.05), ("bmi", 0.25, 0.02)]
