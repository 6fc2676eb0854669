"""The cohort report's publication pieces: Table 1 as CSV/HTML/Word, the Word document's blocks and the
Excel workbook's sheets, built from ``results`` (:func:`VBQCohortLib.analysis.run_analysis`) and the report's
tables and figures."""

from __future__ import annotations

import html as _html

from . import table1 as T

__all__ = ["table1_frames", "table1_html", "table1_word", "docx_blocks", "excel_sheets", "labelled_frame",
           "balance_label", "logistic_labels", "sample_size_label"]


def _names(results: dict) -> tuple[str, str]:
    g = results["groups"]
    return str(g["treated"]), str(g["control"])


def table1_frames(results: dict) -> dict:
    """``{"table1_before": DataFrame, "table1_after": ..., "table1_sex_before": ..., ...}`` (display text with
    the spreadsheet's names in ``Variable``/``Level``)."""
    out = {}
    t1 = results.get("table1") or {}
    names = _names(results)
    for key in ("before", "after"):
        if t1.get(key):
            out[f"table1_{key}"] = T.frame(t1[key], names=names)
    ss = results.get("sex_stratified") or {}
    st = ss.get("table1") or {}
    for key in ("before", "after"):
        if st.get(key):
            out[f"table1_sex_{key}"] = T.frame(st[key], names=tuple(ss.get("groups") or ("1", "0")))
    return out


def _pair_lines(pair: dict) -> tuple[list, list | None]:
    b = T.lines(pair["before"])
    a = None
    if pair.get("after"):
        a, texts = T.align(b, T.lines(pair["after"]))
        b = [{**x, "text": t} for x, t in zip(b, texts)]
    return b, a


def _section_title(block: str) -> str:
    return "VBQ score" if block == "vbq" else "Baseline characteristics"


def table1_html(pair: dict, names, caption: str) -> str:
    """Table 1 (before and, when matched, after matching side by side) as an HTML table with grouped headers."""
    if not pair or not pair.get("before"):
        return ""
    esc = _html.escape
    b, a = _pair_lines(pair)
    pb, pa = pair["before"], pair.get("after")
    head1 = "<tr><th rowspan='2'>Characteristic</th><th colspan='4'>Before matching</th>" + \
            ("<th colspan='4'>After matching</th>" if pa else "") + "</tr>"
    sub = ""
    for t1 in [pb] + ([pa] if pa else []):
        sub += (f"<th>{esc(names[0])} (n = {t1['n_treated']})</th><th>{esc(names[1])} (n = {t1['n_control']})</th>"
                "<th>p</th><th>SMD</th>")
    rows, block = [], None
    ncol = 1 + 4 * (2 if pa else 1)
    for i, x in enumerate(b):
        if x["block"] != block:
            block = x["block"]
            rows.append(f"<tr class='section'><td colspan='{ncol}'>{esc(_section_title(block))}</td></tr>")
        pad = " style='padding-left:1.6em;font-weight:400'" if x["indent"] else ""
        cells = [x] + ([a[i]] if a else [])
        tds = "".join(f"<td>{esc(c['treated'])}</td><td>{esc(c['control'])}</td><td>{esc(c['p'])}</td>"
                      f"<td>{esc(c['smd'])}</td>" for c in cells)
        rows.append(f"<tr><td{pad}>{esc(x['text'])}</td>{tds}</tr>")
    note = T.footnote(pb, pa) if pa else T.footnote(pb)
    return (f"<p><b>{esc(caption)}</b></p><table class='table1'><thead>{head1}<tr>{sub}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table><p class='note'>{esc(note)}</p>")


def table1_word(pair: dict, names, caption: str):
    from .word import Table

    b, a = _pair_lines(pair)
    pb, pa = pair["before"], pair.get("after")
    headers = ["Characteristic"]
    for t1 in [pb] + ([pa] if pa else []):
        headers += [f"{names[0]} (n = {t1['n_treated']})", f"{names[1]} (n = {t1['n_control']})", "p", "SMD"]
    rows, indent, bold, block = [], [], [], None
    for i, x in enumerate(b):
        if x["block"] != block:
            block = x["block"]
            rows.append([_section_title(block)] + [""] * (len(headers) - 1))
            indent.append(False)
            bold.append(True)
        cells = [x] + ([a[i]] if a else [])
        r = [x["text"]]
        for c in cells:
            r += [c["treated"], c["control"], c["p"], c["smd"]]
        rows.append(r)
        indent.append(bool(x["indent"]))
        bold.append(False)
    groups = [("", 1), ("Before matching", 4)] + ([("After matching", 4)] if pa else [])
    note = T.footnote(pb, pa) if pa else T.footnote(pb)
    return Table(caption, headers, rows, footnote=note, groups=groups, indent=indent, bold=bold)


