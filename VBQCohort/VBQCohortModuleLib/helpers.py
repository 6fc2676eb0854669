"""Column guesses and plot data for the VBQCohort module (Slicer-free; pandas only where noted)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_ID_RE = re.compile(r"^(patient[\s_\-]*id|case[\s_\-]*id|subject[\s_\-]*id|subject|patient|mrn|id|pid)$", re.I)
_GROUP_RE = re.compile(r"^(diagnosis|dx|group|arm|cohort|disease|condition|treatment|treated)$", re.I)
_SEX_RE = re.compile(r"^(sex|gender)$", re.I)
_LEVEL_RE = re.compile(r"^vbq[\s_\-]*(?P<lvl>[ctls]\d{1,2})$", re.I)
# columns written by vbq batch / the VBQScore module that are never covariates
_NOT_COVARIATES = re.compile(
    r"^(status|error|flags|preset|level_stat|aggregate|n_levels|vbq_overall|csf_si|.*_sha256|manufacturer|model|"
    r"magnetic_field_strength|repetition_time|echo_time|pixel_bandwidth|slice_thickness|notes?|comments?|date.*)$",
    re.I)


def level_columns(columns: Sequence[str]) -> list[str]:
    """Columns named ``VBQ_<level>`` (any case/separator), in spine order."""
    from VBQScoreLib.levels import level_sort_key, parse_segment_name

    found = []
    for c in columns:
        m = _LEVEL_RE.match(str(c).strip())
        if m:
            parsed = parse_segment_name(m.group("lvl"))
            if parsed is not None and parsed.kind == "level":
                found.append((level_sort_key(parsed.level), c))
    return [c for _, c in sorted(found)]


def _distinct(values) -> list:
    seen = []
    for v in values:
        if v is None or (isinstance(v, float) and v != v):
            continue
        s = str(v).strip()
        if s and s not in seen:
            seen.append(s)
    return seen


def guess_columns(columns: Sequence[str], values: dict | None = None, plan_columns: dict | None = None) -> dict:
    """Guess the role of each column for the mapping panel.

    ``values``: ``{column: list of cell values}`` (to find the group's two labels and an id column with unique
    values); ``plan_columns``: the chosen plan's ``columns`` section, whose names win when present in the table.
    Returns ``{"id", "group", "treated", "control", "levels", "covariates", "sex"}`` (None / [] when unknown).
    """
    columns = [str(c) for c in columns]
    values = values or {}
    plan_columns = plan_columns or {}
    present = set(columns)

    def first(regex, exclude=()):
        for c in columns:
            if c not in exclude and regex.match(c.strip()):
                return c
        return None

    out: dict[str, Any] = {}
    pid = plan_columns.get("id")
    out["id"] = pid if pid in present else first(_ID_RE)
    if out["id"] is None:
        for c in columns:  # first text column whose values are all distinct
            vals = values.get(c)
            if vals and len(_distinct(vals)) == len(vals) and not all(_is_number(v) for v in vals):
                out["id"] = c
                break
    pg = plan_columns.get("group")
    out["group"] = pg if pg in present else first(_GROUP_RE, exclude=(out["id"],))
    labels = _distinct(values.get(out["group"], [])) if out["group"] else []
    pt, pc = plan_columns.get("treated"), plan_columns.get("control")
    if pt is not None and str(pt) in labels and (pc is None or str(pc) in labels):
        out["treated"], out["control"] = str(pt), (str(pc) if pc is not None else None)
    elif len(labels) >= 2:
        out["treated"], out["control"] = labels[0], labels[1]
    else:
        out["treated"], out["control"] = None, None
    plan_levels = [c for c in (plan_columns.get("levels") or []) if c in present]
    out["levels"] = plan_levels or level_columns(columns)
    out["sex"] = first(_SEX_RE)
    plan_cov = [c for c in (plan_columns.get("covariates") or []) if c in present]
    if plan_cov:
        out["covariates"] = plan_cov
    else:
        used = {out["id"], out["group"], *out["levels"]}
        out["covariates"] = [c for c in columns if c not in used and not _NOT_COVARIATES.match(c.strip())
                             and not _LEVEL_RE.match(c.strip()) and c.strip().lower() != "case_id"]
    return out


def _is_number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def love_plot_rows(results: dict) -> list[tuple[str, float | None, float | None]]:
    """``[(covariate, |SMD| before, |SMD| after), ...]`` from ``results["matching"]["balance"]`` (MatchIt's
    ``Std. Mean Diff.``), without the distance row; ``after`` is None when there was no matching."""
    bal = ((results.get("matching") or {}).get("balance")) or {}
    before = bal.get("before") or {}
    after = bal.get("after") or {}
    rows = []
    for cov, b in before.items():
        if cov == "distance":
            continue
        smd_b = b.get("Std. Mean Diff.")
        smd_a = (after.get(cov) or {}).get("Std. Mean Diff.") if after else None
        rows.append((cov, None if smd_b is None else abs(float(smd_b)), None if smd_a is None else abs(float(smd_a))))
    return rows


def level_medians(results: dict) -> tuple[list[str], dict[str, list[float | None]]]:
    """Levels and, per group, the median VBQ per level of the compared sample (``results["comparison"]``)."""
    comp = results["comparison"]
    names = list(comp.get("groups") or (results["groups"]["treated"], results["groups"]["control"]))
    levels = list(comp["levels"])
    out = {n: [] for n in names}
    for lvl in levels:
        desc = comp["levels"][lvl].get("describe") or {}
        for n in names:
            out[n].append((desc.get(n) or {}).get("median"))
    return levels, out


def _missing(v) -> bool:
    import pandas as pd

    if v is None:
        return True
    if isinstance(v, (list, tuple, dict, set)):
        return False
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def frame_to_columns(df) -> list[tuple[str, str, list]]:
    """``[(name, "double"|"string", values)]`` of a pandas DataFrame (index kept as the first column when it
    is named), for filling a Slicer table node. Missing numbers become NaN, missing text ''."""
    import math

    import pandas as pd

    if df.index.name is not None:
        df = df.reset_index()
    cols = []
    for name in df.columns:
        s = df[name]
        if pd.api.types.is_bool_dtype(s):
            cols.append((str(name), "string", ["true" if bool(v) else "false" for v in s]))
        elif pd.api.types.is_numeric_dtype(s):
            cols.append((str(name), "double", [math.nan if _missing(v) else float(v) for v in s]))
        else:
            cols.append((str(name), "string", ["" if _missing(v) else str(v) for v in s]))
    return cols


def export_word(report_html, target) -> Path:  # noqa: F821
    """Copy the ``report.docx`` written next to ``report_html`` to ``target`` (``.docx`` added when missing),
    atomically; the report folder is not changed. Raises ``ValueError`` naming what is missing."""
    import shutil
    from pathlib import Path

    from VBQScoreLib.atomic import atomic_write

    src = Path(report_html).with_name("report.docx")
    if not src.is_file():
        raise ValueError(f"{src}: no Word report next to the HTML report (run the analysis again)")
    dst = Path(target)
    if dst.suffix.lower() != ".docx":
        dst = dst.with_name(dst.name + ".docx")
    if dst.resolve() == src.resolve():
        return dst
    with open(src, "rb") as f, atomic_write(dst, "wb") as out:
        shutil.copyfileobj(f, out)
    return dst
