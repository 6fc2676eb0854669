"""The diagnostic part of ``vbq demo`` (issue 18): a lumbar DXA T-score and one complication (screw loosening)
added to the synthetic cohort, with planted accuracy that the diagnostic report should recover.

Both are drawn from the normal scores ``U = qnorm(rank(VBQ) / (n + 1))`` of each patient's planned mean VBQ
(C2-C7), with a separate random stream (the cohort's other columns are unchanged):

* ``dxa_t_lumbar = -1.3 - (RHO_T U + sqrt(1 - RHO_T^2) e1)``, rounded to 0.1: higher VBQ, lower T-score;
* ``screw_loosening = yes`` when ``RHO_C U + sqrt(1 - RHO_C^2) e2 > qnorm(1 - PREVALENCE)``.

A ROC AUC does not change under a monotone transform of the marker, so the planted AUC of VBQ for a condition
``L > c`` (``L`` standard normal with correlation ``rho`` to ``U``) is the binormal-latent value
``P(U1 > U0)`` = integral of ``f1(u) F0(u) du``, computed by :func:`planted_auc` on a fine grid.
"""

from __future__ import annotations

import math

import numpy as np

RHO_T = 0.65        # normal-score correlation of VBQ with minus the T-score
T_MEAN = -1.3
RHO_C = 0.55        # latent correlation of VBQ with screw loosening
PREVALENCE = 0.25
MARKER = "VBQ_overall"
CONDITIONS = ("screw_loosening == yes", "dxa_t_lumbar <= -2.5", "dxa_t_lumbar < -1")


def planted_auc(rho: float, c: float) -> float:
    """AUC of U for the condition L > c, (U, L) standard bivariate normal with correlation rho."""
    from scipy.stats import norm

    s = math.sqrt(1 - rho * rho)
    u = np.linspace(-10, 10, 400001)
    phi = norm.pdf(u)
    p1 = norm.sf(c)
    f1 = phi * norm.cdf((rho * u - c) / s) / p1
    g0 = phi * norm.cdf((c - rho * u) / s)
    du = u[1] - u[0]
    F0 = np.concatenate(([0.0], np.cumsum((g0[1:] + g0[:-1]) / 2) * du)) / (1 - p1)
    h = f1 * F0
    return float(np.sum((h[1:] + h[:-1]) / 2) * du)


def add_columns(full, seed: int):
    """``(cohort with dxa_t_lumbar and screw_loosening, truth dict)``; ``full`` holds VBQ_C2..VBQ_C7."""
    from scipy.stats import norm, rankdata

    levels = [c for c in full.columns if str(c).startswith("VBQ_C")]
    mean_vbq = full[levels].mean(axis=1).to_numpy()
    n = mean_vbq.size
    u = norm.ppf(rankdata(mean_vbq) / (n + 1))
    rng = np.random.default_rng(seed + 18)
    e1, e2 = rng.standard_normal(n), rng.standard_normal(n)
    lt = RHO_T * u + math.sqrt(1 - RHO_T ** 2) * e1
    t = np.round(T_MEAN - lt, 1)
    c = norm.ppf(1 - PREVALENCE)
    lc = RHO_C * u + math.sqrt(1 - RHO_C ** 2) * e2
    out = full.copy()
    out["dxa_t_lumbar"] = t
    out["screw_loosening"] = np.where(lc > c, "yes", "no")
    # T <= -2.5 after rounding to 0.1  <=>  T_MEAN - L < -2.45  <=>  L > T_MEAN + 2.45; T < -1 <=> L > T_MEAN + 1.05
    truth = {
        "marker": MARKER,
        "planted_auc": {"screw_loosening == yes": planted_auc(RHO_C, c),
                        "dxa_t_lumbar <= -2.5": planted_auc(RHO_T, T_MEAN + 2.45),
                        "dxa_t_lumbar < -1": planted_auc(RHO_T, T_MEAN + 1.05)},
        "normal_score_correlation_with_t": -RHO_T,
        "model": "U = qnorm(rank(mean planned VBQ C2-C7)/(n+1)); T = -1.3 - (0.65 U + sqrt(1-0.65^2) e1) "
                 "rounded to 0.1; screw loosening when 0.55 U + sqrt(1-0.55^2) e2 > qnorm(0.75)",
    }
    return out, truth


def run_demo_diagnostic(tmp, out_dir, truth: dict) -> dict:
    """Run the diagnostic analysis of the demo (``tmp/data/clinical.csv`` joined with ``vbq_results.csv``) into
    ``tmp/diagnostic``; returns ``truth`` with the recovered AUCs and whether each planted AUC lies in the
    DeLong 95% CI."""
    from pathlib import Path

    from .analysis import run_diagnostic
    from .report import write_diagnostic_report

    tmp = Path(tmp)
    res, frames = run_diagnostic(tmp / "data" / "clinical.csv", [MARKER], list(CONDITIONS),
                                 correlate=["dxa_t_lumbar"], covariates=["age", "sex"], id_col="patient_id",
                                 vbq_results=tmp / "data" / "vbq_results.csv", return_frames=True,
                                 command=f"vbq cohort diagnostic {Path(out_dir) / 'data' / 'clinical.csv'} --id "
                                         f"patient_id --vbq-results {Path(out_dir) / 'data' / 'vbq_results.csv'} "
                                         f"--marker {MARKER} " + " ".join(f"--condition '{c}'" for c in CONDITIONS)
                                         + " --correlate dxa_t_lumbar --covariates age,sex --out diagnostic")
    for item in res["provenance"]["inputs"]:
        try:
            item["path"] = str(Path(out_dir) / Path(item["path"]).relative_to(tmp))
        except ValueError:
            pass
    recovered = {}
    for label, auc in truth["planted_auc"].items():
        e = res["conditions"][label]["roc"][MARKER]
        recovered[label] = {"planted_auc": auc, "auc": e["auc"], "ci_low": e["ci_low"], "ci_high": e["ci_high"],
                            "covered": bool(e["ci_low"] <= auc <= e["ci_high"])}
    res["demo"] = {"note": "SYNTHETIC DEMO DATA — not patients. Planted accuracy: " + truth["model"],
                   "recovered": recovered}
    write_diagnostic_report(res, tmp / "diagnostic", frames)
    return {**truth, "recovered": recovered, "folder": "diagnostic"}
