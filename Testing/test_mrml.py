"""MRML adapter (VBQScoreLib.mrml) on slicer-core: scenes from the real MRI and from synthetic data.

The reference is always computed independently of the MRML path: ``score_files`` on files holding the same
data (read with SimpleITK/slicerio, not with MRML), or hand-shifted/hand-built masks whose expected result is
known without Slicer.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

slicer = pytest.importorskip("slicer")
vtk = pytest.importorskip("vtk")
import SimpleITK as sitk  # noqa: E402

from helpers import (  # noqa: E402
    BOX_LABELS,
    box_labels,
    load_volume_node,
    segmentation_from_labelmap,
    write_labelmap,
)
from VBQScoreLib import mrml  # noqa: E402
from VBQScoreLib.api import score_arrays, score_files  # noqa: E402
from VBQScoreLib.errors import VBQInputError  # noqa: E402
from VBQScoreLib.options import ScoreOptions  # noqa: E402
from VBQScoreLib.segments import Segment  # noqa: E402


# ------------------------------------------------------------------------------------------ helpers
def _oriented_image(mask_zyx, volume_node):
    """vtkOrientedImageData holding a (z, y, x) mask on the volume node's voxel grid."""
    from vtk.util import numpy_support

    image = slicer.vtkOrientedImageData()
    image.SetDimensions(mask_zyx.shape[2], mask_zyx.shape[1], mask_zyx.shape[0])
    image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(
        np.ascontiguousarray(mask_zyx.astype(np.uint8)).ravel(), deep=True, array_type=vtk.VTK_UNSIGNED_CHAR))
    m = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(m)
    image.SetImageToWorldMatrix(m)
    return image


def _comparable(result):
    d = result.to_dict()
    d.pop("provenance")
    return d


@pytest.fixture()
def real_scene(real_t1_path, tmp_path):
    img = sitk.ReadImage(str(real_t1_path))
    lab = box_labels(sitk.GetArrayViewFromImage(img).shape)
    lab_path = write_labelmap(tmp_path, img, lab)
    scene = slicer.vtkMRMLScene()
    vol = load_volume_node(scene, real_t1_path)
    seg = segmentation_from_labelmap(scene, lab_path, BOX_LABELS)
    return dict(scene=scene, vol=vol, seg=seg, img=img, lab=lab, lab_path=lab_path, t1=real_t1_path)


# ------------------------------------------------------------------------------------------ geometry
def test_volume_to_sitk_matches_simpleitk_reader(real_scene):
    a = mrml.volume_to_sitk(real_scene["vol"])
    b = real_scene["img"]
    assert a.GetSize() == b.GetSize()
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-5)
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), atol=1e-6)
    assert np.array_equal(sitk.GetArrayViewFromImage(a), sitk.GetArrayViewFromImage(b))


def test_sitk_roundtrip_oblique_geometry():
    arr = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    img = sitk.GetImageFromArray(arr)
    c, s = np.cos(0.3), np.sin(0.3)
    img.SetDirection((c, -s, 0, s, c, 0, 0, 0, -1))
    img.SetSpacing((0.5, 0.8, 3.0))
    img.SetOrigin((10.0, -20.0, 5.0))
    scene = slicer.vtkMRMLScene()
    node = mrml.sitk_to_volume_node(img, scene, "oblique")
    # independent check of the RAS convention: voxel (1, 2, 3) in RAS = LPS with x, y negated
    lps = img.TransformIndexToPhysicalPoint((1, 2, 3))
    m = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(m)
    ras = m.MultiplyPoint((1, 2, 3, 1))
    np.testing.assert_allclose(ras[:3], (-lps[0], -lps[1], lps[2]), atol=1e-9)
    back = mrml.volume_to_sitk(node)
    np.testing.assert_allclose(back.GetDirection(), img.GetDirection(), atol=1e-12)
    np.testing.assert_allclose(back.GetSpacing(), img.GetSpacing(), atol=1e-12)
    np.testing.assert_allclose(back.GetOrigin(), img.GetOrigin(), atol=1e-12)
    assert np.array_equal(sitk.GetArrayViewFromImage(back), arr)


