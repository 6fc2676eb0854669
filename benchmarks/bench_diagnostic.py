"""Benchmark: ROC AUC with its DeLong 95% CI (issue 18), against R pROC in the same run.

Data: ``--n`` subjects (default 1,000,000), 30% cases, a continuous marker rounded to 3 decimals (so with ties,
as real VBQ values), written once to a CSV that both sides read outside the timing.

* ours, fast path: ``roc.auc_delong`` (two sorts, binary searches: the AUC and the DeLong variance), in-process.
  Goal: < 1 s for 1,000,000 subjects.
* ours, full: ``roc.roc`` (the whole curve, every threshold) + ``roc.ci_auc_delong``.
* baseline: R ``pROC::roc(y, x, quiet = TRUE)`` + ``ci.auc(r, method = "delong")``, timed inside R with
  ``system.time`` (R start-up and CSV reading excluded), the median of ``--reps`` runs. The AUCs and CIs of
  both sides are printed so that the comparison is of equal results.

    python benchmarks/bench_diagnostic.py [--n 1000000] [--reps 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

R_SCRIPT = r"""
suppressPackageStartupMessages(library(pROC))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
reps <- as.integer(args[2])
times <- numeric(reps)
for (i in seq_len(reps)) times[i] <- system.time({
  r <- roc(d$y, d$x, quiet = TRUE, levels = c(0, 1), direction = "auto")
  ci <- ci.auc(r, method = "delong")
})[["elapsed"]]
cat(sprintf("%.17g", median(times)), sprintf("%.17g", as.numeric(ci)), "\n")
"""


def _median_time(fn, reps):
    ts, out = [], None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()

    from VBQCohortLib.diagnostic import roc as R

    rng = np.random.default_rng(18)
    y = (rng.random(a.n) < 0.3).astype(int)
    x = np.round(rng.normal(0, 1, a.n) + 0.8 * y, 3)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "roc.csv"
        np.savetxt(csv, np.column_stack((y, x)), delimiter=",", header="y,x", comments="", fmt=["%d", "%.3f"])
        yb = y.astype(bool)
        print(f"AUC with DeLong CI, n = {a.n:,} ({int(y.sum()):,} cases), median of {a.reps}")
        t_fast, fast = _median_time(lambda: R.auc_delong(x[yb], x[~yb]), a.reps)
        print(f"  ours, auc_delong (fast path):      {t_fast:8.3f} s   AUC {fast['auc']:.10f} "
              f"CI {fast['ci_low']:.10f}-{fast['ci_high']:.10f}   goal < 1 s: {'met' if t_fast < 1 else 'NOT met'}")

        def full():
            r = R.roc(yb, x)
            return R.ci_auc_delong(r)

        t_full, ful = _median_time(full, a.reps)
        print(f"  ours, roc() + ci_auc_delong():     {t_full:8.3f} s   AUC {ful['auc']:.10f} "
              f"CI {ful['ci_low']:.10f}-{ful['ci_high']:.10f}")
        rscript = shutil.which("Rscript")
        if rscript is None:
            print("  R pROC: Rscript not installed, no ratio")
            return
        rs = Path(tmp) / "b.R"
        rs.write_text(R_SCRIPT, encoding="utf-8")
        res = subprocess.run([rscript, str(rs), str(csv), str(a.reps)], capture_output=True, text=True,
                             timeout=7200)
        if res.returncode != 0:
            print(f"  R pROC failed: {res.stderr.strip()[:300]}")
            return
        vals = [float(v) for v in res.stdout.split()]
        t_r, (lo, auc, hi) = vals[0], vals[1:4]
        print(f"  R pROC roc() + ci.auc(delong):     {t_r:8.3f} s   AUC {auc:.10f} CI {lo:.10f}-{hi:.10f}")
        print(f"  ratio ours/R: fast path {t_fast / t_r:.3f}, full curve {t_full / t_r:.3f}   "
              f"(|AUC diff| {abs(fast['auc'] - auc):.1e}, |CI diff| {max(abs(fast['ci_low'] - lo), abs(fast['ci_high'] - hi)):.1e})")


if __name__ == "__main__":
    main()
