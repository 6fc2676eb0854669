"""Measuring VBQ: :func:`score_files` (paths) and :func:`score_arrays` (SimpleITK image + segments).

Per level: ``VBQ = SI(level ROI) / SI(CSF ROI)`` with SI = the options' statistic (mean by default, or median)
of the voxel values inside the ROI after mapping it onto the image grid (nearest neighbour, physical space),
erosion and mid-sagittal restriction. Overall: the preset's aggregate (mean/median) of the level SIs of the
preset's levels that are present, divided by the CSF SI (equal to the aggregate of the level VBQs).
"""

from __future__ import annotations

from typing import Optional

from ..errors import VBQInputError
from ..progress import ProgressCallback, report

__all__ = ["score_files", "score_arrays"]

#: the message when no voxel of a segmentation lies in the MRI (another scan, another space)
NO_OVERLAP = ("the whole segmentation does not overlap the image (all segment voxels lie outside it); check that "
              "both come from the same scan and space")


def _ras_box(img, nonzero: bool = False):
    """Physical bounding box of ``img`` (its voxels' outer faces; with ``nonzero``, of its non-zero voxels only)
    in RAS mm as Slicer shows it: ``((min R, min A, min S), (max R, max A, max S))``, or None when empty."""
    import itertools

    import numpy as np
    import SimpleITK as sitk

    size = img.GetSize()
    lo, hi = np.zeros(3), np.array(size, float) - 1
    if nonzero:
        nz = np.nonzero(sitk.GetArrayViewFromImage(img))
        if not len(nz[0]):
            return None
        lo = np.array([nz[2].min(), nz[1].min(), nz[0].min()], float)
        hi = np.array([nz[2].max(), nz[1].max(), nz[0].max()], float)
    corners = [img.TransformContinuousIndexToPhysicalPoint([float(c) for c in corner])
               for corner in itertools.product(*[(lo[i] - 0.5, hi[i] + 0.5) for i in range(3)])]
    pts = np.array(corners) * np.array([-1.0, -1.0, 1.0])  # LPS -> RAS
    return pts.min(axis=0), pts.max(axis=0)


def _box_text(box) -> str:
    lo, hi = box
    return f"R {lo[0]:.1f} to {hi[0]:.1f}, A {lo[1]:.1f} to {hi[1]:.1f}, S {lo[2]:.1f} to {hi[2]:.1f}"


def no_overlap_message(image, segments) -> str:
    """:data:`NO_OVERLAP` with where each lies: the physical bounding boxes (RAS, mm) of the image and of the
    voxels of all ``segments`` (the same message for ``vbq score``, the web app and Slicer)."""
    import numpy as np

    boxes = [b for b in (_ras_box(s.mask, nonzero=True) for s in segments) if b is not None]
    where = f"image: {_box_text(_ras_box(image))}"
    if boxes:
        seg_box = (np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0))
        where += f"; segmentation: {_box_text(seg_box)}"
    return ("the whole segmentation does not overlap the image (all segment voxels lie outside it; "
            f"{where}, RAS mm); check that both come from the same scan and space")


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _select_csf(csf_segments, preset):
    """Pick the CSF segment: the only one, else the one whose location matches the preset's reference."""
    if len(csf_segments) == 1:
        return csf_segments[0]
    ref = (preset.csf_reference or "").strip().lower()
    matching = [(s, p) for s, p in csf_segments if p.location and p.location.lower() == ref]
    if len(matching) == 1:
        return matching[0]
    names = ", ".join(f"'{s.name}'" for s, _ in csf_segments)
    how = "several match" if matching else "none is labelled at"
    raise VBQInputError(f"{len(csf_segments)} CSF segments ({names}) and {how} the CSF reference "
                        f"'{preset.csf_reference}' of preset {preset.name}; keep one CSF segment or name the "
                        f"one to use after its location (e.g. 'CSF at C2', 'cisterna magna')")


def _no_case_twins(names, what: str) -> None:
    """Two segments whose names differ only in letter case or spacing ('C3' and 'c3 ') name the same thing
    twice: no rule can tell which ROI was meant (names that differ otherwise, 'C3' and 'C3 body', or not at
    all, keep the DUPLICATE_LEVEL flag: the first is used)."""
    seen: dict[str, str] = {}
    for n in names:
        key = " ".join(str(n).split()).casefold()
        if key in seen and seen[key] != n:
            raise VBQInputError(f"segments '{seen[key]}' and '{n}' differ only in letter case or spacing and both "
                                f"name {what}; rename or remove one")
        seen[key] = n