def _frame_table(df, caption: str, footnote: str = "", index_name: str | None = None):
    from .word import Table

    d = df.reset_index() if df.index.name is not None else df
    headers = [str(c) for c in d.columns]
    rows = [[_cell(v) for v in r] for r in d.itertuples(index=False)]
    return Table(caption, headers, rows, footnote=footnote)


def _cell(v) -> str:
    import math

    if v is None:
        return "–"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "–"
        s = f"{v:.3f}" if abs(v) < 1000 else f"{v:.0f}"
        return s[1:] if s.startswith("-") and float(s) == 0 else s
    return str(v)


def _num(x, d=2) -> str:
    return T._num(x, d) if x is not None else "–"


def _med_iqr(d: dict) -> str:
    if not d or d.get("median") is None:
        return "–"
    return f"{_num(d['median'])} ({_num(d.get('q1'))}–{_num(d.get('q3'))})"


def per_level_word(levels: dict, names, caption: str, p_adjust: str = "holm", overall: dict | None = None):
    """The per-level comparison as a journal prints it: median (IQR) per group, then rank-sum p and adjusted p,
    then signed-rank (matched pairs) p and adjusted p, under grouped headers; no "-0.00"."""
    from .word import Table

    adj = {"holm": "Holm", "none": "unadjusted"}.get(p_adjust, p_adjust)
    paired = any("signed_rank" in e for e in levels.values())
    headers = ["Level", f"{names[0]}", f"{names[1]}", "p", f"p ({adj})"] + (["p", f"p ({adj})"] if paired else [])
    groups = [("", 1), ("Median (IQR)", 2), ("Wilcoxon rank-sum", 2)] + ([("Signed-rank, pairs", 2)] if paired else [])
    rows = []
    items = list(levels.items()) + ([("overall", overall)] if overall else [])
    for col, e in items:
        d = e.get("describe") or {}
        rs = e.get("ranksum") or {}
        r = [str(e.get("level", col)), _med_iqr(d.get(names[0])), _med_iqr(d.get(names[1])), T.fmt_p(rs.get("p")),
             T.fmt_p(_adjusted(rs))]
        if paired:
            sr = e.get("signed_rank") or {}
            r += [T.fmt_p(sr.get("p")), T.fmt_p(_adjusted(sr))]
        rows.append(r)
    note = ("Median (IQR, R quantile type 7) of the VBQ score per group. Wilcoxon rank-sum test (R wilcox.test "
            "defaults) between the groups; "
            + ("Wilcoxon signed-rank test on the matched pairs; " if paired else "")
            + f"p-values adjusted across levels by the {adj} method. "
            + ("The overall VBQ (mean of the levels per patient) is a separate summary endpoint, not part of the "
               "family of levels adjusted for multiple testing; its p-values are unadjusted. " if overall else "")
            + "IQR, interquartile range.")
    return Table(caption, headers, rows, footnote=note, groups=groups)


def _adjusted(test: dict):
    for k, v in (test or {}).items():
        if k.startswith("p_") and k not in ("p_adjust",) and isinstance(v, (int, float)):
            return v
    return None


def balance_word(results: dict, variables=None, caption: str = "Covariate balance"):
    from .word import Table

    bal = (results.get("matching") or {}).get("balance") or {}
    before, after = bal.get("before") or {}, bal.get("after") or {}
    headers = ["Covariate", "SMD before", "SMD after"] if after else ["Covariate", "SMD"]
    rows = []
    for term, v in before.items():
        lab = balance_label(results, term)
        r = [lab, T.fmt_smd(v.get("Std. Mean Diff."))]
        if after:
            r.append(T.fmt_smd((after.get(term) or {}).get("Std. Mean Diff.")))
        rows.append(r)
    return Table(caption, headers, rows, footnote="SMD, standardized mean difference (MatchIt: difference in means "
                                                   "over the treated group's SD before matching); |SMD| < 0.1 is "
                                                   "taken as balanced.")


