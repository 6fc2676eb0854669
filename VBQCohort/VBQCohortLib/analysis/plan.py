"""Analysis plans: one YAML/JSON file that describes a whole VBQ cohort study.

A plan names the columns (id, group, treated/control values, VBQ level columns, covariates and which of them are
categorical), the propensity-score matching settings, the per-level and across-level tests, the sex-stratified
sub-study and the logistic regression. ``lu2024`` (the design of Lu et al. 2024) is built in::

    plan = load_plan("lu2024")                      # built-in
    plan = load_plan("my_study.yaml")               # or a file (YAML or JSON)
    plan = plan.with_overrides(id="pid", covariates=["age", "sex"], no_matching=True)

Every section has defaults (those of ``lu2024``), so a user plan may give only what differs. Unknown keys and
wrong types are bad input (:class:`VBQScoreLib.errors.VBQInputError`, one line naming the plan and the key).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from VBQScoreLib.errors import VBQInputError

BUILTIN = ("lu2024", "ehresman2020_dxa")

DISTANCES = ("ps", "logit")
ORDERS = ("largest", "smallest", "random", "data")
METHODS = ("nearest", "optimal")
P_ADJUST = ("holm", "bonferroni", "hochberg", "hommel", "BH", "BY", "fdr", "none")
SAMPLES = ("matched", "full")

DEFAULTS: dict[str, Any] = {
    "name": "custom",
    "title": "",
    "citation": "",
    "columns": {
        "id": None,
        "group": None,
        "treated": None,
        "control": None,
        "levels": [],
        "covariates": [],
        "categorical": [],
    },
    "matching": {
        "enabled": True,
        "method": "nearest",
        "distance": "logit",
        "ratio": 1,
        "caliper": 0.2,
        "std_caliper": True,
        "replace": False,
        "order": "largest",
        "exact": [],
        "seed": None,
        "compat": None,
    },
    "comparison": {"sample": "matched", "shapiro": True, "ranksum": True, "signed_rank": True, "p_adjust": "holm"},
    "segmental": {"sample": "matched", "kruskal": True, "friedman": True, "dunn": True, "p_adjust": "holm"},
    "sex_stratified": {"enabled": True, "column": "sex", "within": "treated", "covariates": None, "p_adjust": "holm"},
    "logistic": {"predictors": None, "sample": "full"},
    "diagnostic": None,  # optional section, checked by VBQCohortLib.diagnostic.plan (issue 18)
}

_TYPES = {
    "columns": {"id": str, "group": str, "treated": (str, int, float), "control": (str, int, float),
                "levels": list, "covariates": list, "categorical": list},
    "matching": {"enabled": bool, "method": str, "distance": str, "ratio": int, "caliper": (int, float, type(None)),
                 "std_caliper": bool, "replace": bool, "order": str, "exact": list, "seed": (int, type(None)),
                 "compat": (str, type(None))},
    "comparison": {"sample": str, "shapiro": bool, "ranksum": bool, "signed_rank": bool, "p_adjust": str},
    "segmental": {"sample": str, "kruskal": bool, "friedman": bool, "dunn": bool, "p_adjust": str},
    "sex_stratified": {"enabled": bool, "column": (str, type(None)), "within": str,
                       "covariates": (list, type(None)), "p_adjust": str},
    "logistic": {"predictors": (list, type(None)), "sample": str},
}

_TYPE_NAMES = {str: "text", int: "a whole number", float: "a number", bool: "true/false", list: "a list",
               type(None): "null"}


def _type_text(t) -> str:
    ts = t if isinstance(t, tuple) else (t,)
    return " or ".join(dict.fromkeys(_TYPE_NAMES.get(x, x.__name__) for x in ts))


@dataclass
class Plan:
    """A validated analysis plan. ``sections`` holds the plain (JSON-safe) dict; ``source`` where it came from."""

    name: str
    title: str
    citation: str
    columns: dict
    matching: dict
    comparison: dict
    segmental: dict
    sex_stratified: dict
    logistic: dict
    source: str = "<dict>"
    overrides: dict = field(default_factory=dict)
    diagnostic: dict | None = None  # the diagnostic-accuracy section (VBQCohortLib.diagnostic.plan)
    labels: dict = field(default_factory=dict)  # readable names: {column: label | {label, unit, levels}}

    @property
    def diagnostic_only(self) -> bool:
        """A diagnostic-accuracy study without a group comparison (no columns.group)."""
        return self.diagnostic is not None and not self.columns.get("group")

    # ---- convenience -------------------------------------------------------------------------------------
    @property
    def levels(self) -> list[str]:
        return list(self.columns["levels"])

    @property
    def covariates(self) -> list[str]:
        return list(self.columns["covariates"])

    @property
    def categorical(self) -> list[str]:
        return list(self.columns["categorical"])

    @property
    def predictors(self) -> list[str]:
        p = self.logistic.get("predictors")
        return list(p) if p else self.covariates

    def column_names(self) -> list[str]:
        """Every name the plan may use as a column of the data table (id, group, levels, covariates, categorical,
        predictors, exact-matching and sex columns, the diagnostic section's markers, condition columns,
        correlate and covariates, labelled columns): what a very wide table is read with
        (``read_table(needed=...)``). A superset is harmless: names the table lacks are skipped."""
        names: list = []

        def walk(v):
            if isinstance(v, str):
                names.append(v)
            elif isinstance(v, dict):
                for x in v.values():
                    walk(x)
            elif isinstance(v, (list, tuple)):
                for x in v:
                    walk(x)

        walk(self.columns)
        walk(self.logistic.get("predictors") or [])
        walk(self.matching.get("exact") or [])
        walk(self.sex_stratified.get("column"))
        walk(self.sex_stratified.get("covariates") or [])
        if self.diagnostic:
            from ..diagnostic.condition import parse_condition

            for key in ("markers", "correlate", "covariates"):
                walk(self.diagnostic.get(key) or [])
            for expr in self.diagnostic.get("conditions") or []:
                try:
                    names.append(parse_condition(expr).column)
                except VBQInputError:
                    continue  # refused with its own message where the section runs
        walk(list(self.labels))
        return list(dict.fromkeys(n for n in names if n))

    @property
    def matching_enabled(self) -> bool:
        return bool(self.matching["enabled"])

    def to_dict(self) -> dict:
        return {
            "name": self.name, "title": self.title, "citation": self.citation,
            "columns": copy.deepcopy(self.columns), "matching": copy.deepcopy(self.matching),
            "comparison": dict(self.comparison), "segmental": dict(self.segmental),
            "sex_stratified": copy.deepcopy(self.sex_stratified), "logistic": copy.deepcopy(self.logistic),
            "source": self.source, "overrides": copy.deepcopy(self.overrides),
            **({"diagnostic": copy.deepcopy(self.diagnostic)} if self.diagnostic is not None else {}),
            **({"labels": copy.deepcopy(self.labels)} if self.labels else {}),
        }

    def with_overrides(self, **kw) -> Plan:
        """A new plan with column / matching settings replaced (``None`` values are ignored).

        Keys: ``id, group, treated, control, levels, covariates, categorical, predictors`` (columns; when
        ``covariates`` are given but not ``predictors``, the regression uses the covariates), ``no_matching``
        (True: compare the unmatched groups), ``sex_column`` (None keeps the plan's; "" disables the sub-study)
        and the matching options ``method, distance, ratio, caliper, std_caliper, replace, exact, order, seed,
        compat`` (``"matchit-4.5.1"``: reproduce that R build bug for bug, for comparisons with it).
        """
        d = self.to_dict()
        applied = {}
        for k in ("id", "group", "treated", "control", "levels", "covariates", "categorical"):
            if kw.get(k) is not None:
                d["columns"][k] = _as_list(kw[k]) if k in ("levels", "covariates", "categorical") else kw[k]
                applied[k] = d["columns"][k]
        if kw.get("predictors") is not None:
            d["logistic"]["predictors"] = _as_list(kw["predictors"])
            applied["predictors"] = d["logistic"]["predictors"]
        elif kw.get("covariates") is not None:
            d["logistic"]["predictors"] = None  # the issue: "on the covariates (or --predictors when given)"
        if kw.get("covariates") is not None and kw.get("categorical") is None:
            # keep only the plan's categorical columns that are still covariates/predictors
            keep = set(d["columns"]["covariates"]) | set(d["logistic"]["predictors"] or [])
            d["columns"]["categorical"] = [c for c in d["columns"]["categorical"] if c in keep]
        for k in ("method", "distance", "ratio", "caliper", "std_caliper", "replace", "exact", "order", "seed",
                  "compat"):
            if kw.get(k) is not None:
                d["matching"][k] = _as_list(kw[k]) if k == "exact" else kw[k]
                applied[k] = d["matching"][k]
        if kw.get("no_caliper"):
            d["matching"]["caliper"] = None
            applied["caliper"] = None
        if kw.get("method") == "optimal" and kw.get("caliper") is None:
            # optimal pair matching has no caliper (as in MatchIt): drop the plan's default one
            d["matching"]["caliper"] = None
            applied["caliper"] = None
        if kw.get("no_matching"):
            d["matching"]["enabled"] = False
            d["comparison"]["sample"] = "full"
            d["segmental"]["sample"] = "full"
            applied["no_matching"] = True
        if kw.get("sex_column") is not None:
            if kw["sex_column"] == "":
                d["sex_stratified"]["enabled"] = False
            else:
                d["sex_stratified"]["column"] = kw["sex_column"]
                d["sex_stratified"]["enabled"] = True
            applied["sex_column"] = kw["sex_column"]
        d["overrides"] = {**d.get("overrides", {}), **applied}
        return _from_dict(d, self.source)


def _as_list(v) -> list:
    if v is None:
        return []
    if isinstance(v, str):
        return [s.strip() for s in v.split(",") if s.strip()]
    return list(v)


def _merge(defaults: dict, given: dict, where: str) -> dict:
    out = copy.deepcopy(defaults)
    for k, v in given.items():
        if k not in defaults:
            raise VBQInputError(f"{where}: unknown key '{k}' (known: {', '.join(defaults)})")
        if isinstance(defaults[k], dict):
            if not isinstance(v, dict):
                raise VBQInputError(f"{where}: '{k}' must be a mapping of settings, not {type(v).__name__}")
            out[k] = _merge(defaults[k], v, f"{where}: {k}")
        else:
            out[k] = v
    return out


def _check_types(d: dict, source: str) -> None:
    for sect, types in _TYPES.items():
        for key, t in types.items():
            v = d[sect][key]
            ok = isinstance(v, t) and not (isinstance(v, bool) and bool not in (t if isinstance(t, tuple) else (t,)))
            if not ok:
                raise VBQInputError(f"plan {source}: {sect}.{key} must be {_type_text(t)}, got {v!r}")
            if isinstance(v, list) and not all(isinstance(x, str) and x.strip() for x in v):
                raise VBQInputError(f"plan {source}: {sect}.{key} must be a list of column names, got {v!r}")


def _from_dict(raw: dict, source: str) -> Plan:
    if not isinstance(raw, dict):
        raise VBQInputError(f"plan {source}: must be a mapping (YAML/JSON object) of sections")
    raw = dict(raw)
    raw.pop("source", None)
    overrides = raw.pop("overrides", None) or {}
    labels = raw.pop("labels", None) or {}
    if not isinstance(labels, dict):
        raise VBQInputError(f"plan {source}: labels must be a mapping of column: label (or label, unit, levels)")
    from ..publication.variables import from_mapping

    from_mapping(labels, f"plan {source}: labels")  # checked here: a wrong entry is named before any work
    d = _merge(DEFAULTS, raw, f"plan {source}")
    from ..diagnostic.plan import check_section

    diag = check_section(d.get("diagnostic"), source)
    if diag is not None and not d["columns"]["group"]:  # a diagnostic-accuracy plan: no groups to check
        cols = d["columns"]
        if cols["id"] is not None and not isinstance(cols["id"], str):
            raise VBQInputError(f"plan {source}: columns.id must be text, got {cols['id']!r}")
        return Plan(name=str(d["name"]), title=str(d["title"] or ""), citation=str(d["citation"] or ""),
                    columns=cols, matching=d["matching"], comparison=d["comparison"], segmental=d["segmental"],
                    sex_stratified=d["sex_stratified"], logistic=d["logistic"], source=source,
                    overrides=dict(overrides), diagnostic=diag, labels=copy.deepcopy(labels))
    _check_types(d, source)
    cols, m = d["columns"], d["matching"]
    for k in ("id", "group", "treated", "control"):
        if cols[k] in (None, ""):
            raise VBQInputError(f"plan {source}: columns.{k} is missing")
    if str(cols["treated"]).strip().lower() == str(cols["control"]).strip().lower():
        raise VBQInputError(f"plan {source}: treated and control group are both '{cols['treated']}'")
    if not cols["levels"]:
        raise VBQInputError(f"plan {source}: columns.levels is empty (name the VBQ level columns, e.g. VBQ_C2..VBQ_C7)")
    for k in ("levels", "covariates", "categorical"):
        dup = sorted({c for c in cols[k] if cols[k].count(c) > 1})
        if dup:
            raise VBQInputError(f"plan {source}: columns.{k} lists {', '.join(dup)} twice")
    roles = {cols["id"]: "id", cols["group"]: "group"}
    for c in cols["levels"] + cols["covariates"]:
        if c in roles:
            raise VBQInputError(f"plan {source}: column '{c}' is both {roles[c]} and a level/covariate column")
    clash = sorted(set(cols["levels"]) & set(cols["covariates"]))
    if clash:
        raise VBQInputError(f"plan {source}: {', '.join(clash)} both a VBQ level and a covariate")
    if m["enabled"] and not cols["covariates"]:
        raise VBQInputError(f"plan {source}: matching needs columns.covariates (or disable matching)")
    known = set(cols["covariates"]) | set(d["logistic"]["predictors"] or [])
    stray = [c for c in cols["categorical"] if c not in known]
    if stray:
        raise VBQInputError(f"plan {source}: categorical column(s) {', '.join(stray)} are not covariates/predictors")
    if m["method"] not in METHODS:
        raise VBQInputError(f"plan {source}: matching.method '{m['method']}' is not one of {', '.join(METHODS)}")
    if m["distance"] not in DISTANCES:
        raise VBQInputError(f"plan {source}: matching.distance '{m['distance']}' is not one of {', '.join(DISTANCES)}")
    if m["order"] not in ORDERS:
        raise VBQInputError(f"plan {source}: matching.order '{m['order']}' is not one of {', '.join(ORDERS)}")
    if m["compat"] not in (None, "matchit-4.5.1"):
        raise VBQInputError(f"plan {source}: matching.compat must be null or 'matchit-4.5.1', not {m['compat']!r}")
    if m["ratio"] < 1:
        raise VBQInputError(f"plan {source}: matching.ratio {m['ratio']} must be >= 1")
    if m["caliper"] is not None and not m["caliper"] > 0:
        raise VBQInputError(f"plan {source}: matching.caliper {m['caliper']} must be > 0 (or null for none)")
    for sect in ("comparison", "segmental", "sex_stratified"):
        if d[sect]["p_adjust"] not in P_ADJUST:
            raise VBQInputError(f"plan {source}: {sect}.p_adjust '{d[sect]['p_adjust']}' is not one of "
                                f"{', '.join(P_ADJUST)}")
    for sect in ("comparison", "segmental"):
        if d[sect]["sample"] not in SAMPLES:
            raise VBQInputError(f"plan {source}: {sect}.sample '{d[sect]['sample']}' is not one of matched, full")
    if d["logistic"]["sample"] != "full":
        raise VBQInputError(f"plan {source}: logistic.sample must be 'full' (the regression is fitted before "
                            "matching, which balances these very covariates)")
    if d["sex_stratified"]["within"] not in ("treated", "control"):
        raise VBQInputError(f"plan {source}: sex_stratified.within must be treated or control")
    if not m["enabled"]:
        d["comparison"]["sample"] = "full"
        d["segmental"]["sample"] = "full"
    return Plan(name=str(d["name"]), title=str(d["title"] or ""), citation=str(d["citation"] or ""),
                columns=cols, matching=m, comparison=d["comparison"], segmental=d["segmental"],
                sex_stratified=d["sex_stratified"], logistic=d["logistic"], source=source,
                overrides=dict(overrides), diagnostic=diag, labels=copy.deepcopy(labels))


def plan_from_dict(d: dict, source: str = "<dict>") -> Plan:
    return _from_dict(copy.deepcopy(d), source)


def builtin_plan_path(name: str) -> Path:
    return Path(__file__).resolve().parent.parent / "plans" / f"{name}.yaml"  # VBQCohortLib/plans


def load_plan(name_or_path: str | Path | Plan | dict | None = "lu2024") -> Plan:
    """A built-in plan by name (``"lu2024"``) or a YAML/JSON plan file; a :class:`Plan`/dict passes through."""
    if name_or_path is None:
        name_or_path = "lu2024"
    if isinstance(name_or_path, Plan):
        return name_or_path
    if isinstance(name_or_path, dict):
        return plan_from_dict(name_or_path)
    s = str(name_or_path)
    if s in BUILTIN:
        path, source = builtin_plan_path(s), s
    else:
        path, source = Path(s), s
        if not path.is_file():
            raise VBQInputError(f"plan {s}: no such file, and not a built-in plan ({', '.join(BUILTIN)})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VBQInputError(f"plan {source}: cannot read ({exc.__class__.__name__}: {exc})") from None
    if path.suffix.lower() == ".json":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise VBQInputError(f"plan {source}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    else:
        import yaml

        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise VBQInputError(f"plan {source}: not valid YAML{where}") from None
    if raw is None:
        raise VBQInputError(f"plan {source}: the file is empty")
    return _from_dict(raw, source)
