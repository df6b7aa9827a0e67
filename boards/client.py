"""A Python client of the board protocol, for tests, benchmarks and scripts.

It keeps a replica of the board: a snapshot or the missed operations on
connect, then every event in sequence order. A gap in sequence numbers makes it
ask for the missing range; a ``resync`` makes it sync from its last sequence;
operations not yet acknowledged are resent after a reconnect with the same op
ids, so the server applies each exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websockets

from boards import protocol as p

#: The board's settings that ``board.changed`` events carry.
BOARD_SETTINGS = ("title", "locked", "votes_revealed", "timer_ends_at")


class ClientError(Exception):
    def __init__(self, error: p.Error) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.error = error


@dataclass
class BoardReplica:
    seq: int = 0
    board: dict[str, Any] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    votes_mine: dict[str, int] = field(default_factory=dict)
    vote_totals: dict[str, int] = field(default_factory=dict)
    reactions: set[tuple[str, str, str]] = field(default_factory=set)
    votes_used: int = 0
    #: Your person id (from ``welcome``): revealed vote events name whose votes they are.
    me: str | None = None
    #: The ``seq`` the own votes are as of: a ``votes`` frame older than that changes nothing.
    votes_seq: int = 0

    def load(self, snap: p.Snapshot) -> None:
        self.votes_used = int(snap.votes.get("used", 0))
        self.votes_seq = snap.seq
        self.seq = snap.seq
        self.board = dict(snap.board)
        self.items = {i["id"]: dict(i) for i in snap.items}
        self.votes_mine = dict(snap.votes.get("mine", {}))
        self.vote_totals = dict(snap.votes.get("totals", {}))
        self.reactions = {(r["id"], r["person"], r["emoji"]) for r in snap.reactions}

    def load_own_votes(self, votes: p.Votes) -> None:
        if votes.seq >= self.votes_seq:
            self.votes_mine, self.votes_used, self.votes_seq = dict(votes.mine), votes.used, votes.seq

    def apply(self, event: p.Event) -> None:
        data = event.data
        kind = event.type
        if kind in ("item.created", "item.restored"):
            self.items[data["item"]["id"]] = dict(data["item"])
        elif kind == "item.updated":
            item = self.items.get(data["id"])
            if item is not None:
                fields = dict(item["fields"])
                for name, value in data["fields"].items():
                    if value is None:
                        fields.pop(name, None)
                    else:
                        fields[name] = value
                item.update(fields=fields, version=data["version"], seq=event.seq)
        elif kind == "item.moved":
            item = self.items.get(data["id"])
            if item is not None:
                item.update(
                    stage=data["stage"], lane=data["lane"], order=data["order"], version=data["version"], seq=event.seq
                )
        elif kind == "item.deleted":
            self.items.pop(data["id"], None)
        elif kind == "vote.changed" and not data.get("hidden"):
            self.vote_totals[data["id"]] = data["total"]
            if self.me is not None and data["person"] == self.me:
                self.votes_used += data["count"] - self.votes_mine.get(data["id"], 0)
                self.votes_mine[data["id"]] = data["count"]
        elif kind == "board.changed":
            for name in BOARD_SETTINGS:
                if name in data:
                    self.board[name] = data[name]
            if "totals" in data:
                self.vote_totals = dict(data["totals"])
        elif kind == "author.anonymised":
            for item in self.items.values():
                if item["author"] == data["person"]:
                    item["author"] = None
        elif kind == "reaction.changed":
            key = (data["id"], data["person"], data["emoji"])
            if data["on"]:
                self.reactions.add(key)
            else:
                self.reactions.discard(key)
        self.seq = event.seq

    def comparable(self) -> dict[str, Any]:
        """The state any two replicas of the same board must agree on, whoever holds them.

        Each person's own vote counts (``votes_mine``) differ by reader and are not
        kept up to date by events (a hidden vote names no one), so they are left out.
        """
        return {
            "seq": self.seq,
            "board": {name: self.board.get(name) for name in BOARD_SETTINGS},
            "items": {
                i: (d["type"], d["parent"], d["stage"], d["lane"], d["order"], d["fields"], d["version"], d["author"])
                for i, d in self.items.items()
            },
            "vote_totals": dict(sorted(self.vote_totals.items())),
            "reactions": sorted(self.reactions),
        }

    def ordered(self, stage: str | None = None, lane: str | None = None) -> list[dict[str, Any]]:
        cell = [i for i in self.items.values() if i["stage"] == stage and i["lane"] == lane and not i["parent"]]
        return sorted(cell, key=lambda i: (i["order"], i["id"]))


class BoardClient:
    """Connect with :meth:`connect`; send with :meth:`send_op` or :meth:`call`."""

    def __init__(
        self,
        url: str,
        *,
        cookie: str | None = None,
        origin: str | None = None,
        on_event: Callable[[p.Event], None] | None = None,
        record_frames: bool = False,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.url = url
        #: For ``wss://`` behind a proxy whose certificate the system does not trust (tests, benchmarks).
        self.tls = tls
        self.cookie = cookie
        self.origin = origin
        self.replica = BoardReplica()
        self.on_event = on_event
        #: Every frame as the server sent it, when asked for: what a test of the server reads.
        self.frames: list[str | bytes] | None = [] if record_frames else None
        self.welcome: p.Welcome | None = None
        self.presence: dict[str, p.PresenceEntry] = {}
        self.errors: list[p.Error] = []
        self.round: p.RoundState | None = None  # the coaching round's timer and announcement, when sent
        self.closed_code: int | None = None
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, tuple[p.AnyCommand, asyncio.Future[p.Ack]]] = {}
        self._ids = itertools.count(1)
        self._prefix = secrets.token_hex(4)
        self._synced = asyncio.Event()
        self._changed = asyncio.Event()
        self._gap_requested = False
        self._missed_while_syncing = False
        self.received_events = 0
        self._sync_task: asyncio.Future[None] | None = None

    # ------------------------------------------------------------ lifecycle

    async def connect(self, *, resume: bool | None = None) -> None:
        headers = []
        if self.cookie:
            headers.append(("Cookie", self.cookie))
        self._synced.clear()
        # Only for wss://: websockets refuses an ssl argument with a ws:// address.
        tls: dict[str, Any] = {"ssl": self.tls} if self.tls is not None else {}
        self._ws = await websockets.connect(
            self.url,
            additional_headers=headers,
            origin=websockets.Origin(self.origin) if self.origin else None,
            max_size=2**22,
            compression=None,
            **tls,
        )
        self.closed_code = None
        since = self.replica.seq if (resume if resume is not None else self.replica.seq > 0) else None
        self._reader = asyncio.create_task(self._read())
        try:
            await self._ws.send(p.encode(p.Hello(v=p.PROTOCOL_VERSION, since=since)).decode())
        except websockets.ConnectionClosed:
            pass
        synced = asyncio.ensure_future(self._synced.wait())
        await asyncio.wait({synced, self._reader}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if not synced.done():
            synced.cancel()
            await self.close()
            raise ConnectionRefusedError(f"the server closed the connection with code {self.closed_code}")
        # Whatever was sent but not acknowledged before is sent again with its op id.
        for op_id, (command, _future) in list(self._pending.items()):
            await self._ws.send(p.encode(p.Op(id=op_id, op=command)).decode())

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            try:
                await self._reader
            except Exception:
                pass

    async def drop(self) -> None:
        """Lose the connection abruptly, keeping unacknowledged operations for a resend."""
        transport = getattr(self._ws, "transport", None)
        if transport is not None:
            transport.abort()
        await self.close()

    # ------------------------------------------------------------ sending

    def new_op_id(self) -> str:
        return f"{self._prefix}-{next(self._ids)}"

    async def send_op(self, command: p.AnyCommand, op_id: str | None = None) -> asyncio.Future[p.Ack]:
        op_id = op_id or self.new_op_id()
        future: asyncio.Future[p.Ack] = asyncio.get_running_loop().create_future()
        self._pending[op_id] = (command, future)
        try:
            await self._ws.send(p.encode(p.Op(id=op_id, op=command)).decode())
        except websockets.ConnectionClosed:
            pass  # resent on reconnect
        return future

    async def call(self, command: p.AnyCommand, timeout: float = 10) -> p.Ack:
        future = await self.send_op(command)
        return await asyncio.wait_for(future, timeout)

    async def send_raw(self, data: str | bytes) -> None:
        await self._ws.send(data)

    async def set_editing(self, item_id: str | None) -> None:
        await self._ws.send(p.encode(p.PresenceSet(editing=item_id)).decode())

    @property
    def unacknowledged(self) -> int:
        return len(self._pending)

    # ------------------------------------------------------------ waiting

    async def wait_for(self, predicate: Callable[[BoardReplica], bool], timeout: float = 10) -> None:
        async def _loop() -> None:
            while not predicate(self.replica):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(_loop(), timeout)

    async def wait_seq(self, seq: int, timeout: float = 10) -> None:
        await self.wait_for(lambda r: r.seq >= seq, timeout)

    async def next_error(self, timeout: float = 5) -> p.Error:
        count = len(self.errors)

        async def _loop() -> None:
            while len(self.errors) <= count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(_loop(), timeout)
        return self.errors[count]

    # ------------------------------------------------------------ receiving

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                if self.frames is not None:
                    self.frames.append(raw)
                self._handle(p.decode_server(raw))
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            if self._ws is not None and self._ws.close_code is not None:
                self.closed_code = self._ws.close_code
            self._changed.set()

    @property
    def connected(self) -> bool:
        return self._reader is not None and not self._reader.done()

    def _handle(self, message: p.ServerMessage) -> None:
        if isinstance(message, p.Ops):
            for event in message.ops:
                if event.seq <= self.replica.seq:
                    continue  # already have it
                if event.seq > self.replica.seq + 1:
                    self._request_gap()
                    return
                self.replica.apply(event)
                self.received_events += 1
                if self.on_event is not None:
                    self.on_event(event)
        elif isinstance(message, p.Snapshot):
            self.replica.load(message)
        elif isinstance(message, p.Synced):
            self._gap_requested = False
            self._synced.set()
            if self._missed_while_syncing or message.seq > self.replica.seq:
                # Something was dropped while the sync was on its way: ask again.
                self._missed_while_syncing = False
                self._request_gap()
        elif isinstance(message, p.Ack):
            entry = self._pending.pop(message.op, None)
            if entry is not None and not entry[1].done():
                entry[1].set_result(message)
        elif isinstance(message, p.Error):
            self.errors.append(message)
            entry = self._pending.pop(message.op, None) if message.op else None
            if entry is not None and not entry[1].done():
                entry[1].set_exception(ClientError(message))
        elif isinstance(message, p.Welcome):
            self.welcome = message
            self.replica.me = message.person
        elif isinstance(message, p.Presence):
            self.presence = {e.person: e for e in message.people}
        elif isinstance(message, p.PresenceChanged):
            if message.state == "left":
                self.presence.pop(message.person, None)
            else:
                self.presence[message.person] = p.PresenceEntry(
                    person=message.person, name=message.name, role=message.role, editing=message.editing
                )
        elif isinstance(message, p.RoundState):
            self.round = message
        elif isinstance(message, p.Resync):
            self._request_gap()
        elif isinstance(message, p.Votes):
            self.replica.load_own_votes(message)

    def _request_gap(self) -> None:
        if self._gap_requested:
            self._missed_while_syncing = True
            return
        self._gap_requested = True
        self._sync_task = asyncio.ensure_future(self._ws.send(p.encode(p.Sync(since=self.replica.seq)).decode()))
