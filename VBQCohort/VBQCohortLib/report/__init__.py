"""Reports: ``html`` (CSS, escaping, number formatting, tables, figures, the previous-run file list and the one
folder writer both reports use) and ``cohort`` (the cohort study's report; the agreement report is
:mod:`VBQCohortLib.agreement.report`).

Re-exports what the module ``VBQCohortLib.report`` held before it became this package."""

from .cohort import (ADJUST_NAMES, CSS, GROUP_COLORS, REPORT_FILES, SEX_COLORS, adjust_name,  # noqa: F401
                     comparison_frame, esc, fig_boxplots, fig_forest, fig_love, fig_segmental, fmt, fmt_p,
                     fmt_p_text, forest_labels, make_figures, methods_paragraph, previous_listed_files, render_html,
                     summary_sentences, write_report)
