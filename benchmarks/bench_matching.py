"""Benchmark: VBQCohortLib.matching.match() vs R MatchIt 4.5.1 matchit(method="nearest") in the same run.

For each size (default 10,000 and 100,000 subjects, ~25% treated, 5 covariates incl. a categorical one) it
writes a synthetic cohort to a temporary CSV, times R's ``matchit()`` call only (Rscript subprocess,
``system.time``; propensity glm + matching), then times Python ``match()`` (propensity fit + matching, the
same work; balance tables are computed lazily and not included) in both modes:

* ``compat="matchit-4.5.1"``: bug-for-bug R 4.5.1 -> the matched sets must be identical to R's;
* default (corrected caliper/tie comparisons): reported for speed.

Prints times, the R/Python ratio and whether the matched sets are identical. Usage:
    python benchmarks/bench_matching.py [--sizes 10000,100000] [--caliper 0.2] [--no-r]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from VBQCohortLib.matching import match

R_CODE = r"""
suppressPackageStartupMessages(library(MatchIt))
a <- commandArgs(TRUE)
d <- read.csv(a[1], stringsAsFactors = FALSE); rownames(d) <- as.character(d$id)
cal <- if (a[3] == "NA") NULL else as.numeric(a[3])
tm <- system.time(m <- matchit(treat ~ age + bmi + sex + site + score, data = d, method = "nearest",
                               distance = "glm", link = a[4], caliper = cal))
mm <- m$match.matrix
out <- data.frame(treated = rownames(mm), control = mm[, 1])
write.csv(out, a[2], row.names = FALSE)
cat(sprintf('{"elapsed": %.6f}\n', tm[["elapsed"]]))
"""


def make_cohort(n: int, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(30, 90, n)
    bmi = np.round(rng.normal(26, 4, n), 1)
    sex = rng.choice(["F", "M"], n)
    site = rng.choice(["a", "b", "c", "d"], n)
    score = np.round(rng.gamma(2, 2, n), 3)
    lin = -1.6 + 0.03 * (age - 60) + 0.05 * (bmi - 26) + 0.3 * (sex == "M") + 0.2 * (site == "b") + 0.05 * score
    treat = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(int)
    return pd.DataFrame({"id": [f"u{i}" for i in range(n)], "treat": treat, "age": age, "bmi": bmi, "sex": sex,
                         "site": site, "score": score})


def run_r(rscript: str, csv: Path, tmp: Path, caliper, distance: str):
    script = tmp / "bench.R"
    script.write_text(R_CODE)
    out = tmp / "r_mm.csv"
    link = "linear.logit" if distance == "logit" else "logit"
    proc = subprocess.run([rscript, str(script), str(csv), str(out), "NA" if caliper is None else str(caliper), link],
                          capture_output=True, text=True, check=True)
    elapsed = json.loads(proc.stdout.strip().splitlines()[-1])["elapsed"]
    mm = pd.read_csv(out, keep_default_na=True)
    pairs = {t: c for t, c in zip(mm["treated"], mm["control"]) if isinstance(c, str)}
    return elapsed, pairs


def run_py(df: pd.DataFrame, caliper, distance: str, compat, repeats: int = 3):
    best = np.inf
    res = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = match(df, "treat", ["age", "bmi", "sex", "site", "score"], id="id", caliper=caliper,
                        distance=distance, compat=compat)
        best = min(best, time.perf_counter() - t0)
    pairs = {t: cs[0] for t, cs in res.pairs.items()}
    return best, pairs, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--caliper", type=float, default=None)
    ap.add_argument("--distance", choices=("ps", "logit"), default="ps")
    ap.add_argument("--no-r", action="store_true")
    args = ap.parse_args()
    rscript = None if args.no_r else shutil.which("Rscript")
    print(f"distance={args.distance} caliper={args.caliper} (R: {'Rscript' if rscript else 'not available'})")
    for n in [int(s) for s in args.sizes.split(",")]:
        df = make_cohort(n)
        n1 = int(df.treat.sum())
        with tempfile.TemporaryDirectory() as td:
            tmp = Path(td)
            csv = tmp / "cohort.csv"
            df.to_csv(csv, index=False)
            t_compat, p_compat, _ = run_py(df, args.caliper, args.distance, "matchit-4.5.1")
            t_fixed, p_fixed, res = run_py(df, args.caliper, args.distance, None)
            line = (f"n={n:>7} treated={n1:>6}  python compat {t_compat:7.3f} s  python default {t_fixed:7.3f} s"
                    f"  (matched {res.n_matched['treated']})")
            if rscript:
                t_r, p_r = run_r(rscript, csv, tmp, args.caliper, args.distance)
                same = p_r == p_compat
                ndiff = sum(1 for k in set(p_r) | set(p_compat) if p_r.get(k) != p_compat.get(k))
                line += (f"  R matchit {t_r:7.3f} s  R/python(compat) {t_r / t_compat:6.1f}x"
                         f"  R/python(default) {t_r / t_fixed:6.1f}x  identical matched sets (compat): {same}"
                         + ("" if same else f" ({ndiff} treated differ)")
                         + f"  default differs from R in {sum(1 for k in p_r if p_r.get(k) != p_fixed.get(k))}"
                           f" pairs")
            print(line, flush=True)


if __name__ == "__main__":
    main()
