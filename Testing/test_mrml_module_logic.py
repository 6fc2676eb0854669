"""The Logic classes of VBQScore.py / VBQCohort.py on slicer-core, with the GUI-only imports (qt, ctk, the
ScriptedLoadableModule base classes, the parameter node wrapper) replaced by minimal stand-ins.

The Slicer application cannot run here; this catches mistakes in the module files' non-GUI code (MRML calls,
plot nodes, tables, CSV export) on the same synthetic data as the in-Slicer tests, with hand-computed numbers.
Widget code is exercised only by the in-Slicer tests.
"""

from __future__ import annotations

import types
from pathlib import Path

import pytest

slicer = pytest.importorskip("slicer")
vtk = pytest.importorskip("vtk")

from helpers import REPO, load_module_file, stub_slicer_gui  # noqa: E402


@pytest.fixture()
def vbqscore(monkeypatch):
    scene = slicer.vtkMRMLScene()
    stub_slicer_gui(monkeypatch, scene)
    module = load_module_file(REPO / "VBQScore" / "VBQScore.py", "VBQScore_under_test")
    checks = load_module_file(REPO / "VBQScore" / "Testing" / "Python" / "VBQScoreSyntheticChecks.py", "VBQScoreChecks")
    return module, checks, scene


def test_vbqscore_logic_runs_the_in_slicer_checks(vbqscore):
    module, checks, scene = vbqscore
    logic = module.VBQScoreLogic()
    result = checks.check_compute_exact(scene, logic)
    assert result.overall["vbq"] == 250.0 / 80.0
    chart = logic.updatePlot(result, logic.lastTableNode)
    assert chart.GetNumberOfPlotSeriesNodes() == 1
    plot_table = scene.GetFirstNode("VBQ per level (plot)", "vtkMRMLTableNode")
    assert [plot_table.GetTable().GetValueByName(i, "VBQ").ToDouble() for i in range(6)] == \
        [(200.0 + 20.0 * i) / 80.0 for i in range(6)]
    assert plot_table.GetTable().GetValueByName(0, "level").ToString() == "C2"
    # recomputing reuses the plot nodes instead of adding new ones
    logic.updatePlot(result, logic.lastTableNode)
    assert scene.GetNodesByClass("vtkMRMLPlotChartNode").GetNumberOfItems() == 1
    assert scene.GetNodesByClass("vtkMRMLPlotSeriesNode").GetNumberOfItems() == 1
    assert module.VBQScoreLogic.overallText(result).startswith("3.125  (lu2024: mean of mean SI over C2, C3")
    assert module.VBQScoreLogic.flagsText(result) == "No quality flags."


def test_vbqscore_logic_quick_rois(vbqscore):
    module, checks, scene = vbqscore
    result = checks.check_quick_rois(scene, module.VBQScoreLogic())
    assert "MISSING_LEVEL" in module.VBQScoreLogic.flagsText(result)


def test_vbqscore_options_from_parameters(vbqscore):
    module, _, _ = vbqscore
    p = types.SimpleNamespace(preset="soliman2023", statistic="median", erosionMm=1.5, midSagittalSlices=0)
    assert module.VBQScoreLogic.optionsFrom(p) == dict(preset="soliman2023", stat="median", erode_mm=1.5,
                                                       mid_sagittal_slices=None)
    p.midSagittalSlices = 3
    assert module.VBQScoreLogic.optionsFrom(p)["mid_sagittal_slices"] == 3
    csf = module.VBQScoreLogic().createLevelSegments
    seg = slicer.vtkMRMLSegmentationNode()
    slicer.mrmlScene.AddNode(seg)
    ids = csf(seg, "soliman2023")
    assert sorted(ids) == ["C3", "C4", "C5", "C6", "CSF"]
    assert seg.GetSegmentation().GetSegment("CSF").GetName() == "CSF at C2"


