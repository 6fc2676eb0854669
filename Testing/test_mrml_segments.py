"""MRML adapter, segment side: "Create level segments", Quick ROIs into a segmentation node (slicer-core)."""

from __future__ import annotations

import numpy as np
import pytest

slicer = pytest.importorskip("slicer")
vtk = pytest.importorskip("vtk")
import SimpleITK as sitk  # noqa: E402

from VBQScoreLib import mrml  # noqa: E402
from VBQScoreLib.errors import VBQInputError  # noqa: E402
from VBQScoreLib.quick_roi import QuickRoiSettings  # noqa: E402


def _phantom():
    """40^3, 1 mm: background 50; 'C3' body 300 at x10-29 y10-19 z10-29; CSF 100 at x10-29 y25-29 z10-29."""
    arr = np.full((40, 40, 40), 50.0, dtype=np.float32)
    arr[10:30, 10:20, 10:30] = 300.0
    arr[10:30, 25:30, 10:30] = 100.0
    img = sitk.GetImageFromArray(arr)
    img.SetOrigin((-5.0, 7.0, 3.0))
    return img


def _scene():
    scene = slicer.vtkMRMLScene()
    img = _phantom()
    vol = mrml.sitk_to_volume_node(img, scene, "phantom")
    seg = slicer.vtkMRMLSegmentationNode()
    seg.SetName("seg")
    scene.AddNode(seg)
    seg.SetReferenceImageGeometryParameterFromVolumeNode(vol)
    return scene, vol, seg, img


def _markups(scene, img, points):
    node = slicer.vtkMRMLMarkupsFiducialNode()
    scene.AddNode(node)
    for label, ijk in points:
        lps = img.TransformContinuousIndexToPhysicalPoint([float(v) for v in ijk])
        node.AddControlPoint(vtk.vtkVector3d(-lps[0], -lps[1], lps[2]), label)  # RAS
    return node


def test_create_level_segments_ids_names_colours_terminology():
    _, _, seg, _ = _scene()
    ids = mrml.create_level_segments(seg, ["C2", "C3", "C4", "C5", "C6", "C7"], csf_name="CSF (cisterna magna)")
    assert ids == {lvl: lvl for lvl in ["C2", "C3", "C4", "C5", "C6", "C7", "CSF"]}
    segmentation = seg.GetSegmentation()
    colours = {tuple(round(c, 3) for c in segmentation.GetSegment(s).GetColor()) for s in ids.values()}
    assert len(colours) == 7
    tag = vtk.reference("")
    assert segmentation.GetSegment("C3").GetTag(slicer.vtkSegment.GetTerminologyEntryTagName(), tag)
    assert "SCT^113205007^C3 vertebra" in str(tag)
    assert segmentation.GetSegment("CSF").GetName() == "CSF (cisterna magna)"
    # renamed segments are found again by ID and not duplicated
    segmentation.GetSegment("C3").SetName("third")
    again = mrml.create_level_segments(seg, ["C2", "C3"])
    assert again["C3"] == "C3" and segmentation.GetNumberOfSegments() == 7
    assert mrml.find_level_segment(seg, "C3") == "C3"
    assert mrml.terminology_entry("S1") is None


def test_quick_rois_into_segments_then_measure_exact():
    scene, vol, seg, img = _scene()
    markups = _markups(scene, img, [("C3", (20, 15, 20)), ("CSF", (20, 27, 20))])
    pts = mrml.markup_points_lps(markups)
    np.testing.assert_allclose(pts[0][1], img.TransformIndexToPhysicalPoint((20, 15, 20)), atol=1e-9)
    ids = mrml.quick_rois(vol, seg, markups, QuickRoiSettings(radius_mm=20.0, sagittal_slices=3, erode_mm=1.0))
    assert ids == {"C3": "C3", "CSF": "CSF"}
    res = mrml.measure_nodes(vol, seg)
    # C3: 3 slices x (10-2) x (20-2) after 1 mm in-plane erosion = 432 voxels of 300; CSF not eroded:
    # 3 x 5 x 20 = 300 voxels of 100 -> VBQ exactly 3
    assert res.level("C3").n_voxels == 432
    assert res.csf.n_voxels == 300
    assert res.level("C3").vbq == 3.0
    assert res.overall["vbq"] == 3.0
    # the segment is editable binary labelmap on the volume grid: re-running replaces, never accumulates
    mrml.quick_rois(vol, seg, markups, QuickRoiSettings(radius_mm=20.0, sagittal_slices=1, erode_mm=1.0))
    assert mrml.measure_nodes(vol, seg).level("C3").n_voxels == 144  # 1 x 8 x 18


