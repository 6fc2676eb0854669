"""k-sample tests: Kruskal-Wallis (``scipy.stats.kruskal``, tie-corrected as R's ``kruskal.test``), Friedman
(``scipy.stats.friedmanchisquare``, tie-corrected like R; rows with a missing value dropped and counted) and Dunn's
post-hoc test (hand-written by its formula, as ``dunn.test``/``FSA::dunnTest``; two-sided p)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Mapping, Sequence

import numpy as np

from VBQScoreLib.errors import VBQInputError
from VBQScoreLib.json_text import finite_or_none as _f  # JSON-safe float: None for None, NaN, ±inf

from .multiplicity import canonical_method, p_adjust_array
from .rnumerics import as_vector, average_ranks, tie_sum

__all__ = ["KruskalResult", "FriedmanResult", "kruskal", "friedman", "dunn"]


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
    def H(self) -> float:  # noqa: N802
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
        a, m = as_vector(v, f"group {name}")
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
        ranks = np.apply_along_axis(average_ranks, 1, m)
        ties = sum(tie_sum(row) for row in ranks)
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
    r = average_ranks(allv)
    sizes = [a.size for a in arrays]
    bounds = np.cumsum([0] + sizes)
    mean_ranks = [float(r[bounds[i]:bounds[i + 1]].mean()) for i in range(len(arrays))]
    s2 = N * (N + 1) / 12 - tie_sum(r) / (12 * (N - 1))
    rows = []
    for i, j in combinations(range(len(arrays)), 2):
        se = math.sqrt(s2 * (1 / sizes[i] + 1 / sizes[j]))
        z = (mean_ranks[i] - mean_ranks[j]) / se if se > 0 else math.nan
        p = float(2 * norm.sf(abs(z))) if math.isfinite(z) else math.nan
        rows.append({"group1": names[i], "group2": names[j], "n1": sizes[i], "n2": sizes[j],
                     "mean_rank1": mean_ranks[i], "mean_rank2": mean_ranks[j], "z": z, "p": p})
    df = pd.DataFrame(rows, columns=["group1", "group2", "n1", "n2", "mean_rank1", "mean_rank2", "z", "p"])
    df["p_adj"] = p_adjust_array(df["p"].to_numpy(dtype=float), p_adjust)
    df.attrs["p_adjust"] = canonical_method(p_adjust)
    df.attrs["method"] = "Dunn's test (two-sided, tie-corrected)"
    return df
