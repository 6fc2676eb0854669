"""The VBQ study's statistical tests, equal to R's ``stats`` package (R 4.2).

Each test returns a small frozen dataclass (scipy.stats style) with ``statistic``, ``pvalue``, ``method``, ``n``,
effect-size fields and ``to_dict()`` whose keys are fixed by issue 3:

=================  ===========================================================================================
function           ``to_dict()`` keys
=================  ===========================================================================================
``shapiro``        ``W, p, n, method``                            (R ``shapiro.test``)
``ranksum``        ``W, p, method, n1, n2, z, exact, rank_biserial, hl_shift, hl_median, ci_low, ci_high,
                   conf_level, alternative, n_missing, warnings`` (R ``wilcox.test(x, y, conf.int=TRUE)``)
``signed_rank``    ``V, p, method, n, n_pairs, n_zero, n_missing, z, exact, rank_biserial, pseudomedian,
                   ci_low, ci_high, conf_level, alternative, warnings`` (R ``wilcox.test(x, y, paired=TRUE)``)
``kruskal``        ``H, df, p, n, k, epsilon2, method, n_missing`` (R ``kruskal.test``)
``friedman``       ``chi2, df, p, n, k, kendall_w, method, n_incomplete`` (R ``friedman.test``)
=================  ===========================================================================================

``dunn`` returns a pandas DataFrame (``group1, group2, n1, n2, mean_rank1, mean_rank2, z, p, p_adj``) and
``p_adjust`` follows R's ``p.adjust``.

Where the numbers come from
---------------------------
* Shapiro-Wilk: a port of R's ``swilk.c`` (Royston's AS R94). scipy.stats.shapiro runs the same algorithm but
  partly in single precision (W off by ~1e-10, p by ~1e-8 from R), so it is only used as a cross-check in tests.
* Rank-sum / signed-rank p-values: ``scipy.stats.mannwhitneyu`` / ``scipy.stats.wilcoxon`` with the method chosen
  by R's rule (exact when both samples < 50 (pairs < 50) and there are no ties (and no zero differences),
  else the normal approximation with tie and continuity correction).
* Confidence intervals and location estimates (Hodges-Lehmann shift / pseudomedian): **hand-written**, because
  no Python library reproduces R here. Exact case: order statistics of the pairwise differences (Walsh averages)
  at quantiles of the exact null distribution (R's ``qwilcox``/``qsignrank``; computed here from the generating
  functions). Normal case: R inverts the standardised statistic with ``uniroot(tol = 1e-4)``; the result depends
  on the root-finder's path, so this module carries a line-by-line port of R's ``R_zeroin2`` (Brent) to give the
  very numbers R prints. In the normal case R's "difference in location" (``hl_shift``) is the point where the
  uncorrected standardised statistic crosses zero as found by ``uniroot``: it lies between the two middle
  pairwise differences but is not necessarily their mean. The textbook Hodges-Lehmann estimate (median of all
  pairwise differences, computed without forming them for large samples) is reported beside it as ``hl_median``;
  in the exact case both are R's ``median(diffs)``.
* Effect sizes: rank-biserial r = 2W/(n1 n2) - 1 (positive when the first sample tends to be larger);
  matched-pairs rank-biserial 2V/(n(n+1)/2) - 1; epsilon² = H/(n-1); Kendall's W = chi2/(n(k-1)).
* Kruskal-Wallis: ``scipy.stats.kruskal`` (tie-corrected, same formula as R). Friedman: ``scipy.stats.
  friedmanchisquare`` (tie-corrected like R); rows with a missing value are dropped (R's complete cases) and
  counted in ``n_incomplete``.
* Dunn: hand-written by its formula (z = mean-rank difference / SE with tie correction, as ``dunn.test`` and
  ``FSA::dunnTest`` compute it); ``p`` is **two-sided** (``dunn.test(..., altp=TRUE)``; plain ``dunn.test``
  prints one-sided p = two-sided / 2).
* ``p_adjust``: ``statsmodels.stats.multitest.multipletests`` for every method (agrees with R, also Hommel:
  checked against R in the tests), with R's NA handling (missing p-values stay missing and do not count in n).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
from VBQScoreLib.errors import VBQInputError

__all__ = [
    "P_ADJUST_METHODS",
    "FriedmanResult",
    "KruskalResult",
    "RankSumResult",
    "ShapiroResult",
    "SignedRankResult",
    "dunn",
    "friedman",
    "kruskal",
    "p_adjust",
    "ranksum",
    "shapiro",
    "signed_rank",
]


def _f(v):
    """JSON-safe float (None for NaN/None)."""
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else v


# ---------------------------------------------------------------------------------------------------------------
# result objects
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShapiroResult:
    statistic: float
    pvalue: float
    n: int
    method: str = "Shapiro-Wilk normality test"

    @property
    def W(self) -> float:
        return self.statistic

    @property
    def p(self) -> float:
        return self.pvalue

    def to_dict(self) -> dict[str, Any]:
        return {"W": _f(self.statistic), "p": _f(self.pvalue), "n": int(self.n), "method": self.method}


@dataclass(frozen=True)
class RankSumResult:
    statistic: float          # R's W = U of the first sample
    pvalue: float
    method: str
    n1: int
    n2: int
    exact: bool
    z: float | None           # standardised statistic (normal approximation only, after continuity correction)
    rank_biserial: float      # 2W/(n1 n2) - 1: > 0 when the first sample tends to be larger
    hl_shift: float | None    # R's estimate "difference in location" (first minus second)
    hl_median: float | None   # median of all pairwise differences x_i - y_j (the Hodges-Lehmann estimator)
    ci_low: float | None
    ci_high: float | None
    conf_level: float | None  # achieved confidence level (R lowers it when the requested one is not achievable)
    alternative: str = "two.sided"
    n_missing: int = 0        # missing values dropped (both samples)
    warnings: tuple[str, ...] = ()

    @property
    def W(self) -> float:
        return self.statistic

    @property
    def p(self) -> float:
        return self.pvalue

    @property
    def n(self) -> int:
        return self.n1 + self.n2

    def to_dict(self) -> dict[str, Any]:
        return {"W": _f(self.statistic), "p": _f(self.pvalue), "method": self.method, "n1": self.n1,
                "n2": self.n2, "exact": self.exact, "z": _f(self.z), "rank_biserial": _f(self.rank_biserial),
                "hl_shift": _f(self.hl_shift), "hl_median": _f(self.hl_median), "ci_low": _f(self.ci_low),
                "ci_high": _f(self.ci_high), "conf_level": _f(self.conf_level), "alternative": self.alternative,
                "n_missing": self.n_missing, "warnings": list(self.warnings)}


@dataclass(frozen=True)
class SignedRankResult:
    statistic: float          # R's V = sum of ranks of the positive differences
    pvalue: float
    method: str
    n: int                    # non-zero differences used
    n_pairs: int              # complete pairs
    n_zero: int               # zero differences (dropped, as R does)
    exact: bool
    z: float | None
    rank_biserial: float      # matched-pairs rank-biserial: 2V/(n(n+1)/2) - 1
    pseudomedian: float | None  # R's estimate "(pseudo)median" of the differences x - y
    ci_low: float | None
    ci_high: float | None
    conf_level: float | None
    alternative: str = "two.sided"
    n_missing: int = 0        # pairs with a missing member
    warnings: tuple[str, ...] = ()

    @property
    def V(self) -> float:
        return self.statistic

    @property
    def p(self) -> float:
        return self.pvalue

    def to_dict(self) -> dict[str, Any]:
        return {"V": _f(self.statistic), "p": _f(self.pvalue), "method": self.method, "n": self.n,
                "n_pairs": self.n_pairs, "n_zero": self.n_zero, "n_missing": self.n_missing, "exact": self.exact,
                "z": _f(self.z), "rank_biserial": _f(self.rank_biserial), "pseudomedian": _f(self.pseudomedian),
                "ci_low": _f(self.ci_low), "ci_high": _f(self.ci_high), "conf_level": _f(self.conf_level),
                "alternative": self.alternative, "warnings": list(self.warnings)}


@dataclass(frozen=True)
class KruskalResult:
    statistic: float
    df: int
    pvalue: float
    n: int
    k: int
    epsilon2: float           # H / (n - 1)  (= H (n+1)/(n^2-1), Tomczak & Tomczak 2014)
    method: str = "Kruskal-Wallis rank sum test"
    n_missing: int = 0
    groups: tuple[str, ...] = ()

    @property
    def H(self) -> float:
        return self.statistic

    @property
    def p(self) -> float:
        return self.pvalue

    def to_dict(self) -> dict[str, Any]:
        return {"H": _f(self.statistic), "df": self.df, "p": _f(self.pvalue), "n": self.n, "k": self.k,
                "epsilon2": _f(self.epsilon2), "method": self.method, "n_missing": self.n_missing,
                "groups": list(self.groups)}


@dataclass(frozen=True)
class FriedmanResult:
    statistic: float
    df: int
    pvalue: float
    n: int                    # complete subjects (blocks) used
    k: int                    # levels (treatments)
    kendall_w: float          # chi2 / (n (k - 1))
    method: str = "Friedman rank sum test"
    n_incomplete: int = 0     # subjects dropped because a level was missing (R: complete cases)
    levels: tuple[str, ...] = ()

    @property
    def chi2(self) -> float:
        return self.statistic

    @property
    def p(self) -> float:
        return self.pvalue

    def to_dict(self) -> dict[str, Any]:
        return {"chi2": _f(self.statistic), "df": self.df, "p": _f(self.pvalue), "n": self.n, "k": self.k,
                "kendall_w": _f(self.kendall_w), "method": self.method, "n_incomplete": self.n_incomplete,
                "levels": list(self.levels)}


# ---------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------

def _vec(x, what: str) -> tuple[np.ndarray, int]:
    """1-D float array without missing values, and how many were missing."""
    try:
        a = np.asarray(x, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise VBQInputError(f"{what}: values must be numbers ({exc})") from None
    ok = ~np.isnan(a)
    if np.isinf(a[ok]).any():
        raise VBQInputError(f"{what}: infinite values are not allowed")
    return a[ok], int((~ok).sum())


def _rank(a: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(a, method="average")


def _tie_sum(r: np.ndarray) -> float:
    """sum(t^3 - t) over tie groups of the ranks (R: sum(NTIES^3 - NTIES) with NTIES = table(r))."""
    _, counts = np.unique(r, return_counts=True)
    counts = counts.astype(float)
    return float(np.sum(counts ** 3 - counts))


def _ranksum_w(both: np.ndarray, n1: int) -> tuple[float, float]:
    """R's W (the rank sum of the first ``n1`` values minus n1(n1+1)/2, mid-ranks for ties) and
    sum(t^3 - t) over the tie groups, from one sort (the rank-sum test of a million values in ~0.1 s)."""
    order = np.argsort(both)
    s = both[order]
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    counts = np.diff(np.append(starts, s.size))
    mid = starts + (counts + 1) / 2.0                      # 1-based mid-rank of each tie group
    ranks_sorted = np.repeat(mid, counts)
    r1 = float(ranks_sorted[order < n1].sum())
    c = counts.astype(float)
    return r1 - n1 * (n1 + 1) / 2, float(np.sum(c ** 3 - c))


def _r_median(v: np.ndarray) -> float:
    return float(np.median(v))


def _kth_pairwise_diff(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """k-th smallest (1-based) of the n1*n2 differences x_i - y_j without forming them: bisection on the value
    with counts from sorted arrays, then the exact element. O((n1 + n2) log n2) per step."""
    xs, ys = np.sort(x), np.sort(y)
    n2 = ys.size

    def count(d: float) -> int:  # number of differences <= d
        return int(np.sum(n2 - np.searchsorted(ys, xs - d, side="left")))

    lo, hi = float(xs[0] - ys[-1]), float(xs[-1] - ys[0])
    for _ in range(200):  # invariant: count(lo) < k <= count(hi), up to rounding in count()
        mid = lo + (hi - lo) / 2
        if mid <= lo or mid >= hi:
            break
        if count(mid) >= k:
            hi = mid
        else:
            lo = mid
    # exact step: differences computed as x_i - y_j in a narrow band around the value found, counted below it
    v = hi
    tol = 1e-9 * max(1.0, float(np.max(np.abs(xs))), float(np.max(np.abs(ys))))
    left = np.searchsorted(ys, xs - v - tol, side="left")
    right = np.searchsorted(ys, xs - v + tol, side="right")
    below = int(np.sum(n2 - right))  # y_j > x_i - v + tol: differences < v - tol
    band = np.sort(np.concatenate([xs[i] - ys[left[i]:right[i]] for i in range(xs.size)]))
    return float(band[k - below - 1])


def _median_pairwise_diff(x: np.ndarray, y: np.ndarray) -> float:
    """Median of all x_i - y_j (the Hodges-Lehmann two-sample estimator), memory-safe for large samples."""
    m = x.size * y.size
    if m <= 2_000_000:
        return _r_median(np.subtract.outer(x, y).ravel())
    if m % 2:
        return _kth_pairwise_diff(x, y, (m + 1) // 2)
    return (_kth_pairwise_diff(x, y, m // 2) + _kth_pairwise_diff(x, y, m // 2 + 1)) / 2


def _wilcox_counts(m: int, n: int) -> list[int]:
    """Frequencies of the Mann-Whitney U statistic (0..m*n) for sample sizes m, n (exact integers).

    Generating function prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i) (the Gaussian binomial coefficient), expanded by
    multiplying by (1 - q^(n+i)) and dividing by (1 - q^i) in turn. Hand-written: R's cwilcox has no public
    Python equivalent (scipy keeps its own exact distribution private).
    """
    size = m * n + 1
    c = [0] * size
    c[0] = 1
    for i in range(1, m + 1):
        s = n + i
        for k in range(size - 1, s - 1, -1):  # multiply by (1 - q^s)
            c[k] -= c[k - s]
        for k in range(i, size):  # divide by (1 - q^i)
            c[k] += c[k - i]
    return c


def _signrank_counts(n: int) -> list[int]:
    """Frequencies of the signed-rank statistic V (0..n(n+1)/2): generating function prod_{i=1..n} (1 + q^i)."""
    size = n * (n + 1) // 2 + 1
    c = [0] * size
    c[0] = 1
    top = 0
    for i in range(1, n + 1):
        top += i
        for k in range(top, i - 1, -1):
            c[k] += c[k - i]
    return c


class _Discrete:
    """An exact null distribution on 0..N with R's p*/q* conventions."""

    def __init__(self, counts: list[int]):
        total = sum(counts)
        self.counts = counts
        self.cum = []
        acc = 0
        for c in counts:
            acc += c
            self.cum.append(acc)
        self.total = total

    def cdf(self, q: float) -> float:  # P(X <= q), R's p*(q)
        q = math.floor(q + 1e-7)
        if q < 0:
            return 0.0
        if q >= len(self.cum) - 1:
            return 1.0
        return self.cum[q] / self.total

    def quantile(self, p: float) -> int:
        """R's qwilcox/qsignrank: accumulate the probabilities (fuzz 10 DBL_EPSILON as in R's C code)."""
        eps10 = 10 * 2.220446049250313e-16
        acc = 0.0
        if p <= 0.5:
            target = p - eps10
            for q, c in enumerate(self.counts):
                acc += c / self.total
                if acc >= target:
                    return q
        else:
            target = 1 - p + eps10
            for q, c in enumerate(self.counts):
                acc += c / self.total
                if acc > target:
                    return len(self.counts) - 1 - q
        return len(self.counts) - 1


