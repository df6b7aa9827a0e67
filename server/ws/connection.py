"""One websocket connection's outgoing side: a bounded queue and a writer.

Fan-out must never wait on a slow socket. ``deliver`` is synchronous: when the
connection is idle it hands the frame to the server at once (uvicorn's send
completes without suspending while the transport is writable); otherwise the
frame is queued and a writer task drains the queue. A connection whose queue is
full is told to resync instead of growing memory without bound.

Frames travel as :class:`Outgoing`: the encoded JSON once, and its websocket
framing made at most once, however many connections send it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from boards import protocol as p
from foundation import metrics
from server.ws.fastproto import SendFramed, frame_text

log = logging.getLogger("kumppani.ws")

ASGISend = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]


class Outgoing:
    """One server frame for any number of recipients."""

    __slots__ = ("_wire", "payload")

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self._wire: bytes | None = None

    @classmethod
    def of(cls, message: p.ServerMessage) -> Outgoing:
        return cls(p.encode(message))

    @property
    def wire(self) -> bytes:
        if self._wire is None:
            self._wire = frame_text(self.payload)
        return self._wire

    @property
    def text(self) -> str:
        return self.payload.decode()


class Connection:
    __slots__ = (
        "__weakref__",
        "_close",
        "_closing",
        "_limit",
        "_paused",
        "_queue",
        "_send",
        "_send_framed",
        "_writer",
        "board_id",
        "closed",
        "conn_id",
        "editing",
        "lagging",
        "name",
        "person_id",
        "role",
        "seq",
        "session_id",
    )

    def __init__(
        self,
        send: ASGISend,
        *,
        board_id: str,
        person_id: str,
        name: str,
        role: str,
        conn_id: str,
        queue_limit: int,
        session_id: str = "",
        close: Callable[[int, str], Awaitable[None]] | None = None,
        send_framed: SendFramed | None = None,
    ) -> None:
        self._send = send
        self._send_framed = send_framed
        self.board_id = board_id
        self.person_id = person_id
        self.name = name
        self.role = role
        self.conn_id = conn_id
        self.seq = 0
        self._queue: deque[tuple[int, Outgoing]] = deque()
        self._limit = queue_limit
        self._writer: asyncio.Task[None] | None = None
        self._paused = True  # until the snapshot or catch-up has been sent
        self.closed = False
        self.lagging = False
        self.editing: str | None = None
        self.session_id = session_id
        self._close = close
        self._closing: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ fan-out side

    def deliver(self, last_seq: int, frame: Outgoing) -> None:
        """Queue or send an ``ops`` frame whose last event is ``last_seq``. Never blocks."""
        if self.closed or self.lagging:
            return
        if self._paused or self._writer is not None or self._queue:
            if len(self._queue) >= self._limit:
                self._fall_behind()
                return
            self._queue.append((last_seq, frame))
            self._ensure_writer()
            return
        if last_seq <= self.seq:
            return
        self.seq = last_seq
        self._send_now(frame)

    def send_control(self, frame: Outgoing) -> None:
        """A frame outside the ops stream (presence, resync); dropped if the queue is full."""
        if self.closed:
            return
        if self._paused or self._writer is not None or self._queue:
            if len(self._queue) < self._limit:
                self._queue.append((-1, frame))
                self._ensure_writer()
            return
        self._send_now(frame)

    def _send_now(self, frame: Outgoing) -> None:
        if self._send_framed is not None and self._send_framed(frame.wire):
            return
        coro = self._send({"type": "websocket.send", "text": frame.text})
        # If the send has to wait (a full socket buffer), it finishes in a task that then
        # drains the queue, and later frames queue behind it so the order holds.
        self._writer = _drive(coro, self._failed, self._drain)

    def _failed(self, exc: BaseException) -> None:
        self.closed = True
        self._queue.clear()

    def _fall_behind(self) -> None:
        """Too slow: drop the backlog; the client resyncs from the database."""
        # Drop the operations (the client reads them again from the database) but keep acks and errors.
        kept = [entry for entry in self._queue if entry[0] == -1]
        self._queue.clear()
        self._queue.extend(kept)
        self.lagging = True
        self._queue.append((-1, Outgoing.of(p.Resync(seq=self.seq))))
        self._ensure_writer()
        log.info("connection fell behind; asked to resync", extra={"board": self.board_id})
        if (m := metrics.current) is not None:
            m.resyncs.inc()

    def _ensure_writer(self) -> None:
        if self._writer is None and self._queue and not self._paused and not self.closed:
            self._writer = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._queue and not self.closed and not self._paused:
                last_seq, frame = self._queue.popleft()
                if last_seq != -1:
                    if last_seq <= self.seq:
                        continue
                    self.seq = last_seq
                if self._send_framed is not None and self._send_framed(frame.wire):
                    continue
                await self._send({"type": "websocket.send", "text": frame.text})
        except Exception as exc:  # the socket is gone
            self._failed(exc)
        finally:
            self._writer = None

    # ------------------------------------------------------------ endpoint side

    async def send_direct(self, message: p.ServerMessage) -> None:
        """Send in order with whatever is queued (used by the endpoint's own replies)."""
        frame = Outgoing.of(message)
        if self._writer is not None or self._queue:
            self._queue.append((-1, frame))
            self._ensure_writer()
            return
        if self._send_framed is not None and self._send_framed(frame.wire):
            return
        await self._send({"type": "websocket.send", "text": frame.text})

    def resume(self, seq: int, catch_up: Sequence[Outgoing] = ()) -> None:
        """Send ``catch_up`` (a snapshot or missed operations, then ``synced``) and let queued frames flow.

        Frames published while the catch-up was read wait in the queue; the catch-up goes ahead
        of them, and those it already covers (up to ``seq``) are skipped.
        """
        for frame in reversed(catch_up):
            self._queue.appendleft((-1, frame))
        self.seq = max(self.seq, seq)
        self.lagging = False
        self._paused = False
        self._ensure_writer()

    def pause(self) -> None:
        self._paused = True

    def kick(self, code: int, reason: str) -> None:
        """Close the socket from the server side (access ended, session ended)."""
        if self._close is not None and self._closing is None and not self.closed:
            self._closing = asyncio.ensure_future(self._close(code, reason))
        self.closed = True

    def close(self) -> None:
        self.closed = True
        self._queue.clear()
        if self._writer is not None:
            self._writer.cancel()

    @property
    def queued(self) -> int:
        return len(self._queue)


def _drive(
    coro: Coroutine[Any, Any, None],
    on_error: Callable[[BaseException], None],
    then: Callable[[], Coroutine[Any, Any, None]],
) -> asyncio.Task[None] | None:
    """Run a send coroutine inline; only if it has to wait does it become a task.

    A task per delivery would cost a trip through the event loop for every
    recipient of every operation, and almost every send completes without waiting.
    """
    try:
        waiting = coro.send(None)
    except StopIteration:
        return None
    except Exception as exc:
        on_error(exc)
        return None
    return asyncio.ensure_future(_finish(coro, waiting, on_error, then))


async def _finish(
    coro: Coroutine[Any, Any, None],
    waiting: Any,
    on_error: Callable[[BaseException], None],
    then: Callable[[], Coroutine[Any, Any, None]],
) -> None:
    try:
        while True:
            try:
                if waiting is None:
                    await asyncio.sleep(0)
                else:
                    await waiting
            except BaseException as exc:  # what it waited on failed: let the coroutine handle it
                waiting = coro.throw(exc)
                continue
            waiting = coro.send(None)
    except StopIteration:
        pass
    except Exception as exc:
        on_error(exc)
        return
    await then()
