"""Drive ``vbq web`` as a person does, for the browser tests, the screenshot script and the benchmark: start the
command as a subprocess on a free loopback port, open the page in headless Chromium (playwright, pointed at the
system ``/usr/bin/chromium``: no browser is ever downloaded) and wait until a slice view shows the rendered MRI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
#: the flags that work on these machines (headless, no sandbox, no GPU, nothing fetched in the background)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
URL_RE = re.compile(r"vbq web: open (https?://\S+) in a browser")
READER_RE = re.compile(r"\[reader (\S+)\]\s*$")


def chromium_path() -> str | None:
    """The system Chromium, or None (``CHROMIUM`` first, then ``chromium`` on PATH)."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


class Server:
    """A running ``vbq web`` subprocess: ``url`` (the printed link, with its ``?token=``), ``started`` (clock
    time of the launch), ``url_seconds`` (launch to the URL printed), ``log`` (its stderr file). With
    ``--readers``, ``n_urls`` links are awaited: ``urls`` maps each reader to their link (``url`` is the first)."""

    def __init__(self, args, cwd=None, timeout: float = 120.0, env: dict | None = None, n_urls: int = 1):
        self.log = Path(tempfile.mkstemp(prefix="vbq-web-", suffix=".log")[1])
        self.started = time.perf_counter()
        self._err = open(self.log, "w", encoding="utf-8")
        self.proc = subprocess.Popen([sys.executable, "-m", "vbq_cli", "web", *map(str, args), "--port", "0",
                                      "--no-browser"], cwd=cwd, stdout=subprocess.PIPE, stderr=self._err,
                                     stdin=subprocess.DEVNULL, text=True, bufsize=1,
                                     env=None if env is None else {**os.environ, **env})
        self.url = None
        self.urls: dict = {}
        self.stdout: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                if self.proc.poll() is not None:
                    break
                continue
            self.stdout.append(line)
            m = URL_RE.search(line)
            if m:
                reader = READER_RE.search(line)
                self.urls[reader.group(1) if reader else ""] = m.group(1)
                self.url = self.url or m.group(1)
                if len(self.urls) >= n_urls:
                    break
        self.url_seconds = time.perf_counter() - self.started
        if self.url is None or len(self.urls) < n_urls:
            self.stop()
            raise RuntimeError(f"vbq web did not print its URL: {''.join(self.stdout)} {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self._err.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


@contextmanager
def browser_page(width: int = 1500, height: int = 900):
    """A playwright page in a fresh headless Chromium (a new temporary profile)."""
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise RuntimeError("no chromium: apt-get install chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


#: JS: the views' images, once one shows a rendered picture (not blank): mean brightness of each view image
VIEW_BRIGHTNESS_JS = """() => Array.from(document.querySelectorAll('img.image-display-area')).map((img) => {
  if (!img.complete || !img.naturalWidth) { return -1; }
  const c = document.createElement('canvas');
  c.width = 64; c.height = 64;
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0, 64, 64);
  const d = g.getImageData(0, 0, 64, 64).data;
  let s = 0;
  for (let i = 0; i < d.length; i += 4) { s += d[i] + d[i + 1] + d[i + 2]; }
  return s / (3 * 64 * 64);
})"""


def wait_rendered(page, timeout_ms: int = 60000) -> float:
    """Wait until the first slice view shows the MRI (its image is not blank); returns its mean brightness."""
    page.wait_for_function(f"() => {{ const b = ({VIEW_BRIGHTNESS_JS})(); return b.length > 0 && b[0] > 5; }}",
                           timeout=timeout_ms)
    return page.evaluate(VIEW_BRIGHTNESS_JS)[0]


def view_box(page, index: int = 0) -> dict:
    """Bounding box (page pixels) of slice view ``index`` (0: the sagittal view, 1: the axial view)."""
    return page.locator(".remote-controlled-area").nth(index).bounding_box()


def click_view(page, fx: float, fy: float, index: int = 0) -> None:
    """A real mouse click (move, press, release) at fraction (fx, fy) of a slice view."""
    b = view_box(page, index)
    page.mouse.move(b["x"] + fx * b["width"], b["y"] + fy * b["height"])
    page.wait_for_timeout(100)
    page.mouse.down()
    page.wait_for_timeout(100)
    page.mouse.up()


def stroke_view(page, points, index: int = 0, steps: int = 4, before_release=None):
    """A real mouse stroke through view fractions ``points``; returns the clock time of the button release.
    ``before_release(page)``: called with the button still down (a benchmark marks the release there)."""
    b = view_box(page, index)
    xy = [(b["x"] + fx * b["width"], b["y"] + fy * b["height"]) for fx, fy in points]
    page.mouse.move(*xy[0])
    page.wait_for_timeout(100)
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=steps)
        page.wait_for_timeout(50)
    if before_release is not None:
        before_release(page)
    released = time.perf_counter()
    page.mouse.up()
    return released


def table(page) -> dict:
    """The VBQ table as the page shows it: ``{level: {"voxels", "si", "vbq", "text": [cells...]}}`` read from
    the DOM (cell texts, and the exact numbers in the rows' data attributes)."""
    rows = page.evaluate("""() => Array.from(document.querySelectorAll('#vbq-table tbody tr')).map((tr) => ({
        level: tr.dataset.level, voxels: tr.dataset.voxels, si: tr.dataset.si, vbq: tr.dataset.vbq,
        text: Array.from(tr.querySelectorAll('td')).map((td) => td.innerText.trim()) }))""")

    def num(v, kind):
        return None if v in (None, "", "null") else kind(v)

    return {r["level"]: {"voxels": num(r["voxels"], int), "si": num(r["si"], float), "vbq": num(r["vbq"], float),
                         "text": r["text"]} for r in rows}


def state(page, key: str):
    """A value of the page's trame state (for waiting; assertions read the DOM)."""
    return page.evaluate(f"() => window.trame.state.get('{key}')")
