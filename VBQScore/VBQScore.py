"""VBQScore: vertebral bone quality (VBQ) score from a T1 MRI in 3D Slicer.

Thin Slicer glue over :mod:`VBQScoreLib` (the measuring core, also used by the ``vbq`` command) and
:mod:`VBQScoreLib.mrml` (the MRML adapter). Everything numeric happens in the Lib and is tested there.
"""


import os
from typing import Annotated

import qt
import slicer
import vtk
from slicer import vtkMRMLMarkupsFiducialNode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
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
        # Tables: the qMRMLTableView of the results; Terminologies: the level segments' terminology context
        self.parent.dependencies = ["Segmentations", "Markups", "Plots", "Tables", "Terminologies"]
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
        self._segmentationRevision = 0  # segment changes seen since the module started watching: part of the key
        self._result = None  # VBQScoreModuleLib.state.ResultHolder: the last result and the key of its inputs
        self._segmentEditorNode = None
        self._effectFactory = None
        self._busy = False  # a batch runs: its progress dialog processes events, the live timer must not measure
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
        from VBQScoreModuleLib.state import COHORT_ROLE, RESULTS_ROLE, TABLE_ROLE_ATTRIBUTE, ResultHolder

        self._result = ResultHolder()
        # the output selectors offer only tables this module made for that role (new ones get the attribute from
        # the combo box's node factory): a cohort spreadsheet or a plot table can never be chosen and overwritten
        self.ui.outputTableSelector.addAttribute("vtkMRMLTableNode", TABLE_ROLE_ATTRIBUTE, RESULTS_ROLE)
        self.ui.cohortTableSelector.addAttribute("vtkMRMLTableNode", TABLE_ROLE_ATTRIBUTE, COHORT_ROLE)
        self.logic.loadTerminology()
        # like Slicer's Segment Editor module: undo states, and the editor node set before the scene so that
        # the editor's automatic selections are stored in our own node
        self.ui.segmentEditorWidget.setMaximumNumberOfUndoStates(10)
        self._segmentEditorNode = self.logic.segmentEditorNode()
        self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(self._segmentEditorNode)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        # effects registered after this widget was made (other extensions, or this module as startup module) must
        # show up too: as Slicer's Segment Editor module does
        self._effectFactory = slicer.qSlicerSegmentEditorEffectFactory.instance()
        self._effectFactory.connect("effectRegistered(QString)", self.onEffectRegistered)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.createSegmentsButton.connect("clicked(bool)", self.onCreateSegments)
        self.ui.quickRoiButton.connect("clicked(bool)", self.onQuickRois)
        self.ui.computeButton.connect("clicked(bool)", self.onCompute)
        self.ui.exportCsvButton.connect("clicked(bool)", self.onExportCsv)
        self.ui.appendCohortButton.connect("clicked(bool)", self.onAppendCohort)
        self.ui.batchButton.connect("clicked(bool)", self.onBatch)
        self.ui.compareButton.connect("clicked(bool)", self.onCompare)
        # "Find VBQ series": the rules of `vbq intake` over Slicer's DICOM database (VBQScoreLib.dicom.database)
        self.findSeriesButton = qt.QPushButton("Find VBQ series")
        self.findSeriesButton.toolTip = ("In Slicer's DICOM database, find each study's non-contrast sagittal T1 "
                                         "series (the rules of vbq intake) and load the chosen ones")
        self.ui.inputsCollapsibleButton.layout().addRow(self.findSeriesButton)
        self.findSeriesButton.connect("clicked(bool)", self.onFindSeries)
        self.initializeParameterNode()

    def onEffectRegistered(self, name=None) -> None:
        self.ui.segmentEditorWidget.updateEffectList()

    def cleanup(self) -> None:
        self._liveTimer.stop()
        self.removeObservers()
        if self._effectFactory is not None:
            self._effectFactory.disconnect("effectRegistered(QString)", self.onEffectRegistered)
            self._effectFactory = None

    def enter(self) -> None:
        # resumes watching the segmentation (live update, stale-result tracking) through _onParameterNodeModified
        self.initializeParameterNode()
        # Segment Editor keyboard shortcuts while this module is shown (as Slicer's Segment Editor module does)
        self.ui.segmentEditorWidget.installKeyboardShortcuts()

    def exit(self) -> None:
        # no measuring while the user works elsewhere (each stroke in the Segment Editor module would recompute on
        # the main thread): stop the timer and the segmentation observers; enter() resumes them
        self._liveTimer.stop()
        self._observeSegmentation(None)
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
        self._result.clear()
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

    def setParameterNode(self, inputParameterNode: VBQScoreParameterNode | None) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._onParameterNodeModified()

    # -- the last result, valid only for the inputs it was computed from
    def _resultKey(self):
        from VBQScoreModuleLib.state import result_key

        p = self._parameterNode
        if p is None:
            return None
        return result_key(p.inputVolume, p.segmentation, self.logic.optionsFrom(p), self._segmentationRevision)

    @property
    def _lastResult(self):
        """The last result if the volume, segmentation (and its segments), preset and options are still the
        ones it was computed from; else None (and it is dropped)."""
        return self._result.current(self._resultKey()) if self._result is not None else None

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        p = self._parameterNode
        ready = bool(p and p.inputVolume and p.segmentation)
        self.ui.computeButton.enabled = ready
        self.ui.computeButton.toolTip = "Measure VBQ" if ready else "Select the MRI volume and the segmentation"
        self.ui.createSegmentsButton.enabled = bool(p and p.segmentation)
        self.ui.quickRoiButton.enabled = bool(ready and p.roiPoints)
        self._updateResultButtons()
        self._updateSegmentEditor()
        # watched while the module is shown: live update recomputes, otherwise a change drops the result
        self._observeSegmentation(p.segmentation if (p and self.parent.isEntered) else None)

    def _updateResultButtons(self, sayStale: bool = True) -> None:
        had = self._result is not None and self._result.result is not None
        valid = self._lastResult is not None
        if had and not valid and sayStale:  # the inputs changed since Compute: the numbers are not theirs
            self.ui.overallLabel.text = "-"
            self.ui.flagsText.plainText = "Inputs changed since the last computation: press Compute."
        tip = "" if valid else "Compute VBQ for the selected volume, segmentation and options first"
        for button in (self.ui.exportCsvButton, self.ui.appendCohortButton):
            button.enabled = valid
            button.toolTip = tip

    def _updateSegmentEditor(self) -> None:
        from VBQScoreModuleLib.state import update_segment_editor

        p = self._parameterNode
        editor = self.ui.segmentEditorWidget
        if p is None:  # scene closing: do not create nodes
            editor.setSegmentationNode(None)
            return
        if self._segmentEditorNode is None or self._segmentEditorNode.GetScene() is None:
            self._segmentEditorNode = self.logic.segmentEditorNode()
            editor.setMRMLSegmentEditorNode(self._segmentEditorNode)
        # the source volume only once a segmentation is set (the editor logic logs an error otherwise)
        update_segment_editor(editor, p.segmentation, p.inputVolume)

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
        self._segmentationRevision += 1  # the result computed before this change is not the segmentation's now
        p = self._parameterNode
        live = bool(p and p.liveUpdate)
        if live:
            self._liveTimer.start()  # restarts: one computation after the brush stops for a moment
        # nothing to export or append until the new numbers are there (live: the panel keeps the old numbers
        # for the 0.7 s until the recompute instead of flickering)
        self._updateResultButtons(sayStale=not live)

    def onLiveUpdateTimeout(self) -> None:
        p = self._parameterNode
        if not (p and p.liveUpdate and p.inputVolume and p.segmentation):
            return
        if self._busy:
            self._liveTimer.start()  # measure once the batch is over
            return
        try:
            # no layout switch while the user paints (ShowChartInLayout changes the view arrangement)
            self._compute(showChart=False)
        except ValueError as exc:  # bad input while drawing (e.g. no CSF yet): say so, no dialog
            self.ui.overallLabel.text = "-"
            self.ui.flagsText.plainText = f"Not computed: {exc}"
            self._updateResultButtons()  # _compute dropped the old result

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
        from VBQScoreModuleLib.state import RESULTS_ROLE, check_table_role, mark_table

        p = self._parameterNode
        key = self._resultKey()  # the inputs as they are now, before anything can change them
        self._result.clear()  # a failed recompute leaves nothing to export or append, and no old numbers shown
        self.ui.overallLabel.text = "-"
        self.ui.flagsText.plainText = "Not computed."
        self._updateResultButtons()
        check_table_role(p.outputTable, RESULTS_ROLE, "results table")
        if not p.outputTable:
            p.outputTable = mark_table(slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", "VBQ results"),
                                       RESULTS_ROLE)
        result = self.logic.compute(p.inputVolume, p.segmentation, p.outputTable, **self.logic.optionsFrom(p))
        self._result.store(key, result)
        chart = self.logic.updatePlot(result, p.outputTable)
        self.ui.overallLabel.text = self.logic.overallText(result)
        self.ui.flagsText.plainText = self.logic.flagsText(result)
        self._onParameterNodeModified()
        if showChart:
            slicer.modules.plots.logic().ShowChartInLayout(chart)
        self.ui.resultsTableView.setMRMLTableNode(p.outputTable)

    def onExportCsv(self) -> None:
        with slicer.util.tryWithErrorDisplay("Failed to export CSV.", waitCursor=False):
            result = self._lastResult  # None when the inputs changed since Compute
            if result is None:
                raise ValueError("compute VBQ for the selected volume, segmentation and options first")
            path = qt.QFileDialog.getSaveFileName(self.parent, "Export VBQ results", "vbq.csv", "CSV (*.csv)")
            if path:
                self.logic.exportCsv(result, path)

    def onAppendCohort(self) -> None:
        with slicer.util.tryWithErrorDisplay("Failed to append to the cohort table.", waitCursor=False):
            from VBQScoreModuleLib.state import COHORT_ROLE, check_table_role, mark_table

            p = self._parameterNode
            result = self._lastResult  # the result of the inputs on screen, never an older patient's
            if result is None:
                raise ValueError("compute VBQ for the selected volume, segmentation and options first")
            check_table_role(p.cohortTable, COHORT_ROLE, "cohort table")
            caseId = self.logic.patientId(p.inputVolume)
            if not caseId:
                caseId = qt.QInputDialog.getText(self.parent, "Case id", "No DICOM patient id: case id for this row:")
                if not caseId:
                    return
            if not p.cohortTable:
                p.cohortTable = mark_table(slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", "VBQ cohort"),
                                           COHORT_ROLE)
            self.logic.appendToCohort(result, p.cohortTable, caseId)

    def onBatch(self) -> None:
        with slicer.util.tryWithErrorDisplay("Batch run failed.", waitCursor=False):
            folder = self.ui.batchFolderEdit.currentPath
            outCsv = self.ui.batchOutputEdit.currentPath
            pattern = self.ui.batchPatternEdit.text.strip() or None
            self.ui.batchFolderEdit.addCurrentPathToHistory()  # settingKey: offered again next time
            from VBQScoreModuleLib.dependencies import ensure_requirements
            from VBQScoreModuleLib.state import PROGRESS_DIALOG_OPTIONS, ProgressReporter

            if not ensure_requirements(REQUIREMENTS, "VBQ Score batch"):  # asked before the progress dialog
                return

            # modal: no second run, no scene close while the callbacks process events; Cancel is latched
            dialog = slicer.util.createProgressDialog(parent=self.parent, value=0, maximum=1,
                                                      labelText="Measuring cases...", windowTitle="VBQ batch",
                                                      windowModality=qt.Qt.ApplicationModal, **PROGRESS_DIALOG_OPTIONS)
            progress = ProgressReporter(dialog, slicer.app.processEvents)
            self._busy = True
            try:
                summary, table = self.logic.runBatch(folder, outCsv, pattern=pattern,
                                                     progress=progress, **self.logic.optionsFrom(self._parameterNode))
            except KeyboardInterrupt:
                slicer.util.infoDisplay("Batch cancelled: the output CSV was not written (cases finished so far "
                                        "are kept in the journal file beside it).")
                return
            finally:
                self._busy = False
                dialog.close()
            text = f"{summary.n_ok} of {summary.n_cases} cases measured; results in {summary.out_csv}."
            if summary.failed:
                text += "\n\nFailed:\n" + "\n".join(f"{cid}: {err}" for cid, err in summary.failed[:20])
            if self.logic.skippedRows:
                text += "\n\nNot measured:\n" + "\n".join(self.logic.skippedRows[:20])
            slicer.util.infoDisplay(text, windowTitle="VBQ batch")
            self.ui.resultsTableView.setMRMLTableNode(table)

    def onFindSeries(self) -> None:
        with slicer.util.tryWithErrorDisplay("Finding the VBQ series failed.", waitCursor=True):
            preset = self._parameterNode.preset if self._parameterNode else "lu2024"
            text, loaded = self.logic.findAndLoadVbqSeries(preset=preset)
            slicer.util.infoDisplay(f"Loaded {len(loaded)} series.", windowTitle="Find VBQ series",
                                    detailedText=text)

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

    @staticmethod
    def loadTerminology() -> str:
        """Load the extension's terminology context (SNOMED codes of C1-L5 and CSF) into Slicer's terminology
        logic, once; its name, or '' when the Terminologies module is not there (e.g. slicer-core)."""
        from VBQScoreModuleLib import terminology

        modules = getattr(slicer, "modules", None)
        module = getattr(modules, "terminologies", None) if modules is not None else None
        if module is None:
            return ""
        return terminology.load_context(module.logic(), terminology.resource_path(os.path.dirname(__file__)))

    def createLevelSegments(self, segmentationNode, preset: str = "lu2024") -> dict:
        """The preset's level segments + the CSF segment (named after the preset's CSF reference)."""
        from VBQScoreLib import mrml

        self.loadTerminology()  # so that the terminology selector knows the segments' codes
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
    def patientId(volumeNode) -> str | None:
        from VBQScoreLib import mrml

        return mrml.patient_id(volumeNode)

    @staticmethod
    def appendToCohort(result, cohortTableNode, caseId) -> int:
        from VBQScoreLib import mrml

        if result is None:
            raise ValueError("compute VBQ first")
        return mrml.append_cohort_row(cohortTableNode, mrml.cohort_row(result, caseId))

    def findAndLoadVbqSeries(self, preset: str = "lu2024", load: bool = True):
        """Apply the series choice rules of ``vbq intake`` to Slicer's DICOM database; load the chosen series of
        the studies whose status is ok (``load=False``: only report). Returns (summary text, loaded node ids)."""
        from VBQScoreLib.dicom.database import find_vbq_series, summary_text

        if slicer.dicomDatabase is None or not slicer.dicomDatabase.isOpen:
            raise ValueError("no DICOM database is open: import the studies in the DICOM module first")
        results = find_vbq_series(slicer.dicomDatabase, preset=preset)
        loaded = []
        if load:
            from DICOMLib import DICOMUtils

            uids = [ch.chosen.series.series_uid for _, ch in results if ch.status == "ok"]
            if uids:
                loaded = list(DICOMUtils.loadSeriesByUID(uids))
        return summary_text(results), loaded

    def runBatch(self, folder, outCsv, pattern=None, progress=None, **options):
        """Measure every case of a folder (or a manifest CSV) in this process; load the table into the scene."""
        from VBQScoreModuleLib.dependencies import ensure_requirements

        # slicerio for .seg.nrrd files; False = declined (a failed installation raises with pip's error)
        if not ensure_requirements(REQUIREMENTS, "VBQ Score batch"):
            raise ValueError("the batch needs the Python packages in VBQScore/Resources/VBQScoreRequirements.txt")
        from VBQScoreLib.batch import load_cases, run_batch
        from VBQScoreLib.measuring.options import ScoreOptions

        if not folder:
            raise ValueError("choose the folder with the cases (or a manifest CSV)")
        if not outCsv:
            raise ValueError("choose the output CSV file")
        from VBQScoreLib.mrml import csv_to_table_node

        self.skippedRows = []  # a vbq intake manifest: rows whose status is not ok
        cases = load_cases(folder, pattern, skipped=self.skippedRows)
        summary = run_batch(cases, outCsv, options=ScoreOptions(**options), workers=0, progress=progress)
        table = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", os.path.basename(str(summary.out_csv)))
        csv_to_table_node(summary.out_csv, table)
        return summary, table


