"""HTML pieces both reports use (the cohort report :mod:`.cohort` and the agreement report
:mod:`VBQCohortLib.agreement.report`): CSS, escaping, number formatting, tables, figures (matplotlib, Agg), the list
of the files a previous run wrote, and the one writer of a report folder (atomic; files of an earlier run that
this run did not write again are removed)."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Callable
from pathlib import Path

from VBQScoreLib.atomic import atomic_directory, clean_leftovers

__all__ = ["CSS", "esc", "fmt", "fmt_p", "fmt_p_text", "table", "figure_class", "png_bytes", "img",
           "previous_listed_files", "write_report_folder"]

# ---------------------------------------------------------------------------------------------------------------
# formatting

def fmt_p(p) -> str:
    if p is None or (isinstance(p, float) and not math.isfinite(p)):
        return "–"
    if p < 0.001:
        return "&lt;0.001"
    return f"{p:.3f}"


def fmt_p_text(p) -> str:
    if p is None:
        return "n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def fmt(x, d=2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, (int,)) and not isinstance(x, bool):
        return str(x)
    s = f"{x:.{d}f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s  # never "-0.00"


def esc(s) -> str:
    return html.escape(str(s))


def table(headers, rows, cls="") -> str:
    h = "".join(f"<th>{c}</th>" for c in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>'


# ---------------------------------------------------------------------------------------------------------------
# figures

def figure_class():
    """matplotlib's ``Figure`` class with the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure


def png_bytes(fig) -> bytes:
    """The figure as a screen PNG (110 dpi, embedded in the HTML); an active
    :class:`VBQCohortLib.publication.figures.capture_figures` keeps the figure for the journal exports."""
    from ..publication.figures import note_figure

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return note_figure(fig, buf.getvalue())


CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.4em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:right;vertical-align:top}
th{background:#f3f5f7;text-align:center}td:first-child{text-align:left;font-weight:600}
tr.sig td{background:#fff4e5}
.note{color:#555;font-size:.9em}.box{background:#f7f9fb;border:1px solid #dde3ea;padding:.8em 1em;border-radius:4px}
.methods{background:#fcfcf6;border-left:4px solid #c9b458;padding:.6em 1em}
img{max-width:100%;height:auto;display:block;margin:.5em 0 1em}
.warn{color:#a04000}
code{background:#f1f1f1;padding:0 .2em}
"""


def img(png: bytes | None, alt: str) -> str:
    if not png:
        return ""
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


# ---------------------------------------------------------------------------------------------------------------
# the report folder

def previous_listed_files(out_dir: Path, list_file: str, top_level, extensions=None) -> set:
    """Files that an earlier run listed in ``out_dir / list_file``, so that this run can remove the ones it
    replaces: only names in ``top_level`` and ``tables/<name>`` / ``figures/<name>`` entries (no hidden name,
    no ``..``; with ``extensions``, only those file types). Anything else in the list is ignored."""
    try:
        names = json.loads((Path(out_dir) / list_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    ok = set()
    for n in names if isinstance(names, list) else []:
        parts = str(n).split("/")
        if (len(parts) == 1 and parts[0] in top_level) or (
                len(parts) == 2 and parts[0] in ("tables", "figures") and parts[1]
                and not parts[1].startswith(".") and ".." not in parts[1]
                and (extensions is None or parts[1].rsplit(".", 1)[-1] in extensions)):
            ok.add(str(n))
    return ok


def write_report_folder(out_dir, list_file: str, top_level, fill: Callable[[Path], None], *,
                        extensions=None) -> Path:
    """Write a report folder atomically: ``fill(tmp)`` writes the files into a temporary folder that then
    replaces ``out_dir`` as one unit (on error nothing is written; a kill leaves the old folder or the new one);
    ``list_file`` in it lists the files written. A file that an
    earlier run listed (:func:`previous_listed_files` with ``top_level``/``extensions``) and this run did not write
    again (e.g. forest.png when the logistic model is now off, a reader pair since renamed) would pass for a result
    of this run: it is removed. Returns ``out_dir``."""
    out_dir = Path(out_dir)
    clean_leftovers(out_dir)  # a swap killed half-way is rolled back before the previous run's list is read
    previous = previous_listed_files(out_dir, list_file, top_level, extensions)
    drop: set = set()
    with atomic_directory(out_dir, drop=drop) as tmp:
        tmp = Path(tmp)
        fill(tmp)
        produced = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        (tmp / list_file).write_text(json.dumps(produced, indent=0) + "\n", encoding="utf-8")
        drop |= previous - set(produced)
    return out_dir
