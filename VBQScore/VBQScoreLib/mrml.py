"""MRML adapter: measure VBQ from Slicer nodes, and put results into Slicer table nodes.

This is the only module of :mod:`VBQScoreLib` that imports ``slicer``/``vtk``. It is never imported by the
rest of the package (``import VBQScoreLib`` or ``vbq score`` do not load Slicer); import it explicitly:

    from VBQScoreLib.mrml import measure_nodes
    result = measure_nodes(volumeNode, segmentationNode, preset="lu2024", erode_mm=1.0)

It works in the 3D Slicer application and in plain Python with the ``slicer-core`` wheel (PyPI). The path is:

1. volume node -> ``SimpleITK.Image`` with the volume's geometry converted from Slicer's IJK-to-RAS matrix to
   SimpleITK's LPS convention (a linear parent transform is hardened on a copy of the geometry; the node is
   never modified; a non-linear parent transform is refused);
2. each segment is taken as it is stored, its binary labelmap (voxels of its label value in its layer, so
   overlapping segments of multi-layer segmentations stay intact) with the labelmap's own geometry: what a
   ``.seg.nrrd`` written from the node holds. When either node is under a transform, each segment is instead
   exported on its own with ``vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(segmentationNode,
   [segmentId], labelmapNode, volumeNode)``, which resamples it (nearest neighbour, accounting for the
   transforms) onto the volume's voxel grid;
3. :func:`VBQScoreLib.api.score_arrays` maps the segments onto the MRI grid and measures, exactly as
   ``vbq score`` does for files.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Optional

import slicer  # noqa: F401  (this module is Slicer-only by design)
import vtk

from .errors import VBQInputError

#: segment tag written by the VBQScore module's "Create level segments": the canonical level of a segment,
#: so that a segment keeps its meaning when the user renames it.
LEVEL_TAG = "VBQ.Level"


# ------------------------------------------------------------------------------------------ geometry
def _matrix_to_numpy(m: "vtk.vtkMatrix4x4"):
    import numpy as np

    return np.array([[m.GetElement(r, c) for c in range(4)] for r in range(4)], dtype=float)


def node_transform_to_world(node, harden_transforms: bool = True):
    """4x4 numpy matrix from the node's coordinates to world (RAS), or identity when not transformed.

    Raises :class:`VBQInputError` for a non-linear parent transform, or for any parent transform when
    ``harden_transforms`` is False.
    """
    import numpy as np

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
    import numpy as np

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
    from vtk.util import numpy_support

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
    import SimpleITK as sitk

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
    import numpy as np
    import SimpleITK as sitk
    from vtk.util import numpy_support

    arr = np.ascontiguousarray(sitk.GetArrayFromImage(image))
    if node is None:
        node = slicer.vtkMRMLLabelMapVolumeNode() if labelmap else slicer.vtkMRMLScalarVolumeNode()
        node.SetName(name)
        scene.AddNode(node)
    image_data = vtk.vtkImageData()
    image_data.SetDimensions(arr.shape[2], arr.shape[1], arr.shape[0])
    vtk_arr = numpy_support.numpy_to_vtk(arr.ravel(), deep=True)
    image_data.GetPointData().SetScalars(vtk_arr)
    node.SetIJKToRASMatrix(_ijk_to_ras_vtk(image))
    node.SetAndObserveImageData(image_data)
    return node


def _ijk_to_ras_vtk(image):
    """IJK-to-RAS ``vtkMatrix4x4`` of a SimpleITK image (LPS geometry)."""
    import numpy as np

    lps = np.eye(4)
    lps[:3, :3] = np.array(image.GetDirection(), dtype=float).reshape(3, 3) * np.array(image.GetSpacing(), float)
    lps[:3, 3] = image.GetOrigin()
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    m = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            m.SetElement(r, c, float(ras[r, c]))
    return m


# ------------------------------------------------------------------------------------------ segments
def segment_ids(segmentationNode) -> list[str]:
    ids = vtk.vtkStringArray()
    segmentationNode.GetSegmentation().GetSegmentIDs(ids)
    return [ids.GetValue(i) for i in range(ids.GetNumberOfValues())]


def segment_level(segmentationNode, segmentId: str) -> Optional[str]:
    """Canonical level (``"C3"``/``"CSF"``) a segment stands for: its VBQ tag, else its name, else its ID."""
    from .levels import parse_segment_name

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
    from .levels import parse_segment_name

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
    import numpy as np

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
    import numpy as np

    from .segments import Segment

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
    import SimpleITK as sitk

    from .progress import report
    from .segments import Segment

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


# ------------------------------------------------------------------------------------------ provenance
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
    from .image_io import DICOM_FIELDS, _dicom_value

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
        value = _dicom_value(text or "", key)
        if value is not None:
            out[key] = value
    return out


def _options(options=None, **option_kwargs):
    from dataclasses import replace

    from .options import ScoreOptions

    if options is None:
        options = ScoreOptions()
    if option_kwargs:
        unknown = set(option_kwargs) - set(ScoreOptions.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown VBQ options: {', '.join(sorted(unknown))}")
        options = replace(options, **option_kwargs)
    return options.validate()


# ------------------------------------------------------------------------------------------ measuring
def measure_nodes(volumeNode, segmentationNode, segmentIds: Optional[Iterable[str]] = None, *,
                  options=None, harden_transforms: bool = True, provenance: Optional[dict] = None,
                  progress=None, method: str = "auto", **option_kwargs):
    """Measure VBQ on a scalar volume node and a segmentation node -> :class:`VBQScoreLib.result.VBQResult`.

    ``option_kwargs`` are :class:`VBQScoreLib.options.ScoreOptions` fields (``preset``, ``stat``, ``erode_mm``,
    ``mid_sagittal_slices``, ...), applied over ``options``. ``segmentIds`` limits the segments measured (default
    all). A linear parent transform on either node is accounted for (hardened on a copy of the geometry when
    ``harden_transforms``, else refused); the nodes are never modified. The result is the same object, with the
    same ``to_dict()`` layout, as ``VBQScoreLib.api.score_files`` (= ``vbq score --json``). ``method``: how the
    segments reach the scorer (:func:`segments_from_node`).
    """
    from .api import score_arrays

    opts = _options(options, **option_kwargs)
    if volumeNode is None:
        raise VBQInputError("no input volume selected")
    if segmentationNode is None:
        raise VBQInputError("no segmentation selected")
    image = volume_to_sitk(volumeNode, harden_transforms)
    # The segmentation's transform relative to the volume is applied by the export (resampling the segment,
    # never the image); without permission to harden, a transformed segmentation is refused like a volume.
    if not harden_transforms:
        node_transform_to_world(segmentationNode, harden_transforms=False)
    segments = segments_from_node(segmentationNode, volumeNode, segmentIds, reference_image=image,
                                  progress=progress, method=method)
    from .provenance import base_provenance

    prov = base_provenance(opts, opts.resolve_preset())
    prov["inputs"] = {
        "source": "3D Slicer",
        "volume_node": volumeNode.GetName(),
        "segmentation_node": segmentationNode.GetName(),
        "segment_ids": [s.segment_id for s in segments],
        "transforms_hardened": bool(volumeNode.GetParentTransformNode() or segmentationNode.GetParentTransformNode()),
    }
    prov["dicom"] = dicom_fields(volumeNode) or None
    if provenance:
        prov.update(provenance)
    result = score_arrays(image, segments, opts, provenance=prov)
    # a segment renamed by the user (name no longer a level) was scored under the level its tag/ID names:
    # report its real name in the result
    names = [s.name for s in segments]
    real = {s.name: segmentationNode.GetSegmentation().GetSegment(s.segment_id).GetName() for s in segments
            if names.count(s.name) == 1}
    for roi in list(result.levels) + [result.csf]:
        if roi is not None and roi.segment in real:
            roi.segment = real[roi.segment]
    return result


# ------------------------------------------------------------------------------------------ tables
#: (column name, title, unit, description) of the per-level results table
RESULT_COLUMNS = (
    ("level", "Level", "", "Spine level (or CSF, the reference ROI)"),
    ("segment", "Segment", "", "Segment the ROI came from"),
    ("n_voxels", "Voxels", "voxels", "Number of voxels measured (after resampling, erosion and slice limits)"),
    ("volume_mm3", "Volume", "mm3", "ROI volume"),
    ("mean", "Mean SI", "", "Mean signal intensity in the ROI"),
    ("median", "Median SI", "", "Median signal intensity in the ROI (exact)"),
    ("sd", "SD SI", "", "Standard deviation of signal intensity (sample, n-1)"),
    ("cv", "CV", "", "Coefficient of variation (SD / mean)"),
    ("vbq", "VBQ", "", "Level VBQ = level SI / CSF SI (statistic as chosen)"),
    ("flags", "Flags", "", "Quality flags on this ROI (codes; see the flags box)"),
)
SUMMARY_ROW = "Overall"


def result_rows(result) -> list[dict]:
    """Rows of the results table: one per level, then CSF, then the overall VBQ."""
    rows = []
    flag_codes = {}
    for f in result.flags:
        flag_codes.setdefault(f.level, []).append(f.code)
    for lv in result.levels:
        d = lv.to_dict()
        d["level"] = d.pop("name")
        d["flags"] = ";".join(flag_codes.get(lv.name, []))
        rows.append(d)
    csf = result.csf.to_dict()
    csf["level"] = "CSF"
    csf["vbq"] = None
    csf["flags"] = ";".join(flag_codes.get("CSF", []))
    rows.append(csf)
    rows.append({"level": SUMMARY_ROW, "segment": result.overall.get("preset") or "", "vbq": result.overall.get("vbq"),
                 "flags": ";".join(flag_codes.get(None, []))})
    return rows


def result_to_table_node(result, tableNode):
    """Fill a ``vtkMRMLTableNode`` with the result (column titles, units, descriptions); returns the node.

    Numbers that could not be computed are NaN in the table. The overall VBQ and preset go in the last row and
    into the node attributes ``VBQ.overall``, ``VBQ.preset``; the flags' sentences in ``VBQ.flags``.
    """
    was = tableNode.StartModify()
    try:
        tableNode.RemoveAllColumns()
        table = tableNode.GetTable()
        rows = result_rows(result)
        numeric = {"n_voxels", "volume_mm3", "mean", "median", "sd", "cv", "vbq"}
        for name, title, unit, desc in RESULT_COLUMNS:
            arr = vtk.vtkDoubleArray() if name in numeric else vtk.vtkStringArray()
            arr.SetName(name)
            arr.SetNumberOfValues(len(rows))
            for i, row in enumerate(rows):
                value = row.get(name)
                if name in numeric:
                    arr.SetValue(i, float("nan") if value is None else float(value))
                else:
                    arr.SetValue(i, "" if value is None else str(value))
            table.AddColumn(arr)
            tableNode.SetColumnTitle(name, title)
            if unit:
                tableNode.SetColumnUnitLabel(name, unit)
            tableNode.SetColumnDescription(name, desc)
        tableNode.SetUseColumnTitleAsColumnHeader(True)
        overall = result.overall.get("vbq")
        tableNode.SetAttribute("VBQ.overall", "" if overall is None else repr(float(overall)))
        tableNode.SetAttribute("VBQ.preset", str(result.overall.get("preset") or ""))
        tableNode.SetAttribute("VBQ.flags", "\n".join(flag_lines(result)))
        table.Modified()
    finally:
        tableNode.EndModify(was)
    return tableNode


def flag_lines(result) -> list[str]:
    """One plain line per quality flag, e.g. ``"C3: TINY_ROI - only 4 voxels ..."``."""
    return [f"{f.level or 'all'}: {f.code} - {f.message}" for f in result.flags]


def flags_text(result) -> str:
    """The flags as the module panel shows them: one line each, or "No quality flags."."""
    lines = flag_lines(result)
    return "\n".join(lines) if lines else "No quality flags."


def overall_text(result) -> str:
    """The overall VBQ in words, e.g. ``"2.613  (lu2024: mean of mean SI over C2, ..., C7 / CSF mean SI)"``."""
    o = result.overall
    if o.get("vbq") is None:
        return "not computed (no level measured)"
    return (f"{o['vbq']:.3f}  ({o['preset']}: {o['aggregate']} of {o['level_stat']} SI over "
            f"{', '.join(o['levels_used'])} / CSF {o['level_stat']} SI)")


def measure_into_table(volumeNode, segmentationNode, tableNode=None, **options):
    """:func:`measure_nodes`, then the result into ``tableNode`` (a new "VBQ results" table node in the volume's
    scene when None) -> ``(result, tableNode)``: the module's Compute."""
    result = measure_nodes(volumeNode, segmentationNode, **options)
    if tableNode is None:
        tableNode = volumeNode.GetScene().AddNewNodeByClass("vtkMRMLTableNode", "VBQ results")
    result_to_table_node(result, tableNode)
    return result, tableNode


