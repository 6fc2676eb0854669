"""Map a segment onto the MRI grid in physical space, nearest neighbour (as Slicer's SegmentStatistics does).

Each image voxel whose centre falls in a segment voxel takes that voxel's value (nearest-neighbour sampling of
the segment at the image voxel centres, SimpleITK ``Resample`` with ``sitkNearestNeighbor``). Work is limited
to the image region under the segment's bounding box.

When the segment's voxel centres coincide with image voxel centres -- the same spacing, axes parallel to the
image's (possibly permuted or reversed) and the origin on an image voxel, e.g. a Slicer segmentation cropped
from the image's geometry -- nearest-neighbour sampling picks exactly the coinciding voxel, so the mask is
copied by index arithmetic (transpose / flip / offset) instead of resampling. The index map is used only when
it is provably what resampling gives: every segment voxel centre lies within ``_EXACT`` voxel of its image
voxel centre (and vice versa) over the whole segment grid; otherwise SimpleITK resamples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_TOL = 1e-4
_EXACT = 1e-2  # bound on the index deviation (voxels) over a segment grid for the index-arithmetic map


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


def _close(a, b) -> bool:
    """Plain-float ``numpy.allclose`` of two 3-vectors (rtol = atol = 1e-6)."""
    return all(abs(x - y) <= 1e-6 + 1e-6 * abs(y) for x, y in zip(a, b))


def same_grid(a, b) -> bool:
    """True when ``b``'s voxels coincide with ``a``'s (same spacing and direction, origin on a voxel of ``a``)."""
    if not (_close(a.GetSpacing(), b.GetSpacing()) and
            all(abs(x - y) <= 1e-6 for x, y in zip(a.GetDirection(), b.GetDirection()))):
        return False
    ci = a.TransformPhysicalPointToContinuousIndex(b.GetOrigin())
    return all(abs(c - round(c)) < _TOL for c in ci)


class ImageGrid:
    """The geometry of an image, once: size, origin and the inverse of its index-to-physical matrix (to place
    many segment grids on it with plain float arithmetic)."""

    __slots__ = ("image", "size", "origin", "inverse", "axes")

    def __init__(self, image):
        self.image = image
        self.size = tuple(int(v) for v in image.GetSize())
        self.origin = tuple(float(v) for v in image.GetOrigin())
        m = np.asarray(image.GetDirection(), float).reshape(3, 3) * np.asarray(image.GetSpacing(), float)
        self.inverse = np.linalg.inv(m).tolist()  # image continuous index = inverse @ (point - origin)
        self.axes = {}  # (spacing, direction) of a segment grid -> _axes() of it


def _axes(grid: ImageGrid, spacing, direction):
    """``(axis, sign, err)`` of a segment grid's axes on the image grid (see :func:`index_map`), or ``None``
    when ``R = M_image^-1 M_segment`` is not near a signed permutation."""
    inv = grid.inverse
    m_seg = [[direction[3 * r + a] * spacing[a] for a in range(3)] for r in range(3)]
    r = [[sum(inv[b][k] * m_seg[k][a] for k in range(3)) for a in range(3)] for b in range(3)]
    axis, sign, err = [], [], 0.0
    for b in range(3):
        row = r[b]
        a = max(range(3), key=lambda k: abs(row[k]))
        s = 1 if row[a] > 0 else -1
        axis.append(a)
        sign.append(s)
        err = max(err, sum(abs(row[k] - (s if k == a else 0)) for k in range(3)))
    if len(set(axis)) != 3 or err >= 0.5:
        return None
    return tuple(axis), tuple(sign), err


def index_map(grid, origin, spacing, direction, shape_zyx):
    """How a segment grid (``origin``, ``spacing``, ``direction`` as SimpleITK tuples; array of ``shape_zyx``)
    sits on an image grid (:class:`ImageGrid` or SimpleITK image), when its voxel centres coincide with image
    voxel centres: ``(axis, sign, offset)``, each a 3-tuple over image axes x, y, z, meaning image index
    ``[b] = offset[b] + sign[b] * segment index[axis[b]]``; ``None`` when they do not coincide (then resample).

    Segment index ``idx`` lies at image continuous index ``c0 + R idx`` (``R = M_image^-1 M_segment``). The map
    is used when ``R = T + E`` with ``T`` a signed permutation, ``c0`` within ``_TOL`` of an integer vector and
    ``|E|`` (largest row sum) times the segment's largest extent below ``_EXACT / 10``: then every segment voxel
    centre is within ``_EXACT`` voxel of an image voxel centre and vice versa (``|R^-1 - T^T| <= |E| / (1 -
    |E|)``), so nearest-neighbour resampling picks exactly the voxels the index map gives.
    """
    if not isinstance(grid, ImageGrid):
        grid = ImageGrid(grid)
    key = (tuple(spacing), tuple(direction))
    axes = grid.axes.get(key, False)
    if axes is False:
        axes = grid.axes[key] = _axes(grid, spacing, direction)
    if axes is None:
        return None
    axis, sign, err = axes
    if err * (max(shape_zyx) + 1) >= _EXACT / 10:
        return None  # other spacing, rotated axes, or a drift that could reach half a voxel
    inv = grid.inverse
    d = [origin[k] - grid.origin[k] for k in range(3)]
    c0 = [inv[b][0] * d[0] + inv[b][1] * d[1] + inv[b][2] * d[2] for b in range(3)]
    off = [round(c) for c in c0]
    if any(abs(c - o) >= _TOL for c, o in zip(c0, off)):
        return None
    return axis, sign, tuple(off)


def map_by_index(seg_arr, plan, image_size) -> MappedROI:
    """Map a segment array (numpy z, y, x; nonzero = in) by an :func:`index_map` ``plan``: transpose, flip,
    offset and clip to the image; no resampling."""
    axis, sign, off = plan
    arr = np.asarray(seg_arr)
    n_seg = int(np.count_nonzero(arr))
    if n_seg == 0:
        return MappedROI((0, 0, 0), np.zeros((0, 0, 0), bool), 0, 0)
    # result numpy axis q <-> image axis 2 - q <-> segment axis axis[2 - q] <-> segment numpy axis 2 - axis[2 - q]
    view = arr.transpose([2 - axis[2 - q] for q in range(3)])
    flips = tuple(slice(None, None, -1) if sign[2 - q] < 0 else slice(None) for q in range(3))
    view = view[flips]
    lo, sub = [], []
    for b in range(3):
        n_b = view.shape[2 - b]
        first = off[b] if sign[b] > 0 else off[b] - (n_b - 1)  # image index of view index 0 along axis b
        a = max(first, 0)
        e = min(first + n_b, int(image_size[b]))
        if e <= a:
            return MappedROI((0, 0, 0), np.zeros((0, 0, 0), bool), n_seg, n_seg)
        lo.append(a)
        sub.append(slice(a - first, e - first))
    box = view[sub[2], sub[1], sub[0]]
    mask = box.astype(bool) if box.dtype != bool else np.array(box)
    n_in = int(np.count_nonzero(mask))
    return MappedROI(tuple(lo), mask, n_seg, n_seg - n_in)


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


def map_segment(segment, image, grid: "ImageGrid | None" = None) -> MappedROI:
    """Nearest-neighbour map of a :class:`VBQScoreLib.segments.Segment` onto ``image``'s grid (``grid``: its
    :class:`ImageGrid`, when already made): by index arithmetic when the grids' voxel centres coincide (no
    SimpleITK image of the mask is built), else by SimpleITK resampling (:func:`resample_to_image`)."""
    grid = grid if grid is not None else ImageGrid(image)
    arr, origin, spacing, direction = segment.grid()
    plan = index_map(grid, origin, spacing, direction, arr.shape)
    if plan is not None:
        return map_by_index(arr, plan, grid.size)
    return resample_to_image(segment.mask, image)


def map_to_image(seg_img, image) -> MappedROI:
    """Nearest-neighbour map of a binary segment image (any grid) onto ``image``'s grid, cropped to its box."""
    import SimpleITK as sitk

    seg_arr = sitk.GetArrayViewFromImage(seg_img)
    plan = index_map(image, seg_img.GetOrigin(), seg_img.GetSpacing(), seg_img.GetDirection(), seg_arr.shape)
    if plan is not None:
        return map_by_index(seg_arr, plan, image.GetSize())
    return resample_to_image(seg_img, image)


def resample_to_image(seg_img, image) -> MappedROI:
    """:func:`map_to_image` by SimpleITK nearest-neighbour resampling, whatever the grids (the general path)."""
    import SimpleITK as sitk

    seg_arr = sitk.GetArrayViewFromImage(seg_img) != 0
    n_seg = int(np.count_nonzero(seg_arr))
    img_size = np.asarray(image.GetSize(), int)
    if n_seg == 0:
        return MappedROI((0, 0, 0), np.zeros((0, 0, 0), bool), 0, 0)
    seg_size = np.asarray(seg_img.GetSize(), int)
    # bounding box of the segment's voxel extent (corners at -0.5 / size-0.5) in image indices
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
