"""The image reference of one DICOM series: ``FOLDER#series=SERIES_INSTANCE_UID``.

A folder that holds several series mixed (a flat PACS export) cannot stand for one series, so ``vbq intake``
writes ``FOLDER#series=UID`` there: a plain string a user can read and type, which every ``vbq`` command that
takes an IMAGE (``score``, ``batch``, ``web``, ``agreement``) reads as exactly the files of that series in
FOLDER (or, when the series is spread over sub-folders, below FOLDER). A path that exists as written is
always taken as written (a file may have ``#`` in its name); only a path that does not exist is split.
"""

from __future__ import annotations

import os
from typing import NamedTuple

MARK = "#series="


class SeriesReference(NamedTuple):
    folder: str
    series_uid: str | None


def make_reference(folder, series_uid: str) -> str:
    return f"{folder}{MARK}{series_uid}"


def split_reference(path) -> SeriesReference:
    """``(folder, series_uid)`` of ``FOLDER#series=UID``; ``(path, None)`` for anything else (including a path
    that exists as written)."""
    text = os.fspath(path)
    if MARK in text and not os.path.exists(text):
        folder, _, uid = text.rpartition(MARK)
        uid = uid.strip()
        if folder and uid:
            return SeriesReference(folder, uid)
    return SeriesReference(text, None)


def image_exists(path) -> bool:
    """True when ``path`` (a file, a folder or ``FOLDER#series=UID``) names something that exists."""
    folder, _ = split_reference(path)
    return os.path.exists(folder)
