"""Header-only scan of a folder tree of DICOM files, grouped into studies and series.

:func:`scan_folder` walks SOURCE (any layout: nested patient/study/series folders, flat folders with several
series mixed, a DICOMDIR beside the files — the DICOMDIR itself is not needed: every file is looked at), reads
each file's header with pydicom (``stop_before_pixels`` and ``specific_tags``: only the attributes the choice
rules need; patient names and birth dates are never read), in parallel processes, and returns a
:class:`ScanResult`: the instances grouped into :class:`Study` / :class:`Series`, the count of non-DICOM files
(skipped) and the list of unreadable DICOM files (with the reason). Nothing under SOURCE is written.

Instance records are plain tuples of :data:`FIELDS` so that a DICOMweb search (:mod:`.dicomweb`) and the scan
cache (:mod:`.cache`) produce the same records.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import VBQInputError
from ..progress import ProgressCallback, report

# DICOM keyword -> field of an instance record (the order is the record's: the scan cache stores lists)
TAGS = {
    "StudyInstanceUID": "study_uid",
    "SeriesInstanceUID": "series_uid",
    "SOPInstanceUID": "sop_uid",
    "SOPClassUID": "sop_class",
    "PatientID": "patient_id",
    "AccessionNumber": "accession",
    "StudyDate": "study_date",
    "StudyTime": "study_time",
    "Modality": "modality",
    "SeriesNumber": "series_number",
    "SeriesDescription": "series_description",
    "ProtocolName": "protocol_name",
    "ImageType": "image_type",
    "ImageOrientationPatient": "orientation",
    "ImagePositionPatient": "position",
    "ContrastBolusAgent": "contrast_agent",
    "RepetitionTime": "tr_ms",
    "EchoTime": "te_ms",
    "InversionTime": "ti_ms",
    "ScanningSequence": "scanning_sequence",
    "SequenceVariant": "sequence_variant",
    "ScanOptions": "scan_options",
    "MagneticFieldStrength": "field_strength",
    "PixelBandwidth": "pixel_bandwidth",
    "Manufacturer": "manufacturer",
    "ManufacturerModelName": "model",
    "SliceThickness": "slice_thickness",
    "SpacingBetweenSlices": "slice_spacing",
    "Rows": "rows",
    "Columns": "columns",
    "NumberOfFrames": "n_frames",
    "InstanceNumber": "instance_number",
}
FIELDS = tuple(TAGS.values())
KEYWORDS = tuple(TAGS)
_INSTANCE = FIELDS.index("instance_number")
_FIELD_INDEX = {f: i for i, f in enumerate(FIELDS)}
MULTI_VALUED = {"image_type", "orientation", "position", "scanning_sequence", "sequence_variant", "scan_options"}
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"

# what a file turned out to be
DICOM, NOT_DICOM, UNREADABLE, DICOMDIR = "dicom", "not_dicom", "unreadable", "dicomdir"


def plain_value(value, key):
    """A pydicom value as JSON-able Python: str, int, float, list of those, or None."""
    if value is None:
        return None
    if key in MULTI_VALUED:
        items = list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else \
            [value]
        out = []
        for v in items:
            if isinstance(v, (int, float)):
                out.append(float(v) if key in ("orientation", "position") else str(v))
            else:
                s = str(v).strip()
                if s:
                    out.append(float(s) if key in ("orientation", "position") else s)
        return out or None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = value[0] if len(value) else None
        if value is None:
            return None
    if key in ("series_number", "rows", "columns", "n_frames", "instance_number"):
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    if key in ("tr_ms", "te_ms", "ti_ms", "field_strength", "pixel_bandwidth", "slice_thickness",
               "slice_spacing"):
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    s = str(value).strip().rstrip("\x00").strip()
    return s or None


def read_header(path: str):
    """``(kind, record_or_reason)`` for one file: ``("dicom", [values of FIELDS])``, ``("not_dicom", None)``,
    ``("dicomdir", None)`` or ``("unreadable", reason)``."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    _quiet_pydicom()
    magic = False
    try:
        with open(path, "rb") as f:
            data = f.read(HEAD_BYTES)
            magic = len(data) >= 132 and data[128:132] == b"DICM"
            # a DICOM file without the preamble (older exports) starts with a group 0002 or 0008 element
            if not magic and data[:2] not in (b"\x02\x00", b"\x08\x00"):
                return NOT_DICOM, None
            # parse from memory (file objects' tell() dominates pydicom's parse of a small header); a header
            # longer than HEAD_BYTES is parsed again from the file
            buf = io.BytesIO(data)
            ds = pydicom.dcmread(buf, stop_before_pixels=True, specific_tags=_specific_tags(), force=not magic)
            if len(data) == HEAD_BYTES and buf.tell() >= HEAD_BYTES - 16:
                f.seek(0)
                ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=_specific_tags(), force=not magic)
    except (InvalidDicomError, EOFError) as exc:
        return (UNREADABLE, _reason(exc)) if magic else (NOT_DICOM, None)
    except OSError as exc:
        return UNREADABLE, exc.strerror or str(exc)
    except Exception as exc:  # noqa: BLE001 - any parser failure is one unreadable file, never the whole scan
        return (UNREADABLE, _reason(exc)) if magic else (NOT_DICOM, None)
    try:
        rec = _record(ds)
    except Exception as exc:  # noqa: BLE001 - a malformed value
        return (UNREADABLE, _reason(exc)) if magic else (NOT_DICOM, None)
    meta = getattr(ds, "file_meta", None)
    if rec[FIELDS.index("sop_class")] == DICOMDIR_SOP_CLASS or \
            (meta is not None and meta.get("MediaStorageSOPClassUID") == DICOMDIR_SOP_CLASS):
        return DICOMDIR, None
    if not rec[0] or not rec[1]:
        return (UNREADABLE, "no StudyInstanceUID/SeriesInstanceUID") if magic else (NOT_DICOM, None)
    return DICOM, rec


