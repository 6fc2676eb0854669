"""Batch VBQ: measure many cases, on this machine's cores or on a Dask cluster, resumably.

Inputs
------
- :func:`read_manifest` reads a CSV manifest with columns ``case_id,image,segmentation`` and optionally
  ``labels`` (a label-name text file for a labelmap segmentation). Relative paths are resolved against the
  manifest's folder. Missing columns, empty or duplicate case ids are bad input (:class:`VBQInputError`
  naming the file and the rows); a missing image or segmentation file is *not*: that case fails on its own,
  with an error row, and the batch goes on.
- :func:`discover_cases` walks a folder with naming patterns. ``{case_id}`` stands for one path component
  (no ``/``); ``*`` is a wildcard inside one path component. The image pattern finds the cases, the other
  patterns are filled in with each case id::

      discover_cases("study/", ("{case_id}/image.nii.gz", "{case_id}/segmentation.seg.nrrd"))   # the default
      discover_cases("study/", ("{case_id}_t1.nii.gz", "{case_id}_seg.nii.gz", "{case_id}_labels.txt"))
      discover_cases("study/", ("{case_id}/T1/*.nii.gz", "{case_id}/*.seg.nrrd"))

  A pattern may also be given as one string ``"IMAGE_PATTERN,SEGMENTATION_PATTERN[,LABELS_PATTERN]"``.
  Cases are ordered by case id.

Running
-------
:func:`run_batch` ``(cases, out_csv, *, options=None, scheduler=None, workers=None, resume=False,
progress=None)`` measures every case with :func:`VBQScoreLib.api.score_files` and writes

- ``out_csv``, the *wide* table, one row per case in input order: ``case_id, status`` (``ok``/``failed``),
  ``VBQ_<level>`` for each level of the preset (plus any other level measured), ``VBQ_overall``, ``CSF_SI``
  (the CSF signal intensity the VBQs were divided by: the CSF ROI's mean, or median with ``stat="median"``),
  ``n_levels`` (levels used in the overall VBQ), the settings ``preset``, ``level_stat``, ``aggregate``,
  ``erode_mm``, ``mid_slices`` (empty = all slices), ``flags``
  (``CODE:LEVEL`` or ``CODE`` joined by ``;``) and ``error`` (one line; empty when ok); then, when any case was
  read from DICOM, the acquisition fields VBQ depends on (``manufacturer``, ``model``,
  ``magnetic_field_strength``, ``repetition_time``, ``echo_time``, ``pixel_bandwidth``, ``slice_thickness``) for
  stratifying or adjusting in the cohort analysis; last ``image_sha256`` and ``segmentation_sha256`` of the
  inputs measured. It joins directly with a clinical spreadsheet on ``case_id`` (ids are written verbatim,
  e.g. ``007`` stays ``007``); ``VBQCohortLib.join`` reads both tables. Numbers are written with full
  precision (Python ``repr``), so re-reading gives the same floats.
- ``<out_stem>_long.csv`` beside it, the *long* table: one row per case and ROI (each level, then ``CSF``)
  with the columns of ``vbq score --csv`` (``level, segment, n_voxels, volume_mm3, mean, median, sd, p5, p95,
  min, max, cv, vbq, csf_mean, csf_median, overall_vbq, preset, flags``) after ``case_id``.

Where it runs (``scheduler`` / ``workers``):

- default: a ``dask.distributed.LocalCluster`` of ``workers`` processes (default: number of cores) with one
  thread each, started for this run and shut down after it;
- ``scheduler="tcp://host:port"``: an existing Dask scheduler (a ``distributed.Client`` object also works);
  the workers must be able to import ``VBQScoreLib`` and read the files at the paths in the manifest;
- ``scheduler="synchronous"`` or ``workers=0``: in this process, one case after another, without Dask. This is
  what the Slicer module uses (no cluster needed): pass a ``progress(done, total, message)`` callable to drive a
  progress dialog; raising from it (e.g. ``KeyboardInterrupt`` when the user presses Cancel) stops the run,
  with finished cases kept in the journal for ``resume=True``.

Results do not depend on where or in which order cases complete: each task reads its own files and returns
only a small dict of numbers; rows are sorted into input order. At most a few tasks per worker are in flight
(``max_in_flight``, default twice the worker threads), results go to the journal as they arrive, and the final
tables are streamed from the journal, so memory stays bounded however many cases there are (only case ids and
journal offsets are kept).

A failed case (missing or unreadable file, empty CSF ROI, worker crash...) gets ``status=failed`` and a
one-line ``error``; the others go on. :class:`BatchSummary` counts them.

Resuming
--------
Each finished case is appended at once to a journal ``<out_csv>.journal.jsonl``; at the end the two CSVs are
written atomically (temporary file + rename) and the journal is removed. With ``resume=True`` the existing
output CSVs and any journal left by an interrupted run are read back: cases already ``ok`` there are skipped
(and their rows copied unchanged), failed or missing ones are run again. The final files hold the rows of
all cases of the current input, in input order (rows of cases no longer in the input are dropped). Records
from a journal are copied by offset; rows taken from the final CSVs are held in memory while the run starts. Resuming with a different preset, statistic or aggregate
(or erosion, or mid-sagittal slices) than the existing rows is refused (bad input).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from .errors import VBQInputError
from .progress import ProgressCallback, report

DEFAULT_PATTERN = ("{case_id}/image.nii.gz", "{case_id}/segmentation.seg.nrrd")
MANIFEST_COLUMNS = ("case_id", "image", "segmentation")
OPTIONAL_MANIFEST_COLUMNS = ("labels",)
SYNCHRONOUS = "synchronous"

LONG_COLUMNS = ("case_id", "level", "segment", "n_voxels", "volume_mm3", "mean", "median", "sd", "p5", "p95",
                "min", "max", "cv", "vbq", "csf_mean", "csf_median", "overall_vbq", "preset", "flags")
WIDE_HEAD = ("case_id", "status")
WIDE_TAIL = ("VBQ_overall", "CSF_SI", "n_levels", "preset", "level_stat", "aggregate", "erode_mm", "mid_slices",
             "flags", "error")
# acquisition fields (DICOM input only) that VBQ depends on: columns appear when any case has them
DICOM_COLUMNS = ("manufacturer", "model", "magnetic_field_strength", "repetition_time", "echo_time",
                 "pixel_bandwidth", "slice_thickness")
HASH_COLUMNS = ("image_sha256", "segmentation_sha256")


# ----------------------------------------------------------------------------------------------------------
# cases


@dataclass(frozen=True)
class Case:
    """One case: its id and input files (absolute or relative to the current folder)."""

    case_id: str
    image: str
    segmentation: str
    labels: Optional[str] = None

    def to_dict(self) -> dict:
        return {"case_id": self.case_id, "image": self.image, "segmentation": self.segmentation,
                "labels": self.labels}


def _resolve(base: Path, value: str) -> str:
    p = Path(os.path.expanduser(value))
    if not p.is_absolute():
        p = base / p
    return str(p)


def read_manifest(path, need_segmentation: bool = True, skipped: Optional[list] = None) -> list[Case]:
    """Read a manifest CSV (``case_id,image,segmentation[,labels]``) into cases, in file order.

    A ``status`` column (the manifest of ``vbq intake``): rows whose status is not ``ok`` are skipped, each
    with a message ``"<case_id>: status <status>, skipped"`` appended to ``skipped`` (when a list is given).

    ``need_segmentation=False`` (reader worklists, where the readers draw the segmentations): the
    segmentation column may be missing or empty (``Case.segmentation`` is then ``""``).

    Relative paths are resolved against the manifest's folder. Raises :class:`VBQInputError` for an
    unreadable file, missing columns, empty or duplicate case ids, or rows without an image/segmentation
    path. Files that do not exist are *not* checked here: such a case fails alone when the batch runs.
    """
    path = Path(path)
    if not path.exists():
        raise VBQInputError(f"{path}: manifest not found")
    if path.is_dir():
        raise VBQInputError(f"{path}: is a folder; give a manifest CSV, or use discover_cases for a folder")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise VBQInputError(f"{path}: manifest is not a UTF-8 text (CSV) file") from None
    except OSError as exc:
        raise VBQInputError(f"{path}: cannot read manifest ({exc.strerror or exc})") from None
    if "\x00" in text:
        raise VBQInputError(f"{path}: manifest is not a text (CSV) file")
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows = [r for r in reader]
    # header: first non-empty row
    start = 0
    while start < len(rows) and not any(c.strip() for c in rows[start]):
        start += 1
    if start >= len(rows):
        raise VBQInputError(f"{path}: manifest is empty (expected a header case_id,image,segmentation[,labels])")
    header = [c.strip().lower() for c in rows[start]]
    required = MANIFEST_COLUMNS if need_segmentation else ("case_id", "image")
    missing = [c for c in required if c not in header]
    if missing:
        raise VBQInputError(
            f"{path}: manifest is missing column(s) {', '.join(missing)} "
            f"(header is: {', '.join(h for h in header if h) or 'empty'}; need case_id,image,segmentation"
            f"[,labels])")
    dup_cols = sorted({h for h in header if h and header.count(h) > 1})
    if dup_cols:
        raise VBQInputError(f"{path}: manifest has duplicate column(s) {', '.join(dup_cols)}")
    idx = {c: header.index(c) for c in MANIFEST_COLUMNS + OPTIONAL_MANIFEST_COLUMNS + ("status",) if c in header}
    base = path.resolve().parent
    cases: list[Case] = []
    n_not_ok = 0
    first_line: dict[str, int] = {}
    problems: dict[str, list[int]] = {}
    for i, row in enumerate(rows[start + 1:], start=start + 2):  # 1-based line numbers, header = start + 1
        if not any(c.strip() for c in row):
            continue

        def cell(name, row=row):
            j = idx.get(name)
            return row[j].strip() if j is not None and j < len(row) else ""

        cid = cell("case_id")
        if not cid:
            problems.setdefault("empty case_id", []).append(i)
            continue
        if "status" in header and cell("status").lower() != "ok":
            n_not_ok += 1
            if skipped is not None:
                skipped.append(f"{cid}: status {cell('status') or 'empty'}, skipped (line {i})")
            continue
        img, seg = cell("image"), cell("segmentation")
        if not img:
            problems.setdefault("empty image", []).append(i)
        if not seg and need_segmentation:
            problems.setdefault("empty segmentation", []).append(i)
        if cid in first_line:
            problems.setdefault(f"duplicate case_id '{cid}' (first on line {first_line[cid]})", []).append(i)
            continue
        first_line[cid] = i
        if not img or (not seg and need_segmentation):
            continue
        lab = cell("labels")
        cases.append(Case(cid, _resolve(base, img), _resolve(base, seg) if seg else "",
                          _resolve(base, lab) if lab else None))
    if problems:
        what, lines = next(iter(problems.items()))
        more = sum(len(v) for v in problems.values()) - len(lines)
        extra = f" (and {more} other problem row(s))" if more else ""
        shown = ", ".join(str(n) for n in lines[:10]) + (" ..." if len(lines) > 10 else "")
        raise VBQInputError(f"{path}: {what} on line(s) {shown}{extra}")
    if not cases and n_not_ok:
        raise VBQInputError(f"{path}: no row has status ok ({n_not_ok} row(s) skipped: ambiguous or no_series; "
                            "check them and set status to ok)")
    if not cases:
        raise VBQInputError(f"{path}: manifest has a header but no cases")
    return cases


def _split_pattern(pattern) -> tuple[str, ...]:
    if pattern is None:
        return DEFAULT_PATTERN
    if isinstance(pattern, str):
        parts = tuple(p.strip() for p in pattern.split(",") if p.strip())
    else:
        parts = tuple(str(p).strip() for p in pattern)
    if len(parts) not in (2, 3):
        raise VBQInputError(
            f"pattern {pattern!r}: give an image pattern and a segmentation pattern (and optionally a labels "
            f"pattern), e.g. {{case_id}}/image.nii.gz,{{case_id}}/segmentation.seg.nrrd")
    for p in parts:
        if "{case_id}" not in p:
            raise VBQInputError(f"pattern '{p}' has no {{case_id}} placeholder")
        if p.startswith("/") or ".." in Path(p).parts:
            raise VBQInputError(f"pattern '{p}' must be relative to the folder (no leading / or ..)")
    if parts[0].count("{case_id}") != 1:
        raise VBQInputError(f"image pattern '{parts[0]}' must contain {{case_id}} exactly once")
    return parts


def _pattern_regex(pattern: str) -> re.Pattern:
    out = []
    for tok in re.split(r"(\{case_id\}|\*)", pattern):
        if tok == "{case_id}":
            out.append(r"(?P<case_id>[^/]+?)")
        elif tok == "*":
            out.append(r"[^/]*")
        else:
            out.append(re.escape(tok))
    return re.compile("".join(out) + r"\Z")


def _fill(folder: Path, pattern: str, case_id: str) -> str:
    """Path of ``pattern`` for ``case_id``; a ``*`` is globbed and must match exactly one file."""
    import glob

    rel = pattern.replace("{case_id}", case_id)
    if "*" not in pattern:
        return str(folder / rel)
    globbed = pattern.replace("{case_id}", glob.escape(case_id))
    hits = sorted(glob.glob(str(folder / globbed)))
    if len(hits) == 1:
        return hits[0]
    # leave an impossible path with an explanation: the case fails alone with a clear message
    why = "no file" if not hits else f"{len(hits)} files"
    return str(folder / rel) + f" ({why} matches the pattern)"


def discover_cases(folder, pattern=DEFAULT_PATTERN) -> list[Case]:
    """Find cases in ``folder`` by naming patterns (see the module docstring); ordered by case id.

    ``pattern`` is ``(image_pattern, segmentation_pattern[, labels_pattern])`` or the same joined with commas.
    Every file matching the image pattern is a case; a missing segmentation makes that case fail alone.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise VBQInputError(f"{folder}: not a folder")
    parts = _split_pattern(pattern)
    rx = _pattern_regex(parts[0])
    depth = len(Path(parts[0]).parts)
    found: dict[str, str] = {}
    root = folder.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        level = 0 if str(rel_dir) == "." else len(rel_dir.parts)
        if level >= depth:
            dirnames[:] = []
            continue
        dirnames.sort()
        # a DICOM series folder can be the image: match folders as well as files
        for name in sorted(filenames) + sorted(dirnames):
            rel = (rel_dir / name).as_posix() if level else name
            m = rx.match(rel)
            if m:
                cid = m.group("case_id")
                if cid in found and found[cid] != rel:
                    raise VBQInputError(
                        f"{folder}: case id '{cid}' matches the image pattern '{parts[0]}' twice "
                        f"({found[cid]} and {rel}); make the pattern more specific")
                found[cid] = rel
    if not found:
        raise VBQInputError(f"{folder}: no file matches the image pattern '{parts[0]}'")
    cases = []
    for cid in sorted(found):
        img = str(root / found[cid])
        seg = _fill(root, parts[1], cid)
        lab = _fill(root, parts[2], cid) if len(parts) > 2 else None
        cases.append(Case(cid, img, seg, lab))
    return cases


