"""The scan cache of ``vbq intake --cache DIR``: each file's header record keyed by its path, size and
modification time (nanoseconds). A file whose three keys are unchanged is not read again; a changed, new or
removed file is. One JSON file per SOURCE folder (``DIR/index-<hash of the folder's path>.json``), written
atomically; a damaged or foreign cache file is ignored (everything is read again)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

VERSION = 1


class IndexCache:
    def __init__(self, folder, source) -> None:
        from .index import FIELDS

        self.folder = Path(folder)
        src = os.path.abspath(source)
        self.path = self.folder / f"index-{hashlib.sha256(src.encode()).hexdigest()[:16]}.json"
        self._fields = list(FIELDS)
        self.entries: dict = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("version") == VERSION and data.get("fields") == self._fields and data.get("source") == src:
                self.entries = data["files"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.entries = {}
        self.source = src

    def get(self, path: str, size: int, mtime_ns: int):
        e = self.entries.get(path)
        if e is not None and e[0] == size and e[1] == mtime_ns:
            return e[2], e[3]
        return None

    changed = True

    def update(self, results: dict, n_hits: int) -> None:
        """Replace the entries with ``{path: (size, mtime_ns, (kind, data))}`` (the files of this scan);
        ``n_hits``: how many of them came from the cache (all of them, and no file gone: nothing to save)."""
        self.changed = not (n_hits == len(results) == len(self.entries))
        if self.changed:
            self.entries = {p: [s, m, r[0], r[1]] for p, (s, m, r) in results.items()}

    def save(self) -> None:
        from ..atomic import write_text_atomic

        if not self.changed:
            return

        self.folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.path, json.dumps({"version": VERSION, "source": self.source,
                                                 "fields": self._fields, "files": self.entries},
                                                separators=(",", ":")))
