"""Segmentation overlap (VBQScoreLib.overlap) on phantoms with analytic truth, and ``vbq agreement
--segmentations`` / ``--manifest`` on phantom MRIs.

Two spheres of radius r whose centres are d apart: the lens where they overlap has volume
V = pi (4r + d)(2r - d)^2 / 12, so Dice = 2V / (2 * 4/3 pi r^3) and Jaccard = V / (2 * 4/3 pi r^3 - V); the
Hausdorff distance is d; a point on sphere A's surface at cos(angle) = u from the line of centres (u uniform on
[-1, 1] for uniform surface area) lies max(0, sqrt(r^2 + d^2 + 2 r d u) - r) from sphere B, so the 95th percentile
surface distance is sqrt(r^2 + d^2 + 1.8 r d) - r.

Tolerances (discretisation only): voxel centres are classified exactly, so Dice and Jaccard must equal the
voxel counts to rounding (1e-12); against the analytic values they may differ by the voxelisation of a sphere,
whose volume here is within 1.5% of 4/3 pi r^3 (checked; 1.2% for r = 6 mm at 0.5 mm voxels), and the Dice and
Jaccard of the voxelised lens by as much (< 0.015). Distances are
measured between voxel centres, each within half a voxel diagonal h of the true surface: the Hausdorff distances
must be within h of the analytic ones.
"""

from __future__ import annotations

import json
import math
import shlex

import numpy as np
import pytest
import SimpleITK as sitk

from VBQScoreLib.overlap import overlap_segments
from VBQScoreLib.segments import Segment

EYE = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def sphere(shape_zyx, spacing, centre_mm, r):
    z, y, x = np.indices(shape_zyx)
    d2 = sum(np.square(i * s - c) for i, s, c in zip((x, y, z), spacing, centre_mm))
    return d2 <= r * r


def image(shape_zyx, spacing, origin=(0.0, 0.0, 0.0)):
    img = sitk.Image(shape_zyx[2], shape_zyx[1], shape_zyx[0], sitk.sitkFloat32)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    return img


@pytest.mark.parametrize("spacing,r,d", [((0.5, 0.5, 0.5), 8.0, 3.0), ((0.4, 0.4, 1.0), 8.0, 3.0),
                                         ((0.5, 0.5, 0.5), 6.0, 9.0)])
def test_two_spheres_analytic(spacing, r, d):
    shape = tuple(int(44 / s) for s in spacing[::-1])
    a = sphere(shape, spacing, (20.0, 20.0, 20.0), r)
    b = sphere(shape, spacing, (20.0 + d, 20.0, 20.0), r)
    img = image(shape, spacing)
    res, warnings = overlap_segments(img, [Segment("C3", array=a, origin=(0, 0, 0), spacing=spacing, direction=EYE)],
                                     [Segment("vertebrae_C3", array=b, origin=(0, 0, 0), spacing=spacing,
                                              direction=EYE)])
    m = res["C3"]
    assert not warnings
    voxel = float(np.prod(spacing))
    # exact on the voxels
    inter, na, nb = int((a & b).sum()), int(a.sum()), int(b.sum())
    assert m["dice"] == pytest.approx(2 * inter / (na + nb), rel=1e-12)
    assert m["jaccard"] == pytest.approx(inter / (na + nb - inter), rel=1e-12)
    assert (m["n_voxels_a"], m["n_voxels_b"]) == (na, nb)
    assert m["volume_a_mm3"] == pytest.approx(na * voxel) and m["volume_diff_mm3"] == pytest.approx((na - nb) * voxel)
    # analytic
    vs = 4 / 3 * math.pi * r ** 3
    assert abs(na * voxel - vs) / vs < 0.015
    lens = math.pi * (4 * r + d) * (2 * r - d) ** 2 / 12
    assert abs(m["dice"] - lens / vs) < 0.015
    assert abs(m["jaccard"] - lens / (2 * vs - lens)) < 0.015
    h = 0.5 * math.sqrt(sum(s * s for s in spacing))
    assert abs(m["hd_max_mm"] - d) <= h
    assert abs(m["hd95_mm"] - (math.sqrt(r * r + d * d + 1.8 * r * d) - r)) <= h
    assert m["hd95_mm"] < m["hd_max_mm"]
    assert 0 < m["hd_avg_mm"] < m["hd95_mm"]


