"""The diagnostic-accuracy report folder: ``diagnostic.json``, ``report.html`` (self-contained), ``tables/*.csv``
and ``figures/*.png`` + ``figures/*.svg`` (ROC curves with the Youden point(s), scatter plots with the fitted
line), written atomically (:func:`VBQCohortLib.report.html.write_report_folder`: on error nothing is written; files an
earlier run listed and this one did not write are removed).

Figures use matplotlib's Agg backend through ``matplotlib.figure.Figure`` (no pyplot state); PNG at 300 dpi and
SVG (vector) for journals. Text cells of the CSV tables that start with ``=``, ``+``, ``-`` or ``@`` get a
leading apostrophe so that a spreadsheet does not run them as formulas.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from pathlib import Path

import numpy as np

from VBQScoreLib.csv_safe import safe_frame

__all__ = ["write_diagnostic_report", "summary_sentences", "make_tables", "render_html", "slug"]

PLOT_POINTS = 4000      # ROC curve points drawn (the tables hold all of them)
SCATTER_POINTS = 20000  # scatter points drawn (a seeded random subset beyond this)
COLORS = ("#c0392b", "#2471a3", "#229954", "#8e44ad", "#d68910", "#17a589", "#5d6d7e")
CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:right;vertical-align:top}
th{background:#f3f5f7;text-align:center}td:first-child{text-align:left;font-weight:600}
.note{color:#555;font-size:.9em}.box{background:#f7f9fb;border:1px solid #dde3ea;padding:.8em 1em;border-radius:4px}
.methods{background:#fcfcf6;border-left:4px solid #c9b458;padding:.6em 1em}
img{max-width:100%;height:auto;display:block;margin:.5em 0 1em}.warn{color:#a04000}
"""


def esc(s) -> str:
    return html.escape(str(s))


def fmt(x, d=3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, int) and not isinstance(x, bool):
        return str(x)
    return f"{x:.{d}f}"


def fmt_p(p) -> str:
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(s)).strip("_.") or "x"


