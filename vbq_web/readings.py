"""One save of ``vbq web`` = one unit: the ``<case>.seg.nrrd``, ``<case>.result.json`` and ``<case>.levels.csv``
of a save appear together or not at all, and a correction keeps the previous reading (Slicer-free).

A save (:func:`save_reading`) runs as a small roll-forward journal in the readings folder:

1. *stage*: the three files are written into a hidden staging folder ``.<case>.save.<random>.tmp/`` beside
   them (each fsynced); nothing the reader's table reads has changed;
2. *commit*: ``commit.json`` (the names and SHA-256 of the staged files, and whether VBQ was computed) is written
   into it and the folder is renamed to ``.<case>.save/`` -- one atomic rename, the commit point;
3. *apply*: the current ``<case>.seg.nrrd`` (if any) becomes ``<case>.seg.nrrd.prev``, then each staged file is
   renamed over its final name (a JSON/CSV of an earlier save is removed when this save has none), then the
   staging folder is removed.

:func:`recover` (run when a worklist opens, i.e. at every start) rolls a committed save forward (every step of 3
can be redone safely) and deletes an uncommitted one, together with the hidden ``.*.tmp`` files an interrupted
atomic write leaves. So after a kill -9 at any step the folder holds either the previous reading or the new one,
never a mixture. :func:`trio_matches` is the reader's table's check that a ``result.json`` belongs to the
``.seg.nrrd`` beside it (the SHA-256 ``vbq score`` records) and that the ``levels.csv`` is that result's.

``VBQ_WEB_SAVE_HOOK`` (tests only): ``step:kill`` kills the process (SIGKILL) right after that step, e.g.
``committed:kill``; the steps are in :data:`STEPS`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

from VBQScoreLib.provenance import sha256_file

COMMIT = "commit.json"
#: the points of a save a test can stop it at (VBQ_WEB_SAVE_HOOK=<step>:kill)
STEPS = ("staged_seg", "staged", "committed", "prev", "seg", "result_json", "levels_csv", "applied")
SUFFIXES = {"seg": ".seg.nrrd", "result_json": ".result.json", "levels_csv": ".levels.csv"}
PREV = ".prev"


def _hook(step: str) -> None:
    spec = os.environ.get("VBQ_WEB_SAVE_HOOK", "")
    if spec and spec.split(":")[0] == step:
        os.kill(os.getpid(), signal.SIGKILL)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def committed_folder(folder: Path, case_id: str) -> Path:
    return Path(folder) / f".{case_id}.save"


def final_path(folder: Path, case_id: str, key: str) -> Path:
    return Path(folder) / f"{case_id}{SUFFIXES[key]}"


def save_reading(folder, case_id: str, write_segmentation: Callable[[Path], None],
                 score: Callable[[Path], object]):
    """Save one reading as one unit (see the module). ``write_segmentation(path)`` writes the ``.seg.nrrd``;
    ``score(path)`` measures it (a :class:`VBQScoreLib.measuring.result.VBQResult`) or raises ``VBQInputError``
    (then the reading is saved without JSON/CSV and the error is returned). Returns ``(result or None, error or None,
    kept_previous)``. On failure before the commit nothing in ``folder`` has changed."""
    from VBQScoreLib.errors import VBQInputError

    folder = Path(folder)
    recover_case(folder, case_id)  # a committed save of this case not applied yet goes first
    final_seg = final_path(folder, case_id, "seg")
    try:
        stage = Path(tempfile.mkdtemp(prefix=f".{case_id}.save.", suffix=".tmp", dir=folder))
    except OSError as exc:
        raise VBQInputError(f"{final_seg}: cannot write in {folder} ({exc.strerror or exc})") from None
    try:
        staged_seg = stage / final_seg.name
        try:
            write_segmentation(staged_seg)
        except VBQInputError as exc:  # name the file the reader knows, not the staging folder
            raise VBQInputError(str(exc).replace(str(staged_seg), str(final_seg))) from None
        _hook("staged_seg")
        result, error = None, None
        try:
            result = score(staged_seg)
        except VBQInputError as exc:
            error = str(exc).replace(str(staged_seg), str(final_seg))
        files = {"seg": staged_seg.name}
        if result is not None:
            # vbq score measured the staged file; it is the same bytes under its final name
            seg_in = (result.provenance.get("inputs") or {}).get("segmentation")
            if isinstance(seg_in, dict):
                seg_in["path"] = str(final_seg)
            for key, text in (("result_json", result.to_json() + "\n"), ("levels_csv", result.to_csv())):
                p = stage / final_path(folder, case_id, key).name
                try:
                    with open(p, "w", encoding="utf-8", newline="") as f:
                        f.write(text)
                        f.flush()
                        os.fsync(f.fileno())
                except OSError as exc:
                    raise VBQInputError(f"{final_path(folder, case_id, key)}: could not write ({exc.strerror or exc})"
                                        "; the previous reading is unchanged") from None
                files[key] = p.name
        _hook("staged")
        record = {"case_id": case_id, "files": files,
                  "sha256": {k: sha256_file(stage / name) for k, name in files.items()}}
        try:
            with open(stage / COMMIT, "w", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()
                os.fsync(f.fileno())
            _fsync_dir(stage)
            os.replace(stage, committed_folder(folder, case_id))  # the commit point
        except OSError as exc:
            raise VBQInputError(f"{final_seg}: could not write ({exc.strerror or exc}); the previous reading is "
                                "unchanged") from None
        _fsync_dir(folder)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    _hook("committed")
    kept_previous = final_seg.is_file()
    apply_commit(folder, case_id)
    return result, error, kept_previous


def apply_commit(folder: Path, case_id: str) -> bool:
    """Roll the committed save of ``case_id`` forward (idempotent: each step checks whether it was done)."""
    cdir = committed_folder(folder, case_id)
    try:
        record = json.loads((cdir / COMMIT).read_text(encoding="utf-8"))
        files = dict(record["files"])
    except (OSError, ValueError, KeyError, TypeError):
        shutil.rmtree(cdir, ignore_errors=True)  # not a commit of ours (or unreadable): nothing to roll forward
        return False
    final_seg = final_path(folder, case_id, "seg")
    staged_seg = cdir / files.get("seg", final_seg.name)
    if staged_seg.is_file():
        if final_seg.is_file():
            os.replace(final_seg, final_seg.with_name(final_seg.name + PREV))
            _hook("prev")
        os.replace(staged_seg, final_seg)
        _hook("seg")
    for key in ("result_json", "levels_csv"):
        target = final_path(folder, case_id, key)
        if key in files:
            staged = cdir / files[key]
            if staged.is_file():
                os.replace(staged, target)
        else:  # this save could not be measured: a JSON/CSV of an earlier segmentation would lie
            target.unlink(missing_ok=True)
        _hook(key)
    _fsync_dir(folder)
    shutil.rmtree(cdir, ignore_errors=True)
    _fsync_dir(folder)
    _hook("applied")
    return True


def recover_case(folder: Path, case_id: str) -> None:
    if committed_folder(folder, case_id).is_dir():
        apply_commit(folder, case_id)


def recover(folder, case_ids, other_stems=("results", "results_long", "worklist")) -> list[str]:
    """Finish or undo what a killed save left in ``folder``: committed saves of ``case_ids`` are rolled
    forward; their uncommitted staging folders, and the hidden ``.*.tmp`` files an interrupted atomic write of
    their files (or of ``other_stems``: the reader's table, ``worklist.json``) leaves, are deleted. Nothing
    else is touched. Returns what was done (one line each)."""
    folder = Path(folder)
    done = []
    if not folder.is_dir():
        return done
    ours = {*case_ids, *other_stems}
    for p in sorted(folder.iterdir()):
        name = p.name
        if not name.startswith(".") or p.is_symlink() or not any(name.startswith(f".{stem}.") for stem in ours):
            continue
        if p.is_dir() and name.endswith(".save") and name[1:-len(".save")] in case_ids:
            case_id = name[1:-len(".save")]
            if apply_commit(folder, case_id):
                done.append(f"{case_id}: finished an interrupted save")
        elif p.is_dir() and ".save." in name and name.endswith(".tmp"):
            shutil.rmtree(p, ignore_errors=True)
            done.append(f"{name}: removed an unfinished save")
        elif p.is_file() and (name.endswith(".tmp") or ".tmp." in name):
            p.unlink(missing_ok=True)
            done.append(f"{name}: removed a temporary file")
    return done


def trio_matches(seg: Path, result_json: Path, levels_csv: Path) -> dict | None:
    """The ``result.json`` of ``seg`` when it and ``levels_csv`` belong to that very file (the segmentation's
    SHA-256 recorded by ``vbq score``; the CSV equal to the one the result writes), else None."""
    from VBQScoreLib.measuring.result import VBQResult

    try:
        data = json.loads(result_json.read_text(encoding="utf-8"))
        recorded = data["provenance"]["inputs"]["segmentation"]["sha256"]
        if recorded != sha256_file(seg):
            return None
        if levels_csv.read_text(encoding="utf-8") != VBQResult.from_dict(data).to_csv():
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return data
