"""Readable names for the spreadsheet's columns: a label, a unit and level names per variable.

Sources, later ones winning: built-in defaults (``age`` -> "Age (years)", ``bmi`` -> "BMI (kg/m²)",
``sex`` -> "Male, n (%)" ...; other names humanised, ``calcium_supplement`` -> "Calcium supplement"), a data
dictionary (:func:`read_dictionary`: CSV/XLSX with columns ``variable, label, unit, levels`` where levels read
like ``1=Male;0=Female``, or REDCap's data-dictionary export as it is), and the plan's ``labels:`` section
(:func:`from_mapping`: ``{column: "Label"}`` or ``{column: {label, unit, levels}}``).

R's term names stay in JSON and CSV files; these labels are for what a reader sees (tables, figures, Word).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from VBQScoreLib.errors import VBQInputError

__all__ = ["Variable", "Variables", "default_label", "from_mapping", "parse_levels", "read_dictionary"]

# name (lower case) -> (label, unit)
_DEFAULTS: dict[str, tuple[str, str | None]] = {
    "age": ("Age", "years"),
    "bmi": ("BMI", "kg/m²"),
    "height": ("Height", "cm"),
    "weight": ("Weight", "kg"),
    "smoking": ("Smoking", None),
    "smoker": ("Smoker", None),
    "alcohol": ("Alcohol use", None),
    "drinking": ("Alcohol use", None),
    "hypertension": ("Hypertension", None),
    "diabetes": ("Diabetes", None),
    "dm": ("Diabetes", None),
    "osteoporosis": ("Osteoporosis", None),
    "steroid": ("Steroid use", None),
    "steroids": ("Steroid use", None),
    "vbq": ("VBQ score", None),
    "vbq_overall": ("VBQ, overall", None),
    "overall": ("VBQ, overall", None),
    "field_strength": ("Field strength", "T"),
}
_MALE = ("1", "m", "male", "man", "men")
_FEMALE = ("f", "female", "woman", "women")
_LEVEL_RE = re.compile(r"^(?:vbq[_\- ]?)?([CTL]\d{1,2})$", re.IGNORECASE)


def _humanise(name: str) -> str:
    s = re.sub(r"[_\.]+", " ", str(name)).strip()
    s = re.sub(r"\s+", " ", s)
    if not s:
        return str(name)
    m = _LEVEL_RE.match(str(name).strip())
    if m:
        return f"VBQ {m.group(1).upper()}"
    if len(s) <= 3 and s.isalpha():  # crp, ldl, alp: abbreviations
        return s.upper()
    if s.isupper() or any(c.isupper() for c in s[1:]):  # acronyms and CamelCase stay as written
        return s
    return s[0].upper() + s[1:]


def default_label(name: str, kind: str | None = None, shown_level: str | None = None) -> str:
    """The built-in label (with its unit) of column ``name``; ``sex`` names the level shown ("Male")."""
    key = str(name).strip().lower()
    if key in ("sex", "gender"):
        if shown_level is not None and str(shown_level).strip().lower() in _FEMALE:
            return "Female, n (%)"
        return "Male, n (%)"
    if key in _DEFAULTS:
        lab, unit = _DEFAULTS[key]
        return f"{lab} ({unit})" if unit else lab
    return _humanise(name)


@dataclass
class Variable:
    name: str
    label: str | None = None
    unit: str | None = None
    levels: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        lab = self.label or default_label(self.name)
        if self.unit and f"({self.unit})" not in lab:
            return f"{lab} ({self.unit})"
        return lab


class Variables:
    """``{column: Variable}`` with fall-back to the defaults."""

    def __init__(self, items: Mapping[str, Variable] | None = None):
        self.items: dict[str, Variable] = dict(items or {})

    def merged(self, other: Variables | None) -> Variables:
        """A copy with ``other``'s entries laid over (field by field: a label alone keeps this one's unit)."""
        out = {k: Variable(v.name, v.label, v.unit, dict(v.levels)) for k, v in self.items.items()}
        for k, v in (other.items.items() if other else []):
            if k in out:
                o = out[k]
                out[k] = Variable(k, v.label or o.label, v.unit or o.unit, {**o.levels, **v.levels})
            else:
                out[k] = v
        return Variables(out)

    def label(self, name: str, kind: str | None = None, shown_level: str | None = None) -> str:
        v = self.items.get(str(name))
        if v is None or (v.label is None and v.unit is None):
            return default_label(name, kind, shown_level)
        return v.text()

    def level(self, name: str, level: Any) -> str:
        """Readable name of a level (``1`` -> ``Male``); the level as spelled when none is known."""
        v = self.items.get(str(name))
        s = str(level)
        if v and v.levels:
            if s in v.levels:
                return v.levels[s]
            low = {k.strip().lower(): t for k, t in v.levels.items()}
            if s.strip().lower() in low:
                return low[s.strip().lower()]
        return s

    def labels(self, names) -> dict[str, str]:
        return {str(n): self.label(n) for n in names}

    def to_dict(self) -> dict:
        return {k: {"label": v.label, "unit": v.unit, "levels": dict(v.levels)} for k, v in self.items.items()}


def parse_levels(text: Any, where: str = "levels") -> dict[str, str]:
    """``1=Male;0=Female`` (also ``|`` or new lines between entries, ``:`` after the code) -> {code: label}."""
    if text is None or (isinstance(text, float) and text != text):
        return {}
    s = str(text).strip()
    if not s:
        return {}
    out = {}
    for part in re.split(r"[;|\n]", s):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([^=:]+?)\s*[=:]\s*(.+)$", part)
        if not m:
            raise VBQInputError(f"{where}: cannot read level {part!r}; write levels like 1=Male;0=Female")
        out[m.group(1).strip()] = m.group(2).strip()
    return out


def _redcap_choices(text: Any) -> dict[str, str]:
    """REDCap's "1, Male | 0, Female"."""
    if text is None or (isinstance(text, float) and text != text):
        return {}
    out = {}
    for part in str(text).split("|"):
        part = part.strip()
        if "," in part:
            code, lab = part.split(",", 1)
            out[code.strip()] = _clean(lab)
    return out


