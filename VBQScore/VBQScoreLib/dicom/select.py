"""The choice rules: which series of a study is the non-contrast sagittal T1 that VBQ is measured on.

Decided from the acquisition, not from the names vendors give series (``t1_tse_sag``, ``Sag T1 FSE``,
``T1W_TSE_SAG``, or only ``SAG``):

1. **MR images only**: Modality MR; enhanced multi-frame objects are listed but not chosen (not supported yet).
2. **No localizer**: ImageType LOCALIZER/SCOUT, fewer than ``min_slices`` slices (distinct positions), or mixed
   orientations in one series (a three-plane localizer) are out.
3. **Plane** from ImageOrientationPatient: the slice normal (row × column direction) mostly along the patient's
   left-right axis is sagittal (largest component x: sagittal, y: coronal, z: axial).
4. **Weighting** from the acquisition: inversion recovery (ScanningSequence IR, or an InversionTime) is ``STIR``
   (TI < ``stir_ti_max_ms``) or ``IR`` and is out; gradient echo alone (ScanningSequence GR without SE) is
   ``GRE``; otherwise TR ≤ ``t1_tr_ms_max`` and TE ≤ ``t1_te_ms_max`` is ``T1``, TE ≥ ``long_te_ms_min`` is
   ``T2`` (long TE, out), a long TR with a short TE ``PD``. Only when TR or TE is missing is the weighting taken
   from the description (and the reason says so).
5. **No contrast**: ContrastBolusAgent empty or "none"/"no"; the descriptions as a second signal (``post``,
   ``+C``, ``Gd``, ``gado``, ``contrast``, ``KM``, but not ``pre``/``non``/``without``/``no`` contrast).
6. **Fat saturation** from ScanOptions (``FS``, ``SFS``, ``FAT``, ``SPAIR``, ``SPIR``, ``CHESS``...) and the
   descriptions as a second signal; recorded, and out for the ``lu2024`` family of presets (``exclude_fat_sat:
   auto``) — those studies measured plain T1.
7. ``--series-description REGEX`` (rule ``series_description``): only series whose SeriesDescription or
   ProtocolName matches (case-insensitive search) are candidates.

Several candidates: status ``ambiguous``, all listed in ``candidates``; the one in ``image`` is the first by
(original before derived, larger coverage along the slice normal, description naming T1 and sagittal, later
SeriesNumber — a repeat). One candidate: ``ok``. None: ``no_series``, with each series' reason.
Every rule is a key of :class:`Rules`; a YAML/JSON file given with ``--rules`` overrides any of them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from ..errors import VBQInputError
from .index import Series

ENHANCED_MR = {"1.2.840.10008.5.1.4.1.1.4.1", "1.2.840.10008.5.1.4.1.1.4.3"}


@dataclass(frozen=True)
class Rules:
    plane: str = "sagittal"  # sagittal | coronal | axial | any
    weighting: str = "T1"  # T1 | T2 | PD | STIR | any
    min_slices: int = 5
    t1_tr_ms_max: float = 1000.0
    t1_te_ms_max: float = 30.0
    long_tr_ms_min: float = 1500.0
    long_te_ms_min: float = 60.0
    stir_ti_ms_max: float = 300.0
    spin_echo_only: bool = True  # ScanningSequence must contain SE when it is given
    exclude_contrast: bool = True
    exclude_fat_sat: str = "auto"  # auto (exclude for lu2024* presets) | yes | no
    exclude_derived: bool = False
    contrast_words: str = r"\bpost(?!er|op)|\+\s*c\b|\bc\s*\+|\+\s*gd|\bgd\b|gado|contrast|kontrast|\bkm\b|\bce\b"
    not_contrast_words: str = r"\b(pre|non|no|without|w/?o|ohne)[-_ ]*(contrast|kontrast|gd|gado|c\b|km\b)|\bpre\b"
    fat_sat_options: tuple = ("FS", "SFS", "FAT", "FATSAT", "FAT_SAT", "SPAIR", "SPIR", "CHESS", "FSAT")
    fat_sat_words: str = r"(\b|_)(fs|fatsat|fat[-_ ]?sat|spair|spir|stir_fs|fsat)(\b|_)"
    t1_words: str = r"t1"
    plane_words: str = r"sag"
    series_description: str | None = None

    def fat_sat_excluded(self, preset: str) -> bool:
        if self.exclude_fat_sat == "auto":
            return str(preset or "").lower().startswith("lu2024")
        return self.exclude_fat_sat == "yes"


def _check_regex(value, key, where):
    try:
        re.compile(value)
    except (re.error, TypeError) as exc:
        raise VBQInputError(f"{where}: {key} '{value}' is not a valid regular expression ({exc})") from None


def rules_from_dict(data: dict, where: str = "--rules", base: Rules | None = None) -> Rules:
    if not isinstance(data, dict):
        raise VBQInputError(f"{where}: the rules must be a mapping of rule: value (see the README)")
    known = {f.name: f for f in fields(Rules)}
    changes = {}
    for key, value in data.items():
        if key not in known:
            raise VBQInputError(f"{where}: unknown rule '{key}' (rules: {', '.join(known)})")
        default = getattr(Rules(), key)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise VBQInputError(f"{where}: {key} must be true or false, not {value!r}")
        elif isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise VBQInputError(f"{where}: {key} must be a number, not {value!r}")
            value = type(default)(value)
        elif isinstance(default, tuple):
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise VBQInputError(f"{where}: {key} must be a list of texts")
            value = tuple(v.upper() for v in value)
        elif key in ("plane", "weighting", "exclude_fat_sat"):
            allowed = {"plane": ("sagittal", "coronal", "axial", "any"),
                       "weighting": ("T1", "T2", "PD", "STIR", "IR", "GRE", "any"),
                       "exclude_fat_sat": ("auto", "yes", "no")}[key]
            if isinstance(value, bool) and key == "exclude_fat_sat":
                value = "yes" if value else "no"
            if str(value) not in allowed:
                raise VBQInputError(f"{where}: {key} must be one of {', '.join(allowed)}, not {value!r}")
            value = str(value)
        else:
            if value is not None and not isinstance(value, str):
                raise VBQInputError(f"{where}: {key} must be a text (a regular expression)")
            if value is not None:
                _check_regex(value, key, where)
        changes[key] = value
    return replace(base or Rules(), **changes)


def load_rules(path) -> Rules:
    """Rules from a YAML or JSON file (a mapping of rule names to values; unnamed rules keep their defaults)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise VBQInputError(f"--rules {path}: file not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))  # YAML is a superset of JSON
    except (OSError, UnicodeDecodeError) as exc:
        raise VBQInputError(f"--rules {path}: cannot read ({exc})") from None
    except yaml.YAMLError as exc:
        raise VBQInputError(f"--rules {path}: not YAML/JSON ({' '.join(str(exc).split())[:120]})") from None
    return rules_from_dict(data or {}, f"--rules {path}")


# ---------------------------------------------------------------------------------------------- one series

@dataclass
class Assessment:
    series: Series
    number: int | None
    description: str
    plane: str = ""
    weighting: str = ""
    weighting_source: str = "acquisition"
    contrast: str = ""
    contrast_source: str = ""
    fat_sat: str = ""
    n_slices: int = 0
    coverage_mm: float = 0.0
    derived: bool = False
    out: list = field(default_factory=list)  # why this series is not a candidate

    @property
    def label(self) -> str:
        n = "?" if self.number is None else str(self.number)
        return f"#{n} {self.description}".rstrip() if self.description else f"#{n} (no description)"

    def acquisition_text(self) -> str:
        s = self.series
        bits = []
        tr, te, ti = s.value("tr_ms"), s.value("te_ms"), s.value("ti_ms")
        if tr is not None:
            bits.append(f"TR {tr:g}")
        if te is not None:
            bits.append(f"TE {te:g}")
        if ti:
            bits.append(f"TI {ti:g}")
        seq = s.value("scanning_sequence")
        if seq:
            bits.append("\\".join(seq))
        return " ".join(bits)


def _normal(orientation):
    if not orientation or len(orientation) != 6:
        return None
    r, c = orientation[:3], orientation[3:]
    n = (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])
    norm = math.sqrt(sum(x * x for x in n))
    return tuple(x / norm for x in n) if norm > 1e-6 else None