def _table(headers, rows) -> str:
    h = "".join(f"<th>{esc(c)}</th>" for c in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def _ci(lo, hi, d=3) -> str:
    return f"{fmt(lo, d)}–{fmt(hi, d)}"


# ---------------------------------------------------------------------------------------------------------------

def summary_sentences(res: dict) -> list[str]:
    out = []
    for label, cond in res.get("conditions", {}).items():
        for m, e in cond["roc"].items():
            s = (f"{m} for {label}: AUC {fmt(e['auc'])} (95% CI {_ci(e['ci_low'], e['ci_high'])}, DeLong), "
                 f"{e['n_cases']} positive / {e['n_controls']} negative")
            if e["youden"]:
                y = e["youden"][0]
                more = f" (and {len(e['youden']) - 1} tied)" if len(e["youden"]) > 1 else ""
                s += (f"; Youden cut-off {e['positive_if'].split()[1]} {y['threshold']:.4g}{more}: sensitivity "
                      f"{fmt(y['sensitivity'], 2)}, specificity {fmt(y['specificity'], 2)}")
            out.append(s + ".")
        for k, t in cond.get("roc_tests", {}).items():
            if t.get("z") is not None:
                out.append(f"{k} ({label}): AUC {fmt(t['auc_a'])} vs {fmt(t['auc_b'])}, DeLong Z = {t['z']:.3f}, "
                           f"p = {fmt_p(t['p'])}.")
    for k, c in res.get("correlation", {}).items():
        p, s = c["pearson"], c["spearman"]
        out.append(f"{k}: Pearson r = {fmt(p['r'])} (95% CI {_ci(p['ci_low'], p['ci_high'])}, p = {fmt_p(p['p'])}), "
                   f"Spearman rho = {fmt(s['rho'])} (p = {fmt_p(s['p'])}), n = {c['n']}.")
    return out


def _neutral(v):
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@"):
        return "'" + v
    return v


def make_tables(res: dict, frames: dict | None = None) -> dict:
    """``{name: DataFrame}`` of tables/*.csv."""
    import pandas as pd

    roc_rows, cut_rows, test_rows, cor_rows, model_rows, exc_rows = [], [], [], [], [], []
    curves = {}
    for ci, (label, cond) in enumerate(res.get("conditions", {}).items(), 1):
        for m, e in cond["roc"].items():
            b = e.get("bootstrap") or {}
            roc_rows.append({"condition": label, "marker": m, "n": e["n"], "n_positive": e["n_cases"],
                             "n_negative": e["n_controls"], "n_excluded": e["n_excluded"],
                             "direction": e["direction"], "positive_if": e["positive_if"], "auc": e["auc"],
                             "ci_low": e["ci_low"], "ci_high": e["ci_high"], "ci_method": e["ci_method"],
                             "bootstrap_ci_low": b.get("ci_low"), "bootstrap_ci_high": b.get("ci_high")})
            pts = [("youden", y) for y in e["youden"]] + [("given threshold", y) for y in e["at_threshold"]]
            for key in ("at_sensitivity", "at_specificity"):
                if e.get(key):
                    pts.append((f"{key.replace('_', ' ')} {e[key]['target']:g}", e[key]["operating_point"]))
            for kind, y in pts:
                cut_rows.append({"condition": label, "marker": m, "cut_off": kind, "threshold": y["threshold"],
                                 "positive_if": y["positive_if"],
                                 **{k: y[k] for k in ("sensitivity", "sensitivity_ci_low", "sensitivity_ci_high",
                                                      "specificity", "specificity_ci_low", "specificity_ci_high",
                                                      "ppv", "npv", "lr_positive", "lr_negative", "tp", "fp", "tn",
                                                      "fn")}})
            for x in e["excluded"]:
                exc_rows.append({"analysis": f"ROC {m} | {label}", **x})
            r = (frames or {}).get("rocs", {}).get((label, m))
            if r is not None:
                curves[f"roc_curve_{ci}_{slug(m)}"] = pd.DataFrame({
                    "threshold": r.thresholds, "sensitivity": r.sensitivities, "specificity": r.specificities})
            else:
                curves[f"roc_curve_{ci}_{slug(m)}"] = pd.DataFrame(e["curve"])
        for k, t in cond.get("roc_tests", {}).items():
            test_rows.append({"condition": label, "comparison": k, "n": t["n"], "auc_a": t["auc_a"],
                              "auc_b": t["auc_b"], "z": t["z"], "p": t["p"], "method": t["method"],
                              "warning": t.get("warning") or t.get("note")})
        for m, mo in (cond.get("model") or {}).items():
            model_rows.append({"condition": label, "marker": m, "formula": mo["formula"], "n": mo["n"],
                               "n_events": mo["n_events"], "or_per_unit": mo["or_per_unit"]["odds_ratio"],
                               "or_per_unit_ci_low": mo["or_per_unit"]["ci_low"],
                               "or_per_unit_ci_high": mo["or_per_unit"]["ci_high"], "p": mo["or_per_unit"]["p"],
                               "sd": mo["or_per_sd"]["sd"], "or_per_sd": mo["or_per_sd"]["odds_ratio"],
                               "or_per_sd_ci_low": mo["or_per_sd"]["ci_low"],
                               "or_per_sd_ci_high": mo["or_per_sd"]["ci_high"], "model_auc": mo["auc"],
                               "model_auc_ci_low": mo["ci_low"], "model_auc_ci_high": mo["ci_high"]})
    for k, c in res.get("correlation", {}).items():
        p, s = c["pearson"], c["spearman"]
        cor_rows.append({"pair": k, "n": c["n"], "n_excluded": c["n_excluded"], "pearson_r": p["r"],
                         "pearson_ci_low": p["ci_low"], "pearson_ci_high": p["ci_high"], "t": p["t"], "df": p["df"],
                         "pearson_p": p["p"], "spearman_rho": s["rho"], "S": s["S"], "spearman_p": s["p"],
                         "spearman_method": s["method"]})
        for x in c["excluded"]:
            exc_rows.append({"analysis": f"correlation {k}", **x})
    tables = {"roc": pd.DataFrame(roc_rows), "cutoffs": pd.DataFrame(cut_rows)}
    if test_rows:
        tables["roc_tests"] = pd.DataFrame(test_rows)
    if cor_rows:
        tables["correlation"] = pd.DataFrame(cor_rows)
    if model_rows:
        tables["model"] = pd.DataFrame(model_rows)
    tables["excluded"] = pd.DataFrame(exc_rows, columns=["analysis", "row", "id", "reason"]) if exc_rows else \
        pd.DataFrame(columns=["analysis", "row", "reason"])
    tables.update(curves)
    for _name, df in tables.items():
        for col in df.columns:
            if df[col].dtype == object:
                df[col] = df[col].map(_neutral)
    return tables


# ---------------------------------------------------------------------------------------------------------------
# figures

def _figure(w=5.0, h=5.0):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h))


