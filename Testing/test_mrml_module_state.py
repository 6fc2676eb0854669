"""Issue 20: the Slicer modules' widget state and decisions, on slicer-core with the GUI stubbed (as
test_mrml_module_logic.py does): the widget methods of VBQScore.py run against a fake ``ui`` and a recording
Segment Editor, on real MRML nodes and real segmentation events.

Each test fails on the code before issue 20: a stale result appended under another patient, a source volume
set without a segmentation, Guess importing yaml, Run falling back to the last loaded file, skipTest inside
runTest, undeclared module dependencies, terminology codes in no context Slicer loads, a Cancel lost at a
phase's end, "declined" and "failed" installations confused.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import sys
import types
from pathlib import Path

import pytest

slicer = pytest.importorskip("slicer")
vtk = pytest.importorskip("vtk")

from test_mrml_module_logic import _load, _stub_modules  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------ GUI stand-ins
class _Timer:
    def __init__(self):
        self.active = False

    def setSingleShot(self, v):
        pass

    def setInterval(self, v):
        pass

    def connect(self, signal, slot):
        self.slot = slot

    def start(self):
        self.active = True

    def stop(self):
        self.active = False


class _Button:
    def __init__(self):
        self.enabled = False
        self.toolTip = ""


class _Editor:
    """Records what the widget asks of qMRMLSegmentEditorWidget."""

    def __init__(self):
        self.calls = []
        self._seg = None
        self._src = None

    def segmentationNode(self):
        return self._seg

    def sourceVolumeNode(self):
        return self._src

    def setSegmentationNode(self, node):
        self.calls.append(("setSegmentationNode", node))
        self._seg = node

    def setSourceVolumeNode(self, node):
        self.calls.append(("setSourceVolumeNode", node))
        self._src = node

    def __getattr__(self, name):  # setMRMLSegmentEditorNode, setActiveEffect, removeViewObservations ...
        return lambda *a: self.calls.append((name,) + a)


class _Params:
    """The parameter node's fields (a plain object: hashable, as VTKObservationMixin needs)."""

    def __init__(self, **kw):
        self.inputVolume = self.segmentation = self.outputTable = self.cohortTable = self.roiPoints = None
        self.preset, self.statistic, self.erosionMm, self.midSagittalSlices = "lu2024", "mean", 0.0, 0
        self.liveUpdate = False
        self.__dict__.update(kw)

    def disconnectGui(self, tag):
        pass


@pytest.fixture()
def score(monkeypatch):
    scene = slicer.vtkMRMLScene()
    _stub_modules(monkeypatch, scene)
    qt = sys.modules["qt"]
    monkeypatch.setattr(qt, "QTimer", _Timer, raising=False)
    monkeypatch.setattr(qt, "QInputDialog", types.SimpleNamespace(getText=lambda *a: "PATIENT-B"), raising=False)
    monkeypatch.setattr(slicer.util, "tryWithErrorDisplay", lambda *a, **k: contextlib.nullcontext())
    module = _load(REPO / "VBQScore" / "VBQScore.py", "VBQScore_state_under_test")
    checks = _load(REPO / "VBQScore" / "Testing" / "Python" / "VBQScoreSyntheticChecks.py", "VBQScoreChecks_state")
    return module, checks, scene


def _widget(module, params):
    from VBQScoreModuleLib.state import ResultHolder

    w = module.VBQScoreWidget(None)
    w.parent = types.SimpleNamespace(isEntered=True)
    w.ui = types.SimpleNamespace(
        computeButton=_Button(), createSegmentsButton=_Button(), quickRoiButton=_Button(),
        exportCsvButton=_Button(), appendCohortButton=_Button(), overallLabel=types.SimpleNamespace(text=""),
        flagsText=types.SimpleNamespace(plainText=""), segmentEditorWidget=_Editor(),
        resultsTableView=types.SimpleNamespace(setMRMLTableNode=lambda node: None))
    w.logic = module.VBQScoreLogic()
    # slicer-core registers no vtkMRMLSegmentEditorNode class: a stand-in that lives in the scene
    w._segmentEditorNode = types.SimpleNamespace(GetScene=lambda: slicer.mrmlScene)
    w._result = ResultHolder()
    w._parameterNode = params
    w._onParameterNodeModified()
    return w


