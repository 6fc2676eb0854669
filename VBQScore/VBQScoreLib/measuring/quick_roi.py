"""Quick ROIs: a medullary-bone (or CSF) ROI grown from one point, for the VBQScore module's "Quick ROIs".

Slicer-free (numpy, scipy.ndimage, SimpleITK). Given the MRI and a point inside a vertebral body, the ROI is

1. limited to a ball of ``radius_mm`` around the point (physical distance, so anisotropic voxels are right);
2. limited to ``sagittal_slices`` sagittal slices centred on the point's slice (the image axis closest to the
   patient's left-right axis is the sagittal slice axis);
3. intensity-aware: only voxels whose intensity lies within ``tolerance`` robust SDs of the seed neighbourhood's
   median (robust SD = 1.4826 x median absolute deviation; at least ``min_relative_window`` x |median|), and
   among those only the region connected to the seed (face connectivity), so a radius larger than the body
   does not leak through the dark cortex into the disc or the neighbouring vertebra;
4. eroded by ``erode_mm`` within each sagittal slice (ellipse with per-axis radius erode_mm / spacing, rounded
   down), which takes it off the cortex and removes partial-volume voxels; no erosion across slices, which
   would wipe out a thin slab.

The result is a uint8 0/1 SimpleITK image on the MRI grid, which the module turns into an editable segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from ..errors import VBQInputError
from .measure import sagittal_axis, structuring_element  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class QuickRoiSettings:
    radius_mm: float = 8.0
    sagittal_slices: int = 3
    erode_mm: float = 1.0
    tolerance: float = 3.0  # half-width of the intensity window in robust SDs of the seed neighbourhood
    min_relative_window: float = 0.1  # the window is at least this fraction of |median| (noise-free images)
    seed_radius_mm: Optional[float] = None  # neighbourhood used to estimate the seed intensity;
    #                                         None: min(radius / 3, 2 mm), so thin CSF spaces work

    def validate(self) -> "QuickRoiSettings":
        if not (self.radius_mm > 0):
            raise VBQInputError(f"ROI radius {self.radius_mm} mm must be > 0")
        if isinstance(self.sagittal_slices, bool) or int(self.sagittal_slices) != self.sagittal_slices \
                or self.sagittal_slices < 1:
            raise VBQInputError(f"number of sagittal slices {self.sagittal_slices!r} must be a whole number >= 1")
        if not (self.erode_mm >= 0):
            raise VBQInputError(f"erosion margin {self.erode_mm} mm must be >= 0")
        if not (self.tolerance > 0):
            raise VBQInputError(f"intensity tolerance {self.tolerance} must be > 0")
        return self


def _physical_distance2(image, seed_index, shape_xyz):
    """Squared physical distance (mm^2) of every voxel (numpy (z, y, x) order) from the seed voxel centre."""
    import numpy as np

    d = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3) * np.asarray(image.GetSpacing(), float)
    ii, jj, kk = np.meshgrid(*(np.arange(n) - s for n, s in zip(shape_xyz, seed_index)), indexing="ij")
    offsets = np.stack([ii, jj, kk], axis=-1).astype(float)  # (x, y, z, 3) index offsets
    phys = offsets @ d.T
    return np.einsum("...i,...i->...", phys, phys).transpose(2, 1, 0)


def grow_roi(image, seed_lps: Sequence[float], settings: QuickRoiSettings = QuickRoiSettings(), name: str = "ROI"):
    """ROI mask (SimpleITK uint8 0/1 on ``image``'s grid) grown from the physical point ``seed_lps``.

    Raises :class:`VBQInputError` when the point is outside the image or the ROI ends up empty.
    """
    import numpy as np
    import SimpleITK as sitk
    from scipy import ndimage

    settings.validate()
    size = image.GetSize()
    cont = image.TransformPhysicalPointToContinuousIndex([float(v) for v in seed_lps])
    seed = [int(np.floor(c + 0.5)) for c in cont]
    if any(s < 0 or s >= n for s, n in zip(seed, size)):
        raise VBQInputError(f"point '{name}' at LPS ({', '.join(f'{v:.1f}' for v in seed_lps)}) is outside the image")
    # work in the bounding box of the ball (|offset_i| * spacing_i <= radius for an orthonormal grid)
    spacing = image.GetSpacing()
    half_box = [int(np.ceil(float(settings.radius_mm) / sp)) + 1 for sp in spacing]
    start = [max(s - h, 0) for s, h in zip(seed, half_box)]
    stop = [min(s + h + 1, n) for s, h, n in zip(seed, half_box, size)]
    box = (slice(start[2], stop[2]), slice(start[1], stop[1]), slice(start[0], stop[0]))
    arr = sitk.GetArrayViewFromImage(image)[box].astype(float)  # (z, y, x)
    local_seed = [s - a for s, a in zip(seed, start)]
    dist2 = _physical_distance2(image, local_seed, [b - a for a, b in zip(start, stop)])
    in_ball = dist2 <= float(settings.radius_mm) ** 2 + 1e-9

    axis = sagittal_axis(image)  # in (x, y, z) order
    n = int(settings.sagittal_slices)
    lo = local_seed[axis] - n // 2
    hi = lo + n  # exclusive
    slab = np.zeros(arr.shape, dtype=bool)
    sl = [slice(None)] * 3
    sl[2 - axis] = slice(max(lo, 0), max(hi, 0))
    slab[tuple(sl)] = True

    seed_r = settings.seed_radius_mm if settings.seed_radius_mm is not None else min(settings.radius_mm / 3.0, 2.0)
    seed_r = max(float(seed_r), min(spacing) * 1.01)
    neighbourhood = (dist2 <= seed_r ** 2) & slab
    values = arr[neighbourhood]
    med = float(np.median(values))
    mad = float(np.median(np.abs(values - med))) * 1.4826
    half = max(settings.tolerance * mad, settings.min_relative_window * abs(med))
    candidate = in_ball & slab & (np.abs(arr - med) <= half)
    seed_zyx = (local_seed[2], local_seed[1], local_seed[0])
    if not candidate[seed_zyx]:
        raise VBQInputError(f"point '{name}': the voxel at the point is not like its neighbourhood "
                            "(on an edge?); move the point into the middle of the bone or CSF")
    labels, _ = ndimage.label(candidate)  # face connectivity
    roi_box = labels == labels[seed_zyx]

    if settings.erode_mm > 0:
        # the project's ellipsoidal element (voxels within erode_mm, centre to centre), restricted to the
        # sagittal plane through its centre: erosion within each sagittal slice only
        se = structuring_element(spacing, float(settings.erode_mm))  # (z, y, x)
        zyx_axis = 2 - axis
        centre = se.shape[zyx_axis] // 2
        structure = np.expand_dims(np.take(se, centre, axis=zyx_axis), zyx_axis)
        if structure.size > 1:
            # the box has a 1-voxel margin around the ball, so only the true image border touches its edge;
            # border_value=0 then erodes an ROI cut by the field of view, as it should
            roi_box = ndimage.binary_erosion(roi_box, structure=structure, border_value=0)
    if not roi_box.any():
        raise VBQInputError(f"point '{name}': the ROI is empty after erosion by {settings.erode_mm} mm; "
                            "use a smaller erosion margin or a larger radius")
    roi = np.zeros(tuple(reversed(size)), dtype=np.uint8)
    roi[box] = roi_box
    out = sitk.GetImageFromArray(roi)
    out.CopyInformation(image)
    return out


def grow_rois(image, points: Sequence[tuple[str, Sequence[float]]], settings: QuickRoiSettings = QuickRoiSettings(),
              csf_settings: Optional[QuickRoiSettings] = None) -> dict:
    """``{name: mask}`` for ``[(name, seed_lps), ...]``; names parsing as CSF use ``csf_settings`` (default:
    ``settings`` without erosion, since a CSF ROI is thin)."""
    from dataclasses import replace

    from .levels import parse_segment_name

    if csf_settings is None:
        csf_settings = replace(settings, erode_mm=0.0)
    out = {}
    for name, seed in points:
        parsed = parse_segment_name(name)
        s = csf_settings if parsed is not None and parsed.kind == "csf" else settings
        out[name] = grow_roi(image, seed, s, name=name)
    return out
