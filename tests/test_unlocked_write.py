"""PostgreSQL: a batch read without a lock is written only if the board row has not changed since.

One process writes each board, so the engine first tries a batch in two
statements without a transaction (no BEGIN, no COMMIT): read, then one write
that checks the board row's version. When another writer got in between, or the
batch needs more than that one statement, nothing is written and the caller
does the batch in a locked transaction.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select, text

import boards.engine as engine_module
from boards import protocol as p
from boards.engine import Limits, Outcome, Submission, apply_batch, apply_batch_unlocked
from boards.models import Item, Operation
from boards.sequencer import Sequencer
from foundation.db import TransactionRunner, create_engine, new_id
from tests.conftest import Seeded

pytestmark = pytest.mark.pg


@pytest.fixture
def db_url(pg_url: str) -> str:
    return pg_url


def _update(who: str, op: str, card: str, text_: str) -> Submission:
    return Submission(who, op, p.ItemUpdate(id=card, fields={"text": text_}))


async def _card(engine: Any, seeded: Seeded) -> str:
    card = new_id()
    create = p.ItemCreate(id=card, item_type="card", fields={"text": "alku"}, stage=seeded.stage, lane=seeded.lane)
    async with engine.begin() as conn:
        await apply_batch(conn, seeded.board, [Submission(seeded.professional, "create", create)], Limits())
    return card


async def _unlocked(engine: Any, board: str, subs: list[Submission]) -> list[Outcome] | None:
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return await conn.run_sync(apply_batch_unlocked, board, subs, Limits())


async def _stored(engine: Any, board: str, card: str) -> tuple[str, list[str]]:
    async with engine.connect() as conn:
        fields = (await conn.execute(select(Item.fields).where(Item.id == card))).scalar_one()
        ops = (
            await conn.execute(select(Operation.op_id).where(Operation.board_id == board).order_by(Operation.seq))
        ).scalars()
        return fields["text"], list(ops)


def test_an_update_is_written_in_one_statement_after_the_read(migrated_url: str, seeded: Seeded) -> None:
    async def scenario() -> tuple[list[Outcome] | None, list[Outcome] | None, tuple[str, list[str]]]:
        engine = create_engine(migrated_url)
        try:
            card = await _card(engine, seeded)
            written = await _unlocked(engine, seeded.board, [_update(seeded.professional, "u1", card, "uusi")])
            again = await _unlocked(engine, seeded.board, [_update(seeded.professional, "u1", card, "uusi")])
            return written, again, await _stored(engine, seeded.board, card)
        finally:
            await engine.dispose()

    written, again, (stored_text, ops) = asyncio.run(scenario())
    assert written is not None and written[0].error is None and written[0].event is not None
    assert again is not None and again[0].duplicate and again[0].seq == written[0].seq  # a resend: nothing new
    assert stored_text == "uusi" and ops == ["create", "u1"]


def test_a_board_changed_after_the_read_writes_nothing(
    migrated_url: str, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_board = engine_module.read_board

    async def scenario() -> tuple[list[Outcome] | None, tuple[str, list[str]], list[Outcome]]:
        engine = create_engine(migrated_url)
        try:
            card = await _card(engine, seeded)
            loop = asyncio.get_running_loop()
            other = await engine.connect()

            def read_then_another_writer(*args: Any, **kwargs: Any) -> Any:
                found = read_board(*args, **kwargs)
                # Another writer (the write router's fallback, a departure) commits meanwhile.
                asyncio.run_coroutine_threadsafe(_touch_board(other, seeded.board), loop).result(10)
                return found

            monkeypatch.setattr(engine_module, "read_board", read_then_another_writer)
            try:
                # On a loop of its own: the main loop runs the other writer meanwhile.
                result = await asyncio.to_thread(
                    asyncio.run, _unlocked_fresh(migrated_url, seeded.board, card, seeded.professional)
                )
            finally:
                await other.close()
                monkeypatch.setattr(engine_module, "read_board", read_board)
            stored = await _stored(engine, seeded.board, card)
            # In a transaction, under the lock, the same batch is written after the other's change.
            async with engine.begin() as conn:
                locked = await apply_batch(
                    conn, seeded.board, [_update(seeded.professional, "u1", card, "uusi")], Limits()
                )
            return result, stored, locked
        finally:
            await engine.dispose()

    result, (stored_text, ops), locked = asyncio.run(scenario())
    assert result is None
    assert stored_text == "alku" and ops == ["create"]  # neither the item nor the log was written
    assert locked[0].error is None and locked[0].seq == 2


async def _touch_board(conn: Any, board: str) -> None:
    async with conn.begin():
        await conn.execute(text("UPDATE board SET seq = seq WHERE id = :b"), {"b": board})


async def _unlocked_fresh(url: str, board: str, card: str, who: str) -> list[Outcome] | None:
    engine = create_engine(url)
    try:
        return await _unlocked(engine, board, [_update(who, "u1", card, "uusi")])
    finally:
        await engine.dispose()


def test_a_batch_that_needs_more_than_one_write_is_left_to_the_locked_transaction(
    migrated_url: str, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    read_board = engine_module.read_board

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append("read")
        return read_board(*args, **kwargs)

    monkeypatch.setattr(engine_module, "read_board", counted)

    async def scenario() -> tuple[list[Outcome] | None, Outcome, int]:
        engine = create_engine(migrated_url)
        runner = TransactionRunner(engine)

        async def publish(board_id: str, first: int, last: int, frame: bytes) -> None:
            pass

        sequencer = Sequencer(runner, publish, Limits())
        try:
            create = p.ItemCreate(
                id=new_id(), item_type="card", fields={"text": "x"}, stage=seeded.stage, lane=seeded.lane
            )
            sub = Submission(seeded.professional, "c9", create)
            declined = await _unlocked(engine, seeded.board, [sub])
            outcome = await sequencer.submit(seeded.board, sub)  # unlocked first, then the transaction
            async with engine.connect() as conn:
                count = (await conn.execute(select(Operation.seq).where(Operation.op_id == "c9"))).scalars().all()
            return declined, outcome, len(count)
        finally:
            await sequencer.close()
            await runner.close()
            await engine.dispose()

    declined, outcome, logged = asyncio.run(scenario())
    assert declined is None  # a new item is a second statement: not without a transaction
    assert len(reads) == 1  # and known from the command: only the locked transaction read the board
    assert outcome.error is None and outcome.seq == 1
    assert logged == 1
