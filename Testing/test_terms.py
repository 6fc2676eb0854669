"""Model terms say which level they code (issue 8.1): R's names (sexM, smokingformer, dietvegetarian, grade10),
reference levels, and the words of the report ("sex (M vs F)").

Reference: Testing/r_reference/terms_reference.R on terms_cohort.csv -> terms_reference.json (R 4.2 glm and
MatchIt 4.5.1 on the text columns as factors, levels sorted in the C locale); re-run live when Rscript is there.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from helpers import RREF, r_json, run_rscript
from vbq_cli.main import main
from VBQCohortLib.analysis import run_analysis
from VBQCohortLib.logistic import fit_logistic
from VBQCohortLib.propensity import estimate_ps
from VBQCohortLib.spreadsheet import CohortSpec, prepare_cohort, read_table
from VBQCohortLib.terms import binary_order_note, collation_note, describe_term, level_text, sort_levels

CSV = RREF / "terms_cohort.csv"
COVS = ["age", "sex", "bmi", "hypertension", "diabetes", "smoking", "diet", "grade"]
# the doubles of terms_reference.R's as_character check, written exactly
DOUBLES = [2, 2.5, 0.1, 1 / 3, 1e5, 1e6, 123456, 1e-4, 0.001, -3, 1234567.1, 1e15, 20000, 3e-5, 10, 1e-20]


@pytest.fixture(scope="module")
def ref():
    return r_json("terms_reference.json")


@pytest.fixture(scope="module")
def analysed():
    # MatchIt 4.5.1 as installed compares distances through C's integer abs (#163): compat reproduces its pairs
    return run_analysis(CSV, "lu2024", overrides={
        "id": "patient_id", "group": "diagnosis", "treated": "OPLL", "control": "CSM", "covariates": COVS,
        "categorical": ["grade"], "levels": [f"VBQ_C{k}" for k in range(2, 8)], "sex_column": "",
        "compat": "matchit-4.5.1"})


# ------------------------------------------------------------------------------------------------ library

def test_level_text_is_r_as_character(ref):
    assert [level_text(float(x)) for x in DOUBLES] == ref["as_character"]["text"]
    assert level_text("ex smoker") == "ex smoker" and level_text(2) == "2"


def test_sort_levels_is_r_factor_order_in_the_c_locale(ref):
    d = pd.read_csv(CSV)
    for col, levels in ref["levels_c"].items():
        assert [level_text(v) for v in sort_levels(d[col])] == levels, col
    # numbers by value, text that reads as numbers too; other text by code point (upper case first)
    assert sort_levels([10.0, 2.0, 1.0, float("nan")]) == [1.0, 2.0, 10.0]
    assert sort_levels(["10", "2", "1"]) == ["1", "2", "10"]
    assert sort_levels(["b", "B", "a", "_x", "10 packs", "1 pack"]) == ["1 pack", "10 packs", "B", "_x", "a", "b"]


def test_collation_note_names_the_level_r_takes_in_a_utf8_locale(ref):
    note = collation_note("diet", ref["levels_c"]["diet"])
    assert "reference level 'High salt'" in note and "LC_COLLATE=C" in note
    if ref["levels_utf8"] is not None:  # R built with ICU: its UTF-8 order starts with the level we name
        assert f"would take '{ref['levels_utf8']['diet'][0]}'" in note
        assert ref["levels_utf8"]["smoking"] == ref["levels_c"]["smoking"]
    assert collation_note("smoking", ref["levels_c"]["smoking"]) is None  # same first level in both orders


def test_binary_order_note_only_where_r_would_flip_the_reference():
    assert binary_order_note("sex", "F", "M") is None
    assert binary_order_note("sex", "female", "Male") is None
    assert binary_order_note("htn", "No", "yes") is None and binary_order_note("htn", "no", "YES") is None
    note = binary_order_note("sex", "woman", "man")
    assert "'man' is coded 1" in note and "sexwoman" in note


def test_prepare_cohort_keeps_the_spellings_coded_0_and_1():
    df, _ = read_table(CSV)
    c = prepare_cohort(df, CohortSpec(id="patient_id", group="diagnosis", treated="OPLL", control="CSM",
                                      covariates=COVS, categorical=["grade"]))
    assert c.binary_levels == {"sex": ("F", "M"), "hypertension": ("no", "yes")}  # diabetes is 0/1 numbers
    assert c.codings["sex"] == "1 = male, 0 = female"  # the coding itself is unchanged
    assert c.codings["grade"] == "categories: 1, 2, 10"  # numbers sorted by value
    assert any(w.startswith("column 'diet': reference level 'High salt'") for w in c.warnings)


def test_fit_logistic_and_estimate_ps_name_terms_like_r(ref):
    df, _ = read_table(CSV)
    c = prepare_cohort(df, CohortSpec(id="patient_id", group="diagnosis", treated="OPLL", control="CSM",
                                      covariates=COVS, categorical=["grade"]))
    lg = fit_logistic(c.data, "treated", COVS, categorical=["grade"], binary_levels=c.binary_levels)
    assert list(lg.terms) == list(ref["glm"]["terms"])
    for k, r in ref["glm"]["terms"].items():
        assert lg.terms[k]["coef"] == pytest.approx(r["coef"], rel=1e-7, abs=1e-9), k
        assert lg.terms[k]["se"] == pytest.approx(r["se"], rel=1e-4), k
    assert lg.reference_levels == {"sex": "F", "hypertension": "no", "smoking": "current",
                                   "diet": "High salt", "grade": "1"}
    assert lg.term_levels["smokingformer"] == {"column": "smoking", "level": "former", "reference": "current"}
    assert "diabetes" in lg.terms and "diabetes" not in lg.term_levels  # a 0/1 number column stays as it is
    ps = estimate_ps(c.data, "treated", COVS, categorical=["grade"], binary_levels=c.binary_levels)
    assert list(ps.coef.index) == list(ref["propensity_coef"])
    for k, v in ref["propensity_coef"].items():
        assert ps.coef[k] == pytest.approx(v, rel=1e-9, abs=1e-12), k
    assert ps.reference_levels == lg.reference_levels
    # without binary_levels (a 0/1 column the caller coded) the term keeps the column's name
    assert "sex" in fit_logistic(c.data, "treated", ["age", "sex"]).terms


def test_describe_term():
    tl = {"sexM": {"column": "sex", "level": "M", "reference": "F"}}
    assert describe_term("sexM", tl) == "sex (M vs F)"
    assert describe_term("age", tl) == "age"


# ------------------------------------------------------------------------------------------------ results.json

def test_analysis_results_use_r_names_and_fill_reference_levels(analysed, ref):
    lg = analysed["logistic"]
    assert list(lg["terms"]) == list(ref["glm"]["terms"])
    assert lg["reference_levels"]["sex"] == "F" and lg["reference_levels"]["diet"] == "High salt"
    assert set(lg["reference_levels"]) == {"sex", "hypertension", "smoking", "diet", "grade"}
    pm = analysed["matching"]["propensity_model"]
    assert list(pm["coef"]) == list(ref["propensity_coef"])
    for k, v in ref["propensity_coef"].items():
        assert pm["coef"][k] == pytest.approx(v, rel=1e-9, abs=1e-12), k
    assert pm["reference_levels"] == lg["reference_levels"]
    assert pm["term_levels"]["dietvegetarian"] == {"column": "diet", "level": "vegetarian", "reference": "High salt"}
    assert {t: c[0] for t, c in analysed["matching"]["pairs"].items()} == ref["pairs"]


# ------------------------------------------------------------------------------------------------ CLI and report

def test_cli_match_json_names_terms_like_matchit(tmp_path, ref, capsys):
    js = tmp_path / "m.json"
    code = main(["cohort", "match", str(CSV), "--id", "patient_id", "--group", "diagnosis", "--treated", "OPLL",
                 "--covariates", ",".join(COVS), "--categorical", "grade", "--distance", "logit", "--caliper",
                 "0.2", "--compat", "matchit-4.5.1", "--json", str(js)])
    assert code == 0
    d = json.loads(js.read_text(encoding="utf-8"))
    pm = d["propensity_model"]
    assert list(pm["coef"]) == list(ref["propensity_coef"])
    for k, v in ref["propensity_coef"].items():
        assert pm["coef"][k] == pytest.approx(v, rel=1e-9, abs=1e-12), k
    assert pm["reference_levels"] == {"sex": "F", "hypertension": "no", "smoking": "current",
                                      "diet": "High salt", "grade": "1"}
    assert pm["term_levels"]["sexM"] == {"column": "sex", "level": "M", "reference": "F"}
    assert {t: c[0] for t, c in d["pairs"].items()} == ref["pairs"]
    err = capsys.readouterr().err
    assert "vbq cohort match: warning: column 'diet': reference level 'High salt'" in err
    assert any(w.startswith("column 'diet': reference level") for w in d["warnings"])


def test_cli_analyze_report_says_which_level(tmp_path, ref, capsys):
    out = tmp_path / "study"
    code = main(["cohort", "analyze", str(CSV), "--id", "patient_id", "--group", "diagnosis", "--treated", "OPLL",
                 "--control", "CSM", "--levels", "C2-C7", "--covariates", ",".join(COVS), "--categorical", "grade",
                 "--sex-column", "", "--out", str(out), "--quiet"])
    assert code == 0
    r = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert list(r["logistic"]["terms"]) == list(ref["glm"]["terms"])
    assert r["logistic"]["reference_levels"]["sex"] == "F"
    assert list(r["matching"]["propensity_model"]["coef"]) == list(ref["propensity_coef"])
    html = (out / "report.html").read_text(encoding="utf-8")
    # readable label beside R's term name (issue 17): the label says which level the term codes
    assert "<td>Sex (M vs F)</td><td><code>sexM</code></td>" in html
    assert "<td>Smoking (former vs current)</td><td><code>smokingformer</code></td>" in html
    assert "<td>Smoking (never smoked vs current)</td><td><code>smokingnever smoked</code></td>" in html  # as R
    assert "<td>Diabetes</td><td><code>diabetes</code></td>" in html  # a 0/1 number column: no level to name
    assert "sex: F; hypertension: no; smoking: current; diet: High salt; grade: 1" in html
    lg = pd.read_csv(out / "tables" / "logistic.csv", keep_default_na=False)
    row = lg.set_index("term").loc["sexM"]
    assert (row["column"], row["level"], row["reference"]) == ("sex", "M", "F")
    assert lg["term"].tolist() == list(ref["glm"]["terms"])


def test_forest_plot_labels_name_the_level():
    from VBQCohortLib.report import fig_forest, forest_labels

    logit = {"terms": {"(Intercept)": {"odds_ratio": 0.1, "ci_low": 0.05, "ci_high": 0.2, "p": 0.01},
                       "sexM": {"odds_ratio": 2.66, "ci_low": 1.2, "ci_high": 5.9, "p": 0.02},
                       "age": {"odds_ratio": 1.01, "ci_low": 0.99, "ci_high": 1.03, "p": 0.3}},
             "term_levels": {"sexM": {"column": "sex", "level": "M", "reference": "F"}}, "outcome": "dx = OPLL"}
    assert forest_labels(logit, ["sexM", "age"]) == ["sexM: sex (M vs F)", "age"]
    png = fig_forest(logit)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_summary_sentence_says_sex_m_vs_f(analysed, ref):
    from VBQCohortLib.report import summary_sentences

    assert ref["glm"]["terms"]["sexM"]["p"] < 0.05  # significant: the summary names it
    text = " ".join(summary_sentences(analysed))
    assert f"sex (M vs F) OR {analysed['logistic']['terms']['sexM']['odds_ratio']:.2f}" in text
    assert "diet (vegetarian vs High salt) OR" in text


# ------------------------------------------------------------------------------------------------ live R

@pytest.mark.r
def test_fixture_is_what_r_computes(tmp_path, ref):
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript not installed (the committed fixture is checked above)")
    out = tmp_path / "live.json"
    run_rscript("Rscript", "terms_reference.R", out, cwd=RREF, check=True, timeout=120)
    live = json.loads(out.read_text(encoding="utf-8"))
    assert list(live["glm"]["terms"]) == list(ref["glm"]["terms"])
    assert live["propensity_coef"] == pytest.approx(ref["propensity_coef"], rel=1e-12)
    assert live["pairs"] == ref["pairs"] and live["levels_c"] == ref["levels_c"]
    assert live["as_character"]["text"] == ref["as_character"]["text"]
    for k, t in ref["glm"]["terms"].items():
        assert live["glm"]["terms"][k]["coef"] == pytest.approx(t["coef"], rel=1e-12), k
