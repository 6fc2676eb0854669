"""Atomic outputs (VBQScoreLib.atomic): a file or a folder is replaced only when its writing succeeded."""

from __future__ import annotations

import pytest

from VBQScoreLib.atomic import atomic_directory, atomic_write, write_text_atomic
from VBQScoreLib.errors import VBQInputError


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    write_text_atomic(target, "first")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write("partial")
            raise RuntimeError("boom")
    assert target.read_text(encoding="utf-8") == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # no temp file left
    with pytest.raises(VBQInputError, match="does not exist"):
        write_text_atomic(tmp_path / "missing" / "x.txt", "x")


def test_atomic_directory(tmp_path):
    out = tmp_path / "report"
    with pytest.raises(RuntimeError):
        with atomic_directory(out) as d:
            (d / "a.txt").write_text("a", encoding="utf-8")
            raise RuntimeError("boom")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with atomic_directory(out) as d:
        (d / "tables").mkdir()
        (d / "tables" / "t.csv").write_text("x", encoding="utf-8")
    assert (out / "tables" / "t.csv").read_text(encoding="utf-8") == "x"
    (out / "keep.txt").write_text("k", encoding="utf-8")
    with atomic_directory(out) as d:
        (d / "tables").mkdir()
        (d / "tables" / "t.csv").write_text("y", encoding="utf-8")
    assert ((out / "tables" / "t.csv").read_text(encoding="utf-8") == "y"
            and (out / "keep.txt").read_text(encoding="utf-8") == "k")