def test_identical_and_disjoint_and_empty():
    sp = (0.5, 0.5, 0.5)
    shape = (60, 60, 60)
    a = sphere(shape, sp, (15, 15, 15), 5)
    far = sphere(shape, sp, (15, 15, 27), 5)   # 12 mm apart: no overlap, HD 12 mm
    img = image(shape, sp)
    seg = lambda name, arr: Segment(name, array=arr, origin=(0, 0, 0), spacing=sp, direction=EYE)  # noqa: E731
    res, _ = overlap_segments(img, [seg("C3", a), seg("C4", a), seg("CSF", a)],
                              [seg("C3", a), seg("C4", far), seg("CSF", np.zeros_like(a))])
    assert list(res) == ["C3", "C4", "CSF"]  # spine order, CSF last
    assert res["C3"]["dice"] == 1.0 and res["C3"]["hd_max_mm"] == 0.0 and res["C3"]["hd95_mm"] == 0.0
    assert res["C4"]["dice"] == 0.0 and res["C4"]["hd_max_mm"] == pytest.approx(12.0)
    assert res["CSF"]["dice"] == 0.0 and res["CSF"]["hd95_mm"] is None and res["CSF"]["volume_b_mm3"] == 0.0


def test_segment_on_another_grid_is_mapped_like_vbq_score():
    """B drawn on a finer, shifted grid: compared after nearest-neighbour mapping onto the MRI grid (the voxels
    vbq score measures), not on its own grid."""
    from VBQScoreLib.resample import map_segment

    sp = (0.8, 0.8, 2.0)
    shape = (20, 50, 50)
    img = image(shape, sp)
    a = sphere(shape, sp, (20, 20, 20), 8)
    fine_sp = (0.4, 0.4, 0.5)
    fine_shape = (80, 100, 100)
    b = sphere(fine_shape, fine_sp, (20.3, 20, 20), 8)
    sa = Segment("C5", array=a, origin=(0, 0, 0), spacing=sp, direction=EYE)
    sb = Segment("C5", array=b, origin=(0, 0, 0), spacing=fine_sp, direction=EYE)
    res, _ = overlap_segments(img, [sa], [sb])
    ma = map_segment(sa, img)
    mb = map_segment(sb, img)
    full = lambda m: np.pad(m.mask, [(s, n - s - k) for s, n, k in zip(m.start[::-1], shape, m.mask.shape)])  # noqa
    fa, fb = full(ma), full(mb)
    assert res["C5"]["n_voxels_b"] == int(fb.sum()) != int(b.sum())
    assert res["C5"]["dice"] == pytest.approx(2 * (fa & fb).sum() / (fa.sum() + fb.sum()), rel=1e-12)


def test_hd_max_from_contours_equals_sitk_filter():
    """Our surface distances' maximum (LabelContour + SignedMaurerDistanceMap) is SimpleITK's Hausdorff distance."""
    from VBQScoreLib import overlap as ov

    rng = np.random.default_rng(3)
    sp = (0.6, 0.6, 1.5)
    shape = (24, 40, 40)
    for _ in range(3):
        a = sphere(shape, sp, tuple(rng.uniform(10, 14, 3)), rng.uniform(4, 7))
        b = sphere(shape, sp, tuple(rng.uniform(10, 14, 3)), rng.uniform(4, 7)) | (rng.random(shape) > 0.9995)
        ia, ib = sitk.GetImageFromArray(a.astype(np.uint8)), sitk.GetImageFromArray(b.astype(np.uint8))
        ia.SetSpacing(sp)
        ib.SetSpacing(sp)
        f = sitk.HausdorffDistanceImageFilter()
        f.Execute(ia, ib)
        d = max(ov._surface_distances(ia, ib).max(), ov._surface_distances(ib, ia).max())
        assert d == pytest.approx(f.GetHausdorffDistance(), rel=1e-6)


