"""``vbq web`` attacked as a stranger on this computer would (issue 15): the real command on a free loopback port,
raw HTTP and websocket clients (aiohttp + msgpack speaking wslink, Testing/wslink_client.py) for what a browser
would not send, and headless Chromium for what a page of another origin can do with the browser's cookie.

Every test here states what the server must refuse and checks the effect (files that must not appear, state that
must not arrive, memory that must not grow), so each fails against a server without the protection.
"""

from __future__ import annotations

import http.server
import re
import shutil
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytest.importorskip("trame_slicer", reason="vbq web needs the [web] extra (pip install -e '.[test,web]')")
import aiohttp  # noqa: E402
import psutil  # noqa: E402
import SimpleITK as sitk  # noqa: E402

from vbq_web import browser as B  # noqa: E402

import wslink_client as W  # noqa: E402

REFUSED = "vbq web: open the link printed in the terminal (http://…/?token=…)\n"
LINK_LINE = re.compile(r"^vbq web: open (http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]{40,})) in a browser "
                       r"\(Ctrl\+C stops\)$")
OUTSIDE = "its header names a data file outside the header's folder (an absolute path or '..'); such files are not read"
NOT_OPENABLE = "the page can open only the files given on the command line or uploaded with Open"


class Web:
    def __init__(self, server, out, tmp):
        self.server, self.out, self.tmp = server, out, tmp
        self.link = server.url
        parts = urlsplit(server.url)
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.port = parts.port
        self.token = parts.query.removeprefix("token=")
        self.cookie = {f"vbq-web-token-{self.port}": self.token}
        self.origin = self.base

    async def client(self):
        """An authenticated raw websocket client (the cookie, this origin, the secret the page is given)."""
        async with aiohttp.ClientSession(cookies=self.cookie) as s:
            async with s.post(f"{self.base}/paraview/") as r:
                secret = (await r.json())["secret"] if r.status == 200 else W.DEFAULT_SECRET
        c = await W.WslinkClient.connect(self.base, cookies=self.cookie, origin=self.origin)
        reply = await c.hello(secret)
        assert "result" in reply, reply
        return c

    async def call(self, *triggers):
        """Run ``(name, *args)`` triggers in order over one authenticated websocket; returns the final state."""
        c = await self.client()
        try:
            for name, *args in triggers:
                await c.trigger(name, *args)
            return (await c.state())["result"]["state"]
        finally:
            await c.close()