def _save(fig) -> tuple[bytes, bytes]:
    from ..publication.figures import note_figure

    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=300, bbox_inches="tight")
    fig.savefig(svg, format="svg", bbox_inches="tight")
    # kept for the journal exports (PDF/SVG with TrueType text, PNG and LZW TIFF at --dpi, --figure-width)
    return note_figure(fig, png.getvalue()), svg.getvalue()


def fig_roc(label: str, cond: dict, frames: dict | None):
    fig = _figure()
    ax = fig.add_subplot(111)
    ax.plot([0, 1], [0, 1], color="#bbb", lw=1, ls="--")
    for k, (m, e) in enumerate(cond["roc"].items()):
        col = COLORS[k % len(COLORS)]
        r = (frames or {}).get("rocs", {}).get((label, m))
        if r is not None and r.thresholds.size <= PLOT_POINTS:
            fpr, tpr = 1 - r.specificities, r.sensitivities
        elif r is not None:  # a large curve: every k-th point (and the ends) draws the same picture
            idx = np.unique(np.concatenate((np.linspace(0, r.thresholds.size - 1, PLOT_POINTS).round().astype(int),
                                            [0, r.thresholds.size - 1])))
            fpr, tpr = 1 - r.specificities[idx], r.sensitivities[idx]
        else:
            fpr = np.array([1 - p["specificity"] for p in e["curve"]])
            tpr = np.array([p["sensitivity"] for p in e["curve"]])
        ax.plot(fpr, tpr, color=col, lw=1.6, drawstyle="default",
                label=f"{m}: AUC {e['auc']:.3f} ({e['ci_low']:.3f}–{e['ci_high']:.3f})")
        for y in e["youden"]:
            ax.plot([1 - y["specificity"]], [y["sensitivity"]], "o", color=col, ms=6, mec="k", mew=0.6)
            ax.annotate(f"{y['threshold']:.3g}", (1 - y["specificity"], y["sensitivity"]), textcoords="offset points",
                        xytext=(6, -10 - 9 * k), fontsize=7, color=col)
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("1 − specificity")
    ax.set_ylabel("Sensitivity")
    ax.set_title(f"ROC: {label}", fontsize=10)
    ax.legend(loc="lower right", fontsize=7, frameon=False)
    return _save(fig)


def fig_scatter(m: str, c: str, x: np.ndarray, y: np.ndarray, cor: dict):
    fig = _figure(5.0, 4.0)
    ax = fig.add_subplot(111)
    shown = np.arange(x.size)
    if x.size > SCATTER_POINTS:  # a random (seeded) subset is drawn; the line is fitted on all points
        shown = np.sort(np.random.default_rng(0).choice(x.size, SCATTER_POINTS, replace=False))
    ax.scatter(x[shown], y[shown], s=8 if x.size < 2000 else 2, alpha=0.6 if x.size < 2000 else 0.25,
               color=COLORS[1], lw=0)
    if x.size >= 2 and np.ptp(x) > 0:
        b, a = np.polyfit(x, y, 1)
        xs = np.array([x.min(), x.max()])
        ax.plot(xs, a + b * xs, color=COLORS[0], lw=1.5)
    p, s = cor["pearson"], cor["spearman"]
    ax.set_xlabel(m)
    ax.set_ylabel(c)
    more = f" ({shown.size:,} shown)" if shown.size < x.size else ""
    ax.set_title(f"{m} vs {c}: r = {fmt(p['r'], 2)}, rho = {fmt(s['rho'], 2)}, n = {cor['n']:,}{more}", fontsize=9)
    return _save(fig)


