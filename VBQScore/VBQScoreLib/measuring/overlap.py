"""Segmentation overlap between readers, per level, on the MRI grid.

Each reader's segments are matched to levels by name (as ``vbq score`` does: ``C3``, ``vertebrae_C3``, ``CSF``
...) and mapped onto the MRI grid with the same nearest-neighbour mapping in physical space
(:func:`VBQScoreLib.resample.map_segment`), so the voxels compared are exactly the voxels ``vbq score`` measures.
For each level present in both segmentations, on the union bounding box (+1 voxel) of the two masks:

- ``dice``, ``jaccard``, ``volume_similarity`` (2 (|A| - |B|) / (|A| + |B|)), ``false_negative_error``,
  ``false_positive_error``: SimpleITK ``LabelOverlapMeasuresImageFilter`` (A = source, B = target);
- ``hd_max_mm`` (symmetric Hausdorff distance) and ``hd_avg_mm`` (its average form): SimpleITK
  ``HausdorffDistanceImageFilter`` (physical spacing);
- ``hd95_mm``: the 95th percentile Hausdorff distance, which SimpleITK has no filter for: the surface voxels of
  A (``LabelContourImageFilter``, face connectivity) take their distance to B from B's
  ``SignedMaurerDistanceMapImageFilter`` (physical spacing, outside positive, clipped at 0: the distance from a
  voxel centre to the nearest voxel centre of B, as HausdorffDistanceImageFilter measures it); the 95th
  percentile (numpy's linear rule = R type 7) of these, and of B's surface to A, the larger of the two
  (the "robust Hausdorff distance" of the surface-distance literature), capped at ``hd_max_mm`` (float32
  distance map here, doubles in the Hausdorff filter: the two can differ by ~1e-7 mm).
- ``volume_a_mm3``, ``volume_b_mm3``, ``volume_diff_mm3`` (A - B) and voxel counts on the MRI grid.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import VBQInputError
from ..json_text import finite_or_none
from ..progress import ProgressCallback, report

METRICS = ("dice", "jaccard", "hd95_mm", "hd_max_mm", "volume_a_mm3", "volume_b_mm3", "volume_diff_mm3",
           "volume_similarity", "hd_avg_mm", "false_negative_error", "false_positive_error", "n_voxels_a",
           "n_voxels_b")


_f = finite_or_none  # the one rule of VBQScoreLib.json_text: NaN, ±inf -> None


def segments_by_level(segments) -> dict:
    """``{level: Segment}`` (``"CSF"`` for the CSF ROI; the first when a level is named twice)."""
    from .levels import parse_segment_name

    out = {}
    for seg in segments:
        p = parse_segment_name(seg.name)
        if p is not None and p.level not in out:
            out[p.level] = seg
    return out


def _crop_pair(ra, rb, image_size):
    """Both mapped ROIs pasted into one box (union of their boxes, +1 voxel each side): two uint8 arrays and the
    image index (x, y, z) of the box's first voxel (may lie one voxel outside the image)."""
    boxes = []
    for r in (ra, rb):
        if r.mask.size and r.mask.any():
            lo = np.asarray(r.start, int)
            boxes.append((lo, lo + np.asarray(r.mask.shape[::-1], int)))
    lo = np.min([b[0] for b in boxes], axis=0) - 1
    hi = np.max([b[1] for b in boxes], axis=0) + 1
    shape = tuple(int(v) for v in (hi - lo)[::-1])
    arrs = []
    for r in (ra, rb):
        a = np.zeros(shape, np.uint8)
        if r.mask.size and r.mask.any():
            o = np.asarray(r.start, int) - lo
            sz = r.mask.shape
            a[o[2]:o[2] + sz[0], o[1]:o[1] + sz[1], o[0]:o[0] + sz[2]] = r.mask
        arrs.append(a)
    return arrs[0], arrs[1], lo


def _as_image(arr, image, start):
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(image.GetSpacing())
    img.SetDirection(image.GetDirection())
    img.SetOrigin(image.TransformContinuousIndexToPhysicalPoint([float(v) for v in start]))
    return img


