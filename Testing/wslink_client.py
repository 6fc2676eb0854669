"""A raw wslink client (aiohttp + msgpack) for the attacks a browser would not send: it speaks trame's websocket
protocol as trame's JavaScript client does (msgpack messages in chunks with a 12-byte header: message id,
offset, total size, little-endian uint32), and lets the test choose the cookie, the Origin and the secret.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
from typing import Optional

import aiohttp
import msgpack

DEFAULT_SECRET = "wslink-secret"  # trame's fixed default


class Refused(Exception):
    """The websocket handshake was refused (HTTP status in ``status``)."""

    def __init__(self, status):
        super().__init__(f"websocket refused: HTTP {status}")
        self.status = status


class WslinkClient:
    def __init__(self, ws, session):
        self.ws = ws
        self.session = session
        self._ids = itertools.count(1)
        self._chunks: dict = {}

    @classmethod
    async def connect(cls, base: str, *, cookies: Optional[dict] = None, origin: Optional[str] = None):
        """Open ``ws://…/ws`` of ``base`` (``http://127.0.0.1:port``); :class:`Refused` when the handshake is
        refused."""
        session = aiohttp.ClientSession(cookies=cookies or {})
        headers = {"Origin": origin} if origin else {}
        try:
            ws = await session.ws_connect(base.replace("http", "ws", 1).rstrip("/") + "/ws", headers=headers,
                                          timeout=aiohttp.ClientWSTimeout(ws_close=5))
        except aiohttp.WSServerHandshakeError as exc:
            await session.close()
            raise Refused(exc.status) from None
        return cls(ws, session)

    async def close(self):
        await self.ws.close()
        await self.session.close()

    async def _send(self, payload: dict) -> None:
        body = msgpack.packb(payload)
        await self.ws.send_bytes(struct.pack("<III", next(self._ids), 0, len(body)) + body)

    async def _receive(self, rpcid: str, timeout: float = 20):
        """The reply to ``rpcid`` (publications in between are skipped); None when the server closes."""
        while True:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type != aiohttp.WSMsgType.BINARY:
                return None
            mid, offset, size = struct.unpack("<III", msg.data[:12])
            entry = self._chunks.setdefault(mid, [bytearray(size), 0])
            entry[0][offset:offset + len(msg.data) - 12] = msg.data[12:]
            entry[1] += len(msg.data) - 12
            if entry[1] < size:
                continue
            reply = msgpack.unpackb(bytes(self._chunks.pop(mid)[0]), raw=False, strict_map_key=False)
            if reply.get("id") == rpcid:
                return reply

    async def call(self, method: str, *args, system: bool = False):
        rpcid = f"system:c0:{next(self._ids)}" if system else f"rpc:c0:{next(self._ids)}"
        await self._send({"wslink": "1.0", "id": rpcid, "method": method, "args": list(args), "kwargs": {}})
        return await self._receive(rpcid)

    async def hello(self, secret: str):
        return await self.call("wslink.hello", {"secret": secret}, system=True)

    async def trigger(self, name: str, *args):
        return await self.call("trame.trigger", name, list(args), {})

    async def state(self):
        return await self.call("trame.state.get")


def run(coro, timeout: float = 60):
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(asyncio.wait_for(coro, timeout))
    finally:
        loop.close()
