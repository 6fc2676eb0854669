"""The built-in analysis plans as Slicer reads them: from the JSON twin of each YAML plan
(``VBQCohortLib/plans/<name>.json``), with the standard library only.

Slicer's Python has no PyYAML, and the module needs a plan before any package is installed (Guess columns on a
table already in the scene). The YAML files stay the source that people read and copy for their own plans; the
JSON files are generated from them (``python -m VBQCohortModuleLib.plans``) and a test keeps each pair equal.
"""

from __future__ import annotations

import json
from pathlib import Path


def plans_dir() -> Path:
    import VBQCohortLib

    return Path(VBQCohortLib.__file__).resolve().parent / "plans"


def builtin_json_path(name: str) -> Path:
    return plans_dir() / f"{name}.json"


def builtin_plan(name: str):
    """The built-in plan ``name`` ("lu2024") as a :class:`VBQCohortLib.analysis.plan.Plan`, the same object
    ``load_plan(name)`` gives (source = the name), without importing yaml."""
    from VBQCohortLib.analysis.plan import BUILTIN, plan_from_dict

    if name not in BUILTIN:
        raise ValueError(f"no built-in plan '{name}' (built-in: {', '.join(BUILTIN)})")
    with open(builtin_json_path(name), encoding="utf-8") as f:
        return plan_from_dict(json.load(f), source=name)


def json_text(yaml_path: Path) -> str:
    import yaml

    return json.dumps(yaml.safe_load(Path(yaml_path).read_text(encoding="utf-8")), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # regenerate the JSON twins
    for y in sorted(plans_dir().glob("*.yaml")):
        y.with_suffix(".json").write_text(json_text(y), encoding="utf-8", newline="\n")