#
# Test
#
class _NoDialog:
    """Swallow the ValueError of a failed compute in a test (the widget shows it in a dialog)."""

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        return kind is not None and issubclass(kind, ValueError)


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
        self.setUp()
        self.test_WidgetDropsStaleResult()
        self.setUp()
        self.test_WidgetNoSourceVolumeWithoutSegmentation()
        self.setUp()
        self.test_TerminologyContext()
        self.setUp()
        self.test_ModuleDependencies()

    def test_ModuleDependencies(self):
        """Every slicer.modules.<name> this file uses is a declared dependency."""
        from VBQScoreModuleLib.dependencies import undeclared_slicer_modules

        declared = slicer.modules.vbqscore.dependencies
        self.assertEqual(undeclared_slicer_modules(__file__, "VBQScore", declared), [])
        self.delayDisplay("Dependencies OK")

    def test_TerminologyContext(self):
        """The level segments' terminology entries name a loaded context that holds their codes."""
        from VBQScoreLib import mrml

        name = VBQScoreLogic.loadTerminology()
        self.assertEqual(name, mrml.TERMINOLOGY_CONTEXT)
        tlogic = slicer.modules.terminologies.logic()
        entry = slicer.vtkSlicerTerminologyEntry()
        for level in ("C2", "C7", "L5", "CSF"):
            self.assertTrue(tlogic.DeserializeTerminologyEntry(mrml.terminology_entry(level), entry))
            self.assertEqual(entry.GetTerminologyContextName(), name)
            found = slicer.vtkSlicerTerminologyEntry()
            self.assertTrue(tlogic.FindTypeInTerminologyBy3dSlicerLabel(name, level, found), level)
            self.assertEqual(found.GetTypeObject().GetCodeValue(), entry.GetTypeObject().GetCodeValue())
            self.assertEqual(found.GetTypeObject().GetCodeValue(), mrml.SNOMED_CODES[level][0])
        self.delayDisplay("Terminology context OK")

    def test_WidgetDropsStaleResult(self):
        """Compute on one volume, select another: nothing to export or append; a failed recompute drops the
        result too."""
        checks = self._checks()
        vol, seg = checks.make_partial_scene(slicer.mrmlScene, VBQScoreLogic())
        _, other, _ = checks.make_phantom(slicer.mrmlScene)
        slicer.util.selectModule("VBQScore")
        widget = slicer.modules.VBQScoreWidget
        p = widget._parameterNode
        p.inputVolume, p.segmentation, p.liveUpdate = vol, seg, False
        widget.ui.computeButton.click()
        self.assertIsNotNone(widget._lastResult)
        self.assertTrue(widget.ui.appendCohortButton.enabled)
        p.inputVolume = other  # patient B
        self.assertIsNone(widget._lastResult)
        self.assertFalse(widget.ui.appendCohortButton.enabled)
        self.assertFalse(widget.ui.exportCsvButton.enabled)
        self.assertEqual(widget.ui.overallLabel.text, "-")
        p.inputVolume = vol  # back to A: the dropped result does not come back without Compute
        self.assertIsNone(widget._lastResult)
        widget.ui.computeButton.click()
        self.assertTrue(widget.ui.exportCsvButton.enabled)
        p.erosionMm = 1.0  # an option changed
        self.assertFalse(widget.ui.exportCsvButton.enabled)
        p.erosionMm = 0.0
        widget.ui.computeButton.click()
        seg.GetSegmentation().RemoveSegment("CSF")  # a segment change drops it; the recompute fails (no CSF)
        self.assertFalse(widget.ui.exportCsvButton.enabled)
        with _NoDialog():
            widget._compute(showChart=False)
        self.assertIsNone(widget._lastResult)
        self.assertFalse(widget.ui.appendCohortButton.enabled)
        self.delayDisplay("Stale result dropped OK")

    def test_WidgetNoSourceVolumeWithoutSegmentation(self):
        """A volume and no segmentation (the first screen): the Segment Editor gets no source volume (its logic
        would log an error per parameter change); it gets it once a segmentation is selected."""
        checks = self._checks()
        _, vol, _ = checks.make_phantom(slicer.mrmlScene)
        slicer.util.selectModule("VBQScore")
        widget = slicer.modules.VBQScoreWidget
        p = widget._parameterNode
        p.segmentation = None
        p.inputVolume = vol
        p.erosionMm = 0.5
        editorNode = widget.ui.segmentEditorWidget.mrmlSegmentEditorNode()
        self.assertIsNone(editorNode.GetSourceVolumeNode())
        seg = checks.new_segmentation(slicer.mrmlScene, vol)
        p.segmentation = seg
        self.assertEqual(editorNode.GetSourceVolumeNode().GetID(), vol.GetID())
        self.delayDisplay("No source volume without a segmentation OK")

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
