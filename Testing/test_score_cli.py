"""``vbq score`` end to end: table, JSON, CSV; bad input -> exit 2, one line, no output file."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import SimpleITK as sitk

from helpers import labelmap_image, make_image, run_vbq
from vbq_cli.main import main


@pytest.fixture()
def case(tmp_path):
    """Image with C3 (mean 120), C4 (mean 90, median 80) and CSF (mean 40) boxes; labelmap + labels file."""
    a = np.full((8, 20, 20), 10.0)
    lab = np.zeros(a.shape, np.uint8)
    a[1:4, 2:6, 2:6] = 120
    lab[1:4, 2:6, 2:6] = 1
    a[1:4, 8:12, 2:6] = 80
    a[1, 8:12, 2:6] = 120  # 16 of 48 voxels: mean = (32*80 + 16*120)/48 = 93.333, median 80
    lab[1:4, 8:12, 2:6] = 2
    a[1:4, 14:18, 2:6] = 40
    lab[1:4, 14:18, 2:6] = 3
    img = make_image(a, (0.5, 0.5, 3.0))
    sitk.WriteImage(img, str(tmp_path / "t1.nii.gz"))
    sitk.WriteImage(labelmap_image(lab, img), str(tmp_path / "seg.nii.gz"))
    (tmp_path / "labels.txt").write_text("1=C3\n2=C4\n3=CSF\n", encoding="utf-8")
    return tmp_path


def run(argv, capsys):
    code = main(["score", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_score_writes_table_json_csv(case, capsys):
    inputs = {p: p.read_bytes() for p in (case / "t1.nii.gz", case / "seg.nii.gz", case / "labels.txt")}
    code, out, err = run([case / "t1.nii.gz", case / "seg.nii.gz", "--labels", case / "labels.txt", "--json",
                          case / "r.json", "--csv", case / "r.csv", "--preset", "soliman2023"], capsys)
    assert code == 0, err
    assert "C3" in out and "3.000" in out and "overall VBQ (soliman2023" in out and "MISSING_LEVEL" in out
    d = json.loads((case / "r.json").read_text(encoding="utf-8"))
    assert set(d) == {"levels", "csf", "overall", "flags", "provenance"}
    c3, c4 = d["levels"]
    assert {"name", "n_voxels", "volume_mm3", "mean", "median", "sd", "vbq"} <= set(c3)
    assert (c3["name"], c3["n_voxels"], c3["volume_mm3"], c3["mean"], c3["vbq"]) == ("C3", 48, 36.0, 120.0, 3.0)
    assert c4["mean"] == pytest.approx(280 / 3) and c4["median"] == 80.0
    assert {"name", "n_voxels", "mean", "median"} <= set(d["csf"]) and d["csf"]["mean"] == 40.0
    assert d["overall"]["preset"] == "soliman2023" and d["overall"]["levels"] == ["C3", "C4", "C5", "C6"]
    assert d["overall"]["vbq"] == pytest.approx((120 + 280 / 3) / 2 / 40)  # median of two = their mean
    assert {f["code"] for f in d["flags"]} == {"MISSING_LEVEL"}
    assert all(set(f) == {"code", "level", "message"} for f in d["flags"])
    prov = d["provenance"]
    assert prov["options"]["preset"] == "soliman2023" and len(prov["inputs"]["image"]["sha256"]) == 64
    assert set(prov["inputs"]) == {"image", "segmentation", "labels"}
    rows = list(csv.DictReader((case / "r.csv").open()))
    assert [r["level"] for r in rows] == ["C3", "C4"]
    assert float(rows[1]["vbq"]) == pytest.approx(280 / 3 / 40) and rows[0]["csf_mean"] == "40.0"
    assert float(rows[0]["overall_vbq"]) == pytest.approx(d["overall"]["vbq"])
    # --stat median
    code, out, _ = run([case / "t1.nii.gz", case / "seg.nii.gz", "--labels", case / "labels.txt", "--stat",
                        "median", "--json", case / "m.json", "--quiet"], capsys)
    assert code == 0 and out == ""
    m = json.loads((case / "m.json").read_text(encoding="utf-8"))
    assert m["levels"][1]["vbq"] == 2.0 and m["overall"]["level_stat"] == "median"
    assert all(p.read_bytes() == b for p, b in inputs.items())  # inputs untouched


def test_score_extras(case, capsys):
    code, out, err = run([case / "t1.nii.gz", case / "seg.nii.gz", "--labels", case / "labels.txt", "--levels",
                          "C3-C4", "--aggregate", "median", "--vbq-range", "2.5", "2.9", "--erode-mm", "0.5",
                          "--json", case / "e.json"], capsys)
    assert code == 0, err
    d = json.loads((case / "e.json").read_text(encoding="utf-8"))
    assert d["overall"]["preset"] == "custom" and d["overall"]["aggregate"] == "median"
    assert d["levels"][0]["n_voxels"] == 2 * 2 * 3  # 0.5 mm erosion: 1 voxel in x/y, none across 3 mm slices
    assert [(f["code"], f["level"]) for f in d["flags"] if f["code"] == "VBQ_OUT_OF_RANGE"][0] == \
        ("VBQ_OUT_OF_RANGE", "C3")
    code, _, err = run([case / "t1.nii.gz", case / "seg.nii.gz", "--labels", case / "labels.txt",
                        "--require-all-levels", "--json", case / "x.json"], capsys)
    assert code == 2 and "missing C2, C5, C6, C7" in err and not (case / "x.json").exists()


def test_csf_reference_picks_among_several_csf_segments(case, capsys):
    lab = sitk.GetArrayFromImage(sitk.ReadImage(str(case / "seg.nii.gz")))
    lab[5:8, 14:18, 2:6] = 4  # a second CSF ROI (image value 10 there)
    img = sitk.ReadImage(str(case / "t1.nii.gz"))
    sitk.WriteImage(labelmap_image(lab, img), str(case / "seg2.nii.gz"))
    (case / "labels2.txt").write_text("1=C3\n2=C4\n3=CSF at C2\n4=CSF at C5\n", encoding="utf-8")
    base = [case / "t1.nii.gz", case / "seg2.nii.gz", "--labels", case / "labels2.txt", "--quiet"]
    code, _, err = run(base, capsys)
    assert code == 2 and "2 CSF segments ('CSF at C2', 'CSF at C5')" in err
    code, _, err = run([*base, "--csf-reference", "C5", "--json", case / "c5.json"], capsys)
    assert code == 0, err
    d = json.loads((case / "c5.json").read_text(encoding="utf-8"))
    assert d["csf"]["segment"] == "CSF at C5" and d["csf"]["mean"] == 10.0 and d["levels"][0]["vbq"] == 12.0
    code, _, err = run([*base, "--preset", "soliman2023", "--json", case / "c2.json"], capsys)
    assert code == 0 and json.loads((case / "c2.json").read_text(encoding="utf-8"))["csf"]["mean"] == 40.0


def _bad_inputs(case):
    a = np.full((8, 20, 20), 10.0)
    img = make_image(a, (0.5, 0.5, 3.0))
    (case / "notes.txt").write_text("not an image", encoding="utf-8")
    sitk.WriteImage(sitk.Image(20, 20, sitk.sitkFloat32), str(case / "flat.nii.gz"))
    sitk.WriteImage(sitk.Image([20, 20, 8, 2], sitk.sitkFloat32), str(case / "dyn.nii.gz"))
    lab = sitk.GetArrayFromImage(sitk.ReadImage(str(case / "seg.nii.gz")))
    no_csf = np.where(lab == 3, 0, lab)
    sitk.WriteImage(labelmap_image(no_csf, img), str(case / "nocsf.nii.gz"))
    far = labelmap_image(lab, img)
    far.SetOrigin((500.0, 0.0, 0.0))
    sitk.WriteImage(far, str(case / "far.nii.gz"))
    (case / "bad_labels.txt").write_text("1=C3\ntwo=C4\n", encoding="utf-8")
    (case / "empty_csf_labels.txt").write_text("1=C3\n2=C4\n3=C5\n", encoding="utf-8")  # the CSF box becomes C5: no CSF
    import slicerio

    seg = slicerio.create_segmentation(lab.T.shape, np.diag([0.5, 0.5, 3.0, 1.0]))
    slicerio.add_segment(seg, lab.T == 1, {"id": "C3", "name": "C3"})
    slicerio.add_segment(seg, np.zeros(lab.T.shape, bool), {"id": "CSF", "name": "CSF"})  # empty
    slicerio.write_segmentation(str(case / "empty.seg.nrrd"), seg)
    (case / "bad.seg.nrrd").write_text("NRRD0004\ntype: what\n", encoding="utf-8")
    L = ["--labels", case / "labels.txt"]
    return [
        ([case / "t1.nii.gz", case / "bad.seg.nrrd"], "not a readable Slicer segmentation"),
        ([case / "notes.txt", case / "seg.nii.gz", *L], "not a readable image"),
        ([case / "flat.nii.gz", case / "seg.nii.gz", *L], "is 2-D"),
        ([case / "dyn.nii.gz", case / "seg.nii.gz", *L], "is 4-D"),
        ([case / "missing.nii.gz", case / "seg.nii.gz", *L], "image not found"),
        ([case / "t1.nii.gz", case / "empty.seg.nrrd"], "CSF segment 'CSF' has no voxels"),
        ([case / "t1.nii.gz", case / "nocsf.nii.gz", *L], "no CSF segment"),
        ([case / "t1.nii.gz", case / "far.nii.gz", *L], "does not overlap the image"),
        ([case / "t1.nii.gz", case / "seg.nii.gz", "--labels", case / "bad_labels.txt"], "line 2"),
        ([case / "t1.nii.gz", case / "seg.nii.gz", "--labels", case / "empty_csf_labels.txt"], "no CSF segment"),
        ([case / "t1.nii.gz", case / "seg.nii.gz"], "needs segment names"),
        ([case / "t1.nii.gz", case / "notes.txt", *L], "not a readable labelmap"),
        ([case / "t1.nii.gz", case / "seg.nii.gz", *L, "--preset", "foo"], "unknown preset 'foo'"),
        ([case / "t1.nii.gz", case / "seg.nii.gz", *L, "--erode-mm", "-1"], "erosion margin"),
        ([case / "empty.seg.nrrd", case / "t1.nii.gz"], "is a Slicer segmentation, not an MRI"),
        ([case / "t1.nii.gz", case / "seg.nii.gz", *L, "--mid-slices", "0"], "mid-sagittal slices"),
        ([case / "t1.nii.gz", case / "seg.nii.gz", *L, "--vbq-range", "5", "1"], "LO must be below HI"),
    ]


def test_bad_inputs_exit_2_one_line_no_output(case, capsys):
    for argv, msg in _bad_inputs(case):
        out_json, out_csv = case / "out.json", case / "out.csv"
        code, out, err = run([*argv, "--json", out_json, "--csv", out_csv], capsys)
        assert code == 2, (argv, err)
        assert err.startswith("vbq score: error: ") and err.count("\n") == 1 and msg in err, (msg, err)
        assert "Traceback" not in err and out == ""
        assert not out_json.exists() and not out_csv.exists()
        assert not list(case.glob(".out.*"))  # no temporary leftovers


def test_outputs_never_overwrite_inputs_or_write_into_missing_folders(case, capsys):
    base = [case / "t1.nii.gz", case / "seg.nii.gz", "--labels", case / "labels.txt"]
    before = (case / "seg.nii.gz").read_bytes()
    code, _, err = run([*base, "--json", case / "seg.nii.gz"], capsys)
    assert code == 2 and "overwrite an input" in err and (case / "seg.nii.gz").read_bytes() == before
    code, _, err = run([*base, "--json", case / "r.json", "--csv", case / "nodir" / "r.csv"], capsys)
    assert code == 2 and "does not exist" in err and not (case / "r.json").exists()


def test_subprocess_no_traceback(case):
    p = run_vbq("score", case / "t1.nii.gz", case / "seg.nii.gz")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "needs segment names" in p.stderr
    p = run_vbq("score", case / "t1.nii.gz", case / "seg.nii.gz", "--labels", case / "labels.txt")
    assert p.returncode == 0 and "overall VBQ" in p.stdout
