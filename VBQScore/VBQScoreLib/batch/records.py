"""One measured case as table rows, and the two batch tables.

A *record* is ``{"case_id", "status", "wide": {...}, "long": [...]}``: the case's row of the wide table (one
row per case) and its rows of the long table (one row per ROI). :func:`record_from_result` makes it from
``VBQResult.to_dict()``; :func:`write_tables` writes records as the tables :func:`VBQScoreLib.batch.run_batch`
writes (also used by the MRML adapter's cohort rows and ``vbq web --worklist``).

The pair changes as one unit as far as a file system allows (two files cannot be renamed at once): the long
table is renamed in first, then (``checksums=True``, as ``vbq batch`` writes) ``<wide>.sha256`` with the SHA-256
of both new tables (``sha256sum -c`` format), then the wide table last: its rename is the commit point.
:func:`check_pair` tells whether the two tables on disk are the pair the checksums name (a run killed between the
renames, or a table edited afterwards, gives a mismatch); ``vbq batch --resume`` then measures again what it cannot
trust.
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections.abc import Sequence
from pathlib import Path

from ..atomic import atomic_write, checkpoint, clean_legacy_leftovers, write_text_atomic
from ..csv_safe import safe_cell
from ..measuring.levels import level_sort_key
from ..measuring.result import ROI_FIELDS, clean_value
from ..provenance import sha256_file

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


def checksums_path_for(out_csv) -> Path:
    """``results.csv`` -> ``results.csv.sha256``: the SHA-256 of the wide and long tables written together."""
    out_csv = Path(out_csv)
    return out_csv.with_name(out_csv.name + ".sha256")


def _sha256(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except OSError:
        return None


def check_pair(out_csv) -> str | None:
    """``None`` when the wide table ``out_csv`` and its long table are the pair their checksums file
    (:func:`checksums_path_for`) names, or when there is no checksums file (tables of other producers or older
    versions: nothing to check); otherwise one line saying which table does not match."""
    out_csv = Path(out_csv)
    sums = checksums_path_for(out_csv)
    try:
        text = sums.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        return f"{sums}: cannot read the checksums of the table pair ({exc})"
    want = {}
    for line in text.splitlines():
        digest, _, name = line.partition("  ")
        if name:
            want[name.strip()] = digest.strip().lower()
    long_csv = long_path_for(out_csv)
    bad = [p.name for p in (long_csv, out_csv) if p.name not in want or _sha256(p) != want[p.name]]
    if not bad:
        return None
    return (f"{out_csv.parent / bad[0]}: not the table {sums.name} names (SHA-256 differs): {out_csv.name} and "
            f"{long_csv.name} are not one pair (a run interrupted while writing them, or a table edited since)")


class _Hashing:
    """A text file object that also hashes what is written (UTF-8, as the file is written)."""

    def __init__(self, f):
        self.f, self.h = f, hashlib.sha256()

    def write(self, s: str):
        self.h.update(s.encode("utf-8"))
        return self.f.write(s)


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


def write_tables(records, out_csv, *, preset_levels: Sequence[str] = (), columns: Sequence[str] | None = None,
                 checksums: bool = False) -> None:
    """Write the wide table ``out_csv`` and the long table beside it (:func:`long_path_for`) from case records
    (``{"case_id", "status", "wide", "long"}`` as :func:`VBQScoreLib.batch.score_case` returns, in the order
    given), atomically: the tables :func:`VBQScoreLib.batch.run_batch` writes, for other producers of the same
    layout (the reader tables of ``vbq web --worklist``). ``columns``: the wide columns; default from the records
    and ``preset_levels``. ``checksums``: also write :func:`checksums_path_for` (see the module's note on the
    order of the renames)."""
    if columns is None:
        records = list(records)
        cols = WideColumns(preset_levels)
        for rec in records:
            cols.add(rec["wide"])
        columns = cols.columns()
    out_csv, long_csv = Path(out_csv), long_path_for(out_csv)
    # temporary files an older version (random tempfile names) left when killed: ours when they hold our header
    clean_legacy_leftovers(out_csv, (b"case_id,status,",))
    clean_legacy_leftovers(long_csv, (",".join(LONG_COLUMNS).encode("ascii") + b"\n",))
    # the long table goes in first, the checksums of the new pair next, the wide table last (the commit point)
    with atomic_write(out_csv, "w", newline="") as wf:
        ww = _Hashing(wf)
        with atomic_write(long_csv, "w", newline="") as lf:
            hl = _Hashing(lf)
            wl = csv.writer(hl, lineterminator="\n")
            cw = csv.writer(ww, lineterminator="\n")
            wl.writerow(LONG_COLUMNS)
            cw.writerow(columns)
            for rec in records:
                cw.writerow([_fmt(rec["wide"].get(k)) for k in columns])
                for row in rec["long"]:
                    wl.writerow([_fmt(row.get(k)) for k in LONG_COLUMNS])
        checkpoint("pair-long")
        if checksums:
            write_text_atomic(checksums_path_for(out_csv), f"{hl.h.hexdigest()}  {long_csv.name}\n"
                                                           f"{ww.h.hexdigest()}  {out_csv.name}\n")
            checkpoint("pair-checksums")


