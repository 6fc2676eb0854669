"""Reader-agreement input: a long table (or ``vbq batch`` tables, one per reader or session), checked and shaped
into the matrices the ICC and Bland-Altman analyses need.

Long table: one row per case, reader, [session], [level] with a value (columns named by ``--case``, ``--reader``,
``--session``, ``--level``, ``--value``; defaults ``case_id, reader, session, level, vbq``). The session and
level columns are optional: without a session column every row is session ``1``; without a level column the
values are the overall VBQ. Levels are read as spine levels (``c3`` = ``C3``); ``CSF`` rows (as in ``vbq score
--csv``) are ignored; rows of level ``overall`` give the overall VBQ directly (else it is the preset's aggregate
of the levels present per case, reader and session).

Bad input raises :class:`VBQScoreLib.errors.VBQInputError` with one line naming the column and rows: a missing
column, an empty case or reader, text in the value column, a repeated case-reader-session-level, only one reader
(and no second session), a case measured by one reader only, fewer than 2 cases. A missing value (an empty cell)
is not an error: each analysis uses its complete cases and says which it left out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from VBQScoreLib.errors import VBQInputError

NO_LEVEL = ""          # the level of rows that hold the overall VBQ (tables without a level column)
OVERALL = "overall"

DEFAULT_COLUMNS = {"case": "case_id", "reader": "reader", "session": "session", "level": "level", "value": "vbq"}


@dataclass
class AgreementData:
    """A checked long table: ``frame`` has columns ``case, reader, session, level, value, source, row``."""

    frame: pandas.DataFrame  # noqa: F821
    columns: dict
    sources: list
    cases: list
    readers: list
    sessions: list
    levels: list          # spine levels in spine order ([] when the table holds the overall VBQ only)
    has_overall_rows: bool = False
    warnings: list = field(default_factory=list)

    @property
    def inter_session(self) -> str:
        """The session of the inter-reader analyses: ``1`` when present, else the first."""
        return "1" if "1" in self.sessions else self.sessions[0]


# ---------------------------------------------------------------------------------------------------------------
# helpers

def _rows_text(rows: Sequence, limit: int = 8) -> str:
    rows = list(rows)
    s = ", ".join(str(r) for r in rows[:limit])
    return s + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


def where(sub) -> str:
    """``rows 5, 9`` (one source) or ``r1.csv row 5; r2.csv row 7`` for rows of ``frame``."""
    srcs = list(dict.fromkeys(sub["source"]))
    if len(srcs) == 1:
        rows = list(sub["row"])
        return f"row{'s' if len(rows) > 1 else ''} {_rows_text(rows)}"
    parts = []
    for s in srcs:
        rows = list(sub.loc[sub["source"] == s, "row"])
        parts.append(f"{Path(s).name} row{'s' if len(rows) > 1 else ''} {_rows_text(rows, 4)}")
    return "; ".join(parts)


def _key_text(v) -> str | None:
    """Identifier text: ``7.0`` -> ``7``; missing -> None."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    s = " ".join(str(v).split())
    return s or None


def _level_text(v) -> str | None:
    from VBQScoreLib.levels import parse_segment_name

    s = _key_text(v)
    if s is None:
        return None
    low = s.lower()
    if low in ("overall", "vbq_overall", "overall_vbq", "overall vbq"):
        return OVERALL
    if low.startswith("vbq_"):
        s = s[4:]
    p = parse_segment_name(s)
    return p.level if p is not None else s  # "C3", or "CSF" for a CSF row


def _parse_column(series, parse) -> list:
    """``[parse(v) for v in series]``, parsing each distinct value once (300,000 readings have few distinct
    readers, sessions and levels)."""
    import pandas as pd

    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    parsed = [parse(u) for u in uniques] + [None]   # code -1 (missing) -> None
    return [parsed[c] for c in codes.tolist()]


def _unique(series) -> list:
    import pandas as pd

    return pd.unique(series).tolist()


