"""Files sent by the page's Open dialog: streamed to disk over an authenticated HTTP endpoint, never held in memory.

``POST /vbq/upload?kind=image|segmentation|labels&name=<file name>`` with the file as the request body (the page's
``fetch(…, {body: file})``: the browser streams it from disk). The server (behind :mod:`vbq_web.access`):

- takes the base name only: a name with ``/``, ``\\``, ``..``, a NUL, or an empty name is refused (400, one
  message) -- nothing is ever written outside the upload folder;
- refuses a body over the limit (default 2 GiB, ``--max-upload``): at once from ``Content-Length``, or as soon as
  the streamed bytes pass it (the partial file is removed): 413;
- writes each file in 1 MiB pieces to a fresh private folder (``mkdtemp``: 0700, created with ``O_EXCL`` and
  without following links), one sub-folder per kind.

trame-slicer's own upload (``load_files_by_chunks`` + ``write_client_files_to_dir``) sends whole files through
the websocket (held in memory) and joins the client's name to the folder unchecked; this app does not use it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Optional

from VBQScoreLib.errors import VBQInputError

KINDS = ("image", "segmentation", "labels")
DEFAULT_MAX_UPLOAD = 2 * 1024 ** 3
PIECE = 1 << 20
DETACHED_HEADERS = (".nhdr", ".mhd")  # uploaded with their data files: the header is what is opened
NAME_REFUSED = ("upload refused: '{name}' is not a plain file name (no folders, no '..', not empty, "
                "at most 255 characters)")


def check_upload_name(name) -> str:
    """The client's file name if it is a plain base name; else :class:`VBQInputError` (one message)."""
    text = name if isinstance(name, str) else ""
    shown = " ".join(str(name)[:80].split()) if name is not None else ""
    if (not text or text in (".", "..") or ".." in text or "/" in text or "\\" in text or "\x00" in text
            or len(text.encode("utf-8", "replace")) > 255 or text != text.strip() or not text.isprintable()):
        raise VBQInputError(NAME_REFUSED.format(name=shown))
    return text


def parse_size(text: str) -> int:
    """``2G``, ``500M``, ``100k`` or a number of bytes (binary units)."""
    t = str(text).strip().upper().removesuffix("B").removesuffix("I")
    units = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}
    try:
        if t and t[-1] in units:
            value = int(float(t[:-1]) * units[t[-1]])
        else:
            value = int(t)
    except ValueError:
        raise VBQInputError(f"--max-upload {text}: a size like 2G, 500M or a number of bytes") from None
    if value <= 0:
        raise VBQInputError(f"--max-upload {text}: must be more than 0 bytes")
    return value


