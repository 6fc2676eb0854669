"""Who may use a ``vbq web`` server: the holder of its link (Jupyter's model).

Each server has a random token (or ``--token`` / ``VBQ_WEB_TOKEN``), printed in the link
``http://127.0.0.1:8091/?token=…``. The first load with ``?token=`` stores it in a cookie (HttpOnly,
SameSite=Strict, one cookie name per port); after that the page's own requests carry the cookie.

An aiohttp middleware on trame's web server (wslink's aiohttp backend) checks every HTTP request and the websocket
handshake before any handler runs:

- the token (query ``token`` or the cookie), compared in constant time (:func:`hmac.compare_digest`); without it:
  403 and a body that says only how to get in (no case title, no file name: the page itself is never sent);
- ``Origin``, when the browser sends one (every websocket, every POST/fetch), must be this server's own
  scheme://host:port: a page served from another port of the same computer gets the cookie (cookies ignore
  ports) but is refused here;
- on a loopback server, the ``Host`` must be a loopback name (DNS-rebinding pages are refused).

trame's websocket secret is trame's fixed default (``wslink-secret``) unless told otherwise: it is replaced by a
random one that only an authenticated page learns, from ``POST /paraview/`` (the trame client asks that URL for its
session; without an answer it logs a 405 in the console and falls back to the default secret).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
import secrets
from typing import Optional
from urllib.parse import urlsplit

#: the body of every refusal (says nothing about the case)
REFUSED = "vbq web: open the link printed in the terminal (http://…/?token=…)\n"
TOKEN_ENV = "VBQ_WEB_TOKEN"
MAX_WS_MESSAGE = 64 * 2 ** 20  # bytes of one websocket message of the page (state changes, clicks)
TOKEN_RE = re.compile(r"[A-Za-z0-9._~-]{16,256}")  # URL- and cookie-safe as it is
LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost (the names that reach only this computer)."""
    h = (host or "").strip("[]").lower()
    if h in LOOPBACK_NAMES or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def check_token_text(token: str, what: str = "--token") -> str:
    from VBQScoreLib.errors import VBQInputError

    if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
        raise VBQInputError(f"{what}: a token is 16 to 256 letters, digits, '-', '_', '.' or '~'")
    return token


def _origin_of(url: str) -> Optional[tuple]:
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        return (parts.scheme.lower(), (parts.hostname or "").lower(), port)
    except ValueError:
        return None


class Access:
    """The access rules of one server. ``token=None``: no token (``--no-token``, loopback only)."""

    def __init__(self, token: Optional[str] = None, *, host: str = "127.0.0.1", generate: bool = True):
        self.token = token if token is not None else (new_token() if generate else None)
        self.host = host
        self.loopback = is_loopback(host)
        self.wslink_secret = secrets.token_urlsafe(32)  # trame's default 'wslink-secret' never works
        self.ssl_context = None  # an ssl.SSLContext: HTTPS (--certfile/--keyfile)

    # -- the link
    def link(self, host: str, port: int, scheme: str = "http") -> str:
        base = f"{scheme}://{host}:{port}/"
        return base if self.token is None else f"{base}?token={self.token}"

    def cookie_name(self, port) -> str:
        return f"vbq-web-token-{port}"

    # -- checks
    def token_ok(self, given: Optional[str]) -> bool:
        if self.token is None:
            return True
        if not given:
            return False
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode("utf-8"))

    def origin_ok(self, origin: Optional[str], scheme: str, host_header: str) -> bool:
        """``Origin`` (if the client sent one) is this server: same scheme, host and port as the request's
        ``Host``."""
        if origin is None:
            return True
        mine = _origin_of(f"{scheme}://{host_header}")
        theirs = _origin_of(origin)
        return mine is not None and theirs is not None and mine == theirs

    def host_ok(self, host_header: str) -> bool:
        if not self.loopback:
            return True
        name = _origin_of(f"http://{host_header}")
        return name is not None and is_loopback(name[1])

    # -- trame/aiohttp
    def install(self, server) -> None:
        """Guard trame ``server``: the middleware and ``POST /paraview/`` are added when wslink has built its
        aiohttp application (``on_server_bind``), before it serves anything."""
        server.controller.on_server_bind.add(lambda wslink_server: self.bind(server, wslink_server))

    def bind(self, server, wslink_server) -> None:
        if self.ssl_context is not None:
            wslink_server.config["ssl"] = self.ssl_context  # read when wslink opens its site, after this
        app = wslink_server.app
        app.middlewares.append(self.middleware())
        app.router.add_post("/paraview/", self._session_handler)
        app.router.add_post("/paraview", self._session_handler)
        protocol = server.protocol
        if protocol is not None:
            protocol.updateSecret(self.wslink_secret)
        for handler in getattr(wslink_server, "_ws_handlers", []):
            self._limit_messages(handler)

    @staticmethod
    def _limit_messages(handler) -> None:
        """After its hello, wslink lets a client announce messages of up to 4 GB and allocates what is announced
        before the bytes arrive; the page's messages are small (files come over HTTP), so the limit stays
        :data:`MAX_WS_MESSAGE` and a larger announcement closes the connection."""
        system = handler.handleSystemMessage

        async def limited(rpcid, method, args, client_id):
            done = await system(rpcid, method, args, client_id)
            unchunker = handler.unchunkers.get(client_id)
            if unchunker is not None and unchunker.max_message_size > MAX_WS_MESSAGE:
                unchunker.set_max_message_size(MAX_WS_MESSAGE)
            return done

        handler.handleSystemMessage = limited

    async def _session_handler(self, request):
        from aiohttp import web

        scheme = "wss" if request.secure else "ws"
        body = {"sessionURL": f"{scheme}://USE_HOST/ws", "secret": self.wslink_secret}
        return web.Response(text=json.dumps(body), content_type="application/json",
                            headers={"Cache-Control": "no-store"})

    def middleware(self):
        from aiohttp import web

        access = self

        @web.middleware
        async def vbq_access(request, handler):
            def refuse():
                return web.Response(status=403, text=REFUSED, headers={"Cache-Control": "no-store"})

            if not access.host_ok(request.host):
                return refuse()
            if not access.origin_ok(request.headers.get("Origin"), request.scheme, request.host):
                return refuse()
            sock = request.transport.get_extra_info("sockname") if request.transport else None
            port = sock[1] if sock else ""
            name = access.cookie_name(port)
            from_query = access.token is not None and access.token_ok(request.query.get("token"))
            if not (from_query or access.token_ok(request.cookies.get(name))):
                return refuse()
            if from_query and request.path == "/" and request.method == "GET":
                # to the page, which drops the token from the address bar (trame's client removes the URL
                # parameters that 'remove' names): the cookie keeps it, screen shares and history do not show it
                response = web.Response(status=302, headers={"Location": f"index.html?token={access.token}"
                                                                          "&remove=token", "Cache-Control": "no-store"})
                access._set_cookie(response, name, request.secure)
                return response
            try:
                response = await handler(request)
            except web.HTTPException as exc:  # e.g. the redirect of / to index.html?token=…
                response = exc
                if from_query:
                    access._set_cookie(response, name, request.secure)
                raise
            if not getattr(response, "prepared", False):
                if from_query:
                    access._set_cookie(response, name, request.secure)
                response.headers.setdefault("Referrer-Policy", "no-referrer")
            return response

        return vbq_access

    def _set_cookie(self, response, name: str, secure: bool) -> None:
        response.set_cookie(name, self.token, httponly=True, samesite="Strict", path="/", secure=secure)
