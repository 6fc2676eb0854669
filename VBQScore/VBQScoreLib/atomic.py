"""Atomic output: write to a temporary file beside the target, then rename over it.

Inputs are never modified; a failed run leaves no partial output.

- Permissions: outputs get the modes a plain ``open()``/``mkdir()`` would give (``0666``/``0777`` minus the
  umask: 644/755 under umask 022), not the private 0600/0700 of :mod:`tempfile` (a colleague on a shared lab
  drive must be able to open the report). A folder that must stay private is made so by its owner, not here.
- A report folder changes as one unit (:func:`atomic_directory`): the new folder is built beside the old one,
  then swapped in (old renamed aside, new renamed in, old removed). A run killed at any step leaves either the
  old folder or the new one under the name, never a mix; the next write to the same name finishes or rolls back
  the swap and removes the leftovers.
- Temporary names are recognisable as ours: ``.<name>.vbq-<host>-<pid>-<random>.tmp`` (``.old.tmp`` for a folder
  renamed aside). A later write to the same target removes the ones whose process (on this host) is gone;
  nothing else is touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
from pathlib import Path

__all__ = ["atomic_write", "write_text_atomic", "write_bytes_atomic", "check_output_directory",
           "atomic_directory", "temporary_name", "clean_leftovers", "clean_legacy_leftovers", "default_mode",
           "checkpoint"]

_TAG = "vbq"
# the test-only hook: VBQ_TEST_ATOMIC_KILL=<step> makes this process SIGKILL itself at that step (the kill tests
# in Testing/test_atomic_outputs.py check that every step leaves either the old or the new output, then that the
# next run cleans up)
_KILL_ENV = "VBQ_TEST_ATOMIC_KILL"


def _step(name: str) -> None:
    if os.environ.get(_KILL_ENV) == name:  # pragma: no cover - runs in a subprocess that dies here
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def checkpoint(name: str) -> None:
    """A named step of a multi-file write (e.g. ``pair-long`` in :func:`VBQScoreLib.batch.write_tables`) where
    the test hook ``VBQ_TEST_ATOMIC_KILL=<name>`` kills this process."""
    _step(name)


def _umask() -> int:
    try:  # Linux >= 4.7: read it without changing it (os.umask would set it for every thread meanwhile)
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_mode(directory: bool = False) -> int:
    """The mode a new file (``0o666``) or folder (``0o777``) gets under the current umask."""
    return (0o777 if directory else 0o666) & ~_umask()


def _host() -> str:
    try:
        name = os.uname().nodename
    except AttributeError:  # pragma: no cover - Windows
        import socket

        name = socket.gethostname()
    return hashlib.sha1(name.encode("utf-8", "replace")).hexdigest()[:6]


def temporary_name(path, suffix: str = ".tmp") -> Path:
    """A new temporary name beside ``path`` that :func:`clean_leftovers` recognises:
    ``.<name>.vbq-<host>-<pid>-<random><suffix>``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{_TAG}-{_host()}-{os.getpid()}-{os.urandom(4).hex()}{suffix}")


def _leftover_re(name: str) -> re.Pattern:
    return re.compile(r"\." + re.escape(name) + r"\." + _TAG
                      + r"-([0-9a-f]{6})-([0-9]+)-[0-9a-f]{8}(\.old)?\.(?:.*\.)?tmp(?:\..*)?\Z")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            p.unlink()