def make_figures(res: dict, frames: dict | None) -> dict:
    figs = {}
    for ci, (label, cond) in enumerate(res.get("conditions", {}).items(), 1):
        figs[f"roc_{ci}"] = fig_roc(label, cond, frames)
    num = (frames or {}).get("num") or {}
    for k, c in res.get("correlation", {}).items():
        m, col = k.split(" vs ", 1)
        if m in num and col in num:
            ok = np.isfinite(num[m]) & np.isfinite(num[col])
            figs[f"scatter_{slug(m)}_vs_{slug(col)}"] = fig_scatter(m, col, num[m][ok], num[col][ok], c)
    return figs


# ---------------------------------------------------------------------------------------------------------------

def _img(png: bytes | None, alt: str) -> str:
    if not png:
        return ""
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def render_html(res: dict, figs: dict, title: str = "Diagnostic accuracy") -> str:
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1>"
             f"<p class='note'>Generated {esc(res['provenance']['created_utc'])} by SlicerVBQ "
             f"{esc(res['provenance']['software']['version'])}. ROC and DeLong as R pROC 1.18; correlation as R "
             f"cor.test.</p>"]
    if res.get("plan"):
        pl = res["plan"]
        parts.append(f"<p class='note'>Plan <code>{esc(pl.get('name'))}</code>"
                     f"{' — ' + esc(pl['citation']) if pl.get('citation') else ''}.</p>")
    if res.get("demo"):
        rows = [[esc(k), fmt(v["planted_auc"]), fmt(v["auc"]), _ci(v["ci_low"], v["ci_high"]),
                 "yes" if v["covered"] else "no"] for k, v in res["demo"].get("recovered", {}).items()]
        parts.append(f"<div class='box warn'>{esc(res['demo'].get('note', ''))}" +
                     _table(["Condition", "planted AUC", "AUC", "95% CI", "planted in CI"], rows) + "</div>")
    parts.append("<h2>Summary</h2><div class='box'><ul>" +
                 "".join(f"<li>{esc(s)}</li>" for s in summary_sentences(res)) + "</ul></div>")
    parts.append(f"<h2>Methods</h2><p class='methods'>{esc(res['methods'])}</p>")
    for ci, (label, cond) in enumerate(res.get("conditions", {}).items(), 1):
        parts.append(f"<h2>ROC: {esc(label)}</h2><p class='note'>{cond['n_positive']} positive, "
                     f"{cond['n_negative']} negative, {cond['n_missing']} without a value of "
                     f"<code>{esc(cond['column'])}</code>.</p>")
        rows = []
        for m, e in cond["roc"].items():
            b = e.get("bootstrap")
            rows.append([esc(m), e["n"], e["n_cases"], e["n_controls"], e["n_excluded"], esc(e["direction"]),
                         fmt(e["auc"]), _ci(e["ci_low"], e["ci_high"]),
                         _ci(b["ci_low"], b["ci_high"]) if b else "–"])
        parts.append(_table(["Marker", "n", "positive", "negative", "excluded", "direction", "AUC",
                             "95% CI (DeLong)", "95% CI (bootstrap)"], rows))
        rows = []
        for m, e in cond["roc"].items():
            pts = [("Youden", y) for y in e["youden"]] + [("given", y) for y in e["at_threshold"]]
            for key in ("at_sensitivity", "at_specificity"):
                if e.get(key):
                    pts.append((f"{key.split('_')[1]} ≥ {e[key]['target']:g}", e[key]["operating_point"]))
            for kind, y in pts:
                rows.append([esc(m), esc(kind), esc(y["positive_if"]),
                             f"{fmt(y['sensitivity'])} ({_ci(y['sensitivity_ci_low'], y['sensitivity_ci_high'])})",
                             f"{fmt(y['specificity'])} ({_ci(y['specificity_ci_low'], y['specificity_ci_high'])})",
                             fmt(y["ppv"]), fmt(y["npv"]), fmt(y["lr_positive"], 2), fmt(y["lr_negative"], 2),
                             f"{y['tp']}/{y['fp']}/{y['fn']}/{y['tn']}"])
        parts.append("<h3>Cut-offs</h3>" + _table(["Marker", "cut-off", "positive if", "Sensitivity (95% CI)",
                                                   "Specificity (95% CI)", "PPV", "NPV", "LR+", "LR−",
                                                   "TP/FP/FN/TN"], rows))
        parts.append(_img(figs.get(f"roc_{ci}", (None,))[0], f"ROC curves for {label}"))
        if cond.get("roc_tests"):
            rows = [[esc(k), t["n"], fmt(t["auc_a"]), fmt(t["auc_b"]), fmt(t["z"]), fmt_p(t["p"]),
                     esc(t.get("warning") or t.get("note") or "")] for k, t in cond["roc_tests"].items()]
            parts.append("<h3>Paired DeLong tests</h3>" + _table(["Comparison", "n", "AUC A", "AUC B", "Z", "p",
                                                                  "note"], rows))
        if cond.get("model"):
            rows = [[esc(m), esc(mo["formula"]), mo["n"], mo["n_events"],
                     f"{fmt(mo['or_per_unit']['odds_ratio'], 2)} "
                     f"({_ci(mo['or_per_unit']['ci_low'], mo['or_per_unit']['ci_high'], 2)})",
                     f"{fmt(mo['or_per_sd']['odds_ratio'], 2)} "
                     f"({_ci(mo['or_per_sd']['ci_low'], mo['or_per_sd']['ci_high'], 2)})",
                     fmt_p(mo["or_per_unit"]["p"]), f"{fmt(mo['auc'])} ({_ci(mo['ci_low'], mo['ci_high'])})"]
                    for m, mo in cond["model"].items()]
            parts.append("<h3>Adjusted model (logistic regression)</h3>" + _table(
                ["Marker", "model", "n", "events", "OR per unit (95% CI)", "OR per SD (95% CI)", "p",
                 "model AUC (95% CI)"], rows))
    if res.get("correlation"):
        rows = []
        for k, c in res["correlation"].items():
            p, s = c["pearson"], c["spearman"]
            rows.append([esc(k), c["n"], fmt(p["r"]), _ci(p["ci_low"], p["ci_high"]), fmt_p(p["p"]), fmt(s["rho"]),
                         fmt_p(s["p"]), esc(s["method"])])
        parts.append("<h2>Correlation</h2>" + _table(["Pair", "n", "Pearson r", "95% CI", "p", "Spearman rho", "p",
                                                      "Spearman p-value"], rows))
        for name, (png, _svg) in figs.items():
            if name.startswith("scatter_"):
                parts.append(_img(png, name))
    exc = [(k, e) for cond in res.get("conditions", {}).values() for k, e in cond["roc"].items() if e["excluded"]]
    parts.append("<h2>Complete cases</h2><p class='note'>Each analysis uses the rows complete for it; the excluded "
                 "rows are listed in tables/excluded.csv.</p>")
    rows = [[esc(f"ROC {m} | {label}"), e["n"], e["n_excluded"]] for label, cond in res.get("conditions", {}).items()
            for m, e in cond["roc"].items()]
    rows += [[esc(f"correlation {k}"), c["n"], c["n_excluded"]] for k, c in res.get("correlation", {}).items()]
    parts.append(_table(["Analysis", "n analysed", "n excluded"], rows))
    del exc
    if res.get("warnings"):
        parts.append("<h2>Warnings</h2><ul>" + "".join(f"<li class='warn'>{esc(w)}</li>" for w in res["warnings"])
                     + "</ul>")
    prov = res["provenance"]
    parts.append("<h2>Provenance</h2><p class='note'>" + esc(prov.get("command") or "") + "</p>" +
                 _table(["Input", "SHA-256"], [[esc(i["path"]), esc(i.get("sha256") or "–")] for i in prov["inputs"]]))
    parts.append("</body></html>")
    return "".join(parts)


