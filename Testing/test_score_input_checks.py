"""What `vbq score` accepts and refuses: bad labels files, an MRI given as the segmentation, CSF reference values,
one UNKNOWN_SEGMENT flag however many unknown segments, no ITK chatter on stderr."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from helpers import run_vbq
from vbq_cli.main import main
from VBQScoreLib.api import score_arrays, score_files
from VBQScoreLib.errors import VBQInputError
from VBQScoreLib.options import ScoreOptions
from VBQScoreLib.segments import Segment, read_label_map


def _image_and_labelmap(tmp_path):
    img = np.zeros((6, 8, 8), np.int16)
    lab = np.zeros((6, 8, 8), np.uint8)
    img[:, :4, :] = 300
    lab[1:5, 1:3, 1:7] = 1  # C3: SI 300
    img[:, 4:, :] = 100
    lab[1:5, 5:7, 1:7] = 2  # CSF: SI 100
    im, lm = sitk.GetImageFromArray(img), sitk.GetImageFromArray(lab)
    sitk.WriteImage(im, str(tmp_path / "t1.nrrd"))
    sitk.WriteImage(lm, str(tmp_path / "seg.nrrd"))
    return im, lm


def test_labels_file_naming_one_level_twice_is_an_error(tmp_path):
    f = tmp_path / "labels.txt"
    f.write_text("# my labels\n1=C3\n2=c3\n3=CSF\n", encoding="utf-8")
    with pytest.raises(VBQInputError, match=r"labels.txt line 3: name 'c3' is already given to label 1 on line 2"):
        read_label_map(f)


def test_mri_given_as_segmentation_is_refused(tmp_path, real_t1_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("1=C3\n2=CSF\n", encoding="utf-8")
    with pytest.raises(VBQInputError, match="does not look like a labelmap"):
        score_files(real_t1_path, real_t1_path.with_name(real_t1_path.name), labels=labels)


@pytest.mark.parametrize("ref, ok", [("cisterna magna", True), ("C2", True), ("csf at c5", True), ("nope", False)])
def test_csf_reference_values(tmp_path, ref, ok, capsys):
    _image_and_labelmap(tmp_path)
    (tmp_path / "labels.txt").write_text("1=C3\n2=CSF\n", encoding="utf-8")
    code = main(["score", str(tmp_path / "t1.nrrd"), str(tmp_path / "seg.nrrd"), "--labels",
                 str(tmp_path / "labels.txt"), "--csf-reference", ref, "--json", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    if ok:
        assert code == 0 and (tmp_path / "r.json").exists()
    else:
        assert code == 2 and not (tmp_path / "r.json").exists()
        assert err.count("\n") == 1 and "CSF reference 'nope'" in err


def test_many_unknown_segments_give_one_flag(tmp_path):
    im, lm = _image_and_labelmap(tmp_path)
    arr = sitk.GetArrayFromImage(lm)
    segs = []
    for value, name in ((1, "C3"), (2, "CSF")):
        m = sitk.GetImageFromArray((arr == value).astype(np.uint8))
        m.CopyInformation(lm)
        segs.append(Segment(name=name, mask=m))
    for k in range(12):
        m = sitk.GetImageFromArray(np.zeros_like(arr))
        m.CopyInformation(lm)
        segs.append(Segment(name=f"muscle {k}", mask=m))
    r = score_arrays(im, segs, ScoreOptions())
    unknown = [f for f in r.flags if f.code == "UNKNOWN_SEGMENT"]
    assert len(unknown) == 1 and "12 segments" in unknown[0].message and "and 7 more" in unknown[0].message
    assert r.level("C3").vbq == 3.0


def test_folder_without_dicom_gives_one_line_and_no_itk_warning(tmp_path):
    folder = tmp_path / "not_dicom"
    folder.mkdir()
    (folder / "notes.txt").write_text("no images here", encoding="utf-8")
    _image_and_labelmap(tmp_path)
    (tmp_path / "labels.txt").write_text("1=C3\n2=CSF\n", encoding="utf-8")
    p = run_vbq("score", folder, tmp_path / "seg.nrrd", "--labels", tmp_path / "labels.txt")
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "no DICOM series" in p.stderr, p.stderr
