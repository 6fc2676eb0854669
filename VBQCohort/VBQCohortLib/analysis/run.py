"""The whole VBQ cohort study from one table and one analysis plan: ``run_analysis(data, plan) -> results``.

Steps (each named in the plan, see :mod:`.plan`; ``lu2024`` is the design of Lu et al. 2024):

1. read the clinical table (``read_table``) and, if given, join VBQ results by patient id (:mod:`.join`);
2. validate and normalise it (``prepare_cohort``); excluded rows are counted with their reasons;
3. propensity-score matching of treated vs control on the covariates (``match``: R MatchIt semantics), with
   balance before/after -- skipped with ``no_matching`` (then the unmatched groups are compared);
4. per VBQ level, treated vs control: Shapiro-Wilk per group; Wilcoxon rank-sum (the paper's test; it ignores
   the pairing); on matched pairs the Wilcoxon signed-rank test; Holm (plan's ``p_adjust``) across levels next
   to the raw p;
5. across levels within each group: Kruskal-Wallis (the paper's test; treats the levels of one patient as
   independent), Friedman (repeated measures), Dunn post-hoc with Holm;
6. sex-stratified sub-study: within the treated group, match the rarer sex to the other on the remaining
   covariates and compare per level as in 4;
7. multivariable logistic regression of group membership on the predictors, fitted on the full cohort before
   matching;
8. provenance: package versions, the resolved plan, SHA-256 of the input files.

``results`` is a JSON-safe dict; :func:`VBQCohortLib.report.write_report` turns it into results.json,
report.html and tables. Every number in it comes from :mod:`.stats`, :mod:`.matching` and :mod:`.logistic`
called on the rows the report describes.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from VBQScoreLib.errors import VBQInputError
from VBQScoreLib.json_text import (
    finite_or_none as _f,  # JSON-safe float: None for None, NaN, ±inf
    jsonable,
)
from VBQScoreLib.progress import ProgressCallback, report
from VBQScoreLib.provenance import sha256_file, software_versions

from .. import __version__
from .plan import Plan, load_plan

TREAT_COL = "treated"  # the 0/1 group indicator of prepare_cohort (1 = treated group)


# ---------------------------------------------------------------------------------------------------------------
# small helpers

def level_label(col: str) -> str:
    """``VBQ_C3`` -> ``C3`` (the display name of a level column)."""
    s = str(col)
    for pre in ("VBQ_", "vbq_", "VBQ-", "VBQ "):
        if s.startswith(pre):
            return s[len(pre):]
    return s


def describe(values) -> dict:
    """n, mean, SD (n-1), median, quartiles (R's default type 7), min, max of the non-missing values."""
    import numpy as np

    a = np.asarray(values, dtype=float)
    a = a[~np.isnan(a)]
    if a.size == 0:
        return {"n": 0, "mean": None, "sd": None, "median": None, "q1": None, "q3": None, "min": None, "max": None}
    return {"n": int(a.size), "mean": _f(a.mean()), "sd": _f(a.std(ddof=1)) if a.size > 1 else None,
            "median": _f(np.median(a)), "q1": _f(np.percentile(a, 25)), "q3": _f(np.percentile(a, 75)),
            "min": _f(a.min()), "max": _f(a.max())}


# ---------------------------------------------------------------------------------------------------------------
# the statistics blocks (each callable on its own; the tests call them to cross-check results.json)

def compare_levels(a, b, levels, *, names=("treated", "control"), pairs=None, id_col=None,
                   p_adjust_method="holm", shapiro=True, ranksum=True, signed_rank=True) -> dict:
    """Per level column: descriptive statistics, Shapiro-Wilk per group, rank-sum of ``a`` vs ``b`` (W = U of
    ``a``), the signed-rank test on ``pairs`` (``{a_id: [b_ids]}``; with several b per a, their mean), and
    ``p_adjust_method`` across levels (``p_holm`` -- or ``p_adj`` -- beside each raw ``p``).

    ``a``/``b`` are DataFrames of the two groups (with ``id_col`` when ``pairs`` is given)."""
    import numpy as np

    from .. import stats

    na, nb = names
    out: dict[str, Any] = {}
    for col in levels:
        xa = a[col].to_numpy(dtype=float)
        xb = b[col].to_numpy(dtype=float)
        entry: dict[str, Any] = {"level": level_label(col),
                                 "describe": {na: describe(xa), nb: describe(xb)}}
        ok_a, ok_b = xa[~np.isnan(xa)], xb[~np.isnan(xb)]
        entry["n"] = {na: int(ok_a.size), nb: int(ok_b.size)}
        entry["n_missing"] = {na: int(np.isnan(xa).sum()), nb: int(np.isnan(xb).sum())}
        if shapiro:
            sw = {}
            for g, v in ((na, ok_a), (nb, ok_b)):
                if 3 <= v.size <= 5000 and np.ptp(v) > 0:
                    sw[g] = stats.shapiro(v).to_dict()
                else:
                    sw[g] = {"W": None, "p": None, "n": int(v.size),
                             "note": "Shapiro-Wilk needs 3-5000 values that are not all equal"}
            entry["shapiro"] = sw
        if ranksum:
            try:
                if ok_a.size < 1 or ok_b.size < 1:
                    raise VBQInputError("a group has no values")
                entry["ranksum"] = stats.ranksum(ok_a, ok_b).to_dict()
            except VBQInputError as exc:
                entry["ranksum"] = {"W": None, "p": None, "method": f"not computed: {exc}"}
        if signed_rank and pairs is not None:
            pa, pb = paired_values(a, b, col, pairs, id_col)
            try:
                if pa.size < 1:
                    raise VBQInputError("no complete pairs")
                sr = stats.signed_rank(pa, pb).to_dict()
                if any(len(c) > 1 for c in pairs.values()):
                    sr["pairing"] = "treated value vs mean of its matched controls"
                entry["signed_rank"] = sr
            except VBQInputError as exc:
                entry["signed_rank"] = {"V": None, "p": None, "method": f"not computed: {exc}"}
        out[col] = entry
    key = "p_holm" if str(p_adjust_method).lower() == "holm" else "p_adj"
    for test in ("ranksum", "signed_rank"):
        ps = {c: out[c][test].get("p") for c in levels if test in out[c]}
        if not ps:
            continue
        adj = stats.p_adjust(ps, p_adjust_method)
        for c, v in adj.items():
            out[c][test][key] = v
            if key != "p_holm":
                out[c][test]["p_adjust"] = p_adjust_method
    return out


OVERALL_LABEL = "Overall (mean of levels)"


def overall_comparison(a, b, levels, *, names, pairs=None, id_col=None, **tests) -> dict | None:
    """The overall VBQ (:data:`OVERALL_COL`, the mean of a subject's level VBQs) compared between ``a`` and
    ``b`` as :func:`compare_levels` compares a level, with no multiplicity adjustment (``p_adjust: "none"``):
    it is a separate summary endpoint, outside the family of levels. None with fewer than 2 level columns."""
    levels = [c for c in levels if c in a.columns and c in b.columns]
    if len(levels) < 2:
        return None
    a2, col = _with_overall(a, levels)
    b2, _ = _with_overall(b, levels)
    if col is None:
        return None
    e = compare_levels(a2, b2, [col], names=names, pairs=pairs, id_col=id_col, p_adjust_method="none",
                       **tests)[col]
    for test in ("ranksum", "signed_rank"):
        if test in e:
            e[test].pop("p_adj", None)
            e[test]["p_adjust"] = "none"
    e["level"] = OVERALL_LABEL
    e["column"] = col
    return e


def paired_values(a, b, col, pairs, id_col):
    """Arrays (a value, b value) over pairs; several b per a are averaged; a pair with a missing value is
    dropped (the signed-rank test counts complete pairs only)."""
    import numpy as np

    va = dict(zip(a[id_col].map(str), a[col].to_numpy(dtype=float)))
    vb = dict(zip(b[id_col].map(str), b[col].to_numpy(dtype=float)))
    xs, ys = [], []
    for t, cs in pairs.items():
        x = va.get(str(t), np.nan)
        ys_c = [vb.get(str(c), np.nan) for c in cs]
        if not ys_c or np.isnan(x) or any(np.isnan(ys_c)):
            continue
        xs.append(x)
        ys.append(float(np.mean(ys_c)))
    return np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)


