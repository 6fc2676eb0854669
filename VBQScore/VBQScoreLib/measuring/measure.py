"""ROI intensity statistics on the image grid, with erosion (mm) and mid-sagittal slice restriction.

Definitions (stated in every result's provenance):
- mean: arithmetic mean of the voxel values (float64); median: exact (not histogram-binned, unlike Slicer's
  SegmentStatistics); sd: sample standard deviation (ddof=1, like R's ``sd()``); p5/p95: numpy's default
  ``linear`` percentile, which is R's ``quantile(type=7)``; cv = sd / mean.
- erosion by ``erode_mm``: a voxel is kept only when every voxel whose centre lies within ``erode_mm`` (physical
  distance between centres) is in the ROI: binary erosion with an ellipsoidal structuring element whose per-axis
  radius is ``floor(erode_mm / spacing)`` voxels; voxels outside the image count as outside the ROI.
- mid-sagittal slices: the sagittal axis is the image axis most aligned with patient left-right (from the
  direction cosines); of the ROI's extent along it (first to last slice holding ROI voxels), the N central
  slices are kept (for an odd leftover, the extra slice is dropped from the high-index side). Erosion comes first.
"""

from __future__ import annotations

import numpy as np

PERCENTILE_METHOD = "linear (numpy default; R quantile type 7)"


def sagittal_axis(image) -> int:
    """Image index axis (0=x/i, 1=y/j, 2=z/k) whose direction is most aligned with patient left-right."""
    d = np.asarray(image.GetDirection(), float).reshape(3, 3)
    return int(np.argmax(np.abs(d[0, :])))  # row 0 = L-R (LPS x) component of each axis' direction


def structuring_element(spacing_xyz, erode_mm: float) -> np.ndarray:
    """Ellipsoidal element (numpy order z, y, x): offsets whose physical length is <= erode_mm."""
    s = np.asarray(spacing_xyz, float)[::-1]  # z, y, x
    r = np.floor(erode_mm / s + 1e-9).astype(int)
    grids = np.meshgrid(*[np.arange(-ri, ri + 1) * si for ri, si in zip(r, s)], indexing="ij")
    dist2 = sum(g * g for g in grids)
    return dist2 <= erode_mm * erode_mm * (1 + 1e-9)


def erode(mask: np.ndarray, spacing_xyz, erode_mm: float) -> np.ndarray:
    if not erode_mm or not mask.any():
        return mask
    se = structuring_element(spacing_xyz, erode_mm)
    if se.size == 1:
        return mask
    from scipy import ndimage

    return ndimage.binary_erosion(mask, structure=se, border_value=0)


def restrict_mid_slices(mask: np.ndarray, axis_xyz: int, n: int | None) -> np.ndarray:
    """Keep the ``n`` central slices (along image axis ``axis_xyz``) of the ROI's extent."""
    if n is None or not mask.any():
        return mask
    ax = 2 - axis_xyz
    others = tuple(a for a in range(3) if a != ax)
    idx = np.flatnonzero(mask.any(axis=others))
    first, last = int(idx[0]), int(idx[-1])
    extent = last - first + 1
    if n >= extent:
        return mask
    s = first + (extent - n) // 2
    keep = np.zeros(mask.shape[ax], bool)
    keep[s:s + n] = True
    shape = [1, 1, 1]
    shape[ax] = -1
    return mask & keep.reshape(shape)


def touches_border(start, mask: np.ndarray, image_size) -> bool:
    """True when the ROI has a voxel on the first or last slice of the image along an axis longer than 1."""
    if not mask.any():
        return False
    for a in range(3):  # image axis x, y, z; numpy axis 2 - a
        size = int(image_size[a])
        if size <= 1:
            continue
        ax = 2 - a
        for pos in (0, size - 1):
            local = pos - int(start[a])
            if 0 <= local < mask.shape[ax] and np.take(mask, local, axis=ax).any():
                return True
    return False


