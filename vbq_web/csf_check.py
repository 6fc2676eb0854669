"""Is the CSF ROI where the preset measures CSF? A geometric check for ``vbq web`` (Slicer-free, numpy).

lu2024 measures CSF in the cisterna magna: above the dens, so above every cervical vertebral body; a CSF ROI
beside C3 (in the spinal canal) gives another VBQ. The presets that measure CSF at a level (``C2``, ``C5``, ...)
want it beside that level's body. The check compares the CSF ROI's centre with the level ROIs along the
patient's S axis (RAS, mm):

- ``cisterna magna``: the CSF centre must lie above the top of the highest level ROI drawn;
- a level ``X`` whose ROI is drawn: the CSF centre must lie within that ROI's S range widened by half its
  height on each side (a vertebral body's height is its ROI's height here: a coarse but independent scale);
- ``any`` or the reference level not drawn: no check.

Returns a flag line (``CSF_LOCATION``: what is wrong and where the preset wants CSF) or None.
"""

from __future__ import annotations

import numpy as np


def s_coordinates(mask: np.ndarray, ijk_to_ras: np.ndarray) -> np.ndarray | None:
    """S (mm) of each voxel of a (k, j, i) ``mask``; None when it is empty."""
    k, j, i = np.nonzero(mask)
    if k.size == 0:
        return None
    row = np.asarray(ijk_to_ras, float)[2]
    return row[0] * i + row[1] * j + row[2] * k + row[3]


def s_of_segment(array: np.ndarray, origin, spacing, direction) -> np.ndarray | None:
    """S (mm) of each voxel of a (k, j, i) ``array`` with SimpleITK-style LPS geometry (``direction``: the 3 x 3
    matrix, row by row), as :class:`VBQScoreLib.input.segmentations.Segment` holds a segment; None when it is
    empty. LPS's third axis is S."""
    k, j, i = np.nonzero(array)
    if k.size == 0:
        return None
    d = np.asarray(direction, float).reshape(3, 3)[2]
    sp = np.asarray(spacing, float)
    return float(origin[2]) + d[0] * sp[0] * i + d[1] * sp[1] * j + d[2] * sp[2] * k


def check(csf_s: np.ndarray | None, level_s: dict, reference: str, preset_name: str) -> str | None:
    """``csf_s``: S of the CSF voxels; ``level_s``: level name -> S of its voxels (empty levels left out)."""
    if csf_s is None or not level_s or reference in ("", "any"):
        return None
    centre = float(np.mean(csf_s))
    if reference == "cisterna magna":
        highest = max(level_s, key=lambda lv: float(np.max(level_s[lv])))
        top = float(np.max(level_s[highest]))
        if centre <= top:
            beside = min(level_s, key=lambda lv: abs(float(np.mean(level_s[lv])) - centre))
            return (f"CSF_LOCATION - the CSF ROI lies at the height of {beside} (the spinal canal); {preset_name} "
                    "measures CSF in the cisterna magna, above C2")
        return None
    if reference in level_s:
        s = level_s[reference]
        lo, hi = float(np.min(s)), float(np.max(s))
        margin = (hi - lo) / 2
        if not lo - margin <= centre <= hi + margin:
            return (f"CSF_LOCATION - the CSF ROI is not beside {reference}; {preset_name} measures CSF at "
                    f"{reference}")
    return None
