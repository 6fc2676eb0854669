"""``vbq score IMAGE SEGMENTATION``: VBQ of one MRI with its segmentation (levels + CSF)."""

from __future__ import annotations

import argparse
import sys


def register(sub) -> None:
    p = sub.add_parser(
        "score",
        help="VBQ score of one T1 MRI and its segmentation",
        description="Measure the vertebral bone quality (VBQ) score: per level SI(level) / SI(CSF) and the "
        "overall score of a preset. IMAGE: NIfTI, NRRD, MHA or a DICOM series folder. SEGMENTATION: a Slicer "
        ".seg.nrrd, or an integer labelmap with --labels.",
        epilog="Exit status: 0 done (quality flags are warnings, not failures); 2 bad input.",
    )
    p.add_argument("image", metavar="IMAGE", help="T1-weighted MRI (file or DICOM folder)")
    p.add_argument("segmentation", metavar="SEGMENTATION", help=".seg.nrrd or integer labelmap")
    p.add_argument("--labels", metavar="FILE", help="label names for a labelmap: lines '1=C3' or a Slicer "
                   "color table ('1 C3 r g b a')")
    p.add_argument("--preset", default="lu2024", metavar="NAME",
                   help="lu2024 (default: C2-C7, mean), soliman2023, razzouk2022, ehresman2020, or custom")
    p.add_argument("--stat", choices=("mean", "median"), default=None,
                   help="ROI statistic for level and CSF SI (default: the preset's, mean)")
    p.add_argument("--levels", metavar="LIST", default=None, help="levels of the overall score, e.g. C3-C6")
    p.add_argument("--aggregate", choices=("mean", "median"), default=None,
                   help="aggregate of level SIs across levels (default: the preset's)")
    p.add_argument("--csf-reference", metavar="WHERE", default=None,
                   help="which CSF segment to use when there are several (e.g. 'cisterna magna', C2, C5); "
                   "default: the preset's")
    p.add_argument("--erode-mm", type=float, default=0.0, metavar="X",
                   help="erode each ROI by X mm before measuring (default 0)")
    p.add_argument("--mid-slices", type=int, default=None, metavar="N",
                   help="keep only the N central sagittal slices of each ROI")
    p.add_argument("--require-all-levels", action="store_true",
                   help="a missing or empty level of the preset is an error (default: a flag)")
    p.add_argument("--vbq-range", type=float, nargs=2, default=(1.5, 5.0), metavar=("LO", "HI"),
                   help="plausible VBQ range; values outside are flagged (default 1.5 5.0)")
    p.add_argument("--json", metavar="OUT", help="write the result as JSON")
    p.add_argument("--csv", metavar="OUT", help="write one row per level as CSV")
    p.add_argument("--quiet", action="store_true", help="do not print the table")
    p.set_defaults(func=run)
    from .oneline import one_line_errors

    one_line_errors(p)


def _fmt(x, nd=2) -> str:
    if x is None:
        return "-"
    if isinstance(x, int):
        return str(x)
    return f"{x:.{nd}f}"


#: flags printed by the table; the rest are summarised by code (the JSON has them all)
MAX_FLAGS_SHOWN = 20


