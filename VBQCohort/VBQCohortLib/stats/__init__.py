"""The VBQ study's statistics, equal to R 4.2 and split the way scipy.stats is: ``rank`` (Wilcoxon rank-sum and
signed-rank), ``normality`` (Shapiro-Wilk), ``ksample`` (Kruskal-Wallis, Friedman, Dunn), ``multiplicity``
(p.adjust), ``rnumerics`` (R's numerical routines the tests share), ``logistic`` (logistic regression).

Re-exports what the module ``VBQCohortLib.stats`` held before it became this package."""

from .rank import *  # noqa: F401,F403
from .rank import __all__  # noqa: F401
# R's numerical routines, checked on their own by Testing/test_stats.py
from .rank import _kth_pairwise_diff, _median_pairwise_diff, _signrank_counts, _wilcox_counts, _zeroin  # noqa: F401