def test_vbqcohort_overrides_from_parameters(monkeypatch):
    scene = slicer.vtkMRMLScene()
    stub_slicer_gui(monkeypatch, scene)
    monkeypatch.syspath_prepend(str(REPO / "VBQCohort"))
    module = load_module_file(REPO / "VBQCohort" / "VBQCohort.py", "VBQCohort_under_test")
    p = types.SimpleNamespace(idColumn="pid", groupColumn="dx", treatedValue="OPLL", controlValue="CSM",
                              levelColumns="VBQ_C2, VBQ_C3", covariateColumns="age,  bmi", sexColumn="",
                              matching=True, distance="logit", caliper=0.2, ratio=1, order="largest",
                              replace=False)
    o = module.VBQCohortLogic.overridesFrom(p)
    assert o == dict(id="pid", group="dx", treated="OPLL", control="CSM", levels=["VBQ_C2", "VBQ_C3"],
                     covariates=["age", "bmi"], sex_column="", distance="logit", caliper=0.2, no_caliper=False,
                     ratio=1, order="largest", replace=False)
    p.caliper = 0.0
    assert module.VBQCohortLogic.overridesFrom(p)["no_caliper"] is True
    p.matching = False
    assert module.VBQCohortLogic.overridesFrom(p)["no_matching"] is True
    # the table node round trip of the module
    pd = pytest.importorskip("pandas")
    node = scene.AddNewNodeByClass("vtkMRMLTableNode", "t")
    module.VBQCohortLogic.dataframeToTableNode(pd.DataFrame({"id": ["a", "b"], "x": [1.25, None]}), node)
    cols = module.VBQCohortLogic.tableNodeColumns(node)
    assert cols["id"] == ["a", "b"] and cols["x"][0] == 1.25


@pytest.mark.slow  # the whole cohort analysis + report (about 10 s on 2 busy cores)
def test_vbqcohort_run_analysis_into_nodes(monkeypatch, tmp_path):
    import csv
    import math

    scene = slicer.vtkMRMLScene()
    stub_slicer_gui(monkeypatch, scene)
    monkeypatch.syspath_prepend(str(REPO / "VBQCohort"))
    module = load_module_file(REPO / "VBQCohort" / "VBQCohort.py", "VBQCohort_under_test2")
    rows = []
    for i in range(24):
        rows.append({"patient_id": f"P{i:03d}", "diagnosis": "OPLL" if i < 12 else "CSM", "age": 50 + i % 7,
                     "sex": "FM"[i % 3 == 0] + " " * (i == 5),
                     **{f"VBQ_C{k}": round(2.0 + 0.05 * i + 0.1 * k, 4) for k in range(2, 8)}})
    path = tmp_path / "cohort.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    logic = module.VBQCohortLogic()
    node = logic.loadSpreadsheet(str(path))
    assert node.GetNumberOfRows() == 24 and node.GetAttribute("VBQCohort.sourcePath") == str(path)
    g = logic.guessColumns(node, "lu2024")
    assert (g["id"], g["group"], g["treated"], g["control"]) == ("patient_id", "diagnosis", "OPLL", "CSM")
    out = logic.runAnalysis(str(path), str(tmp_path / "report"), overrides={
        "covariates": ["age"], "predictors": ["age", "sex"], "levels": g["levels"], "no_matching": True,
        "sex_column": ""})
    assert Path(out["report"]).is_file()
    # the logistic table names the level its term codes, as R does (sexM, reference F); the recovery of 'F ' is said
    logit = out["tables"]["logistic"].GetTable()
    terms = [logit.GetValueByName(r, "term").ToString() for r in range(logit.GetNumberOfRows())]
    assert terms == ["(Intercept)", "age", "sexM"]
    assert [logit.GetValueByName(2, c).ToString() for c in ("column", "level", "reference")] == ["sex", "M", "F"]
    assert "column 'sex': spaces around the text of 1 cell removed (row 7: 'F ')" in out["warnings"]
    comparison = out["tables"]["comparison"]
    assert comparison.GetNumberOfRows() == 7  # six levels, then the overall VBQ (issue 17)
    levels_col = [comparison.GetTable().GetValueByName(r, "level").ToString() for r in range(7)]
    assert levels_col == ["C2", "C3", "C4", "C5", "C6", "C7", "Overall (mean of levels)"]
    # readable labels beside R's names, as in the HTML report (issue 17)
    assert [logit.GetValueByName(r, "label").ToString() for r in range(3)] == ["Intercept", "Age (years)",
                                                                              "Sex (M vs F)"]
    bal = out["tables"]["balance"].GetTable()
    assert bal.GetValueByName(0, "label").ToString() == "Age (years)"
    assert bal.GetValueByName(0, "covariate").ToString() == "age"
    c3_row = [comparison.GetTable().GetValueByName(r, "ranksum_p").ToDouble() for r in range(6)][1]
    assert c3_row == pytest.approx(2.0 / math.comb(24, 12), rel=1e-9)
    chart = out["levelsChart"]
    assert chart.GetNumberOfPlotSeriesNodes() == 2
    medians = scene.GetFirstNode("VBQ cohort: medians per level", "vtkMRMLTableNode").GetTable()
    assert medians.GetValueByName(1, "median OPLL").ToDouble() == pytest.approx(2.575, abs=1e-12)
    assert medians.GetValueByName(1, "median CSM").ToDouble() == pytest.approx(3.175, abs=1e-12)
    # no matching: the love plot shows the balance of the unmatched groups only; |SMD| of age is MatchIt's
    love = scene.GetFirstNode("VBQ cohort: love plot data", "vtkMRMLTableNode").GetTable()
    assert out["loveChart"].GetNumberOfPlotSeriesNodes() == 1
    smd = out["results"]["matching"]["balance"]["before"]["age"]["Std. Mean Diff."]
    assert love.GetValueByName(0, "covariate").ToString() == "age"
    assert love.GetValueByName(0, "label").ToString() == "Age (years)"
    assert love.GetValueByName(0, "SMD before").ToDouble() == abs(smd)
    import statistics

    t = [50 + i % 7 for i in range(12)]
    c = [50 + i % 7 for i in range(12, 24)]
    # MatchIt (ATT): difference in means over the treated group's SD (n - 1) in the unmatched sample
    assert abs(smd) == pytest.approx(abs(statistics.mean(t) - statistics.mean(c)) / statistics.stdev(t), rel=1e-12)


