"""``vbq agreement`` on tables: the agreement.json layout of issue 10, the report folder, vbq batch tables per
reader, sessions, levels and the preset's overall, missing values, and the Koo & Li bands."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from helpers import RREF
from vbq_cli.main import main
from VBQCohortLib.agreement import run_agreement
from VBQCohortLib.agreement_data import read_long_table, read_reader_tables
from VBQCohortLib.agreement_stats import ICC_TYPES, icc, koo_li, koo_li_ci

ROW_KEYS = {"type", "icc", "F", "df1", "df2", "p", "lower", "upper", "n_cases", "n_raters"}
BA_KEYS = {"bias", "bias_ci_low", "bias_ci_high", "sd", "loa_low", "loa_high", "n"}


def test_cli_layout_and_report(tmp_path, capsys):
    out = tmp_path / "agr"
    assert main(["agreement", str(RREF / "agreement_data_retest.csv"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith("Report:") and "ICC(2,1)" in text and "Bland-Altman R1 vs R2" in text
    res = json.loads((out / "agreement.json").read_text(encoding="utf-8"))
    for rows in (res["icc"]["inter"]["overall"], res["icc"]["intra"]["R1"], res["icc"]["intra"]["R2"]):
        assert [r["type"] for r in rows] == list(ICC_TYPES) and all(ROW_KEYS <= set(r) for r in rows)
    assert res["icc"]["inter"]["levels"] == {}
    assert set(res["bland_altman"]) == {"R1 vs R2", "R1 session 1 vs R1 session 2", "R2 session 1 vs R2 session 2"}
    assert all(BA_KEYS <= set(b) for b in res["bland_altman"].values())
    assert res["design"]["inter_session"] == "1" and res["design"]["sessions"] == ["1", "2"]
    assert res["icc_forms"]["ICC2"]["shrout_fleiss"] == "ICC(2,1)" and "absolute agreement" in res["icc_forms"]["ICC2"][
        "question"]
    assert res["summary"][0].startswith("Inter-reader absolute agreement of the overall VBQ, ICC(2,1)")
    for name in ("icc_inter", "icc_intra", "icc_mcgraw_wong", "bland_altman", "bland_altman_points", "excluded"):
        assert (out / "tables" / f"{name}.csv").is_file(), name
    pts = pd.read_csv(out / "tables" / "bland_altman_points.csv")
    assert len(pts[pts.comparison == "R1 vs R2"]) == 30 and len(pts[pts.comparison.str.startswith("R1 session")]) == 20
    ex = pd.read_csv(out / "tables" / "excluded.csv", dtype=str)
    assert len(ex[(ex.kind == "intra") & (ex.reader == "R1")]) == 10 and set(ex["missing"]) == {"2"}
    for f in ("bland_altman_R1_vs_R2.png", "bland_altman_R1_vs_R2.svg"):
        assert (out / "figures" / f).stat().st_size > 1000
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 3 and "ICC(2,1)" in page and "Koo &amp; Li" in page
    assert "Intra-reader agreement" in page


def test_rerun_removes_files_of_the_previous_run(tmp_path, capsys):
    out = tmp_path / "agr"
    assert main(["agreement", str(RREF / "agreement_data_retest.csv"), "--out", str(out), "--quiet"]) == 0
    assert (out / "figures" / "bland_altman_R1_session_1_vs_R1_session_2.png").is_file()
    (out / "mine.txt").write_text("keep")
    assert main(["agreement", str(RREF / "agreement_data_two.csv"), "--out", str(out), "--quiet"]) == 0
    assert not (out / "figures" / "bland_altman_R1_session_1_vs_R1_session_2.png").exists()
    assert not (out / "tables" / "icc_intra.csv").exists() and (out / "tables" / "icc_inter.csv").is_file()
    assert (out / "mine.txt").read_text() == "keep"


def test_levels_and_preset_overall():
    d = read_long_table(RREF / "agreement_data_two.csv")
    assert d.levels == [f"C{i}" for i in range(2, 8)] and d.sessions == ["1"] and d.readers == ["R1", "R2"]
    res = run_agreement(d)
    assert res["design"]["overall"]["source"] == "aggregate" and res["design"]["overall"]["aggregate"] == "mean"
    # soliman2023: median of C3-C6
    res2 = run_agreement(d, preset="soliman2023")
    assert res2["design"]["overall"]["levels_used"] == ["C3", "C4", "C5", "C6"]
    f = d.frame
    sub = f[f.level.isin(["C3", "C4", "C5", "C6"])].dropna(subset=["value"])
    ov = sub.groupby(["case", "reader"])["value"].median().unstack("reader").loc[d.cases]
    r = icc(ov.to_numpy())
    assert res2["icc"]["inter"]["overall"][1]["icc"] == pytest.approx(r.row("ICC2")["icc"], rel=1e-14)
    # the per-level analyses do not depend on the preset
    assert res2["icc"]["inter"]["levels"] == res["icc"]["inter"]["levels"]


def test_overall_rows_and_xlsx_and_column_flags(tmp_path):
    t = pd.read_csv(RREF / "agreement_data_two.csv")
    t = t.rename(columns={"case_id": "patient", "reader": "observer", "level": "vertebra", "vbq": "VBQ"})
    t["vertebra"] = t["vertebra"].str.lower()  # 'c3' is C3
    path = tmp_path / "readings.xlsx"
    t.to_excel(path, index=False)
    d = read_long_table(path, case="patient", reader="observer", level="vertebra", value="VBQ")
    base = read_long_table(RREF / "agreement_data_two.csv")
    assert d.levels == base.levels and run_agreement(d)["icc"] == run_agreement(base)["icc"]
    # a table with 'overall' rows uses them as the overall VBQ
    ov = t.groupby(["patient", "observer"], as_index=False)["VBQ"].mean().assign(vertebra="overall")
    ov["VBQ"] = ov["VBQ"] + 1.0  # distinguishable from the aggregate
    d2 = read_long_table(pd.concat([t, ov], ignore_index=True).rename(index=lambda i: i + 2), case="patient",
                         reader="observer", level="vertebra", value="VBQ")
    r2 = run_agreement(d2)
    assert r2["design"]["overall"]["source"] == "table"
    assert r2["bland_altman"]["R1 vs R2"]["bias"] == pytest.approx(run_agreement(base)["bland_altman"]["R1 vs R2"][
        "bias"], abs=0.02)


def test_reader_tables_from_vbq_batch(tmp_path):
    """Three vbq batch tables (R1, R2, R1's re-read) give the same analyses as the equivalent long table."""
    long = pd.read_csv(RREF / "agreement_data_two.csv")
    paths = []
    for r in ("R1", "R2"):
        w = long[long.reader == r].pivot(index="case_id", columns="level", values="vbq")
        w.columns = [f"VBQ_{c}" for c in w.columns]
        w.insert(0, "status", "ok")
        p = tmp_path / f"{r}.csv"
        w.reset_index().to_csv(p, index=False)
        paths.append(f"{r}={p}")
    rr = long[long.reader == "R1"].copy()
    rng = np.random.default_rng(0)
    rr["vbq"] = np.round(rr["vbq"] + rng.normal(0, 0.03, len(rr)), 3)
    w = rr.pivot(index="case_id", columns="level", values="vbq")
    w.columns = [f"VBQ_{c}" for c in w.columns]
    w.iloc[:5].reset_index().to_csv(tmp_path / "R1b.csv", index=False)  # re-read of 5 cases
    paths.append(f"R1:2={tmp_path / 'R1b.csv'}")
    d = read_reader_tables(paths)
    assert d.readers == ["R1", "R2"] and d.sessions == ["1", "2"] and d.levels == [f"C{i}" for i in range(2, 8)]
    res = run_agreement(d)
    base = run_agreement(read_long_table(RREF / "agreement_data_two.csv"))
    for k in ("overall", "levels"):
        assert res["icc"]["inter"][k] == base["icc"]["inter"][k]
    assert res["icc"]["intra"]["R1"][1]["n_cases"] == 5 and "R2" not in res["icc"]["intra"]
    out = tmp_path / "agr"
    argv = ["agreement", "--out", str(out), "--quiet"]
    for p in paths:
        argv += ["--reader-table", p]
    assert main(argv) == 0
    assert json.loads((out / "agreement.json").read_text(encoding="utf-8"))["icc"]["intra"]["R1"][0]["n_cases"] == 5


def test_single_reader_test_retest_is_allowed():
    t = pd.read_csv(RREF / "agreement_data_retest.csv")
    d = read_long_table(t[t.reader == "R1"].rename(index=lambda i: i + 2))
    res = run_agreement(d)
    assert res["icc"]["inter"]["overall"] is None and res["icc"]["intra"]["R1"][1]["n_cases"] == 20


def test_too_few_complete_cases_is_said_not_hidden():
    t = pd.read_csv(RREF / "agreement_data_two.csv")
    t.loc[(t.level == "C7") & (t.case_id != "P01") & (t.reader == "R2"), "vbq"] = np.nan
    res = run_agreement(read_long_table(t.rename(index=lambda i: i + 2)))
    rows = res["icc"]["inter"]["levels"]["C7"]
    assert all(r["icc"] is None for r in rows) and rows[0]["n_cases"] == 1 and rows[0]["n_excluded"] == 39
    assert any("C7" in w and "at least 2 cases" in w for w in res["warnings"])


def test_koo_li_bands():
    assert [koo_li(v) for v in (0.2, 0.5, 0.74, 0.75, 0.9, 0.91)] == ["poor", "moderate", "moderate", "good", "good",
                                                                      "excellent"]
    assert koo_li_ci(0.83, 0.94) == "good to excellent" and koo_li_ci(0.8, 0.85) == "good" and koo_li(None) is None


def test_planted_reader_bias_is_recovered():
    """A simulated substudy: reader B reads 0.12 higher with noise SD 0.05; the Bland-Altman CI covers -0.12 and
    ICC(3,1) (consistency) exceeds ICC(2,1) (agreement), as a constant offset should make it."""
    rng = np.random.default_rng(11)
    n = 80
    truth = rng.normal(2.8, 0.35, n)
    rows = []
    for r, bias in (("A", 0.0), ("B", 0.12)):
        for i in range(n):
            rows.append({"case_id": f"c{i}", "reader": r, "vbq": truth[i] + bias + rng.normal(0, 0.05)})
    res = run_agreement(read_long_table(pd.DataFrame(rows).rename(index=lambda i: i + 2)))
    b = res["bland_altman"]["A vs B"]
    assert b["bias_ci_low"] < -0.12 < b["bias_ci_high"]
    rows = {r["type"]: r for r in res["icc"]["inter"]["overall"]}
    assert rows["ICC3"]["icc"] > rows["ICC2"]["icc"]


def test_large_table_gives_finite_numbers():
    """2,000 cases x 3 readers x 6 levels (the benchmark's code path, smaller): finite numbers everywhere."""
    rng = np.random.default_rng(2)
    n, readers, levels = 2000, ["R1", "R2", "R3"], [f"C{i}" for i in range(2, 8)]
    truth = rng.normal(2.8, 0.4, n)
    frames = [pd.DataFrame({"case_id": np.arange(n), "reader": r, "level": lv,
                            "vbq": truth + rng.normal(0, 0.1, n)}) for r in readers for lv in levels]
    t = pd.concat(frames, ignore_index=True).rename(index=lambda i: i + 2)
    res = run_agreement(read_long_table(t))
    assert all(r["icc"] is not None and np.isfinite(r["lower"]) for lv in res["icc"]["inter"]["levels"].values()
               for r in lv)
