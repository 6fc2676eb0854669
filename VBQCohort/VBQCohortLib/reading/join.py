"""Join a clinical table with VBQ measurements by patient id.

Accepted VBQ tables (detected from the columns, names case-insensitive):

- *wide*, as written by ``vbq batch``: ``case_id, [status], VBQ_C2..VBQ_C7, VBQ_overall, CSF_SI, flags, error``
  (any ``VBQ_<level>`` columns). Rows with ``status`` ``failed`` contribute no values (counted in ``failed``).
- *long*: one row per case and level with ``case_id``, ``level`` and ``vbq`` -- the per-level CSV of
  ``vbq score --csv`` with a case id column added, the ``*_long.csv`` of ``vbq batch``, or a hand-made
  ``case_id, level, vbq`` table. ``CSF`` rows are ignored; ``overall_vbq`` (when present) becomes ``VBQ_overall``.

The case id column is ``case_id``, else the clinical id column's name, else ``patient_id``/``id``. Ids are
compared as text after trimming blanks; when a clinical id is a number (``7`` or ``7.0``) it also matches a
zero-padded text id (``007``). The result reports ids present in one table but not the other; clinical rows
without VBQ keep missing VBQ values (they are then excluded per level, and the report says so).
"""

from __future__ import annotations

import re
from pathlib import Path

from VBQScoreLib.errors import VBQInputError

from .cells import check_id_spellings

# acquisition columns of a vbq batch table (DICOM input) carried into the join as covariates, when present
ACQUISITION_COLUMNS = ("magnetic_field_strength", "repetition_time", "echo_time", "pixel_bandwidth",
                       "slice_thickness", "manufacturer", "model")
_INT_RE = re.compile(r"^[+-]?\d+(?:\.0*)?$")


def _norm_id(v) -> str | None:
    if v is None:
        return None
    try:
        import math

        if isinstance(v, float) and math.isnan(v):
            return None
    except Exception:  # pragma: no cover
        pass
    s = str(v).strip()
    if s == "" or s.lower() in ("nan", "none", "<na>"):
        return None
    if _INT_RE.match(s):
        return str(int(s.split(".")[0]))
    return s


