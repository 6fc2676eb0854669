"""Level segments and Quick ROIs in a segmentation node: one empty segment per level (and CSF) with the VBQ
tag, colour and SNOMED terminology (:func:`create_level_segments`, :func:`create_preset_segments`), and ROIs grown
from markup points or a click (:func:`quick_rois`, :func:`quick_roi_at`; the ROI maths is
:mod:`VBQScoreLib.measuring.quick_roi`)."""

from __future__ import annotations

from typing import Iterable, Optional

import numpy as np
import SimpleITK as sitk
import slicer
import vtk
from vtk.util import numpy_support

from ..errors import VBQInputError
from ..measuring.levels import parse_segment_name
from ..measuring.presets import Preset, csf_segment_name, get_preset
from ..measuring.quick_roi import QuickRoiSettings, grow_rois
from ..progress import report
from .conversion import LEVEL_TAG, segment_ids, segment_level, volume_to_sitk

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
#: distinct colours (Okabe-Ito / Tableau-like), cycled over the levels; CSF is always light blue
LEVEL_COLORS = [
    (0.902, 0.624, 0.000), (0.000, 0.620, 0.451), (0.835, 0.369, 0.000), (0.800, 0.475, 0.655),
    (0.941, 0.894, 0.259), (0.337, 0.706, 0.914), (0.600, 0.350, 0.200), (0.550, 0.550, 0.550),
    (0.300, 0.300, 0.900), (0.700, 0.100, 0.100), (0.200, 0.600, 0.200), (0.900, 0.400, 0.600),
]
CSF_COLOR = (0.000, 0.447, 0.698)

#: the terminology context of the level segments (SNOMED codes above), shipped by the extension
TERMINOLOGY_CONTEXT = "Segmentation category and type - SlicerVBQ"



def terminology_entry(level: str) -> Optional[str]:
    """Slicer terminology entry string for a level or CSF (None when no code is known, e.g. S1).

    The seven ``~``-separated fields of ``vtkSlicerTerminologiesModuleLogic::SerializeTerminologyEntry``
    (context, category, type, type modifier, region context, region, region modifier); no trailing ``|``
    (that is the tag separator of the ``.seg.nrrd`` header, not part of the entry). The vertebra codes are those of
    the TotalSegmentator terminology; Slicer 5.10's default context has only "Vertebra", so the extension ships
    the context :data:`TERMINOLOGY_CONTEXT` (VBQScore/Resources/Terminology, loaded by the VBQ Score module).
    """
    code = SNOMED_CODES.get(level)
    if code is None:
        return None
    return (f"{TERMINOLOGY_CONTEXT}~SCT^123037004^Anatomical Structure~"
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
    parsed = parse_segment_name(level or "")
    if parsed is None:
        raise VBQInputError(f"segment '{level}' is not a spine level or CSF: select a level segment first "
                            "(Create level segments)")
    r, a, s_ = (float(v) for v in point_ras)
    masks = grow_rois(volume_to_sitk(volumeNode), [(parsed.level, (-r, -a, s_))], settings or QuickRoiSettings())
    return _write_rois(volumeNode, segmentationNode, masks, csf_name=csf_name)[parsed.level]



def _write_rois(volumeNode, segmentationNode, masks: dict, csf_name: str = "CSF", progress=None) -> dict[str, str]:
    """Write ``{level: mask on the volume grid}`` into the level segments (created when missing)."""
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
    if segmentationNode is None:
        raise VBQInputError("select or create a segmentation first")
    pr = preset if isinstance(preset, Preset) else get_preset(preset)
    return create_level_segments(segmentationNode, pr.levels, include_csf=True, csf_name=csf_segment_name(pr))