def _sort_sessions(vals) -> list:
    vals = _unique(vals)
    try:
        return sorted(vals, key=float)
    except ValueError:
        return vals


# ---------------------------------------------------------------------------------------------------------------
# reading

def read_long_table(data, *, case: str = "case_id", reader: str = "reader", session: str | None = None,
                    level: str | None = None, value: str = "vbq", sheet=None) -> AgreementData:
    """Read and check a long table (path to CSV/TSV/XLSX, or a DataFrame whose index is the row number).

    ``session`` / ``level``: ``None`` uses the column ``session`` / ``level`` when the table has it; a name
    requires that column; ``""`` ignores it."""
    import pandas as pd

    from ..reading.cohort import numeric_column, resolve_column
    from ..reading.spreadsheet import read_table

    if isinstance(data, pd.DataFrame):
        df, warnings, source = data.copy(), [], "<table>"
    else:
        # a very wide table (read_table's WIDE_TABLE) is read with the named columns only
        needed = [case, reader, value, *(DEFAULT_COLUMNS[r] if n is None else n
                                         for r, n in (("session", session), ("level", level)) if n != "")]
        df, warnings = read_table(data, sheet=sheet, needed=needed)
        source = str(data)
    if df.empty:
        raise VBQInputError(f"{source}: the table has no rows")
    cols = {}
    for role, name, flag in (("case", case, "--case"), ("reader", reader, "--reader"), ("value", value, "--value")):
        cols[role] = resolve_column(df, name, f"{source}: {flag}")
    for role, name, flag in (("session", session, "--session"), ("level", level, "--level")):
        if name == "":
            cols[role] = None
        elif name is None:
            present = [c for c in df.columns if str(c).strip().casefold() == DEFAULT_COLUMNS[role]]
            cols[role] = present[0] if present else None
        else:
            cols[role] = resolve_column(df, name, f"{source}: {flag}")
    out = pd.DataFrame({"row": list(df.index), "source": source})
    absent = {"session": "1", "level": NO_LEVEL}  # what a table without that column means
    for role in ("case", "reader", "session", "level"):
        if cols[role] is None:
            out[role] = absent[role]
            continue
        vals = _parse_column(df[cols[role]], _level_text if role == "level" else _key_text)
        bad = [r for r, v in zip(df.index, vals) if v is None]
        if bad:
            raise VBQInputError(f"{source}: column '{cols[role]}' is empty in row{'s' if len(bad) > 1 else ''} "
                                f"{_rows_text(bad)}; every row needs a {role}")
        out[role] = vals
    out["value"] = numeric_column(df, cols["value"], f"{source}: --value").to_numpy()
    names = {k: (str(v) if v is not None else None) for k, v in cols.items()}
    return check(out, names, [source], warnings)


def parse_reader_table_spec(spec: str):
    """``R1=r1.csv`` -> ``("R1", "1", "r1.csv")``; ``R1:2=r1_reread.csv`` -> ``("R1", "2", ...)``."""
    if "=" not in str(spec):
        raise VBQInputError(f"--reader-table {spec}: expected READER=FILE or READER:SESSION=FILE (e.g. R1=r1.csv)")
    name, path = str(spec).split("=", 1)
    name, path = name.strip(), path.strip()
    sess = "1"
    if ":" in name:
        name, sess = (s.strip() for s in name.split(":", 1))
    if not name or not path or not sess:
        raise VBQInputError(f"--reader-table {spec}: expected READER=FILE or READER:SESSION=FILE (e.g. R1=r1.csv)")
    return name, sess, path


