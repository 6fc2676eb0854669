"""Atomic outputs (issue 16): modes follow the umask; a report folder changes as one unit even when the process is
killed (SIGKILL) at any step of the swap; what a killed write leaves beside the target is cleaned by the next one.

The kills use the test-only hook of :mod:`VBQScoreLib.atomic` (``VBQ_TEST_ATOMIC_KILL=<step>``: the process
SIGKILLs itself at that step). Before the swap existed the hook did not either: the child then finished and the
``returncode == -9`` checks fail; a folder filled file by file shows up as a mix of the two runs."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from VBQScoreLib.atomic import atomic_directory, clean_leftovers, temporary_name, write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "VBQScore"), str(ROOT / "VBQCohort")]))


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.mark.parametrize("mask,file_mode,dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700),
                                                     (0o002, 0o664, 0o775)])
def test_modes_follow_the_umask(tmp_path, mask, file_mode, dir_mode):
    old = os.umask(mask)
    try:
        write_text_atomic(tmp_path / "a.txt", "x")
        with atomic_directory(tmp_path / "rep") as d:
            (d / "r.txt").write_text("r")
            (d / "tables").mkdir()
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a.txt") == file_mode
    assert _mode(tmp_path / "rep") == dir_mode
    assert _mode(tmp_path / "rep" / "r.txt") == file_mode and _mode(tmp_path / "rep" / "tables") == dir_mode


def test_a_rewritten_folder_keeps_its_mode(tmp_path):
    out = tmp_path / "rep"
    with atomic_directory(out) as d:
        (d / "a").write_text("1")
    os.chmod(out, 0o750)
    with atomic_directory(out) as d:
        (d / "a").write_text("2")
    assert _mode(out) == 0o750 and (out / "a").read_text() == "2"


def _tree(p: Path) -> dict:
    return {q.relative_to(p).as_posix(): q.read_bytes().decode("latin-1") for q in sorted(p.rglob("*"))
            if q.is_file()}


OLD = {"a.txt": "old", "tables/t.csv": "old", "tables/gone.csv": "old", "notes.txt": "mine"}
NEW = {"a.txt": "new", "tables/t.csv": "new", "b.txt": "new", "notes.txt": "mine"}

CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from VBQScoreLib.atomic import atomic_directory
    with atomic_directory(sys.argv[1], drop={"tables/gone.csv"}) as d:
        (d / "tables").mkdir()
        for name in ("a.txt", "tables/t.csv", "b.txt"):
            (d / name).write_text("new")
""")