@pytest.fixture(scope="module")
def web(real_t1_path, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web-security")
    out = tmp / "out"
    out.mkdir()
    with B.Server([real_t1_path, "--out", out], env={"TMPDIR": str(tmp)}) as server:
        yield Web(server, out, tmp)


def _get(url, cookies=None, headers=None, method="GET", data=None):
    async def go():
        async with aiohttp.ClientSession(cookies=cookies or {}) as s:
            async with s.request(method, url, headers=headers or {}, data=data, allow_redirects=False) as r:
                return r.status, await r.text(), r.headers
    return W.run(go())


def test_the_link_carries_a_random_token_in_the_printed_form(web):
    line = next(x for x in web.server.stdout if x.startswith("vbq web: open")).rstrip("\n")
    m = LINK_LINE.match(line)
    assert m, line
    assert int(m.group(2)) == web.port and m.group(1) == web.link


def test_http_without_a_valid_token_is_refused_and_shows_nothing_of_the_case(web):
    wrong = web.token[:-4] + ("aaaa" if not web.token.endswith("aaaa") else "bbbb")
    for url, cookies in ((f"{web.base}/", None), (f"{web.base}/index.html", None),
                         (f"{web.base}/?token=", None), (f"{web.base}/?token={wrong}", None),
                         (f"{web.base}/index.html", {f"vbq-web-token-{web.port}": wrong}),
                         (f"{web.base}/index.html", {f"vbq-web-token-{web.port + 1}": web.token})):
        status, body, _ = _get(url, cookies)
        assert (status, body) == (403, REFUSED), url
        assert "sct_t1w" not in body
    status, body, _ = _get(f"{web.base}/paraview/", method="POST")
    assert (status, body) == (403, REFUSED)  # the websocket secret is not given away either
    # with the token: the page, and the cookie that keeps it (HttpOnly, SameSite=Strict)
    status, _, headers = _get(web.link)
    assert status in (200, 302)
    cookie = headers.get("Set-Cookie", "")
    assert cookie.startswith(f"vbq-web-token-{web.port}={web.token};") and "HttpOnly" in cookie and \
        "SameSite=Strict" in cookie
    status, body, _ = _get(f"{web.base}/index.html", web.cookie)
    assert status == 200 and 'id="app"' in body


def test_websocket_without_token_wrong_origin_or_trames_default_secret_gets_nothing(web):
    async def attacks():
        results = {}
        for label, cookies, origin in (("no cookie", None, None), ("no cookie, own origin", None, web.origin),
                                       ("wrong token", {f"vbq-web-token-{web.port}": "x" * 43}, web.origin),
                                       ("cookie, another origin", web.cookie, "http://127.0.0.1:1"),
                                       ("cookie, evil host", web.cookie, "http://evil.example")):
            try:
                c = await W.WslinkClient.connect(web.base, cookies=cookies, origin=origin)
            except W.Refused as exc:
                results[label] = exc.status
            else:
                reply = await c.hello(W.DEFAULT_SECRET)
                state = await c.state()
                await c.close()
                results[label] = (reply, state)
        # the cookie and the right origin, but trame's fixed default secret: authentication fails, no state
        c = await W.WslinkClient.connect(web.base, cookies=web.cookie, origin=web.origin)
        hello = await c.hello(W.DEFAULT_SECRET)
        state = await c.state()
        await c.close()
        return results, hello, state

    results, hello, state = W.run(attacks())
    assert results == {k: 403 for k in results}, results
    assert "error" in hello and "result" not in hello
    assert "error" in state and "result" not in state and "sct_t1w" not in repr(state)
    # the control: the page's own way in works and sees the case
    shown = W.run(web.call())
    assert shown["vbq_title"] == "sct_t1w"


def test_a_page_of_another_loopback_port_cannot_connect_even_with_the_cookie(web, tmp_path):
    pytest.importorskip("playwright", reason="playwright (PyPI) drives the browser: pip install -e '.[test,web]'")
    if B.chromium_path() is None:
        pytest.skip("no Chromium (Debian: apt-get install chromium)")
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "index.html").write_text(f"""<!doctype html><html><body><script>
window.wsResult = new Promise((resolve) => {{
  const ws = new WebSocket('ws://127.0.0.1:{web.port}/ws');
  ws.onopen = () => resolve('open');
  ws.onerror = () => resolve('refused');
}});
window.uploadResult = fetch('http://127.0.0.1:{web.port}/vbq/upload?kind=image&name=evil.nii.gz',
  {{ method: 'POST', mode: 'no-cors', credentials: 'include', body: 'not an image' }})
  .then(() => 'sent', () => 'refused');
</script></body></html>""")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(evil), **k)

        def log_message(self, *_):
            pass

    with socketserver.TCPServer(("127.0.0.1", 0), Quiet) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            with B.browser_page() as page:
                page.goto(f"{web.base}/")  # without the token: the refusal, nothing of the case
                assert page.locator("body").inner_text().strip() == REFUSED.strip()
                assert "sct_t1w" not in page.content() and page.locator("img").count() == 0
                problems = []
                page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
                page.on("response", lambda r: problems.append(f"{r.status} {r.request.method} {r.url}")
                        if r.status >= 400 else None)
                page.goto(web.link)  # the reader's tab: the cookie is set
                B.wait_rendered(page)
                # no console errors (trame's POST /paraview/ is answered), and the token left the address bar
                assert problems == [] and "token" not in page.url
                page.reload()  # the cookie alone lets the page in again
                B.wait_rendered(page)
                own = page.evaluate(f"""() => new Promise((resolve) => {{
                    const ws = new WebSocket('ws://127.0.0.1:{web.port}/ws');
                    ws.onopen = () => {{ ws.close(); resolve('open'); }}; ws.onerror = () => resolve('refused'); }})""")
                assert own == "open"  # control: from its own origin, the cookie opens the websocket
                page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/index.html")
                assert page.evaluate("() => window.wsResult") == "refused"
                page.evaluate("() => window.uploadResult")
        finally:
            httpd.shutdown()
    state = W.run(web.call())
    assert state["vbq_upload_image_names"] == []
    assert not list(web.tmp.rglob("evil.nii.gz"))


