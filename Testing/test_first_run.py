"""First run, tried as a new user would (issue 16): the demo's MRI folder works with ``vbq batch`` as it is and a
folder that matches nothing names ``--pattern``; ``cohort analyze`` without VBQ columns names ``--levels`` and
``--vbq-results``; a preset none of whose levels is segmented is an error naming both; ``--levels`` flags only the
levels asked for; a segmentation that misses the image says so and where each lies."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
import SimpleITK as sitk

from vbq_cli.main import main


@pytest.fixture(scope="module")
def demo_mri(tmp_path_factory):
    """Two cases in the layout ``vbq demo`` writes: mri/<id>/t1.nii.gz, t1_labels.nii.gz, t1_labels.txt."""
    from VBQScoreLib.phantom import make_phantom, write_phantom

    root = tmp_path_factory.mktemp("demo") / "mri"
    for i, pid in enumerate(["P001", "P002"]):
        write_phantom(make_phantom(seed=i), root / pid, basename="t1", formats=("nifti", "labels"))
    return root


def test_batch_on_the_demo_layout(demo_mri, tmp_path, capsys):
    out = tmp_path / "r.csv"
    assert main(["batch", str(demo_mri), "--out", str(out), "--workers", "1"]) == 0, capsys.readouterr().err
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["case_id"], r["status"]) for r in rows] == [("P001", "ok"), ("P002", "ok")]
    assert all(float(r["VBQ_overall"]) > 1 for r in rows)


def test_batch_on_a_folder_that_matches_nothing_names_pattern(tmp_path, capsys):
    (tmp_path / "case1").mkdir()
    (tmp_path / "case1" / "scan.nii.gz").write_bytes(b"x")
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert "--pattern" in err and "{case_id}/image.nii.gz" in err and len(err.strip().splitlines()) == 1
    assert main(["batch", str(tmp_path), "--pattern", "{case_id}/t2.nii.gz,{case_id}/s.seg.nrrd",
                 "--out", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert "'{case_id}/t2.nii.gz'" in err and "--pattern" in err


def test_analyze_without_vbq_columns_names_both_flags(tmp_path, capsys):
    from VBQCohortLib.demo import make_cohort

    df = make_cohort(60, 2)
    df.drop(columns=[c for c in df if c.startswith("VBQ_")]).to_csv(tmp_path / "clinical.csv", index=False)
    assert main(["cohort", "analyze", str(tmp_path / "clinical.csv"), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "--levels" in err and "--vbq-results" in err and not (tmp_path / "s").exists()


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    from VBQScoreLib.phantom import make_phantom, write_phantom

    d = tmp_path_factory.mktemp("case")
    paths = write_phantom(make_phantom(seed=3), d, basename="t1", formats=("nifti", "labels"))
    return d, paths


def test_preset_without_any_of_its_levels_is_an_error(case, capsys):
    d, p = case
    code = main(["score", str(p["image"]), str(p["labelmap"]), "--labels", str(p["labels"]), "--preset",
                 "ehresman2020", "--json", str(d / "e.json")])
    err = capsys.readouterr().err
    assert code == 2 and not (d / "e.json").exists()
    assert "ehresman2020 (L1, L2, L3, L4)" in err and "C2, C3, C4, C5, C6, C7, CSF cisterna magna" in err
    assert len(err.strip().splitlines()) == 1


def test_levels_flags_only_the_levels_asked_for(case, capsys):
    d, p = case
    import slicerio

    from VBQScoreLib.phantom import segmentation_dict

    lab = sitk.ReadImage(str(p["labelmap"]))
    a = sitk.GetArrayFromImage(lab)
    a[np.isin(a, [1, 6])] = 0  # C2 and C7 empty segments of a .seg.nrrd
    out = sitk.GetImageFromArray(a)
    out.CopyInformation(lab)
    names = dict(line.split("=", 1) for line in p["labels"].read_text().splitlines() if line.strip())
    slicerio.write_segmentation(str(d / "empty.seg.nrrd"), segmentation_dict(out, {int(k): v for k, v in names.items()}))
    seg = d / "empty.seg.nrrd"
    code = main(["score", str(p["image"]), str(seg), "--levels", "C3-C6", "--json", str(d / "l.json"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    r = json.loads((d / "l.json").read_text(encoding="utf-8"))
    assert [lv["name"] for lv in r["levels"]] == ["C3", "C4", "C5", "C6"]
    assert not [f for f in r["flags"] if f["level"] in ("C2", "C7")], r["flags"]
    # without --levels the empty C2 and C7 of the default preset are flagged, as before
    assert main(["score", str(p["image"]), str(seg), "--json", str(d / "m.json"), "--quiet"]) == 0
    r = json.loads((d / "m.json").read_text(encoding="utf-8"))
    assert {f["level"] for f in r["flags"] if f["code"] == "EMPTY_ROI"} == {"C2", "C7"}


def _ras_box(img, nonzero):
    """Independent of the library: corners of the (non-zero) voxel box, origin + D @ (spacing * index), LPS->RAS."""
    a = sitk.GetArrayFromImage(img)
    if nonzero:
        nz = np.nonzero(a)
        lo = np.array([nz[2].min(), nz[1].min(), nz[0].min()]) - 0.5
        hi = np.array([nz[2].max(), nz[1].max(), nz[0].max()]) + 0.5
    else:
        lo, hi = np.full(3, -0.5), np.array(img.GetSize()) - 0.5
    D = np.array(img.GetDirection()).reshape(3, 3)
    corners = [np.array(img.GetOrigin()) + D @ (np.array(img.GetSpacing()) * np.array([x, y, z]))
               for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
    pts = np.array(corners) * [-1, -1, 1]
    return pts.min(0), pts.max(0)


def test_segmentation_missing_the_image_says_where_each_lies(case, capsys):
    d, p = case
    lab = sitk.ReadImage(str(p["labelmap"]))
    lab.SetOrigin([o + s for o, s in zip(lab.GetOrigin(), (1000.0, -500.0, 250.0))])
    sitk.WriteImage(lab, str(d / "far.nii.gz"))
    code = main(["score", str(p["image"]), str(d / "far.nii.gz"), "--labels", str(p["labels"])])
    err = capsys.readouterr().err
    assert code == 2 and "the whole segmentation does not overlap the image" in err
    assert "CSF" not in err  # not blamed on one segment
    nums = [float(x) for x in re.findall(r"(-?\d+\.\d)", err)]
    assert len(nums) == 12
    for got, box in ((nums[:6], _ras_box(sitk.ReadImage(str(p["image"])), False)), (nums[6:], _ras_box(lab, True))):
        want = [box[0][0], box[1][0], box[0][1], box[1][1], box[0][2], box[1][2]]
        assert got == pytest.approx(want, abs=0.051)
