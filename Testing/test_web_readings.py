"""A save of ``vbq web`` is one unit, and a correction keeps the previous reading (``vbq_web.readings``,
Slicer-free): the save runs in a subprocess that is killed with SIGKILL right after each step of the save
(``VBQ_WEB_SAVE_HOOK``); the reader's worklist is then opened again, as a restart does, and the folder must hold
either the whole previous reading or the whole new one -- segmentation, ``result.json`` and ``levels.csv`` of
the same save -- with no temporary file, and the reader's table must be ``vbq batch``'s table of what is there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from VBQScoreLib.measuring.options import ScoreOptions

ROOT = Path(__file__).resolve().parents[1]

#: the subprocess: one complete save of reading A, then (hook set) a save of reading B that dies at a step
SAVE_SCRIPT = r"""
import os, shutil, sys
from VBQScoreLib.measuring.api import score_files
from vbq_web.readings import save_reading
from vbq_web.worklist import Worklist
manifest, out, seg_a, seg_b, image = sys.argv[1:6]
wl = Worklist(manifest, "R1", out)
def save(src):
    return save_reading(wl.folder, "001", lambda p: shutil.copyfile(src, p), lambda p: score_files(image, p))
hook = os.environ.pop("VBQ_WEB_SAVE_HOOK", "")
save(seg_a)
wl.write_table(__import__("VBQScoreLib.measuring.options", fromlist=["x"]).ScoreOptions())
os.environ["VBQ_WEB_SAVE_HOOK"] = hook
result, error, kept = save(seg_b)
print("completed", kept)
"""


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    from VBQScoreLib.phantom import DEFAULT_LEVELS, make_phantom, write_phantom

    root = tmp_path_factory.mktemp("readings-src")
    a = make_phantom(shape=(9, 96, 96), spacing=(3.0, 2.0, 2.0), seed=1)
    b = make_phantom(shape=(9, 96, 96), spacing=(3.0, 2.0, 2.0), seed=1, levels=DEFAULT_LEVELS[1:])
    pa = write_phantom(a, root / "a", formats=("nifti", "seg.nrrd"))
    pb = write_phantom(b, root / "b", formats=("nifti", "seg.nrrd"))
    manifest = root / "manifest.csv"
    manifest.write_text(f"case_id,image\n001,{pa['image']}\n")
    return {"manifest": manifest, "image": str(pa["image"]), "a": Path(pa["seg_nrrd"]), "b": Path(pb["seg_nrrd"])}


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "VBQScore"), str(ROOT / "VBQCohort"),
                                         env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def _batch_table(tmp_path, image, seg):
    from VBQScoreLib.batch import Case, run_batch

    ref = tmp_path / "batch.csv"
    run_batch([Case("001", image, str(seg))], ref, options=ScoreOptions(), workers=0)
    return ref.read_text()


@pytest.mark.parametrize("step", ["staged_seg", "staged", "committed", "prev", "seg", "result_json",
                                  "levels_csv", "applied", None])
def test_kill_at_each_step_of_a_save_then_restart(cases, tmp_path, step):
    from vbq_web.readings import STEPS, sha256_file, trio_matches
    from vbq_web.worklist import Worklist
    from VBQScoreLib.batch import long_path_for  # noqa: F401 - the table layout is vbq batch's

    out = tmp_path / "readings"
    r = subprocess.run([sys.executable, "-c", SAVE_SCRIPT, cases["manifest"], out, cases["a"], cases["b"],
                        cases["image"]], env=_env(VBQ_WEB_SAVE_HOOK=f"{step}:kill" if step else ""),
                       capture_output=True, text=True, timeout=120)
    if step is None:
        assert r.returncode == 0 and "completed True" in r.stdout, r.stderr
    else:
        assert step in STEPS
        assert r.returncode == -signal.SIGKILL, (r.returncode, r.stdout, r.stderr)
    folder = out / "R1"
    wl = Worklist(cases["manifest"], "R1", out)  # the restart
    committed = step not in ("staged_seg", "staged")
    if step not in (None, "applied"):
        assert wl.recovered, "the restart must have found what the killed save left"
    names = sorted(p.name for p in folder.iterdir())
    assert not [n for n in names if n.startswith(".")], names  # no staging folder, no hidden temporary file
    seg = folder / "001.seg.nrrd"
    expected = cases["b"] if committed else cases["a"]
    assert sha256_file(seg) == sha256_file(expected)  # the whole new reading, or the whole previous one
    data = trio_matches(seg, folder / "001.result.json", folder / "001.levels.csv")
    assert data is not None, "result.json and levels.csv must be those of the .seg.nrrd beside them"
    assert data["provenance"]["inputs"]["segmentation"]["path"] == str(seg)
    prev = folder / "001.seg.nrrd.prev"
    if committed:
        assert sha256_file(prev) == sha256_file(cases["a"])  # the corrected reading keeps the previous one
    else:
        assert not prev.exists()
    assert sorted(n for n in names if n != "001.seg.nrrd.prev") == \
        ["001.levels.csv", "001.result.json", "001.seg.nrrd", "results.csv", "results_long.csv"]
    table = wl.write_table(ScoreOptions())
    assert table.read_text() == _batch_table(tmp_path, cases["image"], seg)
    assert cases["a"].read_bytes() and cases["b"].read_bytes()  # the inputs are untouched (still readable)


def test_table_never_trusts_a_result_of_another_segmentation(cases, tmp_path):
    """A result.json beside a .seg.nrrd it was not measured on (a half trio) is not read: the table measures
    the segmentation that is there, as vbq batch does."""
    import shutil

    from vbq_web.worklist import Worklist
    from VBQScoreLib.measuring.api import score_files

    wl = Worklist(cases["manifest"], "R1", tmp_path / "readings")
    f = wl.files(0)
    res_a = score_files(cases["image"], cases["a"])
    shutil.copyfile(cases["b"], f.segmentation)  # the new segmentation beside the old result
    f.result_json.write_text(res_a.to_json() + "\n")
    f.levels_csv.write_text(res_a.to_csv())
    table = wl.write_table(ScoreOptions())
    assert table.read_text() == _batch_table(tmp_path, cases["image"], f.segmentation)
    assert json.loads(f.result_json.read_text())["overall"]["vbq"] != \
        score_files(cases["image"], f.segmentation).overall["vbq"]  # the two really differ


def test_recover_leaves_other_files_alone(tmp_path):
    from vbq_web.readings import recover

    (tmp_path / ".bashrc.tmp").write_text("not ours")
    (tmp_path / ".001.seg.nrrd.abc.tmp").write_text("ours")
    (tmp_path / ".001.save.x1.tmp").mkdir()
    done = recover(tmp_path, ["001"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [".bashrc.tmp"] and len(done) == 2
