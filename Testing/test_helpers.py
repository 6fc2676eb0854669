"""The shared test helpers (Testing/helpers.py) build what they say."""

from __future__ import annotations

import numpy as np

from helpers import make_image


def test_make_image_geometry():
    img = make_image(np.zeros((2, 3, 4)), spacing=(0.5, 1, 2), origin=(1, 2, 3))
    assert img.GetSize() == (4, 3, 2)
    assert img.TransformIndexToPhysicalPoint((1, 1, 1)) == (1.5, 3.0, 5.0)


def test_no_test_file_imports_another():
    """Shared helpers live in helpers.py: a test file importing another (test_x imports test_y) hides what is
    shared, ties one file's tests to the other's private names, and breaks under pytest's importlib mode."""
    import ast

    from helpers import REPO

    offenders = []
    for path in sorted((REPO / "Testing").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0].startswith("test_")]
    assert offenders == []
