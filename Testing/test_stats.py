"""VBQCohortLib.stats: hand-computed values, exact distributions by brute force, R's method rule, properties,
input errors, JSON output. (Agreement with R itself: test_stats_r.py.)"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from VBQCohortLib import stats
from VBQScoreLib.errors import VBQInputError

# ------------------------------------------------------------------------------------------------ hand-computed

def test_ranksum_hand_example():
    r = stats.ranksum([1, 2, 3], [4, 5])
    # U of x = 0; exact two-sided p = 2 P(U <= 0) = 2 / C(5, 2) = 0.2
    assert r.W == 0 and r.p == pytest.approx(0.2, abs=1e-15) and r.exact
    assert r.method == "Wilcoxon rank sum exact test"
    assert r.rank_biserial == -1
    # pairwise differences x - y: -3 -4 -2 -3 -1 -2 -> median -2.5
    assert r.hl_shift == -2.5 and r.hl_median == -2.5
    assert r.n1 == 3 and r.n2 == 2 and r.z is None


def test_ranksum_normal_hand_z():
    x = [1, 2, 2, 3, 4, 5, 6, 7, 8, 9]
    y = [2, 3, 5, 7, 9, 10, 11, 12, 13, 14, 15]
    r = stats.ranksum(x, y)
    ranks = pd.Series(x + y).rank().to_numpy()
    W = ranks[:10].sum() - 55
    t = pd.Series(ranks).value_counts().to_numpy()
    sigma = math.sqrt(10 * 11 / 12 * ((22) - (t ** 3 - t).sum() / (21 * 20)))
    z = (W - 55 - np.sign(W - 55) * 0.5) / sigma
    assert r.W == W and r.z == pytest.approx(z, abs=1e-12)
    assert r.p == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), abs=1e-14)
    assert r.method == "Wilcoxon rank sum test with continuity correction" and not r.exact
    assert "cannot compute exact p-value with ties" in r.warnings


def test_ranksum_all_identical_gives_missing_p_not_an_exception():
    r = stats.ranksum([2.5, 2.5], [2.5])
    assert r.W == 1.0 and math.isnan(r.p) and r.to_dict()["p"] is None and r.hl_median == 0.0
    assert "undefined" in r.warnings[0]


def test_r_exact_rule():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=49), rng.normal(size=49) + 0.3
    assert stats.ranksum(a, b).exact
    assert not stats.ranksum(np.append(a, 5.5), b).exact  # n1 = 50 -> normal approximation
    assert stats.ranksum(np.append(a, 5.5), b).method == "Wilcoxon rank sum test with continuity correction"
    assert not stats.ranksum(a, b, correct=False, exact=False).exact
    assert stats.ranksum(a, b, correct=False, exact=False).method == "Wilcoxon rank sum test"
    d = rng.normal(size=49)
    assert stats.signed_rank(d, np.zeros(49)).exact
    assert not stats.signed_rank(np.append(d, 1.234), np.zeros(50)).exact


def test_signed_rank_hand_example():
    x = [5.0, 7.0, 3.0, 9.0, 4.0]
    y = [4.0, 5.0, 6.0, 5.0, 4.0]   # differences 1, 2, -3, 4, 0 -> zero dropped (R), n = 4
    r = stats.signed_rank(x, y)
    assert r.n == 4 and r.n_zero == 1 and r.n_pairs == 5
    assert r.V == 1 + 2 + 4  # ranks of |1|, |2|, |4|
    assert not r.exact and "cannot compute exact p-value with zeroes" in r.warnings
    sigma = math.sqrt(4 * 5 * 9 / 24)
    z = (7 - 5 - 0.5) / sigma
    assert r.p == pytest.approx(math.erfc(z / math.sqrt(2)), abs=1e-14)
    assert r.rank_biserial == pytest.approx(2 * 7 / 10 - 1)


def test_signed_rank_exact_hand():
    r = stats.signed_rank([1.5, 2.5, -0.5, 4.0], [0, 0, 0, 0])
    # |d| ranks: 0.5->1, 1.5->2, 2.5->3, 4->4; V = 2+3+4 = 9 of max 10; P(V >= 9) = 2/16 -> p = 0.25
    assert r.V == 9 and r.p == pytest.approx(0.25) and r.exact
    walsh = sorted((a + b) / 2 for a, b in itertools.combinations_with_replacement([1.5, 2.5, -0.5, 4.0], 2))
    assert r.pseudomedian == pytest.approx(np.median(walsh))


def test_signed_rank_missing_pairs_counted():
    x = [1.0, 2.0, np.nan, 4.0, 5.5, 3.2]
    y = [0.5, np.nan, 1.0, 1.0, 2.0, 3.0]
    r = stats.signed_rank(x, y)
    assert r.n_missing == 2 and r.n_pairs == 4


def test_kruskal_hand():
    r = stats.kruskal({"a": [1, 2, 3], "b": [4, 5, 6]})
    assert r.H == pytest.approx(27 / 7, abs=1e-12) and r.df == 1 and r.n == 6 and r.k == 2
    assert r.epsilon2 == pytest.approx(27 / 7 / 5)
    assert r.groups == ("a", "b")


def test_kruskal_drops_missing_and_empty_groups():
    r = stats.kruskal({"a": [1, 2, np.nan], "b": [4, 5, 6], "c": [np.nan, np.nan]})
    assert r.k == 2 and r.n == 5 and r.n_missing == 3 and r.groups == ("a", "b")


def test_friedman_hand():
    m = np.array([[1.0, 2.0, 3.0], [1.1, 2.2, 3.3], [0.5, 0.7, 0.9]])
    r = stats.friedman(m)
    assert r.chi2 == pytest.approx(6.0, abs=1e-12) and r.df == 2 and r.kendall_w == pytest.approx(1.0)
    assert r.p == pytest.approx(math.exp(-3.0), abs=1e-14)  # chi2(2) survival = exp(-x/2)


def test_friedman_incomplete_rows_counted():
    m = pd.DataFrame({"C2": [1.0, 2.0, np.nan, 3.0], "C3": [2.0, 1.0, 1.0, 4.0], "C4": [3.0, 3.0, 2.0, np.nan]})
    r = stats.friedman(m)
    assert r.n == 2 and r.n_incomplete == 2 and r.levels == ("C2", "C3", "C4")


def test_dunn_two_groups_z_squared_is_kruskal_h():
    rng = np.random.default_rng(3)
    a = np.round(rng.normal(2.8, 0.4, 30), 1)
    b = np.round(rng.normal(2.6, 0.4, 25), 1)  # rounded: ties
    d = stats.dunn({"a": a, "b": b})
    assert d.z.iloc[0] ** 2 == pytest.approx(stats.kruskal([a, b]).H, rel=1e-12)
    assert d.p.iloc[0] == pytest.approx(stats.kruskal([a, b]).p, rel=1e-10)
    assert list(d.columns) == ["group1", "group2", "n1", "n2", "mean_rank1", "mean_rank2", "z", "p", "p_adj"]


def test_dunn_hand():
    d = stats.dunn({"a": [1, 2, 3], "b": [4, 5, 6], "c": [7, 8, 9]}, p_adjust="bonferroni")
    s = math.sqrt(9 * 10 / 12 * (1 / 3 + 1 / 3))
    assert d.z.tolist() == pytest.approx([-3 / s, -6 / s, -3 / s])
    assert d.p_adj.tolist() == pytest.approx([min(1, 3 * p) for p in d.p])
    assert (d.group1 + d.group2).tolist() == ["ab", "ac", "bc"]


# ------------------------------------------------------------------------------------------------ internals

@pytest.mark.parametrize("m,n", [(1, 1), (2, 3), (3, 3), (4, 2), (5, 4)])
def test_wilcox_distribution_brute_force(m, n):
    counts = stats._wilcox_counts(m, n)
    brute = [0] * (m * n + 1)
    for xs in itertools.combinations(range(m + n), m):  # ranks of the first sample
        brute[sum(xs) + m - m * (m + 1) // 2] += 1
    assert counts == brute and sum(counts) == math.comb(m + n, m)


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_signrank_distribution_brute_force(n):
    counts = stats._signrank_counts(n)
    brute = [0] * (n * (n + 1) // 2 + 1)
    for signs in itertools.product([0, 1], repeat=n):
        brute[sum(i + 1 for i, s in enumerate(signs) if s)] += 1
    assert counts == brute


def test_zeroin_port():
    root = stats._zeroin(lambda x: x * x - 2, 0.0, 2.0, -2.0, 2.0, tol=1e-12)
    assert root == pytest.approx(math.sqrt(2), abs=1e-11)
    assert stats._zeroin(lambda x: x - 1, 1.0, 3.0, 0.0, 2.0) == 1.0  # root at an end point


def test_shapiro_agrees_with_scipy_to_its_precision():
    from scipy.stats import shapiro as sp

    x = np.random.default_rng(5).gamma(3, 1, 200)
    r, s = stats.shapiro(x), sp(x)
    assert abs(r.W - s.statistic) < 1e-6 and abs(r.p - s.pvalue) < 1e-5


# ------------------------------------------------------------------------------------------------ properties

finite = st.floats(min_value=-100, max_value=100, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=1, max_size=12), st.lists(finite, min_size=1, max_size=12))
def test_ranksum_swap_symmetry(x, y):
    if len(set(x + y)) == 1:
        return  # all tied: undefined
    a = stats.ranksum(x, y, conf_int=False)
    b = stats.ranksum(y, x, conf_int=False)
    assert a.W + b.W == pytest.approx(len(x) * len(y))
    assert a.p == pytest.approx(b.p, abs=1e-12)
    assert a.rank_biserial == pytest.approx(-b.rank_biserial)
    assert 0 <= a.p <= 1


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1, allow_nan=False), min_size=1, max_size=15),
       st.sampled_from(stats.P_ADJUST_METHODS))
def test_p_adjust_properties(p, method):
    adj = np.array(stats.p_adjust(np.array(p), method))
    assert np.all(adj >= np.array(p) - 1e-15) and np.all(adj <= 1)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(adj[order]) >= -1e-12)  # monotone in p (R semantics)


# ------------------------------------------------------------------------------------------ containers, JSON, errors

def test_p_adjust_containers_and_missing():
    assert stats.p_adjust([0.01, None, 0.04], "holm") == pytest.approx([0.02, None, 0.04])
    s = stats.p_adjust(pd.Series([0.01, 0.04], index=["C2", "C3"], name="p"), "bonferroni")
    assert s.index.tolist() == ["C2", "C3"] and s.tolist() == pytest.approx([0.02, 0.08])
    assert stats.p_adjust({"C2": 0.01, "C3": 0.04}, "BH") == pytest.approx({"C2": 0.02, "C3": 0.04})
    assert stats.p_adjust([0.03], "holm") == [0.03]
    with pytest.raises(VBQInputError, match="unknown p-value adjustment 'sidak'"):
        stats.p_adjust([0.1], "sidak")
    with pytest.raises(VBQInputError, match="between 0 and 1"):
        stats.p_adjust([1.2, 0.1], "holm")


def test_to_dict_json_safe_and_inputs_unmodified():
    x = np.array([2.1, 2.5, np.nan, 3.0, 2.7, 2.2])
    y = np.array([3.1, 2.9, 3.3, 3.8, 2.4])
    x0, y0 = x.copy(), y.copy()
    out = {
        "shapiro": stats.shapiro(x).to_dict(), "ranksum": stats.ranksum(x, y).to_dict(),
        "signed": stats.signed_rank(x[:5], y).to_dict(), "kruskal": stats.kruskal([x, y]).to_dict(),
        "friedman": stats.friedman(np.column_stack([x[:5], y, y + 0.1])).to_dict(),
    }
    text = json.dumps(out, allow_nan=False)
    assert '"W"' in text and '"H"' in text and '"chi2"' in text
    assert out["ranksum"]["n_missing"] == 1 and out["shapiro"]["n"] == 5
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)


@pytest.mark.parametrize("call,msg", [
    (lambda: stats.shapiro([1, 2]), "Shapiro-Wilk needs 3 to 5000 non-missing values, got 2"),
    (lambda: stats.shapiro([2, 2, 2, 2]), "all values are identical"),
    (lambda: stats.ranksum([], [1, 2]), "at least one value per group"),
    (lambda: stats.ranksum(["a", "b"], [1, 2]), "values must be numbers"),
    (lambda: stats.ranksum([1, 2], [3, 4], alternative="both"), "alternative must be"),
    (lambda: stats.signed_rank([1, 2], [1]), "same length"),
    (lambda: stats.kruskal({"a": [1, 2]}), "at least 2 non-empty groups"),
    (lambda: stats.kruskal([[1, 1], [1, 1]]), "all values are identical"),
    (lambda: stats.friedman([[1, 2, 3]]), "at least 2 subjects"),
    (lambda: stats.ranksum([1, np.inf], [2, 3]), "infinite"),
])
def test_input_errors(call, msg):
    with pytest.raises(VBQInputError, match=msg.replace("(", r"\(").replace(")", r"\)")) as ei:
        call()
    assert "\n" not in str(ei.value)


def test_kth_pairwise_difference_brute_force():
    rng = np.random.default_rng(0)
    for n1, n2 in [(1, 1), (5, 7), (30, 41)]:
        x, y = np.round(rng.normal(size=n1), 1), np.round(rng.normal(size=n2), 1)  # rounded: ties
        d = np.sort(np.subtract.outer(x, y).ravel())
        for k in {1, 2, d.size // 2, d.size // 2 + 1, d.size} & set(range(1, d.size + 1)):
            assert stats._kth_pairwise_diff(x, y, k) == d[k - 1]


def test_hl_median_large_samples_without_all_pairs():
    rng = np.random.default_rng(2)
    x, y = np.round(rng.normal(size=1500), 2), np.round(rng.normal(size=1401), 2)  # 2.1e6 pairs: memory-safe path
    assert x.size * y.size > 2_000_000
    assert stats._median_pairwise_diff(x, y) == np.median(np.subtract.outer(x, y))


def test_p_adjust_matches_statsmodels_on_random_vectors():
    """Our R-formula p.adjust (used instead of statsmodels for speed) equals statsmodels' multipletests."""
    from statsmodels.stats.multitest import multipletests

    from VBQCohortLib.stats import p_adjust

    rng = np.random.default_rng(7)
    names = {"holm": "holm", "hochberg": "simes-hochberg", "bonferroni": "bonferroni", "BH": "fdr_bh",
             "BY": "fdr_by"}
    for trial in range(8):
        n = int(rng.integers(2, 30))
        p = rng.uniform(0, 1, n) ** 3
        if trial % 4 == 0:
            p[: n // 2] = p[0]  # ties
        for ours, theirs in names.items():
            np.testing.assert_allclose(p_adjust(p, ours), multipletests(p, method=theirs)[1], rtol=1e-12, atol=0)