def test_quick_rois_bad_labels():
    scene, vol, seg, img = _scene()
    with pytest.raises(VBQInputError, match="not named after a spine level"):
        mrml.quick_rois(vol, seg, _markups(scene, img, [("F-1", (20, 15, 20))]))
    with pytest.raises(VBQInputError, match="several points for C3"):
        mrml.quick_rois(vol, seg, _markups(scene, img, [("C3", (20, 15, 20)), ("c3", (20, 16, 20))]))
    with pytest.raises(VBQInputError, match="no points"):
        mrml.quick_rois(vol, seg, None)


def test_set_segment_mask_under_transform():
    """Volume translated by +3 mm R: a mask on the volume grid lands at the volume's voxels in world space."""
    scene, vol, seg, img = _scene()
    tr = slicer.vtkMRMLLinearTransformNode()
    scene.AddNode(tr)
    m = vtk.vtkMatrix4x4()
    m.SetElement(0, 3, 3.0)
    tr.SetMatrixTransformToParent(m)
    vol.SetAndObserveTransformNodeID(tr.GetID())
    mask = np.zeros((40, 40, 40), np.uint8)
    mask[15:18, 12:14, 20:22] = 1
    mi = sitk.GetImageFromArray(mask)
    mi.CopyInformation(img)
    ids = mrml.create_level_segments(seg, ["C3"], include_csf=False)
    mrml.set_segment_mask(seg, ids["C3"], mi, vol)
    back = mrml.export_segment_mask(seg, ids["C3"], vol)  # onto the (transformed) volume grid again
    assert np.array_equal(back, mask)


