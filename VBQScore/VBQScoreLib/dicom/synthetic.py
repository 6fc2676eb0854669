"""Synthetic MR studies written with pydicom, for the tests, the benchmark and a demonstration of ``vbq intake``.

Each series is small (``rows`` × ``cols`` pixels, ``n_slices`` slices) and its voxel values say which series it
is: ``100 * SeriesNumber + slice index``, so reading a chosen series back proves which files were read.
:data:`VENDORS` gives the series of a cervical spine MRI as Siemens, GE and Philips name them, and a site whose
exports only say ``SAG``/``AX``; :func:`write_study` writes a study in one of the :data:`LAYOUTS`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

SAG = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
AX = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
COR = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
PLANES = {"sagittal": SAG, "axial": AX, "coronal": COR}
LAYOUTS = ("nested", "flat", "dicomdir", "by_series_uid")


@dataclass
class SeriesSpec:
    number: int
    description: str
    plane: str = "sagittal"
    tr: float | None = 550.0
    te: float | None = 11.0
    ti: float | None = None
    sequence: str = "SE"
    variant: str = "SK\\SP"
    options: str = ""
    agent: str = ""
    image_type: str = "ORIGINAL\\PRIMARY\\M\\NORM"
    n_slices: int = 6
    localizer_planes: bool = False  # three orientations in one series (a three-plane localizer)
    uid: str = ""


@dataclass
class StudySpec:
    patient_id: str
    series: list
    study_date: str = "20240105"
    study_time: str = "101500"
    accession: str = ""
    manufacturer: str = "SIEMENS"
    model: str = "Skyra"
    field_strength: float = 3.0
    bandwidth: float = 190.0
    uid: str = ""
    patient_name: str = "Doe^Jane"
    birth_date: str = "19500101"


def vendor_series(vendor: str) -> list:
    """The series of a spine MRI (localizer, sagittal T1, T2, STIR, axial T2) as ``vendor`` names them."""
    names = {
        "siemens": ("localizer", "t1_tse_sag", "t2_tse_sag", "t2_tirm_sag", "t2_tse_tra"),
        "ge": ("3-pl loc", "Sag T1 FSE", "Sag T2 FSE", "Sag STIR", "Ax T2 FSE"),
        "philips": ("Survey", "T1W_TSE_SAG", "T2W_TSE_SAG", "STIR_SAG", "T2W_TSE_TRA"),
        "sag_only": ("SCOUT", "SAG", "SAG", "SAG", "AX"),
    }[vendor]
    return [
        SeriesSpec(1, names[0], localizer_planes=True, n_slices=3, tr=8.6, te=4.0, sequence="GR",
                   image_type="ORIGINAL\\PRIMARY\\LOCALIZER" if vendor != "sag_only" else "ORIGINAL\\PRIMARY"),
        SeriesSpec(2, names[1], tr=600.0 if vendor == "ge" else 550.0, te=9.0 if vendor == "ge" else 11.0,
                   options="FAST_GEMS\\EDR_GEMS" if vendor == "ge" else ""),
        SeriesSpec(3, names[2], tr=3200.0, te=98.0),
        SeriesSpec(4, names[3], tr=4000.0, te=40.0, ti=160.0, sequence="SE\\IR"),
        SeriesSpec(5, names[4], plane="axial", tr=3500.0, te=100.0),
    ]


VENDORS = {"siemens": ("SIEMENS", "Skyra", 3.0), "ge": ("GE MEDICAL SYSTEMS", "SIGNA Explorer", 1.5),
           "philips": ("Philips Medical Systems", "Ingenia", 3.0), "sag_only": ("SIEMENS", "Avanto", 1.5)}


def _uid(prefix: str, *parts) -> str:
    import hashlib

    h = int(hashlib.sha256("/".join(map(str, (prefix,) + parts)).encode()).hexdigest()[:24], 16)
    return f"2.25.{h}"


def datasets(study: StudySpec, seed: str = ""):
    """Yield ``(SeriesSpec, slice index, pydicom FileDataset)`` for every image of ``study``."""
    import numpy as np
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

    study_uid = study.uid or _uid("study", seed, study.patient_id, study.study_date, study.study_time)
    study.uid = study_uid
    for se in study.series:
        se.uid = se.uid or _uid("series", study_uid, se.number, se.description)
        rows = cols = 32
        for k in range(se.n_slices):
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = MRImageStorage
            sop = _uid("sop", se.uid, k)
            meta.MediaStorageSOPInstanceUID = sop
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
            ds.SOPClassUID = MRImageStorage
            ds.SOPInstanceUID = sop
            ds.StudyInstanceUID = study_uid
            ds.SeriesInstanceUID = se.uid
            ds.PatientName = study.patient_name
            ds.PatientBirthDate = study.birth_date
            ds.PatientID = study.patient_id
            ds.AccessionNumber = study.accession
            ds.StudyDate = study.study_date
            ds.StudyTime = study.study_time
            ds.StudyID = "1"
            ds.Modality = "MR"
            ds.SeriesNumber = se.number
            ds.InstanceNumber = k + 1
            ds.SeriesDescription = se.description
            ds.ProtocolName = se.description
            ds.ImageType = se.image_type.split("\\")
            ds.Manufacturer = study.manufacturer
            ds.ManufacturerModelName = study.model
            ds.MagneticFieldStrength = study.field_strength
            ds.PixelBandwidth = study.bandwidth
            ds.ScanningSequence = se.sequence.split("\\")
            ds.SequenceVariant = se.variant.split("\\")
            ds.ScanOptions = se.options.split("\\") if se.options else ""
            ds.MRAcquisitionType = "2D"
            if se.tr is not None:
                ds.RepetitionTime = se.tr
            if se.te is not None:
                ds.EchoTime = se.te
            if se.ti is not None:
                ds.InversionTime = se.ti
            ds.ContrastBolusAgent = se.agent
            ds.SliceThickness = 3.0
            ds.SpacingBetweenSlices = 3.3
            plane = se.plane
            if se.localizer_planes:
                plane = ("sagittal", "coronal", "axial")[k % 3]
            iop = PLANES[plane]
            ds.ImageOrientationPatient = list(iop)
            r, c = iop[:3], iop[3:]
            n = (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])
            origin = (-20.0, -50.0, -50.0)
            ds.ImagePositionPatient = [round(origin[i] + 3.3 * k * n[i], 3) for i in range(3)]
            ds.PixelSpacing = [1.0, 1.0]
            ds.Rows, ds.Columns = rows, cols
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.BitsAllocated = ds.BitsStored = 16
            ds.HighBit = 15
            ds.PixelRepresentation = 0
            ds.PixelData = np.full((rows, cols), 100 * se.number + k, dtype="<u2").tobytes()
            yield se, k, ds


def write_study(study: StudySpec, root, layout: str = "nested", seed: str = "") -> list:
    """Write ``study`` below ``root`` in ``layout``; returns the paths written.

    - ``nested``: ``root/<PatientID>/<StudyDate>/<SeriesNumber>_<description>/IM0001.dcm``
    - ``flat``: every file of every series in ``root`` itself, named by SOPInstanceUID (series mixed)
    - ``by_series_uid``: ``root/<StudyUID>/<SeriesUID>/<SOPInstanceUID>``, no extension
    - ``dicomdir``: a DICOM File-set (``root/DICOMDIR`` beside ``root/PT000000/ST000000/SE000000/IM000000``)
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    written = []
    if layout == "dicomdir":
        from pydicom.fileset import FileSet

        fs = FileSet(root / "DICOMDIR") if (root / "DICOMDIR").exists() else FileSet()
        for _, _, ds in datasets(study, seed):
            fs.add(ds)
        fs.write(root)
        return [str(p) for p in root.rglob("*") if p.is_file()]
    for se, k, ds in datasets(study, seed):
        if layout == "nested":
            safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in se.description)
            folder = root / study.patient_id / study.study_date / f"{se.number:03d}_{safe}"
            name = f"IM{k + 1:04d}.dcm"
        elif layout == "flat":
            folder, name = root, ds.SOPInstanceUID
        elif layout == "by_series_uid":
            folder, name = root / study.uid / se.uid, ds.SOPInstanceUID
        else:
            raise ValueError(f"unknown layout {layout}")
        folder.mkdir(parents=True, exist_ok=True)
        p = folder / name
        ds.save_as(p, enforce_file_format=True)
        written.append(str(p))
    return written


def write_junk(folder) -> dict:
    """Non-DICOM files and one damaged DICOM file in ``folder``; returns ``{"not_dicom": n, "unreadable": [paths]}``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.txt").write_text("exported from PACS\n")
    (folder / "Thumbs.db").write_bytes(os.urandom(300))
    (folder / "empty.dcm").write_bytes(b"")
    (folder / "viewer.exe").write_bytes(b"MZ" + os.urandom(2000))
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1" + os.urandom(100))
    bad = folder / "broken.dcm"
    bad.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\xff\x7f" + os.urandom(40))
    return {"not_dicom": 5, "unreadable": [str(bad)]}


def spine_study(patient_id: str, vendor: str = "siemens", **kw) -> StudySpec:
    manufacturer, model, field_strength = VENDORS[vendor]
    return StudySpec(patient_id, vendor_series(vendor), manufacturer=manufacturer, model=model,
                     field_strength=field_strength, **kw)


__all__ = [
    "SeriesSpec",
    "StudySpec",
    "field",
    "replace",
    "spine_study",
    "vendor_series",
    "write_junk",
    "write_study",
]
