"""The ``diagnostic:`` section of an analysis plan (issue 18)::

    diagnostic:
      markers: [VBQ_overall]                  # numeric marker columns (required)
      conditions: ["dxa_t_lumbar < -1", "dxa_t_lumbar <= -2.5"]   # COLUMN OP VALUE, one ROC analysis each
      correlate: [dxa_t_lumbar]               # reference columns for Pearson / Spearman
      covariates: []                          # logistic model condition ~ marker + covariates
      thresholds: []                          # published cut-offs to report
      at_sensitivity: null                    # e.g. 0.9
      at_specificity: null
      bootstrap: null                         # stratified bootstrap resamples (null: DeLong only)
      seed: null

A plan whose ``columns.group`` is empty and that has this section is a diagnostic-accuracy study only (the
built-in ``ehresman2020_dxa``); with a group it runs beside the group comparison (``vbq cohort analyze`` writes
it into ``OUT/diagnostic/``). Unknown keys and wrong types are bad input naming the plan and the key.
"""

from __future__ import annotations

from typing import Any

from VBQScoreLib.errors import VBQInputError

__all__ = ["DEFAULTS", "check_section", "run_section"]

DEFAULTS: dict[str, Any] = {"markers": [], "conditions": [], "correlate": [], "covariates": [], "thresholds": [],
                            "at_sensitivity": None, "at_specificity": None, "bootstrap": None, "seed": None}


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_section(raw, source: str) -> dict | None:
    """The validated section with defaults filled in (None when the plan has none)."""
    if raw is None:
        return None
    where = f"plan {source}: diagnostic"
    if not isinstance(raw, dict):
        raise VBQInputError(f"{where} must be a mapping of settings, not {type(raw).__name__}")
    unknown = [k for k in raw if k not in DEFAULTS]
    if unknown:
        raise VBQInputError(f"{where}: unknown key '{unknown[0]}' (known: {', '.join(DEFAULTS)})")
    d = {**DEFAULTS, **raw}
    for k in ("markers", "conditions", "correlate", "covariates"):
        v = d[k]
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
            raise VBQInputError(f"{where}.{k} must be a list of {'expressions' if k == 'conditions' else 'column names'}"
                                f", got {d[k]!r}")
        d[k] = list(v)
    if not d["markers"]:
        raise VBQInputError(f"{where}.markers is empty (name the marker column(s), e.g. VBQ_overall)")
    if not d["conditions"] and not d["correlate"]:
        raise VBQInputError(f"{where}: give conditions (ROC) or correlate columns")
    if not isinstance(d["thresholds"], list) or not all(_num(x) for x in d["thresholds"]):
        raise VBQInputError(f"{where}.thresholds must be a list of numbers, got {d['thresholds']!r}")
    for k in ("at_sensitivity", "at_specificity"):
        if d[k] is not None and not (_num(d[k]) and 0 < d[k] <= 1):
            raise VBQInputError(f"{where}.{k} must be a proportion in (0, 1] or null, got {d[k]!r}")
    for k in ("bootstrap", "seed"):
        if d[k] is not None and not (isinstance(d[k], int) and not isinstance(d[k], bool)):
            raise VBQInputError(f"{where}.{k} must be a whole number or null, got {d[k]!r}")
    if d["bootstrap"] is not None and d["bootstrap"] < 1:
        raise VBQInputError(f"{where}.bootstrap must be >= 1")
    from .condition import parse_condition

    for c in d["conditions"]:
        try:
            parse_condition(c)
        except VBQInputError as exc:
            raise VBQInputError(f"{where}.conditions: {exc}") from None
    return d


def run_section(data, section: dict, *, id_col=None, vbq_results=None, sheet=None, progress=None, command=None):
    """``run_diagnostic`` with the settings of a plan's section; returns ``(results, frames)``."""
    from .analysis import run_diagnostic

    return run_diagnostic(data, section["markers"], section["conditions"], correlate=section["correlate"],
                          covariates=section["covariates"], id_col=id_col, vbq_results=vbq_results,
                          thresholds=section["thresholds"], at_sensitivity=section["at_sensitivity"],
                          at_specificity=section["at_specificity"], bootstrap=section["bootstrap"],
                          seed=section["seed"], sheet=sheet, progress=progress, command=command,
                          return_frames=True)