def roi_values(image_array: np.ndarray, start, mask: np.ndarray) -> np.ndarray:
    """Voxel values (float64) of the image (numpy z, y, x array) under a cropped mask at image index ``start``."""
    x0, y0, z0 = (int(v) for v in start)
    sz, sy, sx = mask.shape
    block = image_array[z0:z0 + sz, y0:y0 + sy, x0:x0 + sx]
    return np.asarray(block[mask], dtype=np.float64)


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's linear interpolation (``numpy.lib._function_base_impl._lerp``), bit for bit."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def quantiles_type7(values: np.ndarray, probs) -> list[float]:
    """R type-7 (= numpy ``linear``) quantiles from one ``np.partition`` pass.

    Equal, bit for bit, to ``np.percentile(values, 100 * p)`` (tested); written out because numpy's
    percentile also runs ``np.unique`` and imports ``numpy.ma`` on first use, which cost more than the whole
    measurement in a one-shot ``vbq score`` process.
    """
    n = values.size
    pos = []
    for p in probs:
        h = p * (n - 1)
        lo = int(np.floor(h))
        pos.append((lo, min(lo + 1, n - 1), h - lo))
    kth = sorted({k for lo, hi, _ in pos for k in (lo, hi)})
    part = np.partition(values, kth)
    return [float(part[lo]) if t == 0 else float(_lerp(part[lo], part[hi], t)) for lo, hi, t in pos]


def mean_sd(values: np.ndarray) -> tuple:
    """``(mean, sample SD)`` of float64 ``values`` (SD ``None`` for one value), bit for bit
    ``np.mean(values)`` and ``np.std(values, ddof=1)`` (tested): numpy's own steps (pairwise sum / n; squared
    deviations from that mean, pairwise sum / (n - 1), square root), the mean computed once for both."""
    n = values.size
    mean = np.add.reduce(values) / n
    if n < 2:
        return float(mean), None
    dev = np.subtract(values, mean)
    np.square(dev, out=dev)
    return float(mean), float(np.sqrt(np.add.reduce(dev) / (n - 1)))


def roi_stats(values: np.ndarray, voxel_volume_mm3: float) -> dict:
    """n_voxels, volume_mm3, mean, median, sd, p5, p95, min, max, cv of the voxel values (None when undefined).

    One ``np.partition`` call places every order statistic needed (min, max, the median's one or two, and the
    two neighbours of each of p5 and p95); median (as ``np.median``), p5/p95 (as ``np.percentile``, see
    :func:`quantiles_type7`), min and max are read from it, bit for bit equal to the numpy functions."""
    n = int(values.size)
    out = {"n_voxels": n, "volume_mm3": float(n * voxel_volume_mm3), "mean": None, "median": None, "sd": None,
           "p5": None, "p95": None, "min": None, "max": None, "cv": None}
    if n == 0:
        return out
    mean, sd = mean_sd(values)
    pos = []
    for p in (0.05, 0.95):
        h = p * (n - 1)
        lo = int(np.floor(h))
        pos.append((lo, min(lo + 1, n - 1), h - lo))
    half = n // 2
    med = [half - 1, half] if n % 2 == 0 else [half]
    kth = sorted({0, n - 1, *med, *(k for lo, hi, _ in pos for k in (lo, hi))})
    part = np.partition(values, kth)
    p5, p95 = (float(part[lo]) if t == 0 else float(_lerp(part[lo], part[hi], t)) for lo, hi, t in pos)
    median = float(part[half]) if n % 2 else float((part[half - 1] + part[half]) / 2.0)  # exact, like np.median
    if mean == mean and abs(mean) != float("inf"):  # no NaN among the values: the order statistics are min/max
        vmin, vmax = float(part[0]), float(part[n - 1])
    else:
        vmin, vmax = float(values.min()), float(values.max())
    out.update(mean=mean, median=median, sd=sd, p5=p5, p95=p95, min=vmin, max=vmax,
               cv=(sd / mean) if (sd is not None and mean != 0) else None)
    return out
