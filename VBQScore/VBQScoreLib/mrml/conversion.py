"""Slicer nodes -> SimpleITK: a volume node's geometry (Slicer's IJK-to-RAS matrix -> SimpleITK's LPS), its voxels,
a segmentation node's segments (as stored, or exported onto the volume grid) as
:class:`VBQScoreLib.input.segmentations.Segment`, and what the scene knows of the patient and the acquisition."""

from __future__ import annotations

from typing import Iterable, Optional

import numpy as np
import SimpleITK as sitk
import slicer
import vtk
from vtk.util import numpy_support

from ..errors import VBQInputError
from ..input.images import DICOM_FIELDS, dicom_value
from ..input.segmentations import Segment
from ..measuring.levels import parse_segment_name
from ..progress import report

#: segment tag written by the VBQScore module's "Create level segments": the canonical level of a segment,
#: so that a segment keeps its meaning when the user renames it.
LEVEL_TAG = "VBQ.Level"



def _matrix_to_numpy(m: "vtk.vtkMatrix4x4"):
    return np.array([[m.GetElement(r, c) for c in range(4)] for r in range(4)], dtype=float)



def node_transform_to_world(node, harden_transforms: bool = True):
    """4x4 numpy matrix from the node's coordinates to world (RAS), or identity when not transformed.

    Raises :class:`VBQInputError` for a non-linear parent transform, or for any parent transform when
    ``harden_transforms`` is False.
    """
    parent = node.GetParentTransformNode()
    if parent is None:
        return np.eye(4)
    name = node.GetName()
    if not harden_transforms:
        raise VBQInputError(
            f"'{name}' is under transform '{parent.GetName()}': harden the transform first "
            "(Data module: right-click > Harden transform) or allow hardening on a copy")
    if not parent.IsTransformToWorldLinear():
        raise VBQInputError(
            f"'{name}' is under a non-linear transform '{parent.GetName()}': harden it first "
            "(Data module: right-click > Harden transform) so the voxel intensities are resampled once")
    m = vtk.vtkMatrix4x4()
    parent.GetMatrixTransformToWorld(m)
    return _matrix_to_numpy(m)



def ijk_to_ras(volumeNode, harden_transforms: bool = True):
    """The volume's IJK-to-world-RAS 4x4 matrix (numpy), with a linear parent transform applied."""
    m = vtk.vtkMatrix4x4()
    volumeNode.GetIJKToRASMatrix(m)
    return node_transform_to_world(volumeNode, harden_transforms) @ _matrix_to_numpy(m)



def _geometry_lps(ijk_to_ras_matrix, extent_min=(0, 0, 0)):
    """(origin, spacing, direction) in SimpleITK's LPS convention from an IJK-to-RAS matrix.

    ``extent_min`` is the IJK index of the first stored voxel (non-zero for cropped vtkImageData).
    """
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(ijk_to_ras_matrix, dtype=float)
    cols = lps[:3, :3]
    spacing = np.linalg.norm(cols, axis=0)
    if np.any(spacing <= 0) or not np.all(np.isfinite(lps)):
        raise VBQInputError("volume has an invalid voxel geometry (zero or non-finite spacing)")
    direction = cols / spacing
    origin = lps[:3, :3] @ np.asarray(extent_min, dtype=float) + lps[:3, 3]
    return ([float(o) for o in origin], [float(s) for s in spacing], [float(d) for d in direction.flatten()])



def _image_array(imageData, what: str):
    """(k, j, i)-ordered numpy copy of a single-component vtkImageData."""
    scalars = imageData.GetPointData().GetScalars() if imageData is not None else None
    if scalars is None:
        raise VBQInputError(f"{what} has no voxel data")
    if scalars.GetNumberOfComponents() != 1:
        raise VBQInputError(f"{what} has {scalars.GetNumberOfComponents()} components per voxel; "
                            "a scalar (grayscale) volume is needed")
    dims = imageData.GetDimensions()
    return numpy_support.vtk_to_numpy(scalars).reshape(dims[::-1]).copy()



