"""Recoveries are said out loud (issue 8.2): a value named up to case or spacing is taken with a warning (CLI line,
JSON ``warnings``, report); a column holding two such spellings is bad input (exit 2 naming both and their row
counts). Library level first, then the commands as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vbq_cli.main import main
from VBQCohortLib.join import join_vbq, read_vbq_table
from VBQCohortLib.labels import check_spellings, how_differs, spelling_counts
from VBQCohortLib.matching import match
from VBQCohortLib.propensity import treat_vector
from VBQCohortLib.spreadsheet import CohortSpec, prepare_cohort, read_table
from VBQScoreLib.errors import VBQInputError

TERMS = Path(__file__).resolve().parent / "r_reference" / "terms_cohort.csv"
CASE_WARNING = "--treated 'OPLL' matched group value 'opll' (case differs)"
MATCH = ["--id", "patient_id", "--group", "diagnosis", "--covariates", "age,sex,bmi"]
ANALYZE = ["--id", "patient_id", "--group", "diagnosis", "--control", "CSM", "--levels", "C2-C7", "--covariates",
           "age,sex,bmi", "--sex-column", ""]


def _cohort(tmp_path, name="c.csv", change=None):
    d = pd.read_csv(TERMS)
    if change:
        change(d)
    p = tmp_path / name
    d.to_csv(p, index=False)
    return p


def _lower(d):
    d["diagnosis"] = d["diagnosis"].str.lower()


def _mixed(d):  # 2 of the 92 OPLL rows spelled 'opll'
    rows = d.index[d["diagnosis"] == "OPLL"][:2]
    d.loc[rows, "diagnosis"] = "opll"


def _spec(**kw):
    base = dict(id="patient_id", group="diagnosis", treated="OPLL", control="CSM", covariates=["age", "sex"])
    base.update(kw)
    return CohortSpec(**base)


# ------------------------------------------------------------------------------------------------ labels.py

def test_how_spellings_differ():
    assert how_differs("OPLL", "opll") == "case differs"
    assert how_differs("OPLL", "OPLL ") == "surrounding spaces differ"
    assert how_differs("OPLL A", "OPLL  A") == "spacing differs"
    assert how_differs("OPLL A", "opll  A") == "case and spacing differ"
    counts = spelling_counts(["OPLL", "OPLL", "CSM", None, float("nan")], {"OPLL ": [3]})
    assert counts == {"OPLL": 1, "OPLL ": 1, "CSM": 1}
    with pytest.raises(VBQInputError, match=r"^group column 'dx' holds 'OPLL' \(1 row\) and 'OPLL ' \(1 row\), "
                                            r"which differ only in surrounding spaces"):
        check_spellings(counts, "group column 'dx'")


# ------------------------------------------------------------------------------------------------ prepare_cohort

def test_prepare_cohort_says_when_treated_and_control_matched_up_to_case(tmp_path):
    df, _ = read_table(_cohort(tmp_path, change=_lower))
    c = prepare_cohort(df, _spec())
    assert CASE_WARNING in c.warnings
    assert "--control 'CSM' matched group value 'csm' (case differs)" in c.warnings
    assert c.counts["treated"] == 92 and c.counts["control"] == 148  # the recovery itself is kept
    exact = prepare_cohort(df, _spec(treated="opll", control="csm"))
    assert not any("matched group value" in w for w in exact.warnings)


def test_prepare_cohort_refuses_two_spellings_of_one_group(tmp_path):
    df, _ = read_table(_cohort(tmp_path, change=_mixed))
    with pytest.raises(VBQInputError) as ei:
        prepare_cohort(df, _spec())
    assert str(ei.value) == ("group column 'diagnosis' holds 'OPLL' (90 rows) and 'opll' (2 rows), which differ "
                             "only in case: write them one way in the spreadsheet")


def test_surrounding_spaces_are_a_spelling_too(tmp_path):
    p = tmp_path / "s.csv"
    rows = ["id,dx,age"] + [f"{i},{'OPLL ' if i < 4 else 'CSM'},{50 + i}" for i in range(8)]
    p.write_text("\n".join(rows) + "\n", encoding="utf-8")
    df, _ = read_table(p)
    assert df["dx"].tolist()[:4] == ["OPLL"] * 4  # read without the spaces, as before
    c = prepare_cohort(df, CohortSpec(id="id", group="dx", treated="OPLL", control="CSM", covariates=["age"]))
    assert "--treated 'OPLL' matched group value 'OPLL ' (surrounding spaces differ)" in c.warnings
    assert "column 'dx': spaces around the text of 4 cells removed (rows 2, 3, 4, 5: 'OPLL ')" in c.warnings
    p.write_text("\n".join(rows + ["8,OPLL,60"]) + "\n", encoding="utf-8")
    df, _ = read_table(p)
    with pytest.raises(VBQInputError, match=r"holds 'OPLL ' \(4 rows\) and 'OPLL' \(1 row\), which differ only "
                                            r"in surrounding spaces"):
        prepare_cohort(df, CohortSpec(id="id", group="dx", treated="OPLL", control="CSM", covariates=["age"]))


def test_covariate_spellings_merged_with_a_warning(tmp_path):
    p = tmp_path / "v.csv"
    p.write_text("id,dx,sex,smoking,site\n1,A,M,ex  smoker,north\n2,A,m,never,north\n3,A,F,never,south\n"
                 "4,B,male,ex smoker,North\n5,B,F,never,south\n6,B,M,ex smoker,south\n", encoding="utf-8")
    df, _ = read_table(p)
    c = prepare_cohort(df, CohortSpec(id="id", group="dx", treated="A", control="B",
                                      covariates=["sex", "smoking", "site"], min_group_size=1))
    assert "column 'sex': 'M', 'm', 'male' read as one level 'M' (1 = male)" in c.warnings
    assert "column 'smoking': 'ex  smoker', 'ex smoker' treated as one category 'ex smoker'" in c.warnings
    assert "column 'site': 'North', 'north' treated as one category 'north'" in c.warnings
    assert c.data["sex"].tolist() == [1, 1, 0, 1, 0, 1] and c.binary_levels["sex"] == ("F", "M")
    # the same variants in a column used for exact matching: no rule can tell one stratum from two
    with pytest.raises(VBQInputError, match=r"exact-matching column 'site' holds 'north' \(2 rows\) and 'North' "
                                            r"\(1 row\), which differ only in case"):
        prepare_cohort(df, CohortSpec(id="id", group="dx", treated="A", control="B", covariates=["sex", "site"],
                                      exact=["site"], min_group_size=1))


def test_column_names_matched_up_to_case_and_ambiguous_ones(tmp_path):
    p = tmp_path / "n.csv"
    p.write_text("id,dx,Age ,age\n1,A,50,51\n2,B,60,61\n", encoding="utf-8")
    df, _ = read_table(p)
    c = prepare_cohort(df, CohortSpec(id="id", group="dx", treated="A", control="B", covariates=["Age"],
                                      min_group_size=1))
    assert "column 'Age' matched to 'Age ' (surrounding spaces differ)" in c.warnings
    with pytest.raises(VBQInputError, match="covariate column 'AGE' matches columns 'Age', 'age', which differ only"):
        prepare_cohort(df, CohortSpec(id="id", group="dx", treated="A", control="B", covariates=["AGE"],
                                      min_group_size=1))


# ------------------------------------------------------------------------------------------------ matching

def test_match_says_when_the_treated_value_matched_up_to_case(tmp_path):
    df, _ = read_table(_cohort(tmp_path, change=_lower))
    r = match(df, "diagnosis", ["age", "bmi"], id="patient_id", treated_value="OPLL")
    assert "treated value 'OPLL' matched group value 'opll' (case differs)" in r.warnings
    assert r.n_matched["treated"] == 92
    with pytest.warns(UserWarning, match="treated value 'OPLL' matched group value 'opll'"):
        t = treat_vector(df, "diagnosis", "OPLL")
    assert int(t.sum()) == 92
    df2, _ = read_table(_cohort(tmp_path, "m.csv", change=_mixed))
    with pytest.raises(VBQInputError, match=r"'OPLL' \(90 rows\) and 'opll' \(2 rows\)"):
        match(df2, "diagnosis", ["age", "bmi"], id="patient_id", treated_value="OPLL")


# ------------------------------------------------------------------------------------------------ join

def test_join_level_names_and_ids_read_out_loud(tmp_path):
    clinical = pd.DataFrame({"pid": [7.0, 8.0, 9.0], "x": [1, 2, 3]})
    long = tmp_path / "long.csv"
    long.write_text("case_id,level,vbq\n007,c3,2.5\n008,C4,2.6\n009,C4,2.7\n", encoding="utf-8")
    out, info = join_vbq(clinical, long, id_col="pid", levels=["VBQ_C3"])
    assert out["VBQ_C3"].tolist()[0] == 2.5
    assert any("level name(s) 'c3' read as C3" in w for w in info["warnings"])
    assert any("3 case id(s) matched a patient id only when read as numbers (e.g. clinical '7' = VBQ '007')" in w
               for w in info["warnings"])
    long.write_text("case_id,level,vbq\n7,c3,2.5\n8,C3,2.6\n", encoding="utf-8")
    with pytest.raises(VBQInputError, match=r"level column 'level' holds 'C3' \(1 row\) and 'c3' \(1 row\)"):
        read_vbq_table(long)
    wide = tmp_path / "wide.csv"
    wide.write_text("case_id,vbq_c3\n7,2.5\n", encoding="utf-8")
    _, info = read_vbq_table(wide)
    assert info["warnings"] == [f"{wide}: VBQ column name(s) read ignoring case: 'vbq_c3' as VBQ_C3"]
    wide.write_text("case_id,VBQ_C3,vbq_c3\n7,2.5,2.6\n", encoding="utf-8")
    with pytest.raises(VBQInputError, match="columns 'VBQ_C3' and 'vbq_c3' both read as VBQ_C3"):
        read_vbq_table(wide)
    with pytest.raises(VBQInputError, match="ids '007' and '7' of column 'pid' are the same number"):
        join_vbq(pd.DataFrame({"pid": ["007", "7"]}), _cohort_vbq(tmp_path), id_col="pid")


def _cohort_vbq(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("case_id,VBQ_C3\n7,2.5\n", encoding="utf-8")
    return p


# ------------------------------------------------------------------------------------------------ vbq score

def _segmented_case(tmp_path, names):
    import SimpleITK as sitk
    import slicerio

    from helpers import make_image

    a = np.full((8, 20, 20), 10.0)
    a[1:4, 2:6, 2:6] = 120
    a[1:4, 8:12, 2:6] = 90
    a[1:4, 14:18, 2:6] = 40
    img = make_image(a, (0.5, 0.5, 3.0))
    sitk.WriteImage(img, str(tmp_path / "t1.nii.gz"))
    shape = a.T.shape
    seg = slicerio.create_segmentation(shape, np.diag([0.5, 0.5, 3.0, 1.0]))
    for name, box in zip(names, [(slice(2, 6), slice(2, 6), slice(1, 4)), (slice(2, 6), slice(8, 12), slice(1, 4)),
                                 (slice(2, 6), slice(14, 18), slice(1, 4))]):
        m = np.zeros(shape, bool)
        m[box] = True
        slicerio.add_segment(seg, m, {"id": f"s{len(seg['segments'])}", "name": name})
    slicerio.write_segmentation(str(tmp_path / "rois.seg.nrrd"), seg)
    return tmp_path / "t1.nii.gz", tmp_path / "rois.seg.nrrd"


def test_score_refuses_two_segments_that_differ_only_in_case(tmp_path, capsys):
    from VBQScoreLib.api import score_files

    img, seg = _segmented_case(tmp_path, ["C3", "c3", "CSF"])
    with pytest.raises(VBQInputError, match="segments 'C3' and 'c3' differ only in letter case or spacing and both "
                                            "name level C3"):
        score_files(img, seg)
    js = tmp_path / "r.json"
    assert main(["score", str(img), str(seg), "--json", str(js)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "segments 'C3' and 'c3'" in err and not js.exists()
    img, seg = _segmented_case(tmp_path, ["C3", "vertebrae_C3", "CSF"])  # different names: flagged, first used
    r = score_files(img, seg)
    assert [f.code for f in r.flags if f.level == "C3"] == ["DUPLICATE_LEVEL"] and r.level("C3").segment == "C3"


# ------------------------------------------------------------------------------------------------ the CLI

def test_cli_match_warns_once_and_in_the_json(tmp_path, capsys):
    data = _cohort(tmp_path, change=_lower)
    js = tmp_path / "m.json"
    assert main(["cohort", "match", str(data), *MATCH, "--treated", "OPLL", "--json", str(js)]) == 0
    err = capsys.readouterr().err
    assert err.splitlines() == [f"vbq cohort match: warning: {CASE_WARNING}"]
    d = json.loads(js.read_text(encoding="utf-8"))
    assert d["warnings"].count(CASE_WARNING) == 1 and d["n_matched"]["treated"] == 92


def test_cli_match_exits_2_on_two_spellings(tmp_path, capsys):
    data = _cohort(tmp_path, change=_mixed)
    js, out = tmp_path / "m.json", tmp_path / "m.csv"
    assert main(["cohort", "match", str(data), *MATCH, "--treated", "OPLL", "--json", str(js), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (f"vbq cohort match: error: {data}: group column 'diagnosis' holds 'OPLL' (90 rows) and 'opll' "
                   f"(2 rows), which differ only in case: write them one way in the spreadsheet\n")
    assert not js.exists() and not out.exists()


def _sites(d):
    d["site"] = np.where(np.arange(len(d)) % 2, "north", "south")
    d.loc[[0, 2, 4], "site"] = "South"


def test_cli_match_exact_column_with_case_variants(tmp_path, capsys):
    data = _cohort(tmp_path, change=_sites)
    assert main(["cohort", "match", str(data), *MATCH, "--treated", "OPLL", "--exact", "site"]) == 2
    err = capsys.readouterr().err
    assert "exact-matching column 'site' (--exact) holds 'south' (117 rows) and 'South' (3 rows)" in err
    # as a plain covariate the two spellings are merged (analyze) with a warning, or kept apart (match, as R)
    assert main(["cohort", "analyze", str(data), *ANALYZE[:-3], "age,sex,site", "--sex-column", "", "--treated",
                 "OPLL", "--exact", "site", "--out", str(tmp_path / "s"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert ("exact-matching column 'site' holds 'south' (117 rows) and 'South' (3 rows), which differ only in case"
            in err)
    assert main(["cohort", "analyze", str(data), *ANALYZE[:-3], "age,sex,site", "--sex-column", "", "--treated",
                 "OPLL", "--out", str(tmp_path / "s"), "--quiet"]) == 0
    r = json.loads((tmp_path / "s" / "results.json").read_text(encoding="utf-8"))
    assert "column 'site': 'South', 'south' treated as one category 'south'" in r["warnings"]


def test_cli_analyze_warns_in_summary_json_and_report(tmp_path, capsys):
    data = _cohort(tmp_path, change=_lower)
    out = tmp_path / "study"
    assert main(["cohort", "analyze", str(data), *ANALYZE, "--treated", "OPLL", "--control", "csm",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.count(CASE_WARNING) == 1 and f"  ! {CASE_WARNING}" in text.splitlines()
    r = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert CASE_WARNING in r["warnings"]
    assert not any("--control" in w for w in r["warnings"])  # 'csm' was given exactly
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<li>--treated &#x27;OPLL&#x27; matched group value &#x27;opll&#x27; (case differs)</li>" in html


def test_cli_analyze_plan_values_named_as_the_plans(tmp_path, capsys):
    """lu2024's treated/control (OPLL/CSM) matched to opll/csm: the warning names the plan, not a flag."""
    data = _cohort(tmp_path, change=_lower)
    out = tmp_path / "study"
    args = [a for a in ANALYZE if a not in ("--control", "CSM")]
    assert main(["cohort", "analyze", str(data), *args, "--out", str(out), "--quiet"]) == 0
    r = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert "treated (plan lu2024) 'OPLL' matched group value 'opll' (case differs)" in r["warnings"]
    assert "control (plan lu2024) 'CSM' matched group value 'csm' (case differs)" in r["warnings"]


def test_cli_analyze_exits_2_and_writes_nothing(tmp_path, capsys):
    data = _cohort(tmp_path, change=_mixed)
    out = tmp_path / "study"
    assert main(["cohort", "analyze", str(data), *ANALYZE, "--treated", "OPLL", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'OPLL' (90 rows) and 'opll' (2 rows)" in err
    assert not out.exists()