SAMPLE_SIZE_LABELS = {"All (ESS)": "All, effective sample size", "All": "All",
                      "Matched (ESS)": "Matched, effective sample size", "Matched": "Matched",
                      "Unmatched": "Unmatched", "Discarded": "Discarded"}
ESS_NOTE = ("Effective sample size (Kish): (sum of weights)² / sum of squared weights; it equals the count when "
            "every weight is 1 (1:1 matching without replacement).")
BINARY_MEAN_NOTE = "For a yes/no, 0/1 or male/female variable the mean is the proportion with the named level."


def sample_size_label(row: str) -> str:
    """MatchIt's ``summary(m)$nn`` row names spelled out ("All (ESS)" -> "All, effective sample size")."""
    return SAMPLE_SIZE_LABELS.get(str(row), str(row))


def distance_label(results: dict) -> str:
    """The balance table's ``distance`` row: the propensity score, on the logit scale when matched on it."""
    plan = (results.get("provenance") or {}).get("plan") or {}
    logit = ((plan.get("matching") or {}).get("distance")) == "logit"
    return "Propensity score (logit)" if logit else "Propensity score"


def balance_label(results: dict, term: str) -> str:
    """A readable name of a balance-table row (R's term name): the propensity score or the covariate's label."""
    return distance_label(results) if term == "distance" else term_label(results, term)


def term_label(results: dict, term: str) -> str:
    """A readable name of an R term (``diethigh_salt`` -> "Diet: high_salt") from Table 1's labels."""
    rows = {r["variable"]: r for r in ((results.get("table1") or {}).get("before") or {}).get("rows", [])}
    if term in rows:
        r = rows[term]
        return r["label"].removesuffix(", n (%)")
    for var in sorted(rows, key=len, reverse=True):
        if term.startswith(var) and rows[var]["type"] == "categorical":
            level = term[len(var):]
            lab = rows[var]["label"].removesuffix(", n (%)")
            names = {lv["level"]: lv.get("label") or lv["level"] for lv in rows[var].get("levels") or []}
            return f"{lab}: {names.get(level, level)}"
    from .variables import default_label

    return default_label(term)


def logistic_labels(results: dict) -> dict:
    """``{term: readable label}`` of the logistic model's terms: "Hypertension (yes vs no)", "BMI (kg/m²)"."""
    lg = results.get("logistic") or {}
    out = {}
    for term in lg.get("terms") or {}:
        if str(term).lower() in ("(intercept)", "intercept", "const"):
            out[term] = "Intercept"
            continue
        tl = (lg.get("term_levels") or {}).get(term)
        lab = term_label(results, tl["column"] if tl and tl.get("column") else term)
        if tl and tl.get("level") is not None and tl.get("reference") is not None:
            if str(tl.get("column", "")).lower() == "sex":  # "Male, n (%)" names a level; the term compares two
                lab = "Sex"
            lab = f"{lab} ({tl['level']} vs {tl['reference']})"
        out[term] = lab
    return out


def logistic_word(results: dict, caption: str):
    from .word import Table

    lg = results.get("logistic") or {}
    rows = []
    for term, v in (lg.get("terms") or {}).items():
        if term == "(Intercept)":
            continue
        lab = logistic_labels(results).get(term, term)
        lo, hi = v.get("ci_low"), v.get("ci_high")
        rows.append([lab, _num(v.get("odds_ratio")), f"{_num(lo)}–{_num(hi)}", T.fmt_p(v.get("p"))])
    note = (f"Multivariable logistic regression of group membership (outcome: {lg.get('outcome')}; n = {lg.get('n')}"
            f"{', events = ' + str(lg.get('n_events')) if lg.get('n_events') is not None else ''}), fitted on the full "
            "cohort before matching. OR, odds ratio; CI, Wald confidence interval.")
    return Table(caption, ["Variable", "OR", "95% CI", "p"], rows, footnote=note)


def segmental_word(results: dict, caption: str):
    from .word import Table

    rows = []
    for grp, s in (results.get("segmental") or {}).items():
        kw, fr = s.get("kruskal") or {}, s.get("friedman") or {}
        rows.append([str(grp), str(s.get("n_subjects", "–")), _num(kw.get("H")), T.fmt_p(kw.get("p")),
                     _num(fr.get("chi2")), str(fr.get("n", "–")), T.fmt_p(fr.get("p"))])
    return Table(caption, ["Group", "Patients", "H", "p", "χ²", "n complete", "p"], rows,
                 groups=[("", 2), ("Kruskal-Wallis", 2), ("Friedman", 3)],
                 footnote="Kruskal-Wallis treats the levels as independent samples; Friedman uses each patient with "
                          "all levels as a block (repeated measures).")