def volume_to_sitk(volumeNode, harden_transforms: bool = True):
    """SimpleITK image (LPS geometry, same voxel values and type) of a scalar volume node; node untouched."""
    if volumeNode is None:
        raise VBQInputError("no input volume selected")
    if not volumeNode.IsA("vtkMRMLScalarVolumeNode") or volumeNode.IsA("vtkMRMLLabelMapVolumeNode"):
        raise VBQInputError(f"volume '{volumeNode.GetName()}' is a {volumeNode.GetClassName()}; "
                            "a scalar (grayscale) MRI volume is needed")
    image_data = volumeNode.GetImageData()
    arr = _image_array(image_data, f"volume '{volumeNode.GetName()}'")
    if arr.ndim != 3 or min(arr.shape) < 1:
        raise VBQInputError(f"volume '{volumeNode.GetName()}' is not a 3-D volume")
    ext = image_data.GetExtent()
    origin, spacing, direction = _geometry_lps(ijk_to_ras(volumeNode, harden_transforms), (ext[0], ext[2], ext[4]))
    img = sitk.GetImageFromArray(arr)
    img.SetOrigin(origin)
    img.SetSpacing(spacing)
    try:
        img.SetDirection(direction)
    except RuntimeError:
        raise VBQInputError(f"volume '{volumeNode.GetName()}': the (transformed) voxel grid is degenerate") from None
    return img



def sitk_to_volume_node(image, scene, name: str = "Volume", node=None, labelmap: bool = False):
    """Put a SimpleITK image into a (new or given) scalar/labelmap volume node with the same geometry."""
    arr = np.ascontiguousarray(sitk.GetArrayFromImage(image))
    if node is None:
        node = slicer.vtkMRMLLabelMapVolumeNode() if labelmap else slicer.vtkMRMLScalarVolumeNode()
        node.SetName(name)
        scene.AddNode(node)
    image_data = vtk.vtkImageData()
    image_data.SetDimensions(arr.shape[2], arr.shape[1], arr.shape[0])
    vtk_arr = numpy_support.numpy_to_vtk(arr.ravel(), deep=True)
    image_data.GetPointData().SetScalars(vtk_arr)
    node.SetIJKToRASMatrix(ijk_to_ras_vtk(image))
    node.SetAndObserveImageData(image_data)
    return node



def ijk_to_ras_vtk(image):
    """IJK-to-RAS ``vtkMatrix4x4`` of a SimpleITK image (LPS geometry)."""
    lps = np.eye(4)
    lps[:3, :3] = np.array(image.GetDirection(), dtype=float).reshape(3, 3) * np.array(image.GetSpacing(), float)
    lps[:3, 3] = image.GetOrigin()
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    m = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            m.SetElement(r, c, float(ras[r, c]))
    return m



def segment_ids(segmentationNode) -> list[str]:
    ids = vtk.vtkStringArray()
    segmentationNode.GetSegmentation().GetSegmentIDs(ids)
    return [ids.GetValue(i) for i in range(ids.GetNumberOfValues())]



def segment_level(segmentationNode, segmentId: str) -> Optional[str]:
    """Canonical level (``"C3"``/``"CSF"``) a segment stands for: its VBQ tag, else its name, else its ID."""
    segment = segmentationNode.GetSegmentation().GetSegment(segmentId)
    if segment is None:
        return None
    tag = vtk.reference("")
    if segment.GetTag(LEVEL_TAG, tag) and str(tag):
        parsed = parse_segment_name(str(tag))
        if parsed is not None:
            return parsed.level
    for text in (segment.GetName(), segmentId):
        parsed = parse_segment_name(text)
        if parsed is not None:
            return parsed.level
    return None



def _segment_name_for_scoring(segmentationNode, segmentId: str) -> str:
    """The name handed to the scorer: the segment's own name when it names a level/CSF, else the level its
    tag or ID names (segments created by the module keep their meaning after renaming), else the name."""
    segment = segmentationNode.GetSegmentation().GetSegment(segmentId)
    name = segment.GetName() or segmentId
    if parse_segment_name(name) is not None:
        return name
    level = segment_level(segmentationNode, segmentId)
    return level if level is not None else name



def _node_ids(scene) -> set:
    return {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}



