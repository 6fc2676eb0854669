"""The phantom generator: geometry, ground truth, noise/bias, determinism, file round trips, DICOM, end to end."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from VBQScoreLib.errors import VBQInputError
from VBQScoreLib.levels import parse_segment_name
from VBQScoreLib.phantom import (
    DEFAULT_CSF_SI,
    DEFAULT_LEVEL_SI,
    TISSUE_SI,
    make_phantom,
    write_dicom_series,
    write_phantom,
)

LEVELS = ("C2", "C3", "C4", "C5", "C6", "C7")
CROSS = ndimage.generate_binary_structure(3, 1)


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(seed=7)


@pytest.fixture(scope="module")
def clean():
    """Noise-free, float64: every ROI voxel carries exactly the designed SI."""
    return make_phantom(noise_sd=0, dtype="float64")


def arrays(ph):
    return sitk.GetArrayFromImage(ph.image), sitk.GetArrayFromImage(ph.labelmap)


# ------------------------------------------------------------------------------------------------ geometry
def test_default_geometry_is_sagittal_lps(phantom):
    img = phantom.image
    assert img.GetDimension() == 3
    assert img.GetSize() == (256, 256, 15)
    assert img.GetSpacing() == pytest.approx((0.8, 0.8, 3.0))
    d = np.array(img.GetDirection()).reshape(3, 3)
    # index axes: columns -> posterior (+y), rows -> inferior (-z), slices -> right (-x): one axis is L-R
    np.testing.assert_array_equal(d, [[0, 0, -1], [1, 0, 0], [0, -1, 0]])
    assert np.linalg.det(d) == pytest.approx(1.0)
    # default origin puts the centre of the field of view at LPS (0, 0, 0)
    centre = img.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in img.GetSize()])
    assert centre == pytest.approx((0, 0, 0), abs=1e-9)
    assert img.GetPixelID() == sitk.sitkInt16
    lm = phantom.labelmap
    assert lm.GetPixelID() == sitk.sitkUInt8
    assert lm.GetSize() == img.GetSize() and lm.GetOrigin() == img.GetOrigin()
    assert lm.GetSpacing() == img.GetSpacing() and lm.GetDirection() == img.GetDirection()


def test_requested_geometry_is_used():
    direction = (0, 0, 1, -1, 0, 0, 0, -1, 0)  # columns anterior, slices left; still right-handed
    ph = make_phantom(shape=(11, 240, 220), spacing=(3.5, 0.9, 0.85), origin=(10.0, -20.0, 30.0),
                      direction=direction, noise_sd=0)
    img = ph.image
    assert img.GetSize() == (220, 240, 11)
    assert img.GetSpacing() == pytest.approx((0.85, 0.9, 3.5))
    assert img.GetOrigin() == pytest.approx((10.0, -20.0, 30.0))
    assert img.GetDirection() == pytest.approx(direction)
    assert sorted(ph.labels.values()) == sorted(list(LEVELS) + ["CSF cisterna magna"])
    assert ph.truth["roi_stats"]["C7"]["volume_mm3"] == pytest.approx(
        ph.truth["roi_stats"]["C7"]["n_voxels"] * 3.5 * 0.9 * 0.85)


# ------------------------------------------------------------------------------------------------ labels, ROIs
def test_labels_present_and_named(phantom):
    assert phantom.labels == {1: "C2", 2: "C3", 3: "C4", 4: "C5", 5: "C6", 6: "C7", 7: "CSF cisterna magna"}
    p = parse_segment_name(phantom.labels[7])
    assert (p.kind, p.level, p.location) == ("csf", "CSF", "cisterna magna")
    _, lab = arrays(phantom)
    counts = np.bincount(lab.ravel(), minlength=8)
    assert set(np.unique(lab)) == set(range(8))
    assert all(counts[v] >= 100 for v in range(1, 8)), counts


def test_rois_are_medullary_and_do_not_touch_cortex(clean):
    img_full, lab_full = arrays(clean)
    assert not (lab_full[0].any() or lab_full[-1].any() or lab_full[:, 0].any() or lab_full[:, -1].any()
                or lab_full[:, :, 0].any() or lab_full[:, :, -1].any())  # ROIs do not touch the image border
    boxes = ndimage.find_objects(lab_full)
    for value, name in clean.labels.items():
        box = tuple(slice(max(s.start - 4, 0), s.stop + 4) for s in boxes[value - 1])  # ROI box + 4 voxels
        img, lab = img_full[box], lab_full[box]
        roi = lab == value
        key = "CSF" if value == 7 else name
        designed = clean.truth["designed_si"][key]
        assert np.all(img[roi] == designed)
        # every face neighbour of an ROI voxel has the same designed SI: no rim (cortex) voxel touches the ROI
        ring = ndimage.binary_dilation(roi, CROSS) & ~roi
        assert ring.any() and np.all(img[ring] == designed), name
        if key != "CSF":
            # ... and it sits inside a vertebral body: cortex (the darker rim) within 3 voxels in-plane
            near = ndimage.binary_dilation(roi, np.ones((1, 7, 7), bool)) & ~roi
            assert np.any(img[near] == TISSUE_SI["cortex"]), name


def test_roi_anatomy_order(phantom):
    """C2 is highest, C7 lowest (LPS z decreasing); the cisterna magna is above C2 and posterior to it."""
    lab = phantom.labelmap
    ls = sitk.LabelShapeStatisticsImageFilter()
    ls.Execute(lab)
    cz = [ls.GetCentroid(v)[2] for v in range(1, 7)]
    assert all(a > b for a, b in zip(cz, cz[1:])), cz
    csf = ls.GetCentroid(7)
    c2 = ls.GetCentroid(1)
    assert csf[2] > c2[2] + 10 and csf[1] > c2[1] + 10  # superior and posterior (LPS +y) of C2
    assert all(abs(ls.GetCentroid(v)[0]) < 6 for v in range(1, 8))  # near the mid-sagittal plane


# ------------------------------------------------------------------------------------------------ truth
def test_truth_equals_independent_recomputation(phantom):
    img, lab = arrays(phantom)
    tr = phantom.truth
    vox = 0.8 * 0.8 * 3.0
    means = {}
    for value, name in phantom.labels.items():
        key = parse_segment_name(name).level
        vals = [float(v) for v in img[lab == value]]
        st = tr["roi_stats"][key]
        assert st["segment"] == name and st["n_voxels"] == len(vals)
        assert st["volume_mm3"] == pytest.approx(len(vals) * vox, rel=1e-12)
        mean = math.fsum(vals) / len(vals)
        means[key] = mean
        assert st["mean"] == pytest.approx(mean, rel=1e-12)
        assert st["median"] == statistics.median(vals)
        assert st["sd"] == pytest.approx(statistics.stdev(vals), rel=1e-9)
        q = statistics.quantiles(vals, n=20, method="inclusive")  # R type 7 = numpy "linear"
        assert st["p5"] == pytest.approx(q[0], rel=1e-12) and st["p95"] == pytest.approx(q[-1], rel=1e-12)
        assert (st["min"], st["max"]) == (min(vals), max(vals))
    for lv in LEVELS:
        assert tr["vbq"][lv] == pytest.approx(means[lv] / means["CSF"], rel=1e-12)
    assert tr["overall_vbq"]["lu2024"] == pytest.approx(
        statistics.mean(means[lv] for lv in LEVELS) / means["CSF"], rel=1e-12)
    assert tr["overall_vbq"]["soliman2023"] == pytest.approx(
        statistics.median(means[lv] for lv in ("C3", "C4", "C5", "C6")) / means["CSF"], rel=1e-12)
    assert tr["overall_vbq"]["ehresman2020"] is None  # lumbar levels are not in a cervical phantom


def test_designed_values_and_noisy_means_close(phantom):
    tr = phantom.truth
    assert tr["designed_si"] == {**{lv: DEFAULT_LEVEL_SI[lv] for lv in LEVELS}, "CSF": DEFAULT_CSF_SI}
    assert tr["designed_vbq"] == pytest.approx({"C2": 3.2, "C3": 2.9, "C4": 2.8, "C5": 2.7, "C6": 2.55, "C7": 2.4})
    assert tr["designed_overall_vbq"]["lu2024"] == pytest.approx((3.2 + 2.9 + 2.8 + 2.7 + 2.55 + 2.4) / 6)
    assert tr["designed_overall_vbq"]["soliman2023"] == pytest.approx((2.8 + 2.7) / 2)  # median of C3-C6
    assert 2.2 <= min(tr["designed_vbq"].values()) and max(tr["designed_vbq"].values()) <= 3.3
    for key, st in tr["roi_stats"].items():
        designed = tr["designed_si"][key]
        # Rician bias is < noise_sd^2 / (2 SI) <= 0.25 here; allow 4 standard errors besides
        assert abs(st["mean"] - designed) < 4 * 10.0 / math.sqrt(st["n_voxels"]) + 0.5, key
        assert 8.5 < st["sd"] < 11.5, key  # the noise SD (10) plus int16 rounding
        assert abs(tr["vbq"][key] - tr["designed_vbq"][key]) < 0.02 if key != "CSF" else True


def test_noise_free_gives_exactly_the_designed_means(clean):
    tr = clean.truth
    for key, st in tr["roi_stats"].items():
        assert st["mean"] == tr["designed_si"][key] and st["sd"] == 0.0
    assert tr["vbq"] == tr["designed_vbq"]
    assert tr["overall_vbq"] == tr["designed_overall_vbq"]


def test_custom_level_si_per_patient():
    si = {"C2": 701.0, "C3": 655.5, "C5": 430.25, "C7": 399.0}
    ph = make_phantom(level_si=si, csf_si=187.5, noise_sd=0, dtype="float64")
    tr = ph.truth
    for lv in LEVELS:
        expected = si.get(lv, DEFAULT_LEVEL_SI[lv])
        assert tr["roi_stats"][lv]["mean"] == expected
        assert tr["vbq"][lv] == expected / 187.5
    # int16 with integer SIs is exact too
    ph16 = make_phantom(level_si={"C4": 611}, csf_si=190, noise_sd=0)
    assert ph16.truth["roi_stats"]["C4"]["mean"] == 611.0 and ph16.truth["roi_stats"]["CSF"]["mean"] == 190.0


def test_subset_of_levels():
    ph = make_phantom(levels=("C3", "C4", "C5", "C6"), noise_sd=0)
    assert list(ph.labels.values()) == ["C3", "C4", "C5", "C6", "CSF cisterna magna"]
    assert ph.truth["overall_vbq"]["lu2024"] == pytest.approx((580 + 560 + 540 + 510) / 4 / 200)


# ------------------------------------------------------------------------------------------------ bias, noise
def test_bias_field_off_and_on(clean):
    assert clean.bias is None and clean.truth["bias_field"] is None
    ph = make_phantom(noise_sd=0, dtype="float64", bias_field=True)
    img, lab = arrays(ph)
    assert ph.bias.shape == img.shape and ph.truth["bias_field"]["strength"] == 0.3
    assert ph.bias.min() < 0.8 and ph.bias.max() > 1.2
    # smooth: neighbouring columns differ by well under 1 %
    assert np.max(np.abs(np.diff(np.log(ph.bias), axis=2))) < 0.01
    # the image is exactly the designed image times the field
    np.testing.assert_allclose(img / ph.bias, sitk.GetArrayFromImage(clean.image), rtol=1e-12)
    for value, name in ph.labels.items():
        key = parse_segment_name(name).level
        roi = lab == value
        assert ph.truth["roi_stats"][key]["mean"] == pytest.approx(clean.truth["designed_si"][key] *
                                                                   ph.bias[roi].mean(), rel=1e-12)
    assert ph.truth["roi_stats"]["C2"]["sd"] > 1.0  # the field makes noise-free ROIs non-uniform


def test_same_seed_same_image_other_seed_other_image():
    a = make_phantom(seed=3)
    b = make_phantom(seed=3)
    c = make_phantom(seed=4)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(a.image), sitk.GetArrayFromImage(b.image))
    assert a.truth == b.truth
    assert not np.array_equal(sitk.GetArrayFromImage(a.image), sitk.GetArrayFromImage(c.image))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(a.labelmap), sitk.GetArrayFromImage(c.labelmap))


def test_gaussian_and_rician_noise():
    g, lab = arrays(make_phantom(noise="gaussian", noise_sd=20, seed=1))
    r, _ = arrays(make_phantom(noise="rician", noise_sd=20, seed=1))
    air = (slice(None), slice(None), slice(0, 10))  # anterior edge of the FOV is air (designed SI 0)
    assert g[air].min() < 0 and abs(g[air].mean()) < 1.0  # Gaussian noise around 0
    assert r[air].min() >= 0 and r[air].mean() == pytest.approx(20 * math.sqrt(math.pi / 2), rel=0.05)  # Rayleigh


def test_bad_parameters_raise_one_line_errors():
    for kwargs, words in [
        ({"levels": ("C1",)}, "C1"),
        ({"levels": ("C3", "L1")}, "L1"),
        ({"csf_si": -1}, "CSF SI"),
        ({"level_si": {"C3": "bright"}}, "C3"),
        ({"level_si": {"L4": 500}}, "L4"),
        ({"noise": "poisson"}, "poisson"),
        ({"noise_sd": -2}, "noise_sd"),
        ({"shape": (3, 40, 40)}, "outside"),
        ({"levels": ("C7", "T2")}, "T2 is cut by the edge of the field of view"),
        ({"shape": (15, 180, 256)}, "cut by the edge"),
        ({"shape": (15, 256)}, "shape"),
        ({"dtype": "uint8"}, "dtype"),
        ({"bias_field": "strong"}, "bias_field"),
    ]:
        with pytest.raises(VBQInputError) as ei:
            make_phantom(**kwargs)
        msg = str(ei.value)
        assert "\n" not in msg and words in msg, (kwargs, msg)


# ------------------------------------------------------------------------------------------------ files
@pytest.fixture(scope="module")
def written(phantom, tmp_path_factory):
    out = tmp_path_factory.mktemp("phantom_out")
    return out, write_phantom(phantom, out)


def test_write_phantom_round_trip_nifti_and_labels(phantom, written):
    out, paths = written
    assert {k: p.name for k, p in paths.items()} == {
        "image": "phantom.nii.gz", "labelmap": "phantom_labels.nii.gz", "labels": "phantom_labels.txt",
        "seg_nrrd": "phantom.seg.nrrd", "truth": "phantom_truth.json"}
    img, lab = arrays(phantom)
    back = sitk.ReadImage(str(paths["image"]))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), img)
    assert back.GetSpacing() == pytest.approx(phantom.image.GetSpacing(), abs=1e-6)
    assert back.GetOrigin() == pytest.approx(phantom.image.GetOrigin(), abs=1e-4)
    assert back.GetDirection() == pytest.approx(phantom.image.GetDirection(), abs=1e-6)
    lback = sitk.ReadImage(str(paths["labelmap"]))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(lback), lab)
    lines = paths["labels"].read_text(encoding="utf-8").splitlines()
    assert lines == ["1=C2", "2=C3", "3=C4", "4=C5", "5=C6", "6=C7", "7=CSF cisterna magna"]
    import json

    written = json.loads(paths["truth"].read_text(encoding="utf-8"))
    assert written["vbq"] == pytest.approx(phantom.truth["vbq"], rel=1e-15)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]  # no temp folder left


def test_seg_nrrd_round_trip_with_slicerio(phantom, written):
    import slicerio

    _, paths = written
    _, lab = arrays(phantom)
    seg = slicerio.read_segmentation(str(paths["seg_nrrd"]))
    assert slicerio.segment_names(seg) == ["C2", "C3", "C4", "C5", "C6", "C7", "CSF cisterna magna"]
    vox = seg["voxels"]  # cropped, (i, j, k)
    assert vox.ndim == 3 and vox.size < lab.size  # cropped extent, one layer
    off = seg["referenceImageExtentOffset"]
    assert off != [0, 0, 0]
    # the cropped block's first voxel sits where the reference image's voxel `off` is
    ijk_to_lps = np.asarray(seg["ijkToLPS"])
    np.testing.assert_allclose(ijk_to_lps[:3, 3], phantom.image.TransformIndexToPhysicalPoint(off), atol=1e-6)
    d = np.array(phantom.image.GetDirection()).reshape(3, 3) * np.array(phantom.image.GetSpacing())
    np.testing.assert_allclose(ijk_to_lps[:3, :3], d, atol=1e-9)
    full = np.zeros(lab.shape[::-1], dtype=np.uint8)
    full[off[0]:off[0] + vox.shape[0], off[1]:off[1] + vox.shape[1], off[2]:off[2] + vox.shape[2]] = vox
    np.testing.assert_array_equal(full.transpose(2, 1, 0), lab)
    for s in seg["segments"]:
        assert s["layer"] == 0 and len(s["color"]) == 3
        m = slicerio.segment_mask(seg, s["name"])
        idx = np.nonzero(m)
        assert s["extent"] == [int(v) for a in idx for v in (a.min(), a.max())]


def test_seg_nrrd_reads_in_slicer_core(phantom, written):
    """Slicer's own reader places every segment on the reference image's index grid."""
    slicer = pytest.importorskip("slicer")
    import vtk
    from vtk.util import numpy_support

    _, paths = written
    _, lab = arrays(phantom)
    scene = slicer.vtkMRMLScene()
    node = slicer.vtkMRMLSegmentationNode()
    scene.AddNode(node)
    storage = slicer.vtkMRMLSegmentationStorageNode()
    scene.AddNode(storage)
    storage.SetFileName(str(paths["seg_nrrd"]))
    assert storage.ReadData(node) == 1
    segmentation = node.GetSegmentation()
    names = [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]
    assert names == list(phantom.labels.values())
    for i, value in enumerate(sorted(phantom.labels)):
        segment = segmentation.GetNthSegment(i)
        oi = segment.GetRepresentation("Binary labelmap")
        e = oi.GetExtent()
        dims = (e[5] - e[4] + 1, e[3] - e[2] + 1, e[1] - e[0] + 1)
        arr = numpy_support.vtk_to_numpy(oi.GetPointData().GetScalars()).reshape(dims)
        # physical placement: Slicer's (RAS) voxel -> world matrix agrees with the image geometry (LPS)
        m = vtk.vtkMatrix4x4()
        oi.GetImageToWorldMatrix(m)
        for ijk in ((e[0], e[2], e[4]), (e[1], e[3], e[5])):
            ras = m.MultiplyPoint((*ijk, 1.0))[:3]
            lps = phantom.image.TransformIndexToPhysicalPoint(tuple(int(v) for v in ijk))
            np.testing.assert_allclose((-ras[0], -ras[1], ras[2]), lps, atol=1e-4)
        mine = np.zeros(lab.shape, bool)
        mine[e[4]:e[5] + 1, e[2]:e[3] + 1, e[0]:e[1] + 1] = arr == segment.GetLabelValue()
        np.testing.assert_array_equal(mine, lab == value)


def test_write_phantom_keeps_other_files_and_rejects_bad_format(phantom, tmp_path):
    out = tmp_path / "case"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    paths = write_phantom(phantom, out, basename="p01", formats=("nifti", "labels"))
    assert set(paths) == {"image", "labelmap", "labels", "truth"}
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "p01.nii.gz", "p01_labels.nii.gz",
                                                      "p01_labels.txt", "p01_truth.json"]
    with pytest.raises(VBQInputError, match="dicom"):
        write_phantom(phantom, tmp_path / "other", formats=("nifti", "dicom"))
    assert not (tmp_path / "other").exists()


# ------------------------------------------------------------------------------------------------ DICOM
def read_series(folder):
    reader = sitk.ImageSeriesReader()
    files = reader.GetGDCMSeriesFileNames(str(folder))
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()
    reader.LoadPrivateTagsOn()
    return reader, reader.Execute(), files


def test_dicom_series_round_trip(phantom, tmp_path):
    tags = {"MagneticFieldStrength": "3", "RepetitionTime": "650", "EchoTime": "9.5", "PixelBandwidth": "180",
            "ScanOptions": "FS", "ContrastBolusAgent": "Gadobutrol", "Manufacturer": "SIEMENS",
            "SeriesDescription": "T1 TSE SAG FS"}
    paths = write_dicom_series(phantom.image, tmp_path / "dcm", tags=tags)
    assert len(paths) == 15 and all(p.exists() for p in paths)
    reader, back, files = read_series(tmp_path / "dcm")
    assert len(files) == 15
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(phantom.image))
    assert back.GetSpacing() == pytest.approx(phantom.image.GetSpacing(), abs=1e-4)
    assert back.GetOrigin() == pytest.approx(phantom.image.GetOrigin(), abs=1e-4)
    assert back.GetDirection() == pytest.approx(phantom.image.GetDirection(), abs=1e-6)
    get = lambda tag: reader.GetMetaData(0, tag).strip()  # noqa: E731
    assert get("0018|0087") == "3" and get("0018|0080") == "650" and get("0018|0081") == "9.5"
    assert get("0018|0095") == "180" and get("0018|0022") == "FS" and get("0018|0010") == "Gadobutrol"
    assert get("0008|0070") == "SIEMENS" and get("0008|103e") == "T1 TSE SAG FS" and get("0008|0060") == "MR"
    assert float(get("0018|0050")) == pytest.approx(3.0)
    assert reader.GetMetaData(0, "0020|000e") == reader.GetMetaData(14, "0020|000e")
    assert reader.GetMetaData(0, "0008|0018") != reader.GetMetaData(1, "0008|0018")


def test_dicom_float_image_becomes_int16_and_tags_can_be_dropped(tmp_path):
    ph = make_phantom(noise_sd=0, dtype="float64", shape=(9, 256, 256), level_si={"C3": 580.4})
    write_dicom_series(ph.image, tmp_path / "d", tags={"PixelBandwidth": None, "0018|0024": "tse2d1_3"})
    reader, back, _ = read_series(tmp_path / "d")
    assert back.GetPixelID() == sitk.sitkInt16
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), np.rint(sitk.GetArrayFromImage(ph.image)))
    assert not reader.HasMetaDataKey(0, "0018|0095")
    assert reader.GetMetaData(0, "0018|0024").strip() == "tse2d1_3"
    with pytest.raises(VBQInputError, match="keyword"):
        write_dicom_series(ph.image, tmp_path / "e", tags={"NotATag": "x"})
    assert not (tmp_path / "e").exists()


# ------------------------------------------------------------------------------------------------ end to end
def test_score_files_on_written_phantom_reproduces_truth(phantom, written):
    from VBQScoreLib.api import score_files

    _, paths = written
    tr = phantom.truth
    for seg, labels in ((paths["labelmap"], paths["labels"]), (paths["seg_nrrd"], None)):
        result = score_files(paths["image"], seg, labels)
        assert [lv.name for lv in result.levels] == list(LEVELS)
        for lv in result.levels:
            assert lv.vbq == pytest.approx(tr["vbq"][lv.name], rel=0, abs=1e-9)
            assert lv.n_voxels == tr["roi_stats"][lv.name]["n_voxels"]
            assert lv.mean == pytest.approx(tr["roi_stats"][lv.name]["mean"], abs=1e-9)
        assert result.csf.mean == pytest.approx(tr["roi_stats"]["CSF"]["mean"], abs=1e-9)
        assert result.csf.location == "cisterna magna"
        assert result.overall["vbq"] == pytest.approx(tr["overall_vbq"]["lu2024"], abs=1e-9)
        assert result.flags == []


def test_level_si_from_vbq_drives_a_cohort_of_phantoms():
    from VBQScoreLib.phantom import level_si_from_vbq

    si = level_si_from_vbq(2.6, csf_si=180.0)
    assert list(si) == list(LEVELS)
    assert si["C2"] > si["C4"] > si["C7"]  # the default profile: C2 highest, C7 lowest
    assert sum(si.values()) / 6 / 180.0 == pytest.approx(2.6, rel=1e-12)
    assert si["C2"] / si["C7"] == pytest.approx(640 / 480, rel=1e-12)
    ph = make_phantom(level_si=si, csf_si=180.0, noise_sd=0, dtype="float64")
    assert ph.truth["overall_vbq"]["lu2024"] == pytest.approx(2.6, rel=1e-12)
    assert level_si_from_vbq({"C3": 3.0}, csf_si=200) == {"C3": 600.0}
    with pytest.raises(VBQInputError):
        level_si_from_vbq(-1)
    # many patients share one grid: the anatomy is reused, each phantom gets its own SIs and noise
    a = make_phantom(level_si=level_si_from_vbq(2.3), seed=1)
    b = make_phantom(level_si=level_si_from_vbq(3.1), seed=2)
    assert a.truth["overall_vbq"]["lu2024"] == pytest.approx(2.3, abs=0.02)
    assert b.truth["overall_vbq"]["lu2024"] == pytest.approx(3.1, abs=0.02)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(a.labelmap), sitk.GetArrayFromImage(b.labelmap))


def test_score_files_on_dicom_phantom_reproduces_truth_and_provenance(phantom, written, tmp_path):
    from VBQScoreLib.api import score_files

    _, paths = written
    folder = tmp_path / "new" / "dicom"  # parents are created
    write_dicom_series(phantom.image, folder, tags={"MagneticFieldStrength": "3", "EchoTime": "12"})
    result = score_files(folder, paths["seg_nrrd"])
    for lv in result.levels:
        assert lv.vbq == pytest.approx(phantom.truth["vbq"][lv.name], rel=0, abs=1e-9)
    dicom = result.provenance["dicom"]
    assert dicom["magnetic_field_strength"] == 3.0 and dicom["echo_time"] == 12.0
    assert dicom["manufacturer"] == "SlicerVBQ phantom" and dicom["slice_thickness"] == 3.0