# ------------------------------------------------------------------------------------------ measuring
def test_measure_nodes_equals_score_files_on_real_mri(real_scene):
    opts = ScoreOptions(preset="lu2024")
    by_nodes = mrml.measure_nodes(real_scene["vol"], real_scene["seg"], options=opts)
    by_files = score_files(real_scene["t1"], real_scene["lab_path"], labels=BOX_LABELS, options=opts)
    assert _comparable(by_nodes) == _comparable(by_files)
    # and the numbers are the plain numpy ones: C3 mean / CSF mean
    arr = sitk.GetArrayViewFromImage(real_scene["img"]).astype(float)
    lab = real_scene["lab"]
    c3 = arr[lab == 2].mean()
    csf = arr[lab == 7].mean()
    assert by_nodes.level("C3").mean == pytest.approx(c3, rel=1e-12)
    assert by_nodes.level("C3").vbq == pytest.approx(c3 / csf, rel=1e-12)
    overall = np.mean([arr[lab == v].mean() for v in range(1, 7)]) / csf
    assert by_nodes.overall["vbq"] == pytest.approx(overall, rel=1e-12)
    assert by_nodes.level("C3").n_voxels == 7 * 10 * 10


def test_measure_nodes_options_median_erosion(real_scene):
    kw = dict(preset="soliman2023", stat="median", erode_mm=1.0, mid_sagittal_slices=3)
    by_nodes = mrml.measure_nodes(real_scene["vol"], real_scene["seg"], **kw)
    by_files = score_files(real_scene["t1"], real_scene["lab_path"], labels=BOX_LABELS, options=ScoreOptions(**kw))
    assert _comparable(by_nodes) == _comparable(by_files)
    assert by_nodes.overall["preset"] == "soliman2023"
    assert by_nodes.overall["levels_used"] == ["C3", "C4", "C5", "C6"]


def test_provenance_names_nodes_and_options(real_scene):
    res = mrml.measure_nodes(real_scene["vol"], real_scene["seg"], erode_mm=0.5)
    prov = res.provenance
    assert prov["inputs"]["volume_node"] == "T1"
    assert prov["inputs"]["segmentation_node"] == "Segmentation"
    assert prov["options"]["erode_mm"] == 0.5
    assert prov["preset"]["name"] == "lu2024"


def test_multilayer_seg_nrrd_read_by_storage_node(real_scene, tmp_path):
    """Overlapping segments are saved by Slicer in several layers (4-D .seg.nrrd); both paths read them."""
    scene, seg = real_scene["scene"], real_scene["seg"]
    # add a 'C3' overlapping C2 and C3 ROIs (replacing C3): voxels shared with C2 need a second layer
    c3_id = [sid for sid in mrml.segment_ids(seg) if seg.GetSegmentation().GetSegment(sid).GetName() == "C3"][0]
    seg.GetSegmentation().RemoveSegment(c3_id)
    lab = real_scene["lab"]
    overlap = np.zeros_like(lab)
    overlap[12:25, 32:38, 18:24] = 1  # spans C2 (z 8-14) and C3 territory (z 18-24)
    seg.AddSegmentFromBinaryLabelmapRepresentation(_oriented_image(overlap, real_scene["vol"]), "C3")
    assert seg.GetSegmentation().GetNumberOfLayers() == 2
    seg_path = tmp_path / "multi.seg.nrrd"
    storage = slicer.vtkMRMLSegmentationStorageNode()
    scene.AddNode(storage)
    storage.SetFileName(str(seg_path))
    assert storage.WriteData(seg)
    import slicerio

    info = slicerio.read_segmentation(str(seg_path))
    assert info["voxels"].ndim == 4 and info["voxels"].shape[0] == 2  # really multi-layer

    loaded = slicer.vtkMRMLSegmentationNode()
    scene.AddNode(loaded)
    reader = slicer.vtkMRMLSegmentationStorageNode()
    scene.AddNode(reader)
    reader.SetFileName(str(seg_path))
    assert reader.ReadData(loaded)
    by_nodes = mrml.measure_nodes(real_scene["vol"], loaded)
    by_files = score_files(real_scene["t1"], seg_path)
    assert _comparable(by_nodes) == _comparable(by_files)
    # independent: C3 is the overlap box, C2 keeps all its voxels
    arr = sitk.GetArrayViewFromImage(real_scene["img"]).astype(float)
    assert by_nodes.level("C3").n_voxels == 13 * 6 * 6
    assert by_nodes.level("C3").mean == pytest.approx(arr[overlap == 1].mean(), rel=1e-12)
    assert by_nodes.level("C2").n_voxels == 7 * 10 * 10


