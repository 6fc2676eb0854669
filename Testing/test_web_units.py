"""The Slicer-free parts of ``vbq web``: the command line (bad input, the missing [web] extra), the reader
worklist (manifest, resume, blinding, the reader's table) and the throttle of the live table."""

from __future__ import annotations

import asyncio
import csv
import io
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from helpers import REPO


def _main(argv):
    from vbq_cli.main import main

    err = io.StringIO()
    with redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


def test_without_the_web_extra_one_line_says_how_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("trame", "trame_slicer") else real(name, *a))
    code, err = _main(["web", "t1.nii.gz"])
    assert code == 2
    assert err == 'vbq web: error: vbq web needs the web extra: pip install "slicervbq[web]" (in a checkout: ' \
                  'pip install -e ".[web]")\n'


def test_pip_install_dot_stays_light():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = " ".join(project["dependencies"]).lower()
    assert "trame" not in names and "slicer-core" not in names and "playwright" not in names
    extras = project["optional-dependencies"]
    assert any(r.startswith("trame-slicer") for r in extras["web"])
    # one slicer-core for the MRML tests and the web app (trame-slicer 2.0 needs < 5.12)
    assert [r for r in extras["test"] if r.startswith("slicer-core")] == \
        [r for r in extras["web"] if r.startswith("slicer-core")] == ["slicer-core==5.11.0.6"]
    assert any(r.startswith("playwright") for r in extras["test"])


def _manifest(tmp_path, rows, header=("case_id", "image")):
    path = tmp_path / "manifest.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.mark.parametrize("argv, message", [
    (["--worklist", "{m}"], "--worklist needs --reader NAME (the readings go to OUT/NAME/)"),
    (["--worklist", "{m}", "--reader", "../R2"], "--reader '../R2' must be letters, digits, '-', '_' or '.'"),
    (["--worklist", "{m}", "--reader", "R1", "t1.nii.gz"], "--worklist takes the images from the manifest"),
    (["t1.nii.gz", "--reader", "R1"], "--reader applies to --worklist"),
    (["t1.nii.gz", "--port", "70000"], "--port 70000: a port is a number from 0 to 65535"),
    (["t1.nii.gz", "--erode-mm", "-1"], "--erode-mm -1: erosion margin must be a finite number of mm >= 0"),
    (["--worklist", "{missing}", "--reader", "R1"], "manifest not found"),
])
def test_bad_command_lines_are_one_line(tmp_path, argv, message):
    pytest.importorskip("trame_slicer", reason="the worklist checks run after the [web] check")
    m = _manifest(tmp_path, [["001", str(tmp_path / "a.nii.gz")]])
    argv = [a.format(m=m, missing=tmp_path / "none.csv") for a in argv]
    code, err = _main(["web", *argv, "--out", str(tmp_path / "out")])
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert err.startswith("vbq web: error: ")


def test_worklist_manifest_resume_and_blinding(tmp_path):
    from vbq_web.worklist import Worklist
    from VBQScoreLib.errors import VBQInputError

    m = _manifest(tmp_path, [["001", "a.nii.gz", "ignored.seg.nrrd"], ["002", "b.nii.gz", ""],
                             ["003", "c.nii.gz", ""]], header=("case_id", "image", "segmentation"))
    wl = Worklist(m, "R1", tmp_path / "readings")
    assert [c.case_id for c in wl.cases] == ["001", "002", "003"] and len(wl) == 3
    assert wl.cases[0].image == str(tmp_path / "a.nii.gz")  # relative to the manifest, as vbq batch reads it
    assert wl.folder == tmp_path / "readings" / "R1" and wl.folder.is_dir()
    assert wl.files(1).segmentation == wl.folder / "002.seg.nrrd"
    assert (wl.resume_index(), wl.progress_text(0), wl.n_read()) == (0, "1 of 3", 0)
    wl.files(0).segmentation.write_bytes(b"x")
    assert wl.resume_index() == 1 and wl.n_read() == 1
    wl.remember(2)  # the reader was on 003 (unread): back there, not to the first unread case
    assert Worklist(m, "R1", tmp_path / "readings").resume_index() == 2
    wl.files(2).segmentation.write_bytes(b"x")
    assert wl.resume_index() == 1  # 003 read: the next unread one after it, wrapping round
    wl.files(1).segmentation.write_bytes(b"x")
    assert wl.resume_index() == 2  # all read: where the reader was
    # another reader's folder is never looked at
    other = Worklist(m, "R2", tmp_path / "readings")
    assert other.n_read() == 0 and other.resume_index() == 0
    bad = _manifest(tmp_path, [["../x", "a.nii.gz"]])
    with pytest.raises(VBQInputError, match="case_id '../x' must be letters"):
        Worklist(bad, "R1", tmp_path / "readings")
    with pytest.raises(VBQInputError, match="missing column"):
        Worklist(_manifest(tmp_path, [["001"]], header=("case_id",)), "R1", tmp_path / "readings")


