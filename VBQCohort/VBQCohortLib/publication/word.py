"""``report.docx``: the report as a Word document a journal accepts (python-docx).

A document is a list of blocks -- :class:`Heading`, :class:`Paragraph`, :class:`Table`, :class:`Figure` -- that
:func:`write_docx` lays out: title, A4 portrait, 2.5 cm margins, 10-pt body text, page numbers in the footer
("Page N of M"), every table a real Word table in three-line journal style (a rule above and below the header
and one below the last row, no vertical lines; optional grouped header row above the column headers), its
caption above and its footnote below, every figure embedded as a picture with its caption below.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Heading", "Paragraph", "Table", "Figure", "write_docx", "docx_bytes"]


@dataclass
class Heading:
    text: str
    level: int = 1


@dataclass
class Paragraph:
    text: str
    style: str | None = None      # e.g. "warning" (dark orange), "note" (small grey)


@dataclass
class Table:
    caption: str
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]
    footnote: str = ""
    groups: Sequence[tuple[str, int]] = ()   # grouped header: (text, number of columns spanned), left to right
    indent: Sequence[bool] = ()              # per row: indent the first cell (levels of a categorical variable)
    bold: Sequence[bool] = ()                # per row: bold first cell (section rows)


@dataclass
class Figure:
    image: bytes                  # PNG
    caption: str
    width_mm: float = 160.0


@dataclass
class _Doc:
    blocks: list = field(default_factory=list)


def _border(cell, **edges) -> None:
    """Set the borders of one table cell: ``top``/``bottom`` = (size in eighths of a point) or 0 for none."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    tc_pr = cell._tc.get_or_add_tcPr()
    borders = tc_pr.find(qn("w:tcBorders"))
    if borders is None:
        borders = OxmlElement("w:tcBorders")
        tc_pr.append(borders)
    for edge in ("top", "left", "bottom", "right"):
        size = edges.get(edge, 0)
        el = borders.find(qn(f"w:{edge}"))
        if el is None:
            el = OxmlElement(f"w:{edge}")
            borders.append(el)
        if size:
            el.set(qn("w:val"), "single")
            el.set(qn("w:sz"), str(size))
            el.set(qn("w:color"), "000000")
        else:
            el.set(qn("w:val"), "nil")


