"""Benchmark: Table 1 (issue 17) for 1,000,000 subjects, in-process. Goal: < 2 s for one table.

Cohort: 1,000,000 subjects, two groups, covariates age (normal), BMI (skewed, 2 decimals: ties), CRP (whole
numbers: many ties), sex (0/1), smoking (3 text levels), hypertension (0/1), a rare 4-level category (Fisher's
exact test), then VBQ C2-C7 and overall (3 decimals). Both groups exceed 5000, so Shapiro-Wilk is not run (R's
limit) and every continuous row takes the median (IQR) and the rank-sum test -- the slowest path.
Timed: ``table1`` before matching (unweighted, with tests) and after matching with weights (weighted statistics).
Baseline in the same run: ``pandas.DataFrame.groupby(group).describe()`` of the same numeric columns (what a
user would type for a rough Table 1 without tests), so the ratio says what the tests and rules cost on top.

    python benchmarks/bench_table1.py [--n 1000000] [--reps 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd


def cohort(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 2, n)
    d = pd.DataFrame({
        "group": g,
        "age": np.round(rng.normal(60 + g, 8, n), 1),
        "bmi": np.round(np.exp(rng.normal(3.2, 0.25, n)), 2),
        "crp": np.round(rng.exponential(3, n)),
        "sex": rng.integers(0, 2, n),
        "smoking": rng.choice(np.array(["never", "former", "current"], dtype=object), n),
        "hypertension": rng.integers(0, 2, n),
        "rare": rng.choice(np.array(["a", "b", "c", "d"], dtype=object), n, p=[0.999985, 0.000005, 0.000005, 0.000005]),
    })
    levels = [f"VBQ_C{i}" for i in range(2, 8)]
    for i, c in enumerate(levels):
        d[c] = np.round(rng.normal(3.0 - 0.05 * i, 0.4, n), 3)
    d["VBQ_overall"] = np.round(d[levels].mean(axis=1), 3)
    return d


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    from VBQCohortLib.publication.table1 import table1

    d = cohort(a.n)
    t = d["group"].to_numpy()
    cov = ["age", "bmi", "crp", "sex", "smoking", "hypertension", "rare"]
    vbq = [f"VBQ_C{i}" for i in range(2, 8)]
    rng = np.random.default_rng(2)
    w = np.where(t == 1, 1.0, rng.choice([0.0, 0.5, 1.0, 2.0], len(t)))
    table1(d.iloc[:1000], t[:1000], cov, vbq=vbq, overall="VBQ_overall")  # imports, warm-up
    numeric = ["age", "bmi", "crp"] + vbq + ["VBQ_overall"]

    cpu: dict = {}

    def timed(fn, key=None):
        """Median wall time; the median CPU time of this process (``time.process_time``) is kept in ``cpu``
        too: on a machine shared with other jobs the wall time overstates the cost."""
        out, c = [], []
        for _ in range(a.reps):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            out.append(time.perf_counter() - t0)
            c.append(time.process_time() - c0)
        cpu[key] = statistics.median(c)
        return statistics.median(out)

    base = timed(lambda: d.groupby("group")[numeric].describe(), "base")
    before = timed(lambda: table1(d, t, cov, vbq=vbq, overall="VBQ_overall"), "before")
    after = timed(lambda: table1(d, t, cov, vbq=vbq, overall="VBQ_overall", weights=w), "after")
    res = table1(d, t, cov, vbq=vbq, overall="VBQ_overall")
    tests = sorted({r["test"] for r in res["rows"] if r["test"]})
    print(f"n = {a.n:,} subjects, {len(res['rows'])} rows, tests used: {', '.join(tests)}")
    print(f"baseline pandas groupby().describe() of {len(numeric)} numeric columns: {base:.3f} s "
          f"(CPU {cpu['base']:.3f} s)")
    print(f"table1 before matching (with tests):   {before:.3f} s  (ratio {before / base:.2f}; "
          f"CPU {cpu['before']:.3f} s, "
          f"ratio {cpu['before'] / cpu['base']:.2f}; goal < 2 s)")
    print(f"table1 after matching (weighted):      {after:.3f} s  (ratio {after / base:.2f}; CPU {cpu['after']:.3f} s, "
          f"ratio {cpu['after'] / cpu['base']:.2f})")


if __name__ == "__main__":
    main()
