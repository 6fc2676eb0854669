"""Reader agreement against R: psych::ICC(x, lmer = FALSE) on complete cases (committed fixtures from
Testing/r_reference/agreement_reference.R, re-run live when Rscript with psych is installed), irr::icc's
McGraw-Wong forms, Bland-Altman by base R, and published values (Shrout & Fleiss 1979; Bland & Altman 1986)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from helpers import RREF, r_json, run_rscript
from r_compare import assert_same_json  # Testing/r_compare.py
from VBQCohortLib.agreement import run_agreement
from VBQCohortLib.agreement_data import read_long_table
from VBQCohortLib.agreement_stats import ICC_TYPES, bland_altman, icc, icc_mcgraw_wong

REL = 1e-10
ICC_KEYS = ("icc", "F", "df1", "df2", "p", "lower", "upper")
BA_KEYS = ("bias", "bias_ci_low", "bias_ci_high", "sd", "loa_low", "loa_high", "loa_low_ci_low", "loa_low_ci_high",
           "loa_high_ci_low", "loa_high_ci_high", "prop_bias_slope", "prop_bias_intercept", "prop_bias_slope_ci_low",
           "prop_bias_slope_ci_high", "prop_bias_p")

# Shrout & Fleiss (1979), Table 2 data (6 targets x 4 judges) and Table 4 estimates (two decimals as printed)
SF_DATA = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)
SF_TABLE4 = {"ICC1": 0.17, "ICC2": 0.29, "ICC3": 0.71, "ICC1k": 0.44, "ICC2k": 0.62, "ICC3k": 0.91}
# Bland & Altman (1986) Lancet i:307-310, Table 1: PEFR (l/min), Wright vs mini Wright meter, first readings
PEFR_WRIGHT = [494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267, 478, 178, 423, 427]
PEFR_MINI = [512, 430, 520, 428, 500, 600, 364, 380, 658, 445, 432, 626, 260, 477, 259, 350, 451]


def rel_close(a, b, tol=REL):
    if b is None:
        return a is None
    return a is not None and abs(a - b) <= tol * max(abs(b), 1e-300)


def assert_rows(ours, ref, what):
    assert [r["type"] for r in ours] == list(ICC_TYPES) == [r["type"] for r in ref["rows"]], what
    for a, b in zip(ours, ref["rows"]):
        for k in ICC_KEYS:
            assert rel_close(a[k], b[k]), f"{what} {a['type']} {k}: {a[k]!r} vs R {b[k]!r}"
        assert a["n_cases"] == ref["n_obs"] and a["n_raters"] == ref["n_judge"], what
        assert a["n_excluded"] == ref["n_excluded"], what


@pytest.fixture(scope="module")
def ref():
    return r_json("agreement_psych.json")


@pytest.fixture(scope="module")
def runs():
    return {name: run_agreement(read_long_table(RREF / f"agreement_data_{name}.csv"))
            for name in ("two", "five", "retest", "sf1979")}


# ------------------------------------------------------------------------------------------------ published values

def test_shrout_fleiss_1979_table4():
    r = icc(SF_DATA)
    for t, v in SF_TABLE4.items():
        assert round(r.row(t)["icc"], 2) == v, t
    # F tests in the paper: BMS/WMS = 1.79 (one-way), BMS/EMS = 11.03 (two-way)
    assert round(r.row("ICC1")["F"], 2) == 1.79 and round(r.row("ICC2")["F"], 2) == 11.03
    assert (r.row("ICC1")["df1"], r.row("ICC1")["df2"], r.row("ICC3")["df2"]) == (5, 18, 15)


def test_bland_altman_1986_pefr_published():
    """The Lancet paper's numbers (with its 2 SD limits): bias -2.1, SD 38.8, limits -79.7 and 75.5 l/min;
    95% CI of the bias -22.0 to 17.8; of the lower limit -114.3 to -45.1, of the upper 40.9 to 110.1."""
    from scipy import stats

    b = bland_altman(PEFR_WRIGHT, PEFR_MINI, loa_z=2.0)
    assert (round(b.bias, 1), round(b.sd, 1), b.n) == (-2.1, 38.8, 17)
    assert (round(b.bias_ci_low, 1), round(b.bias_ci_high, 1)) == (-22.0, 17.8)
    t = stats.t.ppf(0.975, 16)
    se_limit = (b.loa_low_ci_high - b.loa_low) / t
    assert (round(t, 2), round(se_limit, 1)) == (2.12, 16.3)  # the paper: t = 2.12, SE of a limit 16.3
    # the paper forms the limits and their CIs from the rounded -2.1, 38.8, 2.12, 16.3: within that rounding
    for ours, paper in ((b.loa_low, -79.7), (b.loa_high, 75.5), (b.loa_low_ci_low, -114.3),
                        (b.loa_low_ci_high, -45.1), (b.loa_high_ci_low, 40.9), (b.loa_high_ci_high, 110.1)):
        assert abs(ours - paper) < 0.2, (ours, paper)


def test_bland_altman_independent_libraries():
    """Bias CI = scipy's one-sample t interval; proportional-bias slope and p = statsmodels OLS."""
    import statsmodels.api as sm
    from scipy import stats

    rng = np.random.default_rng(4)
    a = rng.normal(2.8, 0.4, 50)
    b = a + 0.05 + 0.1 * (a - 2.8) + rng.normal(0, 0.08, 50)
    r = bland_altman(a, b)
    ci = stats.ttest_1samp(a - b, 0).confidence_interval()
    assert r.bias_ci_low == pytest.approx(ci.low, rel=1e-12) and r.bias_ci_high == pytest.approx(ci.high, rel=1e-12)
    fit = sm.OLS(a - b, sm.add_constant((a + b) / 2)).fit()
    assert r.prop_bias_slope == pytest.approx(fit.params[1], rel=1e-10)
    assert r.prop_bias_p == pytest.approx(fit.pvalues[1], rel=1e-8)
    lo, hi = fit.conf_int()[1]
    assert (r.prop_bias_slope_ci_low, r.prop_bias_slope_ci_high) == (pytest.approx(lo, rel=1e-10),
                                                                     pytest.approx(hi, rel=1e-10))
    assert r.prop_bias_p < 0.01  # the planted proportional bias (slope -0.1) is found
    assert r.loa_high - r.loa_low == pytest.approx(2 * 1.96 * np.std(a - b, ddof=1), rel=1e-12)