def _remove_new_nodes(scene, before: set) -> None:
    """Remove nodes an export added to the scene (labelmap, its display node, colour tables...); the subject
    hierarchy node and display nodes of the user's own nodes stay."""
    keep = ("vtkMRMLSubjectHierarchyNode", "vtkMRMLSegmentationDisplayNode")
    for node_id in sorted(_node_ids(scene) - before):
        node = scene.GetNodeByID(node_id)
        if node is not None and not any(node.IsA(c) for c in keep):
            scene.RemoveNode(node)



def export_segment_mask(segmentationNode, segmentId: str, volumeNode):
    """Binary (k, j, i) uint8 numpy mask of one segment resampled onto ``volumeNode``'s voxel grid.

    Temporary nodes the export needs (labelmap volume, its display node, a colour table) are removed again:
    repeated measuring (live update) does not grow the scene."""
    scene = volumeNode.GetScene() or segmentationNode.GetScene()
    before = _node_ids(scene)
    labelmap = slicer.vtkMRMLLabelMapVolumeNode()
    labelmap.SetName("__VBQ_temp_export")
    labelmap.SetHideFromEditors(True)
    labelmap.SetSaveWithScene(False)
    scene.AddNode(labelmap)
    try:
        ids = vtk.vtkStringArray()
        ids.InsertNextValue(segmentId)
        ok = slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(
            segmentationNode, ids, labelmap, volumeNode)
        dims = volumeNode.GetImageData().GetDimensions()
        image_data = labelmap.GetImageData()
        if not ok or image_data is None or image_data.GetPointData().GetScalars() is None:
            # an empty segment exports nothing: it is an empty ROI on the volume grid
            return np.zeros(dims[::-1], dtype=np.uint8)
        if tuple(image_data.GetDimensions()) != tuple(dims):
            raise VBQInputError(
                f"segment '{segmentationNode.GetSegmentation().GetSegment(segmentId).GetName()}' could not be "
                f"resampled onto volume '{volumeNode.GetName()}' grid")
        arr = _image_array(image_data, "exported segment")
        return (arr != 0).astype(np.uint8)
    finally:
        _remove_new_nodes(scene, before)



def _direct_segment(segmentationNode, segmentId, name):
    """The segment as it is stored: its binary labelmap voxels (``== label value`` in a shared layer, cropped to
    their bounding box) with the labelmap's own geometry, for :func:`VBQScoreLib.api.score_arrays` to map onto
    the MRI grid exactly as ``vbq score`` maps a ``.seg.nrrd``. ``None`` when the segment is not held as a binary
    labelmap (then it is exported)."""
    segmentation = segmentationNode.GetSegmentation()
    labelmap_name = slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName()
    if segmentation.GetSourceRepresentationName() != labelmap_name:
        return None
    segment = segmentation.GetSegment(segmentId)
    labelmap = segment.GetRepresentation(labelmap_name)
    if labelmap is None:
        return None
    ext = labelmap.GetExtent()
    scalars = labelmap.GetPointData().GetScalars()
    m = vtk.vtkMatrix4x4()
    labelmap.GetImageToWorldMatrix(m)
    if scalars is None or ext[1] < ext[0] or ext[3] < ext[2] or ext[5] < ext[4]:
        arr, start = np.zeros((0, 0, 0), dtype=bool), (0, 0, 0)
    else:
        arr = _image_array(labelmap, f"segment '{segment.GetName()}'") == segment.GetLabelValue()
        nz = [np.flatnonzero(arr.any(axis=axes)) for axes in ((1, 2), (0, 2), (0, 1))]  # z, y, x
        if any(len(n) == 0 for n in nz):
            arr, start = np.zeros((0, 0, 0), dtype=bool), (0, 0, 0)
        else:
            (z0, z1), (y0, y1), (x0, x1) = ((int(n[0]), int(n[-1]) + 1) for n in nz)
            arr = arr[z0:z1, y0:y1, x0:x1]
            start = (ext[0] + x0, ext[2] + y0, ext[4] + z0)
    origin, spacing, direction = _geometry_lps(_matrix_to_numpy(m), start)
    return Segment(name=name, array=arr, origin=origin, spacing=spacing, direction=direction,
                   segment_id=segmentId, label_value=segment.GetLabelValue())