def test_segmentation_on_finer_grid(real_scene, tmp_path):
    """A segmentation on a 3x finer grid (each MRI voxel = 3x3x3 sub-voxels, centres aligned) maps back
    exactly onto the MRI voxels: the result equals the measurement with the coarse masks."""
    img, lab = real_scene["img"], real_scene["lab"]
    fine = np.repeat(np.repeat(np.repeat(lab, 3, 0), 3, 1), 3, 2)
    fi = sitk.GetImageFromArray(fine)
    fi.SetSpacing([s / 3 for s in img.GetSpacing()])
    fi.SetDirection(img.GetDirection())
    # fine voxel (1,1,1) centre = coarse voxel (0,0,0) centre
    d = np.array(img.GetDirection()).reshape(3, 3)
    fi.SetOrigin(tuple(np.array(img.GetOrigin()) - d @ (np.array(img.GetSpacing()) / 3)))
    fine_path = tmp_path / "fine.nii.gz"
    sitk.WriteImage(fi, str(fine_path))
    scene = real_scene["scene"]
    seg = segmentation_from_labelmap(scene, fine_path, BOX_LABELS)
    by_nodes = mrml.measure_nodes(real_scene["vol"], seg)
    coarse = score_files(real_scene["t1"], real_scene["lab_path"], labels=BOX_LABELS)
    assert _comparable(by_nodes) == _comparable(coarse)
    by_files = score_files(real_scene["t1"], fine_path, labels=BOX_LABELS)
    assert _comparable(by_files) == _comparable(coarse)


# ------------------------------------------------------------------------------------------ transforms
def _linear_transform(scene, matrix):
    tr = slicer.vtkMRMLLinearTransformNode()
    scene.AddNode(tr)
    m = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            m.SetElement(r, c, float(matrix[r][c]))
    tr.SetMatrixTransformToParent(m)
    return tr


