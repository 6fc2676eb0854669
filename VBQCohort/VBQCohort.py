"""VBQCohort: the VBQ cohort study (propensity-score matching, per-level tests, regression, report) in Slicer.

Thin Slicer glue over :mod:`VBQCohortLib` (the statistics core, also used by ``vbq cohort``). Python packages
the Slicer Python lacks (``Resources/requirements.txt``) are installed on Apply after the user agrees, never at
import.
"""


import logging
import os
from typing import Annotated

import qt
import slicer
import vtk
from slicer import vtkMRMLTableNode
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

PLAN_CHOICES = ["lu2024", "custom"]
DISTANCE_CHOICES = ["logit", "ps"]
ORDER_CHOICES = ["largest", "smallest", "random", "data"]
REQUIREMENTS = os.path.join(os.path.dirname(__file__), "Resources", "requirements.txt")


#
# VBQCohort
#
class VBQCohort(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "VBQ Cohort"
        self.parent.categories = ["Quantification"]
        # Plots: the charts (slicer.modules.plots); Tables: qMRMLTableView; VBQScore: VBQScoreLib (the MRML
        # adapter, levels) and VBQScoreModuleLib (progress, package installation) live in its folder
        self.parent.dependencies = ["Plots", "Tables", "VBQScore"]
        self.parent.contributors = ["SlicerVBQ contributors"]
        self.parent.helpText = """
Run a VBQ cohort study from a spreadsheet (CSV or XLSX): map the columns (id, group and its two values,
covariates, VBQ level columns), choose the analysis plan (lu2024 = Lu et al. 2024: propensity-score matching,
per-level Wilcoxon tests with Holm correction, Kruskal-Wallis/Friedman across levels, logistic regression) and
the matching options, then Run. Results appear as tables and plots; "Open report" shows the HTML report.
"""
        self.parent.acknowledgementText = """
Matching follows R MatchIt 4.x (nearest neighbour, caliper in SD of the distance); statistics from scipy and
statsmodels. Study design: Lu et al., The Spine Journal 2024;24(7):1153-1161.
"""


#
# Parameter node
#
@parameterNodeWrapper
class VBQCohortParameterNode:
    inputTable: vtkMRMLTableNode
    dataPath: str = ""
    plan: Annotated[str, Choice(PLAN_CHOICES)] = "lu2024"
    idColumn: str = ""
    groupColumn: str = ""
    treatedValue: str = ""
    controlValue: str = ""
    levelColumns: str = ""  # comma-separated
    covariateColumns: str = ""  # comma-separated
    sexColumn: str = ""
    matching: bool = True
    distance: Annotated[str, Choice(DISTANCE_CHOICES)] = "logit"
    caliper: Annotated[float, WithinRange(0.0, 5.0)] = 0.2
    ratio: Annotated[int, WithinRange(1, 10)] = 1
    order: Annotated[str, Choice(ORDER_CHOICES)] = "largest"
    replace: bool = False
    outputDirectory: str = ""


def _split(text: str) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


#
# Widget
#
class VBQCohortWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._lastReport = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/VBQCohort.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = VBQCohortLogic()
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.loadButton.connect("clicked(bool)", self.onLoad)
        self.ui.guessButton.connect("clicked(bool)", self.onGuess)
        self.ui.runButton.connect("clicked(bool)", self.onRun)
        self.ui.openReportButton.connect("clicked(bool)", self.onOpenReport)
        self.ui.exportWordButton.connect("clicked(bool)", self.onExportWord)
        self.ui.agreementButton.connect("clicked(bool)", self.onAgreement)
        self.ui.diagnosticButton.connect("clicked(bool)", self.onDiagnostic)
        # a ctkPathLineEdit binds only to pathlib types; the folder is kept as text in the parameter node
        self.ui.outputDirectoryEdit.connect("currentPathChanged(QString)", self.onOutputDirectoryChanged)
        self.initializeParameterNode()

    def onOutputDirectoryChanged(self, path) -> None:
        if self._parameterNode and self._parameterNode.outputDirectory != path:
            self._parameterNode.outputDirectory = path

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def onReload(self) -> None:
        import importlib
        import sys

        for name in sorted((n for n in sys.modules if n.split(".")[0] in ("VBQCohortLib", "VBQCohortModuleLib")),
                           reverse=True):
            importlib.reload(sys.modules[name])
        super().onReload()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode) -> None:
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
        if p and self.ui.outputDirectoryEdit.currentPath != p.outputDirectory:
            self.ui.outputDirectoryEdit.currentPath = p.outputDirectory
        ready = bool(p and p.inputTable and p.idColumn and p.groupColumn and p.levelColumns and p.outputDirectory)
        self.ui.runButton.enabled = ready
        self.ui.runButton.toolTip = "Run the analysis" if ready else \
            "Select a table (or Load a spreadsheet), map id, group and level columns, and choose an output folder"
        self.ui.openReportButton.enabled = self._lastReport is not None
        self.ui.exportWordButton.enabled = self._lastReport is not None

    def onLoad(self) -> None:
        with slicer.util.tryWithErrorDisplay("Failed to load the spreadsheet.", waitCursor=True):
            if not self.logic.ensureDependencies():
                return
            p = self._parameterNode
            path = self.ui.dataPathEdit.currentPath
            p.inputTable = self.logic.loadSpreadsheet(path)
            p.dataPath = path
            self.ui.dataPathEdit.addCurrentPathToHistory()  # settingKey: offered again next time
            if not p.outputDirectory:
                p.outputDirectory = os.path.join(os.path.dirname(path), "vbq_cohort_report")
            self.onGuess()

    def onGuess(self) -> None:
        # needs no extra Python package: the built-in plans are read from their JSON twins (Slicer has no PyYAML)
        with slicer.util.tryWithErrorDisplay("Failed to guess the columns.", waitCursor=False):
            p = self._parameterNode
            if not p.inputTable:
                raise ValueError("select a table or load a spreadsheet first")
            g = self.logic.guessColumns(p.inputTable, p.plan)
            p.idColumn = g["id"] or ""
            p.groupColumn = g["group"] or ""
            p.treatedValue = g["treated"] or ""
            p.controlValue = g["control"] or ""
            p.levelColumns = ", ".join(g["levels"])
            p.covariateColumns = ", ".join(g["covariates"])
            p.sexColumn = g["sex"] or ""

    def onRun(self) -> None:
        with slicer.util.tryWithErrorDisplay("Cohort analysis failed.", waitCursor=False):
            if not self.logic.ensureDependencies():
                return
            from VBQScoreModuleLib.state import PROGRESS_DIALOG_OPTIONS, ProgressReporter

            # modal: no second run, no scene close while the callbacks process events; Cancel is latched across
            # phases (autoReset off); the last call comes after the report is written and may complete
            dialog = slicer.util.createProgressDialog(parent=self.parent, value=0, maximum=1,
                                                      labelText="Running the analysis...", windowTitle="VBQ cohort",
                                                      windowModality=qt.Qt.ApplicationModal, **PROGRESS_DIALOG_OPTIONS)
            progress = ProgressReporter(dialog, slicer.app.processEvents, labelled=False, final_ok=True)
            try:
                out = self.logic.run(self._parameterNode, progress=progress)
            except KeyboardInterrupt:
                slicer.util.infoDisplay("Analysis cancelled; nothing was written.")
                return
            finally:
                dialog.close()
            self._lastReport = out["report"]
            self._onParameterNodeModified()
            self.ui.summaryText.plainText = "\n".join(out["summary"] + [f"Warning: {w}" for w in out["warnings"]])
            if out.get("comparisonTable") is not None:
                self.ui.resultsTableView.setMRMLTableNode(out["comparisonTable"])
            chart = out.get("levelsChart") or out.get("loveChart")
            if chart is not None:
                slicer.modules.plots.logic().ShowChartInLayout(chart)

    def onOpenReport(self) -> None:
        if self._lastReport:
            qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(self._lastReport)))

    def onExportWord(self) -> None:
        with slicer.util.tryWithErrorDisplay("Export to Word failed.", waitCursor=True):
            from VBQCohortModuleLib.helpers import export_word

            if not self._lastReport:
                raise ValueError("run the analysis first")
            target = qt.QFileDialog.getSaveFileName(self.parent, "Export Word", "report.docx",
                                                    "Word document (*.docx)")
            if target:
                saved = export_word(self._lastReport, target)
                slicer.util.infoDisplay(f"Saved {saved}")

    def onAgreement(self) -> None:
        with slicer.util.tryWithErrorDisplay("Agreement analysis failed.", waitCursor=True):
            if not self.logic.ensureDependencies():
                return
            source = self.ui.agreementTableSelector.currentNode() or self.ui.agreementPathEdit.currentPath
            folder = self._parameterNode.outputDirectory
            out = self.logic.computeAgreement(source, os.path.join(folder, "agreement") if folder else None)
            self.ui.agreementSummaryText.plainText = "\n".join(out["summary"] + out["results"].get("warnings", []))
            self.ui.agreementTableView.setMRMLTableNode(out["iccTable"])
            if out.get("blandAltmanChart") is not None:
                slicer.modules.plots.logic().ShowChartInLayout(out["blandAltmanChart"])
            if out.get("report"):
                self._lastReport = out["report"]
                self._onParameterNodeModified()

    def onDiagnostic(self) -> None:
        with slicer.util.tryWithErrorDisplay("Diagnostic accuracy analysis failed.", waitCursor=True):
            if not self.logic.ensureDependencies():
                return
            source = self.ui.diagnosticTableSelector.currentNode() or self.ui.diagnosticPathEdit.currentPath
            folder = self._parameterNode.outputDirectory
            conditions = [c.strip() for c in self.ui.diagnosticConditionsEdit.text.split(";") if c.strip()]
            out = self.logic.computeDiagnostic(source, _split(self.ui.diagnosticMarkersEdit.text), conditions,
                                               _split(self.ui.diagnosticCorrelateEdit.text),
                                               os.path.join(folder, "diagnostic") if folder else None)
            self.ui.diagnosticSummaryText.plainText = "\n".join(out["summary"] + out["results"].get("warnings", []))
            self.ui.diagnosticTableView.setMRMLTableNode(out["rocTable"])
            if out.get("rocChart") is not None:
                slicer.modules.plots.logic().ShowChartInLayout(out["rocChart"])
            if out.get("report"):
                self._lastReport = out["report"]
                self._onParameterNodeModified()


