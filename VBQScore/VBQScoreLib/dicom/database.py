"""The choice rules over a DICOM database: Slicer's "Find VBQ series" (Slicer-free, so it is tested here).

``db`` is Slicer's ``slicer.dicomDatabase`` (a ``ctkDICOMDatabase``) or anything with its four listing methods:
``patients()``, ``studiesForPatient(patient)``, ``seriesForStudy(study)``, ``filesForSeries(series)``. The
database only lists the files; their headers are read by the same scanner as ``vbq intake`` (the database's
own tag cache holds only some of the attributes the rules need), so Slicer and the CLI decide alike.
"""

from __future__ import annotations

from ..progress import ProgressCallback, report
from .index import DICOM, read_headers, group
from .select import Rules, choose


def database_files(db) -> list:
    files = []
    for patient in db.patients():
        for study in db.studiesForPatient(patient):
            for series in db.seriesForStudy(study):
                files.extend(str(f) for f in db.filesForSeries(series) if f)
    return sorted(set(files))


def find_vbq_series(db, *, rules: Rules | None = None, preset: str = "lu2024",
                    progress: ProgressCallback = None) -> list:
    """``[(Study, Choice)]`` for every study of the database, in PatientID, StudyDate order. ``Choice.chosen``
    is ``None`` for a study without a suitable series; ``Choice.status``, ``reason`` and ``candidates`` are
    those of the manifest."""
    files = database_files(db)
    pairs = []
    step = 500
    for k in range(0, len(files), step):
        part = files[k:k + step]
        for path, (kind, rec) in zip(part, read_headers(part)):
            if kind == DICOM:
                pairs.append((path, rec))
        report(progress, min(k + step, len(files)), len(files), "reading DICOM headers")
    studies = group(pairs)
    out = []
    for st in sorted(studies.values(), key=lambda s: (s.patient_id or "", s.study_date or "", s.study_uid)):
        out.append((st, choose(list(st.series.values()), rules, preset)))
    return out


def summary_text(results: list) -> str:
    """One line per study: ``PatientID StudyDate: status #N description (reason)``."""
    lines = []
    for st, ch in results:
        head = f"{st.patient_id or '(no id)'} {st.study_date or ''}".strip()
        what = ch.chosen.label if ch.chosen is not None else "no series"
        lines.append(f"{head}: {ch.status} {what} ({ch.reason})")
    return "\n".join(lines)
