"""Benchmark: `vbq web` start-up and the live VBQ table after a paint stroke, at 512 x 512 x 24.

Input: a 512 x 512 x 24 int16 image (0.5 x 0.5 x 3 mm) with 7 ROIs (C2-C7 + CSF, ~19,200 voxels each) as a
labelmap with a labels file (the case of bench_score.py), and the real MRI of ../shared/data.

1. Table after a stroke, in the server (no browser): the app on the 512 case, serving in its asyncio loop; a
   "stroke" is trame-slicer's SegmentModifier.apply_glyph with a 3 mm ball (what the paint effect does when the
   mouse button is released); measured from the stroke to the table state updated (the throttle's delay
   included). Baselines in the same run: Slicer's export path of measure_nodes (ExportSegmentsToLabelmapNode
   per segment, what the table used before), and `score_files` on the same files (what `vbq score` costs).
2. Start-up, whole processes: `vbq web IMAGE` to its URL printed and to the page showing the rendered MRI in
   headless Chromium (real MRI and 512 case); baseline: trame-slicer's own segmentation app to its URL printed.
3. Table after a stroke, seen in the browser: real mouse strokes in Chromium on the 512 case, from releasing
   the button to the DOM table showing the new voxel count (includes the page's update and playwright's polling).
4. Stroke visible in the view: from releasing the button to the first view image (the picture the server
   streams) whose pixels along the stroke differ from the picture shown at the release -- the painted segment
   drawn (timed in the page's own clock, on the image's load events: no polling); and, for where the time
   goes, the server's clock: release -> segmentation modified (the stroke applied), -> table sent.

    python benchmarks/bench_web.py [--strokes 10]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL_T1 = REPO.parent / "shared" / "data" / "sct_t1w.nii.gz"
sys.path.insert(0, str(REPO / "benchmarks"))


def make_case(folder: Path) -> dict:
    from bench_score import make_case as score_case

    return score_case(folder, gz=False)


def server_side(case: dict, strokes: int) -> dict:
    """Stroke-to-table latency in the server, and the two baselines."""
    import numpy as np
    from trame.app import get_server
    from trame_slicer.segmentation import ModificationMode  # noqa: F401
    from vtkmodules.vtkCommonCore import vtkPoints
    from vtkmodules.vtkFiltersSources import vtkSphereSource

    from vbq_web.app import VBQWebApp
    from vbq_web.logic import Session
    from VBQScoreLib import mrml
    from VBQScoreLib.measuring.api import score_files
    from VBQScoreLib.measuring.options import ScoreOptions

    app = VBQWebApp(server=get_server("bench_web"), session=Session(
        options=ScoreOptions(), image=case["image"], segmentation=case["labelmap"], labels=case["labels"],
        out_dir=Path(tempfile.mkdtemp())))
    s, logic = app.server.state, app.logic
    out = {}

    async def run():
        logic.start()
        logic.select_level("C3")
        modifier = logic.editor.active_segment_modifier
        lat = []
        for n in range(strokes):
            ball = vtkSphereSource()
            ball.SetRadius(3.0)
            ball.SetThetaResolution(16)
            ball.SetPhiResolution(16)
            ball.Update()
            pts = vtkPoints()
            pts.InsertNextPoint(*_c3_point_ras(case, n))
            await asyncio.sleep(0.3)  # the reader moves to the next stroke
            version = s.vbq_table_version
            t0 = time.perf_counter()
            modifier.apply_glyph(ball.GetOutput(), pts)  # the end of a paint stroke
            while s.vbq_table_version == version:
                await asyncio.sleep(0.002)
            lat.append(time.perf_counter() - t0)
        out["stroke_to_table"] = lat
        out["measure_ms"] = s.vbq_measure_ms

    asyncio.run(run())
    vol, seg = logic.volume_node, logic.segmentation_node
    reps = max(3, strokes // 2)
    out["direct"] = _times(lambda: mrml.measure_nodes(vol, seg), reps)
    out["export"] = _times(lambda: mrml.measure_nodes(vol, seg, method="export"), reps)
    out["score_files"] = _times(lambda: score_files(case["image"], case["labelmap"], labels=case["labels"],
                                                    options=ScoreOptions()), reps)
    a = mrml.measure_nodes(vol, seg).to_dict()
    b = mrml.measure_nodes(vol, seg, method="export").to_dict()
    a.pop("provenance"), b.pop("provenance")
    assert a == b, "direct and export paths disagree"
    out["n_voxels_c3"] = int(np.round(a["levels"][1]["n_voxels"]))
    return out


def _c3_point_ras(case, n):
    """A point inside the C3 box of the case (voxel x 300-359, y 160-199, z 8-15), moving a little per stroke."""
    import SimpleITK as sitk

    img = sitk.ReadImage(case["image"])
    p = img.TransformContinuousIndexToPhysicalPoint([310.0 + 4 * (n % 10), 170.0 + 2 * (n % 5), 11.0])
    return -p[0], -p[1], p[2]


def _times(fn, reps):
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return t


def startup(args, url_re) -> tuple:
    """(seconds to the URL printed, process) for a server command."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{args[:3]} ended before printing its URL")
        m = re.search(url_re, line)
        if m:
            return time.perf_counter() - t0, proc, m.group(1)


