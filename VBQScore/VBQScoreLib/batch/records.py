"""One measured case as table rows, and the two batch tables.

A *record* is ``{"case_id", "status", "wide": {...}, "long": [...]}``: the case's row of the wide table (one
row per case) and its rows of the long table (one row per ROI). :func:`record_from_result` makes it from
``VBQResult.to_dict()``; :func:`write_tables` writes records as the tables :func:`VBQScoreLib.batch.run_batch`
writes (also used by the MRML adapter's cohort rows and ``vbq web --worklist``).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Optional, Sequence

from ..atomic import atomic_write
from ..csv_safe import safe_cell
from ..measuring.levels import level_sort_key
from ..measuring.result import ROI_FIELDS, clean_value

LONG_COLUMNS = ("case_id", "level", "segment", "n_voxels", "volume_mm3", "mean", "median", "sd", "p5", "p95",
                "min", "max", "cv", "vbq", "csf_mean", "csf_median", "overall_vbq", "preset", "flags")
WIDE_HEAD = ("case_id", "status")
WIDE_TAIL = ("VBQ_overall", "CSF_SI", "n_levels", "preset", "level_stat", "aggregate", "erode_mm", "mid_slices",
             "flags", "error")
# acquisition fields (DICOM input only) that VBQ depends on: columns appear when any case has them
DICOM_COLUMNS = ("manufacturer", "model", "magnetic_field_strength", "repetition_time", "echo_time",
                 "pixel_bandwidth", "slice_thickness")
HASH_COLUMNS = ("image_sha256", "segmentation_sha256")


def _flag_text(flags) -> str:
    out = []
    for f in flags:
        code, level = f.get("code"), f.get("level")
        out.append(f"{code}:{level}" if level else str(code))
    return ";".join(out)


def record_from_result(case_id: str, d: dict) -> dict:
    """The record (wide row + long rows) of one measured case from ``VBQResult.to_dict()`` (e.g. a
    ``vbq score --json`` file)."""
    overall = d.get("overall") or {}
    csf = d.get("csf") or {}
    stat = overall.get("level_stat") or "mean"
    levels = {lv["name"]: lv.get("vbq") for lv in d.get("levels", [])}
    used = overall.get("levels_used")
    wide = {
        "case_id": case_id,
        "status": "ok",
        **{f"VBQ_{name}": v for name, v in levels.items()},
        "VBQ_overall": overall.get("vbq"),
        "CSF_SI": csf.get(stat),
        "n_levels": len(used) if isinstance(used, (list, tuple)) else used,
        "preset": overall.get("preset"),
        "level_stat": stat,
        "aggregate": overall.get("aggregate"),
        "flags": _flag_text(d.get("flags", [])),
        "error": "",
    }
    prov = d.get("provenance") or {}
    opts = prov.get("options") or {}
    wide["erode_mm"] = float(opts.get("erode_mm") or 0.0)
    wide["mid_slices"] = opts.get("mid_sagittal_slices")
    dicom = prov.get("dicom") or {}
    for key in DICOM_COLUMNS:
        if dicom.get(key) not in (None, ""):
            wide[key] = dicom[key]
    inputs = prov.get("inputs") or {}
    for key in ("image", "segmentation"):
        sha = (inputs.get(key) or {}).get("sha256")
        if sha:
            wide[f"{key}_sha256"] = sha
    long = []
    csf_cols = {"csf_mean": csf.get("mean"), "csf_median": csf.get("median"),
                "overall_vbq": overall.get("vbq"), "preset": overall.get("preset")}
    flags = d.get("flags", [])
    for lv in d.get("levels", []):
        row = {"case_id": case_id, "level": lv["name"]}
        row.update({k: lv.get(k) for k in LONG_COLUMNS[2:14]})
        row.update(csf_cols)
        row["flags"] = ";".join(f["code"] for f in flags if f.get("level") == lv["name"])
        long.append(row)
    if csf:
        row = {"case_id": case_id, "level": "CSF"}
        row.update({k: csf.get(k) for k in LONG_COLUMNS[2:13]})
        row["vbq"] = None
        row.update(csf_cols)
        row["flags"] = ";".join(f["code"] for f in flags if f.get("level") == "CSF")
        long.append(row)
    return {"case_id": case_id, "status": "ok", "wide": wide, "long": long}


def _result_dict(result) -> dict:
    """The parts of ``VBQResult.to_dict()`` that :func:`record_from_result` uses, without ``dataclasses.asdict`` (which
    costs ~2 ms per case)."""
    def roi(r, extra):
        d = {"name": r.name, "segment": r.segment}
        for k in ROI_FIELDS + extra:
            d[k] = clean_value(getattr(r, k))
        return d

    return {"levels": [roi(lv, ("vbq",)) for lv in result.levels],
            "csf": roi(result.csf, ("location",)) if result.csf is not None else {},
            "overall": {k: clean_value(v) for k, v in result.overall.items()},
            "flags": [{"code": f.code, "level": f.level} for f in result.flags],
            "provenance": result.provenance}


def record_from_vbq_result(case_id: str, result) -> dict:
    """:func:`record_from_result` of a :class:`VBQResult` (what a batch worker returns)."""
    return record_from_result(case_id, _result_dict(result))


def failed_record(case_id: str, error: str) -> dict:
    """The record of a case that could not be measured, with its one-line ``error``."""
    return {"case_id": case_id, "status": "failed",
            "wide": {"case_id": case_id, "status": "failed", "error": error}, "long": []}


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ""
    return safe_cell(str(v))


def long_path_for(out_csv) -> Path:
    out_csv = Path(out_csv)
    suffix = out_csv.suffix if out_csv.suffix else ""
    stem = out_csv.name[: -len(suffix)] if suffix else out_csv.name
    return out_csv.with_name(f"{stem}_long{suffix or '.csv'}")


class WideColumns:
    """Columns of the wide table, from the rows seen: the preset's levels, other levels measured (spine order),
    and the DICOM fields any case has."""

    def __init__(self, preset_levels: Sequence[str]):
        self.levels = list(preset_levels)
        self.extra: set[str] = set()
        self.dicom: set[str] = set()

    def add(self, wide: dict) -> None:
        for k, v in wide.items():
            if k.startswith("VBQ_") and k != "VBQ_overall" and k[4:] not in self.levels:
                self.extra.add(k[4:])
            elif k in DICOM_COLUMNS and v not in (None, ""):
                self.dicom.add(k)

    def columns(self) -> list[str]:
        levels = self.levels + sorted(self.extra, key=lambda s: (level_sort_key(s), s))
        dicom = [c for c in DICOM_COLUMNS if c in self.dicom]
        return list(WIDE_HEAD) + [f"VBQ_{lv}" for lv in levels] + list(WIDE_TAIL) + dicom + list(HASH_COLUMNS)


def write_tables(records, out_csv, *, preset_levels: Sequence[str] = (), columns: Optional[Sequence[str]] = None
                 ) -> None:
    """Write the wide table ``out_csv`` and the long table beside it (:func:`long_path_for`) from case records
    (``{"case_id", "status", "wide", "long"}`` as :func:`VBQScoreLib.batch.score_case` returns, in the order
    given), atomically: the tables :func:`VBQScoreLib.batch.run_batch` writes, for other producers of the same
    layout (the reader tables of ``vbq web --worklist``). ``columns``: the wide columns; default from the records and ``preset_levels``."""
    if columns is None:
        records = list(records)
        cols = WideColumns(preset_levels)
        for rec in records:
            cols.add(rec["wide"])
        columns = cols.columns()
    with atomic_write(long_path_for(out_csv), "w", newline="") as lf, atomic_write(out_csv, "w", newline="") as wf:
        wl = csv.writer(lf, lineterminator="\n")
        ww = csv.writer(wf, lineterminator="\n")
        wl.writerow(LONG_COLUMNS)
        ww.writerow(columns)
        for rec in records:
            ww.writerow([_fmt(rec["wide"].get(k)) for k in columns])
            for row in rec["long"]:
                wl.writerow([_fmt(row.get(k)) for k in LONG_COLUMNS])


