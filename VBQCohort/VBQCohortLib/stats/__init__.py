"""The VBQ study's statistical tests, equal to R's ``stats`` package (R 4.2), split the way scipy.stats is:
:mod:`.normality` (Shapiro-Wilk), :mod:`.rank` (rank-sum, signed-rank), :mod:`.ksample` (Kruskal-Wallis,
Friedman, Dunn), :mod:`.multiplicity` (p.adjust), :mod:`.rnumerics` (R's numerical routines), :mod:`.logistic`
(logistic regression, not re-exported here: ``VBQCohortLib.stats.logistic``).

Each test returns a small frozen dataclass (scipy.stats style) with ``statistic``, ``pvalue``, ``method``, ``n``,
effect-size fields and ``to_dict()`` whose keys are fixed by issue 3:

=================  ===========================================================================================
function           ``to_dict()`` keys
=================  ===========================================================================================
``shapiro``        ``W, p, n, method``                            (R ``shapiro.test``)
``ranksum``        ``W, p, method, n1, n2, z, exact, rank_biserial, hl_shift, hl_median, ci_low, ci_high,
                   conf_level, alternative, n_missing, warnings`` (R ``wilcox.test(x, y, conf.int=TRUE)``)
``signed_rank``    ``V, p, method, n, n_pairs, n_zero, n_missing, z, exact, rank_biserial, pseudomedian,
                   ci_low, ci_high, conf_level, alternative, warnings`` (R ``wilcox.test(x, y, paired=TRUE)``)
``kruskal``        ``H, df, p, n, k, epsilon2, method, n_missing`` (R ``kruskal.test``)
``friedman``       ``chi2, df, p, n, k, kendall_w, method, n_incomplete`` (R ``friedman.test``)
=================  ===========================================================================================

``dunn`` returns a pandas DataFrame (``group1, group2, n1, n2, mean_rank1, mean_rank2, z, p, p_adj``) and
``p_adjust`` follows R's ``p.adjust``.

Where the numbers come from
---------------------------
* Shapiro-Wilk: a port of R's ``swilk.c`` (Royston's AS R94). scipy.stats.shapiro runs the same algorithm but
  partly in single precision (W off by ~1e-10, p by ~1e-8 from R), so it is only used as a cross-check in tests.
* Rank-sum / signed-rank p-values: ``scipy.stats.mannwhitneyu`` / ``scipy.stats.wilcoxon`` with the method chosen
  by R's rule (exact when both samples < 50 (pairs < 50) and there are no ties (and no zero differences),
  else the normal approximation with tie and continuity correction).
* Confidence intervals and location estimates (Hodges-Lehmann shift / pseudomedian): **hand-written**, because
  no Python library reproduces R here. Exact case: order statistics of the pairwise differences (Walsh averages)
  at quantiles of the exact null distribution (R's ``qwilcox``/``qsignrank``; computed here from the generating
  functions). Normal case: R inverts the standardised statistic with ``uniroot(tol = 1e-4)``; the result depends
  on the root-finder's path, so this module carries a line-by-line port of R's ``R_zeroin2`` (Brent) to give the
  very numbers R prints. In the normal case R's "difference in location" (``hl_shift``) is the point where the
  uncorrected standardised statistic crosses zero as found by ``uniroot``: it lies between the two middle
  pairwise differences but is not necessarily their mean. The textbook Hodges-Lehmann estimate (median of all
  pairwise differences, computed without forming them for large samples) is reported beside it as ``hl_median``;
  in the exact case both are R's ``median(diffs)``.
* Effect sizes: rank-biserial r = 2W/(n1 n2) - 1 (positive when the first sample tends to be larger);
  matched-pairs rank-biserial 2V/(n(n+1)/2) - 1; epsilon² = H/(n-1); Kendall's W = chi2/(n(k-1)).
* Kruskal-Wallis: ``scipy.stats.kruskal`` (tie-corrected, same formula as R). Friedman: ``scipy.stats.
  friedmanchisquare`` (tie-corrected like R); rows with a missing value are dropped (R's complete cases) and
  counted in ``n_incomplete``.
* Dunn: hand-written by its formula (z = mean-rank difference / SE with tie correction, as ``dunn.test`` and
  ``FSA::dunnTest`` compute it); ``p`` is **two-sided** (``dunn.test(..., altp=TRUE)``; plain ``dunn.test``
  prints one-sided p = two-sided / 2).
* ``p_adjust``: ``statsmodels.stats.multitest.multipletests`` for every method (agrees with R, also Hommel:
  checked against R in the tests), with R's NA handling (missing p-values stay missing and do not count in n).
"""


from .ksample import FriedmanResult, KruskalResult, dunn, friedman, kruskal
from .multiplicity import P_ADJUST_METHODS, p_adjust
from .normality import ShapiroResult, shapiro
from .rank import RankSumResult, SignedRankResult, ranksum, signed_rank
# the names the module VBQCohortLib.stats gave R's routines (Testing/test_stats.py checks them on their own)
from .rnumerics import kth_pairwise_diff as _kth_pairwise_diff  # noqa: F401
from .rnumerics import median_pairwise_diff as _median_pairwise_diff  # noqa: F401
from .rnumerics import signrank_counts as _signrank_counts  # noqa: F401
from .rnumerics import wilcox_counts as _wilcox_counts  # noqa: F401
from .rnumerics import zeroin as _zeroin  # noqa: F401

__all__ = [
    "ShapiroResult", "RankSumResult", "SignedRankResult", "KruskalResult", "FriedmanResult",
    "shapiro", "ranksum", "signed_rank", "kruskal", "friedman", "dunn", "p_adjust", "P_ADJUST_METHODS",
]
