"""Covariate balance the way R MatchIt 4.5.1's ``summary.matchit`` (``bal1var``, ATT) reports it.

Columns: ``Means Treated``, ``Means Control`` (weighted means), ``Std. Mean Diff.`` (mean difference divided by
the standard deviation of the treated group in the *unmatched* sample, for before and after alike; a binary
0/1 variable uses sqrt(p(1-p)); differences below sqrt(machine eps) are left unstandardised), ``Var. Ratio``
(weighted variances, ``sum(w (x-m)^2) / (1 - sum(w^2))`` with normalised weights; not for binary variables),
``eCDF Mean`` / ``eCDF Max`` (weighted empirical CDF differences; the absolute mean difference for binary
variables) and, after matching, ``Std. Pair Dist.`` (mean absolute within-pair difference, standardised like
the SMD). Categorical covariates are shown as one 0/1 row per level (``race`` -> ``raceblack``, ...), the first
row is the distance. ``sample_size_table`` lives in :mod:`.matching`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["balance_table", "std_mean_diff", "love_plot", "love_plot_bytes", "COLUMNS"]

COLUMNS = ["Means Treated", "Means Control", "Std. Mean Diff.", "Var. Ratio", "eCDF Mean", "eCDF Max",
           "Std. Pair Dist."]
_SQRT_EPS = float(np.sqrt(np.finfo(float).eps))


def _wm(x, w):
    return np.float64(np.sum(x * w)) / np.float64(np.sum(w))


def _wvar(x, bin_var, w=None):
    """MatchIt wvar."""
    if w is None:
        w = np.ones(len(x))
    w = w / np.sum(w)
    mx = np.float64(np.sum(w * x))
    if bin_var:
        return np.float64(mx * (1 - mx))
    return np.float64(np.sum(w * (x - mx) ** 2)) / np.float64(1 - np.sum(w ** 2))


def _pooled_sd(x, t, bin_var):
    """MatchIt pooled_sd(contribution="proportional"), unweighted: the fallback when the treated SD is 0."""
    n = len(x)
    groups = list(dict.fromkeys(t.tolist()))
    if bin_var:
        v = 0.0
        for g in groups:
            sxi = float(np.sum(x[t == g]))
            ni = float(np.sum(t == g))
            v += sxi * (1 - sxi / ni) / n
        return np.float64(np.sqrt(v))
    xc = x.astype(float).copy()
    for g in groups:
        xc[t == g] = xc[t == g] - np.mean(xc[t == g])
    return np.sqrt(np.float64(np.sum(xc ** 2)) / np.float64(n - len(groups)))


def _ecdf_weights(t, w):
    """The weights of MatchIt's qqsum: each group's weights normalised to sum 1 (the same for every variable)."""
    w = w.astype(float).copy()
    groups = np.unique(t)  # each group's weights are normalised on its own: the order does not matter
    for g in (groups if len(groups) <= 2 else list(dict.fromkeys(t.tolist()))[:2]):
        w[t == g] = w[t == g] / np.sum(w[t == g])
    return w


def _ecdf(x, t, w, ordr=None, w_norm=None):
    """MatchIt qqsum(standardize=TRUE) for a non-binary variable: (mean, max) eCDF difference. ``ordr``: the
    stable argsort of ``x``, ``w_norm``: :func:`_ecdf_weights`, when already known."""
    if w_norm is None:
        w_norm = _ecdf_weights(t, w)
    if ordr is None:
        ordr = np.argsort(x, kind="stable")
    xo, wo, to = x[ordr], w_norm[ordr], t[ordr]
    wo = np.where(to == to[0], -wo, wo)
    last = np.append(np.diff(xo) != 0, True)
    ediff = np.abs(np.cumsum(wo))[last]
    return float(np.mean(ediff)), float(np.max(ediff))


def _pair_dist(x, match_matrix):
    ti, ci = _pair_positions(match_matrix)
    return float(np.mean(np.abs(x[ti] - x[ci]))) if len(ti) else float("nan")


def _pair_positions(match_matrix) -> tuple[np.ndarray, np.ndarray]:
    """(treated, control) positions of every matched pair, in match-matrix order (computed once per matrix)."""
    if len(match_matrix) == 3:
        return match_matrix[2]
    t_idx, mm = match_matrix
    ti = np.fromiter((t_idx[r] for r, row in enumerate(mm) for _ in row), dtype=np.int64)
    ci = np.fromiter((c for row in mm for c in row), dtype=np.int64)
    return ti, ci


def std_mean_diff(x, t, w=None) -> float:
    """Only the ``Std. Mean Diff.`` of :func:`bal1var` (the same formula and helpers, without the eCDF and
    variance-ratio work): weighted mean difference over the treated SD in the unmatched sample (``sqrt(p(1-p))``
    for 0/1 variables; MatchIt's pooled SD when that is 0), left unstandardised below sqrt(eps); nan where
    MatchIt gives NA. Table 1 (issue 17) uses it for a million subjects."""
    x = np.asarray(x, dtype=float)
    t = np.asarray(t)
    i1, i0 = t == 1, t == 0
    x1 = x[i1]
    bin_var = bool(np.all((x == 0) | (x == 1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        if w is None:  # _wm with unit weights
            mdiff = np.float64(np.sum(x1)) / np.float64(x1.size) - np.float64(np.sum(x[i0])) / np.float64(i0.sum())
            few = x1.size < 2 and int(i0.sum()) < 2
        else:
            w = np.asarray(w, dtype=float)
            w1, w0 = w[i1], w[i0]
            mdiff = _wm(x1, w1) - _wm(x[i0], w0)
            few = np.sum(w1 != 0) < 2 and np.sum(w0 != 0) < 2
        if abs(mdiff) <= _SQRT_EPS:
            return float(mdiff)
        if few:
            return float("nan")
        std = float(np.sqrt(_wvar(x1, bin_var)))
        if not np.isfinite(std) or std < _SQRT_EPS:
            std = _pooled_sd(x, t, bin_var)
        return float(np.float64(mdiff) / np.float64(std))


def bal1var(x, t, w=None, match_matrix=None, order=None, groups=None) -> list[float]:
    """One row of the MatchIt balance table (ATT, standardised). Degenerate divisions give inf/nan, as in R.
    ``order``: the stable argsort of ``x`` if already known (it serves the tables before and after matching);
    ``groups``: :func:`_groups` of ``t`` and ``w`` (the same for every row of a table)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return [float(v) for v in _bal1var(x, t, w, match_matrix, order, groups)]


def _groups(t, w, n: int) -> dict:
    """What every row of one balance table shares: group masks, weights by group, the eCDF weights."""
    t = np.asarray(t)
    ww = np.ones(n) if w is None else np.asarray(w, dtype=float)
    i1, i0 = t == 1, t == 0
    w1, w0 = ww[i1], ww[i0]
    return {"t": t, "w": ww, "i1": i1, "i0": i0, "w1": w1, "w0": w0, "w_ecdf": None,
            "too_small": np.sum(w1 != 0) < 2 and np.sum(w0 != 0) < 2}


def _bal1var(x, t, w=None, match_matrix=None, order=None, groups=None) -> list:
    x = np.asarray(x, dtype=float)
    g = _groups(t, w, len(x)) if groups is None else groups
    t, ww, i1, i0, too_small = g["t"], g["w"], g["i1"], g["i0"], g["too_small"]
    un = w is None
    bin_var = bool(np.all((x == 0) | (x == 1)))
    out = [np.nan] * 7
    x1, x0 = x[i1], x[i0]
    out[0] = _wm(x1, g["w1"])
    out[1] = _wm(x0, g["w0"])
    mdiff = out[0] - out[1]
    if abs(mdiff) > _SQRT_EPS:
        if not too_small:
            std = float(np.sqrt(_wvar(x1, bin_var)))
            if not np.isfinite(std) or std < _SQRT_EPS:
                std = _pooled_sd(x, t, bin_var)
            out[2] = np.float64(mdiff) / np.float64(std)
            if not un and match_matrix is not None:
                pd_ = _pair_dist(x, match_matrix)
                out[6] = np.float64(pd_) / np.float64(std) if abs(pd_) > 1e-8 else pd_
    else:
        out[2] = mdiff
        if not un and match_matrix is not None:
            out[6] = _pair_dist(x, match_matrix)
    if bin_var:
        out[4] = out[5] = abs(mdiff)
    elif not too_small:
        out[3] = _wvar(x1, bin_var, g["w1"]) / _wvar(x0, bin_var, g["w0"])
        if g["w_ecdf"] is None:
            g["w_ecdf"] = _ecdf_weights(t, ww)
        out[4], out[5] = _ecdf(x, t, ww, order, g["w_ecdf"])
    return out


def balance_table(data, treat, covariates, weights=None, *, distance=None, categorical=None,
                  match_matrix=None, treated_value=None, cache: dict | None = None):
    """MatchIt-style balance table (a DataFrame indexed by ``distance`` and the expanded covariates).

    ``treat``: a 0/1 array, or the name of a 0/1 column (or of any column with ``treated_value``).
    ``weights``: matching weights (None = before matching). ``distance``: the distance/propensity score
    (first row). ``match_matrix``: ``(treated positions, [[control positions], ...])`` for the pair distance.
    The ``Std. Pair Dist.`` column is dropped when no matching information is given. ``cache``: a dict kept
    between the calls for the same data and covariates (before and after matching), which then share the
    design matrix and the sort orders.
    """
    import pandas as pd

    from .propensity import design_matrix, treat_vector

    if isinstance(treat, str):
        t = treat_vector(data, treat, treated_value)
    else:
        t = np.asarray(treat).astype(np.int64)
    cache = {} if cache is None else cache
    if "design" not in cache:
        cache["design"] = design_matrix(data, covariates, categorical, intercept=False, full_dummies=True)[:2]
    X, names = cache["design"]
    orders = cache.setdefault("orders", {})
    if match_matrix is not None and len(match_matrix) == 2:
        match_matrix = (*match_matrix, _pair_positions(match_matrix))
    columns = ([("distance", np.asarray(distance, dtype=float))] if distance is not None else []) + \
        [(name, X[:, j]) for j, name in enumerate(names)]
    rows, index = [], []
    groups = _groups(t, weights, len(t))
    for name, x in columns:
        if name not in orders:  # (binary variables have no eCDF statistics: no order needed)
            orders[name] = None if np.all((x == 0) | (x == 1)) else np.argsort(x, kind="stable")
        rows.append(bal1var(x, t, weights, match_matrix, orders[name], groups))
        index.append(name)
    df = pd.DataFrame(rows, index=index, columns=COLUMNS)
    if weights is None or match_matrix is None:
        df = df.drop(columns=["Std. Pair Dist."])
    return df


def love_plot(before, after, path, *, threshold: float = 0.1, title: str = "Covariate balance") -> None:
    """Absolute standardised mean differences before/after matching, written atomically to ``path``
    (format from the suffix: .png, .svg, .pdf)."""
    from pathlib import Path

    from VBQScoreLib.atomic import write_bytes_atomic

    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    write_bytes_atomic(path, love_plot_bytes(before, after, fmt=fmt, threshold=threshold, title=title))


def love_plot_bytes(before, after, *, fmt: str = "png", threshold: float = 0.1,
                    title: str = "Covariate balance", labels=None) -> bytes:
    """The love plot of :func:`love_plot` as the bytes of a ``fmt`` file (png, svg, pdf). ``labels``:
    ``{row name: readable label}`` for the y axis (R's term names otherwise)."""
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    names = list(before.index)
    b = np.abs(before["Std. Mean Diff."].reindex(names).to_numpy(dtype=float))
    a = np.abs(after["Std. Mean Diff."].reindex(names).to_numpy(dtype=float))
    y = np.arange(len(names))[::-1]
    fig = Figure(figsize=(6.0, 0.35 * len(names) + 1.4))
    ax = fig.add_subplot(1, 1, 1)
    # Okabe-Ito vermillion (open) and blue (filled): colour-blind safe, and open vs filled in grayscale
    ax.scatter(b, y, marker="o", facecolors="none", edgecolors="#D55E00", label="All (before matching)")
    ax.scatter(a, y, marker="o", color="#0072B2", label="Matched")
    for yi, bi, ai in zip(y, b, a):
        ax.plot([bi, ai], [yi, yi], color="0.75", lw=0.8, zorder=0)
    ax.axvline(threshold, color="0.4", ls="--", lw=0.8)
    ax.axvline(0, color="0.2", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels([(labels or {}).get(n, n) for n in names])
    ax.set_xlabel("Absolute standardized mean difference")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=120)
    from ..publication.figures import note_figure

    return note_figure(fig, buf.getvalue())
