"""Published definitions of the overall VBQ score (see GUIDE §1), plus custom ones.

Overall VBQ = aggregate over levels of the level SI (mean or median inside each level ROI) / CSF SI.
Note that mean-of-ratios equals ratio-of-mean when the CSF SI is shared, so ``aggregate`` may be applied either
to level SIs (then divided by CSF SI) or to per-level VBQs: the result is identical for mean and median.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Optional

from ..errors import VBQInputError
from .levels import level_range, parse_level_list

STATISTICS = ("mean", "median")
AGGREGATES = ("mean", "median")


@dataclass(frozen=True)
class Preset:
    name: str
    levels: tuple[str, ...]
    level_stat: str  # statistic of voxel SI inside a level ROI: "mean" | "median"
    aggregate: str  # aggregate of level SIs across levels: "mean" | "median"
    csf_reference: str  # where the CSF ROI is drawn (documentation; used to pick among several CSF ROIs)
    citation: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["levels"] = list(self.levels)
        return d


PRESETS: dict[str, Preset] = {
    "lu2024": Preset(
        "lu2024", level_range("C2", "C7"), "mean", "mean", "cisterna magna",
        "Lu et al., The Spine Journal 2024;24(7):1153-1161",
    ),
    "soliman2023": Preset(
        "soliman2023", level_range("C3", "C6"), "mean", "median", "C2",
        "Soliman et al. 2023 (C-VBQ)",
    ),
    "razzouk2022": Preset(
        "razzouk2022", level_range("C3", "C6"), "mean", "median", "C5",
        "Razzouk et al. 2022",
    ),
    "ehresman2020": Preset(
        "ehresman2020", level_range("L1", "L4"), "mean", "median", "L3",
        "Ehresman et al., The Spine Journal 2020",
    ),
}
DEFAULT_PRESET = "lu2024"


def csf_segment_name(preset: Preset) -> str:
    """Name for a new CSF segment drawn where ``preset`` measures CSF: ``"CSF cisterna magna"``, ``"CSF at C2"``,
    or ``"CSF"`` (any place); :func:`VBQScoreLib.levels.parse_segment_name` reads the location back."""
    ref = preset.csf_reference
    if ref in ("", "any"):
        return "CSF"
    return f"CSF {ref}" if ref == "cisterna magna" else f"CSF at {ref}"


def _csf_reference(text: str) -> str:
    """Normalise a CSF reference: ``"cisterna magna"``, a spine level (``"C2"``) or ``"any"``."""
    from .levels import LEVEL_INDEX

    t = " ".join(str(text).split())
    low = t.lower()
    if low in ("cisterna magna", "cistern", "any"):
        return "cisterna magna" if low.startswith("cistern") else "any"
    for prefix in ("csf at ", "at ", "csf "):
        if low.startswith(prefix):
            low = low[len(prefix):]
    if low.upper() in LEVEL_INDEX:
        return low.upper()
    raise VBQInputError(f"CSF reference '{text}' must be 'cisterna magna' or a spine level such as C2")


def get_preset(
    name: str = DEFAULT_PRESET,
    *,
    levels: Optional[str | tuple[str, ...]] = None,
    level_stat: Optional[str] = None,
    aggregate: Optional[str] = None,
    csf_reference: Optional[str] = None,
) -> Preset:
    """Return a preset by name, optionally overriding fields; ``name="custom"`` requires ``levels``.

    Overriding any field of a named preset yields a preset named ``"custom"`` (provenance records all fields).
    """
    key = (name or DEFAULT_PRESET).strip().lower()
    if key == "custom":
        if levels is None:
            raise VBQInputError("preset 'custom' needs levels (e.g. --levels C3-C6)")
        base = Preset("custom", (), "mean", "mean", "any")
    elif key in PRESETS:
        base = PRESETS[key]
    else:
        raise VBQInputError(f"unknown preset '{name}' (choose from {', '.join(list(PRESETS) + ['custom'])})")
    changes: dict = {}
    if levels is not None:
        changes["levels"] = parse_level_list(levels) if isinstance(levels, str) else tuple(levels)
    if level_stat is not None:
        if level_stat not in STATISTICS:
            raise VBQInputError(f"level statistic '{level_stat}' must be one of {', '.join(STATISTICS)}")
        changes["level_stat"] = level_stat
    if aggregate is not None:
        if aggregate not in AGGREGATES:
            raise VBQInputError(f"aggregate '{aggregate}' must be one of {', '.join(AGGREGATES)}")
        changes["aggregate"] = aggregate
    if csf_reference is not None:
        changes["csf_reference"] = _csf_reference(csf_reference)
    if changes:
        # A different level statistic (--stat median) keeps the preset's name: it is recorded as level_stat.
        changed = {k: v for k, v in changes.items() if getattr(base, k) != v and k != "level_stat"}
        if changed and base.name != "custom":
            return replace(base, name="custom", citation=f"custom, derived from {base.name}", **changes)
        return replace(base, **changes)
    return base
