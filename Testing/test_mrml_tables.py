"""`VBQScoreLib.mrml.fill_table_node`, the one writer of the adapter's table nodes (results, cohort, CSV, plot,
overlap), and the layout promises of the split MRML adapter and batch packages.

Values are read back from the VTK arrays and compared with values written by hand, so a writer that drops a
column, mixes types, keeps the previous columns or loses a title/unit/description fails here.
"""

from __future__ import annotations

import math

import pytest

slicer = pytest.importorskip("slicer")
vtk = pytest.importorskip("vtk")

from VBQScoreLib import mrml  # noqa: E402


def _columns(node):
    t = node.GetTable()
    out = {}
    for c in range(t.GetNumberOfColumns()):
        arr = t.GetColumn(c)
        out[arr.GetName()] = (arr.GetClassName(), [arr.GetValue(i) for i in range(t.GetNumberOfRows())])
    return out


def test_fill_table_node_types_missing_values_and_properties():
    scene = slicer.vtkMRMLScene()
    node = scene.AddNewNodeByClass("vtkMRMLTableNode")
    mrml.fill_table_node(node, [("old", [1, 2, 3, 4], True)])
    assert mrml.fill_table_node(node, [
        ("level", ["C2", None, 7], False, "Level", "", "Spine level"),
        ("vbq", [2.5, None, float("nan")], True, "VBQ", "ratio", None),
        ("n", (i for i in (1, 2, 3)), True),
    ]) is node
    cols = _columns(node)
    assert list(cols) == ["level", "vbq", "n"]  # the previous column is gone
    assert cols["level"] == ("vtkStringArray", ["C2", "", "7"])
    kind, vbq = cols["vbq"]
    assert kind == "vtkDoubleArray" and vbq[0] == 2.5 and math.isnan(vbq[1]) and math.isnan(vbq[2])
    assert cols["n"] == ("vtkDoubleArray", [1.0, 2.0, 3.0])
    assert node.GetColumnTitle("level") == "Level" and node.GetColumnDescription("level") == "Spine level"
    assert node.GetColumnUnitLabel("level") == ""
    assert node.GetColumnTitle("vbq") == "VBQ" and node.GetColumnUnitLabel("vbq") == "ratio"
    assert node.GetColumnDescription("vbq") == ""


def test_fill_table_node_empty_table():
    scene = slicer.vtkMRMLScene()
    node = scene.AddNewNodeByClass("vtkMRMLTableNode")
    mrml.fill_table_node(node, [("a", [], True), ("b", [], False)])
    assert node.GetTable().GetNumberOfColumns() == 2 and node.GetTable().GetNumberOfRows() == 0


def test_csv_to_table_node_goes_through_the_same_writer(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("case_id,VBQ_C3,note\n007,2.5,a\n8,,\n", encoding="utf-8")
    scene = slicer.vtkMRMLScene()
    node = mrml.csv_to_table_node(p, scene.AddNewNodeByClass("vtkMRMLTableNode"))
    cols = _columns(node)
    assert cols["case_id"] == ("vtkStringArray", ["007", "8"])
    assert cols["VBQ_C3"][0] == "vtkDoubleArray" and cols["VBQ_C3"][1][0] == 2.5 and math.isnan(cols["VBQ_C3"][1][1])
    assert cols["note"] == ("vtkStringArray", ["a", ""])


def test_package_exports_match_the_old_module():
    """Every public name the single-file adapter had is still importable from the package."""
    old = {"LEVEL_TAG", "node_transform_to_world", "ijk_to_ras", "volume_to_sitk", "sitk_to_volume_node",
           "segment_ids", "segment_level", "export_segment_mask", "segments_from_node", "patient_id",
           "dicom_fields", "measure_nodes", "RESULT_COLUMNS", "SUMMARY_ROW", "result_rows", "result_to_table_node",
           "flag_lines", "flags_text", "overall_text", "measure_into_table", "named_node", "result_to_plot",
           "table_column", "cohort_row", "append_cohort_row", "SNOMED_CODES", "LEVEL_COLORS", "CSF_COLOR",
           "terminology_entry", "find_level_segment", "create_level_segments", "set_segment_mask",
           "markup_points_lps", "quick_rois", "quick_roi_at", "create_preset_segments", "read_segmentation_node",
           "write_seg_nrrd", "missing_requirements", "ensure_requirements", "csv_to_table_node", "overlap_nodes"}
    assert old <= set(mrml.__all__)
    assert all(hasattr(mrml, name) for name in mrml.__all__)
