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
    from .measure_options import add_measure_options

    add_measure_options(p)
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


def _check_outputs(args) -> None:
    from pathlib import Path

    from VBQScoreLib.errors import VBQInputError

    from .outputs import check_output_files

    if Path(args.image).resolve() == Path(args.segmentation).resolve():
        raise VBQInputError(f"{args.segmentation}: IMAGE and SEGMENTATION are the same file; give the MRI first, "
                            f"then its segmentation")
    check_output_files([("--json", args.json), ("--csv", args.csv)],
                       [(f, "an input file") for f in (args.image, args.segmentation, args.labels)])


def run(args: argparse.Namespace) -> int:
    from VBQScoreLib.atomic import write_text_atomic
    from VBQScoreLib.measuring.api import score_files
    from .measure_options import options_from_args

    options = options_from_args(args)
    _check_outputs(args)
    result = score_files(args.image, args.segmentation, labels=args.labels, options=options)
    json_text = result.to_json() + "\n" if args.json else None
    csv_text = result.to_csv() if args.csv else None
    if args.json:
        write_text_atomic(args.json, json_text)
    if args.csv:
        write_text_atomic(args.csv, csv_text)
    if not args.quiet:
        print(format_table(result))
        sys.stdout.flush()
    return 0
