"""The measuring options shared by ``vbq score`` and ``vbq batch`` (one definition, same flags and checks)."""

from __future__ import annotations


def add_measure_options(p) -> None:
    """Add --preset, --stat, --levels, --aggregate, --csf-reference, --erode-mm, --mid-slices,
    --require-all-levels and --vbq-range to an argparse parser."""
    p.add_argument("--preset", default="lu2024", metavar="NAME",
                   help="VBQ definition: lu2024 (default: C2-C7, mean of level means), soliman2023, razzouk2022, "
                   "ehresman2020, or custom (with --levels)")
    p.add_argument("--stat", choices=("mean", "median"), default=None,
                   help="ROI statistic for level and CSF SI (default: the preset's, mean)")
    p.add_argument("--levels", metavar="LIST", default=None, help="levels of the overall score, e.g. C3-C6")
    p.add_argument("--aggregate", choices=("mean", "median"), default=None,
                   help="aggregate of level SIs across levels (default: the preset's)")
    p.add_argument("--csf-reference", metavar="WHERE", default=None,
                   help="which CSF segment to use when there are several ('cisterna magna', C2, C5, ...); "
                   "default: the preset's")
    p.add_argument("--erode-mm", type=float, default=0.0, metavar="X",
                   help="erode each ROI by X mm before measuring, to keep off cortical bone (default 0)")
    p.add_argument("--mid-slices", type=int, default=None, metavar="N",
                   help="keep only the N central sagittal slices of each ROI (default: all)")
    p.add_argument("--require-all-levels", action="store_true",
                   help="a missing or empty level of the preset is an error (default: a flag; the overall VBQ "
                   "uses the levels present)")
    p.add_argument("--vbq-range", type=float, nargs=2, default=(1.5, 5.0), metavar=("LO", "HI"),
                   help="plausible VBQ range; values outside are flagged VBQ_OUT_OF_RANGE (default 1.5 5.0)")
    p.add_argument("--max-voxels", type=int, default=None, metavar="N",
                   help="largest image read (voxels declared by its header), checked before it is decoded "
                   "(default 2^31)")


def check_measure_flags(args) -> None:
    """Name the flag when a measuring option is out of range."""
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


def options_from_args(args):
    """The validated :class:`VBQScoreLib.measuring.options.ScoreOptions` of the parsed flags."""
    from VBQScoreLib.measuring.options import ScoreOptions

    check_measure_flags(args)
    if getattr(args, "max_voxels", None) is not None:
        from VBQScoreLib.input.detached_data import set_max_voxels

        set_max_voxels(args.max_voxels)
    return ScoreOptions(preset=args.preset, stat=args.stat, levels=args.levels, aggregate=args.aggregate,
                        csf_reference=args.csf_reference, erode_mm=args.erode_mm,
                        mid_sagittal_slices=args.mid_slices, require_all_levels=args.require_all_levels,
                        vbq_range=tuple(args.vbq_range)).validate()
