"""Preparing a cohort from a clinical table: mapping columns, normalising values, validating (issue 3).

Usage::

    df, warnings = read_table("cohort.xlsx")                   # or .csv / .tsv / .txt
    spec = CohortSpec(id="patient", group="diagnosis", treated="OPLL", control="CSM",
                      covariates=["age", "sex", "bmi", "smoking"], levels=["C2", "C3", "C4", "C5", "C6", "C7"])
    cohort = prepare_cohort(df, spec)
    cohort.data          # id, group, treated (1/0), normalised covariates, numeric levels; index = spreadsheet row
    cohort.exclusions    # DataFrame(row, id, reason): every row left out, and why
    cohort.counts        # {"rows": ..., "included": ..., "excluded": ..., "treated": ..., "control": ...}

Row numbers are the ones a spreadsheet program shows: the header is row 1, the first subject row 2 (for CSV:
line numbers). ``read_table`` keeps them as the DataFrame index (named ``row``).

Normalisation (stated in ``cohort.codings`` so the report can print it):

* binary yes/no columns: yes/y/true/t/1 -> 1, no/n/false/f/0 -> 0 (case-insensitive);
* sex: male/m/man/1 -> 1, female/f/woman/0 -> 0 (coding "sex: 1 = male, 0 = female");
* group labels: ``treated`` = 1; ``treated`` / ``control`` are compared exactly, else case- and
  whitespace-insensitively with a warning ("--treated 'OPLL' matched group value 'opll' (case differs)"); a group
  column holding two such spellings ('OPLL' and 'opll') is an error;
* text covariates: case/spacing variants of a category are merged onto the most frequent spelling, with a
  warning; a yes/no or sex column written in several ways ('M', 'm', 'male') is read as one level, with a
  warning; ``cohort.binary_levels`` keeps the spellings coded 0 and 1 (model term ``sexM``, see :mod:`.terms`);
* numbers: decimal point; with ``;``-separated files a decimal comma is accepted (with a warning).

Type inference (override with ``CohortSpec.types`` / ``categorical``): numbers only -> ``numeric`` (``binary`` when
all values are 0/1); yes/no or sex vocabulary -> ``binary``; other text -> ``categorical``, unless most values
are numbers, in which case the text cells are reported as errors ("column 'BMI' rows 7, 12: 'n/a?' is not a
number"). Hard errors raise :class:`VBQScoreLib.errors.VBQInputError` with one line.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from VBQScoreLib.errors import VBQInputError

from .cells import FEMALE, MALE, NO, NUM_RE, YES, check_id_spellings, is_missing, normalise_label, rows_text
from .labels import check_column_spellings, find_column, how_differs, match_value, raw_column_name, stripped_note
from .terms import binary_order_note, collation_note, sort_levels

__all__ = ["CohortSpec", "Cohort", "prepare_cohort", "resolve_column", "numeric_column", "TYPES"]

TYPES = ("numeric", "binary", "categorical", "sex")

@dataclass
class CohortSpec:
    """Which columns mean what.

    ``treated``: group label of the treated/case group (e.g. ``"OPLL"``); ``control``: label(s) of the control
    group, or None for "every other label". ``types``: ``{column: "numeric"|"binary"|"categorical"|"sex"}``
    overrides inference; ``categorical``: shorthand for ``types=categorical``. ``min_group_size``: fewer
    subjects than this in a group (after exclusions) is an error. ``drop_unknown_groups``: exclude (and report)
    rows whose group is neither treated nor control instead of raising. ``exact``: covariates that matching will
    match exactly on: two spellings in one of them that differ only in case or spacing are an error (as in the
    group column) instead of being merged with a warning. ``treated_flag``/``control_flag``: how the warning
    names the value when it matched a group label only up to case or spacing ("--treated 'OPLL' matched group
    value 'opll' (case differs)")."""

    id: str
    group: str
    treated: str
    control: str | Sequence[str] | None = None
    covariates: Sequence[str] = ()
    levels: Sequence[str] = ()
    types: Mapping[str, str] | None = None
    categorical: Sequence[str] | None = None
    min_group_size: int = 3
    drop_unknown_groups: bool = False
    exclude_missing_covariates: bool = True
    exact: Sequence[str] = ()            # covariates used for exact matching: case/spacing variants are errors
    treated_flag: str = "--treated"      # how warnings name where the treated/control values came from
    control_flag: str = "--control"


@dataclass
class Cohort:
    """A validated, normalised cohort. ``data`` columns: the id column, the group column (original labels,
    stripped), ``treated`` (1/0), covariates (numeric, binary 1/0, categorical as text) and level columns
    (float, missing kept as NaN). Index: spreadsheet row number."""

    data: Any
    spec: CohortSpec
    types: dict[str, str]
    codings: dict[str, str]
    exclusions: Any                      # DataFrame(row, id, reason)
    counts: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)   # spec name -> column name found in the sheet
    #: text yes/no and sex covariates: the spellings coded 0 and 1 (``{"sex": ("F", "M")}``); the model term of
    #: such a column is ``<column><spelling coded 1>`` (``sexM``) with reference the spelling coded 0
    binary_levels: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def treated(self):
        return self.data[self.data["treated"] == 1]

    @property
    def control(self):
        return self.data[self.data["treated"] == 0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary for results.json (no patient data except excluded ids)."""
        ex = [{"row": int(r.row), "id": None if r.id is None else str(r.id), "reason": r.reason}
              for r in self.exclusions.itertuples(index=False)]
        return {"counts": dict(self.counts), "types": dict(self.types), "codings": dict(self.codings),
                "exclusions": ex, "warnings": list(self.warnings)}


def resolve_column(df, name: str, role: str) -> str:
    """The column of ``df`` named ``name`` (however spelled, see :func:`.labels.find_column`); else one line
    naming the closest columns."""
    cols = [str(c) for c in df.columns]
    hit = find_column(cols, name, f"{role} column '{name}'")
    if hit is not None:
        return hit
    close = difflib.get_close_matches(name, cols, n=3, cutoff=0.6)
    if not close:
        close = [c for c in cols if normalise_label(name) in normalise_label(c)][:3]
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise VBQInputError(f"{role} column '{name}' not found{hint} (columns: {rows_text(cols, 12)})")


def _as_text(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _infer_type(col: str, s) -> str:
    import pandas as pd

    vals = s.dropna()
    if pd.api.types.is_numeric_dtype(s):
        u = set(vals.unique().tolist())
        if u <= {0.0, 1.0} and len(u) >= 1:
            return "binary"
        return "numeric"
    low = {normalise_label(v) for v in vals}
    if low and low <= (MALE | FEMALE) and low & {"m", "f", "male", "female", "man", "woman"}:
        return "sex"
    if low and low <= (YES | NO):
        return "binary"
    # mostly numbers with a few text cells -> numeric (the text cells are errors)
    n_num = sum(1 for v in vals if isinstance(v, str) and NUM_RE.match(v))
    if len(vals) and n_num / len(vals) >= 0.5:
        return "numeric"
    return "categorical"


def numeric_column(df, col: str, role: str):
    """Float Series; raise naming rows and values when a cell is text."""
    import numpy as np
    import pandas as pd

    s = df[col]
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    out, bad = [], []
    for row, v in s.items():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(np.nan)
        elif isinstance(v, bool):
            out.append(float(v))
        elif isinstance(v, (int, float)):
            out.append(float(v))
        elif isinstance(v, str) and NUM_RE.match(v.strip()):
            out.append(float(v))
        elif isinstance(v, str) and is_missing(v):
            out.append(np.nan)
        else:
            bad.append((row, v))
            out.append(np.nan)
    if bad:
        rows = rows_text([r for r, _ in bad])
        shown = sorted({str(v) for _, v in bad})
        what = f"'{shown[0]}' is not a number" if len(shown) == 1 else \
            f"values {', '.join(repr(x) for x in shown[:4])} are not numbers"
        raise VBQInputError(f"{role} column '{col}' row{'s' if len(bad) > 1 else ''} {rows}: {what}")
    return pd.Series(out, index=s.index, dtype=float)


def _binary(df, col: str, kind: str, role: str, warnings: list[str] | None = None):
    """1/0 Series of a yes/no (``kind="binary"``) or sex column. For a text column also the spellings that
    became 0 and 1, ``(level0, level1)`` (the most frequent spelling of each; None when a class is absent or
    the column holds numbers), with a warning for each class written in several ways."""
    import numpy as np
    import pandas as pd

    ones, zeros = (MALE, FEMALE) if kind == "sex" else (YES, NO)
    out, bad = [], []
    spellings: dict[float, dict[str, int]] = {0.0: {}, 1.0: {}}
    for row, v in df[col].items():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(np.nan)
            continue
        text = _as_text(v) if not isinstance(v, str) else v.strip()
        t = normalise_label(text)
        if t in ones:
            out.append(1.0)
        elif t in zeros:
            out.append(0.0)
        else:
            bad.append((row, v))
            out.append(np.nan)
            continue
        if isinstance(v, str):
            sp = spellings[out[-1]]
            sp[text] = sp.get(text, 0) + 1
    if bad:
        allowed = "male/female, M/F or 1/0" if kind == "sex" else "yes/no, y/n, true/false or 1/0"
        shown = sorted({str(v) for _, v in bad})
        raise VBQInputError(f"{role} column '{col}' row{'s' if len(bad) > 1 else ''} {rows_text([r for r, _ in bad])}: "
                            f"{', '.join(repr(x) for x in shown[:4])} {'is' if len(shown) == 1 else 'are'} not "
                            f"{allowed}")
    names = {}
    for code, sp in spellings.items():
        if not sp:
            continue
        best = max(sp, key=lambda k: (sp[k], k))
        names[code] = " ".join(best.split())
        if len(sp) > 1 and warnings is not None:
            meaning = ("male" if code else "female") if kind == "sex" else ("yes" if code else "no")
            warnings.append(f"column '{col}': {', '.join(repr(k) for k in sorted(sp))} read as one level "
                            f"'{names[code]}' ({int(code)} = {meaning})")
    levels = (names[0.0], names[1.0]) if len(names) == 2 else None
    return pd.Series(out, index=df.index, dtype=float), levels


def _categorical(df, col: str, warnings: list[str]):
    import pandas as pd

    s = df[col]
    texts = [None if (v is None or (isinstance(v, float) and math.isnan(v))) else _as_text(v) for v in s]
    # merge case and spacing variants onto the most frequent spelling (with a warning)
    groups: dict[str, dict[str, int]] = {}
    for t in texts:
        if t is not None:
            groups.setdefault(normalise_label(t), {}).setdefault(t, 0)
            groups[normalise_label(t)][t] += 1
    canon = {}
    for key, spellings in groups.items():
        best = max(spellings, key=lambda k: (spellings[k], k))
        canon[key] = " ".join(best.split())
        if len(spellings) > 1:
            warnings.append(f"column '{col}': {', '.join(repr(k) for k in sorted(spellings))} treated as one "
                            f"category '{canon[key]}'")
        elif canon[key] != best:
            warnings.append(f"column '{col}': {best!r} read as '{canon[key]}' (spacing differs)")
    return pd.Series([None if t is None else canon[normalise_label(t)] for t in texts], index=s.index,
                     dtype=object)


def prepare_cohort(df, spec: CohortSpec) -> Cohort:
    """Validate and normalise ``df`` (from :func:`read_table`, not modified) according to ``spec``.

    Raises VBQInputError (one line, naming column and rows) for missing columns, duplicate ids, text in numeric
    columns, all-missing covariates, unknown group labels, too few subjects in a group. Rows with a missing id,
    group or (by default) covariate are excluded and listed in ``cohort.exclusions`` with the reason."""
    import numpy as np
    import pandas as pd

    warnings: list[str] = []
    if spec.min_group_size < 1:
        raise VBQInputError("min_group_size must be at least 1")
    covs = list(dict.fromkeys(spec.covariates))
    levels = list(dict.fromkeys(spec.levels))
    cols: dict[str, str] = {}
    cols[spec.id] = resolve_column(df, spec.id, "id")
    cols[spec.group] = resolve_column(df, spec.group, "group")
    for c in covs:
        cols[c] = resolve_column(df, c, "covariate")
    for c in levels:
        cols[c] = resolve_column(df, c, "level")
    for k, v in cols.items():
        as_read = raw_column_name(df, v)
        if k != as_read:
            warnings.append(f"column '{k}' matched to '{as_read}' ({how_differs(k, as_read)})")
    for c in dict.fromkeys([spec.id, spec.group, *covs]):
        note = stripped_note(df, cols[c])
        if note:
            warnings.append(note)
    if "treated" in covs or "treated" in levels or spec.id == "treated":
        raise VBQInputError("a covariate/level/id column may not be called 'treated' (the cohort's group indicator); "
                            "rename it in the spreadsheet")
    both = set(covs) & set(levels)
    if both:
        raise VBQInputError(f"column(s) {', '.join(sorted(both))} listed as both covariate and level")
    for special in (spec.id, spec.group):
        if special in covs or special in levels:
            raise VBQInputError(f"column '{special}' cannot be both the id/group column and a covariate/level")

    overrides: dict[str, str] = {}
    for c in spec.categorical or ():
        overrides[c] = "categorical"
    for c, t in (spec.types or {}).items():
        t = str(t).lower()
        if t not in TYPES:
            raise VBQInputError(f"type of column '{c}' must be one of {', '.join(TYPES)}, not {t!r}")
        overrides[c] = t
    unknown = [c for c in overrides if c not in covs and c not in levels]
    if unknown:
        raise VBQInputError(f"type given for column(s) {', '.join(unknown)} which are not covariates or levels")

    rows = df.index
    out = pd.DataFrame(index=rows.copy())
    excl: dict[Any, list[str]] = {}

    # id
    idcol = cols[spec.id]
    ids = [None if is_missing(v) else _as_text(v) for v in df[idcol]]
    for r, v in zip(rows, ids):
        if v is None:
            excl.setdefault(r, []).append(f"missing id ({idcol})")
    seen: dict[str, list] = {}
    for r, v in zip(rows, ids):
        if v is not None:
            seen.setdefault(v, []).append(r)
    dups = {k: v for k, v in seen.items() if len(v) > 1}
    if dups:
        parts = [f"'{k}' (rows {', '.join(map(str, v))})" for k, v in list(dups.items())[:4]]
        more = f" and {len(dups) - 4} more" if len(dups) > 4 else ""
        raise VBQInputError(f"id column '{idcol}': duplicate ids {'; '.join(parts)}{more}")
    check_id_spellings(ids, rows, f"id column '{idcol}'")  # '007' and '7': the one rule for ids
    out[spec.id] = pd.Series(ids, index=rows, dtype=object)

    # group
    gcol = cols[spec.group]
    labels = [None if is_missing(v) else " ".join(_as_text(v).split()) for v in df[gcol]]
    t_norm = normalise_label(spec.treated)
    if spec.control is None:
        c_norm = None
    else:
        cl = [spec.control] if isinstance(spec.control, str) else list(spec.control)
        c_norm = {normalise_label(c) for c in cl}
        if t_norm in c_norm:
            raise VBQInputError(f"group '{spec.treated}' is given as both treated and control")
    # one spelling per group (no 'OPLL' beside 'opll'); a value named up to case/spacing is taken, and said
    gcounts = check_column_spellings(df, gcol, f"group column '{gcol}'")
    for given, flag in [(spec.treated, spec.treated_flag)] + [(c, spec.control_flag) for c in
                                                              ([] if spec.control is None else cl)]:
        hit = match_value(given, gcounts)
        if hit is not None and hit != str(given).strip():
            warnings.append(f"{flag} '{given}' matched group value '{hit}' ({how_differs(str(given), hit)})")
    for c in spec.exact or ():
        if c not in cols:
            raise VBQInputError(f"exact-matching column '{c}' is not a covariate")
        check_column_spellings(df, cols[c], f"exact-matching column '{cols[c]}'")
    present: dict[str, list] = {}
    spelling: dict[str, str] = {}
    for r, lab in zip(rows, labels):
        if lab is not None:
            present.setdefault(normalise_label(lab), []).append(r)
            spelling.setdefault(normalise_label(lab), lab)
    shown_labels = sorted({lab for lab in labels if lab is not None})
    if t_norm not in present:
        close = difflib.get_close_matches(spec.treated, shown_labels, n=2, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise VBQInputError(f"group column '{gcol}' has no value '{spec.treated}' (treated){hint} "
                            f"(values: {rows_text(shown_labels, 10)})")
    if c_norm is not None:
        for c in cl:
            if normalise_label(c) not in present:
                close = difflib.get_close_matches(c, shown_labels, n=2, cutoff=0.5)
                hint = f"; did you mean {', '.join(repr(x) for x in close)}?" if close else ""
                raise VBQInputError(f"group column '{gcol}' has no value '{c}' (control){hint} "
                                    f"(values: {rows_text(shown_labels, 10)})")
        other = {k: v for k, v in present.items() if k != t_norm and k not in c_norm}
        if other and not spec.drop_unknown_groups:
            parts = [f"'{spelling[k]}' (row{'s' if len(v) > 1 else ''} {rows_text(v, 5)})" for k, v in other.items()]
            raise VBQInputError(f"group column '{gcol}': unknown group label(s) {'; '.join(parts[:4])}; expected "
                                f"'{spec.treated}' or {' or '.join(repr(c) for c in cl)}")
    treated = []
    for r, lab in zip(rows, labels):
        if lab is None:
            excl.setdefault(r, []).append(f"missing group ({gcol})")
            treated.append(np.nan)
        elif normalise_label(lab) == t_norm:
            treated.append(1.0)
        elif c_norm is None or normalise_label(lab) in c_norm:
            treated.append(0.0)
        else:
            excl.setdefault(r, []).append(f"group '{lab}' is neither treated nor control")
            treated.append(np.nan)
    out[spec.group] = pd.Series(labels, index=rows, dtype=object)
    out["treated"] = pd.Series(treated, index=rows, dtype=float)

    # covariates
    types: dict[str, str] = {}
    binary_levels: dict[str, tuple[str, str]] = {}
    codings: dict[str, str] = {
        "treated": f"1 = {spec.treated}, 0 = "
                   + ("any other group" if spec.control is None else
                      (spec.control if isinstance(spec.control, str) else " or ".join(spec.control)))}
    for c in covs:
        col = cols[c]
        s = df[col]
        if s.isna().all():
            raise VBQInputError(f"covariate column '{col}' is empty (all values missing)")
        t = overrides.get(c) or _infer_type(col, s)
        if t == "binary" and c not in overrides:
            low = {normalise_label(v) for v in s.dropna().astype(str)}
            if re.search(r"\b(sex|gender)\b", c, re.I) and low <= (MALE | FEMALE):
                t = "sex"
        if t == "numeric":
            out[c] = numeric_column(df, col, "covariate")
        elif t in ("binary", "sex"):
            out[c], lv = _binary(df, col, t, "covariate", warnings)
            if lv is not None:  # text: the model term is named after the spelling coded 1 (sexM), as R would
                binary_levels[c] = lv
                note = binary_order_note(c, *lv)
                if note:
                    warnings.append(note)
            if t == "sex":
                codings[c] = "1 = male, 0 = female" if not pd.api.types.is_numeric_dtype(s) else \
                    "1/0 as given in the spreadsheet"
                t = "binary"
            else:
                codings[c] = "1 = yes, 0 = no" if not pd.api.types.is_numeric_dtype(s) else "1/0 as given"
        else:
            out[c] = _categorical(df, col, warnings)
            cats = sort_levels(out[c].dropna().unique())
            codings[c] = "categories: " + rows_text(cats, 12)
            note = collation_note(c, cats) if not all(NUM_RE.match(x) for x in cats) else None
            if note:
                warnings.append(note)
            if len(cats) > 10 and c not in overrides:
                warnings.append(f"covariate column '{col}' read as categorical with {len(cats)} categories; if it "
                                f"is a number, declare it numeric to see which cells are not numbers")
        types[c] = t
        miss = out[c].isna()
        if spec.exclude_missing_covariates:
            for r in out.index[miss.to_numpy()]:
                excl.setdefault(r, []).append(f"missing {c}")
    for c in levels:
        col = cols[c]
        t = overrides.get(c, "numeric")
        if t != "numeric":
            raise VBQInputError(f"level column '{col}' must be numeric, not {t}")
        out[c] = numeric_column(df, col, "level")
        types[c] = "numeric"
        if out[c].isna().all():
            warnings.append(f"level column '{col}' has no values")

    # exclusions and group sizes
    ex_rows = [r for r in out.index if r in excl]
    exclusions = pd.DataFrame({"row": ex_rows,
                               "id": [out.at[r, spec.id] for r in ex_rows],
                               "reason": ["; ".join(excl[r]) for r in ex_rows]},
                              columns=["row", "id", "reason"])
    data = out.drop(index=ex_rows)
    n_t = int((data["treated"] == 1).sum())
    n_c = int((data["treated"] == 0).sum())
    for name, n in ((spec.treated, n_t), (spec.control if isinstance(spec.control, str) else "control", n_c)):
        if n < spec.min_group_size:
            raise VBQInputError(f"group '{name}' has {n} subject{'s' if n != 1 else ''} after "
                                f"{len(ex_rows)} exclusion(s) (need at least {spec.min_group_size})")
    data["treated"] = data["treated"].astype(int)
    reasons: dict[str, int] = {}
    for r in ex_rows:
        for reason in excl[r]:
            reasons[reason] = reasons.get(reason, 0) + 1
    counts = {"rows": int(len(out)), "included": int(len(data)), "excluded": int(len(ex_rows)),
              "treated": n_t, "control": n_c, "excluded_by_reason": reasons,
              "missing_by_level": {c: int(data[c].isna().sum()) for c in levels}}
    if ex_rows:
        warnings.append(f"{len(ex_rows)} of {len(out)} rows excluded: "
                        + "; ".join(f"{k} ({v})" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])))
    return Cohort(data=data, spec=spec, types=types, codings=codings, exclusions=exclusions, counts=counts,
                  warnings=warnings, columns=cols, binary_levels=binary_levels)
