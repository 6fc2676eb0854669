"""Journal output of `vbq cohort analyze` (issue 17): Table 1 in results.json / CSV / HTML / Word, tables.xlsx,
figures as PDF/SVG/PNG/TIFF, the flow diagram, labels, `vbq cohort match --table1`; the Word report rendered by
LibreOffice (pdf) and poppler (png)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zipfile

import numpy as np
import pandas as pd
import pytest

from vbq_cli.main import main
from VBQCohortLib.analysis import run_analysis
from VBQCohortLib.publication import excel, figures, flow, table1 as T
from VBQCohortLib.publication.word import Figure, Heading, Paragraph, Table, docx_bytes
from VBQCohortLib.report import write_report


def _cohort(n=160, seed=5):
    from VBQCohortLib.demo import make_cohort

    return make_cohort(n, seed)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("pub")
    p = d / "c.csv"
    _cohort().to_csv(p, index=False)
    from VBQCohortLib.analysis.plan import load_plan

    plan = load_plan("lu2024").to_dict()  # the built-in plan with a labels: section
    plan["labels"] = {"calcium_supplement": "Calcium supplementation",
                      "diet": {"label": "Diet",
                               "levels": "high_salt=High-salt;balanced=Balanced;vegetarian=Vegetarian"}}
    r, frames = run_analysis(p, plan, return_frames=True)
    out = d / "out"
    write_report(r, out, frames, dpi=150, figure_width="single")
    return p, r, frames, out


def test_results_table1_layout_and_numbers(report_dir):
    p, r, frames, out = report_dir
    t1 = r["table1"]
    assert set(t1) >= {"before", "after"}
    work = frames["work"]
    for key in ("before", "after"):
        t = t1[key]
        assert set(t) >= {"n_treated", "n_control", "rows"}
        for row in t["rows"]:
            assert set(row) >= {"variable", "label", "type", "summary", "treated", "control", "levels", "test", "p",
                                "smd"}
            assert row["type"] in ("continuous", "categorical")
            assert row["summary"] in ("mean_sd", "median_iqr", "n_pct")
            assert row["test"] in ("welch_t", "wilcoxon", "chisq", "fisher", None)
    b = t1["before"]
    assert b["n_treated"] == int((work["treated"] == 1).sum()) and b["n_control"] == int((work["treated"] == 0).sum())
    assert t1["after"]["n_treated"] == r["matching"]["n_matched"]["treated"]
    rows = {x["variable"]: x for x in b["rows"]}
    # every covariate, then VBQ per level and overall
    plan_covs = r["provenance"]["plan"]["columns"]["covariates"]
    levels = r["provenance"]["plan"]["columns"]["levels"]
    assert [x["variable"] for x in b["rows"]] == plan_covs + levels + ["vbq_overall"]
    # SMD after matching = the balance table's (MatchIt)
    bal = r["matching"]["balance"]["after"]
    assert rows["age"]["smd"] is not None
    assert t1["after"]["rows"][0]["smd"] == pytest.approx(bal["age"]["Std. Mean Diff."], rel=1e-12)
    # the overall VBQ is the mean of the levels of each subject
    ov = work[levels].mean(axis=1)
    x1 = ov[work["treated"] == 1]
    o = rows["vbq_overall"]
    key = "mean" if o["summary"] == "mean_sd" else "median"
    assert o["treated"][key] == pytest.approx(x1.mean() if key == "mean" else x1.median(), rel=1e-12)
    # labels from the plan and defaults; R's names stay in the JSON
    assert rows["calcium_supplement"]["label"] == "Calcium supplementation"
    assert rows["bmi"]["label"] == "BMI (kg/m²)"
    assert {lv["label"] for lv in rows["diet"]["levels"]} == {"High-salt", "Balanced", "Vegetarian"}
    assert {lv["level"] for lv in rows["diet"]["levels"]} == {"high_salt", "balanced", "vegetarian"}
    ss = r["sex_stratified"]
    assert ss["table1"]["after"]["n_treated"] == ss["matching"]["n_matched"]["treated"]
    assert "sex" not in [x["variable"] for x in ss["table1"]["before"]["rows"]]


def test_table1_csv_html_and_no_reprs(report_dir):
    _, r, _, out = report_dir
    before = pd.read_csv(out / "tables" / "table1_before.csv", keep_default_na=False)
    after = pd.read_csv(out / "tables" / "table1_after.csv", keep_default_na=False)
    n = r["table1"]["before"]
    assert list(before.columns)[:3] == ["Variable", "Level", "Characteristic"]
    assert f"OPLL (n = {n['n_treated']})" in before.columns and "SMD" in after.columns
    assert "Age (years), mean ± SD" in set(before["Characteristic"]) | {"x"} or \
        "Age (years), median (IQR)" in set(before["Characteristic"])
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "<h2>Table 1</h2>" in text and "Before matching" in text and "After matching" in text
    assert "Shapiro-Wilk" in text and "Fisher" in text
    assert "-0.00" not in before.to_csv() + after.to_csv()
    for bad in ("{'", "[]", "nan", "None"):
        assert bad not in before.to_csv() + after.to_csv()
    # the flow diagram is the first figure of the report
    assert text.index('alt="Flow diagram (STROBE)"') < text.index('alt="Love plot"')


def test_figures_every_format(report_dir):
    _, _, _, out = report_dir
    from PIL import Image

    f = out / "figures"
    for name in ("flow", "love_plot", "boxplots", "segmental", "forest"):
        for ext in ("pdf", "svg", "png", "tiff"):
            assert (f / f"{name}.{ext}").is_file(), (name, ext)
        png = Image.open(f / f"{name}.png")
        assert round(png.info["dpi"][0]) == 150
        # single column: 85 mm (text shrunk to >= 6.5 pt; a label beyond the axes may widen the tight box)
        slack = 1.45 if name == "forest" else 1.3  # the forest plot prints OR (CI) right of its axes
        assert 85 / 25.4 * 150 - 3 <= png.size[0] <= slack * 85 / 25.4 * 150, name
        tif = Image.open(f / f"{name}.tiff")
        assert tif.info.get("compression") == "tiff_lzw"
        pdf = (f / f"{name}.pdf").read_bytes()
        assert b"/CIDFontType2" in pdf or b"/TrueType" in pdf  # TrueType (fonttype 42), not Type 3
        assert b"/Type3" not in pdf
        assert b"<text" in (f / f"{name}.svg").read_bytes()  # text stays text
    svg = (f / "love_plot.svg").read_text(encoding="utf-8")
    assert "Calcium supplementation" in svg and "calcium_supplement" not in svg
    assert "Hypertension (yes vs no)" in (f / "forest.svg").read_text(encoding="utf-8")


def test_palette_is_colour_blind_safe_and_apart_in_grayscale():
    assert figures.grayscale_distinct(*figures.GROUP_COLORS)
    assert figures.grayscale_distinct(*figures.SEX_COLORS)
    assert not figures.grayscale_distinct("#c0392b", "#2471a3")  # the old red/blue pair: same gray
    assert set(figures.GROUP_COLORS) <= set(figures.PALETTE)
    assert figures.width_mm("single") == 85 and figures.width_mm("double") == 174 and figures.width_mm("120") == 120


def test_xlsx_one_sheet_per_table_and_formulas_neutralised(report_dir, tmp_path):
    _, _, _, out = report_dir
    from openpyxl import load_workbook

    wb = load_workbook(out / "tables.xlsx")
    assert wb.sheetnames[:2] == ["table1_before", "table1_after"]
    assert {"comparison", "balance", "logistic"} <= set(wb.sheetnames)
    df = pd.DataFrame({"a": ["=HYPERLINK(\"x\")", "-0.21", "+1", "@SUM(A1)", "ok", "-x"]})
    p = excel.write_tables_xlsx({"t": df}, tmp_path / "t.xlsx")
    vals = [c.value for c in load_workbook(p)["t"]["A"]][1:]
    assert vals == ["'=HYPERLINK(\"x\")", "-0.21", "+1", "'@SUM(A1)", "ok", "'-x"]


def test_flow_counts_from_results(report_dir):
    _, r, _, _ = report_dir
    fc = flow.flow_counts(r)
    g = r["groups"]
    assert fc["analysed"][g["treated"]] + fc["analysed"][g["control"]] + fc["excluded"] == fc["rows"]
    assert fc["matched"]["pairs"] == len(r["matching"]["pairs"])
    assert fc["matched"]["unmatched"][g["control"]] == g["n"][g["control"]] - r["matching"]["n_matched"]["control"]
    text = "\n".join(x for _, lines in flow.flow_lines(fc) for x in lines)
    assert f"Rows in the spreadsheet: n = {fc['rows']}" in text and "Sex-stratified" in text


def test_docx_tables_are_real_word_tables(report_dir):
    _, r, _, out = report_dir
    from docx import Document

    doc = Document(out / "report.docx")
    assert len(doc.tables) >= 5
    t1 = doc.tables[0]
    assert t1.cell(0, 1).text == "Before matching" and t1.cell(1, 0).text == "Characteristic"
    texts = [c.text for row in t1.rows for c in row.cells]
    age = [x for x in texts if x.startswith("Age (years), ")]
    assert age and re.fullmatch(r"Age \(years\), (mean ± SD|median \(IQR\))( before / (mean ± SD|median \(IQR\)) "
                                r"after)?", age[0]), age
    with zipfile.ZipFile(out / "report.docx") as z:
        names = z.namelist()
        footer = "".join(z.read(n).decode() for n in names if n.startswith("word/footer"))
    assert "PAGE" in footer and any(n.startswith("word/media/") for n in names)


def test_docx_renders_in_libreoffice(tmp_path):
    """Word -> PDF (LibreOffice, a private profile) -> PNG (pdftoppm); look at the PNG when changing word.py."""
    soffice = shutil.which("soffice")
    if soffice is None or shutil.which("pdftoppm") is None:
        if os.environ.get("VBQ_NO_SKIP"):
            pytest.fail("soffice/pdftoppm missing")
        pytest.skip("LibreOffice (soffice) or poppler (pdftoppm) not installed")
    d = pd.DataFrame({"group": [1, 0] * 30, "age": np.linspace(40, 80, 60), "sex": [1, 0, 0] * 20})
    t1 = T.table1(d, d["group"].to_numpy(), ["age", "sex"])
    from VBQCohortLib.publication.cohort import table1_word
    from VBQCohortLib.report.html import figure_class, png_bytes

    fig = figure_class()(figsize=(3, 2))
    fig.add_subplot(1, 1, 1).plot([0, 1], [0, 1])
    blocks = [Heading("Warnings"), Paragraph("fewer than 10 subjects", "warning"),
              table1_word({"before": t1, "after": t1}, ("OPLL", "CSM"), "Table 1. Baseline"),
              Table("Table 2. Plain", ["A", "B"], [["x", "1"], ["y", "2"]], footnote="A note."),
              Figure(png_bytes(fig), "Figure 1. A line.")]
    (tmp_path / "r.docx").write_bytes(docx_bytes("Render test", blocks))
    res = subprocess.run([soffice, f"-env:UserInstallation=file://{tmp_path}/lo", "--headless", "--convert-to", "pdf",
                          "--outdir", str(tmp_path), str(tmp_path / "r.docx")], capture_output=True, text=True,
                         encoding="utf-8", errors="replace", timeout=180, check=False)
    assert res.returncode == 0 and (tmp_path / "r.pdf").is_file(), res.stderr
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(tmp_path / "r.pdf"), str(tmp_path / "p")], check=True,
                   timeout=60)
    pages = sorted(tmp_path.glob("p*.png"))
    assert pages
    from PIL import Image

    im = np.asarray(Image.open(pages[0]).convert("L"))
    assert (im < 128).mean() > 0.01  # text and rules were drawn
    txt = subprocess.run(["pdftotext", "-enc", "UTF-8", str(tmp_path / "r.pdf"), "-"], capture_output=True,
                         text=True, encoding="utf-8", errors="replace", check=True).stdout
    assert "Before matching" in txt and re.search(r"Page 1\b", txt)


def test_cli_match_table1_and_bad_flags(tmp_path, capsys):
    p = tmp_path / "c.csv"
    _cohort(120, 3).to_csv(p, index=False)
    out = tmp_path / "t1.csv"
    code = main(["cohort", "match", str(p), "--id", "patient_id", "--group", "diagnosis", "--treated", "OPLL",
                 "--covariates", "age,sex,hypertension", "--table1", str(out)])
    assert code == 0
    t = pd.read_csv(out, keep_default_na=False)
    assert "p before" in t.columns and "SMD after" in t.columns
    assert list(t["Variable"]) == ["age", "sex", "hypertension"]
    code = main(["cohort", "analyze", str(p), "--out", str(tmp_path / "o"), "--figure-width", "wide", "--quiet"])
    assert code == 2 and "--figure-width" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_small_sample_warnings_in_results_cli_and_report(tmp_path, capsys):
    d = _cohort(60, 7)
    d = d.dropna(subset=["bmi", "smoking"]).groupby("diagnosis").head(8)
    p = tmp_path / "small.csv"
    d.to_csv(p, index=False)
    code = main(["cohort", "analyze", str(p), "--out", str(tmp_path / "o")])
    assert code == 0
    printed = capsys.readouterr().out
    r = json.loads((tmp_path / "o" / "results.json").read_text(encoding="utf-8"))
    w = "\n".join(r["warnings"])
    nm = r["matching"]["n_matched"]
    assert min(nm.values()) < 10 and "fewer than 10 subjects in a group after matching" in w
    assert "Per-level comparison: tests on fewer than 5 subjects per group" in w
    assert "events per predictor term" in w and "Peduzzi" in w
    assert "separation" in w
    assert "fewer than 10 subjects in a group after matching" in printed  # on the command line
    page = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert page.index("Peduzzi") < page.index("<h2>Table 1</h2>")  # at the top of the report
    for row in r["table1"]["after"]["rows"]:
        assert row["p"] is None and "fewer than 5" in row["p_note"]
    assert "{'" not in page and "-0.00" not in page


def test_slicer_export_word_copies_the_report(report_dir, tmp_path):
    """VBQ Cohort's "Export Word..." button (thin): the copy is VBQCohortModuleLib.helpers.export_word."""
    from VBQCohortModuleLib.helpers import export_word

    _, _, _, out = report_dir
    saved = export_word(out / "report.html", tmp_path / "paper")
    assert saved.name == "paper.docx" and saved.read_bytes() == (out / "report.docx").read_bytes()
    with pytest.raises(ValueError, match="no Word report"):
        export_word(tmp_path / "report.html", tmp_path / "x.docx")