_TAG_INTS: list = []
HEAD_BYTES = 64 * 1024


def _specific_tags() -> list:
    return [t for t, _ in _tag_ints()]


def _tag_ints() -> list:
    if not _TAG_INTS:
        from pydicom.datadict import tag_for_keyword

        _TAG_INTS.extend((tag_for_keyword(k), f) for k, f in TAGS.items())
    return _TAG_INTS


def _record(ds) -> list:
    """The values of :data:`FIELDS` from the raw (not yet converted) elements of ``ds``: decoding the few text
    and number values here is 3x faster than pydicom's element conversion, which dominates a header scan."""
    import struct

    from pydicom.dataelem import RawDataElement

    d = ds._dict
    out = []
    for tag, name in _tag_ints():
        e = d.get(tag)
        if e is None:
            out.append(None)
            continue
        if not isinstance(e, RawDataElement):  # already converted (e.g. a dataset built in memory)
            out.append(plain_value(e.value, name))
            continue
        raw = e.value
        if raw is None or raw == b"":
            out.append(None)
        elif name in ("rows", "columns"):
            out.append(struct.unpack("<H" if ds.is_little_endian else ">H", raw[:2])[0] if len(raw) >= 2 else None)
        else:
            text = raw.decode("latin-1").strip(" \x00")
            out.append(plain_value(text.split("\\") if name in MULTI_VALUED else text.split("\\")[0], name))
    return out


_QUIET = []


def _quiet_pydicom() -> None:
    """No pydicom warnings for odd values (a scan meets many; a value that matters is checked by the rules)."""
    if not _QUIET:
        from pydicom import config

        config.settings.reading_validation_mode = config.IGNORE
        _QUIET.append(True)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def read_headers(paths: list) -> list:
    """``read_header`` of each path: with GDCM's scanner (python-gdcm, C++: reads each file only up to the
    attributes asked for) when it is installed, pydicom for the files it does not take (their kind and reason)
    and when it is not."""
    try:
        import gdcm
    except ImportError:
        return [read_header(p) for p in paths]
    scanner = gdcm.Scanner()
    tags = [gdcm.Tag(t >> 16, t & 0xFFFF) for t, _ in _tag_ints()]
    for tg in tags:
        scanner.AddTag(tg)
    meta_class = gdcm.Tag(0x0002, 0x0002)
    scanner.AddTag(meta_class)
    # GDCM prints its own warnings for odd files on stderr: off (the scan lists unreadable files itself)
    gdcm.Trace.WarningOff()
    gdcm.Trace.ErrorOff()
    scanner.Scan(list(paths))
    names = [name for _, name in _tag_ints()]
    out = []
    for p in paths:
        if not scanner.IsKey(p):
            out.append(read_header(p))
            continue
        rec = []
        for tg, name in zip(tags, names):
            v = scanner.GetValue(p, tg)
            if v is None:
                rec.append(None)
                continue
            text = v.strip(" \x00")
            rec.append(plain_value(text.split("\\") if name in MULTI_VALUED else text.split("\\")[0], name)
                       if text else None)
        if not rec[0] or not rec[1] or (scanner.GetValue(p, meta_class) or "").strip(" \x00") == DICOMDIR_SOP_CLASS:
            out.append(read_header(p))  # a DICOMDIR, or no UIDs: pydicom says which, and why
        else:
            out.append((DICOM, rec))
    return out


@dataclass
class Series:
    study_uid: str
    series_uid: str
    files: list = field(default_factory=list)  # paths (or, for DICOMweb, nothing until downloaded)
    records: list = field(default_factory=list)  # instance records (lists of FIELDS values)
    n_instances: int | None = None  # DICOMweb: the server's count (records hold one instance only)

    def value(self, name: str):
        """The attribute of the series' first instance (lowest InstanceNumber) that has it."""
        i = _FIELD_INDEX[name]
        for rec in self.sorted_records():
            if rec[i] is not None:
                return rec[i]
        return None

    def sorted_records(self) -> list:
        if getattr(self, "_sorted", None) is None or len(self._sorted) != len(self.records):
            k = _INSTANCE
            self._sorted = sorted(self.records, key=lambda r: (r[k] is None, r[k] or 0))
        return self._sorted

    def values(self, name: str) -> list:
        i = FIELDS.index(name)
        return [r[i] for r in self.records]

    @property
    def folders(self) -> list:
        return sorted({os.path.dirname(p) for p in self.files})


