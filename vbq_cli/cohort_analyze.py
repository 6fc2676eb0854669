"""``vbq cohort analyze``: the whole study (matching, per-level and across-level tests, sex-stratified
sub-study, logistic regression) from a clinical table, into a report folder."""

from __future__ import annotations

import argparse


def _csv_list(text: str) -> list[str]:
    return [s.strip() for s in str(text).split(",") if s.strip()]


def _levels_arg(text: str) -> list[str]:
    """``VBQ_C2,VBQ_C3`` as they are; a level range like ``C2-C7`` becomes ``VBQ_C2..VBQ_C7``."""
    import re

    from VBQScoreLib.errors import VBQInputError
    from VBQScoreLib.measuring.levels import parse_level_list

    out = []
    for tok in _csv_list(text):
        if "-" in tok:
            try:
                out.extend(f"VBQ_{lv}" for lv in parse_level_list(tok))
                continue
            except VBQInputError as exc:
                if re.fullmatch(r"[CTLSctls]\d+\s*-\s*[CTLSctls]\d+", tok):  # meant as a level range
                    raise argparse.ArgumentTypeError(str(exc)) from None
        elif re.fullmatch(r"[CTLSctls]\d+", tok):  # looks like a level: must be one (C9 is not)
            try:
                parse_level_list(tok)
            except VBQInputError as exc:
                raise argparse.ArgumentTypeError(str(exc)) from None
        out.append(tok)
    if not out:
        raise argparse.ArgumentTypeError("expected level columns (VBQ_C2,VBQ_C3) or a range like C2-C7")
    return out


def add_matching_options(p) -> None:
    g = p.add_argument_group("matching options (R MatchIt method='nearest' semantics; default: the plan's)")
    g.add_argument("--no-matching", action="store_true", help="compare the unmatched groups (no propensity score)")
    g.add_argument("--method", choices=("nearest", "optimal"), default=None)
    g.add_argument("--distance", choices=("ps", "logit"), default=None,
                   help="match on the propensity score or its logit (lu2024: logit)")
    g.add_argument("--ratio", type=int, default=None, metavar="K", help="controls per treated (1:K)")
    g.add_argument("--caliper", type=float, default=None, metavar="SD",
                   help="caliper in SD of the distance (lu2024: 0.2, Austin)")
    g.add_argument("--no-caliper", action="store_true", help="match without a caliper")
    g.add_argument("--std-caliper", dest="std_caliper", action="store_const", const=True, default=None,
                   help="caliper in SD units (default)")
    g.add_argument("--raw-caliper", dest="std_caliper", action="store_const", const=False,
                   help="caliper in distance units")
    g.add_argument("--replace", action="store_const", const=True, default=None, help="match with replacement")
    g.add_argument("--exact", type=_csv_list, default=None, metavar="COLS", help="exact matching on these columns")
    g.add_argument("--order", choices=("largest", "smallest", "random", "data"), default=None)
    g.add_argument("--seed", type=int, default=None, help="seed for --order random")
    g.add_argument("--compat", choices=("matchit-4.5.1",), default=None,
                   help="reproduce R MatchIt 4.5.1 bug for bug (only to compare with that version)")


def register(csub) -> None:
    p = csub.add_parser(
        "analyze", help="run the whole study and write a report folder",
        description="Propensity-score matching, per-level comparison (Shapiro-Wilk, rank-sum, signed-rank on "
        "pairs, Holm), across-level tests (Kruskal-Wallis, Friedman, Dunn), sex-stratified sub-study and "
        "logistic regression, as described by an analysis plan (default: the built-in lu2024). Flags override "
        "the plan. Writes OUT/results.json, OUT/report.html, OUT/report.docx, OUT/tables.xlsx, OUT/tables/*.csv "
        "(Table 1: tables/table1_before.csv, table1_after.csv), OUT/figures/*.{pdf,svg,png,tiff}, OUT/matched.csv.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  vbq cohort analyze clinical.csv --id patient_id --group diagnosis --treated OPLL "
        "--control CSM \\\n      --levels C2-C7 --covariates age,sex,bmi,smoking --vbq-results vbq.csv --out study/",
    )
    p.add_argument("data", metavar="DATA", help="clinical table (CSV, TSV or XLSX)")
    p.add_argument("--sheet", default=None, help="worksheet of an XLSX file (default: the first)")
    p.add_argument("--plan", default=None, metavar="NAME|FILE", help="analysis plan: built-in name (lu2024) or "
                   "a YAML/JSON file (default: lu2024)")
    p.add_argument("--id", default=None, metavar="COL", help="patient id column")
    p.add_argument("--group", default=None, metavar="COL", help="group column")
    p.add_argument("--treated", default=None, metavar="A", help="group value of interest (e.g. OPLL)")
    p.add_argument("--control", default=None, metavar="B", help="comparison group value (e.g. CSM)")
    p.add_argument("--levels", type=_levels_arg, default=None, metavar="COLS",
                   help="VBQ level columns, comma-separated, or a range like C2-C7 (= VBQ_C2..VBQ_C7)")
    p.add_argument("--covariates", type=_csv_list, default=None, metavar="COLS",
                   help="matching covariates, comma-separated")
    p.add_argument("--categorical", type=_csv_list, default=None, metavar="COLS",
                   help="covariates to dummy-code (text columns are categorical anyway)")
    p.add_argument("--predictors", type=_csv_list, default=None, metavar="COLS",
                   help="logistic-regression predictors (default: the covariates when --covariates is given, "
                   "else the plan's)")
    p.add_argument("--sex-column", default=None, metavar="COL",
                   help="column for the sex-stratified sub-study (default: the plan's, 'sex'); '' turns it off")
    p.add_argument("--vbq-results", default=None, metavar="CSV",
                   help="VBQ results to join by patient id: the CSV of 'vbq batch', or a long table "
                   "(case_id, level, vbq)")
    add_matching_options(p)
    g = p.add_argument_group("publication output (Table 1, report.docx, tables.xlsx, figures)")
    g.add_argument("--dictionary", default=None, metavar="FILE",
                   help="data dictionary (CSV/XLSX with variable,label,unit,levels such as 1=Male;0=Female, or "
                   "REDCap's data-dictionary export): labels for tables and figures")
    g.add_argument("--dpi", type=int, default=300, metavar="N",
                   help="resolution of the PNG and TIFF figures (default 300; PDF and SVG are vector)")
    g.add_argument("--figure-width", default=None, metavar="single|double|MM",
                   help="figure width: single column (85 mm), double column (174 mm) or a width in mm")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; files replaced)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    p.set_defaults(func=run, command="cohort analyze")  # main.py prints "vbq <command>: error: ..."
    from .oneline import one_line_errors

    one_line_errors(p)


