"""Provenance recorded with every result: software, options, input hashes, time, platform, DICOM fields."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from . import __version__

MEASUREMENT = {
    "resampling": "segments mapped onto the image grid in physical space, nearest neighbour",
    "median": "exact",
    "sd": "sample standard deviation (ddof=1)",
    "percentiles": "linear (numpy default; R quantile type 7)",
    "erosion": "ellipsoidal element: voxels within erode_mm (centre to centre)",
}


def sha256_file(path) -> str:
    """SHA-256 of one file's contents, read in pieces (the one file hash of the project)."""
    if hasattr(hashlib, "file_digest"):  # Python >= 3.11: hashlib's own file reader
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    return sha256_files([path])


def sha256_files(paths: Iterable) -> str:
    """SHA-256 of the contents of ``paths`` in sorted order (one file: that file's SHA-256)."""
    paths = sorted(str(x) for x in paths)
    if len(paths) == 1 and hasattr(hashlib, "file_digest"):
        return sha256_file(paths[0])
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


class Background:
    """Run ``fn(*args)`` in a daemon thread (file reading in SimpleITK and hashing in hashlib release the GIL,
    so it overlaps with work in the calling thread); :meth:`result` waits and returns its value or re-raises
    its exception."""

    def __init__(self, fn, *args):
        import threading

        self._fn, self._args = fn, args
        self._value = None
        self._error = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            self._value = self._fn(*self._args)
        except BaseException as exc:  # noqa: BLE001 - re-raised in result()
            self._error = exc

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


class BackgroundHash(Background):
    """SHA-256 of files computed in a background thread (hashlib releases the GIL), overlapping with reading
    and measuring; :meth:`result` waits for it and re-raises any error."""

    def __init__(self, paths):
        super().__init__(sha256_files, list(paths))


def _sha256_groups(groups: dict) -> dict:
    return {key: sha256_files(paths) for key, paths in groups.items()}


class BackgroundHashes(Background):
    """``{key: SHA-256 of paths}`` for several groups of files (e.g. image and segmentation), one background
    thread for all."""

    def __init__(self, groups: dict):
        super().__init__(_sha256_groups, {k: list(v) for k, v in groups.items()})


def input_files(path) -> list:
    p = Path(path)
    return [str(p)] if p.is_file() else sorted(str(x) for x in p.iterdir() if x.is_file())


def input_record(path, files: list | None = None, sha256: str | None = None) -> dict:
    p = Path(path)
    files = files if files is not None else input_files(p)
    rec = {"path": str(path), "sha256": sha256 if sha256 is not None else sha256_files(files)}
    if len(files) != 1 or Path(files[0]) != p:
        rec["n_files"] = len(files)
    return rec


def _system() -> str:
    """``"<system> <release> <machine>"`` as ``platform.system()/release()/machine()`` give it (from
    ``os.uname()`` where there is one: the platform module costs a noticeable share of a one-shot run)."""
    if hasattr(os, "uname"):
        u = os.uname()
        return f"{u.sysname} {u.release} {u.machine}"
    import platform

    return f"{platform.system()} {platform.release()} {platform.machine()}"


#: the libraries whose versions a cohort or agreement result records
COHORT_PACKAGES = ("numpy", "scipy", "pandas", "statsmodels", "matplotlib")


def software_versions(version: str = __version__, packages: Iterable[str] = COHORT_PACKAGES) -> dict:
    """``{"python", "platform", "slicervbq", <package>: version or None}``: the ``versions`` block of a cohort
    analysis's ``results.json`` and of ``agreement.json``. ``platform`` is ``platform.platform()``."""
    import platform
    from importlib import metadata

    out = {"python": sys.version.split()[0], "platform": platform.platform(), "slicervbq": version}
    for pkg in packages:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:  # pragma: no cover
            out[pkg] = None
    return out


def base_provenance(options=None, preset=None) -> dict:
    return {
        "software": {"name": "SlicerVBQ", "version": __version__},
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),  # = datetime ISO, UTC, seconds
        "platform": {"python": sys.version.split()[0],
                     "system": _system()},
        "options": options.to_dict() if options is not None else None,
        "preset": preset.to_dict() if preset is not None else None,
        "measurement": dict(MEASUREMENT),
        "inputs": {},
        "dicom": None,
    }


def build_provenance(image_input, image_path, segmentation_path, labels=None, options=None, preset=None,
                     hashes: dict | None = None) -> dict:
    """Provenance of a file-based measurement. ``image_input`` is :class:`VBQScoreLib.image_io.ImageInput`;
    ``hashes`` optionally maps "image"/"segmentation"/"labels" to SHA-256 values computed beforehand."""
    hashes = hashes or {}
    prov = base_provenance(options, preset)
    prov["inputs"]["image"] = input_record(image_path, list(image_input.files), hashes.get("image"))
    prov["inputs"]["segmentation"] = input_record(segmentation_path, None, hashes.get("segmentation"))
    if labels is not None and not isinstance(labels, dict):
        prov["inputs"]["labels"] = input_record(labels, None, hashes.get("labels"))
    prov["dicom"] = dict(image_input.dicom) if image_input.dicom else None
    return prov