def docx_blocks(results: dict, figs: dict, tables: dict, *, methods: str, summary: list[str],
                figure_captions: dict) -> list:
    """The blocks of ``report.docx``: warnings, summary, methods, Table 1, the report's tables, figures."""
    import re

    from .word import Figure, Heading, Paragraph

    names = _names(results)
    blocks: list = []
    warns = results.get("warnings") or []
    if warns:
        blocks.append(Heading("Warnings", 1))
        blocks += [Paragraph(w, "warning") for w in warns]
    if summary:
        blocks.append(Heading("Summary", 1))
        blocks += [Paragraph(re.sub(r"<[^>]+>", "", _html.unescape(s))) for s in summary]
    blocks.append(Heading("Methods", 1))
    blocks.append(Paragraph(re.sub(r"<[^>]+>", "", _html.unescape(methods))))
    blocks.append(Heading("Tables", 1))
    n = 1
    t1 = results.get("table1") or {}
    if t1.get("before"):
        blocks.append(table1_word(t1, names, f"Table {n}. Baseline characteristics of {names[0]} and {names[1]} "
                                              f"patients before and after propensity-score matching"))
        n += 1
    ss = results.get("sex_stratified") or {}
    if (ss.get("table1") or {}).get("before"):
        blocks.append(table1_word(ss["table1"], tuple(ss["groups"]),
                                  f"Table {n}. Sex-stratified sub-study within {ss.get('within')}: baseline "
                                  f"characteristics by sex before and after matching"))
        n += 1
    comp = results.get("comparison") or {}
    if comp.get("levels"):
        blocks.append(per_level_word(comp["levels"], names, f"Table {n}. VBQ per level, {names[0]} vs {names[1]} "
                                                             f"({comp.get('sample', '')} sample)",
                                     comp.get("p_adjust", "holm"), comp.get("overall")))
        n += 1
    if ((results.get("matching") or {}).get("balance") or {}).get("before"):
        blocks.append(balance_word(results, caption=f"Table {n}. Covariate balance before and after matching"))
        n += 1
    if results.get("segmental"):
        blocks.append(segmental_word(results, f"Table {n}. VBQ across levels within each group"))
        n += 1
    if ss.get("enabled") and ss.get("levels"):
        blocks.append(per_level_word(ss["levels"], tuple(ss["groups"]),
                                     f"Table {n}. Sex-stratified sub-study within {ss.get('within')}: VBQ per level",
                                     ss.get("p_adjust", "holm"), ss.get("overall")))
        n += 1
    if (results.get("logistic") or {}).get("terms"):
        blocks.append(logistic_word(results, f"Table {n}. Factors associated with {names[0]}"))
        n += 1
    blocks.append(Heading("Figures", 1))
    k = 1
    for name, png in figs.items():
        if png:
            blocks.append(Figure(png, f"Figure {k}. {figure_captions.get(name, name.replace('_', ' '))}"))
            k += 1
    return blocks


def excel_sheets(tables: dict) -> dict:
    """``tables.xlsx``: Table 1 sheets first, then every report table."""
    first = {k: v for k, v in tables.items() if k.startswith("table1")}
    rest = {k: v for k, v in tables.items() if not k.startswith("table1")}
    return {**first, **rest}


def labelled_frame(results: dict, name: str, df):
    """A report table (``tables/<name>.csv`` read back) with a ``label`` column first where the HTML shows
    readable labels (balance: covariates and the propensity score; logistic: terms with the level they code;
    sample sizes: MatchIt's rows spelled out). R's names stay in their own column. For the Slicer tables of
    VBQ Cohort; other tables come back unchanged."""
    key = {"balance": "covariate", "logistic": "term", "sample_sizes": "sample"}.get(name)
    if key is None or key not in df.columns or "label" in df.columns:
        return df
    if name == "balance":
        lab = [balance_label(results, str(t)) for t in df[key]]
    elif name == "logistic":
        labels = logistic_labels(results)
        lab = [labels.get(str(t), str(t)) for t in df[key]]
    else:
        lab = [sample_size_label(str(t)) for t in df[key]]
    out = df.copy()
    out.insert(0, "label", lab)
    return out