def _clean(text: Any) -> str:
    """REDCap labels may hold HTML: tags dropped, entities decoded, spaces collapsed."""
    s = re.sub(r"<[^>]+>", " ", str(text))
    return re.sub(r"\s+", " ", html.unescape(s)).strip()


def _is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip())


def read_dictionary(path) -> Variables:
    """A data dictionary (CSV/TSV/XLSX): ``variable, label, unit, levels`` (any case; ``unit``/``levels``
    optional) or REDCap's data-dictionary export (``Variable / Field Name``, ``Field Label``, ``Field Type``,
    ``Choices, Calculations, OR Slider Labels``; checkbox fields give one entry per ``name___code`` column)."""
    from ..reading.spreadsheet import read_table

    path = Path(path)
    df, _ = read_table(path)
    cols = {str(c).strip().lower(): c for c in df.columns}
    items: dict[str, Variable] = {}
    if "variable / field name" in cols:
        name_c, lab_c = cols["variable / field name"], cols.get("field label")
        type_c = cols.get("field type")
        ch_c = cols.get("choices, calculations, or slider labels")
        if lab_c is None:
            raise VBQInputError(f"{path}: REDCap data dictionary without a 'Field Label' column")
        for _, r in df.iterrows():
            name = r[name_c]
            if _is_missing(name):
                continue
            name = str(name).strip()
            lab = _clean(r[lab_c]) if not _is_missing(r[lab_c]) else None
            ftype = str(r[type_c]).strip().lower() if type_c is not None and not _is_missing(r[type_c]) else ""
            if ftype == "calc":
                choices = {}
            elif ftype == "yesno":
                choices = {"1": "Yes", "0": "No"}
            elif ftype == "truefalse":
                choices = {"1": "True", "0": "False"}
            else:
                choices = _redcap_choices(r[ch_c]) if ch_c is not None else {}
            if ftype == "checkbox":
                for code, clab in choices.items():
                    col = f"{name}___{code}".replace("-", "_").lower()
                    items[col] = Variable(col, f"{lab}: {clab}" if lab else clab, None, {"1": "Yes", "0": "No"})
                continue
            items[name] = Variable(name, lab, None, choices)
        return Variables(items)
    if "variable" not in cols:
        raise VBQInputError(f"{path}: a data dictionary needs a 'variable' column (and label, unit, levels), or "
                            f"REDCap's 'Variable / Field Name'; columns are {', '.join(map(str, df.columns))}")
    var_c = cols["variable"]
    lab_c, unit_c, lev_c = cols.get("label"), cols.get("unit"), cols.get("levels")
    for i, r in df.iterrows():
        name = r[var_c]
        if _is_missing(name):
            continue
        name = str(name).strip()
        lab = None if lab_c is None or _is_missing(r[lab_c]) else str(r[lab_c]).strip()
        unit = None if unit_c is None or _is_missing(r[unit_c]) else str(r[unit_c]).strip()
        levels = {} if lev_c is None else parse_levels(r[lev_c], f"{path}: row {i}, levels")
        items[name] = Variable(name, lab, unit, levels)
    return Variables(items)


def from_mapping(d: Mapping[str, Any] | None, where: str = "labels") -> Variables:
    """The plan's ``labels:``: ``{column: "Label"}`` or ``{column: {label, unit, levels}}`` (levels as a
    mapping or as ``1=Male;0=Female``)."""
    items = {}
    for name, v in (d or {}).items():
        name = str(name)
        if isinstance(v, str):
            items[name] = Variable(name, v)
        elif isinstance(v, Mapping):
            unknown = set(v) - {"label", "unit", "levels"}
            if unknown:
                raise VBQInputError(f"{where}.{name}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                                    f"use label, unit, levels")
            lev = v.get("levels")
            levels = ({str(k): str(x) for k, x in lev.items()} if isinstance(lev, Mapping)
                      else parse_levels(lev, f"{where}.{name}.levels"))
            items[name] = Variable(name, None if v.get("label") is None else str(v["label"]),
                                   None if v.get("unit") is None else str(v["unit"]), levels)
        else:
            raise VBQInputError(f"{where}.{name}: give a label (text) or label/unit/levels")
    return Variables(items)