#
# Logic
#
class VBQCohortLogic(ScriptedLoadableModuleLogic):
    """Usable without the GUI:

        logic = VBQCohortLogic()
        out = logic.runAnalysis("cohort.xlsx", "/tmp/report", plan="lu2024", overrides={"caliper": 0.2})
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        return VBQCohortParameterNode(super().getParameterNode())

    # -- dependencies (never at import)
    @staticmethod
    def missingRequirements(path: str = REQUIREMENTS) -> list[str]:
        """Requirement lines of requirements.txt that are not satisfied in this Python."""
        from VBQScoreLib.mrml import missing_requirements

        return missing_requirements(path)

    def ensureDependencies(self, prompt: bool = True) -> bool:
        """Install what Resources/requirements.txt lists and this Python lacks, after the user agrees (our
        question lists the packages; then slicer.packaging.pip_ensure on Slicer >= 5.12, else
        slicer.util.pip_install under a busy dialog naming them). False when the user declines; a failed
        installation raises VBQScoreModuleLib.dependencies.InstallFailed with pip's error."""
        from VBQScoreModuleLib.dependencies import ensure_requirements

        return ensure_requirements(REQUIREMENTS, "VBQ Cohort", prompt=prompt)

    # -- data
    @staticmethod
    def loadSpreadsheet(path: str, sheet=None):
        """Read CSV/TSV/XLSX with VBQCohortLib.reading.spreadsheet.read_table into a table node (values as read)."""
        from VBQCohortLib.reading.spreadsheet import read_table

        if not path:
            raise ValueError("choose a CSV or XLSX file")
        df, warnings = read_table(path, sheet=sheet)
        for w in warnings:
            logging.warning(f"{path}: {w}")
        from VBQCohortModuleLib.source import mark_loaded

        node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", os.path.basename(path))
        VBQCohortLogic.dataframeToTableNode(df, node)
        mark_loaded(node, path)  # Run reads this file while the table still holds what was read from it
        return node

    @staticmethod
    def dataframeToTableNode(df, tableNode):
        from VBQCohortModuleLib.helpers import frame_to_columns
        from VBQScoreLib.mrml import fill_table_node

        return fill_table_node(tableNode, [(name, values, kind == "double")
                                           for name, kind, values in frame_to_columns(df)])

    @staticmethod
    def tableNodeColumns(tableNode) -> dict:
        table = tableNode.GetTable()
        out = {}
        for c in range(table.GetNumberOfColumns()):
            col = table.GetColumn(c)
            out[col.GetName()] = [col.GetValue(i) for i in range(table.GetNumberOfRows())]
        return out

    def guessColumns(self, tableNode, plan: str = "lu2024") -> dict:
        """Column roles for the mapping panel; standard library only (no PyYAML, no pandas)."""
        from VBQCohortModuleLib.helpers import guess_columns
        from VBQCohortModuleLib.plans import builtin_plan

        values = self.tableNodeColumns(tableNode)
        planColumns = builtin_plan(plan).columns if plan != "custom" else None
        return guess_columns(list(values), values, planColumns)

    @staticmethod
    def overridesFrom(p) -> dict:
        """Plan overrides (the keys of ``Plan.with_overrides``) from the parameter node."""
        o = dict(id=p.idColumn or None, group=p.groupColumn or None, treated=p.treatedValue or None,
                 control=p.controlValue or None, levels=_split(p.levelColumns) or None,
                 covariates=_split(p.covariateColumns) or None, sex_column=p.sexColumn)
        if p.matching:
            o.update(distance=p.distance, caliper=float(p.caliper) if p.caliper > 0 else None,
                     no_caliper=not p.caliper > 0, ratio=int(p.ratio), order=p.order, replace=bool(p.replace))
        else:
            o["no_matching"] = True
        return o

    def run(self, p, progress=None) -> dict:
        """Analyse exactly the selected table: its file while the table holds what was read from it, else its
        content written to a temporary CSV (VBQ Score's cohort table, an edited table); never another file."""
        from VBQCohortModuleLib.source import analysis_source

        overrides = self.overridesFrom(p)
        plan = self.planFrom(p.plan, overrides)
        with analysis_source(p.inputTable) as path:
            return self.runAnalysis(path, p.outputDirectory, plan=plan, overrides=overrides, progress=progress)

    @staticmethod
    def planFrom(plan: str, overrides: dict):
        """The plan handed to run_analysis: a built-in plan (read from its JSON twin: Slicer has no PyYAML), or
        for "custom" a plan dict with only the mapped columns (VBQCohortLib.analysis.plan defaults for everything
        else; the plan loader refuses empty columns)."""
        if plan != "custom":
            from VBQCohortModuleLib.plans import builtin_plan

            return builtin_plan(plan)
        columns = {k: overrides.get(k) for k in ("id", "group", "treated", "control", "levels", "covariates")}
        missing = [k for k in ("id", "group", "treated", "control", "levels") if not columns[k]]
        if missing:
            raise ValueError(f"custom plan: fill in the {', '.join(missing)} column field(s) first")
        columns["covariates"] = columns["covariates"] or []
        return {"name": "custom", "columns": columns, "matching": {"enabled": not overrides.get("no_matching")}}

    def runAnalysis(self, dataPath, outputDirectory, plan="lu2024", overrides=None, progress=None):
        """run_analysis + write_report; results into table and plot nodes. Returns a dict of nodes and paths."""
        from VBQCohortLib.analysis.run import run_analysis
        from VBQCohortLib.report.cohort import summary_sentences, write_report

        if not outputDirectory:
            raise ValueError("choose an output folder for the report")
        from VBQCohortLib.analysis.plan import BUILTIN

        if isinstance(plan, str) and plan in BUILTIN:
            plan = self.planFrom(plan, overrides or {})  # a built-in name: its JSON twin (no PyYAML in Slicer)
        results, frames = run_analysis(dataPath, plan, overrides=overrides, progress=progress,
                                       command="Slicer VBQCohort", return_frames=True)
        written = write_report(results, outputDirectory, frames, progress=progress)
        out = {"results": results, "report": written["report"], "summary": summary_sentences(results),
               "warnings": list(results.get("warnings") or [])}  # e.g. a group value matched up to case
        out.update(self.resultsToNodes(results, written["tables"]))
        return out

    def resultsToNodes(self, results: dict, tablesDir) -> dict:
        """One table node per report table (tables/*.csv, the same numbers as the report), a love plot and
        a VBQ-per-level-by-group plot."""
        from VBQCohortLib.publication.cohort import balance_label, labelled_frame
        from VBQCohortLib.reading.spreadsheet import read_table
        from VBQCohortModuleLib.helpers import level_medians, love_plot_rows

        out = {"tables": {}}
        for name in sorted(os.listdir(tablesDir)):
            if not name.endswith(".csv"):
                continue
            df, _ = read_table(os.path.join(tablesDir, name))
            df = labelled_frame(results, name[:-4], df)  # readable labels beside R's names, as in the report
            node = self._node("vtkMRMLTableNode", f"VBQ cohort: {name[:-4]}")
            self.dataframeToTableNode(df, node)
            out["tables"][name[:-4]] = node
        out["comparisonTable"] = out["tables"].get("comparison")

        rows = love_plot_rows(results)
        if rows:
            t = self._node("vtkMRMLTableNode", "VBQ cohort: love plot data")
            cols = {"index": [float(i + 1) for i in range(len(rows))], "covariate": [r[0] for r in rows],
                    "label": [balance_label(results, r[0]) for r in rows],
                    "SMD before": [r[1] for r in rows], "SMD after": [r[2] for r in rows]}
            self._fill(t, cols)
            series = [self._series("Before matching", t, "SMD before", "label", (0.75, 0.22, 0.17))]
            if any(r[2] is not None for r in rows):  # no matching: balance of the unmatched sample only
                series.append(self._series("After matching", t, "SMD after", "label", (0.14, 0.44, 0.64)))
            out["loveChart"] = self._chart("VBQ cohort: love plot", series, "Covariate",
                                           "|Standardized mean difference|")
        levels, medians = level_medians(results)
        t = self._node("vtkMRMLTableNode", "VBQ cohort: medians per level")
        cols = {"index": [float(i + 1) for i in range(len(levels))], "level": levels}
        cols.update({f"median {g}": v for g, v in medians.items()})
        self._fill(t, cols)
        colors = [(0.75, 0.22, 0.17), (0.14, 0.44, 0.64)]
        series = [self._series(f"{g}", t, f"median {g}", "level", colors[i % 2], line=True)
                  for i, g in enumerate(medians)]
        out["levelsChart"] = self._chart("VBQ cohort: VBQ per level by group", series, "Level", "Median VBQ")
        return out

    # -- reader agreement
    def computeAgreement(self, source, outputDirectory=None, preset: str = "lu2024") -> dict:
        """Reader agreement (VBQCohortLib.agreement) of a long table of readings: a table node or a CSV/TSV/XLSX
        path with columns case_id, reader, [session], [level], vbq. ICC rows into the table node "VBQ agreement:
        ICC", the first Bland-Altman comparison into a plot chart; the report folder when ``outputDirectory`` is
        given. Returns ``{"results", "summary", "iccTable", "blandAltmanChart", "report"}``."""
        import pandas as pd

        from VBQCohortLib.agreement.analysis import run_agreement
        from VBQCohortLib.agreement.data import read_long_table
        from VBQCohortLib.agreement.report import agreement_tables, ba_plot_columns, write_agreement

        if not source:
            raise ValueError("select a table of readings or a file")
        if isinstance(source, str):
            data = read_long_table(source)
        else:  # spreadsheet row numbers in messages: header is row 1
            data = read_long_table(pd.DataFrame(self.tableNodeColumns(source)).rename(index=lambda i: i + 2))
        results, frames = run_agreement(data, preset=preset, command="Slicer VBQCohort agreement",
                                        return_frames=True)
        tables = agreement_tables(results, frames)
        out = {"results": results, "summary": results["summary"], "report": None, "blandAltmanChart": None}
        icc = [tables[k].assign(kind=k[4:]) for k in ("icc_inter", "icc_intra") if k in tables]
        out["iccTable"] = self.dataframeToTableNode(pd.concat(icc, ignore_index=True) if icc else pd.DataFrame(
            {"note": ["no ICC: see the warnings"]}), self._node("vtkMRMLTableNode", "VBQ agreement: ICC"))
        first = next(iter(results.get("bland_altman") or {}), None)
        if first is not None:
            points, lines = ba_plot_columns(results, frames, first)
            pt = self._node("vtkMRMLTableNode", "VBQ agreement: Bland-Altman points")
            lt = self._node("vtkMRMLTableNode", "VBQ agreement: Bland-Altman lines")
            self._fill(pt, points)
            self._fill(lt, lines)
            series = [self._series(first, pt, "difference", "case_id", (0.14, 0.44, 0.64))]
            for col, color in (("bias", (0.75, 0.22, 0.17)), ("loa_low", (0.35, 0.35, 0.35)),
                               ("loa_high", (0.35, 0.35, 0.35))):
                series.append(self._series(col, lt, col, "x", color, line=True))
                series[-1].SetMarkerStyle(slicer.vtkMRMLPlotSeriesNode.MarkerStyleNone)
            for s, x in zip(series, ["mean"] + ["x"] * 3):
                s.SetXColumnName(x)
            out["blandAltmanChart"] = self._chart(f"VBQ agreement: Bland-Altman {first}", series,
                                                  "Mean of the two readings", "Difference")
        if outputDirectory:
            out["report"] = write_agreement(results, outputDirectory, frames)["report"]
        return out

    # -- diagnostic accuracy (issue 18)
    def computeDiagnostic(self, source, markers, conditions, correlate=(), outputDirectory=None) -> dict:
        """ROC (pROC semantics, DeLong CI, Youden cut-offs) of each marker for each condition ("COLUMN OP VALUE")
        and correlation with the ``correlate`` columns (VBQCohortLib.diagnostic) on a table node or a CSV/TSV/XLSX
        path. ROC rows and cut-offs into the table nodes "VBQ diagnostic: ROC" and "VBQ diagnostic: cut-offs",
        the first condition's ROC curves (with the Youden points) into the chart "VBQ diagnostic: ROC"; the
        report folder when ``outputDirectory`` is given. Returns ``{"results", "summary", "rocTable",
        "cutoffTable", "rocChart", "report"}``."""
        import pandas as pd

        from VBQCohortLib.diagnostic.analysis import run_diagnostic
        from VBQCohortLib.diagnostic.report import (
            make_tables,
            roc_plot_columns,
            summary_sentences,
            write_diagnostic_report,
        )

        if not source:
            raise ValueError("select a table or a file")
        data = source if isinstance(source, str) else \
            pd.DataFrame(self.tableNodeColumns(source)).rename(index=lambda i: i + 2)  # spreadsheet rows
        results, frames = run_diagnostic(data, list(markers), list(conditions), correlate=list(correlate),
                                         command="Slicer VBQCohort diagnostic", return_frames=True)
        tables = make_tables(results, frames)
        out = {"results": results, "summary": summary_sentences(results), "report": None, "rocChart": None}
        out["rocTable"] = self.dataframeToTableNode(tables["roc"],
                                                    self._node("vtkMRMLTableNode", "VBQ diagnostic: ROC"))
        out["cutoffTable"] = self.dataframeToTableNode(tables["cutoffs"], self._node("vtkMRMLTableNode",
                                                                                      "VBQ diagnostic: cut-offs"))
        if results.get("condition"):
            colors = [(0.75, 0.22, 0.17), (0.14, 0.44, 0.64), (0.13, 0.6, 0.33), (0.56, 0.27, 0.68)]
            series = []
            for k, (m, cols) in enumerate(roc_plot_columns(results, frames).items()):
                color = colors[k % len(colors)]
                ct = self._node("vtkMRMLTableNode", f"VBQ diagnostic: ROC curve {m}")
                yt = self._node("vtkMRMLTableNode", f"VBQ diagnostic: Youden {m}")
                self._fill(ct, {"fpr": cols["curve"]["fpr"], "sensitivity": cols["curve"]["sensitivity"],
                                "threshold": [("" if t is None else f"{t:.4g}") for t in cols["curve"]["threshold"]]})
                self._fill(yt, {"fpr": cols["youden"]["fpr"], "sensitivity": cols["youden"]["sensitivity"],
                                "threshold": [f"{t:.4g}" for t in cols["youden"]["threshold"]]})
                s = self._series(f"ROC {m}", ct, "sensitivity", "threshold", color, line=True)
                s.SetMarkerStyle(slicer.vtkMRMLPlotSeriesNode.MarkerStyleNone)
                y = self._series(f"Youden {m}", yt, "sensitivity", "threshold", color)
                for node in (s, y):
                    node.SetXColumnName("fpr")
                series += [s, y]
            out["rocChart"] = self._chart(f"VBQ diagnostic: ROC {results['condition']}", series,
                                          "1 - specificity", "Sensitivity")
        if outputDirectory:
            out["report"] = write_diagnostic_report(results, outputDirectory, frames)["report"]
        return out

    # -- plot helpers
    @staticmethod
    def _node(className, name):
        from VBQScoreLib.mrml import named_node

        return named_node(slicer.mrmlScene, className, name)

    @staticmethod
    def _fill(tableNode, columns: dict):
        from VBQScoreLib.mrml import fill_table_node

        specs = []
        for name, values in columns.items():
            numeric = all(v is None or isinstance(v, (int, float)) for v in values)
            specs.append((name, values if numeric else [str(v) for v in values], numeric))  # text: None -> "None"
        fill_table_node(tableNode, specs)

    def _series(self, name, tableNode, yColumn, labelColumn, color, line=False):
        s = self._node("vtkMRMLPlotSeriesNode", f"VBQ cohort: {name} ({yColumn})")
        s.SetAndObserveTableNodeID(tableNode.GetID())
        s.SetXColumnName("index")
        s.SetYColumnName(yColumn)
        s.SetLabelColumnName(labelColumn)
        s.SetPlotType(slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter)
        styles = slicer.vtkMRMLPlotSeriesNode
        s.SetLineStyle(styles.LineStyleSolid if line else styles.LineStyleNone)
        s.SetMarkerStyle(slicer.vtkMRMLPlotSeriesNode.MarkerStyleCircle)
        s.SetColor(*color)
        return s

    def _chart(self, name, series, xTitle, yTitle):
        chart = self._node("vtkMRMLPlotChartNode", name)
        chart.RemoveAllPlotSeriesNodeIDs()
        for s in series:
            chart.AddAndObservePlotSeriesNodeID(s.GetID())
        chart.SetTitle(name.replace("VBQ cohort: ", ""))
        chart.SetXAxisTitle(xTitle)
        chart.SetYAxisTitle(yTitle)
        return chart


