"""``--dpi`` and ``--figure-width`` for the commands that write figures (journal exports through
:func:`VBQCohortLib.publication.figures.save_figure`)."""

from __future__ import annotations


def add_figure_options(p) -> None:
    g = p.add_argument_group("figures (PDF and SVG with TrueType text, PNG and LZW TIFF)")
    g.add_argument("--dpi", type=int, default=300, metavar="N",
                   help="resolution of the PNG and TIFF figures (default 300; PDF and SVG are vector)")
    g.add_argument("--figure-width", default=None, metavar="single|double|MM",
                   help="figure width: single column (85 mm), double column (174 mm) or a width in mm")


def check_figure_options(args) -> None:
    """One line naming the flag when ``--dpi`` or ``--figure-width`` is wrong (before anything is read)."""
    from VBQScoreLib.errors import VBQInputError

    dpi = getattr(args, "dpi", 300)
    if not 72 <= dpi <= 2400:
        raise VBQInputError(f"--dpi {dpi}: must be between 72 and 2400")
    if getattr(args, "figure_width", None) is not None:
        from VBQCohortLib.publication.figures import width_mm

        width_mm(args.figure_width)


def figure_kwargs(args) -> dict:
    return {"dpi": getattr(args, "dpi", 300), "figure_width": getattr(args, "figure_width", None)}