# The boxes compared are small (one vertebral body: ~10^4-10^5 voxels), where a filter's time is mostly the
# cost of starting its threads: one thread per filter is 20-30 % faster here (benchmarks/bench_agreement.py).
_THREADS = 1


def _filter(cls, **settings):
    f = cls()
    f.SetNumberOfThreads(_THREADS)
    for k, v in settings.items():
        getattr(f, f"Set{k}")(v)
    return f


def _surface_distances(src, dst):
    """Distances (mm) from the surface voxels of ``src`` to the nearest voxel of ``dst`` (both uint8 images)."""
    import SimpleITK as sitk

    dist = _filter(sitk.SignedMaurerDistanceMapImageFilter, InsideIsPositive=False, SquaredDistance=False,
                   UseImageSpacing=True).Execute(dst)
    contour_img = _filter(sitk.LabelContourImageFilter, FullyConnected=False).Execute(src)  # kept alive while
    contour = sitk.GetArrayViewFromImage(contour_img) != 0                                  # its view is read
    d = np.array(sitk.GetArrayViewFromImage(dist)[contour], dtype=float)
    return np.maximum(d, 0.0)


def overlap_masks(ra, rb, image) -> dict:
    """Metrics of two mapped ROIs (:class:`VBQScoreLib.resample.MappedROI`) on ``image``'s grid."""
    import SimpleITK as sitk

    voxel = float(np.prod(image.GetSpacing()))
    na, nb = ra.n_voxels, rb.n_voxels
    out = dict.fromkeys(METRICS)
    out.update(n_voxels_a=na, n_voxels_b=nb, volume_a_mm3=na * voxel, volume_b_mm3=nb * voxel,
               volume_diff_mm3=(na - nb) * voxel)
    if na == 0 and nb == 0:
        return out
    if na == 0 or nb == 0:
        out.update(dice=0.0, jaccard=0.0, volume_similarity=_f(2 * (na - nb) / (na + nb)))
        return out
    a, b, start = _crop_pair(ra, rb, image.GetSize())
    ia, ib = _as_image(a, image, start), _as_image(b, image, start)
    lo = _filter(sitk.LabelOverlapMeasuresImageFilter)
    lo.Execute(ia, ib)
    hd = _filter(sitk.HausdorffDistanceImageFilter)
    hd.Execute(ia, ib)
    dab = _surface_distances(ia, ib)
    dba = _surface_distances(ib, ia)
    hd_max = hd.GetHausdorffDistance()
    # HausdorffDistanceImageFilter measures on a distance map of doubles, SimpleITK's SignedMaurerDistanceMap
    # gives float32: the same distance can come out ~1e-7 mm larger here; a percentile is never above the
    # maximum, so hd95 is capped at the filter's maximum (Testing/test_overlap.py checks hd95 <= hd_max).
    hd95 = min(max(np.percentile(dab, 95), np.percentile(dba, 95)), hd_max)
    out.update(dice=_f(lo.GetDiceCoefficient()), jaccard=_f(lo.GetJaccardCoefficient()),
               volume_similarity=_f(lo.GetVolumeSimilarity()), false_negative_error=_f(lo.GetFalseNegativeError()),
               false_positive_error=_f(lo.GetFalsePositiveError()), hd_max_mm=_f(hd_max),
               hd_avg_mm=_f(hd.GetAverageHausdorffDistance()), hd95_mm=_f(hd95))
    return out


