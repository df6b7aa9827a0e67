"""Timings from inside a Kumppani server under load: ``bench.run --timings`` puts this directory first
on the server's ``PYTHONPATH`` and names an output directory in ``BENCH_TIMINGS_DIR``.

Python imports ``sitecustomize`` at start-up; this one wraps a few functions of the server
as their modules load, and at exit writes one JSON file per process:

* ``tx``: each batch's transaction (``TransactionRunner.run``), wall milliseconds, and the
  statements it ran (SQLAlchemy's cursor events, so BEGIN and COMMIT are not counted);
* ``statements``: wall milliseconds per statement, keyed by its first words;
* ``queued``, ``started``, ``announced``: for each benchmark operation (its text carries the
  client's send time on the shared monotonic clock), milliseconds from sending to being queued
  by the sequencer, to its batch's transaction starting, and to its batch being published and
  acknowledged;
* ``fanout``: milliseconds to hand one ``ops`` frame to the board's local connections;
* ``gc``: pauses of the garbage collector by generation, and ``catch_ups`` from the database.

Nothing here runs unless ``BENCH_TIMINGS_DIR`` is set.
"""

from __future__ import annotations

import atexit
import gc
import importlib.abc
import importlib.util
import json
import os
import re
import sys
import time
from collections.abc import Callable
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Any

_OUT = os.environ.get("BENCH_TIMINGS_DIR")
_MARK = re.compile(r"bench:[^:]+:\d+:\d+:(\d+)")

samples: dict[str, list[float]] = {}
counts: dict[str, int] = {}
_current: dict[str, Any] = {}


def _add(key: str, value: float) -> None:
    samples.setdefault(key, []).append(value)


def _sent_us(submission: Any) -> int | None:
    fields = getattr(submission.command, "fields", None) or {}
    match = _MARK.search(str(fields.get("text", "")))
    return int(match[1]) if match else None


def _since_ms(sent_us: int) -> float:
    return (time.monotonic_ns() // 1000 - sent_us) / 1000


def _patch_db(module: ModuleType) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def timed(run: Any) -> Any:
        async def timed_run(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            _current["statements"] = 0
            try:
                return await run(self, fn, *args, **kwargs)
            finally:
                _add("tx", (time.perf_counter() - started) * 1000)
                _add("tx_statements", _current["statements"])

        return timed_run

    # A batch tried without a transaction first (PostgreSQL) and then in one counts as two.
    module.TransactionRunner.run = timed(module.TransactionRunner.run)
    module.TransactionRunner.run_unlocked = timed(module.TransactionRunner.run_unlocked)

    @event.listens_for(Engine, "before_cursor_execute")
    def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        context._bench_started = time.perf_counter()

    @event.listens_for(Engine, "after_cursor_execute")
    def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        _current["statements"] = _current.get("statements", 0) + 1
        key = " ".join(statement.split()[:4])[:48]
        if "FOR NO KEY UPDATE" in statement:
            key += " [locks]"
        _add("statement " + key, (time.perf_counter() - context._bench_started) * 1000)


def _patch_sequencer(module: ModuleType) -> None:
    enqueue = module.Sequencer.enqueue
    write = module.Sequencer._write

    def timed_enqueue(self: Any, board_id: str, submission: Any) -> Any:
        sent = _sent_us(submission)
        if sent is not None:
            _add("queued", _since_ms(sent))
        return enqueue(self, board_id, submission)

    async def timed_write(self: Any, board_id: str, batch: list[Any]) -> None:
        sent = [s for s in (_sent_us(p.submission) for p in batch) if s is not None]
        for s in sent:
            _add("started", _since_ms(s))
        _add("batch_size", len(batch))
        await write(self, board_id, batch)
        for s in sent:
            _add("announced", _since_ms(s))

    module.Sequencer.enqueue = timed_enqueue
    module.Sequencer._write = timed_write


def _patch_hub(module: ModuleType) -> None:
    deliver = module.Hub._deliver
    catch_up = module.Hub._catch_up

    def timed_deliver(self: Any, board_id: str, first: int, last: int, frame: Any) -> None:
        started = time.perf_counter()
        deliver(self, board_id, first, last, frame)
        _add("fanout", (time.perf_counter() - started) * 1000)

    async def counted_catch_up(self: Any, *args: Any, **kwargs: Any) -> None:
        counts["catch_ups"] = counts.get("catch_ups", 0) + 1
        await catch_up(self, *args, **kwargs)

    module.Hub._deliver = timed_deliver
    module.Hub._catch_up = counted_catch_up


def _patch_prepared(module: ModuleType) -> None:
    """Statements run on the sqlite3 cursor directly bypass SQLAlchemy's cursor events: time them here."""
    keys: dict[int, str] = {}

    def timed(method: Any) -> Any:
        def run(self: Any, conn: Any, params: Any) -> Any:
            key = keys.get(id(self))
            if key is None:
                key = keys[id(self)] = " ".join(str(self.statement).split()[:4])[:48]
            direct = conn.dialect.name == "sqlite"
            started = time.perf_counter()
            try:
                return method(self, conn, params)
            finally:
                if direct:  # otherwise SQLAlchemy's events count it
                    _current["statements"] = _current.get("statements", 0) + 1
                    _add("statement " + key, (time.perf_counter() - started) * 1000)

        return run

    module.Prepared.all = timed(module.Prepared.all)
    module.Prepared.run_many = timed(module.Prepared.run_many)


_PATCHES: dict[str, Callable[[ModuleType], None]] = {
    "foundation.db": _patch_db,
    "foundation.prepared": _patch_prepared,
    "boards.sequencer": _patch_sequencer,
    "server.ws.hub": _patch_hub,
}


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs a patch right after its module has loaded."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> ModuleSpec | None:
        patch = _PATCHES.get(name)
        if patch is None:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_patch(module: ModuleType) -> None:
            exec_module(module)
            patch(module)

        loader.exec_module = exec_and_patch  # type: ignore[method-assign]
        return spec


_gc_started: list[float] = []


def _gc_pause(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _gc_started[:] = [time.perf_counter()]
    elif _gc_started:
        _add(f"gc{info['generation']}", (time.perf_counter() - _gc_started[0]) * 1000)


def _write() -> None:
    if "tx" not in samples:
        return  # not a serving process (a migration, the demo seed)
    result = {
        "pid": os.getpid(),
        "database": os.environ.get("KUMPPANI_DATABASE_URL", "").split(":", 1)[0],
        "redis": bool(os.environ.get("KUMPPANI_REDIS_URL")),
        "samples": samples,
        "counts": counts,
    }
    assert _OUT is not None
    Path(_OUT, f"server-{os.getpid()}.json").write_text(json.dumps(result))


if _OUT:
    sys.meta_path.insert(0, _AfterImport())
    gc.callbacks.append(_gc_pause)
    atexit.register(_write)