def segmental_tests(df, levels, *, kruskal=True, friedman=True, dunn=True, p_adjust_method="holm") -> dict:
    """Across the level columns of one group: Kruskal-Wallis on the level values (as the study did),
    Friedman on the complete subjects x levels matrix, Dunn post-hoc with ``p_adjust_method``."""
    from .. import stats

    groups = {level_label(c): df[c].to_numpy(dtype=float) for c in levels}
    out: dict[str, Any] = {"n_subjects": int(len(df)),
                           "describe": {level_label(c): describe(df[c]) for c in levels}}
    if len(levels) < 2:
        out["note"] = "across-level tests need at least 2 level columns"
        return out
    # a test that cannot be computed on these data (e.g. fewer than 2 complete subjects) is reported as a note
    # instead of stopping the whole analysis; only bad-input errors are caught, never programming errors
    if kruskal:
        try:
            out["kruskal"] = stats.kruskal(groups).to_dict()
        except VBQInputError as exc:
            out["kruskal"] = {"H": None, "p": None, "note": str(exc)}
    if friedman:
        m = df[list(levels)].astype(float)
        m.columns = [level_label(c) for c in levels]
        try:
            out["friedman"] = stats.friedman(m).to_dict()
        except VBQInputError as exc:
            out["friedman"] = {"chi2": None, "p": None, "note": str(exc)}
    if dunn:
        try:
            d = stats.dunn(groups, p_adjust=p_adjust_method)
            out["dunn"] = {"p_adjust": d.attrs.get("p_adjust", p_adjust_method), "method": d.attrs.get("method"),
                           "comparisons": jsonable(d.to_dict(orient="records"))}
        except VBQInputError as exc:
            out["dunn"] = {"p_adjust": p_adjust_method, "comparisons": [], "note": str(exc)}
    return out


