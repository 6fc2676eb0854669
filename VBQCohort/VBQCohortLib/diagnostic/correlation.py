"""Correlation of a marker with a continuous reference, equal to R ``cor.test`` (R 4.2, two-sided).

* :func:`pearson` -- ``cor.test(x, y)``: r, t = sqrt(df) r / sqrt(1 - r^2), df = n - 2, p from Student's t
  (``scipy.stats.t``), and the Fisher-z 95% CI ``tanh(atanh(r) -/+ qnorm(0.975) / sqrt(n - 3))`` (n > 3).
* :func:`spearman` -- ``cor.test(x, y, method = "spearman")``: rho = Pearson's r of the average ranks,
  S = (n^3 - n)(1 - rho)/6, and the p-value by R 4.2's rule for ``exact = NULL`` (read from its
  ``cor.test.default``): ``exact`` becomes TRUE, is turned off when x or y has ties, and ``prho`` is used only
  when ``n <= 1290``. With ``exact``, R's ``prho`` (algorithm AS 89) gives the tail probability of
  S: by enumerating all n! permutations for n <= 9, by AS 89's Edgeworth series for n >= 10 (R still calls that
  "exact"); without it, the t approximation ``pt(rho / sqrt((1 - rho^2)/(n - 2)), n - 2)``. ``method`` says which.
  AS 89 is hand-written here (no Python library carries it; ``scipy.stats.spearmanr`` uses the t approximation
  only).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from VBQScoreLib.errors import VBQInputError

__all__ = ["pearson", "spearman", "prho"]

_C = (0.2274, 0.2531, 0.1745, 0.0758, 0.1033, 0.3932, 0.0879, 0.0151, 0.0072, 0.0831, 0.0131, 4.6e-4)
N_SMALL = 9


def _pairs(x, y, what: str):
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.size != y.size:
        raise VBQInputError(f"{what}: x and y differ in length")
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def _cor(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r as R's ``cor`` computes it (means with a second correction pass, then the products)."""
    n = x.size
    mx = x.sum() / n
    mx += (x - mx).sum() / n
    my = y.sum() / n
    my += (y - my).sum() / n
    dx, dy = x - mx, y - my
    sxx, syy = float(np.dot(dx, dx)), float(np.dot(dy, dy))
    if sxx == 0 or syy == 0:
        return math.nan
    r = float(np.dot(dx, dy)) / (math.sqrt(sxx) * math.sqrt(syy))
    return max(-1.0, min(1.0, r))


def pearson(x, y, conf_level: float = 0.95) -> dict:
    """``{r, ci_low, ci_high, t, df, p, n, method}`` (R ``cor.test(x, y)``); pairs with a missing value dropped."""
    from scipy.stats import norm, t as tdist

    x, y = _pairs(x, y, "Pearson correlation")
    n = int(x.size)
    if n < 3:
        raise VBQInputError(f"Pearson correlation: needs at least 3 complete pairs, has {n}")
    r = _cor(x, y)
    df = n - 2
    if math.isnan(r):
        return {"r": None, "ci_low": None, "ci_high": None, "t": None, "df": df, "p": None, "n": n,
                "method": "Pearson's product-moment correlation (a variable is constant: undefined)"}
    with np.errstate(divide="ignore"):
        t = math.sqrt(df) * r / math.sqrt(1 - r * r) if abs(r) < 1 else math.copysign(math.inf, r)
    p = float(2 * min(tdist.cdf(t, df), tdist.sf(t, df)))
    lo = hi = None
    if n > 3:
        z = math.atanh(r) if abs(r) < 1 else math.copysign(math.inf, r)
        h = norm.ppf((1 + conf_level) / 2) / math.sqrt(n - 3)
        lo, hi = math.tanh(z - h), math.tanh(z + h)
    return {"r": r, "ci_low": lo, "ci_high": hi, "t": float(t), "df": df, "p": p, "n": n,
            "method": "Pearson's product-moment correlation (t test; Fisher-z 95% CI)"}


