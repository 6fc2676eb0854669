"""Very wide tables (issue 16): a clinical table wider than a spreadsheet holds is refused with one line (a 40 x
1,000,000 CSV took 11.5 GB and died with a MemoryError traceback in ``cohort match``); a wide one is read with
only the columns the command names; a batch manifest with many columns is read in linear time (the duplicate
column check was ``header.count(h)`` per column: 100,000 columns took 98 s)."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from VBQCohortLib.reading.spreadsheet import MAX_COLUMNS, WIDE_TABLE, read_table
from vbq_cli.main import main


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


def _in_thread(fn, seconds):
    """Run ``fn`` and give up after ``seconds`` (a guard against the quadratic run of 98 s, not a speed test)."""
    box = {}

    def target():
        try:
            box["v"] = fn()
        except Exception as exc:  # re-raised in the test's thread
            box["e"] = exc

    th = threading.Thread(target=target, daemon=True)
    th.start()
    th.join(seconds)
    assert not th.is_alive(), f"still running after {seconds} s"
    if "e" in box:
        raise box["e"]
    return box["v"]


def test_manifest_with_many_columns(tmp_path):
    from VBQScoreLib.batch import read_manifest
    from VBQScoreLib.errors import VBQInputError

    n = 100_000
    head = ["case_id", "image", "segmentation"] + [f"c{j}" for j in range(n)]
    row = ["a", "a.nii.gz", "a.seg.nrrd"] + [""] * n
    p = tmp_path / "m.csv"
    p.write_text(",".join(head) + "\n" + ",".join(row) + "\n", encoding="utf-8")
    cases = _in_thread(lambda: read_manifest(p), 60)
    assert [c.case_id for c in cases] == ["a"]
    head[-1] = "c7"
    p.write_text(",".join(head) + "\n" + ",".join(row) + "\n", encoding="utf-8")
    with pytest.raises(VBQInputError, match="duplicate column"):
        _in_thread(lambda: read_manifest(p), 60)
