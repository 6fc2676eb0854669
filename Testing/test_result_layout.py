"""The VBQ result (VBQScoreLib.result): the `vbq score --json` layout, its round trip, NaN as null, the CSV rows."""

from __future__ import annotations

import json

from VBQScoreLib.result import CsfResult, Flag, LevelResult, VBQResult


def _result():
    lv = LevelResult("C3", "C3 body", 10, 8.0, 300.0, 301.0, 5.0, 290.0, 310.0, 280.0, 320.0, 5 / 300, vbq=3.0)
    csf = CsfResult("CSF", "CSF", 20, 16.0, 100.0, 100.0, 2.0, 97.0, 103.0, 95.0, 105.0, 0.02, "cisterna magna")
    return VBQResult([lv], csf, {"vbq": 3.0, "preset": "lu2024", "levels": ["C3"]},
                     [Flag("MISSING_LEVEL", "C2", "C2 has no ROI.")], {"software": "test"})


def test_result_layout_and_round_trip():
    r = _result()
    d = json.loads(r.to_json())
    assert set(d) == {"levels", "csf", "overall", "flags", "provenance"}
    assert {"name", "n_voxels", "volume_mm3", "mean", "median", "sd", "vbq"} <= set(d["levels"][0])
    assert {"name", "n_voxels", "mean", "median"} <= set(d["csf"])
    assert d["flags"] == [{"code": "MISSING_LEVEL", "level": "C2", "message": "C2 has no ROI."}]
    assert VBQResult.from_dict(d).to_dict() == d
    row = r.level_rows()[0]
    assert row["level"] == "C3" and row["vbq"] == 3.0 and row["csf_mean"] == 100.0 and row["flags"] == ""


def test_result_nan_becomes_null():
    r = _result()
    r.levels[0].sd = float("nan")
    assert json.loads(r.to_json())["levels"][0]["sd"] is None


def test_result_csv_is_level_rows_exactly():
    import csv
    import io

    from VBQScoreLib.result import LEVEL_CSV_COLUMNS

    r = _result()
    r.levels[0].sd = None
    rows = list(csv.DictReader(io.StringIO(r.to_csv())))
    assert tuple(rows[0]) == LEVEL_CSV_COLUMNS == tuple(r.level_rows()[0])
    assert rows[0]["vbq"] == "3.0" and rows[0]["sd"] == "" and float(rows[0]["cv"]) == 5 / 300
    r.levels = []
    assert r.to_csv() == ",".join(LEVEL_CSV_COLUMNS) + "\n"  # header only, as `vbq score --csv` writes
