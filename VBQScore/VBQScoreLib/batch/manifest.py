"""The cases of a batch: :class:`Case`, a CSV manifest (:func:`read_manifest`), a folder walked with naming
patterns (:func:`discover_cases`), either (:func:`load_cases`).

:func:`read_manifest` reads a CSV manifest with columns ``case_id,image,segmentation`` and optionally ``labels``
(a label-name text file for a labelmap segmentation). Relative paths are resolved against the manifest's folder.
Missing columns, empty or duplicate case ids are bad input (:class:`VBQInputError` naming the file and the rows);
a missing image or segmentation file is *not*: that case fails on its own, with an error row, and the batch goes
on. :func:`discover_cases`: see :mod:`VBQScoreLib.batch.execution` for the pattern syntax.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import VBQInputError

DEFAULT_PATTERN = ("{case_id}/image.nii.gz", "{case_id}/segmentation.seg.nrrd")
#: the layout ``vbq demo`` writes (``mri/<id>/t1.nii.gz`` + labelmap + label names): tried when no pattern is
#: given and :data:`DEFAULT_PATTERN` finds nothing, so that ``vbq batch vbq-demo/mri`` works as it is
DEMO_PATTERN = ("{case_id}/t1.nii.gz", "{case_id}/t1_labels.nii.gz", "{case_id}/t1_labels.txt")
MANIFEST_COLUMNS = ("case_id", "image", "segmentation")
OPTIONAL_MANIFEST_COLUMNS = ("labels",)


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
    dup_cols = sorted(h for h, n in Counter(header).items() if h and n > 1)  # linear: many columns are fine
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

    ``pattern`` is ``(image_pattern, segmentation_pattern[, labels_pattern])`` or the same joined with commas;
    None: :data:`DEFAULT_PATTERN`, else the demo's layout (:data:`DEMO_PATTERN`) when the default finds nothing.
    Every file matching the image pattern is a case; a missing segmentation makes that case fail alone.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise VBQInputError(f"{folder}: not a folder")
    if pattern is None:
        for candidate in (DEFAULT_PATTERN, DEMO_PATTERN):
            try:
                return _discover(folder, candidate)
            except _NoMatch:
                pass
        raise VBQInputError(
            f"{folder}: no file matches the image pattern '{DEFAULT_PATTERN[0]}' (nor the demo's "
            f"'{DEMO_PATTERN[0]}'); say how your files are named with --pattern IMAGE,SEGMENTATION[,LABELS], "
            f"e.g. --pattern '{{case_id}}/t1.nii.gz,{{case_id}}/t1.seg.nrrd'")
    try:
        return _discover(folder, pattern)
    except _NoMatch as exc:
        raise VBQInputError(f"{folder}: no file matches the image pattern '{exc.args[0]}'; check --pattern "
                            "IMAGE,SEGMENTATION[,LABELS] (e.g. '{case_id}/t1.nii.gz,{case_id}/t1.seg.nrrd')"
                            ) from None


class _NoMatch(Exception):
    pass


def _discover(folder: Path, pattern) -> list[Case]:
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
        raise _NoMatch(parts[0])
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
        return discover_cases(source, pattern)
    if pattern is not None:
        raise VBQInputError(f"{source}: a naming pattern applies to a folder, not to a manifest file")
    return read_manifest(source, skipped=skipped)
