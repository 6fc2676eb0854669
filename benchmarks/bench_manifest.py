"""How `vbq batch` reads a manifest as its columns grow: time per column at 10,000 and 100,000 columns.

A linear reader gives a ratio near 1 (the duplicate-column check was quadratic before issue 16: 100,000 columns
took 98 s). Run: `python benchmarks/bench_manifest.py [--reps 3]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "VBQScore")]

from VBQScoreLib.batch import read_manifest  # noqa: E402


def _manifest(folder: Path, n: int) -> Path:
    head = ["case_id", "image", "segmentation"] + [f"c{j}" for j in range(n)]
    row = ["a", "a.nii.gz", "a.seg.nrrd"] + [""] * n
    p = folder / f"m{n}.csv"
    p.write_text(",".join(head) + "\n" + ",".join(row) + "\n", encoding="utf-8")
    return p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        per_col = {}
        for n in (10_000, 100_000):
            p = _manifest(Path(tmp), n)
            best = min(_timed(p) for _ in range(a.reps))
            per_col[n] = best / n
            print(f"{n:>7} columns: {best * 1000:8.1f} ms")
        print(f"time per column, 100,000 vs 10,000 columns: ratio {per_col[100_000] / per_col[10_000]:.2f} "
              "(1 = linear, 10 = quadratic)")


def _timed(p: Path) -> float:
    t0 = time.perf_counter()
    read_manifest(p)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