def segments_from_node(segmentationNode, volumeNode, segmentIds: Optional[Iterable[str]] = None,
                       reference_image=None, progress=None, method: str = "auto") -> list:
    """:class:`VBQScoreLib.segments.Segment` objects for the given segment IDs (default all).

    ``method="direct"``: each segment's own binary labelmap with its geometry (what a ``.seg.nrrd`` of the
    node holds), mapped onto the MRI grid later by the scorer, as ``vbq score`` maps files; fast (no full-size
    copies), so live update keeps up with the brush. ``method="export"``: each segment resampled onto the
    volume grid by Slicer's ``ExportSegmentsToLabelmapNode``, which also applies parent transforms.
    ``"auto"`` (default): direct unless either node is under a transform.
    """
    if method not in ("auto", "direct", "export"):
        raise ValueError(f"method {method!r}: use 'auto', 'direct' or 'export'")
    if segmentationNode is None:
        raise VBQInputError("no segmentation selected")
    all_ids = segment_ids(segmentationNode)
    ids = list(segmentIds) if segmentIds is not None else all_ids
    if not ids:
        raise VBQInputError(f"segmentation '{segmentationNode.GetName()}' has no segments")
    transformed = volumeNode is not None and (volumeNode.GetParentTransformNode() is not None
                                              or segmentationNode.GetParentTransformNode() is not None)
    if method == "direct" and transformed:
        raise VBQInputError("a transformed volume or segmentation needs method='export' (or 'auto')")
    direct = method == "direct" or (method == "auto" and not transformed)
    out = []
    for n, sid in enumerate(ids):
        segment = segmentationNode.GetSegmentation().GetSegment(sid)
        if segment is None:
            raise VBQInputError(f"segmentation '{segmentationNode.GetName()}' has no segment with ID '{sid}'")
        report(progress, n, len(ids), f"exporting {segment.GetName()}")
        name = _segment_name_for_scoring(segmentationNode, sid)
        seg = _direct_segment(segmentationNode, sid, name) if direct else None
        if seg is None:
            if reference_image is None:
                reference_image = volume_to_sitk(volumeNode)
            mask = sitk.GetImageFromArray(export_segment_mask(segmentationNode, sid, volumeNode))
            mask.CopyInformation(reference_image)
            seg = Segment(name=name, mask=mask, segment_id=sid)
        out.append(seg)
    report(progress, len(ids), len(ids), "segments exported")
    return out



def patient_id(node) -> Optional[str]:
    """DICOM patient ID of the node's patient in the subject hierarchy (``DICOM.PatientID``), or None."""
    scene = node.GetScene() if node is not None else None
    if scene is None:
        return None
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    if sh is None:
        return None
    item = sh.GetItemByDataNode(node)
    if not item:
        return None
    attr = slicer.vtkMRMLSubjectHierarchyConstants.GetDICOMPatientIDAttributeName()
    patient_level = slicer.vtkMRMLSubjectHierarchyConstants.GetDICOMLevelPatient()
    root = sh.GetSceneItemID()
    while item and item != root:
        value = sh.GetItemAttribute(item, attr)
        if value:
            return value
        if sh.GetItemLevel(item) == patient_level:
            break
        item = sh.GetItemParent(item)
    return None



def dicom_fields(volumeNode) -> dict:
    """DICOM acquisition fields (field strength, TR/TE, ...) of a volume loaded from DICOM in Slicer.

    Uses ``slicer.dicomDatabase`` and the node's ``DICOM.instanceUIDs`` attribute; returns ``{}`` outside the
    Slicer application or for volumes not loaded from DICOM.
    """
    uids = (volumeNode.GetAttribute("DICOM.instanceUIDs") or "").split()
    db = getattr(slicer, "dicomDatabase", None)
    if not uids or db is None:
        return {}
    out = {}
    for tag, key in DICOM_FIELDS.items():
        try:
            text = db.instanceValue(uids[0], tag.replace("|", ","))
        except Exception:
            text = ""
        value = dicom_value(text or "", key)
        if value is not None:
            out[key] = value
    return out
