"""Propensity-score matching, equal to R MatchIt: ``propensity`` (scores, design matrix, treatment vector),
``nearest`` (:func:`match`), ``balance`` (standardised differences, Love plot), ``checks`` (one-line errors for a
table before matching: columns, numbers, labels, group sizes).

Re-exports what the module ``VBQCohortLib.matching`` held before it became this package."""

from .nearest import DISCARDS, ORDERS, MatchResult, _optimal_core, match, sample_size_table  # noqa: F401

from .checks import check_match_input  # noqa: F401

__all__ = ["MatchResult", "match", "check_match_input"]
