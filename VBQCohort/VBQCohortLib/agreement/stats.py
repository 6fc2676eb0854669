"""Reader agreement statistics: intraclass correlation (ICC) and Bland-Altman, equal to R.

ICC
---
:func:`icc` computes the six Shrout & Fleiss (1979) forms exactly as R ``psych::ICC(x, lmer = FALSE)`` does
(psych 2.2.9): the two-way ANOVA mean squares of an ``n cases x k raters`` matrix (MSB between cases, MSJ between
raters ("judges"), MSE residual, MSW = pooled within-case), then

============  =========================  ===========================================  =====================
psych type    Shrout-Fleiss              McGraw & Wong (irr::icc, SPSS)              F test (df1, df2)
============  =========================  ===========================================  =====================
``ICC1``      ICC(1,1)                   oneway, single: ICC(1)                       MSB/MSW (n-1, n(k-1))
``ICC2``      ICC(2,1)                   twoway, agreement, single: ICC(A,1)          MSB/MSE (n-1, (n-1)(k-1))
``ICC3``      ICC(3,1)                   twoway, consistency, single: ICC(C,1)        MSB/MSE (n-1, (n-1)(k-1))
``ICC1k``     ICC(1,k)                   oneway, average: ICC(k)                      as ICC1
``ICC2k``     ICC(2,k)                   twoway, agreement, average: ICC(A,k)         as ICC2
``ICC3k``     ICC(3,k)                   twoway, consistency, average: ICC(C,k)       as ICC3
============  =========================  ===========================================  =====================

with psych's 95% confidence limits (F-distribution limits; for ICC2/ICC2k the Satterthwaite df ``v`` of
McGraw & Wong 1996). Quantiles and tail probabilities come from ``scipy.stats.f``; the mean squares are computed
directly from the centred matrix (no ANOVA library is needed for a complete two-way layout without replication).
psych's default ``lmer = TRUE`` rebuilds the mean squares from lme4 variance components, which drifts from these
published formulas; ``lmer = FALSE`` on complete cases is the reference.

Under the McGraw-Wong names (:func:`icc_mcgraw_wong`) the ICC values and confidence limits are the same numbers;
only the F test of the twoway *agreement* forms differs: ``irr::icc`` (0.84.1) tests MSB/MSE against
``F(n-1, v)`` with the Satterthwaite ``v`` of McGraw & Wong (computed, as irr does, from ICC(A,1) for the single
and from ICC(A,k) for the average form), so ``df2`` and ``p`` are irr's there. irr's own confidence limits for
ICC(A,k) use a different formula from McGraw & Wong's Table 7 / psych; we report psych's (the published ones)
and give irr's beside them as ``irr_lower``/``irr_upper``.

Which form answers which question: inter-reader *absolute agreement* (can a value measured by one reader be
exchanged for another reader's?) is ICC(2,1) = ICC(A,1), the two-way random-effects, single-measurement form:
the report leads with it. ICC(3,1) asks whether readers rank cases alike (consistency, systematic reader offsets
ignored); ICC(1,1) is for designs where each case has its own readers; the ``k`` forms are the reliability of
the mean of ``k`` readers. Koo & Li (2016) bands: < 0.5 poor, 0.5-0.75 moderate, 0.75-0.9 good, > 0.9
excellent, to be read off the 95% confidence interval rather than the point estimate.

Bland-Altman
------------
:func:`bland_altman` (Bland & Altman 1986, 1999): differences ``a - b`` of complete pairs; bias = mean difference
with its t-based 95% CI (``t(n-1)``; equal to ``scipy.stats.ttest_1samp(...).confidence_interval()``), SD of the
differences, limits of agreement bias +/- 1.96 SD and their approximate 95% CIs, limit +/- t(n-1) sqrt(3 s^2 / n)
(Bland & Altman 1999, section 2.2: the standard error of a limit is approximately sqrt(3 s^2 / n)); and the test of
a proportional bias: least-squares regression of the difference on the pair mean (``scipy.stats.linregress``:
slope, its 95% CI, p of slope = 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from VBQScoreLib.json_text import finite_or_none as _f  # JSON-safe float: None for None, NaN, ±inf

ICC_TYPES = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")

#: per psych type: Shrout-Fleiss name, McGraw-Wong name (model, type, unit) and form, and the question it answers
ICC_FORMS: dict[str, dict[str, str]] = {
    "ICC1": {"shrout_fleiss": "ICC(1,1)", "mcgraw_wong": "oneway single", "form": "ICC(1)",
             "question": "one-way random effects, single measurement: each case may be read by different readers"},
    "ICC2": {"shrout_fleiss": "ICC(2,1)", "mcgraw_wong": "twoway agreement single", "form": "ICC(A,1)",
             "question": "two-way random effects, absolute agreement, single reader: can one reader's value "
                         "replace another's? (inter-reader agreement; reported first)"},
    "ICC3": {"shrout_fleiss": "ICC(3,1)", "mcgraw_wong": "twoway consistency single", "form": "ICC(C,1)",
             "question": "two-way mixed effects, consistency, single reader: do these readers rank cases alike "
                         "(constant reader offsets ignored)?"},
    "ICC1k": {"shrout_fleiss": "ICC(1,k)", "mcgraw_wong": "oneway average", "form": "ICC(k)",
              "question": "as ICC1, for the mean of k readers"},
    "ICC2k": {"shrout_fleiss": "ICC(2,k)", "mcgraw_wong": "twoway agreement average", "form": "ICC(A,k)",
              "question": "as ICC2, for the mean of k readers"},
    "ICC3k": {"shrout_fleiss": "ICC(3,k)", "mcgraw_wong": "twoway consistency average", "form": "ICC(C,k)",
              "question": "as ICC3, for the mean of k readers"},
}
MCGRAW_WONG = {v["mcgraw_wong"]: k for k, v in ICC_FORMS.items()}  # "twoway agreement single" -> "ICC2"

KOO_LI_BANDS = ((0.5, "poor"), (0.75, "moderate"), (0.9, "good"))  # upper bounds; above 0.9: excellent


# ---------------------------------------------------------------------------------------------------------------
# Koo & Li

def koo_li(value) -> Optional[str]:
    """Koo & Li (2016) band of an ICC value: poor (< 0.5), moderate (0.5 to < 0.75), good (0.75 to 0.9),
    excellent (> 0.9)."""
    v = _f(value)
    if v is None:
        return None
    if v < 0.5:
        return "poor"
    if v < 0.75:
        return "moderate"
    if v <= 0.9:
        return "good"
    return "excellent"


def koo_li_ci(lower, upper) -> Optional[str]:
    """The band(s) a 95% CI spans, as Koo & Li advise reading them: ``"good"`` or ``"moderate to excellent"``."""
    a, b = koo_li(lower), koo_li(upper)
    if a is None or b is None:
        return None
    return a if a == b else f"{a} to {b}"


# ---------------------------------------------------------------------------------------------------------------
# ICC: vectorised core on (..., n, k) arrays

def mean_squares(x) -> dict[str, np.ndarray]:
    """Two-way ANOVA mean squares of complete ``(..., n, k)`` arrays: MSB (cases), MSJ (raters), MSE (residual),
    MSW (within cases) and their degrees of freedom, as R ``aov(values ~ subs + ind)`` gives them."""
    x = np.asarray(x, dtype=float)
    n, k = x.shape[-2], x.shape[-1]
    g = x.mean(axis=(-2, -1), keepdims=True)
    xc = x - g
    rm = xc.mean(axis=-1, keepdims=True)   # case effects
    cm = xc.mean(axis=-2, keepdims=True)   # rater effects
    ssb = k * np.square(rm - rm.mean(axis=-2, keepdims=True)).sum(axis=(-2, -1))
    ssj = n * np.square(cm - cm.mean(axis=-1, keepdims=True)).sum(axis=(-2, -1))
    sse = np.square(xc - rm - cm).sum(axis=(-2, -1))
    dfb, dfj, dfe = n - 1, k - 1, (n - 1) * (k - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"MSB": ssb / dfb, "MSJ": ssj / dfj, "MSE": sse / dfe, "MSW": (ssj + sse) / (dfj + dfe),
                "dfB": dfb, "dfJ": dfj, "dfE": dfe, "n": n, "k": k}


def _satterthwaite_v(icc_a, fj, n, k):
    """McGraw & Wong's df ``v`` for the ICC(A,.) limits (psych's vn/vd; irr's a, b form is algebraically equal)."""
    vn = (k - 1) * (n - 1) * np.square(k * icc_a * fj + n * (1 + (k - 1) * icc_a) - k * icc_a)
    vd = (n - 1) * k ** 2 * np.square(icc_a) * np.square(fj) + np.square(n * (1 + (k - 1) * icc_a) - k * icc_a)
    return vn / vd


