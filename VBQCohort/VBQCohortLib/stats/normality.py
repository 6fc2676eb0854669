"""Normality: Shapiro-Wilk, a port of R's ``swilk.c`` (Royston's AS R94). scipy.stats.shapiro runs the same
algorithm but partly in single precision (W off by ~1e-10, p by ~1e-8 from R), so it is only used as a
cross-check in tests."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from VBQScoreLib.errors import VBQInputError
from VBQScoreLib.json_text import finite_or_none as _f  # JSON-safe float: None for None, NaN, ±inf

from .rnumerics import as_vector

__all__ = ["ShapiroResult", "shapiro"]


@dataclass(frozen=True)
class ShapiroResult:
    statistic: float
    pvalue: float
    n: int
    method: str = "Shapiro-Wilk normality test"

    @property
    def W(self) -> float:  # noqa: N802 - R's name
        return self.statistic

    @property
    def p(self) -> float:
        return self.pvalue

    def to_dict(self) -> dict[str, Any]:
        return {"W": _f(self.statistic), "p": _f(self.pvalue), "n": int(self.n), "method": self.method}


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
    a, _ = as_vector(x, name)
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