def read_reader_tables(specs: Sequence, *, warnings: list | None = None) -> AgreementData:
    """``vbq batch`` results tables, one per reader (or reader and session): ``[("R1", "1", "r1.csv"), ...]``
    (or ``"R1=r1.csv"`` strings). Level columns ``VBQ_C2..`` become levels; a table with ``VBQ_overall`` only
    gives the overall VBQ. Rows with ``status=failed`` count as missing values (with a warning)."""
    import pandas as pd

    from ..reading.join import read_vbq_table

    warnings = list(warnings or [])
    parts, sources = [], []
    seen = {}
    for spec in specs:
        name, sess, path = parse_reader_table_spec(spec) if isinstance(spec, str) else spec
        if (name, sess) in seen:
            raise VBQInputError(f"--reader-table {name}{'' if sess == '1' else ':' + sess}={path}: reader "
                                f"'{name}' session {sess} is already given by {seen[(name, sess)]}")
        seen[(name, sess)] = path
        wide, info = read_vbq_table(path)
        sources.append(str(path))
        if info["failed"]:
            warnings.append(f"{Path(path).name}: {len(info['failed'])} failed measurement(s) counted as missing "
                            f"({_rows_text(info['failed'], 5)})")
        lvcols = [c for c in wide.columns if c.startswith("VBQ_") and c != "VBQ_overall"]
        use = lvcols or (["VBQ_overall"] if "VBQ_overall" in wide.columns else [])
        if not use:
            raise VBQInputError(f"{path}: no VBQ_<level> or VBQ_overall column")
        for c in use:
            parts.append(pd.DataFrame({
                "row": [i + 2 for i in range(len(wide))], "source": str(path), "case": list(wide["case_id"]),
                "reader": name, "session": sess, "level": c[4:] if lvcols else NO_LEVEL,
                "value": wide[c].to_numpy(dtype=float)}))
    if not parts:
        raise VBQInputError("--reader-table: give at least two tables (READER=FILE)")
    frame = pd.concat(parts, ignore_index=True)
    frame["level"] = [_level_text(v) if v else NO_LEVEL for v in frame["level"]]
    cols = {"case": "case_id", "reader": "--reader-table", "session": "--reader-table", "level": "VBQ_<level>",
            "value": "VBQ_<level>"}
    return check(frame, cols, sources, warnings)


# ---------------------------------------------------------------------------------------------------------------
# checks

def check(frame, columns: dict, sources: list, warnings: list) -> AgreementData:
    """The checks of the module doc on a normalised frame; returns :class:`AgreementData`."""
    from VBQScoreLib.levels import LEVEL_INDEX

    frame = frame[frame["level"] != "CSF"].reset_index(drop=True)
    prefix = f"{sources[0]}: " if len(sources) == 1 and sources[0] != "<table>" else ""
    ccol, rcol = columns.get("case") or "case", columns.get("reader") or "reader"
    key = ["case", "reader", "session", "level"]
    dup = frame.duplicated(key, keep=False)
    if dup.any():
        first = frame[dup].iloc[0]
        same = frame[dup & (frame[key] == first[key]).all(axis=1)]
        what = f"case '{first['case']}', reader '{first['reader']}'"
        if columns.get("session"):
            what += f", session '{first['session']}'"
        if first["level"] != NO_LEVEL:
            what += f", level '{first['level']}'"
        n_more = int(dup.sum()) - len(same)
        raise VBQInputError(prefix + f"duplicate measurement: {where(same)} repeat {what} (columns '{ccol}', '{rcol}'"
                            f"{', ' + repr(columns['session']) if columns.get('session') else ''}"
                            f"{', ' + repr(columns['level']) if columns.get('level') else ''})"
                            + (f"; {n_more} more repeated rows" if n_more > 0 else ""))
    readers = _unique(frame["reader"])
    sessions = _sort_sessions(frame["session"])
    cases = _unique(frame["case"])
    if len(readers) < 2 and len(sessions) < 2:
        raise VBQInputError(prefix + f"column '{rcol}': only one reader ('{readers[0]}', {where(frame)}) "
                            f"and one session: agreement needs at least 2 readers, or 2 sessions of a reader")
    if len(cases) < 2:
        raise VBQInputError(prefix + f"column '{ccol}': only one case ('{cases[0]}', {where(frame)}); "
                            f"agreement needs at least 2 cases")
    if len(readers) >= 2:
        n_read = frame.groupby("case", sort=False)["reader"].nunique()
        single = [c for c in cases if n_read[c] < 2]
        if single:
            c = single[0]
            sub = frame[frame["case"] == c]
            more = f" ({len(single) - 1} more such cases: {_rows_text(single[1:], 5)})" if len(single) > 1 else ""
            raise VBQInputError(prefix + f"column '{rcol}': case '{c}' is measured by one reader only "
                                f"('{sub['reader'].iloc[0]}', {where(sub)}){more}; every case needs at least 2 readers "
                                f"(leave the value empty for a missing measurement)")
    levels = [lv for lv in _unique(frame["level"]) if lv not in (NO_LEVEL, OVERALL)]
    unknown = [lv for lv in levels if lv not in LEVEL_INDEX]
    if unknown:
        sub = frame[frame["level"] == unknown[0]]
        raise VBQInputError(prefix + f"column '{columns.get('level') or 'level'}': '{unknown[0]}' is not a spine level "
                            f"({where(sub)}); use names like C3 (or 'overall')")
    levels.sort(key=LEVEL_INDEX.get)
    has_overall = bool((frame["level"] == OVERALL).any())
    if levels and (frame["level"] == NO_LEVEL).any():  # pragma: no cover - one table has either
        raise VBQInputError(prefix + "mixed tables with and without levels")
    if not frame["value"].notna().any():
        raise VBQInputError(prefix + f"column '{columns.get('value') or 'vbq'}': no values")
    return AgreementData(frame, columns, sources, cases, readers, sessions, levels, has_overall, warnings)