def _zeroin(f, ax: float, bx: float, fa: float, fb: float, tol: float = 1e-4, maxit: int = 1000) -> float:
    """R's ``uniroot`` core ``R_zeroin2`` (src/library/stats/src/zeroin.c), ported line by line (hand-written so
    that the normal-approximation confidence limits equal R's to the last digit)."""
    eps = 2.220446049250313e-16
    a, b = ax, bx
    c, fc = a, fa
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    it = maxit + 1
    while it:
        it -= 1
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * eps * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


def _qnorm_upper(p: float) -> float:
    from scipy.stats import norm

    return float(norm.isf(p))


def _check_alternative(alternative: str) -> str:
    alt = {"two-sided": "two.sided", "two.sided": "two.sided", "less": "less", "greater": "greater"}.get(alternative)
    if alt is None:
        raise VBQInputError(f"alternative must be 'two.sided', 'less' or 'greater', not {alternative!r}")
    return alt


# ---------------------------------------------------------------------------------------------------------------
# Shapiro-Wilk
# ---------------------------------------------------------------------------------------------------------------

def _poly(cc: Sequence[float], x: float) -> float:
    """AS 181.2 polynomial (R swilk.c poly())."""
    ret = cc[0]
    if len(cc) > 1:
        p = x * cc[-1]
        for j in range(len(cc) - 2, 0, -1):
            p = (p + cc[j]) * x
        ret += p
    return ret