def named_node(scene, className: str, name: str):
    """The node of that class and name in the scene (the first), or a new one (so a re-run reuses its nodes)."""
    node = scene.GetFirstNode(name, className)
    return node if node is not None else scene.AddNewNodeByClass(className, name)


def result_to_plot(scene, result):
    """Bar chart of VBQ per level in ``scene`` (plot table "VBQ per level (plot)", series "VBQ per level" and
    chart "VBQ per level chart", reused by name on every call) -> the chart node."""
    plotTable = named_node(scene, "vtkMRMLTableNode", "VBQ per level (plot)")
    table = plotTable.GetTable()
    table.Initialize()
    index, vbq, level = vtk.vtkDoubleArray(), vtk.vtkDoubleArray(), vtk.vtkStringArray()
    index.SetName("index")
    vbq.SetName("VBQ")
    level.SetName("level")
    for i, lv in enumerate(result.levels):
        index.InsertNextValue(i + 1)
        vbq.InsertNextValue(float("nan") if lv.vbq is None else lv.vbq)
        level.InsertNextValue(lv.name)
    for arr in (index, vbq, level):
        table.AddColumn(arr)
    plotTable.Modified()
    series = named_node(scene, "vtkMRMLPlotSeriesNode", "VBQ per level")
    series.SetAndObserveTableNodeID(plotTable.GetID())
    series.SetXColumnName("index")
    series.SetYColumnName("VBQ")
    series.SetLabelColumnName("level")
    series.SetPlotType(slicer.vtkMRMLPlotSeriesNode.PlotTypeBar)
    series.SetColor(0.0, 0.447, 0.698)
    chart = named_node(scene, "vtkMRMLPlotChartNode", "VBQ per level chart")
    if not chart.HasPlotSeriesNodeID(series.GetID()):
        chart.AddAndObservePlotSeriesNodeID(series.GetID())
    overall = result.overall.get("vbq")
    chart.SetTitle(f"VBQ per level (overall {overall:.2f})" if overall is not None else "VBQ per level")
    chart.SetXAxisTitle("Level")
    chart.SetYAxisTitle("VBQ (level SI / CSF SI)")
    return chart


