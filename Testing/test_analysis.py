"""run_analysis / write_report / `vbq cohort analyze`: hand-computed values, cross-checks against direct calls
of the statistics functions on the same rows, every results.json key the issue names, and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from vbq_cli.main import main
from VBQCohortLib import stats
from VBQCohortLib.analysis import run_analysis
from VBQCohortLib.report import write_report
from VBQScoreLib.errors import VBQInputError

# A cohort small enough to check by hand: 4 treated (A), 4 control (B), three levels, no ties within a level.
HAND = pd.DataFrame({
    "pid": ["a1", "a2", "a3", "a4", "b1", "b2", "b3", "b4"],
    "grp": ["A"] * 4 + ["B"] * 4,
    "age": [50, 62, 55, 70, 58, 65, 52, 61],
    "L1": [1, 2, 3, 4, 5, 6, 7, 8],
    "L2": [1.5, 3.5, 5.5, 7.5, 2, 4, 6, 8],
    "L3": [10, 11, 12, 13, 14, 15, 16, 17],
})
HAND_ARGS = ["--id", "pid", "--group", "grp", "--treated", "A", "--control", "B", "--levels", "L1,L2,L3",
             "--covariates", "age", "--sex-column", ""]


@pytest.fixture()
def hand_csv(tmp_path):
    p = tmp_path / "hand.csv"
    HAND.to_csv(p, index=False)
    return p


def _hand_overrides():
    return dict(id="pid", group="grp", treated="A", control="B", levels=["L1", "L2", "L3"], covariates=["age"],
                sex_column="", no_matching=True)


def test_hand_computed_no_matching(hand_csv):
    r = run_analysis(hand_csv, "lu2024", overrides=_hand_overrides())
    lv = r["comparison"]["levels"]
    # W = U of the first group (A): number of (a, b) pairs with a > b
    assert lv["L1"]["ranksum"]["W"] == 0 and lv["L2"]["ranksum"]["W"] == 6 and lv["L3"]["ranksum"]["W"] == 0
    # exact two-sided p (4 vs 4, no ties): 2 * P(U <= u); U counts for m=n=4: 1,1,2,3,5,5,7,...; C(8,4) = 70
    assert lv["L1"]["ranksum"]["p"] == pytest.approx(2 / 70, abs=1e-12)
    assert lv["L2"]["ranksum"]["p"] == pytest.approx(48 / 70, abs=1e-12)
    assert "exact" in lv["L1"]["ranksum"]["method"]
    # Holm over (2/70, 48/70, 2/70): 3 * 2/70 for both small ones, 48/70 for the other
    assert lv["L1"]["ranksum"]["p_holm"] == pytest.approx(6 / 70)
    assert lv["L3"]["ranksum"]["p_holm"] == pytest.approx(6 / 70)
    assert lv["L2"]["ranksum"]["p_holm"] == pytest.approx(48 / 70)
    assert lv["L1"]["describe"]["A"]["median"] == 2.5 and lv["L1"]["describe"]["B"]["q1"] == 5.75
    assert "signed_rank" not in lv["L1"]  # no pairs without matching
    assert r["comparison"]["sample"] == "full" and r["matching"]["enabled"] is False
    # Kruskal-Wallis in group A over L1/L2/L3, ranks 1..12: R = 14, 22, 42 -> H = 12/156 * 2444/4 - 39 = 8
    kw = r["segmental"]["A"]["kruskal"]
    assert kw["H"] == pytest.approx(8.0) and kw["df"] == 2 and kw["p"] == pytest.approx(math.exp(-4))
    # Friedman in A: every subject ranks L1 < L2 < L3 -> R = 4, 8, 12 -> chi2 = 12/48 * 224 - 48 = 8
    fr = r["segmental"]["A"]["friedman"]
    assert fr["chi2"] == pytest.approx(8.0) and fr["p"] == pytest.approx(math.exp(-4))
    assert r["sex_stratified"]["enabled"] is False


def test_results_keys_of_the_issue(hand_csv, tmp_path):
    r, frames = run_analysis(hand_csv, "lu2024", overrides=_hand_overrides(), return_frames=True)
    write_report(r, tmp_path / "out", frames)
    d = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert set(d["matching"]["n_matched"]) == {"treated", "control"} and "balance" in d["matching"]
    for col in ("L1", "L2", "L3"):
        e = d["comparison"]["levels"][col]
        assert set(e["shapiro"]) == {"A", "B"} and {"W", "p"} <= set(e["shapiro"]["A"])
        assert {"W", "p", "method"} <= set(e["ranksum"])
    for g in ("A", "B"):
        assert {"H", "p"} <= set(d["segmental"][g]["kruskal"]) and {"chi2", "p"} <= set(d["segmental"][g]["friedman"])
    t = d["logistic"]["terms"]["age"]
    assert {"coef", "se", "p", "ci_low", "ci_high", "odds_ratio"} <= set(t)
    assert {"sex_stratified", "exclusions", "provenance"} <= set(d)
    prov = d["provenance"]
    import hashlib

    assert prov["input_sha256"] == hashlib.sha256(hand_csv.read_bytes()).hexdigest()
    assert prov["plan"]["name"] == "lu2024" and prov["versions"]["scipy"]
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "<table" in html and "Kruskal-Wallis" in html and "data:image/png;base64," in html
    assert (tmp_path / "out" / "tables" / "comparison.csv").is_file()
    assert not (tmp_path / "out" / "matched.csv").exists()  # no matching, no matched.csv


def _cohort(n=160, seed=5):
    from VBQCohortLib.demo import make_cohort

    return make_cohort(n, seed)


@pytest.fixture(scope="module")
def matched_run(tmp_path_factory):
    """The lu2024 plan on a 160-patient synthetic cohort (CSV), run once for several tests."""
    d = tmp_path_factory.mktemp("matched")
    p = d / "c.csv"
    _cohort().to_csv(p, index=False)
    r, frames = run_analysis(p, "lu2024", return_frames=True)
    return p, r, frames


def test_numbers_equal_direct_calls_with_matching(matched_run):
    """Every number in results.json equals the statistics functions called on the same (matched) rows."""
    from VBQCohortLib.logistic import fit_logistic
    from VBQCohortLib.matching import match
    from VBQCohortLib.plan import load_plan
    from VBQCohortLib.spreadsheet import CohortSpec, prepare_cohort, read_table

    p, r, _ = matched_run
    plan = load_plan("lu2024")
    raw, _ = read_table(p)
    coh = prepare_cohort(raw, CohortSpec(id="patient_id", group="diagnosis", treated="OPLL", control="CSM",
                                         covariates=plan.covariates, levels=plan.levels, categorical=["diet"]))
    data = coh.data
    assert r["exclusions"]["counts"]["excluded"] == len(coh.exclusions) > 0  # the demo has missing BMI
    mr = match(data, "treated", plan.covariates, id="patient_id", distance="logit", caliper=0.2,
               categorical=["diet"])
    assert r["matching"]["n_matched"] == mr.n_matched
    assert r["matching"]["pairs"] == {str(k): [str(c) for c in v] for k, v in mr.pairs.items()}
    md = mr.matched_data().set_index("patient_id")
    t_ids = list(mr.pairs)
    c_ids = [v[0] for v in mr.pairs.values()]
    for col in plan.levels:
        a = md.loc[md["treated"] == 1, col]
        b = md.loc[md["treated"] == 0, col]
        e = r["comparison"]["levels"][col]
        rs = stats.ranksum(a.dropna(), b.dropna())
        assert e["ranksum"]["W"] == rs.statistic and e["ranksum"]["p"] == rs.pvalue
        assert e["shapiro"]["OPLL"]["W"] == stats.shapiro(a.dropna()).statistic
        x = md.loc[t_ids, col].to_numpy()
        y = md.loc[c_ids, col].to_numpy()
        ok = ~(np.isnan(x) | np.isnan(y))
        sr = stats.signed_rank(x[ok], y[ok])
        assert e["signed_rank"]["V"] == sr.statistic and e["signed_rank"]["p"] == sr.pvalue
    raw_p = [r["comparison"]["levels"][c]["ranksum"]["p"] for c in plan.levels]
    assert [r["comparison"]["levels"][c]["ranksum"]["p_holm"] for c in plan.levels] == stats.p_adjust(raw_p)
    g = md[md["treated"] == 1]
    kw = stats.kruskal({c[4:]: g[c] for c in plan.levels})
    fr = stats.friedman(g[plan.levels])
    assert r["segmental"]["OPLL"]["kruskal"]["H"] == kw.statistic
    assert r["segmental"]["OPLL"]["friedman"]["chi2"] == fr.statistic
    dn = stats.dunn({c[4:]: g[c] for c in plan.levels})
    assert [x["p_adj"] for x in r["segmental"]["OPLL"]["dunn"]["comparisons"]] == pytest.approx(
        dn["p_adj"].tolist(), rel=0, abs=0)
    lg = fit_logistic(data, "treated", plan.predictors, binary_levels=coh.binary_levels)
    for k, v in lg.terms.items():
        assert r["logistic"]["terms"][k]["odds_ratio"] == v["odds_ratio"]
        assert r["logistic"]["terms"][k]["p"] == v["p"]
    # sex-stratified: within OPLL, the rarer sex matched to the other on the covariates without sex
    ss = r["sex_stratified"]
    sub = data[data["treated"] == 1].copy()
    rare = 1 if (sub["sex"] == 1).sum() < (sub["sex"] == 0).sum() else 0
    sub["treated"] = (sub["sex"] == rare).astype(int)
    covs = [c for c in plan.covariates if c != "sex"]
    # the demo's small OPLL sub-cohort separates on the propensity model: the warning is part of the result
    with pytest.warns(RuntimeWarning, match=r"fitted probabilities numerically 0 or 1 occurred \(separation\)"):
        mr2 = match(sub, "treated", covs, id="patient_id", distance="logit", caliper=0.2, categorical=["diet"])
    assert ss["matching"]["n_matched"] == mr2.n_matched
    assert ss["groups"][0] == ("male" if rare == 1 else "female")


def test_vbq_results_join_in_analysis(tmp_path):
    """Analysing clinical table + long VBQ table gives the same numbers as the table with VBQ columns."""
    df = _cohort(90, 9)
    levels = [f"VBQ_C{i}" for i in range(2, 8)]
    clin = df.drop(columns=levels)
    long = df.melt(id_vars="patient_id", value_vars=levels, var_name="level", value_name="vbq")
    long["level"] = long["level"].str[4:]
    long = long.rename(columns={"patient_id": "case_id"})
    long = long[long["case_id"] != "P0003"]
    clin.to_csv(tmp_path / "clin.csv", index=False)
    long.to_csv(tmp_path / "long.csv", index=False)
    ov = {"no_matching": True, "sex_column": ""}
    r = run_analysis(tmp_path / "clin.csv", "lu2024", vbq_results=tmp_path / "long.csv", overrides=ov)
    assert r["join"]["only_in_clinical"] == ["P0003"] and r["join"]["format"] == "long"
    assert r["join"]["n_joined"] == 89
    expected = df.copy()
    expected.loc[expected["patient_id"] == "P0003", levels] = np.nan
    direct = run_analysis(expected, "lu2024", overrides=ov)
    assert r["comparison"]["levels"] == direct["comparison"]["levels"]
    assert r["segmental"] == direct["segmental"]
    assert len(r["provenance"]["inputs"]) == 2


def test_report_of_matched_run(matched_run, tmp_path):
    p, r, frames = matched_run
    out = tmp_path / "rep"
    write_report(r, out, frames)
    m = pd.read_csv(out / "matched.csv")
    assert len(m) == r["matching"]["n_matched"]["treated"] + r["matching"]["n_matched"]["control"]
    assert set(m["patient_id"]) == set(r["matching"]["pairs"]) | {c for v in r["matching"]["pairs"].values()
                                                                   for c in v}
    for f in ("love_plot", "boxplots", "segmental", "forest", "sex_boxplots"):
        assert (out / "figures" / f"{f}.png").stat().st_size > 1000
    html = (out / "report.html").read_text(encoding="utf-8")
    for words in ("Covariate balance", "Signed-rank V", "Dunn post-hoc", "Sex-stratified", "Odds ratio",
                  "Holm", "ignores the matched pairing", "Friedman"):
        assert words in html
    comp = pd.read_csv(out / "tables" / "comparison.csv")
    # one row per level, then the overall VBQ (issue 17)
    assert comp["column"].tolist() == list(r["comparison"]["levels"]) + ["vbq_overall"]
    assert comp["ranksum_p"].tolist() == [r["comparison"]["levels"][c]["ranksum"]["p"] for c in comp["column"][:-1]] \
        + [r["comparison"]["overall"]["ranksum"]["p"]]
    lg = pd.read_csv(out / "tables" / "logistic.csv", index_col=0)
    assert lg.loc["bmi", "odds_ratio"] == pytest.approx(r["logistic"]["terms"]["bmi"]["odds_ratio"], rel=1e-12)


def test_cli_analyze_and_no_matching(tmp_path, hand_csv, capsys):
    out = tmp_path / "res"
    code = main(["cohort", "analyze", str(hand_csv), *HAND_ARGS, "--no-matching", "--out", str(out), "--quiet"])
    assert code == 0
    d = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert d["comparison"]["levels"]["L2"]["ranksum"]["W"] == 6
    assert d["matching"]["enabled"] is False
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Rank-sum W" in html and "Dunn post-hoc" in html


@pytest.mark.slow
def test_cli_analyze_matching_options(tmp_path):
    df = _cohort(150, 3)
    p = tmp_path / "c.csv"
    df.to_csv(p, index=False)
    out = tmp_path / "res"
    code = main(["cohort", "analyze", str(p), "--id", "patient_id", "--group", "diagnosis", "--treated", "OPLL",
                 "--control", "CSM", "--levels", "C2-C7", "--covariates", "age,sex,bmi,smoking",
                 "--ratio", "2", "--caliper", "0.25", "--distance", "ps", "--out", str(out), "--quiet"])
    assert code == 0
    d = json.loads((out / "results.json").read_text(encoding="utf-8"))
    s = d["provenance"]["plan"]["matching"]
    assert (s["caliper"], s["ratio"], s["distance"]) == (0.25, 2, "ps")
    assert d["matching"]["settings"]["ratio"] == 2
    assert all(len(v) <= 2 for v in d["matching"]["pairs"].values())
    assert d["logistic"]["predictors"] == ["age", "sex", "bmi", "smoking"]
    assert d["comparison"]["levels"]["VBQ_C3"]["signed_rank"]["pairing"].startswith("treated value vs mean")
    assert len(pd.read_csv(out / "matched.csv")) == sum(d["matching"]["n_matched"].values())


@pytest.mark.parametrize("extra, words", [
    (["--covariates", "age,weight"], "weight"),
    (["--treated", "X"], "no value 'X'"),
    (["--plan", "nonexistent_plan.yaml"], "not a built-in plan"),
    (["--distance", "logit", "--ratio", "0"], "ratio"),
])
def test_cli_bad_input_exit_2_no_output(tmp_path, hand_csv, capsys, extra, words):
    out = tmp_path / "res"
    args = list(HAND_ARGS)
    for i in range(0, len(extra), 2):
        if extra[i] in args:
            args[args.index(extra[i]) + 1] = extra[i + 1]
        else:
            args += extra[i:i + 2]
    code = main(["cohort", "analyze", str(hand_csv), *args, "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("vbq cohort: error:") or err.startswith("vbq cohort analyze: error:")
    assert words in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()
    assert not any(p.name.startswith(".res") for p in tmp_path.iterdir())


def test_text_in_numeric_column(tmp_path, capsys):
    bad = HAND.copy().astype(object)
    bad.loc[2, "L2"] = "high"
    p = tmp_path / "bad.csv"
    bad.to_csv(p, index=False)
    with pytest.raises(VBQInputError, match="L2"):
        run_analysis(p, "lu2024", overrides=_hand_overrides())


def test_degenerate_levels_are_notes_not_crashes(tmp_path):
    ov = _hand_overrides()
    ov["levels"] = ["L1"]
    r = run_analysis(HAND, "lu2024", overrides=ov)
    assert r["segmental"]["A"]["note"].startswith("across-level tests need at least 2")
    assert r["comparison"]["levels"]["L1"]["ranksum"]["p"] == pytest.approx(2 / 70)
    flat = HAND.copy()
    flat["L2"] = 3.0
    r, frames = run_analysis(flat, "lu2024", overrides=_hand_overrides(), return_frames=True)
    e = r["comparison"]["levels"]["L2"]
    assert e["ranksum"]["p"] is None and e["shapiro"]["A"]["W"] is None
    # Holm over the two computable levels only (R p.adjust drops NA): 2 * 2/70
    assert r["comparison"]["levels"]["L1"]["ranksum"]["p_holm"] == pytest.approx(4 / 70)
    write_report(r, tmp_path / "o", frames)
    assert "–" in (tmp_path / "o" / "report.html").read_text(encoding="utf-8")


def test_xlsx_equals_csv(tmp_path, hand_csv):
    x = tmp_path / "hand.xlsx"
    with pd.ExcelWriter(x) as w:
        pd.DataFrame({"note": ["first sheet"]}).to_excel(w, sheet_name="readme", index=False)
        HAND.to_excel(w, sheet_name="patients", index=False)
    a = run_analysis(x, "lu2024", overrides=_hand_overrides(), sheet="patients")
    b = run_analysis(hand_csv, "lu2024", overrides=_hand_overrides())
    assert a["comparison"] == b["comparison"] and a["segmental"] == b["segmental"]
    assert a["provenance"]["inputs"][0]["path"].endswith("hand.xlsx")


def test_hand_computed_matched_pairs_signed_rank():
    """Ages interleave (30/31, 40/41, ...): any logit-linear score pairs each treated with the control one year
    older, so the pairs and the signed-rank statistics are known by hand."""
    df = pd.DataFrame({
        "pid": ["t1", "t2", "t3", "t4", "c1", "c2", "c3", "c4"],
        "grp": ["A"] * 4 + ["B"] * 4,
        "age": [30, 40, 50, 60, 31, 41, 51, 61],
        "L1": [10, 20, 30, 40, 11, 22, 33, 44],  # pair differences -1, -2, -3, -4
        "L2": [10, 20, 30, 44, 11, 22, 33, 40],  # pair differences -1, -2, -3, +4
    })
    ov = dict(id="pid", group="grp", treated="A", control="B", levels=["L1", "L2"], covariates=["age"],
              sex_column="")
    r = run_analysis(df, "lu2024", overrides=ov)
    assert r["matching"]["pairs"] == {"t1": ["c1"], "t2": ["c2"], "t3": ["c3"], "t4": ["c4"]}
    sr1, sr2 = (r["comparison"]["levels"][c]["signed_rank"] for c in ("L1", "L2"))
    # V = sum of the ranks of the positive differences; exact null distribution of V for n = 4 has 16
    # equally likely sign patterns with counts 1,1,1,2,2,2,2,2,1,1,1 for V = 0..10
    assert sr1["V"] == 0 and sr1["p"] == pytest.approx(2 / 16)
    assert sr2["V"] == 4 and sr2["p"] == pytest.approx(2 * 7 / 16)
    assert sr1["p_holm"] == pytest.approx(min(1, 2 * 2 / 16)) and sr2["p_holm"] == pytest.approx(14 / 16)
    # rank-sum ignores the pairing: L1 treated 10,20,30,40 vs 11,22,33,44 -> U = 0+1+2+3 = 6, p = 48/70
    rs = r["comparison"]["levels"]["L1"]["ranksum"]
    assert rs["W"] == 6 and rs["p"] == pytest.approx(48 / 70)


def test_deterministic_apart_from_timestamp(hand_csv):
    a = run_analysis(hand_csv, "lu2024", overrides=_hand_overrides())
    b = run_analysis(hand_csv, "lu2024", overrides=_hand_overrides())
    a["provenance"].pop("created_utc")
    b["provenance"].pop("created_utc")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
