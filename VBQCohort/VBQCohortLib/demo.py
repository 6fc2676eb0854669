"""The demo: a synthetic cohort like Lu et al. 2024, measured and analysed end to end (``vbq demo --out DIR``).

:func:`make_cohort` draws ``n`` patients (default 425) with cervical OPLL or CSM:

- covariates: age, sex (M/F), BMI, hypertension, diabetes, calcium supplement, glucocorticoid use, diet
  (balanced / high_salt / vegetarian), smoking, alcohol; a few BMI and smoking values are missing (the report
  counts the excluded rows);
- group: OPLL with probability logistic(-0.95 + 0.16 (BMI-25) + 0.85 hypertension - 1.2 calcium + 0.75 smoking
  + 0.35 male + 0.01 (age-60)), so the groups differ in these covariates (matching matters) and the logistic
  regression should find BMI, hypertension, calcium supplement and smoking;
- VBQ per level: 2.85 + level offset (C2 +0.30, C3 +0.05, C4 0, C5 -0.02, C6 -0.35, C7 -0.45: lower at C6/C7)
  + 0.04 (BMI-25) + 0.008 (age-60) + a patient effect N(0, 0.28) + level noise N(0, 0.18), and -0.22 at C3 in
  OPLL (the planted group effect). Sex has no effect (no male/female difference). Because VBQ rises with BMI and
  OPLL patients are heavier, the unmatched comparison is confounded -- matching removes that.

:func:`run_demo` then builds a synthetic sagittal T1 phantom MRI (:func:`VBQScoreLib.phantom.make_phantom`) for
``n_mri`` patients with level SIs = planned VBQ x a CSF SI, measures each with
:func:`VBQScoreLib.api.score_files` (the same code as ``vbq score``), writes a VBQ results table in the layout of
``vbq batch`` (measured VBQ for those patients, the simulated values for the others), joins it with the clinical
table by patient id, runs the ``lu2024`` plan and writes the report. Everything is seeded: the same seed gives the
same cohort, images, numbers and report (apart from the creation time stamp).

Reliability substudy (:func:`reliability_substudy`, with 3 or more MRIs): two synthetic readers R1 and R2 read
every phantom MRI and R1 re-reads the first half in a second session; each reading is the VBQScore measurement
of that phantom plus the reader's planned bias (R1 0, R2 +0.10 VBQ) and reading noise (SD 0.04 per level and
reading). R2 also draws its own segmentation of the first few phantoms, every ROI one voxel (0.8 mm) lower
(``mri/<id>/t1_labels_R2.nii.gz``). ``vbq agreement`` analyses (ICC, Bland-Altman, overlap) go into
``agreement/`` and the report's agreement section, beside the planted values (``data/reliability.csv`` is the
long table: ``vbq agreement data/reliability.csv --out ...`` gives the same numbers).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from VBQScoreLib.errors import VBQInputError
from VBQScoreLib.progress import ProgressCallback, report

LEVELS = ("C2", "C3", "C4", "C5", "C6", "C7")
LEVEL_OFFSET = {"C2": 0.30, "C3": 0.05, "C4": 0.0, "C5": -0.02, "C6": -0.35, "C7": -0.45}
BASE_VBQ = 2.85
OPLL_EFFECT = {"C3": -0.22}
DEFAULT_SEED = 2024
DEFAULT_N = 425
DEFAULT_N_MRI = 16
READER_BIAS = {"R1": 0.0, "R2": 0.10}   # planned additive reader bias (VBQ units)
READER_NOISE_SD = 0.04                   # planned reading noise per level and reading
N_OVERLAP = 4                            # phantoms that R2 also segments (overlap)

TRUTH = {
    "group_effect": OPLL_EFFECT,
    "level_offset": LEVEL_OFFSET,
    "sex_effect": 0.0,
    "logistic_true_coef": {"bmi": 0.16, "hypertension": 0.85, "calcium_supplement": -1.2, "smoking": 0.75,
                           "male": 0.35, "age": 0.01, "diabetes": 0.0, "glucocorticoid": 0.0, "diet": 0.0,
                           "alcohol": 0.0},
}


def make_cohort(n: int = DEFAULT_N, seed: int = DEFAULT_SEED):
    """The synthetic clinical table with planned VBQ columns (``VBQ_C2``..``VBQ_C7``); see the module doc."""
    import pandas as pd

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 40:
        raise VBQInputError(f"demo: number of patients {n!r} must be a whole number >= 40")
    rng = np.random.default_rng(seed)
    age = np.clip(np.round(rng.normal(59, 9.5, n)), 35, 85)
    male = rng.random(n) < 0.60
    bmi = np.round(np.clip(rng.normal(25.0, 3.4, n), 16.5, 40.0), 1)
    hypertension = (rng.random(n) < 1 / (1 + np.exp(-(-1.0 + 0.05 * (age - 59) + 0.12 * (bmi - 25))))).astype(int)
    diabetes = (rng.random(n) < 1 / (1 + np.exp(-(-1.8 + 0.04 * (age - 59) + 0.10 * (bmi - 25))))).astype(int)
    calcium = (rng.random(n) < np.where(male, 0.16, 0.34)).astype(int)
    gluco = (rng.random(n) < 0.05).astype(int)
    diet = rng.choice(np.array(["balanced", "high_salt", "vegetarian"]), size=n, p=[0.55, 0.30, 0.15])
    smoking = (rng.random(n) < np.where(male, 0.42, 0.08)).astype(int)
    alcohol = (rng.random(n) < np.where(male, 0.38, 0.10)).astype(int)
    lin = (-0.95 + 0.16 * (bmi - 25) + 0.85 * hypertension - 1.2 * calcium + 0.75 * smoking + 0.35 * male
           + 0.01 * (age - 59))
    opll = rng.random(n) < 1 / (1 + np.exp(-lin))
    patient = rng.normal(0, 0.28, n)
    vbq = {}
    for lv in LEVELS:
        v = (BASE_VBQ + LEVEL_OFFSET[lv] + 0.04 * (bmi - 25) + 0.008 * (age - 59) + patient
             + rng.normal(0, 0.18, n) + opll * OPLL_EFFECT.get(lv, 0.0))
        vbq[f"VBQ_{lv}"] = np.round(v, 4)
    df = pd.DataFrame({
        "patient_id": [f"P{i + 1:04d}" for i in range(n)],
        "diagnosis": np.where(opll, "OPLL", "CSM"),
        "age": age.astype(int),
        "sex": np.where(male, "M", "F"),
        "bmi": bmi,
        "hypertension": np.where(hypertension == 1, "yes", "no"),
        "diabetes": np.where(diabetes == 1, "yes", "no"),
        "calcium_supplement": np.where(calcium == 1, "yes", "no"),
        "glucocorticoid": np.where(gluco == 1, "yes", "no"),
        "diet": diet,
        "smoking": np.where(smoking == 1, "yes", "no"),
        "alcohol": np.where(alcohol == 1, "yes", "no"),
        **vbq,
    })
    # a little missing data, as in any clinic table: reported as exclusions, never dropped silently
    df["bmi"] = df["bmi"].astype(object)
    miss_bmi = rng.choice(n, size=max(1, n // 100), replace=False)
    df.loc[miss_bmi, "bmi"] = ""
    miss_smk = rng.choice(np.setdiff1d(np.arange(n), miss_bmi), size=max(1, n // 200), replace=False)
    df.loc[miss_smk, "smoking"] = ""
    return df


def _measure_phantoms(cohort, ids, out_dir: Path, seed: int, progress, base: int, total: int):
    """Phantom MRI per id (level SI = planned VBQ x CSF SI), measured with score_files. Returns rows."""
    from VBQScoreLib.api import score_files
    from VBQScoreLib.phantom import make_phantom, write_phantom

    rng = np.random.default_rng(seed + 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    by_id = cohort.set_index("patient_id")
    for k, pid in enumerate(ids):
        report(progress, base + k, total, f"phantom MRI {k + 1}/{len(ids)}")
        r = by_id.loc[pid]
        csf = float(rng.uniform(185.0, 235.0))
        planned = {lv: float(r[f"VBQ_{lv}"]) for lv in LEVELS}
        ph = make_phantom(level_si={lv: planned[lv] * csf for lv in LEVELS}, csf_si=csf,
                          shape=(7, 256, 256), spacing=(3.0, 0.8, 0.8), noise_sd=8.0,
                          seed=int(seed * 1000 + k))
        paths = write_phantom(ph, out_dir / pid, basename="t1", formats=("nifti", "labels"))
        res = score_files(paths["image"], paths["labelmap"], labels=paths["labels"])
        measured = {lv.name: lv.vbq for lv in res.levels}
        rows.append({
            "case_id": pid, "status": "ok",
            **{f"VBQ_{lv}": measured.get(lv) for lv in LEVELS},
            "VBQ_overall": res.overall.get("vbq"), "CSF_SI": res.csf.mean, "n_levels": len(measured),
            "preset": res.overall.get("preset"), "level_stat": res.overall.get("level_stat"),
            "aggregate": res.overall.get("aggregate"),
            "flags": ";".join(f"{f.code}:{f.level}" if f.level else f.code for f in res.flags), "error": "",
            "source": "phantom MRI measured by VBQScore",
            "_planned": planned,
        })
    return rows


def reliability_substudy(measured: list, mri_dir: Path, seed: int):
    """Readings of the phantom MRIs by two synthetic readers and a re-read (see the module doc). Returns
    ``(long table, agreement results, frames, planted)``; ``(None, None, None, None)`` with fewer than 3 MRIs."""
    import pandas as pd
    import SimpleITK as sitk

    from VBQScoreLib.image_io import read_image
    from VBQScoreLib.overlap import overlap_segments, summarise_cases
    from VBQScoreLib.segments import read_segmentation

    from .agreement.analysis import run_agreement
    from .agreement.data import read_long_table

    if len(measured) < 3:
        return None, None, None, None
    rng = np.random.default_rng(seed + 3)
    ids = [r["case_id"] for r in measured]
    reread = ids[: (len(ids) + 1) // 2]
    rows = []
    for reader, session, cases in (("R1", 1, ids), ("R2", 1, ids), ("R1", 2, reread)):
        for r in measured:
            if r["case_id"] not in cases:
                continue
            for lv in LEVELS:
                v = r[f"VBQ_{lv}"]
                val = None if v is None else round(v + READER_BIAS[reader] + rng.normal(0, READER_NOISE_SD), 4)
                rows.append({"case_id": r["case_id"], "reader": reader, "session": session, "level": lv, "vbq": val})
    table = pd.DataFrame(rows)
    data = read_long_table(table.rename(index=lambda i: i + 2))
    per_case = {}
    for pid in ids[:N_OVERLAP]:
        d = mri_dir / pid
        lab = sitk.ReadImage(str(d / "t1_labels.nii.gz"))
        arr = sitk.GetArrayFromImage(lab)
        low = np.zeros_like(arr)
        low[:, :, 1:] = arr[:, :, :-1]   # one voxel along the image's x index (0.8 mm)
        im = sitk.GetImageFromArray(low)
        im.CopyInformation(lab)
        sitk.WriteImage(im, str(d / "t1_labels_R2.nii.gz"), True)
        img = read_image(d / "t1.nii.gz").image
        res, _ = overlap_segments(img, read_segmentation(d / "t1_labels.nii.gz", d / "t1_labels.txt"),
                                  read_segmentation(d / "t1_labels_R2.nii.gz", d / "t1_labels.txt"),
                                  names=("R1", "R2"))
        per_case[pid] = {"R1 vs R2": res}
    overlap = {"levels": summarise_cases(per_case, "R1 vs R2"), "pair": "R1 vs R2", "readers": ["R1", "R2"],
               "n_cases": len(per_case), "cases": per_case, "warnings": []}
    results, frames = run_agreement(data, overlap=overlap, return_frames=True,
                                    command="vbq agreement data/reliability.csv --out agreement")
    planted = {"reader_bias": READER_BIAS, "noise_sd": READER_NOISE_SD, "reread_cases": reread,
               "planted_bias": {"R1 vs R2": READER_BIAS["R1"] - READER_BIAS["R2"],
                                "R1 session 1 vs R1 session 2": 0.0},
               "overlap_shift_mm": 0.8, "overlap_cases": ids[:N_OVERLAP]}
    return table, results, frames, planted


def run_demo(out_dir, *, seed: int = DEFAULT_SEED, n_patients: int = DEFAULT_N, n_mri: int = DEFAULT_N_MRI,
             progress: ProgressCallback = None) -> dict:
    """Generate, measure, join, analyse and report into ``out_dir`` (atomic: nothing is left on failure).

    Writes ``data/clinical.csv``, ``data/vbq_results.csv`` (the ``vbq batch`` layout), ``mri/<id>/t1.nii.gz``
    (+ labelmap and label names) for the imaged patients, and the report files of
    :func:`VBQCohortLib.report.write_report`. Returns ``{"out": ..., "report": ..., "results": results}``.
    """
    import pandas as pd

    from VBQScoreLib.atomic import atomic_directory

    from .analysis.run import run_analysis
    from .report.cohort import write_report

    if isinstance(n_mri, bool) or not isinstance(n_mri, (int, np.integer)) or n_mri < 0:
        raise VBQInputError(f"demo: number of MRIs {n_mri!r} must be a whole number >= 0")
    if n_mri > n_patients:
        raise VBQInputError(f"demo: {n_mri} MRIs for {n_patients} patients")
    out_dir = Path(out_dir)
    n_an = 14  # analysis steps (run_analysis reports up to 6 + levels + 1)
    total = 2 + n_mri + n_an + 3
    report(progress, 0, total, "synthetic cohort")
    full = make_cohort(n_patients, seed)
    from .diagnostic.demo import add_columns  # DXA T-score and screw loosening (issue 18), own random stream

    full, diag_truth = add_columns(full, seed)
    rng = np.random.default_rng(seed + 2)
    # two patients without an MRI (reported by the join as 'in clinical table only')
    no_mri = set(rng.choice(full["patient_id"].to_numpy(), size=2, replace=False)) if n_patients >= 100 else set()
    candidates = [p for p in full["patient_id"] if p not in no_mri]
    mri_ids = sorted(rng.choice(np.array(candidates), size=n_mri, replace=False).tolist()) if n_mri else []
    vbq_cols = [f"VBQ_{lv}" for lv in LEVELS]
    clinical = full.drop(columns=vbq_cols)
    with atomic_directory(out_dir) as tmp:
        tmp = Path(tmp)
        (tmp / "data").mkdir()
        clinical.to_csv(tmp / "data" / "clinical.csv", index=False)
        measured = _measure_phantoms(full, mri_ids, tmp / "mri", seed, progress, 1, total) if mri_ids else []
        mrows = {r["case_id"]: r for r in measured}
        rows = []
        for _, r in full.iterrows():
            pid = r["patient_id"]
            if pid in no_mri:
                continue
            if pid in mrows:
                rows.append({k: v for k, v in mrows[pid].items() if k != "_planned"})
            else:
                vals = {c: float(r[c]) for c in vbq_cols}
                rows.append({"case_id": pid, "status": "ok", **vals,
                             "VBQ_overall": float(np.mean(list(vals.values()))), "CSF_SI": None,
                             "n_levels": len(LEVELS), "preset": "lu2024", "level_stat": "mean",
                             "aggregate": "mean", "flags": "", "error": "",
                             "source": "simulated (no image)"})
        vbq_table = pd.DataFrame(rows)
        vbq_table.to_csv(tmp / "data" / "vbq_results.csv", index=False)
        rel_table, rel_results, rel_frames, planted = reliability_substudy(measured, tmp / "mri", seed)
        if rel_table is not None:
            rel_table.to_csv(tmp / "data" / "reliability.csv", index=False)

        def sub_progress(done, tot, msg):
            report(progress, 1 + n_mri + min(int(done * n_an / max(tot, 1)), n_an), total, msg)

        results, frames = run_analysis(tmp / "data" / "clinical.csv", "lu2024",
                                       vbq_results=tmp / "data" / "vbq_results.csv", progress=sub_progress,
                                       command=f"vbq demo --out {out_dir} --seed {seed} --n-patients "
                                               f"{n_patients} --n-mri {n_mri}",
                                       return_frames=True)
        # provenance: name the final paths, not the temporary folder
        for item in results["provenance"]["inputs"]:
            item["path"] = str(out_dir / Path(item["path"]).relative_to(tmp))
        if results.get("join"):
            results["join"]["source"] = str(out_dir / "data" / "vbq_results.csv")
        agreement = []
        for r in measured:
            for lv in LEVELS:
                agreement.append({"patient_id": r["case_id"], "level": lv, "planned_vbq": r["_planned"][lv],
                                  "measured_vbq": r[f"VBQ_{lv}"]})
        diffs = [abs(a["measured_vbq"] - a["planned_vbq"]) for a in agreement if a["measured_vbq"] is not None]
        results["demo"] = {
            "seed": seed, "n_patients": n_patients, "n_mri": n_mri, "mri_ids": mri_ids,
            "no_mri_ids": sorted(no_mri), "truth": TRUTH,
            "phantom_agreement": {"n": len(diffs), "max_abs_diff": max(diffs) if diffs else None,
                                  "mean_abs_diff": float(np.mean(diffs)) if diffs else None,
                                  "rows": agreement},
            "note": (f"SYNTHETIC DEMO DATA — not patients. {n_patients} simulated patients with planted effects "
                     f"(lower C3 VBQ in OPLL; lower VBQ at C6/C7; no sex difference). VBQ of {n_mri} of them was "
                     f"measured by VBQScore on synthetic phantom MRIs (folder mri/); the others' VBQ were "
                     f"simulated directly."),
        }
        if rel_results is not None:
            from .agreement.report import write_agreement

            results["agreement"] = rel_results
            results["demo"]["reliability"] = planted
            frames = dict(frames or {}, agreement=rel_frames)
            write_agreement(rel_results, tmp / "agreement", rel_frames)
        if n_patients >= 40:  # diagnostic accuracy of VBQ_overall (issue 18) into diagnostic/
            from .diagnostic.demo import run_demo_diagnostic

            results["demo"]["diagnostic"] = run_demo_diagnostic(tmp, out_dir, diag_truth)
        report(progress, 1 + n_mri + n_an, total, "writing report")
        write_report(results, tmp, frames)
    report(progress, total, total, "done")
    return {"out": out_dir, "report": out_dir / "report.html", "results": results}