def load_cases(source, pattern=None, skipped: Optional[list] = None) -> list[Case]:
    """A manifest CSV (file) or a folder walked with ``pattern`` (see :func:`discover_cases`); ``skipped``: see
    :func:`read_manifest`."""
    source = Path(source)
    if source.is_dir():
        return discover_cases(source, pattern if pattern is not None else DEFAULT_PATTERN)
    if pattern is not None:
        raise VBQInputError(f"{source}: a naming pattern applies to a folder, not to a manifest file")
    return read_manifest(source, skipped=skipped)


# ----------------------------------------------------------------------------------------------------------
# one case (runs on a worker)


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    if isinstance(exc, VBQInputError):
        return msg or "bad input"
    name = type(exc).__name__
    return f"{name}: {msg}" if msg else name


def _flag_text(flags) -> str:
    out = []
    for f in flags:
        code, level = f.get("code"), f.get("level")
        out.append(f"{code}:{level}" if level else str(code))
    return ";".join(out)


def _record(case_id: str, d: dict) -> dict:
    """Wide row + long rows of one measured case, from ``VBQResult.to_dict()``."""
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
    """The parts of ``VBQResult.to_dict()`` that :func:`_record` uses, without ``dataclasses.asdict`` (which
    costs ~2 ms per case)."""
    from .result import ROI_FIELDS, _clean

    def roi(r, extra):
        d = {"name": r.name, "segment": r.segment}
        for k in ROI_FIELDS + extra:
            d[k] = _clean(getattr(r, k))
        return d

    return {"levels": [roi(lv, ("vbq",)) for lv in result.levels],
            "csf": roi(result.csf, ("location",)) if result.csf is not None else {},
            "overall": {k: _clean(v) for k, v in result.overall.items()},
            "flags": [{"code": f.code, "level": f.level} for f in result.flags],
            "provenance": result.provenance}


