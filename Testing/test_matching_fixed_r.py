"""Matching DEFAULT mode vs a *fixed* R MatchIt (>= 4.5.4), from committed fixtures.

The Debian MatchIt 4.5.1 installed here has two bugs fixed upstream (integer ``abs`` in nn_matchC_vec.cpp,
#163, fixed in 4.5.4; replace=TRUE with ratio > 1, #159, fixed in 4.5.3); ``compat="matchit-4.5.1"`` is checked
against it in test_matching_r.py. This file checks the default (corrected) algorithm against a real fixed
MatchIt: ``r_reference/matchit_fixed_<data>.json`` were written by
``Rscript r_reference/matchit_reference.R "" LIBDIR`` with MatchIt 4.5.5 built from kosukeimai/MatchIt
(commit 4cf6854) into a private library (see the header of the .R script). CI cannot build MatchIt, so only
the committed JSON is used here.

* End to end (our glm, then matching): the same propensity scores (1e-10), and for every deterministic setting
  the same match matrix (each treated unit's controls in the same order), weights, subclasses, caliper,
  sample-size table and every summary() balance number.
* Exception: genuine ties. Where a treated unit's left and right candidates lie at the same distance in exact
  arithmetic (synth_ties P062: age -4/+4 and bmi +2.5/-2.5 around it; Lalonde NSW71: age +10/-10 and educ
  -1/+1), which one is "nearer" is decided by the last bits of the fitted coefficients, and those depend on the
  BLAS kernels that numpy/scipy pick for the CPU (OpenBLAS' Haswell/Zen and SkylakeX kernels break these two
  ties in opposite ways). There either resolution is accepted, and only there: the algorithm is re-run on R's
  scores resolving each comparison whose two gaps agree to 1e-14 (relative to the distances) on BOTH our and
  R's scores either way; R's match matrix and ours must both be among those outcomes, and where ours equals
  R's, everything else must be identical too.
* With R's own distances (``ps17``/``logit17``: 17 significant digits, exact doubles; ``ps``/``logit`` keep
  only 15, not enough to break such ties like R) substituted for ours, the default algorithm reproduces fixed
  R exactly in ALL cases, ties included: the algorithm is the same, only floating-point ties can differ.

The newest MatchIt, 4.7.2 (``matchit_fixed_472_<data>.json``, same script with a TAG), rewrote the search
(nn_matchC_vec/find_control_vec) and the subclass numbering (mm2subclassC, #207/#208). Fed R's scores, we agree
with it on every match matrix without replacement (same order), numbering subclasses differently (same
pairs); with replacement the controls differ only among controls at exactly the same distance (4.7.2 breaks
such ties by the order of its left/right scan and returns equal-distance controls in a different order).
"""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pandas as pd
import pytest

import VBQCohortLib.propensity as propensity
from helpers import (
    DATASETS,
    RREF,
    assert_balance_equal,
    assert_same_as_r,
    listify,
    load_data,
    naive_match,
)
from VBQCohortLib.matching import match

TIE_REL = 1e-14  # two gaps closer than this (relative to the distances) are a floating-point tie

_FX: dict = {}


def fixed_fixture(name: str) -> dict:
    if name not in _FX:
        _FX[name] = json.loads((RREF / f"matchit_fixed_{name}.json").read_text(encoding="utf-8"))
    return _FX[name]


def old_fixture(name: str) -> dict:
    key = ("old", name)
    if key not in _FX:
        _FX[key] = json.loads((RREF / f"matchit_{name}.json").read_text(encoding="utf-8"))
    return _FX[key]


