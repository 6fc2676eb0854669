"""The two tables of ``vbq batch`` change as one unit as far as a file system allows (issue 16).

``results.csv`` and ``results_long.csv`` were two renames, wide first: a SIGKILL between them left a new wide
table beside an old long one, and nothing could tell. Now the long table goes in first, then ``results.csv.sha256``
(the SHA-256 of both new tables, ``sha256sum -c`` format), then the wide table last (the commit point);
:func:`VBQScoreLib.batch.check_pair` tells a mismatched pair, and ``--resume`` measures again what it cannot trust.
The kills use the test-only hook of :mod:`VBQScoreLib.atomic` (``VBQ_TEST_ATOMIC_KILL=<step>``); before the fix
the steps ``pair-long`` / ``pair-checksums`` did not exist, the child finished and ``returncode == -9`` fails."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from VBQScoreLib.batch import LONG_COLUMNS, check_pair, checksums_path_for, write_tables

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "VBQScore"), str(ROOT / "VBQCohort")]))


@pytest.fixture(scope="module")
def mri(tmp_path_factory):
    from VBQScoreLib.phantom import make_phantom, write_phantom

    d = tmp_path_factory.mktemp("pair") / "mri"
    for k, cid in enumerate(("P001", "P002")):
        write_phantom(make_phantom(seed=k + 1), d / cid, basename="t1", formats=("nifti", "labels"))
    return d


def _batch(mri, out, *extra, kill=None):
    cmd = [sys.executable, "-m", "vbq_cli", "batch", str(mri), "--out", str(out), "--workers", "0",
           "--no-progress", *extra]
    env = dict(ENV, VBQ_TEST_ATOMIC_KILL=kill) if kill else ENV
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def _rows(p: Path) -> list[dict]:
    with open(p, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _pair_agrees(out: Path) -> bool:
    """Every level VBQ of the wide table is the one of its long rows (the two tables are one run's)."""
    wide = {r["case_id"]: r for r in _rows(out)}
    long = _rows(out.with_name(out.stem + "_long.csv"))
    pairs = [(wide[r["case_id"]][f"VBQ_{r['level']}"], r["vbq"]) for r in long if r["level"] != "CSF"]
    return bool(pairs) and all(w == v for w, v in pairs)


def test_a_finished_run_writes_a_checkable_pair(mri, tmp_path):
    out = tmp_path / "r.csv"
    p = _batch(mri, out)
    assert p.returncode == 0, p.stderr
    sums = checksums_path_for(out)
    assert sums.name == "r.csv.sha256" and check_pair(out) is None and _pair_agrees(out)
    if shutil.which("sha256sum"):  # the standard tool reads it
        assert subprocess.run(["sha256sum", "-c", sums.name], cwd=tmp_path, capture_output=True).returncode == 0
    long = out.with_name("r_long.csv")
    long.write_text(long.read_text(encoding="utf-8").replace("P002", "P003"), encoding="utf-8")
    msg = check_pair(out)
    assert msg and "r_long.csv" in msg and "not one pair" in msg


@pytest.mark.parametrize("step", ["pair-long", "pair-checksums"])
def test_kill_between_the_renames_is_detected_and_resume_repairs(mri, tmp_path, step):
    out = tmp_path / "r.csv"
    assert _batch(mri, out).returncode == 0
    old_wide, old_long = out.read_bytes(), out.with_name("r_long.csv").read_bytes()
    p = _batch(mri, out, "--erode-mm", "1", kill=step)  # other settings: other values in both tables
    assert p.returncode == -signal.SIGKILL, p.stderr
    # the wide table (the commit point) is still the old one, the long one is new: a mismatch, and it is told
    assert out.read_bytes() == old_wide and out.with_name("r_long.csv").read_bytes() != old_long
    assert not _pair_agrees(out)
    assert check_pair(out) is not None
    p = _batch(mri, out, "--erode-mm", "1", "--resume")
    assert p.returncode == 0, p.stderr
    assert check_pair(out) is None and _pair_agrees(out)
    assert {r["erode_mm"] for r in _rows(out)} == {"1.0"}
    assert sorted(q.name for q in tmp_path.iterdir()) == ["r.csv", "r.csv.sha256", "r_long.csv"]


def test_resume_measures_again_what_a_mismatched_pair_holds(mri, tmp_path):
    """No journal (the run finished), but the long table is not the one of the wide table: ``--resume`` does not
    keep those cases (before the fix it kept both as they were: 2 of them kept from the previous run)."""
    out = tmp_path / "r.csv"
    assert _batch(mri, out).returncode == 0
    long = out.with_name("r_long.csv")
    rows = _rows(long)
    rows[1]["vbq"] = "9.999"
    with open(long, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(LONG_COLUMNS), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    p = _batch(mri, out, "--resume")
    assert p.returncode == 0, p.stderr
    assert "measured again" in p.stderr and "kept from the previous run" not in p.stderr
    assert check_pair(out) is None and _pair_agrees(out) and "9.999" not in long.read_text(encoding="utf-8")


def test_leftovers_of_older_versions_are_cleaned_when_recognisably_ours(tmp_path):
    """Temporary files under tempfile's random names (``.r.csv.<8 random>.tmp``, the versions before the
    recognisable names) are removed when they hold our table header and are not fresh; nothing else."""
    out = tmp_path / "r.csv"
    old = time.time() - 3600
    ours = {".r.csv.a1b2c3d4.tmp": "case_id,status,VBQ_C3\nP1,ok,3\n",
            ".r_long.csv.k_9x2m3q.tmp": ",".join(LONG_COLUMNS) + "\nP1,C3\n"}
    kept = {".r.csv.zz11yy22.tmp": "case_id,status,VBQ_C3\n",  # ours but fresh: maybe a live writer
            ".r.csv.q1w2e3r4.tmp": "x\n",  # not our content
            ".r.csv.abc.tmp": "case_id,status\n",  # not tempfile's name
            ".other.csv.a1b2c3d4.tmp": "case_id,status,\n"}  # another target
    for name, text in {**ours, **kept}.items():
        (tmp_path / name).write_text(text)
        if name != ".r.csv.zz11yy22.tmp":
            os.utime(tmp_path / name, (old, old))
    rec = {"case_id": "P1", "status": "ok", "wide": {"case_id": "P1", "status": "ok", "VBQ_C3": 3.0},
           "long": [{"case_id": "P1", "level": "C3", "vbq": 3.0}]}
    write_tables([rec], out, preset_levels=["C3"])
    names = {q.name for q in tmp_path.iterdir()}
    assert names == {"r.csv", "r_long.csv", *kept}  # no checksums file unless asked (vbq batch asks)
    write_tables([rec], out, preset_levels=["C3"], checksums=True)
    assert check_pair(out) is None and checksums_path_for(out).is_file()
