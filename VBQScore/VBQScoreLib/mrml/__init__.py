"""MRML adapter: measure VBQ from Slicer nodes, and put results into Slicer table nodes.

This is the only package of :mod:`VBQScoreLib` that imports ``slicer``/``vtk``. It is never imported by the
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

The package, by job:

- :mod:`.conversion`: volume and segmentation nodes -> SimpleITK (geometry, voxels, segments), patient id and
  DICOM fields of a node;
- :mod:`.measuring`: :func:`measure_nodes`, :func:`measure_into_table`, :func:`overlap_nodes`;
- :mod:`.tables`: :func:`fill_table_node` (every table this adapter fills), the results table, cohort rows
  (:func:`cohort_row`, :func:`append_cohort_row`), :func:`csv_to_table_node`, the VBQ plot;
- :mod:`.segments`: level segments (:func:`create_level_segments`, :func:`create_preset_segments`) and Quick
  ROIs (:func:`quick_rois`, :func:`quick_roi_at`);
- :mod:`.files`: :func:`read_segmentation_node`, :func:`write_seg_nrrd`;
- :mod:`.requirements`: :func:`missing_requirements`, :func:`ensure_requirements` (installing a module's Python
  packages in the Slicer application).

Every public name is importable from the package itself (``from VBQScoreLib import mrml; mrml.measure_nodes``).
"""

from .conversion import (LEVEL_TAG, dicom_fields, export_segment_mask, ijk_to_ras, ijk_to_ras_vtk,
                         node_transform_to_world, patient_id, segment_ids, segment_level, segments_from_node,
                         sitk_to_volume_node, volume_to_sitk)
from .files import read_segmentation_node, write_seg_nrrd
from .measuring import measure_into_table, measure_nodes, overlap_nodes
from .requirements import ensure_requirements, missing_requirements
from .segments import (CSF_COLOR, LEVEL_COLORS, SNOMED_CODES, TERMINOLOGY_CONTEXT, create_level_segments,
                       create_preset_segments, find_level_segment, markup_points_lps, quick_roi_at, quick_rois,
                       set_segment_mask, terminology_entry)
from .tables import (RESULT_COLUMNS, SUMMARY_ROW, append_cohort_row, cohort_row, csv_to_table_node, fill_table_node,
                     flag_lines, flags_text, named_node, overall_text, result_rows, result_to_plot,
                     result_to_table_node, table_column)

__all__ = ["CSF_COLOR", "LEVEL_COLORS", "LEVEL_TAG", "RESULT_COLUMNS", "SNOMED_CODES", "SUMMARY_ROW",
           "TERMINOLOGY_CONTEXT", "append_cohort_row", "cohort_row", "create_level_segments", "create_preset_segments", "csv_to_table_node",
           "dicom_fields", "ensure_requirements", "export_segment_mask", "fill_table_node", "find_level_segment",
           "flag_lines", "flags_text", "ijk_to_ras", "ijk_to_ras_vtk", "markup_points_lps", "measure_into_table",
           "measure_nodes", "missing_requirements", "named_node", "node_transform_to_world", "overall_text",
           "overlap_nodes", "patient_id", "quick_roi_at", "quick_rois", "read_segmentation_node", "result_rows",
           "result_to_plot", "result_to_table_node", "segment_ids", "segment_level", "segments_from_node",
           "set_segment_mask", "sitk_to_volume_node", "table_column", "terminology_entry", "volume_to_sitk",
           "write_seg_nrrd"]
