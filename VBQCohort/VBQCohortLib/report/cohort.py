"""The report of a cohort analysis: ``write_report(results, out_dir, frames)``.

Writes, all at once through :func:`VBQScoreLib.atomic.atomic_directory` (nothing is left half-written):

- ``results.json``: the results dict of :func:`VBQCohortLib.analysis.run_analysis`, unchanged;
- ``report.html``: one self-contained page (tables; figures embedded as PNG): summary, a methods paragraph to
  paste into a paper, cohort and exclusions, matching and balance (love plot), per-level comparison (box plots),
  across-level tests (VBQ per level plot, Dunn), the sex-stratified sub-study, the logistic regression (forest
  plot of odds ratios) and provenance;
- ``tables/*.csv``: every table of the report with full precision;
- ``matched.csv``: the matched rows (with ``distance``, ``weights``, ``subclass``) when matching was done;
- ``figures/*.png``: the figures of the report.

Figures use matplotlib's Agg backend through ``matplotlib.figure.Figure`` (no pyplot state, no display).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..analysis.run import TREAT_COL, level_label
from ..publication.figures import GROUP_COLORS, SEX_COLORS  # noqa: E402  colour-blind safe, apart in grayscale
from ..reading.terms import describe_term
from .html import (  # noqa: F401  (re-exported)
    CSS,
    esc,
    figure_class,
    fmt,
    fmt_p,
    fmt_p_text,
    img,
    png_bytes,
    previous_listed_files,
    table,
    write_report_folder,
)

# ---------------------------------------------------------------------------------------------------------------
# formatting

ADJUST_NAMES = {"holm": "Holm", "bonferroni": "Bonferroni", "hochberg": "Hochberg", "hommel": "Hommel",
                "BH": "Benjamini-Hochberg", "fdr": "Benjamini-Hochberg", "BY": "Benjamini-Yekutieli", "none": "no"}


def adjust_name(m) -> str:
    return ADJUST_NAMES.get(str(m), str(m))


def _sig(p) -> bool:
    return p is not None and p < 0.05


# ---------------------------------------------------------------------------------------------------------------
# figures

def fig_boxplots(a, b, levels, names, comp: dict, colors=GROUP_COLORS, title="VBQ per level by group") -> bytes:
    """Box plots of each level column for the two groups side by side, raw and Holm-adjusted p above."""
    import numpy as np

    Figure = figure_class()
    fig = Figure(figsize=(max(6.5, 1.25 * len(levels) + 1.5), 4.4))
    ax = fig.add_subplot(1, 1, 1)
    pos_a = np.arange(len(levels)) * 3.0
    pos_b = pos_a + 1.0
    da = [a[c].dropna().to_numpy(dtype=float) for c in levels]
    db = [b[c].dropna().to_numpy(dtype=float) for c in levels]
    for data, pos, col in ((da, pos_a, colors[0]), (db, pos_b, colors[1])):
        bp = ax.boxplot(data, positions=pos, widths=0.8, patch_artist=True, showfliers=True,
                        medianprops={"color": "black", "lw": 1.2},
                        flierprops={"marker": "o", "ms": 3, "mfc": "none", "mec": "0.4"})
        for patch in bp["boxes"]:
            patch.set_facecolor(col)
            patch.set_alpha(0.55)
    allv = np.concatenate([x for x in da + db if x.size] or [np.array([0.0, 1.0])])
    lo, hi = float(np.min(allv)), float(np.max(allv))
    span = hi - lo if hi > lo else 1.0
    for i, c in enumerate(levels):
        rs = comp.get(c, {}).get("ranksum", {}) or {}
        p, ph = rs.get("p"), rs.get("p_holm", rs.get("p_adj"))
        if p is None:
            continue
        txt = "p<0.001" if p < 0.001 else f"p={p:.3f}"
        if ph is not None:
            txt += "\nadj. <0.001" if ph < 0.001 else f"\nadj. {ph:.3f}"
        weight = "bold" if _sig(ph) else "normal"
        ax.text(pos_a[i] + 0.5, hi + 0.04 * span, txt, ha="center", va="bottom", fontsize=8, fontweight=weight)
    ax.set_ylim(lo - 0.05 * span, hi + 0.22 * span)
    ax.set_xticks(pos_a + 0.5)
    ax.set_xticklabels([level_label(c) for c in levels])
    ax.set_ylabel("VBQ")
    ax.set_title(title)
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(facecolor=colors[0], alpha=0.55, label=str(names[0])),
                       Patch(facecolor=colors[1], alpha=0.55, label=str(names[1]))],
              loc="lower left", fontsize="small", frameon=False, ncol=2)
    ax.grid(axis="y", color="0.9")
    ax.set_axisbelow(True)
    fig.tight_layout()
    return png_bytes(fig)


def fig_segmental(seg: dict, levels, names) -> bytes:
    """Median VBQ (IQR bars) per level, one line per group, with the Kruskal-Wallis/Friedman p in the legend."""
    import numpy as np

    Figure = figure_class()
    fig = Figure(figsize=(6.5, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(levels))
    for k, g in enumerate(names):
        s = seg.get(g)
        if not s:
            continue
        d = s["describe"]
        med = np.array([d[level_label(c)]["median"] or np.nan for c in levels], dtype=float)
        q1 = np.array([d[level_label(c)]["q1"] or np.nan for c in levels], dtype=float)
        q3 = np.array([d[level_label(c)]["q3"] or np.nan for c in levels], dtype=float)
        off = (k - 0.5) * 0.12
        lab = str(g)
        kw, fr = s.get("kruskal"), s.get("friedman")
        extra = []
        if kw:
            extra.append(f"KW {fmt_p_text(kw.get('p'))}")
        if fr:
            extra.append(f"Friedman {fmt_p_text(fr.get('p'))}")
        if extra:
            lab += " (" + "; ".join(extra) + ")"
        ax.errorbar(x + off, med, yerr=[med - q1, q3 - med], marker="o", capsize=3, lw=1.6,
                    color=GROUP_COLORS[k % 2], label=lab)
    ax.set_xticks(x)
    ax.set_xticklabels([level_label(c) for c in levels])
    ax.set_xlabel("Level")
    ax.set_ylabel("VBQ (median, IQR)")
    ax.set_title("VBQ across levels")
    ax.grid(axis="y", color="0.9")
    ax.set_axisbelow(True)
    ax.legend(fontsize="small", frameon=False, loc="best")
    fig.tight_layout()
    return png_bytes(fig)


def fig_forest(logit: dict, labels: dict | None = None) -> bytes | None:
    """Odds ratios with Wald 95% CIs on a log axis (intercept left out). ``labels``: ``{term: readable
    label}`` (else :func:`forest_labels`)."""
    import numpy as np

    terms = [(k, v) for k, v in (logit.get("terms") or {}).items()
             if str(k).lower() not in ("intercept", "const", "(intercept)")]
    terms = [(k, v) for k, v in terms if v.get("odds_ratio") is not None]
    if not terms:
        return None
    labels = ([labels.get(k, k) for k, _ in terms] if labels else forest_labels(logit, [k for k, _ in terms]))
    Figure = figure_class()
    fig = Figure(figsize=(max(7.5, 5.5 + 0.08 * max(map(len, labels))), 0.45 * len(terms) + 1.5))
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(terms))[::-1]
    for yi, (_k, v) in zip(y, terms):
        orr = v["odds_ratio"]
        lo, hi = v.get("ci_low"), v.get("ci_high")  # Wald 95% limits of the odds ratio (logistic.py)
        col = "#D55E00" if _sig(v.get("p")) else "0.3"
        if lo is not None and hi is not None:
            ax.plot([lo, hi], [yi, yi], color=col, lw=1.6)
        ax.plot([orr], [yi], "s", color=col, ms=6)
    ax.axvline(1.0, color="0.5", ls="--", lw=0.8)
    ax.set_xscale("log")
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    vals = [v for _, t in terms for v in (t.get("ci_low"), t.get("ci_high"), t.get("odds_ratio"))
            if v is not None and v > 0 and math.isfinite(v)]
    lo_x, hi_x = min(vals + [1.0]), max(vals + [1.0])
    nice = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]
    ticks = [v for v in nice if lo_x / 1.5 <= v <= hi_x * 1.5] or [1]
    ax.set_xlim(lo_x / 1.3, hi_x * 1.3)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    for yi, (_k, v) in zip(y, terms):
        ci = (f" ({v['ci_low']:.2f}–{v['ci_high']:.2f})" if v.get("ci_low") is not None
              and v.get("ci_high") is not None else "")
        ax.annotate(f"{v['odds_ratio']:.2f}{ci}", xy=(1.0, yi), xycoords=("axes fraction", "data"),
                    xytext=(6, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.set_xlabel("Odds ratio (95% CI, log scale)")
    ax.set_title(f"Factors associated with {logit.get('outcome', 'group')}")
    ax.grid(axis="x", color="0.9", which="both")
    ax.set_axisbelow(True)
    fig.tight_layout()
    return png_bytes(fig)


def forest_labels(logit: dict, terms) -> list[str]:
    """Forest-plot labels: R's term name and, for a dummy, what it compares (``sexM: sex (M vs F)``)."""
    tl = logit.get("term_levels") or {}
    return [f"{k}: {describe_term(k, tl)}" if k in tl else str(k) for k in terms]


