"""A minimal websocket client on a bare asyncio protocol, for the load generator.

A benchmark client must cost far less than the server it measures: 200
receivers at 200 operations per second are 40,000 frames per second on one
core. The ``websockets`` client spends tens of microseconds per frame in
queues, futures and UTF-8 decoding; this one parses RFC 6455 frames from the
socket buffer in place and hands each payload (``bytes``, not decoded) to a
callback with the time it arrived. It answers pings and close frames and
nothing more: no extensions (per-message deflate is off on every server we
measure), no subprotocols. Client frames are masked as RFC 6455 requires.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable

try:
    from websockets.speedups import apply_mask  # C, ships with websockets
except ImportError:  # pragma: no cover - pure-Python fallback

    def apply_mask(data: bytes, mask: bytes) -> bytes:  # type: ignore[misc]
        n = len(data)
        key = (mask * (n // 4 + 1))[:n]
        return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


OnMessage = Callable[[bytes, int], None]

_OP_CONT, _OP_TEXT, _OP_BINARY, _OP_CLOSE, _OP_PING, _OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def _frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    mask = os.urandom(4)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + mask + (apply_mask(payload, mask) if n else b"")


class HandshakeError(ConnectionError):
    pass


class RawClient(asyncio.Protocol):
    """One websocket connection. ``on_message(payload, arrival_ns)`` gets every text or binary message."""

    def __init__(self, on_message: OnMessage | None = None) -> None:
        self.on_message: OnMessage = on_message or (lambda payload, at: None)
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._need = 0  # bytes the buffered partial frame needs before it can be parsed
        self._fragments: list[bytes] = []
        self._handshake: asyncio.Future[None] | None = None
        self._open = False
        self.closed = asyncio.get_running_loop().create_future()
        self.close_code: int | None = None

    # ------------------------------------------------------------ connecting

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        path: str,
        *,
        origin: str | None = None,
        cookie: str | None = None,
        on_message: OnMessage | None = None,
        timeout: float = 30,
    ) -> RawClient:
        loop = asyncio.get_running_loop()
        _, client = await asyncio.wait_for(loop.create_connection(lambda: cls(on_message), host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if origin:
            lines.append(f"Origin: {origin}")
        if cookie:
            lines.append(f"Cookie: {cookie}")
        client._handshake = loop.create_future()
        assert client.transport is not None
        client.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            await asyncio.wait_for(client._handshake, timeout=timeout)
        except BaseException:
            client.abort()
            raise
        return client

    # ------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._open = False
        if self._handshake is not None and not self._handshake.done():
            self._handshake.set_exception(HandshakeError("connection closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        arrived = time.monotonic_ns()
        if not self._open:
            self._buf += data
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buf[:end])
            rest = bytes(self._buf[end + 4 :])
            self._buf.clear()
            status = head.split(b"\r\n", 1)[0]
            if b" 101 " not in status + b" ":
                if self._handshake is not None and not self._handshake.done():
                    self._handshake.set_exception(HandshakeError(status.decode(errors="replace")))
                self.abort()
                return
            self._open = True
            if self._handshake is not None and not self._handshake.done():
                self._handshake.set_result(None)
            if not rest:
                return
            data = rest
        if self._buf:
            self._buf += data
            if len(self._buf) < self._need:
                return
            data = bytes(self._buf)
            self._buf.clear()
        self._parse(data, arrived)

    def _parse(self, data: bytes, arrived: int) -> None:
        pos, n = 0, len(data)
        need = 0
        while n - pos >= 2:
            b0 = data[pos]
            b1 = data[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                head = 10
            masked = b1 & 0x80
            if masked:
                head += 4
            end = pos + head + length
            if end > n:
                need = end - pos
                break
            payload = data[pos + head : end]
            if masked:  # servers do not mask, but be lenient
                payload = apply_mask(payload, data[pos + head - 4 : pos + head])
            pos = end
            opcode = b0 & 0x0F
            if opcode == _OP_TEXT or opcode == _OP_BINARY:
                if b0 & 0x80:
                    self.on_message(payload, arrived)
                else:
                    self._fragments = [payload]
            elif opcode == _OP_CONT:
                self._fragments.append(payload)
                if b0 & 0x80:
                    whole = b"".join(self._fragments)
                    self._fragments = []
                    self.on_message(whole, arrived)
            elif opcode == _OP_PING:
                self._write(_frame(_OP_PONG, payload))
            elif opcode == _OP_CLOSE:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self._write(_frame(_OP_CLOSE, payload[:2]))
                if self.transport is not None:
                    self.transport.close()
                return
        if pos < n:
            self._buf += data[pos:]
        self._need = need

    # ------------------------------------------------------------ sending

    def _write(self, frame: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame)

    def send(self, payload: bytes) -> None:
        """Send a text frame (payload must be UTF-8)."""
        self._write(_frame(_OP_TEXT, payload))

    @property
    def open(self) -> bool:
        return self._open and self.transport is not None and not self.transport.is_closing()

    def close(self, code: int = 1000) -> None:
        if self.open:
            self._write(_frame(_OP_CLOSE, code.to_bytes(2, "big")))
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
