"""Benchmark: `vbq score` against a plain SimpleITK baseline, whole process against whole process.

Input: a 512 x 512 x 24 int16 image (0.5 x 0.5 x 3 mm) with 7 ROIs (C2-C7 + CSF) as an integer labelmap with a
labels file, and the same ROIs as a Slicer .seg.nrrd (written by slicerio). Baseline: a Python process that
reads the same image and segmentation files with SimpleITK and runs one LabelIntensityStatisticsImageFilter
pass (mean, median, SD, ... of every label) and prints them. Both run as fresh subprocesses, interleaved,
several repetitions; the medians of wall time and of CPU time (user + system; steadier on a shared machine) are
compared. Goal: ratio (vbq / baseline) <= 1. Byte-compiled modules are cached for both, as in a normal install.
Then the same work in one process with the modules already imported (score_files against the baseline's reads
and filter pass), which separates the measurement itself from start-up (imports), and the start-up itself:
``python -X importtime`` of both processes, the modules that only `vbq score` imports with their own import
time (the minimum over the repetitions), grouped by the package they belong to.

    python benchmarks/bench_score.py [--reps 7] [--gz]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = r"""
import sys
import SimpleITK as sitk
img = sitk.ReadImage(sys.argv[1])
lab = sitk.ReadImage(sys.argv[2])
if lab.GetPixelID() != sitk.sitkUInt8:
    lab = sitk.Cast(lab, sitk.sitkUInt8)
f = sitk.LabelIntensityStatisticsImageFilter()
f.Execute(lab, img)
for v in f.GetLabels():
    print(v, f.GetNumberOfPixels(v), f.GetMean(v), f.GetMedian(v), f.GetStandardDeviation(v))
