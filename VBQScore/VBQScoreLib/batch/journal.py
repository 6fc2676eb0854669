"""The resume journal of a batch run: each finished case is one JSON line of ``<out_csv>.journal.jsonl``;
:func:`previous_records` reads back what an earlier (maybe interrupted) run finished, :func:`check_compatible`
refuses to mix rows measured with other settings."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..errors import VBQInputError
from ..json_text import jsonable


def journal_path_for(out_csv) -> Path:
    out_csv = Path(out_csv)
    return out_csv.with_name(out_csv.name + ".journal.jsonl")


# ----------------------------------------------------------------------------------------------------------
# resume


def previous_records(out_csv: Path, long_csv: Path, journal: Path, wanted: set[str], notes: list | None = None):
    """What an earlier run finished ok, for ``resume``: ``(from_csv, from_journal)``.

    ``from_csv`` maps case id -> record rebuilt from the final CSVs (only ok cases of ``wanted`` that have
    their long rows); ``from_journal`` maps case id -> byte offset of the case's last journal line when that
    line is ok (the journal of an interrupted run is newer than the CSVs and overrides them). Journal records
    are not held in memory; they are copied by offset.

    When the two tables are not the pair their checksums name (:func:`.records.check_pair`: a run killed between
    the renames, or a table edited since), the tables are not trusted: their cases are measured again (the
    journal still counts) and ``notes`` gets one line saying so.
    """
    from .records import check_pair

    from_csv: dict[str, dict] = {}
    mismatch = check_pair(out_csv) if out_csv.exists() else None
    if mismatch is not None and notes is not None:
        notes.append(f"{mismatch}; its cases are measured again")
    if out_csv.exists() and mismatch is None:
        try:
            with open(out_csv, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                if reader.fieldnames and ("case_id" not in reader.fieldnames or "status" not in reader.fieldnames):
                    raise VBQInputError(f"{out_csv}: existing output has no case_id/status columns; not a vbq "
                                        "batch table, cannot resume")
                for r in reader:
                    cid = r.get("case_id", "")
                    if r.get("status") == "ok" and cid in wanted:
                        from_csv[cid] = {"case_id": cid, "status": "ok", "wide": r, "long": []}
            if long_csv.exists():
                with open(long_csv, newline="", encoding="utf-8") as f:
                    for r in csv.DictReader(f):
                        rec = from_csv.get(r.get("case_id", ""))
                        if rec is not None:
                            rec["long"].append(r)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise VBQInputError(f"{out_csv}: cannot read the existing output to resume ({exc})") from None
        for cid in [cid for cid, rec in from_csv.items() if not rec["long"]]:
            del from_csv[cid]  # without its long rows (file missing or edited) the case is run again
    last: dict[str, tuple] = {}
    if journal.exists():
        with open(journal, "rb") as f:
            while True:
                offset = f.tell()
                line = f.readline()
                if not line:
                    break
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a line cut short by an interruption
                if isinstance(rec, dict) and rec.get("case_id") in wanted and isinstance(rec.get("wide"), dict):
                    last[rec["case_id"]] = (rec.get("status"), offset)
    for cid in last:
        from_csv.pop(cid, None)
    from_journal = {cid: off for cid, (status, off) in last.items() if status == "ok"}
    return from_csv, from_journal


def check_compatible(cid: str, wide: dict, options, preset) -> None:
    """Refuse to mix rows measured with other settings (the settings columns of the wide table)."""

    def norm(key, value) -> str:
        if value is None or value == "":
            return ""
        if key == "erode_mm":
            try:
                return repr(float(value))
            except ValueError:
                return str(value)
        return str(value)

    expect = {"preset": preset.name, "level_stat": preset.level_stat, "aggregate": preset.aggregate,
              "erode_mm": float(options.erode_mm or 0.0), "mid_slices": options.mid_sagittal_slices}
    for key, value in expect.items():
        if key not in wide:
            continue  # a table without that column: nothing to compare
        got, want = norm(key, wide[key]), norm(key, value)
        if got == "" and key != "mid_slices":  # empty mid_slices means all slices
            continue
        if got != want:
            raise VBQInputError(
                f"cannot resume: case '{cid}' in the existing output was measured with {key}="
                f"{got or 'all'}, this run uses {key}={want or 'all'}; use the same settings, or run "
                f"without --resume to start over")


def json_line(rec: dict) -> str:
    try:
        return json.dumps(rec, allow_nan=False, default=_json_default) + "\n"
    except ValueError:  # a NaN/inf slipped through: store it as null (an empty cell)
        return json.dumps(jsonable(rec), allow_nan=False, default=_json_default) + "\n"


def _json_default(o):
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")
