"""``manifest.csv``: one row per study, the columns of issue 19 (:data:`COLUMNS`), case ids and pseudonyms.

- ``case_id``: PatientID (``--case-id patient``, the default), AccessionNumber (``accession``) or
  StudyInstanceUID (``study``); with ``patient``, a patient who has several studies gets
  ``PatientID_StudyDate`` for each (and ``_2``, ``_3``... for several studies on one day, in StudyTime order).
  Characters other than letters, digits, ``-``, ``_`` and ``.`` become ``_`` (a case id is a file name in
  ``vbq web``). A study without the chosen id falls back to its StudyInstanceUID (the reason says so).
- ``--pseudonymize KEYFILE``: ``case_id`` is a pseudonym (``VBQ0001``, ``VBQ0002``...); KEYFILE (CSV
  ``pseudonym,case_id``) keeps the link and is read again by the next run, so a case keeps its pseudonym.
- Text cells that a spreadsheet would take as a formula (starting with ``=``, ``+``, ``-``, ``@``) get a
  leading ``'``.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from ..errors import VBQInputError

COLUMNS = ("case_id", "status", "image", "study_uid", "series_uid", "series_number", "series_description",
           "study_date", "plane", "weighting", "contrast", "fat_sat", "field_strength", "tr_ms", "te_ms",
           "pixel_bandwidth", "manufacturer", "model", "slice_thickness", "n_slices", "reason", "candidates")
STATUSES = ("ok", "no_series", "ambiguous")
CASE_ID_SOURCES = ("patient", "accession", "study")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_id(text: str) -> str:
    s = _SAFE.sub("_", str(text).strip()).strip("_") or ""
    while s.startswith("."):
        s = s[1:]
    return s[:64]


def case_ids(studies: list, source: str = "patient") -> dict:
    """``{study_uid: (case_id, note)}`` for :class:`.index.Study` objects (note: why a fallback was used)."""
    if source not in CASE_ID_SOURCES:
        raise VBQInputError(f"--case-id {source}: choose one of {', '.join(CASE_ID_SOURCES)}")
    base = {}
    for st in studies:
        raw = {"patient": st.patient_id, "accession": st.accession, "study": st.study_uid}[source]
        cid = safe_id(raw) if raw else ""
        note = ""
        if not cid:
            cid = safe_id(st.study_uid)
            note = f"no {'PatientID' if source == 'patient' else 'AccessionNumber'}: case_id is the study UID"
        base[st.study_uid] = (cid, note)
    groups: dict = {}
    for st in studies:
        groups.setdefault(base[st.study_uid][0], []).append(st)
    out = {}
    for cid, sts in groups.items():
        if len(sts) == 1:
            out[sts[0].study_uid] = base[sts[0].study_uid]
            continue
        sts = sorted(sts, key=lambda s: (s.study_date or "", s.study_time or "", s.study_uid))
        seen: dict = {}
        for st in sts:
            new = f"{cid}_{st.study_date}" if source == "patient" and st.study_date else cid
            seen[new] = seen.get(new, 0) + 1
            if seen[new] > 1:
                new = f"{new}_{seen[new]}"
            out[st.study_uid] = (safe_id(new), base[st.study_uid][1])
    return out


def read_key(path) -> dict:
    """``{case_id: pseudonym}`` from a key file (missing file: empty)."""
    p = Path(path)
    if not p.exists():
        return {}
    try:
        rows = list(csv.DictReader(io.StringIO(p.read_text(encoding="utf-8-sig"))))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise VBQInputError(f"--pseudonymize {path}: cannot read the key file ({exc})") from None
    if rows and not {"pseudonym", "case_id"} <= set(rows[0]):
        raise VBQInputError(f"--pseudonymize {path}: key file needs columns pseudonym,case_id")
    key = {}
    for i, r in enumerate(rows, start=2):
        if not r.get("pseudonym") or not r.get("case_id"):
            raise VBQInputError(f"--pseudonymize {path}: empty pseudonym or case_id on line {i}")
        key[r["case_id"]] = r["pseudonym"]
    if len(set(key.values())) != len(key):
        raise VBQInputError(f"--pseudonymize {path}: a pseudonym is used twice")
    return key


def pseudonymize(ids: list, key: dict) -> dict:
    """Extend ``key`` (``{case_id: pseudonym}``) with new pseudonyms for ``ids`` (``VBQ0001``...); returns it."""
    used = set(key.values())
    n = max([int(m.group(1)) for v in used if (m := re.fullmatch(r"VBQ(\d+)", v))] or [0])
    for cid in ids:
        if cid not in key:
            n += 1
            while f"VBQ{n:04d}" in used:
                n += 1
            key[cid] = f"VBQ{n:04d}"
            used.add(key[cid])
    return key


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:g}"
    s = " ".join(str(v).split())
    if s.startswith(FORMULA_START):
        s = "'" + s
    return s


def manifest_text(rows: list) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([_cell(r.get(c)) if c not in ("image", "case_id") else (r.get(c) or "") for c in COLUMNS])
    return buf.getvalue()


def key_text(key: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("pseudonym", "case_id"))
    for cid, ps in sorted(key.items(), key=lambda kv: kv[1]):
        w.writerow((ps, cid))
    return buf.getvalue()