def test_upload_names_with_folders_or_dots_are_refused_and_nothing_lands_outside(web, tmp_path):
    target = tmp_path / "escaped.txt"

    # the old way in: trame-slicer's websocket upload with a client-chosen name (an absolute path)
    async def old_way():
        c = await web.client()
        try:
            files = [{"name": str(target), "size": 7, "type": "", "lastModified": 0, "content": b"payload"}]
            await c.trigger("vbq_upload_image", files)
            await c.trigger("vbq_upload_image", [])
            await c.trigger("vbq_open_uploads")
        finally:
            await c.close()

    W.run(old_way())
    assert not target.exists()
    # the upload endpoint: plain base names only, one message
    names = ["../escaped.txt", "../../escaped.txt", str(target), "a/b.nii", "a\\b.nii", "..", ".", "",
             "x/../../escaped.txt"]
    for name in names:
        status, body, _ = _get(f"{web.base}/vbq/upload?kind=image&name={name}", web.cookie, method="POST",
                               data=b"payload")
        assert status == 400, name
        assert body.startswith("upload refused: '") and "is not a plain file name" in body and body.count("\n") == 1
    assert not target.exists() and not list(web.tmp.rglob("escaped.txt"))
    # a good name lands in the private upload folder (0700), the file readable by this user only
    status, body, _ = _get(f"{web.base}/vbq/upload?kind=labels&name=labels.txt", web.cookie, method="POST",
                           data=b"1=C3\n")
    assert status == 200, body
    (landed,) = web.tmp.glob("vbq-web-uploads-*/case-*/labels/labels.txt")
    root = next(web.tmp.glob("vbq-web-uploads-*"))
    assert root.stat().st_mode & 0o777 == 0o700 and landed.parent.parent.stat().st_mode & 0o777 == 0o700
    assert landed.stat().st_mode & 0o777 == 0o600 and landed.read_bytes() == b"1=C3\n"
    W.run(web.call(("vbq_clear_uploads",)))
    assert not landed.exists()


def _rss(pid) -> int:
    return psutil.Process(pid).memory_info().rss


def test_an_upload_over_the_limit_is_refused_early_without_growing_memory(web):
    pid = web.server.proc.pid
    before = _rss(pid)

    async def declared_3gb():
        reader, writer = await __import__("asyncio").open_connection("127.0.0.1", web.port)
        writer.write((f"POST /vbq/upload?kind=image&name=big.nii HTTP/1.1\r\nHost: 127.0.0.1:{web.port}\r\n"
                      f"Cookie: vbq-web-token-{web.port}={web.token}\r\nContent-Length: {3 * 10 ** 9}\r\n\r\n")
                     .encode())
        writer.write(b"\0" * (1 << 20))
        await writer.drain()
        status = await reader.readline()
        writer.close()
        return status.decode()

    status = W.run(declared_3gb())
    assert status.startswith("HTTP/1.1 413")
    assert _rss(pid) - before < 20 * 2 ** 20
    print(f"\n3 GB declared upload: 413 at once; server RSS {before / 2 ** 20:.0f} -> {_rss(pid) / 2 ** 20:.0f} MiB")


