"""Table nodes: one writer (:func:`fill_table_node`) for the results table, the cohort tables, a CSV read into
the scene and the overlap table; the rows of a result, a cohort row as ``vbq batch`` writes it, the VBQ plot."""

from __future__ import annotations

import csv
import math
from typing import Any, Iterable, Optional, Sequence

import slicer
import vtk

from ..batch import record_from_result
from ..errors import VBQInputError

#: (column name, title, unit, description) of the per-level results table
RESULT_COLUMNS = (
    ("level", "Level", "", "Spine level (or CSF, the reference ROI)"),
    ("segment", "Segment", "", "Segment the ROI came from"),
    ("n_voxels", "Voxels", "voxels", "Number of voxels measured (after resampling, erosion and slice limits)"),
    ("volume_mm3", "Volume", "mm3", "ROI volume"),
    ("mean", "Mean SI", "", "Mean signal intensity in the ROI"),
    ("median", "Median SI", "", "Median signal intensity in the ROI (exact)"),
    ("sd", "SD SI", "", "Standard deviation of signal intensity (sample, n-1)"),
    ("cv", "CV", "", "Coefficient of variation (SD / mean)"),
    ("vbq", "VBQ", "", "Level VBQ = level SI / CSF SI (statistic as chosen)"),
    ("flags", "Flags", "", "Quality flags on this ROI (codes; see the flags box)"),
)
SUMMARY_ROW = "Overall"



def fill_table_node(tableNode, columns: Iterable[Sequence]):
    """Replace all columns of a ``vtkMRMLTableNode`` by ``columns`` -> the node: the one table writer of the
    results, cohort, CSV, plot and overlap tables.

    Each column is ``(name, values, numeric)`` or ``(name, values, numeric, title, unit, description)``. A numeric
    column is a ``vtkDoubleArray`` (``None`` and NaN -> NaN), a text column a ``vtkStringArray`` (``None`` -> "",
    anything else ``str``). Title, unit and description are set when given (not empty).
    """
    was = tableNode.StartModify()
    try:
        tableNode.RemoveAllColumns()
        table = tableNode.GetTable()
        for name, values, numeric, *props in columns:
            values = list(values)
            arr = vtk.vtkDoubleArray() if numeric else vtk.vtkStringArray()
            arr.SetName(name)
            arr.SetNumberOfValues(len(values))
            for i, value in enumerate(values):
                if numeric:
                    arr.SetValue(i, float("nan") if value is None else float(value))
                else:
                    arr.SetValue(i, "" if value is None else str(value))
            table.AddColumn(arr)
            title, unit, description = (list(props) + [None, None, None])[:3]
            if title:
                tableNode.SetColumnTitle(name, title)
            if unit:
                tableNode.SetColumnUnitLabel(name, unit)
            if description:
                tableNode.SetColumnDescription(name, description)
        table.Modified()
    finally:
        tableNode.EndModify(was)
    return tableNode


def result_rows(result) -> list[dict]:
    """Rows of the results table: one per level, then CSF, then the overall VBQ."""
    rows = []
    flag_codes = {}
    for f in result.flags:
        flag_codes.setdefault(f.level, []).append(f.code)
    for lv in result.levels:
        d = lv.to_dict()
        d["level"] = d.pop("name")
        d["flags"] = ";".join(flag_codes.get(lv.name, []))
        rows.append(d)
    csf = result.csf.to_dict()
    csf["level"] = "CSF"
    csf["vbq"] = None
    csf["flags"] = ";".join(flag_codes.get("CSF", []))
    rows.append(csf)
    rows.append({"level": SUMMARY_ROW, "segment": result.overall.get("preset") or "", "vbq": result.overall.get("vbq"),
                 "flags": ";".join(flag_codes.get(None, []))})
    return rows



def result_to_table_node(result, tableNode):
    """Fill a ``vtkMRMLTableNode`` with the result (column titles, units, descriptions); returns the node.

    Numbers that could not be computed are NaN in the table. The overall VBQ and preset go in the last row and
    into the node attributes ``VBQ.overall``, ``VBQ.preset``; the flags' sentences in ``VBQ.flags``.
    """
    rows = result_rows(result)
    numeric = {"n_voxels", "volume_mm3", "mean", "median", "sd", "cv", "vbq"}
    was = tableNode.StartModify()
    try:
        fill_table_node(tableNode, [(name, [row.get(name) for row in rows], name in numeric, title, unit, desc)
                                    for name, title, unit, desc in RESULT_COLUMNS])
        tableNode.SetUseColumnTitleAsColumnHeader(True)
        overall = result.overall.get("vbq")
        tableNode.SetAttribute("VBQ.overall", "" if overall is None else repr(float(overall)))
        tableNode.SetAttribute("VBQ.preset", str(result.overall.get("preset") or ""))
        tableNode.SetAttribute("VBQ.flags", "\n".join(flag_lines(result)))
    finally:
        tableNode.EndModify(was)
    return tableNode


def flag_lines(result) -> list[str]:
    """One plain line per quality flag, e.g. ``"C3: TINY_ROI - only 4 voxels ..."``."""
    return [f"{f.level or 'all'}: {f.code} - {f.message}" for f in result.flags]



def flags_text(result) -> str:
    """The flags as the module panel shows them: one line each, or "No quality flags."."""
    lines = flag_lines(result)
    return "\n".join(lines) if lines else "No quality flags."



def overall_text(result) -> str:
    """The overall VBQ in words, e.g. ``"2.613  (lu2024: mean of mean SI over C2, ..., C7 / CSF mean SI)"``."""
    o = result.overall
    if o.get("vbq") is None:
        return "not computed (no level measured)"
    return (f"{o['vbq']:.3f}  ({o['preset']}: {o['aggregate']} of {o['level_stat']} SI over "
            f"{', '.join(o['levels_used'])} / CSF {o['level_stat']} SI)")



