"""With several processes, one process writes each board and the others forward to it.

Each test runs two "processes" in one event loop (each with its own Redis
connection, hub, sequencer and writer) on one database and a real Redis. The
lease only makes writing faster: when the writer does not answer, the operation
is written where it arrived, and an operation is never written twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import msgspec
import pytest
from sqlalchemy import func, select

from boards import protocol as p
from boards.engine import Limits, Outcome, Submission
from boards.models import Operation
from boards.sequencer import Sequencer
from foundation.broadcast.redis import RedisBackend
from foundation.db import TransactionRunner, create_engine, new_id
from server.ws import write_router
from server.ws.hub import Hub
from server.ws.write_router import WriteRouter
from tests.conftest import Seeded

pytestmark = pytest.mark.redis


@dataclass
class Process:
    hub: Hub
    sequencer: Sequencer
    router: WriteRouter
    runner: TransactionRunner
    stopped: bool = False

    async def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        await self.sequencer.close()
        self.router.close()
        await self.runner.close()
        await self.hub.stop()
        await self.hub.engine.dispose()


async def _start(database_url: str, redis_url: str) -> Process:
    engine = create_engine(database_url)
    hub = Hub(RedisBackend(redis_url), engine)
    runner = TransactionRunner(engine)
    sequencer = Sequencer(runner, hub.publish_ops, Limits())
    router = WriteRouter(sequencer, hub.backend, hub.outbox, hub.origin, single_process=False)
    await hub.start()
    await hub.serve_inbox(router.inbox, router.on_message)
    return Process(hub, sequencer, router, runner)


@pytest.fixture
async def processes(migrated_url: str, redis_url: str) -> AsyncIterator[tuple[Process, Process]]:
    first, second = await _start(migrated_url, redis_url), await _start(migrated_url, redis_url)
    try:
        yield first, second
    finally:
        for process in (first, second):
            await process.stop()


def _create(seeded: Seeded, op_id: str, card: str) -> Submission:
    command = p.ItemCreate(id=card, item_type="card", fields={"text": op_id}, stage=seeded.stage, lane=seeded.lane)
    return Submission(seeded.professional, op_id, command)


def _update(seeded: Seeded, op_id: str, card: str) -> Submission:
    return Submission(seeded.customer, op_id, p.ItemUpdate(id=card, fields={"text": op_id}))


async def _logged(database_url: str, board_id: str, op_id: str) -> list[int]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(Operation.seq).where(Operation.board_id == board_id, Operation.op_id == op_id)
            )
            return list(rows.scalars())
    finally:
        await engine.dispose()


async def _operations(database_url: str, board_id: str) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            count = await conn.scalar(select(func.count()).where(Operation.board_id == board_id))
            return int(count or 0)
    finally:
        await engine.dispose()


def _lose_the_first_forward(monkeypatch: pytest.MonkeyPatch, sender: Process, writer: Process) -> list[bytes]:
    """The sender's next forward to the writer is lost on its way; returns what was lost."""
    put = sender.hub.outbox.put
    lost: list[bytes] = []

    def lose(channel: str, data: bytes, *, droppable: bool = True) -> None:
        if channel == writer.router.inbox and not lost:
            lost.append(data)
            return
        put(channel, data, droppable=droppable)

    monkeypatch.setattr(sender.hub.outbox, "put", lose)
    return lost


async def test_operations_arriving_elsewhere_are_written_by_the_boards_writer_in_order(
    processes: tuple[Process, Process], seeded: Seeded
) -> None:
    writer, other = processes
    card = new_id()
    first = await writer.router.submit(seeded.board, _create(seeded, "w1", card))
    # Sent back to back, as a client does: the card is created and then changed, in that order.
    created = other.router.submit(seeded.board, _create(seeded, "o1", second_card := new_id()))
    changed = other.router.submit(seeded.board, _update(seeded, "o2", second_card))
    outcomes: list[Outcome] = [await created, await changed]

    assert first.error is None and first.seq > 0
    assert [o.error for o in outcomes] == [None, None]
    assert [o.seq for o in outcomes] == [first.seq + 1, first.seq + 2]
    assert other.router.forwarded == 2 and writer.router.written_for_others == 2
    assert other.router.fallbacks == 0


