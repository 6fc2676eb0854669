"""One intake run: scan (a folder or a DICOMweb server), choose a series per study, build the manifest rows.

:func:`intake_folder` and :func:`intake_dicomweb` return an :class:`IntakeResult` (rows in the order of
:data:`.manifest.COLUMNS`, the scan's counts, unreadable files); :func:`write_manifest` writes it atomically.
The CLI (``vbq intake``) and the Slicer helper both call these.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import VBQInputError
from ..progress import ProgressCallback
from .index import ScanResult, Study
from .manifest import case_ids
from .reference import make_reference
from .select import Choice, Rules, choose


@dataclass
class IntakeResult:
    rows: list
    scan: ScanResult | None = None
    n_studies: int = 0
    counts: dict = field(default_factory=dict)  # status -> number of studies
    key: dict | None = None  # pseudonym key ({case_id: pseudonym}) when pseudonymized
    downloaded: int = 0
    failed: list = field(default_factory=list)  # DICOMweb: [(UID, reason)] of studies/series not read


def inside(path, folder) -> bool:
    """True when ``path`` is ``folder`` or below it (after resolving links)."""
    p, f = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    return p == f or f in p.parents


def _fmt_num(v):
    return None if v is None else float(v)


def row_for(study: Study, choice: Choice, case_id: str, image: str | None, note: str = "") -> dict:
    a = choice.chosen
    row = {"case_id": case_id, "status": choice.status, "study_uid": study.study_uid,
           "study_date": study.study_date, "reason": choice.reason + (f"; {note}" if note else ""),
           "candidates": choice.candidates, "image": image or ""}
    if a is not None:
        s = a.series
        row.update(series_uid=s.series_uid, series_number=a.number, series_description=a.description,
                   plane=a.plane, weighting=a.weighting, contrast=a.contrast, fat_sat=a.fat_sat,
                   field_strength=_fmt_num(s.value("field_strength")), tr_ms=_fmt_num(s.value("tr_ms")),
                   te_ms=_fmt_num(s.value("te_ms")), pixel_bandwidth=_fmt_num(s.value("pixel_bandwidth")),
                   manufacturer=s.value("manufacturer"), model=s.value("model"),
                   slice_thickness=_fmt_num(s.value("slice_thickness")), n_slices=a.n_slices)
    return row


def folder_image(series, series_by_folder: dict) -> str:
    """The ``image`` of a chosen series found in a folder tree: its folder when the folder holds that series
    alone, else ``FOLDER#series=UID`` (FOLDER: the series' folder, or the deepest folder holding all its files)."""
    folders = series.folders
    if len(folders) == 1:
        folder = folders[0]
        if series_by_folder.get(folder, set()) == {series.series_uid}:
            return os.path.abspath(folder)
    else:
        folder = os.path.commonpath(folders)
    return make_reference(os.path.abspath(folder), series.series_uid)


def _choose_all(studies: dict, rules: Rules, preset: str, case_id: str, image_of) -> tuple:
    ids = case_ids(list(studies.values()), case_id)
    rows, choices = [], {}
    for st in sorted(studies.values(), key=lambda s: (ids[s.study_uid][0], s.study_uid)):
        ch = choose(list(st.series.values()), rules, preset)
        choices[st.study_uid] = ch
        cid, note = ids[st.study_uid]
        rows.append(row_for(st, ch, cid, image_of(st, ch) if ch.chosen is not None else None, note))
    return rows, choices


def _count(rows) -> dict:
    out = {"ok": 0, "ambiguous": 0, "no_series": 0}
    for r in rows:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


def intake_folder(source, *, rules: Rules | None = None, preset: str = "lu2024", case_id: str = "patient",
                  workers: int | None = None, cache_dir=None, progress: ProgressCallback = None
                  ) -> IntakeResult:
    from .index import scan_folder

    cache = None
    if cache_dir is not None:
        from .cache import IndexCache

        cache = IndexCache(cache_dir, source)
    scan = scan_folder(source, workers=workers, cache=cache, progress=progress)
    if cache is not None:
        cache.save()
    series_by_folder: dict = {}
    for st in scan.studies.values():
        for se in st.series.values():
            for f in se.folders:
                series_by_folder.setdefault(f, set()).add(se.series_uid)
    rows, _ = _choose_all(scan.studies, rules, preset, case_id,
                          lambda st, ch: folder_image(ch.chosen.series, series_by_folder))
    return IntakeResult(rows, scan, len(rows), _count(rows))


def intake_dicomweb(url: str, cache_dir, *, rules: Rules | None = None, preset: str = "lu2024",
                    case_id: str = "patient", progress: ProgressCallback = None, client=None,
                    query: dict | None = None) -> IntakeResult:
    """Search a DICOMweb server (QIDO-RS), choose, and download only the chosen series (WADO-RS) into
    ``cache_dir/<study UID>/<series UID>/`` (kept there: a second run downloads nothing already complete)."""
    from .dicomweb import DicomWebSource

    web = DicomWebSource(url, client=client, query=query)
    studies = web.index(progress=progress)
    if not studies:
        what = f" matching {', '.join(f'{k}={v}' for k, v in web.query.items())}" if web.query else ""
        raise VBQInputError(f"--dicomweb {url}: the server holds no study{what}"
                            + (f" it could list ({len(web.failed)} failed)" if web.failed else ""))
    cache_dir = Path(cache_dir)
    todo = []

    def image_of(st, ch):
        folder = cache_dir / _safe_uid(st.study_uid) / _safe_uid(ch.chosen.series.series_uid)
        todo.append((st.study_uid, ch.chosen.series, folder))
        return str(folder.resolve())

    rows, _ = _choose_all(studies, rules, preset, case_id, image_of)
    downloaded = web.download(todo, progress=progress)
    lost = {uid: why for uid, why in web.failed}
    for r in rows:  # a chosen series that could not be retrieved: no image, and the reason says why
        if r.get("series_uid") in lost:
            r.update(status="no_series", image="",
                     reason=f"chose #{r['series_number']} but could not retrieve it ({lost[r['series_uid']]}); "
                            + r["reason"])
    return IntakeResult(rows, None, len(rows), _count(rows), downloaded=downloaded, failed=web.failed)


def _safe_uid(uid: str) -> str:
    """A UID as a folder name (UIDs are digits and dots; anything else from a server is refused)."""
    import re

    if not re.fullmatch(r"[0-9][0-9.]{0,63}", uid or "") or ".." in uid:
        raise VBQInputError(f"the server sent an invalid UID {uid[:70]!r}")
    return uid