def named_node(scene, className: str, name: str):
    """The node of that class and name in the scene (the first), or a new one (so a re-run reuses its nodes)."""
    node = scene.GetFirstNode(name, className)
    return node if node is not None else scene.AddNewNodeByClass(className, name)



def result_to_plot(scene, result):
    """Bar chart of VBQ per level in ``scene`` (plot table "VBQ per level (plot)", series "VBQ per level" and
    chart "VBQ per level chart", reused by name on every call) -> the chart node."""
    plotTable = named_node(scene, "vtkMRMLTableNode", "VBQ per level (plot)")
    fill_table_node(plotTable, [("index", range(1, len(result.levels) + 1), True),
                                ("VBQ", [lv.vbq for lv in result.levels], True),
                                ("level", [lv.name for lv in result.levels], False)])
    series = named_node(scene, "vtkMRMLPlotSeriesNode", "VBQ per level")
    series.SetAndObserveTableNodeID(plotTable.GetID())
    series.SetXColumnName("index")
    series.SetYColumnName("VBQ")
    series.SetLabelColumnName("level")
    series.SetPlotType(slicer.vtkMRMLPlotSeriesNode.PlotTypeBar)
    series.SetColor(0.0, 0.447, 0.698)
    chart = named_node(scene, "vtkMRMLPlotChartNode", "VBQ per level chart")
    if not chart.HasPlotSeriesNodeID(series.GetID()):
        chart.AddAndObservePlotSeriesNodeID(series.GetID())
    overall = result.overall.get("vbq")
    chart.SetTitle(f"VBQ per level (overall {overall:.2f})" if overall is not None else "VBQ per level")
    chart.SetXAxisTitle("Level")
    chart.SetYAxisTitle("VBQ (level SI / CSF SI)")
    return chart



def table_column(tableNode, name: str) -> list:
    """Values of a table node column as Python values (float or str)."""
    table = tableNode.GetTable()
    arr = table.GetColumnByName(name)
    if arr is None:
        raise KeyError(name)
    if isinstance(arr, vtk.vtkStringArray):
        return [arr.GetValue(i) for i in range(arr.GetNumberOfValues())]
    return [arr.GetValue(i) for i in range(arr.GetNumberOfTuples())]



def cohort_row(result, patient: Optional[str], case_id: Optional[str] = None) -> dict[str, Any]:
    """One wide row for a cohort table, with exactly the columns ``vbq batch`` writes per case
    (``case_id, status, VBQ_<level>..., VBQ_overall, CSF_SI, n_levels, preset, level_stat, aggregate, flags,
    error`` and DICOM fields when known), so the cohort module maps them the same way. ``case_id`` is the
    patient id (from the DICOM tags) when known, else ``case_id``."""
    cid = patient or case_id
    if not cid:
        raise VBQInputError("no patient id: the volume has no DICOM patient in the subject hierarchy; "
                            "type a case id")
    return record_from_result(str(cid), result.to_dict())["wide"]



def append_cohort_row(tableNode, row: dict[str, Any]):
    """Append (or replace, when its ``case_id`` is already there) a row in a cohort ``vtkMRMLTableNode``.

    Missing columns are added (numeric for numbers, text otherwise); rows missing a column get NaN / "".
    """
    table = tableNode.GetTable()
    was = tableNode.StartModify()
    try:
        n_rows = table.GetNumberOfRows()
        for key, value in row.items():
            if table.GetColumnByName(key) is None:
                is_num = value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
                arr = vtk.vtkDoubleArray() if is_num and key != "case_id" else vtk.vtkStringArray()
                arr.SetName(key)
                arr.SetNumberOfValues(n_rows)
                for i in range(n_rows):
                    arr.SetValue(i, float("nan") if isinstance(arr, vtk.vtkDoubleArray) else "")
                table.AddColumn(arr)
        target = None
        id_col = table.GetColumnByName("case_id")
        for i in range(n_rows):
            if id_col is not None and row.get("case_id") and str(id_col.GetValue(i)) == str(row["case_id"]):
                target = i
                break
        if target is None:
            target = n_rows
            for c in range(table.GetNumberOfColumns()):
                col = table.GetColumn(c)
                col.InsertNextValue(float("nan") if isinstance(col, vtk.vtkDoubleArray) else "")
        for c in range(table.GetNumberOfColumns()):
            col = table.GetColumn(c)
            value = row.get(col.GetName())
            if isinstance(col, vtk.vtkDoubleArray):
                col.SetValue(target, float("nan") if value is None or (isinstance(value, float) and math.isnan(value))
                             else float(value))
            elif col.GetName() in row:
                col.SetValue(target, "" if value is None else str(value))
        table.Modified()
    finally:
        tableNode.EndModify(was)
    return target



def csv_to_table_node(path, tableNode, text_columns: Iterable[str] = ("case_id",)):
    """Fill a table node from a CSV (e.g. the ``vbq batch`` table): columns whose every non-empty cell is a
    number become numeric (empty -> NaN), the others and ``text_columns`` stay text (ids like ``007`` keep
    their zeros). Works in Slicer and in slicer-core (no application IO manager)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise VBQInputError(f"{path}: empty CSV")
    header, body = rows[0], rows[1:]
    text_columns = set(text_columns)
    columns = []
    for c, name in enumerate(header):
        cells = [r[c] if c < len(r) else "" for r in body]
        numeric = name not in text_columns and all(_is_float(v) for v in cells if v != "") and \
            any(v != "" for v in cells)
        columns.append((name, [float(v) if v != "" else None for v in cells] if numeric else cells, numeric))
    return fill_table_node(tableNode, columns)


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
