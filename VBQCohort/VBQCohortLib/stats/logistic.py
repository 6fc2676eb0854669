"""Multivariable logistic regression for group membership (issue 3), equal to R ``glm(family = binomial)``.

``fit_logistic(data, outcome, predictors, categorical=None)`` fits an unpenalised logistic regression with
statsmodels ``GLM(Binomial)`` (IRLS, like R's glm) on the complete cases, and returns a :class:`LogisticResult`:

* ``terms[name] = {coef, se, z, p, ci_low, ci_high, odds_ratio, coef_ci_low, coef_ci_high}`` where ``ci_low`` /
  ``ci_high`` are the Wald 95% limits of the **odds ratio** (R: ``exp(confint.default(fit))``) and
  ``coef_ci_*`` the same limits on the log-odds scale. Term names are R's (:mod:`.terms`): the intercept is
  ``"(Intercept)"``; a categorical predictor ``smoking`` with levels never/former/current gives terms
  ``"smokingformer"``, ``"smokingnever"`` against the reference level ``current`` (R's default: the first
  level in sorted order; override with ``reference=``); a 0/1 column that codes two text levels
  (``binary_levels={"sex": ("F", "M")}``, from ``Cohort.binary_levels``) gives ``"sexM"``.
  ``reference_levels`` holds the reference level of each such predictor, ``term_levels`` what each dummy codes
  (``{"sexM": {"column": "sex", "level": "M", "reference": "F"}}``).
* ``n``, ``n_events``, ``n_excluded`` (+ ``excluded`` rows with reasons: rows with a missing value are dropped,
  like R's ``na.omit``, but never silently), McFadden ``pseudo_r2`` (1 - logLik/logLik0), ``nagelkerke``,
  ``cox_snell``, ``aic``, ``deviance``, ``null_deviance``, ``converged``.
* ``separation``: None, or ``{"type": "complete"|"quasi-complete", "variables": [...], "n_separated": k,
  "message": ...}``. Detection is the linear-programming test of Konis (2007) (the method of R's
  ``detectseparation``/``safeBinaryRegression``), solved with ``scipy.optimize.linprog``, plus a per-variable check
  that names a single predictor or dummy that perfectly predicts the outcome on one side. A separated fit never
  raises: the (diverging) estimates are returned with ``separation`` set and a warning, as R's glm returns them
  with "fitted probabilities numerically 0 or 1 occurred".
"""

from __future__ import annotations

import math
import warnings as _warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from VBQScoreLib.errors import VBQInputError
from VBQScoreLib.json_text import finite_or_none as _f  # JSON-safe float: None for None, NaN, ±inf

__all__ = ["LogisticResult", "fit_logistic", "detect_separation"]

Z975 = 1.959963984540054  # qnorm(0.975)




@dataclass(frozen=True)
class LogisticResult:
    outcome: str
    predictors: tuple[str, ...]
    terms: dict[str, dict[str, float]]
    n: int
    n_events: int
    n_excluded: int
    pseudo_r2: float            # McFadden
    nagelkerke: float
    cox_snell: float
    aic: float
    deviance: float
    null_deviance: float
    loglik: float
    converged: bool
    iterations: int
    separation: dict[str, Any] | None = None
    excluded: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    reference_levels: dict[str, str] = field(default_factory=dict)
    term_levels: dict[str, dict[str, str]] = field(default_factory=dict)
    method: str = "logistic regression (binomial GLM, logit link, IRLS; Wald z tests and 95% CIs)"

    @property
    def odds_ratios(self) -> dict[str, float]:
        return {k: v["odds_ratio"] for k, v in self.terms.items()}

    def table(self):
        """Terms as a pandas DataFrame (one row per term)."""
        import pandas as pd

        return pd.DataFrame.from_dict(self.terms, orient="index").rename_axis("term").reset_index()

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "outcome": self.outcome, "predictors": list(self.predictors),
            "terms": {k: {kk: _f(vv) for kk, vv in v.items()} for k, v in self.terms.items()},
            "n": self.n, "n_events": self.n_events, "n_excluded": self.n_excluded,
            "excluded": [dict(e) for e in self.excluded],
            "pseudo_r2": _f(self.pseudo_r2), "nagelkerke": _f(self.nagelkerke), "cox_snell": _f(self.cox_snell),
            "aic": _f(self.aic), "deviance": _f(self.deviance), "null_deviance": _f(self.null_deviance),
            "loglik": _f(self.loglik), "converged": self.converged, "iterations": self.iterations,
            "separation": self.separation, "warnings": list(self.warnings),
            "reference_levels": dict(self.reference_levels),
            "term_levels": {k: dict(v) for k, v in self.term_levels.items()},
        }