def overlap_segments(image, segments_a, segments_b, *, levels: Optional[Sequence[str]] = None,
                     names=("A", "B")) -> tuple[dict, list]:
    """Per level overlap of two readers' segments (lists of :class:`VBQScoreLib.segments.Segment`) on the grid of
    ``image`` (SimpleITK). Returns ``({level: metrics}, warnings)``; levels in spine order, CSF last."""
    from ..input.resample import ImageGrid, map_segment
    from .levels import level_sort_key

    la, lb = segments_by_level(segments_a), segments_by_level(segments_b)
    both = [lv for lv in la if lv in lb]
    if levels is not None:
        both = [lv for lv in both if lv in set(levels)]
    warnings = []
    only_a = [lv for lv in la if lv not in lb]
    only_b = [lv for lv in lb if lv not in la]
    if only_a:
        warnings.append(f"levels only in {names[0]}'s segmentation (not compared): {', '.join(only_a)}")
    if only_b:
        warnings.append(f"levels only in {names[1]}'s segmentation (not compared): {', '.join(only_b)}")
    if not both:
        raise VBQInputError(f"the segmentations of {names[0]} and {names[1]} have no level in common "
                            f"({names[0]}: {', '.join(la) or 'none'}; {names[1]}: {', '.join(lb) or 'none'})")
    grid = ImageGrid(image)
    out = {}
    for lv in sorted(both, key=lambda v: (v == "CSF", level_sort_key(v))):
        ra, rb = map_segment(la[lv], image, grid), map_segment(lb[lv], image, grid)
        out[lv] = overlap_masks(ra, rb, image)
        if ra.n_voxels == 0 or rb.n_voxels == 0:
            who = names[0] if ra.n_voxels == 0 else names[1]
            warnings.append(f"{lv}: {who}'s segment has no voxels on the MRI grid (Dice 0, no distances)")
    return out, warnings


def _read(path, labels, what):
    from ..input.segmentations import read_segmentation

    try:
        return read_segmentation(path, labels)
    except VBQInputError as exc:
        msg = str(exc)
        raise VBQInputError(msg if str(path) in msg else f"{what} {path}: {msg}") from None


def overlap_files(image_path, segmentations: dict, *, labels=None, progress: ProgressCallback = None) -> dict:
    """Overlap of several readers' segmentation files of one MRI: ``segmentations`` = ``{reader: path}``.
    Returns ``{"levels": {level: metrics} of the first pair, "pair", "pairs": {"A vs B": {level: metrics}},
    "readers", "image", "n_cases": 1, "warnings"}``."""
    from ..input.images import read_image

    if len(segmentations) < 2:
        raise VBQInputError("--segmentations: give at least two readers' segmentations (R1=a.seg.nrrd "
                            "--segmentations R2=b.seg.nrrd)")
    img = read_image(image_path).image
    segs = {r: _read(p, labels, f"--segmentations {r}=") for r, p in segmentations.items()}
    pairs, warnings = {}, []
    todo = list(combinations(list(segs), 2))
    for i, (a, b) in enumerate(todo):
        report(progress, i, len(todo), f"overlap {a} vs {b}")
        res, w = overlap_segments(img, segs[a], segs[b], names=(a, b))
        pairs[f"{a} vs {b}"] = res
        warnings.extend(f"{a} vs {b}: {x}" for x in w)
    report(progress, len(todo), len(todo), "overlap done")
    first = next(iter(pairs))
    return {"levels": pairs[first], "pair": first, "pairs": pairs, "readers": list(segs), "image": str(image_path),
            "segmentations": {r: str(p) for r, p in segmentations.items()}, "n_cases": 1, "warnings": warnings}


# ---------------------------------------------------------------------------------------------- many cases

