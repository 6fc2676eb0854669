"""`vbq demo`: the synthetic cohort, its planted effects found by the whole pipeline, determinism, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vbq_cli.main import main
from VBQCohortLib import demo
from VBQScoreLib.errors import VBQInputError


def test_make_cohort_is_seeded_and_plausible():
    a, b = demo.make_cohort(425, 11), demo.make_cohort(425, 11)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(demo.make_cohort(425, 12))
    assert len(a) == 425 and a["patient_id"].is_unique
    assert set(a["diagnosis"]) == {"OPLL", "CSM"} and set(a["sex"]) == {"M", "F"}
    share = (a["diagnosis"] == "OPLL").mean()
    assert 0.25 < share < 0.55
    v = a[[f"VBQ_C{i}" for i in range(2, 8)]]
    assert v.median().between(2.2, 3.3).all()  # the published cervical range
    assert v["VBQ_C2"].median() > v["VBQ_C5"].median() > v["VBQ_C6"].median() > v["VBQ_C7"].median()
    bmi = pd.to_numeric(a["bmi"].replace("", np.nan))
    assert bmi.isna().sum() == 4  # n // 100 missing BMI values, reported as exclusions
    assert bmi[a["diagnosis"] == "OPLL"].mean() > bmi[a["diagnosis"] == "CSM"].mean()  # confounding


def test_bad_demo_arguments(tmp_path):
    with pytest.raises(VBQInputError, match="number of patients"):
        demo.make_cohort(10)
    with pytest.raises(VBQInputError, match="MRIs"):
        demo.run_demo(tmp_path / "x", n_patients=50, n_mri=60)
    assert not (tmp_path / "x").exists()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    calls = []
    res = demo.run_demo(out, progress=lambda d, t, m: calls.append((d, t, m)))
    return out, res["results"], calls


@pytest.mark.slow
def test_demo_finds_the_planted_effects(demo_run):
    out, r, calls = demo_run
    comp = r["comparison"]["levels"]
    assert r["comparison"]["sample"] == "matched"
    # lower C3 in OPLL: significant after Holm, rank-sum and signed-rank alike, in the planted direction
    c3 = comp["VBQ_C3"]
    assert c3["ranksum"]["p_holm"] < 0.01 and c3["signed_rank"]["p_holm"] < 0.01
    assert c3["ranksum"]["hl_shift"] < 0 and c3["describe"]["OPLL"]["median"] < c3["describe"]["CSM"]["median"]
    assert -0.35 < c3["ranksum"]["hl_shift"] < -0.1  # planted -0.22
    for col in ("VBQ_C2", "VBQ_C4", "VBQ_C5", "VBQ_C6", "VBQ_C7"):
        assert comp[col]["ranksum"]["p_holm"] > 0.05, col
    # lower VBQ at C6/C7 than at C2-C5, in both groups
    for g in ("OPLL", "CSM"):
        seg = r["segmental"][g]
        assert seg["kruskal"]["p"] < 1e-6 and seg["friedman"]["p"] < 1e-6
        dunn = {(d["group1"], d["group2"]): d for d in seg["dunn"]["comparisons"]}
        for low in ("C6", "C7"):
            for high in ("C2", "C4", "C5"):
                d = dunn[(high, low)]
                assert d["p_adj"] < 0.05 and d["mean_rank1"] > d["mean_rank2"], (g, high, low)
    # no sex difference
    ss = r["sex_stratified"]
    assert ss["enabled"] and ss["within"] == "OPLL" and ss["matching"]["n_matched"]["treated"] >= 20
    assert all(e["ranksum"]["p_holm"] > 0.05 for e in ss["levels"].values())
    # logistic regression: the planted associations, right direction
    t = r["logistic"]["terms"]
    for name, sign in (("bmi", 1), ("hypertensionyes", 1), ("calcium_supplementyes", -1), ("smokingyes", 1)):
        assert t[name]["p"] < 0.05 and np.sign(np.log(t[name]["odds_ratio"])) == sign, name
    # matching removed the confounding: balance after matching
    bal = r["matching"]["balance"]["after"]
    assert abs(bal["bmi"]["Std. Mean Diff."]) < 0.1 < abs(r["matching"]["balance"]["before"]["bmi"]["Std. Mean Diff."])
    # the phantom MRIs were measured by VBQScore and agree with the planned VBQ
    agree = r["demo"]["phantom_agreement"]
    assert agree["n"] == 16 * 6 and agree["max_abs_diff"] < 0.05
    # progress was reported, monotone, ending at total
    dones = [c[0] for c in calls]
    assert dones == sorted(dones) and calls[-1][0] == calls[-1][1]


@pytest.mark.slow
def test_demo_outputs(demo_run):
    out, r, _ = demo_run
    for f in ("report.html", "results.json", "matched.csv", "data/clinical.csv", "data/vbq_results.csv",
              "tables/comparison.csv", "tables/logistic.csv", "figures/boxplots.png"):
        assert (out / f).is_file(), f
    d = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert d["comparison"]["levels"]["VBQ_C3"]["ranksum"] == r["comparison"]["levels"]["VBQ_C3"]["ranksum"]
    assert str(out) in d["provenance"]["inputs"][0]["path"] and ".tmp" not in d["provenance"]["inputs"][0]["path"]
    assert d["join"]["only_in_clinical"] == d["demo"]["no_mri_ids"] and len(d["demo"]["no_mri_ids"]) == 2
    # missing BMI (4), missing smoking (2), no MRI (2: no VBQ at any level, excluded before matching)
    assert d["exclusions"]["counts"]["excluded"] == 4 + 2 + 2
    assert d["exclusions"]["counts"]["excluded_by_reason"]["no VBQ value at any level"] == 2
    ex = pd.read_csv(out / "tables" / "exclusions.csv")
    assert len(ex) == 8 and set(ex["reason"]) == {"missing bmi", "missing smoking", "no VBQ value at any level"}
    vbq = pd.read_csv(out / "data" / "vbq_results.csv")
    measured = vbq[vbq["source"].str.startswith("phantom")]
    assert len(measured) == 16 and measured["CSF_SI"].notna().all()
    assert (out / "mri" / measured["case_id"].iloc[0] / "t1.nii.gz").is_file()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "SYNTHETIC DEMO DATA" in html and html.count("<table") >= 8
    assert "VBQ was lower in OPLL than in CSM at C3 (median" in html
    assert "no level differed between female and male after adjustment" in html


@pytest.mark.slow
def test_cli_demo_small(tmp_path, capsys):
    out = tmp_path / "d"
    code = main(["demo", "--out", str(out), "--n-patients", "120", "--n-mri", "1", "--seed", "3"])
    assert code == 0
    text = capsys.readouterr().out
    assert f"Report:  {out / 'report.html'}" in text and "1 phantom MRIs" in text
    r = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert r["demo"]["n_patients"] == 120 and len(r["demo"]["mri_ids"]) == 1


def test_cli_demo_bad_out(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x", encoding="utf-8")
    assert main(["demo", "--out", str(f), "--quiet"]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path / "no" / "such"), "--quiet"]) == 2


@pytest.mark.slow
def test_demo_reliability_substudy_recovers_the_planted_values(demo_run, tmp_path):
    """Two synthetic readers (R2 planned +0.10 VBQ) and R1's re-read of half the phantom MRIs: the Bland-Altman
    95% CIs cover the planted biases; R2's segmentations, shifted by one 0.8 mm voxel, give HD max 0.8 mm; the
    numbers are those of `vbq agreement data/reliability.csv`."""
    out, r, _ = demo_run
    a = r["agreement"]
    planted = r["demo"]["reliability"]
    assert planted["planted_bias"] == {"R1 vs R2": -0.10, "R1 session 1 vs R1 session 2": 0.0}
    for name, bias in planted["planted_bias"].items():
        b = a["bland_altman"][name]
        assert b["bias_ci_low"] < bias < b["bias_ci_high"], (name, b)
    assert a["bland_altman"]["R1 vs R2"]["n"] == 16 and a["bland_altman"]["R1 session 1 vs R1 session 2"]["n"] == 8
    # noise SD 0.04 per level and reading: the SD of the overall's differences is 0.04 sqrt(2/6) = 0.023
    assert 0.012 < a["bland_altman"]["R1 vs R2"]["sd"] < 0.04
    icc2 = {x["type"]: x for x in a["icc"]["intra"]["R1"]}["ICC2"]
    assert icc2["n_cases"] == 8 and icc2["icc"] > 0.9
    for lv, m in a["overlap"].items():
        assert m["hd_max_mm"] == pytest.approx(0.8, abs=1e-6) and 0.8 < m["dice"] < 1.0, lv
    assert (out / "agreement" / "report.html").is_file() and (out / "agreement" / "tables" / "icc_inter.csv").is_file()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Reader agreement (reliability substudy)" in html and "Planted bias" in html
    assert main(["agreement", str(out / "data" / "reliability.csv"), "--out", str(tmp_path / "agr"), "--quiet"]) == 0
    again = json.loads((tmp_path / "agr" / "agreement.json").read_text(encoding="utf-8"))
    assert again["icc"] == a["icc"] and again["bland_altman"] == a["bland_altman"]


@pytest.mark.slow
def test_demo_diagnostic_recovers_the_planted_auc(demo_run):
    """Issue 18: the demo adds a DXA T-score and screw loosening drawn from VBQ with planted AUCs (computed by
    integration, checked by simulation in test_diagnostic.py); the diagnostic report recovers them."""
    out, r, _ = demo_run
    d = r["demo"]["diagnostic"]
    res = json.loads((out / "diagnostic" / "diagnostic.json").read_text(encoding="utf-8"))
    e = res["conditions"]["screw_loosening == yes"]["roc"]["VBQ_overall"]
    planted = d["planted_auc"]["screw_loosening == yes"]
    assert e["direction"] == "<" and e["ci_low"] <= planted <= e["ci_high"]  # the complication: recovered
    for label, auc in d["planted_auc"].items():  # every condition within 4 standard errors
        x = res["conditions"][label]["roc"]["VBQ_overall"]
        assert abs(x["auc"] - auc) < 4 * x["auc_se"], label
    assert res["correlation"]["VBQ_overall vs dxa_t_lumbar"]["pearson"]["r"] < -0.5
    assert "SYNTHETIC DEMO DATA" in (out / "diagnostic" / "report.html").read_text(encoding="utf-8")
    assert str(out) in res["provenance"]["inputs"][0]["path"]


@pytest.mark.slow
def test_readme_try_it_lines_run_on_the_demo_mris(demo_run, tmp_path, monkeypatch, capsys):
    """Issue 16: the README's "try it" lines (right after the demo command) for `vbq score` and `vbq batch` run
    on what `vbq demo --out vbq-demo` wrote, as written (the case folder they name exists; exit 0; the batch
    table has every demo MRI case)."""
    import shlex
    from pathlib import Path

    out, r, _ = demo_run
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    demo_at = readme.index("vbq demo --out vbq-demo")
    lines = [ln.strip() for ln in readme[demo_at:].splitlines()[1:40] if ln.strip().startswith(".venv/bin/vbq ")]
    commands = {shlex.split(ln)[1]: shlex.split(ln)[1:] for ln in lines}
    assert set(commands) >= {"score", "batch"}, lines
    (tmp_path / "vbq-demo").symlink_to(out, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    assert main(commands["score"]) == 0
    assert "overall VBQ" in capsys.readouterr().out
    assert main(commands["batch"] + ["--workers", "0"]) == 0
    table = pd.read_csv(tmp_path / commands["batch"][commands["batch"].index("--out") + 1])
    assert set(table["case_id"]) == set(r["demo"]["mri_ids"]) and (table["status"] == "ok").all()
