"""``vbq intake --dicomweb`` against a real PACS: Orthanc with its DICOMweb plugin, started by the test on
127.0.0.1 (a free port, no DICOM port, HTTP basic authentication, a temporary storage folder), filled with the
studies of ``test_intake`` through its REST API. Skipped when Orthanc is not installed (CI installs it; there a
skip fails the run)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

ORTHANC = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if os.path.exists("/usr/sbin/Orthanc") else None)
PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
USER, PASSWORD = "vbq", "intake-test-secret"

pytestmark = pytest.mark.skipif(not ORTHANC or not os.path.exists(PLUGIN),
                                reason="Orthanc with the DICOMweb plugin is not installed (Debian: orthanc "
                                "orthanc-dicomweb)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    import requests

    from test_intake import _studies
    from VBQScoreLib.dicom.synthetic import write_study

    base = tmp_path_factory.mktemp("orthanc")
    port = _free_port()
    config = {
        "Name": "vbq-intake-test", "StorageDirectory": str(base / "db"), "IndexDirectory": str(base / "db"),
        "HttpPort": port, "RemoteAccessAllowed": False, "DicomServerEnabled": False,
        "AuthenticationEnabled": True, "RegisteredUsers": {USER: PASSWORD},
        "Plugins": [PLUGIN], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}, "SaveJobs": False,
    }
    (base / "orthanc.json").write_text(json.dumps(config))
    log = open(base / "orthanc.log", "w")
    proc = subprocess.Popen([ORTHANC, str(base / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    auth = (USER, PASSWORD)
    try:
        deadline = time.monotonic() + 60  # a loaded CI machine can take a while
        while True:
            try:
                if requests.get(f"{url}/system", auth=auth, timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
            if proc.poll() is not None:
                pytest.fail(f"Orthanc exited: {(base / 'orthanc.log').read_text()[-500:]}")
            if time.monotonic() > deadline:
                pytest.fail("Orthanc did not answer within 60 s")
        specs = _studies()
        export = base / "export"
        for st, layout, sub, _, _ in specs:
            write_study(st, export / sub if sub else export, layout)
        n = 0
        for p in sorted(export.rglob("*")):
            if p.is_file() and p.name != "DICOMDIR":
                r = requests.post(f"{url}/instances", data=p.read_bytes(), auth=auth, timeout=30)
                assert r.ok, r.text
                n += 1
        yield url, specs, n
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
        log.close()


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_dicomweb_intake_chooses_and_downloads_only_the_chosen_series(orthanc, tmp_path, monkeypatch, capsys):
    import SimpleITK as sitk

    from test_intake import ISSUE_COLUMNS, _case_id
    from VBQScoreLib.input.images import read_image
    from vbq_cli.main import main

    url, specs, _ = orthanc
    monkeypatch.setenv("VBQ_DICOMWEB_USER", USER)
    monkeypatch.setenv("VBQ_DICOMWEB_PASSWORD", PASSWORD)
    cache, out = tmp_path / "cache", tmp_path / "manifest.csv"
    assert main(["intake", "--dicomweb", f"{url}/dicom-web", "--cache", str(cache), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    with open(out, newline="") as f:
        assert next(csv.reader(f)) == ISSUE_COLUMNS
    rows = {r["study_uid"]: r for r in _rows(out)}
    assert len(rows) == len(specs)
    chosen = 0
    for st, _, _, status, number in specs:
        r = rows[st.uid]
        assert r["case_id"] == _case_id(st, specs) and r["status"] == status, (st.patient_id, r["reason"])
        if number is None:
            assert r["image"] == ""
            continue
        chosen += 1
        se = next(s for s in st.series if s.number == number)
        assert r["series_uid"] == se.uid and float(r["tr_ms"]) == se.tr and int(r["n_slices"]) == se.n_slices
        img = read_image(r["image"])
        values = sorted({int(v) for v in sitk.GetArrayFromImage(img.image).ravel()})
        assert values == [100 * number + k for k in range(se.n_slices)]
    # only the chosen series were downloaded
    folders = [p for p in cache.glob("*/*") if p.is_dir()]
    assert len(folders) == chosen and f"downloaded {chosen} series" in err
    assert sum(1 for p in cache.rglob("*.dcm")) == sum(
        next(s for s in st.series if s.number == n).n_slices for st, _, _, _, n in specs if n is not None)
    # no patient name or birth date in the manifest or the messages (Orthanc returns them by default)
    text = out.read_text() + err
    assert "Doe" not in text and "19500101" not in text
    # a second run finds everything in the cache
    assert main(["intake", "--dicomweb", f"{url}/dicom-web", "--cache", str(cache), "--out", str(out)]) == 1
    assert "downloaded" not in capsys.readouterr().err


def test_dicomweb_same_choices_as_the_folder_scan(orthanc, tmp_path, monkeypatch):
    from vbq_cli.main import main

    from test_intake import _studies
    from VBQScoreLib.dicom.synthetic import write_study

    url, _, _ = orthanc
    monkeypatch.setenv("VBQ_DICOMWEB_USER", USER)
    monkeypatch.setenv("VBQ_DICOMWEB_PASSWORD", PASSWORD)
    export = tmp_path / "export"
    for st, layout, sub, _, _ in _studies():
        write_study(st, export / sub if sub else export, layout)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    main(["intake", str(export), "--out", str(a), "--no-progress"])
    main(["intake", "--dicomweb", f"{url}/dicom-web", "--cache", str(tmp_path / "c"), "--out", str(b),
          "--no-progress"])
    strip = lambda rows: sorted(({k: v for k, v in r.items() if k != "image"} for r in rows),  # noqa: E731
                                key=lambda r: r["study_uid"])
    assert strip(_rows(a)) == strip(_rows(b))


def test_unreachable_server_and_wrong_password_exit_2(orthanc, tmp_path, monkeypatch, capsys):
    from vbq_cli.main import main

    url, _, _ = orthanc
    out = tmp_path / "m.csv"
    monkeypatch.setenv("VBQ_DICOMWEB_USER", USER)
    monkeypatch.setenv("VBQ_DICOMWEB_PASSWORD", "wrong")
    assert main(["intake", "--dicomweb", f"{url}/dicom-web", "--cache", str(tmp_path / "c"), "--out",
                 str(out)]) == 2
    e = capsys.readouterr().err.strip()
    assert e.count("\n") == 0 and "HTTP 401" in e and "wrong" not in e
    dead = _free_port()
    assert main(["intake", "--dicomweb", f"http://127.0.0.1:{dead}/dicom-web", "--cache", str(tmp_path / "c"),
                 "--out", str(out)]) == 2
    e = capsys.readouterr().err.strip()
    assert e.count("\n") == 0 and "cannot connect" in e
    assert main(["intake", "--dicomweb", f"{url}/dicom-web", "--out", str(out)]) == 2
    assert "needs --cache" in capsys.readouterr().err
    assert not out.exists()


def test_query_filters_the_studies(orthanc, tmp_path, monkeypatch, capsys):
    from vbq_cli.main import main

    url, specs, _ = orthanc
    monkeypatch.setenv("VBQ_DICOMWEB_USER", USER)
    monkeypatch.setenv("VBQ_DICOMWEB_PASSWORD", PASSWORD)
    out = tmp_path / "m.csv"
    assert main(["intake", "--dicomweb", f"{url}/dicom-web", "--cache", str(tmp_path / "c"), "--out", str(out),
                 "--query", "StudyDate=20240601", "--no-progress"]) == 0
    rows = _rows(out)
    assert [(r["case_id"], r["study_date"], r["status"]) for r in rows] == [("TWICE", "20240601", "ok")]
    assert main(["intake", "--dicomweb", f"{url}/dicom-web", "--cache", str(tmp_path / "c"), "--out", str(out),
                 "--query", "StudyDate=19990101"]) == 2
    assert "holds no study matching StudyDate=19990101" in capsys.readouterr().err
