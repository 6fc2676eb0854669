"""Reader agreement in the Slicer modules, on slicer-core: ``mrml.overlap_nodes`` (two segmentation nodes on the
real MRI), VBQ Score's "Compare with segmentation…" logic and VBQ Cohort's "Agreement" logic (table node in,
ICC table node and Bland-Altman plot nodes out)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

slicer = pytest.importorskip("slicer")
vtk = pytest.importorskip("vtk")
import SimpleITK as sitk  # noqa: E402

from helpers import (  # noqa: E402
    BOX_LABELS,
    REPO,
    RREF,
    box_labels,
    load_module_file,
    load_volume_node,
    segmentation_from_labelmap,
    stub_slicer_gui,
    write_labelmap,
)
from VBQScoreLib import mrml  # noqa: E402
from VBQScoreLib.errors import VBQInputError  # noqa: E402


@pytest.fixture()
def two_readers(real_t1_path, tmp_path):
    img = sitk.ReadImage(str(real_t1_path))
    lab = box_labels(sitk.GetArrayViewFromImage(img).shape)
    other = np.zeros_like(lab)
    other[:, :, 2:] = lab[:, :, :-2]   # reader B: every box two voxels along the image x axis
    scene = slicer.vtkMRMLScene()
    vol = load_volume_node(scene, real_t1_path)
    seg_a = segmentation_from_labelmap(scene, write_labelmap(tmp_path, img, lab, "a.nii.gz"), BOX_LABELS)
    seg_b = segmentation_from_labelmap(scene, write_labelmap(tmp_path, img, other, "b.nii.gz"), BOX_LABELS)
    seg_b.SetName("Reader B")
    return dict(scene=scene, vol=vol, a=seg_a, b=seg_b, lab=lab, other=other, img=img)


def test_overlap_nodes_on_the_real_mri(two_readers):
    t = two_readers
    table = t["scene"].AddNewNodeByClass("vtkMRMLTableNode", "overlap")
    res, warnings = mrml.overlap_nodes(t["vol"], t["a"], t["b"], table)
    assert not warnings and list(res) == ["C2", "C3", "C4", "C5", "C6", "C7", "CSF"]
    spacing_x = t["img"].GetSpacing()[0]
    for value, lv in BOX_LABELS.items():
        a, b = t["lab"] == value, t["other"] == value
        assert res[lv]["dice"] == pytest.approx(2 * (a & b).sum() / (a.sum() + b.sum()), rel=1e-12), lv
        assert res[lv]["hd_max_mm"] == pytest.approx(2 * spacing_x, rel=1e-5)
    tab = table.GetTable()
    assert tab.GetNumberOfRows() == 7 and tab.GetValueByName(1, "Level").ToString() == "C3"
    assert tab.GetValueByName(1, "Dice").ToDouble() == pytest.approx(res["C3"]["dice"])
    assert table.GetColumnUnitLabel("HD95") == "mm"
    assert tab.GetColumnByName("Volume Reader B") is not None
    with pytest.raises(VBQInputError, match="compared with itself"):
        mrml.overlap_nodes(t["vol"], t["a"], t["a"])


def test_vbqscore_compare_with_segmentation(two_readers, monkeypatch):
    t = two_readers
    stub_slicer_gui(monkeypatch, t["scene"])
    module = load_module_file(REPO / "VBQScore" / "VBQScore.py", "VBQScore_compare_under_test")
    logic = module.VBQScoreLogic()
    table, res, warnings = logic.compareSegmentations(t["vol"], t["a"], t["b"])
    assert table.GetName() == "VBQ overlap" and table.GetTable().GetNumberOfRows() == 7
    again, _, _ = logic.compareSegmentations(t["vol"], t["a"], t["b"])
    assert again is table  # reused, not a new node per click
    assert res == mrml.overlap_nodes(t["vol"], t["a"], t["b"])[0]


def test_vbqcohort_agreement_from_a_table_node(monkeypatch, tmp_path):
    import pandas as pd

    from VBQCohortLib.agreement import run_agreement
    from VBQCohortLib.agreement_data import read_long_table

    scene = slicer.vtkMRMLScene()
    stub_slicer_gui(monkeypatch, scene)
    monkeypatch.syspath_prepend(str(REPO / "VBQCohort"))
    module = load_module_file(REPO / "VBQCohort" / "VBQCohort.py", "VBQCohort_agreement_under_test")
    logic = module.VBQCohortLogic()
    path = RREF / "agreement_data_retest.csv"
    node = logic.loadSpreadsheet(str(path))
    out = logic.computeAgreement(node, str(tmp_path / "agreement"))
    ref = run_agreement(read_long_table(path))
    assert out["results"]["icc"] == ref["icc"] and out["results"]["bland_altman"] == ref["bland_altman"]
    t = out["iccTable"].GetTable()
    assert t.GetNumberOfRows() == 6 * 3  # inter overall + intra R1, R2
    rows = [(t.GetValueByName(i, "kind").ToString(), t.GetValueByName(i, "type").ToString(),
             t.GetValueByName(i, "icc").ToDouble()) for i in range(t.GetNumberOfRows())]
    assert rows[1] == ("inter", "ICC2", pytest.approx(ref["icc"]["inter"]["overall"][1]["icc"], rel=1e-12))
    chart = out["blandAltmanChart"]
    assert chart.GetNumberOfPlotSeriesNodes() == 4 and "R1 vs R2" in chart.GetName()
    pts = scene.GetFirstNode("VBQ agreement: Bland-Altman points", "vtkMRMLTableNode").GetTable()
    assert pts.GetNumberOfRows() == 30
    b = ref["bland_altman"]["R1 vs R2"]
    diffs = [pts.GetValueByName(i, "difference").ToDouble() for i in range(30)]
    assert np.mean(diffs) == pytest.approx(b["bias"], rel=1e-12)
    lines = scene.GetFirstNode("VBQ agreement: Bland-Altman lines", "vtkMRMLTableNode").GetTable()
    assert lines.GetValueByName(0, "loa_high").ToDouble() == pytest.approx(b["loa_high"], rel=1e-12)
    assert Path(out["report"]).is_file()
    assert json.loads((tmp_path / "agreement" / "agreement.json").read_text(encoding="utf-8"))["icc"] == ref["icc"]
    # a file path works as well; bad input is one ValueError line
    assert logic.computeAgreement(str(path))["results"]["icc"] == ref["icc"]
    bad = pd.read_csv(path)
    bad = bad[bad.reader == "R1"].assign(session=1).drop_duplicates(["case_id"])
    node2 = scene.AddNewNodeByClass("vtkMRMLTableNode", "bad")
    logic.dataframeToTableNode(bad, node2)
    with pytest.raises(ValueError, match="only one reader"):
        logic.computeAgreement(node2)
