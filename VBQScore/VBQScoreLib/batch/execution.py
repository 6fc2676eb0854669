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
from a journal are copied by offset; rows taken from the final CSVs are held in memory while the run starts.
Resuming with a different preset, statistic or aggregate (or erosion, or mid-sagittal slices) than the existing
rows is refused (bad input).
"""


from __future__ import annotations

import contextlib
import json
import os
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import VBQInputError
from ..measuring.api import score_files
from ..measuring.options import ScoreOptions
from ..progress import ProgressCallback, report
from .journal import check_compatible, journal_path_for, json_line, previous_records
from .manifest import Case
from .records import (
    WideColumns,
    checksums_path_for,
    failed_record,
    long_path_for,
    record_from_vbq_result,
    write_tables,
)

SYNCHRONOUS = "synchronous"


# ----------------------------------------------------------------------------------------------------------
# one case (runs on a worker)


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    if isinstance(exc, VBQInputError):
        return msg or "bad input"
    name = type(exc).__name__
    return f"{name}: {msg}" if msg else name


def score_case(case: dict, options=None) -> dict:
    """Measure one case (``Case.to_dict()``); never raises for a bad case: returns a failed record.

    This is the task sent to Dask workers. It reads the case's own files and returns only the small record
    (``{"case_id", "status", "wide": {...}, "long": [...]}``).
    """
    cid = case["case_id"]
    try:
        from ..dicom.reference import image_exists

        for key in ("image", "segmentation", "labels"):
            p = case.get(key)
            if p and not (image_exists(p) if key == "image" else os.path.exists(p)):
                raise VBQInputError(f"{key} file not found: {p}")
        result = score_files(case["image"], case["segmentation"], labels=case.get("labels"), options=options)
        return record_from_vbq_result(cid, result)
    except Exception as exc:  # noqa: BLE001 - a failed case must never sink the batch
        return failed_record(cid, _one_line(exc))


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
    notes: list[str] = field(default_factory=list)  # e.g. a table pair that did not match, measured again

    def to_dict(self) -> dict:
        return {"n_cases": self.n_cases, "n_ok": self.n_ok, "n_failed": self.n_failed,
                "n_skipped": self.n_skipped, "out_csv": str(self.out_csv), "long_csv": str(self.long_csv),
                "failed": [list(x) for x in self.failed], "seconds": self.seconds, "where": self.where}


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
                rec = failed_record(case.case_id, f"worker failed on this case: {_one_line(exc)}")
            fut.release()
            nxt = next(it, None)
            if nxt is not None:
                ac.add(submit(nxt))
            on_done(rec)
    finally:
        for fut, _ in pending.values():  # interrupted: do not leave work on a shared scheduler
            try:
                fut.cancel()
            except Exception:  # noqa: BLE001 - best-effort cleanup while interrupted  # pragma: no cover
                pass


def _key(case: Case) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", case.case_id)[:40]
    return f"{safe}-{uuid.uuid4().hex[:12]}"


def _connect(scheduler, workers: int | None):
    """Return (client, cluster_or_None, description)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover
        raise VBQInputError(f"dask.distributed is not installed ({exc}); use workers=0 to run in-process") from None
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


def run_batch(cases: Sequence[Case], out_csv, *, options=None, scheduler=None, workers: int | None = None,
              resume: bool = False, progress: ProgressCallback = None,
              max_in_flight: int | None = None) -> BatchSummary:
    """Measure ``cases`` and write the wide table ``out_csv`` and the long table beside it.

    See the module docstring for the outputs, where it runs (``scheduler``/``workers``), failures and
    ``resume``. ``progress(done, total, message)`` is called after each finished case (``total`` = cases to
    run in this call, i.e. without skipped ones). ``max_in_flight`` bounds the tasks submitted at a time
    (default: twice the number of worker threads).
    """
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
    for p in (out_csv, long_csv, journal, checksums_path_for(out_csv)):
        if os.path.abspath(p) in inputs:
            raise VBQInputError(f"{p}: output would overwrite an input file")

    notes: list[str] = []
    from_csv, from_journal = (previous_records(out_csv, long_csv, journal, set(seen), notes) if resume
                              else ({}, {}))
    n_skipped = len(from_csv) + len(from_journal)
    todo = [c for c in cases if c.case_id not in from_csv and c.case_id not in from_journal]
    done = 0
    n_failed_now = 0
    total = len(todo)
    # Only small bookkeeping stays in memory: each case's offset in the journal, the columns seen, the failures.
    # The final tables are streamed from the journal in input order.
    offsets: dict[str, int] = {}
    cols = WideColumns(preset.levels)

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
                        line = json_line(rec).encode("utf-8")
                    else:
                        continue
                    check_compatible(cid, rec["wide"], options, preset)
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
                jf.write(json_line(rec).encode("utf-8"))
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
                    except Exception:  # noqa: BLE001 - best-effort query of the scheduler  # pragma: no cover
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

            write_tables(journal_records(), out_csv, columns=cols.columns(), checksums=True)
    except OSError as exc:
        raise VBQInputError(f"{out_csv}: cannot write the results ({exc.strerror or exc}); finished cases are "
                            f"kept in {journal} for resume=True") from None
    try:
        os.unlink(journal)
    except FileNotFoundError:  # pragma: no cover
        pass
    return BatchSummary(n_cases=len(cases), n_ok=len(cases) - len(failed), n_failed=len(failed),
                        n_skipped=n_skipped, out_csv=out_csv, long_csv=long_csv, failed=failed,
                        seconds=time.perf_counter() - t0, where=where, notes=notes)