def score_arrays(image, segments, options=None, provenance: Optional[dict] = None,
                 progress: ProgressCallback = None):
    """VBQ of ``image`` (3-D scalar ``SimpleITK.Image``) with ``segments`` (list of
    :class:`VBQScoreLib.segments.Segment`, masks on any grid). Returns :class:`VBQScoreLib.result.VBQResult`.

    Raises :class:`VBQInputError` when VBQ is undefined: no CSF segment, an empty CSF ROI (or CSF SI <= 0),
    several CSF segments none of which matches the preset's CSF reference, a segmentation that does not overlap
    the image, or (``require_all_levels``) a missing/empty level.
    """
    from ..provenance import base_provenance
    from .options import ScoreOptions

    options = (options or ScoreOptions()).validate()
    preset = options.resolve_preset()
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise VBQInputError(f"image is {image.GetDimension()}-D with {image.GetNumberOfComponentsPerPixel()} "
                            "component(s); a 3-D scalar image is needed")
    prov = dict(provenance) if provenance else base_provenance(options, preset)
    if prov.get("options") is None:
        prov["options"] = options.to_dict()
    if prov.get("preset") is None:
        prov["preset"] = preset.to_dict()
    return _score(image, segments, options, preset, prov, progress)


def _score(image, segments, options, preset, prov: dict, progress: ProgressCallback = None):
    """:func:`score_arrays` after validation; ``prov`` is the provenance dict to complete (its ``dicom`` fields
    give flags)."""
    import numpy as np
    import SimpleITK as sitk

    from ..input.resample import ImageGrid, map_segment
    from . import flags as F
    from .levels import level_sort_key, parse_segment_name
    from .measure import erode, restrict_mid_slices, roi_stats, roi_values, sagittal_axis, touches_border
    from .result import CsfResult, LevelResult, VBQResult

    stat = preset.level_stat
    flags = []
    flags.extend(F.dicom_flags(prov.get("dicom")))

    # -- which segment is which level
    by_level: dict[str, list] = {}
    csf_segments = []
    unknown: list[str] = []
    for seg in segments:
        parsed = parse_segment_name(seg.name)
        if parsed is None:
            unknown.append(seg.name)
        elif parsed.kind == "csf":
            csf_segments.append((seg, parsed))
        else:
            by_level.setdefault(parsed.level, []).append(seg)
    if unknown:  # one flag, however many (a TotalSegmentator labelmap has ~100 other structures)
        shown = ", ".join(f"'{n}'" for n in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        what = "segment is" if len(unknown) == 1 else f"{len(unknown)} segments are"
        flags.append(F.flag("UNKNOWN_SEGMENT", None, f"{what} neither a spine level (C1-C7, T1-T12, L1-L5, S1) "
                            f"nor CSF and ignored: {shown}"))
    if not csf_segments:
        raise VBQInputError("no CSF segment: name one 'CSF' (or 'cisterna magna', 'CSF at C2'); "
                            "VBQ is undefined without a CSF reference")
    _no_case_twins([s.name for s, _ in csf_segments], "the CSF reference")
    csf_seg, csf_parsed = _select_csf(csf_segments, preset)
    ref = (preset.csf_reference or "").strip().lower()
    if csf_parsed.location and ref not in ("", "any") and csf_parsed.location.lower() != ref:
        flags.append(F.flag("CSF_LOCATION", "CSF", f"CSF segment '{csf_seg.name}' is at {csf_parsed.location}, "
                            f"but preset {preset.name} references CSF at {preset.csf_reference}"))
    found = sorted(by_level, key=level_sort_key) + [s.name for s, _ in csf_segments]
    if options.levels is not None:  # --levels C3-C6: the other levels were not asked for (not measured, no flags)
        by_level = {lvl: segs for lvl, segs in by_level.items() if lvl in preset.levels}
    if preset.levels and not any(lvl in by_level for lvl in preset.levels):
        raise VBQInputError(f"none of the levels of preset {preset.name} ({', '.join(preset.levels)}) has a "
                            f"segment; segments found: {', '.join(found) if found else 'none'}; choose another "
                            "preset or name the levels (--levels)")
    level_segs = {}
    for lvl in sorted(by_level, key=level_sort_key):
        segs = by_level[lvl]
        _no_case_twins([s.name for s in segs], f"level {lvl}")
        level_segs[lvl] = segs[0]
        if len(segs) > 1:
            others = ", ".join(f"'{s.name}'" for s in segs[1:])
            flags.append(F.flag("DUPLICATE_LEVEL", lvl, f"{len(segs)} segments name level {lvl}: "
                                f"'{segs[0].name}' was used, {others} ignored"))

    # -- map onto the image grid and measure
    image_array = sitk.GetArrayViewFromImage(image)
    spacing = image.GetSpacing()
    voxel_volume = float(np.prod(spacing))  # as before: numpy's product of the three spacings
    size = image.GetSize()
    sag = sagittal_axis(image)
    grid = ImageGrid(image)
    todo = [("CSF", csf_seg)] + list(level_segs.items())
    measured = {}
    for i, (name, seg) in enumerate(todo):
        report(progress, i, len(todo), f"measuring {name}")
        roi = map_segment(seg, image, grid)
        mask = roi.mask
        n_mapped = int(np.count_nonzero(mask))
        mask = erode(mask, spacing, float(options.erode_mm))
        n_eroded = int(np.count_nonzero(mask))
        mask = restrict_mid_slices(mask, sag, options.mid_sagittal_slices)
        values = roi_values(image_array, roi.start, mask)
        n_nonfinite = 0
        if values.dtype.kind == "f":
            finite = np.isfinite(values)
            n_nonfinite = int(values.size - np.count_nonzero(finite))
            if n_nonfinite:  # NaN/inf voxels: excluded from the statistics, flagged below
                values = values[finite]
        measured[name] = dict(seg=seg, roi=roi, n_mapped=n_mapped, n_eroded=n_eroded, n_nonfinite=n_nonfinite,
                              stats=roi_stats(values, voxel_volume),
                              border=touches_border(roi.start, mask, size))
    report(progress, len(todo), len(todo), "done")
    non_empty = [m for m in measured.values() if m["roi"].n_segment > 0]
    if non_empty and all(m["n_mapped"] == 0 and m["roi"].n_outside == m["roi"].n_segment for m in non_empty):
        raise VBQInputError(no_overlap_message(image, segments))  # all segments, as mrml.read_segmentation_node

    def why_empty(m) -> str:
        if m["roi"].n_segment == 0:
            return "has no voxels"
        if m["n_mapped"] == 0:
            return "lies outside the image"
        if m["n_eroded"] == 0:
            return f"has no voxels left after erosion by {float(options.erode_mm):g} mm"
        if m["n_nonfinite"]:
            return f"has only voxels whose image value is NaN or infinite ({m['n_nonfinite']})"
        return "has no voxels left"  # pragma: no cover (mid-slice restriction keeps >= 1 slice)

    def roi_flags(level, m):
        st, roi = m["stats"], m["roi"]
        if m["n_nonfinite"]:
            flags.append(F.flag("NONFINITE_VOXELS", level, f"ROI '{m['seg'].name}' has {m['n_nonfinite']} voxel(s) "
                                "whose image value is NaN or infinite; they were excluded from its statistics"))
        if roi.n_outside and roi.n_outside < roi.n_segment and m["n_mapped"] > 0:
            flags.append(F.flag("ROI_PARTLY_OUTSIDE", level, f"{roi.n_outside} of {roi.n_segment} voxels "
                                f"({100 * roi.fraction_outside:.1f}%) of segment '{m['seg'].name}' lie outside "
                                "the image"))
        if st["n_voxels"] == 0:
            return
        if st["n_voxels"] < options.min_voxels:
            flags.append(F.flag("TINY_ROI", level, f"ROI '{m['seg'].name}' has only {st['n_voxels']} voxels "
                                f"(fewer than {options.min_voxels})"))
        if m["border"]:
            flags.append(F.flag("ROI_AT_BORDER", level, f"ROI '{m['seg'].name}' touches the image border; "
                                "it may be cut off"))
        if st["cv"] is not None and abs(st["cv"]) > options.max_cv:
            flags.append(F.flag("HETEROGENEOUS_ROI", level, f"ROI '{m['seg'].name}' is very heterogeneous "
                                f"(CV {st['cv']:.2f} > {options.max_cv:g}); check for cortical bone, disc or "
                                "endplate in the ROI"))

    # -- CSF
    mc = measured["CSF"]
    if mc["stats"]["n_voxels"] == 0:
        raise VBQInputError(f"CSF segment '{csf_seg.name}' {why_empty(mc)}; VBQ is undefined without CSF")
    csf_si = mc["stats"][stat]
    if csf_si is None or not csf_si > 0:
        raise VBQInputError(f"CSF {stat} signal in segment '{csf_seg.name}' is {csf_si}; VBQ needs a positive "
                            "CSF signal")
    roi_flags("CSF", mc)
    csf = CsfResult(name="CSF", segment=csf_seg.name, location=csf_parsed.location, **mc["stats"])

    # -- levels
    lo, hi = (float(v) for v in options.vbq_range)
    levels = []
    for lvl in level_segs:
        m = measured[lvl]
        st = m["stats"]
        if st["n_voxels"] == 0:
            used = " and was excluded from the overall VBQ" if lvl in preset.levels else ""
            flags.append(F.flag("EMPTY_ROI", lvl, f"segment '{m['seg'].name}' for {lvl} {why_empty(m)}{used}"))
        roi_flags(lvl, m)
        si = st[stat]
        vbq = si / csf_si if si is not None else None
        if vbq is not None:
            if vbq <= 1.0:
                flags.append(F.flag("CSF_NOT_DARKER", lvl, f"CSF {stat} SI {_fmt(csf_si)} is not below the {lvl} "
                                    f"{stat} SI {_fmt(si)}: on T1 CSF is darker than marrow; check the CSF ROI "
                                    "and that the series is T1-weighted"))
            if not lo <= vbq <= hi:
                flags.append(F.flag("VBQ_OUT_OF_RANGE", lvl, f"{lvl} VBQ {vbq:.3f} is outside the plausible "
                                    f"range {lo:g}-{hi:g}"))
        levels.append(LevelResult(name=lvl, segment=m["seg"].name, vbq=vbq, **st))

    # -- overall
    present = {lv.name: lv for lv in levels if lv.stat(stat) is not None}
    missing = [lvl for lvl in preset.levels if lvl not in level_segs]
    empty = [lvl for lvl in preset.levels if lvl in level_segs and lvl not in present]
    if options.require_all_levels and (missing or empty):
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if empty:
            parts.append(f"empty {', '.join(empty)}")
        raise VBQInputError(f"preset {preset.name} needs levels {'-'.join([preset.levels[0], preset.levels[-1]])}"
                            f" but the segmentation has {'; '.join(parts)} (--require-all-levels)")
    for lvl in missing:
        flags.append(F.flag("MISSING_LEVEL", lvl, f"no segment for {lvl}; the overall VBQ uses the levels present"))
    used = [lvl for lvl in preset.levels if lvl in present]
    overall_vbq = None
    if used:
        sis = np.array([present[lvl].stat(stat) for lvl in used], float)
        agg = float(np.mean(sis)) if preset.aggregate == "mean" else float(np.median(sis))
        overall_vbq = agg / csf_si
        if not lo <= overall_vbq <= hi:
            flags.append(F.flag("VBQ_OUT_OF_RANGE", None, f"overall VBQ {overall_vbq:.3f} is outside the "
                                f"plausible range {lo:g}-{hi:g}"))
    overall = {"vbq": overall_vbq, "preset": preset.name, "levels": list(preset.levels), "levels_used": used,
               "level_stat": stat, "aggregate": preset.aggregate, "csf_reference": preset.csf_reference}
    prov.setdefault("measurement", {})
    prov["measurement"] = dict(prov["measurement"], sagittal_axis=int(sag))
    return VBQResult(levels=levels, csf=csf, overall=overall, flags=flags, provenance=prov)


def score_files(image_path, segmentation_path, labels=None, options=None, progress: ProgressCallback = None):
    """VBQ from files: an MRI (NIfTI/NRRD/MHA/DICOM folder) and a segmentation (``.seg.nrrd``, or an integer
    labelmap with ``labels``: a label-map file or a ``{value: name}`` dict). Returns
    :class:`VBQScoreLib.result.VBQResult`; raises :class:`VBQInputError` (one line) on bad input."""
    from pathlib import Path

    from ..input.images import read_image
    from ..input.segmentations import read_segmentation
    from ..provenance import MEASUREMENT, BackgroundHash, BackgroundHashes, build_provenance
    from .options import ScoreOptions

    options = (options or ScoreOptions()).validate()
    preset = options.resolve_preset()
    # hash the input files in one background thread (hashlib releases the GIL) while they are read and measured
    groups = {key: [str(p)] for key, p in (("image", image_path), ("segmentation", segmentation_path))
              if Path(p).is_file()}
    hash_job = BackgroundHashes(groups) if groups else None
    img = read_image(image_path)
    # a DICOM series (a folder, or one file standing for its series): hash the files read
    dicom_hash = BackgroundHash(img.files) if [Path(f) for f in img.files] != [Path(image_path)] else None
    segments = read_segmentation(segmentation_path, labels)
    try:
        # read_image gives a 3-D scalar image; the provenance is built below, once the input hashes are known
        result = _score(img.image, segments, options, preset, {"dicom": None, "measurement": dict(MEASUREMENT)},
                        progress)
    except VBQInputError as exc:
        raise VBQInputError(f"{segmentation_path}: {exc}") from None
    try:
        done = hash_job.result() if hash_job is not None else {}
        hashes = {"image": dicom_hash.result() if dicom_hash is not None else done["image"],
                  "segmentation": done.get("segmentation")}
    except OSError as exc:
        raise VBQInputError(f"{exc.filename or image_path}: cannot read input for its SHA-256 "
                            f"({exc.strerror or exc})") from None
    result.provenance = dict(build_provenance(img, image_path, segmentation_path, labels, options, preset, hashes),
                             measurement=result.provenance.get("measurement"))
    result.flags[:0] = _dicom_flags(img.dicom)
    return result


def _dicom_flags(dicom):
    from .flags import dicom_flags

    return dicom_flags(dicom)