class UploadStore:
    """The uploads of one server: a private root folder; ``pending`` holds what the dialog received so far, and
    :meth:`take` hands it to the case being opened (kept while the case is shown)."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_UPLOAD, on_change: Optional[Callable[[str], None]] = None,
                 enabled: bool = True):
        self.max_bytes = int(max_bytes)
        self.enabled = enabled
        self.on_change = on_change
        self.root = Path(tempfile.mkdtemp(prefix="vbq-web-uploads-"))  # 0700
        self._pending: Optional[Path] = None
        self._shown: Optional[Path] = None

    # -- folders
    def _pending_dir(self) -> Path:
        if self._pending is None:
            self._pending = Path(tempfile.mkdtemp(prefix="case-", dir=self.root))
        return self._pending

    def names(self, kind: str) -> list[str]:
        if self._pending is None or not (self._pending / kind).is_dir():
            return []
        return sorted(p.name for p in (self._pending / kind).iterdir() if not p.name.startswith(".part-"))

    def reset(self, kind: Optional[str] = None) -> None:
        """Forget the pending files of ``kind`` (all kinds when None)."""
        if self._pending is None:
            return
        if kind is None:
            shutil.rmtree(self._pending, ignore_errors=True)
            self._pending = None
        elif kind in KINDS:
            shutil.rmtree(self._pending / kind, ignore_errors=True)

    def take(self) -> tuple[dict, Path]:
        """The pending files as ``{kind: path}`` (several image files: their folder, a DICOM series), and the
        folder that holds them; the dialog starts empty again."""
        folder = self._pending
        if folder is None or not self.names("image"):
            raise VBQInputError("choose the MRI file (or all files of a DICOM series) first")
        paths = {}
        for kind in KINDS:
            names = self.names(kind)
            headers = [n for n in names if n.lower().endswith(DETACHED_HEADERS)]
            if len(names) == 1 or len(headers) == 1:  # one file, or a header with its data file(s) beside it
                paths[kind] = str(folder / kind / (headers or names)[0])
            elif names:  # several: the files of a DICOM series
                paths[kind] = str(folder / kind)
        self._pending = None
        return paths, folder

    def shown(self, folder: Optional[Path]) -> None:
        """``folder`` (from :meth:`take`) now holds the case shown: the previous one is removed."""
        if self._shown is not None and self._shown != folder:
            shutil.rmtree(self._shown, ignore_errors=True)
        self._shown = folder

    def discard(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)

    def contains(self, path) -> bool:
        """``path`` lies inside this store's folder (uploads the page may open)."""
        try:
            p = Path(os.path.realpath(path))
            return Path(os.path.realpath(self.root)) in p.parents
        except (OSError, ValueError):
            return False

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    # -- HTTP
    def install(self, server) -> None:
        server.controller.on_server_bind.add(
            lambda wslink_server: wslink_server.app.router.add_post("/vbq/upload", self.handler))

    async def handler(self, request):
        from aiohttp import web

        def fail(status, text):
            return web.Response(status=status, text=text + "\n", headers={"Connection": "close"})

        if not self.enabled:
            return fail(403, "upload refused: this server opens only the cases of its worklist")
        kind = request.query.get("kind", "")
        if kind not in KINDS:
            return fail(400, f"upload refused: kind must be one of {', '.join(KINDS)}")
        try:
            name = check_upload_name(request.query.get("name"))
        except VBQInputError as exc:
            return fail(400, str(exc))
        limit = self.max_bytes
        too_big = f"upload refused: {name} is larger than the limit of {limit} bytes (--max-upload)"
        if request.content_length is not None and request.content_length > limit:
            return fail(413, too_big)
        folder = self._pending_dir() / kind
        folder.mkdir(mode=0o700, exist_ok=True)
        part = folder / f".part-{os.urandom(8).hex()}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(part, flags, 0o600)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                async for piece in request.content.iter_chunked(PIECE):
                    size += len(piece)
                    if size > limit:
                        raise OverflowError
                    out.write(piece)
        except OverflowError:
            part.unlink(missing_ok=True)
            return fail(413, too_big)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        os.replace(part, folder / name)
        if self.on_change is not None:
            self.on_change(kind)
        return web.json_response({"name": name, "bytes": size})


#: JS of the Open dialog: each chosen file is POSTed as it is on disk (the browser streams it), then the server
#: is told that the input's files are all there
UPLOAD_JS = r"""
window.vbqUpload = async function (files, kind) {
  await window.trame.trigger('vbq_upload_reset', [kind]);
  for (const f of Array.from(files || [])) {
    const url = `vbq/upload?kind=${encodeURIComponent(kind)}&name=${encodeURIComponent(f.name)}`;
    let text = null;
    try {
      const r = await fetch(url, { method: 'POST', body: f, credentials: 'same-origin' });
      if (!r.ok) { text = (await r.text()).trim(); }
    } catch (e) {
      text = `upload of ${f.name} failed (${e})`;
    }
    if (text !== null) {
      await window.trame.trigger('vbq_upload_failed', [kind, text]);
      return;
    }
  }
  await window.trame.trigger('vbq_upload_done', [kind]);
};
"""
