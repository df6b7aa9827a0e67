"""The board engine's writes: one transaction per call, committed or rolled back whole.

On a SQLite file the work runs on one dedicated writer thread (not the event
loop's, not aiosqlite's); on PostgreSQL on the async engine's own connection.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from foundation.db import TransactionRunner, create_engine


def _insert(conn: Connection, value: int, *, fail: bool = False) -> str:
    conn.execute(text("INSERT INTO runner_check (x) VALUES (:x)"), {"x": value})
    if fail:
        raise ValueError("refused after the insert")
    return threading.current_thread().name


async def _exercise(url: str) -> tuple[list[str], list[int]]:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE runner_check (x INTEGER PRIMARY KEY)"))
    runner = TransactionRunner(engine)
    try:
        names = list(await asyncio.gather(*(runner.run(_insert, value) for value in range(1, 21))))
        with pytest.raises(ValueError, match="refused after the insert"):
            await runner.run(_insert, 99, fail=True)
        names.append(await runner.run(_insert, 21))
    finally:
        await runner.close()
    async with engine.connect() as conn:
        stored = [row[0] for row in await conn.execute(text("SELECT x FROM runner_check ORDER BY x"))]
    await engine.dispose()
    return names, stored


def test_each_call_commits_whole_or_not_at_all(db_url: str) -> None:
    names, stored = asyncio.run(_exercise(db_url))
    assert stored == list(range(1, 22))  # 99 was rolled back with its transaction
    if db_url.startswith("sqlite"):
        assert set(names) == {"kumppani-writer"}
    else:
        assert set(names) == {threading.current_thread().name}  # the event loop's thread, through run_sync


def test_in_memory_sqlite_stays_on_the_async_engine() -> None:
    async def go() -> str:
        engine = create_engine("sqlite+aiosqlite://")
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE runner_check (x INTEGER PRIMARY KEY)"))
        runner = TransactionRunner(engine)
        try:
            return await runner.run(_insert, 1)
        finally:
            await runner.close()
            await engine.dispose()

    # A second engine would open a different, empty in-memory database.
    assert asyncio.run(go()) != "kumppani-writer"


@pytest.mark.pg
def test_a_dead_postgresql_connection_costs_a_retry_not_an_error(pg_url: str) -> None:
    def backend_pid(conn: Connection) -> int:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())

    async def go() -> tuple[int, int]:
        engine = create_engine(pg_url)
        runner = TransactionRunner(engine)
        try:
            first = await runner.run(backend_pid)
            async with engine.begin() as conn:  # as a database restart would
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            await asyncio.sleep(0.2)
            return first, await runner.run(backend_pid)
        finally:
            await runner.close()
            await engine.dispose()

    first, second = asyncio.run(go())
    assert second != first


@pytest.mark.pg
def test_unlocked_calls_keep_their_connection_and_replace_a_dead_one(pg_url: str) -> None:
    def backend_pid(conn: Connection) -> int:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())

    def in_transaction(conn: Connection) -> bool:
        # Two statements in one transaction share its id; on their own, each has its own.
        ids = [conn.execute(text("SELECT txid_current()")).scalar_one() for _ in range(2)]
        return bool(ids[0] == ids[1])

    async def go() -> tuple[int, int, int, bool]:
        engine = create_engine(pg_url)
        runner = TransactionRunner(engine)
        try:
            first = await runner.run_unlocked(backend_pid)
            kept = await runner.run_unlocked(backend_pid)
            async with engine.begin() as conn:  # as a database restart would
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            await asyncio.sleep(0.2)
            replaced = await runner.run_unlocked(backend_pid)
            return first, kept, replaced, await runner.run_unlocked(in_transaction)
        finally:
            await runner.close()
            await engine.dispose()

    first, kept, replaced, in_transaction_ = asyncio.run(go())
    assert kept == first  # no checkout per call
    assert replaced != first  # the dead connection cost a retry, not an error
    assert in_transaction_ is False  # each statement commits on its own