def test_vbqscore_logic_batch_over_a_folder(vbqscore, tmp_path):
    """Two phantom cases in {case_id}/ folders, measured in-process; the table node holds the batch CSV."""
    from VBQScoreLib.api import score_files
    from VBQScoreLib.phantom import make_phantom, write_phantom

    module, _, scene = vbqscore
    expected = {}
    for cid, seed in (("007", 1), ("012", 2)):
        ph = make_phantom(shape=(9, 128, 128), spacing=(3.0, 1.6, 1.6), seed=seed)
        paths = write_phantom(ph, tmp_path / "cases" / cid, formats=("nifti", "seg.nrrd"))
        expected[cid] = score_files(paths["image"], paths["seg_nrrd"]).overall["vbq"]
    calls = []
    summary, table = module.VBQScoreLogic().runBatch(
        str(tmp_path / "cases"), str(tmp_path / "vbq.csv"),
        pattern="{case_id}/phantom.nii.gz,{case_id}/phantom.seg.nrrd",
        progress=lambda d, t, m: calls.append((d, t)), preset="lu2024", stat="mean", erode_mm=0.0,
        mid_sagittal_slices=None)
    assert (summary.n_cases, summary.n_ok, summary.n_failed) == (2, 2, 0)
    assert calls[-1] == (2, 2)
    t = table.GetTable()
    assert [t.GetValueByName(i, "case_id").ToString() for i in range(2)] == ["007", "012"]  # zeros kept
    assert [t.GetValueByName(i, "VBQ_overall").ToDouble() for i in range(2)] == pytest.approx(
        [expected["007"], expected["012"]], rel=1e-12)
    assert t.GetColumnByName("VBQ_overall").GetClassName() == "vtkDoubleArray"