def _failed(case_id: str, error: str) -> dict:
    return {"case_id": case_id, "status": "failed",
            "wide": {"case_id": case_id, "status": "failed", "error": error}, "long": []}


def score_case(case: dict, options=None) -> dict:
    """Measure one case (``Case.to_dict()``); never raises for a bad case: returns a failed record.

    This is the task sent to Dask workers. It reads the case's own files and returns only the small record
    (``{"case_id", "status", "wide": {...}, "long": [...]}``).
    """
    cid = case["case_id"]
    try:
        from .dicom.reference import image_exists

        for key in ("image", "segmentation", "labels"):
            p = case.get(key)
            if p and not (image_exists(p) if key == "image" else os.path.exists(p)):
                raise VBQInputError(f"{key} file not found: {p}")
        from .api import score_files

        result = score_files(case["image"], case["segmentation"], labels=case.get("labels"), options=options)
        return _record(cid, _result_dict(result))
    except Exception as exc:  # noqa: BLE001 - a failed case must never sink the batch
        return _failed(cid, _one_line(exc))


# ----------------------------------------------------------------------------------------------------------
# output tables


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ""
    return str(v)


def long_path_for(out_csv) -> Path:
    out_csv = Path(out_csv)
    suffix = out_csv.suffix if out_csv.suffix else ""
    stem = out_csv.name[: -len(suffix)] if suffix else out_csv.name
    return out_csv.with_name(f"{stem}_long{suffix or '.csv'}")


