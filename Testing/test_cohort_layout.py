"""VBQCohortLib's sub-package layout (issue 16): the old flat import paths keep working (and are the very modules,
so attribute patches reach them), no module imports another's private name, no import cycle between modules, and
the one JSON rule for non-finite numbers."""

import ast
import importlib
import math
from pathlib import Path

import numpy as np
import pytest

LIB = Path(__file__).resolve().parents[1] / "VBQCohort" / "VBQCohortLib"

OLD_MODULES = {  # old path -> the module it now is
    "spreadsheet": "reading.spreadsheet", "delimited": "reading.delimited", "labels": "reading.labels",
    "terms": "reading.terms", "join": "reading.join", "propensity": "matching.propensity",
    "balance": "matching.balance", "logistic": "stats.logistic", "agreement_stats": "agreement.stats",
    "agreement_data": "agreement.data", "agreement_report": "agreement.report", "plan": "analysis.plan",
}
OLD_PACKAGES = {  # old module that is now a package -> names it must still give
    "stats": ["ranksum", "signed_rank", "shapiro", "kruskal", "friedman", "dunn", "p_adjust", "P_ADJUST_METHODS",
              "RankSumResult", "_wilcox_counts", "_signrank_counts", "_zeroin", "_kth_pairwise_diff",
              "_median_pairwise_diff"],
    "matching": ["match", "MatchResult", "_optimal_core", "sample_size_table"],
    "report": ["write_report", "summary_sentences", "fig_forest", "forest_labels", "CSS", "esc", "fmt_p"],
    "analysis": ["run_analysis", "TREAT_COL", "level_label", "describe", "compare_levels"],
    "agreement": ["run_agreement", "summary_sentences"],
}


@pytest.mark.parametrize("old,new", sorted(OLD_MODULES.items()))
def test_old_module_path_is_the_moved_module(old, new):
    a = importlib.import_module(f"VBQCohortLib.{old}")
    b = importlib.import_module(f"VBQCohortLib.{new}")
    assert a is b
    import VBQCohortLib

    assert getattr(VBQCohortLib, old) is b


@pytest.mark.parametrize("pkg,names", sorted(OLD_PACKAGES.items()))
def test_old_module_that_became_a_package_gives_its_names(pkg, names):
    m = importlib.import_module(f"VBQCohortLib.{pkg}")
    missing = [n for n in names if not hasattr(m, n)]
    assert missing == []


def test_cohort_preparation_still_reachable_from_the_old_spreadsheet_path():
    from VBQCohortLib.reading.cohort import CohortSpec, prepare_cohort
    from VBQCohortLib.spreadsheet import CohortSpec as C2, prepare_cohort as p2, read_table  # noqa: F401

    assert C2 is CohortSpec and p2 is prepare_cohort


def test_patching_an_old_path_reaches_the_code(monkeypatch, tmp_path):
    import VBQCohortLib.delimited as old
    from VBQCohortLib.reading.spreadsheet import read_table

    calls = []
    monkeypatch.setattr(old, "frame_from_text", lambda *a, **k: calls.append(1))  # None: general reader
    p = tmp_path / "t.csv"
    p.write_text("id,x\n1,2\n", encoding="utf-8")
    df, _ = read_table(p)
    assert calls == [1] and df["x"].tolist() == [2.0]


def _modules():
    for py in sorted(LIB.rglob("*.py")):
        rel = py.relative_to(LIB).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        yield py, ".".join(["VBQCohortLib", *parts]), py.name == "__init__.py"


def _imports(py, name, is_pkg, top_level_only):
    """(imported module, [names]) of every import of a VBQCohortLib module in ``py``."""
    tree = ast.parse(py.read_text(encoding="utf-8"))
    package = name if is_pkg else name.rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("VBQCohortLib"):
                yield mod, [a.name for a in node.names]


def test_no_private_name_crosses_a_module_boundary():
    bad = []
    for py, name, is_pkg in _modules():
        if is_pkg:  # a package __init__ may re-export the old module's names (tests use them)
            continue
        for mod, names in _imports(py, name, is_pkg, top_level_only=False):
            bad += [f"{name}: {mod}.{n}" for n in names if n.startswith("_") and n != "__version__"]
    # the CLI and the Slicer module use public names of the library only
    repo = LIB.parents[1]
    for py in sorted((repo / "vbq_cli").glob("*.py")) + [repo / "VBQCohort" / "VBQCohort.py"]:
        for node in ast.walk(ast.parse(py.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("VBQCohortLib"):
                bad += [f"{py.name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert bad == []


def _cycle(lib_modules):
    """The first import cycle between modules (imports inside functions count too), or None."""
    mods = {name: (py, is_pkg) for py, name, is_pkg in lib_modules}
    graph = {}
    for name, (py, is_pkg) in mods.items():
        deps = set()
        for mod, names in _imports(py, name, is_pkg, top_level_only=False):
            for n in names:  # "from . import stats" imports a module
                if f"{mod}.{n}" in mods:
                    deps.add(f"{mod}.{n}")
            if mod in mods:
                deps.add(mod)
        graph[name] = deps - {name}
    state = {}

    def visit(n, path):
        state[n] = 1
        for d in sorted(graph.get(n, ())):
            if state.get(d) == 1:
                return " -> ".join(path + [n, d])
            if d not in state:
                found = visit(d, path + [n])
                if found:
                    return found
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n, [])
            if found:
                return found
    return None


def test_no_import_cycle_between_modules():
    assert _cycle(_modules()) is None


def test_the_cycle_check_finds_a_cycle(tmp_path):
    (tmp_path / "a.py").write_text("def f():\n    from .b import g\n", encoding="utf-8")
    (tmp_path / "b.py").write_text("from .a import f\n", encoding="utf-8")
    found = _cycle([(tmp_path / "a.py", "VBQCohortLib.a", False), (tmp_path / "b.py", "VBQCohortLib.b", False)])
    assert found == "VBQCohortLib.a -> VBQCohortLib.b -> VBQCohortLib.a"


def test_one_rule_for_numbers_json_cannot_hold():
    from VBQScoreLib.json_text import dumps, finite_or_none, jsonable

    assert [finite_or_none(v) for v in (None, math.nan, math.inf, -math.inf, np.float32("nan"), "x")] == [None] * 6
    assert finite_or_none(np.int64(3)) == 3.0 and type(finite_or_none(np.float64(2.5))) is float
    x = {1: (np.float64(math.inf), np.int32(2), np.bool_(True)), "s": [None, -math.inf, 1.5]}
    assert jsonable(x) == {"1": [None, 2, True], "s": [None, None, 1.5]}
    assert dumps(jsonable(x)).count("null") == 3


def test_rank_test_dicts_are_json_safe_for_one_sided_intervals():
    from VBQCohortLib import stats

    d = stats.ranksum([1.1, 2.3, 3.2, 4.8], [0.2, 0.9, 1.7], alternative="greater").to_dict()
    assert d["ci_high"] is None and d["ci_low"] is not None  # +inf -> null, as results.json always had it
    r = stats.ranksum([1.1, 2.3, 3.2, 4.8], [0.2, 0.9, 1.7], alternative="greater")
    assert r.ci_high == math.inf  # the result object keeps R's Inf