def stock_startup() -> float:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    seconds, proc, _ = startup([sys.executable, "-m", "trame_slicer.app.segmentation_app", "--host=127.0.0.1",
                                f"--port={port}", "--open_browser=False"], r"(http://\S+)")
    proc.terminate()
    proc.wait()
    return seconds


#: JS: watch view 0's image: after ``window.__vbqReleased`` is set (page clock), the first loaded frame whose
#: pixels in the box (fractions of the view) differ from the frame shown at the release sets ``__vbqSeen``
WATCH_JS = """([x0, x1, y0, y1]) => {
  const img = document.querySelectorAll('img.image-display-area')[0];
  const c = document.createElement('canvas'); c.width = 96; c.height = 96;
  const g = c.getContext('2d', { willReadFrequently: true });
  const sample = () => { const w = img.naturalWidth, h = img.naturalHeight;
    g.drawImage(img, x0 * w, y0 * h, (x1 - x0) * w, (y1 - y0) * h, 0, 0, 96, 96);
    return g.getImageData(0, 0, 96, 96).data; };
  window.__vbqReleased = null; window.__vbqSeen = null; window.__vbqFrames = 0; let base = null;
  window.__vbqMarkRelease = () => { base = sample(); window.__vbqReleased = performance.now(); };
  img.onload = () => {
    if (window.__vbqReleased === null || window.__vbqSeen !== null) { return; }
    window.__vbqFrames += 1;
    const d = sample(); let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (Math.abs(d[i] - base[i]) + Math.abs(d[i + 1] - base[i + 1]) + Math.abs(d[i + 2] - base[i + 2]) > 60) { n++; }
    }
    if (n > 20) { window.__vbqSeen = performance.now(); }
  };
}"""


def browser_side(case: dict, strokes: int) -> dict:
    from vbq_web import browser as B

    out = {}
    for name, argv in (("real MRI", [REAL_T1]), ("512x512x24", [case["image"], case["labelmap"], "--labels",
                                                                  case["labels"]])):
        with B.Server([*argv, "--out", tempfile.mkdtemp()]) as server, B.browser_page() as page:
            page.goto(server.url)
            B.wait_rendered(page)
            out[name] = {"url": server.url_seconds, "rendered": time.perf_counter() - server.started}
            if name != "512x512x24":
                continue
            page.wait_for_selector("#vbq-table")
            page.keyboard.press("3")
            page.wait_for_function("() => window.trame.state.get('vbq_active_level') === 'C3'")
            page.click("#vbq-tool-paint")
            page.wait_for_function("() => window.trame.state.get('vbq_tool') === 'paint'")
            lat, srv_ms, view = [], [], []
            for n in range(strokes):
                before = B.table(page)["C3"]["voxels"]
                x = 0.15 + 0.12 * n  # the sagittal view: the 256 x 72 mm image lies across its middle
                page.evaluate(WATCH_JS, [x - 0.01, x + 0.11, 0.45, 0.55])
                released = B.stroke_view(page, [(x, 0.48), (x + 0.05, 0.5), (x + 0.1, 0.52)],
                                         before_release=_mark_release)
                released_unix = time.time() - (time.perf_counter() - released)
                deadline = time.monotonic() + 10
                while B.table(page)["C3"]["voxels"] == before:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"stroke {n} changed nothing in the table")
                    page.wait_for_timeout(5)
                lat.append(time.perf_counter() - released)
                page.wait_for_function("() => window.__vbqSeen !== null", timeout=10000)
                view.append(page.evaluate("() => (window.__vbqSeen - window.__vbqReleased) / 1000"))
                timing = B.state(page, "vbq_timing")
                srv_ms.append((B.state(page, "vbq_update_ms"), B.state(page, "vbq_measure_ms"),
                               timing["changed"] - released_unix, timing["table"] - released_unix))
            out["stroke_to_dom"] = lat
            out["stroke_to_view"] = view
            out["server_ms"] = srv_ms
    return out


