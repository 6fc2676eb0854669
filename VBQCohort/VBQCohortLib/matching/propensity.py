"""Propensity scores by unpenalised logistic regression, the way R's ``glm`` (and so MatchIt) fits them.

``estimate_ps(data, treat, covariates, categorical=None)`` builds the design matrix like R's
``model.matrix(treat ~ a + b + ...)`` (intercept; categorical covariates dummy-coded with treatment contrasts,
first level = reference, levels sorted unless the column is a pandas Categorical) and fits the logistic
regression by Fisher scoring with R ``glm.fit``'s exact recipe: starting values ``mustart = (y + 0.5) / 2``,
working response/weights, convergence when ``|dev - dev_old| / (|dev| + 0.1) < 1e-8`` (``glm.control``),
at most 25 iterations. Following R's iteration path (rather than iterating to the exact optimum) keeps the
scores within ~1e-13 of R's instead of ~1e-9, so near-ties are broken the same way when matching.
The fit is checked against statsmodels' GLM(Binomial) (the maximum-likelihood optimum) in the tests.

``distance="ps"`` is the fitted probability (MatchIt ``distance="glm"``); ``distance="logit"`` is the linear
predictor (MatchIt ``link="linear.logit"``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from VBQScoreLib.errors import VBQInputError

__all__ = ["PropensityModel", "estimate_ps", "design_matrix", "treat_vector", "mask_rows"]

GLM_EPSILON = 1e-8  # R glm.control(epsilon)
GLM_MAXIT = 25  # R glm.control(maxit)


@dataclass
class PropensityModel:
    """The fitted propensity-score model."""

    ps: "pandas.Series"  # noqa: F821 - fitted probabilities, indexed like the data
    linear_predictor: "pandas.Series"  # noqa: F821 - logit(ps)
    coef: "pandas.Series"  # noqa: F821 - R-style names: (Intercept), age, racehispan, sexM, ...
    iterations: int
    converged: bool
    dropped: list = field(default_factory=list)  # aliased (collinear) design columns, like R's NA coefficients
    warnings: list = field(default_factory=list)
    reference_levels: dict = field(default_factory=dict)  # {covariate: reference level} of coded covariates
    term_levels: dict = field(default_factory=dict)  # {term: {"column", "level", "reference"}} (terms.term_info)

    def distance(self, kind: str = "ps"):
        if kind == "ps":
            return self.ps
        if kind == "logit":
            return self.linear_predictor
        raise VBQInputError(f"distance must be 'ps' or 'logit', not {kind!r}")


def _where(source: str | None) -> str:
    return f"{source}: " if source else ""


def treat_vector(data, treat: str, treated_value=None, source: str | None = None) -> np.ndarray:
    """0/1 integer treatment indicator from column ``treat`` (0/1/bool, or ``== treated_value``)."""
    import pandas as pd

    if treat not in data.columns:
        raise VBQInputError(f"{_where(source)}group column {treat!r} not found; columns are "
                            f"{', '.join(map(str, data.columns))}")
    col = data[treat]
    if col.isna().any():
        rows = mask_rows(col.isna())
        raise VBQInputError(f"{_where(source)}group column {treat!r} is missing in rows {rows}")
    if treated_value is not None:
        t = _numeric_value_match(col, treated_value)
        if t is not None and t.any() and not t.all():
            return t.astype(np.int64)
        seen = [str(v) for v in pd.unique(col)]
        if not pd.api.types.is_numeric_dtype(col.dtype):
            # exact, else up to case/spacing with a warning; 'OPLL' beside 'opll' is an error (labels.py)
            from ..reading.labels import resolve_column_value

            resolved, note = resolve_column_value(data, treat, treated_value, flag="treated value")
            if note:
                warnings.warn(f"{_where(source)}{note}", UserWarning, stacklevel=2)
        else:
            resolved = treated_value
        s = col.astype(str).str.strip()
        tv = str(resolved).strip()
        t = (s == tv).to_numpy()
        if not t.any() and pd.api.types.is_numeric_dtype(col.dtype):
            try:
                t = (col.astype(float) == float(tv)).to_numpy()  # "1" names the treated group of a 0/1 column
            except ValueError:
                pass
        if not t.any():
            raise VBQInputError(f"{_where(source)}treated value {treated_value!r} not found in group column "
                                f"{treat!r}; values seen: {', '.join(sorted(seen)[:20])}")
        if t.all():
            raise VBQInputError(f"{_where(source)}every row of group column {treat!r} is {treated_value!r}: "
                                f"no control subjects")
        return t.astype(np.int64)
    vals = pd.unique(col)
    ok = set()
    for v in vals:
        if isinstance(v, (bool, np.bool_)) or v in (0, 1):
            ok.add(int(v))
        else:
            raise VBQInputError(f"{_where(source)}group column {treat!r} must be 0/1 (or give the treated value); "
                                f"values seen: {', '.join(sorted(map(str, vals))[:20])}")
    if ok != {0, 1}:
        raise VBQInputError(f"{_where(source)}group column {treat!r} needs both treated (1) and control (0) "
                            f"subjects; values seen: {', '.join(sorted(map(str, vals)))}")
    return col.astype(int).to_numpy(dtype=np.int64)


def _numeric_value_match(col, treated_value):
    """For a numeric column and a value that is a number: rows equal to it (None otherwise). The same rows as
    the text comparison below (a number's text equals ``str(treated_value)`` only if their values are equal,
    and then every row of that value matches), without converting every cell to text."""
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
        return None
    try:
        v = float(str(treated_value).strip())
    except ValueError:
        return None
    x = col.to_numpy(dtype=np.float64)
    if pd.api.types.is_integer_dtype(col.dtype) and len(x) and not np.abs(x).max() < 2.0 ** 53:
        return None  # integers beyond float precision: compare as text
    return x == v


def mask_rows(mask, limit: int = 10) -> str:
    """Rows where ``mask`` (a boolean Series) is true, as the user sees them: the index labels when the index
    holds spreadsheet row numbers (VBQCohortLib.spreadsheet.read_table), else position + 2 (header = row 1)."""
    import pandas as pd

    m = np.asarray(mask, dtype=bool)
    index = getattr(mask, "index", None)
    if index is None or (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
        idx = list(np.flatnonzero(m) + 2)
    else:
        idx = list(index[m])
    text = ", ".join(map(str, idx[:limit]))
    return text + (f" ... ({len(idx)} rows)" if len(idx) > limit else "")


def _is_categorical(col) -> bool:
    import pandas as pd

    return (isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(col.dtype)
            or pd.api.types.is_string_dtype(col.dtype))


def _levels(col) -> list:
    import pandas as pd

    from ..reading.terms import sort_levels

    if isinstance(col.dtype, pd.CategoricalDtype):
        present = set(col.dropna().unique())
        return [c for c in col.cat.categories if c in present]  # droplevels, keep the user's order
    return sort_levels(col.dropna().unique())  # R's factor(): numbers by value, text by code point


def design_matrix(data, covariates, categorical=None, *, intercept: bool = True, full_dummies: bool = False,
                  source: str | None = None, binary_levels=None, term_levels: dict | None = None):
    """R-style model matrix. Returns (X ndarray float64, column names, {covariate: [columns]}).

    Numeric and boolean columns enter as they are; categorical columns (``categorical``, or text/category
    dtype) become dummies named ``<column><level>`` (:mod:`.terms`): treatment contrasts (first level
    dropped) unless ``full_dummies`` (all levels, as MatchIt's balance tables show them). ``binary_levels``
    (``{column: (level0, level1)}``, from ``Cohort.binary_levels``): 0/1 columns that code two text levels,
    named ``<column><level1>`` (``sexM``). ``term_levels``: a dict to fill with what each dummy codes.
    """
    import pandas as pd

    from ..reading.terms import term_info, term_name

    binary_levels = dict(binary_levels or {})
    if term_levels is None:
        term_levels = {}

    categorical = set(categorical or [])
    covariates = list(covariates)
    if not covariates:
        raise VBQInputError(f"{_where(source)}no covariates given")
    missing = [c for c in covariates if c not in data.columns]
    if missing:
        raise VBQInputError(f"{_where(source)}covariate column {missing[0]!r} not found; columns are "
                            f"{', '.join(map(str, data.columns))}")
    unknown = categorical - set(covariates)
    if unknown:
        raise VBQInputError(f"{_where(source)}categorical column {sorted(unknown)[0]!r} is not a covariate")
    cols, names, groups = [], [], {}
    n = len(data)
    if intercept:
        cols.append(np.ones(n))
        names.append("(Intercept)")
    for c in covariates:
        col = data[c]
        if n and col.isna().all():
            raise VBQInputError(f"{_where(source)}covariate {c!r} has no values (all {n} rows missing)")
        if col.isna().any():
            raise VBQInputError(f"{_where(source)}covariate {c!r} is missing in rows {mask_rows(col.isna())}")
        if c in categorical or _is_categorical(col):
            if c not in categorical and not isinstance(col.dtype, pd.CategoricalDtype):
                # text in a column the user may think is numeric: say which rows
                uniq = pd.Series(pd.unique(col.to_numpy()))
                unum = pd.to_numeric(uniq, errors="coerce")
                if len(uniq) > 2 and unum.notna().mean() > 0.5:
                    bad = col.isin(set(uniq[unum.isna()]))
                    raise VBQInputError(f"{_where(source)}covariate {c!r} has text in a numeric column in rows "
                                        f"{mask_rows(bad)} (e.g. {col[bad].iloc[0]!r})")
            levels = _levels(col)
            if len(levels) < 2:
                raise VBQInputError(f"{_where(source)}covariate {c!r} has a single value {levels[0]!r}")
            groups[c] = []
            for lev in (levels if full_dummies else levels[1:]):
                cols.append((col == lev).to_numpy(dtype=np.float64))
                names.append(term_name(c, lev))
                groups[c].append(names[-1])
                term_levels[names[-1]] = term_info(c, lev, levels[0])
        else:
            try:
                x = col.to_numpy(dtype=np.float64)  # numbers and booleans (True = 1)
            except (TypeError, ValueError):
                raise VBQInputError(f"{_where(source)}covariate {c!r} is not numeric") from None
            if not np.all(np.isfinite(x)):
                raise VBQInputError(f"{_where(source)}covariate {c!r} is not finite in rows "
                                    f"{mask_rows(~np.isfinite(x))}")
            cols.append(x)
            if c in binary_levels:  # a 0/1 column coding two text levels: R's dummy name (sexM)
                names.append(term_name(c, binary_levels[c][1]))
                term_levels[names[-1]] = term_info(c, binary_levels[c][1], binary_levels[c][0])
            else:
                names.append(c)
            groups[c] = [names[-1]]
    return np.column_stack(cols), names, groups


_THRESH = 30.0  # R's family.c THRESH / MTHRESH
_EPS = np.finfo(float).eps


def _logit_linkinv(eta: np.ndarray) -> np.ndarray:
    """R binomial()$linkinv (family.c logit_linkinv): exp(eta)/(1+exp(eta)) with eta clamped at +-30."""
    with np.errstate(over="ignore"):
        tmp = np.where(eta < -_THRESH, _EPS, np.where(eta > _THRESH, 1 / _EPS, np.exp(eta)))
    return tmp / (1 + tmp)


def _logit_mu_eta(eta: np.ndarray) -> np.ndarray:
    """R binomial()$mu.eta (family.c logit_mu_eta)."""
    with np.errstate(over="ignore"):
        opexp = 1 + np.exp(eta)
        return np.where((eta > _THRESH) | (eta < -_THRESH), _EPS, np.exp(eta) / (opexp * opexp))


def _xb(X: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """X @ beta accumulated column by column, as reference BLAS dgemv/dgemm (R's x %*% beta) does: each row
    gets the same operation sequence, so subjects with identical covariates get bit-identical scores."""
    eta = np.zeros(X.shape[0])
    for j in range(X.shape[1]):
        eta = eta + beta[j] * X[:, j]
    return eta


def _single_blas_thread(fn):
    """Run ``fn`` with BLAS/LAPACK limited to one thread (threadpoolctl). Tall, narrow least squares gain
    nothing from OpenBLAS' threads, and on a busy machine their synchronisation made the fit of 100,000
    subjects 5-7 times slower (0.65 s against 0.1 s); R's reference BLAS is single-threaded too."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # (a Slicer whose requirements are not installed yet: only slower)
            return fn(*args, **kwargs)
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper


def _lstsq_qr(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least squares ``min |A x - b|`` by Householder QR (LAPACK dgeqrf through numpy), applying the reflectors
    to ``b`` and back-substituting, as scipy's ``qr_multiply`` + ``solve_triangular`` (and R's Cdqrls) do. numpy
    only: importing scipy.linalg costs more start-up time than the whole fit of 100,000 subjects."""
    h, tau = np.linalg.qr(A, mode="raw")  # h: the reflectors below the diagonal and R above it, transposed
    h = np.ascontiguousarray(h)  # (Fortran order as returned: its rows would be strided)
    p = A.shape[1]
    c = np.array(b, dtype=np.float64)
    for i in range(p):  # c <- Q^T c: H_i = I - tau_i v v^T, v = (1, h[i, i+1:])
        v = h[i, i + 1:]
        s = tau[i] * (c[i] + v @ c[i + 1:])
        c[i] -= s
        c[i + 1:] -= s * v
    x = np.zeros(p)
    for i in range(p - 1, -1, -1):  # R x = (Q^T b)[:p]
        x[i] = (c[i] - h[i + 1:p, i] @ x[i + 1:]) / h[i, i]
    return x


@_single_blas_thread
def _glm_logit_r(X: np.ndarray, y: np.ndarray):
    """R glm.fit(family=binomial()) Fisher scoring. Returns (beta, eta, iterations, converged)."""
    n = len(y)
    weights = np.ones(n)
    mu = (weights * y + 0.5) / (weights + 1)  # binomial()$initialize
    eta = np.log(mu / (1 - mu))

    def dev_resids(y, mu):
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(y > 0, y * np.log(y / mu), 0.0)
            b = np.where(y < 1, (1 - y) * np.log((1 - y) / (1 - mu)), 0.0)
        return 2 * (a + b)

    linkinv = _logit_linkinv

    devold = float(np.sum(dev_resids(y, mu)))
    beta = None
    converged = False
    it = 0
    for it in range(1, GLM_MAXIT + 1):
        mu_eta = _logit_mu_eta(eta)
        var = mu * (1 - mu)
        z = eta + (y - mu) / mu_eta
        w = np.sqrt(mu_eta ** 2 / var)
        beta = _lstsq_qr(X * w[:, None], z * w)  # least squares by QR, as R's Cdqrls
        eta = _xb(X, beta)
        mu = linkinv(eta)
        dev = float(np.sum(dev_resids(y, mu)))
        if abs(dev - devold) / (abs(dev) + 0.1) < GLM_EPSILON:
            converged = True
            break
        devold = dev
    return beta, eta, it, converged


@_single_blas_thread
def _independent_columns(X: np.ndarray, names: list[str]) -> list[int]:
    """Keep columns in order while they add rank (R's pivoting QR drops the later aliased column)."""
    keep: list[int] = []
    scale = np.maximum(np.abs(X).max(axis=0), 1e-300)
    Xs = X / scale
    if np.linalg.matrix_rank(Xs, tol=1e-7 * np.sqrt(X.shape[0])) == X.shape[1]:
        return list(range(X.shape[1]))
    for j in range(X.shape[1]):
        cand = keep + [j]
        if np.linalg.matrix_rank(Xs[:, cand], tol=1e-7 * np.sqrt(X.shape[0])) == len(cand):
            keep.append(j)
    return keep


def estimate_ps(data, treat: str, covariates, categorical=None, *, treated_value=None,
                source: str | None = None, binary_levels=None) -> PropensityModel:
    """Fit treat ~ covariates by unpenalised logistic regression (R glm semantics); see the module doc.
    ``binary_levels``: see :func:`design_matrix`."""
    import pandas as pd

    y = treat_vector(data, treat, treated_value, source).astype(np.float64)
    term_levels: dict = {}
    X, names, _ = design_matrix(data, covariates, categorical, source=source, binary_levels=binary_levels,
                                term_levels=term_levels)
    keep = _independent_columns(X, names)
    dropped = [names[j] for j in range(len(names)) if j not in keep]
    notes = []
    if dropped:
        notes.append(f"collinear design columns dropped (R would give NA coefficients): {', '.join(dropped)}")
    Xk = X[:, keep]
    beta, eta, it, converged = _glm_logit_r(Xk, y)
    ps = _logit_linkinv(eta)
    if not converged:
        notes.append(f"logistic regression did not converge in {GLM_MAXIT} iterations")
    eps = 10 * np.finfo(float).eps
    if np.any(ps > 1 - eps) or np.any(ps < eps):
        notes.append("fitted probabilities numerically 0 or 1 occurred (separation): the propensity model "
                     "perfectly predicts group for some subjects")
    for msg in notes:
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
    coef = pd.Series(beta, index=[names[j] for j in keep], name="coef")
    refs = {v["column"]: v["reference"] for v in term_levels.values()}
    return PropensityModel(ps=pd.Series(ps, index=data.index, name="ps"),
                           linear_predictor=pd.Series(eta, index=data.index, name="logit"),
                           coef=coef, iterations=it, converged=converged, dropped=dropped, warnings=notes,
                           reference_levels=refs, term_levels={k: v for k, v in term_levels.items() if k in coef})