# ------------------------------------------------------------------------------------------------ CLI on phantoms

@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    from VBQScoreLib.phantom import make_phantom, write_phantom

    root = tmp_path_factory.mktemp("overlap")
    cases = {}
    for k, seed in enumerate((5, 6)):
        ph = make_phantom(shape=(7, 128, 128), spacing=(3.0, 1.6, 1.6), seed=seed)
        paths = write_phantom(ph, root / f"case{k + 1}", basename="t1")
        lab = sitk.GetArrayFromImage(ph.labelmap)
        shifted = np.zeros_like(lab)
        shifted[:, 1:, :] = lab[:, :-1, :]   # reader 2: every ROI one voxel (1.6 mm) lower
        im = sitk.GetImageFromArray(shifted)
        im.CopyInformation(ph.labelmap)
        p2 = root / f"case{k + 1}" / "r2_labels.nii.gz"
        sitk.WriteImage(im, str(p2))
        cases[f"case{k + 1}"] = {"paths": paths, "r2": p2, "lab": lab, "shifted": shifted, "labels": ph.labels}
    # a manifest: labelmaps for both readers (one labels file per case)
    rows = ["case_id,image,labels,seg_r1,seg_r2"]
    for cid, _c in cases.items():
        rows.append(f"{cid},{cid}/t1.nii.gz,{cid}/t1_labels.txt,{cid}/t1_labels.nii.gz,{cid}/r2_labels.nii.gz")
    (root / "readers.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root, cases


def test_cli_two_segmentations(phantoms, tmp_path, capsys):
    from vbq_cli.main import main
    from VBQScoreLib.api import score_files

    root, cases = phantoms
    c = cases["case1"]
    out = tmp_path / "agr"
    # two labelmaps named by one --labels file (a .seg.nrrd carries its own names)
    argv = (f"agreement --segmentations R1={c['paths']['labelmap']} --segmentations R2={c['r2']} "
            f"--labels {c['paths']['labels']} --image {c['paths']['image']} --out {out} --quiet")
    assert main(shlex.split(argv)) == 0
    res = json.loads((out / "agreement.json").read_text(encoding="utf-8"))
    ov = res["overlap"]
    assert list(ov)[:6] == ["C2", "C3", "C4", "C5", "C6", "C7"] and "CSF" in ov
    for lv, m in ov.items():
        name = "CSF cisterna magna" if lv == "CSF" else lv
        val = next(k for k, v in c["labels"].items() if v == name)
        a, b = c["lab"] == val, c["shifted"] == val
        assert m["dice"] == pytest.approx(2 * (a & b).sum() / (a.sum() + b.sum()), rel=1e-12), lv
        assert {"dice", "jaccard", "hd95_mm", "hd_max_mm", "volume_a_mm3", "volume_b_mm3"} <= set(m)
        assert m["hd_max_mm"] == pytest.approx(1.6, abs=1e-6) and m["hd95_mm"] == pytest.approx(1.6, abs=1e-6)
    # the voxels compared are those vbq score measures
    r = score_files(c["paths"]["image"], c["paths"]["labelmap"], labels=c["paths"]["labels"])
    for lv in r.levels:
        assert ov[lv.name]["n_voxels_a"] == lv.n_voxels
    assert (out / "tables" / "overlap.csv").is_file() and "Segmentation overlap" in (out / "report.html").read_text(
        encoding="utf-8")


def test_cli_seg_nrrd_against_labelmap_same_voxels(phantoms, tmp_path):
    """The same ROIs as a cropped Slicer .seg.nrrd and as a labelmap: Dice 1 at every level."""
    from VBQScoreLib.overlap import overlap_files

    root, cases = phantoms
    c = cases["case2"]
    # one reader's .seg.nrrd vs the other's labelmap (each file read with its own names)
    from VBQScoreLib.image_io import read_image
    from VBQScoreLib.overlap import overlap_segments
    from VBQScoreLib.segments import read_segmentation

    img = read_image(c["paths"]["image"]).image
    res, _ = overlap_segments(img, read_segmentation(c["paths"]["seg_nrrd"]),
                              read_segmentation(c["paths"]["labelmap"], c["paths"]["labels"]))
    assert len(res) == 7 and all(m["dice"] == 1.0 and m["hd_max_mm"] == 0.0 for m in res.values())
    with pytest.raises(Exception, match="at least two"):
        overlap_files(c["paths"]["image"], {"R1": c["paths"]["seg_nrrd"]})


def test_cli_manifest(phantoms, tmp_path, capsys):
    from vbq_cli.main import main

    root, cases = phantoms
    out = tmp_path / "agr"
    assert main(["agreement", "--manifest", str(root / "readers.csv"), "--segmentations", "R1=seg_r1",
                 "--segmentations", "R2=seg_r2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Segmentation overlap (R1 vs R2, mean over 2 cases)" in text
    res = json.loads((out / "agreement.json").read_text(encoding="utf-8"))
    det = res["overlap_detail"]
    assert det["n_cases"] == 2 and set(det["cases"]) == {"case1", "case2"}
    for lv, m in res["overlap"].items():
        per = [det["cases"][cid]["R1 vs R2"][lv]["dice"] for cid in ("case1", "case2")]
        assert m["dice"] == pytest.approx(np.mean(per)) and m["n_cases"] == 2
    import pandas as pd

    t = pd.read_csv(out / "tables" / "overlap.csv")
    assert len(t) == 2 * 7 and set(t["case_id"]) == {"case1", "case2"}
    # default reader columns: every column but case_id, image, labels
    out2 = tmp_path / "agr2"
    assert main(["agreement", "--manifest", str(root / "readers.csv"), "--out", str(out2), "--quiet"]) == 0
    res2 = json.loads((out2 / "agreement.json").read_text(encoding="utf-8"))
    assert res2["overlap_detail"]["pair"] == "seg_r1 vs seg_r2" and res2["overlap"] == res["overlap"]


def test_hd95_never_above_hd_max():
    """A translated box: every surface distance is the shift, so the percentile equals the maximum. The surface
    distances come from a float32 distance map and the Hausdorff filter's from doubles (0.7 mm: 0.70000076 vs
    0.70000000); hd95 is capped at hd_max, not reported 8e-7 mm above it."""
    sp = (0.7, 0.7, 0.7)
    shape = (12, 20, 20)
    a = np.zeros(shape, bool)
    a[3:9, 4:12, 4:12] = True
    b = np.roll(a, 1, axis=1)  # 1 voxel = 0.7 mm along y
    img = image(shape, sp)
    res, _ = overlap_segments(img, [Segment("C3", array=a, origin=(0, 0, 0), spacing=sp, direction=EYE)],
                              [Segment("C3", array=b, origin=(0, 0, 0), spacing=sp, direction=EYE)])
    m = res["C3"]
    assert m["hd_max_mm"] == pytest.approx(0.7, abs=1e-6)
    assert m["hd95_mm"] <= m["hd_max_mm"]
    assert m["hd95_mm"] == pytest.approx(0.7, abs=1e-6)
    rng = np.random.default_rng(5)
    for _ in range(5):
        a = sphere(shape, sp, tuple(rng.uniform(3, 5, 3)), rng.uniform(1, 2))
        b = sphere(shape, sp, tuple(rng.uniform(3, 5, 3)), rng.uniform(1, 2))
        res, _ = overlap_segments(img, [Segment("C3", array=a, origin=(0, 0, 0), spacing=sp, direction=EYE)],
                                  [Segment("C3", array=b, origin=(0, 0, 0), spacing=sp, direction=EYE)])
        assert res["C3"]["hd95_mm"] <= res["C3"]["hd_max_mm"]
