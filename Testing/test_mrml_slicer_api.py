"""Static and slicer-core checks that the two Slicer modules call only Slicer APIs that exist (Slicer >= 5.10).

The Slicer application cannot run here. What can be checked without it:

- every ``slicer.<vtkClass>.<attribute>`` the module files and the MRML adapter use exists in the slicer-core
  wheel (same C++ classes and Python wrapping as the application);
- every method called on the embedded ``qMRMLSegmentEditorWidget`` is a public slot / Q_INVOKABLE of
  ``Modules/Loadable/Segmentations/Widgets/qMRMLSegmentEditorWidget.h`` in Slicer v5.10.0 (list below, copied
  from that header) and none is deprecated;
- no API removed or deprecated in Slicer 5.x (``setMasterVolumeNode``, legacy fiducial calls, ``imp``...);
- the ``.ui`` files are Qt Designer XML with a ``<customwidgets>`` entry (header ``<class>.h``) for every
  non-Qt widget class, as in Slicer's own templates;
- the terminology entries written on segments survive Slicer's own (de)serializer unchanged;
- the widget test's scene gives the numbers the widget test asserts (the widget test itself runs only in Slicer);
- VBQ Cohort's "custom" plan becomes a plan the plan loader accepts.
"""

from __future__ import annotations

import ast
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

slicer = pytest.importorskip("slicer")

REPO = Path(__file__).resolve().parents[1]
MODULE_FILES = [REPO / "VBQScore" / "VBQScore.py", REPO / "VBQCohort" / "VBQCohort.py",
                *sorted((REPO / "VBQScore" / "VBQScoreLib" / "mrml").glob("*.py")),
                *sorted((REPO / "VBQScore" / "VBQScoreModuleLib").glob("*.py")),
                *sorted((REPO / "VBQCohort" / "VBQCohortModuleLib").glob("*.py")),
                REPO / "VBQScore" / "Testing" / "Python" / "VBQScoreSyntheticChecks.py"]

# public slots and Q_INVOKABLE methods of qMRMLSegmentEditorWidget in Slicer v5.10.0 that this project may call
# (from Modules/Loadable/Segmentations/Widgets/qMRMLSegmentEditorWidget.h at tag v5.10.0 and at main)
SEGMENT_EDITOR_API = {
    "setMRMLScene", "setMRMLSegmentEditorNode", "mrmlSegmentEditorNode", "setSegmentationNode",
    "segmentationNode", "setSegmentationNodeID", "segmentationNodeID", "setSourceVolumeNode", "sourceVolumeNode",
    "setSourceVolumeNodeID", "sourceVolumeNodeID", "setActiveEffect", "setActiveEffectByName", "activeEffect",
    "setupViewObservations", "removeViewObservations", "installKeyboardShortcuts", "uninstallKeyboardShortcuts",
    "setMaximumNumberOfUndoStates", "updateWidgetFromMRML", "setCurrentSegmentID", "currentSegmentID",
    "updateEffectList",  # public slot (v5.10.0 header line 416); Slicer's SegmentEditor.py calls it
}

# names that were removed or deprecated in Slicer 5.x, or are gone in Python 3.12 / Qt6
REMOVED_OR_DEPRECATED = {
    r"\bsetMasterVolumeNode\b": "qMRMLSegmentEditorWidget.setSourceVolumeNode (deprecated since 5.2)",
    r"\bmasterVolumeNode\b": "sourceVolumeNode",
    r"\bMasterVolumeNode": "SourceVolumeNode",
    r"\bGetMasterRepresentationName\b": "GetSourceRepresentationName",
    r"\bMasterRepresentationModified\b": "SourceRepresentationModified",
    r"\b(AddFiducial|GetNumberOfFiducials|GetNthFiducialPosition|SetNthFiducialPosition|GetNthFiducialLabel)\b":
        "control point API (AddControlPoint, GetNumberOfControlPoints, GetNthControlPointPosition...)",
    r"\bvtkMRMLAnnotation": "markups (annotations were removed in Slicer 5.8)",
    r"returnNode\s*=": "slicer.util.load* return the node (returnNode was removed)",
    r"^\s*import imp\b|^\s*from imp import": "importlib (imp is gone in Python 3.12)",
    r"\bqt\.QRegExp\b": "qt.QRegularExpression (QRegExp is gone in Qt6)",
    r"\bexec_\(": "exec() (exec_ is gone in Qt6 bindings)",
}


def _sources():
    return {p: p.read_text(encoding="utf-8") for p in MODULE_FILES}