def format_table(result) -> str:
    rows = [("ROI", "segment", "voxels", "vol mm3", "mean", "median", "SD", "VBQ")]
    for lv in result.levels:
        rows.append((lv.name, lv.segment, _fmt(lv.n_voxels), _fmt(lv.volume_mm3, 1), _fmt(lv.mean),
                     _fmt(lv.median), _fmt(lv.sd), _fmt(lv.vbq, 3)))
    c = result.csf
    rows.append(("CSF", c.segment, _fmt(c.n_voxels), _fmt(c.volume_mm3, 1), _fmt(c.mean), _fmt(c.median),
                 _fmt(c.sd), ""))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, r in enumerate(rows):
        lines.append("  ".join(str(v).ljust(w) if i < 2 else str(v).rjust(w) for i, (v, w) in
                               enumerate(zip(r, widths))).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    o = result.overall
    lines.append("")
    lines.append(f"overall VBQ ({o['preset']}: {o['aggregate']} of level {o['level_stat']} over "
                 f"{', '.join(o['levels_used']) or 'no levels'} / CSF {o['level_stat']}): {_fmt(o['vbq'], 3)}")
    if result.flags:
        lines.append("")
        lines.append(f"flags ({len(result.flags)}):")
        shown = result.flags if len(result.flags) <= MAX_FLAGS_SHOWN else result.flags[:MAX_FLAGS_SHOWN - 1]
        for f in shown:
            lines.append(f"  {f.code:<18} {f.level or '':<4} {f.message}")
        if len(shown) < len(result.flags):
            from collections import Counter

            rest = Counter(f.code for f in result.flags[len(shown):])
            lines.append(f"  ... and {len(result.flags) - len(shown)} more ("
                         + ", ".join(f"{n} {c}" for c, n in rest.most_common()) + "); all are in --json")
    return "\n".join(lines)


def _csv_text(rows) -> str:
    import csv
    import io

    buf = io.StringIO()
    cols = list(rows[0].keys()) if rows else ["level", "segment", "n_voxels", "volume_mm3", "mean", "median",
                                              "sd", "p5", "p95", "min", "max", "cv", "vbq", "csf_mean",
                                              "csf_median", "overall_vbq", "preset", "flags"]
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def _check_outputs(args) -> None:
    from pathlib import Path

    from VBQScoreLib.errors import VBQInputError

    inputs = {Path(p).resolve() for p in (args.image, args.segmentation, args.labels) if p}
    if Path(args.image).resolve() == Path(args.segmentation).resolve():
        raise VBQInputError(f"{args.segmentation}: IMAGE and SEGMENTATION are the same file; give the MRI first, "
                            f"then its segmentation")
    outs = [(flag, Path(v)) for flag, v in (("--json", args.json), ("--csv", args.csv)) if v]
    if len(outs) == 2 and outs[0][1].resolve() == outs[1][1].resolve():
        raise VBQInputError(f"--json and --csv both write {outs[0][1]}")
    for flag, p in outs:
        if p.resolve() in inputs:
            raise VBQInputError(f"{flag} {p}: would overwrite an input file")
        if p.is_dir():
            raise VBQInputError(f"{flag} {p}: is a folder; give a file name")
        parent = p.parent if str(p.parent) else Path(".")
        if not parent.is_dir():
            raise VBQInputError(f"{flag} {p}: output folder {parent} does not exist")


def check_measure_flags(args) -> None:
    """Name the flag when a measuring option is out of range (shared with ``vbq batch``)."""
    import math

    from VBQScoreLib.errors import VBQInputError

    e = args.erode_mm
    if e is not None and not (math.isfinite(e) and e >= 0):
        raise VBQInputError(f"--erode-mm {e:g}: erosion margin must be a finite number of mm >= 0")
    if args.mid_slices is not None and args.mid_slices < 1:
        raise VBQInputError(f"--mid-slices {args.mid_slices}: mid-sagittal slices must be a whole number >= 1")
    lo, hi = args.vbq_range
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise VBQInputError(f"--vbq-range {lo:g} {hi:g}: both ends must be finite numbers")
    if not lo < hi:
        raise VBQInputError(f"--vbq-range {lo:g} {hi:g}: LO must be below HI")


def run(args: argparse.Namespace) -> int:
    from VBQScoreLib.api import score_files
    from VBQScoreLib.atomic import write_text_atomic
    from VBQScoreLib.options import ScoreOptions

    check_measure_flags(args)
    _check_outputs(args)
    options = ScoreOptions(preset=args.preset, stat=args.stat, levels=args.levels, aggregate=args.aggregate,
                           csf_reference=args.csf_reference, erode_mm=args.erode_mm, mid_sagittal_slices=args.mid_slices,
                           require_all_levels=args.require_all_levels, vbq_range=tuple(args.vbq_range))
    result = score_files(args.image, args.segmentation, labels=args.labels, options=options)
    json_text = result.to_json() + "\n" if args.json else None
    csv_text = _csv_text(result.level_rows()) if args.csv else None
    if args.json:
        write_text_atomic(args.json, json_text)
    if args.csv:
        write_text_atomic(args.csv, csv_text)
    if not args.quiet:
        print(format_table(result))
        sys.stdout.flush()
    return 0
