"""Very wide tables (issue 16): a clinical table wider than a spreadsheet holds is refused with one line (a 40 x
1,000,000 CSV took 11.5 GB and died with a MemoryError traceback in ``cohort match``); a wide one is read with
only the columns the command names; a batch manifest with many columns is read in linear time (the duplicate
column check was ``header.count(h)`` per column: 100,000 columns took 98 s)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vbq_cli.main import main
from VBQCohortLib.reading.spreadsheet import MAX_COLUMNS, WIDE_TABLE, read_table


def _cohort(n=40, seed=1):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"pid": [f"P{i:03d}" for i in range(n)], "grp": ["A", "B"] * (n // 2),
                         "age": rng.normal(60, 8, n).round(1), "bmi": rng.normal(26, 3, n).round(1)})


def _wide(path, df, extra):
    pad = pd.DataFrame(np.zeros((len(df), extra), dtype=np.int8), columns=[f"x{j}" for j in range(extra)])
    pd.concat([df, pad], axis=1).to_csv(path, index=False)


def test_absurdly_wide_table_is_refused_with_one_line(tmp_path, capsys):
    p = tmp_path / "w.csv"
    _wide(p, _cohort(), MAX_COLUMNS + 10)
    assert main(["cohort", "match", str(p), "--id", "pid", "--group", "grp", "--treated", "A", "--covariates",
                 "age,bmi", "--out", str(tmp_path / "m.csv")]) == 2
    err = capsys.readouterr().err
    assert f"{MAX_COLUMNS + 14:,} columns" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.csv").exists()


def test_wide_table_reads_only_the_columns_used(tmp_path, capsys):
    df = _cohort()
    narrow, wide = tmp_path / "n.csv", tmp_path / "w.csv"
    df.to_csv(narrow, index=False)
    _wide(wide, df, 3 * WIDE_TABLE)
    args = ["--id", "pid", "--group", "grp", "--treated", "A", "--covariates", "age,bmi"]
    assert main(["cohort", "match", str(narrow), *args, "--out", str(tmp_path / "a.csv")]) == 0
    assert main(["cohort", "match", str(wide), *args, "--out", str(tmp_path / "b.csv")]) == 0
    out = capsys.readouterr()
    assert f"{3 * WIDE_TABLE + 4} columns; only the 4 named by the command were read" in out.out + out.err
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    pd.testing.assert_frame_equal(a, b)  # the same match; the unused columns were never read
    t, warnings = read_table(wide, needed=["PID", "grp"])  # names as labels.fold compares them
    assert list(t.columns) == ["pid", "grp"] and any("only the 2" in w for w in warnings)
    t, _ = read_table(narrow, needed=["pid"])  # a narrow table is read whole
    assert list(t.columns) == ["pid", "grp", "age", "bmi"]


def test_manifest_with_many_columns(tmp_path):
    from VBQScoreLib.batch import read_manifest
    from VBQScoreLib.errors import VBQInputError

    n = 100_000
    head = ["case_id", "image", "segmentation"] + [f"c{j}" for j in range(n)]
    row = ["a", "a.nii.gz", "a.seg.nrrd"] + [""] * n
    p = tmp_path / "m.csv"
    p.write_text(",".join(head) + "\n" + ",".join(row) + "\n", encoding="utf-8")
    cases = read_manifest(p)  # linear in the columns: benchmarks/bench_manifest.py
    assert [c.case_id for c in cases] == ["a"]
    head[-1] = "c7"
    p.write_text(",".join(head) + "\n" + ",".join(row) + "\n", encoding="utf-8")
    with pytest.raises(VBQInputError, match="duplicate column"):
        read_manifest(p)


def _drop_volatile(d):
    """A results dict without what differs between two reads of the same data (paths, hashes, times, warnings)."""
    if isinstance(d, dict):
        return {k: _drop_volatile(v) for k, v in d.items() if k not in ("provenance", "warnings", "inputs")}
    if isinstance(d, list):
        return [_drop_volatile(v) for v in d]
    return d


def test_cohort_analyze_reads_only_the_plan_columns_of_a_wide_table(tmp_path):
    """``vbq cohort analyze`` (``run_analysis``): a table wider than WIDE_TABLE is read with the plan's columns
    only (a warning says so) and gives the same results as the narrow table; before, every column was read."""
    from VBQCohortLib.analysis.run import run_analysis
    from VBQCohortLib.demo import make_cohort

    df = make_cohort(120, 3)
    df["notes"] = "unused"  # a column no part of the plan names
    narrow, wide = tmp_path / "n.csv", tmp_path / "w.csv"
    df.to_csv(narrow, index=False)
    _wide(wide, df, 3 * WIDE_TABLE)
    a = run_analysis(narrow, "lu2024", overrides={"no_matching": True})
    b = run_analysis(wide, "lu2024", overrides={"no_matching": True})
    note = [w for w in b["warnings"] if f"{3 * WIDE_TABLE + df.shape[1]} columns; only the" in w]
    assert len(note) == 1 and not any("named by the command were read" in w for w in a["warnings"])
    n_read = int(note[0].split("only the ")[1].split()[0])
    assert n_read == df.shape[1] - 1  # the plan's columns, not the notes
    assert _drop_volatile(a) == _drop_volatile(b)


def test_cohort_analyze_cli_on_a_wide_table(tmp_path, capsys):
    from VBQCohortLib.demo import make_cohort

    df = make_cohort(120, 3)
    wide = tmp_path / "w.csv"
    _wide(wide, df, 3 * WIDE_TABLE)
    assert main(["cohort", "analyze", str(wide), "--no-matching", "--out", str(tmp_path / "s"), "--quiet"]) == 0
    import json

    r = json.loads((tmp_path / "s" / "results.json").read_text(encoding="utf-8"))
    assert any("named by the command were read" in w for w in r["warnings"])


def test_diagnostic_reads_only_its_columns_of_a_wide_table(tmp_path):
    from VBQCohortLib.diagnostic.analysis import run_diagnostic

    rng = np.random.default_rng(5)
    n = 80
    df = pd.DataFrame({"pid": [f"P{i:03d}" for i in range(n)], "VBQ_overall": rng.normal(3, 0.4, n).round(3)})
    df["dxa"] = (-2 * (df["VBQ_overall"] - 3) + rng.normal(0, 0.5, n)).round(2)
    narrow, wide = tmp_path / "n.csv", tmp_path / "w.csv"
    df.to_csv(narrow, index=False)
    _wide(wide, df, 3 * WIDE_TABLE)
    args = dict(correlate=["dxa"], id_col="pid")
    a = run_diagnostic(narrow, ["VBQ_overall"], ["dxa <= -1"], **args)
    b = run_diagnostic(wide, ["VBQ_overall"], ["dxa <= -1"], **args)
    assert any(f"{3 * WIDE_TABLE + 3} columns; only the 3 named" in w for w in b["warnings"])
    assert _drop_volatile(a) == _drop_volatile(b)


def test_agreement_reads_only_its_columns_of_a_wide_table(tmp_path, capsys):
    """``vbq agreement`` on a long table wider than WIDE_TABLE: only case/reader/value (and session/level when
    present) are read; the same agreement as the narrow table."""
    import json

    rng = np.random.default_rng(7)
    cases = [f"C{i:02d}" for i in range(12)]
    truth = rng.normal(3, 0.4, len(cases))
    rows = [{"case_id": c, "reader": r, "vbq": round(t + (0.1 if r == "R2" else 0) + rng.normal(0, 0.05), 4)}
            for c, t in zip(cases, truth) for r in ("R1", "R2")]
    df = pd.DataFrame(rows)
    narrow, wide = tmp_path / "n.csv", tmp_path / "w.csv"
    df.to_csv(narrow, index=False)
    _wide(wide, df, 3 * WIDE_TABLE)
    assert main(["agreement", str(narrow), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert main(["agreement", str(wide), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    a = json.loads((tmp_path / "a" / "agreement.json").read_text(encoding="utf-8"))
    b = json.loads((tmp_path / "b" / "agreement.json").read_text(encoding="utf-8"))
    assert any(f"{3 * WIDE_TABLE + 3} columns; only the 3 named" in w for w in b["warnings"])
    assert a["icc"] == b["icc"] and a["bland_altman"] == b["bland_altman"]