# ------------------------------------------------------------------------------------------------ psych fixtures

@pytest.mark.parametrize("name", ["two", "five", "retest", "sf1979"])
def test_inter_reader_overall_equals_psych(name, ref, runs):
    assert_rows(runs[name]["icc"]["inter"]["overall"], ref[name]["overall"], f"{name} overall")


@pytest.mark.parametrize("name", ["two", "five"])
def test_inter_reader_levels_equal_psych(name, ref, runs):
    levels = runs[name]["icc"]["inter"]["levels"]
    assert list(levels) == [f"C{i}" for i in range(2, 8)]
    for lv, r in ref[name]["levels"].items():
        assert_rows(levels[lv], r, f"{name} {lv}")


def test_missing_values_are_counted_not_dropped_silently(ref, runs):
    five = runs["five"]
    for lv, r in ref["five"]["levels"].items():
        m = five["missing"]["inter"]["levels"][lv]
        assert m["n_excluded"] == r["n_excluded"] > 0 and m["n_cases_used"] == r["n_obs"]
        assert len(m["excluded"]) == m["n_excluded"] and all(e["missing"] for e in m["excluded"])
    assert five["design"]["n_missing_values"] == 25
    two = runs["two"]
    assert sum(m["n_excluded"] for m in two["missing"]["inter"]["levels"].values()) == 3


def test_intra_reader_equals_psych(ref, runs):
    intra = runs["retest"]["icc"]["intra"]
    assert set(intra) == {"R1", "R2"}
    for r, v in ref["retest"]["intra"].items():
        assert_rows(intra[r], v, f"retest intra {r}")
    assert intra["R1"][0]["n_cases"] == 20 and intra["R2"][0]["n_cases"] == 24
    assert runs["retest"]["missing"]["intra"]["R1"]["n_excluded"] == 10


@pytest.mark.parametrize("name", ["two", "five", "retest"])
def test_bland_altman_equals_base_r(name, ref, runs):
    ours = runs[name]["bland_altman"]
    assert set(ours) == set(ref[name]["bland_altman"])
    for k, v in ref[name]["bland_altman"].items():
        assert ours[k]["n"] == v["n"], k
        for key in BA_KEYS:
            assert rel_close(ours[k][key], v[key], 1e-9), f"{name} {k} {key}"


def test_bland_altman_pefr_equals_base_r(ref):
    b = bland_altman(PEFR_WRIGHT, PEFR_MINI).to_dict()
    for key in BA_KEYS:
        assert rel_close(b[key], ref["pefr"][key], 1e-9), key


# ------------------------------------------------------------------------------------------------ irr (McGraw-Wong)