def overrides_from_args(args) -> dict:
    return {
        "id": args.id, "group": args.group, "treated": args.treated, "control": args.control,
        "levels": args.levels, "covariates": args.covariates, "categorical": args.categorical,
        "predictors": args.predictors, "sex_column": args.sex_column,
        "no_matching": args.no_matching or None, "method": args.method, "distance": args.distance,
        "ratio": args.ratio, "caliper": args.caliper, "no_caliper": args.no_caliper or None,
        "std_caliper": args.std_caliper, "replace": args.replace, "exact": args.exact, "order": args.order,
        "seed": args.seed, "compat": args.compat, "dictionary": getattr(args, "dictionary", None),
    }


def print_summary(results: dict, written: dict) -> None:
    import html
    import re

    from VBQCohortLib.report.cohort import summary_sentences

    print(f"Report:  {written['report']}")
    print(f"Results: {written['results']}")
    for s in summary_sentences(results):
        print("  - " + html.unescape(re.sub(r"<[^>]+>", "", s)))
    warns = [" ".join(str(w).split()) for w in results.get("warnings") or []]
    for w in warns[:8]:
        print(f"  ! {w}")
    if len(warns) > 8:
        print(f"  ! ... and {len(warns) - 8} more warning(s) in the report")


def run(args) -> int:
    import math
    import shlex
    import sys
    from pathlib import Path

    from VBQCohortLib.analysis.plan import load_plan
    from VBQCohortLib.analysis.run import run_analysis
    from VBQCohortLib.report.cohort import write_report
    from VBQScoreLib.errors import VBQInputError
    from VBQScoreLib.progress import TqdmProgress

    # checked here (not as argparse types) so that main() returns 2 with one line, as for every bad input
    if args.ratio is not None and args.ratio < 1:
        raise VBQInputError(f"--ratio {args.ratio}: must be a whole number >= 1 (controls per treated subject)")
    if args.caliper is not None and not (args.caliper > 0 and math.isfinite(args.caliper)):
        raise VBQInputError(f"--caliper {args.caliper:g}: must be a finite number > 0 (SDs of the distance); "
                            f"use --no-caliper for none")
    from VBQScoreLib.atomic import check_output_directory

    from .outputs import check_report_inputs

    if not 72 <= args.dpi <= 2400:
        raise VBQInputError(f"--dpi {args.dpi}: must be between 72 and 2400")
    if args.figure_width is not None:
        from VBQCohortLib.publication.figures import width_mm

        width_mm(args.figure_width)  # one line naming the flag when wrong
    if args.dictionary is not None and not Path(args.dictionary).is_file():
        raise VBQInputError(f"--dictionary {args.dictionary}: file not found")
    out = Path(args.out)
    check_output_directory(out)
    check_report_inputs(out, [("DATA", args.data), ("--vbq-results", args.vbq_results), ("--plan", args.plan)],
                        ("results.json", "report.html", "report.docx", "tables.xlsx", "matched.csv"),
                        folders=("tables", "figures", "diagnostic", "agreement"))
    plan = load_plan(args.plan or "lu2024")
    command = "vbq " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else None
    if plan.diagnostic_only:  # a diagnostic-accuracy plan (issue 18): its own report
        from .cohort_diagnostic import run_diagnostic_plan

        return run_diagnostic_plan(args, plan, out, command)
    bar = None if args.quiet else TqdmProgress(desc="vbq cohort analyze", unit="step")
    n_report = 3  # figures, page, written
    n_an = [0]

    def analysis_progress(done, total, message):
        n_an[0] = total
        if bar is not None:
            bar(done, total + n_report, message)

    try:
        results, frames = run_analysis(args.data, plan, overrides=overrides_from_args(args),
                                       vbq_results=args.vbq_results, progress=analysis_progress,
                                       command=command, sheet=args.sheet, return_frames=True)

        def report_progress(done, total, message):
            if bar is not None:
                bar(n_an[0] + done, n_an[0] + total, message)

        diag = None
        if plan.diagnostic is not None:  # the plan's diagnostic: section, computed before anything is written
            from .cohort_diagnostic import run_plan_section

            diag = run_plan_section(args, plan, command)
            results["diagnostic"] = {"folder": "diagnostic", "markers": diag[0]["markers"],
                                     "conditions": diag[0]["condition_labels"]}
        written = write_report(results, out, frames, progress=report_progress, dpi=args.dpi,
                               figure_width=args.figure_width)
        if diag is not None:
            from VBQCohortLib.diagnostic.report import write_diagnostic_report

            written["diagnostic"] = write_diagnostic_report(diag[0], out / "diagnostic", diag[1])["report"]
    finally:
        if bar is not None:
            bar.close()
    if not args.quiet:
        print_summary(results, written)
    return 0
