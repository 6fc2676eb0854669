"""Reader worklists for ``vbq web --worklist manifest.csv --reader R1 --out readings/`` (Slicer-free).

The manifest is the ``vbq batch`` manifest (:func:`VBQScoreLib.batch.read_manifest`: ``case_id,image`` and
optionally ``labels``; a ``vbq intake`` manifest as it is: rows whose ``status`` is not ``ok`` are skipped); a ``segmentation`` column may be there and is never shown: every reader starts each case
from an empty segmentation, and the app only ever opens files of its own reader, so readers stay blinded to
each other.

Each reader's readings go to ``OUT/<reader>/``:

- ``<case_id>.seg.nrrd``: the reader's segmentation (Slicer format);
- ``<case_id>.result.json`` and ``<case_id>.levels.csv``: ``vbq score --json`` / ``--csv`` of the saved files;
- ``results.csv`` (+ ``results_long.csv``): the reader's table in the layout of ``vbq batch`` (one row per
  read case, manifest order, :func:`VBQScoreLib.batch.write_tables`), which joins with a clinical spreadsheet on
  ``case_id`` and which the reader-agreement analysis takes as one reader's measurements;
- ``worklist.json``: where the reader was (the case shown last), so a restart resumes there.

A case counts as read once its ``.seg.nrrd`` exists. Everything is written atomically.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from VBQScoreLib.errors import VBQInputError

READER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
STATE_FILE = "worklist.json"
TABLE_FILE = "results.csv"


def check_name(text: str, what: str) -> str:
    """A reader or case id that can be a file name (no folders, nothing hidden)."""
    if not READER_RE.fullmatch(text or "") or text in (".", ".."):
        raise VBQInputError(f"{what} '{text}' must be letters, digits, '-', '_' or '.' (a file name, at most 64 "
                            "characters, not starting with '.')")
    return text


@dataclass(frozen=True)
class CaseFiles:
    """Where one case's reading lives."""

    segmentation: Path
    result_json: Path
    levels_csv: Path


def case_files(folder: Path, case_id: str) -> CaseFiles:
    return CaseFiles(folder / f"{case_id}.seg.nrrd", folder / f"{case_id}.result.json",
                     folder / f"{case_id}.levels.csv")


class Worklist:
    """The cases of a manifest for one reader, and that reader's readings folder."""

    def __init__(self, manifest, reader: str, out_dir) -> None:
        from VBQScoreLib.atomic import check_output_directory
        from VBQScoreLib.batch import read_manifest

        from VBQScoreLib.dicom.reference import split_reference

        self.reader = check_name(reader, "--reader")
        self.skipped: list = []  # rows of a vbq intake manifest whose status is not ok
        self.cases = read_manifest(manifest, need_segmentation=False, skipped=self.skipped)
        for c in self.cases:
            check_name(c.case_id, f"{manifest}: case_id")
        self.manifest = Path(manifest)
        out_dir = Path(out_dir)
        check_output_directory(out_dir)
        self.folder = out_dir / self.reader
        inputs = {Path(split_reference(p).folder).resolve() for c in self.cases for p in (c.image, c.labels) if p}
        if self.folder.resolve() in inputs or any(self.folder.resolve() in p.parents for p in inputs):
            raise VBQInputError(f"--out {out_dir}: the readings folder {self.folder} holds input images; choose "
                                "another folder")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VBQInputError(f"--out {out_dir}: cannot create {self.folder} ({exc.strerror or exc})") from None

    def __len__(self) -> int:
        return len(self.cases)

    def files(self, index: int) -> CaseFiles:
        return case_files(self.folder, self.cases[index].case_id)

    def is_read(self, index: int) -> bool:
        return self.files(index).segmentation.is_file()

    def n_read(self) -> int:
        return sum(self.is_read(i) for i in range(len(self)))

    def progress_text(self, index: int) -> str:
        """``"12 of 40"``: the position of the case shown."""
        return f"{index + 1} of {len(self)}"

    # -- where the reader was
    def resume_index(self) -> int:
        """The case shown last (``worklist.json``) when it is not read yet, else the first unread case after
        it (wrapping round), else that case: a reader who stopped mid-case or between cases goes on there."""
        n = len(self)
        last = self._saved_index()
        start = last if last is not None else 0
        for k in range(n):
            i = (start + k) % n
            if not self.is_read(i):
                return i
        return start

    def _saved_index(self) -> Optional[int]:
        p = self.folder / STATE_FILE
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        cid = data.get("case_id") if isinstance(data, dict) else None
        ids = [c.case_id for c in self.cases]
        return ids.index(cid) if cid in ids else None

    def remember(self, index: int) -> None:
        from VBQScoreLib.atomic import write_text_atomic

        write_text_atomic(self.folder / STATE_FILE,
                          json.dumps({"reader": self.reader, "case_id": self.cases[index].case_id}) + "\n")

    # -- the reader's table
    def write_table(self, options) -> Path:
        """``results.csv`` + ``results_long.csv`` of every read case, in manifest order, in the ``vbq batch``
        layout: from each case's ``result.json``, or (a case saved before it could be measured, e.g. without
        CSF) measured again by ``vbq batch``'s own case runner, which gives its one-line error row."""
        from VBQScoreLib.batch import Case, record_from_result, score_case, write_tables

        records = []
        for i, case in enumerate(self.cases):
            f = self.files(i)
            if not f.segmentation.is_file():
                continue
            try:
                records.append(record_from_result(case.case_id, json.loads(f.result_json.read_text("utf-8"))))
            except (OSError, ValueError):
                records.append(score_case(Case(case.case_id, case.image, str(f.segmentation)).to_dict(), options))
        out = self.folder / TABLE_FILE
        write_tables(records, out, preset_levels=options.resolve_preset().levels)
        return out
