"""The same tests for every broadcast backend: in-memory and a real Redis."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from foundation.broadcast import backend_for
from foundation.broadcast.base import BroadcastBackend, Published


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[BroadcastBackend]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    b = backend_for(url)
    await b.connect()
    try:
        yield b
    finally:
        await b.disconnect()


async def _next_published(backend: BroadcastBackend) -> Published:
    while True:
        event = await asyncio.wait_for(backend.next_event(), timeout=5)
        if isinstance(event, Published):
            return event


async def test_subscriber_receives_what_is_published_in_order(backend: BroadcastBackend) -> None:
    channel = f"board:{secrets.token_hex(8)}"
    await backend.subscribe(channel)
    await asyncio.sleep(0)  # let Redis confirm the subscription
    if hasattr(backend, "client"):
        await _wait_subscribed(backend, channel)
    for i in range(20):
        await backend.publish(channel, f"message {i}".encode())
    got = [await _next_published(backend) for _ in range(20)]
    assert [g.data for g in got] == [f"message {i}".encode() for i in range(20)]
    assert {g.channel for g in got} == {channel}


async def test_unsubscribed_channel_is_not_received(backend: BroadcastBackend) -> None:
    wanted, other = f"board:{secrets.token_hex(8)}", f"board:{secrets.token_hex(8)}"
    await backend.subscribe(wanted)
    if hasattr(backend, "client"):
        await _wait_subscribed(backend, wanted)
    await backend.publish(other, b"not for us")
    await backend.publish(wanted, b"for us")
    assert (await _next_published(backend)).data == b"for us"


async def test_presence_entries_expire_and_can_be_removed(backend: BroadcastBackend) -> None:
    scope = secrets.token_hex(8)
    await backend.presence_put(scope, "conn-1", b"alice", ttl_seconds=60)
    await backend.presence_put(scope, "conn-2", b"bob", ttl_seconds=60)
    assert await backend.presence_list(scope) == {"conn-1": b"alice", "conn-2": b"bob"}
    await backend.presence_remove(scope, "conn-1")
    assert await backend.presence_list(scope) == {"conn-2": b"bob"}
    await backend.presence_put(scope, "conn-3", b"gone", ttl_seconds=0)
    await asyncio.sleep(0.01)
    assert "conn-3" not in await backend.presence_list(scope)


async def _wait_subscribed(backend: BroadcastBackend, channel: str) -> None:
    client = backend.client  # type: ignore[attr-defined]
    for _ in range(100):
        counts = dict(await client.pubsub_numsub(f"kumppani:{channel}"))
        if counts.get(f"kumppani:{channel}".encode(), 0) > 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the subscription never became active")
