"""Options of one VBQ measurement (``vbq score`` flags, Slicer module parameters, batch settings)."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Optional

from ..errors import VBQInputError


@dataclass
class ScoreOptions:
    """How to measure VBQ.

    - ``preset``: ``lu2024`` (default), ``soliman2023``, ``razzouk2022``, ``ehresman2020`` or ``custom``.
    - ``stat``: statistic of the voxel SI inside each ROI, ``"mean"`` or ``"median"``; ``None`` = the preset's.
      It is used for the level ROIs and for the CSF ROI alike.
    - ``levels``: override the preset's levels (``"C3-C6"`` or a tuple); ``aggregate``: ``"mean"``/``"median"``
      across levels; ``csf_reference``: where the CSF ROI is drawn (picks among several CSF segments).
    - ``erode_mm``: erode every ROI by this margin (mm) before measuring (ellipsoidal element, per-axis radius
      from the voxel spacing); 0 = no erosion.
    - ``mid_sagittal_slices``: keep only the N central sagittal slices of each ROI; ``None`` = all slices.
    - ``require_all_levels``: a missing or empty level is an error instead of a flag.
    - ``vbq_range``: plausible VBQ range; values outside are flagged (``VBQ_OUT_OF_RANGE``).
    - ``min_voxels``: ROIs with fewer voxels are flagged ``TINY_ROI``.
    - ``max_cv``: ROIs with a larger coefficient of variation (SD/mean) are flagged ``HETEROGENEOUS_ROI``.
    """

    preset: str = "lu2024"
    stat: Optional[str] = None
    levels: Optional[object] = None
    aggregate: Optional[str] = None
    csf_reference: Optional[str] = None
    erode_mm: float = 0.0
    mid_sagittal_slices: Optional[int] = None
    require_all_levels: bool = False
    vbq_range: tuple = (1.5, 5.0)
    min_voxels: int = 20
    max_cv: float = 0.5

    def validate(self) -> "ScoreOptions":
        try:
            e = float(self.erode_mm or 0.0)
        except (TypeError, ValueError):
            raise VBQInputError(f"erosion margin '{self.erode_mm}' is not a number (mm)") from None
        if not math.isfinite(e) or e < 0:
            raise VBQInputError(f"erosion margin {self.erode_mm} mm must be a finite number >= 0")
        if self.mid_sagittal_slices is not None:
            n = self.mid_sagittal_slices
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise VBQInputError(f"mid-sagittal slices {n!r} must be a whole number >= 1")
        try:
            lo, hi = (float(v) for v in self.vbq_range)
        except (TypeError, ValueError):
            raise VBQInputError(f"VBQ range {self.vbq_range!r} must be two numbers LO HI") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise VBQInputError(f"VBQ range {lo} {hi}: LO must be below HI")
        if isinstance(self.min_voxels, bool) or not isinstance(self.min_voxels, int) or self.min_voxels < 0:
            raise VBQInputError(f"min_voxels {self.min_voxels!r} must be a whole number >= 0")
        try:
            cv = float(self.max_cv)
        except (TypeError, ValueError):
            raise VBQInputError(f"max_cv {self.max_cv!r} is not a number") from None
        if not cv > 0:
            raise VBQInputError(f"max_cv {self.max_cv!r} must be > 0")
        self.resolve_preset()
        return self

    def resolve_preset(self):
        """The effective :class:`VBQScoreLib.presets.Preset` (named preset with this object's overrides)."""
        from .presets import get_preset

        return get_preset(
            self.preset or "lu2024",
            levels=self.levels,
            level_stat=self.stat,
            aggregate=self.aggregate,
            csf_reference=self.csf_reference,
        )

    def to_dict(self) -> dict:
        # the fields' values, as dataclasses.asdict gives them (deep copies), without its recursive walk
        d = {f: copy.deepcopy(getattr(self, f)) for f in self.__dataclass_fields__}
        if d["levels"] is not None and not isinstance(d["levels"], str):
            d["levels"] = list(d["levels"])
        d["vbq_range"] = [float(v) for v in self.vbq_range]
        d["erode_mm"] = float(self.erode_mm or 0.0)
        return d