def test_translated_segmentation_is_measured_where_it_is(real_scene, tmp_path):
    scene, vol, seg = real_scene["scene"], real_scene["vol"], real_scene["seg"]
    tr = _linear_transform(scene, [[1, 0, 0, 2], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    seg.SetAndObserveTransformNodeID(tr.GetID())
    by_nodes = mrml.measure_nodes(vol, seg)
    # +2 mm in R: the real MRI's IJK axes are R, A, S with 1 mm spacing, so the masks move by +2 in i (x)
    shifted = np.zeros_like(real_scene["lab"])
    shifted[:, :, 2:] = real_scene["lab"][:, :, :-2]
    ref = score_files(real_scene["t1"], write_labelmap(tmp_path, real_scene["img"], shifted, "sh.nii.gz"),
                      labels=BOX_LABELS)
    assert _comparable(by_nodes) == _comparable(ref)
    assert by_nodes.provenance["inputs"]["transforms_hardened"] is True
    # the input nodes are untouched
    assert seg.GetTransformNodeID() == tr.GetID()
    assert len(mrml.segment_ids(seg)) == 7
    assert scene.GetNodesByClass("vtkMRMLLabelMapVolumeNode").GetNumberOfItems() == 0


def test_repeated_measuring_does_not_grow_the_scene(real_scene):
    scene = real_scene["scene"]
    mrml.measure_nodes(real_scene["vol"], real_scene["seg"])
    n = scene.GetNumberOfNodes()
    for _ in range(3):  # live update measures again and again
        mrml.measure_nodes(real_scene["vol"], real_scene["seg"])
    assert scene.GetNumberOfNodes() == n
    assert scene.GetNodesByClass("vtkMRMLColorTableNode").GetNumberOfItems() <= 1


def test_common_scaling_transform_is_hardened_on_a_copy(real_scene):
    scene, vol, seg = real_scene["scene"], real_scene["vol"], real_scene["seg"]
    plain = mrml.measure_nodes(vol, seg)
    tr = _linear_transform(scene, [[2, 0, 0, 5], [0, 1, 0, 0], [0, 0, 1, -3], [0, 0, 0, 1]])
    vol.SetAndObserveTransformNodeID(tr.GetID())
    seg.SetAndObserveTransformNodeID(tr.GetID())
    before = vtk.vtkMatrix4x4()
    vol.GetIJKToRASMatrix(before)
    moved = mrml.measure_nodes(vol, seg)
    for a, b in zip(plain.levels, moved.levels):
        assert (a.n_voxels, a.mean, a.vbq) == (b.n_voxels, b.mean, b.vbq)
        assert b.volume_mm3 == pytest.approx(2.0 * a.volume_mm3, rel=1e-12)  # voxels are 2 mm wide in R now
    after = vtk.vtkMatrix4x4()
    vol.GetIJKToRASMatrix(after)
    assert [before.GetElement(r, c) for r in range(4) for c in range(4)] == \
        [after.GetElement(r, c) for r in range(4) for c in range(4)]
    with pytest.raises(VBQInputError, match="harden"):
        mrml.measure_nodes(vol, seg, harden_transforms=False)


def test_nonlinear_volume_transform_refused(real_scene):
    scene, vol, seg = real_scene["scene"], real_scene["vol"], real_scene["seg"]
    tps = vtk.vtkThinPlateSplineTransform()
    src, dst = vtk.vtkPoints(), vtk.vtkPoints()
    for p in [(0, 0, 0), (10, 0, 0), (0, 10, 0), (0, 0, 10), (5, 5, 5)]:
        src.InsertNextPoint(p)
        dst.InsertNextPoint(p[0] + (1 if p == (5, 5, 5) else 0), p[1], p[2])
    tps.SetSourceLandmarks(src)
    tps.SetTargetLandmarks(dst)
    tps.SetBasisToR()
    tr = slicer.vtkMRMLTransformNode()
    scene.AddNode(tr)
    tr.SetAndObserveTransformToParent(tps)
    vol.SetAndObserveTransformNodeID(tr.GetID())
    with pytest.raises(VBQInputError, match="non-linear"):
        mrml.measure_nodes(vol, seg)


# ------------------------------------------------------------------------------------------ segments
def test_renamed_segment_found_by_tag_and_empty_segment_flagged(real_scene):
    seg = real_scene["seg"]
    ids = {seg.GetSegmentation().GetSegment(s).GetName(): s for s in mrml.segment_ids(seg)}
    c4 = seg.GetSegmentation().GetSegment(ids["C4"])
    c4.SetName("my favourite vertebra")
    c4.SetTag(mrml.LEVEL_TAG, "C4")
    # an empty C8-less extra segment named CSF-free 'C7' replaced by an empty one
    seg.GetSegmentation().RemoveSegment(ids["C7"])
    seg.GetSegmentation().AddEmptySegment("C7", "C7")
    assert mrml.segment_level(seg, ids["C4"]) == "C4"
    res = mrml.measure_nodes(real_scene["vol"], seg)
    assert res.level("C4") is not None and res.level("C4").n_voxels == 700
    assert res.level("C7").n_voxels == 0
    assert ("EMPTY_ROI", "C7") in {(f.code, f.level) for f in res.flags}
    # overall uses C2-C6 only: equal to score_arrays on the same masks computed without MRML
    arr = sitk.GetArrayViewFromImage(real_scene["img"]).astype(float)
    lab = real_scene["lab"]
    expected = np.mean([arr[lab == v].mean() for v in range(1, 6)]) / arr[lab == 7].mean()
    assert res.overall["vbq"] == pytest.approx(expected, rel=1e-12)


def test_errors_are_one_line_input_errors(real_scene):
    scene = real_scene["scene"]
    empty = slicer.vtkMRMLSegmentationNode()
    empty.SetName("Empty")
    scene.AddNode(empty)
    with pytest.raises(VBQInputError, match="'Empty' has no segments"):
        mrml.measure_nodes(real_scene["vol"], empty)
    with pytest.raises(VBQInputError, match="no input volume"):
        mrml.measure_nodes(None, real_scene["seg"])
    lm = slicer.vtkMRMLLabelMapVolumeNode()
    lm.SetName("lm")
    scene.AddNode(lm)
    with pytest.raises(VBQInputError, match="scalar"):
        mrml.measure_nodes(lm, real_scene["seg"])
    with pytest.raises(TypeError, match="unknown VBQ options"):
        mrml.measure_nodes(real_scene["vol"], real_scene["seg"], erosion=1)
    with pytest.raises(VBQInputError, match="erosion margin"):
        mrml.measure_nodes(real_scene["vol"], real_scene["seg"], erode_mm=-1)


# ------------------------------------------------------------------------------------------ tables, ids
def test_result_table_node(real_scene):
    res = mrml.measure_nodes(real_scene["vol"], real_scene["seg"])
    table = slicer.vtkMRMLTableNode()
    real_scene["scene"].AddNode(table)
    mrml.result_to_table_node(res, table)
    assert table.GetNumberOfColumns() == len(mrml.RESULT_COLUMNS)
    assert mrml.table_column(table, "level") == ["C2", "C3", "C4", "C5", "C6", "C7", "CSF", "Overall"]
    vbq = mrml.table_column(table, "vbq")
    assert vbq[:6] == [lv.vbq for lv in res.levels]
    assert np.isnan(vbq[6]) and vbq[7] == res.overall["vbq"]
    assert mrml.table_column(table, "mean")[6] == res.csf.mean
    assert table.GetColumnTitle("volume_mm3") == "Volume"
    assert table.GetColumnUnitLabel("volume_mm3") == "mm3"
    assert "CSF SI" in table.GetColumnDescription("vbq")
    assert float(table.GetAttribute("VBQ.overall")) == res.overall["vbq"]
    # re-filling replaces, never appends
    mrml.result_to_table_node(res, table)
    assert table.GetNumberOfRows() == 8


def test_patient_id_and_cohort_rows(real_scene):
    scene, vol = real_scene["scene"], real_scene["vol"]
    assert mrml.patient_id(vol) is None
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    patient = sh.CreateSubjectItem(sh.GetSceneItemID(), "Doe^John")
    sh.SetItemAttribute(patient, "DICOM.PatientID", "P-0042")
    study = sh.CreateStudyItem(patient, "study")
    item = sh.GetItemByDataNode(vol)
    if item:  # the Slicer application registers data nodes in the hierarchy; plain slicer-core does not
        sh.SetItemParent(item, study)
    else:
        sh.CreateItem(study, vol)
    assert mrml.patient_id(vol) == "P-0042"

    res = mrml.measure_nodes(vol, real_scene["seg"])
    row = mrml.cohort_row(res, mrml.patient_id(vol))
    assert row["case_id"] == "P-0042" and row["VBQ_C3"] == res.level("C3").vbq
    assert row["VBQ_overall"] == res.overall["vbq"] and row["CSF_SI"] == res.csf.mean
    assert row["n_levels"] == 6 and row["status"] == "ok"
    with pytest.raises(VBQInputError, match="no patient id"):
        mrml.cohort_row(res, None)
    assert mrml.cohort_row(res, None, "case-7")["case_id"] == "case-7"
    table = slicer.vtkMRMLTableNode()
    scene.AddNode(table)
    assert mrml.append_cohort_row(table, row) == 0
    assert mrml.append_cohort_row(table, dict(row, case_id="P-0043", VBQ_C3=1.5)) == 1
    assert mrml.append_cohort_row(table, dict(row, VBQ_C3=2.5)) == 0  # same id: replaced
    assert table.GetNumberOfRows() == 2
    assert mrml.table_column(table, "case_id") == ["P-0042", "P-0043"]
    assert mrml.table_column(table, "VBQ_C3") == [2.5, 1.5]


def test_importing_the_core_never_imports_slicer():
    code = ("import sys, VBQScoreLib, VBQScoreLib.api, VBQScoreLib.quick_roi, VBQScoreLib.batch; "
            "print('slicer' in sys.modules, 'vtk' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_score_arrays_same_as_segments_from_node(real_scene):
    """segments_from_node hands score_arrays the labelmap's masks: exported onto the volume grid
    (method="export"), or as stored, cropped to their box, which map back onto the volume grid exactly."""
    from VBQScoreLib.resample import map_segment

    lab = real_scene["lab"]
    value = {v: k for k, v in BOX_LABELS.items()}
    for s in mrml.segments_from_node(real_scene["seg"], real_scene["vol"], method="export"):
        assert np.array_equal(sitk.GetArrayViewFromImage(s.mask).astype(bool), lab == value[s.name])
    direct = mrml.segments_from_node(real_scene["seg"], real_scene["vol"])
    assert direct[0].array is not None  # the direct path: the stored voxels, no full-size export
    for s in direct:
        assert s.array.shape != lab.shape  # cropped to the segment's box
        roi = map_segment(s, real_scene["img"])
        full = np.zeros(lab.shape, bool)
        x, y, z = roi.start
        full[z:z + roi.mask.shape[0], y:y + roi.mask.shape[1], x:x + roi.mask.shape[2]] = roi.mask
        assert np.array_equal(full, lab == value[s.name]) and roi.n_outside == 0
    manual = [Segment(name=BOX_LABELS[v], mask=sitk.GetImageFromArray((lab == v).astype(np.uint8))) for v in BOX_LABELS]
    for m in manual:
        m.mask.CopyInformation(real_scene["img"])
    a = score_arrays(real_scene["img"], manual, ScoreOptions())
    b = mrml.measure_nodes(real_scene["vol"], real_scene["seg"])
    assert _comparable(a) == _comparable(b)
    assert _comparable(mrml.measure_nodes(real_scene["vol"], real_scene["seg"], method="export")) == _comparable(a)


def test_missing_requirements(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("# comment\nnumpy>=1.0\nnumpy>=999\nno-such-package-vbq-xyz\n"
                   "-c constraints.txt\nscipy; python_version < '3'\n", encoding="utf-8")
    assert mrml.missing_requirements(req) == ["numpy>=999", "no-such-package-vbq-xyz"]
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    for path in ("VBQScore/Resources/VBQScoreRequirements.txt", "VBQCohort/Resources/requirements.txt"):
        assert mrml.missing_requirements(repo / path) == []  # the shipped files parse; this venv satisfies them


def test_segmentation_with_flipped_and_permuted_axes(real_scene, tmp_path):
    """The same voxels stored on a grid with reversed i and swapped j/k axes map back exactly."""
    img, lab = real_scene["img"], real_scene["lab"]
    # new grid: index (x', y', z') = (nx-1-x, z, y); numpy order (z', y', x') = (y, z, nx-1-x)
    flipped = np.ascontiguousarray(np.transpose(lab[:, :, ::-1], (1, 0, 2)))
    fi = sitk.GetImageFromArray(flipped)
    d = np.array(img.GetDirection()).reshape(3, 3)
    sp = np.array(img.GetSpacing())
    nx = img.GetSize()[0]
    new_dir = np.stack([-d[:, 0], d[:, 2], d[:, 1]], axis=1)
    fi.SetDirection(tuple(new_dir.flatten()))
    fi.SetSpacing((sp[0], sp[2], sp[1]))
    fi.SetOrigin(img.TransformIndexToPhysicalPoint((nx - 1, 0, 0)))
    # independent check of the construction: voxel (x', y', z') of the new grid is MRI voxel (nx-1-x', z', y')
    assert np.allclose(fi.TransformIndexToPhysicalPoint((3, 5, 7)), img.TransformIndexToPhysicalPoint((nx - 4, 7, 5)))
    path = tmp_path / "flipped.nii.gz"
    sitk.WriteImage(fi, str(path))
    seg = segmentation_from_labelmap(real_scene["scene"], path, BOX_LABELS)
    by_nodes = mrml.measure_nodes(real_scene["vol"], seg)
    same_grid = score_files(real_scene["t1"], real_scene["lab_path"], labels=BOX_LABELS)
    assert _comparable(by_nodes) == _comparable(same_grid)


# ------------------------------------------------------------------------------------------ phantom scenes
@pytest.fixture(scope="module")
def phantom_files(tmp_path_factory):
    from VBQScoreLib.phantom import make_phantom, write_phantom

    ph = make_phantom(shape=(9, 128, 128), spacing=(3.0, 1.6, 1.6), seed=3)  # sagittal DICOM orientation
    paths = write_phantom(ph, tmp_path_factory.mktemp("phantom") / "case1")
    return ph, paths


def test_phantom_scene_from_files_equals_score_files_and_truth(phantom_files):
    """NIfTI read by vtkMRMLVolumeArchetypeStorageNode + slicerio-written cropped .seg.nrrd read by
    vtkMRMLSegmentationStorageNode: measure_nodes = score_files, and both reproduce the phantom's truth."""
    ph, paths = phantom_files
    scene = slicer.vtkMRMLScene()
    vol = load_volume_node(scene, paths["image"])
    seg = slicer.vtkMRMLSegmentationNode()
    scene.AddNode(seg)
    reader = slicer.vtkMRMLSegmentationStorageNode()
    scene.AddNode(reader)
    reader.SetFileName(str(paths["seg_nrrd"]))
    assert reader.ReadData(seg)
    by_nodes = mrml.measure_nodes(vol, seg)
    by_files = score_files(paths["image"], paths["seg_nrrd"])
    assert _comparable(by_nodes) == _comparable(by_files)
    for level, vbq in ph.truth["vbq"].items():
        assert by_nodes.level(level).vbq == pytest.approx(vbq, rel=1e-12)
    assert by_nodes.overall["vbq"] == pytest.approx(ph.truth["overall_vbq"]["lu2024"], rel=1e-12)
    assert by_nodes.csf.segment == "CSF cisterna magna"


def test_phantom_scene_from_arrays(phantom_files):
    """The phantom put into nodes from memory (SimpleITK -> volume node, labelmap -> segments)."""
    ph, _ = phantom_files
    scene = slicer.vtkMRMLScene()
    vol = mrml.sitk_to_volume_node(ph.image, scene, "phantom")
    lab = sitk.GetArrayFromImage(ph.labelmap)
    seg = slicer.vtkMRMLSegmentationNode()
    scene.AddNode(seg)
    for value, name in ph.labels.items():
        seg.AddSegmentFromBinaryLabelmapRepresentation(_oriented_image((lab == value).astype(np.uint8), vol), name)
    res = mrml.measure_nodes(vol, seg, preset="soliman2023", stat="median")
    assert res.overall["levels_used"] == ["C3", "C4", "C5", "C6"]
    for level in ("C3", "C4", "C5", "C6"):
        assert res.level(level).vbq == pytest.approx(ph.truth["vbq_median"][level], rel=1e-12)


def test_ensure_requirements_uses_pip_ensure_when_available(tmp_path, monkeypatch):
    """No real installation: a stand-in slicer.packaging records what would be installed."""
    import types

    req = tmp_path / "requirements.txt"
    req.write_text("numpy>=1.0\nno-such-package-vbq-xyz>=1\n", encoding="utf-8")
    calls = []
    fake = types.ModuleType("slicer.packaging")
    fake.pip_ensure = lambda reqs, prompt_install, requester: calls.append(([str(r) for r in reqs], requester))
    monkeypatch.setitem(sys.modules, "slicer.packaging", fake)
    assert mrml.ensure_requirements(req, "VBQ Cohort") is False  # still missing after the (fake) install
    assert calls == [(["no-such-package-vbq-xyz>=1"], "VBQ Cohort")]

    def declined(reqs, prompt_install, requester):
        raise RuntimeError("declined")

    fake.pip_ensure = declined
    assert mrml.ensure_requirements(req, "VBQ Cohort") is False
    ok = tmp_path / "ok.txt"
    ok.write_text("numpy>=1.0\n", encoding="utf-8")
    assert mrml.ensure_requirements(ok, "VBQ Cohort") is True  # nothing missing: nothing called


def test_ensure_requirements_fallback_asks_then_pip_install(tmp_path, monkeypatch):
    req = tmp_path / "requirements.txt"
    req.write_text("no-such-package-vbq-xyz>=1\n", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "slicer.packaging", None)  # older Slicer: no pip_ensure
    monkeypatch.setitem(sys.modules, "slicer.pydeps", None)
    installed, asked = [], []
    monkeypatch.setattr(slicer.util, "pip_install", lambda reqs: installed.append(list(reqs)))
    monkeypatch.setattr(slicer.util, "confirmOkCancelDisplay", lambda text, **kw: asked.append(text) or False)
    assert mrml.ensure_requirements(req, "VBQ Cohort") is False
    assert installed == [] and "no-such-package-vbq-xyz>=1" in asked[0]  # declined: nothing installed
    monkeypatch.setattr(slicer.util, "confirmOkCancelDisplay", lambda text, **kw: True)
    assert mrml.ensure_requirements(req, "VBQ Cohort") is False  # the stand-in installs nothing
    assert installed == [["no-such-package-vbq-xyz>=1"]]


def test_translated_volume_only(real_scene, tmp_path):
    """Volume moved +2 mm R, segmentation not: the segments now cover voxels 2 to the left (i - 2)."""
    scene, vol, seg = real_scene["scene"], real_scene["vol"], real_scene["seg"]
    tr = _linear_transform(scene, [[1, 0, 0, 2], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    vol.SetAndObserveTransformNodeID(tr.GetID())
    by_nodes = mrml.measure_nodes(vol, seg)
    shifted = np.zeros_like(real_scene["lab"])
    shifted[:, :, :-2] = real_scene["lab"][:, :, 2:]
    ref = score_files(real_scene["t1"], write_labelmap(tmp_path, real_scene["img"], shifted, "sh2.nii.gz"),
                      labels=BOX_LABELS)
    a, b = _comparable(by_nodes), _comparable(ref)
    assert a == b