def fig_love(results: dict) -> bytes | None:
    import pandas as pd

    from ..matching.balance import love_plot_bytes

    bal = (results.get("matching") or {}).get("balance") or {}
    if not bal.get("before") or not bal.get("after"):
        return None
    before = pd.DataFrame.from_dict(bal["before"], orient="index")
    after = pd.DataFrame.from_dict(bal["after"], orient="index")
    from ..publication.cohort import term_label

    labels = {k: ("Propensity score" if k == "distance" else term_label(results, k)) for k in before.index}
    return love_plot_bytes(before, after, title="Covariate balance (|SMD|)", labels=labels)


# ---------------------------------------------------------------------------------------------------------------
# tables (DataFrames; the CSVs and the HTML come from the same frames)

def comparison_frame(levels_dict: dict, names, overall: dict | None = None) -> pandas.DataFrame:  # noqa: F821
    """One row per level, then (``overall``) the overall VBQ, whose ``*_p_adj`` are empty (not in the family)."""
    import pandas as pd

    na, nb = names
    rows = []
    items = list(levels_dict.items()) + ([(overall.get("column", "vbq_overall"), overall)] if overall else [])
    for col, e in items:
        da, db = e["describe"][na], e["describe"][nb]
        sw = e.get("shapiro", {})
        rs = e.get("ranksum", {}) or {}
        sr = e.get("signed_rank") or {}
        rows.append({
            "level": e["level"], "column": col,
            f"n_{na}": da["n"], f"n_{nb}": db["n"],
            f"median_{na}": da["median"], f"q1_{na}": da["q1"], f"q3_{na}": da["q3"],
            f"median_{nb}": db["median"], f"q1_{nb}": db["q1"], f"q3_{nb}": db["q3"],
            f"mean_{na}": da["mean"], f"sd_{na}": da["sd"], f"mean_{nb}": db["mean"], f"sd_{nb}": db["sd"],
            f"shapiro_W_{na}": (sw.get(na) or {}).get("W"), f"shapiro_p_{na}": (sw.get(na) or {}).get("p"),
            f"shapiro_W_{nb}": (sw.get(nb) or {}).get("W"), f"shapiro_p_{nb}": (sw.get(nb) or {}).get("p"),
            "ranksum_W": rs.get("W"), "ranksum_p": rs.get("p"),
            "ranksum_p_adj": rs.get("p_holm", rs.get("p_adj")), "ranksum_method": rs.get("method"),
            "rank_biserial": rs.get("rank_biserial"), "hl_shift": rs.get("hl_shift"),
            "hl_ci_low": rs.get("ci_low"), "hl_ci_high": rs.get("ci_high"),
            "signed_rank_V": sr.get("V"), "signed_rank_n_pairs": sr.get("n_pairs"), "signed_rank_p": sr.get("p"),
            "signed_rank_p_adj": sr.get("p_holm", sr.get("p_adj")), "signed_rank_method": sr.get("method"),
            "signed_rank_pseudomedian": sr.get("pseudomedian"),
            "signed_rank_rank_biserial": sr.get("rank_biserial"),
        })
    return pd.DataFrame(rows)