def _slicer_attribute_chains(tree):
    """``(Class, attribute)`` for every ``slicer.<vtkClass>.<attribute>`` in the code."""
    out = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                and isinstance(node.value.value, ast.Name) and node.value.value.id == "slicer"
                and node.value.attr.startswith("vtk")):
            out.add((node.value.attr, node.attr))
    return out


def test_slicer_vtk_classes_and_members_used_exist_in_slicer_core():
    chains = set()
    for path, text in _sources().items():
        chains |= _slicer_attribute_chains(ast.parse(text))
    # the calls this review verified against Slicer's headers must be among those checked
    assert {("vtkSlicerSegmentationsModuleLogic", "ExportSegmentsToLabelmapNode"),
            ("vtkSlicerSegmentationsModuleLogic", "SetBinaryLabelmapToSegment"),
            ("vtkSegmentation", "SourceRepresentationModified"),
            ("vtkMRMLPlotSeriesNode", "PlotTypeBar"),
            ("vtkMRMLSubjectHierarchyConstants", "GetDICOMPatientIDAttributeName")} <= chains
    missing = sorted(f"slicer.{c}.{a}" for c, a in chains if not hasattr(getattr(slicer, c, None), a))
    assert missing == []


def test_segment_editor_widget_calls_are_public_slots_of_slicer_5_10():
    # the module and the helper that drives the editor for it (VBQScoreModuleLib.state.update_segment_editor)
    trees = [ast.parse((REPO / "VBQScore" / f).read_text(encoding="utf-8"))
             for f in ("VBQScore.py", "VBQScoreModuleLib/state.py")]
    editor_names = {"editor"}  # local alias in _updateSegmentEditor / the helper's parameter
    called = set()
    for node in (n for tree in trees for n in ast.walk(tree)):
        if isinstance(node, ast.Attribute):
            v = node.value
            if (isinstance(v, ast.Attribute) and v.attr == "segmentEditorWidget") or \
                    (isinstance(v, ast.Name) and v.id in editor_names):
                called.add(node.attr)
    assert {"setMRMLSegmentEditorNode", "setSegmentationNode", "setSourceVolumeNode"} <= called
    assert called - SEGMENT_EDITOR_API == set()


@pytest.mark.parametrize("pattern", sorted(REMOVED_OR_DEPRECATED))
def test_no_removed_or_deprecated_slicer_api(pattern):
    hits = [f"{p.relative_to(REPO)}:{i}" for p, text in _sources().items()
            for i, line in enumerate(text.splitlines(), 1) if re.search(pattern, line)]
    assert hits == [], f"use {REMOVED_OR_DEPRECATED[pattern]}: {hits}"


# base classes as declared by Slicer's/CTK's designer plugins and Slicer's own .ui files
CUSTOM_WIDGET_BASES = {
    "qMRMLWidget": "QWidget", "qMRMLNodeComboBox": "QWidget", "qMRMLTableView": "QTableView",
    "qMRMLSegmentEditorWidget": "qMRMLWidget", "ctkCollapsibleButton": "QWidget",
    "ctkCollapsibleGroupBox": "QGroupBox", "ctkPathLineEdit": "QWidget",
}


@pytest.mark.parametrize("module", ["VBQScore", "VBQCohort"])
def test_ui_is_designer_xml_with_custom_widget_entries(module):
    root = ET.parse(REPO / module / "Resources" / "UI" / f"{module}.ui").getroot()
    assert root.tag == "ui" and root.get("version") == "4.0"
    assert root.find("class").text == module
    top = root.find("widget")
    assert top.get("class") == "qMRMLWidget" and top.get("name") == module
    used = {w.get("class") for w in root.iter("widget")}
    custom = {c.find("class").text: c for c in root.find("customwidgets").findall("customwidget")}
    non_qt = {c for c in used if not c.startswith("Q")}
    assert non_qt <= set(custom), sorted(non_qt - set(custom))
    for cls, entry in custom.items():
        assert entry.find("header").text == f"{cls}.h", cls
        assert entry.find("extends").text == CUSTOM_WIDGET_BASES[cls], cls
    names = [w.get("name") for w in root.iter("widget")]
    assert len(names) == len(set(names)), "duplicate widget names"
    # every connection names existing widgets
    for c in root.iter("connection"):
        assert c.find("sender").text in names and c.find("receiver").text in names


def test_terminology_entries_round_trip_through_slicer_serializer():
    from VBQScoreLib import mrml

    logic = slicer.vtkSlicerTerminologiesModuleLogic
    for level in ("C2", "C7", "T12", "L3", "CSF"):
        text = mrml.terminology_entry(level)
        entry = slicer.vtkSlicerTerminologyEntry()
        assert logic.DeserializeTerminologyEntry(text, entry), level
        assert logic.SerializeTerminologyEntry(entry) == text, level  # 7 fields, nothing stray
        assert entry.GetTypeObject().GetCodeValue() == mrml.SNOMED_CODES[level][0]
        assert entry.GetCategoryObject().GetCodeValue() == "123037004"
    assert text.count("~") == 6 and not text.endswith("|")


