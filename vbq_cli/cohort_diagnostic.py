"""``vbq cohort diagnostic``: a marker's diagnostic accuracy (ROC with DeLong CIs, Youden cut-offs, paired DeLong
tests, correlation, adjusted logistic model) equal to R pROC / cor.test, into a report folder (issue 18)."""

from __future__ import annotations

import argparse

DIAGNOSTIC_FILES = ("diagnostic.json", "report.html")  # the report folder's top level (with tables/, figures/)


def _csv_list(text: str) -> list[str]:
    return [s.strip() for s in str(text).split(",") if s.strip()]


def register(csub) -> None:
    p = csub.add_parser(
        "diagnostic", help="diagnostic accuracy of a marker: ROC/AUC with DeLong CI, Youden cut-off, correlation",
        description="ROC curves of each --marker for each --condition (R pROC semantics: direction from the\n"
        "group medians, AUC with DeLong 95% CI, Youden-optimal thresholds with sensitivity and specificity and\n"
        "their Clopper-Pearson CIs, PPV, NPV, LR+, LR-), paired DeLong tests between markers, Pearson and\n"
        "Spearman correlation with each --correlate column (R cor.test), and with --covariates a logistic model.\n"
        "Writes OUT/diagnostic.json, OUT/report.html, OUT/tables/*.csv, OUT/figures/*.png|svg.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  vbq cohort diagnostic study.csv --id patient_id --marker vbq_l1_l4 \\\n"
        "      --condition \"dxa_t_lumbar <= -2.5\" --condition \"dxa_t_lumbar < -1\" --correlate dxa_t_lumbar "
        "\\\n      --threshold 3.0 --out diag/",
    )
    p.add_argument("data", metavar="DATA", help="table (CSV, TSV or XLSX)")
    p.add_argument("--sheet", default=None, help="worksheet of an XLSX file (default: the first)")
    p.add_argument("--marker", action="append", required=True, metavar="COL",
                   help="marker column (numeric); repeat for several markers")
    p.add_argument("--condition", action="append", default=[], metavar="EXPR",
                   help="positive class 'COLUMN OP VALUE' with OP one of <=, <, >=, >, ==, != "
                   "(e.g. \"dxa_t_lumbar <= -2.5\", \"screw_loosening == yes\"); repeat for several")
    p.add_argument("--correlate", action="extend", nargs="+", default=[], metavar="COL",
                   help="reference column(s) to correlate each marker with (Pearson and Spearman)")
    p.add_argument("--covariates", type=_csv_list, default=[], metavar="COLS",
                   help="comma-separated covariates: logistic model condition ~ marker + covariates")
    p.add_argument("--id", default=None, metavar="COL", help="patient id column (names excluded rows; needed "
                   "with --vbq-results)")
    p.add_argument("--vbq-results", default=None, metavar="FILE",
                   help="VBQ results to join by patient id (the CSV of 'vbq batch', or case_id, level, vbq)")
    p.add_argument("--threshold", action="extend", nargs="+", type=float, default=[], metavar="X",
                   help="also report the accuracy at these cut-offs (e.g. a published one)")
    p.add_argument("--at-sensitivity", type=float, default=None, metavar="S",
                   help="also report the cut-off reaching this sensitivity (e.g. 0.9)")
    p.add_argument("--at-specificity", type=float, default=None, metavar="S",
                   help="also report the cut-off reaching this specificity")
    p.add_argument("--bootstrap", type=int, default=None, metavar="N",
                   help="also a stratified bootstrap CI of the AUC with N resamples")
    p.add_argument("--seed", type=int, default=None, metavar="S", help="seed of the bootstrap")
    from .figure_options import add_figure_options

    add_figure_options(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; files replaced)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    p.set_defaults(func=run, command="cohort diagnostic")
    from .oneline import one_line_errors

    one_line_errors(p)


