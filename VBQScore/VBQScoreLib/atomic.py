"""Atomic output: write to a temporary file beside the target, then rename over it.

Inputs are never modified; a failed run leaves no partial output.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None):
    """Open a temporary file next to ``path``; on normal exit fsync and rename it to ``path``.

    >>> with atomic_write("out.json") as f:
    ...     f.write("{}")
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        from .errors import VBQInputError

        raise VBQInputError(f"{path}: output folder {parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    try:
        if "b" in mode:
            f = os.fdopen(fd, mode)
        else:
            f = os.fdopen(fd, mode, encoding=encoding, newline=newline)
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path, text: str) -> None:
    with atomic_write(path, "w") as f:
        f.write(text)


def write_bytes_atomic(path, data: bytes) -> None:
    with atomic_write(path, "wb", encoding=None) as f:
        f.write(data)


def check_output_directory(path) -> None:
    """Refuse an output folder that is an existing file or whose parent folder does not exist (call it before
    long work, so the user learns it at once; :func:`atomic_directory` calls it too)."""
    from .errors import VBQInputError

    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise VBQInputError(f"{path}: parent folder {parent} does not exist")
    if path.exists() and not path.is_dir():
        raise VBQInputError(f"{path}: exists and is not a folder")


@contextlib.contextmanager
def atomic_directory(path):
    """Yield a temporary folder beside ``path``; on success move its contents into ``path``.

    Files already in ``path`` with the same names are replaced (each by an atomic rename); other files in
    ``path`` are left alone. On failure the temporary folder is removed and ``path`` is untouched.
    """
    path = Path(path)
    check_output_directory(path)
    parent = path.parent if str(path.parent) else Path(".")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    try:
        yield tmp
        if not path.exists():
            os.replace(tmp, path)
            return
        for src in sorted(tmp.rglob("*")):
            rel = src.relative_to(tmp)
            dst = path / rel
            if src.is_dir():
                dst.mkdir(parents=True, exist_ok=True)
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
        shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