def table_column(tableNode, name: str) -> list:
    """Values of a table node column as Python values (float or str)."""
    table = tableNode.GetTable()
    arr = table.GetColumnByName(name)
    if arr is None:
        raise KeyError(name)
    if isinstance(arr, vtk.vtkStringArray):
        return [arr.GetValue(i) for i in range(arr.GetNumberOfValues())]
    return [arr.GetValue(i) for i in range(arr.GetNumberOfTuples())]


def cohort_row(result, patient: Optional[str], case_id: Optional[str] = None) -> dict[str, Any]:
    """One wide row for a cohort table, with exactly the columns ``vbq batch`` writes per case
    (``case_id, status, VBQ_<level>..., VBQ_overall, CSF_SI, n_levels, preset, level_stat, aggregate, flags,
    error`` and DICOM fields when known), so the cohort module maps them the same way. ``case_id`` is the
    patient id (from the DICOM tags) when known, else ``case_id``."""
    from .batch import _record

    cid = patient or case_id
    if not cid:
        raise VBQInputError("no patient id: the volume has no DICOM patient in the subject hierarchy; "
                            "type a case id")
    return _record(str(cid), result.to_dict())["wide"]


def append_cohort_row(tableNode, row: dict[str, Any]):
    """Append (or replace, when its ``case_id`` is already there) a row in a cohort ``vtkMRMLTableNode``.

    Missing columns are added (numeric for numbers, text otherwise); rows missing a column get NaN / "".
    """
    table = tableNode.GetTable()
    was = tableNode.StartModify()
    try:
        n_rows = table.GetNumberOfRows()
        for key, value in row.items():
            if table.GetColumnByName(key) is None:
                is_num = value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
                arr = vtk.vtkDoubleArray() if is_num and key != "case_id" else vtk.vtkStringArray()
                arr.SetName(key)
                arr.SetNumberOfValues(n_rows)
                for i in range(n_rows):
                    arr.SetValue(i, float("nan") if isinstance(arr, vtk.vtkDoubleArray) else "")
                table.AddColumn(arr)
        target = None
        id_col = table.GetColumnByName("case_id")
        for i in range(n_rows):
            if id_col is not None and row.get("case_id") and str(id_col.GetValue(i)) == str(row["case_id"]):
                target = i
                break
        if target is None:
            target = n_rows
            for c in range(table.GetNumberOfColumns()):
                col = table.GetColumn(c)
                col.InsertNextValue(float("nan") if isinstance(col, vtk.vtkDoubleArray) else "")
        for c in range(table.GetNumberOfColumns()):
            col = table.GetColumn(c)
            value = row.get(col.GetName())
            if isinstance(col, vtk.vtkDoubleArray):
                col.SetValue(target, float("nan") if value is None or (isinstance(value, float) and math.isnan(value))
                             else float(value))
            elif col.GetName() in row:
                col.SetValue(target, "" if value is None else str(value))
        table.Modified()
    finally:
        tableNode.EndModify(was)
    return target


