"""Speed of ``vbq intake`` against ``dcm2niix`` in metadata-only mode on the same tree, side by side.

    python benchmarks/bench_intake.py                          # 200 studies x 5 series x 20 slices = 20,000 files
    python benchmarks/bench_intake.py --studies 50 --repeat 3 --keep /tmp/tree

The tree (written once with pydicom, tiny 32 x 32 pixel data, nested patient/date/series folders) is read by:

- ``dcm2niix -b o -d 9 -o OUT -f %j SOURCE``: BIDS sidecars only (``-b o``: "only: no NIfTI"), i.e. it reads
  every header, sorts the files into series and writes one JSON per series: its fastest whole-tree mode;
- ``vbq intake SOURCE --out manifest.csv``: every header read (pydicom, ``stop_before_pixels`` +
  ``specific_tags``, in ``--workers`` processes), grouped, the rules applied, the manifest written;
- ``vbq intake ... --cache DIR`` twice: the first run fills the cache, the second reads nothing unchanged
  (goal: under 2 s for 20,000 files).

Both programs run as subprocesses (start-up included), alternating, ``--repeat`` times; the page cache is warm
for both (a first untimed pass of each). Prints seconds and files/s, and the ratio vbq / dcm2niix (goal < 1).
Nothing is asserted; numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_tree(folder: Path, studies: int, series: int, slices: int) -> int:
    sys.path[:0] = [str(ROOT), str(ROOT / "VBQScore")]
    from VBQScoreLib.dicom.synthetic import spine_study, write_study

    vendors = ["siemens", "ge", "philips", "sag_only"]
    n = 0
    t0 = time.perf_counter()
    for i in range(studies):
        st = spine_study(f"P{i:04d}", vendors[i % 4])
        st.series = st.series[:series]
        for se in st.series:
            se.n_slices = slices
        n += len(write_study(st, folder, "nested", seed="bench"))
    print(f"wrote {n} files in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return n


CPU: dict = {}  # command name -> CPU seconds (user + system) of its runs, from the children's rusage


def timed(cmd, env=None, label=None) -> float:
    """Wall seconds of one run of ``cmd``; its CPU seconds (all its processes) go to ``CPU[label]``: on a machine
    shared with other work the wall time includes waiting for a core, the CPU time does not."""
    import resource

    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if label:
        CPU.setdefault(label, []).append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    if r.returncode not in (0, 1):
        raise SystemExit(f"{cmd[0]} failed ({r.returncode}): {r.stderr.strip()[-400:]}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=200)
    ap.add_argument("--series", type=int, default=5)
    ap.add_argument("--slices", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--workers", type=int, default=None, help="vbq intake --workers (default: all cores)")
    ap.add_argument("--keep", metavar="DIR", default=None, help="write (or reuse) the tree here")
    args = ap.parse_args()
    dcm2niix = shutil.which("dcm2niix")
    if not dcm2niix:
        raise SystemExit("dcm2niix not found (Debian: apt-get install dcm2niix)")
    tmp = Path(tempfile.mkdtemp(prefix="bench_intake."))
    try:
        src = Path(args.keep) if args.keep else tmp / "tree"
        if not (src.is_dir() and any(src.iterdir())):
            make_tree(src, args.studies, args.series, args.slices)
        n_files = sum(len(f) for _, _, f in os.walk(src))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "VBQScore"),
                                                            str(ROOT / "VBQCohort")]))
        vbq = [sys.executable, "-m", "vbq_cli", "intake", str(src), "--out", str(tmp / "manifest.csv"),
               "--no-progress"] + (["--workers", str(args.workers)] if args.workers is not None else [])

        def d2n(label=None) -> float:
            out = tmp / "d2n"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            return timed([dcm2niix, "-b", "o", "-d", "9", "-o", str(out), "-f", "%j", str(src)], label=label)

        d2n()
        timed(vbq, env)  # warm the page cache for both
        t_d, t_v = [], []
        for _ in range(args.repeat):
            t_d.append(d2n("dcm2niix"))
            t_v.append(timed(vbq, env, "vbq"))
        n_json = len(list((tmp / "d2n").glob("*.json")))
        cache = tmp / "cache"
        t_fill = timed(vbq + ["--cache", str(cache)], env)
        t_cached = [timed(vbq + ["--cache", str(cache)], env, "cached") for _ in range(args.repeat)]
        md, mv = statistics.median(t_d), statistics.median(t_v)
        print(f"tree: {n_files} files ({args.studies} studies x {args.series} series x {args.slices} slices), "
              f"{os.cpu_count()} cores")
        print(f"dcm2niix -b o (metadata only): {md:7.2f} s  {n_files / md:8.0f} files/s  ({n_json} series "
              f"sidecars)  runs: {', '.join(f'{t:.2f}' for t in t_d)}")
        print(f"vbq intake:                    {mv:7.2f} s  {n_files / mv:8.0f} files/s  "
              f"runs: {', '.join(f'{t:.2f}' for t in t_v)}")
        print(f"ratio vbq intake / dcm2niix:   {mv / md:7.2f}  (goal < 1)")
        cd, cv = statistics.median(CPU["dcm2niix"]), statistics.median(CPU["vbq"])
        print(f"CPU seconds (all processes):   dcm2niix {cd:.2f}, vbq intake {cv:.2f} (ratio {cv / cd:.2f})")
        print(f"vbq intake --cache, first run: {t_fill:7.2f} s; second run: {min(t_cached):.2f} s "
              f"(runs: {', '.join(f'{t:.2f}' for t in t_cached)}; goal < 2 s), CPU "
              f"{statistics.median(CPU['cached']):.2f} s")
        print(f"load average during the run: {os.getloadavg()[0]:.1f} (cores: {os.cpu_count()})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