def _tables(results: dict) -> dict:
    import pandas as pd

    g = results["groups"]
    names = (g["treated"], g["control"])
    from ..publication.cohort import table1_frames

    out = dict(table1_frames(results))  # tables/table1_before.csv, table1_after.csv (and the sex sub-study's)
    m = results.get("matching") or {}
    if m.get("sample_sizes"):
        out["sample_sizes"] = pd.DataFrame.from_dict(m["sample_sizes"], orient="index").rename_axis("sample")
    bal = m.get("balance") or {}
    if bal.get("before"):
        b = pd.DataFrame.from_dict(bal["before"], orient="index").add_suffix(" (before)")
        if bal.get("after"):
            a = pd.DataFrame.from_dict(bal["after"], orient="index").add_suffix(" (after)")
            b = b.join(a)
        out["balance"] = b.rename_axis("covariate")
    out["comparison"] = comparison_frame(results["comparison"]["levels"], names, results["comparison"].get("overall"))
    seg_rows, dunn_rows = [], []
    for grp, s in results["segmental"].items():
        kw, fr = s.get("kruskal") or {}, s.get("friedman") or {}
        seg_rows.append({"group": grp, "n_subjects": s.get("n_subjects"), "kruskal_H": kw.get("H"),
                         "kruskal_df": kw.get("df"), "kruskal_p": kw.get("p"), "kruskal_n": kw.get("n"),
                         "friedman_chi2": fr.get("chi2"), "friedman_df": fr.get("df"), "friedman_p": fr.get("p"),
                         "friedman_n": fr.get("n"), "kendall_w": fr.get("kendall_w")})
        for r in (s.get("dunn") or {}).get("comparisons", []):
            dunn_rows.append({"group": grp, **r})
    out["segmental"] = pd.DataFrame(seg_rows)
    if dunn_rows:
        out["dunn"] = pd.DataFrame(dunn_rows)
    desc = []
    for grp, s in results["segmental"].items():
        for lv, d in s["describe"].items():
            desc.append({"group": grp, "level": lv, **d})
    out["level_descriptives"] = pd.DataFrame(desc)
    ss = results.get("sex_stratified") or {}
    if ss.get("enabled") and ss.get("levels"):
        out["sex_stratified"] = comparison_frame(ss["levels"], tuple(ss["groups"]), ss.get("overall"))
    lg = results.get("logistic") or {}
    if lg.get("terms"):
        out["logistic"] = pd.DataFrame.from_dict(lg["terms"], orient="index").rename_axis("term")
        tl = lg.get("term_levels") or {}  # what each dummy codes (sexM: sex, M, reference F); empty otherwise
        for i, key in enumerate(("column", "level", "reference")):
            out["logistic"].insert(i, key, [(tl.get(t) or {}).get(key, "") for t in out["logistic"].index])
    ex = (results.get("exclusions") or {}).get("exclusions")
    if ex:
        out["exclusions"] = pd.DataFrame(ex, columns=["row", "id", "reason"])
    return out


# ---------------------------------------------------------------------------------------------------------------
# text

def summary_sentences(results: dict) -> list[str]:
    g = results["groups"]
    t, c = g["treated"], g["control"]
    comp = results["comparison"]
    m = results["matching"]
    out = []
    if m.get("enabled"):
        nm = m["n_matched"]
        out.append(f"Propensity-score matching gave {nm['treated']} {esc(t)} and {nm['control']} {esc(c)} "
                   f"patients (of {g['n'][t]} and {g['n'][c]}).")
    else:
        out.append(f"No matching: {g['n'][t]} {esc(t)} and {g['n'][c]} {esc(c)} patients compared as they are.")
    lower, higher = [], []
    for _col, e in comp["levels"].items():
        rs = e.get("ranksum") or {}
        padj = rs.get("p_holm", rs.get("p_adj"))
        if _sig(padj):
            ma, mb = e["describe"][t]["median"], e["describe"][c]["median"]
            txt = (f"{esc(e['level'])} (median {fmt(ma)} vs {fmt(mb)}; rank-sum {fmt_p_text(rs.get('p'))}, "
                   f"adjusted {fmt_p_text(padj)}")
            sr = e.get("signed_rank") or {}
            if sr.get("p") is not None:
                txt += f"; signed-rank on pairs adjusted {fmt_p_text(sr.get('p_holm', sr.get('p_adj')))}"
            txt += ")"
            (lower if (ma is not None and mb is not None and ma < mb) else higher).append(txt)
    if lower:
        out.append(f"VBQ was lower in {esc(t)} than in {esc(c)} at " + ", ".join(lower) + ".")
    if higher:
        out.append(f"VBQ was higher in {esc(t)} than in {esc(c)} at " + ", ".join(higher) + ".")
    if not lower and not higher:
        out.append(f"No level differed significantly between {esc(t)} and {esc(c)} after "
                   f"{esc(adjust_name(comp['p_adjust']))} adjustment.")
    raw_only = [e["level"] for e in comp["levels"].values()
                if _sig((e.get("ranksum") or {}).get("p")) and not _sig((e.get("ranksum") or {}).get("p_holm",
                                                                          (e.get("ranksum") or {}).get("p_adj")))]
    if raw_only:
        out.append(f"Significant only before adjustment: {', '.join(map(esc, raw_only))}.")
    for grp, s in results["segmental"].items():
        kw, fr = s.get("kruskal") or {}, s.get("friedman") or {}
        d = s["describe"]
        meds = {lv: v["median"] for lv, v in d.items() if v["median"] is not None}
        if meds and (kw or fr):
            lowest = sorted(meds, key=meds.get)[:2]
            tests = f"Kruskal-Wallis {fmt_p_text(kw.get('p'))}; Friedman {fmt_p_text(fr.get('p'))}"
            skw, sfr = _sig(kw.get("p")), _sig(fr.get("p"))
            if skw and sfr:
                out.append(f"In {esc(grp)}, VBQ differed across levels ({tests}); lowest median at "
                           f"{', '.join(lowest)}.")
            elif skw or sfr:
                out.append(f"In {esc(grp)}, VBQ differed across levels by the {'Kruskal-Wallis' if skw else 'Friedman'}"
                           f" test only ({tests}); lowest median at {', '.join(lowest)}.")
            else:
                out.append(f"In {esc(grp)}, VBQ did not differ significantly across levels ({tests}).")
    ss = results.get("sex_stratified") or {}
    if ss.get("enabled") and ss.get("levels"):
        sig = [e["level"] for e in ss["levels"].values()
               if _sig((e.get("ranksum") or {}).get("p_holm", (e.get("ranksum") or {}).get("p_adj")))]
        nm = (ss.get("matching") or {}).get("n_matched")
        pairs_txt = f" ({nm['treated']} pairs)" if nm else ""
        if sig:
            out.append(f"Within {esc(ss['within'])}{pairs_txt}, {esc(ss['groups'][0])} and "
                       f"{esc(ss['groups'][1])} differed at {', '.join(sig)} after adjustment.")
        else:
            out.append(f"Within {esc(ss['within'])}{pairs_txt}, no level differed between "
                       f"{esc(ss['groups'][0])} and {esc(ss['groups'][1])} after adjustment.")
    lg = results.get("logistic") or {}
    sig = [(k, v) for k, v in (lg.get("terms") or {}).items()
           if str(k).lower() not in ("intercept", "const", "(intercept)") and _sig(v.get("p"))]
    if sig:
        tl = lg.get("term_levels") or {}
        out.append(f"Factors associated with {esc(t)} (logistic regression, full cohort): " + "; ".join(
            f"{esc(describe_term(k, tl))} OR {fmt(v['odds_ratio'])} ({_ci(v)}), {fmt_p_text(v['p'])}"
            for k, v in sig) + ".")
    return out


