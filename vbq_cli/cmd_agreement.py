"""``vbq agreement``: inter- and intra-reader agreement (ICC, Bland-Altman) of VBQ values and the overlap of
readers' segmentations, into a report folder (OUT/agreement.json, OUT/report.html, OUT/tables/*.csv)."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  vbq agreement readings.csv --out agreement/            # long table: case_id, reader, [session], [level], vbq
  vbq agreement readings.xlsx --case patient --reader observer --value VBQ --out agreement/
  vbq agreement --reader-table R1=r1.csv --reader-table R2=r2.csv --reader-table R1:2=r1_reread.csv --out agr/
  vbq agreement --segmentations R1=a.seg.nrrd --segmentations R2=b.seg.nrrd --image t1.nii.gz --out agr/
  vbq agreement --manifest cases.csv --segmentations R1=seg_r1 --segmentations R2=seg_r2 --out agr/
"""


def register(sub) -> None:
    p = sub.add_parser(
        "agreement", help="reader agreement: ICC, Bland-Altman, segmentation overlap",
        description="Inter-reader (per level and overall VBQ, in session 1 or the only session) and intra-reader "
        "(test-retest, per reader across sessions) agreement: all six ICC forms equal to R psych::ICC(lmer = "
        "FALSE) on complete cases (led by ICC(2,1), absolute agreement), Bland-Altman (bias, limits of agreement, "
        "proportional bias, plots), and per-level overlap of readers' segmentations (Dice, Jaccard, HD95, max HD). "
        "Writes OUT/agreement.json, OUT/report.html, OUT/tables/*.csv, OUT/figures/bland_altman_*.png|svg.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    p.add_argument("data", metavar="DATA", nargs="?", default=None,
                   help="long table (CSV, TSV or XLSX): one row per case, reader, [session], [level] and value")
    p.add_argument("--sheet", default=None, help="worksheet of an XLSX file (default: the first)")
    p.add_argument("--case", default="case_id", metavar="COL", help="case column (default: case_id)")
    p.add_argument("--reader", default="reader", metavar="COL", help="reader column (default: reader)")
    p.add_argument("--session", default=None, metavar="COL",
                   help="session column (default: session, when the table has it; else one session)")
    p.add_argument("--level", default=None, metavar="COL",
                   help="level column (default: level, when the table has it; else the values are the overall VBQ)")
    p.add_argument("--value", default="vbq", metavar="COL", help="value column (default: vbq)")
    p.add_argument("--reader-table", action="append", default=None, metavar="READER[:SESSION]=FILE",
                   help="a 'vbq batch' results table of one reader (and session); repeat for each")
    p.add_argument("--preset", default="lu2024", metavar="NAME",
                   help="overall VBQ = this preset's aggregate of the levels present (default: lu2024, mean of "
                   "C2-C7)")
    g = p.add_argument_group("segmentation overlap")
    g.add_argument("--segmentations", action="append", default=None, metavar="READER=FILE",
                   help="one reader's segmentation (.seg.nrrd or labelmap) of --image; repeat for each reader. With "
                   "--manifest: READER=COLUMN of the manifest")
    g.add_argument("--image", default=None, metavar="FILE", help="the MRI the segmentations were drawn on")
    g.add_argument("--labels", default=None, metavar="FILE", help="segment names of labelmap segmentations")
    g.add_argument("--manifest", default=None, metavar="CSV",
                   help="many cases: case_id, image, [labels] and one segmentation column per reader")
    from .figure_options import add_figure_options

    add_figure_options(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; files replaced)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    p.set_defaults(func=run)
    from .oneline import one_line_errors

    one_line_errors(p)


def _pairs(values, flag):
    from VBQScoreLib.errors import VBQInputError

    out = {}
    for v in values or []:
        if "=" not in v or not v.split("=", 1)[0].strip() or not v.split("=", 1)[1].strip():
            raise VBQInputError(f"{flag} {v}: expected READER=FILE (e.g. R1=a.seg.nrrd)")
        name, path = (s.strip() for s in v.split("=", 1))
        if name in out:
            raise VBQInputError(f"{flag} {v}: reader '{name}' given twice")
        out[name] = path
    return out


def run(args) -> int:
    import shlex
    import sys
    from pathlib import Path

    from VBQScoreLib.atomic import check_output_directory
    from VBQScoreLib.errors import VBQInputError
    from VBQScoreLib.measuring.presets import get_preset
    from VBQScoreLib.progress import TqdmProgress

    from .figure_options import check_figure_options, figure_kwargs
    from .outputs import check_report_inputs

    check_figure_options(args)
    segs = _pairs(args.segmentations, "--segmentations")
    if args.data and args.reader_table:
        raise VBQInputError("give either DATA (a long table) or --reader-table files, not both")
    if not (args.data or args.reader_table or segs or args.manifest):
        raise VBQInputError("nothing to compare: give DATA (a long table), --reader-table files or --segmentations")
    if args.manifest and args.image:
        raise VBQInputError("--image and --manifest: the manifest names each case's image; give one of them")
    if segs and not (args.image or args.manifest):
        raise VBQInputError("--segmentations needs --image (the MRI they were drawn on) or --manifest")
    if (args.image or args.labels) and not segs:
        raise VBQInputError("--image/--labels apply to --segmentations; give the readers' segmentations")
    if args.labels and args.manifest:
        raise VBQInputError("--labels: with --manifest, name each case's label file in its 'labels' column")
    if args.sheet and not args.data:
        raise VBQInputError("--sheet applies to DATA (an XLSX long table)")
    get_preset(args.preset)  # an unknown preset is bad input before any work
    out = Path(args.out)
    check_output_directory(out)
    inputs = [("DATA", args.data)] if args.data else []
    inputs += [("--reader-table", s.split("=", 1)[-1]) for s in args.reader_table or []]
    if not args.manifest:
        inputs += [("--segmentations", p) for p in segs.values()]
    inputs += [(f, v) for f, v in (("--image", args.image), ("--labels", args.labels), ("--manifest", args.manifest))
               if v]
    check_report_inputs(out, inputs, ("agreement.json", "report.html"))

    from VBQCohortLib.agreement.analysis import run_agreement
    from VBQCohortLib.agreement.data import read_long_table, read_reader_tables
    from VBQCohortLib.agreement.report import write_agreement

    command = "vbq " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else None
    bar = None if args.quiet else TqdmProgress(desc="vbq agreement", unit="step")
    try:
        data = None
        if args.data:
            data = read_long_table(args.data, case=args.case, reader=args.reader, session=args.session,
                                   level=args.level, value=args.value, sheet=args.sheet)
        elif args.reader_table:
            data = read_reader_tables(args.reader_table)
        overlap = None
        if segs or args.manifest:
            from VBQScoreLib.measuring.overlap import overlap_files, overlap_manifest

            overlap = (overlap_manifest(args.manifest, segs or None, progress=bar) if args.manifest else
                       overlap_files(args.image, segs, labels=args.labels, progress=bar))
        results, frames = run_agreement(data, preset=args.preset, overlap=overlap, progress=bar, command=command,
                                        return_frames=True)
        written = write_agreement(results, out, frames, **figure_kwargs(args))
    finally:
        if bar is not None:
            bar.close()
    if not args.quiet:
        print(f"Report:    {written['report']}")
        print(f"Agreement: {written['agreement']}")
        for s in results.get("summary") or []:
            print("  - " + s)
        warns = results.get("warnings") or []
        for w in warns[:8]:
            print(f"  ! {w}")
        if len(warns) > 8:
            print(f"  ! ... and {len(warns) - 8} more warning(s) in the report")
    return 0