def read_overlap_manifest(path, columns: Optional[dict] = None):
    """A manifest with ``case_id``, ``image``, [``labels``] and one segmentation column per reader.
    ``columns`` = ``{reader: column}``; default: every other column is a reader (its name is the reader).
    Relative paths are relative to the manifest's folder. Returns ``(cases, readers)`` with cases
    ``[{"case_id", "image", "labels", "segmentations": {reader: path}, "row"}]``."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise VBQInputError(f"{path}: manifest not found")
    sep = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    try:
        df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise VBQInputError(f"{path}: cannot read the manifest as CSV ({str(exc).splitlines()[0]})") from None
    low = {c.strip().lower(): c for c in df.columns}
    for need in ("case_id", "image"):
        if need not in low:
            raise VBQInputError(f"{path}: manifest has no '{need}' column (columns: {', '.join(df.columns)})")
    if columns:
        cols = {}
        for r, c in columns.items():
            if c not in df.columns and c.strip().lower() not in low:
                raise VBQInputError(f"--segmentations {r}={c}: no column '{c}' in {path} "
                                    f"(columns: {', '.join(df.columns)})")
            cols[r] = c if c in df.columns else low[c.strip().lower()]
    else:
        skip = {"case_id", "image", "labels", "status", "error"}
        cols = {c: c for c in df.columns if c.strip().lower() not in skip}
    if len(cols) < 2:
        raise VBQInputError(f"{path}: needs at least two segmentation columns, one per reader "
                            f"(found: {', '.join(cols) or 'none'})")
    base = path.parent
    cases = []
    seen = {}
    for i, row in df.iterrows():
        cid = str(row[low["case_id"]]).strip()
        rown = int(i) + 2
        if not cid:
            raise VBQInputError(f"{path}: column 'case_id' is empty in row {rown}")
        if cid in seen:
            raise VBQInputError(f"{path}: case '{cid}' in rows {seen[cid]} and {rown}")
        seen[cid] = rown

        def p(v):
            v = str(v).strip()
            return None if not v else (Path(v) if Path(v).is_absolute() else base / v)

        img = p(row[low["image"]])
        if img is None:
            raise VBQInputError(f"{path}: column 'image' is empty in row {rown}")
        segs = {}
        for r, c in cols.items():
            sp = p(row[c])
            if sp is None:
                raise VBQInputError(f"{path}: column '{c}' ({r}'s segmentation) is empty in row {rown}")
            segs[r] = sp
        cases.append({"case_id": cid, "image": img, "labels": p(row[low["labels"]]) if "labels" in low else None,
                      "segmentations": segs, "row": rown})
    if not cases:
        raise VBQInputError(f"{path}: manifest has no cases")
    return cases, list(cols)


def overlap_manifest(path, columns: Optional[dict] = None, *, progress: ProgressCallback = None) -> dict:
    """Overlap for every case of a manifest (:func:`read_overlap_manifest`). ``levels`` holds, per level, the
    mean of each metric over the cases of the first reader pair (with ``n_cases``, ``dice_sd``, ``dice_min``);
    ``cases`` the per-case metrics of every pair."""
    cases, readers = read_overlap_manifest(path, columns)
    per_case, warnings = {}, []
    for i, c in enumerate(cases):
        report(progress, i, len(cases), f"overlap {c['case_id']}")
        try:
            r = overlap_files(c["image"], c["segmentations"], labels=c["labels"])
        except VBQInputError as exc:
            raise VBQInputError(f"{path} row {c['row']} (case '{c['case_id']}'): {exc}") from None
        per_case[c["case_id"]] = r["pairs"]
        warnings.extend(f"case {c['case_id']}: {w}" for w in r["warnings"])
    report(progress, len(cases), len(cases), "overlap done")
    pair = f"{readers[0]} vs {readers[1]}"
    return {"levels": summarise_cases(per_case, pair), "pair": pair, "readers": readers, "manifest": str(path),
            "n_cases": len(cases), "cases": per_case, "warnings": warnings}


def summarise_cases(per_case: dict, pair: str) -> dict:
    """Per level mean (over cases) of each metric of ``pair``; ``n_cases``, ``dice_sd``, ``dice_min``."""
    from .levels import level_sort_key

    by_level: dict = {}
    for pairs in per_case.values():
        for lv, m in pairs.get(pair, {}).items():
            by_level.setdefault(lv, []).append(m)
    out = {}
    for lv in sorted(by_level, key=lambda v: (v == "CSF", level_sort_key(v))):
        ms = by_level[lv]
        row = {}
        for k in METRICS:
            vals = [m[k] for m in ms if m.get(k) is not None]
            row[k] = float(np.mean(vals)) if vals else None
        dice = [m["dice"] for m in ms if m.get("dice") is not None]
        row.update(n_cases=len(ms), dice_sd=float(np.std(dice, ddof=1)) if len(dice) > 1 else None,
                   dice_min=float(min(dice)) if dice else None)
        out[lv] = row
    return out