"""


def make_case(folder: Path, gz: bool) -> dict:
    import numpy as np
    import SimpleITK as sitk
    import slicerio

    rng = np.random.default_rng(1)
    nz, ny, nx = 24, 512, 512
    a = rng.normal(300, 40, size=(nz, ny, nx)).astype(np.int16)
    lab = np.zeros(a.shape, np.uint8)
    names = ["C2", "C3", "C4", "C5", "C6", "C7", "CSF"]
    for i, name in enumerate(names, 1):
        y0 = 40 + 60 * i
        lab[8:16, y0:y0 + 40, 300:360] = i  # ~ 19,200 voxels per ROI
        a[8:16, y0:y0 + 40, 300:360] += np.int16(100 * i)
    img = sitk.GetImageFromArray(a)
    img.SetSpacing((0.5, 0.5, 3.0))
    img.SetOrigin((-128.0, -128.0, -36.0))
    ext = ".nii.gz" if gz else ".nii"
    sitk.WriteImage(img, str(folder / f"t1{ext}"))
    limg = sitk.GetImageFromArray(lab)
    limg.CopyInformation(img)
    sitk.WriteImage(limg, str(folder / f"labels{ext}"))
    (folder / "labels.txt").write_text("".join(f"{i}={n}\n" for i, n in enumerate(names, 1)))
    ijk = np.eye(4)
    ijk[:3, :3] = np.diag(img.GetSpacing())
    ijk[:3, 3] = img.GetOrigin()
    seg = slicerio.create_segmentation(lab.T.shape, ijk)
    for i, name in enumerate(names, 1):
        slicerio.add_segment(seg, lab.T == i, {"id": name, "name": name})
    slicerio.write_segmentation(str(folder / "rois.seg.nrrd"), seg)
    return {"image": folder / f"t1{ext}", "labelmap": folder / f"labels{ext}", "labels": folder / "labels.txt",
            "seg": folder / "rois.seg.nrrd"}


def timed(cmd, env=None) -> tuple[float, float]:
    """(wall seconds, CPU seconds user+system) of one subprocess run."""
    import resource

    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(map(str, cmd))}\n{p.stderr}")
    return dt, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--gz", action="store_true", help="gzip-compressed NIfTI (default: uncompressed .nii)")
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        case = make_case(d, args.gz)
        # as in a normal installation, byte-compiled modules are cached (here outside the source tree)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(d / "pycache")
        variants = {
            "labelmap + labels": (
                [py, "-m", "vbq_cli", "score", case["image"], case["labelmap"], "--labels", case["labels"],
                 "--json", d / "out.json", "--quiet"],
                [py, "-c", BASELINE, case["image"], case["labelmap"]]),
            ".seg.nrrd": (
                [py, "-m", "vbq_cli", "score", case["image"], case["seg"], "--json", d / "out2.json", "--quiet"],
                [py, "-c", BASELINE, case["image"], case["seg"]]),
        }
        for name, (ours, base) in variants.items():
            ours = [str(x) for x in ours]
            base = [str(x) for x in base]
            timed(ours, env), timed(base, env)  # warm the file and bytecode caches
            t_ours, t_base = [], []
            for _ in range(args.reps):
                t_ours.append(timed(ours, env))
                t_base.append(timed(base, env))
            mo, mb = (statistics.median(w for w, _ in t) for t in (t_ours, t_base))
            co, cb = (statistics.median(c for _, c in t) for t in (t_ours, t_base))
            print(f"{name:18s} wall: vbq score {mo:6.3f} s, baseline {mb:6.3f} s, ratio {mo / mb:5.2f} | "
                  f"CPU: {co:6.3f} s vs {cb:6.3f} s, ratio {co / cb:5.2f}   (median of {args.reps}; 512x512x24, "
                  f"7 ROIs, {'gz' if args.gz else 'uncompressed'} NIfTI)")
        in_process(case, args.reps)
        import_times(variants, env, args.reps)


def in_process(case: dict, reps: int) -> None:
    """The same work in this process, modules already imported: score_files against the baseline's reads and
    LabelIntensityStatisticsImageFilter pass, alternating (what is left of the whole-process difference is
    start-up: importing modules)."""
    import SimpleITK as sitk

    from VBQScoreLib.measuring.api import score_files

    def baseline(seg):
        img = sitk.ReadImage(str(case["image"]))
        lab = sitk.ReadImage(str(seg))
        if lab.GetPixelID() != sitk.sitkUInt8:
            lab = sitk.Cast(lab, sitk.sitkUInt8)
        f = sitk.LabelIntensityStatisticsImageFilter()
        f.Execute(lab, img)
        return [(v, f.GetMean(v), f.GetMedian(v)) for v in f.GetLabels()]

    for name, seg, labels in (("labelmap + labels", case["labelmap"], case["labels"]), (".seg.nrrd", case["seg"], None)):
        score_files(case["image"], seg, labels=labels)
        baseline(seg)
        tb, to = [], []
        for _ in range(max(reps, 5)):
            t = time.perf_counter()
            baseline(seg)
            tb.append(time.perf_counter() - t)
            t = time.perf_counter()
            score_files(case["image"], seg, labels=labels)
            to.append(time.perf_counter() - t)
        mb, mo = statistics.median(tb), statistics.median(to)
        print(f"{name:18s} in one process, modules imported: score_files {1000 * mo:6.1f} ms, baseline "
              f"{1000 * mb:6.1f} ms, ratio {mo / mb:5.2f}")


def _importtime(cmd, env) -> dict:
    """{module: own import time in s} of one ``python -X importtime`` run."""
    p = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True, text=True, env=env)
    out = {}
    for line in p.stderr.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            self_us, _, name = line[len("import time:"):].split("|")
            out[name.strip()] = int(self_us) / 1e6
    return out


def import_times(variants: dict, env, reps: int) -> None:
    """What `vbq score` imports beyond the baseline process, by top-level package (own times, min of reps)."""
    for name, (ours, base) in variants.items():
        ours, base = [str(x) for x in ours], [str(x) for x in base]
        runs_o = [_importtime(ours, env) for _ in range(reps)]
        runs_b = [_importtime(base, env) for _ in range(reps)]
        seen_b = set().union(*runs_b)
        extra = {m: min(r.get(m, float("inf")) for r in runs_o) for m in runs_o[0] if m not in seen_b}
        by_pkg: dict = {}
        for m, t in extra.items():
            by_pkg[m.split(".")[0]] = by_pkg.get(m.split(".")[0], 0.0) + t
        top = sorted(by_pkg.items(), key=lambda kv: -kv[1])
        total = sum(by_pkg.values())
        print(f"{name:18s} imports beyond the baseline: {1000 * total:5.1f} ms in {len(extra)} modules; "
              + ", ".join(f"{k} {1000 * v:.1f}" for k, v in top[:12]))


if __name__ == "__main__":
    main()