def test_worklist_table_is_the_batch_layout(tmp_path):
    """Reader table from saved readings = vbq batch's table for the same cases (phantom cases, no Slicer)."""
    from vbq_web.worklist import Worklist
    from VBQScoreLib.api import score_files
    from VBQScoreLib.batch import Case, run_batch
    from VBQScoreLib.options import ScoreOptions
    from VBQScoreLib.phantom import make_phantom, write_phantom

    rows, cases = [], []
    for cid, seed in (("007", 1), ("012", 2)):
        ph = make_phantom(shape=(9, 96, 96), spacing=(3.0, 2.0, 2.0), seed=seed)
        paths = write_phantom(ph, tmp_path / "src" / cid, formats=("nifti", "seg.nrrd"))
        rows.append([cid, paths["image"]])
        cases.append((cid, paths))
    wl = Worklist(_manifest(tmp_path, rows), "R1", tmp_path / "readings")
    opts = ScoreOptions()
    for i, (cid, paths) in enumerate(cases):  # what Save leaves: the reading and vbq score's JSON of it
        seg = wl.files(i).segmentation
        seg.write_bytes(Path(paths["seg_nrrd"]).read_bytes())
        if cid == "007":
            wl.files(i).result_json.write_text(score_files(paths["image"], seg, options=opts).to_json())
    table = wl.write_table(opts)  # 012 has no JSON: measured again by vbq batch's own case runner
    ref = tmp_path / "batch.csv"
    run_batch([Case(cid, p["image"], str(wl.files(i).segmentation)) for i, (cid, p) in enumerate(cases)], ref,
              options=opts, workers=0)
    assert table.read_text() == ref.read_text()
    assert (wl.folder / "results_long.csv").read_text() == (tmp_path / "batch_long.csv").read_text()


def test_throttle_leading_edge_then_one_trailing_run():
    import time

    from vbq_web.throttle import Throttle

    runs = []
    t = Throttle(lambda requested_at: runs.append((time.perf_counter(), requested_at)), min_interval=0.2)

    async def scenario():
        t.request()  # after a quiet time: measured at once, before anything else runs
        assert len(runs) == 1 and not t.pending
        first = runs[0][0]
        for _ in range(5):  # more changes right after: merged into one run at the end of the interval
            t.request()
        assert t.pending and len(runs) == 1
        await asyncio.sleep(0.35)
        assert len(runs) == 2 and runs[1][0] - first >= 0.2 - 1e-3
        await asyncio.sleep(0.25)
        t.request()  # quiet again: at once
        assert len(runs) == 3

    asyncio.run(scenario())
    t.request()  # without a running loop (scripts): at once
    assert len(runs) == 4 and not t.pending


def test_csf_location_check_cisterna_magna_and_level():
    """The page's CSF-location check on masks made here: S of a voxel = k mm (identity geometry)."""
    import numpy as np

    from vbq_web.csf_check import check, s_coordinates

    def mask(k0, k1):
        m = np.zeros((80, 4, 4), np.uint8)
        m[k0:k1, 1:3, 1:3] = 1
        return m

    eye = np.eye(4)
    levels = {"C2": s_coordinates(mask(50, 60), eye), "C3": s_coordinates(mask(35, 45), eye)}
    assert s_coordinates(np.zeros((3, 3, 3)), eye) is None
    above = s_coordinates(mask(66, 70), eye)  # the cisterna magna: above C2's top (59)
    canal = s_coordinates(mask(38, 42), eye)  # beside C3
    assert check(above, levels, "cisterna magna", "lu2024") is None
    line = check(canal, levels, "cisterna magna", "lu2024")
    assert line.startswith("CSF_LOCATION - ") and "height of C3" in line and "lu2024" in line
    assert check(canal, levels, "C3", "razzouk2022") is None  # at C3, as that preset wants
    assert "not beside C2" in check(canal, levels, "C2", "soliman2023")
    assert check(canal, levels, "C5", "x") is None and check(canal, levels, "any", "x") is None  # nothing to say
