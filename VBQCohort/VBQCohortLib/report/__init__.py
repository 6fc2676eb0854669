"""Reports: ``html`` (CSS, escaping, number formatting, tables, figures, the previous-run file list and the one
folder writer both reports use) and ``cohort`` (the cohort study's report; the agreement report is
:mod:`VBQCohortLib.agreement.report`).

``VBQCohortLib.report.<name>`` gives what the module ``VBQCohortLib.report`` held before it became this package
(``write_report``, ``summary_sentences``, ``fig_forest``, ...), imported on first use so that importing
``report.html`` (as the agreement report does) does not import the cohort report."""

import importlib

_COHORT = ("ADJUST_NAMES", "GROUP_COLORS", "REPORT_FILES", "SEX_COLORS", "adjust_name", "comparison_frame",
           "fig_boxplots", "fig_forest", "fig_love", "fig_segmental", "forest_labels", "make_figures",
           "methods_paragraph", "render_html", "summary_sentences", "write_report")
_HTML = ("CSS", "esc", "fmt", "fmt_p", "fmt_p_text", "previous_listed_files")


def __getattr__(name):
    if name in _COHORT or name in _HTML:
        return getattr(importlib.import_module(f"{__name__}.{'cohort' if name in _COHORT else 'html'}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_COHORT) | set(_HTML))