@dataclass
class Study:
    study_uid: str
    patient_id: str | None = None
    accession: str | None = None
    study_date: str | None = None
    study_time: str | None = None
    series: dict = field(default_factory=dict)  # series_uid -> Series


@dataclass
class ScanResult:
    studies: dict  # study_uid -> Study
    n_files: int = 0
    n_dicom: int = 0
    not_dicom: int = 0
    dicomdir: int = 0
    unreadable: list = field(default_factory=list)  # [(path, reason)]
    n_from_cache: int = 0


def group(records_with_paths) -> dict:
    """``{study_uid: Study}`` from ``(path_or_None, record)`` pairs."""
    studies: dict = {}
    fi = {f: i for i, f in enumerate(FIELDS)}
    for path, rec in records_with_paths:
        st = studies.get(rec[0])
        if st is None:
            st = studies[rec[0]] = Study(rec[0])
        for name in ("patient_id", "accession", "study_date", "study_time"):
            if getattr(st, name) is None and rec[fi[name]] is not None:
                setattr(st, name, rec[fi[name]])
        se = st.series.get(rec[1])
        if se is None:
            se = st.series[rec[1]] = Series(rec[0], rec[1])
        if path is not None:
            se.files.append(path)
        se.records.append(rec)
    for st in studies.values():
        for se in st.series.values():
            se.files.sort()
    return studies


def list_files(source: Path) -> list:
    """``[(path, size, mtime_ns)]`` of every regular file below ``source``, sorted; hidden files included."""
    out = []
    stack = [str(source)]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                for e in it:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            stack.append(e.path)
                        elif e.is_file():
                            st = e.stat()
                            out.append((e.path, st.st_size, st.st_mtime_ns))
                    except OSError:
                        continue
        except OSError:
            continue
    out.sort()
    return out


def scan_folder(source, *, workers: int | None = None, cache=None, progress: ProgressCallback = None,
                chunk: int = 1000) -> ScanResult:
    """Scan ``source`` (a folder, or one DICOM file) by header. ``cache`` is an :class:`.cache.IndexCache`
    (files whose path, size and modification time are unchanged are not read again); ``workers`` processes
    (default: the machine's cores; 0 = this process). Raises :class:`VBQInputError` when ``source`` does not
    exist or holds no DICOM file."""
    source = Path(source)
    if not source.exists():
        raise VBQInputError(f"{source}: not found")
    if source.is_file():
        st = source.stat()
        files = [(str(source), st.st_size, st.st_mtime_ns)]
    else:
        report(progress, 0, 0, "listing files")
        files = list_files(source)
    if not files:
        raise VBQInputError(f"{source}: no files (no DICOM to scan)")
    results: dict = {}
    todo = []
    for path, size, mtime in files:
        hit = cache.get(path, size, mtime) if cache is not None else None
        if hit is not None:
            results[path] = hit
        else:
            todo.append(path)
    n_cached = len(results)
    total = len(files)
    report(progress, n_cached, total, "reading headers")
    if workers is None:
        workers = min(os.cpu_count() or 1, 8)
    if todo:
        if workers <= 1 or len(todo) <= chunk:
            for k in range(0, len(todo), chunk):
                part = todo[k:k + chunk]
                results.update(zip(part, read_headers(part)))
                report(progress, n_cached + k + len(part), total, "reading headers")
        else:
            from concurrent.futures import ProcessPoolExecutor, as_completed

            parts = [todo[k:k + chunk] for k in range(0, len(todo), chunk)]
            done = n_cached
            with ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context()) as pool:
                futures = {pool.submit(read_headers, part): part for part in parts}
                for fut in as_completed(futures):
                    part = futures[fut]
                    results.update(zip(part, fut.result()))
                    done += len(part)
                    report(progress, done, total, "reading headers")
    if cache is not None:
        cache.update({p: (s, m, results[p]) for p, s, m in files}, n_cached)
    out = ScanResult({}, n_files=total, n_from_cache=n_cached)
    pairs = []
    for path, _, _ in files:
        kind, data = results[path]
        if kind == DICOM:
            pairs.append((path, data))
        elif kind == NOT_DICOM:
            out.not_dicom += 1
        elif kind == DICOMDIR:
            out.dicomdir += 1
        else:
            out.unreadable.append((path, data))
    out.n_dicom = len(pairs)
    out.studies = group(pairs)
    if not out.studies:
        what = f"{out.not_dicom} non-DICOM file(s)" + (f", {len(out.unreadable)} unreadable" if out.unreadable
                                                        else "")
        raise VBQInputError(f"{source}: no DICOM image found ({total} file(s) looked at: {what})")
    return out


def _mp_context():
    import multiprocessing as mp

    # fork is fastest (no re-import); where it is not offered (Windows, macOS default) the default context
    try:
        return mp.get_context("fork")
    except ValueError:  # pragma: no cover
        return None