def _ci(v) -> str:
    lo, hi = v.get("ci_low"), v.get("ci_high")  # odds-ratio scale (logistic.py: R exp(confint.default))
    return f"95% CI {fmt(lo)}–{fmt(hi)}"


def methods_paragraph(results: dict) -> str:
    plan = results["provenance"]["plan"]
    g = results["groups"]
    t, c = esc(g["treated"]), esc(g["control"])
    m = results["matching"]
    cols = plan["columns"]
    levels = ", ".join(level_label(x) for x in cols["levels"])
    parts = []
    if m.get("enabled"):
        s = plan["matching"]
        logit = "logit of the " if s["distance"] == "logit" else ""
        cal = (f" with a caliper of {s['caliper']} standard deviations of the {logit}"
               f"propensity score" if s["caliper"] is not None and s["std_caliper"] else
               (f" with a caliper of {s['caliper']}" if s["caliper"] is not None else " without a caliper"))
        dist = f"{'logit of the ' if s['distance'] == 'logit' else ''}propensity score"
        if s["method"] == "optimal":
            how = f"optimal 1:{s['ratio']} pair matching (minimum total absolute distance) on the {dist} "
        else:
            order = {"largest": "largest score first", "smallest": "smallest score first",
                     "random": "in random order", "data": "in data order"}.get(s["order"], s["order"])
            how = (f"greedy nearest-neighbour 1:{s['ratio']} matching on the {dist}{cal}, "
                   f"{'with' if s['replace'] else 'without'} replacement, {esc(order)}"
                   f"{', exactly on ' + esc(', '.join(s['exact'])) if s.get('exact') else ''} ")
        semantics = ("(scipy linear_sum_assignment)" if s["method"] == "optimal" else
                     "(bug-compatible with R MatchIt 4.5.1)" if s.get("compat") else "(R MatchIt semantics)")
        parts.append(
            f"Propensity scores for {t} versus {c} were estimated by unpenalised logistic regression on "
            f"{esc(', '.join(cols['covariates']))}. {t} patients were matched to {c} patients by {how}"
            f"{semantics}; balance was assessed by standardised mean differences "
            f"(|SMD| < 0.1 taken as balanced). Matching gave {m['n_matched']['treated']} {t} and "
            f"{m['n_matched']['control']} {c} patients.")
    else:
        parts.append(f"{t} and {c} patients were compared without matching.")
    parts.append(
        f"VBQ at each level ({levels}) was tested for normality with the Shapiro-Wilk test in each group and "
        f"compared between groups with the Wilcoxon rank-sum test (R wilcox.test defaults: exact for small "
        f"samples without ties, otherwise normal approximation with tie and continuity correction), with the "
        f"rank-biserial correlation and the Hodges-Lehmann shift (95% CI) as effect sizes.")
    if m.get("enabled"):
        parts.append("Because the rank-sum test ignores the matched pairing, the paired Wilcoxon signed-rank "
                     "test on the matched pairs is reported as well.")
    adj = results["comparison"]["p_adjust"]
    parts.append(f"P-values across the {len(cols['levels'])} levels were adjusted with the "
                 f"{esc(adjust_name(adj))} method and are reported next to the unadjusted values.")
    parts.append("Differences across levels within each group were tested with the Kruskal-Wallis test and, "
                 "because the levels are repeated measures within a patient, with the Friedman test on "
                 "patients with all levels; Dunn's post-hoc test with "
                 f"{esc(adjust_name(plan['segmental']['p_adjust']))} "
                 "adjustment located the differences.")
    ss = results.get("sex_stratified") or {}
    if ss.get("enabled"):
        parts.append(f"Within the {esc(ss['within'])} group, {esc(ss['groups'][0])} patients were matched to "
                     f"{esc(ss['groups'][1])} patients on the remaining covariates with the same settings and "
                     f"compared per level in the same way.")
    lg = results.get("logistic") or {}
    if lg.get("terms"):
        parts.append(f"Factors associated with {t} were assessed by multivariable logistic regression on "
                     f"{esc(', '.join(lg.get('predictors', [])))} in the full cohort before matching (odds "
                     f"ratios with Wald 95% confidence intervals).")
        refs = lg.get("reference_levels") or {}
        if refs:
            parts.append("Categorical predictors were coded against a reference level (" + "; ".join(
                f"{esc(k)}: {esc(v)}" for k, v in refs.items()) + "); each other level entered as a 0/1 term "
                "named by column and level (as R names it, e.g. sexM).")
    versions = results["provenance"]["versions"]
    parts.append("Two-sided p < 0.05 was considered significant. Analyses used SlicerVBQ "
                 f"{esc(versions.get('slicervbq', ''))} (Python {esc(versions.get('python', ''))}, "
                 f"SciPy {esc(versions.get('scipy', ''))}, statsmodels "
                 f"{esc(versions.get('statsmodels', ''))}).")
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------------------------