def _swilk(x: np.ndarray) -> tuple[float, float]:
    """R's swilk.c (AS R94, double precision), uncensored case. Hand-ported because scipy's swilk keeps part of
    the computation in single precision and differs from R by ~1e-10 in W and ~1e-8 in p."""
    from scipy.special import ndtri
    from scipy.stats import norm

    n = x.size
    nn2 = n // 2
    a = np.zeros(nn2 + 1)  # 1-based
    if n == 3:
        a[1] = 0.70710678
    else:
        an25 = n + 0.25
        i = np.arange(1, nn2 + 1)
        a[1:] = ndtri((i - 0.375) / an25)
        summ2 = 0.0
        for v in a[1:]:
            summ2 += v * v
        summ2 *= 2.0
        ssumm2 = math.sqrt(summ2)
        rsn = 1.0 / math.sqrt(n)
        a1 = _poly((0., .221157, -.147981, -2.07119, 4.434685, -2.706056), rsn) - a[1] / ssumm2
        if n > 5:
            i1 = 3
            a2 = -a[2] / ssumm2 + _poly((0., .042981, -.293762, -1.752461, 5.682633, -3.582633), rsn)
            fac = math.sqrt((summ2 - 2.0 * (a[1] * a[1]) - 2.0 * (a[2] * a[2]))
                            / (1.0 - 2.0 * (a1 * a1) - 2.0 * (a2 * a2)))
            a[2] = a2
        else:
            i1 = 2
            fac = math.sqrt((summ2 - 2.0 * (a[1] * a[1])) / (1.0 - 2.0 * (a1 * a1)))
        a[1] = a1
        a[i1:] /= -fac
    rng = x[-1] - x[0]
    # coefficient of x[i] (0-based): sign(i - j) * a[1 + min(i, j)], j = n - 1 - i; 0 in the middle
    idx = np.arange(n)
    j = n - 1 - idx
    coef = np.where(idx != j, np.sign(idx - j) * a[np.minimum(1 + np.minimum(idx, j), nn2)], 0.0)
    sa = -a[1]
    for i in range(2, n + 1):  # R's accumulation order (1-based mirror pairs i, n + 1 - i)
        jj = n + 1 - i
        if i != jj:
            sa += (1 if i > jj else -1) * a[min(i, jj)]
    xs = x / rng
    sx = 0.0
    for v in xs:
        sx += v
    sa /= n
    sx /= n
    asa = coef - sa
    xsx = xs - sx
    ssa = ssx = sax = 0.0
    for u, v in zip(asa.tolist(), xsx.tolist()):
        ssa += u * u
        ssx += v * v
        sax += u * v
    ssassx = math.sqrt(ssa * ssx)
    w1 = (ssassx - sax) * (ssassx + sax) / (ssa * ssx)
    w = 1.0 - w1
    if n == 3:
        pw = 1.90985931710274 * (math.asin(math.sqrt(w)) - 1.04719755119660)
        return w, max(pw, 0.0)
    y = math.log(w1)
    xx = math.log(n)
    if n <= 11:
        gamma = _poly((-2.273, .459), n)
        if y >= gamma:
            return w, 1e-99
        y = -math.log(gamma - y)
        m = _poly((.544, -.39978, .025054, -6.714e-4), n)
        s = math.exp(_poly((1.3822, -.77857, .062767, -.0020322), n))
    else:
        m = _poly((-1.5861, -.31082, -.083751, .0038915), xx)
        s = math.exp(_poly((-.4803, -.082676, .0030302), xx))
    return w, float(norm.sf(y, m, s))


