"""NaN / infinite voxels inside an ROI (issue 16): excluded from the ROI's statistics and flagged
(``NONFINITE_VOXELS``, naming the ROI and the count), the same for NIfTI, NRRD and MHA. SimpleITK's NIfTI reader
(niftilib) stores them as 0, so before the fix a NIfTI gave a lower VBQ with no flag and an NRRD a null VBQ
with a "nan is outside the plausible range" flag."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from vbq_cli.main import main


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    from VBQScoreLib.phantom import make_phantom, write_phantom

    d = tmp_path_factory.mktemp("nan")
    p = write_phantom(make_phantom(seed=4), d, basename="t1", formats=("nifti", "labels"))
    img = sitk.Cast(sitk.ReadImage(str(p["image"])), sitk.sitkFloat32)
    lab = sitk.GetArrayFromImage(sitk.ReadImage(str(p["labelmap"])))
    a = sitk.GetArrayFromImage(img)
    c3 = np.argwhere(lab == 2)  # C3
    a[tuple(c3[:5].T)] = np.nan
    a[tuple(c3[5:7].T)] = np.inf
    a[tuple(c3[7:8].T)] = -np.inf
    bad = sitk.GetImageFromArray(a)
    bad.CopyInformation(img)
    for ext in ("nii.gz", "nii", "nrrd", "mha"):
        sitk.WriteImage(bad, str(d / f"bad.{ext}"))
    finite = a[lab == 2]
    finite = finite[np.isfinite(finite)]
    csf = a[lab == 7]
    want = float(np.mean(finite.astype(np.float64)) / np.mean(csf.astype(np.float64)))
    return d, p, want, int(finite.size)


@pytest.mark.parametrize("ext", ["nii.gz", "nii", "nrrd", "mha"])
def test_nonfinite_voxels_are_excluded_and_flagged(case, ext, capsys):
    d, p, want, n_finite = case
    out = d / f"{ext}.json"
    assert main(["score", str(d / f"bad.{ext}"), str(p["labelmap"]), "--labels", str(p["labels"]), "--json",
                 str(out), "--quiet"]) == 0
    assert "RuntimeWarning" not in capsys.readouterr().err
    r = json.loads(out.read_text(encoding="utf-8"))
    c3 = next(lv for lv in r["levels"] if lv["name"] == "C3")
    assert c3["vbq"] == pytest.approx(want, rel=1e-12) and c3["n_voxels"] == n_finite
    flags = [f for f in r["flags"] if f["code"] == "NONFINITE_VOXELS"]
    assert [(f["level"]) for f in flags] == ["C3"] and "ROI 'C3' has 8 voxel(s)" in flags[0]["message"]
    assert not [f for f in r["flags"] if "nan" in f["message"].lower() and f["code"] == "VBQ_OUT_OF_RANGE"]


def test_nifti_reader_zeroes_them_and_read_image_restores(case):
    """Why the NIfTI was measured with 0s: SimpleITK (niftilib) stores non-finite floats as 0 on read."""
    from VBQScoreLib.input.images import read_image

    d, *_ = case
    plain = sitk.GetArrayFromImage(sitk.ReadImage(str(d / "bad.nii.gz")))
    ours = sitk.GetArrayFromImage(read_image(d / "bad.nii.gz").image)
    ref = sitk.GetArrayFromImage(sitk.ReadImage(str(d / "bad.nrrd")))
    assert np.isfinite(plain).all() and (~np.isfinite(ref)).sum() == 8
    np.testing.assert_array_equal(ours, ref)  # NaN == NaN here


def test_a_csf_roi_of_only_nan_is_an_error(case, tmp_path, capsys):
    d, p, *_ = case
    img = sitk.ReadImage(str(d / "bad.nrrd"))
    a = sitk.GetArrayFromImage(img)
    a[sitk.GetArrayFromImage(sitk.ReadImage(str(p["labelmap"]))) == 7] = np.nan
    out = sitk.GetImageFromArray(a)
    out.CopyInformation(img)
    sitk.WriteImage(out, str(tmp_path / "csfnan.nii.gz"))
    assert main(["score", str(tmp_path / "csfnan.nii.gz"), str(p["labelmap"]), "--labels", str(p["labels"])]) == 2
    assert "NaN or infinite" in capsys.readouterr().err
