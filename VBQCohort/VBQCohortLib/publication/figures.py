"""Figures for journals: every figure saved as PDF and SVG (text kept as text, fonts embedded as TrueType:
matplotlib ``pdf.fonttype = 42``, ``svg.fonttype = "none"`` keeps editable text), plus PNG and LZW-compressed
TIFF at 300 dpi by default; width single column 85 mm, double column 174 mm, or any width in mm.

The palette (:data:`PALETTE`) is Okabe & Ito's colour-blind-safe set; the pairs used for two groups
(:data:`GROUP_COLORS` blue/orange, :data:`SEX_COLORS` vermillion/yellow) also differ in grayscale (relative
luminance 0.15 vs 0.42 and 0.22 vs 0.75; :func:`grayscale_distinct` checks a pair).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

__all__ = ["capture_figures", "note_figure", "PALETTE", "GROUP_COLORS", "SEX_COLORS", "WIDTHS_MM", "FORMATS",
           "width_mm", "journal_rc", "save_figure", "figure_bytes", "luminance", "grayscale_distinct"]

# Okabe-Ito: vermillion, blue, bluish green, orange, sky blue, reddish purple, yellow, black
PALETTE = ("#D55E00", "#0072B2", "#009E73", "#E69F00", "#56B4E9", "#CC79A7", "#F0E442", "#000000")
GROUP_COLORS = ("#0072B2", "#E69F00")      # treated, control: blue (dark) vs orange (light) in grayscale
SEX_COLORS = ("#D55E00", "#F0E442")        # vermillion (dark) vs yellow (light)
WIDTHS_MM = {"single": 85.0, "double": 174.0}
FORMATS = ("pdf", "svg", "png", "tiff")
MM_PER_INCH = 25.4


_CAPTURE: contextvars.ContextVar[dict | None]  # noqa: F821


def _capture_var():
    global _CAPTURE
    try:
        return _CAPTURE
    except NameError:
        import contextvars

        _CAPTURE = contextvars.ContextVar("vbq_figures", default=None)
        return _CAPTURE


class capture_figures:  # noqa: N801 - used like a function: `with capture_figures() as figs:`
    """``with capture_figures() as got:`` -- every figure rendered by the report code meanwhile (through
    :func:`note_figure`) is kept as ``got[id(png_bytes)] = Figure``, so that the report can save the same
    figures again as vector files and at print resolution."""

    def __enter__(self) -> dict:
        self._got: dict = {}
        self._token = _capture_var().set(self._got)
        return self._got

    def __exit__(self, *exc) -> None:
        _capture_var().reset(self._token)


def note_figure(fig, data: bytes) -> bytes:
    """Record ``fig`` as the figure whose rendering is ``data`` (when a capture is active); returns ``data``."""
    got = _capture_var().get()
    if got is not None:
        got[id(data)] = (fig, data)
    return data


def width_mm(spec) -> float:
    """``single`` (85 mm), ``double`` (174 mm) or a number of millimetres (30-250)."""
    if spec is None:
        return WIDTHS_MM["double"]
    s = str(spec).strip().lower()
    if s in WIDTHS_MM:
        return WIDTHS_MM[s]
    try:
        v = float(s.removesuffix("mm"))
    except ValueError:
        from VBQScoreLib.errors import VBQInputError

        raise VBQInputError(f"--figure-width must be single, double or a width in mm, not {spec!r}") from None
    if not 30 <= v <= 250:
        from VBQScoreLib.errors import VBQInputError

        raise VBQInputError(f"--figure-width {v:g} mm is outside 30-250 mm")
    return v


def journal_rc() -> dict:
    """matplotlib settings for journal figures (used as ``matplotlib.rc_context(journal_rc())``)."""
    from cycler import cycler

    return {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none", "font.family": "DejaVu Sans",
            "font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
            "legend.fontsize": 7, "axes.prop_cycle": cycler(color=list(PALETTE))}


def _resize(fig, width: float | None) -> None:
    """Scale the figure to ``width`` mm (the height in proportion) and lay it out again, so that the saved
    file is exactly that wide (no 'tight' bounding box that would change the width)."""
    if width is None:
        return
    import warnings

    from matplotlib.text import Text

    w, h = fig.get_size_inches()
    new_w = width / MM_PER_INCH
    factor = new_w / w
    fig.set_size_inches(new_w, h * new_w / w)
    if factor < 1:  # text shrinks with the figure, but not below 6-7 pt (what journals ask for)
        for t in fig.findobj(Text):
            t.set_fontsize(max(t.get_fontsize() * factor, min(t.get_fontsize(), 6.5)))
    if fig.get_layout_engine() is None and any(ax.get_subplotspec() is not None for ax in fig.axes):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "tight_layout not applied" when labels cannot fit: keep as is
            fig.tight_layout()


def figure_bytes(fig, fmt: str, *, dpi: int = 300) -> bytes:
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context(journal_rc()):
        kw = {"format": fmt}
        kw["bbox_inches"] = "tight"  # nothing cut off (a long label may make the file a little wider)
        kw["pad_inches"] = 0.02
        if fmt in ("png", "tiff"):
            kw["dpi"] = dpi
        if fmt == "tiff":
            kw["pil_kwargs"] = {"compression": "tiff_lzw"}
        fig.savefig(buf, **kw)
    return buf.getvalue()


def save_figure(fig, folder, name: str, *, dpi: int = 300, width: float | None = None,
                formats: Iterable[str] = FORMATS) -> dict[str, Path]:
    """Save ``fig`` as ``folder/name.{pdf,svg,png,tiff}``; ``width`` in mm rescales the figure (text keeps
    its point size). Returns ``{format: path}``."""
    if not 72 <= int(dpi) <= 2400:
        from VBQScoreLib.errors import VBQInputError

        raise VBQInputError(f"--dpi {dpi} is outside 72-2400")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _resize(fig, width)
    out = {}
    png = None
    for fmt in formats:
        p = folder / f"{name}.{fmt}"
        if fmt == "tiff" and png is not None:  # the same pixels as the PNG: no second rendering
            from PIL import Image

            with Image.open(io.BytesIO(png)) as im:
                im.save(p, format="TIFF", compression="tiff_lzw", dpi=(int(dpi), int(dpi)))
        else:
            data = figure_bytes(fig, fmt, dpi=int(dpi))
            if fmt == "png":
                png = data
            p.write_bytes(data)
        out[fmt] = p
    return out


def luminance(color: str) -> float:
    """Relative luminance (sRGB, WCAG) of a colour, 0 (black) to 1 (white)."""
    from matplotlib.colors import to_rgb

    def lin(c):
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in to_rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def grayscale_distinct(a: str, b: str, min_ratio: float = 1.9) -> bool:
    """Whether two colours stay apart when printed in gray: WCAG contrast ratio >= ``min_ratio``."""
    la, lb = sorted((luminance(a), luminance(b)))
    return (lb + 0.05) / (la + 0.05) >= min_ratio