def test_widget_test_scene_gives_the_asserted_numbers():
    """What VBQScoreTest.test_WidgetCompute asserts after pressing Compute, here through the same Lib calls."""
    sys.path.insert(0, str(REPO / "VBQScore" / "Testing" / "Python"))
    try:
        import VBQScoreSyntheticChecks as checks
    finally:
        sys.path.pop(0)
    scene = slicer.vtkMRMLScene()
    logic = checks.CoreLogic(scene)
    vol, seg = checks.make_partial_scene(scene, logic)
    table = scene.AddNewNodeByClass("vtkMRMLTableNode", "VBQ results")
    result = checks.check_partial_result(logic.compute(vol, seg, table, preset="lu2024"))
    assert table.GetTable().GetValueByName(1, "level").ToString() == "C3"
    assert table.GetTable().GetValueByName(1, "vbq").ToDouble() == 220.0 / 80.0
    # a wrong expectation must fail
    result.flags[0].code = "MISSING_LEVEL"
    with pytest.raises(AssertionError):
        checks.check_partial_result(result)


def test_cohort_custom_plan_is_accepted_by_the_plan_loader(monkeypatch):
    import types

    from test_mrml_module_logic import _load, _stub_modules

    from VBQCohortLib.analysis.plan import load_plan

    _stub_modules(monkeypatch, slicer.vtkMRMLScene())
    monkeypatch.syspath_prepend(str(REPO / "VBQCohort"))
    module = _load(REPO / "VBQCohort" / "VBQCohort.py", "VBQCohort_plan_under_test")
    p = types.SimpleNamespace(idColumn="pid", groupColumn="dx", treatedValue="OPLL", controlValue="CSM",
                              levelColumns="VBQ_C2, VBQ_C3", covariateColumns="age", sexColumn="",
                              matching=True, distance="logit", caliper=0.2, ratio=1, order="largest",
                              replace=False)
    overrides = module.VBQCohortLogic.overridesFrom(p)
    builtin = module.VBQCohortLogic.planFrom("lu2024", overrides)  # read from its JSON twin: no PyYAML in Slicer
    assert builtin == load_plan("lu2024") and builtin.source == "lu2024"
    plan = load_plan(module.VBQCohortLogic.planFrom("custom", overrides)).with_overrides(**overrides)
    assert plan.name == "custom"
    assert plan.columns["id"] == "pid" and plan.columns["levels"] == ["VBQ_C2", "VBQ_C3"]
    assert (plan.columns["treated"], plan.columns["control"]) == ("OPLL", "CSM")
    # without covariates: refused with matching (the plan loader's one-line message), fine without
    p.covariateColumns = ""
    with pytest.raises(ValueError, match="covariates"):
        load_plan(module.VBQCohortLogic.planFrom("custom", module.VBQCohortLogic.overridesFrom(p)))
    p.matching = False
    unmatched = load_plan(module.VBQCohortLogic.planFrom("custom", module.VBQCohortLogic.overridesFrom(p)))
    assert unmatched.to_dict()["matching"]["enabled"] is False
    p.treatedValue = ""
    with pytest.raises(ValueError, match="treated"):
        module.VBQCohortLogic.planFrom("custom", module.VBQCohortLogic.overridesFrom(p))


class _FakeTestCase:
    """Enough of unittest.TestCase + ScriptedLoadableModuleTest to run a test method body outside Slicer."""

    def __init__(self, checks_loader=None):
        import unittest

        self._tc = unittest.TestCase("__init__")
        self._checks = checks_loader
        self.messages = []

    def __getattr__(self, name):  # assertEqual, assertIn, skipTest ...
        return getattr(self._tc, name)

    def delayDisplay(self, message, *args, **kwargs):
        self.messages.append(message)


def test_in_slicer_vbqscore_logic_test_bodies_pass_on_slicer_core(monkeypatch):
    """VBQScoreTest.test_LogicComputeExact / test_QuickRoisAndPlot (not the widget test) with the real
    VBQScoreLogic, the module's own loader of the synthetic checks, and a slicer-core scene."""
    from test_mrml_module_logic import _load, _stub_modules

    scene = slicer.vtkMRMLScene()
    _stub_modules(monkeypatch, scene)
    module = _load(REPO / "VBQScore" / "VBQScore.py", "VBQScore_bodies_under_test")
    fake = _FakeTestCase(module.VBQScoreTest._checks)
    module.VBQScoreTest.test_LogicComputeExact(fake)
    scene.Clear(0)
    module.VBQScoreTest.test_QuickRoisAndPlot(fake)
    assert fake.messages == ["Compute: exact numbers OK", "Quick ROIs and plot OK"]