# ---------------------------------------------------------------------------------------------------------------
# shaping

def value_cube(data: AgreementData, preset: str = "lu2024"):
    """``(values, overall, info)``: ``values`` indexed by (session, level, case) with one column per reader (all
    levels), ``overall`` indexed by (session, case) with one column per reader (the overall VBQ: the table's
    ``overall`` rows, its values when it has no levels, else the preset's aggregate of the levels present)."""
    from VBQScoreLib.presets import get_preset

    f = data.frame
    values = f.set_index(["session", "level", "case", "reader"])["value"].unstack("reader")
    values = values.reindex(columns=data.readers).sort_index()
    info = {"source": "table", "preset": None, "levels_used": [], "partial": 0}
    if not data.levels or data.has_overall_rows:
        lv = NO_LEVEL if not data.levels else OVERALL
        ov = f[f["level"] == lv].set_index(["session", "case", "reader"])["value"].unstack("reader")
    else:
        p = get_preset(preset)
        use = [lv for lv in data.levels if lv in p.levels]
        info.update(source="aggregate", preset=p.name, aggregate=p.aggregate, levels_used=use)
        sub = f[f["level"].isin(use) & f["value"].notna()]
        g = sub.groupby(["session", "case", "reader"], sort=False)["value"]
        agg = g.mean() if p.aggregate == "mean" else g.median()
        cnt = g.size()
        info["partial"] = int((cnt < len(use)).sum())
        ov = agg.unstack("reader") if len(agg) else None
        if ov is None:
            info["source"] = "none"
    if ov is not None:
        ov = ov.reindex(columns=data.readers).sort_index()
    return values, ov, info


def slice_matrix(frame, session: str, level: str | None, cases: Sequence):
    """Cases x readers for one session (and level) of ``values``/``overall``, reindexed to ``cases`` (a case
    without any value becomes a row of NaN: counted as excluded, never dropped silently)."""
    import pandas as pd

    try:
        m = frame.loc[(session, level)] if level is not None else frame.loc[session]
    except KeyError:
        m = pd.DataFrame(columns=frame.columns, dtype=float)
    return m.reindex(list(cases))


def cases_in_session(data: AgreementData, session: str) -> list:
    f = data.frame
    return _unique(f.loc[f["session"] == session, "case"])


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", str(text)).strip("_") or "x"
