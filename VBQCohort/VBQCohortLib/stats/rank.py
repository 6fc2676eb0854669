"""Rank tests: Wilcoxon rank-sum (Mann-Whitney) and signed-rank, as R's ``wilcox.test(..., conf.int=TRUE)``.

p-values: ``scipy.stats.mannwhitneyu`` / ``scipy.stats.wilcoxon`` with the method chosen by R's rule. Confidence
intervals and location estimates are hand-written (see the package doc, :mod:`VBQCohortLib.stats`): the exact
interval of both tests is one helper (:func:`_exact_ci`), the continuity correction one (:func:`_continuity`),
the numerics are in :mod:`.rnumerics`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from VBQScoreLib.errors import VBQInputError
from VBQScoreLib.json_text import finite_or_none as _f  # JSON-safe float: None for None, NaN, ±inf

from .rnumerics import (
    ExactDistribution,
    as_vector,
    average_ranks,
    check_alternative,
    median_pairwise_diff,
    qnorm_upper,
    r_median,
    signrank_counts,
    tie_sum,
    wilcox_counts,
    zeroin,
)

__all__ = ["RankSumResult", "SignedRankResult", "ranksum", "signed_rank"]


def _ranksum_w(both: np.ndarray, n1: int) -> tuple[float, float]:
    """R's W (the rank sum of the first ``n1`` values minus n1(n1+1)/2, mid-ranks for ties) and
    sum(t^3 - t) over the tie groups, from one sort (the rank-sum test of a million values in ~0.1 s;
    Table 1 runs it on every skewed row)."""
    order = np.argsort(both)
    s = both[order]
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    counts = np.diff(np.append(starts, s.size))
    mid = starts + (counts + 1) / 2.0                      # 1-based mid-rank of each tie group
    r1 = float(np.repeat(mid, counts)[order < n1].sum())
    c = counts.astype(float)
    return r1 - n1 * (n1 + 1) / 2, float(np.sum(c ** 3 - c))


def _continuity(z: float, alt: str, correct: bool) -> float:
    """R's continuity correction of a centred rank statistic: 0.5 towards zero (two-sided: sign(z) * 0.5,
    "greater": 0.5, "less": -0.5); 0 when ``correct`` is false."""
    if not correct:
        return 0.0
    return {"two.sided": float(np.sign(z)) * 0.5, "greater": 0.5, "less": -0.5}[alt]


def _exact_ci(values: np.ndarray, dist: ExactDistribution, alt: str, conf_level: float, *,
              signif_level: bool) -> tuple[float, float, float, str | None]:
    """R's exact confidence interval of ``wilcox.test``: order statistics of the sorted ``values`` (pairwise
    differences for the rank-sum test, Walsh averages for the signed-rank test) at quantiles of the exact null
    distribution ``dist`` (on 0..len(values)). Returns ``(lower, upper, achieved level, warning or None)``; when the
    requested level is not achievable the level is 1 - the achieved alpha (``signif_level``: rounded to 2
    significant digits, as R does for the signed-rank test)."""
    alpha = 1 - conf_level
    m = len(values)
    level = conf_level
    qu = dist.quantile(alpha / 2 if alt == "two.sided" else alpha)
    if qu == 0:
        qu = 1
    achieved = (2 if alt == "two.sided" else 1) * dist.cdf(math.trunc(qu) - 1)
    if alt == "two.sided":
        lo, hi = float(values[qu - 1]), float(values[m - qu])
    elif alt == "greater":
        lo, hi = float(values[qu - 1]), math.inf
    else:
        lo, hi = -math.inf, float(values[m - qu])
    warning = None
    if achieved - alpha > alpha / 2:
        warning = "requested conf.level not achievable"
        level = 1 - (float(f"{achieved:.2g}") if signif_level else achieved)
    return lo, hi, level, warning


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
    def W(self) -> float:  # noqa: N802
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
    def V(self) -> float:  # noqa: N802
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


def ranksum(x, y, *, exact: bool | None = None, correct: bool = True, conf_level: float = 0.95,
            alternative: str = "two.sided", conf_int: bool = True) -> RankSumResult:
    """Wilcoxon rank-sum test of ``x`` vs ``y`` with R ``wilcox.test(x, y, conf.int=TRUE)`` semantics.

    ``exact=None`` applies R's rule: exact p (and exact CI) when both samples have fewer than 50 values and
    there are no ties; otherwise the normal approximation with tie correction and (``correct=True``)
    continuity correction. ``W`` is R's statistic: the Mann-Whitney U of ``x``.
    """
    from scipy.stats import mannwhitneyu

    alt = check_alternative(alternative)
    xa, mx = as_vector(x, "x")
    ya, my = as_vector(y, "y")
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
    W, both_tie_sum = _ranksum_w(both, n1)
    ties = both_tie_sum > 0
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
            diffs = np.sort(np.subtract.outer(xa, ya).ravel())
            lo, hi, level, w = _exact_ci(diffs, ExactDistribution(wilcox_counts(n1, n2)), alt, conf_level,
                                         signif_level=False)
            warns += [w] if w else []
            est = r_median(diffs)
            hl = est
    else:
        method = "Wilcoxon rank sum test" + (" with continuity correction" if correct else "")
        from scipy.stats import norm

        sigma = math.sqrt((n1 * n2 / 12) * ((n1 + n2 + 1) - both_tie_sum / ((n1 + n2) * (n1 + n2 - 1))))
        zz = W - n1 * n2 / 2
        z = (zz - _continuity(zz, alt, correct)) / sigma if sigma > 0 else math.nan
        # R: 2 * min(pnorm(z), pnorm(z, lower.tail = FALSE)) two-sided, else the matching tail (what
        # mannwhitneyu(method="asymptotic") computes, without its second ranking of the data)
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
                dr = average_ranks(np.concatenate([xa - d, ya]))
                dz = float(dr[:n1].sum()) - n1 * (n1 + 1) / 2 - n1 * n2 / 2
                cc = _continuity(dz, alt, use_correct)
                s = math.sqrt((n1 * n2 / 12) * ((n1 + n2 + 1) - tie_sum(dr) / ((n1 + n2) * (n1 + n2 - 1))))
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
                return zeroin(lambda d: wfun(d, correct) - zq, mumin, mumax, fl, fu)

            if alt == "two.sided":
                lo, hi = root(qnorm_upper(alpha / 2)), root(-qnorm_upper(alpha / 2))
            elif alt == "greater":
                lo, hi = root(qnorm_upper(alpha)), math.inf
            else:
                lo, hi = -math.inf, root(-qnorm_upper(alpha))
            level = conf_level
            e_lo, e_hi = wfun(mumin, False), wfun(mumax, False)
            if e_lo * e_hi > 0:
                est = math.nan
            else:
                est = zeroin(lambda d: wfun(d, False), mumin, mumax, e_lo, e_hi)
            hl = median_pairwise_diff(xa, ya)
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

    alt = check_alternative(alternative)
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
    r = average_ranks(np.abs(d))
    V = float(r[d > 0].sum())
    ties = np.unique(r).size != r.size
    z = None
    est = lo = hi = level = None
    if exact and not ties and not zeroes:
        method = "Wilcoxon signed rank exact test"
        p = float(wilcoxon(d, alternative=scipy_alt, method="exact").pvalue)
        if conf_int:
            ii, jj = np.triu_indices(n)
            walsh = np.sort((d[ii] + d[jj]) / 2)
            lo, hi, level, w = _exact_ci(walsh, ExactDistribution(signrank_counts(n)), alt, conf_level,
                                         signif_level=True)  # R: 1 - signif(achieved.alpha, 2)
            warns += [w] if w else []
            est = r_median(walsh)
    else:
        method = "Wilcoxon signed rank test" + (" with continuity correction" if correct else "")
        res = wilcoxon(d, alternative=scipy_alt, method="approx", correction=correct, zero_method="wilcox")
        p = float(res.pvalue)
        sigma = math.sqrt(n * (n + 1) * (2 * n + 1) / 24 - tie_sum(r) / 48)
        zz = V - n * (n + 1) / 4
        z = (zz - _continuity(zz, alt, correct)) / sigma if sigma > 0 else math.nan
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
                dr = average_ranks(np.abs(xd))
                zd = float(dr[xd > 0].sum()) - nx * (nx + 1) / 4
                s = math.sqrt(nx * (nx + 1) * (2 * nx + 1) / 24 - tie_sum(dr) / 48) if nx else 0.0
                cc = _continuity(zd, alt, use_correct)
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
                    return zeroin(lambda t: wfun(t, correct) - zq, mumin, mumax, w_lo - zq, w_hi - zq)

                level = conf_level
                a2 = alpha
                if alt == "two.sided":
                    while True:
                        if w_lo - qnorm_upper(a2 / 2) < 0 or w_hi + qnorm_upper(a2 / 2) > 0:
                            a2 *= 2
                        else:
                            break
                        if a2 >= 1:
                            break
                    if a2 >= 1 or 1 - conf_level < a2 * 0.75:
                        level = 1 - min(1.0, a2)
                        warns.append("requested conf.level not achievable")
                    if a2 < 1:
                        lo, hi = root(qnorm_upper(a2 / 2)), root(-qnorm_upper(a2 / 2))
                    else:
                        lo = hi = r_median(d)
                elif alt == "greater":
                    while w_lo - qnorm_upper(a2) < 0 and a2 < 1:
                        a2 *= 2
                    if a2 >= 1 or 1 - conf_level < a2 * 0.75:
                        level = 1 - min(1.0, a2)
                        warns.append("requested conf.level not achievable")
                    lo, hi = (root(qnorm_upper(a2)) if a2 < 1 else r_median(d)), math.inf
                else:
                    while w_hi + qnorm_upper(a2 / 2) > 0 and a2 < 1:
                        a2 *= 2
                    if a2 >= 1 or 1 - conf_level < a2 * 0.75:
                        level = 1 - min(1.0, a2)
                        warns.append("requested conf.level not achievable")
                    lo, hi = -math.inf, (root(-qnorm_upper(a2)) if a2 < 1 else r_median(d))
                e_lo, e_hi = wfun(mumin, False), wfun(mumax, False)
                est = zeroin(lambda t: wfun(t, False), mumin, mumax, e_lo, e_hi)
    m = n * (n + 1) / 2
    rb = 2 * V / m - 1
    return SignedRankResult(V, p, method, int(n), int(n_pairs), n_zero, bool(exact and not ties and not zeroes),
                            _f(z), float(rb), _f(est), lo, hi, level, alt, n_missing, tuple(warns))
