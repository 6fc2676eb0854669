"""The result of one VBQ measurement: the object every front end (CLI, Slicer, batch, cohort) shares.

``VBQResult.to_dict()`` is exactly the layout of ``vbq score --json``:

    {
      "levels":  [{"name", "segment", "n_voxels", "volume_mm3", "mean", "median", "sd", "p5", "p95",
                   "min", "max", "cv", "vbq"}, ...],          # in spine order, only levels that were measured
      "csf":     {"name", "segment", "location", "n_voxels", "volume_mm3", "mean", "median", "sd", "p5",
                  "p95", "min", "max", "cv"},
      "overall": {"vbq", "preset", "levels", "levels_used", "level_stat", "aggregate", "csf_reference"},
      "flags":   [{"code", "level", "message"}, ...],
      "provenance": {...}
    }

Numbers are plain Python floats/ints (JSON-safe); a value that cannot be computed is ``None`` (JSON null).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from ..json_text import jsonable

ROI_FIELDS = ("n_voxels", "volume_mm3", "mean", "median", "sd", "p5", "p95", "min", "max", "cv")
#: columns of :meth:`VBQResult.level_rows` / :meth:`VBQResult.to_csv` (``vbq score --csv``)
LEVEL_CSV_COLUMNS = ("level", "segment") + ROI_FIELDS + (
    "vbq", "csf_mean", "csf_median", "overall_vbq", "preset", "flags")


def clean_value(x):
    """A value as JSON can hold it: NaN and ±inf become None, numpy scalars Python numbers (the one rule,
    :func:`VBQScoreLib.json_text.jsonable`)."""
    return jsonable(x)


@dataclass
class RoiStats:
    """Intensity statistics of one ROI on the image grid (after resampling, erosion and slice limits)."""

    name: str  # canonical level name ("C3") or "CSF"
    segment: str  # the segment's own name in the input
    n_voxels: int
    volume_mm3: float
    mean: Optional[float]
    median: Optional[float]  # exact median (not histogram-binned)
    sd: Optional[float]  # sample SD (ddof=1), like Slicer's SegmentStatistics and R's sd()
    p5: Optional[float]
    p95: Optional[float]
    min: Optional[float]
    max: Optional[float]
    cv: Optional[float] = None  # sd / mean

    def stat(self, which: str) -> Optional[float]:
        return getattr(self, which)

    def to_dict(self) -> dict:
        return {k: clean_value(v) for k, v in asdict(self).items()}


@dataclass
class LevelResult(RoiStats):
    vbq: Optional[float] = None


@dataclass
class CsfResult(RoiStats):
    location: Optional[str] = None


@dataclass
class Flag:
    code: str  # MISSING_LEVEL, EMPTY_ROI, TINY_ROI, ROI_AT_BORDER, ROI_PARTLY_OUTSIDE, CSF_NOT_DARKER (CSF SI not
    #            below the level SI: on T1 marrow is 2-3x brighter than CSF), VBQ_OUT_OF_RANGE, HETEROGENEOUS_ROI,
    #            FAT_SATURATION, CONTRAST_ENHANCED, NOT_T1, CSF_LOCATION, UNKNOWN_SEGMENT, DUPLICATE_LEVEL
    #            (the list lives in flags.py)
    level: Optional[str]  # level name, "CSF", or None for the whole measurement
    message: str  # one plain sentence for the user

    def to_dict(self) -> dict:
        return {"code": self.code, "level": self.level, "message": self.message}


@dataclass
class VBQResult:
    levels: list[LevelResult]
    csf: CsfResult
    overall: dict[str, Any]
    flags: list[Flag] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "levels": [lv.to_dict() for lv in self.levels],
            "csf": self.csf.to_dict(),
            "overall": {k: clean_value(v) for k, v in self.overall.items()},
            "flags": [f.to_dict() for f in self.flags],
            "provenance": self.provenance,
        }

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def level(self, name: str) -> Optional[LevelResult]:
        for lv in self.levels:
            if lv.name == name:
                return lv
        return None

    def level_rows(self) -> list[dict]:
        """One row per level for the CSV of ``vbq score --csv``.

        Columns: level, segment, n_voxels, volume_mm3, mean, median, sd, p5, p95, min, max, cv, vbq,
        csf_mean, csf_median, overall_vbq, preset, flags (codes of flags on that level, ';'-joined).
        """
        rows = []
        for lv in self.levels:
            d = lv.to_dict()
            row = {"level": d.pop("name"), **d}
            row["csf_mean"] = clean_value(self.csf.mean)
            row["csf_median"] = clean_value(self.csf.median)
            row["overall_vbq"] = clean_value(self.overall.get("vbq"))
            row["preset"] = self.overall.get("preset")
            row["flags"] = ";".join(f.code for f in self.flags if f.level == lv.name)
            rows.append(row)
        return rows

    def to_csv(self) -> str:
        """The per-level table of ``vbq score --csv`` (and Slicer's *Export CSV*): a header, then one row per
        level; floats written exactly (``repr``), missing values empty."""
        import csv
        import io

        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(LEVEL_CSV_COLUMNS), lineterminator="\n")
        w.writeheader()
        from ..csv_safe import safe_cell

        for r in self.level_rows():
            w.writerow({k: ("" if v is None else repr(v) if isinstance(v, float) else safe_cell(v))
                        for k, v in r.items()})
        return buf.getvalue()

    @classmethod
    def from_dict(cls, d: dict) -> "VBQResult":
        levels = [LevelResult(**lv) for lv in d["levels"]]
        csf = CsfResult(**d["csf"])
        flags = [Flag(**f) for f in d.get("flags", [])]
        return cls(levels, csf, dict(d["overall"]), flags, dict(d.get("provenance", {})))
