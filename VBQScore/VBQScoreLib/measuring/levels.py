"""Spine level names: canonical order and a tolerant parser for segment names.

Canonical level names are ``C1``-``C7``, ``T1``-``T12``, ``L1``-``L5``, ``S1``; the CSF reference is ``CSF``.
:func:`parse_segment_name` maps what people and tools call their segments onto these:
"C3", "c3 body", "vertebrae_C3" (TotalSegmentator), "C3 vertebra", "C3_body", "Vertebra C3",
"CSF", "csf", "cisterna magna", "CSF at C2", "CSF_C5", "spinal canal CSF", "liquor".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

CERVICAL = tuple(f"C{i}" for i in range(1, 8))
THORACIC = tuple(f"T{i}" for i in range(1, 13))
LUMBAR = tuple(f"L{i}" for i in range(1, 6))
SACRAL = ("S1",)
ALL_LEVELS = CERVICAL + THORACIC + LUMBAR + SACRAL
LEVEL_INDEX = {name: i for i, name in enumerate(ALL_LEVELS)}
CSF = "CSF"

_LEVEL_RE = re.compile(
    r"""^(?:vertebrae?|vertebral|vert|body|vb)?[\s_\-]*   # optional prefix (TotalSegmentator: vertebrae_C3)
        (?P<region>[ctls])[\s_\-]*(?P<num>\d{1,2})           # C3, c 3, T12, L5, S1
        (?:[\s_\-]*(?:vertebrae?|vertebral|body|bodies|vb|vertebral[\s_\-]*body|medulla|trabecular|roi|level))*
        [\s_\-]*$""",
    re.IGNORECASE | re.VERBOSE,
)
_CSF_WORDS = re.compile(r"(?<![a-z])(csf|cerebro[\s_\-]*spinal[\s_\-]*fluid|liquor|cisterna[\s_\-]*magna|cistern)(?![a-z])", re.I)
_CSF_AT_LEVEL = re.compile(r"(?:^|[\s_\-])(?:at[\s_\-]*)?(?P<region>[ctl])[\s_\-]*(?P<num>\d{1,2})(?!\d)", re.I)


@dataclass(frozen=True)
class ParsedName:
    """What a segment name means: ``kind`` is ``"level"`` or ``"csf"``.

    For a level, ``level`` is the canonical name (``"C3"``). For CSF, ``level`` is ``"CSF"`` and ``location``
    says where the CSF ROI was drawn when the name tells (``"cisterna magna"``, ``"C2"``), else ``None``.
    """

    kind: str
    level: str
    location: Optional[str] = None


def canonical_level(region: str, num: int) -> Optional[str]:
    name = f"{region.upper()}{int(num)}"
    return name if name in LEVEL_INDEX else None


def parse_segment_name(name: str) -> Optional[ParsedName]:
    """Return what a segment name denotes, or ``None`` when it is neither a known level nor CSF."""
    if name is None:
        return None
    text = str(name).strip()
    if not text:
        return None
    if _CSF_WORDS.search(text):
        low = text.lower()
        if "cisterna" in low or "cistern" in low:
            return ParsedName("csf", CSF, "cisterna magna")
        m = _CSF_AT_LEVEL.search(_CSF_WORDS.sub(" ", text))
        if m:
            lvl = canonical_level(m.group("region"), int(m.group("num")))
            if lvl:
                return ParsedName("csf", CSF, lvl)
        return ParsedName("csf", CSF, None)
    m = _LEVEL_RE.match(text)
    if m:
        lvl = canonical_level(m.group("region"), int(m.group("num")))
        if lvl:
            return ParsedName("level", lvl)
    return None


def level_sort_key(level: str) -> int:
    return LEVEL_INDEX.get(level, len(ALL_LEVELS))


def level_range(first: str, last: str) -> tuple[str, ...]:
    """``level_range("C2", "C7")`` -> ``("C2", ..., "C7")``."""
    a, b = LEVEL_INDEX[first], LEVEL_INDEX[last]
    if a > b:
        raise ValueError(f"level range {first}-{last} runs backwards")
    return ALL_LEVELS[a : b + 1]


def parse_level_list(text: str) -> tuple[str, ...]:
    """Parse ``"C2-C7"``, ``"C3,C4,C5"`` or ``"C3-C5,C7"`` into canonical level names."""
    from ..errors import VBQInputError

    out: list[str] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            a, b = (p.strip().upper() for p in part.split("-", 1))
            if a not in LEVEL_INDEX or b not in LEVEL_INDEX:
                raise VBQInputError(f"levels '{text}': '{part}' is not a range of spine levels like C2-C7")
            try:
                out.extend(level_range(a, b))
            except ValueError as exc:
                raise VBQInputError(f"levels '{text}': {exc}") from None
        else:
            p = parsed_level = part.upper()
            if parsed_level not in LEVEL_INDEX:
                raise VBQInputError(f"levels '{text}': '{part}' is not a spine level (C1-C7, T1-T12, L1-L5, S1)")
            out.append(p)
    if not out:
        raise VBQInputError(f"levels '{text}': no levels given")
    seen: dict[str, None] = {}
    for lvl in out:
        seen.setdefault(lvl, None)
    return tuple(seen)
