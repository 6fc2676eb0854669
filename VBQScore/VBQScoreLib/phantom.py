"""A synthetic sagittal cervical T1 MRI with known ground truth, for tests, benchmarks and the demo.

:func:`make_phantom` draws C2 (with the dens) to C7 vertebral bodies (plus T1/T2 below, unlabelled) stacked
along the superior-inferior axis with a gentle lordosis, intervertebral discs, a thin dark cortical rim around
each body, posterior elements, the spinal cord in its CSF-filled canal, the brainstem, cerebellum and a
cisterna magna (the posterior-fossa CSF pocket above C1), an airway, muscle and subcutaneous fat. Every tissue
has one designed signal intensity (SI); noise (Gaussian or Rician, seeded) and an optional smooth
multiplicative bias field are added on top.

The ground-truth ROIs (the ``labelmap``) are the medullary (trabecular) part of each requested vertebral body,
eroded by one voxel so that no ROI voxel touches the cortical rim, and a CSF ROI in the cisterna magna (segment
name ``"CSF cisterna magna"``). ``truth`` holds the designed SIs and VBQs and the exact statistics of the
generated voxels inside each ROI (computed with numpy from the same array), so a correct measurement reproduces
``truth`` to rounding error.

Grid conventions. ``shape`` and ``spacing`` are given in numpy order of the returned array
``(sagittal slices, rows, columns)``: slices run along the patient's left-right axis, rows along
superior->inferior and columns along anterior->posterior (the default direction is the usual sagittal DICOM
orientation, ImageOrientationPatient ``0\\1\\0\\0\\0\\-1``). SimpleITK reports the same grid with reversed
order: ``image.GetSize() == shape[::-1]``, ``image.GetSpacing() == spacing[::-1]``.

    >>> ph = make_phantom(seed=1)
    >>> ph.truth["vbq"]["C3"], ph.truth["designed_vbq"]["C3"]      # measured vs designed
    >>> write_phantom(ph, "out/")                                    # NIfTI + labels + .seg.nrrd
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import VBQInputError
from .measuring.levels import CSF, parse_segment_name

# ---------------------------------------------------------------------------------------------------------------
# Designed intensities (arbitrary T1 units, roughly a 1.5 T spin-echo T1). Level defaults give cervical VBQs of
# 3.2 (C2) falling to 2.4 (C7) with CSF at 200, inside the published range 2.2-3.3.
DEFAULT_LEVEL_SI = {"C2": 640.0, "C3": 580.0, "C4": 560.0, "C5": 540.0, "C6": 510.0, "C7": 480.0,
                    "T1": 470.0, "T2": 460.0}
DEFAULT_CSF_SI = 200.0
DEFAULT_LEVELS = ("C2", "C3", "C4", "C5", "C6", "C7")
CSF_SEGMENT_NAME = "CSF cisterna magna"
TISSUE_SI = {"air": 0.0, "fat": 820.0, "muscle": 300.0, "cortex": 60.0, "disc": 270.0, "cord": 360.0,
             "brain": 430.0}

# Vertebrae drawn (top to bottom): body height (S-I), depth (A-P) and half-width (L-R), mm.
_VERTEBRAE = (
    ("C2", 17.0, 15.0, 9.0),
    ("C3", 13.0, 15.0, 8.5),
    ("C4", 13.0, 15.5, 9.0),
    ("C5", 13.5, 16.0, 9.5),
    ("C6", 14.0, 17.0, 10.0),
    ("C7", 14.5, 17.5, 11.0),
    ("T1", 16.0, 19.0, 12.0),
    ("T2", 17.0, 20.0, 12.5),
)
DRAWN_LEVELS = tuple(v[0] for v in _VERTEBRAE)
_DISC_MM = 5.5
_CORTEX_MM = 1.2
_C2_TOP = 56.0  # mm below the top of the 204.8 mm reference field of view
_FORAMEN_MAGNUM = 40.0
_BODY_U = 92.0  # A-P position (mm from the anterior edge of the reference FOV) of the body centres
_CANAL_OFFSET = 17.0  # canal centre, mm posterior of the body centre line
_REF_FOV = 204.8

# tissue class codes in the class map
_AIR, _FAT, _MUSCLE, _CORTEX, _DISC, _CORD, _CSF, _CSF_CM, _BRAIN, _POST, _DENS, _C1 = range(12)
_LEVEL_CLASS0 = 20  # marrow of vertebra n (index in _VERTEBRAE) has class 20 + n

_PRESET_NAMES = ("lu2024", "soliman2023", "razzouk2022", "ehresman2020")


@dataclass
class Phantom:
    """A generated phantom. ``image``/``labelmap`` are SimpleITK images on the same grid (LPS geometry)."""

    image: object  # SimpleITK.Image, 3-D scalar
    labelmap: object  # SimpleITK.Image, uint8, same grid; 0 = background
    labels: dict  # label value -> segment name ("C2".."C7", "CSF cisterna magna")
    truth: dict
    bias: Optional[np.ndarray] = field(default=None, repr=False)  # multiplicative field (numpy order) or None


# ---------------------------------------------------------------------------------------------------------------
def _lordosis_u(v, lordosis_mm):
    """A-P position of the vertebral body centre line at S-I position ``v`` (mm, reference frame)."""
    length = _C7_BOTTOM - _C2_TOP
    return _BODY_U - lordosis_mm * np.sin(np.pi * (np.asarray(v, dtype=float) - _C2_TOP) / length)


def _lordosis_slope(v, lordosis_mm):
    length = _C7_BOTTOM - _C2_TOP
    return -lordosis_mm * np.pi / length * np.cos(np.pi * (v - _C2_TOP) / length)


def _vertebra_layout():
    """(name, centre v, height, depth, half-width) top to bottom, discs of _DISC_MM between bodies."""
    out, v = [], _C2_TOP
    for name, h, d, w in _VERTEBRAE:
        out.append((name, v + h / 2.0, h, d, w))
        v += h + _DISC_MM
    return out


_LAYOUT = _vertebra_layout()
_C7_BOTTOM = [c + h / 2 for n, c, h, d, w in _LAYOUT if n == "C7"][0]


class _Canvas:
    """Tissue-class map with painting of implicit shapes inside bounding boxes (fast: never the whole grid)."""

    def __init__(self, shape, spacing):
        nk, nj, ni = shape
        sk, sj, si = spacing
        self.cls = np.full(shape, _AIR, dtype=np.uint8)
        self.x = (np.arange(nk) - (nk - 1) / 2.0) * sk  # L-R, mm from the centre slice
        self.v = np.arange(nj) * sj - nj * sj / 2.0 + _REF_FOV / 2.0  # S->I, reference frame
        self.u = np.arange(ni) * si - ni * si / 2.0 + _REF_FOV / 2.0  # A->P, reference frame

    @staticmethod
    def _range(coord, lo, hi):
        a = int(np.searchsorted(coord, lo, side="left"))
        b = int(np.searchsorted(coord, hi, side="right"))
        return slice(a, b)

    def paint(self, cls, box, fn):
        """Set class ``cls`` where ``fn(X, V, U)`` is true inside ``box = (u0, u1, v0, v1, x0, x1)`` (mm)."""
        u0, u1, v0, v1, x0, x1 = box
        sl = (self._range(self.x, x0, x1), self._range(self.v, v0, v1), self._range(self.u, u0, u1))
        if any(s.start >= s.stop for s in sl):
            return
        X = self.x[sl[0]][:, None, None]
        V = self.v[sl[1]][None, :, None]
        U = self.u[sl[2]][None, None, :]
        m = np.broadcast_to(fn(X, V, U), tuple(s.stop - s.start for s in sl))
        self.cls[sl][m] = cls

    def block(self, cls, uc, vc, theta, ra, rb, rx, x_min=None):
        """Rounded cylinder (vertebral body / disc / process): A-P radius ra, S-I radius rb, L-R radius rx,
        rotated in the sagittal plane by ``theta``; ``x_min``: only where |x| >= x_min (paired lateral parts)."""
        c, s = math.cos(theta), math.sin(theta)
        r = max(ra, rb) + 1.0

        def fn(X, V, U):
            a = (U - uc) * c - (V - vc) * s
            b = (U - uc) * s + (V - vc) * c
            r2 = (a / ra) ** 2 + (X / rx) ** 2
            inside = r2 * r2 + (b / rb) ** 8 <= 1.0
            if x_min is not None:
                inside = inside & (np.abs(X) >= x_min)
            return inside

        self.paint(cls, (uc - r, uc + r, vc - r, vc + r, -rx, rx), fn)

    def ellipsoid(self, cls, uc, vc, ru, rv, rx):
        self.paint(cls, (uc - ru, uc + ru, vc - rv, vc + rv, -rx, rx),
                   lambda X, V, U: ((U - uc) / ru) ** 2 + ((V - vc) / rv) ** 2 + (X / rx) ** 2 <= 1.0)

    def tube(self, cls, center_u, ru, rx, v0, v1):
        """Elliptic tube along S-I between v0 and v1; centre_u(V) and ru(V) may vary with V."""
        vv = self.v[(self.v >= v0) & (self.v <= v1)]
        if vv.size == 0:
            return
        cu, rr = center_u(vv), ru(vv)
        box = (float(np.min(cu - rr)) - 1, float(np.max(cu + rr)) + 1, v0, v1, -rx(vv).max(), rx(vv).max())

        def fn(X, V, U):
            return ((U - center_u(V)) / ru(V)) ** 2 + (X / rx(V)) ** 2 <= 1.0

        self.paint(cls, box, fn)


def _draw(shape, spacing, lordosis_mm):
    cv = _Canvas(shape, spacing)
    nk, nj, ni = shape
    lu = lambda v: _lordosis_u(v, lordosis_mm)  # noqa: E731
    canal_u = lambda v: lu(v) + _CANAL_OFFSET  # noqa: E731
    cc = float(canal_u(_FORAMEN_MAGNUM))

    # body outline (2-D in the sagittal plane, extruded along L-R): air / fat / muscle
    V, U = cv.v[:, None], cv.u[None, :]
    t_head = np.clip((V - 30.0) / 30.0, 0.0, 1.0)  # 0 in the head, 1 in the neck
    skin_a = 15.0 + t_head * 23.0
    skin_p = 196.0 - t_head * 8.0
    plane = np.full((nj, ni), _AIR, dtype=np.uint8)
    plane[(U >= skin_a) & (U <= skin_p)] = _FAT
    plane[(U >= skin_a + 5.0) & (U <= skin_p - 8.0)] = _MUSCLE
    cv.cls[:] = plane[None]

    # skull (posterior fossa shell), cerebellum / brain
    fossa_u, fossa_v = cc + 8.0, _FORAMEN_MAGNUM - 36.0
    cv.ellipsoid(_CORTEX, fossa_u, fossa_v, 36.0, 46.0, 80.0)
    cv.ellipsoid(_BRAIN, fossa_u, fossa_v, 30.0, 40.0, 74.0)

    # posterior elements: articular pillars (lateral), laminae and spinous processes, cortex then marrow
    for name, vc, h, d, w in _LAYOUT:
        th = math.atan(float(_lordosis_slope(vc, lordosis_mm)))
        cu = float(canal_u(vc))
        cv.block(_CORTEX, cu, vc, th, 7.0, h / 2.0, 23.0, x_min=12.5)
        cv.block(_POST, cu, vc, th, 7.0 - _CORTEX_MM, h / 2.0 - _CORTEX_MM, 23.0 - _CORTEX_MM, x_min=12.5 + _CORTEX_MM)
        length = {"C2": 30.0, "C6": 28.0, "C7": 34.0, "T1": 34.0, "T2": 34.0}.get(name, 22.0)
        ang = th + math.radians(25.0)  # spinous processes point posterior-inferior
        start = cu + 7.5
        su = start + 0.5 * length * math.cos(ang)
        sv = vc + 0.5 * length * math.sin(ang) - 2.0
        half_h = 5.0 if name == "C2" else 3.5
        # rotate so that the long axis runs along the process direction: block's "a" axis is A-P
        cv.block(_CORTEX, su, sv, -math.radians(25.0) + th, length / 2.0, half_h, 4.0)
        cv.block(_POST, su, sv, -math.radians(25.0) + th, length / 2.0 - _CORTEX_MM, half_h - _CORTEX_MM, 4.0 - _CORTEX_MM)
        cv.block(_CORTEX, cu + 8.0, vc - 1.0, th, 3.5, h / 2.0 - 1.0, 14.0)  # laminae behind the canal
        cv.block(_POST, cu + 8.0, vc - 1.0, th, 3.5 - _CORTEX_MM, h / 2.0 - 1.0 - _CORTEX_MM, 14.0 - _CORTEX_MM)

    # spinal canal (CSF), cisterna magna (CSF), spinal cord and brainstem
    one = lambda value: (lambda v: np.full(np.shape(v), value))  # noqa: E731
    cv.tube(_CSF, canal_u, one(7.5), one(11.0), _FORAMEN_MAGNUM - 4.0, 1e9)
    cv.ellipsoid(_CSF_CM, cc + 16.0, _FORAMEN_MAGNUM - 8.0, 9.0, 10.5, 18.0)
    grow = lambda v: np.clip(_FORAMEN_MAGNUM - v, 0.0, None)  # noqa: E731
    cord_ru = lambda v: np.minimum(4.0 + 0.2 * grow(v), 10.0)  # noqa: E731
    cord_rx = lambda v: np.minimum(6.5 + 0.25 * grow(v), 14.0)  # noqa: E731
    cord_u = lambda v: canal_u(v) - 0.5 * (cord_ru(v) - 4.0)  # noqa: E731
    cv.tube(_CORD, cord_u, cord_ru, cord_rx, -1e9, 1e9)

    # airway in front of the spine
    air_u = lambda v: lu(v) - 8.0 - 6.0 - 8.0  # noqa: E731
    cv.tube(_AIR, air_u, one(7.0), one(9.0), 10.0, 1e9)

    # discs, then bodies (cortex shell, then marrow), the dens and C1 arches
    for (n1, c1, h1, d1, w1), (n2, c2, h2, d2, w2) in zip(_LAYOUT[:-1], _LAYOUT[1:]):
        vm = (c1 + h1 / 2.0 + c2 - h2 / 2.0) / 2.0
        th = math.atan(float(_lordosis_slope(vm, lordosis_mm)))
        cv.block(_DISC, float(lu(vm)), vm, th, min(d1, d2) / 2.0 - 0.3, _DISC_MM / 2.0 + 0.8, min(w1, w2) - 0.3)
    for n, (name, vc, h, d, w) in enumerate(_LAYOUT):
        th = math.atan(float(_lordosis_slope(vc, lordosis_mm)))
        uc = float(lu(vc))
        cv.block(_CORTEX, uc, vc, th, d / 2.0, h / 2.0, w)
        cv.block(_LEVEL_CLASS0 + n, uc, vc, th, d / 2.0 - _CORTEX_MM, h / 2.0 - _CORTEX_MM, w - _CORTEX_MM)
    c2_top = _C2_TOP
    dens_v = c2_top - 7.0
    dens_u = float(lu(dens_v)) + 1.5
    cv.block(_CORTEX, dens_u, dens_v, 0.0, 5.0, 8.5, 5.0)
    cv.block(_DENS, dens_u, dens_v, 0.0, 5.0 - _CORTEX_MM, 8.5 - _CORTEX_MM, 5.0 - _CORTEX_MM)
    a1u = dens_u - 5.0 - 2.0 - 4.0  # C1 anterior arch, in front of the dens
    cv.block(_CORTEX, a1u, dens_v - 2.0, 0.0, 4.0, 5.5, 14.0)
    cv.block(_C1, a1u, dens_v - 2.0, 0.0, 4.0 - _CORTEX_MM, 5.5 - _CORTEX_MM, 14.0 - _CORTEX_MM)
    cv.block(_CORTEX, cc + 14.0, _FORAMEN_MAGNUM + 9.0, 0.0, 5.5, 4.5, 22.0)  # C1 posterior arch
    cv.block(_C1, cc + 14.0, _FORAMEN_MAGNUM + 9.0, 0.0, 5.5 - _CORTEX_MM, 4.5 - _CORTEX_MM, 22.0 - _CORTEX_MM)
    return cv


@functools.lru_cache(maxsize=4)
def _anatomy(shape, spacing, lordosis_mm, levels):
    """Tissue-class map, ROI labelmap and labels for a grid (read-only arrays; cached for cohorts of phantoms).

    ROIs: each requested marrow region (and the cisterna magna) eroded by one voxel (face neighbours), so no ROI
    voxel touches cortex, disc or the image border; the CSF ROI is also kept to |x| <= 4.5 mm (mid-sagittal).
    """
    from scipy import ndimage

    cv = _draw(shape, spacing, lordosis_mm)
    cls = cv.cls
    objects = ndimage.find_objects(cls)
    labelmap = np.zeros(shape, dtype=np.uint8)
    labels: dict[int, str] = {}
    cross = ndimage.generate_binary_structure(3, 1)
    roi_classes = [(_LEVEL_CLASS0 + DRAWN_LEVELS.index(lv), lv) for lv in levels] + [(_CSF_CM, CSF_SEGMENT_NAME)]
    for value, (c, name) in enumerate(roi_classes, start=1):
        sl = objects[c - 1] if c - 1 < len(objects) else None
        if sl is None:
            raise VBQInputError(f"phantom: {name} lies outside the field of view (shape {shape}, spacing {spacing})")
        if sl[1].start == 0 or sl[2].start == 0 or sl[1].stop == shape[1] or sl[2].stop == shape[2]:
            raise VBQInputError(f"phantom: {name} is cut by the edge of the field of view (shape {shape}, "
                                f"spacing {spacing}); enlarge the field of view or leave that level out")
        region = ndimage.binary_erosion(cls[sl] == c, structure=cross, border_value=0)
        if c == _CSF_CM:
            region &= (np.abs(cv.x[sl[0]]) <= 4.5 + 1e-9)[:, None, None]
        # a region cut by the image border must not touch it
        for ax in range(3):
            if sl[ax].start == 0:
                region[(slice(None),) * ax + (0,)] = False
            if sl[ax].stop == shape[ax]:
                region[(slice(None),) * ax + (-1,)] = False
        if not region.any():
            raise VBQInputError(f"phantom: the {name} ROI is empty (shape {shape}, spacing {spacing} too small)")
        labelmap[sl][region] = value
        labels[value] = name
    cls.setflags(write=False)
    labelmap.setflags(write=False)
    return cls, labelmap, tuple(labels.items())


def _bias_field(shape, strength):
    """Smooth multiplicative field exp(strength * (u' + 0.5 v'^2 - 0.5 x'^2 + 0.3 u' v')), u', v', x' in [-1, 1]
    along columns (A->P), rows (S->I) and slices (L-R): brighter posteriorly, as with a posterior surface coil."""
    nk, nj, ni = shape
    lin = lambda n: np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1)  # noqa: E731
    x = lin(nk)[:, None, None]
    v = lin(nj)[None, :, None]
    u = lin(ni)[None, None, :]
    return np.exp(strength * (u + 0.5 * v ** 2 - 0.5 * x ** 2 + 0.3 * u * v))


def roi_statistics(values: np.ndarray, voxel_volume_mm3: float) -> dict:
    """Exact statistics of ROI voxel values (the fields of ``vbq score --json`` levels)."""
    vals = np.asarray(values, dtype=np.float64).ravel()
    n = int(vals.size)
    if n == 0:
        return {"n_voxels": 0, "volume_mm3": 0.0, "mean": None, "median": None, "sd": None, "p5": None,
                "p95": None, "min": None, "max": None, "cv": None}
    mean = float(np.mean(vals))
    sd = float(np.std(vals, ddof=1)) if n > 1 else None
    p5, p95 = (float(p) for p in np.percentile(vals, [5.0, 95.0]))
    return {"n_voxels": n, "volume_mm3": n * float(voxel_volume_mm3), "mean": mean, "median": float(np.median(vals)),
            "sd": sd, "p5": p5, "p95": p95, "min": float(vals.min()), "max": float(vals.max()),
            "cv": (sd / mean) if (sd is not None and mean != 0) else None}


def _overall(level_values: dict, csf: float) -> dict:
    from .measuring.presets import PRESETS

    out = {}
    for name in _PRESET_NAMES:
        p = PRESETS[name]
        vals = [level_values[lv] for lv in p.levels if lv in level_values]
        if not vals:
            out[name] = None
            continue
        agg = float(np.mean(vals)) if p.aggregate == "mean" else float(np.median(vals))
        out[name] = agg / csf
    return out


def level_si_from_vbq(vbq, csf_si: float = DEFAULT_CSF_SI, levels=DEFAULT_LEVELS) -> dict:
    """Designed marrow SIs that give the wanted VBQs: the cheap per-patient knob for cohorts of phantoms.

    ``vbq``: a dict level -> VBQ (SI = VBQ x CSF SI), or one number: the default level profile (C2 highest, C7
    lowest) scaled so that the mean VBQ over ``levels`` (the lu2024 overall VBQ for C2-C7) equals it.

    >>> make_phantom(level_si=level_si_from_vbq(2.6, csf_si=180), csf_si=180, seed=patient_id)
    """
    csf_si = _positive("CSF SI", csf_si)
    if isinstance(vbq, dict):
        return {lv: _positive(f"VBQ of {lv}", v) * csf_si for lv, v in vbq.items()}
    target = _positive("VBQ", vbq)
    levels = tuple(levels)
    bad = [lv for lv in levels if lv not in DEFAULT_LEVEL_SI]
    if not levels or bad:
        raise VBQInputError(f"phantom: level {bad[0] if bad else '(none)'} is not drawn")
    profile = np.array([DEFAULT_LEVEL_SI[lv] for lv in levels]) / DEFAULT_CSF_SI
    scale = target / float(np.mean(profile))
    return {lv: float(p * scale * csf_si) for lv, p in zip(levels, profile)}


def _default_direction():
    # columns: i (columns) -> posterior, j (rows) -> inferior, k (slices) -> right; right-handed (det = +1)
    return (0.0, 0.0, -1.0,
            1.0, 0.0, 0.0,
            0.0, -1.0, 0.0)


def _positive(name, value):
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise VBQInputError(f"phantom: {name} {value!r} is not a number") from None
    if not math.isfinite(f) or f <= 0:
        raise VBQInputError(f"phantom: {name} {value!r} must be a finite number > 0")
    return f


def make_phantom(
    *,
    levels=DEFAULT_LEVELS,
    level_si: Optional[dict] = None,
    csf_si: float = DEFAULT_CSF_SI,
    shape=(15, 256, 256),
    spacing=(3.0, 0.8, 0.8),
    noise_sd: float = 10.0,
    noise: str = "rician",
    bias_field=False,
    seed: int = 0,
    origin=None,
    direction=None,
    dtype="int16",
    lordosis_mm: float = 7.0,
) -> Phantom:
    """Build a synthetic sagittal cervical T1 with ground-truth ROIs (see the module docstring).

    - ``levels``: labelled levels (any of C2-C7, T1, T2; all are drawn); ``level_si``: designed marrow SI per
      level (missing levels take :data:`DEFAULT_LEVEL_SI`); ``csf_si``: designed CSF SI.
    - ``shape``/``spacing``: numpy order (L-R slices, S-I rows, A-P columns), spacing in mm.
    - ``noise``: ``"rician"`` (magnitude image) or ``"gaussian"``; ``noise_sd``: SD of each noise channel
      (0 = noise-free); ``seed``: the random seed (same seed, same image).
    - ``bias_field``: ``False``, ``True`` (strength 0.3) or a float strength of the multiplicative field
      returned in ``Phantom.bias`` (applied before noise).
    - ``origin``/``direction``: SimpleITK geometry (LPS); default direction is the usual sagittal orientation and
      the default origin puts the centre of the field of view at LPS (0, 0, 0).
    - ``dtype``: pixel type of the image (``"int16"`` like scanners and DICOM, values rounded; or ``"float32"``,
      ``"float64"``). Truth statistics are computed from the stored array either way; a noise-free phantom
      without bias field has ROI means exactly equal to the designed SIs with ``float64`` (or ``int16`` and
      whole-number SIs).
    """
    import SimpleITK as sitk
    from scipy import ndimage

    # ---- validate
    if isinstance(levels, str):
        from .measuring.levels import parse_level_list

        levels = parse_level_list(levels)
    levels = tuple(levels)
    if not levels:
        raise VBQInputError("phantom: no levels requested")
    bad = [lv for lv in levels if lv not in DRAWN_LEVELS]
    if bad:
        raise VBQInputError(f"phantom: level {bad[0]} is not drawn (choose from {', '.join(DRAWN_LEVELS)})")
    if len(set(levels)) != len(levels):
        raise VBQInputError("phantom: levels repeat")
    level_si = dict(level_si or {})
    unknown = [k for k in level_si if k not in DRAWN_LEVELS]
    if unknown:
        raise VBQInputError(f"phantom: level_si names {unknown[0]}, which is not a drawn level")
    si_all = {lv: _positive(f"SI of {lv}", level_si.get(lv, DEFAULT_LEVEL_SI[lv])) for lv in DRAWN_LEVELS}
    csf_si = _positive("CSF SI", csf_si)
    try:
        shape = tuple(int(s) for s in shape)
        spacing = tuple(float(s) for s in spacing)
    except (TypeError, ValueError):
        raise VBQInputError(f"phantom: shape {shape!r} / spacing {spacing!r} must be 3 numbers each") from None
    if len(shape) != 3 or len(spacing) != 3 or min(shape) < 1 or not all(math.isfinite(s) and s > 0 for s in spacing):
        raise VBQInputError(f"phantom: shape {shape} and spacing {spacing} must be 3 positive numbers each")
    noise_sd = float(noise_sd)
    if not math.isfinite(noise_sd) or noise_sd < 0:
        raise VBQInputError(f"phantom: noise_sd {noise_sd} must be >= 0")
    if noise not in ("rician", "gaussian"):
        raise VBQInputError(f"phantom: noise '{noise}' must be 'rician' or 'gaussian'")
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype("int16"), np.dtype("float32"), np.dtype("float64")):
        raise VBQInputError(f"phantom: dtype {dtype} must be int16, float32 or float64")
    strength = 0.0
    if bias_field is True:
        strength = 0.3
    elif bias_field not in (False, None):
        try:
            strength = float(bias_field)
        except (TypeError, ValueError):
            raise VBQInputError(f"phantom: bias_field {bias_field!r} must be True/False or a number") from None
        if not math.isfinite(strength):
            raise VBQInputError(f"phantom: bias_field {bias_field!r} must be finite")

    # ---- anatomy (tissue classes, ground-truth ROIs; cached: it depends only on the grid) and designed SI
    cls, labelmap, labels = _anatomy(shape, spacing, float(lordosis_mm), levels)
    labels = dict(labels)
    lut = np.zeros(256, dtype=np.float64)
    lut[_AIR] = TISSUE_SI["air"]
    lut[_FAT] = TISSUE_SI["fat"]
    lut[_MUSCLE] = TISSUE_SI["muscle"]
    lut[_CORTEX] = TISSUE_SI["cortex"]
    lut[_DISC] = TISSUE_SI["disc"]
    lut[_CORD] = TISSUE_SI["cord"]
    lut[_BRAIN] = TISSUE_SI["brain"]
    lut[_CSF] = lut[_CSF_CM] = csf_si
    lut[_POST] = 0.9 * float(np.mean([si_all[lv] for lv in levels]))
    lut[_DENS] = lut[_C1] = si_all["C2"]
    for n, lv in enumerate(DRAWN_LEVELS):
        lut[_LEVEL_CLASS0 + n] = si_all[lv]

    # ---- intensities: designed SI x bias field + noise
    work = np.float64 if dtype == np.dtype("float64") else np.float32  # float32 is plenty for int16 output
    clean = lut.astype(work)[cls]
    bias = None
    if strength:
        bias = _bias_field(shape, strength)
        clean = (clean * bias).astype(work)
    if noise_sd > 0:
        rng = np.random.default_rng(seed)
        n1 = rng.standard_normal(shape, dtype=work)
        n1 *= work(noise_sd)
        if noise == "gaussian":
            data = clean + n1
        else:
            n2 = rng.standard_normal(shape, dtype=work)
            n2 *= work(noise_sd)
            n1 += clean
            data = np.hypot(n1, n2)
    else:
        data = clean
    if dtype == np.dtype("int16"):
        data = np.clip(np.rint(data), -32768, 32767).astype(np.int16)
    else:
        data = data.astype(dtype)

    # ---- SimpleITK images
    image = sitk.GetImageFromArray(data)
    image.SetSpacing(spacing[::-1])
    if direction is None:
        direction = _default_direction()
    direction = tuple(float(d) for d in direction)
    if len(direction) != 9:
        raise VBQInputError("phantom: direction must have 9 numbers (SimpleITK row-major 3x3)")
    image.SetDirection(direction)
    if origin is None:
        centre_index = [(n - 1) / 2.0 for n in shape[::-1]]
        d = np.array(direction).reshape(3, 3)
        origin = tuple(-(d @ (np.array(centre_index) * np.array(spacing[::-1]))))
    origin = tuple(float(o) for o in origin)
    if len(origin) != 3:
        raise VBQInputError("phantom: origin must have 3 numbers")
    image.SetOrigin(origin)
    lm = sitk.GetImageFromArray(labelmap)
    lm.CopyInformation(image)

    # ---- truth
    voxel_volume = float(np.prod(spacing))
    stats = {}
    label_boxes = ndimage.find_objects(labelmap)
    for value, name in labels.items():
        key = parse_segment_name(name).level
        sl = label_boxes[value - 1]
        vals = data[sl][labelmap[sl] == value]
        stats[key] = {"segment": name, "label_value": value, **roi_statistics(vals, voxel_volume)}
    csf_stats = stats[CSF]
    designed_level = {lv: si_all[lv] for lv in levels}
    truth = {
        "levels": list(levels),
        "csf_segment": CSF_SEGMENT_NAME,
        "csf_location": "cisterna magna",
        "designed_si": {**designed_level, CSF: csf_si},
        "designed_vbq": {lv: designed_level[lv] / csf_si for lv in levels},
        "designed_overall_vbq": _overall(designed_level, csf_si),
        "roi_stats": stats,
        "vbq": {lv: stats[lv]["mean"] / csf_stats["mean"] for lv in levels},
        "vbq_median": {lv: stats[lv]["median"] / csf_stats["median"] for lv in levels},
        "overall_vbq": _overall({lv: stats[lv]["mean"] for lv in levels}, csf_stats["mean"]),
        "overall_vbq_median": _overall({lv: stats[lv]["median"] for lv in levels}, csf_stats["median"]),
        "noise": {"kind": noise, "sd": noise_sd, "seed": int(seed)},
        "bias_field": {"strength": strength,
                       "formula": "exp(strength*(u + 0.5*v**2 - 0.5*x**2 + 0.3*u*v)), u,v,x in [-1,1] "
                                  "along columns (A->P), rows (S->I), slices (L-R)"} if strength else None,
        "tissue_si": dict(TISSUE_SI),
        "dtype": str(dtype),
    }
    return Phantom(image=image, labelmap=lm, labels=labels, truth=truth, bias=bias)


# ---------------------------------------------------------------------------------------------------------------
# Colours (RGB 0-1) for the segments in .seg.nrrd files: levels shade from warm to cool, CSF blue.
_LEVEL_COLORS = {"C2": (0.90, 0.30, 0.25), "C3": (0.95, 0.55, 0.20), "C4": (0.95, 0.80, 0.25),
                 "C5": (0.55, 0.80, 0.30), "C6": (0.25, 0.70, 0.55), "C7": (0.35, 0.55, 0.85),
                 "T1": (0.60, 0.45, 0.80), "T2": (0.80, 0.45, 0.70)}
_CSF_COLOR = (0.30, 0.60, 1.00)


def labels_text(labels: dict) -> str:
    """The labels file: one ``VALUE=NAME`` line per label, in label order."""
    return "".join(f"{v}={labels[v]}\n" for v in sorted(labels))


def segmentation_dict(labelmap, labels: dict) -> dict:
    """A slicerio segmentation (cropped to the segments' bounding box, like Slicer writes) for a labelmap."""
    import SimpleITK as sitk

    arr = sitk.GetArrayViewFromImage(labelmap)  # (k, j, i)
    nz = np.nonzero(arr)
    if nz[0].size == 0:
        raise VBQInputError("phantom: the labelmap is empty")
    lo = [int(a.min()) for a in nz][::-1]  # i, j, k
    hi = [int(a.max()) for a in nz][::-1]
    crop = arr[lo[2]:hi[2] + 1, lo[1]:hi[1] + 1, lo[0]:hi[0] + 1]
    voxels = np.ascontiguousarray(crop.transpose(2, 1, 0))  # (i, j, k), written in Fortran order by slicerio
    d = np.array(labelmap.GetDirection()).reshape(3, 3) * np.array(labelmap.GetSpacing())[None, :]
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, :3] = d
    ijk_to_lps[:3, 3] = labelmap.TransformIndexToPhysicalPoint(tuple(lo))
    seg = {"voxels": voxels.astype(np.uint8), "ijkToLPS": ijk_to_lps,
           "referenceImageExtentOffset": lo,
           "containedRepresentationNames": ["Binary labelmap"],
           "masterRepresentation": "Binary labelmap", "segments": []}
    for value in sorted(labels):
        name = labels[value]
        m = voxels == value
        if m.any():
            idx = np.nonzero(m)
            extent = [int(v) for axis in idx for v in (axis.min(), axis.max())]
        else:
            extent = [0, -1, 0, -1, 0, -1]
        parsed = parse_segment_name(name)
        color = _CSF_COLOR if parsed is not None and parsed.level == CSF else \
            _LEVEL_COLORS.get(parsed.level if parsed else "", (0.7, 0.7, 0.7))
        seg["segments"].append({"id": f"Segment_{value}", "name": name, "labelValue": int(value), "layer": 0,
                                "color": list(color), "extent": extent, "nameAutoGenerated": False,
                                "colorAutoGenerated": False})
    return seg


def write_phantom(phantom: Phantom, out_dir, *, basename: str = "phantom",
                  formats=("nifti", "seg.nrrd", "labels")) -> dict:
    """Write a phantom into ``out_dir`` (created with its parents if missing; other files there are left alone),
    atomically.

    Returns a dict of the paths written:
    ``image`` (``BASENAME.nii.gz``), ``labelmap`` (``BASENAME_labels.nii.gz``), ``labels``
    (``BASENAME_labels.txt``, lines ``1=C2``), ``seg_nrrd`` (``BASENAME.seg.nrrd``, a Slicer segmentation
    written by slicerio, cropped to the segments with ``Segmentation_ReferenceImageExtentOffset``),
    ``truth`` (``BASENAME_truth.json``).
    """
    import json

    import SimpleITK as sitk
    import slicerio

    from .atomic import atomic_directory

    formats = tuple(formats)
    unknown = [f for f in formats if f not in ("nifti", "seg.nrrd", "labels")]
    if unknown:
        raise VBQInputError(f"phantom: unknown output format '{unknown[0]}' (nifti, seg.nrrd, labels)")
    out_dir = Path(out_dir)
    names = {"image": f"{basename}.nii.gz", "labelmap": f"{basename}_labels.nii.gz",
             "labels": f"{basename}_labels.txt", "seg_nrrd": f"{basename}.seg.nrrd",
             "truth": f"{basename}_truth.json"}
    written: dict = {}
    seg = segmentation_dict(phantom.labelmap, phantom.labels) if "seg.nrrd" in formats else None
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with atomic_directory(out_dir) as tmp:
        tmp = Path(tmp)
        if "nifti" in formats:
            sitk.WriteImage(phantom.image, str(tmp / names["image"]), True, 1)
            sitk.WriteImage(phantom.labelmap, str(tmp / names["labelmap"]), True, 1)
            written["image"] = names["image"]
            written["labelmap"] = names["labelmap"]
        if "labels" in formats:
            (tmp / names["labels"]).write_text(labels_text(phantom.labels), encoding="utf-8")
            written["labels"] = names["labels"]
        if seg is not None:
            slicerio.write_segmentation(str(tmp / names["seg_nrrd"]), seg, compression_level=1)
            written["seg_nrrd"] = names["seg_nrrd"]
        (tmp / names["truth"]).write_text(json.dumps(phantom.truth, indent=1, allow_nan=False), encoding="utf-8")
        written["truth"] = names["truth"]
    return {k: out_dir / v for k, v in written.items()}


# ---------------------------------------------------------------------------------------------------------------
# DICOM
_DICOM_KEYWORDS = {
    "Manufacturer": "0008|0070", "ManufacturerModelName": "0008|1090", "MagneticFieldStrength": "0018|0087",
    "RepetitionTime": "0018|0080", "EchoTime": "0018|0081", "InversionTime": "0018|0082",
    "PixelBandwidth": "0018|0095", "SliceThickness": "0018|0050", "ScanOptions": "0018|0022",
    "ScanningSequence": "0018|0020", "SequenceVariant": "0018|0021", "SequenceName": "0018|0024",
    "ContrastBolusAgent": "0018|0010", "SeriesDescription": "0008|103e", "Modality": "0008|0060",
    "PatientID": "0010|0020", "PatientName": "0010|0010", "StudyInstanceUID": "0020|000d",
    "SeriesInstanceUID": "0020|000e", "StudyDescription": "0008|1030", "SeriesNumber": "0020|0011",
}
DEFAULT_DICOM_TAGS = {
    "Manufacturer": "SlicerVBQ phantom",
    "ManufacturerModelName": "synthetic",
    "MagneticFieldStrength": "1.5",
    "RepetitionTime": "500",
    "EchoTime": "10",
    "PixelBandwidth": "200",
    "ScanningSequence": "SE",
    "SequenceVariant": "SK",
    "SeriesDescription": "T1 SAG phantom",
    "Modality": "MR",
    "PatientID": "PHANTOM",
    "PatientName": "Phantom^VBQ",
    "SeriesNumber": "1",
}


def _uid() -> str:
    import uuid

    return f"2.25.{uuid.uuid4().int}"


def _dicom_number(x: float) -> str:
    """A DICOM decimal string (at most 16 characters)."""
    s = f"{x:.10g}"
    if len(s) > 16:
        s = f"{x:.6g}"
    return s


def write_dicom_series(image, out_dir, *, tags: Optional[dict] = None) -> list:
    """Write a 3-D image as a DICOM series (one int16 file per slice along the third index axis).

    ``tags``: DICOM keywords (``MagneticFieldStrength``, ``RepetitionTime``, ``EchoTime``, ``PixelBandwidth``,
    ``SliceThickness``, ``ScanOptions`` (e.g. ``"FS"`` to simulate fat saturation), ``ContrastBolusAgent``,
    ``SeriesDescription``, ``Manufacturer``, ...) or ``"gggg|eeee"`` tags, merged over
    :data:`DEFAULT_DICOM_TAGS`; a value of ``None`` leaves that tag out. SliceThickness defaults to the slice
    spacing. The direction must be right-handed (DICOM derives the slice normal from ImageOrientationPatient).
    Files are ``slice_0000.dcm``...; the folder is written atomically. Returns the list of paths.
    """
    import SimpleITK as sitk

    from .atomic import atomic_directory

    if image.GetDimension() != 3:
        raise VBQInputError("write_dicom_series: image must be 3-D")
    d = np.array(image.GetDirection()).reshape(3, 3)
    if np.linalg.det(d) < 0:
        raise VBQInputError("write_dicom_series: the image direction is left-handed; DICOM cannot represent it")
    arr = sitk.GetArrayFromImage(image)
    if arr.dtype != np.int16:
        arr = np.clip(np.rint(arr), -32768, 32767).astype(np.int16)
    img = sitk.GetImageFromArray(arr)
    img.CopyInformation(image)

    merged = dict(DEFAULT_DICOM_TAGS)
    merged["SliceThickness"] = _dicom_number(image.GetSpacing()[2])
    merged.update(tags or {})
    tag_values = {}
    for key, value in merged.items():
        tag = _DICOM_KEYWORDS.get(key, key)
        if "|" not in tag:
            raise VBQInputError(f"write_dicom_series: unknown DICOM keyword '{key}' (use 'gggg|eeee')")
        if value is None:
            tag_values.pop(tag.lower(), None)
            continue
        tag_values[tag.lower()] = str(value)
    tag_values.setdefault("0020|000d", _uid())
    tag_values.setdefault("0020|000e", _uid())
    frame_of_reference = _uid()
    import time

    now = time.gmtime()
    date, clock = time.strftime("%Y%m%d", now), time.strftime("%H%M%S", now)
    iop = "\\".join(_dicom_number(v) for v in (d[0, 0], d[1, 0], d[2, 0], d[0, 1], d[1, 1], d[2, 1]))

    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    paths = []
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with atomic_directory(out_dir) as tmp:
        for k in range(img.GetDepth()):
            sl = img[:, :, k]
            for tag, value in tag_values.items():
                sl.SetMetaData(tag, value)
            sl.SetMetaData("0008|0008", "DERIVED\\SECONDARY")
            sl.SetMetaData("0008|0016", "1.2.840.10008.5.1.4.1.1.4")  # MR Image Storage
            sl.SetMetaData("0008|0018", _uid())
            sl.SetMetaData("0020|0052", frame_of_reference)
            sl.SetMetaData("0008|0020", date)
            sl.SetMetaData("0008|0021", date)
            sl.SetMetaData("0008|0030", clock)
            sl.SetMetaData("0008|0031", clock)
            sl.SetMetaData("0020|0037", iop)
            pos = img.TransformIndexToPhysicalPoint((0, 0, k))
            sl.SetMetaData("0020|0032", "\\".join(_dicom_number(p) for p in pos))
            sl.SetMetaData("0020|0013", str(k + 1))
            name = f"slice_{k:04d}.dcm"
            writer.SetFileName(os.path.join(str(tmp), name))
            writer.Execute(sl)
            paths.append(out_dir / name)
    return paths