# ------------------------------------------------------------------------------------------ level segments
#: SNOMED CT codes of the vertebrae (as used by Slicer's TotalSegmentator terminology) and of CSF
SNOMED_CODES = {
    "C1": ("14806007", "C1 vertebra"), "C2": ("39976000", "C2 vertebra"), "C3": ("113205007", "C3 vertebra"),
    "C4": ("5329002", "C4 vertebra"), "C5": ("36978003", "C5 vertebra"), "C6": ("36054005", "C6 vertebra"),
    "C7": ("87391001", "C7 vertebra"),
    "T1": ("64864005", "T1 vertebra"), "T2": ("53733008", "T2 vertebra"), "T3": ("1626008", "T3 vertebra"),
    "T4": ("73071006", "T4 vertebra"), "T5": ("56401006", "T5 vertebra"), "T6": ("45296009", "T6 vertebra"),
    "T7": ("62487009", "T7 vertebra"), "T8": ("11068009", "T8 vertebra"), "T9": ("82687006", "T9 vertebra"),
    "T10": ("7610001", "T10 vertebra"), "T11": ("12989004", "T11 vertebra"), "T12": ("23215003", "T12 vertebra"),
    "L1": ("66794005", "L1 vertebra"), "L2": ("14293000", "L2 vertebra"), "L3": ("36470004", "L3 vertebra"),
    "L4": ("11994002", "L4 vertebra"), "L5": ("49668003", "L5 vertebra"),
    # CSF: code and meaning as in Slicer's "Segmentation category and type - DICOM master list"
    "CSF": ("65216001", "Cerebrospinal Fluid"),
}

