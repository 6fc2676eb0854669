"""Checks of a table before matching, each a one-line :class:`VBQScoreLib.errors.VBQInputError` naming the file
(``source``), the column and the rows: the columns exist, text in a mostly numeric covariate, the treated label
(exact, else up to case/spacing with a note), two spellings of one label in an exact-matching column, and at
least 2 subjects per group. ``vbq cohort match`` runs :func:`check_match_input` before :func:`.nearest.match`."""

from __future__ import annotations

__all__ = ["check_match_input", "check_numeric_covariates", "resolve_labels", "check_group_sizes"]


def check_match_input(df, *, id: str, group: str, treated, covariates, exact=None, categorical=None,
                      source: str):
    """All the checks in order (columns, numbers, labels, group sizes). Returns ``(treated value as the group
    column holds it, notes)``: the notes are warnings for the user (a label matched up to case, spaces around
    cells, the reference level of a text covariate)."""
    from VBQScoreLib.errors import VBQInputError

    for c in [id, group, *covariates, *(exact or [])]:
        if c not in df.columns:
            raise VBQInputError(f"{source}: column {c!r} not found; columns are {', '.join(map(str, df.columns))}")
    check_numeric_covariates(df, covariates, categorical, source)
    from ..reading.cells import check_id_spellings, is_missing

    check_id_spellings([None if is_missing(v) else _id_text(v) for v in df[id]], list(df.index),
                       f"{source}: id column {id!r}")
    treated, notes = resolve_labels(df, id=id, group=group, treated=treated, covariates=covariates, exact=exact,
                                    source=source)
    check_group_sizes(df, group, treated, source)
    return treated, notes


def _id_text(v) -> str:
    """An id as the user sees it: 7.0 (a number column) as 7, text stripped."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def check_numeric_covariates(df, covariates, categorical, source: str) -> None:
    """Text in a column that is mostly numbers -> one-line error naming the column and rows."""
    import numpy as np
    import pandas as pd

    from VBQScoreLib.errors import VBQInputError

    for c in covariates:
        if c not in df.columns or c in (categorical or []):
            continue
        col = df[c]
        if pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
            continue
        codes, uniq = pd.factorize(col)  # parse each distinct text once (missing: code -1)
        unum = pd.to_numeric(pd.Series(uniq, dtype=object), errors="coerce").notna().to_numpy()
        is_num = np.append(unum, False)[codes]
        bad = pd.Series(~is_num & (codes >= 0), index=col.index)
        if is_num.sum() > bad.sum():
            rows = [str(i) for i in df.index[bad.to_numpy()][:10]]
            raise VBQInputError(f"{source}: column {c!r} has text in a numeric column in rows {', '.join(rows)} "
                                f"(e.g. {col[bad].iloc[0]!r})")


def resolve_labels(df, *, id: str, group: str, treated, covariates, exact, source: str):
    """``(treated value as the group column holds it, warnings)``: --treated matched exactly, else up to case or
    spacing with a warning; a group or --exact column holding two spellings that differ only in case or spacing
    is bad input; text cells of the columns used that had spaces around them are said."""
    import pandas as pd

    from VBQScoreLib.errors import VBQInputError

    from ..reading.labels import check_column_spellings, resolve_column_value, stripped_note
    from ..reading.terms import collation_note, sort_levels

    notes = []
    treated_arg = treated
    try:
        if not pd.api.types.is_numeric_dtype(df[group]):
            treated, note = resolve_column_value(df, group, treated_arg, flag="--treated")
            notes += [note] if note else []
        for c in exact or []:
            check_column_spellings(df, c, f"exact-matching column '{c}' (--exact)")
    except VBQInputError as exc:
        raise VBQInputError(f"{source}: {exc}") from None
    for c in dict.fromkeys([id, group, *covariates, *(exact or [])]):
        note = stripped_note(df, c)
        if note:
            notes.append(note)
    for c in covariates:  # text covariates: is the reference the one R would take in a UTF-8 locale?
        if not pd.api.types.is_numeric_dtype(df[c]):
            note = collation_note(c, [str(v) for v in sort_levels(df[c].dropna().unique())])
            notes += [note] if note else []
    return treated, notes


def check_group_sizes(df, group: str, treated: str, source: str) -> None:
    """Both groups need at least 2 subjects: one subject cannot carry a propensity model or a balance SD."""
    from VBQScoreLib.errors import VBQInputError

    from ..reading.cells import normalise_label

    col = df[group]
    labels = {v: normalise_label(v) for v in col.dropna().unique().tolist()}  # each distinct value once
    lab = col.map(labels)
    t = normalise_label(treated)
    n_t = int((lab == t).sum())
    n_c = int((lab.notna() & (lab != t)).sum())
    if n_t == 0:
        return  # matching names the values present
    for name, n, mask in ((f"treated group '{treated}'", n_t, lab == t),
                          ("control group (the other values)", n_c, lab.notna() & (lab != t))):
        if n < 2:
            rows = ", ".join(str(r) for r in df.index[mask.to_numpy()])
            raise VBQInputError(f"{source}: {name} of column '{group}' has {n} subject{'s' if n != 1 else ''}"
                                f"{' (row ' + rows + ')' if rows else ''}; matching needs at least 2 per group")
