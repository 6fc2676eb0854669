"""Quick ROIs (VBQScoreLib.quick_roi): ROI grown from a point, on phantoms with hand-counted voxels."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from VBQScoreLib.errors import VBQInputError
from VBQScoreLib.quick_roi import QuickRoiSettings, grow_roi, grow_rois, sagittal_axis


def _body_phantom(spacing=(1.0, 1.0, 1.0), direction=None):
    """40^3 image: background (cortex-like) 50; a 'vertebral body' box x 10-29, y 10-19, z 10-29 of 300;
    a 'disc' box directly above it (z 30-33) of 150; a second bright 'vertebra' z 34-39 of 300."""
    arr = np.full((40, 40, 40), 50.0, dtype=np.float32)  # (z, y, x)
    arr[10:30, 10:20, 10:30] = 300.0
    arr[30:34, 10:20, 10:30] = 150.0
    arr[34:40, 10:20, 10:30] = 300.0
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    if direction is not None:
        img.SetDirection(direction)
    return img


def _point(img, ijk):
    return img.TransformContinuousIndexToPhysicalPoint([float(v) for v in ijk])


def test_roi_stays_in_body_slab_and_is_eroded():
    img = _body_phantom()
    s = QuickRoiSettings(radius_mm=20.0, sagittal_slices=3, erode_mm=1.0)
    m = sitk.GetArrayFromImage(grow_roi(img, _point(img, (20, 15, 20)), s))
    # body restricted to x 19..21 (3 sagittal slices) is 3 x 10 x 20 = 600 voxels, all within 20 mm of the
    # seed; in-plane erosion by 1 voxel leaves 3 x 8 x 18 = 432 and never crosses into disc or next vertebra
    assert int(m.sum()) == 432
    zz, yy, xx = np.nonzero(m)
    assert (xx.min(), xx.max()) == (19, 21)
    assert (yy.min(), yy.max()) == (11, 18)
    assert (zz.min(), zz.max()) == (11, 28)


def test_no_erosion_gives_the_whole_connected_body_in_slab():
    img = _body_phantom()
    s = QuickRoiSettings(radius_mm=20.0, sagittal_slices=5, erode_mm=0.0)
    m = sitk.GetArrayFromImage(grow_roi(img, _point(img, (20, 15, 20)), s))
    assert int(m.sum()) == 5 * 10 * 20  # x 18..22: the second vertebra (same intensity) is not connected


def test_radius_limits_roi_brute_force_count():
    img = _body_phantom(spacing=(0.5, 1.0, 2.0))
    s = QuickRoiSettings(radius_mm=4.0, sagittal_slices=1, erode_mm=0.0)
    seed = (20, 15, 20)
    m = sitk.GetArrayFromImage(grow_roi(img, _point(img, seed), s))
    # brute force: voxels in slice x=20 whose physical distance to the seed is <= 4 mm, inside the body
    expected = 0
    for y in range(40):
        for z in range(40):
            d2 = ((y - 15) * 1.0) ** 2 + ((z - 20) * 2.0) ** 2
            if d2 <= 16.0 and 10 <= y < 20 and 10 <= z < 30:
                expected += 1
    # by hand: z=20: |dy|<=4 -> 9; z=19,21 (2 mm): dy^2<=12 -> 7 each; z=18,22 (4 mm): dy=0 -> 1 each
    assert expected == 9 + 2 * 7 + 2 * 1
    assert int(m.sum()) == expected
    assert set(np.nonzero(m)[2]) == {20}


def test_sagittal_axis_follows_direction():
    # axes permuted: image axis 2 (k) points along LPS x (left-right)
    direction = (0, 0, 1, 0, 1, 0, 1, 0, 0)
    img = _body_phantom(direction=direction)
    assert sagittal_axis(img) == 2
    s = QuickRoiSettings(radius_mm=20.0, sagittal_slices=3, erode_mm=0.0)
    m = sitk.GetArrayFromImage(grow_roi(img, _point(img, (20, 15, 20)), s))
    zz, yy, xx = np.nonzero(m)
    assert (zz.min(), zz.max()) == (19, 21)  # slab along k
    assert int(m.sum()) == 3 * 10 * 20 - 0  # x 10-29 (20) x y 10-19 (10) x z 19-21 (3)


def test_errors_point_outside_and_empty_after_erosion():
    img = _body_phantom()
    with pytest.raises(VBQInputError, match="outside the image"):
        grow_roi(img, (500.0, 0.0, 0.0), name="C3")
    with pytest.raises(VBQInputError, match="empty after erosion"):
        grow_roi(img, _point(img, (20, 15, 20)), QuickRoiSettings(radius_mm=1.0, erode_mm=2.0), name="C3")
    with pytest.raises(VBQInputError, match="radius"):
        grow_roi(img, _point(img, (20, 15, 20)), QuickRoiSettings(radius_mm=0.0))
    with pytest.raises(VBQInputError, match="sagittal slices"):
        grow_roi(img, _point(img, (20, 15, 20)), QuickRoiSettings(sagittal_slices=0))


def test_noisy_body_excludes_cortex():
    rng = np.random.default_rng(1)
    img = _body_phantom()
    arr = sitk.GetArrayFromImage(img) + rng.normal(0, 10, (40, 40, 40)).astype(np.float32)
    noisy = sitk.GetImageFromArray(arr)
    noisy.CopyInformation(img)
    m = sitk.GetArrayFromImage(grow_roi(noisy, _point(img, (20, 15, 20)),
                                        QuickRoiSettings(radius_mm=20.0, sagittal_slices=3, erode_mm=0.0)))
    body = np.zeros_like(m, dtype=bool)
    body[10:30, 10:20, 19:22] = True
    assert not np.any(m.astype(bool) & ~body)  # never outside the body (cortex 50, disc 150)
    assert m.sum() >= 0.98 * body.sum()  # noise of SD 10 stays within the 3-robust-SD window


def test_grow_rois_uses_no_erosion_for_csf():
    img = _body_phantom()
    p = _point(img, (20, 15, 20))
    out = grow_rois(img, [("C3", p), ("CSF", p)], QuickRoiSettings(radius_mm=20.0, sagittal_slices=3, erode_mm=1.0))
    assert int(sitk.GetArrayFromImage(out["C3"]).sum()) == 432
    assert int(sitk.GetArrayFromImage(out["CSF"]).sum()) == 600
