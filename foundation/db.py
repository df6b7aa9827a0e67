"""The database: declarative base, engine and session factory.

A leaf module: it imports nothing of ours, so the domain packages can build
their models on :class:`Base` without importing the app.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlalchemy
from sqlalchemy import DateTime, MetaData, String, TypeDecorator, event, make_url
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both engines (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """Random, unguessable ids: an id from another team reveals nothing and cannot be guessed."""
    return uuid.uuid4().hex


def id_column_type() -> String:
    return String(32)


def create_engine(url: str, *, echo: bool = False, pool: bool = True) -> AsyncEngine:
    """An async engine tuned per backend.

    SQLite runs in WAL mode with ``synchronous=FULL`` so that a committed (and
    so acknowledged) operation survives a crash of the machine, not only of the
    process; foreign keys are switched on, which SQLite leaves off by default.
    """
    kwargs: dict[str, Any] = {"echo": echo}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30}
        if not pool:
            kwargs["poolclass"] = NullPool
        elif _is_file_database(make_url(url)):
            # Each pooled aiosqlite connection is a thread with its own page cache. SQLite
            # reads take a few milliseconds and writes go through one writer anyway, so four
            # are plenty; the default of up to 15 grew when many clients joined at once
            # (4 MiB more at the peak of 200 joining clients, 3 KiB per idle connection).
            kwargs["pool_size"] = 2
            kwargs["max_overflow"] = 2
    else:
        kwargs["pool_pre_ping"] = True
        if not pool:
            kwargs["poolclass"] = NullPool
        else:
            kwargs["pool_size"] = 10
            kwargs["max_overflow"] = 10
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: AsyncEngine | Engine) -> None:
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


P = ParamSpec("P")
T = TypeVar("T")


#: Connections :meth:`TransactionRunner.run_unlocked` keeps checked out (one per board written at once).
KEPT_UNLOCKED = 2


class TransactionRunner:
    """Runs a synchronous function in one transaction: ``fn(connection, *args)``, then commit.

    The board engine writes every batch of operations through here. On PostgreSQL
    the function runs on an async connection of the runner's own small pool
    (SQLAlchemy adapts each statement). On a SQLite file it runs on a plain
    ``sqlite3`` connection on one dedicated thread: aiosqlite hands every execute,
    fetch and close to its thread and back through the event loop, about 35
    hand-offs per transaction, which cost more than the SQL itself. One hand-off
    per batch instead, and a writer that waits for SQLite's lock (or for fsync)
    blocks only its own thread.

    ``fn`` must be safe to run again when the connection is lost under it (the
    engine is: resent operations are recognised by their op ids): instead of
    pinging the server before every transaction, a round trip on every batch,
    the runner runs a transaction whose connection turned out dead once more.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._owns_engine = False
        self._sync_engine: Engine | None = None
        self._thread: _WriterThread | None = None
        self._writer_connection: Connection | None = None
        self._unlocked: list[AsyncConnection] = []
        self._closed = False
        url = engine.url
        if url.get_backend_name() == "sqlite" and _is_file_database(url):
            self._sync_engine = sqlalchemy.create_engine(
                url.set(drivername="sqlite+pysqlite"),
                # Made on the writer thread, but the pool may be closed from the event loop's.
                connect_args={"timeout": 30, "check_same_thread": False},
                pool_size=1,
                max_overflow=0,
            )
            _tune_sqlite(self._sync_engine)
            self._thread = _WriterThread("kumppani-writer")
        elif url.get_backend_name() != "sqlite":
            self._engine = create_async_engine(url, pool_pre_ping=False, pool_size=2, max_overflow=2)
            self._owns_engine = True
        #: PostgreSQL: :meth:`run_unlocked` is worth trying first (see ``boards.engine.apply_batch_unlocked``).
        self.unlocked_first = url.get_backend_name() == "postgresql"

    async def run(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._thread is not None:
            return await self._thread.submit(self._in_thread, fn, args, kwargs)
        try:
            async with self._engine.begin() as conn:
                return await conn.run_sync(fn, *args, **kwargs)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        # The pooled connection was dead (a database restart): the pool has dropped it.
        async with self._engine.begin() as conn:
            return await conn.run_sync(fn, *args, **kwargs)

    async def run_unlocked(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(connection, *args)`` without a transaction: each statement commits on its own.

        No BEGIN and no COMMIT, two round trips fewer, for work whose writes are one
        statement (PostgreSQL only). The connections stay checked out between calls
        (up to :data:`KEPT_UNLOCKED` of them): a checkout cost as much as a statement.
        """
        for attempt in (1, 2):
            conn = self._unlocked.pop() if self._unlocked else None
            if conn is None:
                conn = await (await self._engine.connect()).execution_options(isolation_level="AUTOCOMMIT")
            try:
                result = await conn.run_sync(fn, *args, **kwargs)
            except DBAPIError as exc:
                await conn.close()
                # A dead connection (a database restart) is dropped and the call made once more.
                if not exc.connection_invalidated or attempt == 2:
                    raise
                continue
            except BaseException:
                await conn.close()
                raise
            if len(self._unlocked) < KEPT_UNLOCKED and not self._closed:
                self._unlocked.append(conn)
            else:
                await conn.close()
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _in_thread(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        # The writer thread keeps its one connection checked out: a pool checkout, and the
        # reset when a connection is returned, cost more than a batch's own statements.
        conn = self._writer_connection
        if conn is None or conn.closed or conn.invalidated:
            assert self._sync_engine is not None
            conn = self._writer_connection = self._sync_engine.connect()
        with conn.begin():
            return fn(conn, *args, **kwargs)

    async def close(self) -> None:
        self._closed = True
        while self._unlocked:
            await self._unlocked.pop().close()
        if self._owns_engine:
            await self._engine.dispose()
        if self._thread is not None:
            await self._thread.submit(self._dispose)
            self._thread.stop()
            self._thread = None

    def _dispose(self) -> None:
        if self._writer_connection is not None:
            self._writer_connection.close()
            self._writer_connection = None
        if self._sync_engine is not None:
            self._sync_engine.dispose()


class _WriterThread:
    """One thread that runs jobs in the order given; each result comes back as an asyncio future.

    Not a ThreadPoolExecutor: its bookkeeping (locks, a semaphore, a work item and
    a second future per job) cost 130 µs of CPU per job here, this 55 µs.
    """

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[
            tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Callable[..., Any], tuple[Any, ...]] | None
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, fn, args))
        return future

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, fn, args = job
            try:
                outcome: tuple[Any, BaseException | None] = (fn(*args), None)
            except BaseException as exc:  # handed to the awaiting coroutine, which decides
                outcome = (None, exc)
            try:
                loop.call_soon_threadsafe(_settle, future, *outcome)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _is_file_database(url: sqlalchemy.URL) -> bool:
    database = url.database or ""
    return database not in ("", ":memory:") and url.query.get("mode") != "memory"