def icc_arrays(x, alpha: float = 0.05) -> dict[str, np.ndarray]:
    """All six psych forms for complete ``(..., n, k)`` arrays at once. Returns arrays of shape ``(..., 6)``
    (order :data:`ICC_TYPES`) for ``icc, F, df1, df2, p, lower, upper`` plus the mean squares."""
    from scipy.stats import f as fdist

    ms = mean_squares(x)
    MSB, MSJ, MSE, MSW = ms["MSB"], ms["MSJ"], ms["MSE"], ms["MSW"]
    n, k = ms["n"], ms["k"]
    q = 1 - alpha / 2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        icc1 = (MSB - MSW) / (MSB + (k - 1) * MSW)
        icc2 = (MSB - MSE) / (MSB + (k - 1) * MSE + k * (MSJ - MSE) / n)
        icc3 = (MSB - MSE) / (MSB + (k - 1) * MSE)
        icc1k = (MSB - MSW) / MSB
        icc2k = (MSB - MSE) / (MSB + (MSJ - MSE) / n)
        icc3k = (MSB - MSE) / MSB
        F11, F21 = MSB / MSW, MSB / MSE
        df11n, df11d, df21n, df21d = n - 1, n * (k - 1), n - 1, (n - 1) * (k - 1)
        p11 = fdist.sf(F11, df11n, df11d)
        p21 = fdist.sf(F21, df21n, df21d)
        F1L = F11 / fdist.ppf(q, df11n, df11d)
        F1U = F11 * fdist.ppf(q, df11d, df11n)
        F3L = F21 / fdist.ppf(q, df21n, df21d)
        F3U = F21 * fdist.ppf(q, df21d, df21n)
        L1, U1 = (F1L - 1) / (F1L + (k - 1)), (F1U - 1) / (F1U + k - 1)
        L3s, U3s = (F3L - 1) / (F3L + k - 1), (F3U - 1) / (F3U + k - 1)
        L1k, U1k = 1 - 1 / F1L, 1 - 1 / F1U
        L3k, U3k = 1 - 1 / F3L, 1 - 1 / F3U
        v = _satterthwaite_v(icc2, MSJ / MSE, n, k)
        Fu = fdist.ppf(q, n - 1, v)
        Fl = fdist.ppf(q, v, n - 1)
        L2 = n * (MSB - Fu * MSE) / (Fu * (k * MSJ + (k * n - k - n) * MSE) + n * MSB)
        U2 = n * (Fl * MSB - MSE) / (k * MSJ + (k * n - k - n) * MSE + n * Fl * MSB)
        L2k, U2k = L2 * k / (1 + L2 * (k - 1)), U2 * k / (1 + U2 * (k - 1))
    st = lambda *a: np.stack(np.broadcast_arrays(*[np.asarray(t, dtype=float) for t in a]), axis=-1)  # noqa: E731
    shape = np.shape(MSB)
    full = lambda c: np.full(shape, float(c))  # noqa: E731
    return {
        "icc": st(icc1, icc2, icc3, icc1k, icc2k, icc3k),
        "F": st(F11, F21, F21, F11, F21, F21),
        "df1": st(*(full(d) for d in (df11n, df21n, df21n, df11n, df21n, df21n))),
        "df2": st(*(full(d) for d in (df11d, df21d, df21d, df11d, df21d, df21d))),
        "p": st(p11, p21, p21, p11, p21, p21),
        "lower": st(L1, L2, L3s, L1k, L2k, L3k),
        "upper": st(U1, U2, U3s, U1k, U2k, U3k),
        "v": np.asarray(v, dtype=float),
        **{key: np.asarray(ms[key], dtype=float) for key in ("MSB", "MSJ", "MSE", "MSW")},
    }


