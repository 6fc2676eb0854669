"""The pieces of vbq web's access rules and uploads, and of VBQScoreLib.input.detached_data, one by one (the
attacks on a running server are in test_web_security.py)."""

from __future__ import annotations

import pytest

from VBQScoreLib.input.detached_data import _escapes, _mhd_data_files, _nrrd_data_files
from VBQScoreLib.errors import VBQInputError

pytest.importorskip("aiohttp", reason="vbq web needs the [web] extra (pip install -e '.[test,web]')")
from vbq_web.access import Access, check_token_text, is_loopback  # noqa: E402
from vbq_web.uploads import check_upload_name, parse_size  # noqa: E402


@pytest.mark.parametrize("host, loop", [("127.0.0.1", True), ("127.1.2.3", True), ("localhost", True),
                                        ("::1", True), ("[::1]", True), ("0.0.0.0", False), ("::", False),
                                        ("10.0.0.5", False), ("example.org", False), ("", False)])
def test_loopback_hosts(host, loop):
    assert is_loopback(host) is loop


def test_origin_must_be_this_server():
    a = Access("t" * 43)
    assert a.origin_ok(None, "http", "127.0.0.1:8091")  # no Origin: not a browser's cross-site request
    assert a.origin_ok("http://127.0.0.1:8091", "http", "127.0.0.1:8091")
    assert a.origin_ok("HTTP://127.0.0.1:8091", "http", "127.0.0.1:8091")
    assert a.origin_ok("http://127.0.0.1", "http", "127.0.0.1:80")  # default ports
    assert a.origin_ok("https://[::1]:8443", "https", "[::1]:8443")
    for origin in ("http://127.0.0.1:8092", "https://127.0.0.1:8091", "http://localhost:8091", "null",
                   "http://evil.example:8091", "http://127.0.0.1:8091.evil.example", ""):
        assert not a.origin_ok(origin, "http", "127.0.0.1:8091"), origin


def test_host_header_of_a_loopback_server_must_be_loopback():
    a = Access("t" * 43, host="127.0.0.1")
    assert a.host_ok("127.0.0.1:8091") and a.host_ok("localhost:8091") and a.host_ok("[::1]:8091")
    assert not a.host_ok("evil.example:8091") and not a.host_ok("10.0.0.5:8091")
    assert Access("t" * 43, host="0.0.0.0").host_ok("10.0.0.5:8091")  # served to the network: any name


def test_tokens():
    a = Access()
    assert len(a.token) >= 40 and a.token != Access().token and a.wslink_secret != "wslink-secret"
    assert a.token_ok(a.token) and not a.token_ok(a.token[:-1]) and not a.token_ok("") and not a.token_ok(None)
    assert not a.token_ok(a.token + "x") and not a.token_ok("é" * 43)
    assert Access(None, generate=False).token_ok(None)  # --no-token
    assert a.link("127.0.0.1", 8091) == f"http://127.0.0.1:8091/?token={a.token}"
    assert check_token_text("abcdefghijklmnop") == "abcdefghijklmnop"
    for bad in ("short", "a" * 257, "a b" * 8, "a&b" * 8, "ü" * 16):
        with pytest.raises(VBQInputError):
            check_token_text(bad)


def test_upload_names_are_plain_base_names():
    for good in ("t1.nii.gz", "IM-0001-0001.dcm", "scan v2.nrrd", "a.b.c"):
        assert check_upload_name(good) == good
    for bad in ("", ".", "..", "../x", "..\\x", "a/b", "a\\b", "/etc/passwd", "C:\\x", "x..y", "\x00", " x",
                "a" * 256, None, 3):
        with pytest.raises(VBQInputError, match="is not a plain file name"):
            check_upload_name(bad)


def test_sizes():
    assert parse_size("2G") == 2 * 1024 ** 3 and parse_size("500M") == 500 * 1024 ** 2
    assert parse_size("100k") == 102400 and parse_size("1234") == 1234 and parse_size("1.5GiB") == 3 * 2 ** 29
    for bad in ("0", "-1", "lots", ""):
        with pytest.raises(VBQInputError):
            parse_size(bad)


