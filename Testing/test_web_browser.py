"""``vbq web`` in a real browser: the command as a user starts it, the page in headless Chromium (playwright,
system /usr/bin/chromium), real mouse and keyboard events, the table read from the DOM and compared with
``vbq score`` / ``vbq batch`` on the saved files. Skips (with the reason) without Chromium or playwright; CI
installs both and makes skips failures.
"""

from __future__ import annotations

import csv
import json
import shutil
import time

import pytest

pytest.importorskip("trame_slicer", reason="vbq web needs the [web] extra (pip install -e '.[test,web]')")
pytest.importorskip("playwright", reason="playwright (PyPI) drives the browser: pip install -e '.[test,web]'")
from helpers import run_vbq  # noqa: E402
from vbq_web import browser as B  # noqa: E402

if B.chromium_path() is None:
    pytest.skip("no Chromium (Debian: apt-get install chromium)", allow_module_level=True)


def _vbq(*argv, cwd=None):
    r = run_vbq(*argv, cwd=cwd)
    assert r.returncode == 0, r.stderr
    return r


def _wait_text(page, selector, text, timeout=30000):
    page.wait_for_function(
        "([sel, text]) => { const e = document.querySelector(sel); return e && e.innerText.includes(text); }",
        arg=[selector, text], timeout=timeout)


def _wait_table(page, pred, timeout=30000):
    """Wait until the DOM table satisfies ``pred(table)``; returns the table."""
    deadline = time.monotonic() + timeout / 1000
    while time.monotonic() < deadline:
        t = B.table(page)
        if t and pred(t):
            return t
        page.wait_for_timeout(50)
    raise AssertionError(f"table never became as expected: {B.table(page)}")


def _label(page, paint=True):
    """Create level segments, a Quick ROI click into C3 (key 3 selects it) and, with ``paint``, one paint stroke
    into CSF (key C): all with real mouse/keyboard events. Returns the seconds from releasing the mouse button
    at the end of the stroke to the table showing the painted CSF."""
    page.click("#vbq-create-segments")
    _wait_text(page, "#vbq-not-computed", "CSF")
    page.keyboard.press("3")
    page.wait_for_function("() => window.trame.state.get('vbq_active_level') === 'C3'")
    page.click("#vbq-tool-quick_roi")
    page.wait_for_function("() => window.trame.state.get('vbq_tool') === 'quick_roi'")
    B.click_view(page, 0.5, 0.5)
    _wait_text(page, "#vbq-info", "Quick ROI C3")
    if not paint:
        return None
    page.keyboard.press("c")
    page.wait_for_function("() => window.trame.state.get('vbq_active_level') === 'CSF'")
    page.click("#vbq-tool-paint")
    page.wait_for_function("() => window.trame.state.get('vbq_tool') === 'paint'")
    released = B.stroke_view(page, [(0.62, 0.35), (0.64, 0.45), (0.63, 0.55)])
    _wait_table(page, lambda t: "CSF" in t and (t["CSF"]["voxels"] or 0) > 0)
    return time.perf_counter() - released


def test_label_in_chromium_and_compare_with_vbq_score(real_t1_path, tmp_path):
    out = tmp_path / "out"
    with B.Server([real_t1_path, "--out", out]) as server, B.browser_page() as page:
        page.goto(server.url)
        B.wait_rendered(page)
        interactive = time.perf_counter() - server.started
        assert page.locator("#vbq-title").inner_text().strip() == "VBQ sct_t1w"
        stroke_to_table = _label(page)
        t = B.table(page)
        assert t["C3"]["voxels"] > 0 and t["CSF"]["voxels"] > 0 and t["C4"]["voxels"] == 0
        page.keyboard.press("Control+s")
        page.wait_for_selector("#vbq-saved")
        page.screenshot(path=str(tmp_path / "page.png"))
        shown = B.table(page)
        info = page.locator("#vbq-info").inner_text()
    print(f"\nvbq web: URL after {server.url_seconds:.1f} s, page rendered {interactive:.1f} s after the start; "
          f"table {1000 * stroke_to_table:.0f} ms after the end of a stroke (seen in the browser)")
    assert "Saved sct_t1w.seg.nrrd, sct_t1w.result.json, sct_t1w.levels.csv" in info
    _vbq("score", real_t1_path, out / "sct_t1w.seg.nrrd", "--json", tmp_path / "score.json", "--quiet")
    ref = json.loads((tmp_path / "score.json").read_text())
    saved = json.loads((out / "sct_t1w.result.json").read_text())
    ref["provenance"].pop("timestamp"), saved["provenance"].pop("timestamp")
    assert saved["levels"] == ref["levels"] and saved["csf"] == ref["csf"] and saved["overall"] == ref["overall"]
    # the DOM's table is vbq score's result on the saved files: exact numbers, and the digits shown
    for lv in ref["levels"]:
        row = shown[lv["name"]]
        assert (row["voxels"], row["vbq"]) == (lv["n_voxels"], lv["vbq"])
        if lv["vbq"] is not None:
            assert row["si"] == lv["mean"]
            assert row["text"] == [lv["name"], str(lv["n_voxels"]), f"{lv['mean']:.1f}", f"{lv['vbq']:.3f}"]
    assert shown["CSF"]["si"] == ref["csf"]["mean"] and shown["CSF"]["voxels"] == ref["csf"]["n_voxels"]
    assert shown["Overall"]["vbq"] == ref["overall"]["vbq"]
    assert shown["Overall"]["text"][-1] == f"{ref['overall']['vbq']:.3f}"