# ---------------------------------------------------------------------------------------------------------------
# ICC: results for one analysis

@dataclass(frozen=True)
class ICCResult:
    """The six psych ICC rows for one analysis (one matrix of cases x raters), complete cases only."""

    rows: tuple[dict, ...]
    n_cases: int
    n_raters: int
    n_excluded: int = 0
    excluded: tuple[Any, ...] = ()
    raters: tuple[str, ...] = ()
    mean_squares: dict = field(default_factory=dict)
    note: Optional[str] = None

    def row(self, type_: str) -> dict:
        for r in self.rows:
            if r["type"] == type_:
                return r
        raise KeyError(type_)

    def to_rows(self) -> list[dict]:
        """The ``agreement.json`` list: six rows ``type, icc, F, df1, df2, p, lower, upper, n_cases, n_raters``
        (+ ``n_excluded``, ``koo_li``, ``koo_li_ci``)."""
        return [dict(r) for r in self.rows]

    def to_dict(self) -> dict:
        return {"rows": self.to_rows(), "n_cases": self.n_cases, "n_raters": self.n_raters,
                "n_excluded": self.n_excluded, "excluded": [str(e) for e in self.excluded],
                "raters": list(self.raters), "mean_squares": dict(self.mean_squares), "note": self.note}


def _empty_rows(n: int, k: int, n_excluded: int) -> tuple[dict, ...]:
    return tuple({"type": t, "icc": None, "F": None, "df1": None, "df2": None, "p": None, "lower": None,
                  "upper": None, "n_cases": n, "n_raters": k, "n_excluded": n_excluded, "koo_li": None,
                  "koo_li_ci": None} for t in ICC_TYPES)