async def test_a_writer_that_does_not_answer_is_bypassed_and_nothing_is_written_twice(
    processes: tuple[Process, Process], seeded: Seeded, migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer, other = processes
    await writer.router.submit(seeded.board, _create(seeded, "w1", new_id()))
    # The writer commits what it is sent (in milliseconds; the fallback waits the full
    # second), but its answers are lost.
    silence: Callable[..., None] = lambda *args: None  # noqa: E731
    monkeypatch.setattr(writer.router, "_reply", silence)

    outcome = await asyncio.wait_for(other.router.submit(seeded.board, _create(seeded, "o1", new_id())), 5)

    committed = await _logged(migrated_url, seeded.board, "o1")
    assert committed == [outcome.seq], "written once, by the writer; the fallback found it by its op id"
    assert outcome.duplicate and outcome.error is None
    assert other.router.fallbacks == 1


async def test_when_the_writer_has_stopped_the_operation_is_written_where_it_arrived(
    processes: tuple[Process, Process], seeded: Seeded, migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(write_router, "FORWARD_TIMEOUT_SECONDS", 0.5)
    writer, other = processes
    await writer.router.submit(seeded.board, _create(seeded, "w1", new_id()))
    await writer.stop()
    before = await _operations(migrated_url, seeded.board)

    first = await asyncio.wait_for(other.router.submit(seeded.board, _create(seeded, "o1", new_id())), 5)
    # Until the stopped writer's lease runs out, the board is written here without asking again.
    second = await asyncio.wait_for(other.router.submit(seeded.board, _create(seeded, "o2", new_id())), 0.5)

    assert first.error is None and not first.duplicate and second.error is None
    assert second.seq == first.seq + 1
    assert await _operations(migrated_url, seeded.board) == before + 2
    assert other.router.fallbacks == 1 and other.router.forwarded == 1


async def test_without_redis_every_process_writes_its_own_operations(
    migrated_url: str, seeded: Seeded, redis_url: str
) -> None:
    engine = create_engine(migrated_url)
    runner = TransactionRunner(engine)
    published: list[int] = []

    async def publish(board_id: str, first: int, last: int, frame: bytes) -> None:
        published.append(last)

    sequencer = Sequencer(runner, publish, Limits())
    unreachable = RedisBackend("redis://127.0.0.1:1/0")
    await unreachable.connect()
    router = WriteRouter(sequencer, unreachable, None, "here", single_process=False)  # type: ignore[arg-type]
    try:
        outcome = await asyncio.wait_for(router.submit(seeded.board, _create(seeded, "r1", new_id())), 10)
    finally:
        await sequencer.close()
        await runner.close()
        await unreachable.disconnect()
        await engine.dispose()
    assert outcome.error is None and outcome.seq > 0
    assert published == [outcome.seq]
    assert router.forwarded == 0


async def test_a_writer_shutting_down_declines_and_the_operation_is_written_at_once(
    processes: tuple[Process, Process], seeded: Seeded, migrated_url: str
) -> None:
    writer, other = processes
    await writer.router.submit(seeded.board, _create(seeded, "w1", new_id()))
    await other.router.submit(seeded.board, _create(seeded, "o0", new_id()))  # learns who writes the board
    await writer.router.begin_closing()

    # Well inside the one-second fallback: the writer said no at once.
    outcome = await asyncio.wait_for(other.router.submit(seeded.board, _create(seeded, "o1", new_id())), 0.8)

    assert outcome.error is None and not outcome.duplicate
    assert await _logged(migrated_url, seeded.board, "o1") == [outcome.seq]
    assert writer.router.written_for_others == 1, "only o0: o1 was written where it arrived"
    assert other.router.fallbacks == 1


async def test_a_malformed_inbox_message_is_ignored_and_the_process_keeps_listening(
    processes: tuple[Process, Process], seeded: Seeded
) -> None:
    writer, other = processes
    await writer.router.submit(seeded.board, _create(seeded, "w1", new_id()))
    await other.hub.backend.publish(writer.router.inbox, b"not json at all")
    await other.hub.backend.publish(writer.router.inbox, b'{"k": "op", "ref": 1}')

    outcome = await asyncio.wait_for(other.router.submit(seeded.board, _create(seeded, "o1", new_id())), 0.8)

    assert outcome.error is None and not outcome.duplicate
    assert writer.router.written_for_others == 1 and other.router.fallbacks == 0


async def test_a_forwarded_operation_that_arrives_after_its_deadline_is_declined_not_written(
    processes: tuple[Process, Process], seeded: Seeded, migrated_url: str
) -> None:
    """Held up (in the outbox while Redis was away, say), its sender has meanwhile written it or
    told its client it failed; the client may have sent it again under a new op id."""
    writer, other = processes
    await writer.router.submit(seeded.board, _create(seeded, "w1", new_id()))
    stale = write_router._Forward(
        "late-1",
        other.router.origin,
        seeded.board,
        seeded.professional,
        "o-late",
        p.ItemCreate(id=new_id(), item_type="card", fields={"text": "late"}, stage=seeded.stage, lane=seeded.lane),
        expires=time.time() - 0.1,
    )
    await other.hub.backend.publish(writer.router.inbox, msgspec.json.encode(stale))
    # A fresh one behind it goes through: the inbox is read in order, so the stale one was seen first.
    outcome = await asyncio.wait_for(other.router.submit(seeded.board, _create(seeded, "o1", new_id())), 0.8)

    assert outcome.error is None and other.router.fallbacks == 0
    assert writer.router.declined_late == 1
    assert await _logged(migrated_url, seeded.board, "o-late") == []
    assert writer.router.written_for_others == 1, "only o1"


async def test_when_a_forward_is_lost_the_ones_after_it_are_not_written_before_it(
    processes: tuple[Process, Process], seeded: Seeded, migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message lost on its way (Redis reconnecting, a full outbox): the writer declines what
    follows it, and the sender writes both itself, the lost one first."""
    monkeypatch.setattr(write_router, "FORWARD_TIMEOUT_SECONDS", 0.3)
    writer, other = processes
    card = new_id()
    await writer.router.submit(seeded.board, _create(seeded, "w1", card))
    await other.router.submit(seeded.board, _update(seeded, "o0", card))  # learns who writes the board
    lost = _lose_the_first_forward(monkeypatch, other, writer)
    # The same field twice, as a client sends it: the second value must be the one that stays.
    first = other.router.submit(seeded.board, _update(seeded, "o1", card))
    second = other.router.submit(seeded.board, _update(seeded, "o2", card))
    outcomes = [await asyncio.wait_for(first, 5), await asyncio.wait_for(second, 5)]

    assert lost, "the first forward was lost"
    assert [o.error for o in outcomes] == [None, None]
    assert outcomes[0].seq < outcomes[1].seq, "written in the order they were sent"
    assert await _logged(migrated_url, seeded.board, "o1") == [outcomes[0].seq]
    assert await _logged(migrated_url, seeded.board, "o2") == [outcomes[1].seq]
    assert writer.router.declined_out_of_order == 1
    assert writer.router.written_for_others == 1, "only o0"

    # Later forwards start a new stream, which the writer takes again.
    other.router._writers.clear()
    third = await asyncio.wait_for(other.router.submit(seeded.board, _update(seeded, "o3", card)), 5)
    assert third.error is None and third.seq > outcomes[1].seq
    assert writer.router.written_for_others == 2


async def test_an_operation_starting_a_new_stream_waits_for_the_declined_ones_before_it(
    processes: tuple[Process, Process], seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A decline ends the stream; a lease lookup that was under way then sends the next operation
    to the writer on a new stream, which the writer would take at once. It must wait for the
    declined operations, which are written here after the lost one."""
    monkeypatch.setattr(write_router, "FORWARD_TIMEOUT_SECONDS", 0.5)
    writer, other = processes
    card = new_id()
    await writer.router.submit(seeded.board, _create(seeded, "w1", card))
    await other.router.submit(seeded.board, _update(seeded, "o0", card))
    _lose_the_first_forward(monkeypatch, other, writer)
    claim = other.hub.backend.claim

    async def slow_claim(*args: object) -> str:
        await asyncio.sleep(0.1)  # Redis is slow to answer, as when it loses messages
        return await claim(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(other.hub.backend, "claim", slow_claim)
    first = other.router.submit(seeded.board, _update(seeded, "o1", card))  # lost
    second = other.router.submit(seeded.board, _update(seeded, "o2", card))  # declined: o1 is missing
    writer_id, _ = other.router._writers[seeded.board]
    other.router._writers[seeded.board] = (writer_id, time.monotonic() - 1)  # the cached writer runs out
    third = other.router.submit(seeded.board, _update(seeded, "o3", card))  # waits for the lookup
    outcomes = [await asyncio.wait_for(f, 5) for f in (first, second, third)]

    assert [o.error for o in outcomes] == [None, None, None]
    seqs = [o.seq for o in outcomes]
    assert seqs == sorted(seqs), f"written out of order: {seqs}"


async def test_a_lease_taken_while_shutting_down_is_handed_back_at_once(
    processes: tuple[Process, Process], seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lookup was under way when shutdown began: the other process can take the board at once,
    not only when the lease runs out."""
    closing, other = processes
    claim = closing.hub.backend.claim

    async def slow_claim(*args: object) -> str:
        await asyncio.sleep(0.2)
        return await claim(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(closing.hub.backend, "claim", slow_claim)
    written = closing.router.submit(seeded.board, _create(seeded, "c1", new_id()))
    await asyncio.sleep(0.05)  # the lookup is under way
    await closing.router.begin_closing()
    await asyncio.wait_for(written, 5)

    lease = write_router._lease_key(seeded.board)
    assert await other.hub.backend.claim(lease, other.router.origin, write_router.LEASE_MS) == other.router.origin