def _field(run, code: str) -> None:
    """A Word field (PAGE, NUMPAGES) in ``run``: Word and LibreOffice fill it in when they lay the page out."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    for kind, text in (("begin", None), (None, code), ("separate", None), (None, "1"), ("end", None)):
        if kind:
            el = OxmlElement("w:fldChar")
            el.set(qn("w:fldCharType"), kind)
        elif text == code:
            el = OxmlElement("w:instrText")
            el.set(qn("xml:space"), "preserve")
            el.text = f" {code} "
        else:
            el = OxmlElement("w:t")
            el.text = text
        run._r.append(el)


def _cell_text(cell, text: str, *, bold=False, align=None, indent_mm=0.0, size=9) -> None:
    from docx.shared import Mm, Pt

    cell.text = ""
    p = cell.paragraphs[0]
    p.paragraph_format.space_before = Pt(1)
    p.paragraph_format.space_after = Pt(1)
    if indent_mm:
        p.paragraph_format.left_indent = Mm(indent_mm)
    if align is not None:
        p.alignment = align
    run = p.add_run(str(text))
    run.bold = bold
    run.font.size = Pt(size)


def _set_orientation(doc, landscape: bool) -> None:
    """Start a new section (new page) in landscape or portrait A4 unless the current one already is."""
    from docx.enum.section import WD_ORIENT, WD_SECTION
    from docx.shared import Mm

    cur = doc.sections[-1]
    if (cur.orientation == WD_ORIENT.LANDSCAPE) == landscape:
        return
    sec = doc.add_section(WD_SECTION.NEW_PAGE)
    sec.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    sec.page_width, sec.page_height = (Mm(297), Mm(210)) if landscape else (Mm(210), Mm(297))


def _text_width_mm(doc) -> float:
    sec = doc.sections[-1]
    return (sec.page_width - sec.left_margin - sec.right_margin) / 36000.0


def _table(doc, t: Table) -> None:
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Mm, Pt

    _set_orientation(doc, len(t.headers) > 9)

    cap = doc.add_paragraph()
    cap.paragraph_format.keep_with_next = True
    cap.paragraph_format.space_before = Pt(10)
    r = cap.add_run(t.caption)
    r.bold = True
    r.font.size = Pt(10)
    ncol = len(t.headers)
    head_rows = 2 if t.groups else 1
    table = doc.add_table(rows=head_rows + len(t.rows), cols=ncol)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    # the first column (labels) gets what its longest entry needs, up to 40% of the line; the rest share the rest
    total = _text_width_mm(doc)
    longest = max([len(str(r[0])) for r in t.rows if r] + [len(str(t.headers[0])), 8])
    first = min(max(25.0, longest * 1.7), 0.4 * total)
    # p and SMD columns are narrow, value columns ("60.4 ± 8.8", "92 (60.1)") wider
    weights = [0.85 if str(h).strip().lower() in ("p", "smd") or str(h).lower().startswith("p (") else 1.0
               for h in t.headers[1:]]
    unit = (total - first) / max(sum(weights), 1e-9)
    widths = [Mm(first)] + [Mm(unit * w) for w in weights]
    for j, col in enumerate(table.columns):  # the grid (LibreOffice reads it) and every cell (Word reads those)
        col.width = widths[j]
    # python-docx's table.cell(i, j) rebuilds the whole cell list on every call (quadratic): take each row's
    # cells once; merged cells are handled through the cell that merge() returns
    grid = [list(row.cells) for row in table.rows]
    for cells in grid:
        for j, cell in enumerate(cells):
            cell.width = widths[j]
    size = 8 if ncol > 5 else 9
    thick, thin = 12, 6  # 1.5 pt and 0.75 pt rules
    if t.groups:
        for j in range(ncol):  # borders first: a merge keeps the first cell's properties
            has_group = any(text for text, _ in _spans_at(t.groups, j))
            _border(grid[0][j], top=thick, bottom=thin if has_group else 0)
        col = 0
        for text, span in t.groups:
            cell = grid[0][col]
            if span > 1:
                cell = cell.merge(grid[0][col + span - 1])
            _cell_text(cell, text, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, size=size)
            col += span
    hr = head_rows - 1
    for j, h in enumerate(t.headers):
        _cell_text(grid[hr][j], h, bold=True, size=size,
                   align=WD_ALIGN_PARAGRAPH.LEFT if j == 0 else WD_ALIGN_PARAGRAPH.CENTER)
        _border(grid[hr][j], top=0 if t.groups else thick, bottom=thin)
    last = head_rows + len(t.rows) - 1
    for i, row in enumerate(t.rows):
        ri = head_rows + i
        cells = grid[ri]
        section = (i < len(t.bold) and t.bold[i]) and not any(str(x) for x in row[1:])
        if section:  # a section row ("VBQ score"): one cell across the table
            for j in range(ncol):
                _border(cells[j], bottom=thick if ri == last else 0)
            cell = cells[0].merge(cells[ncol - 1])
            _cell_text(cell, row[0], bold=True, size=size)
            continue
        ind = bool(t.indent[i]) if i < len(t.indent) else False
        bold = bool(t.bold[i]) if i < len(t.bold) else False
        for j in range(ncol):
            text = row[j] if j < len(row) else ""
            _cell_text(cells[j], text, bold=bold and j == 0, indent_mm=4 if (ind and j == 0) else 0,
                       align=WD_ALIGN_PARAGRAPH.LEFT if j == 0 else WD_ALIGN_PARAGRAPH.CENTER, size=size)
            _border(cells[j], bottom=thick if ri == last else 0)
    if t.footnote:
        p = doc.add_paragraph()
        p.paragraph_format.space_before = Pt(2)
        run = p.add_run(t.footnote)
        run.font.size = Pt(8)


def _spans_at(groups, j):
    col = 0
    for text, span in groups:
        if col <= j < col + span:
            yield text, span
        col += span


def _build(title: str, blocks: Sequence, subtitle: str = ""):
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Mm, Pt, RGBColor

    doc = Document()
    sec = doc.sections[0]
    sec.orientation = WD_ORIENT.PORTRAIT
    sec.page_width, sec.page_height = Mm(210), Mm(297)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(sec, side, Mm(25))
    normal = doc.styles["Normal"]
    normal.font.name = "Arial"
    normal.font.size = Pt(10)
    fp = sec.footer.paragraphs[0]
    fp.alignment = WD_ALIGN_PARAGRAPH.CENTER
    fp.add_run("Page ")
    _field(fp.add_run(), "PAGE")
    fp.add_run(" of ")
    _field(fp.add_run(), "NUMPAGES")
    doc.core_properties.title = title
    doc.add_heading(title, level=0)
    if subtitle:
        p = doc.add_paragraph()
        r = p.add_run(subtitle)
        r.font.size = Pt(9)
        r.font.color.rgb = RGBColor(0x55, 0x55, 0x55)
    for b in blocks:
        if isinstance(b, Heading):
            doc.add_heading(b.text, level=b.level)
        elif isinstance(b, Paragraph):
            p = doc.add_paragraph()
            r = p.add_run(b.text)
            if b.style == "warning":
                r.font.color.rgb = RGBColor(0xA0, 0x40, 0x00)
            elif b.style == "note":
                r.font.size = Pt(8)
                r.font.color.rgb = RGBColor(0x55, 0x55, 0x55)
        elif isinstance(b, Table):
            _table(doc, b)
        elif isinstance(b, Figure):
            if not b.image:
                continue
            _set_orientation(doc, False)
            doc.add_picture(io.BytesIO(b.image), width=Mm(b.width_mm))
            doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
            doc.paragraphs[-1].paragraph_format.keep_with_next = True
            p = doc.add_paragraph()
            r = p.add_run(b.caption)
            r.font.size = Pt(9)
            r.italic = True
        else:
            raise TypeError(f"not a document block: {type(b).__name__}")
    return doc


def docx_bytes(title: str, blocks: Sequence, subtitle: str = "") -> bytes:
    buf = io.BytesIO()
    _build(title, blocks, subtitle).save(buf)
    return buf.getvalue()


def write_docx(path, title: str, blocks: Sequence, subtitle: str = "") -> Path:
    """Write the document to ``path`` (callers write into a temporary folder: reports are written atomically)."""
    path = Path(path)
    path.write_bytes(docx_bytes(title, blocks, subtitle))
    return path
