"""Benchmark: reader agreement (issue 10), ratios against baselines measured in the same run.

1. ICC: 10,000 cases x 5 readers x 6 levels (a long table of 300,000 readings, one session). Timed in-process:
   the six ICC forms of the 7 analyses (6 levels + the overall) from the matrices (``icc``), and the whole
   ``run_agreement`` from the long table (checks, reshaping, lu2024 overall, ICC, McGraw-Wong, 10 Bland-Altman
   pairs x 7 analyses). Goal: < 1 s in-process. Baseline: R ``psych::ICC(x, lmer = FALSE)`` on the same 7
   matrices, timed inside R (``system.time``, R start-up and CSV reading excluded) -- but only on the first
   ``--r-cases`` cases (default 1,000): psych fits ``aov(values ~ subs + ind)``, whose dense model matrix has a
   column per case (10,000 cases: 50,000 x 10,005 doubles, 4 GB per analysis, cubic time), so the ratio is
   taken at that size, with our time on the same subset measured alongside.
2. Overlap: two readers' segmentations of a 512 x 512 x 24 MRI (7 ROIs each, labelmaps, NIfTI): overlap of the
   already-read segments on the MRI grid (``overlap_segments``: mapping, Dice/Jaccard, Hausdorff, HD95) against
   reading the two segmentation files with SimpleITK. Goal: ratio < 1.

    python benchmarks/bench_agreement.py [--reps 5] [--r-cases 1000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

R_SCRIPT = r"""
suppressPackageStartupMessages(library(psych))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
reps <- as.integer(args[2])
mats <- list()
for (lv in unique(d$level)) {
  s <- d[d$level == lv, ]
  mats[[lv]] <- as.data.frame(tapply(s$vbq, list(s$case_id, s$reader), identity))
}
s <- aggregate(vbq ~ case_id + reader, d, mean)
mats[["overall"]] <- as.data.frame(tapply(s$vbq, list(s$case_id, s$reader), identity))
times <- numeric(reps)
for (i in seq_len(reps)) times[i] <- system.time(for (m in mats) psych::ICC(m, lmer = FALSE))[["elapsed"]]
cat(sprintf("%.17g", median(times)), sprintf("%.17g", psych::ICC(mats[["C3"]], lmer = FALSE)$results$ICC[2]), "\n")
"""


def _median_time(fn, reps):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def bench_icc(reps: int, folder: Path, r_cases: int) -> None:
    import numpy as np
    import pandas as pd

    from VBQCohortLib.agreement.analysis import run_agreement
    from VBQCohortLib.agreement.data import read_long_table
    from VBQCohortLib.agreement.stats import icc

    rng = np.random.default_rng(10)
    n, readers, levels = 10_000, [f"R{i}" for i in range(1, 6)], [f"C{i}" for i in range(2, 8)]
    truth = rng.normal(2.8, 0.4, n)
    bias = dict(zip(readers, (0.0, 0.05, -0.03, 0.08, 0.0)))
    frames = [pd.DataFrame({"case_id": np.arange(1, n + 1), "reader": r, "level": lv,
                            "vbq": np.round(truth + bias[r] + rng.normal(0, 0.1, n), 4)})
              for lv in levels for r in readers]
    table = pd.concat(frames, ignore_index=True)

    def matrices(t):
        m = [t[t.level == lv].pivot(index="case_id", columns="reader", values="vbq").to_numpy() for lv in levels]
        return m + [t.groupby(["case_id", "reader"])["vbq"].mean().unstack("reader").to_numpy()]

    mats = matrices(table)
    small = table[table.case_id <= r_cases]
    csv = folder / "readings.csv"
    small.to_csv(csv, index=False)
    mats_small = matrices(small)
    t_icc, res = _median_time(lambda: [icc(m) for m in mats], reps)
    t_small, res_small = _median_time(lambda: [icc(m) for m in mats_small], reps)
    df = table.rename(index=lambda i: i + 2)
    t_read, data = _median_time(lambda: read_long_table(df), reps)
    t_run, out = _median_time(lambda: run_agreement(data), reps)
    print(f"ICC, {n} cases x {len(readers)} readers x {len(levels)} levels (+ overall):")
    print(f"  icc() on the 7 matrices:                    {t_icc * 1000:8.1f} ms")
    print(f"  run_agreement (all ICC, McGraw-Wong, BA):   {t_run * 1000:8.1f} ms   (goal < 1000 ms)")
    print(f"  read_long_table (checks, 300,000 rows):     {t_read * 1000:8.1f} ms")
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("  R psych::ICC: Rscript not installed, no ratio")
        return
    rs = folder / "bench.R"
    rs.write_text(R_SCRIPT, encoding="utf-8")
    p = subprocess.run([rscript, str(rs), str(csv), "1"], capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        print("  R failed:", p.stderr.strip().splitlines()[-1:])
        return
    t_r, r_icc2 = (float(v) for v in p.stdout.split())
    ours = res_small[1].row("ICC2")["icc"]
    print(f"  first {r_cases} cases: icc() on the 7 matrices {t_small * 1000:8.1f} ms; R psych::ICC(lmer = FALSE) "
          f"x 7: {t_r * 1000:8.1f} ms")
    print(f"  ratio psych / icc() at {r_cases} cases: {t_r / t_small:,.0f}x; psych at {r_cases} cases / our "
          f"run_agreement at {n} cases: {t_r / t_run:,.1f}x")
    print(f"  C3 ICC(2,1) at {r_cases} cases: ours {ours:.15f}, psych {r_icc2:.15f} "
          f"(rel. diff {abs(ours - r_icc2) / r_icc2:.1e})")


def bench_overlap(reps: int, folder: Path) -> None:
    import numpy as np
    import SimpleITK as sitk

    from VBQScoreLib.input.segmentations import read_segmentation
    from VBQScoreLib.measuring.overlap import overlap_segments

    rng = np.random.default_rng(1)
    nz, ny, nx = 24, 512, 512
    img = sitk.GetImageFromArray(rng.normal(300, 40, size=(nz, ny, nx)).astype(np.int16))
    img.SetSpacing((0.5, 0.5, 3.0))
    img.SetOrigin((-128.0, -128.0, -36.0))
    names = ["C2", "C3", "C4", "C5", "C6", "C7", "CSF"]
    paths = []
    for reader, shift in (("R1", 0), ("R2", 2)):
        lab = np.zeros((nz, ny, nx), np.uint8)
        for i, _ in enumerate(names, 1):
            y0 = 40 + 60 * i + shift
            lab[8:16, y0:y0 + 40, 300 + shift:360] = i   # ~ 19,000 voxels per ROI
        limg = sitk.GetImageFromArray(lab)
        limg.CopyInformation(img)
        p = folder / f"{reader}.nii.gz"
        sitk.WriteImage(limg, str(p), True)
        paths.append(p)
    (folder / "labels.txt").write_text("\n".join(f"{i}={n}" for i, n in enumerate(names, 1)) + "\n")
    t_read, _ = _median_time(lambda: [sitk.ReadImage(str(p)) for p in paths], reps)
    segs = [read_segmentation(p, folder / "labels.txt") for p in paths]
    t_ov, res = _median_time(lambda: overlap_segments(img, segs[0], segs[1]), reps)
    print(f"Overlap, 512 x 512 x 24 MRI grid, 7 ROIs per reader (labelmaps, NIfTI gz):")
    print(f"  SimpleITK ReadImage of the two files:       {t_read * 1000:8.1f} ms")
    print(f"  overlap_segments (read segments):           {t_ov * 1000:8.1f} ms")
    print(f"  ratio overlap / read: {t_ov / t_read:.2f} (goal < 1); C3 Dice {res[0]['C3']['dice']:.4f}, "
          f"HD95 {res[0]['C3']['hd95_mm']:.2f} mm")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--r-cases", type=int, default=1000, help="cases for the R psych baseline (default 1000)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        bench_icc(args.reps, Path(d), args.r_cases)
        bench_overlap(args.reps, Path(d))


if __name__ == "__main__":
    main()