def _rows(table):
    return table.GetTable().GetNumberOfRows() if table is not None else 0


# ------------------------------------------------------------------------------------------ 1. stale result
def test_result_holder_keeps_the_key_of_its_inputs():
    from VBQScoreModuleLib.state import ResultHolder, result_key

    a, b, s = slicer.vtkMRMLScalarVolumeNode(), slicer.vtkMRMLScalarVolumeNode(), slicer.vtkMRMLSegmentationNode()
    scene = slicer.vtkMRMLScene()
    for n in (a, b, s):
        scene.AddNode(n)
    opts = dict(preset="lu2024", stat="mean", erode_mm=0.0, mid_sagittal_slices=None)
    h = ResultHolder()
    h.store(result_key(a, s, opts), "A")
    assert h.current(result_key(a, s, dict(opts))) == "A"
    assert h.current(result_key(a, s, opts, segmentationRevision=1)) is None  # segments edited: dropped
    h.store(result_key(a, s, opts), "A")
    assert h.current(result_key(a, s, {**opts, "preset": "soliman2023"})) is None
    h.store(result_key(a, s, opts), "A")
    assert h.current(result_key(b, s, opts)) is None and h.result is None
    assert h.current(result_key(a, s, opts)) is None  # dropped for good: switching back does not revive it
    assert result_key(a, None, opts) is None
    with pytest.raises(ValueError):
        h.store(None, "A")


def test_stale_result_is_not_appended_under_another_patient(score):
    module, checks, scene = score
    logic = module.VBQScoreLogic()
    vol_a, seg = checks.make_partial_scene(scene, logic)
    _, vol_b, _ = checks.make_phantom(scene)
    p = _Params(inputVolume=vol_a, segmentation=seg)
    w = _widget(module, p)
    w._compute(showChart=False)
    assert w._lastResult is not None and w._lastResult.overall["vbq"] == 220.0 / 80.0
    assert w.ui.exportCsvButton.enabled and w.ui.appendCohortButton.enabled
    p.inputVolume = vol_b  # patient B selected, no Compute
    w._onParameterNodeModified()
    assert w._lastResult is None
    assert not w.ui.exportCsvButton.enabled and not w.ui.appendCohortButton.enabled
    assert w.ui.overallLabel.text == "-"
    with pytest.raises(ValueError, match="compute VBQ"):
        w.onAppendCohort()
    assert _rows(p.cohortTable) == 0  # nothing written under B's id
    with pytest.raises(ValueError, match="compute VBQ"):
        w.onExportCsv()


def test_option_change_and_segment_edit_drop_the_result(score):
    module, checks, scene = score
    vol, seg = checks.make_partial_scene(scene, module.VBQScoreLogic())
    p = _Params(inputVolume=vol, segmentation=seg)
    w = _widget(module, p)
    w._compute(showChart=False)
    p.erosionMm = 1.0
    w._onParameterNodeModified()
    assert w._lastResult is None and not w.ui.appendCohortButton.enabled
    p.erosionMm = 0.0
    w._compute(showChart=False)
    assert w.ui.appendCohortButton.enabled
    # a real segmentation event (the user paints / renames): observed while the module is shown
    seg.GetSegmentation().GetSegment("C4").SetName("C4 body")
    assert w._lastResult is None and not w.ui.appendCohortButton.enabled
    # the appended row, after a new Compute, is this result's
    w._compute(showChart=False)
    w.onAppendCohort()
    assert _rows(p.cohortTable) == 1
    assert p.cohortTable.GetTable().GetValueByName(0, "VBQ_C3").ToDouble() == 220.0 / 80.0


def test_failed_recompute_drops_the_result(score):
    module, checks, scene = score
    vol, seg = checks.make_partial_scene(scene, module.VBQScoreLogic())
    p = _Params(inputVolume=vol, segmentation=seg, liveUpdate=True)
    w = _widget(module, p)
    w._compute(showChart=False)
    assert w.ui.exportCsvButton.enabled
    seg.GetSegmentation().RemoveSegment("CSF")  # live update: the timer restarts, the recompute fails
    assert w._liveTimer.active
    assert not w.ui.exportCsvButton.enabled and not w.ui.appendCohortButton.enabled  # at once, not after 0.7 s
    w._busy = True  # a batch is running: its progress dialog processes events; no measuring meanwhile
    w._liveTimer.stop()
    w.onLiveUpdateTimeout()
    assert w._liveTimer.active and w.ui.flagsText.plainText != "" and not w.ui.flagsText.plainText.startswith("Not")
    w._busy = False
    w.onLiveUpdateTimeout()
    assert w.ui.flagsText.plainText.startswith("Not computed:")
    assert w._lastResult is None and not w.ui.exportCsvButton.enabled and not w.ui.appendCohortButton.enabled