REPORT_FILES = ".vbq_diagnostic_files.json"


def write_diagnostic_report(res: dict, out_dir, frames: dict | None = None, *, progress=None, dpi: int = 300,
                            figure_width=None) -> dict:
    """Write diagnostic.json, report.html, tables/*.csv and figures/*.{pdf,svg,png,tiff} into ``out_dir``
    atomically; the figures as the cohort report's (:func:`VBQCohortLib.publication.figures.save_figure`:
    PDF and SVG with TrueType text, PNG and LZW TIFF at ``dpi``, ``figure_width`` single|double|mm)."""
    from VBQScoreLib.json_text import dumps
    from VBQScoreLib.progress import report

    from ..publication.figures import capture_figures, save_figure, width_mm
    from ..report.html import write_report_folder

    width = width_mm(figure_width) if figure_width is not None else None
    report(progress, 0, 3, "figures")
    with capture_figures() as drawn:
        figs = make_figures(res, frames)
    tables = make_tables(res, frames)
    report(progress, 1, 3, "report")
    page = render_html(res, figs)
    text = dumps(res, indent=1)
    def fill(tmp: Path) -> None:
        (tmp / "diagnostic.json").write_text(text, encoding="utf-8")
        (tmp / "report.html").write_text(page, encoding="utf-8")
        (tmp / "tables").mkdir()
        for name, df in tables.items():
            safe_frame(df).to_csv(tmp / "tables" / f"{name}.csv", index=False)  # OWASP: text cells quoted
        (tmp / "figures").mkdir()
        for name, (png, svg) in figs.items():
            if id(png) in drawn:
                save_figure(drawn[id(png)][0], tmp / "figures", name, dpi=dpi, width=width)
            else:
                (tmp / "figures" / f"{name}.png").write_bytes(png)
                (tmp / "figures" / f"{name}.svg").write_bytes(svg)

    out_dir = write_report_folder(out_dir, REPORT_FILES, ("diagnostic.json", "report.html"), fill)
    report(progress, 3, 3, "written")
    return {"json": out_dir / "diagnostic.json", "report": out_dir / "report.html", "tables": out_dir / "tables",
            "figures": out_dir / "figures"}


