"""``vbq batch MANIFEST --out results.csv``: measure VBQ for many cases, locally or on a Dask cluster.

Exit status: 0 all cases ok; 1 finished but some cases failed (their rows carry the error); 2 bad input
(unreadable manifest, missing column, duplicate case id, bad option, unreachable scheduler...).
"""

from __future__ import annotations

import argparse
import sys

EPILOG = """\
MANIFEST is a CSV with columns case_id,image,segmentation[,labels] (relative paths are relative to the
manifest's folder), or a folder searched with --pattern (default: {case_id}/image.nii.gz and
{case_id}/segmentation.seg.nrrd, else the layout vbq demo writes: {case_id}/t1.nii.gz, t1_labels.nii.gz,
t1_labels.txt).

examples:
  vbq batch cases.csv --out results.csv                    # all cores of this machine
  vbq batch cases.csv --out results.csv --workers 4
  vbq batch cases.csv --out results.csv --scheduler tcp://10.0.0.5:8786
  vbq batch study/ --pattern '{case_id}/t1.nii.gz' '{case_id}/*.seg.nrrd' --out results.csv
  vbq batch cases.csv --out results.csv --resume           # skip cases already ok in results.csv
  vbq batch vbq-demo/mri --out results.csv                 # the MRIs of vbq demo, as they are

Writes results.csv (one row per case: case_id, status, VBQ_C2..VBQ_C7, VBQ_overall, CSF_SI, flags, error;
joins with a clinical spreadsheet on case_id), results_long.csv (one row per case and ROI) and results.csv.sha256
(the SHA-256 of both: `sha256sum -c` tells whether they are still one pair).
"""


def register(sub) -> None:
    p = sub.add_parser(
        "batch",
        help="measure VBQ for many cases (manifest CSV or folder), on all cores or a Dask cluster",
        description="Measure VBQ for every case of a manifest or folder, on this machine's cores (a local "
        "Dask cluster) or on an existing Dask scheduler. A failed case gets an error row; the run goes on.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("manifest", metavar="MANIFEST", help="manifest CSV (case_id,image,segmentation[,labels]) or "
                   "a folder of cases (see --pattern)")
    p.add_argument("--out", required=True, metavar="CSV", help="output table (wide, one row per case); the "
                   "long table is written beside it as <name>_long.csv")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="address of an existing Dask scheduler (tcp://host:port); default: start a local "
                   "cluster. 'synchronous' runs in this process without Dask")
    p.add_argument("--workers", type=int, metavar="N", default=None,
                   help="worker processes of the local cluster (default: number of cores; 0 = in this process)")
    from .measure_options import add_measure_options

    add_measure_options(p)
    p.add_argument("--resume", action="store_true",
                   help="keep cases already ok in --out (and in the journal of an interrupted run); run the rest")
    p.add_argument("--pattern", nargs="+", metavar="PATTERN", default=None,
                   help="for a folder MANIFEST: image pattern, segmentation pattern [, labels pattern], with "
                   "{case_id} for one path component and * as a wildcard")
    p.add_argument("--max-in-flight", type=int, default=None, metavar="N", help=argparse.SUPPRESS)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    from .oneline import one_line_errors

    one_line_errors(p)


class _LazyBar:
    """A tqdm bar (count and rate) created at the first progress call, i.e. once the cluster is up, so that the
    rate does not include starting it."""

    def __init__(self):
        self._bar = None

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if self._bar is None:
            from VBQScoreLib.progress import TqdmProgress

            self._bar = TqdmProgress(desc="vbq batch", unit="case", disable=None)
        self._bar(done, total, message)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _check_out(out: str, manifest: str) -> None:
    """--out (and the long table / journal beside it) must not be the manifest, and must be a file name."""
    from pathlib import Path

    from VBQScoreLib.batch import journal_path_for, long_path_for

    from .outputs import check_output_files

    o = Path(out)
    check_output_files([("--out", out), ("--out", long_path_for(o)), ("--out", journal_path_for(o))],
                       [(manifest, f"the manifest {manifest}")])


def run(args) -> int:
    from VBQScoreLib.batch import load_cases, run_batch
    from VBQScoreLib.errors import VBQInputError

    if args.workers is not None and args.workers < 0:
        raise VBQInputError(f"--workers {args.workers}: must be >= 0 (0 = in this process)")
    if args.max_in_flight is not None and args.max_in_flight < 1:
        raise VBQInputError(f"--max-in-flight {args.max_in_flight}: must be >= 1")
    pattern = None
    if args.pattern:
        pattern = args.pattern[0] if len(args.pattern) == 1 else tuple(args.pattern)
    from .measure_options import options_from_args

    options = options_from_args(args)
    _check_out(args.out, args.manifest)
    skipped: list = []
    cases = load_cases(args.manifest, pattern, skipped=skipped)
    for message in skipped:  # a vbq intake manifest: rows not ok (ambiguous, no_series)
        print(f"vbq batch: {message}", file=sys.stderr)

    bar = None if args.no_progress else _LazyBar()
    try:
        summary = run_batch(cases, args.out, options=options, scheduler=args.scheduler, workers=args.workers,
                            resume=args.resume, progress=bar, max_in_flight=args.max_in_flight)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        print(f"vbq batch: interrupted; finished cases are kept in {args.out}.journal.jsonl: run again with "
              f"--resume to continue", file=sys.stderr)
        raise
    finally:
        if bar is not None:
            bar.close()
    for note in summary.notes:
        print(f"vbq batch: {note}", file=sys.stderr)
    skipped = f", {summary.n_skipped} of them kept from the previous run" if summary.n_skipped else ""
    print(f"vbq batch: {summary.n_cases} case(s): {summary.n_ok} ok{skipped}, {summary.n_failed} failed "
          f"({summary.where}, {summary.seconds:.1f} s); wrote {summary.out_csv} and {summary.long_csv}",
          file=sys.stderr)
    if summary.n_failed:
        print(f"vbq batch: {summary.n_failed} of {summary.n_cases} case(s) failed; see the error column of "
              f"{summary.out_csv}", file=sys.stderr)
        return 1
    return 0