OVERALL_NOTE = ("The overall VBQ (mean of the levels per patient) is a separate summary endpoint, tested "
                "like a level; it is not part of the family of levels adjusted for multiple testing, so its "
                "p-values are unadjusted.")


def _comparison_html(levels_dict: dict, names, paired: bool, overall: dict | None = None) -> str:
    na, nb = names
    headers = ["Level", f"{esc(na)} n", f"{esc(na)} median (IQR)", f"{esc(nb)} n", f"{esc(nb)} median (IQR)",
               f"Shapiro p {esc(na)}", f"Shapiro p {esc(nb)}", "Rank-sum W", "p", "p adj.",
               "rank-biserial r", "HL shift (95% CI)"]
    if paired:
        headers += ["Pairs", "Signed-rank V", "p", "p adj."]
    rows = []
    sig_rows = []
    items = list(levels_dict.items()) + ([("overall", overall)] if overall else [])
    for _col, e in items:
        da, db = e["describe"][na], e["describe"][nb]
        sw = e.get("shapiro", {})
        rs = e.get("ranksum") or {}
        padj = rs.get("p_holm", rs.get("p_adj"))
        r = [esc(e["level"]), da["n"], f"{fmt(da['median'])} ({fmt(da['q1'])}–{fmt(da['q3'])})", db["n"],
             f"{fmt(db['median'])} ({fmt(db['q1'])}–{fmt(db['q3'])})",
             fmt_p((sw.get(na) or {}).get("p")), fmt_p((sw.get(nb) or {}).get("p")),
             fmt(rs.get("W"), 1), fmt_p(rs.get("p")), fmt_p(padj), fmt(rs.get("rank_biserial")),
             f"{fmt(rs.get('hl_shift'))} ({fmt(rs.get('ci_low'))} to {fmt(rs.get('ci_high'))})"]
        if paired:
            sr = e.get("signed_rank") or {}
            r += [sr.get("n_pairs", "–"), fmt(sr.get("V"), 1), fmt_p(sr.get("p")),
                  fmt_p(sr.get("p_holm", sr.get("p_adj")))]
        rows.append(r)
        sig_rows.append(_sig(padj))
    h = "".join(f"<th>{c}</th>" for c in headers)
    # grouped headers: which test each p belongs to (issue 17: no unlabelled "p / p adj." pairs)
    groups = [("", 1), (esc(na), 2), (esc(nb), 2), ("Shapiro-Wilk", 2), ("Wilcoxon rank-sum", 5)] + \
        ([("Wilcoxon signed-rank, matched pairs", 4)] if paired else [])
    g = "".join(f"<th colspan='{n}'>{t}</th>" for t, n in groups)
    body = "".join(("<tr class=\"sig\">" if s else "<tr>") + "".join(f"<td>{c}</td>" for c in r) + "</tr>"
                   for r, s in zip(rows, sig_rows))
    return (f'<table class="comparison"><thead><tr>{g}</tr><tr>{h}</tr></thead><tbody>{body}</tbody></table>'
            f'<p class="note">{esc(" ".join(method_sentences(dict(items))))} W = Mann-Whitney U of {esc(na)} (R\'s W); '
            f'r &gt; 0 means higher VBQ in {esc(na)}; HL shift = Hodges-Lehmann estimate of {esc(na)} minus '
            f'{esc(nb)}. "p adj." is adjusted across levels; shaded rows are significant after adjustment.'
            + (f' {OVERALL_NOTE}' if overall else '') + '</p>')


def method_sentences(levels_dict: dict) -> list[str]:
    """One sentence per test method (issue 17: "one method per row in captions"): "Wilcoxon rank sum exact
    test: C2, C3." then "Wilcoxon rank sum test with continuity correction: C4, ..."; the same for the
    signed-rank test. A method used at every row is named without the list."""
    out = []
    for test in ("ranksum", "signed_rank"):
        by: dict[str, list[str]] = {}
        for e in levels_dict.values():
            m = (e.get(test) or {}).get("method")
            if m:
                by.setdefault(str(m), []).append(str(e.get("level")))
        for m, where in by.items():
            m = m[0].upper() + m[1:]
            out.append(f"{m}." if len(by) == 1 else f"{m}: {', '.join(where)}.")
    return out


def _balance_html(results: dict, m: dict, names=None) -> str:
    """The balance table with readable labels (R's term names stay in results.json and tables/balance.csv);
    SMD with two decimals; the propensity-score row named as such."""
    from ..publication.cohort import BINARY_MEAN_NOTE, balance_label

    bal = m.get("balance") or {}
    if not bal.get("before"):
        return ""
    na, nb = names or ("Treated", "Control")
    before, after = bal["before"], bal.get("after") or {}
    rows = []
    for k, b in before.items():
        a = after.get(k, {})
        rows.append([esc(balance_label(results, k)), fmt(b.get("Means Treated")), fmt(b.get("Means Control")),
                     fmt(b.get("Std. Mean Diff.")), fmt(a.get("Means Treated")) if a else "–",
                     fmt(a.get("Means Control")) if a else "–", fmt(a.get("Std. Mean Diff.")) if a else "–"])
    done = "matched" if after else None
    heads = ["Covariate", f"Mean {esc(na)}", f"Mean {esc(nb)}", "SMD"] + \
        ([f"Mean {esc(na)}", f"Mean {esc(nb)}", "SMD"] if done else [])
    groups = [("", 1), ("Before matching", 3)] + ([("After matching", 3)] if done else [])
    if not done:
        rows = [r[:4] for r in rows]
    g = "".join(f"<th colspan='{n}'>{t}</th>" for t, n in groups)
    h = "".join(f"<th>{c}</th>" for c in heads)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return (f"<table><thead><tr>{g}</tr><tr>{h}</tr></thead><tbody>{body}</tbody></table>"
            f"<p class='note'>SMD, standardized mean difference (MatchIt: difference in means over the treated "
            f"group's SD before matching); |SMD| &lt; 0.1 is taken as balanced. {esc(BINARY_MEAN_NOTE)} A "
            f"categorical variable with more than two levels has one row per level.</p>")