def shapiro(x, *, name: str = "x") -> ShapiroResult:
    """Shapiro-Wilk normality test, equal to R ``shapiro.test`` (missing values dropped; 3 <= n <= 5000).

    Computed with a port of R's ``swilk.c`` (Royston's AS R94, the algorithm scipy.stats.shapiro also uses, but
    scipy's copy runs partly in single precision: it agrees with R only to ~1e-10 in W and ~1e-8 in p)."""
    a, _ = _vec(x, name)
    a = np.sort(a)
    n = a.size
    if n < 3 or n > 5000:
        raise VBQInputError(f"{name}: Shapiro-Wilk needs 3 to 5000 non-missing values, got {n}")
    rng = a[-1] - a[0]
    if rng < 1e-10:
        raise VBQInputError(f"{name}: Shapiro-Wilk is undefined when all values are identical")
    if rng < 1:  # R scales small-range data before calling swilk
        a = a / rng
    w, p = _swilk(a)
    return ShapiroResult(float(w), float(p), int(n))


# ---------------------------------------------------------------------------------------------------------------
# Wilcoxon rank-sum (Mann-Whitney)
# ---------------------------------------------------------------------------------------------------------------

def ranksum(x, y, *, exact: bool | None = None, correct: bool = True, conf_level: float = 0.95,
            alternative: str = "two.sided", conf_int: bool = True) -> RankSumResult:
    """Wilcoxon rank-sum test of ``x`` vs ``y`` with R ``wilcox.test(x, y, conf.int=TRUE)`` semantics.

    ``exact=None`` applies R's rule: exact p (and exact CI) when both samples have fewer than 50 values and
    there are no ties; otherwise the normal approximation with tie correction and (``correct=True``)
    continuity correction. ``W`` is R's statistic: the Mann-Whitney U of ``x``.
    """
    from scipy.stats import mannwhitneyu

    alt = _check_alternative(alternative)
    xa, mx = _vec(x, "x")
    ya, my = _vec(y, "y")
    n1, n2 = xa.size, ya.size
    if n1 < 1 or n2 < 1:
        raise VBQInputError(f"rank-sum test needs at least one value per group (got {n1} and {n2})")
    if not 0 < conf_level < 1:
        raise VBQInputError(f"conf_level must be between 0 and 1, got {conf_level}")
    both = np.concatenate([xa, ya])
    if np.all(both == both[0]):  # R: p-value NA (and no confidence interval)
        return RankSumResult(n1 * n2 / 2, math.nan, "Wilcoxon rank sum test", int(n1), int(n2), False, None, 0.0,
                             None, 0.0, None, None, None, alt, mx + my,
                             ("all values are identical: the test is undefined (p is missing)",))
    W, tie_sum = _ranksum_w(both, n1)
    ties = tie_sum > 0
    if exact is None:
        exact = n1 < 50 and n2 < 50
    warns: list[str] = []
    scipy_alt = {"two.sided": "two-sided", "less": "less", "greater": "greater"}[alt]
    z = None
    est = hl = lo = hi = level = None
    if exact and not ties:
        method = "Wilcoxon rank sum exact test"
        p = float(mannwhitneyu(xa, ya, alternative=scipy_alt, method="exact").pvalue)
        if conf_int:
            alpha = 1 - conf_level
            diffs = np.sort(np.subtract.outer(xa, ya).ravel())
            dist = _Discrete(_wilcox_counts(n1, n2))
            level = conf_level
            if alt == "two.sided":
                qu = dist.quantile(alpha / 2)
                if qu == 0:
                    qu = 1
                ql = n1 * n2 - qu
                achieved = 2 * dist.cdf(math.trunc(qu) - 1)
                lo, hi = float(diffs[qu - 1]), float(diffs[ql])
            elif alt == "greater":
                qu = dist.quantile(alpha)
                if qu == 0:
                    qu = 1
                achieved = dist.cdf(math.trunc(qu) - 1)
                lo, hi = float(diffs[qu - 1]), math.inf
            else:
                qu = dist.quantile(alpha)
                if qu == 0:
                    qu = 1
                ql = n1 * n2 - qu
                achieved = dist.cdf(math.trunc(qu) - 1)
                lo, hi = -math.inf, float(diffs[ql])
            if achieved - alpha > alpha / 2:
                warns.append("requested conf.level not achievable")
                level = 1 - achieved
            est = _r_median(diffs)
            hl = est
    else:
        method = "Wilcoxon rank sum test" + (" with continuity correction" if correct else "")
        from scipy.stats import norm

        sigma = math.sqrt((n1 * n2 / 12) * ((n1 + n2 + 1) - tie_sum / ((n1 + n2) * (n1 + n2 - 1))))
        zz = W - n1 * n2 / 2
        corr = 0.0
        if correct:
            corr = {"two.sided": float(np.sign(zz)) * 0.5, "greater": 0.5, "less": -0.5}[alt]
        z = (zz - corr) / sigma if sigma > 0 else math.nan
        # R: 2 * min(pnorm(z), pnorm(z, lower.tail = FALSE)) (two-sided), else the matching tail
        if alt == "two.sided":
            p = float(min(1.0, 2 * min(norm.cdf(z), norm.sf(z))))
        else:
            p = float(norm.sf(z) if alt == "greater" else norm.cdf(z))
        if exact and ties:
            warns.append("cannot compute exact p-value with ties")
        if conf_int:
            alpha = 1 - conf_level
            mumin = float(xa.min() - ya.max())
            mumax = float(xa.max() - ya.min())

            def wfun(d: float, use_correct: bool) -> float:
                dr = _rank(np.concatenate([xa - d, ya]))
                dz = float(dr[:n1].sum()) - n1 * (n1 + 1) / 2 - n1 * n2 / 2
                cc = 0.0
                if use_correct:
                    cc = {"two.sided": float(np.sign(dz)) * 0.5, "greater": 0.5, "less": -0.5}[alt]
                s = math.sqrt((n1 * n2 / 12) * ((n1 + n2 + 1) - _tie_sum(dr) / ((n1 + n2) * (n1 + n2 - 1))))
                if s == 0:
                    raise VBQInputError("cannot compute a confidence interval when all observations are tied")
                return (dz - cc) / s

            w_lo, w_hi = wfun(mumin, correct), wfun(mumax, correct)

            def root(zq: float) -> float:
                fl, fu = w_lo - zq, w_hi - zq
                if fl <= 0:
                    return mumin
                if fu >= 0:
                    return mumax
                return _zeroin(lambda d: wfun(d, correct) - zq, mumin, mumax, fl, fu)

            if alt == "two.sided":
                lo, hi = root(_qnorm_upper(alpha / 2)), root(-_qnorm_upper(alpha / 2))
            elif alt == "greater":
                lo, hi = root(_qnorm_upper(alpha)), math.inf
            else:
                lo, hi = -math.inf, root(-_qnorm_upper(alpha))
            level = conf_level
            e_lo, e_hi = wfun(mumin, False), wfun(mumax, False)
            if e_lo * e_hi > 0:
                est = math.nan
            else:
                est = _zeroin(lambda d: wfun(d, False), mumin, mumax, e_lo, e_hi)
            hl = _median_pairwise_diff(xa, ya)
    rb = 2 * W / (n1 * n2) - 1
    return RankSumResult(W, p, method, int(n1), int(n2), bool(exact and not ties), _f(z), float(rb),
                         _f(est), _f(hl), lo, hi, level, alt, mx + my, tuple(warns))


