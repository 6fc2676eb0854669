"""Table 1 (VBQCohortLib.publication.table1 / .contingency) against R 4.2: committed fixtures made by
Testing/r_reference/table1_reference.R (shapiro.test, t.test, wilcox.test, quantile type 7, chisq.test(correct =
FALSE), fisher.test incl. k x 2, the SMD and cobalt's weighted statistics by formula), and a live re-run of the
script when Rscript is installed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from r_compare import assert_same_json  # Testing/r_compare.py
from VBQCohortLib.publication import table1 as T
from VBQCohortLib.publication.contingency import chisq_test, fisher_test

RREF = Path(__file__).parent / "r_reference"
REL = 1e-10
COVARIATES = ["age", "bmi", "crp", "sex", "smoking", "rare", "steroid"]
VBQ = ["VBQ_C2", "VBQ_C3"]


def rel(a, b):
    assert a is not None and b is not None
    return abs(a - b) <= REL * max(abs(b), 1e-300)


def load(name):
    return json.loads((RREF / name).read_text(encoding="utf-8"))


def data(name):
    return pd.read_csv(RREF / f"table1_data_{name}.csv")


def run(name, **kw):
    d = data(name)
    return d, T.table1(d, d["group"].to_numpy(), COVARIATES, vbq=VBQ, overall="VBQ_overall", **kw)


@pytest.mark.parametrize("name", ["small", "large"])
def test_continuous_rows_equal_r(name):
    ref = load("table1_reference.json")[name]["continuous"]
    _, t1 = run(name)
    rows = {r["variable"]: r for r in t1["rows"]}
    chosen = set()
    for v, R in ref.items():
        row = rows[v]
        assert row["type"] == "continuous"
        assert [row["treated"]["n"], row["control"]["n"]] == R["n"]
        assert [row["missing"]["treated"], row["missing"]["control"]] == R["missing"]
        for i, g in enumerate(("treated", "control")):
            assert rel(row["normality"][g]["W"], R["shapiro_W"][i]) and rel(row["normality"][g]["p"], R["shapiro_p"][i])
        normal = min(R["shapiro_p"]) >= 0.05
        assert row["summary"] == ("mean_sd" if normal else "median_iqr"), v
        if normal:
            assert row["test"] == "welch_t" and rel(row["p"], R["t_p"]) and rel(row["statistic"], R["t"])
            assert rel(row["df"], R["t_df"])
            for i, g in enumerate(("treated", "control")):
                assert rel(row[g]["mean"], R["mean"][i]) and rel(row[g]["sd"], R["sd"][i])
        else:
            assert row["test"] == "wilcoxon" and rel(row["p"], R["wilcox_p"]) and row["statistic"] == R["wilcox_W"]
            for g, q in (("treated", R["q_treated"]), ("control", R["q_control"])):
                assert rel(row[g]["q1"], q[0]) and rel(row[g]["median"], q[1]) and rel(row[g]["q3"], q[2])
        assert rel(row["smd"], R["smd"])
        chosen.add(row["summary"])
    assert chosen == {"mean_sd", "median_iqr"}  # both branches exercised in each data set


@pytest.mark.parametrize("name", ["small", "large"])
def test_categorical_rows_equal_r(name):
    ref = load("table1_reference.json")[name]["categorical"]
    _, t1 = run(name)
    rows = {r["variable"]: r for r in t1["rows"]}
    tests = set()
    for v, R in ref.items():
        row = rows[v]
        assert row["type"] == "categorical" and row["summary"] == "n_pct"
        assert [lv["level"] for lv in row["levels"]] == R["levels"]  # spelled as in the spreadsheet
        assert [lv["treated"]["count"] for lv in row["levels"]] == R["treated"]
        assert [lv["control"]["count"] for lv in row["levels"]] == R["control"]
        for lv, c in zip(row["levels"], R["treated"]):
            assert lv["treated"]["percent"] == pytest.approx(100 * c / sum(R["treated"]), rel=1e-12)
        assert [row["missing"]["treated"], row["missing"]["control"]] == R["missing"]
        if R["min_expected"] >= 5:
            assert row["test"] == "chisq" and rel(row["p"], R["chisq_p"]) and rel(row["statistic"], R["chisq"])
            assert row["df"] == R["chisq_df"]
        else:
            assert row["test"] == "fisher" and rel(row["p"], R["fisher_p"]), (v, row["p"], R["fisher_p"])
        for lv, s in zip(row["levels"], R["smd"]):
            assert rel(lv["smd"], s)
        tests.add(row["test"])
    assert tests == {"chisq", "fisher"}


def exact_fisher(tab) -> float:
    """Fisher's p of a k x 2 table in exact integer arithmetic (an independent reference): one minus the
    tables more likely than the observed one (beyond R's relative tolerance 1e-7), over choose(N, n1)."""
    from fractions import Fraction
    from itertools import product
    from math import comb

    tab = [list(map(int, row)) for row in tab if sum(row) > 0]
    r = [sum(row) for row in tab]
    n1 = sum(row[0] for row in tab)
    p_obs = 1
    for row, ri in zip(tab, r):
        p_obs *= comb(ri, row[0])
    small, (ra, rb) = sorted(r)[:-2], sorted(r)[-2:]
    more_likely = 0
    for xs in product(*[range(ri + 1) for ri in small]):
        base = 1
        for ri, x in zip(small, xs):
            base *= comb(ri, x)
        m = n1 - sum(xs)
        lo, hi = max(0, m - rb), min(ra, m)
        if lo > hi:
            continue
        mode = min(max(((m + 1) * (ra + 1)) // (ra + rb + 2), lo), hi)
        # the split of the two largest levels is log-concave in x: walk out from the mode while more likely,
        # with exact ratio updates of base * choose(ra, x) * choose(rb, m - x)
        v0 = base * comb(ra, mode) * comb(rb, m - mode)
        x, v = mode, v0
        while x <= hi and v * 10 ** 7 > p_obs * (10 ** 7 + 1):
            more_likely += v
            if x < hi:
                v = v * (ra - x) * (m - x) // ((x + 1) * (rb - m + x + 1))
            x += 1
        x, v = mode - 1, None
        if x >= lo:
            v = v0 * (x + 1) * (rb - m + x + 1) // ((ra - x) * (m - x))
        while x >= lo and v * 10 ** 7 > p_obs * (10 ** 7 + 1):
            more_likely += v
            if x > lo:
                v = v * x * (rb - m + x) // ((ra - x + 1) * (m - x + 1))
            x -= 1
    total = comb(sum(r), n1)
    return float(Fraction(total - more_likely, total))


def test_fixed_tables_equal_r():
    for name, R in load("table1_fisher.json").items():
        tab = np.array(R["table"])
        exact = exact_fisher(tab)
        assert rel(fisher_test(tab).pvalue, exact), name
        if name == "t4x2_large":  # R's FEXACT is off by 4e-9 relative here (p = 1.6e-19); exact arithmetic decides
            assert abs(R["fisher_p"] - exact) <= 1e-8 * exact and abs(R["fisher_p"] - exact) > 1e-10 * exact
        else:
            assert rel(fisher_test(tab).pvalue, R["fisher_p"]), name
        if (tab.sum(axis=1) > 0).all():
            c = chisq_test(tab)
            assert rel(c.pvalue, R["chisq_p"]) and rel(c.statistic, R["chisq"]) and c.df == R["chisq_df"], name


def test_fisher_is_exact_where_scipy_samples():
    """scipy.stats.fisher_exact gives a Monte Carlo estimate for r x c; ours is R's exact value
    (R: fisher.test(matrix(c(1, 4, 2, 0, 3, 2), ncol = 2, byrow = TRUE)) -> 0.350649350649350)."""
    assert fisher_test([[1, 4], [2, 0], [3, 2]]).pvalue == pytest.approx(0.35064935064934971, rel=1e-12)


@pytest.mark.parametrize("name", ["small", "large"])
def test_weighted_statistics_equal_direct_computation(name):
    ref = load("table1_reference.json")[name]
    d, t1 = run(name, weights=data(name)["w"].to_numpy())
    assert t1["weighted"] is True and "p-values are not given" in t1["note"]
    rows = {r["variable"]: r for r in t1["rows"]}
    # a second, independent computation in Python (numpy's weighted average; unbiased reliability weights)
    for v, R in ref["continuous"].items():
        row = rows[v]
        assert row["summary"] == "mean_sd" and row["p"] is None and row["test"] is None
        for i, (g, gv) in enumerate((("treated", 1), ("control", 0))):
            assert rel(row[g]["mean"], R["weighted_mean"][i]) and rel(row[g]["sd"], R["weighted_sd"][i])
            ok = d[v].notna() & (d["w"] > 0) & (d["group"] == gv)
            x, w = d.loc[ok, v].to_numpy(), d.loc[ok, "w"].to_numpy()
            m = np.average(x, weights=w)
            v1, v2 = w.sum(), (w ** 2).sum()
            assert row[g]["mean"] == pytest.approx(m, rel=1e-12)
            assert row[g]["sd"] == pytest.approx(np.sqrt((w * (x - m) ** 2).sum() / (v1 - v2 / v1)), rel=1e-12)
            assert row[g]["n"] == R["weighted_n"][i]
    for v, R in ref["categorical"].items():
        row = rows[v]
        assert row["p"] is None
        for side in ("treated", "control"):
            assert [lv[side]["percent"] for lv in row["levels"]] == pytest.approx(R[f"weighted_percent_{side}"],
                                                                                  rel=1e-12)
    assert t1["n_control"] == int(((d["w"] > 0) & (d["group"] == 0)).sum())


@pytest.mark.r
def test_live_r_reproduces_fixtures(rscript, tmp_path):
    if rscript is None:
        pytest.skip("Rscript not installed (committed fixtures are still checked)")
    res = subprocess.run([rscript, str(RREF / "table1_reference.R"), str(tmp_path)], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    for f in ("table1_data_small.csv", "table1_data_large.csv"):
        assert (tmp_path / f).read_text(encoding="utf-8") == (RREF / f).read_text(encoding="utf-8"), f
    for f in ("table1_reference.json", "table1_fisher.json"):
        assert_same_json(json.loads((tmp_path / f).read_text(encoding="utf-8")),
                         json.loads((RREF / f).read_text(encoding="utf-8")), f)
