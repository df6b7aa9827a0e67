"""Single-client timings (resume, snapshot), server-side query timings, and memory per idle connection."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from bench.servers import ServerGroup
from bench.wsraw import RawClient


@dataclass
class Target:
    host: str
    port: int
    path: str
    origin: str | None
    cookie: str | None


async def hello_to_synced(target: Target, since: int | None) -> dict[str, Any]:
    """Open a socket, then time from sending hello to the arrival of ``synced``."""
    loop = asyncio.get_running_loop()
    synced: asyncio.Future[int] = loop.create_future()
    frames: list[bytes] = []

    def on_message(payload: bytes, at: int) -> None:
        if payload.startswith(b'{"t":"synced"'):
            if not synced.done():
                synced.set_result(at)
        elif payload.startswith((b'{"t":"ops"', b'{"t":"snapshot"')):
            frames.append(payload)
        elif payload.startswith(b'{"t":"error"') and not synced.done():
            synced.set_exception(ConnectionError(payload[:200].decode(errors="replace")))

    ws = await RawClient.connect(
        target.host, target.port, target.path, origin=target.origin, cookie=target.cookie, on_message=on_message
    )
    hello = b'{"t":"hello","v":1}' if since is None else b'{"t":"hello","v":1,"since":%d}' % since
    sent = time.monotonic_ns()
    ws.send(hello)
    arrived = await asyncio.wait_for(synced, 30)
    ms = (arrived - sent) / 1e6
    ws.close()
    events = 0
    items = 0
    size = 0
    for frame in frames:
        size += len(frame)
        obj = msgspec.json.decode(frame)
        if obj["t"] == "ops":
            events += len(obj["ops"])
        else:
            items += len(obj["items"])
    await asyncio.sleep(0.05)
    return {"ms": ms, "events": events, "items": items, "bytes": size}


async def repeat_hello(target: Target, since: int | None, times: int) -> dict[str, Any]:
    await hello_to_synced(target, since)  # warm: statement caches, first connection of the pool
    runs = [await hello_to_synced(target, since) for _ in range(times)]
    values = [r["ms"] for r in runs]
    return {
        "median_ms": statistics.median(values),
        "min_ms": min(values),
        "max_ms": max(values),
        "runs": len(values),
        "events": runs[0]["events"],
        "items": runs[0]["items"],
        "bytes": runs[0]["bytes"],
    }


async def server_side_queries(
    database_url: str, board: str, person: str, resume_board: str, since: int, times: int
) -> dict[str, Any]:
    """The server's own read functions, timed against the same database (the server exposes no timings)."""
    from boards import protocol as p
    from boards.queries import events_since, snapshot
    from foundation.db import create_engine

    engine = create_engine(database_url)
    out: dict[str, Any] = {}
    try:
        for name, call in (
            ("snapshot", lambda conn: snapshot(conn, board, person)),
            ("resume", lambda conn: events_since(conn, resume_board, since, 2000)),
        ):
            query_ms: list[float] = []
            encode_ms: list[float] = []
            for i in range(times + 1):
                async with engine.connect() as conn:
                    t = time.perf_counter()
                    result = await call(conn)
                    q = time.perf_counter() - t
                t = time.perf_counter()
                p.encode(result if name == "snapshot" else p.Ops(ops=result))  # type: ignore[arg-type]
                e = time.perf_counter() - t
                if i:  # the first is a warm-up
                    query_ms.append(q * 1000)
                    encode_ms.append(e * 1000)
            out[name] = {"query_ms": statistics.median(query_ms), "encode_ms": statistics.median(encode_ms)}
    finally:
        await engine.dispose()
    return out


async def idle_memory(
    group: ServerGroup, targets: list[Target], *, kumppani: bool, settle: float = 2.0
) -> dict[str, Any]:
    """RSS growth of the server tree per idle connection: one warm connection first, then ``len(targets) - 1`` more."""
    clients: list[RawClient] = []

    async def _open(target: Target) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def on_message(payload: bytes, at: int) -> None:
            if payload.startswith(b'{"t":"synced"') and not ready.done():
                ready.set_result(None)

        ws = await RawClient.connect(
            target.host, target.port, target.path, origin=target.origin, cookie=target.cookie, on_message=on_message
        )
        if kumppani:
            ws.send(b'{"t":"hello","v":1}')
            await asyncio.wait_for(ready, 60)
        clients.append(ws)

    await _open(targets[0])
    await asyncio.sleep(settle)
    before = group.rss_bytes()
    limit = asyncio.Semaphore(50)

    async def _limited(target: Target) -> None:
        async with limit:
            await _open(target)

    started = time.monotonic()
    await asyncio.gather(*(_limited(t) for t in targets[1:]))
    connect_s = time.monotonic() - started
    await asyncio.sleep(settle)
    after = group.rss_bytes()
    count = len(targets) - 1
    for ws in clients:
        ws.abort()
    return {
        "connections": count,
        "rss_before_mib": before / 2**20,
        "rss_after_mib": after / 2**20,
        "kib_per_connection": (after - before) / count / 1024,
        "connect_s": connect_s,
    }


if __name__ == "__main__":
    # ``python -m bench.probes DATABASE_URL BOARD PERSON RESUME_BOARD SINCE TIMES``: the server-side timings
    # in a fresh process, so the code timed is the code a freshly started server would run.
    import json
    import sys

    url, board, person, resume_board, since, times = sys.argv[1:7]
    print(json.dumps(asyncio.run(server_side_queries(url, board, person, resume_board, int(since), int(times)))))