def test_output_tables_are_restricted_to_vbq_tables(score):
    module, checks, scene = score
    vol, seg = checks.make_partial_scene(scene, module.VBQScoreLogic())
    cohort = scene.AddNewNodeByClass("vtkMRMLTableNode", "my cohort spreadsheet")
    arr = vtk.vtkStringArray()
    arr.SetName("patient_id")
    arr.InsertNextValue("P1")
    cohort.AddColumn(arr)
    p = _Params(inputVolume=vol, segmentation=seg, outputTable=cohort)
    w = _widget(module, p)
    with pytest.raises(ValueError, match="was not made by VBQ Score"):
        w._compute(showChart=False)
    assert cohort.GetTable().GetNumberOfColumns() == 1 and _rows(cohort) == 1  # not wiped
    p.outputTable = None
    w._compute(showChart=False)
    from VBQScoreModuleLib.state import TABLE_ROLE_ATTRIBUTE

    assert p.outputTable.GetAttribute(TABLE_ROLE_ATTRIBUTE) == "results"
    p.cohortTable = cohort
    with pytest.raises(ValueError, match="was not made by VBQ Score"):
        w.onAppendCohort()
    assert _rows(cohort) == 1
    src = (REPO / "VBQScore" / "VBQScore.py").read_text(encoding="utf-8")
    assert 'outputTableSelector.addAttribute("vtkMRMLTableNode", TABLE_ROLE_ATTRIBUTE, RESULTS_ROLE)' in src
    assert 'cohortTableSelector.addAttribute("vtkMRMLTableNode", TABLE_ROLE_ATTRIBUTE, COHORT_ROLE)' in src


# ------------------------------------------------------------------------------------------ 2. source volume
def test_no_source_volume_before_a_segmentation(score):
    module, checks, scene = score
    _, vol, _ = checks.make_phantom(scene)
    p = _Params(inputVolume=vol)
    w = _widget(module, p)
    for value in (0.5, 1.0, 1.5):  # spin-box changes on the first screen
        p.erosionMm = value
        w._onParameterNodeModified()
    editor = w.ui.segmentEditorWidget
    assert [c for c in editor.calls if c[0] == "setSourceVolumeNode"] == []
    seg = checks.new_segmentation(scene, vol)
    p.segmentation = seg
    w._onParameterNodeModified()
    w._onParameterNodeModified()
    assert [c for c in editor.calls if c[0] == "setSourceVolumeNode"] == [("setSourceVolumeNode", vol)]
    assert editor.segmentationNode() is seg


# ------------------------------------------------------------------------------------------ exit / enter
@pytest.mark.filterwarnings("ignore:does not have observer")  # the stand-in parameter node was never observed
def test_exit_stops_watching_and_enter_resumes(score):
    module, checks, scene = score
    vol, seg = checks.make_partial_scene(scene, module.VBQScoreLogic())
    p = _Params(inputVolume=vol, segmentation=seg, liveUpdate=True)
    w = _widget(module, p)
    assert w._observedSegmentation is seg
    w._liveTimer.start()
    w.parent.isEntered = False
    w.exit()
    assert w._observedSegmentation is None and not w._liveTimer.active
    seg.GetSegmentation().GetSegment("C4").SetName("C4 body")  # a stroke in the Segment Editor module
    assert not w._liveTimer.active
    w.parent.isEntered = True
    w._onParameterNodeModified()  # what enter() -> initializeParameterNode -> setParameterNode does
    assert w._observedSegmentation is seg
    seg.GetSegmentation().GetSegment("C4").SetName("C4")
    assert w._liveTimer.active


