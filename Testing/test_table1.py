"""Table 1 rules that R's numbers do not cover (Testing/test_table1_r.py does): small groups, SMD after
matching, display text, labels and data dictionaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from VBQCohortLib.matching.balance import balance_table
from VBQCohortLib.publication import table1 as T, variables as V
from VBQScoreLib.errors import VBQInputError


def cohort(n=80, seed=3):
    rng = np.random.default_rng(seed)
    t = (np.arange(n) % 2).astype(int)
    return pd.DataFrame({"group": t, "age": np.round(rng.normal(60, 8, n), 1), "sex": rng.integers(0, 2, n),
                         "smoking": rng.choice(["never", "former", "current"], n),
                         "VBQ_C2": np.round(rng.normal(3, 0.4, n), 3)})


def test_fewer_than_five_per_group_gives_n_but_no_p():
    d = cohort(8)
    t1 = T.table1(d, d["group"].to_numpy(), ["age", "sex", "smoking"], vbq=["VBQ_C2"])
    assert t1["n_treated"] == 4 and t1["n_control"] == 4
    for r in t1["rows"]:
        assert r["p"] is None and r["test"] is None and "fewer than 5" in r["p_note"]
        assert r["treated"]["n"] == 4
    assert "No test where a group had fewer than 5" in T.footnote(t1)
    f = T.frame(t1)
    assert (f["p"] == "–").sum() == 4  # one dash per variable header line


def test_smd_after_matching_is_matchits_balance_table_value():
    """Table 1's SMD after matching = the balance table's Std. Mean Diff. with the same weights (treated SD of
    the unmatched sample)."""
    d = cohort(120)
    rng = np.random.default_rng(0)
    w = np.where(d["group"] == 1, 1.0, rng.choice([0.0, 1.0], len(d)))
    t1 = T.table1(d, d["group"].to_numpy(), ["age", "sex", "smoking"], weights=w)
    assert t1["weighted"] is False  # 0/1 weights: an unweighted matched sample, with tests
    bal = balance_table(d, d["group"].to_numpy(), ["age", "sex", "smoking"], weights=w,
                        categorical=["smoking"])
    rows = {r["variable"]: r for r in t1["rows"]}
    assert rows["age"]["smd"] == pytest.approx(bal.loc["age", "Std. Mean Diff."], rel=1e-12)
    assert rows["sex"]["smd"] == pytest.approx(bal.loc["sex", "Std. Mean Diff."], rel=1e-12)
    for lv in rows["smoking"]["levels"]:
        assert lv["smd"] == pytest.approx(bal.loc["smoking" + lv["level"], "Std. Mean Diff."], rel=1e-12)
    assert rows["age"]["p"] is not None and t1["n_control"] == int(((w > 0) & (d["group"] == 0)).sum())


def test_display_text_no_negative_zero_and_missing_line():
    d = cohort(60)
    d.loc[[0, 1, 2], "age"] = np.nan
    t1 = T.table1(d, d["group"].to_numpy(), ["age", "sex", "smoking"], vbq=["VBQ_C2"])
    rows = {r["variable"]: r for r in t1["rows"]}
    rows["VBQ_C2"]["smd"] = -0.001  # prints as 0.00, never -0.00
    f = T.frame(t1, names=("OPLL", "CSM"))
    text = f.to_csv(index=False)
    assert "-0.00" not in text
    assert list(f.columns[3:]) == ["OPLL (n = 30)", "CSM (n = 30)", "p", "SMD"]
    miss = f[f["Level"] == "(missing)"]
    assert len(miss) == 1 and miss.iloc[0]["Variable"] == "age"
    assert miss.iloc[0]["OPLL (n = 30)"] == str(rows["age"]["missing"]["treated"])
    assert rows["age"]["missing"]["treated"] + rows["age"]["missing"]["control"] == 3
    chars = list(f["Characteristic"])
    assert chars[0].startswith("Age (years), ") and "Male, n (%)" in chars
    assert "VBQ C2, mean ± SD" in chars or "VBQ C2, median (IQR)" in chars
    # binary rows show one level (1 = male), multi-level rows a header and one line per level
    sex = f[f["Variable"] == "sex"]
    assert len(sex) == 1 and sex.iloc[0]["Level"] == "1"
    n1 = int(((d["group"] == 1) & (d["sex"] == 1)).sum())
    assert sex.iloc[0]["OPLL (n = 30)"] == f"{n1} ({100 * n1 / 30:.1f})"
    assert len(f[f["Variable"] == "smoking"]) == 4


def test_before_after_side_by_side():
    d = cohort(60)
    w = np.r_[np.ones(40), np.zeros(20)]
    b = T.table1(d, d["group"].to_numpy(), ["age", "sex"])
    a = T.table1(d, d["group"].to_numpy(), ["age", "sex"], weights=w)
    f = T.frame(b, a)
    assert "p before" in f.columns and "SMD after" in f.columns and "Treated (n = 20) after" in f.columns


def test_weighted_sample_has_no_p_and_says_why():
    d = cohort(60)
    w = np.where(d["group"] == 1, 1.0, np.tile([0.5, 1.0, 2.0], 20))
    t1 = T.table1(d, d["group"].to_numpy(), ["age", "sex"], weights=w)
    assert t1["weighted"] and all(r["p"] is None for r in t1["rows"])
    assert "p-values are omitted" in T.footnote(t1)


def test_bad_inputs_name_the_column():
    d = cohort(20)
    with pytest.raises(VBQInputError, match="'height' not found"):
        T.table1(d, d["group"].to_numpy(), ["height"])
    with pytest.raises(VBQInputError, match="must hold numbers"):
        T.table1(d.assign(VBQ_C2=["x"] * 20), d["group"].to_numpy(), [], vbq=["VBQ_C2"])


def test_default_labels_and_dictionary(tmp_path):
    assert V.default_label("age") == "Age (years)"
    assert V.default_label("bmi") == "BMI (kg/m²)"
    assert V.default_label("sex") == "Male, n (%)"
    assert V.default_label("calcium_supplement") == "Calcium supplement"
    assert V.default_label("VBQ_C3") == "VBQ C3"
    p = tmp_path / "dict.csv"
    p.write_text("variable,label,unit,levels\nsex,Sex,,1=Male;0=Female\nbmi,Body-mass index,kg/m²,\n"
                 "diethigh_salt,High-salt diet,,\n", encoding="utf-8")
    v = V.read_dictionary(p)
    assert v.label("bmi") == "Body-mass index (kg/m²)" and v.level("sex", 1) == "Male"
    assert v.label("diethigh_salt") == "High-salt diet" and v.label("age") == "Age (years)"
    plan = V.from_mapping({"bmi": {"label": "BMI", "unit": "kg/m2"}, "age": "Age at surgery"})
    m = v.merged(plan)
    assert m.label("bmi") == "BMI (kg/m2)" and m.label("age") == "Age at surgery" and m.level("sex", "0") == "Female"
    d = cohort(40)
    t1 = T.table1(d, d["group"].to_numpy(), ["sex", "smoking"], labels=m)
    assert t1["rows"][0]["label"] == "Sex" and {lv["label"] for lv in t1["rows"][0]["levels"]} == {"Male", "Female"}
    with pytest.raises(VBQInputError, match="1=Male;0=Female"):
        V.parse_levels("Male and Female")


def test_redcap_dictionary_read_as_exported(tmp_path):
    p = tmp_path / "redcap.csv"
    p.write_text(
        '"Variable / Field Name","Form Name","Section Header","Field Type","Field Label",'
        '"Choices, Calculations, OR Slider Labels","Field Note","Text Validation Type OR Show Slider Number"\n'
        'record_id,baseline,,text,"Record ID",,,\n'
        'sex,baseline,,radio,"<b>Sex</b>","1, Male | 0, Female",,\n'
        'htn,baseline,,yesno,"Hypertension",,,\n'
        'meds,baseline,,checkbox,"Medication","1, Calcium | 2, Vitamin D",,\n', encoding="utf-8")
    v = V.read_dictionary(p)
    assert v.label("sex") == "Sex" and v.level("sex", "0") == "Female"
    assert v.level("htn", 1) == "Yes" and v.label("meds___2") == "Medication: Vitamin D"


def test_level_smds_from_counts_equal_balance_table_with_fractional_weights():
    d = cohort(150, 9)
    rng = np.random.default_rng(4)
    w = np.where(d["group"] == 1, 1.0, rng.choice([0.0, 0.5, 1.0, 2.0], len(d)))
    t1 = T.table1(d, d["group"].to_numpy(), ["age", "sex", "smoking"], weights=w)
    assert t1["weighted"]
    bal = balance_table(d, d["group"].to_numpy(), ["age", "sex", "smoking"], weights=w, categorical=["smoking"])
    rows = {r["variable"]: r for r in t1["rows"]}
    assert rows["age"]["smd"] == pytest.approx(bal.loc["age", "Std. Mean Diff."], rel=1e-12)
    assert rows["sex"]["smd"] == pytest.approx(bal.loc["sex", "Std. Mean Diff."], rel=1e-12)
    for lv in rows["smoking"]["levels"]:
        assert lv["smd"] == pytest.approx(bal.loc["smoking" + lv["level"], "Std. Mean Diff."], rel=1e-12)


def test_before_after_with_different_summaries_stay_aligned():
    """A variable summarised by mean ± SD before and by median (IQR) after matching keeps one line whose text
    says which is which (the after cells are not left blank)."""
    rng = np.random.default_rng(11)
    t = np.r_[np.ones(100, int), np.zeros(100, int)]
    x = np.r_[rng.normal(0, 1, 100), rng.normal(0, 1, 100)]
    w = np.r_[np.ones(100), np.zeros(100)]
    w[100:112] = 1  # 12 controls matched: their values are skewed
    x[100:112] = np.exp(rng.normal(0, 1.5, 12))
    d = pd.DataFrame({"g": t, "crp": x})
    b = T.table1(d, t, ["crp"])
    a = T.table1(d, t, ["crp"], weights=w)
    assert b["rows"][0]["summary"] != a["rows"][0]["summary"]
    f = T.frame(b, a)
    assert len(f) == 1 and " before / " in f.iloc[0]["Characteristic"]
    assert f.iloc[0]["Control (n = 12) after"] not in ("", "–")
