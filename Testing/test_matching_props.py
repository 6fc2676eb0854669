"""Property tests of the matching invariants (hypothesis), optimal matching vs brute force, balance by hand."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from VBQCohortLib.balance import balance_table
from VBQCohortLib.matching import match
from VBQScoreLib.errors import VBQInputError


@st.composite
def cohorts(draw, max_n=40):
    n = draw(st.integers(6, max_n))
    treat = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    if sum(treat) == 0 or sum(treat) == n:
        treat[0], treat[1] = 1, 0
    x = draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))  # coarse values: many ties
    z = draw(st.lists(st.floats(-3, 3, allow_nan=False, width=32), min_size=n, max_size=n))
    sex = draw(st.lists(st.sampled_from(["F", "M"]), min_size=n, max_size=n))
    return pd.DataFrame({"id": [f"s{i}" for i in range(n)], "treat": treat, "x": x, "z": z, "sex": sex})


def run(df, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return match(df, "treat", ["x", "z"], id="id", **kw)
        except VBQInputError as exc:  # e.g. no subject matched inside a tiny caliper
            assert "no subjects could be matched" in str(exc) or "no stratum" in str(exc)
            return None


common = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@common
@given(df=cohorts(), ratio=st.integers(1, 3), caliper=st.sampled_from([None, 0.05, 0.2, 1.0]),
       order=st.sampled_from(["largest", "smallest", "data", "random"]), distance=st.sampled_from(["ps", "logit"]),
       exact=st.booleans())
def test_invariants_without_replacement(df, ratio, caliper, order, distance, exact):
    res = run(df, ratio=ratio, caliper=caliper, order=order, seed=3, distance=distance,
              exact=["sex"] if exact else None)
    if res is None:
        return
    used = [c for cs in res.pairs.values() for c in cs]
    assert len(used) == len(set(used))  # no control reused
    treat = res.treat
    sex = df.set_index("id")["sex"]
    for t, cs in res.pairs.items():
        assert treat[t] == 1 and all(treat[c] == 0 for c in cs)
        assert 1 <= len(cs) <= ratio
        if caliper is not None:
            sd = np.std(res.distance.to_numpy(), ddof=1)
            assert res.caliper == pytest.approx(caliper * sd)
            assert all(abs(res.distance[t] - res.distance[c]) <= res.caliper for c in cs)
        if exact:
            assert all(sex[c] == sex[t] for c in cs)
    n1, n0 = int((treat == 1).sum()), int((treat == 0).sum())
    if caliper is None and not exact and n0 >= ratio * n1:
        assert all(len(res.pairs.get(t, [])) == ratio for t in treat.index[treat == 1])
    # MatchIt weights: matched treated 1, control weights sum to the number of matched controls
    w = res.weights
    assert all(w[t] == 1 for t in res.pairs)
    assert w[treat == 0].sum() == pytest.approx(res.n_matched["control"])
    assert res.n_matched == {"treated": len(res.pairs), "control": len(set(used))}


@common
@given(df=cohorts(), ratio=st.integers(1, 3), caliper=st.sampled_from([None, 0.2]))
def test_invariants_with_replacement(df, ratio, caliper):
    res = run(df, ratio=ratio, caliper=caliper, replace=True)
    if res is None:
        return
    assert res.subclass is None
    n0 = int((res.treat == 0).sum())
    for t, cs in res.pairs.items():
        assert len(cs) == len(set(cs)) <= ratio  # a treated unit never takes the same control twice
        if caliper is None:
            assert len(cs) == min(ratio, n0)
        # with replacement each control is one of the ratio nearest controls of its treated unit
        d = res.distance
        ctrl_d = np.sort(np.abs(d[res.treat == 0].to_numpy() - d[t]))
        for c in cs:
            assert abs(d[c] - d[t]) <= ctrl_d[len(cs) - 1]


@common
@given(df=cohorts(), order=st.sampled_from(["largest", "smallest", "data"]))
def test_each_treated_gets_a_nearest_available_control(df, order):
    res = run(df, order=order)
    d = res.distance
    t_ids = list(res.treat.index[res.treat == 1])
    if order == "largest":
        t_ids = sorted(t_ids, key=lambda i: -d[i])  # stable: ties in data order
    elif order == "smallest":
        t_ids = sorted(t_ids, key=lambda i: d[i])
    available = set(res.treat.index[res.treat == 0])
    for t in t_ids:
        if not available:
            assert t not in res.pairs
            continue
        best = min(abs(d[c] - d[t]) for c in available)
        (c,) = res.pairs[t]
        assert abs(d[c] - d[t]) == best
        available.remove(c)


@common
@given(df=cohorts(), seed=st.integers(0, 2**31 - 1))
def test_random_order_is_deterministic_for_a_seed(df, seed):
    a = run(df, order="random", seed=seed)
    b = run(df, order="random", seed=seed)
    assert a.pairs == b.pairs
    assert a.weights.equals(b.weights)


def test_random_order_depends_on_seed():
    rng = np.random.default_rng(1)
    n = 300
    df = pd.DataFrame({"id": range(n), "treat": (rng.random(n) < 0.45).astype(int), "x": rng.normal(size=n),
                       "z": rng.normal(size=n)})
    pairs = {tuple((k, tuple(v)) for k, v in sorted(run(df, order="random", seed=s).pairs.items()))
             for s in range(4)}
    assert len(pairs) > 1


@settings(max_examples=40, deadline=None)
@given(d_t=st.lists(st.floats(0, 1), min_size=1, max_size=4), d_c=st.lists(st.floats(0, 1), min_size=4, max_size=6),
       ratio=st.integers(1, 2))
def test_optimal_total_distance_equals_brute_force(d_t, d_c, ratio):
    from VBQCohortLib.matching import _optimal_core

    if len(d_t) * ratio > len(d_c):
        ratio = 1
    dist = np.array(d_t + d_c)
    treat = np.array([1] * len(d_t) + [0] * len(d_c))
    mm = _optimal_core(dist, treat, ratio, np.zeros(len(dist), bool))
    got = sum(abs(dist[i] - dist[c]) for i, row in enumerate(mm) for c in row)
    assert all(len(row) == ratio for row in mm)
    used = [c for row in mm for c in row]
    assert len(used) == len(set(used))
    slots = [i for i in range(len(d_t)) for _ in range(ratio)]
    best = min(sum(abs(d_t[s] - d_c[c]) for s, c in zip(slots, perm))
               for perm in itertools.permutations(range(len(d_c)), len(slots)))
    assert got == pytest.approx(best, abs=1e-12)


def test_optimal_never_worse_than_greedy():
    rng = np.random.default_rng(7)
    n = 200
    df = pd.DataFrame({"id": range(n), "treat": (rng.random(n) < 0.3).astype(int), "x": rng.normal(size=n),
                       "z": rng.normal(size=n)})
    tot = {}
    for m in ("nearest", "optimal"):
        r = run(df, method=m)
        tot[m] = sum(abs(r.distance[t] - r.distance[c]) for t, cs in r.pairs.items() for c in cs)
        assert r.n_matched["treated"] == int(df.treat.sum())
    assert tot["optimal"] <= tot["nearest"] + 1e-12


def test_balance_by_hand():
    """SMD with the treated SD (n-1) of the unmatched sample; binary: sqrt(p(1-p)); var ratio; eCDF."""
    df = pd.DataFrame({"treat": [1, 1, 1, 0, 0, 0, 0], "x": [1.0, 2.0, 4.0, 1.0, 1.0, 2.0, 6.0],
                       "b": [1, 0, 1, 0, 0, 1, 0]})
    tab = balance_table(df, "treat", ["x", "b"])
    # x: treated mean 7/3, control mean 10/4; treated var = ((1-7/3)^2+(2-7/3)^2+(4-7/3)^2)/2 = 7/3
    assert tab.loc["x", "Means Treated"] == pytest.approx(7 / 3)
    assert tab.loc["x", "Means Control"] == pytest.approx(2.5)
    assert tab.loc["x", "Std. Mean Diff."] == pytest.approx((7 / 3 - 2.5) / np.sqrt(7 / 3))
    # control var: mean 2.5, ((1.5^2)*2 + 0.5^2 + 3.5^2)/3 = 17/3
    assert tab.loc["x", "Var. Ratio"] == pytest.approx((7 / 3) / (17 / 3))
    # eCDF: at 1: F1=1/3, F0=2/4 -> 1/6; at 2: 2/3 vs 3/4 -> 1/12; at 4: 1 vs 3/4 -> 1/4; at 6: 0
    assert tab.loc["x", "eCDF Mean"] == pytest.approx((1 / 6 + 1 / 12 + 1 / 4 + 0) / 4)
    assert tab.loc["x", "eCDF Max"] == pytest.approx(1 / 4)
    # b: p1 = 2/3, p0 = 1/4, SD = sqrt(p1 (1 - p1)) (no n-1)
    assert tab.loc["b", "Std. Mean Diff."] == pytest.approx((2 / 3 - 1 / 4) / np.sqrt(2 / 3 * 1 / 3))
    assert np.isnan(tab.loc["b", "Var. Ratio"])
    assert tab.loc["b", "eCDF Max"] == pytest.approx(2 / 3 - 1 / 4)
    # weighted (after matching): the SD stays the unmatched treated SD
    w = np.array([1, 1, 1, 1, 0, 2, 0], float)
    after = balance_table(df, "treat", ["x"], weights=w)
    mc = (1 * 1 + 2 * 2) / 3
    assert after.loc["x", "Means Control"] == pytest.approx(mc)
    assert after.loc["x", "Std. Mean Diff."] == pytest.approx((7 / 3 - mc) / np.sqrt(7 / 3))


def test_bad_arguments():
    df = pd.DataFrame({"id": range(6), "treat": [1, 0, 1, 0, 0, 0], "x": [1, 2, 3, 4, 5, 6.0]})
    for kw, text in [({"ratio": 0}, "ratio"), ({"caliper": -1}, "caliper"), ({"order": "big"}, "order"),
                     ({"distance": "mahalanobis"}, "distance"), ({"exact": ["nope"]}, "nope"),
                     ({"method": "optimal", "replace": True}, "optimal")]:
        with pytest.raises(VBQInputError, match=text):
            match(df, "treat", ["x"], id="id", **kw)
    with pytest.raises(VBQInputError, match="'y' not found"):
        match(df, "treat", ["y"], id="id")
    df2 = df.assign(id=[1, 1, 2, 3, 4, 5])
    with pytest.raises(VBQInputError, match="duplicate"):
        match(df2, "treat", ["x"], id="id")
    df3 = df.assign(x=[1, 2, None, 4, 5, 6])
    with pytest.raises(VBQInputError, match=r"'x' is missing in rows 4"):
        match(df3, "treat", ["x"], id="id")