def plane_of(orientation) -> str:
    n = _normal(orientation)
    if n is None:
        return ""
    k = max(range(3), key=lambda i: abs(n[i]))
    return ("sagittal", "coronal", "axial")[k]


def _search(pattern: str, *texts) -> bool:
    return any(t and re.search(pattern, t, re.IGNORECASE) for t in texts)


def assess(series: Series, rules: Rules, preset: str = "lu2024") -> Assessment:
    """Classify one series and say why it is out (empty ``out``: a candidate)."""
    s = series
    desc = s.value("series_description") or ""
    proto = s.value("protocol_name") or ""
    a = Assessment(s, s.value("series_number"), desc or proto)
    out = a.out
    modality = s.value("modality")
    if modality and modality != "MR":
        out.append(f"modality {modality}")
    if s.value("sop_class") in ENHANCED_MR or (s.value("n_frames") or 1) > 1:
        out.append("enhanced multi-frame object (not supported)")
    image_type = [t.upper() for t in (s.value("image_type") or [])]
    a.derived = "DERIVED" in image_type
    # orientation(s) and slices
    orients = {tuple(round(v, 2) for v in o) for o in s.values("orientation") if o and len(o) == 6}
    positions = {tuple(round(v, 2) for v in p) for p in s.values("position") if p and len(p) == 3}
    n_inst = s.n_instances or len(s.records)
    a.n_slices = len(positions) if positions and not s.n_instances else n_inst
    orientation = s.value("orientation")
    a.plane = plane_of(orientation)
    if len(orients) > 1:
        a.plane = "mixed"
    # coverage along the slice normal
    n = _normal(orientation)
    if n is not None and len(positions) > 1:
        d = [sum(p[i] * n[i] for i in range(3)) for p in positions]
        a.coverage_mm = max(d) - min(d) + (s.value("slice_thickness") or 0.0)
    else:
        spacing = s.value("slice_spacing") or s.value("slice_thickness") or 0.0
        a.coverage_mm = a.n_slices * spacing
    if "LOCALIZER" in image_type or "SCOUT" in image_type:
        out.append("localizer (ImageType)")
    elif a.plane == "mixed":
        out.append("localizer (mixed orientations)")
    elif a.n_slices < rules.min_slices:
        out.append(f"localizer ({a.n_slices} slice(s) < {rules.min_slices})")
    if rules.plane != "any" and a.plane not in ("mixed",):
        if not a.plane:
            out.append("no ImageOrientationPatient")
        elif a.plane != rules.plane:
            out.append(a.plane)
    # weighting
    a.weighting, a.weighting_source = _weighting(s, rules, desc, proto)
    if rules.weighting != "any" and a.weighting != rules.weighting:
        acq = a.acquisition_text()
        out.append(f"{a.weighting or 'weighting unknown'}" + (f" ({acq})" if acq else ""))
    # contrast
    agent = (s.value("contrast_agent") or "").strip()
    if agent and agent.lower() not in ("none", "no", "n/a", "na", "0", "-", "nein", "keine"):
        a.contrast, a.contrast_source = "yes", "ContrastBolusAgent"
    elif _search(rules.contrast_words, desc, proto) and not _search(rules.not_contrast_words, desc, proto):
        a.contrast, a.contrast_source = "yes", "description"
    else:
        a.contrast = "no"
        a.contrast_source = "ContrastBolusAgent none" if agent else "no ContrastBolusAgent"
    if a.contrast == "yes" and rules.exclude_contrast:
        out.append(f"contrast ({a.contrast_source})")
    # fat saturation
    opts = {o.upper() for o in (s.value("scan_options") or [])}
    opts |= {t for o in list(opts) for t in re.split(r"[_ ]", o)}
    if opts & set(rules.fat_sat_options) or _search(rules.fat_sat_words, desc, proto):
        a.fat_sat = "yes"
    else:
        a.fat_sat = "no"
    if a.fat_sat == "yes" and rules.fat_sat_excluded(preset):
        out.append("fat-saturated" + (f" (excluded for preset {preset})" if rules.exclude_fat_sat == "auto"
                                       else ""))
    if rules.exclude_derived and a.derived:
        out.append("derived (ImageType)")
    if rules.series_description and not _search(rules.series_description, desc, proto):
        out.append("description does not match --series-description")
    return a


