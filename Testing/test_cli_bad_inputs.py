"""The ``vbq`` command on realistic and on bad input, as a surgeon would use it.

Contract for bad input: exit code 2, ONE line on stderr naming the file/column/rows/segment/option and what is
wrong, no traceback, no output created or modified, inputs unchanged (checked by hashing the whole dataset folder
before and after each call). ``vbq batch``: a bad case is an error row and exit 1; a bad manifest is exit 2.

Everything runs in-process through ``vbq_cli.main.main`` on one small module-scoped dataset (a 40-subject
cohort table and its bad variants, two small phantom MRIs with their segmentations, manifests).
"""

from __future__ import annotations

import csv
import hashlib
import json
import shlex
from pathlib import Path

import numpy as np
import pytest

from vbq_cli.main import main

LEVELS = ["C2", "C3", "C4", "C5", "C6", "C7"]


# ------------------------------------------------------------------------------------------------------------
# dataset

def _good_frame(n=40, seed=1):
    import pandas as pd

    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "patient_id": [f"P{i:03d}" for i in range(1, n + 1)],
        "diagnosis": ["OPLL"] * 15 + ["CSM"] * (n - 15),
        "age": rng.integers(40, 80, n),
        "sex": np.tile(["M", "F"], n // 2),
        "bmi": np.round(rng.normal(25, 3, n), 1),
    })
    for k, lv in enumerate(LEVELS):
        df[f"VBQ_{lv}"] = np.round(rng.normal(3.0 - 0.05 * k, 0.4, n), 3)
    return df