def roc_plot_columns(res: dict, frames: dict | None = None, condition: str | None = None) -> dict:
    """Plot data of one condition's ROC curves (Slicer plot nodes, or any plotting tool):
    ``{marker: {"curve": {"fpr": [...], "sensitivity": [...], "threshold": [...]}, "youden": {...}}}`` with the
    curve from the full curve in ``frames`` when given (else the curve points of ``res``) and the Youden
    point(s). ``condition``: a label of ``res["conditions"]`` (default: the first)."""
    label = condition or res.get("condition")
    cond = res["conditions"][label]
    out = {}
    for m, e in cond["roc"].items():
        r = (frames or {}).get("rocs", {}).get((label, m))
        if r is not None:
            sp, se, th = r.specificities.tolist(), r.sensitivities.tolist(), r.thresholds.tolist()
        else:
            sp = [p["specificity"] for p in e["curve"]]
            se = [p["sensitivity"] for p in e["curve"]]
            th = [p["threshold"] for p in e["curve"]]
        th = [t if t is not None and math.isfinite(t) else None for t in th]
        out[m] = {"curve": {"fpr": [1 - s for s in sp], "sensitivity": se, "threshold": th},
                  "youden": {"fpr": [1 - y["specificity"] for y in e["youden"]],
                             "sensitivity": [y["sensitivity"] for y in e["youden"]],
                             "threshold": [y["threshold"] for y in e["youden"]]}}
    return out
