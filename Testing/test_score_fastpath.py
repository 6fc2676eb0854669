"""The fast paths of the measurement give exactly what the general ones give.

- Mapping a segment by index arithmetic (segment grid = an index-aligned part of the image grid: cropped,
  shifted, flipped or with permuted axes, partly outside) equals SimpleITK nearest-neighbour resampling.
- Whole measurements (erosion, mid-sagittal slices, border and outside flags) are equal either way.
- Label bounding boxes by numpy equal SimpleITK's LabelShapeStatistics boxes; mean/SD equal numpy's.
"""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest
import SimpleITK as sitk

from helpers import make_image
from VBQScoreLib import resample as R
from VBQScoreLib.api import score_arrays
from VBQScoreLib.measure import mean_sd, roi_stats
from VBQScoreLib.options import ScoreOptions
from VBQScoreLib.provenance import sha256_files
from VBQScoreLib.segments import Segment, _label_boxes, _label_boxes_lss

# an oblique image grid (rotated 17 degrees, sagittal-like axes), anisotropic spacing
TH = np.deg2rad(17.0)
DIRECTION = np.array([[np.cos(TH), -np.sin(TH), 0], [np.sin(TH), np.cos(TH), 0], [0, 0, 1]]) @ \
    np.array([[0, 0, -1], [1, 0, 0], [0, -1, 0]], float)
SPACING = (0.8, 0.6, 3.0)
SIZE = (20, 18, 9)  # x, y, z


def oblique_image(rng):
    a = rng.integers(100, 900, size=SIZE[::-1]).astype(np.float32)
    return make_image(a, SPACING, (-11.0, 23.0, 5.5), DIRECTION)


def aligned_segment(img, mask_zyx, perm, signs, offset, spacing_jitter=0.0):
    """A segment grid whose axis a runs along image axis perm[a] in direction signs[a], first voxel at image
    index ``offset`` (may lie outside the image)."""
    d = np.asarray(img.GetDirection(), float).reshape(3, 3)
    sp = np.asarray(img.GetSpacing(), float)
    seg_dir = np.column_stack([signs[a] * d[:, perm[a]] for a in range(3)])
    seg_sp = [sp[perm[a]] * (1 + spacing_jitter) for a in range(3)]
    origin = img.TransformContinuousIndexToPhysicalPoint([float(v) for v in offset])
    m = sitk.GetImageFromArray(np.asarray(mask_zyx, np.uint8))
    m.SetSpacing(seg_sp)
    m.SetDirection(seg_dir.ravel().tolist())
    m.SetOrigin(origin)
    return m


def index_set(roi):
    zz, yy, xx = np.nonzero(roi.mask)
    return {(int(x + roi.start[0]), int(y + roi.start[1]), int(z + roi.start[2])) for x, y, z in zip(xx, yy, zz)}


