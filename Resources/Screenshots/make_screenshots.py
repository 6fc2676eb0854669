"""Regenerate the README figures from the project's own code (not Slicer screenshots).

    python Resources/Screenshots/make_screenshots.py

VBQScore.png: the synthetic cervical T1 phantom (mid-sagittal slice) with its C2-C7 and cisterna-magna ROIs and
the VBQ that `score_arrays` measures for each level. VBQCohort.png: the per-level box plot of the demo report.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def score_figure(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import SimpleITK as sitk

    from VBQScoreLib.api import score_arrays
    from VBQScoreLib.options import ScoreOptions
    from VBQScoreLib.phantom import make_phantom
    from VBQScoreLib.segments import Segment

    ph = make_phantom(seed=1)
    img = sitk.GetArrayFromImage(ph.image)  # (slices L-R, rows S-I, cols A-P)
    lab = sitk.GetArrayFromImage(ph.labelmap)
    segments = []
    for value, name in ph.labels.items():
        m = sitk.GetImageFromArray((lab == value).astype(np.uint8))
        m.CopyInformation(ph.labelmap)
        segments.append(Segment(name=name, mask=m))
    result = score_arrays(ph.image, segments, ScoreOptions())
    mid = img.shape[0] // 2
    sp = ph.image.GetSpacing()  # x=cols, y=rows, z=slices
    aspect = sp[1] / sp[0]
    fig, ax = plt.subplots(figsize=(6.4, 6.4), dpi=110)
    ax.imshow(img[mid], cmap="gray", aspect=aspect)
    colors = plt.cm.tab10(np.linspace(0, 1, 10))
    for k, (value, name) in enumerate(ph.labels.items()):
        mask = lab[mid] == value
        if not mask.any():
            continue
        overlay = np.zeros(mask.shape + (4,))
        overlay[mask] = [*colors[k % 10][:3], 0.45]
        ax.imshow(overlay, aspect=aspect)
        rr, cc = np.nonzero(mask)
        lv = result.level(name)
        text = f"{name}  VBQ {lv.vbq:.2f}" if lv is not None else "CSF (cisterna magna)"
        ax.text(cc.max() + 4, rr.mean(), text, color="yellow", fontsize=9, va="center")
    ax.set_title(f"VBQ Score on the phantom: overall VBQ (lu2024) = {result.overall['vbq']:.2f}", fontsize=10)
    ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


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
    score_figure(HERE / "VBQScore.png")
    cohort_figure(HERE / "VBQCohort.png")
    print("wrote", HERE / "VBQScore.png", HERE / "VBQCohort.png")