def journal_path_for(out_csv) -> Path:
    out_csv = Path(out_csv)
    return out_csv.with_name(out_csv.name + ".journal.jsonl")


class _Columns:
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
        from .levels import level_sort_key

        levels = self.levels + sorted(self.extra, key=lambda s: (level_sort_key(s), s))
        dicom = [c for c in DICOM_COLUMNS if c in self.dicom]
        return list(WIDE_HEAD) + [f"VBQ_{lv}" for lv in levels] + list(WIDE_TAIL) + dicom + list(HASH_COLUMNS)


# ----------------------------------------------------------------------------------------------------------
# summary


@dataclass
class BatchSummary:
    """What a batch run did. ``n_cases = n_ok + n_failed``; ``n_skipped`` ok cases were taken from a previous
    run (``resume=True``) and are counted in ``n_ok``."""

    n_cases: int
    n_ok: int
    n_failed: int
    n_skipped: int
    out_csv: Path
    long_csv: Path
    failed: list[tuple[str, str]] = field(default_factory=list)  # (case_id, error), input order
    seconds: float = 0.0
    where: str = ""

    def to_dict(self) -> dict:
        return {"n_cases": self.n_cases, "n_ok": self.n_ok, "n_failed": self.n_failed,
                "n_skipped": self.n_skipped, "out_csv": str(self.out_csv), "long_csv": str(self.long_csv),
                "failed": [list(x) for x in self.failed], "seconds": self.seconds, "where": self.where}


