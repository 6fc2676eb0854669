"""Shared foundation: level-name parsing, presets, atomic writes, the result layout, CLI start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from VBQScoreLib.atomic import atomic_directory, atomic_write, write_text_atomic
from VBQScoreLib.errors import VBQInputError
from VBQScoreLib.levels import ParsedName, parse_level_list, parse_segment_name
from VBQScoreLib.presets import PRESETS, get_preset
from VBQScoreLib.result import CsfResult, Flag, LevelResult, VBQResult


@pytest.mark.parametrize(
    "name, expected",
    [
        ("C3", ParsedName("level", "C3")),
        ("c3 body", ParsedName("level", "C3")),
        ("vertebrae_C3", ParsedName("level", "C3")),
        ("C3 vertebra", ParsedName("level", "C3")),
        ("Vertebra C3", ParsedName("level", "C3")),
        ("C3_body", ParsedName("level", "C3")),
        ("T12", ParsedName("level", "T12")),
        ("L5 vertebral body", ParsedName("level", "L5")),
        ("S1", ParsedName("level", "S1")),
        ("CSF", ParsedName("csf", "CSF")),
        ("csf", ParsedName("csf", "CSF")),
        ("cisterna magna", ParsedName("csf", "CSF", "cisterna magna")),
        ("CSF cisterna magna", ParsedName("csf", "CSF", "cisterna magna")),
        ("CSF at C2", ParsedName("csf", "CSF", "C2")),
        ("CSF_C5", ParsedName("csf", "CSF", "C5")),
        ("Cerebrospinal fluid", ParsedName("csf", "CSF")),
        ("spinal cord", None),
        ("disc C3-C4", None),
        ("C8", None),
        ("T13", None),
        ("", None),
    ],
)
def test_parse_segment_name(name, expected):
    assert parse_segment_name(name) == expected


def test_parse_level_list():
    assert parse_level_list("C2-C7") == ("C2", "C3", "C4", "C5", "C6", "C7")
    assert parse_level_list("c3-c5, C7") == ("C3", "C4", "C5", "C7")
    assert parse_level_list("T12-L2") == ("T12", "L1", "L2")
    for bad in ("C7-C2", "C9", "X1-C2", ""):
        with pytest.raises(VBQInputError):
            parse_level_list(bad)


def test_presets_match_guide_table():
    table = {
        "lu2024": (("C2", "C3", "C4", "C5", "C6", "C7"), "mean", "mean", "cisterna magna"),
        "soliman2023": (("C3", "C4", "C5", "C6"), "mean", "median", "C2"),
        "razzouk2022": (("C3", "C4", "C5", "C6"), "mean", "median", "C5"),
        "ehresman2020": (("L1", "L2", "L3", "L4"), "mean", "median", "L3"),
    }
    assert set(PRESETS) == set(table)
    for name, (levels, stat, agg, csf) in table.items():
        p = get_preset(name)
        assert (p.levels, p.level_stat, p.aggregate, p.csf_reference) == (levels, stat, agg, csf)
    assert get_preset().name == "lu2024"


def test_custom_presets():
    p = get_preset("custom", levels="C3-C5", aggregate="median")
    assert p.levels == ("C3", "C4", "C5") and p.aggregate == "median"
    q = get_preset("lu2024", aggregate="median")
    assert q.name == "custom" and q.levels == PRESETS["lu2024"].levels
    r = get_preset("lu2024", level_stat="median")
    assert r.name == "lu2024" and r.level_stat == "median"
    for kwargs in ({"name": "nope"}, {"name": "custom"}, {"name": "lu2024", "level_stat": "mode"}):
        with pytest.raises(VBQInputError):
            get_preset(**kwargs)


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    write_text_atomic(target, "first")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write("partial")
            raise RuntimeError("boom")
    assert target.read_text(encoding="utf-8") == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # no temp file left
    with pytest.raises(VBQInputError, match="does not exist"):
        write_text_atomic(tmp_path / "missing" / "x.txt", "x")


def test_atomic_directory(tmp_path):
    out = tmp_path / "report"
    with pytest.raises(RuntimeError):
        with atomic_directory(out) as d:
            (d / "a.txt").write_text("a", encoding="utf-8")
            raise RuntimeError("boom")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with atomic_directory(out) as d:
        (d / "tables").mkdir()
        (d / "tables" / "t.csv").write_text("x", encoding="utf-8")
    assert (out / "tables" / "t.csv").read_text(encoding="utf-8") == "x"
    (out / "keep.txt").write_text("k", encoding="utf-8")
    with atomic_directory(out) as d:
        (d / "tables").mkdir()
        (d / "tables" / "t.csv").write_text("y", encoding="utf-8")
    assert (out / "tables" / "t.csv").read_text(encoding="utf-8") == "y" and (out / "keep.txt").read_text(encoding="utf-8") == "k"


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


def test_cli_help_is_fast_and_lazy():
    """`vbq --help` must not import the heavy libraries."""
    code = (
        "import sys; from vbq_cli.main import build_parser; build_parser().format_help(); "
        "heavy = [m for m in ('SimpleITK','pandas','statsmodels','matplotlib','dask','scipy','slicer') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.stdout.strip() == ""


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


def test_csf_segment_name_parses_back_to_the_preset_reference():
    from VBQScoreLib.presets import csf_segment_name

    expected = {"lu2024": "CSF cisterna magna", "soliman2023": "CSF at C2", "razzouk2022": "CSF at C5",
                "ehresman2020": "CSF at L3"}
    for name, csf in expected.items():
        p = get_preset(name)
        assert csf_segment_name(p) == csf
        assert parse_segment_name(csf) == ParsedName("csf", "CSF", p.csf_reference)
    assert csf_segment_name(get_preset("custom", levels="C3-C5")) == "CSF"
