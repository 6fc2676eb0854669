"""Table 1: baseline characteristics of two groups, before and after matching, as a journal prints it.

One row per covariate, then a block with the VBQ per level and overall. Rules (stated in :func:`footnote`):

* continuous: Shapiro-Wilk in each group (:func:`VBQCohortLib.stats.shapiro`, equal to R ``shapiro.test``;
  run for 3 to 5000 values, as R); both p >= 0.05 -> mean ± SD and Welch's t-test (R ``t.test`` defaults);
  otherwise median (IQR, R ``quantile`` type 7) and the Wilcoxon rank-sum test
  (:func:`VBQCohortLib.stats.ranksum`, R ``wilcox.test`` defaults, the per-level comparison's implementation).
  A group with fewer than 3 or more than 5000 values, or all values equal, is not tested for normality and is
  summarised by the median (IQR).
* categorical (text, sex, yes/no, 0/1, or named in ``categorical``): n (%) per level; Pearson's chi-squared
  without continuity correction (R ``chisq.test(correct = FALSE)``) when every expected count is >= 5, else
  Fisher's exact test (R ``fisher.test``, k x 2 included; :mod:`.contingency`).
* SMD: MatchIt's ``Std. Mean Diff.`` (:func:`VBQCohortLib.balance.bal1var`, ATT: the treated group's SD in the
  unmatched sample, sqrt(p(1-p)) for 0/1 variables), per level for categorical variables; a categorical row's
  ``smd`` is its level's (two levels: the level shown) or, with more levels, the level SMD largest in size.
* missing values: counted per group (``missing``) and shown as "missing, n" when any.
* weighted samples (matching with ratio > 1 or with replacement): weighted means, SDs (cobalt ``col_w_sd``:
  ``sum(w (x - m)^2) / (1 - sum(w^2))`` with normalised weights) and percentages; every continuous variable as
  mean ± SD; no p-values (the tests assume independent, unweighted observations), with a note.
* fewer than 5 subjects with a value in either group: n and the summary, no test and no p (``p_note`` says so).

``table1(...)`` returns the ``results.json`` layout ``{n_treated, n_control, rows: [...]}``; a row has
``variable, label, type, summary, treated, control, levels, test, p, smd`` (plus ``missing``, ``normality``,
``p_note``, ``block``, ``shown_level``). :func:`frame` renders one or two (before/after) tables as text cells.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from VBQScoreLib.errors import VBQInputError

from .contingency import chisq_test, expected_counts, fisher_test

__all__ = [
    "MIN_TEST_N",
    "SHAPIRO_ALPHA",
    "footnote",
    "frame",
    "is_categorical",
    "level_text",
    "methods_sentence",
    "table1",
]

SHAPIRO_ALPHA = 0.05
MIN_TEST_N = 5          # fewer with a value in a group: no test
SHAPIRO_MAX_N = 5000    # R shapiro.test's limit
_POSITIVE = ("1", "yes", "y", "true", "male", "m", "present", "positive")
_SEX_NAMES = ("sex", "gender")


def _f(v) -> float | None:
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) or math.isinf(v) else v


def level_text(v) -> str:
    """A level as the spreadsheet spells it (whole numbers without ``.0``)."""
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return str(int(v)) if float(v).is_integer() else repr(float(v))
    return str(v)


def is_categorical(col, name: str, categorical: Sequence[str] = ()) -> bool:
    """Text, bool, sex/gender, 0/1 numbers, or named in ``categorical``."""
    import pandas as pd

    if name in set(categorical) or str(name).strip().lower() in _SEX_NAMES:
        return True
    if isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(col.dtype):
        return True
    if not pd.api.types.is_numeric_dtype(col.dtype):
        return True
    v = col.dropna().to_numpy(dtype=float)
    return bool(v.size) and bool(np.all((v == 0) | (v == 1)))


def _treat(data, treat, treated_value) -> np.ndarray:
    if isinstance(treat, str):
        from ..matching.propensity import treat_vector

        return treat_vector(data, treat, treated_value)
    t = np.asarray(treat)
    if t.shape != (len(data),):
        raise VBQInputError(f"Table 1: the group indicator has {t.size} values for {len(data)} rows")
    return t.astype(np.int64)


def _smd(x: np.ndarray, t: np.ndarray, w: np.ndarray | None) -> float | None:
    """MatchIt's ``Std. Mean Diff.`` (:func:`VBQCohortLib.matching.balance.std_mean_diff`); None where a group is
    empty or has no weight."""
    from ..matching.balance import std_mean_diff

    i1, i0 = t == 1, t == 0
    if x.size == 0 or not i1.any() or not i0.any():
        return None
    if w is not None and (not (w[i1] > 0).any() or not (w[i0] > 0).any()):
        return None
    return _f(std_mean_diff(x, t, w))


def _level_smds(codes: np.ndarray, t: np.ndarray, w: np.ndarray | None, k: int) -> list:
    """MatchIt's SMD of each level's 0/1 indicator (what :func:`_smd` gives for ``codes == j``), from counts:
    weighted proportions by group, the treated SD sqrt(p(1-p)) over all treated rows (the unmatched sample),
    MatchIt's pooled SD for binary variables when that is 0, unstandardised below sqrt(eps). Equal to
    ``balance_table`` (tested); one pass over the rows instead of one per level."""
    sqrt_eps = float(np.sqrt(np.finfo(float).eps))  # MatchIt: sqrt(.Machine$double.eps)

    i1, i0 = t == 1, t == 0
    n1, n0 = int(i1.sum()), int(i0.sum())
    if not n1 or not n0:
        return [None] * k
    s1 = np.bincount(codes[i1], minlength=k).astype(float)   # counts over all rows of the group (weight 0 too)
    s0 = np.bincount(codes[i0], minlength=k).astype(float)
    if w is None:
        m1, m0 = s1 / n1, s0 / n0
        few = n1 < 2 and n0 < 2
    else:
        w1, w0 = w[i1], w[i0]
        if not (w1 > 0).any() or not (w0 > 0).any():
            return [None] * k
        m1 = np.bincount(codes[i1], weights=w1, minlength=k) / np.float64(np.sum(w1))
        m0 = np.bincount(codes[i0], weights=w0, minlength=k) / np.float64(np.sum(w0))
        few = np.sum(w1 != 0) < 2 and np.sum(w0 != 0) < 2
    out = []
    n = n1 + n0
    for j in range(k):
        mdiff = np.float64(m1[j]) - np.float64(m0[j])
        if abs(mdiff) <= sqrt_eps:
            out.append(_f(mdiff))
            continue
        if few:
            out.append(None)
            continue
        p = s1[j] / n1
        std = float(np.sqrt(np.float64(p * (1 - p))))
        if not np.isfinite(std) or std < sqrt_eps:
            std = float(np.sqrt((s1[j] * (1 - s1[j] / n1) + s0[j] * (1 - s0[j] / n0)) / n))
        out.append(_f(np.float64(mdiff) / np.float64(std)))
    return out


def _wmean_sd(x: np.ndarray, w: np.ndarray) -> tuple[float | None, float | None]:
    """cobalt col_w_mean / col_w_sd (normalised weights; the 'unbiased' reliability-weight variance)."""
    s = float(np.sum(w))
    if x.size == 0 or s <= 0:
        return None, None
    wn = w / s
    m = float(np.sum(wn * x))
    denom = 1 - float(np.sum(wn ** 2))
    sd = math.sqrt(float(np.sum(wn * (x - m) ** 2)) / denom) if denom > 0 else None
    return m, sd


def _normality(x: np.ndarray) -> dict | None:
    from ..stats import shapiro

    n = x.size
    if n < 3:
        return {"n": int(n), "W": None, "p": None, "note": "fewer than 3 values: not tested"}
    if n > SHAPIRO_MAX_N:
        return {"n": int(n), "W": None, "p": None,
                "note": f"more than {SHAPIRO_MAX_N} values: not tested (R shapiro.test's limit), not assumed normal"}
    if np.ptp(x) < 1e-10:
        return {"n": int(n), "W": None, "p": None, "note": "all values equal: not tested"}
    r = shapiro(x)
    return {"n": int(n), "W": _f(r.W), "p": _f(r.p)}


def _welch(x: np.ndarray, y: np.ndarray) -> tuple[float | None, float | None, float | None]:
    """R t.test(x, y) (Welch): (t, df, p); None where R stops ('not enough observations', constant data)."""
    from scipy.stats import t as tdist

    nx, ny = x.size, y.size
    if nx < 2 or ny < 2:
        return None, None, None
    mx, my = float(np.mean(x)), float(np.mean(y))
    vx, vy = float(np.var(x, ddof=1)), float(np.var(y, ddof=1))
    sx, sy = vx / nx, vy / ny
    se = math.sqrt(sx + sy)
    if se < 10 * np.finfo(float).eps * max(abs(mx), abs(my)):
        return None, None, None  # R: "data are essentially constant"
    df = (sx + sy) ** 2 / (sx ** 2 / (nx - 1) + sy ** 2 / (ny - 1))
    tt = (mx - my) / se
    return tt, df, float(2 * tdist.sf(abs(tt), df))


def _continuous(name, x_all, t, w, weighted, ok_rows) -> dict:
    ok = ~np.isnan(x_all)
    inc = ok_rows
    x1 = x_all[inc & ok & (t == 1)]
    x0 = x_all[inc & ok & (t == 0)]
    row: dict[str, Any] = {"type": "continuous", "levels": None,
                           "missing": {"treated": int(np.sum(inc & ~ok & (t == 1))),
                                       "control": int(np.sum(inc & ~ok & (t == 0)))}}
    row["smd"] = _smd(x_all[ok], t[ok], None if w is None else w[ok])
    if weighted:
        w1 = w[inc & ok & (t == 1)]
        w0 = w[inc & ok & (t == 0)]
        m1, s1 = _wmean_sd(x1, w1)
        m0, s0 = _wmean_sd(x0, w0)
        row.update(summary="mean_sd", treated={"n": int(x1.size), "mean": m1, "sd": s1},
                   control={"n": int(x0.size), "mean": m0, "sd": s0}, normality=None, test=None, p=None,
                   p_note="weighted sample: no test")
        return row
    nt, nc = _normality(x1), _normality(x0)
    row["normality"] = {"treated": nt, "control": nc}
    normal = all(v["p"] is not None and v["p"] >= SHAPIRO_ALPHA for v in (nt, nc))
    if normal:
        row["summary"] = "mean_sd"
        row["treated"] = {"n": int(x1.size), "mean": float(np.mean(x1)), "sd": float(np.std(x1, ddof=1))}
        row["control"] = {"n": int(x0.size), "mean": float(np.mean(x0)), "sd": float(np.std(x0, ddof=1))}
    else:
        row["summary"] = "median_iqr"
        for key, x in (("treated", x1), ("control", x0)):
            if x.size:
                q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])  # linear = R type 7
                row[key] = {"n": int(x.size), "median": float(med), "q1": float(q1), "q3": float(q3)}
            else:
                row[key] = {"n": 0, "median": None, "q1": None, "q3": None}
    row["test"] = "welch_t" if normal else "wilcoxon"
    row["p"] = None
    if min(x1.size, x0.size) < MIN_TEST_N:
        row["test"] = None
        row["p_note"] = f"fewer than {MIN_TEST_N} subjects in a group: no test"
        return row
    if normal:
        tt, df, p = _welch(x1, x0)
        row.update(statistic=_f(tt), df=_f(df), p=_f(p))
    else:
        from ..stats import ranksum

        r = ranksum(x1, x0, conf_int=False)
        row.update(statistic=_f(r.W), p=_f(r.p), exact=bool(r.exact))
    if row["p"] is None:
        row["p_note"] = "the test is undefined for these values (R gives no p)"
    return row


def _categorical(name, col, t, w, weighted, ok_rows) -> dict:
    import pandas as pd

    from ..reading.terms import sort_levels

    ok = col.notna().to_numpy()
    inc = ok_rows
    row: dict[str, Any] = {"type": "categorical", "summary": "n_pct",
                           "missing": {"treated": int(np.sum(inc & ~ok & (t == 1))),
                                       "control": int(np.sum(inc & ~ok & (t == 0)))}}
    values = col[ok]
    raw_codes, uniques = pd.factorize(values, sort=False)  # hashing: fast for a million text cells
    if isinstance(values.dtype, pd.CategoricalDtype):  # the user's order of a pandas Categorical
        present = set(uniques)
        levels = [c for c in values.cat.categories if c in present]
    else:
        levels = sort_levels(list(uniques))  # R's factor(): numbers by value, text by code point
    pos = {v: j for j, v in enumerate(levels)}            # R's factor() order
    remap = np.array([pos[v] for v in uniques], dtype=np.int64)
    codes = remap[raw_codes] if len(values) else np.zeros(0, dtype=np.int64)
    tt = t[ok]
    ii = inc[ok]
    k = len(levels)
    m1, m0 = ii & (tt == 1), ii & (tt == 0)
    c1 = np.bincount(codes[m1], minlength=k)
    c0 = np.bincount(codes[m0], minlength=k)
    n1, n0 = int(m1.sum()), int(m0.sum())
    if weighted:
        ww = w[ok]
        p1 = np.bincount(codes[m1], weights=ww[m1], minlength=k) / max(float(ww[m1].sum()), 1e-300) * 100
        p0 = np.bincount(codes[m0], weights=ww[m0], minlength=k) / max(float(ww[m0].sum()), 1e-300) * 100
    else:
        p1 = c1 / n1 * 100 if n1 else np.full(k, np.nan)
        p0 = c0 / n0 * 100 if n0 else np.full(k, np.nan)
    texts = [level_text(v) for v in levels]
    out = []
    smds = _level_smds(codes, tt, None if w is None else w[ok], k)
    for j, lev in enumerate(texts):
        out.append({"level": lev, "treated": {"count": int(c1[j]), "percent": _f(p1[j])},
                    "control": {"count": int(c0[j]), "percent": _f(p0[j])}, "smd": smds[j]})
    row["levels"] = out
    row["treated"] = {"n": n1}
    row["control"] = {"n": n0}
    shown = None
    if k == 2:
        shown = next((s for s in texts if s.strip().lower() in _POSITIVE), texts[1])
    row["shown_level"] = shown
    smds = [lv["smd"] for lv in out if lv["smd"] is not None]
    if shown is not None:
        row["smd"] = out[texts.index(shown)]["smd"]
    else:
        row["smd"] = max(smds, key=abs) if smds else None
    row["test"], row["p"] = None, None
    if weighted:
        row["p_note"] = "weighted sample: no test"
        return row
    if min(n1, n0) < MIN_TEST_N:
        row["p_note"] = f"fewer than {MIN_TEST_N} subjects in a group: no test"
        return row
    tab = np.column_stack([c1, c0])
    tab = tab[tab.sum(axis=1) > 0]
    if tab.shape[0] < 2:
        row["p_note"] = "one level only: no test"
        return row
    if (expected_counts(tab) >= 5).all():
        r = chisq_test(tab)
        row.update(test="chisq", statistic=_f(r.statistic), df=r.df, p=_f(r.pvalue))
    else:
        r = fisher_test(tab)
        row.update(test="fisher", p=_f(r.pvalue))
    return row


def table1(data, treat, covariates: Sequence[str], *, vbq: Sequence[str] = (), overall: str | None = None,
           categorical: Sequence[str] = (), weights=None, weighted: bool | None = None,
           labels=None, treated_value=None) -> dict:
    """Table 1 of ``data`` (a DataFrame) for the groups ``treat`` (0/1 array, or a column name).

    ``weights``: matching weights over all rows (0 = not in the sample); the summaries and tests use the rows
    with weight > 0, the SMDs MatchIt's convention over all rows (the treated SD of the unmatched sample).
    ``weighted``: whether the weights are real weights (ratio > 1 or replacement); None = when they are not
    all equal within each group. ``vbq``/``overall``: the VBQ columns of the second block (``block: "vbq"``).
    ``labels``: a :class:`.variables.Variables` or ``{column: label}``; missing ones from
    :func:`VBQCohortLib.publication.variables.default_label`.
    """
    from .variables import default_label

    t = _treat(data, treat, treated_value)
    w = None
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        if w.shape != (len(data),):
            raise VBQInputError(f"Table 1: {w.size} weights for {len(data)} rows")
    inc = np.ones(len(data), dtype=bool) if w is None else w > 0
    if weighted is None:
        weighted = bool(w is not None and any(np.ptp(w[inc & (t == g)]) > 1e-12
                                               for g in (0, 1) if (inc & (t == g)).any()))
    from .variables import Variables

    var = labels if isinstance(labels, Variables) else None
    labels = {} if var is not None else dict(labels or {})
    rows = []
    blocks = [(c, "covariates") for c in covariates] + [(c, "vbq") for c in vbq]
    if overall:
        blocks.append((overall, "vbq"))
    for name, block in blocks:
        if name not in data.columns:
            raise VBQInputError(f"Table 1: column {name!r} not found; columns are "
                                f"{', '.join(map(str, data.columns))}")
        col = data[name]
        if is_categorical(col, name, categorical) and block != "vbq":
            r = _categorical(name, col, t, w, weighted, inc)
        else:
            import pandas as pd

            if not pd.api.types.is_numeric_dtype(col.dtype):
                raise VBQInputError(f"Table 1: column {name!r} must hold numbers")
            r = _continuous(name, col.to_numpy(dtype=float), t, w, weighted, inc)
        if var is not None:
            lab = var.label(name, r["type"], r.get("shown_level"))
            for lv in r.get("levels") or []:
                lv["label"] = var.level(name, lv["level"])
        else:
            lab = labels.get(name) or default_label(name, r["type"], r.get("shown_level"))
        rows.append({"variable": str(name), "label": lab, "block": block, **r})
    out = {"n_treated": int(np.sum(inc & (t == 1))), "n_control": int(np.sum(inc & (t == 0))),
           "weighted": bool(weighted), "rows": rows}
    if weighted:
        out["note"] = ("Weighted sample (matching with ratio > 1 or with replacement): weighted means, SDs and "
                       "percentages; p-values are not given because the tests assume independent, unweighted "
                       "observations.")
    return out


# ----------------------------------------------------------------------------------------------- presentation

def _decimals(rows_values: Sequence[float]) -> int:
    v = [abs(x) for x in rows_values if x is not None and not math.isnan(x)]
    if not v:
        return 1
    m = max(v)
    return 2 if m < 10 else (1 if m < 1000 else 0)


def _num(x, d: int) -> str:
    if x is None:
        return "–"
    s = f"{x:.{d}f}"
    if s.startswith("-") and float(s) == 0:
        s = s[1:]
    return s


def fmt_p(p) -> str:
    if p is None:
        return "–"
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}"


def fmt_smd(s) -> str:
    return _num(s, 2) if s is not None else "–"


def _cell(row: dict, key: str, d: int) -> str:
    g = row[key]
    if row["summary"] == "mean_sd":
        return f"{_num(g.get('mean'), d)} ± {_num(g.get('sd'), d)}" if g.get("n") else "–"
    return (f"{_num(g.get('median'), d)} ({_num(g.get('q1'), d)}–{_num(g.get('q3'), d)})"
            if g.get("n") else "–")


def _pct(c: dict, weighted: bool) -> str:
    if c["percent"] is None:
        return "–"
    return f"{c['percent']:.1f}%" if weighted else f"{c['count']} ({c['percent']:.1f})"


def _label(row: dict) -> str:
    lab = row["label"]
    if row["type"] == "categorical":
        return lab if lab.endswith("n (%)") or lab.endswith("%") else f"{lab}, n (%)"
    suffix = ", mean ± SD" if row["summary"] == "mean_sd" else ", median (IQR)"
    return lab + suffix


def lines(t1: dict) -> list[dict]:
    """One table's display lines: ``{variable, level, text, treated, control, p, smd, indent}``."""
    out = []
    weighted = t1.get("weighted", False)
    for row in t1["rows"]:
        base = {"variable": row["variable"], "block": row.get("block", "covariates")}
        if row["type"] == "continuous":
            vals = []
            for g in ("treated", "control"):
                vals += [row[g].get(k) for k in ("mean", "sd", "median", "q1", "q3")]
            d = _decimals(vals)
            out.append({**base, "level": "", "text": _label(row), "treated": _cell(row, "treated", d),
                        "control": _cell(row, "control", d), "p": fmt_p(row["p"]), "smd": fmt_smd(row["smd"]),
                        "indent": 0})
        elif row.get("shown_level") is not None:
            lv = next(x for x in row["levels"] if x["level"] == row["shown_level"])
            text = _label(row)
            shown = str(lv.get("label") or lv["level"])
            if not row["label"].endswith("n (%)") and shown.strip().lower() not in ("1", "yes", "y", "true"):
                text = f"{row['label']}: {shown}, n (%)"  # which level is counted: "Sex: Male", "Steroid: oral"
            out.append({**base, "level": lv["level"], "text": text,
                        "treated": _pct(lv["treated"], weighted), "control": _pct(lv["control"], weighted),
                        "p": fmt_p(row["p"]), "smd": fmt_smd(row["smd"]), "indent": 0})
        else:
            out.append({**base, "level": "", "text": _label(row), "treated": "", "control": "",
                        "p": fmt_p(row["p"]), "smd": fmt_smd(row["smd"]), "indent": 0})
            for lv in row["levels"]:
                out.append({**base, "level": lv["level"], "text": lv.get("label") or lv["level"],
                            "treated": _pct(lv["treated"], weighted), "control": _pct(lv["control"], weighted),
                            "p": "", "smd": fmt_smd(lv["smd"]), "indent": 1})
        miss = row.get("missing") or {}
        if miss.get("treated") or miss.get("control"):
            out.append({**base, "level": "(missing)", "text": "missing, n", "treated": str(miss["treated"]),
                        "control": str(miss["control"]), "p": "", "smd": "", "indent": 1})
    return out