def _mark_release(page) -> None:
    """Before the button is released: mark the release in the page's clock (``__vbqMarkRelease``)."""
    page.wait_for_timeout(300)  # the trail drawn while dragging has reached the page
    page.evaluate("() => window.__vbqMarkRelease()")


def main() -> None:
    import functools

    global print
    print = functools.partial(print, flush=True)  # noqa: A001 - progress shows as it comes

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--strokes", type=int, default=10)
    ap.add_argument("--no-browser", action="store_true", help="only the server-side part")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-web-"))
    case = make_case(folder)

    srv = server_side(case, args.strokes)
    med = statistics.median
    lat = srv["stroke_to_table"]
    print(flush=True)
    print(f"512x512x24, 7 ROIs: table {1000 * med(lat):.0f} ms after a stroke (median of {len(lat)}; max "
          f"{1000 * max(lat):.0f} ms; goal < 500 ms), measuring {srv['measure_ms']} ms of it")
    d, e, f = med(srv["direct"]), med(srv["export"]), med(srv["score_files"])
    print(f"  measure_nodes {1000 * d:.0f} ms = {d / e:.2f} x Slicer's export path ({1000 * e:.0f} ms) = "
          f"{d / f:.2f} x score_files on the same files ({1000 * f:.0f} ms, reading included)")
    if args.no_browser:
        return
    stock = stock_startup()
    web = browser_side(case, max(3, args.strokes // 2))
    for name in ("real MRI", "512x512x24"):
        w = web[name]
        print(f"vbq web {name}: URL printed after {w['url']:.1f} s ({w['url'] / stock:.2f} x trame-slicer's own "
              f"app, {stock:.1f} s), page rendered in Chromium {w['rendered']:.1f} s after the start (goal < 15 s)")
    dom = web["stroke_to_dom"]
    print(f"in Chromium, 512x512x24: DOM table {1000 * med(dom):.0f} ms after releasing the mouse (median of "
          f"{len(dom)}, max {1000 * max(dom):.0f} ms); of it in the server, from the painted segment to the table "
          f"sent: {med(x[0] for x in web['server_ms']):.0f} ms ({med(x[1] for x in web['server_ms']):.0f} ms "
          f"measuring); the stroke reached the segmentation {1000 * med(x[2] for x in web['server_ms']):.0f} ms "
          f"after the release, the table was sent {1000 * med(x[3] for x in web['server_ms']):.0f} ms after it; "
          f"from the stroke landing in the segmentation to the DOM table: "
          f"{1000 * med(d - x[2] for d, x in zip(dom, web['server_ms'])):.0f} ms (goal < 500 ms)")
    v = web["stroke_to_view"]
    print(f"in Chromium, 512x512x24: the stroke visible in the view {1000 * med(v):.0f} ms after releasing the "
          f"mouse (median of {len(v)}, min {1000 * min(v):.0f}, max {1000 * max(v):.0f} ms; goal < 150 ms)")


if __name__ == "__main__":
    main()
