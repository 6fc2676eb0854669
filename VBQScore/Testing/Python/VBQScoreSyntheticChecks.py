"""Checks on synthetic data with hand-computed numbers, shared by the in-Slicer test (VBQScoreModuleTest, with
the module's VBQScoreLogic and slicer.mrmlScene) and by plain pytest on slicer-core (Testing/test_mrml_segments.py,
with :class:`CoreLogic`, which does what VBQScoreLogic does through the same VBQScoreLib.mrml calls).

Nothing here imports qt or the module itself, so it runs in both places.
"""

from __future__ import annotations

import os
import tempfile

LEVELS = ["C2", "C3", "C4", "C5", "C6", "C7"]


def _eq(actual, expected, what):
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def make_phantom(scene):
    """40^3 volume (1 mm): background 50; C2..C7 blocks of 200 + 20 i (z 3+6i .. 6+6i, y 10-19, x 15-24);
    CSF 80 (z 5-34, y 25-29, x 15-24). Returns (SimpleITK image, volume node, numpy array)."""
    import numpy as np
    import SimpleITK as sitk

    from VBQScoreLib import mrml

    arr = np.full((40, 40, 40), 50.0, dtype=np.float32)
    for i in range(6):
        arr[3 + 6 * i:7 + 6 * i, 10:20, 15:25] = 200.0 + 20.0 * i
    arr[5:35, 25:30, 15:25] = 80.0
    img = sitk.GetImageFromArray(arr)
    vol = mrml.sitk_to_volume_node(img, scene, "VBQ phantom")
    vol.CreateDefaultDisplayNodes()  # as a loaded volume has: the Segment Editor shows its source volume
    return img, vol, arr


def new_segmentation(scene, vol):
    seg = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Segmentation")
    seg.CreateDefaultDisplayNodes()  # as Slicer's segmentation selector does for a new segmentation
    seg.SetReferenceImageGeometryParameterFromVolumeNode(vol)
    return seg


def paint(seg, segment_id, img, vol, index_slices):
    import numpy as np
    import SimpleITK as sitk

    from VBQScoreLib import mrml

    m = np.zeros(sitk.GetArrayViewFromImage(img).shape, np.uint8)
    m[index_slices] = 1
    mi = sitk.GetImageFromArray(m)
    mi.CopyInformation(img)
    mrml.set_segment_mask(seg, segment_id, mi, vol)


class CoreLogic:
    """What VBQScoreLogic does, without Slicer's GUI classes (for slicer-core)."""

    def __init__(self, scene):
        self.scene = scene

    def createLevelSegments(self, segmentationNode, preset="lu2024"):
        from VBQScoreLib import mrml

        return mrml.create_preset_segments(segmentationNode, preset)

    def compute(self, volumeNode, segmentationNode, tableNode=None, **options):
        from VBQScoreLib import mrml

        result, self.lastTableNode = mrml.measure_into_table(volumeNode, segmentationNode, tableNode, **options)
        return result

    def quickRois(self, volumeNode, segmentationNode, markupsNode, radiusMm=8.0, sagittalSlices=3, erosionMm=1.0):
        from VBQScoreLib import mrml
        from VBQScoreLib.measuring.quick_roi import QuickRoiSettings

        return mrml.quick_rois(volumeNode, segmentationNode, markupsNode,
                               QuickRoiSettings(radius_mm=radiusMm, sagittal_slices=sagittalSlices,
                                                erode_mm=erosionMm))

    @staticmethod
    def appendToCohort(result, cohortTableNode, caseId):
        from VBQScoreLib import mrml

        return mrml.append_cohort_row(cohortTableNode, mrml.cohort_row(result, caseId))

    @staticmethod
    def exportCsv(result, path):
        from VBQScoreLib.atomic import write_text_atomic

        write_text_atomic(path, result.to_csv())


