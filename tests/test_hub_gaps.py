"""The hub delivers a board's frames in sequence order: a frame that skips ahead waits a moment
for the missing ones (another process's, still on their way) and reads them from the database
only if they do not come."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from boards import protocol as p
from foundation.broadcast.memory import MemoryBackend
from server.ws import hub as hub_module
from server.ws.connection import Outgoing
from server.ws.hub import Hub, _BoardGroup

#: A wait long enough that a loaded machine's scheduling cannot outlast it.
GRACE = 0.5


class Receiver:
    def __init__(self) -> None:
        self.seqs: list[int] = []

    def deliver(self, last_seq: int, frame: Outgoing) -> None:
        ops = msgspec.json.decode(frame.payload, type=p.Ops)
        self.seqs.extend(e.seq for e in ops.ops)


class Database:
    """Stands in for the engine: counts the reads of missed operations."""

    def __init__(self) -> None:
        self.reads = 0

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[None]:
        self.reads += 1
        yield None


def _frame(seq: int) -> Outgoing:
    return Outgoing.of(p.Ops(ops=[_event(seq)]))


def _event(seq: int) -> p.Event:
    return p.Event(seq=seq, type="item.updated", actor="a", op=f"o{seq}", at="", data={})


def _hub(database: Database, receiver: Receiver) -> Hub:
    hub = Hub(MemoryBackend(), database)  # type: ignore[arg-type]
    hub._boards["b"] = _BoardGroup(connections={receiver}, delivered=10)  # type: ignore[arg-type]
    return hub


async def test_a_frame_that_overtook_another_waits_for_it_without_reading_the_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hub_module, "GAP_GRACE_SECONDS", GRACE)
    database, receiver = Database(), Receiver()
    hub = _hub(database, receiver)
    hub._deliver("b", 12, 12, _frame(12))  # this process's own commit, after the other's 11
    assert receiver.seqs == []
    await asyncio.sleep(0.01)
    hub._deliver("b", 11, 11, _frame(11))  # the other process's frame arrives through Redis
    hub._deliver("b", 13, 13, _frame(13))
    for _ in range(10):  # the waiting task wakes up as soon as the frame is there
        await asyncio.sleep(0)
    assert receiver.seqs == [11, 12, 13]
    assert database.reads == 0
    assert not hub._boards["b"].busy


async def test_a_frame_that_never_comes_is_read_from_the_database(monkeypatch: pytest.MonkeyPatch) -> None:
    database, receiver = Database(), Receiver()
    hub = _hub(database, receiver)

    async def events_between(db: Any, board_id: str, first: int, last: int) -> list[p.Event]:
        return [_event(seq) for seq in range(first, last + 1)]

    monkeypatch.setattr(hub_module, "events_between", events_between)
    monkeypatch.setattr(hub_module, "GAP_GRACE_SECONDS", GRACE)
    hub._deliver("b", 13, 14, Outgoing.of(p.Ops(ops=[_event(13), _event(14)])))
    await asyncio.sleep(GRACE / 10)
    assert receiver.seqs == [] and database.reads == 0  # still waiting
    await asyncio.sleep(GRACE)
    assert database.reads == 1
    assert receiver.seqs == [11, 12, 13, 14]
    assert hub._boards["b"].delivered == 14 and not hub._boards["b"].busy


async def test_an_overlapping_frame_is_read_from_the_database_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """No other frame can mend an overlap, so there is nothing to wait for."""
    database, receiver = Database(), Receiver()
    hub = _hub(database, receiver)

    async def events_between(db: Any, board_id: str, first: int, last: int) -> list[p.Event]:
        return [_event(seq) for seq in range(first, last + 1)]

    monkeypatch.setattr(hub_module, "events_between", events_between)
    monkeypatch.setattr(hub_module, "GAP_GRACE_SECONDS", GRACE)
    hub._deliver("b", 13, 13, _frame(13))  # a gap: waits
    hub._deliver("b", 10, 12, Outgoing.of(p.Ops(ops=[_event(10), _event(11), _event(12)])))  # overlaps 10
    for _ in range(10):
        await asyncio.sleep(0)
    assert database.reads == 1  # long before the grace is over
    assert receiver.seqs == [11, 12, 13]


class RecordingBackend:
    """A backend of several processes that notes when a frame was handed to it."""

    def __init__(self, events: list[str]) -> None:
        self.events = events

    async def publish(self, channel: str, data: bytes) -> None:
        self.events.append("published")


async def test_a_frame_leaves_for_the_other_processes_before_the_local_fan_out() -> None:
    # The other processes' receivers wait for the Redis hop anyway: it should not also
    # wait for this process's sends to its own sockets.
    events: list[str] = []

    class LocalReceiver(Receiver):
        def deliver(self, last_seq: int, frame: Outgoing) -> None:
            events.append("delivered")

    hub = Hub(MemoryBackend(), Database())  # type: ignore[arg-type]
    hub._single_process = False
    hub.outbox = hub_module.Outbox(RecordingBackend(events))  # type: ignore[arg-type]
    hub.outbox.start()
    hub._boards["b"] = _BoardGroup(connections={LocalReceiver()}, delivered=10)  # type: ignore[arg-type]
    try:
        await hub.publish_ops("b", 11, 11, _frame(11).payload)
    finally:
        await hub.outbox.close()
    assert events == ["published", "delivered"]
