"""Write the synthetic cohorts used as R MatchIt references (seeded; rerun to regenerate identical CSVs).

synth_ties.csv       400 subjects, integer ages, text sex (F/M) and smoking (no/yes), BMI to 0.5 units, and
                     blocks of subjects with identical covariates (identical propensity scores: tie handling).
synth_sites.csv      1500 subjects, 3-level site, continuous covariates, 30% treated.
synth_few_controls.csv  90 subjects, 50 treated / 40 controls: controls run out (ratio 2, no replacement).
terms_cohort.csv     240 patients (OPLL/CSM) with text covariates for R's term names (terms_reference.R): sex
                     F/M, hypertension yes/no, diabetes 0/1 (numbers), smoking with a level containing a space,
                     diet whose levels differ in letter case (C-locale vs UTF-8 order), grade 1/2/10 (numbers,
                     categorical: sorted by value), and VBQ_C2..VBQ_C7.
Usage: python make_synthetic_cohorts.py [OUTDIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd


def synth_ties(rng) -> pd.DataFrame:
    n = 400
    age = rng.integers(40, 80, n)
    sex = rng.choice(["F", "M"], n, p=[0.45, 0.55])
    bmi = np.round(rng.normal(25, 3.5, n) * 2) / 2
    smoking = rng.choice(["no", "yes"], n, p=[0.7, 0.3])
    # 8 blocks of 6 subjects with identical covariates
    for b in range(8):
        idx = np.arange(b * 6, b * 6 + 6) + 100
        age[idx] = age[idx[0]]
        sex[idx] = sex[idx[0]]
        bmi[idx] = bmi[idx[0]]
        smoking[idx] = smoking[idx[0]]
    lin = -1.0 + 0.04 * (age - 60) + 0.5 * (sex == "M") + 0.08 * (bmi - 25) + 0.4 * (smoking == "yes")
    treat = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(int)
    return pd.DataFrame({"id": [f"P{i + 1:03d}" for i in range(n)], "treat": treat, "age": age, "sex": sex,
                         "bmi": bmi, "smoking": smoking})


def synth_sites(rng) -> pd.DataFrame:
    n = 1500
    site = rng.choice(["north", "south", "west"], n, p=[0.5, 0.3, 0.2])
    x1 = rng.normal(0, 1, n)
    x2 = rng.gamma(2.0, 1.5, n)
    diabetes = (rng.random(n) < 0.2).astype(int)
    lin = -1.2 + 0.6 * x1 - 0.2 * x2 + 0.5 * (site == "south") - 0.4 * (site == "west") + 0.7 * diabetes
    treat = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(int)
    return pd.DataFrame({"id": np.arange(1, n + 1) * 7, "treat": treat, "site": site, "x1": np.round(x1, 6),
                         "x2": np.round(x2, 6), "diabetes": diabetes})


def synth_few_controls(rng) -> pd.DataFrame:
    n1, n0 = 50, 40
    age = np.concatenate([rng.normal(62, 8, n1), rng.normal(58, 8, n0)]).round(1)
    sex = rng.choice(["female", "male"], n1 + n0)
    treat = np.r_[np.ones(n1, int), np.zeros(n0, int)]
    perm = rng.permutation(n1 + n0)
    return pd.DataFrame({"id": [f"S{i:02d}" for i in range(n1 + n0)], "treat": treat[perm], "age": age[perm],
                         "sex": sex[perm]})


def terms_cohort(rng) -> pd.DataFrame:
    n = 240
    age = rng.integers(40, 80, n)
    sex = rng.choice(["F", "M"], n, p=[0.45, 0.55])
    bmi = np.round(rng.normal(25, 3.5, n), 1)
    hypertension = rng.choice(["no", "yes"], n, p=[0.6, 0.4])
    diabetes = (rng.random(n) < 0.25).astype(int)
    smoking = rng.choice(["never smoked", "former", "current"], n, p=[0.5, 0.3, 0.2])
    diet = rng.choice(["balanced", "High salt", "vegetarian"], n, p=[0.5, 0.3, 0.2])
    grade = rng.choice([1, 2, 10], n, p=[0.4, 0.35, 0.25])
    lin = (-4.6 + 0.03 * age + 0.5 * (sex == "M") + 0.05 * bmi + 0.6 * (hypertension == "yes") - 0.3 * diabetes
           + 0.4 * (smoking == "current") + 0.5 * (diet == "High salt") + 0.3 * (grade == 10))
    opll = rng.random(n) < 1 / (1 + np.exp(-lin))
    out = pd.DataFrame({"patient_id": [f"T{i:03d}" for i in range(1, n + 1)],
                        "diagnosis": np.where(opll, "OPLL", "CSM"), "age": age, "sex": sex, "bmi": bmi,
                        "hypertension": hypertension, "diabetes": diabetes, "smoking": smoking, "diet": diet,
                        "grade": grade})
    for k in range(2, 8):
        out[f"VBQ_C{k}"] = np.round(rng.normal(2.8 - 0.05 * k, 0.35, n) - 0.15 * opll, 4)
    return out


def main(outdir: Path) -> None:
    rng = np.random.default_rng(20240317)
    for name, make in (("synth_ties", synth_ties), ("synth_sites", synth_sites),
                       ("synth_few_controls", synth_few_controls)):
        make(rng).to_csv(outdir / f"{name}.csv", index=False, lineterminator="\n")
    terms_cohort(np.random.default_rng(20260808)).to_csv(outdir / "terms_cohort.csv", index=False,
                                                          lineterminator="\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