@lru_cache(maxsize=None)
def _s_distribution(n: int) -> np.ndarray:
    """Sorted S = sum (i - p_i)^2 over all n! permutations (n <= 9)."""
    from itertools import permutations

    perms = np.array(list(permutations(range(n))), dtype=np.int64)
    return np.sort(((perms - np.arange(n)) ** 2).sum(axis=1))


def prho(n: int, is_: float, lower_tail: bool) -> float:
    """R's ``prho`` (AS 89): ``P[S >= is]`` (upper) or ``P[S < is]`` (lower) of Spearman's S under independence."""
    from scipy.stats import norm

    pv = 0.0 if lower_tail else 1.0
    if n <= 1 or is_ <= 0:
        return pv
    n3 = float(n)
    n3 *= (n3 * n3 - 1) / 3
    if is_ > n3:
        return 1 - pv
    if n <= N_SMALL:
        s = _s_distribution(n)
        nfac = s.size
        ifr = 1 if is_ == n3 else int(nfac - np.searchsorted(s, is_, side="left"))  # count of S >= is
        return (nfac - ifr) / nfac if lower_tail else ifr / nfac
    c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12 = _C
    y = float(n)
    b = 1 / y
    x = (6 * (is_ - 1) * b / (y * y - 1) - 1) * math.sqrt(y - 1)
    y = x * x
    u = x * b * (c1 + b * (c2 + c3 * b) + y * (-c4 + b * (c5 + c6 * b) - y * b * (c7 + c8 * b - y * (
        c9 - c10 * b + y * b * (c11 - c12 * y)))))
    y = u / math.exp(y / 2)
    pv = (-y if lower_tail else y) + (float(norm.cdf(x)) if lower_tail else float(norm.sf(x)))
    return min(max(pv, 0.0), 1.0)


def _r_round(v: float) -> float:
    """R's ``round(q)`` (half to even for exact halves, as R >= 4.0 on doubles)."""
    return float(np.round(v))


def spearman(x, y) -> dict:
    """``{rho, S, p, n, method, p_method, ties}`` (R ``cor.test(x, y, method = "spearman")``)."""
    from scipy.stats import rankdata, t as tdist

    x, y = _pairs(x, y, "Spearman correlation")
    n = int(x.size)
    if n < 3:
        raise VBQInputError(f"Spearman correlation: needs at least 3 complete pairs, has {n}")
    ties = bool(min(np.unique(x).size, np.unique(y).size) < n)
    exact = True  # R 4.2: exact = NULL -> TRUE (then off with ties; prho only for n <= 1290)
    rho = _cor(rankdata(x), rankdata(y))
    base = "Spearman's rank correlation rho"
    if math.isnan(rho):
        return {"rho": None, "S": None, "p": None, "n": n, "ties": ties, "p_method": None,
                "method": base + " (a variable is constant: undefined)"}
    q = (n ** 3 - n) * (1 - rho) / 6
    if ties and exact:
        exact = False
    if exact and n <= 1290:
        p_method = "exact" if n <= N_SMALL else "edgeworth"
        how = ("exact permutation distribution of S (AS 89, n <= 9)" if n <= N_SMALL else
               "AS 89 Edgeworth series approximation to the exact distribution of S (R's exact test, n <= 1290, "
               "no ties)")
    if exact and n > 1290:
        exact = False
    if not exact:
        p_method = "asymptotic"
        how = ("t approximation with n - 2 df (" + ("ties present" if ties else "n > 1290") + ")")

    def pspearman(qq: float, lower: bool) -> float:
        if n <= 1290 and exact:
            return prho(n, _r_round(qq) + 2 * lower, lower)
        den = (n * (n * n - 1)) / 6
        r = 1 - qq / den
        with np.errstate(divide="ignore"):
            tt = r / math.sqrt((1 - r * r) / (n - 2)) if abs(r) < 1 else math.copysign(math.inf, r)
        return float(tdist.sf(tt, n - 2) if lower else tdist.cdf(tt, n - 2))

    p = pspearman(q, False) if q > (n ** 3 - n) / 6 else pspearman(q, True)
    p = min(2 * p, 1.0)
    return {"rho": rho, "S": float(q), "p": float(p), "n": n, "ties": ties, "p_method": p_method,
            "method": f"{base}; p: {how}"}
