"""One writer per session: the first browser on a session's link edits; another browser on the same link gets
"open in another window" and is read-only -- it can watch, but it cannot paint, save, navigate, resize the views
or change any state -- so two windows never share a half-done state.

trame keeps one state for all the browsers of a server and lets every one of them call every trigger; wslink
knows which connection sent each message. :func:`install` wraps wslink's message handler (the one place every
message of every browser passes) so that messages of a browser that is not the session's writer are answered
with nothing unless they only read (:data:`READ_ONLY`). The writer is the browser connected first; when it
closes, the next one becomes the writer (its page turns editable: ``vbq_owner`` is its id).

The page learns its own connection id with ``trigger('vbq_whoami')`` and keeps it in the client-only state
``vbq_me``; it shows the "open in another window" cover while ``vbq_me !== vbq_owner``.

The wrapping is hand-written: trame/wslink have no "single writer" or per-client permission hook.
"""

from __future__ import annotations

import logging

log = logging.getLogger("vbq_web")

#: wslink methods any browser of the session may call (reading the state, page life cycle, frame pacing)
READ_ONLY = frozenset({"trame.state.get", "trame.lifecycle.update", "trame.error.client", "trame.rca.drop",
                       "trame.rca.video.codecs", "trame.rca.video.negotiate"})
#: triggers any browser may call
READ_ONLY_TRIGGERS = frozenset({"vbq_whoami"})


class SessionGate:
    """Which connection of one trame server is the writer."""

    def __init__(self, server):
        self.server = server
        self.clients: list = []  # connection ids, in the order they connected
        self.caller = None  # the connection whose message is being handled
        self.refused = 0
        self.on_connected: list = []  # called (no argument) after a browser connects
        self.authenticated = None  # wslink's set of the connections that passed its hello (the secret)
        self._published = None


    @property
    def owner(self):
        """The first connected browser that passed wslink's hello (the session's secret): a connection that
        never authenticates cannot take the session."""
        for c in self.clients:
            if self.authenticated is None or c in self.authenticated:
                return c
        return None

    def refresh(self) -> None:
        if self.owner != self._published:
            self._publish()

    def _publish(self) -> None:
        self._published = self.owner
        try:
            with self.server.state as s:
                s.vbq_owner = f"c{self.owner}" if self.owner is not None else ""
                s.vbq_n_windows = len(self.clients)
        except Exception:  # noqa: BLE001 - never break a connection over the page's cover
            log.exception("vbq web: could not publish the session's writer")

    def connected(self, client_id) -> None:
        if client_id not in self.clients:
            self.clients.append(client_id)
        self._publish()
        for fn in self.on_connected:
            fn()

    def closed(self, client_id) -> None:
        if client_id in self.clients:
            self.clients.remove(client_id)
        self._publish()

    def allows(self, rpc: dict, client_id) -> bool:
        if client_id == self.owner:
            return True
        method = rpc.get("method")
        if method in READ_ONLY:
            return True
        if method == "trame.trigger":
            args = rpc.get("args") or []
            return bool(args) and args[0] in READ_ONLY_TRIGGERS
        return False

    def whoami(self) -> str:
        return f"c{self.caller}" if self.caller is not None else ""


def _gate_of(handler):
    return getattr(handler.serverProtocol, "_vbq_gate", None)


def _patch_wslink() -> None:
    from wslink.protocol import WslinkHandler

    if getattr(WslinkHandler, "vbq_single_writer", False):
        return
    on_connect, on_close, on_message = WslinkHandler.onConnect, WslinkHandler.onClose, \
        WslinkHandler.onCompleteMessage

    async def onConnect(self, request, client_id):  # noqa: N802 - wslink's names
        await on_connect(self, request, client_id)
        gate = _gate_of(self)
        if gate is not None:
            gate.authenticated = self.authentified_client_ids
            gate.connected(client_id)

    async def onClose(self, client_id):  # noqa: N802
        try:
            await on_close(self, client_id)
        finally:
            gate = _gate_of(self)
            if gate is not None:
                gate.closed(client_id)

    async def onCompleteMessage(self, rpc, client_id):  # noqa: N802
        gate = _gate_of(self)
        if gate is not None and isinstance(rpc, dict) and str(rpc.get("id", "")).startswith("system"):
            result = await on_message(self, rpc, client_id)  # wslink's hello: the secret checked
            gate.refresh()
            return result
        if gate is not None and isinstance(rpc, dict) and "id" in rpc:
            if not gate.allows(rpc, client_id):
                gate.refused += 1
                if client_id in self.connections and not self.connections[client_id].closed:
                    await self.sendWrappedMessage(rpc["id"], None, method=rpc.get("method", ""),
                                                  client_id=client_id)
                return
            gate.caller = client_id
        return await on_message(self, rpc, client_id)

    WslinkHandler.onConnect = onConnect
    WslinkHandler.onClose = onClose
    WslinkHandler.onCompleteMessage = onCompleteMessage
    WslinkHandler.vbq_single_writer = True


def install(server) -> SessionGate:
    """Make ``server`` (a trame server, before it starts) single-writer; returns its gate."""
    gate = SessionGate(server)
    _patch_wslink()

    def attach(**_):
        server.protocol._vbq_gate = gate

    server.controller.on_server_ready.add(attach)
    server.trigger("vbq_whoami")(gate.whoami)
    server.state.vbq_owner = ""
    server.state.vbq_n_windows = 0
    server.state.vbq_me = ""
    server.state.client_only("vbq_me")
    return gate