_EMPTY = {"treated": "", "control": "", "p": "", "smd": ""}


def align(base: list[dict], other: list[dict]) -> tuple[list[dict], list[str]]:
    """``other``'s lines in ``base``'s order (by variable and level; a level absent from one sample is blank)
    and the Characteristic texts: where the summary differs (mean ± SD before, median (IQR) after) the text
    says which is which ("VBQ C3, mean ± SD before / median (IQR) after")."""
    key = {(x["variable"], x["level"]): x for x in other}
    out, texts = [], []
    for b in base:
        o = key.get((b["variable"], b["level"]), _EMPTY)
        out.append(o)
        t = b["text"]
        if o is not _EMPTY and o.get("text") and o["text"] != t and ", " in t and ", " in o["text"]:
            stem, s1 = t.rsplit(", ", 1)
            stem2, s2 = o["text"].rsplit(", ", 1)
            if stem == stem2:
                t = f"{stem}, {s1} before / {s2} after"
        texts.append(t)
    return out, texts


def frame(before: dict, after: dict | None = None, *, names: Sequence[str] = ("Treated", "Control")):
    """Display DataFrame: ``Variable`` and ``Level`` (the spreadsheet's names), ``Characteristic``, then
    treated/control/p/SMD for the table(s) given (``... before``/``... after`` headers when both)."""
    import pandas as pd

    parts = [("", before)] if after is None else [("before", before), ("after", after)]
    base = lines(before)
    cols: dict[str, list] = {"Variable": [ln["variable"] for ln in base], "Level": [ln["level"] for ln in base],
                             "Characteristic": [("    " if ln["indent"] else "") + ln["text"] for ln in base]}
    for tag, t1 in parts:
        ls, texts = align(base, lines(t1))
        if tag == "after":
            cols["Characteristic"] = [("    " if b["indent"] else "") + x for b, x in zip(base, texts)]
        sfx = f" {tag}" if tag else ""
        cols[f"{names[0]} (n = {t1['n_treated']}){sfx}"] = [x["treated"] for x in ls]
        cols[f"{names[1]} (n = {t1['n_control']}){sfx}"] = [x["control"] for x in ls]
        cols[f"p{sfx}"] = [x["p"] for x in ls]
        cols[f"SMD{sfx}"] = [x["smd"] for x in ls]
    return pd.DataFrame(cols)


