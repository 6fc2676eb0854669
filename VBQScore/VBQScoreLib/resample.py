"""Map a segment onto the MRI grid in physical space, nearest neighbour (as Slicer's SegmentStatistics does).

Each image voxel whose centre falls in a segment voxel takes that voxel's value (nearest-neighbour sampling of
the segment at the image voxel centres, SimpleITK ``Resample`` with ``sitkNearestNeighbor``). Work is limited
to the image region under the segment's bounding box. When the segment grid is the image grid (same spacing
and direction, origin on an image voxel) the voxels are copied without resampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_TOL = 1e-4


@dataclass
class MappedROI:
    """A segment on the image grid: ``mask`` (bool, numpy order z, y, x) covers image voxels
    ``start[a] .. start[a] + mask.shape[2 - a] - 1`` along image index axis ``a`` (x, y, z)."""

    start: tuple  # image index (x, y, z) of mask[0, 0, 0]
    mask: np.ndarray
    n_segment: int  # foreground voxels of the segment on its own grid
    n_outside: int  # of those, voxels whose centre lies outside the image

    @property
    def n_voxels(self) -> int:
        return int(np.count_nonzero(self.mask))

    @property
    def fraction_outside(self) -> float:
        return self.n_outside / self.n_segment if self.n_segment else 0.0


def _geometry(img):
    spacing = np.asarray(img.GetSpacing(), float)
    direction = np.asarray(img.GetDirection(), float).reshape(3, 3)
    origin = np.asarray(img.GetOrigin(), float)
    return origin, spacing, direction


def _index_to_point_matrix(img):
    origin, spacing, direction = _geometry(img)
    return direction * spacing, origin  # physical = M @ index + origin


def same_grid(a, b) -> bool:
    """True when ``b``'s voxels coincide with ``a``'s (same spacing and direction, origin on a voxel of ``a``)."""
    oa, sa, da = _geometry(a)
    ob, sb, db = _geometry(b)
    if not (np.allclose(sa, sb, rtol=1e-6, atol=1e-6) and np.allclose(da, db, atol=1e-6)):
        return False
    ci = np.asarray(a.TransformPhysicalPointToContinuousIndex([float(v) for v in ob]))
    return bool(np.all(np.abs(ci - np.round(ci)) < _TOL))


def _count_outside(seg_arr, seg_img, image) -> int:
    """Foreground voxels of the segment whose centres lie outside the image's voxel extent."""
    zyx = np.nonzero(seg_arr)
    idx = np.vstack([zyx[2], zyx[1], zyx[0]]).astype(float)  # (3, n) in x, y, z
    m_seg, o_seg = _index_to_point_matrix(seg_img)
    m_img, o_img = _index_to_point_matrix(image)
    pts = m_seg @ idx + o_seg[:, None]
    ci = np.linalg.solve(m_img, pts - o_img[:, None])
    size = np.asarray(image.GetSize(), float)[:, None]
    inside = np.all((ci >= -0.5 - _TOL) & (ci < size - 0.5 - _TOL), axis=0)
    return int(idx.shape[1] - np.count_nonzero(inside))


def map_to_image(seg_img, image) -> MappedROI:
    """Nearest-neighbour map of a binary segment image (any grid) onto ``image``'s grid, cropped to its box."""
    import SimpleITK as sitk

    seg_arr = sitk.GetArrayViewFromImage(seg_img) != 0
    n_seg = int(np.count_nonzero(seg_arr))
    img_size = np.asarray(image.GetSize(), int)
    empty = MappedROI((0, 0, 0), np.zeros((0, 0, 0), bool), n_seg, n_seg)
    if n_seg == 0:
        return MappedROI((0, 0, 0), np.zeros((0, 0, 0), bool), 0, 0)
    seg_size = np.asarray(seg_img.GetSize(), int)
    if same_grid(image, seg_img):
        off = np.round(image.TransformPhysicalPointToContinuousIndex(seg_img.GetOrigin())).astype(int)
        lo = np.maximum(off, 0)
        hi = np.minimum(off + seg_size, img_size)  # exclusive
        if np.any(hi <= lo):
            return empty
        a = lo - off
        b = hi - off
        sub = seg_arr[a[2]:b[2], a[1]:b[1], a[0]:b[0]]
        n_in = int(np.count_nonzero(sub))
        return MappedROI(tuple(int(v) for v in lo), np.array(sub, dtype=bool), n_seg, n_seg - n_in)
    # General case: bounding box of the segment's voxel extent (corners at -0.5 / size-0.5) in image indices.
    m_seg, o_seg = _index_to_point_matrix(seg_img)
    m_img, o_img = _index_to_point_matrix(image)
    corners = np.array([[x, y, z] for x in (-0.5, seg_size[0] - 0.5) for y in (-0.5, seg_size[1] - 0.5)
                        for z in (-0.5, seg_size[2] - 0.5)], float).T
    ci = np.linalg.solve(m_img, m_seg @ corners + o_seg[:, None] - o_img[:, None])
    lo = np.maximum(np.floor(ci.min(axis=1)).astype(int) - 1, 0)
    hi = np.minimum(np.ceil(ci.max(axis=1)).astype(int) + 2, img_size)  # exclusive
    fully_inside = bool(np.all(ci.min(axis=1) >= -0.5 - _TOL) and np.all(ci.max(axis=1) <= img_size - 0.5 + _TOL))
    n_out = 0 if fully_inside else _count_outside(seg_arr, seg_img, image)
    if np.any(hi <= lo):
        return MappedROI((0, 0, 0), np.zeros((0, 0, 0), bool), n_seg, n_seg)
    out_origin = image.TransformIndexToPhysicalPoint([int(v) for v in lo])
    res = sitk.Resample(
        seg_img if seg_img.GetPixelID() == sitk.sitkUInt8 else sitk.Cast(seg_img != 0, sitk.sitkUInt8),
        [int(v) for v in (hi - lo)],
        sitk.Transform(),
        sitk.sitkNearestNeighbor,
        out_origin,
        image.GetSpacing(),
        image.GetDirection(),
        0,
        sitk.sitkUInt8,
    )
    return MappedROI(tuple(int(v) for v in lo), sitk.GetArrayFromImage(res) != 0, n_seg, n_out)
