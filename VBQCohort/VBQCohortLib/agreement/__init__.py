"""Inter-/intra-reader agreement: ``stats`` (ICC in the Shrout-Fleiss and McGraw-Wong forms, Bland-Altman),
``data`` (reading long and per-reader tables), ``analysis`` (:func:`run_agreement`), ``report``.

Re-exports what the module ``VBQCohortLib.agreement`` held before it became this package."""

from .analysis import KOO_LI_TEXT, LEAD, MAX_LISTED, run_agreement, summary_sentences  # noqa: F401
