"""Reading inputs: the real MRI with hand-drawn ROIs in three segmentation forms, label maps, DICOM series."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from helpers import labelmap_image, make_image, write_seg_nrrd_slicer
from VBQScoreLib.api import score_files
from VBQScoreLib.errors import VBQInputError
from VBQScoreLib.image_io import read_image
from VBQScoreLib.options import ScoreOptions
from VBQScoreLib.segments import read_label_map, read_segmentation

# ROIs drawn on ../shared/data/sct_t1w.nii.gz (42 x 76 x 77, 1 mm; x = patient L-R, y increases anteriorly,
# z superiorly), numpy order (z, y, x). Looked at on PNGs of sagittal slice x = 21 and axial slice z = 40:
# cord at y 35-41, thin CSF in front of it at y 42-43, vertebral bodies (dark on this scan) at y 45-62
# between the discs at z ~ 2, 18, 35, 53. Four bodies on the anterior side, CSF anterior to the cord.
REAL_ROIS = {
    "C3": (slice(61, 70), slice(48, 57), slice(19, 24)),
    "C4": (slice(40, 49), slice(48, 57), slice(19, 24)),
    "C5": (slice(23, 32), slice(48, 57), slice(19, 24)),
    "C6": (slice(6, 14), slice(48, 57), slice(19, 24)),
    "CSF": (slice(20, 60), slice(42, 44), slice(20, 23)),
}
LABELS_TEXT = "# label map for the hand-drawn ROIs\n1=C3\n2 = C4 body\n3=vertebrae_C5\n4=C6\n\n5=CSF  # ventral\n"


@pytest.fixture(scope="module")
def real(real_t1_path, tmp_path_factory):
    d = tmp_path_factory.mktemp("real")
    img = sitk.ReadImage(str(real_t1_path))
    shape = sitk.GetArrayViewFromImage(img).shape
    masks = {}
    lab = np.zeros(shape, np.uint8)
    for i, (name, b) in enumerate(REAL_ROIS.items(), 1):
        m = np.zeros(shape, bool)
        m[b] = True
        masks[name] = m
        lab[m] = i
    sitk.WriteImage(labelmap_image(lab, img), str(d / "labels.nii.gz"))
    (d / "labels.txt").write_text(LABELS_TEXT, encoding="utf-8")
    write_seg_nrrd_slicer(d / "rois.seg.nrrd", img, masks)
    canal = np.zeros(shape, bool)
    canal[15:72, 33:45, 18:25] = True  # overlaps CSF and C3's z range: goes to layer 1, label value 1
    write_seg_nrrd_slicer(d / "rois_2layer.seg.nrrd", img, {**masks, "spinal canal": canal})
    return {"dir": d, "image": Path(real_t1_path), "array": sitk.GetArrayFromImage(img).astype(float),
            "masks": masks}


def _stats(v):
    v = np.sort(np.asarray(v, float))
    n = v.size
    mean = v.sum() / n
    med = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    sd = np.sqrt(((v - mean) ** 2).sum() / (n - 1))

    def q(p):  # R type 7 by hand
        h = (n - 1) * p
        lo = int(np.floor(h))
        return v[lo] + (h - lo) * (v[min(lo + 1, n - 1)] - v[lo])

    return dict(n_voxels=n, mean=mean, median=med, sd=sd, p5=q(0.05), p95=q(0.95), min=v[0], max=v[-1])


@pytest.mark.slow
def test_real_mri_three_forms_agree_and_match_hand_statistics(real):
    import nrrd

    d = real["dir"]
    h1 = nrrd.read_header(str(d / "rois.seg.nrrd"))
    h2 = nrrd.read_header(str(d / "rois_2layer.seg.nrrd"))
    assert h1["dimension"] == 3 and h1["Segmentation_ReferenceImageExtentOffset"] != "0 0 0"  # cropped file
    assert h2["dimension"] == 4 and h2["sizes"][0] == 2  # two layers
    layer1 = [k for k, v in h2.items() if k.endswith("_Layer") and v == "1"]
    assert len(layer1) == 1 and h2[layer1[0].replace("Layer", "Name")] == "spinal canal"
    assert h2[layer1[0].replace("Layer", "LabelValue")] == "1"  # same label value as a layer-0 segment

    r_lab = score_files(real["image"], d / "labels.nii.gz", labels=d / "labels.txt")
    r_seg = score_files(real["image"], d / "rois.seg.nrrd")
    r_2l = score_files(real["image"], d / "rois_2layer.seg.nrrd")
    for r in (r_seg, r_2l):
        assert [lv.to_dict() | {"segment": None} for lv in r.levels] == \
            [lv.to_dict() | {"segment": None} for lv in r_lab.levels]
        assert r.csf.to_dict() == r_lab.csf.to_dict()
        assert r.overall == r_lab.overall
    assert [f.code for f in r_2l.flags if f.code == "UNKNOWN_SEGMENT"] == ["UNKNOWN_SEGMENT"]  # spinal canal

    a = real["array"]
    csf = _stats(a[real["masks"]["CSF"]])
    for name in ("C3", "C4", "C5", "C6"):
        lv = r_lab.level(name)
        exp = _stats(a[real["masks"][name]])
        for k, v in exp.items():
            assert getattr(lv, k) == pytest.approx(v, rel=1e-12, abs=1e-12), (name, k)
        assert lv.vbq == pytest.approx(exp["mean"] / csf["mean"], rel=1e-12)
    assert r_lab.level("C6").n_voxels == 8 * 9 * 5 and r_lab.csf.n_voxels == 40 * 2 * 3
    for k, v in csf.items():
        assert getattr(r_lab.csf, k) == pytest.approx(v, rel=1e-12), k
    means = [_stats(a[real["masks"][n]])["mean"] for n in ("C3", "C4", "C5", "C6")]
    assert r_lab.overall["vbq"] == pytest.approx(np.mean(means) / csf["mean"], rel=1e-12)
    # On this scan marrow is darker than CSF (not a clinical T1 spin echo): the flags say so.
    assert {f.level for f in r_lab.flags if f.code == "CSF_NOT_DARKER"} == {"C3", "C4", "C5", "C6"}
    # median option and mid-sagittal restriction on the real image, through two forms (the 2-voxel-thin CSF
    # would not survive a 1 mm erosion: erosion is tested on synthetic geometry)
    opt = ScoreOptions(stat="median", mid_sagittal_slices=3)
    a1 = score_files(real["image"], d / "labels.nii.gz", labels=d / "labels.txt", options=opt)
    a2 = score_files(real["image"], d / "rois_2layer.seg.nrrd", options=opt)
    assert [lv.vbq for lv in a1.levels] == [lv.vbq for lv in a2.levels]
    er = np.zeros(a.shape, bool)
    z, y, x = REAL_ROIS["C4"]
    er[z, y, 20:23] = True  # x = 19..23 -> the 3 central sagittal slices 20..22
    assert a1.level("C4").n_voxels == int(er.sum()) and a1.level("C4").median == float(np.median(a[er]))


@pytest.mark.slow
def test_ras_space_seg_nrrd_agrees(real, tmp_path):
    import nrrd

    d = real["dir"]
    data, h = nrrd.read(str(d / "rois.seg.nrrd"))
    h = dict(h)
    h["space"] = "right-anterior-superior"
    h["space directions"] = np.asarray(h["space directions"], float) * np.array([-1.0, -1.0, 1.0])
    h["space origin"] = np.asarray(h["space origin"], float) * np.array([-1.0, -1.0, 1.0])
    nrrd.write(str(tmp_path / "ras.seg.nrrd"), data, h)
    r1 = score_files(real["image"], d / "rois.seg.nrrd")
    r2 = score_files(real["image"], tmp_path / "ras.seg.nrrd")
    assert r1.to_dict()["levels"] == r2.to_dict()["levels"] and r1.csf.mean == r2.csf.mean
    assert r2.provenance["inputs"]["segmentation"]["sha256"] == \
        hashlib.sha256((tmp_path / "ras.seg.nrrd").read_bytes()).hexdigest()


def test_label_map_formats(tmp_path):
    p = tmp_path / "l.txt"
    p.write_text(LABELS_TEXT, encoding="utf-8")
    assert read_label_map(p) == {1: "C3", 2: "C4 body", 3: "vertebrae_C5", 4: "C6", 5: "CSF"}
    ctbl = tmp_path / "colors.ctbl"
    ctbl.write_text("# Color table file\n# 3 values\n0 Background 0 0 0 0\n1 C3 128 174 128 255\n"
                    "2 cisterna_magna 241 214 145 255\n", encoding="utf-8")
    assert read_label_map(ctbl) == {1: "C3", 2: "cisterna_magna"}
    for text, msg in [("1=C3\nC4\n", "line 2"), ("x=C3\n", "'x' is not a whole number"),
                      ("1=C3\n1=C4\n", "given twice"), ("# nothing\n", "names no labels"), ("1=\n", "no name"),
                      ("-2=C3\n", "negative")]:
        p.write_text(text, encoding="utf-8")
        with pytest.raises(VBQInputError, match=msg) as e:
            read_label_map(p)
        assert str(p) in str(e.value) and "\n" not in str(e.value)
    p.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(VBQInputError, match="not text"):
        read_label_map(p)


def test_labelmap_unknown_values_float_labelmaps_and_errors(tmp_path):
    a = np.full((6, 8, 10), 10.0)
    a[1:3, 1:4, 1:4] = 30.0
    img = make_image(a)
    lab = np.zeros(a.shape, np.uint8)
    lab[1:3, 1:4, 1:4] = 1
    lab[4:6, 1:4, 1:4] = 2
    lab[4:6, 5:7, 5:7] = 9  # not in the label map
    sitk.WriteImage(img, str(tmp_path / "img.nrrd"))
    sitk.WriteImage(labelmap_image(lab, img, np.float32), str(tmp_path / "lab_float.nii.gz"))
    segs = read_segmentation(tmp_path / "lab_float.nii.gz", {1: "C3", 2: "CSF", 7: "C7"})
    assert [s.name for s in segs] == ["C3", "CSF", "label 9"]  # 7 absent from the image: not a segment
    assert segs[0].mask.GetSize() == (3, 3, 2) and segs[0].mask.GetOrigin() == (1.0, 1.0, 1.0)  # cropped
    r = score_files(tmp_path / "img.nrrd", tmp_path / "lab_float.nii.gz", labels={1: "C3", 2: "CSF"},
                    options=ScoreOptions(min_voxels=1))
    assert r.level("C3").vbq == 3.0 and [f.code for f in r.flags if f.level is None] == ["UNKNOWN_SEGMENT"]
    bad = lab.astype(np.float32)
    bad[0, 0, 0] = 0.5
    sitk.WriteImage(labelmap_image(bad, img, np.float32), str(tmp_path / "lab_bad.nii.gz"))
    with pytest.raises(VBQInputError, match="non-integer"):
        read_segmentation(tmp_path / "lab_bad.nii.gz", {1: "C3"})
    with pytest.raises(VBQInputError, match="needs segment names"):
        read_segmentation(tmp_path / "lab_float.nii.gz")
    sitk.WriteImage(labelmap_image(np.zeros(a.shape), img), str(tmp_path / "lab0.nii.gz"))
    with pytest.raises(VBQInputError, match="labelmap is empty"):
        read_segmentation(tmp_path / "lab0.nii.gz", {1: "C3"})


def test_read_image_refuses_non_3d_and_non_images(tmp_path):
    sitk.WriteImage(sitk.Image(8, 8, sitk.sitkFloat32), str(tmp_path / "two_d.nii.gz"))
    sitk.WriteImage(sitk.Image([4, 4, 4, 3], sitk.sitkFloat32), str(tmp_path / "four_d.nii.gz"))
    sitk.WriteImage(sitk.Image([4, 4, 4], sitk.sitkVectorFloat32, 3), str(tmp_path / "rgb.nrrd"))
    (tmp_path / "notes.nii.gz").write_text("hello", encoding="utf-8")
    cases = [("two_d.nii.gz", "is 2-D"), ("four_d.nii.gz", "is 4-D"), ("rgb.nrrd", "3 components"),
             ("notes.nii.gz", "not a readable image"), ("missing.nii", "image not found")]
    for name, msg in cases:
        with pytest.raises(VBQInputError, match=msg) as e:
            read_image(tmp_path / name)
        assert "\n" not in str(e.value) and name in str(e.value)
    # a 4-D image with a single time point is a 3-D volume
    a = np.arange(60, dtype=np.float32).reshape(1, 3, 4, 5)
    img4 = sitk.GetImageFromArray(a, isVector=False)
    img4.SetSpacing((0.5, 0.6, 2.0, 1.0))
    img4.SetOrigin((1.0, 2.0, 3.0, 0.0))
    sitk.WriteImage(img4, str(tmp_path / "t1.mha"))  # MetaImage keeps the 4th axis of size 1
    assert sitk.ReadImage(str(tmp_path / "t1.mha")).GetDimension() == 4
    im = read_image(tmp_path / "t1.mha").image
    assert im.GetDimension() == 3 and im.GetSpacing() == pytest.approx((0.5, 0.6, 2.0))
    assert im.GetOrigin() == pytest.approx((1.0, 2.0, 3.0)) and np.array_equal(sitk.GetArrayFromImage(im), a[0])


def write_dicom_series(folder, arr, uid, tags, spacing=(0.8, 0.7, 3.0), origin=(-10.0, -20.0, 30.0)):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    img = sitk.GetImageFromArray(np.asarray(arr, np.int16))
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    w = sitk.ImageFileWriter()
    w.KeepOriginalImageUIDOn()
    for k in range(img.GetDepth()):
        s = img[:, :, k]
        meta = {"0008|0060": "MR", "0020|000e": uid, "0020|000d": uid + ".0", "0008|0018": f"{uid}.{k + 1}",
                "0020|0037": "1\\0\\0\\0\\1\\0", "0020|0013": str(k + 1), "0018|0050": str(spacing[2]),
                "0020|0032": "\\".join(str(v) for v in img.TransformIndexToPhysicalPoint((0, 0, k))),
                "0028|0030": f"{spacing[1]}\\{spacing[0]}", **tags}
        for t, v in meta.items():
            s.SetMetaData(t, v)
        w.SetFileName(str(folder / f"{uid[-3:]}_{k:03d}.dcm"))
        w.Execute(s)
    return img


def test_dicom_series_image_provenance_and_flags(tmp_path):
    a = np.full((5, 12, 10), 20)
    a[1:4, 2:5, 2:5] = 60
    tags = {"0008|0070": "SIEMENS", "0018|0087": "1.5", "0018|0080": "550", "0018|0081": "11",
            "0018|0095": "190", "0018|0022": "FS\\PFP", "0018|0010": "GADOVIST", "0008|103e": "t1_tse_sag",
            "0018|0020": "SE", "0018|0021": "SK\\SP", "0018|0024": "*tse2d1_3"}
    folder = tmp_path / "dicom"
    ref = write_dicom_series(folder, a, "1.2.826.0.1.3680043.2.1125.7.101", tags)
    ii = read_image(folder)
    assert np.array_equal(sitk.GetArrayFromImage(ii.image), a)
    assert ii.image.GetSpacing() == pytest.approx((0.8, 0.7, 3.0)) and ii.image.GetOrigin() == (-10.0, -20.0, 30.0)
    assert ii.dicom["repetition_time"] == 550.0 and ii.dicom["echo_time"] == 11.0
    assert ii.dicom["magnetic_field_strength"] == 1.5 and ii.dicom["pixel_bandwidth"] == 190.0
    assert ii.dicom["slice_thickness"] == 3.0 and ii.dicom["manufacturer"] == "SIEMENS"
    assert ii.dicom["scan_options"] == "FS\\PFP" and ii.dicom["n_files"] == 5
    lab = np.zeros(a.shape, np.uint8)
    lab[1:4, 2:5, 2:5] = 1
    lab[1:4, 7:10, 2:5] = 2
    sitk.WriteImage(labelmap_image(lab, ref), str(tmp_path / "lab.nrrd"))
    r = score_files(folder, tmp_path / "lab.nrrd", labels={1: "C4", 2: "CSF"}, options=ScoreOptions(min_voxels=1))
    assert r.level("C4").vbq == 3.0
    codes = {f.code for f in r.flags if f.level is None}
    assert {"FAT_SATURATION", "CONTRAST_ENHANCED"} <= codes and "NOT_T1" not in codes
    files = sorted(folder.iterdir())
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    assert r.provenance["inputs"]["image"] == {"path": str(folder), "sha256": h.hexdigest(), "n_files": 5}
    assert r.provenance["dicom"]["contrast_bolus_agent"] == "GADOVIST"
    # a single file stands for its series
    assert read_image(files[2]).image.GetSize() == (10, 12, 5)
    # through the command line: DICOM fields in the JSON provenance, flags in the JSON
    import json

    from vbq_cli.main import main

    (tmp_path / "labels.txt").write_text("1=C4\n2=CSF\n", encoding="utf-8")
    assert main(["score", str(folder), str(tmp_path / "lab.nrrd"), "--labels", str(tmp_path / "labels.txt"),
                 "--json", str(tmp_path / "r.json"), "--quiet"]) == 0
    d = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert d["provenance"]["dicom"]["magnetic_field_strength"] == 1.5
    assert d["provenance"]["dicom"]["pixel_bandwidth"] == 190.0 and d["provenance"]["dicom"]["echo_time"] == 11.0
    assert d["provenance"]["inputs"]["image"]["sha256"] == h.hexdigest()
    assert {"FAT_SATURATION", "CONTRAST_ENHANCED"} <= {f["code"] for f in d["flags"]}
    # a T2 series without fat saturation or contrast
    t2 = dict(tags, **{"0018|0022": "PFP", "0018|0010": "", "0018|0080": "3000", "0018|0081": "90",
                       "0008|103e": "t2_tse_sag"})
    folder2 = tmp_path / "dicom2"
    write_dicom_series(folder2, a, "1.2.826.0.1.3680043.2.1125.7.202", t2)
    r2 = score_files(folder2, tmp_path / "lab.nrrd", labels={1: "C4", 2: "CSF"}, options=ScoreOptions(min_voxels=1))
    assert {f.code for f in r2.flags if f.level is None} == {"NOT_T1"}


def test_dicom_folder_with_two_equal_series_is_an_error(tmp_path):
    a = np.zeros((3, 4, 4))
    write_dicom_series(tmp_path, a, "1.2.826.0.1.3680043.2.1125.7.301", {})
    write_dicom_series(tmp_path, a, "1.2.826.0.1.3680043.2.1125.7.302", {})
    with pytest.raises(VBQInputError, match="2 DICOM series with 3 files each"):
        read_image(tmp_path)
    write_dicom_series(tmp_path / "x", np.zeros((4, 4, 4)), "1.2.826.0.1.3680043.2.1125.7.303", {})
    for f in (tmp_path / "x").iterdir():
        f.rename(tmp_path / f.name)
    assert read_image(tmp_path).dicom["series_instance_uid"].endswith(".303")  # most files wins


@pytest.mark.slow
def test_oblique_image_seg_nrrd_equals_labelmap(tmp_path):
    """An oblique, anisotropic grid: the Slicer-written (cropped) .seg.nrrd and the labelmap give equal ROIs."""
    th = np.deg2rad(17.0)
    direction = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1]]) @ \
        np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], float)
    rng = np.random.default_rng(3)
    a = rng.integers(50, 400, size=(14, 16, 18)).astype(np.float32)
    img = make_image(a, (0.7, 0.9, 2.5), (-12.0, 30.0, 7.0), direction)
    sitk.WriteImage(img, str(tmp_path / "t1.nrrd"))
    masks = {"C3": np.zeros(a.shape, bool), "C4": np.zeros(a.shape, bool), "CSF": np.zeros(a.shape, bool)}
    masks["C3"][2:6, 3:9, 4:10] = True
    masks["C4"][8:12, 3:9, 4:10] = True
    masks["CSF"][2:12, 11:13, 5:8] = True
    lab = np.zeros(a.shape, np.uint8)
    for i, m in enumerate(masks.values(), 1):
        lab[m] = i
    sitk.WriteImage(labelmap_image(lab, img), str(tmp_path / "lab.nrrd"))
    write_seg_nrrd_slicer(tmp_path / "rois.seg.nrrd", img, masks)
    r1 = score_files(tmp_path / "t1.nrrd", tmp_path / "lab.nrrd", labels={1: "C3", 2: "C4", 3: "CSF"})
    r2 = score_files(tmp_path / "t1.nrrd", tmp_path / "rois.seg.nrrd")
    assert r1.to_dict()["levels"] == r2.to_dict()["levels"] and r1.csf.to_dict() == r2.csf.to_dict()
    assert r1.level("C3").n_voxels == 4 * 6 * 6 and r1.level("C3").mean == pytest.approx(float(a[masks["C3"]].mean()))
    assert r1.csf.median == float(np.median(a[masks["CSF"]]))


@pytest.mark.slow
def test_seg_nrrd_voxels_simpleitk_equal_slicerio(real, monkeypatch):
    import slicerio

    from VBQScoreLib import segments as S

    for name in ("rois.seg.nrrd", "rois_2layer.seg.nrrd"):
        p = real["dir"] / name
        ref = slicerio.read_segmentation(str(p))["voxels"]
        fast = S._voxels_via_sitk(p)
        assert fast is not None and fast.shape == ref.shape and np.array_equal(fast, ref)
    # the slicerio fallback gives the same segments
    a = S.read_seg_nrrd(real["dir"] / "rois_2layer.seg.nrrd")
    monkeypatch.setattr(S, "_voxels_via_sitk", lambda path, ijk_to_lps=None: None)
    b = S.read_seg_nrrd(real["dir"] / "rois_2layer.seg.nrrd")
    assert [(s.name, s.layer, s.label_value) for s in a] == [(s.name, s.layer, s.label_value) for s in b]
    for sa, sb in zip(a, b):
        assert np.array_equal(sitk.GetArrayFromImage(sa.mask), sitk.GetArrayFromImage(sb.mask))
        assert sa.mask.GetOrigin() == sb.mask.GetOrigin() and sa.mask.GetDirection() == sb.mask.GetDirection()
