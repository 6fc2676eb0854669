"""``vbq web`` worklists as readers use them, in headless Chromium: one session per reader (``--readers``), one
writer per session (a second browser on a link is read-only), corrections of a saved case (the previous
reading kept as ``.prev``, the input untouched), a server killed in the middle of a save and started again, and
no console errors. Screenshots at 1280x720 go to the test's folder. Skips without Chromium/playwright.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("trame_slicer", reason="vbq web needs the [web] extra (pip install -e '.[test,web]')")
pytest.importorskip("playwright", reason="playwright (PyPI) drives the browser: pip install -e '.[test,web]'")
from vbq_web import browser as B  # noqa: E402

if B.chromium_path() is None:
    pytest.skip("no Chromium (Debian: apt-get install chromium)", allow_module_level=True)

W, H = 1280, 720


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@contextmanager
def _browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=B.chromium_path(), args=B.CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def _page(browser, errors: list, name: str = ""):
    """A page in a fresh browser context (its own cookies: another browser), console errors collected."""
    page = browser.new_context(viewport={"width": W, "height": H}).new_page()
    page.on("console", lambda m: errors.append(f"{name}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"{name}: {e}"))
    return page


def _wait_text(page, selector, text, timeout=30000):
    page.wait_for_function(
        "([sel, text]) => { const e = document.querySelector(sel); return e && e.innerText.includes(text); }",
        arg=[selector, text], timeout=timeout)


def _open(page, url):
    page.goto(url)
    B.wait_rendered(page)
    page.wait_for_function("() => window.trame.state.get('vbq_me')")


def _label(page, csf=True):
    """Create level segments, a Quick ROI into C3 and (``csf``) one into CSF, with real clicks and keys."""
    page.click("#vbq-create-segments")
    page.wait_for_function("() => (window.trame.state.get('vbq_rows') || []).length > 0 || "
                           "(window.trame.state.get('vbq_not_computed') || '').includes('CSF')")
    page.keyboard.press("3")
    page.wait_for_function("() => window.trame.state.get('vbq_active_level') === 'C3'")
    page.click("#vbq-tool-quick_roi")
    page.wait_for_function("() => window.trame.state.get('vbq_tool') === 'quick_roi'")
    B.click_view(page, 0.5, 0.5)
    _wait_text(page, "#vbq-info", "Quick ROI C3")
    if csf:
        page.keyboard.press("c")
        page.wait_for_function("() => window.trame.state.get('vbq_active_level') === 'CSF'")
        B.click_view(page, 0.63, 0.45)
        _wait_text(page, "#vbq-info", "Quick ROI CSF")


def _manifest(tmp_path, image, ids, segmentation=None):
    path = tmp_path / "manifest.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case_id", "image", "segmentation"])
        for cid in ids:
            w.writerow([cid, image, segmentation or ""])
    return path


def _children(pid: int) -> list:
    r = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(x) for x in r.stdout.split()]


def test_two_readers_at_once_each_sees_only_their_own(real_t1_path, tmp_path):
    manifest = _manifest(tmp_path, real_t1_path, ["001", "002"])
    readings = tmp_path / "readings"
    errors: list = []
    server = B.Server(["--worklist", manifest, "--readers", "R1,R2", "--out", readings], n_urls=2)
    try:
        assert set(server.urls) == {"R1", "R2"}
        links = [line for line in server.stdout if "vbq web: open" in line]
        for reader, url in server.urls.items():
            assert "?token=" in url and url.startswith("http://127.0.0.1:")
            assert any(line.strip().endswith(f"[reader {reader}]") and "in a browser (Ctrl+C stops)" in line
                       for line in links)
        assert server.urls["R1"].split("/?")[0] != server.urls["R2"].split("/?")[0]  # own port each
        assert server.urls["R1"].split("token=")[1] != server.urls["R2"].split("token=")[1]  # own token each
        children = _children(server.proc.pid)
        assert len(children) == 2
        with _browser() as browser:
            p1, p2 = _page(browser, errors, "R1"), _page(browser, errors, "R2")
            _open(p1, server.urls["R1"])
            _open(p2, server.urls["R2"])
            _wait_text(p1, "#vbq-read-count", "reader R1: 0 of 2 read")
            _wait_text(p2, "#vbq-read-count", "reader R2: 0 of 2 read")
            _label(p1)
            p1.keyboard.press("Control+s")
            p1.wait_for_selector("#vbq-saved")
            _wait_text(p1, "#vbq-read-count", "reader R1: 1 of 2 read")
            # R2's session is another process: R1's reading is not in it
            assert p2.locator("#vbq-table").count() == 0
            _wait_text(p2, "#vbq-read-count", "reader R2: 0 of 2 read")
            _wait_text(p2, "#vbq-not-computed", "Create level segments")
            # blinding: R2's session cannot open R1's reading, even asked directly
            p2.evaluate("([img, seg]) => window.trame.trigger('vbq_load', [img, seg])",
                        [str(real_t1_path), str(readings / "R1" / "001.seg.nrrd")])
            p2.wait_for_selector("#vbq-error")
            assert "cases are opened with Next/Previous" in p2.locator("#vbq-error").inner_text()
            assert p2.locator("#vbq-table").count() == 0
            p1.screenshot(path=str(tmp_path / "reader-R1.png"))
            p2.screenshot(path=str(tmp_path / "reader-R2.png"))
        assert (readings / "R1" / "001.seg.nrrd").is_file() and not (readings / "R2" / "001.seg.nrrd").exists()
        assert errors == []
    finally:
        pid = server.proc.pid
        children = _children(pid)
        server.proc.send_signal(signal.SIGINT)  # Ctrl+C: all readers' sessions stop
        server.proc.wait(timeout=60)
        server.stop()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{c}") for c in children):
        time.sleep(0.2)
    assert not [c for c in children if os.path.exists(f"/proc/{c}")], "a reader's session outlived Ctrl+C"


def test_second_browser_on_a_link_is_read_only(real_t1_path, tmp_path):
    manifest = _manifest(tmp_path, real_t1_path, ["001", "002"])
    readings = tmp_path / "readings"
    errors: list = []
    with B.Server(["--worklist", manifest, "--reader", "R1", "--out", readings]) as server, _browser() as browser:
        a = _page(browser, errors, "A")
        _open(a, server.url)
        b = _page(browser, errors, "B")
        _open(b, server.url)
        b.wait_for_selector("#vbq-other-window")
        assert "open in another" in b.locator("#vbq-other-window").inner_text().lower()
        assert a.locator("#vbq-other-window").count() == 0
        b.screenshot(path=str(tmp_path / "second-window.png"))
        # B tries everything a page can send: keys, the triggers themselves, a paint stroke, a state change
        b.keyboard.press("PageDown")
        for name in ("vbq_next", "vbq_create_segments", "vbq_save", "vbq_go_to"):
            b.evaluate("(n) => window.trame.trigger(n, n === 'vbq_go_to' ? [1] : [])", name)
        b.evaluate("() => window.trame.state.set('vbq_roi_radius', 19)")
        b.wait_for_timeout(1500)
        assert B.state(a, "vbq_progress") == "1 of 2" and B.state(a, "vbq_rows") == []
        assert B.state(a, "vbq_roi_radius") != 19 and not (readings / "R1" / "001.seg.nrrd").exists()
        # A works as usual
        _label(a)
        csf, info = B.table(a)["CSF"]["voxels"], B.state(a, "vbq_info")
        # B hides the cover and clicks into the view while A's Quick ROI tool is on: the server refuses the
        # view events of the second window (else a Quick ROI would grow there)
        b.evaluate("() => { document.querySelector('#vbq-other-window').style.display = 'none'; }")
        B.click_view(b, 0.45, 0.3)
        b.wait_for_timeout(1500)
        assert B.table(a)["CSF"]["voxels"] == csf and B.state(a, "vbq_info") == info
        a.keyboard.press("Control+s")
        a.wait_for_selector("#vbq-saved")
        a.keyboard.press("PageDown")
        _wait_text(a, "#vbq-progress", "2 of 2")
        _wait_text(b, "#vbq-progress", "2 of 2")  # B watches
        assert b.locator("#vbq-other-window").count() == 1
        # A closes: B becomes the session's window and may edit
        a.context.close()
        b.wait_for_selector("#vbq-other-window", state="detached", timeout=15000)
        b.keyboard.press("PageUp")
        _wait_text(b, "#vbq-progress", "1 of 2")
    assert errors == []


def test_back_to_a_saved_case_corrects_it_and_keeps_the_previous(real_t1_path, tmp_path):
    given = tmp_path / "given.seg.nrrd"  # a segmentation column in the manifest: never read, never written
    given.write_bytes(b"NRRD0004\n# not to be touched\n")
    manifest = _manifest(tmp_path, real_t1_path, ["001", "002"], segmentation=given)
    before = _sha(given)
    readings = tmp_path / "readings"
    r1 = readings / "R1"
    errors: list = []
    with B.Server(["--worklist", manifest, "--reader", "R1", "--out", readings]) as server, _browser() as browser:
        page = _page(browser, errors)
        _open(page, server.url)
        _label(page)
        page.keyboard.press("Control+s")
        page.wait_for_selector("#vbq-saved")
        first = _sha(r1 / "001.seg.nrrd")
        page.keyboard.press("PageDown")
        _wait_text(page, "#vbq-progress", "2 of 2")
        page.keyboard.press("PageUp")  # back to the saved case: the reader's reading is the working one
        _wait_text(page, "#vbq-progress", "1 of 2")
        page.wait_for_function("() => (window.trame.state.get('vbq_rows') || []).some(r => r.level === 'C3' && "
                               "r.voxels > 0)")
        page.keyboard.press("4")
        page.wait_for_function("() => window.trame.state.get('vbq_active_level') === 'C4'")
        page.click("#vbq-tool-quick_roi")
        B.click_view(page, 0.5, 0.62)  # a correction: C4 added
        _wait_text(page, "#vbq-info", "Quick ROI C4")
        page.keyboard.press("Control+s")
        _wait_text(page, "#vbq-info", "previous reading is kept as 001.seg.nrrd.prev")
        assert page.locator("#vbq-error").count() == 0
        page.screenshot(path=str(tmp_path / "correction.png"))
        page.keyboard.press("PageDown")  # Next after the correction works
        _wait_text(page, "#vbq-progress", "2 of 2")
        page.keyboard.press("PageUp")
        _wait_text(page, "#vbq-progress", "1 of 2")
        assert page.locator("#vbq-error").count() == 0
    assert _sha(r1 / "001.seg.nrrd.prev") == first and _sha(r1 / "001.seg.nrrd") != first
    saved = json.loads((r1 / "001.result.json").read_text())
    assert saved["provenance"]["inputs"]["segmentation"]["sha256"] == _sha(r1 / "001.seg.nrrd")
    assert [lv["n_voxels"] > 0 for lv in saved["levels"] if lv["name"] in ("C3", "C4")] == [True, True]
    assert _sha(given) == before
    assert errors == []


@pytest.mark.parametrize("step", ["staged", "committed", "seg"])
def test_server_killed_during_a_save_then_restarted(real_t1_path, tmp_path, step):
    """kill -9 of the server in the middle of a correction's save (VBQ_WEB_SAVE_HOOK), then a restart: the
    reading is whole (the previous one before the commit, the new one after), nothing half-written is left, and
    the reader's table is vbq batch's of what is on disk."""
    from vbq_web.readings import trio_matches

    manifest = _manifest(tmp_path, real_t1_path, ["001", "002"])
    readings = tmp_path / "readings"
    r1 = readings / "R1"
    args = ["--worklist", manifest, "--reader", "R1", "--out", readings]
    errors: list = []
    with B.Server(args, env={"VBQ_WEB_SAVE_HOOK": f"{step}:kill"}) as server, _browser() as browser:
        page = _page(browser, errors)
        _open(page, server.url)
        _label(page)
        page.keyboard.press("Control+s")
        server.proc.wait(timeout=60)
        assert server.proc.returncode == -signal.SIGKILL
    with B.Server(args) as server:  # the restart
        recovered = "".join(server.stdout)
    names = sorted(p.name for p in r1.iterdir())
    assert not [n for n in names if n.startswith(".")], names
    if step == "staged":  # killed before the commit: no reading, as if never saved
        assert "001.seg.nrrd" not in names
        assert "removed an unfinished save" in recovered
    else:
        assert "finished an interrupted save" in recovered
        f = [r1 / "001.seg.nrrd", r1 / "001.result.json", r1 / "001.levels.csv"]
        assert trio_matches(*f) is not None
        rows = list(csv.DictReader(open(r1 / "results.csv")))
        assert [(r["case_id"], r["status"]) for r in rows] == [("001", "ok")]
        saved = json.loads(f[1].read_text())
        assert float(rows[0]["VBQ_overall"]) == saved["overall"]["vbq"]