#: distinct colours (Okabe-Ito / Tableau-like), cycled over the levels; CSF is always blue (the sixth level,
#: C7 in lu2024, is lime: Okabe-Ito's sky blue beside CSF's blue could not be told apart in the views)
LEVEL_COLORS = [
    (0.902, 0.624, 0.000), (0.000, 0.620, 0.451), (0.835, 0.369, 0.000), (0.800, 0.475, 0.655),
    (0.941, 0.894, 0.259), (0.650, 0.850, 0.150), (0.600, 0.350, 0.200), (0.550, 0.550, 0.550),
    (0.300, 0.300, 0.900), (0.700, 0.100, 0.100), (0.200, 0.600, 0.200), (0.900, 0.400, 0.600),
]
CSF_COLOR = (0.000, 0.447, 0.698)


def terminology_entry(level: str) -> Optional[str]:
    """Slicer terminology entry string for a level or CSF (None when no code is known, e.g. S1).

    The seven ``~``-separated fields of ``vtkSlicerTerminologiesModuleLogic::SerializeTerminologyEntry``
    (context, category, type, type modifier, region context, region, region modifier); no trailing ``|``
    (that is the tag separator of the ``.seg.nrrd`` header, not part of the entry). The vertebra codes are those of
    the TotalSegmentator terminology; the DICOM master list context is used because it is always loaded.
    """
    code = SNOMED_CODES.get(level)
    if code is None:
        return None
    return ("Segmentation category and type - DICOM master list~SCT^123037004^Anatomical Structure~"
            f"SCT^{code[0]}^{code[1]}~^^~Anatomic codes - DICOM master list~^^~^^")


def find_level_segment(segmentationNode, level: str) -> Optional[str]:
    """ID of the segment standing for ``level`` ("C3" or "CSF"): the segment whose ID is the level (what
    "Create level segments" makes, surviving renames), else the first segment whose tag/name/ID names it."""
    segmentation = segmentationNode.GetSegmentation()
    if segmentation.GetSegment(level) is not None:
        return level
    for sid in segment_ids(segmentationNode):
        if segment_level(segmentationNode, sid) == level:
            return sid
    return None


def create_level_segments(segmentationNode, levels: Iterable[str], include_csf: bool = True,
                          csf_name: str = "CSF") -> dict[str, str]:
    """Add one empty segment per level (and CSF) that does not exist yet -> ``{level: segmentId}``.

    Segment ID = level (``"C3"``, ``"CSF"``), name = level (``csf_name`` for CSF, e.g. "CSF at C2"), a distinct
    colour, the SNOMED terminology entry and the tag ``VBQ.Level``. Existing segments are reused (found by ID,
    then by tag/name), never overwritten.
    """
    wanted = list(levels) + (["CSF"] if include_csf else [])
    segmentation = segmentationNode.GetSegmentation()
    out: dict[str, str] = {}
    color_index = 0
    for level in wanted:
        sid = find_level_segment(segmentationNode, level)
        if sid is None:
            color = CSF_COLOR if level == "CSF" else LEVEL_COLORS[color_index % len(LEVEL_COLORS)]
            name = csf_name if level == "CSF" else level
            # built by hand rather than with AddEmptySegment, which needs the converter rules that only the
            # Slicer application registers (slicer-core has none)
            segment = slicer.vtkSegment()
            segment.SetName(name)
            segment.SetColor(*color)
            # our names and colours, not ones Slicer may derive from the terminology entry ("C3 vertebra")
            segment.SetNameAutoGenerated(False)
            segment.SetColorAutoGenerated(False)
            segment.SetTag(LEVEL_TAG, level)
            entry = terminology_entry(level)
            if entry:
                segment.SetTag(slicer.vtkSegment.GetTerminologyEntryTagName(), entry)
            segment.AddRepresentation(segmentation.GetSourceRepresentationName()
                                      or slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName(),
                                      slicer.vtkOrientedImageData())
            if not segmentation.AddSegment(segment, level):
                raise VBQInputError(f"could not add segment '{level}' to '{segmentationNode.GetName()}'")
            sid = level
        if level != "CSF":
            color_index += 1
        out[level] = sid
    return out