def _weighting(s: Series, rules: Rules, desc: str, proto: str) -> tuple:
    seq = {t.upper() for t in (s.value("scanning_sequence") or [])}
    variant = {t.upper() for t in (s.value("sequence_variant") or [])}
    tr, te, ti = s.value("tr_ms"), s.value("te_ms"), s.value("ti_ms")
    if "IR" in seq or (ti is not None and ti > 0) or "IR" in variant:
        if ti is not None and 0 < ti < rules.stir_ti_ms_max:
            return "STIR", "acquisition"
        if ti is None and _search(r"stir|tirm", desc, proto):
            return "STIR", "acquisition"
        return "IR", "acquisition"
    if tr is None or te is None:
        # no timing in the header: the description is the only signal left
        if _search(r"stir|tirm", desc, proto):
            return "STIR", "description"
        if _search(r"t1", desc, proto):
            return "T1", "description"
        if _search(r"t2", desc, proto):
            return "T2", "description"
        return "", "none"
    if rules.spin_echo_only and seq and "SE" not in seq and "GR" in seq:
        return "GRE", "acquisition"
    if tr <= rules.t1_tr_ms_max and te <= rules.t1_te_ms_max:
        return "T1", "acquisition"
    if te >= rules.long_te_ms_min:
        return "T2", "acquisition"
    if tr >= rules.long_tr_ms_min and te <= rules.t1_te_ms_max:
        return "PD", "acquisition"
    return "intermediate", "acquisition"


