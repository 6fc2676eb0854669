"""Reading the MRI: NIfTI, NRRD, MHA (any format SimpleITK reads) and DICOM series folders.

:func:`read_image` returns an :class:`ImageInput` ``(image, dicom, files)``: the 3-D scalar SimpleITK image
(geometry in LPS, as SimpleITK keeps it), a dict of DICOM acquisition fields (empty unless the input was DICOM)
and the list of files read (for provenance hashing).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from ..errors import VBQInputError
from .detached_data import check_image_file, check_series_voxels

# DICOM tag -> key in the provenance "dicom" dict
DICOM_FIELDS = {
    "0008|0070": "manufacturer",
    "0008|1090": "model",
    "0018|0087": "magnetic_field_strength",
    "0018|0080": "repetition_time",
    "0018|0081": "echo_time",
    "0018|0082": "inversion_time",
    "0018|0095": "pixel_bandwidth",
    "0018|0050": "slice_thickness",
    "0018|0022": "scan_options",
    "0018|0021": "sequence_variant",
    "0018|0020": "scanning_sequence",
    "0018|0024": "sequence_name",
    "0018|0010": "contrast_bolus_agent",
    "0008|103e": "series_description",
    "0008|0060": "modality",
    "0020|000e": "series_instance_uid",
}
NUMERIC_DICOM_FIELDS = {"magnetic_field_strength", "repetition_time", "echo_time", "inversion_time",
                        "pixel_bandwidth", "slice_thickness"}


class ImageInput(NamedTuple):
    image: object  # SimpleITK.Image, 3-D scalar
    dicom: dict  # DICOM acquisition fields ({} for non-DICOM input)
    files: list  # paths of the files read (sorted for a DICOM series)


def _sitk_reason(exc: Exception) -> str:
    """First meaningful line of a SimpleITK/ITK error, without source-file noise."""
    for line in str(exc).splitlines():
        line = line.strip()
        if line and not line.startswith(("/", "sitk::ERROR: ", "ITK ERROR")) and ".cxx" not in line \
                and ".hxx" not in line:
            return line[:200]
    return "not a readable image"


def restore_nifti_nonfinite(image, path):
    """``image`` (read by SimpleITK from the NIfTI file ``path``) with its NaN and infinite voxels as in the file.

    SimpleITK reads NIfTI through niftilib, whose ``nifti_read_buffer`` stores every non-finite float voxel as 0
    (its ``IS_GOOD_FLOAT`` check): a NaN inside an ROI would be measured as a real 0 with no sign of it, where NRRD
    and MHA keep the NaN. Only for float32/float64 voxels and only when some voxel reads as 0, the voxel block
    is read again from the file (at the header's ``vox_offset``, in the header's byte order, through gzip for
    ``.nii.gz``) and the non-finite values are put back, so that the measurement excludes and flags them for every
    format alike (flag ``NONFINITE_VOXELS``). Hand-written on purpose: nibabel would read the same block but its
    import costs more than a whole ``vbq score`` of a typical scan; SimpleITK gives the header fields."""
    import numpy as np
    import SimpleITK as sitk

    name = str(path).lower()
    if not name.endswith((".nii", ".nii.gz")):
        return image
    try:
        datatype = int(image.GetMetaData("datatype"))
        offset = int(float(image.GetMetaData("vox_offset")))
    except (RuntimeError, ValueError):
        return image
    dtype = {16: np.float32, 64: np.float64}.get(datatype)
    if dtype is None or image.GetNumberOfComponentsPerPixel() != 1:
        return image
    view = sitk.GetArrayViewFromImage(image)
    if view.dtype != dtype or not (view == 0).any():  # no voxel reads as 0: nothing was replaced
        return image
    import gzip

    n = view.size * np.dtype(dtype).itemsize
    try:
        with open(path, "rb") as raw_file:
            gz = raw_file.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
            head = f.read(4)
            f.seek(offset)
            block = f.read(n)
    except (OSError, EOFError):
        return image
    if len(block) != n or len(head) != 4:
        return image
    order = "<" if int.from_bytes(head, "little") in (348, 540) else ">"
    raw = np.frombuffer(block, np.dtype(dtype).newbyteorder(order)).reshape(view.shape)
    bad = ~np.isfinite(raw)
    if not bad.any():
        return image
    values = sitk.GetArrayFromImage(image)
    values[bad] = raw[bad]
    out = sitk.GetImageFromArray(values, isVector=False)
    out.CopyInformation(image)
    for k in image.GetMetaDataKeys():
        out.SetMetaData(k, image.GetMetaData(k))
    return out


def _check_3d_scalar(image, path):
    """Return the image if it is a 3-D scalar volume (a 4-D image with one time point is reduced to 3-D)."""
    import SimpleITK as sitk

    dim = image.GetDimension()
    if dim == 4 and image.GetSize()[3] == 1:
        image = image[:, :, :, 0]
        dim = 3
    if dim != 3:
        size = "x".join(str(s) for s in image.GetSize())
        raise VBQInputError(f"{path}: image is {dim}-D ({size}); a 3-D scalar MRI volume is needed")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise VBQInputError(
            f"{path}: image has {image.GetNumberOfComponentsPerPixel()} components per voxel "
            f"({image.GetPixelIDTypeAsString()}); a scalar (grayscale) MRI volume is needed")
    if image.GetPixelID() in (sitk.sitkComplexFloat32, sitk.sitkComplexFloat64):
        raise VBQInputError(f"{path}: complex-valued image; a magnitude MRI volume is needed")
    return image


def dicom_value(text: str, key: str):
    """A DICOM tag's text as the value of field ``key`` (a number for the numeric fields), or None."""
    text = text.strip().rstrip("\x00").strip()
    if key in NUMERIC_DICOM_FIELDS:
        try:
            return float(text.split("\\")[0])
        except ValueError:
            return text or None
    return text or None