def _complete(x, case_ids=None):
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError("ICC needs a 2-D array (cases x raters)")
    keep = ~np.isnan(x).any(axis=1)
    ids = np.arange(x.shape[0]) if case_ids is None else np.asarray(case_ids, dtype=object)
    return x[keep], keep, [ids[i] for i in np.flatnonzero(~keep)]


def icc(x, *, alpha: float = 0.05, case_ids=None, raters: Sequence[str] = ()) -> ICCResult:
    """Six ICC forms of a ``cases x raters`` array (or DataFrame) with psych ``ICC(x, lmer = FALSE)`` numbers.

    Rows with a missing value are left out (complete cases, as psych needs for ``lmer = FALSE``) and counted in
    ``n_excluded`` / listed in ``excluded`` (row positions, or ``case_ids``). Fewer than 2 complete cases or 2
    raters give rows of ``None`` with a ``note``.
    """
    try:
        import pandas as pd

        if isinstance(x, pd.DataFrame):
            case_ids = list(x.index) if case_ids is None else case_ids
            raters = tuple(str(c) for c in x.columns) if not raters else raters
            x = x.to_numpy(dtype=float)
    except ImportError:  # pragma: no cover
        pass
    xc, keep, excluded = _complete(x, case_ids)
    n, k = xc.shape
    if n < 2 or k < 2:
        what = f"{n} complete case{'s' if n != 1 else ''}" if n < 2 else f"{k} rater"
        return ICCResult(_empty_rows(n, k, len(excluded)), n, k, len(excluded), tuple(excluded), tuple(raters),
                         note=f"{what}: an ICC needs at least 2 cases and 2 raters")
    a = icc_arrays(xc, alpha)
    rows = []
    for j, t in enumerate(ICC_TYPES):
        r = {"type": t, "icc": _f(a["icc"][j]), "F": _f(a["F"][j]), "df1": _f(a["df1"][j]),
             "df2": _f(a["df2"][j]), "p": _f(a["p"][j]), "lower": _f(a["lower"][j]), "upper": _f(a["upper"][j]),
             "n_cases": int(n), "n_raters": int(k), "n_excluded": len(excluded)}
        r["koo_li"] = koo_li(r["icc"])
        r["koo_li_ci"] = koo_li_ci(r["lower"], r["upper"])
        rows.append(r)
    ms = {key: _f(a[key]) for key in ("MSB", "MSJ", "MSE", "MSW")}
    ms["v"] = _f(a["v"])
    return ICCResult(tuple(rows), int(n), int(k), len(excluded), tuple(excluded), tuple(raters), ms)