def _build(root: Path) -> dict:
    import openpyxl
    import pandas as pd
    import SimpleITK as sitk

    from VBQScoreLib.phantom import make_phantom, write_phantom

    t = root / "tables"
    t.mkdir(parents=True)
    df = _good_frame()
    df.to_csv(t / "good.csv", index=False)
    df.iloc[:0].to_csv(t / "header_only.csv", index=False)
    (t / "empty.csv").write_bytes(b"")
    (t / "folder.csv").mkdir()
    df.drop(columns=["bmi"]).to_csv(t / "no_bmi.csv", index=False)
    df.drop(columns=["VBQ_C4"]).to_csv(t / "no_c4.csv", index=False)
    df.drop(columns=["patient_id"]).to_csv(t / "no_id.csv", index=False)
    df.drop(columns=["diagnosis"]).to_csv(t / "no_group.csv", index=False)
    df.rename(columns={"bmi": "BMI_kg"}).to_csv(t / "misspelled.csv", index=False)
    d = df.copy()
    d.loc[5, "patient_id"] = d.loc[3, "patient_id"]  # rows 5 and 7 share P004
    d.to_csv(t / "dup_ids.csv", index=False)
    d = df.copy().astype({"bmi": object})
    d.loc[6, "bmi"] = "twenty"   # spreadsheet row 8
    d.loc[9, "bmi"] = "25,4kg"   # row 11
    d.to_csv(t / "text_bmi.csv", index=False)
    d = df.copy().astype({"VBQ_C3": object})
    d.loc[7, "VBQ_C3"] = "n.d."  # row 9
    d.to_csv(t / "text_level.csv", index=False)
    d = df.copy()
    d["bmi"] = np.nan
    d.to_csv(t / "bmi_all_missing.csv", index=False)
    d = df.copy()
    d["VBQ_C5"] = np.nan
    d.to_csv(t / "c5_all_missing.csv", index=False)
    d = df.copy()
    d.loc[1:14, "diagnosis"] = "CSM"  # one OPLL subject left (row 2)
    d.to_csv(t / "one_treated.csv", index=False)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "clinical"
    ws.append(list(df.columns))
    for r in df.itertuples(index=False):
        ws.append([v.item() if hasattr(v, "item") else v for v in r])
    ws["E3"] = "#DIV/0!"  # bmi of row 3
    ws["F4"] = "#N/A"     # VBQ_C2 of row 4
    wb.create_sheet("notes").append(["note"])
    wb.save(t / "errors.xlsx")
    df.to_csv(t / "semicolon.csv", sep=";", decimal=",", index=False)
    d = df.copy()
    d.insert(1, "name", ["José Müller", "Zoë Ångström"] * (len(d) // 2))
    d.to_csv(t / "bom.csv", index=False, encoding="utf-8-sig")
    d.to_csv(t / "latin1.csv", index=False, encoding="latin-1")
    d = df.copy()
    d["patient_id"] = [f"{i:05d}" for i in range(1, len(d) + 1)]
    d.to_csv(t / "zeros.csv", index=False)
    d = df.copy()
    d.loc[[2, 20], "bmi"] = np.nan  # rows 4 and 22
    d.to_csv(t / "clin_missing.csv", index=False)
    (t / "png_named.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(32))
    v = df[["patient_id"] + [f"VBQ_{lv}" for lv in LEVELS]].rename(columns={"patient_id": "case_id"})
    v.insert(1, "status", "ok")
    v.assign(case_id=[f"X{i}" for i in range(len(v))]).to_csv(t / "vbq_otherids.csv", index=False)
    pd.concat([v, v.iloc[:1]]).to_csv(t / "vbq_dup.csv", index=False)  # P001 twice (rows 2, 42)
    v.rename(columns={"case_id": "patient"}).to_csv(t / "vbq_noid.csv", index=False)
    vt = v.astype({"VBQ_C2": object})
    vt.loc[3, "VBQ_C2"] = "abc"  # row 5
    vt.to_csv(t / "vbq_text.csv", index=False)
    _agreement_tables(t)

    m = root / "mri"
    ph = make_phantom(shape=(9, 128, 128), spacing=(3.0, 1.6, 1.6), seed=3)
    paths = write_phantom(ph, m / "case1", basename="t1")
    write_phantom(make_phantom(shape=(9, 128, 128), spacing=(3.0, 1.6, 1.6), seed=4), m / "case2", basename="t1")
    lab = sitk.GetArrayFromImage(ph.labelmap)
    csf = next(k for k, v in ph.labels.items() if "CSF" in v)
    c3 = next(k for k, v in ph.labels.items() if v == "C3")

    def save(arr, name, origin=None):
        im = sitk.GetImageFromArray(arr.astype(np.uint8))
        im.CopyInformation(ph.labelmap)
        if origin is not None:
            im.SetOrigin(origin)
        sitk.WriteImage(im, str(m / name))

    save(np.where(lab == csf, 0, lab), "no_csf.nii.gz")
    save(np.where(lab == c3, 0, lab), "no_c3.nii.gz")
    save(lab, "far.nii.gz", origin=(1000.0, 1000.0, 1000.0))
    (m / "empty.nii.gz").write_bytes(b"")
    (m / "corrupt.nii.gz").write_bytes(b"\x1f\x8b garbage, not a gzip")

    def manifest(name, rows, header=("case_id", "image", "segmentation", "labels")):
        with open(root / name, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)

    ok1 = ["case1", "mri/case1/t1.nii.gz", "mri/case1/t1.seg.nrrd", ""]
    ok2 = ["case2", "mri/case2/t1.nii.gz", "mri/case2/t1.seg.nrrd", ""]
    manifest("man_good.csv", [ok1, ok2])
    manifest("man_nocol.csv", [r[:2] for r in (ok1, ok2)], header=("case_id", "image"))
    manifest("man_dup.csv", [ok1, ["case1"] + ok2[1:]])
    manifest("man_missing_file.csv", [ok1, ["case2", "mri/case2/nope.nii.gz", "mri/case2/t1.seg.nrrd", ""]])
    manifest("man_corrupt.csv", [ok1, ["case2", "mri/corrupt.nii.gz", "mri/case2/t1.seg.nrrd", ""]])
    manifest("man_bad_labels.csv", [ok1, ["case2", "mri/case2/t1.nii.gz", "mri/case2/t1_labels.nii.gz", "mri/nope.txt"]])
    manifest("man_no_csf.csv", [ok1, ["case2", "mri/case1/t1.nii.gz", "mri/no_csf.nii.gz", "mri/case1/t1_labels.txt"]])
    (root / "man_empty.csv").write_bytes(b"")
    manifest("man_header_only.csv", [])
    return {"truth": json.loads(Path(paths["truth"]).read_text(encoding="utf-8"))}


def _agreement_tables(t: Path) -> None:
    """Long tables for ``vbq agreement``: 10 cases x R1, R2 x C2-C4 (spreadsheet row = position + 2)."""
    import pandas as pd

    rng = np.random.default_rng(7)
    g = pd.DataFrame([{"case_id": f"A{c:02d}", "reader": r, "level": lv,
                       "vbq": round(2.8 + 0.3 * np.sin(c) + rng.normal(0, 0.05), 3)}
                      for c in range(1, 11) for r in ("R1", "R2") for lv in ("C2", "C3", "C4")])
    g.to_csv(t / "agr_good.csv", index=False)
    g[g.reader == "R1"].to_csv(t / "agr_one_reader.csv", index=False)
    g[~((g.case_id == "A10") & (g.reader == "R2"))].to_csv(t / "agr_single_reader_case.csv", index=False)  # rows 56-58
    d = g.astype({"vbq": object})
    d.loc[4, "vbq"] = "abc"  # row 6
    d.to_csv(t / "agr_text.csv", index=False)
    d = g.copy()
    d.loc[5, ["case_id", "reader", "level"]] = list(d.loc[1, ["case_id", "reader", "level"]])  # rows 3 and 7
    d.to_csv(t / "agr_dup.csv", index=False)
    g[g.case_id == "A01"].to_csv(t / "agr_one_case.csv", index=False)
    d = g.copy()
    d.loc[2, "level"] = "C9"  # row 4
    d.to_csv(t / "agr_bad_level.csv", index=False)
    d = g.copy()
    d.loc[[3, 8], "reader"] = np.nan  # rows 5 and 10
    d.to_csv(t / "agr_empty_reader.csv", index=False)


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    root = tmp_path_factory.mktemp("qa")
    info = _build(root)
    return root, info


def _snapshot(root: Path) -> dict:
    out = {}
    for p in sorted(root.rglob("*")):
        out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


def _run(argv):
    try:
        return main(argv)
    except SystemExit as exc:  # argparse: bad option values
        return exc.code


# ------------------------------------------------------------------------------------------------------------
# bad input: exit 2, one line, nothing written, inputs unchanged

S = "mri/case1"
MATCH = "--id patient_id --group diagnosis --treated OPLL --covariates age,sex,bmi --json out.json --out out.csv"
AN = "--id patient_id --group diagnosis --treated OPLL --control CSM --levels C2-C7 --covariates age,sex,bmi --quiet"

BAD = [
    # --- vbq score -------------------------------------------------------------------------------------
    ("score-missing-image", f"score nope.nii.gz {S}/t1.seg.nrrd --json o.json", ["nope.nii.gz", "not found"]),
    ("score-missing-seg", f"score {S}/t1.nii.gz nope.seg.nrrd --json o.json", ["nope.seg.nrrd", "not found"]),
    ("score-csv-as-image", f"score tables/good.csv {S}/t1.seg.nrrd --json o.json", ["good.csv", "not a readable image"]),
    ("score-same-file", f"score {S}/t1.nii.gz {S}/t1.nii.gz --labels {S}/t1_labels.txt --json o.json",
     ["t1.nii.gz", "same file"]),
    ("score-seg-as-image", f"score {S}/t1.seg.nrrd {S}/t1_labels.nii.gz --labels {S}/t1_labels.txt --json o.json", ["t1.seg.nrrd", "segmentation", "not an MRI"]),
    ("score-empty-image", f"score mri/empty.nii.gz {S}/t1.seg.nrrd --json o.json", ["empty.nii.gz", "not a readable image"]),
    ("score-corrupt-image", f"score mri/corrupt.nii.gz {S}/t1.seg.nrrd --json o.json", ["corrupt.nii.gz", "not a readable image"]),
    ("score-csv-as-seg", f"score {S}/t1.nii.gz tables/good.csv --json o.json", ["good.csv", "labels"]),
    ("score-empty-seg", f"score {S}/t1.nii.gz mri/empty.nii.gz --labels {S}/t1_labels.txt --json o.json",
     ["empty.nii.gz", "not a readable labelmap"]),
    ("score-labelmap-no-labels", f"score {S}/t1.nii.gz {S}/t1_labels.nii.gz --json o.json", ["t1_labels.nii.gz", "--labels"]),
    ("score-labels-csv", f"score {S}/t1.nii.gz {S}/t1_labels.nii.gz --labels tables/good.csv --json o.json",
     ["good.csv", "line 1", "1=C3"]),
    ("score-labels-missing", f"score {S}/t1.nii.gz {S}/t1_labels.nii.gz --labels nope.txt --json o.json", ["nope.txt", "not found"]),
    ("score-no-csf", f"score {S}/t1.nii.gz mri/no_csf.nii.gz --labels {S}/t1_labels.txt --json o.json", ["no_csf.nii.gz", "no CSF"]),
    ("score-missing-level-required", f"score {S}/t1.nii.gz mri/no_c3.nii.gz --labels {S}/t1_labels.txt "
     "--require-all-levels --json o.json", ["no_c3.nii.gz", "C3", "missing"]),
    ("score-no-overlap", f"score {S}/t1.nii.gz mri/far.nii.gz --labels {S}/t1_labels.txt --json o.json",
     ["far.nii.gz", "does not overlap"]),
    ("score-erode-empties-csf", f"score {S}/t1.nii.gz {S}/t1.seg.nrrd --erode-mm 50 --json o.json", ["CSF", "no voxels", "erosion"]),
    ("score-preset", f"score {S}/t1.nii.gz {S}/t1.seg.nrrd --preset nope --json o.json", ["preset", "nope", "lu2024"]),
    ("score-stat", f"score {S}/t1.nii.gz {S}/t1.seg.nrrd --stat mode --json o.json", ["--stat", "mode"]),
    ("score-erode-negative", f"score {S}/t1.nii.gz {S}/t1.seg.nrrd --erode-mm -2 --json o.json", ["--erode-mm -2", "erosion margin", ">= 0"]),
    ("score-levels", f"score {S}/t1.nii.gz {S}/t1.seg.nrrd --levels C9 --json o.json", ["C9", "not a spine level"]),
    ("score-mid-slices", f"score {S}/t1.nii.gz {S}/t1.seg.nrrd --mid-slices 0 --json o.json", ["--mid-slices 0", "mid-sagittal"]),
    ("score-vbq-range", f"score {S}/t1.nii.gz {S}/t1.seg.nrrd --vbq-range 5 1 --json o.json", ["--vbq-range 5 1", "below"]),
    ("score-out-nodir", f"score {S}/t1.nii.gz {S}/t1.seg.nrrd --json nodir/o.json", ["--json", "nodir", "does not exist"]),
    ("score-out-is-input", f"score {S}/t1.nii.gz {S}/t1.seg.nrrd --json {S}/t1.nii.gz", ["--json", "overwrite an input"]),
    ("score-out-is-folder", f"score {S}/t1.nii.gz {S}/t1.seg.nrrd --csv mri", ["--csv", "mri", "folder"]),
    ("score-json-eq-csv", f"score {S}/t1.nii.gz {S}/t1.seg.nrrd --json o.x --csv o.x", ["--json", "--csv", "o.x"]),
    # --- vbq batch (bad manifest or option: exit 2) ------------------------------------------------------
    ("batch-missing-manifest", "batch nope.csv --out b.csv --workers 0 --no-progress", ["nope.csv", "not found"]),
    ("batch-empty-manifest", "batch man_empty.csv --out b.csv --workers 0 --no-progress", ["man_empty.csv", "empty"]),
    ("batch-header-only", "batch man_header_only.csv --out b.csv --workers 0 --no-progress", ["man_header_only.csv", "no cases"]),
    ("batch-missing-column", "batch man_nocol.csv --out b.csv --workers 0 --no-progress", ["man_nocol.csv", "segmentation"]),
    ("batch-duplicate-ids", "batch man_dup.csv --out b.csv --workers 0 --no-progress", ["man_dup.csv", "duplicate", "case1"]),
    ("batch-image-as-manifest", f"batch {S}/t1.nii.gz --out b.csv --workers 0 --no-progress", ["t1.nii.gz", "manifest"]),
    ("batch-empty-folder", "batch tables --out b.csv --workers 0 --no-progress", ["tables", "pattern"]),
    ("batch-out-is-manifest", "batch man_good.csv --out man_good.csv --workers 0 --no-progress", ["--out", "manifest"]),
    ("batch-out-is-folder", "batch man_good.csv --out mri --workers 0 --no-progress", ["--out", "mri", "folder"]),
    ("batch-out-nodir", "batch man_good.csv --out nodir/b.csv --workers 0 --no-progress", ["nodir", "does not exist"]),
    ("batch-workers", "batch man_good.csv --out b.csv --workers -1 --no-progress", ["--workers", "-1"]),
    ("batch-preset", "batch man_good.csv --out b.csv --workers 0 --preset nope --no-progress", ["preset", "nope"]),
    ("batch-erode", "batch man_good.csv --out b.csv --workers 0 --erode-mm -2 --no-progress", ["--erode-mm -2", "erosion margin"]),
    ("batch-mid-slices", "batch man_good.csv --out b.csv --workers 0 --mid-slices 0 --no-progress", ["--mid-slices 0"]),
    ("batch-vbq-range", "batch man_good.csv --out b.csv --workers 0 --vbq-range 5 1 --no-progress", ["--vbq-range 5 1"]),
    ("batch-levels", "batch man_good.csv --out b.csv --workers 0 --levels C9 --no-progress", ["C9", "not a spine level"]),
    ("batch-stat", "batch man_good.csv --out b.csv --workers 0 --stat mode --no-progress", ["--stat", "mode"]),
    # --- vbq cohort match --------------------------------------------------------------------------------
    ("match-missing-file", f"cohort match tables/nope.csv {MATCH}", ["nope.csv", "not found"]),
    ("match-nifti-as-table", f"cohort match {S}/t1.nii.gz {MATCH}", ["t1.nii.gz", "unsupported"]),
    ("match-png-as-table", f"cohort match pic.png {MATCH}", ["pic.png", "unsupported"]),
    ("match-empty", f"cohort match tables/empty.csv {MATCH}", ["empty.csv", "empty"]),
    ("match-png-named-csv", f"cohort match tables/png_named.csv {MATCH}", ["png_named.csv", "PNG image", "not a text table"]),
    ("match-seg-as-table", f"cohort match {S}/t1.seg.nrrd {MATCH}", ["t1.seg.nrrd", "unsupported"]),
    ("match-missing-covariate-values", f"cohort match tables/clin_missing.csv {MATCH}", ["clin_missing.csv", "'bmi'", "rows 4, 22"]),
    ("match-folder", f"cohort match tables/folder.csv {MATCH}", ["folder.csv", "folder"]),
    ("match-header-only", f"cohort match tables/header_only.csv {MATCH}", ["header_only.csv", "no data rows"]),
    ("match-no-covariate", f"cohort match tables/no_bmi.csv {MATCH}", ["no_bmi.csv", "'bmi'", "not found"]),
    ("match-no-id", f"cohort match tables/no_id.csv {MATCH}", ["no_id.csv", "'patient_id'", "not found"]),
    ("match-no-group", f"cohort match tables/no_group.csv {MATCH}", ["no_group.csv", "'diagnosis'", "not found"]),
    ("match-misspelled", f"cohort match tables/misspelled.csv {MATCH}", ["misspelled.csv", "'bmi'", "BMI_kg"]),
    ("match-duplicate-ids", f"cohort match tables/dup_ids.csv {MATCH}", ["dup_ids.csv", "duplicate", "P004"]),
    ("match-text-in-numeric", f"cohort match tables/text_bmi.csv {MATCH}", ["text_bmi.csv", "'bmi'", "8, 11"]),
    ("match-all-missing-covariate", f"cohort match tables/bmi_all_missing.csv {MATCH}", ["bmi_all_missing.csv", "'bmi'", "no values", "all 40 rows missing"]),
    ("match-one-treated", f"cohort match tables/one_treated.csv {MATCH}", ["one_treated.csv", "OPLL", "1 subject", "row 2"]),
    ("match-unknown-group", f"cohort match tables/good.csv {MATCH} --treated XYZ", ["'XYZ'", "not found", "CSM, OPLL"]),
    ("match-xlsx-error-cell", f"cohort match tables/errors.xlsx {MATCH}", ["errors.xlsx", "'bmi'", "rows 3", "#DIV/0!"]),
    ("match-wrong-sheet", f"cohort match tables/errors.xlsx {MATCH} --sheet nope", ["errors.xlsx", "'nope'", "clinical, notes"]),
    ("match-other-sheet", f"cohort match tables/errors.xlsx {MATCH} --sheet notes", ["errors.xlsx", "no data rows"]),
    ("match-sheet-on-csv", f"cohort match tables/good.csv {MATCH} --sheet x", ["good.csv", "--sheet", "xlsx"]),
    ("match-caliper", f"cohort match tables/good.csv {MATCH} --caliper -1", ["--caliper", "-1"]),
    ("match-ratio", f"cohort match tables/good.csv {MATCH} --ratio 0", ["--ratio", "0"]),
    ("match-exact-missing", f"cohort match tables/good.csv {MATCH} --exact nope", ["'nope'", "not found"]),
    ("match-out-nodir", f"cohort match tables/good.csv {MATCH} --out nodir/m.csv", ["--out", "nodir", "does not exist"]),
    ("match-out-folder", f"cohort match tables/good.csv {MATCH} --out mri", ["--out", "mri", "folder"]),
    ("match-out-is-input", f"cohort match tables/good.csv {MATCH} --json tables/good.csv", ["--json", "input spreadsheet"]),
    ("match-out-twice", f"cohort match tables/good.csv {MATCH} --out out.json", ["--out", "--json", "out.json"]),
    ("match-love-plot-type", f"cohort match tables/good.csv {MATCH} --love-plot love.txt", ["--love-plot", ".png"]),
    ("match-missing-args", "cohort match tables/good.csv --id patient_id", ["required", "--group"]),
    # --- vbq cohort analyze ------------------------------------------------------------------------------
    ("analyze-missing-file", f"cohort analyze tables/nope.csv {AN} --out res", ["nope.csv", "not found"]),
    ("analyze-nifti-as-table", f"cohort analyze {S}/t1.nii.gz {AN} --out res", ["t1.nii.gz", "unsupported"]),
    ("analyze-empty", f"cohort analyze tables/empty.csv {AN} --out res", ["empty.csv", "empty"]),
    ("analyze-folder", f"cohort analyze tables/folder.csv {AN} --out res", ["folder.csv", "folder"]),
    ("analyze-header-only", f"cohort analyze tables/header_only.csv {AN} --out res", ["header_only.csv", "no data rows"]),
    ("analyze-no-covariate", f"cohort analyze tables/no_bmi.csv {AN} --out res", ["no_bmi.csv", "'bmi'"]),
    ("analyze-no-level", f"cohort analyze tables/no_c4.csv {AN} --out res", ["no_c4.csv", "'VBQ_C4'", "not found"]),
    ("analyze-no-id", f"cohort analyze tables/no_id.csv {AN} --out res", ["no_id.csv", "'patient_id'", "not found"]),
    ("analyze-no-group", f"cohort analyze tables/no_group.csv {AN} --out res", ["no_group.csv", "'diagnosis'", "not found"]),
    ("analyze-misspelled", f"cohort analyze tables/misspelled.csv {AN} --out res", ["misspelled.csv", "'bmi'"]),
    ("analyze-duplicate-ids", f"cohort analyze tables/dup_ids.csv {AN} --out res", ["dup_ids.csv", "P004", "rows 5, 7"]),
    ("analyze-text-covariate", f"cohort analyze tables/text_bmi.csv {AN} --out res", ["text_bmi.csv", "'bmi'", "8, 11", "twenty"]),
    ("analyze-text-level", f"cohort analyze tables/text_level.csv {AN} --out res", ["text_level.csv", "'VBQ_C3'", "row 9", "n.d."]),
    ("analyze-all-missing-covariate", f"cohort analyze tables/bmi_all_missing.csv {AN} --out res", ["bmi_all_missing.csv", "'bmi'", "all values missing"]),
    ("analyze-all-missing-level", f"cohort analyze tables/c5_all_missing.csv {AN} --out res", ["c5_all_missing.csv", "'VBQ_C5'", "no values"]),
    ("analyze-one-treated", f"cohort analyze tables/one_treated.csv {AN} --out res", ["one_treated.csv", "OPLL", "1 subject"]),
    ("analyze-unknown-treated", f"cohort analyze tables/good.csv {AN} --treated XYZ --out res", ["'XYZ'", "'diagnosis'", "CSM, OPLL"]),
    ("analyze-unknown-control", f"cohort analyze tables/good.csv {AN} --control XYZ --out res", ["'XYZ'", "control"]),
    ("analyze-wrong-sheet", f"cohort analyze tables/errors.xlsx {AN} --sheet nope --out res", ["errors.xlsx", "'nope'", "clinical, notes"]),
    ("analyze-levels-c9", f"cohort analyze tables/good.csv {AN} --levels C9 --out res", ["--levels", "C9", "not a spine level"]),
    ("analyze-levels-range", f"cohort analyze tables/good.csv {AN} --levels C2-C9 --out res", ["--levels", "C2-C9"]),
    ("analyze-levels-twice", f"cohort analyze tables/good.csv {AN} --levels VBQ_C2,VBQ_C2 --out res", ["VBQ_C2", "twice"]),
    ("analyze-caliper", f"cohort analyze tables/good.csv {AN} --caliper -1 --out res", ["--caliper", "-1"]),
    ("analyze-ratio", f"cohort analyze tables/good.csv {AN} --ratio 0 --out res", ["--ratio", "0"]),
    ("analyze-plan", f"cohort analyze tables/good.csv {AN} --plan nope --out res", ["plan nope", "lu2024"]),
    ("analyze-sex-column", f"cohort analyze tables/good.csv {AN} --sex-column nope --out res", ["'nope'", "--sex-column"]),
    ("analyze-predictor", f"cohort analyze tables/good.csv {AN} --predictors age,nope --out res", ["'nope'", "not found"]),
    ("analyze-vbq-results-missing", f"cohort analyze tables/good.csv {AN} --vbq-results nope.csv --out res", ["nope.csv", "not found"]),
    ("analyze-vbq-no-overlap", f"cohort analyze tables/good.csv {AN} --vbq-results tables/vbq_otherids.csv --out res",
     ["vbq_otherids.csv", "none of its 40 case ids", "'patient_id'", "good.csv", "'X0'", "'P001'"]),
    ("analyze-vbq-duplicate", f"cohort analyze tables/good.csv {AN} --vbq-results tables/vbq_dup.csv --out res",
     ["vbq_dup.csv", "duplicate", "'P001'"]),
    ("analyze-vbq-no-id", f"cohort analyze tables/good.csv {AN} --vbq-results tables/vbq_noid.csv --out res",
     ["vbq_noid.csv", "case id column"]),
    ("analyze-vbq-text", f"cohort analyze tables/good.csv {AN} --vbq-results tables/vbq_text.csv --out res",
     ["vbq_text.csv", "'VBQ_C2'", "'abc'"]),
    ("analyze-vbq-is-image", f"cohort analyze tables/good.csv {AN} --vbq-results {S}/t1.nii.gz --out res",
     ["t1.nii.gz", "VBQ results"]),
    ("analyze-out-is-file", f"cohort analyze tables/good.csv {AN} --out tables/good.csv", ["tables/good.csv", "not a folder"]),
    ("analyze-out-nodir", f"cohort analyze tables/good.csv {AN} --out nodir/res", ["nodir", "does not exist"]),
    ("analyze-out-replaces-input", f"cohort analyze tables/sub/matched.csv {AN} --out tables/sub", ["--out", "replace the input"]),
    # --- vbq agreement -----------------------------------------------------------------------------------
    ("agreement-one-reader", "agreement tables/agr_one_reader.csv --out agr --quiet",
     ["column 'reader'", "only one reader ('R1'", "rows 2, 3"]),
    ("agreement-case-one-reader", "agreement tables/agr_single_reader_case.csv --out agr --quiet",
     ["column 'reader'", "case 'A10'", "one reader only ('R1'", "rows 56, 57, 58"]),
    ("agreement-text-value", "agreement tables/agr_text.csv --out agr --quiet", ["column 'vbq'", "row 6", "'abc'"]),
    ("agreement-duplicate", "agreement tables/agr_dup.csv --out agr --quiet",
     ["duplicate", "rows 3, 7", "case 'A01', reader 'R1'", "level 'C3'", "'case_id'", "'level'"]),
    ("agreement-one-case", "agreement tables/agr_one_case.csv --out agr --quiet",
     ["column 'case_id'", "only one case ('A01'", "at least 2 cases"]),
    ("agreement-empty-reader", "agreement tables/agr_empty_reader.csv --out agr --quiet",
     ["column 'reader'", "rows 5, 10"]),
    ("agreement-bad-level", "agreement tables/agr_bad_level.csv --out agr --quiet", ["'C9'", "row 4", "spine level"]),
    ("agreement-no-column", "agreement tables/agr_good.csv --reader observer --out agr --quiet",
     ["--reader", "'observer'", "not found"]),
    ("agreement-session-column-missing", "agreement tables/agr_good.csv --session visit --out agr --quiet",
     ["--session", "'visit'", "not found"]),
    ("agreement-nothing", "agreement --out agr --quiet", ["nothing to compare"]),
    ("agreement-not-a-table", f"agreement {S}/t1.nii.gz --out agr --quiet", ["t1.nii.gz"]),
    ("agreement-unknown-preset", "agreement tables/agr_good.csv --preset foo --out agr --quiet",
     ["unknown preset 'foo'"]),
    ("agreement-reader-table-spec", "agreement --reader-table tables/vbq_dup.csv --out agr --quiet",
     ["--reader-table", "READER=FILE"]),
    ("agreement-reader-table-dup", "agreement --reader-table R1=tables/vbq_dup.csv "
     "--reader-table R2=tables/vbq_text.csv --out agr --quiet", ["vbq_dup.csv", "duplicate case id 'P001'"]),
    ("agreement-reader-table-text", "agreement --reader-table R1=tables/vbq_text.csv "
     "--reader-table R2=tables/vbq_otherids.csv --out agr --quiet", ["vbq_text.csv", "'VBQ_C2'", "'abc'"]),
    ("agreement-seg-no-image", f"agreement --segmentations R1={S}/t1.seg.nrrd --segmentations "
     "R2=mri/case2/t1.seg.nrrd --out agr --quiet", ["--segmentations", "--image"]),
    ("agreement-seg-one-reader", f"agreement --segmentations R1={S}/t1.seg.nrrd --image {S}/t1.nii.gz --out agr "
     "--quiet", ["--segmentations", "at least two"]),
    ("agreement-seg-missing", f"agreement --segmentations R1={S}/t1.seg.nrrd --segmentations R2=nope.seg.nrrd "
     f"--image {S}/t1.nii.gz --out agr --quiet", ["nope.seg.nrrd", "not found"]),
    ("agreement-seg-spec", f"agreement --segmentations {S}/t1.seg.nrrd --image {S}/t1.nii.gz --out agr --quiet",
     ["--segmentations", "READER=FILE"]),
    ("agreement-manifest-column", "agreement --manifest man_good.csv --segmentations R1=seg_a "
     "--segmentations R2=segmentation --out agr --quiet", ["R1=seg_a", "no column 'seg_a'", "man_good.csv"]),
    ("agreement-out-replaces-input", "agreement tables/agr_good.csv --out . --quiet", ["--out", "replace the input"]),
    ("agreement-out-is-file", "agreement tables/agr_good.csv --out tables/good.csv --quiet",
     ["tables/good.csv", "not a folder"]),
    # --- vbq demo ----------------------------------------------------------------------------------------
    ("demo-out-is-file", "demo --out tables/good.csv --quiet", ["tables/good.csv", "not a folder"]),
    ("demo-out-nodir", "demo --out nodir/x --quiet", ["nodir", "does not exist"]),
    ("demo-n-patients", "demo --out d --n-patients 5 --quiet", ["--n-patients", "5"]),
    ("demo-n-mri", "demo --out d --n-mri -1 --quiet", ["--n-mri", "-1"]),
    ("demo-n-mri-too-many", "demo --out d --n-patients 40 --n-mri 50 --quiet", ["--n-mri", "50", "40"]),
    ("demo-seed", "demo --out d --seed abc --quiet", ["--seed", "abc"]),
]


@pytest.fixture(scope="module")
def ds_extra(ds):
    """Inputs some cases need: a PNG given as the spreadsheet, a table sitting where the report writes."""
    root, _ = ds
    (root / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    sub = root / "tables" / "sub"
    sub.mkdir()
    (sub / "matched.csv").write_bytes((root / "tables" / "good.csv").read_bytes())
    return ds


@pytest.mark.parametrize("name,cmd,words", BAD, ids=[b[0] for b in BAD])
def test_bad_input(name, cmd, words, ds_extra, capsys, monkeypatch):
    root, _ = ds_extra
    monkeypatch.chdir(root)
    before = _snapshot(root)
    code = _run(shlex.split(cmd))
    cap = capsys.readouterr()
    err = cap.err
    assert code == 2, (code, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "Traceback" not in cap.out
    assert lines[0].startswith("vbq " + cmd.split()[0])
    assert "error:" in lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert _snapshot(root) == before  # nothing written, nothing modified


def test_error_names_the_subcommand(ds, capsys, monkeypatch):
    root, _ = ds
    monkeypatch.chdir(root)
    assert _run(shlex.split(f"cohort match tables/no_bmi.csv {MATCH}")) == 2
    assert capsys.readouterr().err.startswith("vbq cohort match: error: tables/no_bmi.csv: ")
    assert _run(shlex.split(f"cohort analyze tables/no_c4.csv {AN} --out res")) == 2
    assert capsys.readouterr().err.startswith("vbq cohort analyze: error: tables/no_c4.csv: ")


# ------------------------------------------------------------------------------------------------------------
# vbq batch: a bad case is an error row, exit 1; the others are measured

@pytest.mark.parametrize("manifest,bad_file,what", [
    ("man_missing_file.csv", "nope.nii.gz", "not found"),
    ("man_corrupt.csv", "corrupt.nii.gz", "not a readable image"),
    ("man_bad_labels.csv", "nope.txt", "not found"),
    ("man_no_csf.csv", "no_csf.nii.gz", "no CSF"),
])
def test_batch_bad_case_is_an_error_row(manifest, bad_file, what, ds, tmp_path, capsys, monkeypatch):
    import pandas as pd

    root, info = ds
    monkeypatch.chdir(root)
    before = _snapshot(root)
    out = tmp_path / "res.csv"
    code = _run(["batch", manifest, "--out", str(out), "--workers", "0", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "1 of 2 case(s) failed" in err
    t = pd.read_csv(out, dtype={"case_id": str})
    assert list(t["case_id"]) == ["case1", "case2"]
    assert list(t["status"]) == ["ok", "failed"]
    assert bad_file in t.loc[1, "error"] and what in t.loc[1, "error"]
    assert t.loc[0, "VBQ_C3"] == pytest.approx(info["truth"]["designed_vbq"]["C3"], abs=0.03)
    assert _snapshot(root) == before  # inputs unchanged


# ------------------------------------------------------------------------------------------------------------
# success paths: readable output and sane numbers

def test_score_prints_table_with_true_vbq(ds, tmp_path, capsys, monkeypatch):
    root, info = ds
    monkeypatch.chdir(root)
    js, cs = tmp_path / "r.json", tmp_path / "r.csv"
    assert _run(["score", f"{S}/t1.nii.gz", f"{S}/t1.seg.nrrd", "--json", str(js), "--csv", str(cs)]) == 0
    out = capsys.readouterr().out
    assert "overall VBQ (lu2024" in out and "CSF" in out
    d = json.loads(js.read_text(encoding="utf-8"))
    truth = info["truth"]["designed_vbq"]
    for lv in d["levels"]:
        assert lv["vbq"] == pytest.approx(truth[lv["name"]], abs=0.03)  # noise SD 10 on SI ~200-640
    assert d["overall"]["vbq"] == pytest.approx(info["truth"]["designed_overall_vbq"]["lu2024"], abs=0.02)
    assert f"{d['overall']['vbq']:.3f}" in out
    # the labelmap + labels file gives the same numbers as the .seg.nrrd
    js2 = tmp_path / "r2.json"
    assert _run(["score", f"{S}/t1.nii.gz", f"{S}/t1_labels.nii.gz", "--labels", f"{S}/t1_labels.txt",
                 "--json", str(js2), "--quiet"]) == 0
    d2 = json.loads(js2.read_text(encoding="utf-8"))
    assert [lv["vbq"] for lv in d2["levels"]] == pytest.approx([lv["vbq"] for lv in d["levels"]], rel=1e-12)


def test_score_missing_level_is_a_flag_not_an_error(ds, capsys, monkeypatch):
    root, _ = ds
    monkeypatch.chdir(root)
    assert _run(["score", f"{S}/t1.nii.gz", "mri/no_c3.nii.gz", "--labels", f"{S}/t1_labels.txt"]) == 0
    out = capsys.readouterr().out
    assert "C3" in out.split("flags")[1] and "C2, C4, C5, C6, C7" in out


def test_batch_success(ds, tmp_path, capsys, monkeypatch):
    import pandas as pd

    root, info = ds
    monkeypatch.chdir(root)
    out = tmp_path / "res.csv"
    assert _run(["batch", "man_good.csv", "--out", str(out), "--workers", "0", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "2 case(s): 2 ok, 0 failed" in err
    t = pd.read_csv(out)
    for lv, v in info["truth"]["designed_vbq"].items():
        assert t.loc[0, f"VBQ_{lv}"] == pytest.approx(v, abs=0.03)
    assert (tmp_path / "res_long.csv").is_file()


def _pairs(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))["pairs"]


@pytest.mark.parametrize("table", ["semicolon.csv", "bom.csv", "latin1.csv", "errors.xlsx"])
def test_match_same_pairs_from_other_formats(table, ds, tmp_path, capsys, monkeypatch):
    """Semicolons with decimal commas, a UTF-8 BOM, Latin-1, an XLSX: the same subjects, the same matches
    (the XLSX has an Excel error cell in VBQ_C2, which matching on age and sex does not use)."""
    root, _ = ds
    monkeypatch.chdir(root)
    covs = "age,sex" if table.endswith("xlsx") else "age,sex,bmi"
    ref, got = tmp_path / "ref.json", tmp_path / "got.json"
    base = ["--id", "patient_id", "--group", "diagnosis", "--treated", "opll", "--covariates", covs]
    assert _run(["cohort", "match", "tables/good.csv", *base, "--json", str(ref)]) == 0
    capsys.readouterr()
    assert _run(["cohort", "match", f"tables/{table}", *base, "--json", str(got)]) == 0
    cap = capsys.readouterr()
    assert _pairs(got) == _pairs(ref)
    assert "Matched" in cap.out and "Traceback" not in cap.err
    if table == "semicolon.csv":
        assert "warning: semicolon.csv: decimal commas" in cap.err
    if table == "errors.xlsx":
        assert "E3 #DIV/0!, F4 #N/A" in cap.err and "first sheet 'clinical'" in cap.err


@pytest.mark.parametrize("table", ["bom.csv", "latin1.csv"])
def test_accented_names_survive(table, ds, tmp_path, capsys, monkeypatch):
    import pandas as pd

    root, _ = ds
    monkeypatch.chdir(root)
    out = tmp_path / "m.csv"
    assert _run(["cohort", "match", f"tables/{table}", "--id", "patient_id", "--group", "diagnosis",
                 "--treated", "OPLL", "--covariates", "age,sex,bmi", "--out", str(out)]) == 0
    m = pd.read_csv(out, encoding="utf-8")
    assert set(m["name"]) <= {"José Müller", "Zoë Ångström"} and list(m.columns)[0] == "patient_id"


def test_leading_zero_ids_kept(ds, tmp_path, capsys, monkeypatch):
    root, _ = ds
    monkeypatch.chdir(root)
    js = tmp_path / "m.json"
    assert _run(["cohort", "match", "tables/zeros.csv", "--id", "patient_id", "--group", "diagnosis",
                 "--treated", "OPLL", "--covariates", "age,sex,bmi", "--json", str(js)]) == 0
    ps = json.loads(js.read_text(encoding="utf-8"))["ps"]
    assert "00001" in ps and "00040" in ps and len(ps) == 40


def test_analyze_rerun_removes_files_of_the_previous_report(ds, tmp_path, capsys, monkeypatch):
    root, _ = ds
    monkeypatch.chdir(root)
    out = tmp_path / "study"
    assert _run(shlex.split(f"cohort analyze tables/good.csv {AN} --sex-column '' --out {out}")) == 0
    assert (out / "tables" / "sample_sizes.csv").is_file() and (out / "matched.csv").is_file()
    (out / "my_notes.txt").write_text("mine")
    assert _run(shlex.split(f"cohort analyze tables/good.csv {AN} --no-matching --sex-column '' --out {out}")) == 0
    r = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert r["matching"]["enabled"] is False
    assert not (out / "tables" / "sample_sizes.csv").exists() and not (out / "matched.csv").exists()
    assert (out / "my_notes.txt").read_text() == "mine"  # files the report did not write are left alone


def test_analyze_says_which_rows_were_excluded(ds, tmp_path, capsys, monkeypatch):
    root, _ = ds
    monkeypatch.chdir(root)
    out = tmp_path / "study"
    assert _run(shlex.split(f"cohort analyze tables/clin_missing.csv {AN.replace(' --quiet', '')} --out {out}")) == 0
    text = capsys.readouterr().out
    assert "Report:" in text and "! 2 of 40 rows excluded: missing bmi (2)" in text
    r = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert [(e["row"], e["id"]) for e in r["exclusions"]["exclusions"]] == [(4, "P003"), (22, "P021")]
    assert r["groups"]["n"] == {"OPLL": 14, "CSM": 24}
