"""A DICOMweb server as the SOURCE of ``vbq intake --dicomweb URL`` (``dicomweb-client``, extra ``[dicom]``).

- QIDO-RS: the studies (``/studies``), then, per study, every instance with the attributes the choice rules
  need (``/studies/{uid}/instances?includefield=...``: TR/TE, orientation and position are instance-level) —
  the same records as a folder scan, so the same rules decide. Patient names and birth dates that a server
  returns by default are never kept.
- WADO-RS: only the chosen series (``/studies/{uid}/series/{uid}``), into ``CACHE/<study>/<series>/`` as
  ``00001.dcm``...: written to a temporary folder and renamed when complete, so a folder that exists is
  complete and is not downloaded again.

Credentials: ``VBQ_DICOMWEB_USER`` + ``VBQ_DICOMWEB_PASSWORD`` (HTTP basic) or ``VBQ_DICOMWEB_TOKEN``
(bearer), from the environment, never from the command line (which other users of the machine can read).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..errors import VBQInputError
from ..progress import ProgressCallback, report
from .index import FIELDS, KEYWORDS, TAGS, plain_value, group


def _client(url: str):
    try:
        import requests
        from dicomweb_client.api import DICOMwebClient
    except ImportError:  # pragma: no cover - the [dicom] extra
        raise VBQInputError("--dicomweb needs the dicomweb-client package: pip install 'slicervbq[dicom]'") \
            from None
    if not url.startswith(("http://", "https://")):
        raise VBQInputError(f"--dicomweb {url}: give the server's DICOMweb root as an http:// or https:// URL")
    session = requests.Session()
    user, password = os.environ.get("VBQ_DICOMWEB_USER"), os.environ.get("VBQ_DICOMWEB_PASSWORD")
    token = os.environ.get("VBQ_DICOMWEB_TOKEN")
    if user:
        session.auth = (user, password or "")
    elif token:
        session.headers["Authorization"] = f"Bearer {token}"
    return DICOMwebClient(url.rstrip("/"), session=session)


def _short(exc: BaseException, url: str) -> str:
    """One line about a failed request, without the server's response body (it may hold patient data)."""
    import requests

    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        code = exc.response.status_code
        hint = " (set VBQ_DICOMWEB_USER/VBQ_DICOMWEB_PASSWORD or VBQ_DICOMWEB_TOKEN)" if code in (401, 403) else ""
        return f"--dicomweb {url}: the server answered HTTP {code}{hint}"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"--dicomweb {url}: cannot connect to the server"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"--dicomweb {url}: the server did not answer in time"
    return f"--dicomweb {url}: {type(exc).__name__}: {' '.join(str(exc).split())[:120]}"


class DicomWebSource:
    def __init__(self, url: str, client=None, query: dict | None = None) -> None:
        self.url = url
        self.client = client if client is not None else _client(url)
        self.query = dict(query or {})  # QIDO-RS study filters (StudyDate=20200101-20231231, ModalitiesInStudy=MR)
        self.failed: list = []  # [(study UID or series UID, reason)]: listed, the rest goes on

    def _call(self, fn, *args, **kwargs):
        import requests

        try:
            return fn(*args, **kwargs)
        except (requests.exceptions.RequestException, ValueError) as exc:
            raise VBQInputError(_short(exc, self.url)) from None

    def index(self, progress: ProgressCallback = None) -> dict:
        """``{study_uid: Study}`` with every instance's record (no file paths)."""
        from pydicom import Dataset

        studies = self._call(self.client.search_for_studies, fields=["StudyInstanceUID"], get_remaining=True,
                             search_filters=self.query or None)
        uids = []
        for item in studies or []:
            uid = (item.get("0020000D", {}).get("Value") or [None])[0]
            if uid:
                uids.append(uid)
        pairs = []
        for i, uid in enumerate(uids):
            report(progress, i, len(uids), "searching studies (QIDO-RS)")
            try:
                found = self._call(self.client.search_for_instances, study_instance_uid=uid,
                                   fields=list(KEYWORDS), get_remaining=True)
            except VBQInputError as exc:  # one study the server cannot list: listed, the others go on
                self.failed.append((uid, str(exc).split(": ", 1)[-1]))
                continue
            for item in found or []:
                item = {k: v for k, v in item.items() if k not in ("00100010", "00100030")}  # name, birth date
                ds = Dataset.from_json(item)
                rec = [plain_value(ds.get(k), f) for k, f in TAGS.items()]
                if rec[0] is None:
                    rec[0] = uid
                if rec[1]:
                    pairs.append((None, rec))
        report(progress, len(uids), len(uids), "searching studies (QIDO-RS)")
        return group(pairs)

    def download(self, todo: list, progress: ProgressCallback = None) -> int:
        """Retrieve each ``(study_uid, Series, folder)`` not yet in its folder; returns how many were fetched.
        A series that cannot be retrieved is added to :attr:`failed` (its folder is not created)."""
        fetched = 0
        for i, (study_uid, series, folder) in enumerate(todo):
            report(progress, i, len(todo), "downloading chosen series (WADO-RS)")
            folder = Path(folder)
            if folder.is_dir():
                continue
            folder.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".download.", dir=folder.parent))
            try:
                datasets = self._call(self.client.retrieve_series, study_uid, series.series_uid)
                for k, ds in enumerate(datasets, start=1):
                    ds.save_as(tmp / f"{k:05d}.dcm", enforce_file_format=True)
                os.replace(tmp, folder)
            except VBQInputError as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                self.failed.append((series.series_uid, "WADO-RS: " + str(exc).split(": ", 1)[-1]))
                continue
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            fetched += 1
        report(progress, len(todo), len(todo), "downloading chosen series (WADO-RS)")
        return fetched


__all__ = ["FIELDS", "DicomWebSource"]
