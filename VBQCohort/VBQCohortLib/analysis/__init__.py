"""A whole VBQ cohort study: ``plan`` (analysis plans; the built-in YAML files are in ``VBQCohortLib/plans``) and
``run`` (:func:`run_analysis`: prepare, match, test, model).

Re-exports what the module ``VBQCohortLib.analysis`` held before it became this package."""

from .run import (TREAT_COL, compare_levels, describe, level_label, paired_values, run_analysis,  # noqa: F401
                  segmental_tests, sha256_file)
