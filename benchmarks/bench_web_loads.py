"""Benchmark: memory of `vbq web` over many case loads (a reader's worklist of 150 cases).

The app (no browser, no server loop: the throttle measures at once) loads the real MRI of ../shared/data N
times, each time with a segmentation made by "Create level segments" and a painted ball (as a reader leaves a
case), and prints the process's resident memory (RSS, /proc/self/statm) every --every loads. The baseline is
the RSS after the first load in the same run; growth = RSS(N) - RSS(first). ``VBQ_WEB_RELEASE=0`` runs it
without vbq_web.leaks (trame-slicer 2.0 as it is): the baseline.

    python benchmarks/bench_web_loads.py [--loads 150] [--every 25]
    VBQ_WEB_RELEASE=0 python benchmarks/bench_web_loads.py

Measured here (2 shared cores, real MRI 42x76x77, each load + Create level segments + one painted ball):
150 loads grow RSS by 252 MB (1.73 MB per load) with trame-slicer as it is, by 177 MB (1.22 MB per load) with
vbq_web.leaks; what is left is mostly the effect pipelines trame-slicer's layer displayable manager keeps after
a scene clear (see vbq_web/leaks.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL_T1 = REPO.parent / "shared" / "data" / "sct_t1w.nii.gz"


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loads", type=int, default=150)
    ap.add_argument("--every", type=int, default=25)
    args = ap.parse_args()
    import SimpleITK as sitk
    from trame.app import get_server

    from vbq_web.app import VBQWebApp
    from vbq_web.logic import Session
    from VBQScoreLib.measuring.options import ScoreOptions

    app = VBQWebApp(server=get_server("bench_web_loads", client_type="vue3"),
                    session=Session(options=ScoreOptions(), out_dir=Path(tempfile.mkdtemp())))
    ctrl = app.server.controller
    img = sitk.ReadImage(str(REAL_T1))
    p = img.TransformContinuousIndexToPhysicalPoint([21.0, 35.0, 30.0])
    ras = [-p[0], -p[1], p[2]]
    first = None
    for i in range(1, args.loads + 1):
        assert ctrl.vbq_load(str(REAL_T1)) is True, app.server.state.vbq_error
        ctrl.vbq_create_segments()
        ctrl.vbq_paint_sphere("C3", ras, 4.0)
        app.logic.measure_now()
        if first is None:
            first = rss_mb()
            print(f"after load 1: RSS {first:.0f} MB", flush=True)
        elif i % args.every == 0:
            now = rss_mb()
            print(f"after load {i}: RSS {now:.0f} MB (+{now - first:.0f} MB, {1024 * (now - first) / (i - 1):.0f} "
                  "kB per load)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