def test_effects_registered_later_are_added():
    src = (REPO / "VBQScore" / "VBQScore.py").read_text(encoding="utf-8")
    assert "slicer.qSlicerSegmentEditorEffectFactory.instance()" in src
    assert 'connect("effectRegistered(QString)", self.onEffectRegistered)' in src
    assert 'disconnect("effectRegistered(QString)", self.onEffectRegistered)' in src
    assert "segmentEditorWidget.updateEffectList()" in src


# ------------------------------------------------------------------------------------------ progress
class _Dialog:
    """QProgressDialog's cancel semantics: with autoReset, reaching the maximum resets wasCanceled."""

    def __init__(self, autoReset=True):
        self.autoReset = autoReset
        self.maximum, self._value, self.labelText, self.wasCanceled = 1, 0, "", False

    @property
    def value(self):
        return self._value

    @value.setter
    def value(self, v):
        self._value = v
        if self.autoReset and v >= self.maximum:
            self.wasCanceled = False


@pytest.mark.parametrize("auto_reset", [True, False])
def test_cancel_is_not_lost_when_a_phase_reaches_its_maximum(auto_reset):
    from VBQScoreModuleLib.state import PROGRESS_DIALOG_OPTIONS, CancelledByUser, ProgressReporter

    assert PROGRESS_DIALOG_OPTIONS == dict(autoReset=False, autoClose=False)
    d = _Dialog(auto_reset)
    events = []
    rep = ProgressReporter(d, lambda: events.append(1), final_ok=True)
    rep(1, 3, "a")
    d.wasCanceled = True  # pressed while the last step of the phase runs
    rep(3, 3, "phase done")  # the end of a phase (may be the end of all): no raise yet
    with pytest.raises(CancelledByUser):
        rep(0, 5, "next phase")
    batch = ProgressReporter(_Dialog(auto_reset), lambda: None)
    batch.dialog.wasCanceled = True
    with pytest.raises(KeyboardInterrupt):
        batch(2, 2, "last case")


# ------------------------------------------------------------------------------------------ installation
def _fake_slicer(confirm=True, testing=False, pip=None):
    calls = []
    util = types.SimpleNamespace(
        confirmOkCancelDisplay=lambda text, **kw: calls.append(("ask", text)) or confirm,
        createProgressDialog=lambda **kw: calls.append(("dialog", kw["labelText"])) or types.SimpleNamespace(
            setCancelButton=lambda b: None, close=lambda: calls.append(("closed",))),
        pip_install=pip or (lambda reqs: calls.append(("pip", list(reqs)))))
    app = types.SimpleNamespace(testingEnabled=lambda: testing, processEvents=lambda: None)
    return types.SimpleNamespace(util=util, app=app), calls


def test_install_declined_vs_failed(tmp_path, monkeypatch):
    from subprocess import CalledProcessError

    from VBQScoreModuleLib import dependencies

    req = tmp_path / "requirements.txt"
    req.write_text("numpy>=1.0\nno-such-package-vbq-xyz>=1\n", encoding="utf-8")
    qt = types.ModuleType("qt")
    qt.Qt = types.SimpleNamespace(ApplicationModal=2)
    monkeypatch.setitem(sys.modules, "qt", qt)
    monkeypatch.setitem(sys.modules, "slicer.packaging", None)  # Slicer 5.10
    fake, calls = _fake_slicer(confirm=False)
    assert dependencies.ensure_requirements(req, "VBQ Cohort", slicer_module=fake) is False  # declined
    assert calls[0][0] == "ask" and "- no-such-package-vbq-xyz>=1" in calls[0][1] and len(calls) == 1

    def failing(reqs):
        raise CalledProcessError(1, "pip install")

    fake, calls = _fake_slicer(pip=failing)
    with pytest.raises(dependencies.InstallFailed, match="installing no-such-package-vbq-xyz>=1 failed"):
        dependencies.ensure_requirements(req, "VBQ Cohort", slicer_module=fake)
    # 5.10: a busy dialog named what was being installed, and it was closed
    assert ("dialog", "Installing no-such-package-vbq-xyz>=1\n(pip's messages are in the Python console)") in calls
    assert calls[-1] == ("closed",)
    fake, calls = _fake_slicer()  # pip "succeeds" but the package is still missing
    with pytest.raises(dependencies.InstallFailed, match="still missing"):
        dependencies.ensure_requirements(req, "VBQ Cohort", slicer_module=fake)
    assert ("pip", ["no-such-package-vbq-xyz>=1"]) in calls
    fake, calls = _fake_slicer(testing=True)
    assert dependencies.ensure_requirements(req, "VBQ Cohort", slicer_module=fake) is False and calls == []

    # Slicer >= 5.12: asked by us, then pip_ensure without its own prompt; any exception of it is a failure
    pkg = types.ModuleType("slicer.packaging")
    seen = []

    def pip_ensure(reqs, prompt_install, requester):
        seen.append(([str(r) for r in reqs], prompt_install, requester))
        raise RuntimeError("pip install already in progress")

    pkg.pip_ensure = pip_ensure
    monkeypatch.setitem(sys.modules, "slicer.packaging", pkg)
    fake, calls = _fake_slicer()
    with pytest.raises(dependencies.InstallFailed, match="already in progress"):
        dependencies.ensure_requirements(req, "VBQ Cohort", slicer_module=fake)
    assert seen == [(["no-such-package-vbq-xyz>=1"], False, "VBQ Cohort")]
    ok = tmp_path / "ok.txt"
    ok.write_text("numpy>=1.0\n", encoding="utf-8")
    assert dependencies.ensure_requirements(ok, "VBQ Cohort", slicer_module=fake) is True