def check_compute_exact(scene, logic):
    """Create the lu2024 segments, paint the six blocks and CSF, rename one segment, compute."""
    import numpy as np

    img, vol, arr = make_phantom(scene)
    seg = new_segmentation(scene, vol)
    ids = logic.createLevelSegments(seg, "lu2024")
    _eq(sorted(ids), sorted(LEVELS + ["CSF"]), "segment ids")
    _eq(seg.GetSegmentation().GetSegment(ids["CSF"]).GetName(), "CSF cisterna magna", "CSF segment name")
    for i, level in enumerate(LEVELS):
        paint(seg, ids[level], img, vol, np.s_[3 + 6 * i:7 + 6 * i, 10:20, 15:25])
    paint(seg, ids["CSF"], img, vol, np.s_[5:35, 25:30, 15:25])
    seg.GetSegmentation().GetSegment("C3").SetName("renamed by the user")
    table = scene.AddNewNodeByClass("vtkMRMLTableNode", "VBQ results")
    result = logic.compute(vol, seg, table, preset="lu2024")
    # by hand: level SIs 200, 220, ..., 300 over CSF 80 -> 2.5, 2.75, ..., 3.75; overall mean(SI)/80 = 250/80
    for i, lv in enumerate(result.levels):
        _eq(lv.name, LEVELS[i], "level order")
        _eq(lv.vbq, (200.0 + 20.0 * i) / 80.0, f"VBQ {lv.name}")
        _eq(lv.n_voxels, 4 * 10 * 10, f"voxels {lv.name}")
    _eq(result.csf.n_voxels, 30 * 5 * 10, "CSF voxels")
    _eq(result.overall["vbq"], 250.0 / 80.0, "overall VBQ")
    _eq([f.code for f in result.flags], [], "flags")
    _eq(table.GetNumberOfRows(), 8, "table rows")
    _eq(table.GetTable().GetValueByName(1, "vbq").ToDouble(), 220.0 / 80.0, "table C3 VBQ")
    _eq(table.GetColumnUnitLabel("volume_mm3"), "mm3", "volume unit")

    median = logic.compute(vol, seg, table, preset="soliman2023", stat="median")
    # soliman2023: C3-C6, median of level SIs (220, 240, 260, 280) = 250; CSF median 80
    _eq(median.overall["vbq"], 250.0 / 80.0, "soliman2023 overall")
    _eq(median.overall["levels_used"], ["C3", "C4", "C5", "C6"], "soliman2023 levels")

    cohort = scene.AddNewNodeByClass("vtkMRMLTableNode", "cohort")
    logic.appendToCohort(result, cohort, "case-1")
    logic.appendToCohort(median, cohort, "case-2")
    _eq(cohort.GetNumberOfRows(), 2, "cohort rows")
    _eq(cohort.GetTable().GetValueByName(0, "VBQ_overall").ToDouble(), 250.0 / 80.0, "cohort overall")
    _eq(cohort.GetTable().GetValueByName(1, "case_id").ToString(), "case-2", "cohort id")

    path = os.path.join(tempfile.mkdtemp(), "vbq.csv")
    logic.exportCsv(result, path)
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    _eq(len(lines), 7, "CSV lines")
    _eq(lines[0].split(",")[:3], ["level", "segment", "n_voxels"], "CSV header")
    _eq(lines[2].split(",")[:3], ["C3", "renamed by the user", "400"], "CSV C3 row")
    return result


def check_quick_rois(scene, logic):
    """One point in C3, one in CSF -> ROIs with hand-counted voxels."""
    import vtk

    img, vol, arr = make_phantom(scene)
    seg = new_segmentation(scene, vol)
    points = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "VBQ points")
    for label, ijk in (("C3", (20, 15, 11)), ("CSF", (20, 27, 20))):
        lps = img.TransformContinuousIndexToPhysicalPoint([float(v) for v in ijk])
        points.AddControlPoint(vtk.vtkVector3d(-lps[0], -lps[1], lps[2]), label)
    logic.quickRois(vol, seg, points, radiusMm=15.0, sagittalSlices=3, erosionMm=1.0)
    result = logic.compute(vol, seg, preset="lu2024")
    # C3 block x 15-24, y 10-19, z 9-12: slices x 19-21, eroded 1 mm in-plane -> 3 x 8 x 2 = 48 voxels of 220
    _eq(result.level("C3").n_voxels, 48, "quick ROI C3 voxels")
    _eq(result.level("C3").vbq, 220.0 / 80.0, "quick ROI C3 VBQ")
    _eq(result.csf.mean, 80.0, "quick ROI CSF mean")
    _eq(result.overall["vbq"], 220.0 / 80.0, "overall from C3 only")
    _eq(sorted({f.level for f in result.flags if f.code == "MISSING_LEVEL"}), ["C2", "C4", "C5", "C6", "C7"],
        "missing levels flagged")
    return result


def make_partial_scene(scene, logic):
    """The widget test's scene: all lu2024 segments created, only C3 (220) and CSF (80) painted.
    Returns (volume node, segmentation node)."""
    import numpy as np

    img, vol, arr = make_phantom(scene)
    seg = new_segmentation(scene, vol)
    ids = logic.createLevelSegments(seg, "lu2024")
    paint(seg, ids["C3"], img, vol, np.s_[9:13, 10:20, 15:25])
    paint(seg, ids["CSF"], img, vol, np.s_[5:35, 25:30, 15:25])
    return vol, seg


def check_partial_result(result):
    """C3 measured, the five other levels exist but are empty: EMPTY_ROI (not MISSING_LEVEL, since the segments
    are there), overall VBQ from C3 alone = 220 / 80."""
    _eq(result.level("C3").vbq, 220.0 / 80.0, "partial C3 VBQ")
    _eq(result.level("C3").n_voxels, 4 * 10 * 10, "partial C3 voxels")
    _eq(result.overall["vbq"], 220.0 / 80.0, "partial overall")
    _eq(result.overall["levels_used"], ["C3"], "partial levels used")
    _eq([(f.code, f.level) for f in result.flags], [("EMPTY_ROI", lv) for lv in ("C2", "C4", "C5", "C6", "C7")],
        "partial flags")
    return result