def _exclusions_html(results: dict) -> str:
    ex = results.get("exclusions") or {}
    counts = ex.get("counts") or {}
    out = []
    if counts:
        rows = [["rows in the table", counts.get("rows", "–")], ["included", counts.get("included", "–")],
                ["excluded", counts.get("excluded", "–")]]
        for reason, n in (counts.get("excluded_by_reason") or {}).items():
            rows.append([f"&nbsp;&nbsp;{esc(reason)}", n])
        for lv, n in (counts.get("missing_by_level") or {}).items():
            if n:
                rows.append([f"missing VBQ {esc(level_label(lv))} (dropped from that level's tests only)", n])
        out.append(table(["Rows", "n"], rows))
    lst = ex.get("exclusions") or []
    if lst:
        shown = lst[:50]
        out.append("<details><summary>Excluded rows (" + str(len(lst)) + ")</summary>" +
                   table(["Row", "Id", "Reason"], [[r.get("row"), esc(r.get("id")), esc(r.get("reason"))]
                                                   for r in shown]) +
                   (f"<p class='note'>… and {len(lst) - 50} more (see results.json)</p>" if len(lst) > 50 else "")
                   + "</details>")
    cod = ex.get("codings") or {}
    if cod:
        out.append("<details><summary>Value codings</summary>" +
                   table(["Column", "Coding"], [[esc(k), esc(v)] for k, v in cod.items()]) + "</details>")
    if not out:
        return "<p>No rows were excluded.</p>"
    return "".join(out)


