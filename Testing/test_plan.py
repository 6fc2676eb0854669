"""Analysis plans: the built-in lu2024, user files (YAML/JSON), defaults, overrides and validation."""

from __future__ import annotations

import json

import pytest

from VBQCohortLib.plan import load_plan, plan_from_dict
from VBQScoreLib.errors import VBQInputError

MINIMAL = {"name": "mine", "columns": {"id": "pid", "group": "dx", "treated": "A", "control": "B",
                                       "levels": ["VBQ_C3"], "covariates": ["age"]}}


def test_lu2024_builtin():
    p = load_plan("lu2024")
    assert p.name == "lu2024"
    assert p.levels == [f"VBQ_C{i}" for i in range(2, 8)]
    assert p.columns["treated"] == "OPLL" and p.columns["control"] == "CSM"
    m = p.matching
    assert (m["method"], m["distance"], m["ratio"], m["caliper"], m["std_caliper"], m["replace"], m["order"]) == (
        "nearest", "logit", 1, 0.2, True, False, "largest")
    assert p.predictors == ["bmi", "hypertension", "calcium_supplement", "smoking"]
    assert p.comparison["p_adjust"] == "holm" and p.segmental["p_adjust"] == "holm"
    assert p.sex_stratified["enabled"] and p.sex_stratified["column"] == "sex"
    assert p.categorical == ["diet"]
    json.dumps(p.to_dict())  # JSON-safe for provenance


def test_user_file_yaml_and_json_take_defaults(tmp_path):
    import yaml

    y = tmp_path / "plan.yaml"
    y.write_text(yaml.safe_dump(MINIMAL), encoding="utf-8")
    j = tmp_path / "plan.json"
    j.write_text(json.dumps({**MINIMAL, "matching": {"caliper": None, "distance": "ps"}}), encoding="utf-8")
    py, pj = load_plan(str(y)), load_plan(j)
    assert py.matching["distance"] == "logit" and py.matching["caliper"] == 0.2  # defaults
    assert pj.matching["distance"] == "ps" and pj.matching["caliper"] is None
    assert py.predictors == ["age"]  # no predictors given: the covariates
    assert py.source == str(y)


@pytest.mark.parametrize("patch, words", [
    ({"colums": {}}, "unknown key 'colums'"),
    ({"matching": {"calliper": 0.2}}, "unknown key 'calliper'"),
    ({"matching": {"distance": "mahalanobis"}}, "matching.distance 'mahalanobis'"),
    ({"matching": {"ratio": "two"}}, "matching.ratio must be a whole number"),
    ({"matching": {"replace": "yes"}}, "matching.replace must be true/false"),
    ({"matching": {"caliper": -1}}, "matching.caliper -1 must be > 0"),
    ({"comparison": {"p_adjust": "sidak"}}, "comparison.p_adjust 'sidak'"),
    ({"columns": {"id": None}}, "columns.id"),
    ({"columns": {"treated": "B"}}, "treated and control group are both"),
    ({"columns": {"levels": []}}, "columns.levels is empty"),
    ({"columns": {"covariates": ["age", "VBQ_C3"]}}, "both a VBQ level and a covariate"),
    ({"columns": {"categorical": ["diet"]}}, "categorical column(s) diet"),
    ({"logistic": {"sample": "matched"}}, "logistic.sample must be 'full'"),
])
def test_bad_plans_one_line(patch, words):
    d = json.loads(json.dumps(MINIMAL))
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            d[k].update(v)
        else:
            d[k] = v
    with pytest.raises(VBQInputError) as ei:
        plan_from_dict(d, "x.yaml")
    msg = str(ei.value)
    assert words in msg and "\n" not in msg and "x.yaml" in msg


def test_bad_files(tmp_path):
    with pytest.raises(VBQInputError, match="no such file, and not a built-in plan"):
        load_plan(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns: [unclosed\n", encoding="utf-8")
    with pytest.raises(VBQInputError, match="not valid YAML"):
        load_plan(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(VBQInputError, match="empty"):
        load_plan(empty)
    badj = tmp_path / "bad.json"
    badj.write_text("{", encoding="utf-8")
    with pytest.raises(VBQInputError, match="not valid JSON"):
        load_plan(badj)


def test_overrides():
    p = load_plan("lu2024")
    q = p.with_overrides(id="pid", covariates="age,sex", no_matching=True, caliper=0.1, replace=True)
    assert q.columns["id"] == "pid" and q.covariates == ["age", "sex"]
    assert q.predictors == ["age", "sex"]  # the issue: covariates unless --predictors
    assert q.categorical == []  # diet is no longer a covariate
    assert not q.matching_enabled and q.comparison["sample"] == "full"
    assert q.matching["caliper"] == 0.1 and q.matching["replace"] is True
    assert q.overrides["no_matching"] is True
    r = p.with_overrides(covariates=["age", "bmi"], predictors=["bmi"])
    assert r.predictors == ["bmi"]
    assert p.with_overrides(no_caliper=True).matching["caliper"] is None
    assert p.with_overrides(method="optimal").matching["caliper"] is None  # optimal matching has no caliper
    assert p.with_overrides(method="nearest").matching["caliper"] == 0.2
    assert not p.with_overrides(sex_column="").sex_stratified["enabled"]
    assert p.covariates[0] == "age" and p.matching_enabled  # original untouched
    with pytest.raises(VBQInputError, match="matching.distance"):
        p.with_overrides(distance="euclid")


def test_cli_bad_plan_file_exit_2_no_output(tmp_path, capsys):
    from vbq_cli.main import main

    plan = tmp_path / "p.yaml"
    plan.write_text("matching:\n  calliper: 0.2\n", encoding="utf-8")
    data = tmp_path / "d.csv"
    data.write_text("pid,grp,age,L1\n1,A,50,2\n", encoding="utf-8")
    out = tmp_path / "out"
    code = main(["cohort", "analyze", str(data), "--plan", str(plan), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown key 'calliper'" in err and err.count("\n") == 1
    assert not out.exists()
