"""Quality flags: each a :class:`VBQScoreLib.result.Flag` ``(code, level, message)``.

``level`` is the spine level the flag is about (``"C3"``), ``"CSF"``, or ``None`` for the whole measurement.
Flags warn; they never stop a measurement (errors are :class:`VBQInputError`).

Codes:
MISSING_LEVEL       a level of the preset has no segment (overall VBQ uses the levels present)
EMPTY_ROI           a level segment has no voxels on the image grid (empty, outside, or eroded away)
TINY_ROI            fewer voxels than ``min_voxels``
ROI_AT_BORDER       the ROI touches the first/last slice of the image along some axis
ROI_PARTLY_OUTSIDE  some segment voxels lie outside the image
CSF_NOT_DARKER      the CSF SI is not below the level SI (VBQ <= 1): on a T1-weighted image CSF is darker than
                    marrow, so the CSF ROI is misplaced or the series is not T1-weighted
VBQ_OUT_OF_RANGE    a level or the overall VBQ lies outside the plausible range (default 1.5-5.0)
HETEROGENEOUS_ROI   coefficient of variation above ``max_cv``
FAT_SATURATION      DICOM scan options (0018,0022) contain FS, or the series description names fat suppression
CONTRAST_ENHANCED   DICOM contrast/bolus agent (0018,0010) is set, or the series description names contrast
NOT_T1              DICOM TR/TE look T2-weighted (TR >= 1500 ms or TE >= 50 ms) or the description names T2/STIR
UNKNOWN_SEGMENT     a segment's name is neither a spine level nor CSF (ignored)
DUPLICATE_LEVEL     several segments name the same level (the first is used)
CSF_LOCATION        the CSF ROI is labelled at another place than the preset's CSF reference
NONFINITE_VOXELS    image voxels in the ROI are NaN or infinite: they are excluded from the ROI's statistics (every
                    format alike: NIfTI, NRRD, MHA, DICOM; see ``input.images`` for NIfTI, whose reader stores them
                    as 0); the message names the ROI and the count
"""

from __future__ import annotations

import re
from typing import Optional

from .result import Flag

CODES = ("MISSING_LEVEL", "EMPTY_ROI", "TINY_ROI", "ROI_AT_BORDER", "ROI_PARTLY_OUTSIDE", "CSF_NOT_DARKER",
         "VBQ_OUT_OF_RANGE", "HETEROGENEOUS_ROI", "FAT_SATURATION", "CONTRAST_ENHANCED", "NOT_T1",
         "UNKNOWN_SEGMENT", "DUPLICATE_LEVEL", "CSF_LOCATION", "NONFINITE_VOXELS")


def flag(code: str, level: Optional[str], message: str) -> Flag:
    assert code in CODES, code
    return Flag(code, level, " ".join(message.split()))


def _fmt(x) -> str:
    return f"{x:.4g}" if isinstance(x, float) else str(x)


_PATTERNS: dict = {}


def _re(name: str):
    """Compile the DICOM-description patterns on first use (keeps ``vbq score`` start-up short)."""
    if not _PATTERNS:
        _PATTERNS["fs"] = re.compile(_FS, re.I)
        _PATTERNS["contrast"] = re.compile(_CONTRAST, re.I)
        _PATTERNS["t2"] = re.compile(_T2, re.I)
    return _PATTERNS[name]


_FS = (r"(?<![a-z0-9])(fs|fat[\s_\-]*sat\w*|fatsat|spair|spir|fat[\s_\-]*supp\w*|stir|chess|"
       r"dixon[\s_\-]*w|water[\s_\-]*only|wfs)(?![a-z0-9])")
_CONTRAST = r"(?<![a-z0-9])(post|gd|gad\w*|contrast|km|\+c|c\+|\+gd|gd\+|enhanced)(?![a-z0-9])"
_T2 = r"(?<![a-z0-9])(t2\w*|stir|flair|pd\w*)(?![a-z0-9])"
_NO_AGENT = {"", "none", "no", "nil", "n/a", "na", "0"}


def dicom_flags(dicom: Optional[dict]) -> list[Flag]:
    """Flags from DICOM acquisition fields (see :data:`VBQScoreLib.image_io.DICOM_FIELDS`)."""
    if not dicom:
        return []
    out: list[Flag] = []
    scan_options = str(dicom.get("scan_options") or "")
    tokens = {t.strip().upper() for t in re.split(r"[\\/,\s]+", scan_options) if t.strip()}
    desc = " ".join(str(dicom.get(k) or "") for k in ("series_description", "sequence_name"))
    if "FS" in tokens:
        out.append(flag("FAT_SATURATION", None, f"DICOM scan options (0018,0022) '{scan_options}' include FS "
                        "(fat saturation): VBQ needs a non-fat-suppressed T1 series"))
    else:
        m = _re('fs').search(desc)
        if m:
            out.append(flag("FAT_SATURATION", None, f"series description/sequence name '{desc.strip()}' names "
                            f"fat suppression ('{m.group(0)}'): VBQ needs a non-fat-suppressed T1 series"))
    agent = str(dicom.get("contrast_bolus_agent") or "").strip()
    if agent.lower() not in _NO_AGENT:
        out.append(flag("CONTRAST_ENHANCED", None, f"DICOM contrast/bolus agent (0018,0010) is '{agent}': "
                        "VBQ needs a non-contrast T1 series"))
    else:
        m = _re('contrast').search(str(dicom.get("series_description") or ""))
        if m:
            out.append(flag("CONTRAST_ENHANCED", None, f"series description '{dicom.get('series_description')}' "
                            f"suggests contrast ('{m.group(0)}'): VBQ needs a non-contrast T1 series"))
    tr, te = dicom.get("repetition_time"), dicom.get("echo_time")
    why = []
    if isinstance(tr, float) and tr >= 1500:
        why.append(f"TR {tr:g} ms")
    if isinstance(te, float) and te >= 50:
        why.append(f"TE {te:g} ms")
    m = _re('t2').search(str(dicom.get("series_description") or ""))
    if m:
        why.append(f"series description '{dicom.get('series_description')}'")
    if why:
        out.append(flag("NOT_T1", None, f"{', '.join(why)} suggest a series that is not T1-weighted: "
                        "VBQ is defined on T1-weighted images"))
    return out