def render_html(results: dict, figs: dict, tables: dict) -> str:
    g = results["groups"]
    t, c = g["treated"], g["control"]
    plan = results["provenance"]["plan"]
    title = plan.get("title") or "VBQ cohort analysis"
    m = results["matching"]
    comp = results["comparison"]
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>"
             f"<style>{CSS}</style></head><body>"]
    parts.append(f"<h1>{esc(title)}</h1><p class='note'>Plan <code>{esc(plan['name'])}</code>"
                 f"{' — ' + esc(plan['citation']) if plan.get('citation') else ''}. Generated "
                 f"{esc(results['provenance']['created_utc'])} by SlicerVBQ.</p>")
    if results.get("demo"):
        parts.append(f"<p class='box warn'>{esc(results['demo'].get('note', ''))}</p>")
    if results.get("warnings"):  # at the top: small samples, exclusions, separation (issue 17)
        parts.append("<h2>Warnings</h2><ul class='box warn'>" +
                     "".join(f"<li>{esc(w)}</li>" for w in results["warnings"]) + "</ul>")
    parts.append("<h2>Summary</h2><div class='box'><ul>" +
                 "".join(f"<li>{s}</li>" for s in summary_sentences(results)) + "</ul></div>")
    parts.append("<h2>Methods</h2><p class='methods'>" + methods_paragraph(results) + "</p>")
    # cohort
    parts.append("<h2>Cohort</h2>")
    parts.append(table(["Group", "Patients analysed"], [[esc(t), g["n"][t]], [esc(c), g["n"][c]]]))
    parts.append(img(figs.get("flow"), "Flow diagram (STROBE)"))
    parts.append("<h3>Exclusions</h3>" + _exclusions_html(results))
    j = results.get("join")
    if j:
        parts.append("<h3>VBQ results joined by id</h3>" + table(["Item", "Value"], [
            ["VBQ table", esc(Path(j["source"]).name)], ["format", esc(j["format"])],
            ["clinical rows", j["n_clinical"]], ["VBQ rows", j["n_vbq"]], ["joined", j["n_joined"]],
            ["in clinical table only", esc(", ".join(j["only_in_clinical"][:30]) or "none")],
            ["in VBQ table only", esc(", ".join(j["only_in_vbq"][:30]) or "none")],
            ["failed measurements", esc(", ".join(j["failed"][:30]) or "none")]]))
    if (results.get("table1") or {}).get("before"):
        from ..publication.cohort import table1_html

        parts.append("<h2>Table 1</h2>" + table1_html(
            results["table1"], (t, c), f"Baseline characteristics of {t} and {c} patients before and after "
                                       f"propensity-score matching"))
    # matching
    parts.append("<h2>Propensity-score matching</h2>")
    if m.get("enabled"):
        s = plan["matching"]
        parts.append(f"<p>Nearest-neighbour 1:{s['ratio']} on the {'logit of the ' if s['distance'] == 'logit' else ''}"
                     f"propensity score, caliper {s['caliper'] if s['caliper'] is not None else 'none'}"
                     f"{' SD' if s['caliper'] is not None and s['std_caliper'] else ''}"
                     f" (= {fmt(m.get('caliper_distance_units'), 4)} distance units), "
                     f"{'with' if s['replace'] else 'without'} replacement, order {esc(s['order'])}"
                     f"{', exact on ' + esc(', '.join(s['exact'])) if s['exact'] else ''}.</p>")
        if "sample_sizes" in tables:
            ssz = tables["sample_sizes"]
            from ..publication.cohort import ESS_NOTE, sample_size_label

            rows = [[esc(sample_size_label(i))] + [fmt(float(v), 0) if float(v).is_integer() else fmt(float(v), 1)
                                                   for v in r]
                    for i, r in zip(ssz.index, ssz.to_numpy())]
            parts.append(table(["Sample"] + [esc(x) for x in ssz.columns], rows))
            parts.append(f"<p class='note'>{esc(ESS_NOTE)}</p>")
        for w in m.get("warnings", []) or []:
            parts.append(f"<p class='warn'>{esc(w)}</p>")
    else:
        parts.append(f"<p>{esc(m.get('note', 'No matching.'))}</p>")
    parts.append("<h3>Covariate balance</h3>" + _balance_html(results, m, (t, c)))
    parts.append(img(figs.get("love_plot"), "Love plot"))
    # comparison
    paired = m.get("enabled") and any("signed_rank" in e for e in comp["levels"].values())
    parts.append(f"<h2>VBQ per level: {esc(t)} vs {esc(c)} ({esc(comp['sample'])} sample)</h2>")
    parts.append(_comparison_html(comp["levels"], (t, c), paired, comp.get("overall")))
    if comp.get("weights_note"):
        parts.append(f"<p class='note'>{esc(comp['weights_note'])}.</p>")
    parts.append(img(figs.get("boxplots"), "Box plots per level"))
    # segmental
    parts.append("<h2>VBQ across levels</h2>")
    rows = []
    for grp, s in results["segmental"].items():
        kw, fr = s.get("kruskal") or {}, s.get("friedman") or {}
        rows.append([esc(grp), s.get("n_subjects"), fmt(kw.get("H")), kw.get("df", "–"), fmt_p(kw.get("p")),
                     fmt(fr.get("chi2")), fr.get("df", "–"), fr.get("n", "–"), fmt_p(fr.get("p")),
                     fmt(fr.get("kendall_w"), 3)])
    parts.append(table(["Group", "Patients", "Kruskal-Wallis H", "df", "p", "Friedman χ²", "df", "n complete",
                         "p", "Kendall W"], rows))
    parts.append(f"<p class='note'>Sample: {esc(results.get('segmental_sample', ''))}. Kruskal-Wallis (the "
                 f"study's test) treats the levels as independent samples; Friedman uses each patient as a "
                 f"block (repeated measures).</p>")
    parts.append(img(figs.get("segmental"), "VBQ across levels"))
    for grp, s in results["segmental"].items():
        d = s.get("dunn")
        if not d or not d.get("comparisons"):
            continue
        rows = [[f"{esc(r['group1'])} vs {esc(r['group2'])}", fmt(r["mean_rank1"], 1), fmt(r["mean_rank2"], 1),
                 fmt(r["z"]), fmt_p(r["p"]), fmt_p(r["p_adj"])] for r in d["comparisons"]]
        parts.append(f"<h3>Dunn post-hoc, {esc(grp)} ({esc(adjust_name(d.get('p_adjust')))}-adjusted)</h3>")
        parts.append(table(["Levels", "Mean rank 1", "Mean rank 2", "z", "p", "p adj."], rows))
    # sex
    ss = results.get("sex_stratified") or {}
    parts.append("<h2>Sex-stratified sub-study</h2>")
    if ss.get("enabled"):
        mm = ss.get("matching") or {}
        nm = mm.get("n_matched")
        parts.append(f"<p>Within {esc(ss['within'])}: {esc(ss['groups'][0])} n={ss['n'][ss['groups'][0]]}, "
                     f"{esc(ss['groups'][1])} n={ss['n'][ss['groups'][1]]}"
                     + (f"; matched {nm['treated']} {esc(ss['groups'][0])} to {nm['control']} "
                        f"{esc(ss['groups'][1])} on {esc(', '.join(ss['covariates']))}" if nm else "")
                     + ".</p>")
        for w in mm.get("warnings", []) or []:
            parts.append(f"<p class='warn'>Sex-stratified matching: {esc(w)}</p>")
        if (ss.get("table1") or {}).get("before"):
            from ..publication.cohort import table1_html

            parts.append(table1_html(ss["table1"], tuple(ss["groups"]),
                                     f"Baseline characteristics by sex within {ss['within']}"))
        parts.append(_comparison_html(ss["levels"], tuple(ss["groups"]), ss.get("matching") is not None,
                                      ss.get("overall")))
        parts.append(img(figs.get("sex_boxplots"), "Box plots by sex"))
    else:
        parts.append(f"<p>Not run: {esc(ss.get('note', ''))}</p>")
    # logistic
    lg = results.get("logistic") or {}
    parts.append(f"<h2>Logistic regression: factors associated with {esc(t)}</h2>")
    if lg.get("terms"):
        from ..publication.cohort import logistic_labels

        rows = []
        labels = logistic_labels(results)  # readable; R's term names stay in results.json and logistic.csv
        for k, v in lg["terms"].items():
            lo, hi = v.get("ci_low"), v.get("ci_high")
            rows.append([esc(labels.get(k, k)), f"<code>{esc(k)}</code>", fmt(v.get("coef"), 3), fmt(v.get("se"), 3),
                         fmt(v.get("odds_ratio")), f"{fmt(lo)}–{fmt(hi)}", fmt_p(v.get("p"))])
        parts.append(table(["Variable", "R term", "Coefficient", "SE", "Odds ratio", "95% CI (Wald)", "p"], rows))
        extra = [f"n = {lg.get('n')}"]
        if lg.get("pseudo_r2") is not None:
            extra.append(f"McFadden pseudo-R² = {fmt(lg['pseudo_r2'], 3)}")
        parts.append(f"<p class='note'>Outcome: {esc(lg.get('outcome'))}; {esc(lg.get('sample'))}; "
                     f"{'; '.join(extra)}.</p>")
        sep = lg.get("separation")
        if sep:
            parts.append(f"<p class='warn'>Separation: {esc(sep if isinstance(sep, str) else json.dumps(sep))}</p>")
        parts.append(img(figs.get("forest"), "Forest plot of odds ratios"))
    else:
        parts.append(f"<p>{esc(lg.get('note', 'not run'))}</p>")
    if results.get("agreement"):  # a reliability substudy (the demo's)
        from ..agreement.report import cohort_report_section

        parts.append(cohort_report_section(results, figs))
    # provenance
    prov = results["provenance"]
    parts.append("<h2>Provenance</h2>")
    rows = [[esc(k), esc(v)] for k, v in prov["versions"].items()]
    rows += [[esc(i["role"]), esc(f"{Path(i['path']).name}  SHA-256 {i['sha256'] or 'n/a'}")]
             for i in prov.get("inputs", [])]
    if prov.get("command"):
        rows.append(["command", esc(prov["command"])])
    parts.append(table(["Item", "Value"], rows))
    parts.append("<details><summary>Analysis plan (resolved)</summary><pre>" +
                 esc(json.dumps(plan, indent=1)) + "</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def make_figures(results: dict, frames: dict | None) -> dict:
    figs: dict[str, bytes | None] = {}
    g = results["groups"]
    names = (g["treated"], g["control"])
    levels = list(results["comparison"]["levels"])
    from ..publication.flow import flow_counts, flow_figure

    figs["flow"] = png_bytes(flow_figure(flow_counts(results)))  # the report's first figure
    figs["love_plot"] = fig_love(results)
    if frames and frames.get("work") is not None:
        work = frames["work"]
        sample = frames["matched"] if (results["comparison"]["sample"] == "matched"
                                       and frames.get("matched") is not None) else work
        a, b = sample[sample[TREAT_COL] == 1], sample[sample[TREAT_COL] == 0]
        figs["boxplots"] = fig_boxplots(a, b, levels, names, results["comparison"]["levels"],
                                        title=f"VBQ per level: {names[0]} vs {names[1]} "
                                              f"({results['comparison']['sample']} sample)")
        ss = results.get("sex_stratified") or {}
        if ss.get("enabled") and ss.get("levels"):
            within = 1 if ss["within"] == g["treated"] else 0
            sub = work[work[TREAT_COL] == within]
            col = ss["column"]
            pairs = (ss.get("matching") or {}).get("pairs")
            id_col = frames.get("id_col")
            if pairs and id_col:
                ids1 = {str(k) for k in pairs}
                ids0 = {str(x) for v in pairs.values() for x in v}
                a2 = sub[sub[id_col].map(str).isin(ids1)]
                b2 = sub[sub[id_col].map(str).isin(ids0)]
            else:
                v1, v0 = (ss["values"][x] for x in ss["groups"])
                a2 = sub[sub[col] == v1]
                b2 = sub[sub[col] == v0]
            figs["sex_boxplots"] = fig_boxplots(a2, b2, levels, tuple(ss["groups"]), ss["levels"],
                                                colors=SEX_COLORS, title=f"VBQ per level by sex within {ss['within']}")
    figs["segmental"] = fig_segmental(results["segmental"], levels, names)
    lg = results.get("logistic") or {}
    if lg.get("terms"):
        from ..publication.cohort import logistic_labels

        figs["forest"] = fig_forest(lg, logistic_labels(results))
    if results.get("agreement"):
        from ..agreement.report import cohort_report_figures

        figs.update(cohort_report_figures(results["agreement"], (frames or {}).get("agreement")))
    return figs


FIGURE_CAPTIONS = {
    "flow": "Flow diagram (STROBE): rows read, exclusions by reason, patients analysed per group, matched sets.",
    "love_plot": "Covariate balance before and after matching (absolute standardized mean differences).",
    "boxplots": "VBQ per vertebral level by group.",
    "sex_boxplots": "VBQ per vertebral level by sex (sex-stratified sub-study).",
    "segmental": "VBQ across vertebral levels (median and IQR per group).",
    "forest": "Odds ratios with 95% Wald confidence intervals (multivariable logistic regression).",
}

#: list of the files a report wrote into its folder (so that a later report can remove the ones it replaces)
REPORT_FILES = ".vbq_report_files.json"


def write_report(results: dict, out_dir, frames: dict | None = None, *, progress=None, dpi: int = 300,
                 figure_width=None) -> dict:
    """Write results.json, report.html, tables/*.csv, figures/*.png and matched.csv into ``out_dir``
    (atomically: on error nothing is written). ``frames`` is the second return value of
    ``run_analysis(..., return_frames=True)`` (needed for box plots and matched.csv). Returns the paths."""
    from VBQScoreLib.csv_safe import safe_frame
    from VBQScoreLib.progress import report

    from ..publication.figures import capture_figures, save_figure, width_mm

    width = width_mm(figure_width) if figure_width is not None else None
    report(progress, 0, 3, "figures")
    with capture_figures() as drawn:
        figs = make_figures(results, frames)
    tables = _tables(results)
    report(progress, 1, 3, "report")
    page = render_html(results, figs, tables)
    text = json.dumps(results, indent=1, allow_nan=False)
    out_dir = Path(out_dir)
    written = {}

    from ..publication.cohort import docx_blocks, excel_sheets
    from ..publication.excel import write_tables_xlsx
    from ..publication.word import docx_bytes

    plan = results["provenance"]["plan"]
    docx = docx_bytes(plan.get("title") or "VBQ cohort analysis",
                      docx_blocks(results, figs, tables, methods=methods_paragraph(results),
                                  summary=summary_sentences(results), figure_captions=FIGURE_CAPTIONS),
                      subtitle=f"Plan {plan['name']}. Generated {results['provenance']['created_utc']} by SlicerVBQ.")

    def fill(tmp: Path) -> None:
        (tmp / "results.json").write_text(text, encoding="utf-8")
        (tmp / "report.html").write_text(page, encoding="utf-8")
        (tmp / "report.docx").write_bytes(docx)
        write_tables_xlsx(excel_sheets(tables), tmp / "tables.xlsx")
        (tmp / "tables").mkdir()
        for name, df in tables.items():
            safe_frame(df).to_csv(tmp / "tables" / f"{name}.csv", index=df.index.name is not None)
        (tmp / "figures").mkdir()
        for name, png in figs.items():
            if not png:
                continue
            if id(png) in drawn:  # journal exports: PDF and SVG (TrueType text), PNG and LZW TIFF at `dpi`
                save_figure(drawn[id(png)][0], tmp / "figures", name, dpi=dpi, width=width)
            else:
                (tmp / "figures" / f"{name}.png").write_bytes(png)
        if frames and frames.get("matched") is not None:
            safe_frame(frames["matched"]).to_csv(tmp / "matched.csv", index=True)  # index = spreadsheet row number
            written["matched"] = out_dir / "matched.csv"

    write_report_folder(out_dir, REPORT_FILES, ("results.json", "report.html", "report.docx", "tables.xlsx",
                                                "matched.csv"), fill)
    report(progress, 3, 3, "written")
    written.update({"results": out_dir / "results.json", "report": out_dir / "report.html",
                    "tables": out_dir / "tables", "figures": out_dir / "figures",
                    "docx": out_dir / "report.docx", "xlsx": out_dir / "tables.xlsx"})
    return written