def run(args) -> int:
    import shlex
    import sys
    from pathlib import Path

    from VBQCohortLib.diagnostic.analysis import run_diagnostic
    from VBQCohortLib.diagnostic.report import write_diagnostic_report
    from VBQScoreLib.atomic import check_output_directory
    from VBQScoreLib.errors import VBQInputError
    from VBQScoreLib.progress import TqdmProgress

    from .outputs import check_report_inputs

    if args.bootstrap is None and args.seed is not None:
        raise VBQInputError("--seed: only with --bootstrap N")
    from .figure_options import check_figure_options, figure_kwargs

    check_figure_options(args)
    out = Path(args.out)
    check_output_directory(out)
    check_report_inputs(out, [("DATA", args.data), ("--vbq-results", args.vbq_results)], DIAGNOSTIC_FILES)
    command = "vbq " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else None
    bar = None if args.quiet else TqdmProgress(desc="vbq cohort diagnostic", unit="step")
    n_an = [0]

    def prog(done, total, message):
        n_an[0] = total
        if bar is not None:
            bar(done, total + 3, message)

    try:
        res, frames = run_diagnostic(
            args.data, args.marker, args.condition, correlate=args.correlate, covariates=args.covariates,
            id_col=args.id, vbq_results=args.vbq_results, thresholds=args.threshold,
            at_sensitivity=args.at_sensitivity, at_specificity=args.at_specificity, bootstrap=args.bootstrap,
            seed=args.seed, sheet=args.sheet, progress=prog, command=command, return_frames=True)

        def rprog(done, total, message):
            if bar is not None:
                bar(n_an[0] + done, n_an[0] + total, message)

        written = write_diagnostic_report(res, out, frames, progress=rprog, **figure_kwargs(args))
    finally:
        if bar is not None:
            bar.close()
    if not args.quiet:
        _print_summary(res, written)
    return 0


def _print_summary(res: dict, written: dict) -> None:
    """What a run wrote, its summary sentences and the first warnings (both ways of running the diagnostic)."""
    from VBQCohortLib.diagnostic.report import summary_sentences

    print(f"Report:  {written['report']}")
    print(f"Results: {written['json']}")
    for s in summary_sentences(res):
        print("  - " + s)
    for w in res.get("warnings", [])[:8]:
        print("  ! " + " ".join(str(w).split()))


def run_plan_section(args, plan, command, *, bar=None, offset: int = 0):
    """``vbq cohort analyze`` with a plan's ``diagnostic:`` section: ``(results, frames)`` (nothing written)."""
    from VBQCohortLib.diagnostic.plan import run_section

    id_col = args.id or plan.columns.get("id")

    def prog(done, total, message):
        if bar is not None:
            bar(offset + done, offset + total + 3, f"diagnostic: {message}")

    return run_section(args.data, plan.diagnostic, id_col=id_col if (id_col and (args.vbq_results or args.id))
                       else None, vbq_results=args.vbq_results, sheet=args.sheet, progress=prog, command=command)


def run_diagnostic_plan(args, plan, out, command) -> int:
    """``vbq cohort analyze --plan <diagnostic-only plan>``: the diagnostic report into OUT."""
    from VBQCohortLib.diagnostic.report import write_diagnostic_report
    from VBQScoreLib.errors import VBQInputError
    from VBQScoreLib.progress import TqdmProgress

    given = [f"--{k.replace('_', '-')}" for k in ("group", "treated", "control", "levels", "covariates",
                                                  "predictors", "categorical") if getattr(args, k, None)]
    if given:
        raise VBQInputError(f"{', '.join(given)}: plan {plan.name} is a diagnostic-accuracy study without a group "
                            f"comparison; use 'vbq cohort diagnostic' flags or a plan with columns.group")
    from .outputs import check_report_inputs

    check_report_inputs(out, [("DATA", args.data), ("--vbq-results", args.vbq_results)], DIAGNOSTIC_FILES)
    bar = None if args.quiet else TqdmProgress(desc="vbq cohort analyze", unit="step")
    try:
        res, frames = run_plan_section(args, plan, command, bar=bar)
        res["plan"] = {"name": plan.name, "title": plan.title, "citation": plan.citation, "source": plan.source}
        from .figure_options import figure_kwargs

        written = write_diagnostic_report(res, out, frames, **figure_kwargs(args))
    finally:
        if bar is not None:
            bar.close()
    if not args.quiet:
        _print_summary(res, written)
    return 0