# ---------------------------------------------------------------------------------------------- one study

@dataclass
class Choice:
    status: str  # ok | no_series | ambiguous
    chosen: Assessment | None
    reason: str
    candidates: str
    assessments: list


def _tie_key(a: Assessment, rules: Rules):
    words = _search(rules.t1_words, a.description) and _search(rules.plane_words, a.description)
    return (not a.derived, round(a.coverage_mm), bool(words), a.number if a.number is not None else -1)


def choose(series_list, rules: Rules | None = None, preset: str = "lu2024") -> Choice:
    """Apply the rules to the series of one study."""
    rules = rules or Rules()
    ass = [assess(s, rules, preset) for s in series_list]
    ass.sort(key=lambda a: (a.number is None, a.number or 0, a.series.series_uid))
    cands = [a for a in ass if not a.out]
    if not cands:
        reasons = "; ".join(f"{a.label}: {', '.join(a.out)}" for a in ass)
        want = " ".join(w for w in (rules.plane if rules.plane != "any" else "",
                                    "non-contrast" if rules.exclude_contrast else "",
                                    rules.weighting if rules.weighting != "any" else "") if w)
        return Choice("no_series", None, f"no {want or 'matching'} series: {reasons}", "", ass)
    ranked = sorted(cands, key=lambda a: _tie_key(a, rules), reverse=True)
    best = ranked[0]
    why = (f"{best.plane} {best.weighting} ({best.acquisition_text()}"
           f"{'' if best.weighting_source == 'acquisition' else ', weighting from the description'}), "
           f"no contrast ({best.contrast_source}), fat-sat {best.fat_sat}, {best.n_slices} slices")
    if len(cands) == 1:
        status = "ok"
        reason = why + ", the only candidate"
    else:
        status = "ambiguous"
        second = ranked[1]
        kb, ks = _tie_key(best, rules), _tie_key(second, rules)
        names = ("original (not derived)", "larger coverage", "description names T1 and sagittal",
                 "later series number (a repeat)")
        by = next((names[i] for i in range(4) if kb[i] != ks[i]), "first listed")
        reason = f"{len(cands)} candidates; chose {best.label} by {by}: {why}"
    others = []
    for a in ass:
        if a is best:
            continue
        others.append(f"{a.label}: " + ("candidate" if not a.out else ", ".join(a.out)))
    return Choice(status, best, reason, "; ".join(others), ass)
