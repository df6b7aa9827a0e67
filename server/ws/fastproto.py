"""uvicorn's sans-I/O websocket protocol, plus one way to send a frame that is already framed, in less memory.

An ``ops`` frame goes to every connection on a board, and server frames are not
masked, so its bytes on the wire are the same for every recipient. Going
through ASGI for each recipient re-encodes the text, builds and serialises a
websockets ``Frame`` and passes Starlette's and uvicorn's wrappers: a fifth of
the server's time at 200 clients. This protocol puts a ``send_framed`` callable
into the connection scope's extensions (key :data:`EXTENSION`); it writes the
given bytes to the socket when that is safe and otherwise says no, and the
caller falls back to the ordinary ASGI send.

It also keeps less per connection (a server holds hundreds of idle ones): it
drops the handshake request's headers and the 101 response once they are
used (about 4 KiB of the 30 KiB of Python objects of an idle board connection).

Selected with ``uvicorn.run(..., ws="server.ws.fastproto:FramedSendProtocol")``
(``kumppani serve`` and the tests do). Under any other server the extension is
absent and everything goes through ASGI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

EXTENSION = "kumppani.send_framed"

SendFramed = Callable[[bytes], bool]


def frame_text(payload: bytes) -> bytes:
    """A complete, unmasked, unfragmented text frame (what a server sends) around UTF-8 ``payload``."""
    return Frame(Opcode.TEXT, payload).serialize(mask=False)


class FramedSendProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        # The scope has its own copy of the headers now. websockets' parser keeps the
        # request in a local for as long as the connection lives: ~3 KiB each, for nothing.
        event.headers.clear()
        scope = getattr(self, "scope", None)
        if scope is not None:  # absent when the handshake was refused
            scope["extensions"][EXTENSION] = self.send_framed

    def start_keepalive(self) -> None:
        # uvicorn calls this once, right after writing the 101 response, which nothing reads again.
        super().start_keepalive()
        self.response = None  # type: ignore[assignment]

    def send_framed(self, frame: bytes) -> bool:
        """Write a frame made by :func:`frame_text`; False when the caller must use the ASGI send."""
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or self.initial_response is not None
            # A full socket buffer: the ASGI send waits for it to drain, so the order holds.
            or not self.writable.is_set()
            or self.conn.state is not State.OPEN
            # Negotiated extensions (compression) would change the bytes; none are offered today.
            or self.conn.extensions
            or self.conn.expect_continuation_frame
        ):
            return False
        self.transport.write(frame)
        return True