def _id_text(v) -> str:
    """An id as the user sees it: 7.0 (a number column) as 7, text stripped."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _check_id_keys(ids, keys, id_col: str) -> None:
    """Two different clinical ids that read as the same number ('007' and '7') would share one VBQ row."""
    seen: dict[str, str] = {}
    for v, k in zip(ids, keys):
        if k is None:
            continue
        t = _id_text(v)
        if seen.setdefault(k, t) != t:
            raise VBQInputError(f"clinical table: ids '{seen[k]}' and '{t}' of column '{id_col}' are the same "
                                f"number, so VBQ case '{k}' would join both; make the ids distinct")


def _find_col(columns, *names, source="VBQ results"):
    """The column called one of ``names`` (first name first; exact, else ignoring case and spacing); two
    columns that both answer to a name up to case/spacing are bad input."""
    from .labels import find_column

    for n in names:
        hit = None if n is None else find_column(list(columns), n, f"{source}: column '{n}'")
        if hit is not None:
            return hit
    return None


def read_vbq_table(path_or_df, *, id_col: str | None = None):
    """Read a VBQ results table (path or DataFrame) into a wide DataFrame ``case_id, VBQ_<level>...``.

    Returns ``(wide, info)``; ``info`` has ``format`` (``wide``/``long``), ``n_cases``, ``failed`` (ids whose
    measurement failed), ``source``, ``warnings`` (names read ignoring case: ``c3`` as C3, ``vbq_c3`` as VBQ_C3).
    """
    wide, info, _ = _read_vbq_table(path_or_df, id_col=id_col)
    return wide, info


def _read_vbq_table(path_or_df, *, id_col: str | None = None):
    """:func:`read_vbq_table`, and ``{case_id: the id as the table writes it}``."""
    import pandas as pd

    if isinstance(path_or_df, pd.DataFrame):
        raw, source = path_or_df.copy(), "<table>"
        raw = raw.astype({c: object for c in raw.columns})
    else:
        source = str(path_or_df)
        p = Path(source)
        if not p.is_file():
            raise VBQInputError(f"{source}: VBQ results file not found")
        sep = "\t" if p.suffix.lower() in (".tsv", ".tab") else ","
        try:
            raw = pd.read_csv(p, sep=sep, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise VBQInputError(f"{source}: cannot read VBQ results as CSV ({str(exc).splitlines()[0]})") from None
    warnings: list[str] = []
    idc = _find_col(raw.columns, "case_id", id_col, "patient_id", "id", source=source)
    if idc is None:
        raise VBQInputError(f"{source}: no case id column (expected 'case_id'"
                            f"{' or ' + repr(id_col) if id_col else ''})")
    # '007' and '7' in one table: the one rule for ids (reading.cells.check_id_spellings), as in the clinical table
    check_id_spellings([None if _norm_id(v) is None else _id_text(v) for v in raw[idc]],
                       [int(i) + 2 if isinstance(i, (int,)) else i for i in raw.index], f"{source}: column '{idc}'")
    levc, vbqc = _find_col(raw.columns, "level", source=source), _find_col(raw.columns, "vbq", source=source)
    failed: list[str] = []

    def num(series, col):
        s = series.replace({"": None, "NA": None, "nan": None, "NaN": None})
        out = pd.to_numeric(s, errors="coerce")
        bad = out.isna() & s.notna()
        if bad.any():
            rows = [int(i) + 2 for i in list(s.index[bad])[:5]]
            raise VBQInputError(f"{source}: column '{col}' has text where a number is expected "
                                f"(rows {', '.join(map(str, rows))}: {s[bad].iloc[0]!r})")
        return out.astype(float)

    if levc is not None and vbqc is not None:
        fmt = "long"
        df = raw.copy()
        df["_id"] = df[idc].map(_norm_id)
        id_text = dict(zip(df["_id"], df[idc].map(_id_text)))
        if df["_id"].isna().any():
            rows = [int(i) + 2 for i in list(df.index[df["_id"].isna()])[:5]]
            raise VBQInputError(f"{source}: empty case id in rows {', '.join(map(str, rows))}")
        df["_level"] = _level_names(df[levc], levc, source, warnings)
        df = df[df["_level"] != "CSF"]
        df["_vbq"] = num(df[vbqc], vbqc)
        dup = df.duplicated(["_id", "_level"], keep=False)
        if dup.any():
            first = df[dup].iloc[0]
            raise VBQInputError(f"{source}: case '{first[idc]}' has level {first['_level']} more than once")
        wide = df.pivot(index="_id", columns="_level", values="_vbq")
        wide.columns = [f"VBQ_{c}" for c in wide.columns]
        ovc = _find_col(raw.columns, "overall_vbq", source=source)
        if ovc is not None:
            ov = df.assign(_ov=num(df[ovc], ovc)).groupby("_id")["_ov"].first()
            wide["VBQ_overall"] = ov
        order = list(dict.fromkeys(df["_id"]))
        wide = wide.reindex(order)
        wide.index.name = "case_id"
        wide = wide.reset_index()
    else:
        vcols = [c for c in raw.columns if str(c).upper().startswith("VBQ_")]
        if not vcols:
            raise VBQInputError(f"{source}: neither a wide VBQ table (VBQ_<level> columns) nor a long one "
                                "(case_id, level, vbq)")
        fmt = "wide"
        df = raw.copy()
        df["case_id"] = df[idc].map(_norm_id)
        id_text = dict(zip(df["case_id"], df[idc].map(_id_text)))
        if df["case_id"].isna().any():
            rows = [int(i) + 2 for i in list(df.index[df["case_id"].isna()])[:5]]
            raise VBQInputError(f"{source}: empty case id in rows {', '.join(map(str, rows))}")
        dup = df["case_id"].duplicated(keep=False)
        if dup.any():
            rows = [int(i) + 2 for i in list(df.index[dup])[:5]]
            raise VBQInputError(f"{source}: duplicate case id '{df.loc[dup, idc].iloc[0]}' (rows "
                                f"{', '.join(map(str, rows))})")
        stc = _find_col(raw.columns, "status", source=source)
        out = pd.DataFrame({"case_id": df["case_id"]})
        named: dict[str, str] = {}
        for c in vcols:
            suffix = str(c)[4:].strip()
            name = "VBQ_overall" if suffix.lower() == "overall" else "VBQ_" + suffix.upper()
            if name in named:
                raise VBQInputError(f"{source}: columns '{named[name]}' and '{c}' both read as {name} (they differ "
                                    f"only in case or spacing); keep one")
            named[name] = str(c)
            out[name] = num(df[c], c)
        renamed = [f"'{c}' as {n}" for n, c in named.items() if c != n]
        if renamed:
            warnings.append(f"{source}: VBQ column name(s) read ignoring case: {', '.join(renamed[:6])}"
                            + (f" and {len(renamed) - 6} more" if len(renamed) > 6 else ""))
        if stc is not None:
            bad = df[stc].astype(str).str.strip().str.lower() == "failed"
            failed = list(df.loc[bad, "case_id"])
            out.loc[bad.to_numpy(), [c for c in out.columns if c != "case_id"]] = float("nan")
        # the acquisition of DICOM input (vbq batch of a vbq intake manifest): covariates for the analysis
        for c in ACQUISITION_COLUMNS:
            src = _find_col(raw.columns, c, source=source)
            if src is not None and c not in out.columns:
                vals = df[src].astype(str).str.strip()
                numeric = pd.to_numeric(vals.replace("", float("nan")), errors="coerce")
                out[c] = numeric if c not in ("manufacturer", "model") else vals.replace("", None)
        wide = out.reset_index(drop=True)
    return wide, {"format": fmt, "source": source, "n_cases": int(len(wide)), "failed": failed,
                  "id_column": str(idc), "warnings": warnings}, id_text


def _level_names(col, name: str, source: str, warnings: list[str]):
    """Canonical level names (``C3``) of the long table's level column: spelled otherwise (``c3``, `` C3``) is
    read with a warning; two spellings of one level in the column (``C3`` and ``c3``) are bad input."""
    from .labels import check_spellings, spelling_counts

    text = col.astype(str)
    counts = spelling_counts(text, {t: int(n) for t, n in text.value_counts().items() if t != t.strip()})
    check_spellings(counts, f"{source}: level column '{name}'")
    canon = text.str.strip().str.upper()
    other = sorted({t for t in counts if t != t.strip().upper()})
    if other:
        warnings.append(f"{source}: level name(s) {', '.join(repr(t) for t in other[:6])} read as "
                        f"{', '.join(sorted({t.strip().upper() for t in other[:6]}))}")
    return canon


def join_vbq(clinical, vbq, *, id_col: str, levels=None):
    """Add VBQ columns to the clinical DataFrame ``clinical`` (left join on ``id_col``).

    ``vbq`` is a path or DataFrame accepted by :func:`read_vbq_table`. ``levels``: the level columns the
    analysis needs (``VBQ_C2``...); a needed column that the VBQ table lacks is bad input.
    Returns ``(joined, info)`` where ``info`` holds ``n_clinical, n_vbq, n_joined, only_in_clinical,
    only_in_vbq, failed, replaced_columns, format, source``. The clinical DataFrame is not modified.
    """
    if id_col not in clinical.columns:
        raise VBQInputError(f"clinical table: id column '{id_col}' not found")
    wide, info, shown = _read_vbq_table(vbq, id_col=id_col)
    vcols = [c for c in wide.columns if c != "case_id"]
    if levels:
        missing = [c for c in levels if c not in vcols and c not in clinical.columns]
        if missing:
            raise VBQInputError(f"{info['source']}: no VBQ column(s) {', '.join(missing)} "
                                f"(has {', '.join(vcols) or 'none'})")
    keys = clinical[id_col].map(_norm_id)
    _check_id_keys(clinical[id_col], keys, id_col)
    vmap = wide.set_index("case_id")
    in_vbq = set(vmap.index)
    clin_ids = [k for k in keys if k is not None]
    only_clin = [k for k in keys if k is not None and k not in in_vbq]
    clin_set = set(clin_ids)
    only_vbq = [k for k in vmap.index if k not in clin_set]
    out = clinical.copy()
    acq = [c for c in vcols if c in ACQUISITION_COLUMNS]
    vcols = [c for c in vcols if c not in ACQUISITION_COLUMNS]
    replaced = [c for c in vcols if c in out.columns]
    for c in vcols:
        out[c] = keys.map(vmap[c]).astype(float).to_numpy()
    for c in acq:  # covariates; a clinical column of the same name is kept as it is
        if c not in out.columns:
            out[c] = keys.map(vmap[c]).to_numpy()
    loose = [(c, shown[k]) for c, k in zip(clinical[id_col], keys)
             if k in in_vbq and _id_text(c) != shown.get(k, _id_text(c))]
    if loose:
        info["warnings"].append(f"{info['source']}: {len(loose)} case id(s) matched a patient id only when read as "
                                f"numbers (e.g. clinical '{_id_text(loose[0][0])}' = VBQ '{loose[0][1]}')")
    info.update({
        "n_clinical": int(len(clinical)), "n_vbq": int(len(wide)),
        "n_joined": int(sum(1 for k in keys if k in in_vbq)),
        "only_in_clinical": only_clin, "only_in_vbq": [str(x) for x in only_vbq],
        "replaced_columns": replaced, "vbq_columns": vcols,
    })
    return out, info