#
# Test
#
class VBQCohortTest(ScriptedLoadableModuleTest):
    """In-Slicer tests with exact numbers on a small synthetic cohort (ctest; Reload & Test)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_ModuleDependencies()
        self.setUp()
        self.test_GuessWithoutYaml()
        self.setUp()
        self.test_LoadGuessRun()
        self.setUp()
        self.test_RunOnSceneCohortTable()
        self.setUp()
        self.test_Diagnostic()

    def test_ModuleDependencies(self):
        """Every slicer.modules.<name> this file uses is a declared dependency (Plots for the charts)."""
        from VBQScoreModuleLib.dependencies import undeclared_slicer_modules

        declared = slicer.modules.vbqcohort.dependencies
        self.assertIn("plots", {d.lower() for d in declared})
        self.assertEqual(undeclared_slicer_modules(__file__, "VBQCohort", declared), [])
        self.delayDisplay("Dependencies OK")

    @staticmethod
    def _sceneTable(name, rows):
        """A table node made in the scene only (no file), as VBQ Score's Append to cohort table makes it."""
        from VBQScoreLib.mrml import append_cohort_row

        node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", name)
        for row in rows:
            append_cohort_row(node, row)
        return node

    @staticmethod
    def _cohortRows():
        # 12 OPLL, 12 CSM; every OPLL value below every CSM value
        return [{"case_id": f"P{i:03d}", "status": "ok", **{f"VBQ_C{k}": round(2.0 + 0.05 * i + 0.1 * k, 4)
                                                            for k in range(2, 8)},
                 "diagnosis": "OPLL" if i < 12 else "CSM", "age": float(50 + i % 7)} for i in range(24)]

    def test_GuessWithoutYaml(self):
        """Guess columns on a table already in the scene, in a Python without PyYAML (a fresh Slicer)."""
        import sys

        node = VBQCohortTest._sceneTable("VBQ cohort", VBQCohortTest._cohortRows())
        saved = sys.modules.get("yaml", None)
        had = "yaml" in sys.modules
        sys.modules["yaml"] = None  # import yaml -> ImportError
        try:
            g = VBQCohortLogic().guessColumns(node, "lu2024")
        finally:
            if had:
                sys.modules["yaml"] = saved
            else:
                del sys.modules["yaml"]
        self.assertEqual((g["id"], g["group"], g["treated"], g["control"]), ("case_id", "diagnosis", "OPLL", "CSM"))
        self.assertEqual(g["levels"], [f"VBQ_C{k}" for k in range(2, 8)])
        self.delayDisplay("Guess without PyYAML OK")

    def test_RunOnSceneCohortTable(self):
        """VBQ Score -> Append to cohort table -> VBQ Cohort -> Run, no file saved: the table's content is analysed
        (and never the last file loaded)."""
        import math
        import tempfile
        import types

        if VBQCohortLogic.missingRequirements():
            self.delayDisplay("Test skipped: the Python requirements of VBQ Cohort are not installed (tests never "
                              "install packages)")
            return
        node = VBQCohortTest._sceneTable("VBQ cohort", VBQCohortTest._cohortRows())
        self.assertIsNone(node.GetStorageNode())
        folder = tempfile.mkdtemp()
        p = types.SimpleNamespace(inputTable=node, dataPath=os.path.join(folder, "some-other-file.csv"),
                                  plan="custom", idColumn="case_id", groupColumn="diagnosis", treatedValue="OPLL",
                                  controlValue="CSM", levelColumns=", ".join(f"VBQ_C{k}" for k in range(2, 8)),
                                  covariateColumns="age", sexColumn="", matching=False, distance="logit",
                                  caliper=0.2, ratio=1, order="largest", replace=False,
                                  outputDirectory=os.path.join(folder, "report"))
        out = VBQCohortLogic().run(p)
        c3 = out["results"]["comparison"]["levels"]["VBQ_C3"]
        self.assertEqual(c3["ranksum"]["W"], 0.0)
        self.assertAlmostEqual(c3["ranksum"]["p"], 2.0 / math.comb(24, 12), delta=1e-15)
        self.assertAlmostEqual(c3["describe"]["OPLL"]["median"], 2.575, places=12)
        self.assertEqual(c3["n"], {"OPLL": 12, "CSM": 12})  # every row of the scene table, none from elsewhere
        self.delayDisplay("Run on the scene's cohort table OK")

    def test_LoadGuessRun(self):
        import csv
        import math
        import tempfile

        if VBQCohortLogic.missingRequirements():
            # not self.skipTest: Reload and Test calls runTest directly and would report the skip as a failure
            self.delayDisplay("Test skipped: the Python requirements of VBQ Cohort are not installed (tests never "
                              "install packages)")
            return

        folder = tempfile.mkdtemp()
        path = os.path.join(folder, "cohort.csv")
        rows = []
        # 12 OPLL, 12 CSM; VBQ_C2..C7 known; no covariates needed with matching off
        for i in range(24):
            grp = "OPLL" if i < 12 else "CSM"
            base = 2.0 + 0.05 * i
            rows.append({"patient_id": f"P{i:03d}", "diagnosis": grp, "age": 50 + i % 7, "sex": "M" if i % 2 else "F",
                         **{f"VBQ_C{k}": round(base + 0.1 * k, 4) for k in range(2, 8)}})
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        logic = VBQCohortLogic()
        node = logic.loadSpreadsheet(path)
        self.assertEqual(node.GetNumberOfRows(), 24)
        g = logic.guessColumns(node, "lu2024")
        self.assertEqual(g["id"], "patient_id")
        self.assertEqual(g["group"], "diagnosis")
        self.assertEqual((g["treated"], g["control"]), ("OPLL", "CSM"))
        self.assertEqual(g["levels"], [f"VBQ_C{k}" for k in range(2, 8)])
        out = logic.runAnalysis(path, os.path.join(folder, "report"), overrides={
            "covariates": ["age"], "levels": g["levels"], "no_matching": True, "sex_column": ""})
        self.assertTrue(os.path.exists(out["report"]))
        c3 = out["results"]["comparison"]["levels"]["VBQ_C3"]
        # every OPLL value lies below every CSM value, no ties, 12 vs 12: R's wilcox.test is exact, W = 0 and
        # p = 2 / choose(24, 12) (the two most extreme of the equally likely rank splits)
        self.assertEqual(c3["ranksum"]["W"], 0.0)
        self.assertAlmostEqual(c3["ranksum"]["p"], 2.0 / math.comb(24, 12), delta=1e-15)
        # medians per level by group: OPLL i = 0..11 -> median base 2.0 + 0.05 * 5.5 = 2.275; + 0.1 * 3 for C3
        self.assertAlmostEqual(c3["describe"]["OPLL"]["median"], 2.575, places=12)
        self.assertIn("comparison", out["tables"])
        self.assertEqual(out["levelsChart"].GetNumberOfPlotSeriesNodes(), 2)

    def test_Diagnostic(self):
        """Diagnostic accuracy section: controls 1, 2, 3, 4, 6 and cases 5, 7, 8, 9, 10 -> AUC 24/25 = 0.96,
        DeLong variance 0.008/5 + 0.008/5 = 0.0032, two Youden-tied cut-offs 4.5 (se 1, sp 0.8) and 6.5 (se 0.8,
        sp 1)."""
        import csv
        import math
        import tempfile

        if VBQCohortLogic.missingRequirements():
            # not self.skipTest: Reload and Test calls runTest directly and would report the skip as a failure
            self.delayDisplay("Test skipped: the Python requirements of VBQ Cohort are not installed (tests never "
                              "install packages)")
            return
        folder = tempfile.mkdtemp()
        path = os.path.join(folder, "dxa.csv")
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["patient_id", "vbq", "loosening"])
            for i, v in enumerate([1, 2, 3, 4, 6, 5, 7, 8, 9, 10]):
                w.writerow([f"P{i}", v, "yes" if i >= 5 else "no"])
        logic = VBQCohortLogic()
        node = logic.loadSpreadsheet(path)
        out = logic.computeDiagnostic(node, ["vbq"], ["loosening == yes"], [], os.path.join(folder, "diag"))
        roc = out["rocTable"].GetTable()
        self.assertAlmostEqual(roc.GetValueByName(0, "auc").ToDouble(), 0.96, delta=1e-15)
        self.assertAlmostEqual(roc.GetValueByName(0, "ci_low").ToDouble(), 0.96 - 1.959963984540054 * math.sqrt(0.0032),
                               delta=1e-12)
        cut = out["cutoffTable"].GetTable()
        self.assertEqual(cut.GetNumberOfRows(), 2)
        self.assertEqual([cut.GetValueByName(i, "threshold").ToDouble() for i in range(2)], [4.5, 6.5])
        self.assertEqual(out["rocChart"].GetNumberOfPlotSeriesNodes(), 2)
        self.assertTrue(os.path.exists(out["report"]))