def test_vbqscore_find_vbq_series_over_the_dicom_database(vbqscore, tmp_path, monkeypatch):
    """The "Find VBQ series" helper: the rules of vbq intake over Slicer's DICOM database (a stand-in with the
    ctkDICOMDatabase listing methods), without loading."""
    from VBQScoreLib.dicom.synthetic import StudySpec, spine_study, vendor_series, write_study

    module, _, _ = vbqscore
    root = tmp_path / "db"
    ok, none = spine_study("P1", "ge"), StudySpec("P2", [s for s in vendor_series("siemens") if s.number != 2])
    files = {st.patient_id: write_study(st, root, "nested") for st in (ok, none)}

    class Db:
        isOpen = True

        def patients(self):
            return ["p1", "p2"]

        def studiesForPatient(self, p):
            return [p.upper()]

        def seriesForStudy(self, s):
            return [s]

        def filesForSeries(self, s):
            return files[s]

    monkeypatch.setattr(slicer, "dicomDatabase", Db(), raising=False)
    text, loaded = module.VBQScoreLogic().findAndLoadVbqSeries(load=False)
    assert loaded == []
    assert text.splitlines()[0].startswith("P1 20240105: ok #2 Sag T1 FSE (sagittal T1")
    assert text.splitlines()[1].startswith("P2 20240105: no_series no series (no sagittal non-contrast T1")


def test_vbqcohort_diagnostic_into_nodes(monkeypatch, tmp_path):
    """Issue 18: VBQ Cohort's "Diagnostic accuracy" section -- ROC table, cut-offs and the ROC chart with the
    Youden point as MRML nodes, from pROC's aSAH data (published: s100b AUC 0.7314, Youden 0.205)."""
    scene = slicer.vtkMRMLScene()
    stub_slicer_gui(monkeypatch, scene)
    monkeypatch.syspath_prepend(str(REPO / "VBQCohort"))
    module = load_module_file(REPO / "VBQCohort" / "VBQCohort.py", "VBQCohort_under_test_diag")
    logic = module.VBQCohortLogic()
    path = str(REPO / "Testing" / "r_reference" / "diagnostic_data_asah.csv")
    node = logic.loadSpreadsheet(path)
    out = logic.computeDiagnostic(node, ["s100b", "wfns"], ["outcome == Poor"], ["age"], str(tmp_path / "diag"))
    roc = out["rocTable"].GetTable()
    assert roc.GetNumberOfRows() == 2
    assert round(roc.GetValueByName(0, "auc").ToDouble(), 4) == 0.7314
    assert round(roc.GetValueByName(0, "ci_low").ToDouble(), 4) == 0.6301
    cut = out["cutoffTable"].GetTable()
    assert round(cut.GetValueByName(0, "threshold").ToDouble(), 3) == 0.205
    chart = out["rocChart"]
    assert chart.GetNumberOfPlotSeriesNodes() == 4  # curve + Youden point per marker
    yt = scene.GetFirstNode("VBQ diagnostic: Youden s100b", "vtkMRMLTableNode").GetTable()
    assert yt.GetValueByName(0, "sensitivity").ToDouble() == pytest.approx(26 / 41)
    assert yt.GetValueByName(0, "fpr").ToDouble() == pytest.approx(1 - 58 / 72)
    ct = scene.GetFirstNode("VBQ diagnostic: ROC curve s100b", "vtkMRMLTableNode").GetTable()
    assert ct.GetNumberOfRows() == out["results"]["roc"]["s100b"]["curve_points"]
    assert (tmp_path / "diag" / "report.html").is_file()
    # a re-run reuses the nodes
    logic.computeDiagnostic(path, ["s100b", "wfns"], ["outcome == Poor"])
    assert scene.GetNodesByClass("vtkMRMLPlotChartNode").GetNumberOfItems() == 1


def test_vbqcohort_in_slicer_diagnostic_check_on_slicer_core(monkeypatch):
    """Runs VBQCohortTest.test_Diagnostic (the in-Slicer self-test) on slicer-core with unittest's asserts."""
    import unittest

    scene = slicer.vtkMRMLScene()
    stub_slicer_gui(monkeypatch, scene)
    monkeypatch.syspath_prepend(str(REPO / "VBQCohort"))
    module = load_module_file(REPO / "VBQCohort" / "VBQCohort.py", "VBQCohort_under_test_diag2")
    case = type("T", (unittest.TestCase,), {"test_Diagnostic": module.VBQCohortTest.test_Diagnostic})
    res = unittest.TextTestRunner(verbosity=0).run(case("test_Diagnostic"))
    assert res.wasSuccessful() and not res.skipped, (res.failures, res.errors, res.skipped)
