"""R's numerical routines that the rank tests need to give R's very numbers (R 4.2, ``src/library/stats``),
hand-written because no Python library exposes them: average ranks and tie sums, exact null distributions of the
Wilcoxon statistics (R's ``cwilcox``/``csignrank`` from their generating functions, with R's ``p*``/``q*``
conventions), R's ``uniroot`` core ``R_zeroin2`` (Brent, ported line by line), the Hodges-Lehmann median of all
pairwise differences without forming them, and argument checks shared by the tests."""

from __future__ import annotations

import math

import numpy as np

from VBQScoreLib.errors import VBQInputError

__all__ = ["as_vector", "average_ranks", "tie_sum", "r_median", "kth_pairwise_diff", "median_pairwise_diff",
           "wilcox_counts", "signrank_counts", "ExactDistribution", "zeroin", "qnorm_upper", "check_alternative"]


def as_vector(x, what: str) -> tuple[np.ndarray, int]:
    """1-D float array without missing values, and how many were missing."""
    try:
        a = np.asarray(x, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise VBQInputError(f"{what}: values must be numbers ({exc})") from None
    ok = ~np.isnan(a)
    if np.isinf(a[ok]).any():
        raise VBQInputError(f"{what}: infinite values are not allowed")
    return a[ok], int((~ok).sum())


def average_ranks(a: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(a, method="average")


def tie_sum(r: np.ndarray) -> float:
    """sum(t^3 - t) over tie groups of the ranks (R: sum(NTIES^3 - NTIES) with NTIES = table(r))."""
    _, counts = np.unique(r, return_counts=True)
    counts = counts.astype(float)
    return float(np.sum(counts ** 3 - counts))


def r_median(v: np.ndarray) -> float:
    return float(np.median(v))


def kth_pairwise_diff(x: np.ndarray, y: np.ndarray, k: int) -> float:
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


def median_pairwise_diff(x: np.ndarray, y: np.ndarray) -> float:
    """Median of all x_i - y_j (the Hodges-Lehmann two-sample estimator), memory-safe for large samples."""
    m = x.size * y.size
    if m <= 2_000_000:
        return r_median(np.subtract.outer(x, y).ravel())
    if m % 2:
        return kth_pairwise_diff(x, y, (m + 1) // 2)
    return (kth_pairwise_diff(x, y, m // 2) + kth_pairwise_diff(x, y, m // 2 + 1)) / 2


def wilcox_counts(m: int, n: int) -> list[int]:
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


def signrank_counts(n: int) -> list[int]:
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


class ExactDistribution:
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


def zeroin(f, ax: float, bx: float, fa: float, fb: float, tol: float = 1e-4, maxit: int = 1000) -> float:
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


def qnorm_upper(p: float) -> float:
    from scipy.stats import norm

    return float(norm.isf(p))


def check_alternative(alternative: str) -> str:
    alt = {"two-sided": "two.sided", "two.sided": "two.sided", "less": "less", "greater": "greater"}.get(alternative)
    if alt is None:
        raise VBQInputError(f"alternative must be 'two.sided', 'less' or 'greater', not {alternative!r}")
    return alt