def set_segment_mask(segmentationNode, segmentId: str, mask_image, volumeNode) -> None:
    """Replace a segment's voxels by a SimpleITK 0/1 mask lying on ``volumeNode``'s voxel grid."""
    import numpy as np
    import SimpleITK as sitk
    from vtk.util import numpy_support

    arr = np.ascontiguousarray((sitk.GetArrayViewFromImage(mask_image) != 0).astype(np.uint8))
    dims = volumeNode.GetImageData().GetDimensions()
    if arr.shape != tuple(dims[::-1]):
        raise VBQInputError(f"mask size {arr.shape[::-1]} does not match volume '{volumeNode.GetName()}' {dims}")
    image = slicer.vtkOrientedImageData()
    image.SetDimensions(dims)
    image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(arr.ravel(), deep=True,
                                                               array_type=vtk.VTK_UNSIGNED_CHAR))
    m = vtk.vtkMatrix4x4()
    volumeNode.GetIJKToRASMatrix(m)
    image.SetImageToWorldMatrix(m)
    # volume-local geometry; account for the volume's transform relative to the segmentation
    if volumeNode.GetParentTransformNode() is not None or segmentationNode.GetParentTransformNode() is not None:
        to_seg = vtk.vtkGeneralTransform()
        slicer.vtkMRMLTransformNode.GetTransformBetweenNodes(
            volumeNode.GetParentTransformNode(), segmentationNode.GetParentTransformNode(), to_seg)
        slicer.vtkOrientedImageDataResample.TransformOrientedImage(image, to_seg)
    ok = slicer.vtkSlicerSegmentationsModuleLogic.SetBinaryLabelmapToSegment(
        image, segmentationNode, segmentId, slicer.vtkSlicerSegmentationsModuleLogic.MODE_REPLACE)
    if not ok:
        raise VBQInputError(f"could not write the ROI into segment '{segmentId}'")


def markup_points_lps(markupsNode) -> list[tuple[str, tuple[float, float, float]]]:
    """``[(label, (x, y, z) LPS world), ...]`` of a markups point list (Slicer stores RAS)."""
    out = []
    for i in range(markupsNode.GetNumberOfControlPoints()):
        ras = [0.0, 0.0, 0.0]
        markupsNode.GetNthControlPointPositionWorld(i, ras)
        out.append((markupsNode.GetNthControlPointLabel(i), (-ras[0], -ras[1], ras[2])))
    return out


def quick_rois(volumeNode, segmentationNode, markupsNode, settings=None, levels: Optional[Iterable[str]] = None,
               progress=None) -> dict[str, str]:
    """Grow one ROI per markup point (label = level, e.g. "C3", or "CSF") into the matching level segment.

    Points whose label is not a level or CSF are refused (one line naming the label). Returns
    ``{level: segmentId}``. ROI math: :mod:`VBQScoreLib.quick_roi`.
    """
    from .levels import parse_segment_name
    from .quick_roi import QuickRoiSettings, grow_rois

    if markupsNode is None or markupsNode.GetNumberOfControlPoints() == 0:
        raise VBQInputError("no points: place one point per level (labelled C2, C3, ...) and one labelled CSF")
    image = volume_to_sitk(volumeNode)
    points = []
    for label, lps in markup_points_lps(markupsNode):
        parsed = parse_segment_name(label)
        if parsed is None:
            raise VBQInputError(f"point '{label}' is not named after a spine level or CSF (rename it, e.g. C3)")
        points.append((parsed.level, lps))
    seen = [lvl for lvl, _ in points]
    dup = sorted({lvl for lvl in seen if seen.count(lvl) > 1})
    if dup:
        raise VBQInputError(f"several points for {', '.join(dup)}: keep one point per level")
    masks = grow_rois(image, points, settings or QuickRoiSettings())
    return _write_rois(volumeNode, segmentationNode, masks, progress=progress)


def quick_roi_at(volumeNode, segmentationNode, level: str, point_ras, settings=None, csf_name: str = "CSF") -> str:
    """Grow one ROI from one point (world RAS, e.g. a click in a slice view) into ``level``'s segment (created
    when missing, CSF named ``csf_name``), replacing what the segment held: :func:`quick_rois` for one point,
    what the web app's Quick ROI click does. Returns the segment ID."""
    from .levels import parse_segment_name
    from .quick_roi import QuickRoiSettings, grow_rois

    parsed = parse_segment_name(level or "")
    if parsed is None:
        raise VBQInputError(f"segment '{level}' is not a spine level or CSF: select a level segment first "
                            "(Create level segments)")
    r, a, s_ = (float(v) for v in point_ras)
    masks = grow_rois(volume_to_sitk(volumeNode), [(parsed.level, (-r, -a, s_))], settings or QuickRoiSettings())
    return _write_rois(volumeNode, segmentationNode, masks, csf_name=csf_name)[parsed.level]


def _write_rois(volumeNode, segmentationNode, masks: dict, csf_name: str = "CSF", progress=None) -> dict[str, str]:
    """Write ``{level: mask on the volume grid}`` into the level segments (created when missing)."""
    from .progress import report

    ids = create_level_segments(segmentationNode, [lvl for lvl in masks if lvl != "CSF"], include_csf="CSF" in masks,
                                csf_name=csf_name)
    for n, (lvl, mask) in enumerate(masks.items()):
        report(progress, n, len(masks), f"ROI {lvl}")
        set_segment_mask(segmentationNode, ids[lvl], mask, volumeNode)
    report(progress, len(masks), len(masks), "ROIs done")
    return {lvl: ids[lvl] for lvl in masks}


