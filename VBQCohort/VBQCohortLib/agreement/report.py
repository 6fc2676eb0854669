"""The agreement report: ``write_agreement(results, out_dir, frames)`` writes ``agreement.json``,
``report.html`` (self-contained: tables, Bland-Altman plots embedded as PNG), ``tables/*.csv`` and
``figures/bland_altman_*.png`` / ``.svg``, all at once through :func:`VBQScoreLib.atomic.atomic_directory`.

:func:`agreement_section_html` renders the same content as one section for another report (the demo's cohort
report embeds it).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from VBQScoreLib.csv_safe import safe_frame

from ..report.html import CSS, esc, figure_class, fmt, fmt_p as _fp, img, table, write_report_folder
from .data import slug
from .stats import ICC_FORMS, ICC_TYPES

AGREEMENT_FILES = ("agreement.json", "report.html")
LIST_FILE = ".vbq_agreement_files.json"  # what the last run wrote, so that the next removes what it replaces


def _fmt(x, d=3) -> str:
    return fmt(x, d)


# ---------------------------------------------------------------------------------------------------------------
# tables (DataFrames: the CSVs, the Slicer table nodes and the HTML come from the same rows)

def _icc_rows(analysis: str, rows, extra: dict) -> list:
    return [{**extra, "analysis": analysis, **{k: r.get(k) for k in (
        "type", "icc", "F", "df1", "df2", "p", "lower", "upper", "n_cases", "n_raters", "n_excluded", "koo_li",
        "koo_li_ci")}, "shrout_fleiss": ICC_FORMS[r["type"]]["shrout_fleiss"],
        "mcgraw_wong": ICC_FORMS[r["type"]]["mcgraw_wong"]} for r in rows or []]


def agreement_tables(results: dict, frames: dict | None = None) -> dict:
    """``{name: DataFrame}``: ``icc_inter``, ``icc_intra``, ``icc_mcgraw_wong``, ``bland_altman``,
    ``bland_altman_points``, ``excluded``, ``overlap`` (those that apply)."""
    import pandas as pd

    out = {}
    icc_d = results.get("icc") or {}
    inter = icc_d.get("inter") or {}
    rows = _icc_rows("overall", inter.get("overall"), {})
    for lv, r in (inter.get("levels") or {}).items():
        rows += _icc_rows(lv, r, {})
    if rows:
        out["icc_inter"] = pd.DataFrame(rows)
    rows = []
    for rd, r in (icc_d.get("intra") or {}).items():
        rows += _icc_rows("overall", r, {"reader": rd})
    for rd, lvs in (icc_d.get("intra_levels") or {}).items():
        for lv, r in lvs.items():
            rows += _icc_rows(lv, r, {"reader": rd})
    if rows:
        out["icc_intra"] = pd.DataFrame(rows)
    mw = results.get("icc_mcgraw_wong") or {}
    rows = []

    def add_mw(kind, reader, analysis, lst):
        for r in lst or []:
            rows.append({"kind": kind, "reader": reader, "analysis": analysis, **r})

    add_mw("inter", None, "overall", (mw.get("inter") or {}).get("overall"))
    for lv, r in ((mw.get("inter") or {}).get("levels") or {}).items():
        add_mw("inter", None, lv, r)
    for rd, r in (mw.get("intra") or {}).items():
        add_mw("intra", rd, "overall", r)
    if rows:
        out["icc_mcgraw_wong"] = pd.DataFrame(rows)
    rows = []
    for name, b in (results.get("bland_altman") or {}).items():
        rows.append({"comparison": name, "level": "overall", **{k: v for k, v in b.items() if k != "excluded"}})
    for name, lvs in (results.get("bland_altman_levels") or {}).items():
        for lv, b in lvs.items():
            rows.append({"comparison": name, "level": lv, **{k: v for k, v in b.items() if k != "excluded"}})
    if rows:
        out["bland_altman"] = pd.DataFrame(rows)
    if frames and frames.get("ba_points") is not None and len(frames["ba_points"]):
        out["bland_altman_points"] = frames["ba_points"]
    rows = []
    miss = results.get("missing") or {}

    def add_ex(kind, reader, analysis, block):
        for e in (block or {}).get("excluded", []):
            rows.append({"kind": kind, "reader": reader, "analysis": analysis, "case_id": e["case"],
                         "missing": ";".join(e["missing"])})

    add_ex("inter", None, "overall", (miss.get("inter") or {}).get("overall"))
    for lv, b in ((miss.get("inter") or {}).get("levels") or {}).items():
        add_ex("inter", None, lv, b)
    for rd, b in (miss.get("intra") or {}).items():
        add_ex("intra", rd, "overall", b)
    for rd, lvs in (miss.get("intra_levels") or {}).items():
        for lv, b in lvs.items():
            add_ex("intra", rd, lv, b)
    if rows:
        out["excluded"] = pd.DataFrame(rows)
    det = results.get("overlap_detail") or {}
    rows = []
    if det.get("cases"):
        for case, pairs in det["cases"].items():
            for pair, lvs in pairs.items():
                for lv, m in lvs.items():
                    rows.append({"case_id": case, "pair": pair, "level": lv, **m})
    else:
        for pair, lvs in (det.get("pairs") or {}).items():
            for lv, m in lvs.items():
                rows.append({"pair": pair, "level": lv, **m})
    if rows:
        out["overlap"] = pd.DataFrame(rows)
    elif results.get("overlap"):
        out["overlap"] = pd.DataFrame([{"level": lv, **m} for lv, m in results["overlap"].items()])
    return out


# ---------------------------------------------------------------------------------------------------------------
# figures

def ba_figure(points, b: dict, title: str):
    """A Bland-Altman plot (matplotlib Figure): differences against means, bias and limits of agreement with
    their 95% CIs as bands, the proportional-bias regression line."""
    import numpy as np

    Figure = figure_class()
    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.add_subplot(1, 1, 1)
    m = np.asarray(points["mean"], float)
    d = np.asarray(points["difference"], float)
    ax.scatter(m, d, s=14, color="#2471a3", alpha=0.75, edgecolors="none")
    if b.get("bias") is not None:
        x0, x1 = (float(m.min()), float(m.max())) if m.size else (0.0, 1.0)
        pad = 0.05 * (x1 - x0 if x1 > x0 else 1.0)
        xs = np.array([x0 - pad, x1 + pad])
        for key, lo, hi, col, lab in (("bias", "bias_ci_low", "bias_ci_high", "#c0392b", "bias"),
                                      ("loa_low", "loa_low_ci_low", "loa_low_ci_high", "0.35", "limits of agreement"),
                                      ("loa_high", "loa_high_ci_low", "loa_high_ci_high", "0.35", None)):
            ax.axhline(b[key], color=col, lw=1.4, ls="-" if key == "bias" else "--",
                       label=f"{lab} {b[key]:.3f}" if lab == "bias" else (
                           f"{lab} {b['loa_low']:.3f} to {b['loa_high']:.3f}" if lab else None))
            if b.get(lo) is not None:
                ax.axhspan(b[lo], b[hi], color=col, alpha=0.12, lw=0)
        if b.get("prop_bias_slope") is not None:
            ax.plot(xs, b["prop_bias_intercept"] + b["prop_bias_slope"] * xs, color="#8e44ad", lw=1, ls=":",
                    label=f"regression slope {b['prop_bias_slope']:.3f} (p = {b['prop_bias_p']:.3f})")
        ax.set_xlim(*xs)
    ax.axhline(0, color="0.75", lw=0.8)
    ax.set_xlabel(f"Mean of {b.get('a', 'A')} and {b.get('b', 'B')}")
    ax.set_ylabel(f"{b.get('a', 'A')} − {b.get('b', 'B')}")
    ax.set_title(title, fontsize=10)
    ax.grid(color="0.92")
    ax.set_axisbelow(True)
    ax.legend(fontsize="x-small", frameon=False, loc="best")
    fig.tight_layout()
    return fig


def ba_plot_columns(results: dict, frames: dict, comparison: str):
    """Columns for a Bland-Altman plot of ``comparison`` outside matplotlib (Slicer plot nodes): the points
    ``{case_id, mean, difference}`` and the horizontal lines ``{x, bias, loa_low, loa_high}`` over the range of
    the means."""
    pts = frames["ba_points"]
    sub = pts[pts["comparison"] == comparison]
    b = results["bland_altman"][comparison]
    means = [float(v) for v in sub["mean"]]
    x = [min(means), max(means)] if means else [0.0, 1.0]
    return ({"case_id": [str(c) for c in sub["case_id"]], "mean": means,
             "difference": [float(v) for v in sub["difference"]]},
            {"x": x, "bias": [b["bias"]] * 2, "loa_low": [b["loa_low"]] * 2, "loa_high": [b["loa_high"]] * 2})


def ba_figures(results: dict, frames: dict | None) -> dict:
    """``{comparison: (png_bytes, svg_bytes)}`` for the overall Bland-Altman analyses."""
    pts = (frames or {}).get("ba_points")
    out = {}
    if pts is None:
        return out
    for name, b in (results.get("bland_altman") or {}).items():
        sub = pts[pts["comparison"] == name]
        if not len(sub):
            continue
        fig = ba_figure(sub, b, f"Bland-Altman: {name} (overall VBQ, n = {b.get('n')})")
        png, svg = io.BytesIO(), io.BytesIO()
        fig.savefig(png, format="png", dpi=110)
        fig.savefig(svg, format="svg")
        from ..publication.figures import note_figure

        # kept for the journal exports (cohort report and write_agreement: PDF, SVG, PNG, TIFF at --dpi)
        out[name] = (note_figure(fig, png.getvalue()), svg.getvalue())
    return out


# ---------------------------------------------------------------------------------------------------------------
# HTML

def design_sentence(n_cases, n_raters, n_excluded, *, raters: str = "readers") -> str:
    """The design of one ICC in plain words: "16 cases, 2 readers; 8 cases left out because ..." (no
    "Raters 2, Left out 8")."""
    def n(k, one, many):
        return f"{k} {one if k == 1 else many}"

    txt = f"{n(int(n_cases), 'case', 'cases')}, {n(int(n_raters), raters[:-1], raters)}"
    if n_excluded:
        txt += (f"; {n(int(n_excluded), 'case', 'cases')} left out because "
                f"{'it lacks' if int(n_excluded) == 1 else 'they lack'} a value from one of the {raters} "
                f"(the ICC uses complete cases)")
    return txt


def _lead_table(title, blocks: dict, raters: str = "readers") -> str:
    """One row per analysis: ICC(2,1) with CI and band, plus ICC(3,1) and ICC(1,1) for comparison."""
    rows = []
    for name, lst in blocks.items():
        if not lst:
            continue
        r = {x["type"]: x for x in lst}
        r2 = r["ICC2"]
        rows.append([esc(name), esc(design_sentence(r2["n_cases"], r2["n_raters"], r2.get("n_excluded", 0),
                                                    raters=raters)),
                     f"<b>{_fmt(r2['icc'])}</b>", f"{_fmt(r2['lower'])} to {_fmt(r2['upper'])}",
                     esc(r2.get("koo_li_ci") or "–"), _fmt(r["ICC3"]["icc"]), _fmt(r["ICC1"]["icc"]),
                     _fp(r2["p"])])
    if not rows:
        return ""
    return (f"<h3>{esc(title)}</h3>" + table(
        ["Analysis", "Cases", "ICC(2,1)", "95% CI", "Koo &amp; Li (CI)", "ICC(3,1)",
         "ICC(1,1)", "p (F test)"], rows))


def _six_table(lst) -> str:
    rows = [[esc(r["type"]), esc(ICC_FORMS[r["type"]]["shrout_fleiss"]), esc(ICC_FORMS[r["type"]]["mcgraw_wong"]),
             _fmt(r["icc"]), _fmt(r["F"]), _fmt(r["df1"], 0), _fmt(r["df2"], 0), _fp(r["p"]),
             f"{_fmt(r['lower'])} to {_fmt(r['upper'])}", esc(r.get("koo_li_ci") or "–")] for r in lst or []]
    return table(["psych", "Shrout-Fleiss", "McGraw-Wong", "ICC", "F", "df1", "df2", "p", "95% CI",
                   "Koo &amp; Li (CI)"], rows)


def agreement_section_html(results: dict, frames: dict | None = None, *, figs: dict | None = None,
                           heading: str = "h2", truth: dict | None = None) -> str:
    """The agreement results as HTML (headings from ``heading`` down). ``truth``: planted values to show beside
    the estimates (the demo's reliability substudy)."""
    h1 = heading
    figs = ba_figures(results, frames) if figs is None else figs
    parts = []
    des = results.get("design") or {}
    icc_d = results.get("icc") or {}
    if results.get("summary"):
        parts.append("<div class='box'><ul>" + "".join(f"<li>{esc(s)}</li>" for s in results["summary"])
                     + "</ul></div>")
    if des:
        ov = des.get("overall") or {}
        how = ("the table's overall values" if ov.get("source") == "table" else
               f"the {ov.get('aggregate')} of the levels present ({', '.join(ov.get('levels_used') or [])}; preset "
               f"{ov.get('preset')})" if ov.get("source") == "aggregate" else "not available")
        parts.append(f"<p>{des.get('n_cases')} cases, readers {esc(', '.join(des.get('readers') or []))}, sessions "
                     f"{esc(', '.join(des.get('sessions') or []))} (inter-reader analyses in session "
                     f"{esc(des.get('inter_session'))}); levels {esc(', '.join(des.get('levels') or []) or 'none')}; "
                     f"overall VBQ = {esc(how)}. {des.get('n_missing_values', 0)} missing value(s); each analysis "
                     f"uses its complete cases (listed in tables/excluded.csv).</p>")
    inter = icc_d.get("inter") or {}
    if inter.get("overall") or inter.get("levels"):
        parts.append(f"<{h1}>Inter-reader agreement (ICC)</{h1}>")
        parts.append("<p class='note'>ICC(2,1) (two-way random effects, absolute agreement, single reader = "
                     "McGraw-Wong ICC(A,1)) answers whether one reader's VBQ can replace another's; ICC(3,1) "
                     "(consistency) ignores constant reader offsets; ICC(1,1) is for designs with different "
                     "readers per case. Koo &amp; Li: &lt; 0.5 poor, 0.5–0.75 moderate, 0.75–0.9 good, &gt; 0.9 "
                     "excellent (read off the 95% CI). Numbers equal R <code>psych::ICC(x, lmer = FALSE)</code> on "
                     "complete cases.</p>")
        blocks = {"overall VBQ": inter.get("overall")}
        blocks.update({lv: r for lv, r in (inter.get("levels") or {}).items()})
        parts.append(_lead_table("ICC(2,1) by analysis", blocks))
        if inter.get("overall"):
            parts.append("<details><summary>All six forms, overall VBQ</summary>" + _six_table(inter["overall"])
                         + "</details>")
    intra = icc_d.get("intra") or {}
    if intra:
        parts.append(f"<{h1}>Intra-reader agreement (test-retest ICC)</{h1}>")
        parts.append(_lead_table("ICC(2,1) per reader, session against session (overall VBQ)", intra,
                                 raters="sessions"))
        for rd, lvs in (icc_d.get("intra_levels") or {}).items():
            parts.append("<details><summary>" + esc(rd) + " per level</summary>"
                         + _lead_table(f"{rd}: ICC(2,1) per level", lvs, raters="sessions") + "</details>")
    ba = results.get("bland_altman") or {}
    if ba:
        parts.append(f"<{h1}>Bland-Altman</{h1}>")
        rows = []
        for name, b in ba.items():
            t = (truth or {}).get(name)
            rows.append([esc(name), b["n"], f"<b>{_fmt(b['bias'])}</b>",
                         f"{_fmt(b['bias_ci_low'])} to {_fmt(b['bias_ci_high'])}", _fmt(b["sd"]),
                         f"{_fmt(b['loa_low'])} ({_fmt(b['loa_low_ci_low'])} to {_fmt(b['loa_low_ci_high'])})",
                         f"{_fmt(b['loa_high'])} ({_fmt(b['loa_high_ci_low'])} to {_fmt(b['loa_high_ci_high'])})",
                         f"{_fmt(b['prop_bias_slope'])} (p {_fp(b['prop_bias_p'])})"]
                        + ([_fmt(t)] if truth is not None else []))
        parts.append(table(["Comparison (A − B)", "n", "Bias", "95% CI", "SD", "Lower LoA (95% CI)",
                             "Upper LoA (95% CI)", "Proportional bias slope"]
                            + (["Planted bias"] if truth is not None else []), rows))
        parts.append("<p class='note'>Differences A − B of the overall VBQ. Bias with its t-based 95% CI; limits "
                     "of agreement bias ± 1.96 SD with approximate 95% CIs (± t·√(3s²/n), Bland &amp; Altman "
                     "1999); proportional bias: least-squares regression of the difference on the mean.</p>")
        for name, (png, _svg) in figs.items():
            parts.append(img(png, f"Bland-Altman plot {name}"))
    ov = results.get("overlap") or {}
    if ov:
        det = results.get("overlap_detail") or {}
        parts.append(f"<{h1}>Segmentation overlap ({esc(det.get('pair', ''))})</{h1}>")
        rows = [[esc(lv), _fmt(m.get("dice")), _fmt(m.get("jaccard")), _fmt(m.get("hd95_mm"), 2),
                 _fmt(m.get("hd_max_mm"), 2), _fmt(m.get("volume_a_mm3"), 1), _fmt(m.get("volume_b_mm3"), 1),
                 _fmt(m.get("volume_diff_mm3"), 1)] + ([m.get("n_cases")] if det.get("n_cases", 1) > 1 else [])
                for lv, m in ov.items()]
        parts.append(table(["Level", "Dice", "Jaccard", "HD95 (mm)", "HD max (mm)", "Volume A (mm³)",
                             "Volume B (mm³)", "A − B (mm³)"] + (["Cases"] if det.get("n_cases", 1) > 1 else []),
                            rows))
        parts.append("<p class='note'>On the MRI grid (segments mapped as <code>vbq score</code> maps them). Dice, "
                     "Jaccard: SimpleITK LabelOverlapMeasuresImageFilter; HD max: HausdorffDistanceImageFilter; "
                     "HD95: the larger of the two directed 95th percentiles of surface-voxel distances "
                     "(LabelContour + SignedMaurerDistanceMap)"
                     + (f"; means over {det['n_cases']} cases (per case in tables/overlap.csv)"
                        if det.get("n_cases", 1) > 1 else "") + ".</p>")
    if results.get("warnings"):
        parts.append("<ul class='warn'>" + "".join(f"<li>{esc(w)}</li>" for w in results["warnings"]) + "</ul>")
    return "\n".join(parts)


def cohort_report_figures(agreement: dict, frames: dict | None) -> dict:
    """The Bland-Altman PNGs for a cohort report (:func:`VBQCohortLib.report.make_figures`), named
    ``bland_altman_<comparison>``."""
    return {f"bland_altman_{slug(name)}": png for name, (png, _svg) in ba_figures(agreement, frames).items()}


def _bias_text(bias) -> str:
    """``{'R1': 0.0, 'R2': 0.1}`` as a reader reads it: "R1 0.00, R2 +0.10" (no Python repr)."""
    if isinstance(bias, dict):
        return ", ".join(f"{k} {v:+.2f}" if isinstance(v, (int, float)) and v else f"{k} 0.00"
                         for k, v in bias.items())
    return "" if bias is None else str(bias)


def cohort_report_section(results: dict, figs: dict) -> str:
    """The agreement section of a cohort report (the demo's reliability substudy, with its planted values)."""
    agreement = results["agreement"]
    own = {name: (figs[f"bland_altman_{slug(name)}"], None) for name in agreement.get("bland_altman") or {}
           if figs.get(f"bland_altman_{slug(name)}")}
    planted = (results.get("demo") or {}).get("reliability") or {}
    intro = ""
    if planted:
        intro = (f"<p class='box warn'>Synthetic reliability substudy: readers R1 and R2 read the phantom MRIs "
                 f"with planned biases {esc(_bias_text(planted.get('reader_bias')))} and reading noise SD "
                 f"{esc(planted.get('noise_sd'))}; R1 re-read {len(planted.get('reread_cases') or [])} of them; R2's "
                 f"segmentations of {len(planted.get('overlap_cases') or [])} phantoms are shifted by "
                 f"{esc(planted.get('overlap_shift_mm'))} mm. The full agreement report is in "
                 f"<code>agreement/report.html</code>.</p>")
    return ("<h2>Reader agreement (reliability substudy)</h2>" + intro
            + agreement_section_html(agreement, figs=own, heading="h3", truth=planted.get("planted_bias")))


def render_agreement_html(results: dict, frames: dict | None = None, figs: dict | None = None) -> str:
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>VBQ reader agreement</title>"
             f"<style>{CSS}</style></head><body><h1>VBQ reader agreement</h1>"
             f"<p class='note'>Generated {esc(results.get('created_utc'))} by SlicerVBQ"
             + (f" (<code>{esc(results['command'])}</code>)" if results.get("command") else "") + ".</p>"]
    parts.append(agreement_section_html(results, frames, figs=figs))
    rows = [[esc(k), esc(v)] for k, v in (results.get("versions") or {}).items()]
    for s in (results.get("design") or {}).get("sources") or []:
        rows.append(["input", esc(s)])
    parts.append("<h2>Provenance</h2>" + table(["Item", "Value"], rows))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_agreement(results: dict, out_dir, frames: dict | None = None, *, dpi: int = 300,
                    figure_width=None) -> dict:
    """Write ``agreement.json``, ``report.html``, ``tables/*.csv``, ``figures/bland_altman_*.{pdf,svg,png,tiff}``
    into ``out_dir`` atomically (figures as the cohort report's: PDF and SVG with TrueType text, PNG and LZW
    TIFF at ``dpi``, ``figure_width`` single|double|mm). Returns the paths."""
    from ..publication.figures import capture_figures, save_figure, width_mm

    width = width_mm(figure_width) if figure_width is not None else None
    with capture_figures() as drawn:
        figs = ba_figures(results, frames)
    tables = agreement_tables(results, frames)
    page = render_agreement_html(results, frames, figs)
    text = json.dumps(results, indent=1, allow_nan=False)
    out_dir = Path(out_dir)

    def fill(tmp: Path) -> None:
        (tmp / "agreement.json").write_text(text, encoding="utf-8")
        (tmp / "report.html").write_text(page, encoding="utf-8")
        (tmp / "tables").mkdir()
        for name, df in tables.items():
            safe_frame(df).to_csv(tmp / "tables" / f"{name}.csv", index=False)
        if figs:
            (tmp / "figures").mkdir()
            for name, (png, svg) in figs.items():
                if id(png) in drawn:
                    save_figure(drawn[id(png)][0], tmp / "figures", f"bland_altman_{slug(name)}", dpi=dpi,
                                width=width)
                else:
                    (tmp / "figures" / f"bland_altman_{slug(name)}.png").write_bytes(png)
                    (tmp / "figures" / f"bland_altman_{slug(name)}.svg").write_bytes(svg)

    write_report_folder(out_dir, LIST_FILE, AGREEMENT_FILES, fill, extensions=("csv", "png", "svg", "pdf", "tiff"))
    return {"agreement": out_dir / "agreement.json", "report": out_dir / "report.html",
            "tables": out_dir / "tables", "figures": out_dir / "figures"}


__all__ = ["write_agreement", "agreement_tables", "agreement_section_html", "ba_figures", "ba_figure",
           "render_agreement_html", "ICC_TYPES"]
