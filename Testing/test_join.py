"""Joining a clinical table with VBQ results (vbq batch wide CSV, vbq score --csv long rows, long tables)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from VBQCohortLib.join import join_vbq, read_vbq_table
from VBQScoreLib.errors import VBQInputError


def _clinical():
    # ids as read_table gives numbers: floats; one text id
    return pd.DataFrame({"pid": [1.0, 2.0, 7.0, 9.0], "age": [50.0, 60.0, 70.0, 80.0]})


def test_wide_batch_csv(tmp_path):
    p = tmp_path / "vbq.csv"
    p.write_text("case_id,status,VBQ_C2,VBQ_C3,VBQ_overall,CSF_SI,flags,error\n"
                 "001,ok,3.1,2.9,3.0,200,,\n"
                 "002,failed,,,,,,image not found\n"
                 "007,ok,2.5,2.25,2.375,210,TINY_ROI:C3,\n"
                 "042,ok,2.0,2.0,2.0,190,,\n", encoding="utf-8")
    clin = _clinical()
    before = clin.copy()
    out, info = join_vbq(clin, p, id_col="pid", levels=["VBQ_C2", "VBQ_C3"])
    pd.testing.assert_frame_equal(clin, before)  # input not modified
    assert info["format"] == "wide"
    assert info["n_clinical"] == 4 and info["n_vbq"] == 4 and info["n_joined"] == 3
    assert info["only_in_clinical"] == ["9"]
    assert info["only_in_vbq"] == ["42"]
    assert info["failed"] == ["2"]
    assert out["VBQ_C3"].tolist()[0] == 2.9 and out["VBQ_C3"].tolist()[2] == 2.25
    assert math.isnan(out["VBQ_C3"].tolist()[1])  # failed case -> missing
    assert math.isnan(out["VBQ_C2"].tolist()[3])  # not measured -> missing
    assert out["VBQ_overall"].tolist()[2] == 2.375


def test_long_score_csv_rows(tmp_path):
    # rows of `vbq score --csv` with a case id column; CSF rows ignored
    p = tmp_path / "long.csv"
    p.write_text("case_id,level,segment,mean,vbq,overall_vbq\n"
                 "A,C2,C2,600,3.0,2.75\nA,C3,C3,500,2.5,2.75\nA,CSF,CSF,200,,2.75\n"
                 "B,C2,C2,640,3.2,3.2\n", encoding="utf-8")
    clin = pd.DataFrame({"patient": ["A", "B", "C"], "x": [1, 2, 3]})
    out, info = join_vbq(clin, p, id_col="patient")
    assert info["format"] == "long"
    assert out["VBQ_C2"].tolist()[:2] == [3.0, 3.2]
    assert out["VBQ_C3"].tolist()[0] == 2.5 and math.isnan(out["VBQ_C3"].tolist()[1])
    assert out["VBQ_overall"].tolist()[0] == 2.75
    assert info["only_in_clinical"] == ["C"] and info["only_in_vbq"] == []


def test_long_dataframe_with_clinical_id_name():
    vbq = pd.DataFrame({"patient": ["A", "A"], "Level": ["c3", "C4"], "VBQ": [2.5, 2.6]})
    clin = pd.DataFrame({"patient": ["A"]})
    out, _ = join_vbq(clin, vbq, id_col="patient")
    assert out[["VBQ_C3", "VBQ_C4"]].iloc[0].tolist() == [2.5, 2.6]


@pytest.mark.parametrize("text, words", [
    ("case_id,level,vbq\nA,C3,2.5\nA,C3,2.6\n", "case 'A' has level C3 more than once"),
    ("case_id,VBQ_C3\nA,2.5\nA,2.7\n", "duplicate case id 'A' (rows 2, 3)"),
    ("case_id,VBQ_C3\nA,2.5\nB,high\n", "column 'VBQ_C3' has text where a number is expected (rows 3"),
    ("case_id,foo\nA,1\n", "neither a wide VBQ table"),
    ("foo,VBQ_C3\nA,1\n", "no case id column"),
])
def test_bad_vbq_tables(tmp_path, text, words):
    p = tmp_path / "v.csv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(VBQInputError) as ei:
        read_vbq_table(p)
    assert words in str(ei.value) and str(p) in str(ei.value)


def test_missing_level_and_file(tmp_path):
    p = tmp_path / "v.csv"
    p.write_text("case_id,VBQ_C3\nA,2.5\n", encoding="utf-8")
    with pytest.raises(VBQInputError, match="no VBQ column.*VBQ_C7"):
        join_vbq(pd.DataFrame({"pid": ["A"]}), p, id_col="pid", levels=["VBQ_C3", "VBQ_C7"])
    with pytest.raises(VBQInputError, match="not found"):
        join_vbq(pd.DataFrame({"pid": ["A"]}), tmp_path / "none.csv", id_col="pid")
    with pytest.raises(VBQInputError, match="id column 'id'"):
        join_vbq(pd.DataFrame({"pid": ["A"]}), p, id_col="id")


def test_join_real_vbq_batch_output(tmp_path):
    """The wide and long CSVs that `vbq batch` writes join back to the clinical table with the phantom truth."""
    from VBQScoreLib.batch import Case, long_path_for, run_batch
    from VBQScoreLib.phantom import make_phantom, write_phantom

    cases, truth = [], {}
    for k, cid in enumerate(["007", "012"]):
        ph = make_phantom(level_si={"C3": 500.0 + 40 * k}, csf_si=200.0, shape=(5, 256, 256), noise_sd=0.0,
                          seed=k)
        w = write_phantom(ph, tmp_path / cid, formats=("nifti", "labels"))
        cases.append(Case(cid, str(w["image"]), str(w["labelmap"]), str(w["labels"])))
        truth[cid] = ph.truth["vbq"]
    cases.append(Case("013", str(tmp_path / "missing.nii.gz"), str(tmp_path / "missing.nii.gz")))
    out_csv = tmp_path / "vbq.csv"
    run_batch(cases, out_csv, scheduler="synchronous")
    clin = pd.DataFrame({"pid": [7.0, 12.0, 13.0, 20.0]})  # numeric ids as read from a spreadsheet
    for path in (out_csv, long_path_for(out_csv)):
        out, info = join_vbq(clin, path, id_col="pid", levels=["VBQ_C3"])
        assert out["VBQ_C3"].iloc[0] == pytest.approx(truth["007"]["C3"], rel=1e-9)
        assert out["VBQ_C3"].iloc[1] == pytest.approx(truth["012"]["C3"], rel=1e-9)
        assert math.isnan(out["VBQ_C3"].iloc[2]) and math.isnan(out["VBQ_C3"].iloc[3])
        assert info["only_in_clinical"] == (["20"] if info["format"] == "wide" else ["13", "20"])
    _, info = join_vbq(clin, out_csv, id_col="pid")
    assert info["failed"] == ["13"]


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(ids=st.lists(st.integers(0, 10_000), min_size=1, max_size=30, unique=True),
       pad=st.integers(0, 6), keep=st.data())
def test_join_property_zero_padding_order_and_counts(ids, pad, keep):
    """Numeric clinical ids match zero-padded text ids; rows keep their order and count; values land on the
    right patient; ids on one side only are reported exactly."""
    chosen = keep.draw(st.lists(st.sampled_from(ids), unique=True, max_size=len(ids)))
    extra = [max(ids) + 1 + k for k in range(keep.draw(st.integers(0, 3)))]
    vbq = pd.DataFrame({"case_id": [str(i).zfill(pad) for i in chosen + extra],
                        "VBQ_C3": [i / 1000 + 1 for i in chosen + extra]})
    clin = pd.DataFrame({"pid": [float(i) for i in ids]})
    out, info = join_vbq(clin, vbq, id_col="pid")
    assert out["pid"].tolist() == clin["pid"].tolist()
    for i, v in zip(ids, out["VBQ_C3"]):
        if i in chosen:
            assert v == i / 1000 + 1
        else:
            assert math.isnan(v)
    assert sorted(info["only_in_clinical"]) == sorted(str(i) for i in ids if i not in chosen)
    assert sorted(info["only_in_vbq"]) == sorted(str(i) for i in extra)
    assert info["n_joined"] == len(chosen)
