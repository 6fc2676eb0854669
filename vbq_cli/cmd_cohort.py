"""``vbq cohort match``, ``analyze`` and ``diagnostic``: parsers live in cohort_match.py / cohort_analyze.py /
cohort_diagnostic.py."""

from __future__ import annotations


def register(sub) -> None:
    from importlib import import_module

    p = sub.add_parser("cohort", help="cohort statistics: propensity-score matching and the study analysis",
                       description="Cohort statistics of a VBQ study from a clinical spreadsheet.")
    csub = p.add_subparsers(dest="cohort_command", metavar="SUBCOMMAND")
    csub.required = True
    from .oneline import one_line_errors

    one_line_errors(p)
    for name in ("cohort_match", "cohort_analyze", "cohort_diagnostic"):
        try:
            mod = import_module(f"vbq_cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"vbq_cli.{name}":
                continue
            raise
        mod.register(csub)
