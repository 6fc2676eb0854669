"""Regenerate the README figures from the project's own code.

    python Resources/Screenshots/make_screenshots.py        # needs the [web] extra and /usr/bin/chromium

VBQScore.png: the real app, `vbq web`, in headless Chromium after labelling the real cervical MRI of
../shared/data (Quick ROIs in the four vertebral bodies in view, C3-C6, and in the spinal canal for CSF, grown by
the app's own Quick ROI; C2 and C7 lie outside this cropped MRI). VBQWorklist.png: the same page in a reader
worklist. VBQCohort.png: the per-level box plot of the demo report.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REAL_T1 = HERE.parents[2] / "shared" / "data" / "sct_t1w.nii.gz"
#: voxel (i, j, k) of each Quick ROI click on the real MRI (mid-sagittal slice i = 21; k grows superiorly)
CLICKS = {"C3": (21, 53, 68), "C4": (21, 53, 46), "C5": (21, 53, 26), "C6": (21, 53, 7), "CSF": (21, 38, 40)}


def label_real_mri(out: Path) -> Path:
    """Label the real MRI with the app's own logic (no browser needed for this part): Create level segments,
    one Quick ROI per level and for CSF, Save. Returns the saved .seg.nrrd."""
    import SimpleITK as sitk

    from VBQScoreLib.measuring.options import ScoreOptions
    from vbq_web.app import VBQWebApp
    from vbq_web.logic import Session

    app = VBQWebApp(session=Session(options=ScoreOptions(), image=str(REAL_T1), out_dir=out))
    app.logic.start()
    ctrl, state = app.server.controller, app.server.state
    ctrl.vbq_create_segments()
    img = sitk.ReadImage(str(REAL_T1))
    for level, ijk in CLICKS.items():
        p = img.TransformContinuousIndexToPhysicalPoint([float(v) for v in ijk])
        ctrl.vbq_quick_roi_at([-p[0], -p[1], p[2]], level)
        if state.vbq_error:
            sys.exit(f"Quick ROI {level}: {state.vbq_error}")
    if not ctrl.vbq_save():
        sys.exit(f"save: {state.vbq_error}")
    return out / "sct_t1w.seg.nrrd"


def web_figures(score_png: Path, worklist_png: Path) -> None:
    from vbq_web import browser as B

    tmp = Path(tempfile.mkdtemp())
    try:
        seg = label_real_mri(tmp)
        with B.Server([REAL_T1, seg, "--out", tmp / "page"]) as server, B.browser_page(1500, 860) as page:
            page.goto(server.url)
            B.wait_rendered(page)
            page.wait_for_selector("#vbq-table")
            page.keyboard.press("4")  # select C4, as a reader about to correct it would
            page.wait_for_function("() => window.trame.state.get('vbq_active_level') === 'C4'")
            page.click("#vbq-tool-quick_roi")
            page.wait_for_timeout(1500)
            page.screenshot(path=str(score_png))
        (tmp / "cases").mkdir()
        manifest = tmp / "cases" / "manifest.csv"
        manifest.write_text("case_id,image\n" + "".join(f"P{n:03d},{REAL_T1}\n" for n in range(1, 41)))
        reader = tmp / "readings" / "R1"
        reader.mkdir(parents=True)
        for n in range(1, 12):  # 11 cases read: the reader is on case 12 of 40
            shutil.copy(seg, reader / f"P{n:03d}.seg.nrrd")
        args = ["--worklist", manifest, "--reader", "R1", "--out", tmp / "readings"]
        with B.Server(args) as server, B.browser_page(1500, 860) as page:
            page.goto(server.url)
            B.wait_rendered(page)
            page.wait_for_function("() => window.trame.state.get('vbq_progress') === '12 of 40'")
            page.click("#vbq-create-segments")
            page.wait_for_timeout(1500)
            page.screenshot(path=str(worklist_png))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cohort_figure(path: Path) -> None:
    from VBQCohortLib.demo import run_demo  # noqa: F401  (import check: the demo API)

    tmp = Path(tempfile.mkdtemp())
    try:
        from vbq_cli.main import main

        code = main(["demo", "--out", str(tmp / "demo")])
        if code != 0:
            sys.exit(code)
        shutil.copyfile(tmp / "demo" / "figures" / "boxplots.png", path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    web_figures(HERE / "VBQScore.png", HERE / "VBQWorklist.png")
    cohort_figure(HERE / "VBQCohort.png")
    print("wrote", HERE / "VBQScore.png", HERE / "VBQWorklist.png", HERE / "VBQCohort.png")
