"""Benchmark: `vbq cohort match` against R MatchIt `matchit(method="nearest")`, whole process against whole
process, side by side in one run.

For each size (default 100,000 and 1,000,000 subjects, ~25% treated, 5 covariates incl. two text ones) a
synthetic cohort is written to a CSV. Each tool then runs as a fresh process that reads the CSV and writes its
pairs: 1:1 nearest neighbour on the logit of the propensity score (glm) with a caliper of 0.2 SD (Austin),
largest distance first (the defaults otherwise):

* R: ``Rscript`` reading the CSV with ``read.csv``, ``matchit(..., distance = "glm", link = "linear.logit",
  caliper = 0.2)``, writing the pairs with ``write.csv``; it prints its own phases (library, read, matchit,
  write).
* vbq: ``vbq cohort match CSV --id id --group treat --treated 1 --covariates ... --distance logit --caliper 0.2
  --json OUT`` (the JSON holds the pairs, all scores, weights and balance; the summary goes to stdout).

Matched sets are compared pair by pair with the mode that implements the same algorithm as the R build:
the R MatchIt installed here (Debian's 4.5.1) has the integer-``abs`` bug (#163: a caliper below 1 never
binds and the left neighbour wins whenever both differences are below 1), so it is compared with
``--compat matchit-4.5.1``; the default algorithm equals MatchIt >= 4.5.4 and is compared with a fixed R
MatchIt when one is given with ``--r-lib DIR`` (a private library holding e.g. MatchIt 4.5.5 built from
kosukeimai/MatchIt, see Testing/r_reference/matchit_reference.R). Times are wall seconds (and CPU seconds)
of the whole process; the ratio vbq/R is the figure of merit (goal <= 0.1).

Then the whole vbq process is broken down (imports, CSV parse, model fit, matching, balance, JSON encoding,
writing, the rest) by running the same CLI entry point in a subprocess with timers wrapped around the library
functions it calls.

    python benchmarks/bench_matching.py [--sizes 100000,1000000] [--r-lib DIR [--no-system-r]] [--no-r] [--r-timeout 3600] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

COVARIATES = ["age", "bmi", "sex", "site", "score"]

R_CODE = r"""
t0 <- proc.time()[["elapsed"]]
a <- commandArgs(TRUE)
if (nzchar(a[3])) .libPaths(c(a[3], .libPaths()))
suppressPackageStartupMessages(library(MatchIt))
t1 <- proc.time()[["elapsed"]]
d <- read.csv(a[1], stringsAsFactors = FALSE); rownames(d) <- as.character(d$id)
t2 <- proc.time()[["elapsed"]]
m <- matchit(treat ~ age + bmi + sex + site + score, data = d, method = "nearest", distance = "glm",
             link = "linear.logit", caliper = 0.2)
t3 <- proc.time()[["elapsed"]]
mm <- m$match.matrix
write.csv(data.frame(treated = rownames(mm), control = mm[, 1]), a[2], row.names = FALSE)
t4 <- proc.time()[["elapsed"]]
cat(sprintf('{"MatchIt": "%s", "library": %.3f, "read.csv": %.3f, "matchit": %.3f, "write.csv": %.3f}\n',
            as.character(packageVersion("MatchIt")), t1 - t0, t2 - t1, t3 - t2, t4 - t3))
"""

# the same CLI entry point as `vbq`, with exclusive timers around the library functions it calls
BREAKDOWN = r"""
import sys, time, json, contextlib, io
T0 = time.perf_counter()
import numpy, pandas
import vbq_cli.main, vbq_cli.cohort_match as cm
import VBQCohortLib.matching.nearest as M, VBQCohortLib.matching.propensity as P, VBQCohortLib.matching.balance as B
import VBQCohortLib.reading.spreadsheet, VBQCohortLib.reading.delimited
import VBQScoreLib.json_text as J, VBQScoreLib.atomic as A
imports = time.perf_counter() - T0
spent = {}
stack = []

def wrap(owner, name, phase):
    f = getattr(owner, name)
    def timed(*a, **k):
        t = time.perf_counter()
        stack.append(0.0)
        try:
            return f(*a, **k)
        finally:
            dt = time.perf_counter() - t
            inner = stack.pop()
            spent[phase] = spent.get(phase, 0.0) + dt - inner
            if stack:
                stack[-1] += dt
    setattr(owner, name, timed)

wrap(cm, "read_data", "CSV parse")
wrap(P, "estimate_ps", "propensity model (design matrix + glm)")
wrap(M, "_nn_core", "matching (nearest neighbour)")
wrap(B, "balance_table", "balance tables")
wrap(M.MatchResult, "to_dict", "results -> dict")
wrap(J, "dumps", "JSON text")
wrap(A, "write_text_atomic", "writing the JSON file")
t = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    code = vbq_cli.main.main(sys.argv[1:])
total = time.perf_counter() - t
spent["rest (argument checks, weights, sample sizes, summary text)"] = total - sum(spent.values())
print(json.dumps({"code": code, "imports": imports, "run": total, "phases": spent}))
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


