"""Level names (segment names read as spine levels or CSF, level lists) and the VBQ presets."""

from __future__ import annotations

import pytest

from VBQScoreLib.errors import VBQInputError
from VBQScoreLib.levels import ParsedName, parse_level_list, parse_segment_name
from VBQScoreLib.presets import PRESETS, get_preset


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


def test_csf_segment_name_parses_back_to_the_preset_reference():
    from VBQScoreLib.presets import csf_segment_name

    expected = {"lu2024": "CSF cisterna magna", "soliman2023": "CSF at C2", "razzouk2022": "CSF at C5",
                "ehresman2020": "CSF at L3"}
    for name, csf in expected.items():
        p = get_preset(name)
        assert csf_segment_name(p) == csf
        assert parse_segment_name(csf) == ParsedName("csf", "CSF", p.csf_reference)
    assert csf_segment_name(get_preset("custom", levels="C3-C5")) == "CSF"
