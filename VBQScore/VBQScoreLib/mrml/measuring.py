"""Measuring from nodes: VBQ of a volume node and a segmentation node (:func:`measure_nodes`, exactly as
``vbq score`` measures files), into a table node (:func:`measure_into_table`), and the overlap of two segmentation
nodes (:func:`overlap_nodes`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Optional

from ..errors import VBQInputError
from ..measuring.api import score_arrays
from ..measuring.options import ScoreOptions
from ..measuring.overlap import overlap_segments
from ..provenance import base_provenance
from .conversion import dicom_fields, node_transform_to_world, segments_from_node, volume_to_sitk
from .tables import fill_table_node, result_to_table_node


def _options(options=None, **option_kwargs):
    if options is None:
        options = ScoreOptions()
    if option_kwargs:
        unknown = set(option_kwargs) - set(ScoreOptions.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown VBQ options: {', '.join(sorted(unknown))}")
        options = replace(options, **option_kwargs)
    return options.validate()



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



def measure_into_table(volumeNode, segmentationNode, tableNode=None, **options):
    """:func:`measure_nodes`, then the result into ``tableNode`` (a new "VBQ results" table node in the volume's
    scene when None) -> ``(result, tableNode)``: the module's Compute."""
    result = measure_nodes(volumeNode, segmentationNode, **options)
    if tableNode is None:
        tableNode = volumeNode.GetScene().AddNewNodeByClass("vtkMRMLTableNode", "VBQ results")
    result_to_table_node(result, tableNode)
    return result, tableNode



def overlap_nodes(volumeNode, segmentationNodeA, segmentationNodeB, tableNode=None):
    """Per-level overlap of two segmentation nodes on ``volumeNode``'s grid (:mod:`VBQScoreLib.overlap`: Dice,
    Jaccard, HD95, max HD, volumes), each segment exported as :func:`measure_nodes` exports it. Fills
    ``tableNode`` (one row per level) when given. Returns ``(metrics by level, warnings)``."""
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
        hd95 = "95th percentile Hausdorff distance (larger of the two directions)"
        columns = [("level", "Level", ""), ("dice", "Dice", ""), ("jaccard", "Jaccard", ""),
                   ("hd95_mm", "HD95", "mm"), ("hd_max_mm", "HD max", "mm"),
                   ("volume_a_mm3", f"Volume {names[0]}", "mm3"), ("volume_b_mm3", f"Volume {names[1]}", "mm3")]
        fill_table_node(tableNode, [(title, list(res) if key == "level" else [m.get(key) for m in res.values()],
                                     key != "level", None, unit, hd95 if title == "HD95" else None)
                                    for key, title, unit in columns])
    return res, warnings