def _match(df, plan: Plan, covariates, categorical, id_col, drop_exact=(), binary_levels=None):
    from ..matching.nearest import match

    m = plan.matching
    exact = [c for c in (m["exact"] or []) if c not in drop_exact]
    return match(df, TREAT_COL, covariates, id=id_col, distance=m["distance"], ratio=int(m["ratio"]),
                 caliper=m["caliper"], std_caliper=bool(m["std_caliper"]), replace=bool(m["replace"]),
                 exact=exact or None, **({"compat": m["compat"]} if m.get("compat") else {}), order=m["order"],
                 seed=m["seed"], method=m["method"],
                 categorical=[c for c in categorical if c in covariates] or None,
                 binary_levels={c: v for c, v in (binary_levels or {}).items() if c in covariates} or None)


def _matching_dict(mr) -> dict:
    d = mr.to_dict()
    return {
        "enabled": True,
        "method": d.get("method"),
        "settings": d.get("settings"),
        "caliper_distance_units": d.get("caliper_distance_units"),
        "n_matched": d["n_matched"],
        "sample_sizes": d.get("sample_sizes"),
        "balance": d["balance"],
        "pairs": d["pairs"],
        "ps": d["ps"],
        "propensity_model": d.get("propensity_model"),
        "warnings": d.get("warnings", []),
    }


# ---------------------------------------------------------------------------------------------------------------
# cohort preparation (spreadsheet.py contract)

def _prepare(df, plan: Plan, source: str):
    """Validate/normalise with ``prepare_cohort``; returns (data with the 0/1 ``treated`` column, the cohort
    summary for results.json (counts, types, codings, excluded rows with reasons, warnings), warnings, the
    spellings coded 0/1 of text yes/no and sex covariates (``Cohort.binary_levels``, for R's term names))."""
    from ..reading.cohort import CohortSpec, prepare_cohort

    c = plan.columns
    covs = list(dict.fromkeys(plan.covariates + plan.predictors))
    if TREAT_COL in covs or TREAT_COL in plan.levels:
        raise VBQInputError(f"{source}: a covariate/level column may not be called '{TREAT_COL}' "
                            "(the name of the 0/1 group indicator)")
    exact = [e for e in (plan.matching.get("exact") or []) if e in covs] if plan.matching_enabled else []
    spec = CohortSpec(id=c["id"], group=c["group"], treated=c["treated"], control=c["control"],
                      covariates=covs, levels=plan.levels, categorical=plan.categorical or None, exact=exact,
                      treated_flag="--treated" if "treated" in plan.overrides else f"treated (plan {plan.source})",
                      control_flag="--control" if "control" in plan.overrides else f"control (plan {plan.source})")
    try:
        cohort = prepare_cohort(df, spec)
    except VBQInputError as exc:
        raise VBQInputError(f"{source}: {exc}") from None
    data = cohort.data.copy()
    summary = cohort.to_dict()
    return data, summary, list(cohort.warnings), dict(cohort.binary_levels)


def _drop_without_vbq(work, exclusions: dict, warnings: list, levels, id_col):
    """Patients without a VBQ value at any level (no MRI, failed measurement) are excluded before matching, so
    that they do not take a partner; they are listed with the other exclusions."""
    none = work[levels].isna().all(axis=1)
    if not none.any():
        return work
    reason = "no VBQ value at any level"
    rows = [{"row": int(r) if str(r).lstrip("-").isdigit() else str(r), "id": str(i), "reason": reason}
            for r, i in zip(work.index[none], work.loc[none, id_col])]
    exclusions.setdefault("exclusions", []).extend(rows)
    c = exclusions.setdefault("counts", {})
    n = int(none.sum())
    c["excluded"] = int(c.get("excluded", 0)) + n
    c["included"] = int(c.get("included", len(work))) - n
    c["treated"] = int((work.loc[~none, TREAT_COL] == 1).sum())
    c["control"] = int((work.loc[~none, TREAT_COL] == 0).sum())
    c.setdefault("excluded_by_reason", {})[reason] = n
    if "missing_by_level" in c:
        c["missing_by_level"] = {lv: int(work.loc[~none, lv].isna().sum()) for lv in levels}
    warnings.append(f"{n} patient(s) excluded: {reason}")
    return work.loc[~none]