def timed(cmd, timeout=None, env=None):
    """(wall s, CPU s of the child, CompletedProcess or None on timeout)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    try:
        p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return time.perf_counter() - t, float("nan"), None
    dt = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(map(str, cmd))}\n{p.stderr[-2000:]}")
    return dt, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), p


def vbq_cmd(csv: Path, out: Path, compat: bool) -> list:
    cmd = [sys.executable, "-m", "vbq_cli", "cohort", "match", csv, "--id", "id", "--group", "treat", "--treated",
           "1", "--covariates", ",".join(COVARIATES), "--distance", "logit", "--caliper", "0.2", "--json", out]
    return cmd + (["--compat", "matchit-4.5.1"] if compat else [])


def r_pairs(path: Path) -> dict:
    mm = pd.read_csv(path, keep_default_na=True)
    return {t: c for t, c in zip(mm["treated"], mm["control"]) if isinstance(c, str)}


def vbq_pairs(path: Path) -> dict:
    return {t: cs[0] for t, cs in json.loads(path.read_text(encoding="utf-8"))["pairs"].items()}


def compare(a: dict, b: dict) -> str:
    if a == b:
        return f"identical ({len(a)} pairs)"
    diff = sum(1 for k in set(a) | set(b) if a.get(k) != b.get(k))
    return f"DIFFER in {diff} treated units ({len(a)} vs {len(b)} pairs)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--r-lib", default="", metavar="DIR", help="private R library with a fixed MatchIt (>= 4.5.4)")
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--no-system-r", action="store_true",
                    help="with --r-lib: run only the fixed MatchIt, not the one installed system-wide")
    ap.add_argument("--r-timeout", type=float, default=3600, metavar="S", help="give up on an R run after S s")
    ap.add_argument("--reps", type=int, default=3, help="vbq runs per mode (median; R runs once)")
    args = ap.parse_args()
    if args.no_system_r and not args.r_lib:
        ap.error("--no-system-r needs --r-lib DIR (a fixed MatchIt to run instead)")
    rscript = None if args.no_r else shutil.which("Rscript")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    print(f"1:1 nearest on the logit, caliper 0.2 SD, whole processes (R: {rscript or 'not available'}"
          f"{', fixed MatchIt from ' + args.r_lib if args.r_lib else ''})", flush=True)
    for n in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as td:
            tmp = Path(td)
            df = make_cohort(n)
            csv = tmp / "cohort.csv"
            df.to_csv(csv, index=False)
            print(f"\nn = {n:,} ({int(df.treat.sum()):,} treated), CSV {csv.stat().st_size / 1e6:.1f} MB", flush=True)
            timed(vbq_cmd(csv, tmp / "warm.json", False), env=env)  # byte-compile, warm the file cache
            runs = {}
            for label, compat in (("vbq --compat matchit-4.5.1", True), ("vbq (default)", False)):
                out = tmp / f"vbq_{int(compat)}.json"
                times = [timed(vbq_cmd(csv, out, compat), env=env)[:2] for _ in range(args.reps)]
                w, c = statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)
                runs[label] = (w, c, vbq_pairs(out))
                print(f"  {label:28s} {w:8.2f} s wall {c:8.2f} s CPU   (median of {args.reps}; "
                      f"{', '.join(f'{t[0]:.2f}' for t in times)} s)", flush=True)
            if rscript:
                script = tmp / "bench.R"
                script.write_text(R_CODE, encoding="utf-8")
                libs = [] if args.no_system_r else [("", "vbq --compat matchit-4.5.1")]
                libs += [(args.r_lib, "vbq (default)")] if args.r_lib else []
                for lib, ours in libs:
                    out = tmp / "r_pairs.csv"
                    w, c, p = timed([rscript, script, csv, out, lib], timeout=args.r_timeout)
                    if p is None:
                        print(f"  R MatchIt{' (' + lib + ')' if lib else ''}: did not finish in {args.r_timeout:.0f} s "
                              f"(vbq/R ratio < {runs[ours][0] / args.r_timeout:.4f})", flush=True)
                        continue
                    info = json.loads(p.stdout.strip().splitlines()[-1])
                    phases = ", ".join(f"{k} {v:.2f} s" for k, v in info.items() if k != "MatchIt")
                    vw, vc, vp = runs[ours]
                    print(f"  R MatchIt {info['MatchIt']:9s}          {w:8.2f} s wall {c:8.2f} s CPU   ({phases})\n"
                          f"    {ours} / R: wall ratio {vw / w:.3f}, CPU ratio {vc / c:.3f}; matched sets vs "
                          f"{ours}: {compare(r_pairs(out), vp)}", flush=True)
                    if not lib:
                        print(f"    (vbq default vs R {info['MatchIt']}: {compare(r_pairs(out), runs['vbq (default)'][2])}"
                              f" -- expected to differ: R 4.5.1's integer abs ignores the caliper on the logit)")
            breakdown(csv, tmp, env)


def breakdown(csv: Path, tmp: Path, env: dict) -> None:
    cmd = [sys.executable, "-c", BREAKDOWN] + vbq_cmd(csv, tmp / "b.json", False)[3:]
    w, _, p = timed(cmd, env=env)
    b = json.loads(p.stdout.strip().splitlines()[-1])
    rows = [("interpreter start-up", w - b["imports"] - b["run"]), ("imports (numpy, pandas, vbq modules)", b["imports"])]
    rows += sorted(b["phases"].items(), key=lambda kv: -kv[1])
    print(f"  breakdown of one `vbq cohort match` process (default mode), {w:.2f} s wall:")
    for name, s in rows:
        print(f"    {name:60s} {s:7.3f} s {100 * s / w:5.1f}%")


if __name__ == "__main__":
    main()