def test_modules_use_the_install_helper_that_tells_declined_from_failed():
    for path in (REPO / "VBQScore" / "VBQScore.py", REPO / "VBQCohort" / "VBQCohort.py"):
        src = path.read_text(encoding="utf-8")
        assert "from VBQScoreModuleLib.dependencies import ensure_requirements" in src, path.name
        assert "from VBQScoreLib.mrml import ensure_requirements" not in src, path.name


# ------------------------------------------------------------------------------------------ terminology
def test_level_terminology_context_is_shipped_and_holds_every_code():
    from VBQScoreLib import mrml
    from VBQScoreModuleLib import terminology

    path = terminology.resource_path(str(REPO / "VBQScore"))
    assert json.loads(Path(path).read_text(encoding="utf-8")) == terminology.context_dict(), \
        "regenerate: python -m VBQScoreModuleLib.terminology " + path
    logic = slicer.vtkSlicerTerminologiesModuleLogic()
    assert terminology.load_context(logic, path) == mrml.TERMINOLOGY_CONTEXT
    assert terminology.load_context(logic, path) == mrml.TERMINOLOGY_CONTEXT  # loaded once
    for level, (code, meaning) in mrml.SNOMED_CODES.items():
        entry = slicer.vtkSlicerTerminologyEntry()
        assert logic.DeserializeTerminologyEntry(mrml.terminology_entry(level), entry)
        # the entry names the loaded context, and that context has the type under the entry's category
        assert entry.GetTerminologyContextName() == mrml.TERMINOLOGY_CONTEXT
        found = slicer.vtkSlicerTerminologyEntry()
        assert logic.FindTypeInTerminologyBy3dSlicerLabel(mrml.TERMINOLOGY_CONTEXT, level, found), level
        assert (found.GetTypeObject().GetCodeValue(), found.GetTypeObject().GetCodeMeaning()) == (code, meaning)
        assert found.GetCategoryObject().GetCodeValue() == entry.GetCategoryObject().GetCodeValue() == "123037004"
    cmake = (REPO / "VBQScore" / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "Resources/Terminology/" + terminology.FILE_NAME in cmake


def test_in_slicer_terminology_test_body_passes(score, monkeypatch):
    """VBQScoreTest.test_TerminologyContext with Slicer's terminology logic class from slicer-core; and
    Create level segments loads the context first."""
    from test_mrml_slicer_api import _FakeTestCase

    module, checks, scene = score
    tlogic = slicer.vtkSlicerTerminologiesModuleLogic()
    monkeypatch.setattr(slicer, "modules", types.SimpleNamespace(
        terminologies=types.SimpleNamespace(logic=lambda: tlogic)), raising=False)
    from VBQScoreLib import mrml

    assert not tlogic.IsTerminologyContextLoaded(mrml.TERMINOLOGY_CONTEXT)
    seg = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    module.VBQScoreLogic().createLevelSegments(seg, "lu2024")
    assert tlogic.IsTerminologyContextLoaded(mrml.TERMINOLOGY_CONTEXT)
    fake = _FakeTestCase()
    module.VBQScoreTest.test_TerminologyContext(fake)
    assert fake.messages == ["Terminology context OK"]


# ------------------------------------------------------------------------------------------ 6. dependencies
@pytest.mark.parametrize("name", ["VBQScore", "VBQCohort"])
def test_module_dependencies_cover_the_slicer_modules_used(name, monkeypatch):
    scene = slicer.vtkMRMLScene()
    _stub_modules(monkeypatch, scene)
    monkeypatch.setitem(sys.modules, "qt", types.SimpleNamespace(QTimer=_Timer))
    monkeypatch.syspath_prepend(str(REPO / "VBQCohort"))
    module = _load(REPO / name / f"{name}.py", f"{name}_deps_under_test")
    m = getattr(module, name)(types.SimpleNamespace())
    declared = {d.lower() for d in m.parent.dependencies}
    used = {u.lower() for u in re.findall(r"slicer\.modules\.(\w+)", (REPO / name / f"{name}.py").read_text(
        encoding="utf-8"))}
    used -= {name.lower(), f"{name}widget".lower()}  # the module itself (its own test selects it)
    assert used <= declared, sorted(used - declared)
    if name == "VBQCohort":
        assert {"plots", "tables", "vbqscore"} <= declared
    else:
        assert {"segmentations", "markups", "plots", "tables", "terminologies"} <= declared


@pytest.mark.parametrize("name", ["VBQScore", "VBQCohort"])
def test_in_slicer_dependency_test_bodies_pass(name, monkeypatch):
    from test_mrml_slicer_api import _FakeTestCase

    scene = slicer.vtkMRMLScene()
    _stub_modules(monkeypatch, scene)
    monkeypatch.setitem(sys.modules, "qt", types.SimpleNamespace(QTimer=_Timer))
    monkeypatch.syspath_prepend(str(REPO / "VBQCohort"))
    module = _load(REPO / name / f"{name}.py", f"{name}_deps_body_under_test")
    m = getattr(module, name)(types.SimpleNamespace())
    monkeypatch.setattr(slicer, "modules", types.SimpleNamespace(**{name.lower(): m.parent}), raising=False)
    fake = _FakeTestCase()
    getattr(module, f"{name}Test").test_ModuleDependencies(fake)
    assert fake.messages == ["Dependencies OK"]
    m.parent.dependencies = [d for d in m.parent.dependencies if d != "Plots"]  # the defect of issue 20
    with pytest.raises(AssertionError):
        getattr(module, f"{name}Test").test_ModuleDependencies(_FakeTestCase())


# ------------------------------------------------------------------------------------------ 5. runTest
@pytest.mark.parametrize("name", ["VBQScore", "VBQCohort"])
def test_no_skiptest_in_the_module_test_classes(name):
    src = (REPO / name / f"{name}.py").read_text(encoding="utf-8")
    assert "skipTest(" not in src  # Reload and Test calls runTest directly: a SkipTest is reported as a failure


def test_cohort_test_returns_early_with_a_message_when_requirements_are_missing(monkeypatch):
    from test_mrml_slicer_api import _FakeTestCase

    scene = slicer.vtkMRMLScene()
    _stub_modules(monkeypatch, scene)
    monkeypatch.syspath_prepend(str(REPO / "VBQCohort"))
    module = _load(REPO / "VBQCohort" / "VBQCohort.py", "VBQCohort_skip_under_test")
    monkeypatch.setattr(module.VBQCohortLogic, "missingRequirements", staticmethod(lambda path=None: ["pandas>=2"]))
    fake = _FakeTestCase()
    module.VBQCohortTest.test_LoadGuessRun(fake)  # no SkipTest raised
    module.VBQCohortTest.test_RunOnSceneCohortTable(fake)
    assert len(fake.messages) == 2 and all(m.startswith("Test skipped: ") for m in fake.messages)


# ------------------------------------------------------------------------------------------ 3. Guess without yaml
@pytest.fixture()
def cohort(monkeypatch):
    scene = slicer.vtkMRMLScene()
    _stub_modules(monkeypatch, scene)
    monkeypatch.syspath_prepend(str(REPO / "VBQCohort"))
    module = _load(REPO / "VBQCohort" / "VBQCohort.py", "VBQCohort_state_under_test")
    return module, scene


def _cohort_rows(n=24):
    """VBQ Score's cohort rows (case_id, status, VBQ_<level>) plus a group and an age column."""
    return [{"case_id": f"P{i:03d}", "status": "ok", **{f"VBQ_C{k}": round(2.0 + 0.05 * i + 0.1 * k, 4)
                                                        for k in range(2, 8)},
             "diagnosis": "OPLL" if i < 12 else "CSM", "age": float(50 + i % 7)} for i in range(n)]


def _scene_table(scene, name, rows):
    """A table made in the scene only, by VBQ Score's Append to cohort table (mrml.append_cohort_row)."""
    from VBQScoreLib.mrml import append_cohort_row

    node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    for row in rows:
        append_cohort_row(node, row)
    return node


def test_builtin_plans_json_twins_equal_the_yaml():
    yaml = pytest.importorskip("yaml")
    from VBQCohortLib.analysis.plan import BUILTIN, load_plan
    from VBQCohortModuleLib.plans import builtin_json_path, builtin_plan, plans_dir

    for name in BUILTIN:
        y = yaml.safe_load((plans_dir() / f"{name}.yaml").read_text(encoding="utf-8"))
        assert json.loads(builtin_json_path(name).read_text(encoding="utf-8")) == y, \
            "regenerate the JSON twins: python -m VBQCohortModuleLib.plans"
        assert builtin_plan(name) == load_plan(name)
    assert sorted(p.stem for p in plans_dir().glob("*.json")) == sorted(p.stem for p in plans_dir().glob("*.yaml"))
    cmake = (REPO / "VBQCohort" / "CMakeLists.txt").read_text(encoding="utf-8")
    for name in BUILTIN:
        assert f"VBQCohortLib/plans/{name}.json" in cmake


def test_guess_columns_without_yaml(cohort, monkeypatch):
    module, scene = cohort
    node = _scene_table(scene, "VBQ cohort", _cohort_rows())
    monkeypatch.setitem(sys.modules, "yaml", None)  # a fresh Slicer: no PyYAML (the plan module imports it lazily)
    with pytest.raises(ImportError):
        import yaml  # noqa: F401
    g = module.VBQCohortLogic().guessColumns(node, "lu2024")
    assert (g["id"], g["group"], g["treated"], g["control"]) == ("case_id", "diagnosis", "OPLL", "CSM")
    assert g["levels"] == [f"VBQ_C{k}" for k in range(2, 8)]
    assert module.VBQCohortLogic.planFrom("lu2024", {}).source == "lu2024"
    src = (REPO / "VBQCohort" / "VBQCohort.py").read_text(encoding="utf-8")
    lines = (REPO / "VBQCohort" / "Resources" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert not [ln for ln in lines if ln.split("#")[0].strip().lower().startswith("pyyaml")]
    assert "load_plan" not in src


def test_in_slicer_guess_body_passes_without_yaml(cohort, monkeypatch):
    from test_mrml_slicer_api import _FakeTestCase

    module, scene = cohort
    fake = _FakeTestCase()
    module.VBQCohortTest.test_GuessWithoutYaml(fake)
    module.VBQCohortTest.test_ModuleDependencies.__code__  # runs only in Slicer (slicer.modules)
    assert fake.messages == ["Guess without PyYAML OK"]


# ------------------------------------------------------------------------------------------ 4. Run on the selected table
def _params(table, tmp_path, **kw):
    p = types.SimpleNamespace(inputTable=table, dataPath=str(tmp_path / "first.csv"), plan="custom",
                              idColumn="case_id", groupColumn="diagnosis", treatedValue="OPLL", controlValue="CSM",
                              levelColumns="VBQ_C2, VBQ_C3", covariateColumns="age", sexColumn="", matching=False,
                              distance="logit", caliper=0.2, ratio=1, order="largest", replace=False,
                              outputDirectory=str(tmp_path / "out"))
    p.__dict__.update(kw)
    return p


def _recording_logic(module, monkeypatch):
    logic = module.VBQCohortLogic()
    calls = []

    def record(path, out, **kw):
        with open(path, encoding="utf-8") as f:
            calls.append((path, f.read(), kw))
        return {"recorded": True}

    monkeypatch.setattr(logic, "runAnalysis", record)
    return logic, calls


def test_run_never_falls_back_to_another_file(cohort, tmp_path, monkeypatch):
    module, scene = cohort
    pytest.importorskip("pandas")
    first = tmp_path / "first.csv"
    first.write_text("case_id,diagnosis,age,VBQ_C2,VBQ_C3\nX1,OPLL,60,9,9\nX2,CSM,61,9,9\n", encoding="utf-8")
    logic, calls = _recording_logic(module, monkeypatch)
    loaded = logic.loadSpreadsheet(str(first))  # Load: its file is analysed while the table is unchanged
    logic.run(_params(loaded, tmp_path))
    assert calls[-1][0] == str(first)
    # VBQ Score's cohort table (no file): its own content, through a temporary CSV named after it
    table = _scene_table(scene, "VBQ cohort", _cohort_rows(3))
    logic.run(_params(table, tmp_path))
    path, text, _ = calls[-1]
    assert path != str(first) and Path(path).name == "VBQ cohort.csv" and not Path(path).exists()  # removed
    lines = text.splitlines()
    assert lines[0].startswith("case_id,status,VBQ_C2,VBQ_C3")
    assert lines[1].split(",")[:4] == ["P000", "ok", repr(2.2), repr(2.3)]
    assert "X1" not in text and len(lines) == 4
    # the loaded table edited in the scene: its content now, not the file
    header = [loaded.GetColumnName(c) for c in range(loaded.GetNumberOfColumns())]
    loaded.SetCellText(0, header.index("VBQ_C2"), "1.25")
    logic.run(_params(loaded, tmp_path))
    path, text, _ = calls[-1]
    assert path != str(first)
    rows = [dict(zip(header, line.split(","))) for line in text.splitlines()[1:]]
    assert [(r["case_id"], r["VBQ_C2"], r["VBQ_C3"]) for r in rows] == [("X1", "1.25", "9.0"), ("X2", "9.0", "9.0")]
    with pytest.raises(ValueError, match="select the cohort table"):
        logic.run(_params(None, tmp_path))


def test_run_uses_the_storage_node_file_of_an_add_data_table(cohort, tmp_path, monkeypatch):
    module, scene = cohort
    path = tmp_path / "added.csv"
    path.write_text("case_id,diagnosis,age,VBQ_C2,VBQ_C3\nA,OPLL,60,2.5,2.6\nB,CSM,61,3.0,3.1\n", encoding="utf-8")
    table = scene.AddNewNodeByClass("vtkMRMLTableNode", "added")
    storage = scene.AddNewNodeByClass("vtkMRMLTableStorageNode")
    storage.SetFileName(str(path))
    table.SetAndObserveStorageNodeID(storage.GetID())
    assert storage.ReadData(table)
    logic, calls = _recording_logic(module, monkeypatch)
    logic.run(_params(table, tmp_path))
    assert calls[-1][0] == str(path)
    table.SetCellText(1, 3, "3.5")  # modified since read: the content, not the file
    logic.run(_params(table, tmp_path))
    assert calls[-1][0] != str(path) and "B,CSM,61,3.5,3.1" in calls[-1][1].splitlines()


@pytest.mark.slow  # the whole cohort analysis and report (several seconds on 2 busy cores)
def test_in_scene_workflow_append_then_run_without_a_file_and_without_yaml(cohort, monkeypatch):
    """VBQ Score -> Append to cohort table -> VBQ Cohort -> Run, no file saved, no PyYAML: the in-Slicer test
    body, with exact numbers (W = 0, p = 2 / choose(24, 12), OPLL median C3 = 2.575)."""
    from test_mrml_slicer_api import _FakeTestCase

    pytest.importorskip("pandas")
    module, scene = cohort
    monkeypatch.setitem(sys.modules, "yaml", None)
    fake = _FakeTestCase()
    module.VBQCohortTest.test_RunOnSceneCohortTable(fake)
    assert fake.messages == ["Run on the scene's cohort table OK"]
    assert math.comb(24, 12) == 2704156
