"""VBQ measurement on small hand-built images whose statistics are known exactly (hand computed below)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from test_score_helpers import make_image, segment
from VBQScoreLib.api import score_arrays
from VBQScoreLib.errors import VBQInputError
from VBQScoreLib.measure import restrict_mid_slices, sagittal_axis, structuring_element
from VBQScoreLib.options import ScoreOptions

SPACING = (0.5, 0.8, 3.0)  # voxel volume 1.2 mm3


def build(extra=None):
    """Image 12 x 30 x 6 (z, y, x numpy) with 3x3x3 ROIs of known values.

    C3: 100..126 (mean = median = 113, sd = sqrt(27*28/12) = sqrt(63), p5 = 101.3, p95 = 124.7)
    C4: 26 x 100 and one 370 (mean 110, median 100)
    C5: all 90
    CSF: 15 x 40 and 12 x 62.5 (mean 50, median 40, sd sqrt(3375 / 26))
    """
    a = np.full((12, 30, 6), 7.0)
    boxes = {"C3": (slice(1, 4), slice(1, 4), slice(1, 4)), "C4": (slice(1, 4), slice(6, 9), slice(1, 4)),
             "C5": (slice(1, 4), slice(11, 14), slice(1, 4)), "CSF": (slice(6, 9), slice(6, 9), slice(1, 4))}
    a[boxes["C3"]] = (100 + np.arange(27)).reshape(3, 3, 3)
    a[boxes["C4"]] = 100
    a[1, 6, 1] = 370
    a[boxes["C5"]] = 90
    csf = np.full(27, 40.0)
    csf[:12] = 62.5
    a[boxes["CSF"]] = csf.reshape(3, 3, 3)
    img = make_image(a, SPACING)
    segs = []
    for name, b in boxes.items():
        m = np.zeros(a.shape, bool)
        m[b] = True
        segs.append(segment(name, m, img))
    return img, segs, a


def codes(result, level=None):
    return sorted(f.code for f in result.flags if level is None or f.level == level)


def test_exact_statistics_every_field():
    img, segs, _ = build()
    r = score_arrays(img, segs, ScoreOptions())
    c3 = r.level("C3")
    assert c3.n_voxels == 27
    assert c3.volume_mm3 == pytest.approx(27 * 1.2, abs=1e-12)
    assert c3.mean == 113.0
    assert c3.median == 113.0
    assert c3.sd == pytest.approx(math.sqrt(63.0), rel=1e-14)
    assert c3.p5 == pytest.approx(101.3, abs=1e-12)  # R type 7: 100 + 0.05 * 26
    assert c3.p95 == pytest.approx(124.7, abs=1e-12)
    assert (c3.min, c3.max) == (100.0, 126.0)
    assert c3.cv == pytest.approx(math.sqrt(63.0) / 113, rel=1e-14)
    c4 = r.level("C4")
    assert (c4.mean, c4.median, c4.min, c4.max) == (110.0, 100.0, 100.0, 370.0)
    assert c4.sd == pytest.approx(math.sqrt(270 ** 2 * (1 / 27) * (26 / 27) * 27 / 26), rel=1e-13)
    assert r.csf.mean == 50.0 and r.csf.median == 40.0 and r.csf.n_voxels == 27
    assert r.csf.sd == pytest.approx(math.sqrt(3375 / 26), rel=1e-14)
    assert (r.csf.min, r.csf.max, r.csf.p5, r.csf.p95) == (40.0, 62.5, 40.0, 62.5)
    assert r.level("C3").vbq == pytest.approx(113 / 50, rel=1e-15)
    assert r.level("C4").vbq == pytest.approx(110 / 50, rel=1e-15)
    assert r.level("C5").vbq == pytest.approx(90 / 50, rel=1e-15)
    # lu2024: mean of C2-C7 present (C3, C4, C5) / CSF mean
    assert r.overall["vbq"] == pytest.approx(313 / 3 / 50, rel=1e-15)
    assert r.overall["levels_used"] == ["C3", "C4", "C5"]
    assert r.overall["preset"] == "lu2024" and r.overall["aggregate"] == "mean"
    assert [f.level for f in r.flags if f.code == "MISSING_LEVEL"] == ["C2", "C6", "C7"]


def test_median_statistic_uses_medians_for_levels_and_csf():
    img, segs, _ = build()
    r = score_arrays(img, segs, ScoreOptions(stat="median"))
    assert r.level("C3").vbq == pytest.approx(113 / 40, rel=1e-15)
    assert r.level("C4").vbq == pytest.approx(100 / 40, rel=1e-15)
    assert r.overall["vbq"] == pytest.approx((113 + 100 + 90) / 3 / 40, rel=1e-15)
    assert r.overall["level_stat"] == "median"


def test_presets_and_custom_aggregation():
    img, segs, _ = build()
    r = score_arrays(img, segs, ScoreOptions(preset="soliman2023"))  # C3-C6, median of level means
    assert r.overall["vbq"] == pytest.approx(110 / 50, rel=1e-15)
    assert [f.level for f in r.flags if f.code == "MISSING_LEVEL"] == ["C6"]
    r = score_arrays(img, segs, ScoreOptions(preset="custom", levels="C3-C4", aggregate="median"))
    assert r.overall["vbq"] == pytest.approx(111.5 / 50, rel=1e-15)
    assert r.overall["levels"] == ["C3", "C4"] and "MISSING_LEVEL" not in codes(r)
    r = score_arrays(img, segs, ScoreOptions(levels="C4-C5"))  # override of lu2024 -> custom
    assert r.overall["preset"] == "custom" and r.overall["vbq"] == pytest.approx(100 / 50, rel=1e-15)
    # lumbar preset, cervical segmentation: no level of the preset present -> an error naming both (issue 16;
    # it was an overall VBQ of None with exit 0)
    with pytest.raises(VBQInputError, match=r"preset ehresman2020 \(L1, L2, L3, L4\) has a segment; segments "
                                            r"found: C3, C4, C5, CSF"):
        score_arrays(img, segs, ScoreOptions(preset="ehresman2020"))
    r = score_arrays(img, segs, ScoreOptions(preset="custom", levels="C4-C7"))  # some present: flags, as before
    assert [f.level for f in r.flags if f.code == "MISSING_LEVEL"] == ["C6", "C7"]


def test_require_all_levels_is_an_error():
    img, segs, _ = build()
    with pytest.raises(VBQInputError, match="missing C2, C6, C7"):
        score_arrays(img, segs, ScoreOptions(require_all_levels=True))
    r = score_arrays(img, segs, ScoreOptions(preset="custom", levels="C3-C5", require_all_levels=True))
    assert r.overall["vbq"] == pytest.approx(313 / 3 / 50)


def test_empty_level_is_flagged_and_excluded():
    img, segs, a = build()
    segs.append(segment("C6", np.zeros(a.shape, bool), img))
    r = score_arrays(img, segs, ScoreOptions())
    assert r.level("C6").n_voxels == 0 and r.level("C6").vbq is None and r.level("C6").mean is None
    assert "EMPTY_ROI" in codes(r, "C6") and "MISSING_LEVEL" not in codes(r, "C6")
    assert r.overall["levels_used"] == ["C3", "C4", "C5"]
    with pytest.raises(VBQInputError, match="empty C6"):
        score_arrays(img, segs, ScoreOptions(preset="custom", levels="C3-C6", require_all_levels=True))
    assert r.to_json()  # JSON-safe with nulls


def test_csf_errors():
    img, segs, a = build()
    with pytest.raises(VBQInputError, match="no CSF segment"):
        score_arrays(img, segs[:3], ScoreOptions())
    empty = segs[:3] + [segment("CSF", np.zeros(a.shape, bool), img)]
    with pytest.raises(VBQInputError, match="CSF segment 'CSF' has no voxels"):
        score_arrays(img, empty, ScoreOptions())
    zero = a.copy()
    zero[6:9, 6:9, 1:4] = 0
    with pytest.raises(VBQInputError, match="positive"):
        score_arrays(make_image(zero, SPACING), segs, ScoreOptions())


def test_several_csf_segments_choose_by_preset_reference():
    img, segs, a = build()
    m2 = np.zeros(a.shape, bool)
    m2[6:9, 11:14, 1:4] = True  # value 7 everywhere
    segs[3].name = "CSF at C2"
    segs.append(segment("csf_C5", m2, img))
    r = score_arrays(img, segs, ScoreOptions(preset="soliman2023"))  # reference C2
    assert r.csf.segment == "CSF at C2" and r.csf.location == "C2" and r.csf.mean == 50.0
    r = score_arrays(img, segs, ScoreOptions(preset="razzouk2022"))  # reference C5
    assert r.csf.segment == "csf_C5" and r.csf.mean == 7.0
    with pytest.raises(VBQInputError, match=r"2 CSF segments \('CSF at C2', 'csf_C5'\)"):
        score_arrays(img, segs, ScoreOptions(preset="lu2024"))
    # one CSF segment drawn elsewhere than the preset says: used, and flagged
    r = score_arrays(img, segs[:4], ScoreOptions(preset="lu2024"))
    assert codes(r, "CSF") == ["CSF_LOCATION"]


def test_unknown_and_duplicate_segments():
    img, segs, a = build()
    m = np.zeros(a.shape, bool)
    m[1:4, 16:19, 1:4] = True
    segs.append(segment("spinal cord", m, img))
    segs.append(segment("vertebrae_C3", m, img))  # second C3: ignored, flagged
    r = score_arrays(img, segs, ScoreOptions())
    assert "UNKNOWN_SEGMENT" in codes(r)
    assert codes(r, "C3") == ["DUPLICATE_LEVEL"]
    assert r.level("C3").segment == "C3" and r.level("C3").mean == 113.0


def test_quality_flags():
    img, segs, a = build()
    r = score_arrays(img, segs, ScoreOptions(min_voxels=28, max_cv=0.06, vbq_range=(1.9, 2.21)))
    assert codes(r, "C3") == ["HETEROGENEOUS_ROI", "TINY_ROI", "VBQ_OUT_OF_RANGE"]  # cv 0.0702, 2.26
    assert codes(r, "C4") == ["HETEROGENEOUS_ROI", "TINY_ROI"]  # cv of C4 = 51.96/110 = 0.47; VBQ 2.2 in range
    assert codes(r, "C5") == ["TINY_ROI", "VBQ_OUT_OF_RANGE"]  # 1.8
    assert "HETEROGENEOUS_ROI" in codes(r, "CSF")
    assert [f.level for f in r.flags if f.code == "VBQ_OUT_OF_RANGE"] == ["C3", "C5"]  # overall 2.087 in range
    r = score_arrays(img, segs, ScoreOptions())
    assert codes(r, "C3") == [] and codes(r, "CSF") == []  # defaults: nothing to say
    # CSF brighter than a level (T2-like): CSF_NOT_DARKER; ROI at the image border: ROI_AT_BORDER
    b = a.copy()
    b[1:4, 11:14, 1:4] = 45
    m = np.zeros(a.shape, bool)
    m[9:12, 20:23, 3:6] = True  # touches z = 11 and x = 5 (last slices)
    img2 = make_image(b, SPACING)
    r = score_arrays(img2, segs + [segment("C6", m, img2)], ScoreOptions())
    assert codes(r, "C5") == ["CSF_NOT_DARKER", "VBQ_OUT_OF_RANGE"]
    assert "ROI_AT_BORDER" in codes(r, "C6") and "ROI_AT_BORDER" not in codes(r, "C3")
    assert [f.level for f in r.flags if f.code == "VBQ_OUT_OF_RANGE"][-1] is None  # overall flagged too


def test_structuring_element_counts():
    assert structuring_element((1, 1, 1), 1.0).sum() == 7
    assert structuring_element((1, 1, 1), 1.5).sum() == 19  # corners at sqrt(3) excluded
    se = structuring_element((0.5, 0.5, 2.0), 1.0)  # radius 2, 2, 0 voxels: disc a^2 + b^2 <= 4
    assert se.shape == (1, 5, 5) and se.sum() == 13


def test_erosion_in_mm_with_anisotropic_voxels():
    # 0.5 x 0.5 x 2 mm voxels; a 10 x 10 x 3 (x, y, z) ROI whose outer 2-voxel ring is "cortex" (1000).
    a = np.zeros((5, 20, 20))
    a[1:4, 5:15, 5:15] = 1000.0
    a[1:4, 7:13, 7:13] = 100.0
    img = make_image(a, (0.5, 0.5, 2.0))
    roi = np.zeros(a.shape, bool)
    roi[1:4, 5:15, 5:15] = True
    csf = np.zeros(a.shape, bool)
    csf[0, 0:8, 0:8] = True  # one 2 mm slice: survives 1 mm erosion in-plane (4 x 4 left), not 2 mm
    a2 = a.copy()
    a2[0, 0:8, 0:8] = 50.0
    img = make_image(a2, (0.5, 0.5, 2.0))
    segs = [segment("C3", roi, img), segment("CSF", csf, img)]
    r0 = score_arrays(img, segs, ScoreOptions())
    assert r0.level("C3").n_voxels == 300 and r0.level("C3").mean == pytest.approx((108 * 100 + 192 * 1000) / 300)
    r1 = score_arrays(img, segs, ScoreOptions(erode_mm=1.0))  # 2 voxels in x/y, none in z (2 mm slices)
    c3 = r1.level("C3")
    assert (c3.n_voxels, c3.mean, c3.max) == (108, 100.0, 100.0)
    assert c3.volume_mm3 == pytest.approx(108 * 0.5)
    # the CSF ROI (4 x 4 x 1) erodes away entirely -> error
    assert r1.csf.n_voxels == 16
    with pytest.raises(VBQInputError, match="after erosion by 2 mm"):
        score_arrays(img, segs, ScoreOptions(erode_mm=2.0))


def test_mid_sagittal_slices_identity_direction():
    a = np.zeros((6, 6, 12))
    a[:, :, :] = (np.arange(12.0) ** 2)[None, None, :]  # value = x^2
    a[:, :, 0] = 5.0
    img = make_image(a)
    roi = np.zeros(a.shape, bool)
    roi[1:5, 1:5, 3:10] = True  # x = 3..9 (7 slices)
    csf = np.zeros(a.shape, bool)
    csf[:, :, 0] = True
    segs = [segment("C3", roi, img), segment("CSF", csf, img)]
    assert sagittal_axis(img) == 0
    assert score_arrays(img, segs, ScoreOptions()).level("C3").mean == pytest.approx(40.0)
    r = score_arrays(img, segs, ScoreOptions(mid_sagittal_slices=1))
    assert r.level("C3").mean == 36.0 and r.level("C3").n_voxels == 16
    r = score_arrays(img, segs, ScoreOptions(mid_sagittal_slices=3))
    assert r.level("C3").mean == pytest.approx(110 / 3) and r.level("C3").n_voxels == 48
    assert score_arrays(img, segs, ScoreOptions(mid_sagittal_slices=50)).level("C3").n_voxels == 112
    # even leftover: x = 3..8 (6 slices), N = 1 -> x = 5 (the extra slice goes to the high side)
    roi6 = np.zeros(a.shape, bool)
    roi6[1:5, 1:5, 3:9] = True
    r = score_arrays(img, [segment("C3", roi6, img), segs[1]], ScoreOptions(mid_sagittal_slices=1))
    assert r.level("C3").mean == 25.0


def test_mid_sagittal_axis_from_direction_cosines():
    # image axis 2 (k) runs patient left-right: direction columns i -> P, j -> S, k -> L
    direction = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], float)
    a = np.zeros((9, 5, 5))
    a[:] = (np.arange(9.0) * 10)[:, None, None]  # value = 10 * k
    a[0] = 1.0
    img = make_image(a, direction=direction)
    assert sagittal_axis(img) == 2
    roi = np.zeros(a.shape, bool)
    roi[2:7, 1:4, 1:4] = True  # k = 2..6
    csf = np.zeros(a.shape, bool)
    csf[0] = True
    r = score_arrays(img, [segment("C4", roi, img), segment("CSF", csf, img)], ScoreOptions(mid_sagittal_slices=1))
    assert r.level("C4").mean == 40.0 and r.level("C4").n_voxels == 9
    m = restrict_mid_slices(roi, 2, 3)
    assert m.sum() == 27 and m[3:6].all() is not None and m[3:6, 1:4, 1:4].all()


def test_options_validation():
    img, segs, _ = build()
    for bad in (dict(erode_mm=-1), dict(mid_sagittal_slices=0), dict(vbq_range=(5, 1)), dict(preset="nope"),
                dict(stat="mode"), dict(levels="C9-C3")):
        with pytest.raises(VBQInputError):
            score_arrays(img, segs, ScoreOptions(**bad))


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

from VBQScoreLib.measure import quantiles_type7, roi_stats  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.integers(1, 60), elements=st.floats(-1e6, 1e6, allow_nan=False)),
       st.lists(st.floats(0, 1), min_size=1, max_size=4))
def test_quantiles_and_median_equal_numpy_bit_for_bit(values, probs):
    assert quantiles_type7(values, probs) == [float(np.quantile(values, p)) for p in probs]
    s = roi_stats(values, 1.0)
    assert s["median"] == float(np.median(values))
    assert (s["p5"], s["p95"]) == tuple(float(v) for v in np.percentile(values, [5, 95]))


def test_progress_callback_reports_every_roi():
    img, segs, _ = build()
    calls = []
    score_arrays(img, segs, ScoreOptions(), progress=lambda d, t, m: calls.append((d, t)))
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