# ---------------------------------------------------------------------------------------------------------------
# Wilcoxon signed-rank (paired)
# ---------------------------------------------------------------------------------------------------------------

def signed_rank(x, y, *, exact: bool | None = None, correct: bool = True, conf_level: float = 0.95,
                alternative: str = "two.sided", conf_int: bool = True) -> SignedRankResult:
    """Paired Wilcoxon signed-rank test of ``x - y`` with R ``wilcox.test(x, y, paired=TRUE, conf.int=TRUE)``
    semantics: incomplete pairs dropped (counted), zero differences dropped (R), exact when n < 50 with no ties
    and no zeros, otherwise normal approximation with tie and continuity correction."""
    from scipy.stats import wilcoxon

    alt = _check_alternative(alternative)
    try:
        xa = np.asarray(x, dtype=float).ravel()
        ya = np.asarray(y, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise VBQInputError(f"signed-rank test: values must be numbers ({exc})") from None
    if xa.size != ya.size:
        raise VBQInputError(f"signed-rank test: x and y must have the same length ({xa.size} vs {ya.size})")
    ok = ~(np.isnan(xa) | np.isnan(ya))
    n_missing = int((~ok).sum())
    d = xa[ok] - ya[ok]
    n_pairs = d.size
    if n_pairs < 1:
        raise VBQInputError("signed-rank test needs at least one complete pair")
    zeroes = bool((d == 0).any())
    n_zero = int((d == 0).sum())
    d = d[d != 0]
    n = d.size
    if exact is None:
        exact = n < 50
    warns: list[str] = []
    scipy_alt = {"two.sided": "two-sided", "less": "less", "greater": "greater"}[alt]
    if n == 0:
        return SignedRankResult(0.0, math.nan, "Wilcoxon signed rank test", 0, n_pairs, n_zero, False, None,
                                math.nan, None, None, None, None, alt, n_missing, ("all differences are zero",))
    r = _rank(np.abs(d))
    V = float(r[d > 0].sum())
    ties = np.unique(r).size != r.size
    z = None
    est = lo = hi = level = None
    if exact and not ties and not zeroes:
        method = "Wilcoxon signed rank exact test"
        p = float(wilcoxon(d, alternative=scipy_alt, method="exact").pvalue)
        if conf_int:
            alpha = 1 - conf_level
            ii, jj = np.triu_indices(n)
            walsh = np.sort((d[ii] + d[jj]) / 2)
            dist = _Discrete(_signrank_counts(n))
            level = conf_level
            m = n * (n + 1) // 2
            if alt == "two.sided":
                qu = dist.quantile(alpha / 2)
                if qu == 0:
                    qu = 1
                ql = m - qu
                achieved = 2 * dist.cdf(math.trunc(qu) - 1)
                lo, hi = float(walsh[qu - 1]), float(walsh[ql])
            elif alt == "greater":
                qu = dist.quantile(alpha)
                if qu == 0:
                    qu = 1
                achieved = dist.cdf(math.trunc(qu) - 1)
                lo, hi = float(walsh[qu - 1]), math.inf
            else:
                qu = dist.quantile(alpha)
                if qu == 0:
                    qu = 1
                ql = m - qu
                achieved = dist.cdf(math.trunc(qu) - 1)
                lo, hi = -math.inf, float(walsh[ql])
            if achieved - alpha > alpha / 2:
                warns.append("requested conf.level not achievable")
                level = 1 - float(f"{achieved:.2g}")  # R: 1 - signif(achieved.alpha, 2)
            est = _r_median(walsh)
    else:
        method = "Wilcoxon signed rank test" + (" with continuity correction" if correct else "")
        res = wilcoxon(d, alternative=scipy_alt, method="approx", correction=correct, zero_method="wilcox")
        p = float(res.pvalue)
        sigma = math.sqrt(n * (n + 1) * (2 * n + 1) / 24 - _tie_sum(r) / 48)
        zz = V - n * (n + 1) / 4
        corr = {"two.sided": float(np.sign(zz)) * 0.5, "greater": 0.5, "less": -0.5}[alt] if correct else 0.0
        z = (zz - corr) / sigma if sigma > 0 else math.nan
        if exact and ties:
            warns.append("cannot compute exact p-value with ties")
        if exact and zeroes:
            warns.append("cannot compute exact p-value with zeroes")
        if conf_int:
            alpha = 1 - conf_level
            mumin, mumax = float(d.min()), float(d.max())

            def wfun(delta: float, use_correct: bool) -> float:
                xd = d - delta
                xd = xd[xd != 0]
                nx = xd.size
                dr = _rank(np.abs(xd))
                zd = float(dr[xd > 0].sum()) - nx * (nx + 1) / 4
                s = math.sqrt(nx * (nx + 1) * (2 * nx + 1) / 24 - _tie_sum(dr) / 48) if nx else 0.0
                cc = 0.0
                if use_correct:
                    cc = {"two.sided": float(np.sign(zd)) * 0.5, "greater": 0.5, "less": -0.5}[alt]
                if s == 0:
                    return math.nan
                return (zd - cc) / s

            w_lo = wfun(mumin, correct)
            w_hi = wfun(mumax, correct) if math.isfinite(w_lo) else math.nan
            if not math.isfinite(w_hi):
                lo = hi = math.nan
                level = 0.0
                est = (mumin + mumax) / 2
                warns.append("cannot compute confidence interval when all observations are zero or tied")
            else:
                def root(zq: float) -> float:
                    return _zeroin(lambda t: wfun(t, correct) - zq, mumin, mumax, w_lo - zq, w_hi - zq)

                level = conf_level
                a2 = alpha
                if alt == "two.sided":
                    while True:
                        if w_lo - _qnorm_upper(a2 / 2) < 0 or w_hi + _qnorm_upper(a2 / 2) > 0:
                            a2 *= 2
                        else:
                            break
                        if a2 >= 1:
                            break
                    if a2 >= 1 or 1 - conf_level < a2 * 0.75:
                        level = 1 - min(1.0, a2)
                        warns.append("requested conf.level not achievable")
                    if a2 < 1:
                        lo, hi = root(_qnorm_upper(a2 / 2)), root(-_qnorm_upper(a2 / 2))
                    else:
                        lo = hi = _r_median(d)
                elif alt == "greater":
                    while w_lo - _qnorm_upper(a2) < 0 and a2 < 1:
                        a2 *= 2
                    if a2 >= 1 or 1 - conf_level < a2 * 0.75:
                        level = 1 - min(1.0, a2)
                        warns.append("requested conf.level not achievable")
                    lo, hi = (root(_qnorm_upper(a2)) if a2 < 1 else _r_median(d)), math.inf
                else:
                    while w_hi + _qnorm_upper(a2 / 2) > 0 and a2 < 1:
                        a2 *= 2
                    if a2 >= 1 or 1 - conf_level < a2 * 0.75:
                        level = 1 - min(1.0, a2)
                        warns.append("requested conf.level not achievable")
                    lo, hi = -math.inf, (root(-_qnorm_upper(a2)) if a2 < 1 else _r_median(d))
                e_lo, e_hi = wfun(mumin, False), wfun(mumax, False)
                est = _zeroin(lambda t: wfun(t, False), mumin, mumax, e_lo, e_hi)
    m = n * (n + 1) / 2
    rb = 2 * V / m - 1
    return SignedRankResult(V, p, method, int(n), int(n_pairs), n_zero, bool(exact and not ties and not zeroes),
                            _f(z), float(rb), _f(est), lo, hi, level, alt, n_missing, tuple(warns))


# ---------------------------------------------------------------------------------------------------------------
# Kruskal-Wallis, Friedman, Dunn
# ---------------------------------------------------------------------------------------------------------------

def _groups(groups) -> tuple[list[str], list[np.ndarray], int]:
    if isinstance(groups, Mapping):
        names = [str(k) for k in groups.keys()]
        vals = list(groups.values())
    else:
        vals = list(groups)
        names = [str(i + 1) for i in range(len(vals))]
    arrays, missing = [], 0
    keep_names = []
    for name, v in zip(names, vals):
        a, m = _vec(v, f"group {name}")
        missing += m
        if a.size:  # R drops empty groups (factor re-levelling after NA removal)
            arrays.append(a)
            keep_names.append(name)
    return keep_names, arrays, missing


def kruskal(groups) -> KruskalResult:
    """Kruskal-Wallis rank-sum test across groups (dict ``{name: values}`` or a list of arrays), equal to R
    ``kruskal.test`` (tie-corrected H, chi-squared with k-1 df). Missing values are dropped and counted."""
    from scipy.stats import kruskal as _kw

    names, arrays, missing = _groups(groups)
    if len(arrays) < 2:
        raise VBQInputError(f"Kruskal-Wallis needs at least 2 non-empty groups, got {len(arrays)}")
    n = int(sum(a.size for a in arrays))
    allv = np.concatenate(arrays)
    if np.all(allv == allv[0]):
        raise VBQInputError("Kruskal-Wallis is undefined when all values are identical")
    res = _kw(*arrays)
    h = float(res.statistic)
    return KruskalResult(h, len(arrays) - 1, float(res.pvalue), n, len(arrays), h / (n - 1), n_missing=missing,
                         groups=tuple(names))


def friedman(matrix, levels: Sequence[str] | None = None) -> FriedmanResult:
    """Friedman rank-sum test on a subjects x levels matrix (array or DataFrame), equal to R ``friedman.test``
    on a matrix. Subjects with any missing level are dropped, as R does (complete cases), and counted in
    ``n_incomplete``. Kendall's W = chi2 / (n (k - 1))."""
    from scipy.stats import friedmanchisquare

    if levels is None and hasattr(matrix, "columns"):
        levels = [str(c) for c in matrix.columns]
    try:
        m = np.asarray(matrix, dtype=float)
    except (TypeError, ValueError) as exc:
        raise VBQInputError(f"Friedman test: values must be numbers ({exc})") from None
    if m.ndim != 2:
        raise VBQInputError("Friedman test needs a subjects x levels table")
    k = m.shape[1]
    if levels is None:
        levels = [str(i + 1) for i in range(k)]
    complete = ~np.isnan(m).any(axis=1)
    n_incomplete = int((~complete).sum())
    m = m[complete]
    n = m.shape[0]
    if k < 2:
        raise VBQInputError(f"Friedman test needs at least 2 levels, got {k}")
    if n < 2:
        raise VBQInputError(f"Friedman test needs at least 2 subjects with all levels present, got {n}")
    if k < 3:
        # scipy requires k >= 3; R handles k = 2 with the same formula.
        ranks = np.apply_along_axis(_rank, 1, m)
        ties = sum(_tie_sum(row) for row in ranks)
        stat = (12 * np.sum((ranks.sum(axis=0) - n * (k + 1) / 2) ** 2)) / (n * k * (k + 1) - ties / (k - 1))
        from scipy.stats import chi2

        stat = float(stat)
        p = float(chi2.sf(stat, k - 1))
    else:
        res = friedmanchisquare(*[m[:, j] for j in range(k)])
        stat, p = float(res.statistic), float(res.pvalue)
    return FriedmanResult(stat, k - 1, p, int(n), int(k), stat / (n * (k - 1)), n_incomplete=n_incomplete,
                          levels=tuple(levels))


def dunn(groups, p_adjust: str = "holm"):
    """Dunn's post-hoc test after Kruskal-Wallis (dict ``{name: values}`` or list of arrays).

    For each pair (in the given group order) z = (mean rank of group1 - mean rank of group2) / SE with
    SE = sqrt((N(N+1)/12 - sum(t^3 - t)/(12(N-1))) (1/n1 + 1/n2)) (ranks over all groups, ties averaged: the
    formula of ``dunn.test`` and ``FSA::dunnTest``); ``p`` is two-sided, ``p_adj`` adjusted over all pairs
    with R ``p.adjust`` semantics. Returns a DataFrame with columns
    ``group1, group2, n1, n2, mean_rank1, mean_rank2, z, p, p_adj``."""
    import pandas as pd
    from scipy.stats import norm

    names, arrays, _ = _groups(groups)
    if len(arrays) < 2:
        raise VBQInputError(f"Dunn test needs at least 2 non-empty groups, got {len(arrays)}")
    allv = np.concatenate(arrays)
    N = allv.size
    r = _rank(allv)
    sizes = [a.size for a in arrays]
    bounds = np.cumsum([0] + sizes)
    mean_ranks = [float(r[bounds[i]:bounds[i + 1]].mean()) for i in range(len(arrays))]
    s2 = N * (N + 1) / 12 - _tie_sum(r) / (12 * (N - 1))
    rows = []
    for i, j in combinations(range(len(arrays)), 2):
        se = math.sqrt(s2 * (1 / sizes[i] + 1 / sizes[j]))
        z = (mean_ranks[i] - mean_ranks[j]) / se if se > 0 else math.nan
        p = float(2 * norm.sf(abs(z))) if math.isfinite(z) else math.nan
        rows.append({"group1": names[i], "group2": names[j], "n1": sizes[i], "n2": sizes[j],
                     "mean_rank1": mean_ranks[i], "mean_rank2": mean_ranks[j], "z": z, "p": p})
    df = pd.DataFrame(rows, columns=["group1", "group2", "n1", "n2", "mean_rank1", "mean_rank2", "z", "p"])
    df["p_adj"] = _p_adjust_array(df["p"].to_numpy(dtype=float), p_adjust)
    df.attrs["p_adjust"] = _canonical_method(p_adjust)
    df.attrs["method"] = "Dunn's test (two-sided, tie-corrected)"
    return df


# ---------------------------------------------------------------------------------------------------------------
# p.adjust
# ---------------------------------------------------------------------------------------------------------------

P_ADJUST_METHODS = ("holm", "hochberg", "hommel", "bonferroni", "BH", "BY", "none")
_ALIASES = {"holm": "holm", "hochberg": "hochberg", "hommel": "hommel", "bonferroni": "bonferroni",
            "bh": "BH", "fdr": "BH", "by": "BY", "none": "none"}
_SM = {"holm": "holm", "hochberg": "simes-hochberg", "hommel": "hommel", "bonferroni": "bonferroni",
       "BH": "fdr_bh", "BY": "fdr_by"}


def _canonical_method(method: str) -> str:
    m = _ALIASES.get(str(method).lower())
    if m is None:
        raise VBQInputError(f"unknown p-value adjustment {method!r}; use one of {', '.join(P_ADJUST_METHODS)}")
    return m


def _p_adjust_array(p: np.ndarray, method: str) -> np.ndarray:
    from statsmodels.stats.multitest import multipletests

    m = _canonical_method(method)
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.sum() == 0:
        return out
    if ((p[ok] < 0) | (p[ok] > 1)).any():
        raise VBQInputError("p-values must lie between 0 and 1")
    if m == "none" or ok.sum() == 1:
        out[ok] = p[ok]
        return out
    if m == "hommel":
        out[ok] = multipletests(p[ok], method=_SM[m], is_sorted=False)[1]
    else:
        # R's p.adjust, one line per method. Not statsmodels' multipletests here: statsmodels 0.15 runs
        # gc.collect() on every call (0.3 s each once pandas/matplotlib are loaded), which dominated analyses.
        out[ok] = _p_adjust_r(p[ok], m)
    return out


def _p_adjust_r(p: np.ndarray, m: str) -> np.ndarray:
    n = p.size
    if m == "bonferroni":
        return np.minimum(1.0, n * p)
    if m == "holm":
        o = np.argsort(p, kind="stable")
        i = np.arange(1, n + 1)
        adj = np.minimum(1.0, np.maximum.accumulate((n - i + 1) * p[o]))
    else:  # hochberg, BH, BY: step-up, from the largest p down
        o = np.argsort(-p, kind="stable")
        i = np.arange(n, 0, -1)
        if m == "hochberg":
            adj = np.minimum(1.0, np.minimum.accumulate((n - i + 1) * p[o]))
        elif m == "BH":
            adj = np.minimum(1.0, np.minimum.accumulate(n / i * p[o]))
        elif m == "BY":
            q = np.sum(1.0 / np.arange(1, n + 1))
            adj = np.minimum(1.0, np.minimum.accumulate(q * n / i * p[o]))
        else:  # pragma: no cover - _canonical_method guards this
            raise ValueError(m)
    out = np.empty(n)
    out[o] = adj
    return out


def p_adjust(p, method: str = "holm"):
    """Adjust p-values for multiple comparisons with R ``p.adjust`` semantics (``holm`` (default), ``hochberg``,
    ``hommel``, ``bonferroni``, ``BH`` (alias ``fdr``), ``BY``, ``none``). Missing p-values (NaN/None) stay
    missing and do not count towards n, as in R. Returns the same kind of container as given (list, numpy array,
    pandas Series, or dict)."""
    if isinstance(p, Mapping):
        keys = list(p.keys())
        vals = _p_adjust_array(np.array([np.nan if v is None else v for v in p.values()], dtype=float), method)
        return {k: _f(v) for k, v in zip(keys, vals)}
    if hasattr(p, "index") and hasattr(p, "to_numpy"):  # pandas Series
        import pandas as pd

        return pd.Series(_p_adjust_array(p.to_numpy(dtype=float), method), index=p.index, name=p.name)
    if isinstance(p, np.ndarray):
        return _p_adjust_array(p, method)
    vals = _p_adjust_array(np.array([np.nan if v is None else v for v in p], dtype=float), method)
    return [_f(v) for v in vals]
