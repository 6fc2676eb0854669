"""VBQScore: vertebral bone quality (VBQ) score from a T1 MRI in 3D Slicer.

Thin Slicer glue over :mod:`VBQScoreLib` (the measuring core, also used by the ``vbq`` command) and
:mod:`VBQScoreLib.mrml` (the MRML adapter). Everything numeric happens in the Lib and is tested there.
"""


import os
from typing import Annotated, Optional

import qt
import slicer
import vtk
from slicer import vtkMRMLMarkupsFiducialNode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleLogic,
                                           ScriptedLoadableModuleTest, ScriptedLoadableModuleWidget)
from slicer.util import VTKObservationMixin

PRESET_CHOICES = ["lu2024", "soliman2023", "razzouk2022", "ehresman2020"]
STAT_CHOICES = ["mean", "median"]
LIVE_UPDATE_DELAY_MS = 700
# unique file name: all modules of an extension install their Resources into one folder
REQUIREMENTS = os.path.join(os.path.dirname(__file__), "Resources", "VBQScoreRequirements.txt")


#
# VBQScore
#
class VBQScore(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "VBQ Score"
        self.parent.categories = ["Quantification"]
        self.parent.dependencies = ["Segmentations", "Markups", "Plots"]
        self.parent.contributors = ["SlicerVBQ contributors"]
        self.parent.helpText = """
Vertebral bone quality (VBQ) score on a non-contrast sagittal T1-weighted MRI: VBQ of a level = signal
intensity (SI) of the medullary bone ROI / SI of the CSF ROI; the overall VBQ aggregates the levels of the
chosen preset (lu2024: C2-C7, mean, CSF in the cisterna magna). Create the level segments, draw them with the
Segment Editor (or drop one point per level and use Quick ROIs), then Compute. Quality flags (tiny or
heterogeneous ROIs, implausible values, fat-saturated or contrast series) are shown under the results.
See <a href="https://github.com/SlicerVBQ/SlicerVBQ">the documentation</a>.
"""
        self.parent.acknowledgementText = """
VBQ definitions: Ehresman et al. 2020 (lumbar), Soliman et al. 2023, Razzouk et al. 2022, Lu et al. 2024
(The Spine Journal 24(7):1153-1161). Module layout after the 3D Slicer scripted module template.
"""


#
# Parameter node
#
@parameterNodeWrapper
class VBQScoreParameterNode:
    """Everything the module panel holds; saved with the scene."""

    inputVolume: vtkMRMLScalarVolumeNode
    segmentation: vtkMRMLSegmentationNode
    preset: Annotated[str, Choice(PRESET_CHOICES)] = "lu2024"
    statistic: Annotated[str, Choice(STAT_CHOICES)] = "mean"
    erosionMm: Annotated[float, WithinRange(0.0, 10.0)] = 0.0
    midSagittalSlices: Annotated[int, WithinRange(0, 99)] = 0  # 0 = all slices of each ROI
    outputTable: vtkMRMLTableNode
    cohortTable: vtkMRMLTableNode
    roiPoints: vtkMRMLMarkupsFiducialNode
    roiRadiusMm: Annotated[float, WithinRange(1.0, 40.0)] = 8.0
    roiSagittalSlices: Annotated[int, WithinRange(1, 21)] = 3
    roiErosionMm: Annotated[float, WithinRange(0.0, 5.0)] = 1.0
    liveUpdate: bool = False


def _reloadLib():
    """Reload VBQScoreLib (developer "Reload" button): submodules first, then the package."""
    import importlib
    import sys

    names = sorted((n for n in sys.modules if n == "VBQScoreLib" or n.startswith("VBQScoreLib.")), reverse=True)
    for name in names:
        importlib.reload(sys.modules[name])


#
# Widget
#
class VBQScoreWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._observedSegmentation = None
        self._lastResult = None
        self._segmentEditorNode = None
        self._liveTimer = qt.QTimer()
        self._liveTimer.setSingleShot(True)
        self._liveTimer.setInterval(LIVE_UPDATE_DELAY_MS)
        self._liveTimer.connect("timeout()", self.onLiveUpdateTimeout)

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/VBQScore.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        self.logic = VBQScoreLogic()
        # like Slicer's Segment Editor module: undo states, and the editor node set before the scene so that
        # the editor's automatic selections are stored in our own node
        self.ui.segmentEditorWidget.setMaximumNumberOfUndoStates(10)
        self._segmentEditorNode = self.logic.segmentEditorNode()
        self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(self._segmentEditorNode)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.createSegmentsButton.connect("clicked(bool)", self.onCreateSegments)
        self.ui.quickRoiButton.connect("clicked(bool)", self.onQuickRois)
        self.ui.computeButton.connect("clicked(bool)", self.onCompute)
        self.ui.exportCsvButton.connect("clicked(bool)", self.onExportCsv)
        self.ui.appendCohortButton.connect("clicked(bool)", self.onAppendCohort)
        self.ui.batchButton.connect("clicked(bool)", self.onBatch)
        self.ui.compareButton.connect("clicked(bool)", self.onCompare)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self._liveTimer.stop()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()
        # Segment Editor keyboard shortcuts while this module is shown (as Slicer's Segment Editor module does)
        self.ui.segmentEditorWidget.installKeyboardShortcuts()

    def exit(self) -> None:
        # deactivating the effect also removes the editor's slice-view observations
        self.ui.segmentEditorWidget.setActiveEffect(None)
        self.ui.segmentEditorWidget.uninstallKeyboardShortcuts()
        self.ui.segmentEditorWidget.removeViewObservations()
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)

    def onSceneStartClose(self, caller, event) -> None:
        self._liveTimer.stop()
        self._observeSegmentation(None)
        self._lastResult = None
        self.setParameterNode(None)
        self.ui.segmentEditorWidget.removeViewObservations()

    def onSceneEndClose(self, caller, event) -> None:
        self._segmentEditorNode = None
        if self.parent.isEntered:
            self.initializeParameterNode()

    def onReload(self) -> None:
        _reloadLib()
        super().onReload()

    # -- parameter node
    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        p = self._parameterNode
        if not p.inputVolume:
            first = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if first and not first.IsA("vtkMRMLLabelMapVolumeNode"):
                p.inputVolume = first
        if not p.segmentation:
            first = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLSegmentationNode")
            if first:
                p.segmentation = first

    def setParameterNode(self, inputParameterNode: Optional[VBQScoreParameterNode]) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._onParameterNodeModified()

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        p = self._parameterNode
        ready = bool(p and p.inputVolume and p.segmentation)
        self.ui.computeButton.enabled = ready
        self.ui.computeButton.toolTip = "Measure VBQ" if ready else "Select the MRI volume and the segmentation"
        self.ui.createSegmentsButton.enabled = bool(p and p.segmentation)
        self.ui.quickRoiButton.enabled = bool(ready and p.roiPoints)
        self.ui.exportCsvButton.enabled = self._lastResult is not None
        self.ui.appendCohortButton.enabled = self._lastResult is not None
        self._updateSegmentEditor()
        self._observeSegmentation(p.segmentation if (p and p.liveUpdate) else None)

    def _updateSegmentEditor(self) -> None:
        p = self._parameterNode
        editor = self.ui.segmentEditorWidget
        if p is None:  # scene closing: do not create nodes
            editor.setSegmentationNode(None)
            return
        if self._segmentEditorNode is None or self._segmentEditorNode.GetScene() is None:
            self._segmentEditorNode = self.logic.segmentEditorNode()
            editor.setMRMLSegmentEditorNode(self._segmentEditorNode)
        editor.setSegmentationNode(p.segmentation)
        if editor.sourceVolumeNode() != p.inputVolume:
            editor.setSourceVolumeNode(p.inputVolume)  # the "master" volume API is deprecated since 5.2

    # -- live update: recompute (throttled) when the segmentation changes
    def _observeSegmentation(self, segmentationNode) -> None:
        if segmentationNode is self._observedSegmentation:
            return
        # source representation only (as Slicer's auto-complete effects observe): derived representations
        # (closed surface for 3D display) are rebuilt after each stroke and must not trigger a second computation
        events = (slicer.vtkSegmentation.SourceRepresentationModified, slicer.vtkSegmentation.SegmentAdded,
                  slicer.vtkSegmentation.SegmentRemoved, slicer.vtkSegmentation.SegmentModified)
        if self._observedSegmentation is not None:
            for e in events:
                self.removeObserver(self._observedSegmentation.GetSegmentation(), e, self._onSegmentationChanged)
        self._observedSegmentation = segmentationNode
        if segmentationNode is not None:
            for e in events:
                self.addObserver(segmentationNode.GetSegmentation(), e, self._onSegmentationChanged)

    def _onSegmentationChanged(self, caller=None, event=None) -> None:
        self._liveTimer.start()  # restarts: one computation after the brush stops for a moment

    def onLiveUpdateTimeout(self) -> None:
        p = self._parameterNode
        if not (p and p.liveUpdate and p.inputVolume and p.segmentation):
            return
        try:
            # no layout switch while the user paints (ShowChartInLayout changes the view arrangement)
            self._compute(showChart=False)
        except ValueError as exc:  # bad input while drawing (e.g. no CSF yet): say so, no dialog
            self.ui.overallLabel.text = "-"
            self.ui.flagsText.plainText = f"Not computed: {exc}"

    # -- buttons
    def onCreateSegments(self) -> None:
        with slicer.util.tryWithErrorDisplay("Failed to create the level segments.", waitCursor=True):
            p = self._parameterNode
            self.logic.createLevelSegments(p.segmentation, p.preset)

    def onQuickRois(self) -> None:
        with slicer.util.tryWithErrorDisplay("Failed to create quick ROIs.", waitCursor=True):
            p = self._parameterNode
            self.logic.quickRois(p.inputVolume, p.segmentation, p.roiPoints, p.roiRadiusMm, p.roiSagittalSlices,
                                 p.roiErosionMm)

    def onCompute(self) -> None:
        with slicer.util.tryWithErrorDisplay("Failed to compute VBQ.", waitCursor=True):
            self._compute()

    def _compute(self, showChart: bool = True) -> None:
        p = self._parameterNode
        if not p.outputTable:
            p.outputTable = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", "VBQ results")
        result = self.logic.compute(p.inputVolume, p.segmentation, p.outputTable, **self.logic.optionsFrom(p))
        self._lastResult = result
        chart = self.logic.updatePlot(result, p.outputTable)
        self.ui.overallLabel.text = self.logic.overallText(result)
        self.ui.flagsText.plainText = self.logic.flagsText(result)
        self._onParameterNodeModified()
        if showChart:
            slicer.modules.plots.logic().ShowChartInLayout(chart)
        self.ui.resultsTableView.setMRMLTableNode(p.outputTable)

    def onExportCsv(self) -> None:
        with slicer.util.tryWithErrorDisplay("Failed to export CSV.", waitCursor=False):
            path = qt.QFileDialog.getSaveFileName(self.parent, "Export VBQ results", "vbq.csv", "CSV (*.csv)")
            if path:
                self.logic.exportCsv(self._lastResult, path)

    def onAppendCohort(self) -> None:
        with slicer.util.tryWithErrorDisplay("Failed to append to the cohort table.", waitCursor=False):
            p = self._parameterNode
            caseId = self.logic.patientId(p.inputVolume)
            if not caseId:
                caseId = qt.QInputDialog.getText(self.parent, "Case id", "No DICOM patient id: case id for this row:")
                if not caseId:
                    return
            if not p.cohortTable:
                p.cohortTable = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", "VBQ cohort")
            self.logic.appendToCohort(self._lastResult, p.cohortTable, caseId)

    def onBatch(self) -> None:
        with slicer.util.tryWithErrorDisplay("Batch run failed.", waitCursor=False):
            folder = self.ui.batchFolderEdit.currentPath
            outCsv = self.ui.batchOutputEdit.currentPath
            pattern = self.ui.batchPatternEdit.text.strip() or None
            self.ui.batchFolderEdit.addCurrentPathToHistory()  # settingKey: offered again next time
            dialog = slicer.util.createProgressDialog(parent=self.parent, value=0, maximum=1,
                                                      labelText="Measuring cases...", windowTitle="VBQ batch")

            def progress(done, total, message):
                dialog.maximum = max(total, 1)
                dialog.value = done
                dialog.labelText = f"{done} of {total}: {message}"
                slicer.app.processEvents()
                if dialog.wasCanceled:
                    raise KeyboardInterrupt("cancelled")

            try:
                summary, table = self.logic.runBatch(folder, outCsv, pattern=pattern,
                                                     progress=progress, **self.logic.optionsFrom(self._parameterNode))
            except KeyboardInterrupt:
                slicer.util.infoDisplay("Batch cancelled: the output CSV was not written (cases finished so far "
                                        "are kept in the journal file beside it).")
                return
            finally:
                dialog.close()
            text = f"{summary.n_ok} of {summary.n_cases} cases measured; results in {summary.out_csv}."
            if summary.failed:
                text += "\n\nFailed:\n" + "\n".join(f"{cid}: {err}" for cid, err in summary.failed[:20])
            slicer.util.infoDisplay(text, windowTitle="VBQ batch")
            self.ui.resultsTableView.setMRMLTableNode(table)

    def onCompare(self) -> None:
        with slicer.util.tryWithErrorDisplay("Failed to compare the segmentations.", waitCursor=True):
            p = self._parameterNode
            table, _, warnings = self.logic.compareSegmentations(
                p.inputVolume, p.segmentation, self.ui.compareSegmentationSelector.currentNode())
            self.ui.resultsTableView.setMRMLTableNode(table)
            if warnings:
                slicer.util.warningDisplay("\n".join(warnings), windowTitle="VBQ overlap")