# ----------------------------------------------------------------------------------------------------------
# resume


def _previous_records(out_csv: Path, long_csv: Path, journal: Path, wanted: set[str]):
    """What an earlier run finished ok, for ``resume``: ``(from_csv, from_journal)``.

    ``from_csv`` maps case id -> record rebuilt from the final CSVs (only ok cases of ``wanted`` that have
    their long rows); ``from_journal`` maps case id -> byte offset of the case's last journal line when that
    line is ok (the journal of an interrupted run is newer than the CSVs and overrides them). Journal records
    are not held in memory; they are copied by offset.
    """
    from_csv: dict[str, dict] = {}
    if out_csv.exists():
        try:
            with open(out_csv, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                if reader.fieldnames and ("case_id" not in reader.fieldnames or "status" not in reader.fieldnames):
                    raise VBQInputError(f"{out_csv}: existing output has no case_id/status columns; not a vbq "
                                        "batch table, cannot resume")
                for r in reader:
                    cid = r.get("case_id", "")
                    if r.get("status") == "ok" and cid in wanted:
                        from_csv[cid] = {"case_id": cid, "status": "ok", "wide": r, "long": []}
            if long_csv.exists():
                with open(long_csv, newline="", encoding="utf-8") as f:
                    for r in csv.DictReader(f):
                        rec = from_csv.get(r.get("case_id", ""))
                        if rec is not None:
                            rec["long"].append(r)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise VBQInputError(f"{out_csv}: cannot read the existing output to resume ({exc})") from None
        for cid in [cid for cid, rec in from_csv.items() if not rec["long"]]:
            del from_csv[cid]  # without its long rows (file missing or edited) the case is run again
    last: dict[str, tuple] = {}
    if journal.exists():
        with open(journal, "rb") as f:
            while True:
                offset = f.tell()
                line = f.readline()
                if not line:
                    break
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a line cut short by an interruption
                if isinstance(rec, dict) and rec.get("case_id") in wanted and isinstance(rec.get("wide"), dict):
                    last[rec["case_id"]] = (rec.get("status"), offset)
    for cid in last:
        from_csv.pop(cid, None)
    from_journal = {cid: off for cid, (status, off) in last.items() if status == "ok"}
    return from_csv, from_journal


def _check_compatible(cid: str, wide: dict, options, preset) -> None:
    """Refuse to mix rows measured with other settings (the settings columns of the wide table)."""

    def norm(key, value) -> str:
        if value is None or value == "":
            return ""
        if key == "erode_mm":
            try:
                return repr(float(value))
            except ValueError:
                return str(value)
        return str(value)

    expect = {"preset": preset.name, "level_stat": preset.level_stat, "aggregate": preset.aggregate,
              "erode_mm": float(options.erode_mm or 0.0), "mid_slices": options.mid_sagittal_slices}
    for key, value in expect.items():
        if key not in wide:
            continue  # a table without that column: nothing to compare
        got, want = norm(key, wide[key]), norm(key, value)
        if got == "" and key != "mid_slices":  # empty mid_slices means all slices
            continue
        if got != want:
            raise VBQInputError(
                f"cannot resume: case '{cid}' in the existing output was measured with {key}="
                f"{got or 'all'}, this run uses {key}={want or 'all'}; use the same settings, or run "
                f"without --resume to start over")


# ----------------------------------------------------------------------------------------------------------
# execution back ends


def _run_synchronous(todo: list[Case], options, on_done) -> None:
    for case in todo:
        on_done(score_case(case.to_dict(), options))


def _run_dask(todo: list[Case], options, client, in_flight: int, on_done) -> None:
    from distributed import as_completed

    it = iter(todo)
    pending: dict = {}  # future key -> (future, case)

    def submit(case: Case):
        fut = client.submit(score_case, case.to_dict(), options, pure=False, key=f"vbq-case-{_key(case)}")
        pending[fut.key] = (fut, case)
        return fut

    initial = []
    for case in it:
        initial.append(submit(case))
        if len(initial) >= in_flight:
            break
    try:
        ac = as_completed(initial, loop=client.loop)
        for fut in ac:
            _, case = pending.pop(fut.key)
            try:
                rec = fut.result()
            except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker: the worker died on this case
                rec = _failed(case.case_id, f"worker failed on this case: {_one_line(exc)}")
            fut.release()
            nxt = next(it, None)
            if nxt is not None:
                ac.add(submit(nxt))
            on_done(rec)
    finally:
        for fut, _ in pending.values():  # interrupted: do not leave work on a shared scheduler
            try:
                fut.cancel()
            except Exception:  # pragma: no cover
                pass


def _key(case: Case) -> str:
    import uuid

    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", case.case_id)[:40]
    return f"{safe}-{uuid.uuid4().hex[:12]}"


def _connect(scheduler, workers: Optional[int]):
    """Return (client, cluster_or_None, description)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover
        raise VBQInputError(f"dask.distributed is not installed ({exc}); use workers=0 to run in-process")
    if scheduler is not None and not isinstance(scheduler, str):
        return scheduler, None, f"Dask client {getattr(scheduler, 'scheduler', '')}"
    if scheduler:
        try:
            client = Client(scheduler, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise VBQInputError(f"cannot connect to Dask scheduler {scheduler}: {_one_line(exc)}") from None
        return client, None, f"Dask scheduler {scheduler}"
    n = workers if workers else (os.cpu_count() or 1)
    # dashboard_address=":0": the scheduler always serves HTTP (health, metrics); a random port never clashes
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                           host="127.0.0.1")
    client = Client(cluster, set_as_default=False)
    return client, cluster, f"local Dask cluster, {n} worker process(es)"


# ----------------------------------------------------------------------------------------------------------
# the batch


def run_batch(cases: Sequence[Case], out_csv, *, options=None, scheduler=None, workers: Optional[int] = None,
              resume: bool = False, progress: ProgressCallback = None,
              max_in_flight: Optional[int] = None) -> BatchSummary:
    """Measure ``cases`` and write the wide table ``out_csv`` and the long table beside it.

    See the module docstring for the outputs, where it runs (``scheduler``/``workers``), failures and
    ``resume``. ``progress(done, total, message)`` is called after each finished case (``total`` = cases to
    run in this call, i.e. without skipped ones). ``max_in_flight`` bounds the tasks submitted at a time
    (default: twice the number of worker threads).
    """
    from .options import ScoreOptions

    t0 = time.perf_counter()
    cases = list(cases)
    if not cases:
        raise VBQInputError("no cases to run")
    seen: dict[str, int] = {}
    for i, c in enumerate(cases):
        if not isinstance(c, Case):
            raise VBQInputError(f"case {i + 1}: expected a Case, got {type(c).__name__}")
        if c.case_id in seen:
            raise VBQInputError(f"duplicate case_id '{c.case_id}' (cases {seen[c.case_id] + 1} and {i + 1})")
        seen[c.case_id] = i
    if options is None:
        options = ScoreOptions()
    if hasattr(options, "validate"):
        options.validate()
    preset = options.resolve_preset()
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise VBQInputError(f"workers {workers!r} must be a whole number >= 0 (0 = in this process)")

    out_csv = Path(out_csv)
    parent = out_csv.parent if str(out_csv.parent) else Path(".")
    if not parent.is_dir():
        raise VBQInputError(f"{out_csv}: output folder {parent} does not exist")
    if out_csv.is_dir():
        raise VBQInputError(f"{out_csv}: is a folder; give the output table a file name")
    if not os.access(parent, os.W_OK):
        raise VBQInputError(f"{out_csv}: output folder {parent} is not writable")
    long_csv = long_path_for(out_csv)
    journal = journal_path_for(out_csv)
    inputs = {os.path.abspath(p) for c in cases for p in (c.image, c.segmentation, c.labels) if p}
    for p in (out_csv, long_csv, journal):
        if os.path.abspath(p) in inputs:
            raise VBQInputError(f"{p}: output would overwrite an input file")

    from_csv, from_journal = _previous_records(out_csv, long_csv, journal, set(seen)) if resume else ({}, {})
    n_skipped = len(from_csv) + len(from_journal)
    todo = [c for c in cases if c.case_id not in from_csv and c.case_id not in from_journal]
    done = 0
    n_failed_now = 0
    total = len(todo)
    # Only small bookkeeping stays in memory: each case's offset in the journal, the columns seen, the failures.
    # The final tables are streamed from the journal in input order.
    offsets: dict[str, int] = {}
    cols = _Columns(preset.levels)

    # The new journal starts with the records carried over (copied, so a new interruption loses nothing); it is
    # written beside the old one and replaces it only once the run can start.
    new_journal = journal.with_name(journal.name + ".new")
    try:
        with open(new_journal, "wb") as out:
            src = open(journal, "rb") if from_journal else None
            try:
                for c in cases:
                    cid = c.case_id
                    if cid in from_journal:
                        src.seek(from_journal[cid])
                        line = src.readline()
                        rec = json.loads(line)
                    elif cid in from_csv:
                        rec = from_csv.pop(cid)
                        line = _json_line(rec).encode("utf-8")
                    else:
                        continue
                    _check_compatible(cid, rec["wide"], options, preset)
                    offsets[cid] = out.tell()
                    out.write(line if line.endswith(b"\n") else line + b"\n")
                    cols.add(rec["wide"])
            finally:
                if src is not None:
                    src.close()
        synchronous = scheduler == SYNCHRONOUS or workers == 0
        client = cluster = None
        where = "nothing to run"
        if todo:
            if synchronous:
                where = "in-process (synchronous)"
            else:
                client, cluster, where = _connect(scheduler, workers)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(new_journal)
        raise
    os.replace(new_journal, journal)
    own_client = cluster is not None or isinstance(scheduler, str)
    try:
        with open(journal, "ab") as jf:

            def on_done(rec: dict) -> None:
                nonlocal done, n_failed_now
                offsets[rec["case_id"]] = jf.tell()
                jf.write(_json_line(rec).encode("utf-8"))
                jf.flush()
                cols.add(rec["wide"])
                done += 1
                if rec["status"] != "ok":
                    n_failed_now += 1
                report(progress, done, total, f"{n_failed_now} failed" if n_failed_now else "")

            report(progress, 0, total, "")
            if todo and synchronous:
                _run_synchronous(todo, options, on_done)
            elif todo:
                if max_in_flight is None:
                    try:
                        nthreads = sum(client.nthreads().values())
                    except Exception:  # pragma: no cover
                        nthreads = 0
                    max_in_flight = max(4, 2 * max(nthreads, 1))
                _run_dask(todo, options, client, max(1, int(max_in_flight)), on_done)
            jf.flush()
            os.fsync(jf.fileno())
    finally:
        if client is not None and own_client:
            client.close()
        if cluster is not None:
            cluster.close()

    failed: list[tuple[str, str]] = []
    try:
        with open(journal, "rb") as jf:

            def journal_records():
                for c in cases:
                    jf.seek(offsets[c.case_id])
                    rec = json.loads(jf.readline())
                    if rec["status"] != "ok":
                        failed.append((c.case_id, rec["wide"].get("error", "")))
                    yield rec

            write_tables(journal_records(), out_csv, columns=cols.columns())
    except OSError as exc:
        raise VBQInputError(f"{out_csv}: cannot write the results ({exc.strerror or exc}); finished cases are "
                            f"kept in {journal} for resume=True") from None
    try:
        os.unlink(journal)
    except FileNotFoundError:  # pragma: no cover
        pass
    return BatchSummary(n_cases=len(cases), n_ok=len(cases) - len(failed), n_failed=len(failed),
                        n_skipped=n_skipped, out_csv=out_csv, long_csv=long_csv, failed=failed,
                        seconds=time.perf_counter() - t0, where=where)


def write_tables(records, out_csv, *, preset_levels: Sequence[str] = (), columns: Optional[Sequence[str]] = None
                 ) -> None:
    """Write the wide table ``out_csv`` and the long table beside it (:func:`long_path_for`) from case records
    (``{"case_id", "status", "wide", "long"}`` as :func:`score_case` returns, in the order given), atomically:
    the tables :func:`run_batch` writes, for other producers of the same layout (the reader tables of
    ``vbq web --worklist``). ``columns``: the wide columns; default from the records and ``preset_levels``."""
    from .atomic import atomic_write

    if columns is None:
        records = list(records)
        cols = _Columns(preset_levels)
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


def record_from_result(case_id: str, result_dict: dict) -> dict:
    """The record of one measured case from ``VBQResult.to_dict()`` (e.g. a ``vbq score --json`` file)."""
    return _record(case_id, result_dict)


def _clean_json(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean_json(x) for x in v]
    return v


def _json_line(rec: dict) -> str:
    try:
        return json.dumps(rec, allow_nan=False, default=_json_default) + "\n"
    except ValueError:  # a NaN/inf slipped through: store it as null (an empty cell)
        return json.dumps(_clean_json(rec), allow_nan=False, default=_json_default) + "\n"


def _json_default(o):
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")
