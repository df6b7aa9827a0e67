"""Boards to local connections, across processes through the broadcast backend.

Every ``ops`` frame carries a contiguous range of sequence numbers. The hub
delivers each board's frames to its local connections in order and without
gaps: when a frame skips ahead, the hub waits a moment for the missing frames
(another process's, still on their way through Redis) and reads what is still
missing (a message lost in Redis, a reconnect) from the database. After the broadcast
backend reconnects, every local board is caught up from the database, so no
acknowledged operation is missed across a Redis restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from boards import protocol as p
from boards.models import Board
from boards.queries import events_between
from foundation import metrics
from foundation.broadcast.base import BroadcastBackend, Published, Reconnected
from foundation.broadcast.memory import MemoryBackend
from foundation.broadcast.outbox import Outbox
from server.ws.connection import Connection, Outgoing

log = logging.getLogger("kumppani.hub")

#: Seconds a connection's presence lives unless refreshed (every third of it). A process that
#: dies leaves its people shown on the board, and counted against their connection limit,
#: for at most this long.
PRESENCE_TTL = 30
CATCH_UP_BATCH = 500
CONTROL_CHANNEL = "control"


#: How long a frame that skips ahead waits for the missing ones to arrive from another
#: process before they are read from the database.
GAP_GRACE_SECONDS = 0.02


@dataclass
class _BoardGroup:
    connections: set[Connection] = field(default_factory=set)
    delivered: int = 0
    busy: bool = False
    pending: list[tuple[int, int, Outgoing]] = field(default_factory=list)
    #: Set when a frame is added to ``pending`` while a gap is being waited for.
    arrived: asyncio.Event | None = None


def _header(origin: str, first: int, last: int, person_id: str | None = None) -> bytes:
    """``origin first last`` (0 0 for control frames), and the person a control frame is for."""
    return f"{origin} {first} {last}{' ' + person_id if person_id else ''}\n".encode()


class Hub:
    def __init__(self, backend: BroadcastBackend, engine: AsyncEngine) -> None:
        self.backend = backend
        self.engine = engine
        self.origin = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._boards: dict[str, _BoardGroup] = {}
        self._listener: asyncio.Task[None] | None = None
        self._single_process = isinstance(backend, MemoryBackend)
        self.outbox = Outbox(backend)
        self._heartbeat: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._inbox: tuple[str, Callable[[bytes], None]] | None = None
        #: Channel -> callbacks told that something happened there (a coach's dashboard, say).
        self._watchers: dict[str, set[Callable[[str], None]]] = {}

    @property
    def single_process(self) -> bool:
        return self._single_process

    async def serve_inbox(self, channel: str, handler: Callable[[bytes], None]) -> None:
        """Hand the messages of this process's own channel (``channel``) to ``handler``."""
        self._inbox = (channel, handler)
        await self.backend.subscribe(channel)

    async def start(self) -> None:
        await self.backend.connect()
        await self.backend.subscribe(CONTROL_CHANNEL)
        self._listener = asyncio.create_task(self._listen(), name="hub-listener")
        if not self._single_process:
            self.outbox.start()
        self._heartbeat = asyncio.create_task(self._refresh_presence(), name="hub-presence")

    async def stop(self) -> None:
        for task in (self._listener, self._heartbeat, *self._tasks):
            if task is not None:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass
        for group in self._boards.values():
            for conn in group.connections:
                conn.close()
        self._boards.clear()
        await self.outbox.close()
        await self.backend.disconnect()

    # ------------------------------------------------------------ membership

    async def join(self, conn: Connection) -> None:
        """Register before the snapshot is read, so nothing committed after it is missed."""
        group = self._boards.get(conn.board_id)
        if group is None:
            group = _BoardGroup()
            self._boards[conn.board_id] = group
            if self._channel(conn.board_id) not in self._watchers:
                await self.backend.subscribe(self._channel(conn.board_id))
            group.delivered = await self._head(conn.board_id)
        group.connections.add(conn)

    async def leave(self, conn: Connection) -> None:
        conn.close()
        group = self._boards.get(conn.board_id)
        if group is None:
            return
        group.connections.discard(conn)
        if not group.connections:
            del self._boards[conn.board_id]
            if self._channel(conn.board_id) not in self._watchers:
                await self.backend.unsubscribe(self._channel(conn.board_id))

    def connections(self, board_id: str) -> set[Connection]:
        group = self._boards.get(board_id)
        return set(group.connections) if group else set()

    def all_connections(self) -> list[Connection]:
        return [c for g in self._boards.values() for c in g.connections]

    @staticmethod
    def _channel(board_id: str) -> str:
        return f"board:{board_id}"

    async def _head(self, board_id: str) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(Board.seq).where(Board.id == board_id))).scalar() or 0)

    # ------------------------------------------------------------ watchers

    async def watch(self, channel: str, callback: Callable[[str], None]) -> None:
        """Call ``callback(channel)`` whenever operations or a change notice arrive on ``channel``.

        Channels are ``board:<id>`` (every committed operation of the board) and
        ``team:<id>`` (:meth:`team_changed`); a watcher reads the new state itself.
        """
        watchers = self._watchers.get(channel)
        if watchers is None:
            watchers = self._watchers[channel] = set()
            if channel.removeprefix("board:") not in self._boards:
                await self.backend.subscribe(channel)
        watchers.add(callback)

    async def unwatch(self, channel: str, callback: Callable[[str], None]) -> None:
        watchers = self._watchers.get(channel)
        if watchers is None:
            return
        watchers.discard(callback)
        if not watchers:
            del self._watchers[channel]
            if channel.removeprefix("board:") not in self._boards:
                await self.backend.unsubscribe(channel)

    def _tell_watchers(self, channel: str) -> None:
        for callback in list(self._watchers.get(channel, ())):
            try:
                callback(channel)
            except Exception:
                log.exception("a watcher failed", extra={"channel": channel})

    async def team_changed(self, team_id: str) -> None:
        """After commit: a team's boards, members, consents or updates changed (not an operation)."""
        channel = f"team:{team_id}"
        self._tell_watchers(channel)
        if not self._single_process:
            self.outbox.put(channel, _header(self.origin, 0, 0))

    # ------------------------------------------------------------ publishing

    async def publish_ops(self, board_id: str, first: int, last: int, frame: bytes) -> None:
        """After commit: to other processes through the outbox, and to the local connections."""
        if not self._single_process:
            self.outbox.put(self._channel(board_id), _header(self.origin, first, last) + frame)
            # One turn of the loop lets the outbox write the frame to Redis now, so that it
            # travels while the local fan-out runs, instead of after it and the acks.
            await asyncio.sleep(0)
        self._deliver(board_id, first, last, Outgoing(frame))
        if self._watchers:
            self._tell_watchers(self._channel(board_id))

    async def publish_control(self, board_id: str, message: p.ServerMessage) -> None:
        """Presence and board-level notices: not in the ops stream, no sequence numbers."""
        frame = p.encode(message)
        self._deliver_control(board_id, Outgoing(frame))
        if not self._single_process:
            self.outbox.put(self._channel(board_id), _header(self.origin, 0, 0) + frame)

    async def publish_to_person(self, board_id: str, person_id: str, frame: bytes) -> None:
        """A frame for one person's connections to the board, in every process (their own votes)."""
        self._deliver_control(board_id, Outgoing(frame), person_id)
        if not self._single_process:
            self.outbox.put(self._channel(board_id), _header(self.origin, 0, 0, person_id) + frame)

    def _deliver_control(self, board_id: str, frame: Outgoing, person_id: str | None = None) -> None:
        group = self._boards.get(board_id)
        if group:
            for conn in group.connections:
                if person_id is None or conn.person_id == person_id:
                    conn.send_control(frame)

    def _deliver(self, board_id: str, first: int, last: int, frame: Outgoing) -> None:
        group = self._boards.get(board_id)
        if group is None:
            return
        if group.busy:
            group.pending.append((first, last, frame))
            if group.arrived is not None:
                group.arrived.set()
            return
        if last <= group.delivered:
            return
        if first > group.delivered + 1 or first <= group.delivered:
            group.busy = True
            group.pending.append((first, last, frame))
            if first > group.delivered + 1:
                # A gap: usually another process's frame that is still on its way.
                work = self._fill_gap(board_id, group)
            else:
                # An overlap: read the exact range from the database instead.
                work = self._catch_up(board_id, group)
            task = asyncio.create_task(work)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self._send(group, last, frame)

    @staticmethod
    def _send(group: _BoardGroup, last: int, frame: Outgoing) -> None:
        group.delivered = last
        started = time.perf_counter()
        for conn in group.connections:
            conn.deliver(last, frame)
        if (m := metrics.current) is not None:
            m.fanout_seconds.observe(time.perf_counter() - started)

    async def _fill_gap(self, board_id: str, group: _BoardGroup) -> None:
        """Wait a moment for the frames that close a gap; read what is still missing from the database.

        Two processes write to one board in turns, so one may commit its operation
        right after the other's and deliver it locally before the other's frame
        has come through Redis: waiting a few milliseconds for that frame is
        cheaper than a database read, during which the board's frames wait too.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GAP_GRACE_SECONDS
        group.arrived = asyncio.Event()
        try:
            while self._send_contiguous(group):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                group.arrived.clear()
                try:
                    await asyncio.wait_for(group.arrived.wait(), remaining)
                except TimeoutError:
                    break
        finally:
            group.arrived = None
        if group.pending:
            await self._catch_up(board_id, group)
        else:
            group.busy = False

    def _send_contiguous(self, group: _BoardGroup) -> bool:
        """Send the pending frames that continue the delivered sequence.

        True while what is left waits for a gap to close; an overlap (a frame that
        starts at or before what was delivered) no other frame can mend.
        """
        group.pending.sort(key=lambda entry: entry[0])
        left: list[tuple[int, int, Outgoing]] = []
        for first, last, frame in group.pending:
            if last <= group.delivered:
                continue
            if first == group.delivered + 1:
                self._send(group, last, frame)
            else:
                left.append((first, last, frame))
        group.pending = left
        return bool(left) and left[0][0] > group.delivered + 1

    async def _catch_up(self, board_id: str, group: _BoardGroup, head: int | None = None) -> None:
        try:
            while True:
                target = max([last for _, last, _ in group.pending] + [head or 0])
                if target <= group.delivered:
                    break
                async with self.engine.connect() as db:
                    events = await events_between(
                        db, board_id, group.delivered + 1, min(target, group.delivered + CATCH_UP_BATCH)
                    )
                if not events:
                    break
                if (m := metrics.current) is not None:
                    m.catch_ups.inc()
                self._send(group, events[-1].seq, Outgoing.of(p.Ops(ops=events)))
        except Exception:
            log.exception("catch-up from the database failed", extra={"board": board_id})
            if (m := metrics.current) is not None:
                m.errors.labels("catch_up").inc()
        finally:
            pending, group.pending = group.pending, []
            group.busy = False
            for first, last, frame in pending:
                if last > group.delivered:
                    self._deliver(board_id, first, last, frame)

    async def catch_up_all(self) -> None:
        """After a broadcast reconnect: read every local board's missed operations."""
        for board_id, group in list(self._boards.items()):
            if group.busy:
                continue
            head = await self._head(board_id)
            if head > group.delivered:
                group.busy = True
                await self._catch_up(board_id, group, head)

    async def _listen(self) -> None:
        while True:
            try:
                event = await self.backend.next_event()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("broadcast listener error")
                await asyncio.sleep(0.5)
                continue
            if isinstance(event, Reconnected):
                await self.catch_up_all()
            elif isinstance(event, Published):
                try:
                    self._on_published(event)
                except Exception:  # one bad message must not stop the listener
                    log.exception("broadcast message handling failed", extra={"channel": event.channel})

    def _on_published(self, event: Published) -> None:
        if self._inbox is not None and event.channel == self._inbox[0]:
            self._inbox[1](event.data)
            return
        header, _, frame = event.data.partition(b"\n")
        if event.channel.startswith("team:"):
            if not header.startswith(self.origin.encode() + b" "):
                self._tell_watchers(event.channel)
            return
        if event.channel == CONTROL_CHANNEL:
            if not header.startswith(self.origin.encode() + b" "):
                self._apply_kick(msgspec.json.decode(frame))
            return
        try:
            origin, first_s, last_s, *person = header.decode().split(" ")
            first, last = int(first_s), int(last_s)
            if len(person) > 1:
                raise ValueError("too many parts")
        except ValueError:
            log.warning("ignored a malformed broadcast message")
            return
        if origin == self.origin:
            return
        board_id = event.channel.removeprefix("board:")
        if first == 0:
            self._deliver_control(board_id, Outgoing(frame), person[0] if person else None)
        else:
            self._deliver(board_id, first, last, Outgoing(frame))
            if self._watchers:
                self._tell_watchers(event.channel)

    # ------------------------------------------------------------ access changes

    async def kick(
        self,
        *,
        person_id: str,
        session_id: str | None = None,
        team_board_ids: list[str] | None = None,
        code: int = p.CloseCode.FORBIDDEN,
        reason: str = "access ended",
    ) -> None:
        """Close a person's sockets in every process: all, one session's, or those of some boards."""
        order = {"person": person_id, "session": session_id, "boards": team_board_ids, "code": code, "reason": reason}
        self._apply_kick(order)
        if not self._single_process:
            self.outbox.put(CONTROL_CHANNEL, _header(self.origin, 0, 0) + msgspec.json.encode(order), droppable=False)

    def _apply_kick(self, order: dict[str, Any]) -> None:
        boards = set(order.get("boards") or [])
        for conn in self.all_connections():
            if conn.person_id != order.get("person"):
                continue
            if order.get("session") and conn.session_id != order["session"]:
                continue
            if boards and conn.board_id not in boards:
                continue
            conn.kick(int(order.get("code", p.CloseCode.FORBIDDEN)), str(order.get("reason", "")))

    # ------------------------------------------------------------ presence

    async def presence_put(self, conn: Connection) -> None:
        entry = p.PresenceEntry(person=conn.person_id, name=conn.name, role=conn.role, editing=conn.editing)
        await self.backend.presence_put(conn.board_id, conn.conn_id, p.encode(entry), PRESENCE_TTL)

    async def presence_remove(self, conn: Connection) -> None:
        await self.backend.presence_remove(conn.board_id, conn.conn_id)

    # ------------------------------------------------------------ connections per person, in every process

    async def register_connection(self, person_id: str, conn_id: str) -> None:
        """Let the other processes count this connection against the person's limit (refreshed with presence)."""
        if self._single_process:
            return
        try:
            await asyncio.wait_for(
                self.backend.presence_put(_person_scope(person_id), conn_id, self.origin.encode(), PRESENCE_TTL), 1.0
            )
        except Exception:
            log.warning("could not register a connection for the other processes")

    async def unregister_connection(self, person_id: str, conn_id: str) -> None:
        if self._single_process:
            return
        try:
            await asyncio.wait_for(self.backend.presence_remove(_person_scope(person_id), conn_id), 1.0)
        except Exception:
            log.warning("could not unregister a connection; it expires by itself")

    async def connections_of(self, person_id: str, here: int) -> int:
        """The person's open connections: ``here`` in this process, plus those other processes registered.

        Without the backend, only this process's are counted: the limit then holds per process.
        A process that died leaves its connections counted until their presence expires.
        """
        if self._single_process:
            return here
        try:
            entries = await asyncio.wait_for(self.backend.presence_list(_person_scope(person_id)), 1.0)
        except Exception:
            log.warning("could not count the person's connections in other processes")
            return here
        mine = self.origin.encode()
        return here + sum(1 for origin in entries.values() if origin != mine)

    async def presence_list(self, board_id: str) -> list[p.PresenceEntry]:
        """Who is on the board, one entry per person (a person may have several tabs open)."""
        raw = await self.backend.presence_list(board_id)
        people: dict[str, p.PresenceEntry] = {}
        for value in raw.values():
            entry = msgspec.json.decode(value, type=p.PresenceEntry)
            if entry.person not in people or entry.editing:
                people[entry.person] = entry
        return sorted(people.values(), key=lambda e: e.name.casefold())

    async def _refresh_presence(self) -> None:
        while True:
            await asyncio.sleep(PRESENCE_TTL / 3)
            for conn in self.all_connections():
                if conn.closed:
                    continue  # leaving: its entries are being removed
                try:
                    await self.presence_put(conn)
                    await self.register_connection(conn.person_id, conn.conn_id)
                    if conn.closed:  # it left while we wrote: take back what we put again
                        await self.presence_remove(conn)
                        await self.unregister_connection(conn.person_id, conn.conn_id)
                except Exception:
                    log.warning("presence refresh failed")
                    break


def _person_scope(person_id: str) -> str:
    return f"person:{person_id}"
