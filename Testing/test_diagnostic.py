"""vbq cohort diagnostic / VBQCohortLib.diagnostic.analysis: the diagnostic.json contract of issue 18, complete
cases, conditions, the adjusted model against R glm + pROC (committed fixture), bad input (exit 2, one line,
nothing written) and the report folder."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from VBQScoreLib.errors import VBQInputError
from VBQCohortLib.diagnostic import roc as R
from VBQCohortLib.diagnostic.analysis import run_diagnostic
from VBQCohortLib.diagnostic.condition import evaluate_condition, parse_condition

RREF = Path(__file__).parent / "r_reference"
ASAH = RREF / "diagnostic_data_asah.csv"
ROOT = Path(__file__).resolve().parents[1]

ROC_KEYS = {"auc", "ci_low", "ci_high", "ci_method", "direction", "n_cases", "n_controls", "youden", "curve"}
YOUDEN_KEYS = {"threshold", "sensitivity", "specificity", "sensitivity_ci_low", "sensitivity_ci_high",
               "specificity_ci_low", "specificity_ci_high", "ppv", "npv", "tp", "fp", "tn", "fn"}


def cli(*args, cwd=None):
    env = {"PYTHONPATH": f"{ROOT}:{ROOT / 'VBQScore'}:{ROOT / 'VBQCohort'}", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "vbq_cli", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def test_keys_of_the_issue_and_published_values():
    res = run_diagnostic(ASAH, ["s100b", "wfns"], ["outcome == Poor", "wfns >= 3"], correlate=["age"],
                         covariates=["age", "gender"])
    json.dumps(res, allow_nan=False)
    assert res["condition"] == "outcome == Poor"
    assert set(res["conditions"]) == {"outcome == Poor", "wfns >= 3"}
    for cond in res["conditions"].values():
        assert set(cond["roc"]) == {"s100b", "wfns"}
    e = res["roc"]["s100b"]
    assert e is res["conditions"]["outcome == Poor"]["roc"]["s100b"] or e == res["conditions"]["outcome == Poor"]["roc"]["s100b"]
    assert ROC_KEYS <= set(e)
    assert all(YOUDEN_KEYS <= set(y) for y in e["youden"])
    assert all(set(p) == {"threshold", "sensitivity", "specificity"} for p in e["curve"])
    assert round(e["auc"], 4) == 0.7314 and round(e["ci_low"], 4) == 0.6301 and round(e["ci_high"], 4) == 0.8326
    assert e["ci_method"] == "DeLong" and e["direction"] == "<" and (e["n_cases"], e["n_controls"]) == (41, 72)
    y = e["youden"][0]
    assert round(y["threshold"], 3) == 0.205 and (y["tp"], y["fp"], y["tn"], y["fn"]) == (26, 14, 58, 15)
    assert y["ppv"] == pytest.approx(26 / 40) and y["npv"] == pytest.approx(58 / 73)
    t = res["roc_tests"]["s100b vs wfns"]
    assert {"method", "z", "p", "auc_a", "auc_b", "n"} <= set(t)
    assert round(t["z"], 3) == -2.209 and round(t["p"], 5) == 0.02718 and t["n"] == 113
    c = res["correlation"]["s100b vs age"]
    assert {"r", "ci_low", "ci_high", "t", "df", "p", "n"} <= set(c["pearson"])
    assert {"rho", "S", "p", "n", "method"} <= set(c["spearman"])
    assert set(res["model"]) == {"s100b", "wfns"}
    # the second condition: 'wfns >= 3' on the wfns marker itself separates perfectly -> warned, not hidden
    assert any("separation" in w for w in res["warnings"])


def test_model_equals_r_glm_and_proc():
    ref = json.loads((RREF / "diagnostic_model.json").read_text(encoding="utf-8"))["asah_s100b_age_gender"]
    res = run_diagnostic(ASAH, ["s100b"], ["outcome == Poor"], covariates=["age", "gender"])
    m = res["model"]["s100b"]
    assert m["n"] == ref["n"] and m["formula"] == "condition ~ s100b + age + gender"
    for part in ("or_per_unit", "or_per_sd"):
        for k in ref[part]:
            assert m[part][k] == pytest.approx(ref[part][k], rel=1e-6), (part, k)  # glm: IRLS tolerance
    for k in ("auc", "ci_low", "ci_high"):
        assert m[k] == pytest.approx(ref[k], rel=1e-6), k


def _frame():
    rng = np.random.default_rng(5)
    n = 60
    t = np.round(rng.normal(-1.3, 1.1, n), 1)
    vbq = np.round(3.0 - 0.3 * t + rng.normal(0, 0.4, n), 2)
    df = pd.DataFrame({"pid": [f"P{i:03d}" for i in range(n)], "vbq": vbq, "t": t,
                       "loose": np.where(rng.random(n) < 0.4, "yes", "no")})
    df.loc[[3, 7], "vbq"] = np.nan
    df.loc[[10], "t"] = np.nan
    return df


def test_complete_cases_counted_and_listed():
    df = _frame()
    res = run_diagnostic(df, ["vbq"], ["t <= -2.5"], correlate=["t"], id_col="pid")
    e = res["roc"]["vbq"]
    assert e["n"] == 57 and e["n_excluded"] == 3
    reasons = {x["id"]: x["reason"] for x in e["excluded"]}
    assert reasons == {"P003": "missing vbq", "P007": "missing vbq", "P010": "missing t"}
    ok = df.vbq.notna() & df.t.notna()
    r = R.roc((df.t[ok] <= -2.5).to_numpy(), df.vbq[ok].to_numpy())
    assert e["auc"] == r.auc and e["n_cases"] == r.n_cases
    c = res["correlation"]["vbq vs t"]
    assert c["n"] == 57 and c["n_excluded"] == 3


def test_text_condition_case_warned_and_two_spellings_refused():
    df = _frame()
    res = run_diagnostic(df, ["vbq"], ["loose == YES"])
    assert any("case differs" in w for w in res["warnings"])
    assert res["roc"]["vbq"]["n_cases"] == int(((df.loose == "yes") & df.vbq.notna()).sum())
    df2 = df.copy()
    df2.loc[0, "loose"] = "Yes"
    with pytest.raises(VBQInputError, match="differ only in case"):
        run_diagnostic(df2, ["vbq"], ["loose == yes"])


@pytest.mark.parametrize("expr,op,val", [("dxa_t_lumbar <= -2.5", "<=", "-2.5"), ("a<1", "<", "1"),
                                         ("screw loosening == 'yes'", "==", "yes"), ("x != 0", "!=", "0"),
                                         ("x>=2", ">=", "2"), ("x > 2", ">", "2")])
def test_parse_condition(expr, op, val):
    c = parse_condition(expr)
    assert (c.op, c.value) == (op, val)


@pytest.mark.parametrize("expr", ["dxa_t_lumbar", "x <=", "<= 3", "x => 3", "x < 1 < 2", "x = 3"])
def test_unparsable_condition(expr):
    with pytest.raises(VBQInputError, match="--condition"):
        parse_condition(expr)


def test_numeric_condition_semantics():
    df = pd.DataFrame({"t": [-3.0, -2.5, -2.4, np.nan, 0.0]})
    for expr, want in [("t <= -2.5", [1, 1, 0, None, 0]), ("t < -2.5", [1, 0, 0, None, 0]),
                       ("t > -2.5", [0, 0, 1, None, 1]), ("t >= -2.5", [0, 1, 1, None, 1]),
                       ("t == 0", [0, 0, 0, None, 1]), ("t != 0", [1, 1, 1, None, 0])]:
        got = evaluate_condition(df, expr).positive
        assert [None if math.isnan(v) else int(v) for v in got] == want, expr


@pytest.mark.parametrize("kw,msg", [
    ({"markers": ["nope"], "conditions": ["t <= -2.5"]}, "--marker column 'nope' not found"),
    ({"markers": ["loose"], "conditions": ["t <= -2.5"]}, "marker column 'loose' is not numeric"),
    ({"markers": ["vbq"], "conditions": ["tt <= -2.5"]}, "column 'tt' not found"),
    ({"markers": ["vbq"], "conditions": ["t <= -9"]}, "one class only"),
    ({"markers": ["vbq"], "conditions": ["t <= -3.4"]}, "each class needs at least 2"),
    ({"markers": ["vbq"], "conditions": ["t <= abc"]}, "compare it with a number"),
    ({"markers": ["vbq"], "conditions": ["loose <= 1"]}, "not numeric"),
    ({"markers": ["vbq"], "conditions": ["loose == maybe"]}, "has no value 'maybe'"),
])
def test_bad_input_raises_one_clear_error(kw, msg):
    df = _frame()
    low = df.index[df.t <= -3.4]
    df.loc[low, "t"] = -3.0
    df.loc[0, "t"] = -3.5  # exactly one subject at t <= -3.4
    with pytest.raises(VBQInputError, match=msg):
        run_diagnostic(df, kw["markers"], kw["conditions"])


def test_infinite_marker_value_is_bad_input():
    df = _frame()
    df.loc[5, "vbq"] = np.inf
    with pytest.raises(VBQInputError, match="marker column 'vbq' row 5: infinite value"):
        run_diagnostic(df, ["vbq"], ["t <= -2.5"])


def test_cli_writes_the_report_folder(tmp_path):
    out = tmp_path / "diag"
    r = cli("cohort", "diagnostic", ASAH, "--marker", "s100b", "--marker", "ndka", "--condition", "outcome == Poor",
            "--correlate", "age", "--covariates", "age,gender", "--threshold", "0.205", "--at-sensitivity", "0.9",
            "--bootstrap", "200", "--seed", "3", "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "diagnostic.json").read_text(encoding="utf-8"))
    assert "s100b vs ndka" in res["roc_tests"] and res["roc"]["s100b"]["bootstrap"]["n_boot"] == 200
    assert res["roc"]["s100b"]["at_threshold"][0]["tp"] == 26
    b = res["roc"]["s100b"]["bootstrap"]
    assert b["ci_low"] < res["roc"]["s100b"]["auc"] < b["ci_high"]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "0.731" in page and "Methods" in page and "DeLong" in page
    for f in ("roc.csv", "cutoffs.csv", "roc_tests.csv", "correlation.csv", "model.csv", "excluded.csv",
              "roc_curve_1_s100b.csv"):
        assert (out / "tables" / f).is_file(), f
    curve = pd.read_csv(out / "tables" / "roc_curve_1_s100b.csv")
    assert len(curve) == res["roc"]["s100b"]["curve_points"]
    for f in ("roc_1.png", "roc_1.svg", "scatter_s100b_vs_age.png"):
        assert (out / "figures" / f).stat().st_size > 1000, f


@pytest.mark.parametrize("args,needle", [
    (["--marker", "gender", "--condition", "outcome == Poor"], "marker column 'gender' is not numeric"),
    (["--marker", "s100b", "--condition", "nope == 1"], "column 'nope' not found"),
    (["--marker", "s100b", "--condition", "outcome is Poor"], "cannot read it"),
    (["--marker", "s100b", "--condition", "age > 0"], "one class only"),
    (["--marker", "s100b", "--condition", "age > 80"], "each class needs at least 2"),
])
def test_cli_bad_input_exit_2_one_line_nothing_written(tmp_path, args, needle):
    out = tmp_path / "out"
    r = cli("cohort", "diagnostic", ASAH, *args, "--out", out, "--quiet")
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_large_n_curve_is_thinned_in_json_but_complete_in_the_table(tmp_path):
    rng = np.random.default_rng(2)
    n = 5000
    y = rng.random(n) < 0.3
    df = pd.DataFrame({"m": rng.normal(0, 1, n) + y, "c": np.where(y, "case", "ctrl")})
    res, frames = run_diagnostic(df, ["m"], ["c == case"], return_frames=True)
    e = res["roc"]["m"]
    assert e["curve_thinned"] and len(e["curve"]) <= 1100 and e["curve_points"] == n + 1
    from VBQCohortLib.diagnostic.report import write_diagnostic_report

    write_diagnostic_report(res, tmp_path / "o", frames)
    assert len(pd.read_csv(tmp_path / "o" / "tables" / "roc_curve_1_m.csv")) == n + 1


def test_demo_planted_auc_integral_matches_simulation():
    from scipy.stats import norm

    from VBQCohortLib.diagnostic.demo import planted_auc

    rng = np.random.default_rng(11)
    n = 400_000
    for rho, c in ((0.55, float(norm.ppf(0.75))), (0.65, 1.15), (0.65, -0.25)):
        u = rng.standard_normal(n)
        lat = rho * u + math.sqrt(1 - rho * rho) * rng.standard_normal(n)
        y = lat > c
        mc = R.auc_delong(u[y], u[~y])
        assert mc["ci_low"] - 0.001 <= planted_auc(rho, c) <= mc["ci_high"] + 0.001
    assert planted_auc(0.0, 0.3) == pytest.approx(0.5, abs=1e-9)


def test_plan_diagnostic_section_and_builtin_plan(tmp_path):
    from VBQCohortLib.plan import load_plan, plan_from_dict

    p = load_plan("ehresman2020_dxa")
    assert p.diagnostic_only and p.diagnostic["conditions"] == ["dxa_t_lumbar < -1", "dxa_t_lumbar <= -2.5"]
    assert p.diagnostic["markers"] == ["VBQ_overall"] and p.diagnostic["correlate"] == ["dxa_t_lumbar"]
    assert load_plan("lu2024").diagnostic is None and "diagnostic" not in load_plan("lu2024").to_dict()
    with pytest.raises(VBQInputError, match="diagnostic: unknown key 'marker'"):
        plan_from_dict({"columns": {"id": "pid"}, "diagnostic": {"marker": ["x"]}})
    with pytest.raises(VBQInputError, match="diagnostic.conditions: --condition 'x = 1'"):
        plan_from_dict({"columns": {"id": "pid"}, "diagnostic": {"markers": ["x"], "conditions": ["x = 1"]}})
    with pytest.raises(VBQInputError, match="markers is empty"):
        plan_from_dict({"columns": {"id": "pid"}, "diagnostic": {"conditions": ["x < 1"]}})


def _dxa_study(tmp_path):
    rng = np.random.default_rng(4)
    n = 120
    t = np.round(rng.normal(-1.3, 1.0, n), 1)
    vbq = np.round(2.9 - 0.3 * t + rng.normal(0, 0.35, n), 3)
    ids = [f"S{i}" for i in range(n)]
    pd.DataFrame({"patient_id": ids, "dxa_t_lumbar": t, "age": rng.integers(40, 80, n)}).to_csv(
        tmp_path / "clin.csv", index=False)
    pd.DataFrame({"case_id": ids[:-3], "status": "ok", "VBQ_overall": vbq[:-3]}).to_csv(tmp_path / "vbq.csv",
                                                                                        index=False)
    return tmp_path / "clin.csv", tmp_path / "vbq.csv", t, vbq


def test_cli_analyze_runs_the_builtin_diagnostic_plan(tmp_path):
    clin, vq, t, vbq = _dxa_study(tmp_path)
    out = tmp_path / "dxa"
    r = cli("cohort", "analyze", clin, "--plan", "ehresman2020_dxa", "--vbq-results", vq, "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "diagnostic.json").read_text(encoding="utf-8"))
    assert res["condition"] == "dxa_t_lumbar < -1" and res["plan"]["name"] == "ehresman2020_dxa"
    e = res["conditions"]["dxa_t_lumbar <= -2.5"]["roc"]["VBQ_overall"]
    ok = np.arange(len(t)) < len(t) - 3  # the last three have no VBQ results: excluded and listed
    assert e["n_excluded"] == 3 and {x["id"] for x in e["excluded"]} == {"S117", "S118", "S119"}
    ref = R.roc(t[ok] <= -2.5, vbq[ok])
    assert e["auc"] == pytest.approx(ref.auc, rel=1e-15) and e["direction"] == ref.direction
    assert (out / "report.html").is_file() and (out / "tables" / "correlation.csv").is_file()
    bad = cli("cohort", "analyze", clin, "--plan", "ehresman2020_dxa", "--group", "g", "--out", tmp_path / "o2",
              "--quiet")
    assert bad.returncode == 2 and "diagnostic-accuracy study" in bad.stderr and not (tmp_path / "o2").exists()


def test_cli_analyze_group_plan_with_a_diagnostic_section(tmp_path):
    from VBQCohortLib.demo import make_cohort
    from VBQCohortLib.diagnostic.demo import add_columns
    from VBQCohortLib.plan import load_plan

    full, _ = add_columns(make_cohort(200, 7), 7)
    full.to_csv(tmp_path / "c.csv", index=False)
    d = load_plan("lu2024").to_dict()
    for k in ("source", "overrides"):
        d.pop(k)
    d["diagnostic"] = {"markers": ["VBQ_C3", "VBQ_C6"], "conditions": ["screw_loosening == yes"],
                       "correlate": ["dxa_t_lumbar"]}
    (tmp_path / "plan.json").write_text(json.dumps(d), encoding="utf-8")
    out = tmp_path / "study"
    r = cli("cohort", "analyze", tmp_path / "c.csv", "--plan", tmp_path / "plan.json", "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert res["diagnostic"]["folder"] == "diagnostic" and "comparison" in res
    dj = json.loads((out / "diagnostic" / "diagnostic.json").read_text(encoding="utf-8"))
    assert "VBQ_C3 vs VBQ_C6" in dj["roc_tests"]
    y = (full.screw_loosening == "yes").to_numpy()
    assert dj["roc"]["VBQ_C3"]["auc"] == pytest.approx(R.roc(y, full.VBQ_C3.to_numpy()).auc, rel=1e-15)


def test_cli_diagnostic_joins_vbq_results_by_id(tmp_path):
    clin, vq, t, vbq = _dxa_study(tmp_path)
    out = tmp_path / "d"
    r = cli("cohort", "diagnostic", clin, "--id", "patient_id", "--vbq-results", vq, "--marker", "VBQ_overall",
            "--condition", "dxa_t_lumbar <= -2.5", "--correlate", "dxa_t_lumbar", "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "diagnostic.json").read_text(encoding="utf-8"))
    ok = np.arange(len(t)) < len(t) - 3
    assert res["roc"]["VBQ_overall"]["auc"] == pytest.approx(R.roc(t[ok] <= -2.5, vbq[ok]).auc, rel=1e-15)
    assert res["correlation"]["VBQ_overall vs dxa_t_lumbar"]["n"] == len(t) - 3
    bad = cli("cohort", "diagnostic", clin, "--vbq-results", vq, "--marker", "VBQ_overall", "--condition",
              "dxa_t_lumbar <= -2.5", "--out", tmp_path / "e", "--quiet")
    assert bad.returncode == 2 and "--vbq-results: give --id COL" in bad.stderr and not (tmp_path / "e").exists()