def run(fx: dict, data: pd.DataFrame, settings: dict):
    s = dict(settings)
    exact = listify(s.pop("exact"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return match(data, "treat", fx["covariates"], categorical=listify(fx["categorical"]), exact=exact, **s)


_E2E: dict = {}


def run_e2e(name: str, cname: str):
    if (name, cname) not in _E2E:
        fx = fixed_fixture(name)
        _E2E[(name, cname)] = run(fx, load_data(name), fx["cases"][cname]["settings"])
    return _E2E[(name, cname)]


def cases():
    return [pytest.param(name, cname, id=f"{name}-{cname}")
            for name in DATASETS for cname in fixed_fixture(name)["cases"]]


def _mm(res) -> dict:
    return {str(k): [str(x) for x in v] for k, v in res.match_matrix.items()}


def _version(v: str) -> tuple:
    return tuple(int(p) for p in v.split("."))


@pytest.mark.parametrize("name", DATASETS)
def test_fixture_is_from_fixed_matchit(name):
    fx = fixed_fixture(name)
    assert _version(fx["MatchIt"]) >= (4, 5, 4)
    assert old_fixture(name)["MatchIt"] == "4.5.1"
    # the propensity model is R's glm in both: bit-identical scores
    assert fx["ps"] == old_fixture(name)["ps"]
    assert fx["logit"] == old_fixture(name)["logit"]
    # every 4.5.1 setting was re-run with the fixed MatchIt
    assert set(old_fixture(name)["cases"]) <= set(fx["cases"])
    # the 17-digit exact doubles round to the 15-digit ones
    for k, v in fx["logit17"].items():
        assert float(v) == pytest.approx(fx["logit"][k], rel=1e-14, abs=1e-300)
        assert float(fx["ps17"][k]) == pytest.approx(fx["ps"][k], rel=1e-14, abs=1e-300)


@pytest.mark.parametrize("name", DATASETS)
def test_ps_equal_fixed_r(name):
    fx = fixed_fixture(name)
    d = load_data(name)
    res = run_e2e(name, "default")
    r_ps = np.array([fx["ps"][str(i)] for i in d.index])
    r_logit = np.array([fx["logit"][str(i)] for i in d.index])
    assert np.max(np.abs(res.ps.to_numpy() - r_ps)) < 1e-10
    assert np.max(np.abs(res.model.linear_predictor.to_numpy() - r_logit)) < 1e-9


def _r_distance(fx: dict, data: pd.DataFrame, kind: str) -> np.ndarray:
    """R's exact doubles (17 significant digits) of the distance matched on."""
    return np.array([float(fx["logit17" if kind == "logit" else "ps17"][str(i)]) for i in data.index])


def _gap_difference(dist: np.ndarray, u: int, a: int, b: int) -> tuple[float, float]:
    """(|gap to a| - |gap to b|, the tie tolerance) for unit u and candidates a, b."""
    return (abs(dist[a] - dist[u]) - abs(dist[b] - dist[u]),
            TIE_REL * max(abs(dist[u]), abs(dist[a]), abs(dist[b])))


def _is_float_tie(r_dist: np.ndarray, ours: np.ndarray, u: int, a: int, b: int) -> bool:
    """The two gaps agree to TIE_REL on both R's and our distances, but not bit for bit on both (an exact
    tie on both, e.g. candidates with identical covariates, is broken the same way, to the left, by both)."""
    (dr, tol_r), (do, tol_o) = _gap_difference(r_dist, u, a, b), _gap_difference(ours, u, a, b)
    return abs(dr) <= tol_r and abs(do) <= tol_o and not (dr == 0 and do == 0)


def tie_outcomes(res, settings: dict, data: pd.DataFrame, r_dist: np.ndarray, limit: int = 64):
    """Every match matrix MatchIt's algorithm (the naive reference, on R's distances) can give when each
    comparison that is a tie on both R's and our distances is resolved either way. Returns ({outcome as a
    frozen match matrix}, [(treated, left, right) ids of the ties met])."""
    ours = res.distance.to_numpy()
    ids = list(res.distance.index)
    outcomes, ties, stack = set(), set(), [()]
    while stack:
        forced = stack.pop()
        bits: list[int] = []

        def choose(u, a, b, k, bits=bits, forced=forced):  # called only within this iteration
            if not _is_float_tie(r_dist, ours, u, a, b):
                return k
            ties.add((ids[u], ids[a], ids[b]))
            i = len(bits)
            bits.append(forced[i] if i < len(forced) else 0)
            return k if bits[-1] == 0 else (b if k == a else a)

        mm = naive_match(res, settings, data, False, dist=r_dist, choose=choose)
        outcomes.add(_frozen(mm))
        stack.extend(tuple(bits[:i]) + (1,) for i in range(len(forced), len(bits)))
        assert len(outcomes) <= limit, "too many ties to enumerate"
    return outcomes, sorted(ties)


def _frozen(mm: dict) -> tuple:
    return tuple((str(t), tuple(map(str, cs))) for t, cs in mm.items() if cs)


@pytest.mark.parametrize("name,cname", cases())
def test_default_equals_fixed_r(name, cname):
    fx = fixed_fixture(name)
    c = fx["cases"][cname]
    res = run_e2e(name, cname)
    mm = _mm(res)
    if mm == c["match_matrix"]:
        assert_same_as_r(res, c)
        return
    # a different resolution of floating-point ties, and nothing else
    d = load_data(name)
    outcomes, ties = tie_outcomes(res, c["settings"], d, _r_distance(fx, d, c["settings"]["distance"]))
    assert ties, "differs from R without a tie"
    assert _frozen(c["match_matrix"]) in outcomes  # R took one resolution ...
    assert _frozen(mm) in outcomes  # ... and we another
    assert set(mm) == set(c["match_matrix"])
    assert res.caliper == pytest.approx(c["caliper"], rel=1e-12)
    # which controls (so their weights) may differ; the treated side and the totals may not
    for row, vals in c["nn"].items():
        for col, v in vals.items():
            if col == "Treated" or row in ("All (ESS)", "All", "Discarded"):
                assert res.sample_sizes.loc[row, col] == pytest.approx(v, rel=1e-12), (row, col)
    assert_balance_equal(res.balance_before, c["sum_all"])  # before matching: untouched by the tie


# the two ties in exact arithmetic that the fixtures meet: (data, case, treated, left, right, the covariate
# steps of left and right from the treated unit, equal and opposite)
EXACT_TIES = [
    ("synth_ties", "logit_caliper02", "P062", "P204", "P182", {"age": 4, "bmi": -2.5}),
    ("lalonde", "logit_replace_ratio2_caliper02", "NSW71", "PSID400", "PSID392", {"age": 10, "educ": -1}),
]


@pytest.mark.parametrize("name,cname,t,left,right,steps", EXACT_TIES, ids=[e[0] for e in EXACT_TIES])
def test_the_tie_is_a_real_tie(name, cname, t, left, right, steps):
    """The left and right candidates are equidistant in exact arithmetic (covariates step by equal and opposite
    amounts; everything else equal), both R's and our logits make the two gaps equal to a few ulp, and the
    tie enumeration finds exactly this tie; where R and we resolve it differently is then allowed."""
    fx = fixed_fixture(name)
    d = load_data(name)
    cov = fx["covariates"]
    for col, step in steps.items():
        assert d.loc[left, col] - d.loc[t, col] == d.loc[t, col] - d.loc[right, col] == step
    others = [col for col in cov if col not in steps]
    assert (d.loc[[t, left, right], others].nunique() == 1).all()
    r = {k: float(v) for k, v in fx["logit17"].items()}  # R's exact doubles
    res = run_e2e(name, cname)
    p = res.distance
    for dist in (r, p):
        assert dist[left] < dist[t] < dist[right]
        gl, gr = dist[t] - dist[left], dist[right] - dist[t]
        assert abs(gl - gr) <= 8 * abs(np.spacing(dist[t]))  # a few ulp of the logits
        assert abs(gl - gr) <= TIE_REL * abs(dist[t])
        assert gl > 1e3 * abs(np.spacing(dist[t]))  # and not a tie of nothing: the gaps themselves are real
    c = fx["cases"][cname]
    _, ties = tie_outcomes(res, c["settings"], d, _r_distance(fx, d, "logit"))
    assert (t, left, right) in ties
    # both resolutions of it occur among the cases: R's matrix and ours have the tie's two controls first
    assert {res.pairs[t][0], c["match_matrix"][t][0]} <= {left, right}


def test_tie_enumeration_rejects_a_non_tie():
    """The enumeration is not a loophole: a control swapped for one that is not tied with it is not among the
    outcomes (so test_default_equals_fixed_r would fail on it)."""
    name, cname = "lalonde", "logit_caliper02"
    fx = fixed_fixture(name)
    d = load_data(name)
    c = fx["cases"][cname]
    res = run_e2e(name, cname)
    outcomes, ties = tie_outcomes(res, c["settings"], d, _r_distance(fx, d, "logit"))
    assert ties == [] and outcomes == {_frozen(c["match_matrix"])}
    mm = {t: list(cs) for t, cs in c["match_matrix"].items()}
    a, b = [t for t, cs in mm.items() if cs][:2]
    mm[a], mm[b] = mm[b], mm[a]
    assert _frozen(mm) not in outcomes


@pytest.mark.parametrize("name,cname", cases())
def test_default_on_r_distances_equals_fixed_r(name, cname, monkeypatch):
    """Same algorithm: fed R's own propensity scores/logits bit for bit, every case is identical."""
    fx = fixed_fixture(name)
    c = fx["cases"][cname]
    d = load_data(name)
    r_ps = pd.Series([float(fx["ps17"][str(i)]) for i in d.index], index=d.index, name="ps")
    r_logit = pd.Series([float(fx["logit17"][str(i)]) for i in d.index], index=d.index, name="logit")
    real = propensity.estimate_ps

    def with_r_scores(*a, **k):
        return dataclasses.replace(real(*a, **k), ps=r_ps, linear_predictor=r_logit)

    monkeypatch.setattr(propensity, "estimate_ps", with_r_scores)
    res = run(fx, d, c["settings"])
    want = r_logit if c["settings"]["distance"] == "logit" else r_ps
    assert np.array_equal(res.distance.to_numpy(), want.to_numpy())  # the substitution took effect
    assert_same_as_r(res, c)


# --------------------------------------------------------------------------------------------------------
# what the fix changed in R itself (facts about the two R builds, so the fixtures cannot silently swap)


def _gaps(fx, c, kind):
    dist = fx["logit"] if kind == "logit" else fx["ps"]
    return [abs(dist[t] - dist[k]) for t, ks in c["match_matrix"].items() for k in ks]


def test_fixed_r_honours_calipers_451_does_not():
    fx, old = fixed_fixture("lalonde"), old_fixture("lalonde")
    for cname in ("caliper02", "caliper01", "raw_caliper005", "discard_control_caliper02"):
        c, o = fx["cases"][cname], old["cases"][cname]
        assert max(_gaps(fx, c, "ps")) <= c["caliper"]
        assert max(_gaps(old, o, "ps")) > o["caliper"]  # 4.5.1: |d| < 1 truncates to 0
        assert c["nn"]["Matched"]["Treated"] < o["nn"]["Matched"]["Treated"] == 185
    # all fixed-R matches within the caliper, in every case of every data set
    for name in DATASETS:
        f = fixed_fixture(name)
        for c in f["cases"].values():
            if c["caliper"] is not None:
                assert max(_gaps(f, c, c["settings"]["distance"])) <= c["caliper"]


def test_fixed_r_replace_ratio_takes_distinct_controls():
    for name in DATASETS:
        f = fixed_fixture(name)
        for cname, c in f["cases"].items():
            for ks in c["match_matrix"].values():
                assert len(set(ks)) == len(ks), (name, cname)
    # 4.5.1 did take the same control twice for one treated unit (#159)
    o = old_fixture("lalonde")["cases"]["replace_ratio2"]
    assert any(len(set(ks)) < len(ks) for ks in o["match_matrix"].values())


def test_agreement_between_r_builds():
    """Where the two R builds agree (no ties below 1 and no caliper involved), and that they mostly don't."""
    same = []
    for name in DATASETS:
        f, o = fixed_fixture(name), old_fixture(name)
        for cname, oc in o["cases"].items():
            if f["cases"][cname]["match_matrix"] == oc["match_matrix"]:
                same.append(f"{name}-{cname}")
    assert same == ["synth_few_controls-default", "synth_few_controls-ratio2"]


# --------------------------------------------------------------------------------------------------------
# MatchIt 4.7.2 (current CRAN): same algorithm up to ties between equally distant controls and subclass labels


def fixture_472(name: str) -> dict:
    key = ("472", name)
    if key not in _FX:
        _FX[key] = json.loads((RREF / f"matchit_fixed_472_{name}.json").read_text(encoding="utf-8"))
    return _FX[key]


def cases_472():
    return [pytest.param(name, cname, id=f"{name}-{cname}")
            for name in DATASETS for cname in fixture_472(name)["cases"]]


def _partition(sub: dict) -> list:
    groups: dict = {}
    for k, v in sub.items():
        groups.setdefault(v, set()).add(str(k))
    return sorted(sorted(g) for g in groups.values())


# replacement cases of synth_ties (many controls with identical covariates): 4.7.2 picks other controls at
# exactly the same distance, so the match sets (and weights, nn, balance) differ
TIE_SET_CASES_472 = {("synth_ties", "replace"), ("synth_ties", "replace_ratio2"),
                     ("synth_ties", "replace_ratio2_caliper01")}


def test_fixture_472_provenance():
    for name in DATASETS:
        fx = fixture_472(name)
        assert fx["MatchIt"] == "4.7.2"
        assert fx["ps17"] == fixed_fixture(name)["ps17"] and fx["logit17"] == fixed_fixture(name)["logit17"]
        assert set(fx["cases"]) == set(fixed_fixture(name)["cases"])


@pytest.mark.parametrize("name,cname", cases_472())
def test_default_vs_matchit_472(name, cname, monkeypatch):
    fx = fixture_472(name)
    c = fx["cases"][cname]
    d = load_data(name)
    r_ps = pd.Series([float(fx["ps17"][str(i)]) for i in d.index], index=d.index, name="ps")
    r_logit = pd.Series([float(fx["logit17"][str(i)]) for i in d.index], index=d.index, name="logit")
    real = propensity.estimate_ps
    monkeypatch.setattr(propensity, "estimate_ps", lambda *a, **k: dataclasses.replace(
        real(*a, **k), ps=r_ps, linear_predictor=r_logit))
    res = run(fx, d, c["settings"])
    dist = r_logit if c["settings"]["distance"] == "logit" else r_ps
    assert np.array_equal(res.distance.to_numpy(), dist.to_numpy())
    mm = _mm(res)
    assert set(mm) == set(c["match_matrix"])
    # every treated unit gets controls at exactly the same distances as in R
    for t, ks in c["match_matrix"].items():
        assert sorted(dist[k] for k in mm[t]) == sorted(dist[k] for k in ks), t
    if not c["settings"]["replace"]:
        assert mm == c["match_matrix"]
        assert _partition({str(k): int(v) for k, v in res.subclass.dropna().items()}) == _partition(c["subclass"])
        assert c["subclass"] != {str(k): int(v) for k, v in res.subclass.dropna().items()}  # 4.5.x labels
        c = dict(c, subclass=None)
        res.subclass = None
    elif (name, cname) in TIE_SET_CASES_472:
        assert any(sorted(mm[t]) != sorted(ks) for t, ks in c["match_matrix"].items())
        return
    else:
        assert all(sorted(mm[t]) == sorted(ks) for t, ks in c["match_matrix"].items())
        c = dict(c, match_matrix=mm)  # same controls, possibly in another order among equal distances
    assert_same_as_r(res, c)
