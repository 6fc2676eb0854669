"""The last gaps of issue 17: the overall VBQ as a row of the per-level comparison (outside the Holm family of
the levels), readable labels in the balance and logistic tables, plain reliability sentences, journal exports of
the Bland-Altman and diagnostic figures, labels in the Slicer tables."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from VBQCohortLib.analysis import run_analysis
from VBQCohortLib.analysis.run import TREAT_COL
from VBQCohortLib.report import write_report


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    from VBQCohortLib.analysis.plan import load_plan
    from VBQCohortLib.demo import make_cohort

    d = tmp_path_factory.mktemp("pubfin")
    p = d / "c.csv"
    make_cohort(160, 5).to_csv(p, index=False)
    plan = load_plan("lu2024").to_dict()
    r, frames = run_analysis(p, plan, return_frames=True)
    out = d / "out"
    write_report(r, out, frames, dpi=100, figure_width="single")
    return r, frames, out


def _holm(ps):
    """Holm's step-down adjustment written out (R p.adjust(method = "holm"))."""
    ps = np.asarray(ps, dtype=float)
    order = np.argsort(ps)
    m = len(ps)
    adj = np.empty(m)
    run = 0.0
    for k, i in enumerate(order):
        run = max(run, (m - k) * ps[i])
        adj[i] = min(1.0, run)
    return adj