def _is_dicom_file(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(132)
        return len(head) == 132 and head[128:132] == b"DICM"
    except OSError:
        return False


def _read_dicom_series(folder: Path, series_uid: str | None = None, shown=None, below: bool = False) -> ImageInput:
    import SimpleITK as sitk

    shown = shown or folder
    warn = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)  # GDCM prints "No Series were found" itself
    try:
        series_ids = list(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))
        if below and series_uid not in series_ids:  # FOLDER#series=UID: the series may lie in sub-folders
            files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series_uid, recursive=True)
            if files:
                series_ids.append(series_uid)
    except RuntimeError as exc:
        raise VBQInputError(f"{shown}: cannot scan DICOM folder ({_sitk_reason(exc)})") from None
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(warn)
    if not series_ids:
        raise VBQInputError(f"{shown}: folder holds no DICOM series (and is not an image file)")
    if series_uid is None:
        files_by_series = {sid: list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), sid))
                           for sid in series_ids}
        most = max(len(f) for f in files_by_series.values())
        best = [sid for sid, f in files_by_series.items() if len(f) == most]
        if len(best) > 1:
            listing = "; ".join(f"{sid} ({most} files)" for sid in best)
            raise VBQInputError(f"{shown}: {len(best)} DICOM series with {most} files each, cannot choose: "
                                f"{listing}; give the folder or a file of one series")
        series_uid = best[0]
        files = files_by_series[series_uid]
    else:
        files = list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series_uid))
        if not files and below:
            files = list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series_uid, recursive=True))
        if not files:
            raise VBQInputError(f"{shown}: DICOM series {series_uid} not found in {folder}")
    check_series_voxels(files, shown)  # slice size x number of files against --max-voxels, before reading
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()
    reader.LoadPrivateTagsOff()
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise VBQInputError(f"{shown}: cannot read DICOM series {series_uid} ({_sitk_reason(exc)})") from None
    if image.GetDimension() == 3 and image.GetSize()[2] == 1 and len(files) == 1:
        raise VBQInputError(f"{shown}: DICOM series {series_uid} has a single 2-D slice; a 3-D volume is needed")
    image = _check_3d_scalar(image, shown)
    dicom: dict = {}
    for tag, key in DICOM_FIELDS.items():
        if reader.HasMetaDataKey(0, tag):
            dicom[key] = dicom_value(reader.GetMetaData(0, tag), key)
    dicom["series_instance_uid"] = series_uid
    dicom["n_files"] = len(files)
    dicom["other_series_in_folder"] = len(series_ids) - 1
    return ImageInput(image, dicom, sorted(files))


def read_image(path) -> ImageInput:
    """Read a 3-D scalar MRI volume from a file (NIfTI, NRRD, MHA, ...) or a DICOM series folder.

    A DICOM folder with several series: the series with the most files is read; a tie is an error that lists
    them. A single DICOM file stands for its whole series (the files of the same series in its folder).
    ``FOLDER#series=UID`` (written by ``vbq intake``, :mod:`VBQScoreLib.dicom.reference`) is that series alone.
    Raises :class:`VBQInputError` with one line for anything that is not a readable 3-D scalar image.
    """
    import SimpleITK as sitk

    from ..dicom.reference import split_reference

    folder, series_uid = split_reference(path)
    if series_uid is not None:
        if not Path(folder).is_dir():
            raise VBQInputError(f"{path}: image not found (no folder {folder})")
        return _read_dicom_series(Path(folder), series_uid, shown=path, below=True)
    p = Path(path)
    if not p.exists():
        raise VBQInputError(f"{path}: image not found")
    if p.is_dir():
        return _read_dicom_series(p, shown=path)
    if p.name.lower().endswith(".seg.nrrd"):
        check_image_file(p)
        raise VBQInputError(f"{path}: is a Slicer segmentation, not an MRI (give the image first, then the "
                            "segmentation)")
    if _is_dicom_file(p):
        try:
            r = sitk.ImageFileReader()
            r.SetFileName(str(p))
            r.ReadImageInformation()
            uid = r.GetMetaData("0020|000e").strip().rstrip("\x00") if r.HasMetaDataKey("0020|000e") else None
        except RuntimeError as exc:
            raise VBQInputError(f"{path}: cannot read DICOM file ({_sitk_reason(exc)})") from None
        if uid:
            return _read_dicom_series(p.parent, uid, shown=path)
    if not os.access(p, os.R_OK):
        raise VBQInputError(f"{path}: image is not readable (permission denied)")
    check_image_file(p)  # a data file outside its folder, or too many voxels: refused before reading
    try:
        image = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        raise VBQInputError(f"{path}: not a readable image (NIfTI, NRRD, MHA or a DICOM folder): "
                            f"{_sitk_reason(exc)}") from None
    image = restore_nifti_nonfinite(image, p)
    image = _check_3d_scalar(image, path)
    return ImageInput(image, {}, [str(p)])


def file_stem(path) -> str:
    """The file name without its image or segmentation extension (``.seg.nrrd``, ``.nii.gz``, ...): a case or
    node name for a file."""
    name = Path(path).name
    for ext in (".seg.nrrd", ".nii.gz", ".nrrd", ".nhdr", ".nii", ".mha", ".mhd"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return Path(name).stem