def clean_leftovers(path) -> list:
    """Remove what a killed write to ``path`` left beside it (our own temporary names only, of processes of this
    host that are gone). A folder swap killed after the old folder was renamed aside and before the new one was
    renamed in is rolled back (the old folder gets its name again). Returns the names removed or restored."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    pattern, host = _leftover_re(path.name), _host()
    done, asides = [], []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return done
    for e in entries:
        m = pattern.match(e.name)
        if not m or m.group(1) != host or _alive(int(m.group(2))):
            continue
        if m.group(3):
            asides.append(Path(e.path))
        else:
            _remove(Path(e.path))
            done.append(e.name)
    for p in sorted(asides):
        if not os.path.lexists(path):  # killed between "old aside" and "new in": roll back
            with contextlib.suppress(OSError):
                os.replace(p, path)
                done.append(p.name)
                continue
        _remove(p)
        done.append(p.name)
    return done


#: tempfile's names of the versions before the recognisable ones: ``.<name>.<8 random [a-z0-9_]>.tmp``
_LEGACY_RANDOM = r"\.[a-z0-9_]{8}\.tmp\Z"


def clean_legacy_leftovers(path, first_lines: tuple, min_age: float = 600.0) -> list:
    """Remove what a killed write of an older version left beside ``path`` under ``tempfile``'s random name
    (``.<name>.<8 random>.tmp``, no host or process in it), but only files recognisable as ours by content: the
    file starts with one of ``first_lines`` (bytes; e.g. the header line of the table being written) and was
    last modified more than ``min_age`` seconds ago (no live writer). Returns the names removed."""
    import time

    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    pattern = re.compile(r"\." + re.escape(path.name) + _LEGACY_RANDOM)
    done = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return done
    now = time.time()
    for e in entries:
        if not pattern.match(e.name):
            continue
        try:
            if not e.is_file(follow_symlinks=False) or now - e.stat(follow_symlinks=False).st_mtime < min_age:
                continue
            with open(e.path, "rb") as f:
                head = f.read(max(len(x) for x in first_lines) if first_lines else 0)
        except OSError:
            continue
        if any(head.startswith(x) for x in first_lines):
            with contextlib.suppress(OSError):
                os.unlink(e.path)
                done.append(e.name)
    return done


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None):
    """Open a temporary file next to ``path``; on normal exit fsync and rename it to ``path`` (mode from the
    umask, as ``open()`` would give).

    >>> with atomic_write("out.json") as f:
    ...     f.write("{}")
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        from .errors import VBQInputError

        raise VBQInputError(f"{path}: output folder {parent} does not exist")
    clean_leftovers(path)
    tmp = temporary_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)  # umask applies
    try:
        if "b" in mode:
            f = os.fdopen(fd, mode)
        else:
            f = os.fdopen(fd, mode, encoding=encoding, newline=newline)
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        _step("file-written")
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


def _carry_over(old: Path, new: Path, drop) -> None:
    """Put into ``new`` the entries of ``old`` that ``new`` does not have (the user's own files in an output
    folder), except the relative paths in ``drop``: hard links (the old folder stays whole until the swap), a
    copy where the file system has none."""
    for dirpath, dirnames, filenames in os.walk(old):
        rel_dir = Path(dirpath).relative_to(old)
        for d in list(dirnames):
            src = Path(dirpath) / d
            dst = new / rel_dir / d
            if src.is_symlink():
                dirnames.remove(d)
                filenames.append(d)
            elif not dst.exists():
                dst.mkdir()
                shutil.copystat(src, dst)
        for fn in filenames:
            rel = (rel_dir / fn).as_posix()
            src, dst = Path(dirpath) / fn, new / rel_dir / fn
            if rel in drop or os.path.lexists(dst):
                continue
            if src.is_symlink():
                os.symlink(os.readlink(src), dst)
                continue
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)


@contextlib.contextmanager
def atomic_directory(path, drop=()):
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` as one unit.

    The files the caller wrote replace those of the same name; other files already in ``path`` are kept (a
    user's notes) unless their relative path (``tables/x.csv``) is in ``drop`` (files of an earlier run that
    this one did not write again; a set the caller may fill inside the ``with``). The swap: old folder renamed
    aside, new one renamed in, old one removed; a kill at any point leaves the old folder or the new one (see
    :func:`clean_leftovers`). On failure the temporary folder is removed and ``path`` is untouched. The new folder
    keeps the old one's mode (a new one gets the umask's).
    """
    path = Path(path)
    check_output_directory(path)
    clean_leftovers(path)
    tmp = temporary_name(path)
    tmp.mkdir(mode=0o700)
    try:
        yield tmp
        _step("dir-built")
        if path.is_dir():
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
            _carry_over(path, tmp, {str(d) for d in drop})  # read now: the caller may fill it
            _step("dir-carried")
            aside = temporary_name(path, ".old.tmp")
            os.replace(path, aside)
            _step("dir-aside")
            os.replace(tmp, path)
            _step("dir-swapped")
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.chmod(tmp, default_mode(directory=True))
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