# ---------------------------------------------------------------------------------------------------------------

def _outcome_vector(s, outcome: str) -> tuple[np.ndarray, str | None]:
    """0/1 float array (NaN for missing). Accepts 0/1, booleans, or exactly two distinct labels (sorted: the
    second is the event, as R's factor would code it)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(s):
        return s.astype(float).to_numpy(), None
    if pd.api.types.is_numeric_dtype(s):
        v = s.to_numpy(dtype=float)
        vals = set(np.unique(v[~np.isnan(v)]).tolist())
        if not vals <= {0.0, 1.0}:
            bad = sorted(vals - {0.0, 1.0})[:3]
            raise VBQInputError(f"outcome column '{outcome}' must be 0/1 (found {', '.join(map(str, bad))})")
        return v, None
    labels = sorted({str(x) for x in s.dropna()})
    if len(labels) != 2:
        raise VBQInputError(f"outcome column '{outcome}' must have exactly two values, found {len(labels)}: "
                            f"{', '.join(labels[:5])}")
    v = np.array([np.nan if pd.isna(x) else float(str(x) == labels[1]) for x in s])
    return v, labels[1]


def _design(df, predictors: Sequence[str], categorical: set[str], reference: Mapping[str, Any],
            binary_levels: Mapping[str, Sequence[str]]):
    """Design matrix (with intercept) and column names, R-style treatment coding and term names."""
    import pandas as pd

    from ..reading.terms import level_text, sort_levels, term_info, term_name

    cols = [np.ones(len(df))]
    names = ["(Intercept)"]
    origin = [None]
    refs: dict[str, str] = {}
    infos: dict[str, dict[str, str]] = {}
    for p in predictors:
        s = df[p]
        if p in categorical:
            levels = [level_text(v) for v in sort_levels(s)]
            if len(levels) < 2:
                raise VBQInputError(f"predictor '{p}' has a single level ({levels[0] if levels else 'none'}) among "
                                    f"the {len(df)} complete rows")
            ref = level_text(reference[p]) if p in reference else levels[0]
            if ref not in levels:
                raise VBQInputError(f"reference level {ref!r} of predictor '{p}' is not among its values: "
                                    f"{', '.join(levels)}")
            refs[p] = ref
            sv = np.array([level_text(v) for v in s], dtype=object)
            for lev in levels:
                if lev == ref:
                    continue
                cols.append((sv == lev).astype(float))
                names.append(term_name(p, lev))
                infos[names[-1]] = term_info(p, lev, ref)
                origin.append(p)
        else:
            v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
            if np.nanmax(v) == np.nanmin(v):
                raise VBQInputError(f"predictor '{p}' is constant ({v[0]:g}) among the {len(df)} complete rows")
            cols.append(v)
            if p in binary_levels:  # 0/1 coding two text levels (prepare_cohort): R's dummy name, e.g. sexM
                lv0, lv1 = binary_levels[p]
                names.append(term_name(p, lv1))
                infos[names[-1]] = term_info(p, lv1, lv0)
                refs[p] = level_text(lv0)
            else:
                names.append(p)
            origin.append(p)
    X = np.column_stack(cols)
    return X, names, origin, refs, infos


def detect_separation(X: np.ndarray, y: np.ndarray, names: Sequence[str] | None = None) -> dict[str, Any] | None:
    """Konis' linear-programming check for (quasi-)complete separation of y (0/1) by the columns of X.

    Separation exists when some beta != 0 gives (2y-1) x_i'beta >= 0 for every row with at least one strict
    inequality; complete when all can be strict. Returns None (overlap) or a dict with ``type``, ``variables``
    (the single predictors/dummies that separate on their own; if none does, the columns with a non-zero
    coefficient in the separating direction, intercept excluded) and ``n_separated`` (rows whose outcome is predicted perfectly)."""
    from scipy.optimize import linprog

    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n, p = X.shape
    names = list(names) if names is not None else [f"x{j}" for j in range(p)]
    scale = np.max(np.abs(X), axis=0)
    scale[scale == 0] = 1.0
    Z = (2 * y - 1)[:, None] * (X / scale)
    tol = 1e-7
    # 1) quasi/complete: maximise sum(Z b) s.t. Z b >= 0, -1 <= b <= 1
    res = linprog(-Z.sum(axis=0), A_ub=-Z, b_ub=np.zeros(n), bounds=[(-1, 1)] * p, method="highs")
    if res.status != 0 or -res.fun <= tol * n:
        return None
    b = res.x
    margin = Z @ b
    n_sep = int((margin > tol).sum())
    # 2) complete: maximise t s.t. Z b >= t, t <= 1
    c = np.zeros(p + 1)
    c[-1] = -1
    A = np.hstack([-Z, np.ones((n, 1))])
    res2 = linprog(c, A_ub=A, b_ub=np.zeros(n), bounds=[(-1, 1)] * p + [(None, 1)], method="highs")
    complete = res2.status == 0 and -res2.fun > tol
    if complete:
        n_sep = n
    # which variables: single columns that separate on their own, then the LP direction
    single = []
    for j in range(p):
        if names[j] == "(Intercept)":
            continue
        x = X[:, j]
        x0, x1 = x[y == 0], x[y == 1]
        if x0.size == 0 or x1.size == 0:
            continue
        if x0.max() <= x1.min() or x1.max() <= x0.min():
            single.append(names[j])
    lp_vars = [names[j] for j in range(p) if abs(b[j]) > 1e-6 and names[j] != "(Intercept)"]
    variables = single if single else lp_vars
    kind = "complete" if complete else "quasi-complete"
    msg = (f"{kind} separation: the outcome is perfectly predicted for {n_sep} of {n} subjects by "
           f"{', '.join(variables) if variables else 'the intercept'}; the estimates of these terms diverge "
           f"(odds ratios and CIs are not meaningful): consider removing or merging them, or a penalised "
           f"(Firth) model")
    return {"type": kind, "variables": variables, "n_separated": n_sep, "message": msg}


def fit_logistic(data, outcome: str, predictors: Sequence[str], categorical: Sequence[str] | None = None, *,
                 reference: Mapping[str, Any] | None = None, maxiter: int = 100,
                 binary_levels: Mapping[str, Sequence[str]] | None = None) -> LogisticResult:
    """Fit ``outcome ~ predictors`` by unpenalised logistic regression (R ``glm(..., family = binomial)``).

    ``data``: pandas DataFrame (not modified). ``categorical``: predictors to dummy-code (text columns are
    categorical automatically). ``binary_levels``: ``{predictor: (level0, level1)}`` for 0/1 predictors that
    code two text levels (term ``<predictor><level1>``). Rows with a missing outcome or predictor are excluded
    and reported."""
    import pandas as pd
    import statsmodels.api as sm

    if not isinstance(data, pd.DataFrame):
        data = pd.DataFrame(data)
    predictors = list(predictors)
    if not predictors:
        raise VBQInputError("logistic regression needs at least one predictor")
    missing = [c for c in [outcome, *predictors] if c not in data.columns]
    if missing:
        raise VBQInputError(f"logistic regression: column(s) {', '.join(repr(m) for m in missing)} not in the data "
                            f"(have: {', '.join(map(str, data.columns))})")
    if outcome in predictors:
        raise VBQInputError(f"logistic regression: the outcome '{outcome}' is also listed as a predictor")
    categorical = set(categorical or [])
    reference = dict(reference or {})
    unknown_cat = categorical - set(predictors)
    if unknown_cat:
        raise VBQInputError(f"categorical column(s) {', '.join(sorted(unknown_cat))} are not predictors")
    for p in predictors:
        s = data[p]
        if p not in categorical and not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            conv = pd.to_numeric(s, errors="coerce")
            bad = s.notna() & conv.isna()
            if bad.any():
                categorical.add(p)  # text values: treat as categorical (R would make it a factor)
    y_all, event_label = _outcome_vector(data[outcome], outcome)

    # complete cases, with a record (one entry per excluded row, naming every missing column)
    excluded = []
    miss_cols: list[list[str]] = [[] for _ in range(len(data))]
    for i in np.flatnonzero(np.isnan(y_all)):
        miss_cols[i].append(outcome)
    for p in predictors:
        s = data[p]
        miss = s.isna().to_numpy() if p in categorical else pd.to_numeric(s, errors="coerce").isna().to_numpy()
        for i in np.flatnonzero(miss):
            miss_cols[i].append(p)
    keep = np.array([not m for m in miss_cols], dtype=bool)
    for i in np.flatnonzero(~keep):
        row = data.index[i]
        excluded.append({"row": row.item() if hasattr(row, "item") else row,
                         "reason": "missing " + ", ".join(miss_cols[i])})
    df = data.loc[keep, predictors]
    y = y_all[keep]
    n = int(y.size)
    n_events = int(y.sum())
    if n == 0:
        raise VBQInputError(f"logistic regression: no complete rows for {outcome} ~ {' + '.join(predictors)}")
    if n_events == 0 or n_events == n:
        raise VBQInputError(f"logistic regression: outcome '{outcome}' has only "
                            f"{'non-events (0)' if n_events == 0 else 'events (1)'} among the {n} complete rows")
    binary_levels = {p: tuple(v) for p, v in (binary_levels or {}).items() if p in predictors and p not in categorical}
    X, names, origin, refs, infos = _design(df, predictors, categorical, reference, binary_levels)
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1]:
        # find the first column that is a linear combination of the previous ones (R would alias it to NA)
        for j in range(2, X.shape[1] + 1):
            if np.linalg.matrix_rank(X[:, :j]) < j:
                raise VBQInputError(f"logistic regression: predictor term '{names[j - 1]}' is collinear with the "
                                    f"other predictors (a linear combination of them); remove it")
    if X.shape[1] >= n:
        raise VBQInputError(f"logistic regression: {X.shape[1]} coefficients but only {n} complete rows")

    warn_list: list[str] = []
    separation = detect_separation(X, y, names)
    if separation:
        warn_list.append(separation["message"])
    epv = min(n_events, n - n_events) / (X.shape[1] - 1)
    if epv < 10:
        warn_list.append(f"only {epv:.1f} events per predictor term (fewer than 10): estimates may be unstable")

    model = sm.GLM(y, X, family=sm.families.Binomial())
    converged = True
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        try:
            fit = model.fit(maxiter=maxiter, tol=1e-10)
        except Exception as exc:  # statsmodels may raise on perfect separation in some versions
            fit = None
            warn_list.append(f"the model could not be fitted: {exc}")
    for w in caught:
        msg = str(w.message)
        if "converge" in msg.lower():
            converged = False
        if "separation" in msg.lower() and separation is None:
            warn_list.append(f"statsmodels: {msg}")

    k = X.shape[1]
    if fit is None:
        nanterm = {key: math.nan for key in ("coef", "se", "z", "p", "ci_low", "ci_high", "odds_ratio",
                                             "coef_ci_low", "coef_ci_high")}
        terms = {nm: dict(nanterm) for nm in names}
        llf = dev = aic = math.nan
        converged = False
        iterations = 0
        null_dev = float(-2 * (n_events * math.log(n_events / n) + (n - n_events) * math.log(1 - n_events / n)))
        ll0 = -null_dev / 2
    else:
        params = np.asarray(fit.params, dtype=float)
        bse = np.asarray(fit.bse, dtype=float)
        converged = converged and bool(fit.converged)
        iterations = int(getattr(fit, "fit_history", {}).get("iteration", 0))
        terms = {}
        from scipy.stats import norm

        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for j, nm in enumerate(names):
                b, se = params[j], bse[j]
                z = b / se
                lo, hi = b - Z975 * se, b + Z975 * se
                terms[nm] = {"coef": float(b), "se": float(se), "z": float(z), "p": float(2 * norm.sf(abs(z))),
                             "ci_low": float(np.exp(lo)), "ci_high": float(np.exp(hi)),
                             "odds_ratio": float(np.exp(b)), "coef_ci_low": float(lo), "coef_ci_high": float(hi)}
        llf = float(fit.llf)
        dev = float(fit.deviance)
        null_dev = float(fit.null_deviance)
        ll0 = -null_dev / 2  # binary outcome: saturated log-likelihood is 0
        aic = -2 * llf + 2 * k
        mu = np.asarray(fit.fittedvalues, dtype=float)
        eps = 10 * np.finfo(float).eps
        if ((mu < eps) | (mu > 1 - eps)).any() and separation is None:
            warn_list.append("fitted probabilities numerically 0 or 1 occurred (as R's glm warns): check for "
                             "near-separation")
    if not converged:
        warn_list.append("the fit did not converge")
    mcfadden = 1 - llf / ll0
    cox_snell = 1 - math.exp((2 / n) * (ll0 - llf))
    nagelkerke = cox_snell / (1 - math.exp((2 / n) * ll0))
    return LogisticResult(
        outcome=outcome, predictors=tuple(predictors), terms=terms, n=n, n_events=n_events, n_excluded=len(excluded),
        pseudo_r2=mcfadden, nagelkerke=nagelkerke, cox_snell=cox_snell, aic=aic, deviance=dev,
        null_deviance=null_dev, loglik=llf, converged=converged, iterations=iterations, separation=separation,
        excluded=tuple(excluded), warnings=tuple(warn_list), reference_levels=refs, term_levels=infos)