def test_streamed_upload_over_max_upload_stops_at_the_limit(real_t1_path, tmp_path):
    """A 3 GB body without Content-Length (chunked) to a server with --max-upload 64M: refused once 64 MiB have
    arrived, the partial file removed, memory flat; --token from VBQ_WEB_TOKEN, served over HTTPS."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl (Debian: apt-get install openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    token = "tok-" + "x" * 40
    with B.Server([real_t1_path, "--out", tmp_path, "--max-upload", "64M", "--certfile", cert, "--keyfile", key],
                  env={"VBQ_WEB_TOKEN": token, "TMPDIR": str(tmp_path)}) as server:
        assert server.url.startswith("https://127.0.0.1:") and server.url.endswith(f"/?token={token}")
        port = urlsplit(server.url).port
        pid = server.proc.pid
        before = _rss(pid)
        peak = [before]
        sent = [0]

        async def body():
            piece = b"\0" * (1 << 20)
            for _ in range(3 * 1024):
                sent[0] += len(piece)
                peak[0] = max(peak[0], _rss(pid))
                yield piece

        async def go():
            async with aiohttp.ClientSession(cookies={f"vbq-web-token-{port}": token}) as s:
                try:
                    async with s.post(f"https://127.0.0.1:{port}/vbq/upload?kind=image&name=big.nii", data=body(),
                                      ssl=False) as r:
                        return r.status, await r.text()
                except (aiohttp.ClientError, ConnectionError) as exc:
                    return None, repr(exc)

        status, text = W.run(go(), timeout=300)
        assert status in (413, None), (status, text)
        if status == 413:
            assert text.strip() == "upload refused: big.nii is larger than the limit of 67108864 bytes (--max-upload)"
        assert sent[0] < 1024 * 2 ** 20  # stopped long before 3 GB
        time.sleep(0.5)
        assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.stat().st_size > 2 ** 20 and
                    p.suffix not in (".pem",)]
        assert peak[0] - before < 100 * 2 ** 20
        print(f"\nstreamed 3 GB upload, --max-upload 64M: stopped after {sent[0] / 2 ** 20:.0f} MiB sent; server RSS "
              f"{before / 2 ** 20:.0f} MiB, peak {peak[0] / 2 ** 20:.0f} MiB")


def _nhdr(folder: Path, name: str, data_file: str, sizes="4 4 4") -> Path:
    p = folder / name
    p.write_text(f"NRRD0004\ntype: uint8\ndimension: 3\nsizes: {sizes}\nspacings: 1 1 1\nencoding: raw\n"
                 f"data file: {data_file}\n")
    return p


def test_detached_data_outside_its_folder_is_refused_in_vbq_score_with_nothing_about_the_target(tmp_path,
                                                                                                 real_t1_path):
    inner = tmp_path / "case"
    inner.mkdir()
    (tmp_path / "x.raw").write_bytes(bytes(64))  # exists, and would be read
    secret = tmp_path / "secret.raw"
    secret.write_bytes(bytes(range(64)))
    cases = {"abs.nhdr": str(secret), "up.nhdr": "../x.raw", "datafile.nhdr": None, "list.nhdr": "LIST",
             "printf.nhdr": "../slice%d.raw 1 1 1 2", "missing.nhdr": "/nonexistent/file.raw"}
    made = []
    for name, df in cases.items():
        if name == "datafile.nhdr":
            p = inner / name
            p.write_text(f"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4 4 4\nencoding: raw\ndatafile: {secret}\n")
        elif df == "LIST":
            p = inner / name
            p.write_text("NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4 4 4\nencoding: raw\ndata file: LIST 2\n"
                         "ok.raw\n../x.raw\n")
        else:
            p = _nhdr(inner, name, df)
        made.append(p)
    (tmp_path / "slice1.raw").write_bytes(bytes(64))
    seg = inner / "evil.seg.nrrd"
    seg.write_text(f"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4 4 4\nencoding: raw\ndata file: {secret}\n"
                   "Segment0_ID:=C3\nSegment0_Name:=C3\nSegment0_LabelValue:=1\nSegment0_Layer:=0\n")
    mhd = inner / "evil.mhd"
    mhd.write_text(f"ObjectType = Image\nNDims = 3\nDimSize = 4 4 4\nElementType = MET_UCHAR\n"
                   f"ElementDataFile = {secret}\n")
    for p in [*made, mhd]:
        r = subprocess.run([sys.executable, "-m", "vbq_cli", "score", p, seg], capture_output=True, text=True)
        assert r.returncode == 2 and r.stderr == f"vbq score: error: {p}: {OUTSIDE}\n", (p, r.stderr)
        assert "secret" not in r.stderr and "x.raw" not in r.stderr and "bytes" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "vbq_cli", "score", real_t1_path, seg], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr == f"vbq score: error: {seg}: {OUTSIDE}\n"
    # the segmentation overlap of vbq agreement reads through the same reader
    from VBQScoreLib.errors import VBQInputError
    from VBQScoreLib.overlap import overlap_files

    with pytest.raises(VBQInputError) as refused:
        overlap_files(real_t1_path, {"R1": str(seg), "R2": str(seg)})
    assert str(refused.value) == f"{seg}: {OUTSIDE}"
    # a manifest of vbq batch: the same refusal for that case
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"case_id,image,segmentation\nP1,{real_t1_path},{seg}\n")
    r = subprocess.run([sys.executable, "-m", "vbq_cli", "batch", manifest, "--out", tmp_path / "b.csv"],
                       capture_output=True, text=True)
    import csv

    with open(tmp_path / "b.csv", newline="", encoding="utf-8") as f:
        row = next(csv.DictReader(f))
    assert r.returncode != 0 and row["status"] == "failed" and row["error"] == f"{seg}: {OUTSIDE}"


def test_declared_voxels_over_the_limit_are_refused_before_decoding(tmp_path, real_t1_path):
    bomb = _nhdr(tmp_path, "bomb.nhdr", "bomb.raw", sizes="4000 4000 4000")
    r = subprocess.run([sys.executable, "-m", "vbq_cli", "score", bomb, tmp_path / "s.seg.nrrd"], capture_output=True,
                       text=True)
    assert r.returncode == 2 and r.stderr == (f"vbq score: error: {bomb}: its header declares 64000000000 voxels "
                                              "(64000000000 bytes decoded), more than the limit of 2147483648 "
                                              "(--max-voxels); not read\n")
    # a real (gzip-compressed NIfTI) image over a small limit: SimpleITK's header read gives the count
    img = sitk.ReadImage(str(real_t1_path))
    n = img.GetNumberOfPixels()
    r = subprocess.run([sys.executable, "-m", "vbq_cli", "score", real_t1_path, tmp_path / "s.seg.nrrd",
                        "--max-voxels", str(n - 1)], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr == (f"vbq score: error: {real_t1_path}: its header declares {n} voxels, "
                                              f"more than the limit of {n - 1} (--max-voxels); not read\n")


def test_web_refuses_detached_data_arbitrary_paths_and_client_case_ids(web, tmp_path, real_t1_path):
    # an uploaded .nhdr naming a server file: refused with the one line, nothing of the target
    secret = tmp_path / "secret.raw"
    secret.write_bytes(bytes(range(64)))
    status, body, _ = _get(f"{web.base}/vbq/upload?kind=image&name=evil.nhdr", web.cookie, method="POST",
                           data=(f"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4 4 4\nencoding: raw\n"
                                 f"data file: {secret}\n").encode())
    assert status == 200, body
    state = W.run(web.call(("vbq_open_uploads",)))
    assert state["vbq_error"].endswith(f"evil.nhdr: {OUTSIDE}") and "secret" not in state["vbq_error"]
    assert state["vbq_title"] == "sct_t1w"  # the case shown stays

    # a detached header uploaded with its data file beside it: opened (the data file stays in the upload folder)
    img = sitk.ReadImage(str(real_t1_path))
    detached = tmp_path / "detached"
    detached.mkdir()
    sitk.WriteImage(img, str(detached / "t1pair.nhdr"))
    pair = sorted(detached.iterdir())
    assert len(pair) == 2
    for f in pair:
        status, body, _ = _get(f"{web.base}/vbq/upload?kind=image&name={f.name}", web.cookie, method="POST",
                               data=f.read_bytes())
        assert status == 200, body
    state = W.run(web.call(("vbq_open_uploads",)))
    assert state["vbq_error"] == "" and state["vbq_title"] == "t1pair"
    W.run(web.call(("vbq_load", str(real_t1_path))))  # back to the case of the command line

    # the load trigger: only the files given; one message whether a path exists, is an image, or not
    other = tmp_path / "other.nii.gz"
    shutil.copy(real_t1_path, other)
    errors = set()
    for path in ("/etc/passwd", "/nonexistent/x.nii.gz", str(other), str(tmp_path), str(web.out / "..")):
        errors.add(W.run(web.call(("vbq_load", path)))["vbq_error"])
    assert errors == {NOT_OPENABLE}
    errors = {W.run(web.call(("vbq_load", str(real_t1_path), path)))["vbq_error"] for path in ("/etc/passwd",
                                                                                              str(other))}
    assert errors == {NOT_OPENABLE}

    # case ids from the page are file names in --out, checked as --case-id: nothing is written outside
    img = sitk.ReadImage(str(real_t1_path))
    p = img.TransformContinuousIndexToPhysicalPoint([21.0, 35.0, 30.0])
    ras = [-p[0], -p[1], p[2]]
    absolute = tmp_path / "abs-target"
    for case_id in ("../escaped", str(absolute), "a/b", ".hidden"):
        state = W.run(web.call(("vbq_load", str(real_t1_path), None, None, case_id), ("vbq_create_segments",),
                               ("vbq_paint_sphere", "C3", ras, 3.0), ("vbq_save",)))
        assert state["vbq_title"] == "sct_t1w", case_id
    assert not list(web.tmp.glob("escaped*")) and not list(tmp_path.glob("abs-target*"))
    assert not list(web.out.glob("a")) and not list(web.out.glob(".hidden*"))
    assert sorted(p.name for p in web.out.iterdir()) == ["sct_t1w.seg.nrrd"]  # no CSF yet: no VBQ files


def test_no_token_only_on_loopback_and_bad_tokens_are_one_line(real_t1_path, tmp_path):
    for argv, message in (
            (["--no-token", "--host", "0.0.0.0"], "--no-token is only for a loopback --host (127.0.0.1, localhost), "
                                                  "not 0.0.0.0"),
            (["--token", "short"], "--token: a token is 16 to 256 letters, digits, '-', '_', '.' or '~'"),
            (["--certfile", tmp_path / "c.pem"], "--certfile and --keyfile go together (HTTPS needs both)"),
            (["--max-upload", "lots"], "--max-upload lots: a size like 2G, 500M or a number of bytes")):
        r = subprocess.run([sys.executable, "-m", "vbq_cli", "web", real_t1_path, "--out", tmp_path, "--no-browser",
                            "--port", "0", *map(str, argv)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and r.stderr == f"vbq web: error: {message}\n", r.stderr


def test_a_worklist_page_opens_only_its_cases_by_next_and_previous(real_t1_path, tmp_path):
    """In a worklist the page cannot open files by path or upload (they would be saved as the current case): the
    load trigger and the upload endpoint are refused, the case shown stays."""
    other = tmp_path / "P0001.nii.gz"
    shutil.copy(real_t1_path, other)
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"case_id,image\nP0000,{real_t1_path}\nP0001,{other}\n")
    with B.Server(["--worklist", manifest, "--reader", "R1", "--out", tmp_path / "readings"],
                  env={"TMPDIR": str(tmp_path)}) as server:
        web = Web(server, tmp_path / "readings", tmp_path)
        state = W.run(web.call(("vbq_load", str(other), None, None, "P0000")))
        assert state["vbq_error"] == "in a worklist, cases are opened with Next/Previous"
        assert state["vbq_title"].startswith("P0000 ")
        status, body, _ = _get(f"{web.base}/vbq/upload?kind=image&name=x.nii.gz", web.cookie, method="POST",
                               data=other.read_bytes())
        assert (status, body) == (403, "upload refused: this server opens only the cases of its worklist\n")
        state = W.run(web.call(("vbq_open_uploads",)))
        assert state["vbq_error"] == "in a worklist, cases are opened with Next/Previous"
        assert state["vbq_title"].startswith("P0000 ")


def test_an_authenticated_websocket_cannot_announce_a_huge_message(web):
    """wslink allocates the size a message's first chunk announces (up to 4 GB once authenticated): a 3 GB
    announcement closes the connection, and memory stays flat while 200 MiB of it are sent."""
    import struct

    pid = web.server.proc.pid
    before = _rss(pid)

    async def announce():
        c = await web.client()
        piece = b"\0" * (1 << 20)
        sent = 0
        try:
            for i in range(200):
                await c.ws.send_bytes(struct.pack("<III", 7, i * len(piece), 3 * 10 ** 9) + piece)
                sent += len(piece)
        except (ConnectionError, aiohttp.ClientError):
            pass
        msg = await c.ws.receive(timeout=20)
        await c.close()
        return msg.type, sent

    kind, sent = W.run(announce())
    grown = _rss(pid) - before
    assert kind in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.ERROR), kind
    assert grown < 50 * 2 ** 20, grown
    assert W.run(web.call())["vbq_title"] == "sct_t1w"  # the server goes on