def test_overall_vbq_row_numbers_and_outside_the_holm_family(report_dir):
    r, frames, _ = report_dir
    comp = r["comparison"]
    ov = comp["overall"]
    assert ov["level"] == "Overall (mean of levels)"
    levels = list(comp["levels"])
    m = frames["matched"]
    mean = m[levels].mean(axis=1, skipna=False)
    a = mean[m[TREAT_COL] == 1].dropna().to_numpy()
    b = mean[m[TREAT_COL] == 0].dropna().to_numpy()
    rs = ov["ranksum"]
    ref = sps.mannwhitneyu(a, b, alternative="two-sided", use_continuity=True,
                           method="exact" if rs["exact"] else "asymptotic")
    assert rs["W"] == pytest.approx(ref.statistic) and rs["p"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert ov["describe"]["OPLL"]["median"] == pytest.approx(float(np.median(a)))
    assert "p_holm" not in rs and "p_adj" not in rs and rs["p_adjust"] == "none"
    assert ov["signed_rank"]["p"] is not None and "p_holm" not in ov["signed_rank"]
    # the six levels' Holm p-values are Holm over the six levels only
    raw = [comp["levels"][c]["ranksum"]["p"] for c in levels]
    got = [comp["levels"][c]["ranksum"]["p_holm"] for c in levels]
    assert got == pytest.approx(list(_holm(raw)))
    assert len(levels) == 6


def test_overall_vbq_row_in_html_csv_and_word(report_dir):
    r, _, out = report_dir
    ov = r["comparison"]["overall"]
    html = (out / "report.html").read_text(encoding="utf-8")
    table = html.split('<table class="comparison">')[1].split("</table>")[0]
    row = re.search(r"<tr[^>]*><td>Overall \(mean of levels\)</td>(.*?)</tr>", table)
    assert row, "no overall row in the per-level table"
    cells = re.findall(r"<td>(.*?)</td>", row.group(1))
    d = ov["describe"]["OPLL"]
    assert cells[1] == f"{d['median']:.2f} ({d['q1']:.2f}–{d['q3']:.2f})"
    assert cells[8] == "–"  # no Holm-adjusted p for the overall VBQ
    assert "not part of the family of levels adjusted for multiple testing" in html
    csv = pd.read_csv(out / "tables" / "comparison.csv")
    last = csv.iloc[-1]
    assert last["column"] == "vbq_overall" and last["level"] == "Overall (mean of levels)"
    assert last["ranksum_p"] == pytest.approx(ov["ranksum"]["p"]) and pd.isna(last["ranksum_p_adj"])
    from docx import Document

    doc = Document(out / "report.docx")
    per_level = [t for t in doc.tables if any(c.text == "Wilcoxon rank-sum" for c in t.rows[0].cells)][0]
    first = [row.cells[0].text for row in per_level.rows]
    assert "Overall (mean of levels)" in first
    i = first.index("Overall (mean of levels)")
    assert per_level.rows[i].cells[4].text == "–"
    notes = "\n".join(p.text for p in doc.paragraphs)
    assert "not part of the family of levels adjusted for multiple testing" in notes


def test_balance_and_logistic_html_use_labels_and_two_decimals(report_dir):
    r, _, out = report_dir
    html = (out / "report.html").read_text(encoding="utf-8")
    bal_html = html.split("<h3>Covariate balance</h3>")[1].split("</table>")[0]
    bal = r["matching"]["balance"]
    smd_age = bal["before"]["age"]["Std. Mean Diff."]
    assert f"<td>Age (years)</td><td>{bal['before']['age']['Means Treated']:.2f}</td>" in bal_html
    assert f"<td>{smd_age:.2f}</td>" in bal_html and f"<td>{smd_age:.3f}</td>" not in bal_html
    assert "<td>Propensity score (logit)</td>" in bal_html
    assert "<td>distance</td>" not in bal_html and "<td>calcium_supplement</td>" not in bal_html
    assert "<td>Calcium supplement</td>" in bal_html
    # MatchIt's "All (ESS)" spelled out and explained
    assert "All (ESS)" not in html and "<td>All, effective sample size</td>" in html
    assert "Effective sample size (Kish)" in html
    lg = html.split("<h2>Logistic regression")[1].split("</table>")[0]
    assert "<td>Hypertension (yes vs no)</td><td><code>hypertensionyes</code></td>" in lg
    # R's term names stay in the JSON and the CSVs
    assert "distance" in pd.read_csv(out / "tables" / "balance.csv")["covariate"].tolist()
    assert "hypertensionyes" in pd.read_csv(out / "tables" / "logistic.csv")["term"].tolist()


def test_reliability_design_in_plain_sentences():
    from VBQCohortLib.agreement.report import _lead_table, design_sentence

    assert design_sentence(8, 2, 8, raters="sessions") == (
        "8 cases, 2 sessions; 8 cases left out because they lack a value from one of the sessions "
        "(the ICC uses complete cases)")
    assert design_sentence(16, 2, 0) == "16 cases, 2 readers"
    assert design_sentence(15, 3, 1) == ("15 cases, 3 readers; 1 case left out because it lacks a value from one "
                                         "of the readers (the ICC uses complete cases)")
    row = {"icc": 0.9, "lower": 0.8, "upper": 0.95, "p": 0.001, "n_cases": 8, "n_raters": 2, "n_excluded": 8,
           "koo_li_ci": "good to excellent"}
    html = _lead_table("t", {"R1": [dict(row, type=t) for t in ("ICC1", "ICC2", "ICC3")]}, raters="sessions")
    assert "Raters" not in html and "Left out" not in html
    assert "<td>8 cases, 2 sessions; 8 cases left out because" in html


def test_demo_report_reliability_and_one_method_per_sentence(tmp_path):
    from vbq_cli.main import main

    assert main(["demo", "--out", str(tmp_path / "d")]) == 0
    html = (tmp_path / "d" / "report.html").read_text(encoding="utf-8")
    assert "Left out" not in html and "<th>Raters</th>" not in html
    assert "cases left out because they lack a value from one of the sessions" in html
    # the demo's ICC 0.945 has a 95% CI from about 0.01 to 0.99: read from the CI, not called "excellent"
    assert "poor to excellent reliability by Koo &amp; Li, read from the 95% CI" in html
    assert "excellent by Koo" not in html
    # no note runs two methods together: each method is its own sentence
    assert "exact test; Wilcoxon" not in html and "correction; Wilcoxon" not in html
    notes = re.findall(r'<table class="comparison">.*?</table><p class="note">(.*?)</p>', html, re.S)
    assert len(notes) == 2
    for n in notes:
        for sent in re.findall(r"Wilcoxon [^.:]*(?:[:.])", n):
            assert sent.count("Wilcoxon") == 1, sent


def _journal_formats(folder, name, dpi, width_mm=None):
    from PIL import Image

    for ext in ("pdf", "svg", "png", "tiff"):
        assert (folder / f"{name}.{ext}").is_file(), (name, ext)
    png = Image.open(folder / f"{name}.png")
    assert round(png.info["dpi"][0]) == dpi
    if width_mm is not None:
        # the figure is laid out at width_mm; the tight box drops the white margin around a square ROC plot
        assert 0.85 * width_mm / 25.4 * dpi <= png.size[0] <= 1.3 * width_mm / 25.4 * dpi, (name, png.size)
    assert Image.open(folder / f"{name}.tiff").info.get("compression") == "tiff_lzw"
    pdf = (folder / f"{name}.pdf").read_bytes()
    assert (b"/CIDFontType2" in pdf or b"/TrueType" in pdf) and b"/Type3" not in pdf
    assert b"<text" in (folder / f"{name}.svg").read_bytes()


def test_bland_altman_figures_in_journal_formats(tmp_path):
    from pathlib import Path

    from vbq_cli.main import main

    rref = Path(__file__).parent / "r_reference"
    out = tmp_path / "agr"
    assert main(["agreement", str(rref / "agreement_data_retest.csv"), "--out", str(out), "--quiet", "--dpi", "120",
                 "--figure-width", "single"]) == 0
    names = sorted(p.stem for p in (out / "figures").glob("bland_altman_*.pdf"))
    assert names, "no Bland-Altman PDF"
    for n in names:
        _journal_formats(out / "figures", n, 120, 85)
    assert main(["agreement", str(rref / "agreement_data_retest.csv"), "--out", str(tmp_path / "bad"), "--quiet",
                 "--dpi", "20"]) == 2


def test_diagnostic_figures_in_journal_formats(tmp_path):
    from pathlib import Path

    from vbq_cli.main import main

    asah = Path(__file__).parent / "r_reference" / "diagnostic_data_asah.csv"
    out = tmp_path / "diag"
    assert main(["cohort", "diagnostic", str(asah), "--marker", "s100b", "--condition", "outcome == Poor",
                 "--correlate", "age", "--out", str(out), "--quiet", "--dpi", "150", "--figure-width", "90"]) == 0
    for n in ("roc_1", "scatter_s100b_vs_age"):
        _journal_formats(out / "figures", n, 150, 90)


def test_cohort_report_exports_bland_altman_like_the_cohort_figures(tmp_path):
    from vbq_cli.main import main

    assert main(["demo", "--out", str(tmp_path / "d")]) == 0
    f = tmp_path / "d" / "figures"
    names = sorted(p.stem for p in f.glob("bland_altman_*.png"))
    assert names
    for n in names:
        _journal_formats(f, n, 300)
    for n in ("roc_1",):
        _journal_formats(tmp_path / "d" / "diagnostic" / "figures", n, 300)


def test_slicer_tables_get_the_report_labels(report_dir):
    """The label decision for VBQ Cohort's table nodes (VBQCohort.py only calls it)."""
    from VBQCohortLib.publication.cohort import labelled_frame

    r, _, out = report_dir
    bal = labelled_frame(r, "balance", pd.read_csv(out / "tables" / "balance.csv"))
    assert list(bal.columns[:2]) == ["label", "covariate"]
    got = dict(zip(bal["covariate"], bal["label"]))
    assert got["distance"] == "Propensity score (logit)" and got["age"] == "Age (years)"
    lg = labelled_frame(r, "logistic", pd.read_csv(out / "tables" / "logistic.csv"))
    assert dict(zip(lg["term"], lg["label"]))["hypertensionyes"] == "Hypertension (yes vs no)"
    ss = labelled_frame(r, "sample_sizes", pd.read_csv(out / "tables" / "sample_sizes.csv"))
    assert dict(zip(ss["sample"], ss["label"]))["All (ESS)"] == "All, effective sample size"
    seg = pd.read_csv(out / "tables" / "segmental.csv")
    assert labelled_frame(r, "segmental", seg) is seg