#
# Logic
#
class VBQScoreLogic(ScriptedLoadableModuleLogic):
    """Usable without the GUI, e.g. from the Python console or a script:

        logic = VBQScoreLogic()
        result = logic.compute(volumeNode, segmentationNode, preset="lu2024", erode_mm=1.0)
        print(result.overall["vbq"])
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        return VBQScoreParameterNode(super().getParameterNode())

    @staticmethod
    def optionsFrom(p) -> dict:
        """ScoreOptions keyword arguments from the parameter node."""
        return dict(preset=p.preset, stat=p.statistic, erode_mm=float(p.erosionMm),
                    mid_sagittal_slices=int(p.midSagittalSlices) or None)

    def segmentEditorNode(self):
        node = slicer.mrmlScene.GetSingletonNode("VBQScore", "vtkMRMLSegmentEditorNode")
        if node is None:
            node = slicer.mrmlScene.CreateNodeByClass("vtkMRMLSegmentEditorNode")
            node.UnRegister(None)
            node.SetSingletonTag("VBQScore")
            node = slicer.mrmlScene.AddNode(node)
        return node

    def createLevelSegments(self, segmentationNode, preset: str = "lu2024") -> dict:
        """The preset's level segments + the CSF segment (named after the preset's CSF reference)."""
        from VBQScoreLib import mrml

        return mrml.create_preset_segments(segmentationNode, preset)

    def quickRois(self, volumeNode, segmentationNode, markupsNode, radiusMm=8.0, sagittalSlices=3, erosionMm=1.0):
        from VBQScoreLib import mrml
        from VBQScoreLib.measuring.quick_roi import QuickRoiSettings

        settings = QuickRoiSettings(radius_mm=float(radiusMm), sagittal_slices=int(sagittalSlices),
                                    erode_mm=float(erosionMm))
        return mrml.quick_rois(volumeNode, segmentationNode, markupsNode, settings)

    def compute(self, volumeNode, segmentationNode, tableNode=None, **options):
        """Measure VBQ; fill ``tableNode`` (created when None) and return the VBQResult."""
        from VBQScoreLib import mrml

        result, self.lastTableNode = mrml.measure_into_table(volumeNode, segmentationNode, tableNode, **options)
        return result

    def compareSegmentations(self, volumeNode, segmentationNode, otherSegmentationNode, tableNode=None):
        """Per-level Dice, Jaccard, HD95 and max HD (mm) of two segmentations on the volume's grid into
        ``tableNode`` (default: the table "VBQ overlap"). Returns ``(tableNode, metrics by level, warnings)``."""
        from VBQScoreLib import mrml

        tableNode = tableNode or mrml.named_node(slicer.mrmlScene, "vtkMRMLTableNode", "VBQ overlap")
        res, warnings = mrml.overlap_nodes(volumeNode, segmentationNode, otherSegmentationNode, tableNode)
        return tableNode, res, warnings

    def updatePlot(self, result, tableNode):
        """Bar chart of VBQ per level (plot table, series and chart nodes are reused by name)."""
        from VBQScoreLib import mrml

        return mrml.result_to_plot(slicer.mrmlScene, result)

    @staticmethod
    def overallText(result) -> str:
        from VBQScoreLib import mrml

        return mrml.overall_text(result)

    @staticmethod
    def flagsText(result) -> str:
        from VBQScoreLib import mrml

        return mrml.flags_text(result)

    @staticmethod
    def exportCsv(result, path) -> None:
        """The per-level CSV of ``vbq score --csv`` (written atomically)."""
        from VBQScoreLib.atomic import write_text_atomic

        if result is None:
            raise ValueError("compute VBQ first")
        write_text_atomic(path, result.to_csv())

    @staticmethod
    def patientId(volumeNode) -> Optional[str]:
        from VBQScoreLib import mrml

        return mrml.patient_id(volumeNode)

    @staticmethod
    def appendToCohort(result, cohortTableNode, caseId) -> int:
        from VBQScoreLib import mrml

        if result is None:
            raise ValueError("compute VBQ first")
        return mrml.append_cohort_row(cohortTableNode, mrml.cohort_row(result, caseId))

    def runBatch(self, folder, outCsv, pattern=None, progress=None, **options):
        """Measure every case of a folder (or a manifest CSV) in this process; load the table into the scene."""
        from VBQScoreLib.mrml import ensure_requirements

        if not ensure_requirements(REQUIREMENTS, "VBQ Score batch"):  # slicerio for .seg.nrrd files
            raise ValueError("the batch needs the Python packages in VBQScore/Resources/VBQScoreRequirements.txt")
        from VBQScoreLib.batch import load_cases, run_batch
        from VBQScoreLib.measuring.options import ScoreOptions

        if not folder:
            raise ValueError("choose the folder with the cases (or a manifest CSV)")
        if not outCsv:
            raise ValueError("choose the output CSV file")
        from VBQScoreLib.mrml import csv_to_table_node

        cases = load_cases(folder, pattern)
        summary = run_batch(cases, outCsv, options=ScoreOptions(**options), workers=0, progress=progress)
        table = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", os.path.basename(str(summary.out_csv)))
        csv_to_table_node(summary.out_csv, table)
        return summary, table


#
# Test
#
class VBQScoreTest(ScriptedLoadableModuleTest):
    """In-Slicer tests on synthetic data with exact expected numbers (ctest, and the Reload & Test button).

    The logic checks live in Testing/Python/VBQScoreSyntheticChecks.py and also run with plain pytest on
    slicer-core; the widget test (parameter node -> GUI -> Compute button) runs only here.
    """

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_LogicComputeExact()
        self.setUp()
        self.test_QuickRoisAndPlot()
        self.setUp()
        self.test_WidgetCompute()

    @staticmethod
    def _checks():
        import importlib.util

        path = os.path.join(os.path.dirname(__file__), "Testing", "Python", "VBQScoreSyntheticChecks.py")
        if not os.path.exists(path):  # installed layout: the checks are installed beside the module
            path = os.path.join(os.path.dirname(__file__), "VBQScoreSyntheticChecks.py")
        spec = importlib.util.spec_from_file_location("VBQScoreSyntheticChecks", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def test_LogicComputeExact(self):
        self._checks().check_compute_exact(slicer.mrmlScene, VBQScoreLogic())
        self.delayDisplay("Compute: exact numbers OK")

    def test_QuickRoisAndPlot(self):
        logic = VBQScoreLogic()
        result = self._checks().check_quick_rois(slicer.mrmlScene, logic)
        chart = logic.updatePlot(result, logic.lastTableNode)
        self.assertEqual(chart.GetNumberOfPlotSeriesNodes(), 1)
        plotTable = slicer.mrmlScene.GetFirstNode("VBQ per level (plot)", "vtkMRMLTableNode")
        self.assertEqual(plotTable.GetTable().GetValueByName(0, "VBQ").ToDouble(), 220.0 / 80.0)
        self.delayDisplay("Quick ROIs and plot OK")

    def test_WidgetCompute(self):
        """GUI path: select nodes through the parameter node, press Compute, read the panel."""
        checks = self._checks()
        vol, seg = checks.make_partial_scene(slicer.mrmlScene, VBQScoreLogic())
        slicer.util.selectModule("VBQScore")
        widget = slicer.modules.VBQScoreWidget
        widget._parameterNode.inputVolume = vol
        widget._parameterNode.segmentation = seg
        editorNode = widget.ui.segmentEditorWidget.mrmlSegmentEditorNode()
        self.assertEqual(editorNode.GetSingletonTag(), "VBQScore")
        self.assertEqual(editorNode.GetSegmentationNode().GetID(), seg.GetID())
        self.assertEqual(editorNode.GetSourceVolumeNode().GetID(), vol.GetID())
        self.assertTrue(widget.ui.computeButton.enabled)
        widget.ui.computeButton.click()
        self.assertIsNotNone(widget._lastResult)
        checks.check_partial_result(widget._lastResult)
        self.assertEqual(widget.ui.flagsText.plainText, VBQScoreLogic.flagsText(widget._lastResult))
        self.assertIn("C2: EMPTY_ROI", widget.ui.flagsText.plainText)
        self.assertTrue(widget.ui.overallLabel.text.startswith(f"{220.0 / 80.0:.3f}"))
        self.assertTrue(widget.ui.exportCsvButton.enabled)
        table = widget._parameterNode.outputTable
        self.assertEqual(table.GetTable().GetValueByName(1, "vbq").ToDouble(), 220.0 / 80.0)
        self.delayDisplay("Widget compute OK")