@pytest.mark.slow  # the whole cohort analysis and report (several seconds on 2 busy cores)
def test_in_slicer_vbqcohort_test_body_passes_on_slicer_core(monkeypatch):
    from test_mrml_module_logic import _load, _stub_modules

    pytest.importorskip("pandas")
    scene = slicer.vtkMRMLScene()
    _stub_modules(monkeypatch, scene)
    monkeypatch.syspath_prepend(str(REPO / "VBQCohort"))
    module = _load(REPO / "VBQCohort" / "VBQCohort.py", "VBQCohort_body_under_test")
    module.VBQCohortTest.test_LoadGuessRun(_FakeTestCase())


def test_cohort_run_reads_the_selected_table_never_the_last_loaded_file(monkeypatch, tmp_path):
    """Issue 20: the selected table is analysed -- its file while it holds what was read from it, else its
    content -- and never ``dataPath`` (the last file loaded with Load)."""
    import types

    from test_mrml_module_logic import _load, _stub_modules

    from VBQCohortLib.analysis.plan import load_plan

    scene = slicer.vtkMRMLScene()
    _stub_modules(monkeypatch, scene)
    monkeypatch.syspath_prepend(str(REPO / "VBQCohort"))
    module = _load(REPO / "VBQCohort" / "VBQCohort.py", "VBQCohort_run_under_test")
    second = tmp_path / "second.csv"
    second.write_text("pid,dx,age,VBQ_C2\nS1,OPLL,60,2.5\n", encoding="utf-8")
    table = scene.AddNewNodeByClass("vtkMRMLTableNode", "second.csv")
    col = __import__("vtk").vtkStringArray()
    col.SetName("pid")
    col.InsertNextValue("S1")
    table.AddColumn(col)
    from VBQCohortModuleLib.source import mark_loaded

    mark_loaded(table, second)
    p = types.SimpleNamespace(idColumn="pid", groupColumn="dx", treatedValue="OPLL", controlValue="CSM",
                              levelColumns="VBQ_C2", covariateColumns="age", sexColumn="", matching=True,
                              distance="logit", caliper=0.2, ratio=1, order="largest", replace=False,
                              inputTable=table, dataPath="/data/first.csv", outputDirectory="/out", plan="custom")
    calls = []
    logic = module.VBQCohortLogic()
    monkeypatch.setattr(logic, "runAnalysis", lambda *a, **k: calls.append((a, k)))
    logic.run(p)
    (path, out), kw = calls[0]
    assert (path, out) == (str(second), "/out")
    assert kw["plan"]["name"] == "custom" and kw["plan"]["columns"]["id"] == "pid"
    p.plan = "lu2024"
    col.SetValue(0, "S2")  # changed in the scene after Load: its content now, in a temporary CSV
    table.Modified()
    logic.run(p)
    assert calls[1][0][0] not in (str(second), "/data/first.csv") and calls[1][1]["plan"] == load_plan("lu2024")
    p.inputTable = None  # no table selected: refused, never the last file loaded
    with pytest.raises(ValueError, match="select the cohort table"):
        logic.run(p)
    assert len(calls) == 2


def test_ensure_requirements_never_installs_in_slicer_testing_mode(tmp_path, monkeypatch):
    """Slicer < 5.12 path: confirmOkCancelDisplay answers OK by itself in testing mode, so the adapter must not
    reach pip_install there (pip_ensure has skip_in_testing for the same reason)."""
    import types

    from VBQScoreLib import mrml

    req = tmp_path / "requirements.txt"
    req.write_text("no-such-package-vbq-xyz>=1\n", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "slicer.packaging", None)  # Slicer 5.10: no slicer.packaging
    installed = []
    monkeypatch.setattr(slicer.util, "pip_install", lambda reqs: installed.append(list(reqs)))
    monkeypatch.setattr(slicer.util, "confirmOkCancelDisplay", lambda text, **kw: True)
    monkeypatch.setattr(slicer, "app", types.SimpleNamespace(testingEnabled=lambda: True), raising=False)
    assert mrml.ensure_requirements(req, "VBQ Cohort") is False and installed == []
    monkeypatch.setattr(slicer, "app", types.SimpleNamespace(testingEnabled=lambda: False), raising=False)
    assert mrml.ensure_requirements(req, "VBQ Cohort") is False  # the stand-in installs nothing
    assert installed == [["no-such-package-vbq-xyz>=1"]]