@pytest.mark.parametrize("step", ["dir-built", "dir-carried", "dir-aside", "dir-swapped"])
def test_folder_swap_killed_at_each_step_leaves_old_or_new(tmp_path, step):
    out = tmp_path / "study"
    (out / "tables").mkdir(parents=True)
    for k, v in OLD.items():
        (out / k).write_text(v)
    p = subprocess.run([sys.executable, "-c", CHILD, str(out)], env=dict(ENV, VBQ_TEST_ATOMIC_KILL=step),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == -signal.SIGKILL, p.stderr
    # after the kill: under the name, the old folder or the new one, whole (aside: not there yet, rolled back below)
    if step == "dir-aside":
        assert not out.exists()
    else:
        assert _tree(out) == (NEW if step == "dir-swapped" else OLD)
    assert any(q.name.endswith(".tmp") for q in tmp_path.iterdir())  # the leftovers the next run must clean
    # the next write to the same folder finishes the cleanup (rolls a half swap back first), then swaps
    restored = clean_leftovers(out)
    assert restored and _tree(out) == (NEW if step == "dir-swapped" else OLD)
    assert sorted(q.name for q in tmp_path.iterdir()) == ["study"]
    with atomic_directory(out) as d:
        (d / "a.txt").write_text("third")
    assert _tree(out)["a.txt"] == "third" and sorted(q.name for q in tmp_path.iterdir()) == ["study"]


def test_file_write_killed_leaves_the_old_file_and_the_next_write_cleans(tmp_path):
    target = tmp_path / "r.csv"
    target.write_text("old")
    child = "import sys; from VBQScoreLib.atomic import write_text_atomic; write_text_atomic(sys.argv[1], 'new')"
    p = subprocess.run([sys.executable, "-c", child, str(target)], env=dict(ENV, VBQ_TEST_ATOMIC_KILL="file-written"),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == -signal.SIGKILL, p.stderr
    left = sorted(q.name for q in tmp_path.iterdir())
    assert len(left) == 2 and left[0].startswith(".r.csv.vbq-") and target.read_text() == "old"
    write_text_atomic(target, "newer")
    assert sorted(q.name for q in tmp_path.iterdir()) == ["r.csv"] and target.read_text() == "newer"


def test_cleanup_touches_only_our_names_of_dead_processes(tmp_path):
    target = tmp_path / "r.csv"
    mine_alive = temporary_name(target)  # this process: alive, kept
    mine_alive.write_text("live")
    others = [".r.csv.tmp", ".r.csv.abc12345.tmp", "r.csv.vbq-000000-1-00000000.tmp", ".other.csv.vbq-x.tmp"]
    for n in others:
        (tmp_path / n).write_text("x")
    # a dead process of another host: not ours to judge
    (tmp_path / ".r.csv.vbq-zzzzzz-999999-0123abcd.tmp").write_text("x")
    assert clean_leftovers(target) == []
    assert mine_alive.exists() and all((tmp_path / n).exists() for n in others)


def _cohort_csv(path: Path) -> None:
    from VBQCohortLib.demo import make_cohort

    make_cohort(120, 3).to_csv(path, index=False)


@pytest.mark.parametrize("step", ["dir-carried", "dir-aside"])
def test_cohort_analyze_killed_during_the_swap(tmp_path, step):
    """The issue's case: a rerun of ``vbq cohort analyze`` into an existing --out killed while its files go in."""
    _cohort_csv(tmp_path / "c.csv")
    out = tmp_path / "s"
    cmd = [sys.executable, "-m", "vbq_cli", "cohort", "analyze", str(tmp_path / "c.csv"), "--out", str(out), "--quiet"]
    assert subprocess.run(cmd, env=ENV, capture_output=True, timeout=300).returncode == 0
    first = {k: v for k, v in _tree(out).items() if k.endswith((".json", ".csv"))}
    assert "matched.csv" in first
    p = subprocess.run(cmd + ["--no-matching"], env=dict(ENV, VBQ_TEST_ATOMIC_KILL=step), capture_output=True,
                       timeout=300)
    assert p.returncode == -signal.SIGKILL
    if step == "dir-carried":  # the old report, whole
        assert {k: v for k, v in _tree(out).items() if k.endswith((".json", ".csv"))} == first
    p = subprocess.run(cmd + ["--no-matching"], env=ENV, capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert sorted(q.name for q in tmp_path.iterdir()) == ["c.csv", "s"]  # no leftovers
    r = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert r["matching"]["enabled"] is False and not (out / "matched.csv").exists()


def test_batch_killed_while_writing_its_tables_then_rerun(tmp_path):
    """The batch CSV pair: a kill while the tables are written leaves hidden temporary files; the next run
    removes them (only ours) and writes the pair."""
    from VBQScoreLib.phantom import make_phantom, write_phantom

    mri = tmp_path / "mri"
    write_phantom(make_phantom(seed=1), mri / "P001", basename="t1", formats=("nifti", "labels"))
    (tmp_path / ".r.csv.keep.tmp").write_text("not ours")
    out = tmp_path / "r.csv"
    cmd = [sys.executable, "-m", "vbq_cli", "batch", str(mri), "--out", str(out), "--workers", "1"]
    p = subprocess.run(cmd, env=dict(ENV, VBQ_TEST_ATOMIC_KILL="file-written"), capture_output=True, timeout=300)
    assert p.returncode == -signal.SIGKILL
    assert [q.name for q in tmp_path.iterdir() if q.name.startswith(".r") and ".vbq-" in q.name]
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    hidden = sorted(q.name for q in tmp_path.iterdir() if q.name.startswith("."))
    assert hidden == [".r.csv.keep.tmp"]  # ours removed, the other file left alone
    assert out.is_file() and "P001" in out.read_text(encoding="utf-8")
