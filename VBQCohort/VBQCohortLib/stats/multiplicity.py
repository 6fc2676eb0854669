"""Multiplicity: ``p_adjust`` as R's ``p.adjust`` (every method through
``statsmodels.stats.multitest.multipletests``, which agrees with R, also for Hommel; R's NA handling: missing
p-values stay missing and do not count in n)."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from VBQScoreLib.errors import VBQInputError
from VBQScoreLib.json_text import finite_or_none as _f  # JSON-safe float: None for None, NaN, ±inf

__all__ = ["P_ADJUST_METHODS", "p_adjust", "p_adjust_array", "canonical_method"]

P_ADJUST_METHODS = ("holm", "hochberg", "hommel", "bonferroni", "BH", "BY", "none")
_ALIASES = {"holm": "holm", "hochberg": "hochberg", "hommel": "hommel", "bonferroni": "bonferroni",
            "bh": "BH", "fdr": "BH", "by": "BY", "none": "none"}
_SM = {"holm": "holm", "hochberg": "simes-hochberg", "hommel": "hommel", "bonferroni": "bonferroni",
       "BH": "fdr_bh", "BY": "fdr_by"}


def canonical_method(method: str) -> str:
    m = _ALIASES.get(str(method).lower())
    if m is None:
        raise VBQInputError(f"unknown p-value adjustment {method!r}; use one of {', '.join(P_ADJUST_METHODS)}")
    return m


def p_adjust_array(p: np.ndarray, method: str) -> np.ndarray:
    from statsmodels.stats.multitest import multipletests

    m = canonical_method(method)
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
        else:  # pragma: no cover - canonical_method guards this
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
        vals = p_adjust_array(np.array([np.nan if v is None else v for v in p.values()], dtype=float), method)
        return {k: _f(v) for k, v in zip(keys, vals)}
    if hasattr(p, "index") and hasattr(p, "to_numpy"):  # pandas Series
        import pandas as pd

        return pd.Series(p_adjust_array(p.to_numpy(dtype=float), method), index=p.index, name=p.name)
    if isinstance(p, np.ndarray):
        return p_adjust_array(p, method)
    vals = p_adjust_array(np.array([np.nan if v is None else v for v in p], dtype=float), method)
    return [_f(v) for v in vals]