def _check_plan_columns(df, plan: Plan, source: str) -> None:
    """A column the plan names (not given as an override) that the table lacks: say which flag sets it."""
    have = {" ".join(str(c).split()).casefold() for c in df.columns}
    roles = [("id", "id", [plan.columns["id"]]), ("group", "group", [plan.columns["group"]]),
             ("levels", "levels", plan.levels), ("covariates", "covariates", plan.covariates),
             ("predictors", "predictors", plan.predictors)]
    for key, flag, cols in roles:
        if key in plan.overrides:
            continue
        missing = [c for c in cols if " ".join(str(c).split()).casefold() not in have]
        if missing:
            hint = f"name your columns with --{flag}"
            if key == "levels":  # the VBQ columns may be in the table of vbq batch
                hint = ("name your VBQ columns with --levels, or give the VBQ table of vbq batch with "
                        "--vbq-results")
            raise VBQInputError(f"{source}: no column {', '.join(repr(c) for c in missing)} ({key} of plan "
                                f"{plan.source}); {hint}")


def _read(data, sheet=None, needed=None):
    """(DataFrame, source name, SHA-256 or None, read warnings) from a path or a DataFrame. ``needed``: the
    columns the plan names (a very wide table is read with those only, ``read_table(needed=...)``)."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        # a DataFrame gets the missing-value tokens read_table applies to files ('', 'NA', 'n/a', ...)
        from ..reading.cells import MISSING_TOKENS

        def _tok(v):
            return None if isinstance(v, str) and v.strip().lower() in MISSING_TOKENS else v

        df = data.copy()
        for c in df.columns:
            if df[c].dtype == object or pd.api.types.is_string_dtype(df[c]):
                df[c] = df[c].map(_tok)
        return df, "<table>", None, []
    from ..reading.spreadsheet import read_data_file

    return read_data_file(data, sheet=sheet, needed=needed)


# ---------------------------------------------------------------------------------------------------------------

def run_analysis(data, plan="lu2024", *, overrides: dict | None = None, vbq_results=None,
                 progress: ProgressCallback = None, command: str | None = None,
                 sheet: str | None = None, extra_provenance: dict | None = None,
                 return_frames: bool = False):
    """Run the study described by ``plan`` on ``data`` (a path to CSV/TSV/XLSX or a DataFrame).

    ``overrides``: keyword arguments of :meth:`Plan.with_overrides` (CLI flags). ``vbq_results``: a VBQ table
    (path or DataFrame) to join by id (:func:`VBQCohortLib.join.join_vbq`). Returns the results dict
    (JSON-safe); with ``return_frames=True`` also a dict of the analysed DataFrames (``work``: all included
    rows with the ``treated`` 0/1 column, ``matched``: the matched rows) for the report. Bad input raises
    :class:`VBQInputError` before anything is written.

    Python warnings raised on the way (e.g. separation in the propensity model) are collected into
    ``results["warnings"]`` (shown in the report) instead of being printed.
    """
    import warnings as _w

    with _w.catch_warnings(record=True) as caught:
        _w.simplefilter("always")
        out = _run_analysis(data, plan, overrides=overrides, vbq_results=vbq_results, progress=progress,
                            command=command, sheet=sheet, extra_provenance=extra_provenance,
                            return_frames=return_frames)
    res = out[0] if return_frames else out
    have = list(res.get("warnings") or [])
    for w in caught:
        if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
            continue
        msg = " ".join(str(w.message).split())
        if msg not in have:
            have.append(msg)
    res["warnings"] = have
    return out


def _run_analysis(data, plan="lu2024", *, overrides: dict | None = None, vbq_results=None,
                  progress: ProgressCallback = None, command: str | None = None,
                  sheet: str | None = None, extra_provenance: dict | None = None,
                  return_frames: bool = False):
    """The body of :func:`run_analysis`."""

    from .. import stats  # noqa: F401  (fail early if missing)

    plan = load_plan(plan)
    if overrides:
        plan = plan.with_overrides(**overrides)
    cols = plan.columns
    id_col, group_col = cols["id"], cols["group"]
    tname, cname = str(cols["treated"]), str(cols["control"])
    has_sex = bool(plan.sex_stratified["enabled"])
    total = 6 + len(plan.levels) + (1 if has_sex else 0)
    step = 0

    def tick(msg):
        nonlocal step
        report(progress, step, total, msg)
        step += 1

    tick("reading data")
    df, source, digest, read_warnings = _read(data, sheet, needed=plan.column_names())
    inputs = [{"role": "clinical data", "path": source, "sha256": digest}]
    join_info = None
    if vbq_results is not None:
        from ..reading.join import join_vbq

        df, join_info = join_vbq(df, vbq_results, id_col=id_col, levels=plan.levels)
        if join_info.get("n_vbq") and not join_info.get("n_joined"):
            ex_v = (join_info.get("only_in_vbq") or ["?"])[0]
            ex_c = (join_info.get("only_in_clinical") or ["?"])[0]
            raise VBQInputError(f"{join_info['source']}: none of its {join_info['n_vbq']} case ids matches a patient "
                                f"id in column '{id_col}' of {source} (e.g. VBQ '{ex_v}' vs clinical '{ex_c}')")
        read_warnings.extend(join_info.get("warnings") or [])
        if join_info.get("replaced_columns"):
            read_warnings.append(f"column(s) {', '.join(join_info['replaced_columns'])} of the clinical table "
                                 f"were replaced by the VBQ results of {Path(join_info['source']).name}")
        if join_info.get("only_in_clinical"):
            read_warnings.append(f"{len(join_info['only_in_clinical'])} patient(s) of the clinical table have no "
                                 f"VBQ results (their VBQ is missing)")
        vsrc = join_info["source"]
        inputs.append({"role": "VBQ results", "path": vsrc,
                       "sha256": sha256_file(vsrc) if Path(vsrc).is_file() else None})

    tick("validating cohort")
    _check_plan_columns(df, plan, source)
    sex_flag = (overrides or {}).get("sex_column")
    if sex_flag and sex_flag not in df.columns:
        raise VBQInputError(f"{source}: sex column '{sex_flag}' (--sex-column) not found (columns: "
                            f"{', '.join(map(str, df.columns))}); give '' to turn the sex-stratified study off")
    work, exclusions, warnings, binary_levels = _prepare(df, plan, source)
    levels = plan.levels
    empty = [c for c in levels if c in work.columns and work[c].isna().all()]
    if empty:
        raise VBQInputError(f"{source}: level column{'s' if len(empty) > 1 else ''} {', '.join(map(repr, empty))} "
                            f"{'have' if len(empty) > 1 else 'has'} no values (all {len(work)} rows missing); "
                            f"leave {'them' if len(empty) > 1 else 'it'} out of the levels")
    work = _drop_without_vbq(work, exclusions, warnings, levels, id_col)
    variables = _variables(plan, (overrides or {}).get("dictionary"))
    tr_all = work[work[TREAT_COL] == 1]
    co_all = work[work[TREAT_COL] == 0]
    if len(tr_all) < 2 or len(co_all) < 2:
        raise VBQInputError(f"{source}: need at least 2 subjects in each group after exclusions "
                            f"({tname}: {len(tr_all)}, {cname}: {len(co_all)})")
    results: dict[str, Any] = {
        "schema": "slicervbq.cohort.results/1",
        "groups": {"column": group_col, "treated": tname, "control": cname,
                   "n": {tname: int(len(tr_all)), cname: int(len(co_all))}},
        "levels": {c: level_label(c) for c in levels},
        "exclusions": exclusions,
        "join": join_info,
        "warnings": read_warnings + warnings,
    }

    # --- matching ---------------------------------------------------------------------------------------
    tick("propensity-score matching" if plan.matching_enabled else "no matching")
    mr = None
    if plan.matching_enabled:
        mr = _match(work, plan, plan.covariates, plan.categorical, id_col, binary_levels=binary_levels)
        results["matching"] = _matching_dict(mr)
        matched = mr.matched_data()
    else:
        from ..matching.balance import balance_table

        bal = balance_table(work, work[TREAT_COL].to_numpy(), plan.covariates,
                            categorical=[c for c in plan.categorical if c in plan.covariates] or None)
        tbl = {str(r): {k: _f(v) for k, v in row.items()} for r, row in bal.to_dict(orient="index").items()}
        results["matching"] = {"enabled": False, "n_matched": {"treated": int(len(tr_all)),
                                                                "control": int(len(co_all))},
                               "note": "no matching: the unmatched groups are compared",
                               "balance": {"before": tbl, "after": None}} if plan.covariates else \
            {"enabled": False, "n_matched": {"treated": int(len(tr_all)), "control": int(len(co_all))},
             "note": "no matching: the unmatched groups are compared", "balance": None}
        matched = work

    # --- Table 1 (baseline characteristics before and after matching) -------------------------------------
    results["table1"] = _table1(work, mr, plan, levels, variables)

    # --- per-level comparison ---------------------------------------------------------------------------
    sample = matched if plan.comparison["sample"] == "matched" and mr is not None else work
    a, b = sample[sample[TREAT_COL] == 1], sample[sample[TREAT_COL] == 0]
    pairs = mr.pairs if mr is not None else None
    comp_levels = {}
    for col in levels:
        tick(f"comparing {level_label(col)}")
        comp_levels.update(compare_levels(a, b, [col], names=(tname, cname), pairs=pairs, id_col=id_col,
                                          p_adjust_method="none", shapiro=plan.comparison["shapiro"],
                                          ranksum=plan.comparison["ranksum"],
                                          signed_rank=plan.comparison["signed_rank"]))
    _adjust(comp_levels, levels, plan.comparison["p_adjust"])
    results["comparison"] = {
        "sample": "matched" if sample is matched and mr is not None else "full",
        "groups": [tname, cname],
        "p_adjust": plan.comparison["p_adjust"],
        "signed_rank_note": (None if pairs is not None else
                             "no matched pairs (matching disabled): the signed-rank test is not computed"),
        "weights_note": (None if mr is None or (not plan.matching["replace"] and int(plan.matching["ratio"]) == 1)
                         else "rank-sum, Shapiro-Wilk and across-level tests use each matched subject once "
                              "(matching weights are not applied); the signed-rank test compares each treated "
                              "subject with the mean of its matched controls"),
        "levels": comp_levels,
        # the overall VBQ (mean of the levels) between the groups: a summary endpoint of its own, tested like
        # a level but NOT part of the family of levels adjusted for multiplicity (the levels' adjusted p-values
        # are unchanged by it; its p is unadjusted)
        "overall": overall_comparison(a, b, levels, names=(tname, cname), pairs=pairs, id_col=id_col,
                                      shapiro=plan.comparison["shapiro"], ranksum=plan.comparison["ranksum"],
                                      signed_rank=plan.comparison["signed_rank"]),
    }

    # --- segmental ---------------------------------------------------------------------------------------
    tick("across-level tests")
    seg_sample = matched if plan.segmental["sample"] == "matched" and mr is not None else work
    seg = {}
    for g, val in ((tname, 1), (cname, 0)):
        sub = seg_sample[seg_sample[TREAT_COL] == val]
        seg[g] = segmental_tests(sub, levels, kruskal=plan.segmental["kruskal"],
                                 friedman=plan.segmental["friedman"], dunn=plan.segmental["dunn"],
                                 p_adjust_method=plan.segmental["p_adjust"])
    results["segmental"] = seg
    results["segmental_sample"] = "matched" if seg_sample is matched and mr is not None else "full"

    # --- sex-stratified ------------------------------------------------------------------------------------
    if has_sex:
        tick("sex-stratified sub-study")
        results["sex_stratified"] = _sex_stratified(work, plan, id_col, tname, cname,
                                                     exclusions.get("codings"), binary_levels, variables)
    else:
        results["sex_stratified"] = {"enabled": False, "note": "disabled in the plan"}

    # --- logistic -------------------------------------------------------------------------------------------
    tick("logistic regression")
    results["logistic"] = _logistic(work, plan, group_col, tname, binary_levels)

    results["warnings"] = list(results["warnings"]) + small_sample_warnings(results)

    tick("provenance")
    results["provenance"] = {
        "created_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "versions": software_versions(__version__),
        "plan": plan.to_dict(),
        "inputs": inputs,
        "input_sha256": digest,
        "command": command,
        **(extra_provenance or {}),
    }
    report(progress, total, total, "done")
    results = jsonable(results)
    if return_frames:
        # the tables the report/matched.csv need (DataFrames are not part of results.json)
        return results, {"work": work, "matched": matched if mr is not None else None, "match_result": mr,
                         "id_col": id_col, "treat_col": TREAT_COL}
    return results


MIN_GROUP_AFTER_MATCHING = 10
MIN_TEST_PER_GROUP = 5


def small_sample_warnings(results: dict) -> list[str]:
    """Plain-language warnings for small samples (issue 17): fewer than 10 subjects in a group after matching;
    per-level tests on fewer than 5 per group (n is reported; the p-value is R's but cannot carry weight);
    fewer than 10 events per predictor term or separation in the logistic regression."""
    out = []
    g = results["groups"]
    m = results.get("matching") or {}
    if m.get("enabled"):
        nm = m.get("n_matched") or {}
        small = [f"{name} {nm.get(key, 0)}" for key, name in (("treated", g["treated"]), ("control", g["control"]))
                 if nm.get(key, 0) < MIN_GROUP_AFTER_MATCHING]
        if small:
            out.append(f"Small matched sample: fewer than {MIN_GROUP_AFTER_MATCHING} subjects in a group after "
                       f"matching ({', '.join(small)}); treat every test below as exploratory.")
    for where, comp in (("Per-level comparison", results.get("comparison") or {}),
                        ("Sex-stratified sub-study", results.get("sex_stratified") or {})):
        few = []
        for col, e in (comp.get("levels") or {}).items():
            n = e.get("n") or {}
            if n and min(n.values()) < MIN_TEST_PER_GROUP:
                few.append(f"{e.get('level', col)} (n = {' vs '.join(str(v) for v in n.values())})")
        if few:
            out.append(f"{where}: tests on fewer than {MIN_TEST_PER_GROUP} subjects per group: "
                       f"{', '.join(few)}; these p-values cannot support a conclusion.")
    lg = results.get("logistic") or {}
    n_terms = len([t for t in (lg.get("terms") or {}) if t != "(Intercept)"])
    if lg.get("n_events") is not None and n_terms:
        n_ev = min(int(lg["n_events"]), int(lg.get("n", 0)) - int(lg["n_events"]))
        if n_ev / n_terms < 10:
            out.append(f"Logistic regression: {n_ev / n_terms:.1f} events per predictor term ({n_ev} events, "
                       f"{n_terms} terms; fewer than 10, Peduzzi et al. 1996): odds ratios may be unstable or "
                       f"far too large.")
    if lg.get("separation"):
        sep = lg["separation"]
        msg = sep if isinstance(sep, str) else (sep.get("message") if isinstance(sep, dict) else None)
        out.append("Logistic regression: " + (msg or "(quasi-)separation: some odds ratios are not estimable"))
    return out


def _variables(plan: Plan, dictionary=None):
    """Labels, units and level names: defaults, then the data dictionary (``--dictionary``), then the plan's
    ``labels:`` (:mod:`VBQCohortLib.publication.variables`)."""
    from ..publication.variables import Variables, from_mapping, read_dictionary

    v = Variables()
    if dictionary:
        v = v.merged(read_dictionary(dictionary))
    return v.merged(from_mapping(getattr(plan, "labels", None) or {}, f"{plan.source}: labels"))


def _adjust(comp_levels: dict, levels, method: str) -> None:
    from .. import stats

    key = "p_holm" if str(method).lower() == "holm" else "p_adj"
    for test in ("ranksum", "signed_rank"):
        ps = {c: comp_levels[c][test].get("p") for c in levels if test in comp_levels[c]}
        if not ps:
            continue
        for c in ps:
            comp_levels[c][test].pop("p_holm", None)
            comp_levels[c][test].pop("p_adj", None)
        adj = stats.p_adjust(ps, method)
        for c, v in adj.items():
            comp_levels[c][test][key] = v
            comp_levels[c][test]["p_adjust"] = method


OVERALL_COL = "vbq_overall"  # Table 1's overall VBQ: the mean of a subject's level VBQs (all levels present)


def _with_overall(df, levels):
    """``df`` with ``vbq_overall`` = the mean of the level VBQs (missing when a level is missing). With one CSF
    reference per patient this equals mean(level SI) / CSF SI, the lu2024 overall VBQ."""
    if len(levels) < 2 or OVERALL_COL in df.columns:
        return df, (OVERALL_COL if OVERALL_COL in df.columns else None)
    out = df.copy()
    out[OVERALL_COL] = df[list(levels)].mean(axis=1, skipna=False)
    return out, OVERALL_COL


def _table1(work, mr, plan: Plan, levels, variables, covariates=None, categorical=None) -> dict:
    """``results["table1"]``: ``before`` (the cohort that entered matching) and ``after`` (the matched sample;
    None without matching), each ``{n_treated, n_control, rows}`` (:func:`VBQCohortLib.publication.table1`)."""
    from ..publication.table1 import table1

    covs = list(plan.covariates if covariates is None else covariates)
    cat = list(plan.categorical if categorical is None else categorical)
    lv = [c for c in levels if c in work.columns]
    data, overall = _with_overall(work, lv)
    before = table1(data, data[TREAT_COL].to_numpy(), covs, vbq=lv, overall=overall, categorical=cat,
                    labels=variables)
    after = None
    if mr is not None:
        m = plan.matching
        mdata, _ = _with_overall(mr.data, lv)
        after = table1(mdata, mdata[TREAT_COL].to_numpy(), covs, vbq=lv, overall=overall, categorical=cat,
                       labels=variables, weights=mr.weights.to_numpy(),
                       weighted=bool(m["replace"]) or int(m["ratio"]) > 1)
    return {"before": before, "after": after}


def _sex_stratified(work, plan: Plan, id_col, tname, cname, codings=None, binary_levels=None,
                    variables=None) -> dict:
    ss = plan.sex_stratified
    sex_col = ss["column"]
    within_val = 1 if ss["within"] == "treated" else 0
    within_name = tname if within_val == 1 else cname
    if sex_col not in work.columns:
        return {"enabled": False, "note": f"no column '{sex_col}' among the analysed columns (add it to the "
                                          "covariates to run the sex-stratified sub-study)"}
    sub = work[work[TREAT_COL] == within_val].copy()
    sx = sub[sex_col]
    vals = [v for v in sx.dropna().unique()]
    if len(vals) != 2:
        return {"enabled": False, "note": f"column '{sex_col}' has {len(vals)} distinct values in the "
                                          f"{within_name} group; need 2"}
    counts = {v: int((sx == v).sum()) for v in vals}
    # the rarer sex is the 'treated' side of this matching (each of them gets a partner of the other sex)
    order = sorted(vals, key=lambda v: (counts[v], str(v)))
    s1, s0 = order[0], order[1]
    coding = str((codings or {}).get(sex_col, ""))
    names = {1: "male", 0: "female"} if coding.startswith("1 = male") else {}

    def label(v):
        try:
            return names.get(int(v), str(v))
        except (TypeError, ValueError):
            return str(v)

    l1, l0 = label(s1), label(s0)
    sub = sub[sx.notna()].copy()
    covs = [c for c in (ss["covariates"] or plan.covariates) if c != sex_col]
    cat = [c for c in plan.categorical if c in covs]
    out: dict[str, Any] = {"enabled": True, "within": within_name, "column": sex_col,
                           "groups": [l1, l0], "values": {l1: jsonable(s1), l0: jsonable(s0)},
                           "n": {l1: counts[s1], l0: counts[s0]}, "covariates": covs}
    if min(counts.values()) < 2:
        out.update(enabled=False, note="fewer than 2 subjects of one sex")
        return out
    sub[TREAT_COL] = (sub[sex_col] == s1).astype(int)
    pairs = None
    if plan.matching_enabled and covs:
        import warnings as _w

        try:
            with _w.catch_warnings(record=True) as caught:
                _w.simplefilter("always")
                mr = _match(sub, plan, covs, cat, id_col, drop_exact=(sex_col,), binary_levels=binary_levels)
        except VBQInputError as exc:
            out.update(enabled=False, note=f"matching failed: {exc}")
            return out
        md = mr.to_dict()
        warns = list(md.get("warnings", []))
        for w in caught:
            msg = " ".join(str(w.message).split())
            if not issubclass(w.category, (DeprecationWarning, FutureWarning)) and msg not in warns:
                warns.append(msg)
        out["matching"] = {"n_matched": md["n_matched"], "pairs": md["pairs"], "balance": md["balance"],
                           "sample_sizes": md.get("sample_sizes"), "warnings": warns}
        out["table1"] = _table1(sub, mr, plan, plan.levels, variables, covs, cat)
        sample = mr.matched_data()
        pairs = mr.pairs
        out["sample"] = "matched"
    else:
        sample = sub
        out["sample"] = "full"
        out["matching"] = None
        out["table1"] = _table1(sub, None, plan, plan.levels, variables, covs, cat)
    a, b = sample[sample[TREAT_COL] == 1], sample[sample[TREAT_COL] == 0]
    out["levels"] = compare_levels(a, b, plan.levels, names=(l1, l0), pairs=pairs, id_col=id_col,
                                   p_adjust_method=ss["p_adjust"], shapiro=True, ranksum=True,
                                   signed_rank=pairs is not None)
    out["overall"] = overall_comparison(a, b, plan.levels, names=(l1, l0), pairs=pairs, id_col=id_col,
                                        shapiro=True, ranksum=True, signed_rank=pairs is not None)
    out["p_adjust"] = ss["p_adjust"]
    return out


def _logistic(work, plan: Plan, group_col, tname, binary_levels=None) -> dict:
    from ..stats.logistic import fit_logistic

    preds = plan.predictors
    if not preds:
        return {"enabled": False, "note": "no predictors"}
    missing = [p for p in preds if p not in work.columns]
    if missing:
        raise VBQInputError(f"logistic regression: predictor column(s) {', '.join(missing)} not in the data")
    d = work[[TREAT_COL] + preds].copy()
    cat = [c for c in plan.categorical if c in preds]
    res = fit_logistic(d, TREAT_COL, preds, categorical=cat or None, binary_levels=binary_levels)
    out = res.to_dict() if hasattr(res, "to_dict") else dict(res)
    out = dict(out)
    out["outcome"] = f"{group_col} = {tname}"
    out["predictors"] = preds
    out["sample"] = "full cohort before matching"
    return out