def random_mask(rng, shape_zyx, p=0.4):
    m = rng.random(shape_zyx) < p
    m[tuple(s // 2 for s in shape_zyx)] = True
    return m


CASES = [((0, 1, 2), (1, 1, 1), (3, 2, 1)),  # cropped, same axes
         ((0, 1, 2), (-1, 1, 1), (12, 0, 0)),  # x reversed
         ((0, 1, 2), (1, -1, -1), (2, 15, 8)),  # y and z reversed
         ((1, 0, 2), (1, 1, 1), (4, 5, 2)),  # x and y swapped
         ((2, 0, 1), (-1, 1, -1), (7, 3, 6)),  # all permuted, two reversed
         ((0, 1, 2), (1, 1, 1), (-3, -2, -1)),  # partly outside (low side)
         ((1, 2, 0), (1, -1, 1), (16, 14, 7)),  # partly outside (high side)
         ((0, 1, 2), (1, 1, 1), (40, 2, 2))]  # entirely outside


@pytest.mark.parametrize("perm,signs,offset", CASES)
def test_index_map_equals_simpleitk_resampling(perm, signs, offset):
    rng = np.random.default_rng(abs(hash((perm, signs, offset))) % 2**32)
    img = oblique_image(rng)
    mapped = []
    for shape in [(4, 5, 6), (1, 7, 3), (6, 2, 5)]:
        seg = aligned_segment(img, random_mask(rng, shape), perm, signs, offset)
        plan = R.index_map(img, seg.GetOrigin(), seg.GetSpacing(), seg.GetDirection(), shape)
        assert plan is not None  # the fast path applies
        fast = R.map_to_image(seg, img)
        slow = R.resample_to_image(seg, img)
        assert index_set(fast) == index_set(slow)
        assert (fast.n_segment, fast.n_outside) == (slow.n_segment, slow.n_outside)
        # the same through a Segment given as an array + geometry (no SimpleITK mask image built)
        arr = sitk.GetArrayFromImage(seg) != 0
        s = Segment("C3", array=arr, origin=seg.GetOrigin(), spacing=seg.GetSpacing(), direction=seg.GetDirection())
        lazy = R.map_segment(s, img)
        assert s._mask is None and index_set(lazy) == index_set(slow) and lazy.n_outside == slow.n_outside
        assert np.array_equal(sitk.GetArrayFromImage(s.mask), sitk.GetArrayFromImage(seg))  # built on demand
        assert s.mask.GetOrigin() == seg.GetOrigin() and s.mask.GetDirection() == seg.GetDirection()
        mapped.append(len(index_set(fast)))
    assert (mapped[0] > 0) == (offset[0] < 30)  # the cases other than "entirely outside" map some voxels


def test_float32_geometry_rounding_still_uses_index_map_and_agrees():
    """NIfTI stores float32 spacings (0.800000011920929) while Slicer writes 0.8: still the same voxels."""
    rng = np.random.default_rng(5)
    img = oblique_image(rng)
    seg = aligned_segment(img, random_mask(rng, (5, 6, 7)), (0, 1, 2), (1, 1, 1), (2, 3, 1), spacing_jitter=1.5e-8)
    assert R.index_map(img, seg.GetOrigin(), seg.GetSpacing(), seg.GetDirection(), (5, 6, 7)) is not None
    assert index_set(R.map_to_image(seg, img)) == index_set(R.resample_to_image(seg, img))


@pytest.mark.parametrize("what", ["half-voxel shift", "other spacing", "rotated", "drift over the grid"])
def test_non_coinciding_grids_are_resampled(what):
    rng = np.random.default_rng(6)
    img = oblique_image(rng)
    shape = (5, 6, 7)
    if what == "half-voxel shift":
        seg = aligned_segment(img, random_mask(rng, shape), (0, 1, 2), (1, 1, 1), (2.5, 3, 1))
    elif what == "other spacing":
        seg = aligned_segment(img, random_mask(rng, shape), (0, 1, 2), (1, 1, 1), (2, 3, 1), spacing_jitter=0.5)
    elif what == "drift over the grid":  # 1e-3 relative: below the tolerance per voxel, too much over the grid
        seg = aligned_segment(img, random_mask(rng, (5, 6, 700)), (0, 1, 2), (1, 1, 1), (2, 3, 1),
                              spacing_jitter=1e-3)
        shape = (5, 6, 700)
    else:
        seg = aligned_segment(img, random_mask(rng, shape), (0, 1, 2), (1, 1, 1), (2, 3, 1))
        rot = sitk.VersorTransform((0, 0, 1), 0.2).GetMatrix()
        seg.SetDirection((np.asarray(rot).reshape(3, 3) @ np.asarray(seg.GetDirection()).reshape(3, 3)).ravel())
    assert R.index_map(img, seg.GetOrigin(), seg.GetSpacing(), seg.GetDirection(), shape) is None
    a, b = R.map_to_image(seg, img), R.resample_to_image(seg, img)
    assert index_set(a) == index_set(b) and a.n_outside == b.n_outside


@pytest.mark.parametrize("opts", [{}, {"erode_mm": 1.0}, {"mid_sagittal_slices": 2}, {"stat": "median"},
                                  {"erode_mm": 0.7, "mid_sagittal_slices": 1, "min_voxels": 1}])
def test_measurement_equal_with_and_without_index_map(monkeypatch, opts):
    """Whole measurements (values in the same order, erosion at box edges, border/outside flags) are equal."""
    rng = np.random.default_rng(11)
    img = oblique_image(rng)
    segs = []
    for (perm, signs, offset), name in zip(CASES, ["C3", "C4", "C5", "C6", "C7", "C2", "CSF"]):
        shape = (3, 6, 7) if name != "CSF" else (4, 4, 4)
        mask = np.ones(shape, bool) if name in ("C4", "CSF") else random_mask(rng, shape, 0.7)
        segs.append(Segment(name, aligned_segment(img, mask, perm, signs, offset)))
    options = ScoreOptions(vbq_range=(0.0, 100.0), **opts)
    fast = score_arrays(img, segs, options).to_dict()
    monkeypatch.setattr(R, "index_map", lambda *a, **k: None)
    slow = score_arrays(img, segs, options).to_dict()
    for d in (fast, slow):
        d.pop("provenance")
    assert fast == slow
    codes = {f["code"] for f in fast["flags"]}
    assert "ROI_PARTLY_OUTSIDE" in codes and "ROI_AT_BORDER" in codes  # the comparison covers these


def test_label_boxes_numpy_equal_label_shape_statistics():
    rng = np.random.default_rng(2)
    for shape, n_labels in [((30, 20, 10), 5), ((7, 9, 11), 1), ((40, 30, 20), 25)]:
        lab = np.zeros(shape, np.uint8)
        for v in range(1, n_labels + 1):
            lo = [int(rng.integers(0, s - 1)) for s in shape]
            hi = [int(rng.integers(a + 1, s + 1)) for a, s in zip(lo, shape)]
            block = lab[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
            block[rng.random(block.shape) < 0.5] = v
        expected = _label_boxes_lss(lab)
        assert _label_boxes(lab) == expected
        assert _label_boxes(lab, [1, 3, 200]) == {v: b for v, b in expected.items() if v in (1, 3)}
        assert _label_boxes(lab.transpose(2, 0, 1)) == _label_boxes_lss(lab.transpose(2, 0, 1))
    assert _label_boxes(np.zeros((3, 4, 5), np.uint8)) == {}


def test_label_boxes_large_many_labels_and_large_values():
    lab = np.zeros((110, 110, 90), np.uint16)  # > 2^20 voxels in the foreground box, > 16 labels: one LSS pass
    for v in range(1, 21):
        lab[5 * v:5 * v + 3, 2 + v:100, 1:89 - v] = v
    lab[0, 0, 0] = 1
    lab[-1, -1, -1] = 20
    truth = {}
    for v in range(1, 21):
        idx = np.nonzero(lab == v)
        truth[v] = tuple(x for a in idx for x in (int(a.min()), int(a.max()) + 1))
    assert _label_boxes(lab) == truth
    assert _label_boxes(lab, range(1, 21)) == truth
    big = np.zeros((8, 9, 10), np.uint32)
    big[1:3, 2:4, 3:5] = 70000  # label values beyond the bincount range
    assert _label_boxes(big) == {70000: (1, 3, 2, 4, 3, 5)}


def test_mean_sd_and_roi_stats_equal_numpy_bit_for_bit():
    rng = np.random.default_rng(9)
    for n in itertools.chain(range(1, 70), [127, 128, 129, 1000, 4099, 65537]):
        v = rng.normal(400, 70, n)
        if n % 3 == 0:
            v = np.round(v)
        m, s = mean_sd(v)
        assert m == float(np.mean(v)) and (s is None if n == 1 else s == float(np.std(v, ddof=1)))
        st = roi_stats(v, 2.0)
        assert st["median"] == float(np.median(v)) and st["min"] == float(v.min()) and st["max"] == float(v.max())
        assert st["p5"] == float(np.percentile(v, 5)) and st["p95"] == float(np.percentile(v, 95))
    st = roi_stats(np.array([1.0, np.nan, 3.0]), 1.0)
    assert np.isnan(st["min"]) and np.isnan(st["max"]) and np.isnan(st["mean"])  # as numpy: NaN propagates


def test_sha256_files(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(bytes(range(256)) * 5000)
    b.write_bytes(b"second file")
    assert sha256_files([a]) == hashlib.sha256(a.read_bytes()).hexdigest()
    assert sha256_files([b, a]) == hashlib.sha256(a.read_bytes() + b.read_bytes()).hexdigest()  # sorted order
