"""Output file checks shared by the commands that write files (``vbq score``, ``vbq batch``, ``vbq cohort
match``): done before any work, each message naming the flag."""

from __future__ import annotations


def check_output_files(outputs, inputs) -> None:
    """Refuse an output that would overwrite an input, is a folder, lies in a missing folder, or is named twice.

    ``outputs``: ``[(flag, path or None), ...]`` (``None``: not asked for). ``inputs``: ``[(path or None,
    description), ...]``, the description completing "would overwrite ..." (e.g. ``"an input file"``).
    """
    import os
    from pathlib import Path

    from VBQScoreLib.errors import VBQInputError

    protected = {os.path.realpath(p): what for p, what in inputs if p}
    seen: dict[str, str] = {}
    for flag, value in outputs:
        if not value:
            continue
        p = Path(value)
        rp = os.path.realpath(p)
        if rp in protected:
            raise VBQInputError(f"{flag} {value}: would overwrite {protected[rp]}; choose another name")
        if p.is_dir():
            raise VBQInputError(f"{flag} {value}: is a folder; give a file name")
        parent = p.parent if str(p.parent) else Path(".")
        if not parent.is_dir():
            raise VBQInputError(f"{flag} {value}: output folder {parent} does not exist")
        if rp in seen:
            raise VBQInputError(f"{seen[rp]} and {flag} both write {value}")
        seen[rp] = flag


def check_report_inputs(out, inputs, files, folders=("tables", "figures")) -> None:
    """Refuse a report folder OUT where the run would replace an input file: one named in ``files`` at OUT's top
    level, or any file under one of the ``folders`` the run writes (tables, figures in every format, ...).

    ``inputs``: ``[(flag, path or None), ...]``; the message names the flag and the input.
    """
    import os
    from pathlib import Path

    from VBQScoreLib.errors import VBQInputError

    o = Path(os.path.realpath(out))
    for flag, value in inputs:
        if not value:
            continue
        p = Path(os.path.realpath(value))
        if not p.is_relative_to(o):
            continue
        parts = p.relative_to(o).parts
        if (len(parts) == 1 and parts[0] in files) or (len(parts) > 1 and parts[0] in folders):
            raise VBQInputError(f"--out {out}: would replace the input {flag} {value}; choose another folder")
