"""Throughput of ``vbq batch`` against just reading the same files with SimpleITK on the same cores.

    python benchmarks/bench_batch.py                 # 300 cases, all cores
    python benchmarks/bench_batch.py --cases 400 --workers 2 --repeat 2 --chunk 40

Cases are phantoms of realistic size (15 sagittal slices x 256 x 256, int16 NIfTI, ~1 MB compressed, and a
cropped ``.seg.nrrd``) written to a temporary folder: ``--distinct`` different phantoms (seeds) are copied into
``--cases`` case folders. Both runs use the same Dask ``LocalCluster`` (``--workers`` processes, 1 thread each),
already started and warmed up, so the comparison is of the per-case work:

- baseline: a task per case that reads the image and the segmentation with ``SimpleITK.ReadImage`` (and touches
  every voxel), streamed through the cluster with the same bounded number of tasks in flight;
- batch: :func:`VBQScoreLib.batch.run_batch` with ``scheduler=<that cluster>`` (reads, resamples, measures,
  hashes the inputs for provenance, journals every case and writes both CSVs).

The cases are run in chunks (``--chunk``), baseline and batch alternating chunk by chunk so that load from
other processes hits both alike; it prints cases/s for both, the ratio batch time / baseline time (goal:
<= 1.3) over all chunks and its median per chunk, and one whole run of each. It also times one default
end-to-end ``run_batch(workers=N)`` including starting and stopping its own local cluster, and the in-process
sequential mode. Nothing is asserted; numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def read_only(case: dict) -> int:
    """Baseline task: read the two files with SimpleITK, touch every voxel, return a small number."""
    import numpy as np
    import SimpleITK as sitk

    total = 0
    for key in ("image", "segmentation"):
        img = sitk.ReadImage(case[key])
        total += int(np.asarray(sitk.GetArrayViewFromImage(img)).sum(dtype=np.int64) & 0xFFFF)
    return total


def run_baseline(client, cases, in_flight: int) -> float:
    from distributed import as_completed

    t0 = time.perf_counter()
    it = iter(cases)
    first = [client.submit(read_only, c.to_dict(), pure=False) for _, c in zip(range(in_flight), it)]
    ac = as_completed(first, loop=client.loop)
    n = 0
    for fut in ac:
        fut.result()
        fut.release()
        n += 1
        nxt = next(it, None)
        if nxt is not None:
            ac.add(client.submit(read_only, nxt.to_dict(), pure=False))
    assert n == len(cases)
    return time.perf_counter() - t0


def interleaved(cases, n: int):
    """Per-case cost in this process, the three alternating case by case (robust to load drift): the read-only
    baseline, ``score_files`` alone (the measurement), and ``score_case`` (the batch task: score_files plus the
    batch's own work: file checks, result record)."""
    from VBQScoreLib.batch import score_case
    from VBQScoreLib.measuring.api import score_files
    from VBQScoreLib.measuring.options import ScoreOptions

    opts = ScoreOptions()
    for c in cases[:3]:  # warm up
        read_only(c.to_dict())
        score_case(c.to_dict(), opts)
    tb = tf = tv = 0.0
    cb = cf = 0.0  # CPU time of the process (all threads: includes the background hashing)
    for c in cases[:n]:
        d = c.to_dict()
        t, p = time.perf_counter(), time.process_time()
        read_only(d)
        tb += time.perf_counter() - t
        cb += time.process_time() - p
        t, p = time.perf_counter(), time.process_time()
        score_files(d["image"], d["segmentation"], options=opts)
        tf += time.perf_counter() - t
        cf += time.process_time() - p
        t = time.perf_counter()
        rec = score_case(d, opts)
        tv += time.perf_counter() - t
        assert rec["status"] == "ok", rec["wide"].get("error")
    return tb / n, tf / n, tv / n, cb / n, cf / n


def make_cases(folder: Path, n_cases: int, n_distinct: int):
    from VBQScoreLib.batch import discover_cases
    from VBQScoreLib.phantom import make_phantom, write_phantom

    folder.mkdir(parents=True)
    src = []
    for s in range(n_distinct):
        ph = make_phantom(seed=s, level_si={"C3": 560.0 + 5 * s}, bias_field=0.1 * (s % 3))
        src.append(write_phantom(ph, folder.parent / f"_src{s}", formats=("nifti", "seg.nrrd")))
    for i in range(n_cases):
        d = folder / f"case{i:04d}"
        d.mkdir()
        p = src[i % n_distinct]
        shutil.copyfile(p["image"], d / "image.nii.gz")
        shutil.copyfile(p["seg_nrrd"], d / "segmentation.seg.nrrd")
    cases = discover_cases(folder)  # the default pattern: {case_id}/image.nii.gz, {case_id}/segmentation.seg.nrrd
    assert len(cases) == n_cases
    return cases


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--distinct", type=int, default=8, help="different phantoms among the cases")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=1, help="passes over the cases")
    ap.add_argument("--chunk", type=int, default=50, help="cases per alternating baseline/batch chunk")
    ap.add_argument("--no-end-to-end", action="store_true")
    args = ap.parse_args(argv)

    from distributed import Client, LocalCluster

    from VBQScoreLib.batch import run_batch

    tmp = Path(tempfile.mkdtemp(prefix="vbq-bench-batch-"))
    try:
        t0 = time.perf_counter()
        cases = make_cases(tmp / "study", args.cases, args.distinct)
        print(f"{args.cases} cases ({args.distinct} distinct phantoms 15x256x256 int16 + .seg.nrrd) written in "
              f"{time.perf_counter() - t0:.1f} s; {args.workers} worker process(es), 1 thread each, "
              f"{os.cpu_count()} core(s)")
        nb = min(len(cases), 60)
        tb, tf, tv, cb, cf = interleaved(cases, nb)
        print(f"one process, interleaved over {nb} cases: read-only {1000 * tb:.1f} ms/case, score_files "
              f"{1000 * tf:.1f} ms/case, batch task score_case {1000 * tv:.1f} ms/case (batch's own work "
              f"{1000 * (tv - tf):+.2f} ms); ratio score_case / read-only {tv / tb:.2f}x; CPU time: read-only "
              f"{1000 * cb:.1f} ms/case, score_files {1000 * cf:.1f} ms/case, ratio {cf / cb:.2f}x")
        in_flight = max(4, 2 * args.workers)
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                          host="127.0.0.1") as cluster, Client(cluster, set_as_default=False) as client:
            # warm up: imports and first-call costs on every worker, for both kinds of task
            warm = cases[: 2 * args.workers]
            run_baseline(client, warm, in_flight)
            run_batch(warm, tmp / "warm.csv", scheduler=client)
            # chunks of cases, baseline and batch alternating (which goes first alternates too), so that load
            # from other processes on the machine hits both alike
            chunk = max(args.chunk, 2 * args.workers)
            base_t, batch_t, ratios = [], [], []
            for r in range(args.repeat):
                for i, start in enumerate(range(0, len(cases), chunk)):
                    part = cases[start:start + chunk]
                    order = (0, 1) if (i + r) % 2 == 0 else (1, 0)
                    t_pair = [0.0, 0.0]
                    for which in order:
                        t = time.perf_counter()
                        if which == 0:
                            run_baseline(client, part, in_flight)
                        else:
                            s = run_batch(part, tmp / "results.csv", scheduler=client)
                            assert s.n_ok == len(part), s.failed[:3]
                        t_pair[which] = time.perf_counter() - t
                    base_t.append(t_pair[0])
                    batch_t.append(t_pair[1])
                    ratios.append(t_pair[1] / t_pair[0])
            # one whole run of all cases each, for the final table and the end-to-end comparison
            t = time.perf_counter()
            run_baseline(client, cases, in_flight)
            whole_base = time.perf_counter() - t
            t = time.perf_counter()
            s = run_batch(cases, tmp / "results.csv", scheduler=client)
            whole_batch = time.perf_counter() - t
            assert s.n_ok == len(cases)
        n = len(cases) * args.repeat
        b, v = sum(base_t), sum(batch_t)
        ratios.sort()
        med = ratios[len(ratios) // 2]
        print(f"read-only baseline (SimpleITK, same cluster): {n / b:8.1f} cases/s over {len(ratios)} chunks of "
              f"{chunk}; one whole run {len(cases) / whole_base:.1f} cases/s")
        print(f"vbq batch (run_batch on the same cluster):     {n / v:8.1f} cases/s over {len(ratios)} chunks of "
              f"{chunk}; one whole run {len(cases) / whole_batch:.1f} cases/s")
        print(f"ratio batch time / read-only time: {v / b:.2f}x (sum over chunks), median per chunk {med:.2f}x "
              f"[{ratios[0]:.2f}-{ratios[-1]:.2f}]  (goal <= 1.3x)")
        n = len(cases)
        if not args.no_end_to_end:
            t = time.perf_counter()
            s = run_batch(cases, tmp / "e2e.csv", workers=args.workers)
            e2e = time.perf_counter() - t
            print(f"end to end, run_batch(workers={args.workers}) starting its own local cluster: "
                  f"{n / e2e:.1f} cases/s ({e2e:.2f} s for {n} cases)")
            assert (tmp / "e2e.csv").read_bytes() == (tmp / "results.csv").read_bytes()
            t = time.perf_counter()
            run_batch(cases[: max(20, n // 10)], tmp / "sync.csv", workers=0)
            sync = time.perf_counter() - t
            print(f"in-process sequential (workers=0, Slicer's mode): {max(20, n // 10) / sync:.1f} cases/s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
