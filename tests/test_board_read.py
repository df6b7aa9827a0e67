"""PostgreSQL: a batch locks the board and reads in one statement; the read may be older than the lock.

The statement reads the snapshot taken when it started, and another writer may
commit while it waits for the board's row lock. Its items are then stale, and
the engine must read them again: otherwise it would put an item back as it was
before the other writer's change.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text

from boards import protocol as p
from boards.board_read import read_board
from boards.engine import _LOCK_AND_READ_BOARD, Limits, Outcome, Submission, apply_batch
from boards.models import Item, Operation
from foundation.db import create_engine, new_id
from tests.conftest import Seeded

pytestmark = pytest.mark.pg


@pytest.fixture
def db_url(pg_url: str) -> str:
    return pg_url


def _update(who: str, op: str, card: str, fields: dict[str, object]) -> Submission:
    return Submission(who, op, p.ItemUpdate(id=card, fields=fields))


def test_a_writer_that_waited_for_the_lock_keeps_the_other_writers_change(migrated_url: str, seeded: Seeded) -> None:
    card = new_id()

    async def scenario() -> tuple[Outcome, Outcome, dict[str, object], list[int], int]:
        engine = create_engine(migrated_url)
        try:
            async with engine.begin() as conn:
                create = p.ItemCreate(
                    id=card, item_type="card", fields={"text": "alku"}, stage=seeded.stage, lane=seeded.lane
                )
                await apply_batch(conn, seeded.board, [Submission(seeded.professional, "c1", create)], Limits())
            first = await engine.connect()
            second = await engine.connect()
            try:
                holder = await first.begin()
                await first.execute(text("UPDATE board SET seq = seq WHERE id = :b"), {"b": seeded.board})
                # The customer's edit starts now and waits for the row lock held above.
                waiting = asyncio.create_task(
                    _in_transaction(second, seeded.board, _update(seeded.customer, "u2", card, {"emotion": -1}))
                )
                await asyncio.sleep(0.3)
                assert not waiting.done()
                # Meanwhile the professional's edit of another field commits.
                [earlier] = await apply_batch(
                    first,
                    seeded.board,
                    [_update(seeded.professional, "u1", card, {"text": "muutettu"})],
                    Limits(),
                )
                await holder.commit()
                later = await asyncio.wait_for(waiting, 10)
            finally:
                await first.close()
                await second.close()
            async with engine.connect() as conn:
                fields = (await conn.execute(select(Item.fields).where(Item.id == card))).scalar_one()
                seqs = list(
                    (
                        await conn.execute(
                            select(Operation.seq).where(Operation.board_id == seeded.board).order_by(Operation.seq)
                        )
                    ).scalars()
                )
                version = (await conn.execute(select(Item.version).where(Item.id == card))).scalar_one()
        finally:
            await engine.dispose()
        return earlier, later, fields, seqs, version

    earlier, later, fields, seqs, version = asyncio.run(scenario())
    assert earlier.error is None and later.error is None
    assert later.seq == earlier.seq + 1
    assert fields == {"text": "muutettu", "emotion": -1}  # neither edit lost
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gaps, no repeats
    assert version == 3  # created, then two edits


async def _in_transaction(conn: object, board: str, submission: Submission) -> Outcome:
    async with conn.begin():  # type: ignore[attr-defined]
        [outcome] = await apply_batch(conn, board, [submission], Limits())  # type: ignore[arg-type]
    return outcome


def test_a_read_that_waited_for_the_lock_says_its_snapshot_is_older(migrated_url: str, seeded: Seeded) -> None:
    async def scenario() -> tuple[bool, bool, int, int]:
        engine = create_engine(migrated_url)
        first = await engine.connect()
        second = await engine.connect()
        try:
            unlocked = await second.run_sync(_read, seeded.board)
            await second.rollback()
            holder = await first.begin()
            await first.execute(text("UPDATE board SET seq = seq + 1 WHERE id = :b"), {"b": seeded.board})
            waiting = asyncio.create_task(_read_in_transaction(second, seeded.board))
            await asyncio.sleep(0.3)
            assert not waiting.done()
            await holder.commit()
            read = await asyncio.wait_for(waiting, 10)
        finally:
            await first.close()
            await second.close()
            await engine.dispose()
        return unlocked[0], read[0], unlocked[1], read[1]

    current_before, current_after, seq_before, seq_after = asyncio.run(scenario())
    assert current_before is True  # nobody held the lock
    assert current_after is False
    assert seq_after == seq_before + 1  # the locked row is the newest version


def _read(conn: object, board: str) -> tuple[bool, int]:
    found = read_board(conn, _LOCK_AND_READ_BOARD, board, [], [], [])  # type: ignore[arg-type]
    assert found is not None
    return found.current, found.board.seq


async def _read_in_transaction(conn: object, board: str) -> tuple[bool, int]:
    async with conn.begin():  # type: ignore[attr-defined]
        return await conn.run_sync(_read, board)  # type: ignore[attr-defined]