def icc_mcgraw_wong(result: ICCResult, name: Optional[str] = None, *, alpha: float = 0.05):
    """The rows of ``result`` under McGraw & Wong's names (``"twoway agreement single"`` ...), with irr's F test
    for the twoway-agreement forms. ``name`` picks one row (a dict); without it, all six (a list).

    Each row: ``name, form, psych_type, icc, F, df1, df2, p, lower, upper, n_cases, n_raters`` (+ ``irr_lower``,
    ``irr_upper`` for ICC(A,k): the limits irr 0.84.1 prints, from its own formula).
    """
    from scipy.stats import f as fdist

    if name is not None:
        key = " ".join(str(name).lower().split())
        if key not in MCGRAW_WONG:
            raise ValueError(f"unknown McGraw-Wong form '{name}' (choose from {', '.join(MCGRAW_WONG)})")
        names = [key]
    else:
        names = [ICC_FORMS[t]["mcgraw_wong"] for t in ICC_TYPES]
    ms = result.mean_squares
    n, k = result.n_cases, result.n_raters
    out = []
    for nm in names:
        t = MCGRAW_WONG[nm]
        r = result.row(t)
        row = {"name": nm, "form": ICC_FORMS[t]["form"].replace("k)", f"{k})") if t.endswith("k") else
               ICC_FORMS[t]["form"], "psych_type": t,
               **{c: r[c] for c in ("icc", "F", "df1", "df2", "p", "lower", "upper", "n_cases", "n_raters")}}
        if t in ("ICC2", "ICC2k") and r["icc"] is not None and ms.get("MSE"):
            MSB, MSJ, MSE = ms["MSB"], ms["MSJ"], ms["MSE"]
            coeff = r["icc"]
            # irr::icc: a, b from the coefficient of the form asked for, v by Satterthwaite (McGraw & Wong)
            a = (k * coeff) / (n * (1 - coeff))
            b = 1 + (k * coeff * (n - 1)) / (n * (1 - coeff))
            v = (a * MSJ + b * MSE) ** 2 / ((a * MSJ) ** 2 / (k - 1) + (b * MSE) ** 2 / ((n - 1) * (k - 1)))
            row["df2"] = _f(v)
            row["p"] = _f(fdist.sf(MSB / MSE, n - 1, v))
            if t == "ICC2k":
                q = 1 - alpha / 2
                FL, FU = fdist.ppf(q, n - 1, v), fdist.ppf(q, v, n - 1)
                row["irr_lower"] = _f(n * (MSB - FL * MSE) / (FL * (MSJ - MSE) + n * MSB))
                row["irr_upper"] = _f(n * (FU * MSB - MSE) / (MSJ - MSE + n * FU * MSB))
        out.append(row)
    return out[0] if name is not None else out


# ---------------------------------------------------------------------------------------------------------------
# Bland-Altman