def test_open_files_in_the_page(real_t1_path, tmp_path):
    """No IMAGE on the command line: the MRI comes through the page's Open dialog; a bad file is a message."""
    bad = tmp_path / "notes.nii.gz"
    bad.write_text("this is not an MRI")
    with B.Server(["--out", tmp_path]) as server, B.browser_page() as page:
        page.goto(server.url)
        page.wait_for_selector("#vbq-open")
        assert "Open an MRI" in page.locator("#vbq-not-computed").inner_text()
        for path, expect in ((bad, None), (real_t1_path, "sct_t1w")):
            page.click("#vbq-open")
            page.locator(".v-dialog input[type=file]").first.set_input_files(str(path))
            page.wait_for_function("() => (window.trame.state.get('vbq_upload_image_names') || []).length > 0")
            page.click("#vbq-upload-open")
            if expect is None:
                page.wait_for_selector("#vbq-error")
                message = page.locator("#vbq-error").inner_text().strip()
                assert "notes.nii.gz" in message and "\n" not in message
                page.keyboard.press("Escape")
            else:
                B.wait_rendered(page)
                _wait_text(page, "#vbq-title", expect)
        assert page.locator("#vbq-error").count() == 0  # the good file clears the message
    r = run_vbq("score", bad, tmp_path / "x.seg.nrrd")
    # the same reader gave the same reason (the page names the uploaded file, vbq score the path given)
    assert r.returncode == 2 and message.split(": ", 1)[1] == r.stderr.strip().split(": ", 3)[3]


def _manifest(tmp_path, image, ids):
    path = tmp_path / "manifest.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case_id", "image"])
        for cid in ids:
            w.writerow([cid, image])
    return path


def test_worklist_of_three_resumes_after_a_restart(real_t1_path, tmp_path):
    manifest = _manifest(tmp_path, real_t1_path, ["001", "002", "003"])
    readings = tmp_path / "readings"
    args = ["--worklist", manifest, "--reader", "R1", "--out", readings]
    with B.Server(args) as server, B.browser_page() as page:
        page.goto(server.url)
        B.wait_rendered(page)
        _wait_text(page, "#vbq-progress", "1 of 3")
        _label(page)
        page.keyboard.press("PageDown")  # next case: the unsaved reading of 001 is saved first
        _wait_text(page, "#vbq-progress", "2 of 3")
        B.wait_rendered(page)
        assert "No segments yet" in page.locator("#vbq-not-computed").inner_text()
        _label(page, paint=False)  # a reading without CSF: saved, but VBQ cannot be computed
        page.click("#vbq-next")
        _wait_text(page, "#vbq-progress", "3 of 3")
        _wait_text(page, "#vbq-read-count", "2 of 3 read")
    r1 = readings / "R1"
    assert sorted(p.name for p in r1.iterdir()) == ["001.levels.csv", "001.result.json", "001.seg.nrrd",
                                                    "002.seg.nrrd", "results.csv", "results_long.csv",
                                                    "worklist.json"]
    # the reader's table is what vbq batch writes for the same readings
    batch_manifest = tmp_path / "batch.csv"
    batch_manifest.write_text(f"case_id,image,segmentation\n001,{real_t1_path},{r1 / '001.seg.nrrd'}\n"
                              f"002,{real_t1_path},{r1 / '002.seg.nrrd'}\n")
    run_vbq("batch", batch_manifest, "--out", tmp_path / "batch.csv.out", "--workers", "0")
    assert (r1 / "results.csv").read_text() == (tmp_path / "batch.csv.out").read_text()
    assert (r1 / "results_long.csv").read_text() == (tmp_path / "batch.csv_long.out").read_text()
    rows = list(csv.DictReader(open(r1 / "results.csv")))
    assert [(r["case_id"], r["status"]) for r in rows] == [("001", "ok"), ("002", "failed")]
    assert "CSF" in rows[1]["error"]
    # another reader's reading of 003 exists: R1 must never see it
    r2 = readings / "R2"
    r2.mkdir()
    shutil.copy(r1 / "001.seg.nrrd", r2 / "003.seg.nrrd")
    with B.Server(args) as server, B.browser_page() as page:
        page.goto(server.url)
        B.wait_rendered(page)
        _wait_text(page, "#vbq-progress", "3 of 3")  # resumed where R1 stopped
        assert "003" in page.locator("#vbq-title").inner_text()
        _wait_text(page, "#vbq-not-computed", "No segments yet")  # blinded: not R2's segmentation
        _wait_text(page, "#vbq-read-count", "2 of 3 read")
        page.keyboard.press("PageUp")
        _wait_text(page, "#vbq-progress", "2 of 3")
        _wait_text(page, "#vbq-not-computed", "CSF")  # R1's own reading of 002 is back (C3, no CSF)
        page.keyboard.press("PageUp")
        _wait_text(page, "#vbq-progress", "1 of 3")
        shown = _wait_table(page, lambda t: "C3" in t)
    saved = json.loads((r1 / "001.result.json").read_text())
    assert shown["C3"]["vbq"] == saved["levels"][1]["vbq"] and shown["Overall"]["vbq"] == saved["overall"]["vbq"]