# ------------------------------------------------------------------------------------------ the in-Slicer checks
def _checks():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "VBQScore" / "Testing" / "Python" / "VBQScoreSyntheticChecks.py"
    spec = importlib.util.spec_from_file_location("VBQScoreSyntheticChecks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_in_slicer_compute_checks_run_on_slicer_core():
    checks = _checks()
    scene = slicer.vtkMRMLScene()
    result = checks.check_compute_exact(scene, checks.CoreLogic(scene))
    assert result.overall["vbq"] == 250.0 / 80.0


def test_in_slicer_quick_roi_checks_run_on_slicer_core():
    checks = _checks()
    scene = slicer.vtkMRMLScene()
    result = checks.check_quick_rois(scene, checks.CoreLogic(scene))
    assert result.level("C3").n_voxels == 48


# ------------------------------------------------------------------ shared by the Slicer module and vbq web
def test_quick_roi_at_one_point_equals_quick_rois_from_a_markup_point():
    """The web app's click (quick_roi_at, RAS) and the module's markups path grow the same ROI."""
    scene, vol, seg, img = _scene()
    settings = QuickRoiSettings(radius_mm=6.0, sagittal_slices=3, erode_mm=1.0)
    mrml.quick_rois(vol, seg, _markups(scene, img, [("C3", (20, 15, 20))]), settings)
    by_markup = mrml.export_segment_mask(seg, "C3", vol)
    scene2, vol2, seg2, _ = _scene()  # noqa: F841  (the scene must live on)
    lps = img.TransformContinuousIndexToPhysicalPoint([20.0, 15.0, 20.0])
    assert mrml.quick_roi_at(vol2, seg2, "C3", (-lps[0], -lps[1], lps[2]), settings) == "C3"
    by_click = mrml.export_segment_mask(seg2, "C3", vol2)
    assert by_click.sum() > 0 and np.array_equal(by_markup, by_click)
    with pytest.raises(VBQInputError, match="select a level segment first"):
        mrml.quick_roi_at(vol2, seg2, "Segment_1", (0, 0, 0), settings)
    # a CSF click creates the CSF segment under the name asked for (the preset's)
    lps = img.TransformContinuousIndexToPhysicalPoint([20.0, 27.0, 20.0])
    mrml.quick_roi_at(vol2, seg2, "CSF", (-lps[0], -lps[1], lps[2]), settings, csf_name="CSF cisterna magna")
    assert seg2.GetSegmentation().GetSegment("CSF").GetName() == "CSF cisterna magna"


def test_create_preset_segments_is_the_module_button():
    _, _, seg, _ = _scene()
    ids = mrml.create_preset_segments(seg, "soliman2023")
    assert list(ids) == ["C3", "C4", "C5", "C6", "CSF"]
    assert seg.GetSegmentation().GetSegment("CSF").GetName() == "CSF at C2"
    assert seg.GetSegmentation().GetSegment("C3").GetNameAutoGenerated() is False
    with pytest.raises(VBQInputError, match="select or create a segmentation first"):
        mrml.create_preset_segments(None)


def test_read_segmentation_node_and_write_seg_nrrd(tmp_path):
    """A labelmap + labels read into a node and saved as .seg.nrrd: vbq score gives the same on both files;
    the direct and the export path of measure_nodes agree; a shared-layer segmentation keeps each segment."""
    from VBQScoreLib.api import score_files

    scene, vol, _, img = _scene()
    lab = np.zeros((40, 40, 40), np.uint8)
    lab[12:28, 11:19, 11:29] = 1
    lab[12:28, 26:29, 11:29] = 2
    li = sitk.GetImageFromArray(lab)
    li.CopyInformation(img)
    sitk.WriteImage(li, str(tmp_path / "lab.nii.gz"))
    sitk.WriteImage(img, str(tmp_path / "t1.nii.gz"))
    (tmp_path / "labels.txt").write_text("1=C3 body\n2=CSF\n", encoding="utf-8")
    node = mrml.read_segmentation_node(tmp_path / "lab.nii.gz", vol, tmp_path / "labels.txt")
    assert mrml.segment_ids(node) == ["C3", "CSF"]
    assert node.GetSegmentation().GetSegment("C3").GetName() == "C3 body"  # the labels file's name
    ref = score_files(tmp_path / "t1.nii.gz", tmp_path / "lab.nii.gz", labels=tmp_path / "labels.txt").to_dict()
    direct = mrml.measure_nodes(vol, node).to_dict()
    export = mrml.measure_nodes(vol, node, method="export").to_dict()
    for d in (ref, direct, export):
        d.pop("provenance")
    assert direct == ref == export
    mrml.write_seg_nrrd(node, tmp_path / "out.seg.nrrd")
    saved = score_files(tmp_path / "t1.nii.gz", tmp_path / "out.seg.nrrd").to_dict()
    saved.pop("provenance")
    assert saved == ref
    again = mrml.read_segmentation_node(tmp_path / "out.seg.nrrd", vol)  # Slicer's own reader
    assert [again.GetSegmentation().GetSegment(s).GetName() for s in mrml.segment_ids(again)] == ["C3 body", "CSF"]
    with pytest.raises(VBQInputError, match="ends with .seg.nrrd"):
        mrml.write_seg_nrrd(node, tmp_path / "out.nrrd")
    # refused as vbq score refuses it: a labelmap without labels, one far away
    with pytest.raises(VBQInputError, match="needs segment names"):
        mrml.read_segmentation_node(tmp_path / "lab.nii.gz", vol)
    li.SetOrigin([o + 400 for o in img.GetOrigin()])
    sitk.WriteImage(li, str(tmp_path / "far.nii.gz"))
    with pytest.raises(VBQInputError, match="does not overlap the image"):
        mrml.read_segmentation_node(tmp_path / "far.nii.gz", vol, tmp_path / "labels.txt")
