"""The layout of VBQScoreLib (issue 16): old import paths are the moved modules themselves, `VBQScoreLib.batch`
still exports what the README and the CLI use, and no private name (``_x``) crosses a module boundary on the
score side (VBQScoreLib, vbq_cli, vbq_web, the VBQ Score module, benchmarks)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

OLD_TO_NEW = {
    "image_io": "input.images", "segments": "input.segmentations", "resample": "input.resample",
    **{m: f"measuring.{m}" for m in ("options", "presets", "levels", "measure", "flags", "result", "api",
                                       "quick_roi", "overlap")},
}


@pytest.mark.parametrize("old,new", sorted(OLD_TO_NEW.items()))
def test_old_path_is_the_moved_module(old, new):
    old_mod = importlib.import_module(f"VBQScoreLib.{old}")
    new_mod = importlib.import_module(f"VBQScoreLib.{new}")
    assert old_mod is new_mod
    import VBQScoreLib

    assert getattr(VBQScoreLib, old) is new_mod  # `from VBQScoreLib import segments` gives the same module


def test_private_names_of_old_paths_still_reachable():
    from VBQScoreLib.input.segmentations import _label_boxes as new
    from VBQScoreLib.segments import _label_boxes  # used by tests of the fast path

    assert _label_boxes is new


def test_batch_exports():
    from VBQScoreLib import batch

    for name in ("Case", "read_manifest", "discover_cases", "load_cases", "run_batch", "score_case",
                 "write_tables", "record_from_result", "long_path_for", "journal_path_for", "BatchSummary",
                 "DEFAULT_PATTERN", "LONG_COLUMNS", "SYNCHRONOUS"):
        assert callable(getattr(batch, name)) or getattr(batch, name) is not None, name
    assert not hasattr(batch, "_record")


def _python_files():
    for root in ("VBQScore/VBQScoreLib", "vbq_cli", "vbq_web", "benchmarks"):
        yield from sorted((REPO / root).rglob("*.py"))
    yield REPO / "VBQScore" / "VBQScore.py"


def test_no_private_name_crosses_a_module_boundary():
    found = []
    for f in _python_files():
        tree = ast.parse(f.read_text(encoding="utf-8"))
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        found.append(f"{f.relative_to(REPO)}:{node.lineno} imports {a.name} from {node.module}")
                    imported.add(a.asname or a.name)
            elif isinstance(node, ast.Import):
                imported |= {(a.asname or a.name).split(".")[0] for a in node.names}
        imported -= {"os", "sys", "atexit"}  # os._exit, sys._getframe, atexit._run_exitfuncs: the standard library
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in imported):
                found.append(f"{f.relative_to(REPO)}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert found == []
