"""Tests of a k x 2 contingency table (k levels of a categorical variable x two groups), equal to R.

* :func:`chisq_test` - Pearson's chi-squared test without continuity correction, R ``chisq.test(tab,
  correct = FALSE)``: ``X2 = sum((O - E)^2 / E)``, ``df = (k - 1)``, ``p = pchisq(X2, df, lower = FALSE)``.
* :func:`fisher_test` - Fisher's exact test, R ``fisher.test(tab)`` for 2 x 2 and for k x 2 tables (R's
  r x c network algorithm FEXACT): the sum of the probabilities of all tables with the observed margins whose
  probability is at most the observed table's (relative tolerance ``1 + 1e-7``, as R).

Why hand-written: ``scipy.stats.fisher_exact`` (1.17) is exact only for 2 x 2 tables; for larger tables it
returns a Monte Carlo estimate (0.3501 where R gives 0.350649...). Here the exact sum is computed by a small
network algorithm in the spirit of FEXACT (Mehta & Patel 1983): the table is built level by level, a node is
(level, treated count still to place), and each node knows the largest and smallest probability of the rest of
the table and the total probability of all its completions (Vandermonde: ``choose(R, m)``), so whole sub-trees are
counted or dropped without enumerating them. Tested against R ``fisher.test`` in ``Testing/test_table1_r.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ContingencyResult", "chisq_test", "expected_counts", "fisher_test"]

REL_ERR = 1 + 1e-7  # R fisher.test: relErr


@dataclass(frozen=True)
class ContingencyResult:
    statistic: float | None
    pvalue: float
    df: int | None
    method: str

    def to_dict(self) -> dict:
        return {"statistic": self.statistic, "p": self.pvalue, "df": self.df, "method": self.method}


def _table(tab) -> np.ndarray:
    a = np.asarray(tab, dtype=np.int64)
    if a.ndim != 2 or a.shape[1] != 2 or a.shape[0] < 2:
        raise ValueError(f"need a k x 2 table with k >= 2, got shape {a.shape}")
    if (a < 0).any():
        raise ValueError("counts must be non-negative")
    return a


def expected_counts(tab) -> np.ndarray:
    a = np.asarray(tab, dtype=float)
    return np.outer(a.sum(axis=1), a.sum(axis=0)) / a.sum()


def chisq_test(tab) -> ContingencyResult:
    """R ``chisq.test(tab, correct = FALSE)`` (no simulation)."""
    from scipy.stats import chi2

    a = _table(tab).astype(float)
    e = expected_counts(a)
    x2 = float(np.sum((a - e) ** 2 / e))
    df = (a.shape[0] - 1) * (a.shape[1] - 1)
    return ContingencyResult(x2, float(chi2.sf(x2, df)), df, "Pearson's Chi-squared test")


def _lchoose(n, k):
    from scipy.special import gammaln

    n = np.asarray(n, dtype=float)
    k = np.asarray(k, dtype=float)
    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


NETWORK_MAX_N = 5000      # up to this many subjects: the network below; beyond: _fisher_large
LARGE_MAX_NODES = 2_000_000


def fisher_test(tab) -> ContingencyResult:
    """R ``fisher.test(tab)$p.value`` for a k x 2 table (two-sided; k = 2 is R's 2 x 2 test).

    The p-value is None (with the reason in ``method``) only when the exact sum would need more than
    ``LARGE_MAX_NODES`` partial tables (many large levels; R's FEXACT stops with a workspace error there too)."""
    a = _table(tab)
    a = a[a.sum(axis=1) > 0]  # empty levels carry no information (R drops them too)
    method = "Fisher's Exact Test for Count Data"
    if a.shape[0] < 2 or (a.sum(axis=0) == 0).any():
        return ContingencyResult(None, 1.0, None, method)
    if int(a.sum()) > NETWORK_MAX_N:
        p = _fisher_large(a)
        if p is None:
            return ContingencyResult(None, math.nan, None, method + " (too large to compute exactly)")
        return ContingencyResult(None, p, None, method)
    return ContingencyResult(None, _fisher_network(a), None, method)


def _fisher_large(a: np.ndarray) -> float | None:
    """The exact p for tables with many subjects: the levels sorted by size, all but the two largest enumerated
    (vectorised), and for each partial table the last two levels in closed form -- given what is left, their
    split is hypergeometric (log-concave), so the tables at most as likely as the observed one are its two
    tails, found by bisection and summed with ``scipy.stats.hypergeom``."""
    from scipy.stats import hypergeom

    r = a.sum(axis=1).astype(np.int64)
    order = np.argsort(r, kind="stable")
    r = r[order]
    obs = a[order, 0].astype(np.int64)
    n1 = int(obs.sum())
    N = int(r.sum())
    k = r.size
    lnorm = float(_lchoose(N, n1))
    thresh = float(np.sum(_lchoose(r, obs))) - lnorm + math.log(REL_ERR)
    m = np.array([n1], dtype=np.int64)          # treated still to place, per partial table
    past = np.zeros(1)                          # sum of log choose(r_j, x_j) so far
    for i in range(k - 2):
        rest = int(r[i + 1:].sum())
        xs = np.arange(int(r[i]) + 1)
        if m.size * xs.size > LARGE_MAX_NODES:
            return None
        mm = np.repeat(m, xs.size)
        xx = np.tile(xs, m.size)
        ok = (xx <= mm) & (mm - xx <= rest)
        past = np.repeat(past, xs.size)[ok] + _lchoose(int(r[i]), xx[ok])
        m = (mm - xx)[ok]
    ra, rb = int(r[-2]), int(r[-1])
    M = ra + rb
    xlo = np.maximum(0, m - rb)
    xhi = np.minimum(ra, m)
    # the tables of this node count when log choose(ra, x) + log choose(rb, m - x) <= T
    T = thresh + lnorm - past

    def f(x):
        return _lchoose(ra, x) + _lchoose(rb, m - x)

    mode = np.clip(((m + 1) * (ra + 1)) // (M + 2), xlo, xhi)
    # left tail: largest x in [xlo, mode] with f(x) <= T (f increases up to the mode), else xlo - 1
    left = _last_true(lambda x: f(x) <= T, xlo, mode)
    right = _first_true(lambda x: f(x) <= T, mode, xhi)
    with np.errstate(divide="ignore"):
        node = np.exp(past + _lchoose(M, m) - lnorm)
    cdf = np.where(left >= xlo, hypergeom.cdf(left, M, ra, m), 0.0)
    # right tail from `right`; when the mode itself counts, left covers it: avoid counting it twice
    right = np.where(right <= left, left + 1, right)
    sf = np.where(right <= xhi, hypergeom.sf(right - 1, M, ra, m), 0.0)
    return float(min(1.0, np.sum(node * (cdf + sf))))


def _last_true(pred, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per element: the largest x in [lo, hi] with pred(x) true, where pred is true then false (lo - 1 if none)."""
    a, b = lo - 1, hi.copy()                     # answer in [a, b]; pred(a) true by convention
    while True:
        open_ = a < b
        if not open_.any():
            return a
        mid = (a + b + 1) // 2
        t = pred(np.where(open_, mid, np.maximum(a, lo)))
        a = np.where(open_ & t, mid, a)
        b = np.where(open_ & ~t, mid - 1, b)


def _first_true(pred, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per element: the smallest x in [lo, hi] with pred(x) true, where pred is false then true (hi + 1 if none)."""
    a, b = lo.copy(), hi + 1
    while True:
        open_ = a < b
        if not open_.any():
            return a
        mid = (a + b) // 2
        t = pred(np.where(open_, mid, np.minimum(b, hi)))
        b = np.where(open_ & t, mid, b)
        a = np.where(open_ & ~t, mid + 1, a)


def _fisher_network(a: np.ndarray) -> float:
    r = a.sum(axis=1).astype(np.int64)
    n1 = int(a[:, 0].sum())
    k = r.size
    # suffix totals: R_i = r_i + ... + r_{k-1}
    R = np.concatenate([np.cumsum(r[::-1])[::-1], [0]])
    lnorm = float(_lchoose(int(R[0]), n1))
    log_obs = float(np.sum(_lchoose(r, a[:, 0]))) - lnorm
    thresh = log_obs + math.log(REL_ERR)
    # hi[i][m] / lo[i][m]: the largest / smallest sum of log choose(r_j, x_j), j >= i, over completions that place
    # m treated subjects in levels i..k-1 (-inf / +inf when impossible)
    hi = [None] * (k + 1)
    lo = [None] * (k + 1)
    hi[k] = np.full(n1 + 1, -np.inf)
    lo[k] = np.full(n1 + 1, np.inf)
    hi[k][0] = lo[k][0] = 0.0
    for i in range(k - 1, -1, -1):
        h = np.full(n1 + 1, -np.inf)
        lw = np.full(n1 + 1, np.inf)
        for x in range(min(int(r[i]), n1) + 1):
            c = float(_lchoose(int(r[i]), x))
            h[x:] = np.maximum(h[x:], c + hi[i + 1][: n1 + 1 - x])
            lw[x:] = np.minimum(lw[x:], c + lo[i + 1][: n1 + 1 - x])
        hi[i], lo[i] = h, lw
    # breadth-first over levels; nodes (m, past) with equal past probability merged (multiplicity)
    p = 0.0
    nodes = {(n1, 0.0): (0.0, 1.0)}  # key -> (past log prob, weight: sum of the merged paths' probabilities / it)
    for i in range(k):
        nxt: dict = {}
        for (m, _), (past, mult) in nodes.items():
            if past + hi[i][m] - lnorm <= thresh:  # every completion is as or less likely: count all
                p += mult * math.exp(past + float(_lchoose(int(R[i]), m)) - lnorm)
                continue
            if past + lo[i][m] - lnorm > thresh:  # no completion counts
                continue
            rest = int(R[i + 1])
            for x in range(max(0, m - rest), min(int(r[i]), m) + 1):
                q = past + float(_lchoose(int(r[i]), x))
                key = (m - x, round(q, 9))
                if key in nxt:  # weight relative to the kept representative: the sum stays exact
                    q0, m0 = nxt[key]
                    nxt[key] = (q0, m0 + mult * math.exp(q - q0))
                else:
                    nxt[key] = (q, mult)
        nodes = nxt
    for (_m, _), (past, mult) in nodes.items():  # complete tables left undecided (m == 0 by construction)
        if past - lnorm <= thresh:
            p += mult * math.exp(past - lnorm)
    return float(min(1.0, p))
