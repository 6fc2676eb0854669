"""Segmentation files and nodes: a file ``vbq score`` accepts -> a segmentation node
(:func:`read_segmentation_node`), a node -> a Slicer ``.seg.nrrd`` written atomically (:func:`write_seg_nrrd`)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Optional

import numpy as np
import SimpleITK as sitk
import slicer
import vtk
from vtk.util import numpy_support

from ..atomic import clean_leftovers, temporary_name
from ..errors import VBQInputError
from ..input.images import file_stem
from ..input.resample import ImageGrid, map_segment
from ..input.segmentations import looks_like_seg_nrrd, read_segmentation
from ..measuring.api import no_overlap_message
from ..measuring.levels import parse_segment_name
from .conversion import ijk_to_ras_vtk, volume_to_sitk
from .segments import create_level_segments


def _oriented_image(mask_image):
    """``vtkOrientedImageData`` (uint8, RAS world) of a SimpleITK 0/1 mask, on the mask's own grid."""
    arr = np.ascontiguousarray((sitk.GetArrayViewFromImage(mask_image) != 0).astype(np.uint8))
    image = slicer.vtkOrientedImageData()
    image.SetDimensions(arr.shape[2], arr.shape[1], arr.shape[0])
    image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(arr.ravel(), deep=True,
                                                               array_type=vtk.VTK_UNSIGNED_CHAR))
    image.SetImageToWorldMatrix(ijk_to_ras_vtk(mask_image))
    return image



def read_segmentation_node(path, volumeNode, labels=None, name: Optional[str] = None):
    """A new segmentation node (in the volume's scene) from a file ``vbq score`` accepts.

    The file is read first by :func:`VBQScoreLib.segments.read_segmentation`, so a file that ``vbq score``
    rejects is refused with the same one-line message, and refused when none of its voxels lies in the volume
    (the message of ``vbq score``, :func:`VBQScoreLib.measuring.api.no_overlap_message`).
    A Slicer ``.seg.nrrd`` is then loaded by Slicer's own storage node (names, colours,
    terminology, layers and geometry kept); a labelmap (with ``labels``) becomes one segment per label on the
    labelmap's grid, level and CSF segments with the IDs, colours and terminology of
    :func:`create_level_segments` and the names of the labels file.
    """
    segments = read_segmentation(path, labels)
    image = volume_to_sitk(volumeNode)
    grid = ImageGrid(image)
    mapped = [map_segment(seg, image, grid) for seg in segments]
    if any(m.n_segment for m in mapped) and not any(m.n_voxels for m in mapped):
        raise VBQInputError(f"{path}: {no_overlap_message(image, segments)}")
    scene = volumeNode.GetScene()
    node = slicer.vtkMRMLSegmentationNode()
    node.SetName(name or file_stem(path))
    scene.AddNode(node)
    node.CreateDefaultDisplayNodes()
    if looks_like_seg_nrrd(Path(path)):
        storage = slicer.vtkMRMLSegmentationStorageNode()
        scene.AddNode(storage)
        try:
            storage.SetFileName(str(path))
            if not storage.ReadData(node):
                scene.RemoveNode(node)
                raise VBQInputError(f"{path}: Slicer could not read this segmentation")
        finally:
            scene.RemoveNode(storage)
        return node
    used: set = set()
    for seg in segments:
        parsed = parse_segment_name(seg.name)
        if parsed is not None and parsed.level not in used:
            used.add(parsed.level)
            sid = create_level_segments(node, [] if parsed.level == "CSF" else [parsed.level],
                                        include_csf=parsed.level == "CSF", csf_name=seg.name)[parsed.level]
            node.GetSegmentation().GetSegment(sid).SetName(seg.name)
            ok = slicer.vtkSlicerSegmentationsModuleLogic.SetBinaryLabelmapToSegment(
                _oriented_image(seg.mask), node, sid, slicer.vtkSlicerSegmentationsModuleLogic.MODE_REPLACE)
        else:  # not a level (or a second segment for one): kept under its own name, as vbq score reports it
            ok = node.GetSegmentation().AddSegmentFromBinaryLabelmapRepresentation(_oriented_image(seg.mask),
                                                                                    seg.name)
        if not ok:
            scene.RemoveNode(node)
            raise VBQInputError(f"{path}: could not put segment '{seg.name}' into a segmentation node")
    return node



def write_seg_nrrd(segmentationNode, path) -> None:
    """Save the node as a Slicer ``.seg.nrrd`` with Slicer's own storage node, atomically: written to a
    temporary file beside ``path``, then renamed over it, so a failed write (disk full, folder gone) leaves any
    previous file intact. Raises :class:`VBQInputError` (one line) when the file cannot be written."""
    path = Path(path)
    if not path.name.endswith(".seg.nrrd"):
        raise VBQInputError(f"{path}: a Slicer segmentation file name ends with .seg.nrrd")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise VBQInputError(f"{path}: output folder {folder} does not exist")
    clean_leftovers(path)  # what a killed save left (our own temporary names only)
    tmp = str(temporary_name(path, ".tmp.seg.nrrd"))  # created by the storage node: the umask's mode
    try:
        with open(tmp, "xb"):
            pass
    except OSError as exc:
        raise VBQInputError(f"{path}: cannot write in {folder} ({exc.strerror or exc})") from None
    scene = segmentationNode.GetScene()
    storage = slicer.vtkMRMLSegmentationStorageNode()
    scene.AddNode(storage)
    try:
        storage.SetFileName(tmp)
        ok = storage.WriteData(segmentationNode)
        size = os.path.getsize(tmp) if os.path.exists(tmp) else 0
        if not ok or size == 0:
            raise VBQInputError(f"{path}: could not write the segmentation (disk full or not writable?); the "
                                "previous file, if any, is unchanged")
        with open(tmp, "rb+") as f:  # as atomic_write does: on disk before the rename
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise VBQInputError(f"{path}: could not write the segmentation ({exc.strerror or exc}); the previous "
                            "file, if any, is unchanged") from None
    finally:
        scene.RemoveNode(storage)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