def footnote(*tables: dict) -> str:
    """The rules, as the table's footnote (and the methods paragraph)."""
    parts = [
        "Continuous variables: mean ± SD when the Shapiro-Wilk test gave p ≥ 0.05 in both groups "
        "(compared with Welch's t-test), otherwise median (IQR; R quantile type 7), compared with the "
        "Wilcoxon rank-sum test.",
        "Categorical variables: n (%), compared with Pearson's χ² test without continuity correction when every "
        "expected count is at least 5, otherwise Fisher's exact test.",
        "SMD, standardized mean difference (MatchIt/cobalt convention for the average treatment effect in the "
        "treated: difference in means divided by the treated group's SD in the sample before matching; "
        "√(p(1−p)) for binary variables; for variables with more than two levels, the level with the largest "
        "absolute SMD).",
    ]
    if any(t1 and t1.get("weighted") for t1 in tables):
        parts.append("After matching with weights (ratio > 1 or with replacement), weighted means, SDs and "
                     "percentages are shown and p-values are omitted because the tests assume independent, "
                     "unweighted observations.")
    if any(t1 and r.get("p_note", "").startswith("fewer than") for t1 in tables if t1 for r in t1["rows"]):
        parts.append(f"No test where a group had fewer than {MIN_TEST_N} subjects with a value (–).")
    return " ".join(parts)


def methods_sentence() -> str:
    return ("Baseline characteristics are summarised as mean ± SD when the Shapiro-Wilk test did not reject "
            "normality (p ≥ 0.05) in either group, and compared with Welch's t-test; otherwise as median "
            "(interquartile range) with the Wilcoxon rank-sum test. Categorical variables are given as n (%) and "
            "compared with Pearson's χ² test without continuity correction, or Fisher's exact test when an "
            "expected count was below 5. Balance is reported as the standardized mean difference (SMD) with the "
            "treated group's standard deviation before matching as the denominator (MatchIt convention).")
