"""Provenance recorded with every result: software, options, input hashes, time, platform, DICOM fields."""

from __future__ import annotations

import datetime as _dt
import hashlib
import platform
import sys
from pathlib import Path
from typing import Iterable, Optional

from . import __version__

MEASUREMENT = {
    "resampling": "segments mapped onto the image grid in physical space, nearest neighbour",
    "median": "exact",
    "sd": "sample standard deviation (ddof=1)",
    "percentiles": "linear (numpy default; R quantile type 7)",
    "erosion": "ellipsoidal element: voxels within erode_mm (centre to centre)",
}


def sha256_files(paths: Iterable) -> str:
    """SHA-256 of the contents of ``paths`` in sorted order (one file: that file's SHA-256)."""
    h = hashlib.sha256()
    for p in sorted(str(x) for x in paths):
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


class BackgroundHash:
    """SHA-256 of files computed in a background thread (hashlib releases the GIL), overlapping with reading
    and measuring; :meth:`result` waits for it and re-raises any error."""

    def __init__(self, paths):
        import threading

        self._paths = list(paths)
        self._value = None
        self._error = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            self._value = sha256_files(self._paths)
        except BaseException as exc:  # pragma: no cover (re-raised in result())
            self._error = exc

    def result(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def input_files(path) -> list:
    p = Path(path)
    return [str(p)] if p.is_file() else sorted(str(x) for x in p.iterdir() if x.is_file())


def input_record(path, files: Optional[list] = None, sha256: Optional[str] = None) -> dict:
    p = Path(path)
    files = files if files is not None else input_files(p)
    rec = {"path": str(path), "sha256": sha256 if sha256 is not None else sha256_files(files)}
    if len(files) != 1 or Path(files[0]) != p:
        rec["n_files"] = len(files)
    return rec


def base_provenance(options=None, preset=None) -> dict:
    return {
        "software": {"name": "SlicerVBQ", "version": __version__},
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "platform": {"python": sys.version.split()[0],
                     "system": f"{platform.system()} {platform.release()} {platform.machine()}"},
        "options": options.to_dict() if options is not None else None,
        "preset": preset.to_dict() if preset is not None else None,
        "measurement": dict(MEASUREMENT),
        "inputs": {},
        "dicom": None,
    }


def build_provenance(image_input, image_path, segmentation_path, labels=None, options=None, preset=None,
                     hashes: Optional[dict] = None) -> dict:
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