@dataclass(frozen=True)
class BlandAltmanResult:
    n: int
    bias: Optional[float]
    bias_ci_low: Optional[float]
    bias_ci_high: Optional[float]
    sd: Optional[float]
    loa_low: Optional[float]
    loa_high: Optional[float]
    loa_low_ci_low: Optional[float]
    loa_low_ci_high: Optional[float]
    loa_high_ci_low: Optional[float]
    loa_high_ci_high: Optional[float]
    prop_bias_slope: Optional[float]
    prop_bias_intercept: Optional[float]
    prop_bias_slope_ci_low: Optional[float]
    prop_bias_slope_ci_high: Optional[float]
    prop_bias_p: Optional[float]
    n_excluded: int = 0
    excluded: tuple = ()
    loa_z: float = 1.96
    conf_level: float = 0.95
    a: str = "A"
    b: str = "B"
    method: str = ("Bland-Altman: differences A - B; bias with t-based CI; limits bias +/- loa_z SD with "
                   "approximate CIs +/- t sqrt(3 s^2/n) (Bland & Altman 1999); proportional bias: OLS regression "
                   "of the difference on the mean")

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in (
            "bias", "bias_ci_low", "bias_ci_high", "sd", "loa_low", "loa_high", "n", "loa_low_ci_low",
            "loa_low_ci_high", "loa_high_ci_low", "loa_high_ci_high", "prop_bias_slope", "prop_bias_intercept",
            "prop_bias_slope_ci_low", "prop_bias_slope_ci_high", "prop_bias_p", "n_excluded", "loa_z",
            "conf_level", "a", "b", "method")}
        d["excluded"] = [str(e) for e in self.excluded]
        return d


def bland_altman(a, b, *, case_ids=None, loa_z: float = 1.96, conf_level: float = 0.95,
                 names: tuple[str, str] = ("A", "B")) -> BlandAltmanResult:
    """Bland-Altman agreement of paired measurements ``a`` and ``b`` (differences ``a - b``); pairs with a
    missing value are left out and counted."""
    from scipy import stats

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("bland_altman needs two 1-D arrays of the same length")
    keep = ~(np.isnan(a) | np.isnan(b))
    ids = np.arange(a.size) if case_ids is None else np.asarray(case_ids, dtype=object)
    excluded = tuple(ids[i] for i in np.flatnonzero(~keep))
    a, b = a[keep], b[keep]
    n = int(a.size)
    none = dict.fromkeys(("bias", "bias_ci_low", "bias_ci_high", "sd", "loa_low", "loa_high", "loa_low_ci_low",
                          "loa_low_ci_high", "loa_high_ci_low", "loa_high_ci_high", "prop_bias_slope",
                          "prop_bias_intercept", "prop_bias_slope_ci_low", "prop_bias_slope_ci_high",
                          "prop_bias_p"))
    common = dict(n=n, n_excluded=len(excluded), excluded=excluded, loa_z=loa_z, conf_level=conf_level,
                  a=str(names[0]), b=str(names[1]))
    if n < 2:
        return BlandAltmanResult(**none, **common)
    d = a - b
    m = (a + b) / 2
    bias = float(d.mean())
    sd = float(d.std(ddof=1))
    t = float(stats.t.ppf(1 - (1 - conf_level) / 2, n - 1))
    se_bias = sd / math.sqrt(n)
    se_loa = math.sqrt(3 * sd * sd / n)
    lo, hi = bias - loa_z * sd, bias + loa_z * sd
    vals = dict(bias=bias, bias_ci_low=bias - t * se_bias, bias_ci_high=bias + t * se_bias, sd=sd,
                loa_low=lo, loa_high=hi, loa_low_ci_low=lo - t * se_loa, loa_low_ci_high=lo + t * se_loa,
                loa_high_ci_low=hi - t * se_loa, loa_high_ci_high=hi + t * se_loa)
    slope = intercept = s_lo = s_hi = p = None
    if n >= 3 and np.ptp(m) > 0:
        lr = stats.linregress(m, d)
        slope, intercept, p = float(lr.slope), float(lr.intercept), _f(lr.pvalue)
        ts = float(stats.t.ppf(1 - (1 - conf_level) / 2, n - 2))
        s_lo, s_hi = slope - ts * float(lr.stderr), slope + ts * float(lr.stderr)
    return BlandAltmanResult(**vals, prop_bias_slope=_f(slope), prop_bias_intercept=_f(intercept),
                             prop_bias_slope_ci_low=_f(s_lo), prop_bias_slope_ci_high=_f(s_hi), prop_bias_p=p,
                             **common)