def test_mcgraw_wong_forms_equal_irr():
    """irr 0.84.1: the same ICC values; the same CIs except irr's own ICC(A,k) formula (given as irr_lower/upper);
    the twoway agreement F test with irr's Satterthwaite df2."""
    irr = r_json("agreement_irr.json")
    mats = {"sf1979": SF_DATA,
            }
    anx = [[3, 3, 2], [3, 6, 1], [3, 4, 4], [4, 6, 4], [5, 2, 3], [5, 4, 2], [2, 2, 1], [3, 4, 6], [5, 3, 1],
           [2, 3, 1], [2, 2, 1], [6, 3, 2], [1, 3, 3], [5, 3, 3], [2, 2, 1], [2, 2, 1], [1, 1, 3], [2, 3, 3],
           [4, 3, 2], [3, 4, 2]]
    mats["anxiety"] = np.array(anx, float)
    two = read_long_table(RREF / "agreement_data_two.csv")
    five = read_long_table(RREF / "agreement_data_five.csv")
    for name, res in (("sf1979", icc(mats["sf1979"])), ("anxiety", icc(mats["anxiety"])),
                      ("two_overall", None), ("five_overall", None)):
        if res is None:
            data = two if name == "two_overall" else five
            rows = run_agreement(data)["icc_mcgraw_wong"]["inter"]["overall"]
        else:
            rows = icc_mcgraw_wong(res)
        for ours, theirs in zip(rows, irr[name]):
            assert ours["name"] == theirs["name"] and ours["form"] == theirs["form"], name
            for k in ("icc", "F", "df1", "df2", "p"):
                assert rel_close(ours[k], theirs[k]), f"{name} {ours['name']} {k}"
            if ours["psych_type"] == "ICC2k":
                assert rel_close(ours["irr_lower"], theirs["lower"]) and rel_close(ours["irr_upper"], theirs["upper"])
                assert not rel_close(ours["lower"], theirs["lower"], 1e-6)  # irr: another formula
            else:
                assert rel_close(ours["lower"], theirs["lower"]) and rel_close(ours["upper"], theirs["upper"])
    # irr's printed example (?icc): ICC(A,1) = 0.198, F(19,39.7) = 1.83, p = 0.0543, CI -0.039 to 0.494
    r = icc_mcgraw_wong(icc(mats["anxiety"]), "twoway agreement single")
    assert (round(r["icc"], 3), round(r["df2"], 1), round(r["F"], 2), round(r["p"], 4)) == (0.198, 39.7, 1.83, 0.0543)
    assert (round(r["lower"], 3), round(r["upper"], 3)) == (-0.039, 0.494)


def test_icc_degenerate_inputs():
    r = icc(np.array([[1.0, 2.0], [np.nan, 3.0]]))
    assert r.n_cases == 1 and r.n_excluded == 1 and r.note and all(x["icc"] is None for x in r.rows)
    same = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    r = icc(same)  # perfect agreement: ICC 1, F infinite (JSON null), as psych gives 1 and Inf
    assert r.row("ICC2")["icc"] == 1.0 and r.row("ICC2")["F"] is None and r.row("ICC2")["p"] == 0.0
    assert all(math.isfinite(x["icc"]) for x in r.rows)


def test_vectorised_equals_one_by_one():
    from VBQCohortLib.agreement_stats import icc_arrays

    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 30, 4)) + rng.normal(size=(7, 30, 1))
    a = icc_arrays(x)
    for i in range(7):
        r = icc(x[i])
        for j, t in enumerate(ICC_TYPES):
            assert r.row(t)["icc"] == a["icc"][i, j] and r.row(t)["upper"] == a["upper"][i, j]


# ------------------------------------------------------------------------------------------------ live R

@pytest.mark.r
def test_live_r_reproduces_fixtures(rscript, tmp_path):
    """Re-run the committed R script (psych part; irr when installed) and compare with the committed files."""
    if rscript is None:
        pytest.skip("Rscript not installed (committed fixtures are still checked)")
    res = run_rscript(rscript, RREF / "agreement_reference.R", tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr
    for f in sorted(RREF.glob("agreement_data_*.csv")):
        assert (tmp_path / f.name).read_text(encoding="utf-8") == f.read_text(encoding="utf-8"), f.name

    names = ["agreement_psych.json"] + (["agreement_irr.json"] if (tmp_path / "agreement_irr.json").exists() else [])
    for name in names:
        assert_same_json(json.loads((tmp_path / name).read_text(encoding="utf-8")), r_json(name), name)