def create_preset_segments(segmentationNode, preset="lu2024") -> dict[str, str]:
    """The preset's level segments and its CSF segment, named after the preset's CSF reference ("CSF cisterna
    magna", "CSF at C2"): the "Create level segments" button of the VBQ Score module and of the web app.
    ``preset``: a name or a :class:`VBQScoreLib.presets.Preset` (e.g. ``ScoreOptions.resolve_preset()``)."""
    from .presets import Preset, csf_segment_name, get_preset

    if segmentationNode is None:
        raise VBQInputError("select or create a segmentation first")
    pr = preset if isinstance(preset, Preset) else get_preset(preset)
    return create_level_segments(segmentationNode, pr.levels, include_csf=True, csf_name=csf_segment_name(pr))


# ------------------------------------------------------------------------------------------ reading files
def _oriented_image(mask_image):
    """``vtkOrientedImageData`` (uint8, RAS world) of a SimpleITK 0/1 mask, on the mask's own grid."""
    import numpy as np
    import SimpleITK as sitk
    from vtk.util import numpy_support

    arr = np.ascontiguousarray((sitk.GetArrayViewFromImage(mask_image) != 0).astype(np.uint8))
    image = slicer.vtkOrientedImageData()
    image.SetDimensions(arr.shape[2], arr.shape[1], arr.shape[0])
    image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(arr.ravel(), deep=True,
                                                               array_type=vtk.VTK_UNSIGNED_CHAR))
    image.SetImageToWorldMatrix(_ijk_to_ras_vtk(mask_image))
    return image


def read_segmentation_node(path, volumeNode, labels=None, name: Optional[str] = None):
    """A new segmentation node (in the volume's scene) from a file ``vbq score`` accepts.

    The file is read first by :func:`VBQScoreLib.segments.read_segmentation`, so a file that ``vbq score``
    rejects is refused with the same one-line message, and refused when none of its voxels lies in the volume
    (the message of ``vbq score``, :data:`VBQScoreLib.api.NO_OVERLAP`). A Slicer ``.seg.nrrd`` is then loaded by Slicer's own storage node (names, colours,
    terminology, layers and geometry kept); a labelmap (with ``labels``) becomes one segment per label on the
    labelmap's grid, level and CSF segments with the IDs, colours and terminology of
    :func:`create_level_segments` and the names of the labels file.
    """
    from .api import NO_OVERLAP
    from .levels import parse_segment_name
    from .resample import ImageGrid, map_segment
    from .segments import _looks_like_seg_nrrd, read_segmentation

    segments = read_segmentation(path, labels)
    image = volume_to_sitk(volumeNode)
    grid = ImageGrid(image)
    mapped = [map_segment(seg, image, grid) for seg in segments]
    if any(m.n_segment for m in mapped) and not any(m.n_voxels for m in mapped):
        raise VBQInputError(f"{path}: {NO_OVERLAP}")
    scene = volumeNode.GetScene()
    node = slicer.vtkMRMLSegmentationNode()
    node.SetName(name or _file_stem(path))
    scene.AddNode(node)
    node.CreateDefaultDisplayNodes()
    from pathlib import Path

    if _looks_like_seg_nrrd(Path(path)):
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


