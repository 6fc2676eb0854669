"""One diagnostic-accuracy run: markers against conditions (ROC), markers against reference columns
(correlation), and an adjusted model, into the ``diagnostic.json`` dict (issue 18).

:func:`run_diagnostic` reads the table (CSV/TSV/XLSX, optionally joined with VBQ results by ``id``), checks every
input before computing anything (marker columns numeric, conditions parse and name a column, both classes with
at least 2 subjects), then per condition and marker:

* the ROC (:mod:`.roc`, pROC semantics) on the rows complete for that marker and condition -- the excluded rows
  are counted and listed with their reason;
* the Youden-optimal threshold(s) (all ties), the given ``thresholds`` and the cut-offs at a target sensitivity
  / specificity, each with the 2x2 table, Clopper-Pearson CIs, PPV, NPV, LR+ and LR-;
* the paired DeLong test of every pair of markers (order of ``markers``) on the rows complete for both;
* with ``covariates``: ``condition ~ marker + covariates`` by :func:`VBQCohortLib.stats.logistic.fit_logistic`
  (R ``glm``), the marker's odds ratio per unit and per SD (SD of the marker in the model's rows), and the AUC of
  the model's linear predictor with its DeLong CI (direction fixed to ``"<"``: higher predicted risk in cases).

and per marker and ``correlate`` column Pearson and Spearman (:mod:`.correlation`). The keys fixed by the issue
are ``roc.<marker>`` (first condition), ``conditions.<label>.roc.<marker>``, ``roc_tests."<A> vs <B>"``,
``correlation."<marker> vs <column>"`` and ``model``; everything else is added.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np

from VBQScoreLib.errors import VBQInputError
from VBQScoreLib.json_text import finite_or_none, jsonable
from VBQScoreLib.progress import report

from . import correlation as C, roc as R
from .condition import Evaluated, evaluate_condition, numeric_column, parse_condition

__all__ = ["run_diagnostic", "CURVE_POINTS"]

CURVE_POINTS = 1000  # at most this many curve points in diagnostic.json (all of them in tables/roc_curve_*.csv)
Z975 = 1.959963984540054


def _read(data, sheet=None, needed=None):
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data.copy(), "<table>", None, []
    from ..reading.spreadsheet import read_data_file

    return read_data_file(data, sheet=sheet, needed=needed)


def _column(df, name: str, flag: str) -> str:
    import difflib

    from ..reading.labels import find_column

    cols = [str(c) for c in df.columns]
    hit = find_column(cols, name, f"{flag} column '{name}'")
    if hit is None:
        close = difflib.get_close_matches(name, cols, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise VBQInputError(f"{flag} column '{name}' not found{hint} (columns: {', '.join(cols[:12])}"
                            f"{' ...' if len(cols) > 12 else ''})")
    return hit


def _row_ids(df, id_col):
    rows = [r.item() if hasattr(r, "item") else r for r in df.index]
    ids = None if id_col is None else [None if (isinstance(v, float) and math.isnan(v)) else
                                       (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
                                       for v in df[id_col]]
    return rows, ids


def _excluded(mask_missing: dict[str, np.ndarray], rows, ids) -> list[dict]:
    """One entry per row with a missing value among the named columns."""
    names = list(mask_missing)
    any_miss = np.zeros(len(rows), dtype=bool)
    for m in mask_missing.values():
        any_miss |= m
    out = []
    for i in np.flatnonzero(any_miss):
        e = {"row": rows[i]}
        if ids is not None:
            e["id"] = ids[i]
        e["reason"] = "missing " + ", ".join(n for n in names if mask_missing[n][i])
        out.append(e)
    return out


def _thin(n: int, keep: Sequence[int], k: int = CURVE_POINTS) -> np.ndarray:
    if n <= k:
        return np.arange(n)
    idx = np.unique(np.concatenate((np.linspace(0, n - 1, k).round().astype(int), np.asarray(keep, int))))
    return idx


def _op(r: R.ROC, t: float) -> dict:
    d = R.operating_point(r, t)
    return {k: (finite_or_none(v) if isinstance(v, float) else v) for k, v in d.items()}


def roc_entry(r: R.ROC, *, thresholds=(), at_sensitivity=None, at_specificity=None, bootstrap=None, seed=None,
              progress=None) -> dict[str, Any]:
    """The ``roc.<marker>`` dict of one ROC curve."""
    ci = R.ci_auc_delong(r)
    best = R.coords_best(r)
    youden = [_op(r, float(r.thresholds[i])) for i in best]
    idx = _thin(r.thresholds.size, best)
    curve = [{"threshold": finite_or_none(r.thresholds[i]), "sensitivity": float(r.sensitivities[i]),
              "specificity": float(r.specificities[i])} for i in idx]
    out: dict[str, Any] = {
        "auc": ci["auc"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"], "ci_method": "DeLong",
        "auc_se": finite_or_none(ci["se"]), "direction": r.direction,
        "positive_if": "marker >= threshold" if r.direction == "<" else "marker <= threshold",
        "n_cases": r.n_cases, "n_controls": r.n_controls,
        "youden": youden, "curve": curve, "curve_points": int(r.thresholds.size),
        "curve_thinned": bool(idx.size < r.thresholds.size),
        "at_threshold": [_op(r, float(t)) for t in thresholds],
    }
    for key, val, inp in (("at_sensitivity", at_sensitivity, "sensitivity"),
                          ("at_specificity", at_specificity, "specificity")):
        if val is None:
            continue
        c = R.coords_at(r, float(val), inp)
        op = _op(r, float(r.thresholds[c["operating_index"]]))
        out[key] = {"target": float(val), "interpolated": {"sensitivity": c["sensitivity"],
                                                           "specificity": c["specificity"],
                                                           "threshold": finite_or_none(c["threshold"])},
                    "operating_point": op}
    if bootstrap:
        b = R.ci_auc_bootstrap(r, int(bootstrap), seed=seed, progress=progress)
        out["bootstrap"] = {"ci_low": b["ci_low"], "ci_high": b["ci_high"], "n_boot": b["n_boot"], "seed": seed,
                            "stratified": True,
                            "method": "stratified bootstrap percentile CI (numpy PCG64 random numbers, not R's)"}
    return out


def _model(df_num: dict, y: np.ndarray, marker: str, covariates: Sequence[str], raw_df, rows, ids) -> dict:
    """``condition ~ marker + covariates`` by fit_logistic; OR per unit and per SD; AUC of the model."""
    import pandas as pd

    from ..stats.logistic import fit_logistic

    cols = {"__condition__": y, marker: df_num[marker]}
    for c in covariates:
        cols[c] = df_num[c] if c in df_num else raw_df[c].to_numpy(dtype=object)
    frame = pd.DataFrame(cols, index=raw_df.index)
    miss = {"condition": np.isnan(y), marker: np.isnan(df_num[marker])}
    for c in covariates:
        miss[c] = frame[c].isna().to_numpy()
    excluded = _excluded(miss, rows, ids)
    keep = ~np.any(np.vstack(list(miss.values())), axis=0)
    sub = frame.loc[keep]
    res = fit_logistic(sub, "__condition__", [marker, *covariates])
    t = res.terms[marker]
    sd = float(np.std(sub[marker].to_numpy(dtype=float), ddof=1))
    with np.errstate(over="ignore", invalid="ignore"):
        per_sd = {"odds_ratio": float(np.exp(t["coef"] * sd)), "ci_low": float(np.exp(t["coef_ci_low"] * sd)),
                  "ci_high": float(np.exp(t["coef_ci_high"] * sd)), "p": t["p"], "sd": sd}
    # linear predictor from the fitted terms (numeric columns by name, dummies from term_levels)
    lp = np.full(len(sub), res.terms["(Intercept)"]["coef"])
    for name, tv in res.terms.items():
        if name == "(Intercept)":
            continue
        info = res.term_levels.get(name)
        if info:
            x = (sub[info["column"]].astype(str).str.strip() == str(info["level"])).to_numpy(dtype=float)
        else:
            x = pd.to_numeric(sub[name]).to_numpy(dtype=float)
        lp = lp + tv["coef"] * x
    ysub = sub["__condition__"].to_numpy() == 1
    mr = R.roc(ysub, lp, direction="<")
    ci = R.ci_auc_delong(mr)
    d = res.to_dict()
    d["outcome"] = "condition"
    return {
        "formula": f"condition ~ {' + '.join([marker, *covariates])}",
        "n": res.n, "n_events": res.n_events, "n_excluded": len(excluded), "excluded": excluded,
        "or_per_unit": {"odds_ratio": t["odds_ratio"], "ci_low": t["ci_low"], "ci_high": t["ci_high"], "p": t["p"]},
        "or_per_sd": per_sd,
        "auc": ci["auc"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"], "ci_method": "DeLong",
        "auc_direction": "<",
        "logistic": d, "warnings": list(res.warnings),
    }


def run_diagnostic(data, markers: Sequence[str], conditions: Sequence[str], *, correlate: Sequence[str] = (),
                   covariates: Sequence[str] = (), id_col: str | None = None, vbq_results=None,
                   thresholds: Sequence[float] = (), at_sensitivity: float | None = None,
                   at_specificity: float | None = None, bootstrap: int | None = None,
                   seed: int | None = None, sheet=None, progress=None, command: str | None = None,
                   return_frames: bool = False):
    """The ``diagnostic.json`` dict (and, with ``return_frames``, ``(results, frames)`` for the report)."""
    markers = list(dict.fromkeys(markers or []))
    conditions = list(conditions or [])
    correlate, covariates = list(correlate or []), list(covariates or [])
    if not markers:
        raise VBQInputError("--marker: give at least one marker column")
    if not conditions and not correlate:
        raise VBQInputError("--condition: give at least one condition (or --correlate columns)")
    for v, flag in ((at_sensitivity, "--at-sensitivity"), (at_specificity, "--at-specificity")):
        if v is not None and not (0 < v <= 1):
            raise VBQInputError(f"{flag} {v}: must be a proportion in (0, 1]")
    if bootstrap is not None and bootstrap < 1:
        raise VBQInputError(f"--bootstrap {bootstrap}: must be a whole number >= 1")
    for t in thresholds:
        if not math.isfinite(t):
            raise VBQInputError(f"--threshold {t}: must be a finite number")
    parsed = [parse_condition(c) for c in conditions]  # unparsable expressions fail before reading

    # a very wide table is read with the columns named here only (read_table's WIDE_TABLE)
    needed = [id_col, *markers, *correlate, *covariates, *(pc.column for pc in parsed)]
    df, source, digest, warnings = _read(data, sheet, needed=needed)
    inputs = [{"role": "data", "path": source, "sha256": digest}]
    if id_col is not None:
        id_col = _column(df, id_col, "--id")
    if vbq_results is not None:
        if id_col is None:
            raise VBQInputError("--vbq-results: give --id COL (the patient id column to join on)")
        from ..reading.join import join_vbq

        df, info = join_vbq(df, vbq_results, id_col=id_col)
        if info.get("n_vbq") and not info.get("n_joined"):
            raise VBQInputError(f"{info['source']}: none of its case ids matches a patient id in column "
                                f"'{id_col}' of {source}")
        warnings.extend(info.get("warnings") or [])
        if info.get("only_in_clinical"):
            warnings.append(f"{len(info['only_in_clinical'])} patient(s) have no VBQ results (their VBQ is missing)")
        inputs.append({"role": "VBQ results", "path": str(info.get("source")), "sha256": None})
    markers = [_column(df, m, "--marker") for m in markers]
    correlate = [_column(df, c, "--correlate") for c in correlate]
    covariates = [_column(df, c, "--covariates") for c in covariates]
    num = {m: numeric_column(df, m, "marker") for m in markers}
    for c in correlate:
        num[c] = numeric_column(df, c, "--correlate")
    import pandas as pd

    for c in covariates:
        s = df[c]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            num[c] = s.to_numpy(dtype=float)
    evals: list[Evaluated] = []
    for pc in parsed:
        ev = evaluate_condition(df, pc)
        warnings.extend(ev.warnings)
        pos = ev.positive
        n1, n0 = int(np.nansum(pos == 1)), int(np.nansum(pos == 0))
        if n1 == 0 or n0 == 0:
            raise VBQInputError(f"--condition {pc.expression!r}: one class only ({n1} positive, {n0} negative of the "
                                f"{n1 + n0} rows with a value)")
        for m in markers:
            ok = ~np.isnan(pos) & ~np.isnan(num[m])
            a, b = int(np.sum(pos[ok] == 1)), int(np.sum(pos[ok] == 0))
            if a < 2 or b < 2:
                raise VBQInputError(f"--condition {pc.expression!r} with marker '{m}': {a} positive and {b} negative "
                                    f"rows with both values; each class needs at least 2")
        evals.append(ev)
    labels = [ev.label for ev in evals]
    if len(set(labels)) != len(labels):
        raise VBQInputError(f"--condition: the same condition is given twice ({labels})")

    rows, ids = _row_ids(df, id_col)
    n_steps = len(evals) * (len(markers) + max(0, len(markers) * (len(markers) - 1) // 2)
                            + (len(markers) if covariates else 0)) + len(markers) * len(correlate) + 1
    step = [0]

    def tick(msg):
        report(progress, step[0], n_steps, msg)
        step[0] += 1

    res: dict[str, Any] = {
        "schema": "vbq-diagnostic/1",
        "markers": markers, "condition_labels": labels, "correlate": correlate, "covariates": covariates,
        "roc": {}, "roc_tests": {}, "correlation": {}, "conditions": {},
    }
    frames: dict[str, Any] = {"rocs": {}, "pairs": {}, "df": df, "num": num, "id_col": id_col}
    for ci_, ev in enumerate(evals):
        pos = ev.positive
        cond_out: dict[str, Any] = {
            "expression": ev.condition.expression, "column": ev.column, "op": ev.condition.op,
            "value": ev.value, "n_positive": int(np.nansum(pos == 1)), "n_negative": int(np.nansum(pos == 0)),
            "n_missing": int(np.isnan(pos).sum()), "roc": {}, "roc_tests": {},
        }
        for m in markers:
            tick(f"ROC {m} | {ev.label}")
            miss = {ev.column: np.isnan(pos), m: np.isnan(num[m])}
            ok = ~(miss[ev.column] | miss[m])
            r = R.roc(pos[ok] == 1, num[m][ok])
            e = roc_entry(r, thresholds=thresholds, at_sensitivity=at_sensitivity, at_specificity=at_specificity,
                          bootstrap=bootstrap, seed=seed)
            exc = _excluded(miss, rows, ids)
            e["n"] = int(ok.sum())
            e["n_excluded"] = len(exc)
            e["excluded"] = exc
            cond_out["roc"][m] = e
            frames["rocs"][(ev.label, m)] = r
        for a, b in combinations(markers, 2):
            tick(f"DeLong {a} vs {b} | {ev.label}")
            miss = {ev.column: np.isnan(pos), a: np.isnan(num[a]), b: np.isnan(num[b])}
            ok = ~(miss[ev.column] | miss[a] | miss[b])
            y = pos[ok] == 1
            if y.sum() < 2 or (~y).sum() < 2:
                cond_out["roc_tests"][f"{a} vs {b}"] = {"method": "DeLong's test for two correlated ROC curves",
                                                        "z": None, "p": None, "auc_a": None, "auc_b": None,
                                                        "n": int(ok.sum()),
                                                        "note": "fewer than 2 subjects per class complete for both"}
                continue
            t = R.roc_test_paired(R.roc(y, num[a][ok]), R.roc(y, num[b][ok]))
            t = {k: (finite_or_none(v) if isinstance(v, float) else v) for k, v in t.items()}
            t["n_excluded"] = int((~ok).sum())
            t["excluded"] = _excluded(miss, rows, ids)
            if t.get("warning"):
                warnings.append(f"{a} vs {b} ({ev.label}): {t['warning']}")
            cond_out["roc_tests"][f"{a} vs {b}"] = t
        if covariates:
            cond_out["model"] = {}
            for m in markers:
                tick(f"model {m} | {ev.label}")
                cond_out["model"][m] = _model(num, pos, m, covariates, df, rows, ids)
                warnings.extend(f"model {m} ({ev.label}): {w}" for w in cond_out["model"][m]["warnings"])
        res["conditions"][ev.label] = cond_out
        if ci_ == 0:
            res["condition"] = ev.label
            res["roc"] = cond_out["roc"]
            res["roc_tests"] = cond_out["roc_tests"]
            if covariates:
                res["model"] = cond_out["model"]
    for m in markers:
        for c in correlate:
            tick(f"correlation {m} vs {c}")
            miss = {m: np.isnan(num[m]), c: np.isnan(num[c])}
            ok = ~(miss[m] | miss[c])
            if ok.sum() < 3:
                raise VBQInputError(f"--correlate {c}: only {int(ok.sum())} rows have both '{m}' and '{c}' (need 3)")
            p = C.pearson(num[m][ok], num[c][ok])
            s = C.spearman(num[m][ok], num[c][ok])
            exc = _excluded(miss, rows, ids)
            res["correlation"][f"{m} vs {c}"] = {"pearson": p, "spearman": s, "n": int(ok.sum()),
                                                 "n_excluded": len(exc), "excluded": exc}
            frames["pairs"][(m, c)] = ok
    res["warnings"] = warnings
    res["methods"] = methods_paragraph(res, bootstrap=bootstrap, seed=seed)
    from VBQScoreLib import __version__
    from VBQScoreLib.provenance import software_versions

    versions = software_versions()

    res["provenance"] = {"created_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
                         "software": {"name": "SlicerVBQ", "version": __version__}, "versions": versions,
                         "inputs": inputs, "command": command,
                         "options": {"thresholds": list(thresholds), "at_sensitivity": at_sensitivity,
                                     "at_specificity": at_specificity, "bootstrap": bootstrap, "seed": seed}}
    report(progress, n_steps, n_steps, "done")
    res = jsonable(res)
    return (res, frames) if return_frames else res


def methods_paragraph(res: dict, bootstrap=None, seed=None) -> str:
    """A methods paragraph for a manuscript (STARD-minded), naming the software and what was computed."""
    parts = []
    if res.get("condition_labels"):
        conds = "; ".join(res["condition_labels"])
        parts.append(
            f"The diagnostic accuracy of {', '.join(res['markers'])} was assessed with receiver operating "
            f"characteristic (ROC) analysis for the reference standard(s) {conds}, on the subjects with complete "
            f"data for each analysis (exclusions are listed). The direction of each marker was chosen from the "
            f"group medians, thresholds were placed midway between consecutive observed values, and the area "
            f"under the curve (AUC) is reported with its DeLong 95% confidence interval"
            + (f" and a stratified bootstrap percentile interval ({bootstrap} resamples, seed {seed})" if bootstrap
               else "") + ". The optimal threshold maximised Youden's J (all tied thresholds are reported); "
            "sensitivity and specificity are given with exact Clopper-Pearson 95% confidence intervals, together "
            "with predictive values and likelihood ratios.")
        if len(res["markers"]) > 1:
            parts.append("AUCs of markers measured on the same subjects were compared with the paired DeLong test.")
        if res.get("covariates"):
            parts.append(f"Logistic regression adjusted for {', '.join(res['covariates'])} gave the odds ratio of "
                         f"each marker per unit and per standard deviation (Wald 95% CIs), and the AUC of the "
                         f"model's linear predictor.")
    if res.get("correlate"):
        parts.append(f"Correlation with {', '.join(res['correlate'])} was assessed with Pearson's r (Fisher-z "
                     f"95% CI) and Spearman's rho (exact or Edgeworth p-value without ties for n <= 1290, else "
                     f"the t approximation, as R's cor.test).")
    parts.append("Computations by SlicerVBQ, whose ROC and DeLong results equal R pROC 1.18 and whose correlation "
                 "tests equal R 4.2's cor.test (checked in its test suite).")
    return " ".join(parts)
