"""Image files that point elsewhere, and images too large to decode: refused before any reader follows them.

An NRRD header (``.nrrd``, ``.nhdr``, ``.seg.nrrd``) may keep its voxels in another file: ``data file: x.raw``
(also ``datafile:``, the list form ``data file: LIST`` followed by one name per line, and the printf form
``data file: slice%03d.raw 1 40 1``); a MetaImage header (``.mhd``/``.mha``) likewise has ``ElementDataFile``.
Readers (ITK, pynrrd/slicerio, Slicer) follow these names anywhere: ``data file: /etc/passwd`` or ``../x.raw``
would read a file of the server's and hand its bytes back as voxels. :func:`check_image_file` refuses any such
name that leaves the header's own folder (absolute, a ``..`` step, or a link out of it), with one line that says
nothing about the target (not its name, size or whether it exists).

It also refuses an image whose header declares more voxels than :func:`max_voxels` (default 2^31, ``vbq web
--max-voxels``), before anything is allocated (decompression bombs: a small gzip file declaring a huge grid).
The count comes from the header (NRRD ``sizes``, or SimpleITK's ``ReadImageInformation``, which reads no voxels).

Called by :func:`VBQScoreLib.input.images.read_image` and :func:`VBQScoreLib.input.segmentations.read_segmentation`,
so every reader of VBQ (``vbq score``, ``batch``, ``agreement``, ``vbq web``, the Slicer modules through
:func:`VBQScoreLib.mrml.read_segmentation_node`) goes through it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

from ..errors import VBQInputError

DEFAULT_MAX_VOXELS = 2 ** 31
MAX_VOXELS_ENV = "VBQ_MAX_VOXELS"  # set by set_max_voxels, so worker processes inherit the limit
_max_voxels = DEFAULT_MAX_VOXELS
MAX_HEADER_BYTES = 1 << 20  # a longer header is not an image header we read

#: bytes per value of the NRRD types (spec names and their synonyms)
NRRD_TYPE_BYTES = {
    **dict.fromkeys(("signed char", "int8", "int8_t", "uchar", "unsigned char", "uint8", "uint8_t"), 1),
    **dict.fromkeys(("short", "short int", "signed short", "signed short int", "int16", "int16_t", "ushort",
                     "unsigned short", "unsigned short int", "uint16", "uint16_t"), 2),
    **dict.fromkeys(("int", "signed int", "int32", "int32_t", "uint", "unsigned int", "uint32", "uint32_t",
                     "float"), 4),
    **dict.fromkeys(("longlong", "long long", "long long int", "signed long long", "signed long long int", "int64",
                     "int64_t", "ulonglong", "unsigned long long", "unsigned long long int", "uint64", "uint64_t",
                     "double"), 8),
}


def max_voxels() -> int:
    try:
        return int(os.environ.get(MAX_VOXELS_ENV) or _max_voxels)
    except ValueError:
        return _max_voxels


def set_max_voxels(n: Optional[int]) -> None:
    """The voxel limit of this process (``None``: the default, 2^31)."""
    global _max_voxels
    if n is None:
        _max_voxels = DEFAULT_MAX_VOXELS
        os.environ.pop(MAX_VOXELS_ENV, None)
        return
    if int(n) < 1:
        raise VBQInputError(f"--max-voxels {n}: must be at least 1")
    _max_voxels = int(n)
    os.environ[MAX_VOXELS_ENV] = str(_max_voxels)


def _outside_message(path) -> str:
    return (f"{path}: its header names a data file outside the header's folder (an absolute path or '..'); "
            "such files are not read")


def _escapes(folder: Path, name: str) -> bool:
    """``name`` (as written in the header) reaches outside ``folder``."""
    name = name.strip()
    if not name:
        return False
    if name.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:", name) or "\x00" in name:
        return True
    parts = re.split(r"[\\/]+", name)
    if any(p == ".." for p in parts):
        return True
    try:
        base = Path(os.path.realpath(folder))
        target = Path(os.path.realpath(folder / name))
    except (OSError, ValueError):
        return True
    return base != target and base not in target.parents


def _read_header(p: Path, magic: bytes) -> Optional[list[str]]:
    """The header lines of a NRRD/MetaImage file (up to the first blank line for NRRD), or None if it does not
    start with ``magic``."""
    with open(p, "rb") as f:
        head = f.read(MAX_HEADER_BYTES)
    if p.name.lower().endswith(".gz"):
        return None
    if not head.startswith(magic):
        return None
    text = head.decode("latin-1")
    return text.splitlines()


def _nrrd_data_files(lines: list[str]) -> tuple[list[str], dict]:
    """The detached data names of an NRRD header (the format of the printf form) and its fields."""
    fields: dict = {}
    names: list[str] = []
    for n, line in enumerate(lines[1:], start=1):
        if not line.strip():
            break  # the end of the header (attached data follows)
        if line.startswith("#") or ":=" in line or ":" not in line:
            continue  # comments and key/value pairs ('key:=value')
        key, value = line.split(":", 1)
        key, value = " ".join(key.lower().split()), value.strip()
        if key == "datafile":
            key = "data file"
        fields[key] = value
        if key == "data file":
            parts = value.split()
            if parts and parts[0].upper() == "LIST":  # the names follow, one a line, to the end of the file
                names.extend(x.strip() for x in lines[n + 1:] if x.strip())
                break
            names.append(parts[0] if len(parts) >= 4 and "%" in parts[0] else value)
    return names, fields


def _mhd_data_files(lines: list[str]) -> tuple[list[str], dict]:
    fields: dict = {}
    names: list[str] = []
    for n, line in enumerate(lines):
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        key, value = key.strip().lower(), value.strip()
        fields[key] = value
        if key == "elementdatafile":
            first = value.split()[0] if value.split() else ""
            if first.upper() == "LOCAL":
                break
            if first.upper() == "LIST":
                names.extend(x.strip() for x in lines[n + 1:] if x.strip())
            elif len(value.split()) >= 4 and "%" in value.split()[0]:
                names.append(value.split()[0])
            else:
                names.append(value)
            break
    return names, fields


def _too_many(path, n_voxels: int, n_bytes: Optional[int]) -> None:
    limit = max_voxels()
    if n_voxels > limit:
        size = f" ({n_bytes} bytes decoded)" if n_bytes else ""
        raise VBQInputError(f"{path}: its header declares {n_voxels} voxels{size}, more than the limit of {limit} "
                            "(--max-voxels); not read")


def check_image_file(path) -> None:
    """Refuse ``path`` (one :class:`VBQInputError` line) when its header's data file leaves its folder or it
    declares more voxels than :func:`max_voxels`. Files that are not NRRD/MetaImage headers get only the voxel
    check (by SimpleITK's header read); a file no header reader understands is left to the caller's reader."""
    p = Path(path)
    if not p.is_file():
        return
    folder = p.parent
    try:
        nrrd_lines = _read_header(p, b"NRRD")
        mhd_lines = None
        if nrrd_lines is None and p.suffix.lower() in (".mhd", ".mha"):
            mhd_lines = _read_header(p, b"")
    except OSError:
        return
    declared = None
    if nrrd_lines is not None:
        names, fields = _nrrd_data_files(nrrd_lines)
        if any(_escapes(folder, name) for name in names):
            raise VBQInputError(_outside_message(path))
        try:
            sizes = [int(v) for v in fields.get("sizes", "").split()]
        except ValueError:
            sizes = []
        if sizes:
            n = 1
            for v in sizes:
                n *= max(v, 0)
            kind = NRRD_TYPE_BYTES.get(" ".join(fields.get("type", "").lower().split()))
            declared = (n, n * kind if kind else None)
    elif mhd_lines is not None:
        names, fields = _mhd_data_files(mhd_lines)
        if any(_escapes(folder, name) for name in names):
            raise VBQInputError(_outside_message(path))
    if declared is not None:
        _too_many(path, *declared)
        return
    try:
        import SimpleITK as sitk

        r = sitk.ImageFileReader()
        r.SetFileName(str(p))
        r.ReadImageInformation()
        n = 1
        for v in r.GetSize():
            n *= int(v)
        n *= max(1, int(r.GetNumberOfComponents()))
    except Exception:  # noqa: BLE001 - not an image SimpleITK knows: the reader says what is wrong
        return
    _too_many(path, n, None)


def check_series_voxels(files, shown) -> None:
    """A DICOM series: the first file's slice size (and frames) times the number of files, against
    :func:`max_voxels`, from the header of one file (no pixel data read)."""
    if not files:
        return
    try:
        import SimpleITK as sitk

        r = sitk.ImageFileReader()
        r.SetFileName(str(files[0]))
        r.ReadImageInformation()
        n = max(1, int(r.GetNumberOfComponents()))
        for v in r.GetSize():
            n *= int(v)
    except Exception:  # noqa: BLE001 - the series reader says what is wrong with the files
        return
    _too_many(shown, n * len(files), None)