def _file_stem(path) -> str:
    from pathlib import Path

    name = Path(path).name
    for ext in (".seg.nrrd", ".nii.gz", ".nrrd", ".nhdr", ".nii", ".mha", ".mhd"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return Path(name).stem


def write_seg_nrrd(segmentationNode, path) -> None:
    """Save the node as a Slicer ``.seg.nrrd`` with Slicer's own storage node, atomically: written to a
    temporary file beside ``path``, then renamed over it, so a failed write (disk full, folder gone) leaves any
    previous file intact. Raises :class:`VBQInputError` (one line) when the file cannot be written."""
    import contextlib
    import os
    import tempfile
    from pathlib import Path

    path = Path(path)
    if not path.name.endswith(".seg.nrrd"):
        raise VBQInputError(f"{path}: a Slicer segmentation file name ends with .seg.nrrd")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise VBQInputError(f"{path}: output folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:-len('.seg.nrrd')]}.", suffix=".tmp.seg.nrrd", dir=folder)
        os.close(fd)
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


# ------------------------------------------------------------------------------------------ dependencies
def missing_requirements(path) -> list[str]:
    """Lines of a requirements.txt whose requirement is not satisfied in this Python (markers honoured)."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement

    missing = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate():
                continue
            try:
                if not req.specifier.contains(version(req.name), prereleases=True):
                    missing.append(line)
            except PackageNotFoundError:
                missing.append(line)
    return missing


def ensure_requirements(path, requester: str, prompt: bool = True) -> bool:
    """In the Slicer application: install what ``path`` (requirements.txt) lists and is missing, after the
    user agrees. Slicer >= 5.12: ``slicer.packaging.pip_ensure`` (it asks, shows progress and offers a restart);
    older Slicer: a confirmation dialog, then ``slicer.util.pip_install``. Returns False when the user declines.
    Never called at import time."""
    missing = missing_requirements(path)
    if not missing:
        return True
    import importlib

    try:  # Slicer >= 5.12; a submodule: must be imported, not just looked up on ``slicer``
        pip_ensure = importlib.import_module("slicer.packaging").pip_ensure
    except (ImportError, AttributeError):
        pip_ensure = None
    if pip_ensure is not None:
        from packaging.requirements import Requirement

        try:
            pip_ensure([Requirement(r) for r in missing], prompt_install=prompt, requester=requester)
        except RuntimeError:  # declined by the user
            return False
        return not missing_requirements(path)
    app = getattr(slicer, "app", None)
    if app is not None and app.testingEnabled():
        # like pip_ensure(skip_in_testing=True): tests never install packages (confirmOkCancelDisplay would
        # return OK without asking in testing mode)
        return False
    if prompt and not slicer.util.confirmOkCancelDisplay(
            f"{requester} needs these Python packages, which will be downloaded and installed now:\n\n"
            + "\n".join(missing), windowTitle="Install Python packages"):
        return False
    slicer.util.pip_install(missing)
    return not missing_requirements(path)


# ------------------------------------------------------------------------------------------ CSV -> table node
def csv_to_table_node(path, tableNode, text_columns: Iterable[str] = ("case_id",)):
    """Fill a table node from a CSV (e.g. the ``vbq batch`` table): columns whose every non-empty cell is a
    number become numeric (empty -> NaN), the others and ``text_columns`` stay text (ids like ``007`` keep
    their zeros). Works in Slicer and in slicer-core (no application IO manager)."""
    import csv

    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise VBQInputError(f"{path}: empty CSV")
    header, body = rows[0], rows[1:]
    text_columns = set(text_columns)
    was = tableNode.StartModify()
    try:
        tableNode.RemoveAllColumns()
        table = tableNode.GetTable()
        for c, name in enumerate(header):
            cells = [r[c] if c < len(r) else "" for r in body]
            numeric = name not in text_columns and all(_is_float(v) for v in cells if v != "") and \
                any(v != "" for v in cells)
            arr = vtk.vtkDoubleArray() if numeric else vtk.vtkStringArray()
            arr.SetName(name)
            arr.SetNumberOfValues(len(cells))
            for i, v in enumerate(cells):
                arr.SetValue(i, (float(v) if v != "" else float("nan")) if numeric else v)
            table.AddColumn(arr)
        table.Modified()
    finally:
        tableNode.EndModify(was)
    return tableNode


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


# ------------------------------------------------------------------------------------------ overlap (issue 10)
def overlap_nodes(volumeNode, segmentationNodeA, segmentationNodeB, tableNode=None):
    """Per-level overlap of two segmentation nodes on ``volumeNode``'s grid (:mod:`VBQScoreLib.overlap`: Dice,
    Jaccard, HD95, max HD, volumes), each segment exported as :func:`measure_nodes` exports it. Fills
    ``tableNode`` (one row per level) when given. Returns ``(metrics by level, warnings)``."""
    from .overlap import overlap_segments

    if segmentationNodeA is None or segmentationNodeB is None:
        raise VBQInputError("select two segmentations to compare")
    if segmentationNodeA is segmentationNodeB:
        raise VBQInputError(f"'{segmentationNodeA.GetName()}' is compared with itself; select another segmentation")
    image = volume_to_sitk(volumeNode)
    names = (segmentationNodeA.GetName(), segmentationNodeB.GetName())
    res, warnings = overlap_segments(image, segments_from_node(segmentationNodeA, volumeNode, reference_image=image),
                                     segments_from_node(segmentationNodeB, volumeNode, reference_image=image),
                                     names=names)
    if tableNode is not None:
        columns = [("level", "Level", ""), ("dice", "Dice", ""), ("jaccard", "Jaccard", ""),
                   ("hd95_mm", "HD95", "mm"), ("hd_max_mm", "HD max", "mm"), ("volume_a_mm3", f"Volume {names[0]}",
                                                                             "mm3"),
                   ("volume_b_mm3", f"Volume {names[1]}", "mm3")]
        was = tableNode.StartModify()
        try:
            tableNode.RemoveAllColumns()
            for key, title, unit in columns:
                arr = vtk.vtkStringArray() if key == "level" else vtk.vtkDoubleArray()
                arr.SetName(title)
                for lv, m in res.items():
                    v = lv if key == "level" else m.get(key)
                    arr.InsertNextValue(v if key == "level" else (float("nan") if v is None else float(v)))
                tableNode.GetTable().AddColumn(arr)
                if unit:
                    tableNode.SetColumnUnitLabel(title, unit)
            tableNode.SetColumnDescription("HD95", "95th percentile Hausdorff distance (larger of the two directions)")
            tableNode.GetTable().Modified()
        finally:
            tableNode.EndModify(was)
    return res, warnings