def test_nrrd_and_metaimage_data_file_forms(tmp_path):
    head = ["NRRD0004", "type: short", "sizes: 2 2 2"]
    assert _nrrd_data_files(head + ["data file: x.raw"])[0] == ["x.raw"]
    assert _nrrd_data_files(head + ["datafile: ../x.raw"])[0] == ["../x.raw"]
    assert _nrrd_data_files(head + ["Data File: /abs"])[0] == ["/abs"]
    assert _nrrd_data_files(head + ["data file: LIST", "a.raw", "", "../b.raw"])[0] == ["a.raw", "../b.raw"]
    assert _nrrd_data_files(head + ["data file: ../s%03d.raw 1 10 1 2"])[0] == ["../s%03d.raw"]
    assert _nrrd_data_files(head + ["# data file: /abs", "key:=data file: /abs"])[0] == []
    assert _nrrd_data_files(head + ["", "data file: /abs"])[0] == []  # after the header: voxels, not fields
    assert _mhd_data_files(["NDims = 3", "ElementDataFile = ../x.raw"])[0] == ["../x.raw"]
    assert _mhd_data_files(["NDims = 3", "ElementDataFile = LOCAL"])[0] == []
    assert _mhd_data_files(["ElementDataFile = LIST", "a.raw", "/b.raw"])[0] == ["a.raw", "/b.raw"]
    (tmp_path / "in.raw").write_bytes(b"")
    (tmp_path / "link.raw").symlink_to("/etc/hostname")
    assert not _escapes(tmp_path, "in.raw") and not _escapes(tmp_path, "sub/x.raw")
    for bad in ("/etc/passwd", "../x.raw", "sub/../../x.raw", "..\\x.raw", "C:\\x.raw", "~/x.raw", "link.raw"):
        assert _escapes(tmp_path, bad), bad


def test_a_non_loopback_host_gets_one_warning_line_and_no_token_is_refused_there():
    import argparse

    from vbq_cli.cmd_web import access_from_args, host_warning

    def args(**kw):
        base = dict(host="127.0.0.1", token=None, no_token=False, certfile=None, keyfile=None)
        return argparse.Namespace(**{**base, **kw})

    assert host_warning(access_from_args(args()), "127.0.0.1") is None
    assert host_warning(access_from_args(args(host="localhost", no_token=True)), "localhost") is None
    line = host_warning(access_from_args(args(host="0.0.0.0")), "0.0.0.0")
    assert line == ("vbq web: warning: --host 0.0.0.0 serves every computer that can reach this one; only the "
                    "link's token protects it, and the traffic is not encrypted (--certfile/--keyfile serve HTTPS)")
    for host in ("0.0.0.0", "10.0.0.5", "::"):
        with pytest.raises(VBQInputError, match="--no-token is only for a loopback --host"):
            access_from_args(args(host=host, no_token=True))


def _serve(access, requests):
    """Run ``requests(client)`` against a small aiohttp app behind ``access``'s middleware (as on trame's server)."""
    import asyncio

    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    async def page(request):
        return web.Response(text="the page")

    async def go():
        app = web.Application(middlewares=[access.middleware()])
        app.router.add_get("/", page)
        app.router.add_get("/index.html", page)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            return await requests(client)

    return asyncio.run(go())


def test_no_token_serves_loopback_pages_but_still_checks_origin():
    async def requests(client):
        port = client.server.port
        ok = await client.get("/index.html")
        cross = await client.get("/index.html", headers={"Origin": "http://127.0.0.1:1"})
        rebound = await client.get("/index.html", headers={"Host": f"evil.example:{port}"})
        return ok.status, await ok.text(), cross.status, rebound.status

    assert _serve(Access(None, generate=False), requests) == (200, "the page", 403, 403)


def test_the_token_in_the_link_becomes_a_cookie_and_leaves_the_address_bar():
    access = Access("t" * 43)

    async def requests(client):
        port = client.server.port
        first = await client.get(f"/?token={access.token}", allow_redirects=False)
        cookie = first.headers.get("Set-Cookie", "")
        again = await client.get("/index.html")  # the client keeps the cookie, as the browser does
        client.session.cookie_jar.clear()
        without = await client.get("/index.html")
        return port, first.status, first.headers.get("Location"), cookie, again.status, without.status

    port, status, location, cookie, again, without = _serve(access, requests)
    assert status == 302 and location == f"index.html?token={access.token}&remove=token"
    assert cookie.startswith(f"vbq-web-token-{port}={access.token};") and "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie and "Path=/" in cookie
    assert (again, without) == (200, 403)
