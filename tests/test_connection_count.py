"""Two processes count a person's connections together; a connection that left stays uncounted.

Two hubs on a real Redis stand for two server processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from foundation.broadcast.redis import RedisBackend
from server.ws import hub as hub_module
from server.ws.connection import Connection
from server.ws.hub import Hub, _BoardGroup

pytestmark = pytest.mark.redis


async def _never(message: dict[str, Any]) -> None:  # pragma: no cover - nothing is sent
    raise AssertionError("nothing is sent in these tests")


def _connection(person: str, conn_id: str) -> Connection:
    return Connection(
        _never, board_id="count-board", person_id=person, name="N", role="member", conn_id=conn_id, queue_limit=8
    )


@pytest.fixture
async def hubs(redis_url: str) -> AsyncIterator[tuple[Hub, Hub]]:
    one, two = Hub(RedisBackend(redis_url), None), Hub(RedisBackend(redis_url), None)  # type: ignore[arg-type]
    await one.backend.connect()
    await two.backend.connect()
    try:
        yield one, two
    finally:
        await one.backend.disconnect()
        await two.backend.disconnect()


async def test_each_process_counts_the_connections_the_other_registered(hubs: tuple[Hub, Hub]) -> None:
    one, two = hubs
    person = "count-person-1"
    await one.register_connection(person, "c1")
    await one.register_connection(person, "c2")
    assert await two.connections_of(person, 1) == 3, "two there and one here"
    assert await one.connections_of(person, 2) == 2, "its own are counted by the caller, not twice"
    await one.unregister_connection(person, "c1")
    await one.unregister_connection(person, "c2")
    assert await two.connections_of(person, 0) == 0


async def test_a_connection_that_leaves_during_the_presence_refresh_is_not_counted_again(
    hubs: tuple[Hub, Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two = hubs
    person = "count-person-2"
    monkeypatch.setattr(hub_module, "PRESENCE_TTL", 3)  # a refresh every second
    conn = _connection(person, "c1")
    one._boards[conn.board_id] = _BoardGroup(connections={conn})
    await one.register_connection(person, conn.conn_id)
    put = one.backend.presence_put

    async def slow_put(*args: Any) -> None:  # Redis is slow: the socket closes meanwhile
        await asyncio.sleep(0.05)
        await put(*args)

    monkeypatch.setattr(one.backend, "presence_put", slow_put)
    refresh = asyncio.create_task(one._refresh_presence())
    try:
        await asyncio.sleep(1.02)  # the refresh is writing this connection's presence
        await one.leave(conn)  # as the endpoint does when the socket closes, then it removes the entries
        await one.presence_remove(conn)
        await one.unregister_connection(person, conn.conn_id)
        await asyncio.sleep(0.3)
    finally:
        refresh.cancel()
    assert await two.connections_of(person, 0) == 0
