"""Comparison of a live R run's JSON output with the committed R fixtures (the live-R tests of each suite)."""

from __future__ import annotations

import pytest


def assert_same_json(a, b, path: str = "") -> None:
    """``a`` equals ``b`` key for key and item for item; floats to 1e-12 relative (R's and jsonlite's
    platform-dependent last digits). ``path`` names the place of a difference in the assertion message."""
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            assert_same_json(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_json(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-300), path
    else:
        assert a == b, path
