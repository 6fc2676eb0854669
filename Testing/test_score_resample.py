"""Segments on other grids than the image: nearest-neighbour mapping in physical space, with exact expectations."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from helpers import make_image, segment
from VBQScoreLib.api import score_arrays
from VBQScoreLib.errors import VBQInputError
from VBQScoreLib.options import ScoreOptions
from VBQScoreLib.resample import map_to_image, same_grid
from VBQScoreLib.segments import Segment


def image_xyz(n=12):
    """1 mm image, origin 0 (index = mm), value = x + 10 y + 100 z + 1000."""
    z, y, x = np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij")
    return make_image((x + 10 * y + 100 * z).astype(float) + 1000.0)


def seg_image(mask_zyx, spacing, origin, direction=None):
    m = sitk.GetImageFromArray(np.asarray(mask_zyx, np.uint8))
    m.SetSpacing(spacing)
    m.SetOrigin(origin)
    if direction is not None:
        m.SetDirection(np.asarray(direction, float).ravel().tolist())
    return m


def mapped_indices(roi):
    """Set of image (x, y, z) indices covered by a MappedROI."""
    zz, yy, xx = np.nonzero(roi.mask)
    return {(int(x + roi.start[0]), int(y + roi.start[1]), int(z + roi.start[2])) for x, y, z in zip(xx, yy, zz)}


def box(x, y, z):
    return {(i, j, k) for i in x for j in y for k in z}


def test_same_grid_cropped_segment_fast_path():
    img = image_xyz()
    m = np.zeros((3, 4, 5), np.uint8)
    m[:] = 1
    seg = seg_image(m, (1, 1, 1), (2.0, 3.0, 4.0))  # cropped: starts at image voxel (2, 3, 4)
    assert same_grid(img, seg)
    roi = map_to_image(seg, img)
    assert mapped_indices(roi) == box(range(2, 7), range(3, 7), range(4, 7))
    assert roi.n_outside == 0 and roi.n_segment == 60


def test_half_resolution_segmentation():
    img = image_xyz()
    m = np.zeros((5, 5, 5), np.uint8)
    m[1:3, 1:3, 1:3] = 1
    # 2 mm voxels centred at 0.5 + 2k: segment voxel k covers image voxels 2k and 2k + 1 (no ties)
    seg = seg_image(m, (2, 2, 2), (0.5, 0.5, 0.5))
    assert not same_grid(img, seg)
    roi = map_to_image(seg, img)
    assert mapped_indices(roi) == box(range(2, 6), range(2, 6), range(2, 6))
    # VBQ on it: mean of x + 10 y + 100 z + 1000 over 2..5 = 3.5 * 111 + 1000
    csf = np.zeros((12, 12, 12), bool)
    csf[0, 0, 0:10] = True  # values 1000..1009: mean 1004.5
    r = score_arrays(img, [Segment("C3", seg), segment("CSF", csf, img)], ScoreOptions(vbq_range=(0, 10)))
    assert r.level("C3").n_voxels == 64
    assert r.level("C3").mean == pytest.approx(3.5 * 111 + 1000, rel=1e-14)
    assert r.level("C3").vbq == pytest.approx((3.5 * 111 + 1000) / 1004.5, rel=1e-14)
    assert [f.code for f in r.flags if f.level == "C3"] == []  # mapped fully inside, not at the border


@pytest.mark.parametrize("shift, expected_start", [(0.3, 2), (0.7, 3), (-0.3, 2), (-0.7, 1)])
def test_subvoxel_shifted_origin_rounds_to_nearest(shift, expected_start):
    img = image_xyz()
    m = np.ones((3, 3, 3), np.uint8)
    seg = seg_image(m, (1, 1, 1), (2 + shift, 2.0, 2.0))  # segment voxel i centre at 2 + shift + i
    roi = map_to_image(seg, img)
    s = expected_start
    assert mapped_indices(roi) == box(range(s, s + 3), range(2, 5), range(2, 5))


def test_flipped_and_rotated_directions_map_to_the_same_voxels():
    img = image_xyz()
    expected = box(range(6, 9), range(2, 5), range(3, 6))
    # x axis flipped: segment index i sits at physical x = 9 - i
    m = np.zeros((3, 3, 4), np.uint8)  # z, y, x
    m[:, :, 1:4] = 1  # i = 1..3 -> x = 8..6
    seg = seg_image(m, (1, 1, 1), (9.0, 2.0, 3.0), np.diag([-1.0, 1.0, 1.0]))
    assert mapped_indices(map_to_image(seg, img)) == expected
    # axes permuted (90 degree rotation): segment i -> physical y, j -> physical x, k -> z
    d = np.array([[0, 1, 0], [1, 0, 0], [0, 0, -1]], float)  # columns: i -> +y, j -> +x, k -> -z
    m2 = np.ones((3, 3, 3), np.uint8)  # (k, j, i)
    seg2 = seg_image(m2, (1, 1, 1), (6.0, 2.0, 5.0), d)
    assert mapped_indices(map_to_image(seg2, img)) == expected
    # and anisotropic 0.5 mm segment voxels in x, rotated image grid left alone
    m3 = np.ones((3, 3, 6), np.uint8)
    seg3 = seg_image(m3, (0.5, 1, 1), (5.75, 2.0, 3.0))  # centres 5.75..8.25 -> image x 6..8
    assert mapped_indices(map_to_image(seg3, img)) == expected


def test_partly_outside_counts_and_flag():
    img = image_xyz()
    m = np.ones((2, 2, 4), np.uint8)  # x = 10..13 on a 12-wide image: 2 of 4 columns outside
    seg = seg_image(m, (1, 1, 1), (10.0, 5.0, 5.0))
    roi = map_to_image(seg, img)
    assert (roi.n_segment, roi.n_outside, roi.n_voxels) == (16, 8, 8)
    # same with a non-matching grid (general path): half-voxel shift in y keeps the count
    seg_b = seg_image(m, (1, 1, 1), (10.0, 5.2, 5.0))
    roi_b = map_to_image(seg_b, img)
    assert (roi_b.n_segment, roi_b.n_outside, roi_b.n_voxels) == (16, 8, 8)
    csf = np.zeros((12, 12, 12), bool)
    csf[0, 0, 0:10] = True
    r = score_arrays(img, [Segment("C3", seg_b), segment("CSF", csf, img)], ScoreOptions(vbq_range=(0, 10)))
    f = [f for f in r.flags if f.code == "ROI_PARTLY_OUTSIDE"]
    assert len(f) == 1 and f[0].level == "C3" and "8 of 16 voxels (50.0%)" in f[0].message
    assert "ROI_AT_BORDER" in [f.code for f in r.flags]


def test_segmentation_not_overlapping_is_an_error():
    img = image_xyz()
    far = seg_image(np.ones((2, 2, 2), np.uint8), (1, 1, 1), (100.0, 0.0, 0.0))
    far_csf = seg_image(np.ones((2, 2, 2), np.uint8), (1, 1, 1), (0.0, 100.0, 0.3))
    with pytest.raises(VBQInputError, match="does not overlap the image"):
        score_arrays(img, [Segment("C3", far), Segment("CSF", far_csf)], ScoreOptions())
    csf = np.zeros((12, 12, 12), bool)
    csf[0, 0, 0:10] = True
    # one level outside, the rest fine: that level is empty (flagged), not an error
    r = score_arrays(img, [Segment("C3", far), segment("CSF", csf, img)], ScoreOptions(vbq_range=(0, 10)))
    assert [f.code for f in r.flags if f.level == "C3"] == ["EMPTY_ROI"]
    assert "lies outside the image" in r.flags[0].message or any("outside" in f.message for f in r.flags)
    with pytest.raises(VBQInputError, match="CSF segment 'CSF' lies outside the image"):
        score_arrays(img, [segment("C3", csf, img), Segment("CSF", far)], ScoreOptions())


def test_general_path_equals_fast_path_on_random_masks():
    rng = np.random.default_rng(0)
    img = image_xyz(10)
    m = (rng.random((10, 10, 10)) > 0.6).astype(np.uint8)
    a = seg_image(m, (1, 1, 1), (0.0, 0.0, 0.0))
    b = seg_image(m[:, :, ::-1].copy(), (1, 1, 1), (9.0, 0.0, 0.0), np.diag([-1.0, 1, 1]))  # same voxels
    assert same_grid(img, a) and not same_grid(img, b)
    assert mapped_indices(map_to_image(a, img)) == mapped_indices(map_to_image(b, img))
    assert len(mapped_indices(map_to_image(a, img))) == int(m.sum())
