"""ROC analysis equal to R ``pROC`` 1.18 (Robin et al. 2011).

* :func:`roc` -- ``roc(response, predictor, direction = "auto")``: the direction comes from the group medians
  (``"<"``: controls below cases, a subject is positive when ``predictor >= threshold``; ``">"``: controls above
  cases, positive when ``predictor <= threshold``); thresholds are ``-Inf``, the midpoints between consecutive
  distinct values and ``+Inf`` (pROC's ``roc.utils.thresholds``: ``(a + b) / 2``), ordered as pROC orders them
  (increasing for ``"<"``, decreasing for ``">"``: sensitivity falls from 1 to 0 along the curve either way).
* :func:`delong_placements` / :func:`ci_auc_delong` -- the AUC and its DeLong variance from the structural
  components ("placements") computed by sorting and binary search, O(n log n) as in Sun & Xu (2014), which is
  what pROC's ``delongPlacements`` does: ``V10_i`` = share of controls below case i (ties count 1/2), ``V01_j`` =
  share of cases above control j; ``var = var(V10)/m + var(V01)/n``; CI ``qnorm(c(.025, .975), auc, sqrt(var))``
  clipped to [0, 1] (``ci.auc(method = "delong")``).
* :func:`roc_test_paired` -- ``roc.test(roc1, roc2, method = "delong", paired = TRUE)``.
* :func:`ci_auc_bootstrap` -- ``ci.auc(method = "bootstrap", boot.stratified = TRUE)``: cases and controls
  resampled separately with replacement, percentiles ``quantile(type = 7)``. The random numbers are numpy's
  (``default_rng(seed)``), not R's Mersenne-Twister: the same seed gives another sample than pROC (the CI agrees
  to Monte-Carlo error, not digit for digit).
* :func:`coords_best` -- ``coords(x, "best", best.method = "youden")``: every threshold whose ``se + sp`` equals
  the maximum (exact floating-point equality, as pROC), in pROC's order.
* :func:`coords_at_threshold`, :func:`coords_at` (``input = "sensitivity"|"specificity"``: pROC's linear
  interpolation between curve points, plus the operating threshold that reaches the target).
* :func:`operating_point` -- the 2x2 table at a threshold with sensitivity, specificity and their
  Clopper-Pearson 95% CIs (``binom.test``, via ``scipy.stats.binomtest``), PPV, NPV, LR+ and LR-.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from VBQScoreLib.errors import VBQInputError

__all__ = ["ROC", "roc", "delong_placements", "ci_auc_delong", "ci_auc_bootstrap", "roc_test_paired",
           "coords_best", "coords_at_threshold", "coords_at", "operating_point", "clopper_pearson",
           "auc_delong"]

Z975 = 1.959963984540054  # qnorm(0.975)


@dataclass(frozen=True)
class ROC:
    """An empirical ROC curve (pROC's ``roc`` object): ``cases``/``controls`` as given (finite floats),
    ``direction`` ``"<"`` or ``">"``, and the curve arrays in pROC's order."""
    cases: np.ndarray
    controls: np.ndarray
    direction: str
    thresholds: np.ndarray
    sensitivities: np.ndarray
    specificities: np.ndarray
    auc: float
    cases_sorted: np.ndarray | None = field(default=None, repr=False, compare=False)
    controls_sorted: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def n_cases(self) -> int:
        return int(self.cases.size)

    @property
    def n_controls(self) -> int:
        return int(self.controls.size)


def _as_float(a, what: str) -> np.ndarray:
    x = np.asarray(a, dtype=float).ravel()
    if not np.all(np.isfinite(x)):
        raise VBQInputError(f"{what}: values must be finite numbers (missing values are dropped before the ROC)")
    return x


def pick_direction(controls: np.ndarray, cases: np.ndarray) -> str:
    """pROC ``direction = "auto"``: ``"<"`` when ``median(controls) <= median(cases)``, else ``">"``."""
    return "<" if float(np.median(controls)) <= float(np.median(cases)) else ">"


def _thresholds(values: np.ndarray, direction: str) -> np.ndarray:
    """pROC's ``roc.utils.thresholds``: -Inf, midpoints, +Inf (ascending), with its fix of near ties."""
    u = np.unique(values)
    lo = np.concatenate(([-np.inf], u))
    hi = np.concatenate((u, [np.inf]))
    with np.errstate(invalid="ignore", over="ignore"):
        t1 = (lo + hi) / 2
        t2 = lo / 2 + hi / 2
    t = np.where(np.abs(t1) > 1e100, t2, t1)
    # midpoints that round onto a data value (consecutive doubles): pROC moves them to the side that keeps the
    # value on the right side of the cut
    ties = np.flatnonzero(np.isin(t, u))
    for i in ties:
        if direction == "<" and i >= 1 and t[i] == u[i - 1]:
            t[i] = u[i]
        elif direction == ">" and i >= 1 and t[i] == u[i]:
            t[i] = u[i - 1]
    return t


def _se_sp(cases_sorted: np.ndarray, controls_sorted: np.ndarray, t: np.ndarray, direction: str):
    m, n = cases_sorted.size, controls_sorted.size
    if direction == "<":  # positive: predictor >= t
        tp = m - np.searchsorted(cases_sorted, t, side="left")
        tn = np.searchsorted(controls_sorted, t, side="left")
    else:                 # positive: predictor <= t
        tp = np.searchsorted(cases_sorted, t, side="right")
        tn = n - np.searchsorted(controls_sorted, t, side="right")
    return tp, tn


def roc(response: Sequence[Any], predictor: Sequence[float], direction: str = "auto") -> ROC:
    """The ROC curve of ``predictor`` for the 0/1 (or boolean) ``response`` (1 = case)."""
    y = np.asarray(response).astype(bool).ravel()
    x = _as_float(predictor, "predictor")
    if y.size != x.size:
        raise VBQInputError("response and predictor differ in length")
    return roc_from_groups(x[y], x[~y], direction)


def roc_from_groups(cases, controls, direction: str = "auto") -> ROC:
    cases = _as_float(cases, "cases")
    controls = _as_float(controls, "controls")
    if cases.size == 0 or controls.size == 0:
        raise VBQInputError("ROC: needs at least one case and one control")
    if direction == "auto":
        direction = pick_direction(controls, cases)
    if direction not in ("<", ">"):
        raise VBQInputError(f"ROC direction {direction!r}: use '<', '>' or 'auto'")
    cs, ct = np.sort(cases), np.sort(controls)
    t = _thresholds(np.concatenate((cs, ct)), direction)
    if direction == ">":
        t = t[::-1]
    tp, tn = _se_sp(cs, ct, t, direction)
    se = tp / cs.size
    sp = tn / ct.size
    auc = _auc_sorted(cs, ct, direction)
    return ROC(cases=cases, controls=controls, direction=direction, thresholds=t, sensitivities=se,
               specificities=sp, auc=auc, cases_sorted=cs, controls_sorted=ct)


def _placements_sorted(cs: np.ndarray, ct: np.ndarray, direction: str):
    """(V10 of the cases in sorted order, V01 of the controls in sorted order) for ``direction``."""
    if direction == ">":
        cs, ct = -cs[::-1], -ct[::-1]
    m, n = cs.size, ct.size
    lo = np.searchsorted(ct, cs, side="left")
    hi = np.searchsorted(ct, cs, side="right")
    v10 = (lo + hi) / (2.0 * n)             # controls below the case, ties 1/2
    lo2 = np.searchsorted(cs, ct, side="left")
    hi2 = np.searchsorted(cs, ct, side="right")
    v01 = ((m - hi2) + (m - lo2)) / (2.0 * m)  # cases above the control, ties 1/2
    return v10, v01


def _auc_sorted(cs, ct, direction) -> float:
    v10, _ = _placements_sorted(cs, ct, direction)
    return float(np.mean(v10))


def delong_placements(r: ROC):
    """``(theta, V10, V01)``: the AUC and the placements of the cases and controls (pROC ``delongPlacements``),
    each in the order of ``r.cases`` / ``r.controls``."""
    oc, ot = np.argsort(r.cases, kind="stable"), np.argsort(r.controls, kind="stable")
    v10s, v01s = _placements_sorted(r.cases[oc], r.controls[ot], r.direction)
    if r.direction == ">":
        v10s, v01s = v10s[::-1], v01s[::-1]
    v10 = np.empty_like(v10s)
    v10[oc] = v10s
    v01 = np.empty_like(v01s)
    v01[ot] = v01s
    return float(np.mean(v10)), v10, v01


def _delong_var(theta, v10, v01) -> float:
    m, n = v10.size, v01.size
    sx = float(np.sum((v10 - theta) ** 2)) / (m - 1) if m > 1 else math.nan
    sy = float(np.sum((v01 - theta) ** 2)) / (n - 1) if n > 1 else math.nan
    return sx / m + sy / n


def ci_auc_delong(r: ROC, conf_level: float = 0.95) -> dict[str, float]:
    """``{auc, ci_low, ci_high, var, se}`` -- ``ci.auc(r, method = "delong")``."""
    cs = r.cases_sorted if r.cases_sorted is not None else np.sort(r.cases)
    ct = r.controls_sorted if r.controls_sorted is not None else np.sort(r.controls)
    v10, v01 = _placements_sorted(cs, ct, r.direction)  # the variance does not depend on the order
    theta = float(np.mean(v10))
    var = _delong_var(theta, v10, v01)
    out = _normal_ci(theta, var, conf_level)  # pROC centres the CI on the placements' theta
    out["auc"] = float(r.auc)
    return out


def auc_delong(cases, controls, direction: str = "auto", conf_level: float = 0.95) -> dict[str, Any]:
    """AUC with DeLong CI straight from two samples, without building the curve (the fast path: two sorts and
    four binary searches)."""
    cases = _as_float(cases, "cases")
    controls = _as_float(controls, "controls")
    if direction == "auto":
        direction = pick_direction(controls, cases)
    cs, ct = np.sort(cases), np.sort(controls)
    v10, v01 = _placements_sorted(cs, ct, direction)
    theta = float(np.mean(v10))
    out = _normal_ci(theta, _delong_var(theta, v10, v01), conf_level)
    out["direction"] = direction
    return out


def _normal_ci(auc: float, var: float, conf_level: float) -> dict[str, float]:
    from scipy.stats import norm

    sd = math.sqrt(var) if var >= 0 else math.nan
    a = (1 - conf_level) / 2
    lo = float(norm.ppf(a, loc=auc, scale=sd)) if sd > 0 else auc
    hi = float(norm.ppf(1 - a, loc=auc, scale=sd)) if sd > 0 else auc
    return {"auc": float(auc), "ci_low": min(max(lo, 0.0), 1.0), "ci_high": min(max(hi, 0.0), 1.0),
            "var": float(var), "se": float(sd)}


def roc_test_paired(r1: ROC, r2: ROC) -> dict[str, Any]:
    """``roc.test(r1, r2, method = "delong", paired = TRUE)`` for two curves of the same subjects (the same
    cases and controls in the same order). ``{method, z, p, auc_a, auc_b, n, n_cases, n_controls, warning}``."""
    from scipy.stats import norm

    if r1.n_cases != r2.n_cases or r1.n_controls != r2.n_controls:
        raise VBQInputError("paired DeLong test: the two ROC curves are not of the same subjects")
    t1, x1, y1 = delong_placements(r1)
    t2, x2, y2 = delong_placements(r2)
    m, n = x1.size, y1.size
    vx = np.vstack((x1 - t1, x2 - t2))
    vy = np.vstack((y1 - t1, y2 - t2))
    s10 = vx @ vx.T / (m - 1)
    s01 = vy @ vy.T / (n - 1)
    s = s10 / m + s01 / n
    var = float(s[0, 0] + s[1, 1] - 2 * s[0, 1])
    diff = t1 - t2
    if var > 0:
        z = diff / math.sqrt(var)
        p = float(2 * norm.cdf(-abs(z)))
    else:
        z = 0.0 if diff == 0 else math.copysign(math.inf, diff)  # pROC: d = 0 and sig = 0 give Z = 0
        p = 1.0 if diff == 0 else 0.0
    warning = None
    if r1.direction != r2.direction:
        warning = ("DeLong's test should not be applied to ROC curves with different directions "
                   f"({r1.direction!r} and {r2.direction!r}), as pROC warns")
    return {"method": "DeLong's test for two correlated ROC curves", "z": float(z), "p": p,
            "auc_a": float(r1.auc), "auc_b": float(r2.auc), "n": int(m + n), "n_cases": int(m),
            "n_controls": int(n), "var_diff": var, "warning": warning}


def ci_auc_bootstrap(r: ROC, n_boot: int = 2000, seed: int | None = None, conf_level: float = 0.95,
                     progress=None) -> dict[str, Any]:
    """Stratified bootstrap CI of the AUC (``ci.auc(method = "bootstrap", boot.stratified = TRUE)``); the
    direction stays that of ``r`` (pROC keeps it too). numpy's generator, so not R's numbers."""
    if n_boot < 1:
        raise VBQInputError(f"--bootstrap {n_boot}: must be >= 1")
    rng = np.random.default_rng(seed)
    m, n = r.n_cases, r.n_controls
    aucs = np.empty(n_boot)
    step = max(1, n_boot // 50)
    for b in range(n_boot):
        cs = np.sort(r.cases[rng.integers(0, m, m)])
        ct = np.sort(r.controls[rng.integers(0, n, n)])
        aucs[b] = _auc_sorted(cs, ct, r.direction)
        if progress is not None and (b % step == 0 or b == n_boot - 1):
            progress(b + 1, n_boot, "bootstrap")
    a = (1 - conf_level) / 2
    lo, hi = np.quantile(aucs, [a, 1 - a])  # numpy's default = R's type 7
    return {"auc": float(r.auc), "ci_low": float(lo), "ci_high": float(hi), "n_boot": int(n_boot),
            "seed": seed, "stratified": True, "aucs": aucs}


def coords_best(r: ROC) -> list[int]:
    """Indices (into the curve arrays) of the Youden-optimal thresholds, all ties, in pROC's order."""
    crit = r.sensitivities + 1.0 * r.specificities  # r = (1 - 0.5) / (1 * 0.5) = 1 (pROC's best.weights)
    return [int(i) for i in np.flatnonzero(crit == crit.max())]


def _counts_at(r: ROC, t: float):
    cs = r.cases_sorted if r.cases_sorted is not None else np.sort(r.cases)
    ct = r.controls_sorted if r.controls_sorted is not None else np.sort(r.controls)
    tp, tn = _se_sp(cs, ct, np.asarray([t], dtype=float), r.direction)
    tp, tn = int(tp[0]), int(tn[0])
    return tp, r.n_controls - tn, tn, r.n_cases - tp


def coords_at_threshold(r: ROC, t: float) -> dict[str, float]:
    """``coords(r, t, input = "threshold")``: sensitivity and specificity when cutting at ``t``."""
    tp, _fp, tn, _fn = _counts_at(r, t)
    return {"threshold": float(t), "sensitivity": tp / r.n_cases, "specificity": tn / r.n_controls}


def coords_at(r: ROC, value: float, input: str = "sensitivity") -> dict[str, Any]:
    """``coords(r, value, input = "sensitivity"|"specificity")``: pROC's answer (the other measure, linearly
    interpolated between the neighbouring curve points; threshold only where a curve point hits ``value``
    exactly) as ``sensitivity``/``specificity``/``threshold``, plus ``operating_index``: the curve point that
    reaches the target (``>= value``) with the best other measure (the cut-off a clinician can use)."""
    if input not in ("sensitivity", "specificity"):
        raise VBQInputError(f"coords input {input!r}: use 'sensitivity' or 'specificity'")
    se, sp, thr = r.sensitivities, r.specificities, r.thresholds
    iv = se if input == "sensitivity" else sp
    if not (iv.min() <= value <= iv.max()):
        raise VBQInputError(f"{input} {value}: not in range {iv.min()}-{iv.max()}")
    decreasing = input == "sensitivity"
    idx = np.flatnonzero(iv == value)
    res: dict[str, Any] = {"input": input, "value": float(value), "threshold": None}
    if idx.size > 1:
        idx = idx[-1:] if decreasing else idx[:1]
    if idx.size == 1:
        i = int(idx[0])
        res.update(threshold=float(thr[i]), sensitivity=float(se[i]), specificity=float(sp[i]), interpolated=False)
    else:
        nxt = int(np.flatnonzero(iv < value)[0]) if decreasing else int(np.flatnonzero(iv > value)[0])
        prop = (value - iv[nxt]) / (iv[nxt - 1] - iv[nxt])
        res.update(sensitivity=float(se[nxt] + prop * (se[nxt - 1] - se[nxt])),
                   specificity=float(sp[nxt] + prop * (sp[nxt - 1] - sp[nxt])), interpolated=True)
    other = sp if input == "sensitivity" else se
    ok = np.flatnonzero(iv >= value)
    best = ok[other[ok] == other[ok].max()]
    res["operating_index"] = int(best[-1] if decreasing else best[0])
    return res


def clopper_pearson(k: int, n: int, conf_level: float = 0.95) -> tuple[float, float]:
    """Exact binomial CI (R ``binom.test(k, n)$conf.int``)."""
    if n <= 0:
        return math.nan, math.nan
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=conf_level, method="exact")
    return float(ci.low), float(ci.high)


def _div(a, b):
    return a / b if b else math.nan


def operating_point(r: ROC, t: float) -> dict[str, Any]:
    """The 2x2 table at threshold ``t`` with sensitivity, specificity (Clopper-Pearson 95% CIs), PPV, NPV,
    LR+ and LR- (positive test: ``>= t`` for direction ``"<"``, ``<= t`` for ``">"``)."""
    tp, fp, tn, fn = _counts_at(r, t)
    se, sp = tp / r.n_cases, tn / r.n_controls
    se_lo, se_hi = clopper_pearson(tp, r.n_cases)
    sp_lo, sp_hi = clopper_pearson(tn, r.n_controls)
    return {"threshold": float(t), "sensitivity": se, "specificity": sp,
            "sensitivity_ci_low": se_lo, "sensitivity_ci_high": se_hi,
            "specificity_ci_low": sp_lo, "specificity_ci_high": sp_hi,
            "ppv": _div(tp, tp + fp), "npv": _div(tn, tn + fn),
            "lr_positive": _div(se, 1 - sp), "lr_negative": _div(1 - se, sp),
            "youden_j": se + sp - 1, "tp": tp, "fp": fp, "tn": tn, "fn": fn,
            "positive_if": f"{'>=' if r.direction == '<' else '<='} {t:g}"}
