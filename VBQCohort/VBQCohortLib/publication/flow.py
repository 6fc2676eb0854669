"""STROBE flow diagram of a cohort analysis: rows in the spreadsheet -> excluded, by reason -> analysed per
group -> matched (pairs) and unmatched per group -> the sex-stratified sub-study's pairs.

:func:`flow_counts` reads the numbers from ``results`` (nothing is recomputed); :func:`flow_figure` draws them
with matplotlib (boxes and arrows, text as text so PDF/SVG stay editable).
"""

from __future__ import annotations

__all__ = ["flow_counts", "flow_figure", "flow_lines"]


def flow_counts(results: dict) -> dict:
    g = results["groups"]
    t, c = g["treated"], g["control"]
    ex = (results.get("exclusions") or {}).get("counts") or {}
    by_reason = dict(ex.get("excluded_by_reason") or {})
    n_t, n_c = int(g["n"][t]), int(g["n"][c])
    rows = ex.get("rows")
    excluded = sum(int(v) for v in by_reason.values())
    if rows is None:
        rows = n_t + n_c + excluded
    out = {"rows": int(rows), "excluded": int(excluded), "excluded_by_reason": by_reason,
           "groups": [t, c], "analysed": {t: n_t, c: n_c}, "matched": None, "sex": None}
    m = results.get("matching") or {}
    if m.get("enabled"):
        nm = m.get("n_matched") or {}
        mt, mc = int(nm.get("treated", 0)), int(nm.get("control", 0))
        out["matched"] = {"pairs": len(m.get("pairs") or {}), t: mt, c: mc,
                          "unmatched": {t: n_t - mt, c: n_c - mc}}
    ss = results.get("sex_stratified") or {}
    if ss.get("enabled") and ss.get("matching"):
        nm = ss["matching"].get("n_matched") or {}
        out["sex"] = {"within": ss.get("within"), "groups": list(ss.get("groups") or []),
                      "pairs": len(ss["matching"].get("pairs") or {}),
                      "n": {k: int(v) for k, v in (ss.get("n") or {}).items()},
                      "matched": {"treated": int(nm.get("treated", 0)), "control": int(nm.get("control", 0))}}
    return out


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def flow_lines(fc: dict) -> list[tuple[str, list[str]]]:
    """The diagram as text boxes, top to bottom: ``[(stage, [lines])]`` (also the figure's alt text)."""
    t, c = fc["groups"]
    out = [("source", [f"Rows in the spreadsheet: n = {fc['rows']}"])]
    if fc["excluded"]:
        out.append(("excluded", [f"Excluded: n = {fc['excluded']}"] +
                    [f"  {r}: n = {k}" for r, k in fc["excluded_by_reason"].items()]))
    out.append(("analysed", [f"Analysed: n = {fc['analysed'][t] + fc['analysed'][c]}",
                             f"{t}: n = {fc['analysed'][t]}    {c}: n = {fc['analysed'][c]}"]))
    m = fc.get("matched")
    if m:
        sets = _plural(m["pairs"], "pair" if m[t] == m[c] == m["pairs"] else "matched set")
        out.append(("matched", [f"Matched: {sets} ({t} n = {m[t]}, {c} n = {m[c]})",
                                f"Unmatched: {t} n = {m['unmatched'][t]}, {c} n = {m['unmatched'][c]}"]))
    s = fc.get("sex")
    if s and len(s["groups"]) == 2:
        a, b = s["groups"]
        unit = "pair" if s["matched"]["treated"] == s["matched"]["control"] == s["pairs"] else "set"
        out.append(("sex", [f"Sex-stratified sub-study within {s['within']}:",
                            f"{a} n = {s['n'].get(a, 0)}, {b} n = {s['n'].get(b, 0)}",
                            f"Matched: {_plural(s['pairs'], unit)} ({a} n = {s['matched']['treated']}, "
                            f"{b} n = {s['matched']['control']})"]))
    return out


def flow_figure(fc: dict, *, width_mm: float = 174.0):
    """A matplotlib Figure of the flow diagram (exclusions in a box to the right of the main column)."""
    from ..report.html import figure_class

    Figure = figure_class()
    boxes = flow_lines(fc)
    main = [b for b in boxes if b[0] != "excluded"]
    side = next((b for b in boxes if b[0] == "excluded"), None)
    line_h = 0.24  # inches per text line
    heights = [0.25 + line_h * len(lines) for _, lines in main]
    gap = 0.35
    total_h = sum(heights) + gap * (len(main) - 1) + 0.2
    w_in = width_mm / 25.4
    fig = Figure(figsize=(w_in, total_h))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, w_in)
    ax.set_ylim(0, total_h)
    ax.axis("off")
    main_x, main_w = 0.1, w_in * (0.6 if side else 0.8)
    y = total_h - 0.1
    centers = []
    for (_stage, lines), h in zip(main, heights):
        ax.add_patch(_box(main_x, y - h, main_w, h))
        ax.text(main_x + main_w / 2, y - h / 2, "\n".join(lines), ha="center", va="center", fontsize=7.5,
                linespacing=1.5)
        centers.append((y, y - h))
        y -= h + gap
    for (_top0, bot0), (top1, _) in zip(centers, centers[1:]):
        ax.annotate("", xy=(main_x + main_w / 2, top1), xytext=(main_x + main_w / 2, bot0),
                    arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 0.8})
    if side:
        lines = side[1]
        h = 0.25 + line_h * len(lines)
        sx = main_x + main_w + 0.3
        sw = w_in - sx - 0.1
        mid = (centers[0][1] + centers[1][0]) / 2 if len(centers) > 1 else centers[0][1] - gap / 2
        ax.add_patch(_box(sx, mid - h / 2, sw, h))
        ax.text(sx + 0.08, mid, "\n".join(s.strip() if i == 0 else "• " + s.strip() for i, s in enumerate(lines)),
                ha="left", va="center", fontsize=7, linespacing=1.5, wrap=True)
        ax.annotate("", xy=(sx, mid), xytext=(main_x + main_w / 2, mid),
                    arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 0.8})
    return fig


def _box(x, y, w, h):
    from matplotlib.patches import FancyBboxPatch

    return FancyBboxPatch((x, y), w, h, boxstyle="square,pad=0", facecolor="white", edgecolor="black", lw=0.8)
