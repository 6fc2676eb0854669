"""VBQCohortLib.logistic: separation detection, pseudo-R² by hand from R's log-likelihoods, exclusions, errors.
(Coefficients/SE/p/CI against R's glm: test_stats_r.py.)"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from helpers import RREF, r_json
from VBQCohortLib.logistic import detect_separation, fit_logistic
from VBQScoreLib.errors import VBQInputError


def test_pseudo_r2_from_r_loglik():
    ref = r_json("stats_glm.json")["cohort_mle"]
    d = pd.read_csv(RREF / "stats_data_logistic.csv")
    r = fit_logistic(d, "opll", ["age", "bmi", "hypertension", "smoking"], reference={"smoking": "never"})
    n, ll, ll0 = ref["n"], ref["loglik"], -ref["null_deviance"] / 2
    cs = 1 - math.exp(2 * (ll0 - ll) / n)
    assert r.loglik == pytest.approx(ll, rel=1e-9)
    assert r.pseudo_r2 == pytest.approx(1 - ll / ll0, rel=1e-8)
    assert r.cox_snell == pytest.approx(cs, rel=1e-8)
    assert r.nagelkerke == pytest.approx(cs / (1 - math.exp(2 * ll0 / n)), rel=1e-8)
    assert r.n_events == int(d.dropna().opll.sum())
    assert r.reference_levels == {"smoking": "never"}


def test_odds_ratio_and_ci_consistent():
    d = pd.read_csv(RREF / "stats_data_mtcars.csv")
    r = fit_logistic(d, "am", ["hp", "wt"])
    for t in r.terms.values():
        assert t["odds_ratio"] == pytest.approx(math.exp(t["coef"]))
        assert t["ci_low"] == pytest.approx(math.exp(t["coef"] - 1.959963984540054 * t["se"]))
        assert t["ci_high"] == pytest.approx(math.exp(t["coef_ci_high"]))
        assert t["ci_low"] < t["odds_ratio"] < t["ci_high"]
    json.dumps(r.to_dict(), allow_nan=False)
    assert list(r.table().term) == ["(Intercept)", "hp", "wt"]


def test_default_reference_is_r_first_sorted_level():
    d = pd.read_csv(RREF / "stats_data_logistic.csv")
    r = fit_logistic(d, "opll", ["age", "smoking"])
    assert r.reference_levels == {"smoking": "current"}
    # R's names: <column><level> (model.matrix), not patsy's smoking[T.former]
    assert list(r.terms) == ["(Intercept)", "age", "smokingformer", "smokingnever"]
    assert r.term_levels["smokingnever"] == {"column": "smoking", "level": "never", "reference": "current"}


def test_complete_separation_single_variable_never_raises():
    d = pd.DataFrame({"y": [0, 0, 0, 0, 1, 1, 1, 1, 0, 1],
                      "bmi": [21, 22, 23, 24, 31, 32, 33, 34, 22.5, 30.5],
                      "htn": [1, 0, 1, 0, 1, 0, 0, 1, 1, 1]})
    r = fit_logistic(d, "y", ["bmi", "htn"])
    assert r.separation["type"] == "complete" and r.separation["variables"] == ["bmi"]
    assert r.separation["n_separated"] == 10
    assert any("complete separation" in w and "bmi" in w for w in r.warnings)
    assert r.terms["bmi"]["se"] > 10  # diverging estimate, as R's glm returns it


def test_quasi_complete_separation_on_a_dummy():
    d = pd.DataFrame({"y": [0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1],
                      "age": [50, 52, 63, 54, 54, 66, 57, 68, 52.5, 66.5, 53, 51],
                      "smoking": list("aabbbbccacba")})
    d.loc[d.smoking == "c", "y"] = 1  # every current smoker is a case
    r = fit_logistic(d, "y", ["age", "smoking"])
    assert r.separation["type"] == "quasi-complete"
    assert r.separation["variables"] == ["smokingc"]
    assert r.separation["n_separated"] == int((d.smoking == "c").sum())


def test_multivariable_separation_found_by_lp():
    # neither x1 nor x2 separates alone; x1 + x2 > 0 does
    x1 = np.array([-2.0, -1.0, 0.5, 1.5, -0.5, 2.0, 1.0, -1.5])
    x2 = np.array([1.0, 0.5, -1.0, -2.0, 1.0, -1.0, 0.5, 2.0])
    y = (x1 + x2 > 0).astype(float)
    assert 0 < y.sum() < 8
    r = fit_logistic(pd.DataFrame({"y": y, "x1": x1, "x2": x2}), "y", ["x1", "x2"])
    assert r.separation["type"] == "complete"
    assert set(r.separation["variables"]) == {"x1", "x2"}


def test_no_separation_on_overlapping_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    y = (rng.uniform(size=200) < 1 / (1 + np.exp(-x))).astype(int)
    X = np.column_stack([np.ones(200), x])
    assert detect_separation(X, y, ["(Intercept)", "x"]) is None
    r = fit_logistic(pd.DataFrame({"y": y, "x": x}), "y", ["x"])
    assert r.separation is None and r.converged and not r.warnings


def test_exclusions_recorded_and_input_unmodified():
    d = pd.DataFrame({"g": ["OPLL", "CSM", "OPLL", None, "CSM", "OPLL", "CSM", "OPLL", "CSM", "CSM"],
                      "bmi": [25.0, np.nan, 27.0, 26.0, 24.0, 29.0, 23.0, 26.5, 25.5, 28.0],
                      "sex": [1, 0, 1, 1, 0, 0, 1, 0, 1, 0]}, index=range(2, 12))
    before = d.copy()
    r = fit_logistic(d, "g", ["bmi", "sex"])
    pd.testing.assert_frame_equal(d, before)
    assert r.n == 8 and r.n_excluded == 2
    assert sorted((e["row"], e["reason"]) for e in r.excluded) == [(3, "missing bmi"), (5, "missing g")]
    # two text labels: the second in sorted order ("OPLL") is the event, like an R factor
    assert r.n_events == 4


@pytest.mark.parametrize("frame,args,msg", [
    ({"y": [0, 1, 0, 1], "x": [1, 2, 3, 4]}, ("y", ["z"]), "column(s) 'z' not in the data"),
    ({"y": [0, 1, 2, 1], "x": [1, 2, 3, 4]}, ("y", ["x"]), "outcome column 'y' must be 0/1 (found 2.0)"),
    ({"y": ["a", "b", "c", "a"], "x": [1, 2, 3, 4]}, ("y", ["x"]), "must have exactly two values, found 3"),
    ({"y": [0, 0, 0, 0], "x": [1, 2, 3, 4]}, ("y", ["x"]), "has only non-events (0) among the 4 complete rows"),
    ({"y": [0, 1, 0, 1, 1], "x": [2, 2, 2, 2, 2]}, ("y", ["x"]), "predictor 'x' is constant"),
    ({"y": [0, 1, 0, 1, 1, 0], "a": [1, 2, 3, 4, 5, 6], "b": [2, 4, 6, 8, 10, 12]}, ("y", ["a", "b"]),
     "predictor term 'b' is collinear"),
    ({"y": [0, 1], "x": [1, 2]}, ("y", []), "at least one predictor"),
])
def test_errors(frame, args, msg):
    with pytest.raises(VBQInputError) as ei:
        fit_logistic(pd.DataFrame(frame), *args)
    assert msg in str(ei.value) and "\n" not in str(ei.value)
