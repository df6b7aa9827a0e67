"""Redis broadcast for many processes on many hosts.

Pub/sub drops whatever is published while a subscriber is disconnected, so after
every reconnect this backend yields :class:`Reconnected` and the listeners catch
up from the database (see docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from foundation.broadcast.base import BackendEvent, Published, Reconnected, retry_delay

log = logging.getLogger("kumppani.broadcast")

PREFIX = "kumppani:"
REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)


# Take the lease when it is free, renew it when it is ours; either way say who holds it.
_CLAIM = """
local holder = redis.call('GET', KEYS[1])
if not holder or holder == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return ARGV[1]
end
return holder
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisBackend:
    def __init__(self, url: str) -> None:
        self._url = url
        self._client: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._channels: set[str] = set()
        self._pending: asyncio.Queue[BackendEvent] = asyncio.Queue(maxsize=10_000)
        self._failures = 0

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            raise RuntimeError("RedisBackend.connect() was not called")
        return self._client

    async def connect(self) -> None:
        self._client = aioredis.from_url(
            self._url, socket_connect_timeout=2, socket_timeout=None, health_check_interval=5
        )
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)

    async def disconnect(self) -> None:
        if self._pubsub is not None:
            try:
                await self._pubsub.aclose()
            except REDIS_ERRORS:
                pass
        if self._client is not None:
            await self._client.aclose()
        self._client = None
        self._pubsub = None

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        try:
            await self._pubsub.subscribe(PREFIX + channel)
        except REDIS_ERRORS:
            # The reader loop resubscribes every channel when Redis is back.
            log.warning("redis subscribe failed; will resubscribe on reconnect")

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        try:
            await self._pubsub.unsubscribe(PREFIX + channel)
        except REDIS_ERRORS:
            pass

    async def publish(self, channel: str, data: bytes) -> None:
        await self.client.publish(PREFIX + channel, data)

    async def next_event(self) -> BackendEvent:
        while True:
            if not self._pending.empty():
                return self._pending.get_nowait()
            if not self._channels or not self._pubsub.subscribed:
                if self._channels:
                    await self._resubscribe()
                    continue
                await asyncio.sleep(0.05)
                continue
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except REDIS_ERRORS:
                await self._recover()
                return Reconnected()
            if message is None or message.get("type") != "message":
                continue
            self._failures = 0
            channel = message["channel"].decode()
            return Published(channel.removeprefix(PREFIX), message["data"])

    async def _resubscribe(self) -> None:
        if self._channels:
            await self._pubsub.subscribe(*(PREFIX + c for c in self._channels))

    async def _recover(self) -> None:
        """Reconnect with backoff until every channel is subscribed again."""
        while True:
            delay = retry_delay(self._failures)
            self._failures += 1
            await asyncio.sleep(delay)
            try:
                try:
                    await self._pubsub.aclose()
                except REDIS_ERRORS:
                    pass
                self._pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                await self.client.ping()
                await self._resubscribe()
                log.info("redis broadcast reconnected")
                return
            except REDIS_ERRORS:
                log.warning("redis still unreachable, retrying")

    async def ping(self) -> None:
        await self.client.ping()

    def _presence_keys(self, scope: str) -> tuple[str, str]:
        return f"{PREFIX}presence:{scope}", f"{PREFIX}presence-exp:{scope}"

    async def presence_put(self, scope: str, key: str, value: bytes, ttl_seconds: int) -> None:
        values, expiries = self._presence_keys(scope)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(values, key, value)
            pipe.zadd(expiries, {key: time.time() + ttl_seconds})
            pipe.expire(values, ttl_seconds * 4)
            pipe.expire(expiries, ttl_seconds * 4)
            await pipe.execute()

    async def presence_remove(self, scope: str, key: str) -> None:
        values, expiries = self._presence_keys(scope)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hdel(values, key)
            pipe.zrem(expiries, key)
            await pipe.execute()

    async def release(self, key: str, holder: str) -> None:
        await self.client.eval(_RELEASE, 1, PREFIX + "lease:" + key, holder)  # type: ignore[misc]

    async def claim(self, key: str, holder: str, ttl_ms: int) -> str:
        result = await self.client.eval(_CLAIM, 1, PREFIX + "lease:" + key, holder, ttl_ms)  # type: ignore[misc]
        return result.decode() if isinstance(result, bytes) else str(result)

    async def presence_list(self, scope: str) -> dict[str, bytes]:
        values, expiries = self._presence_keys(scope)
        stale = await self.client.zrangebyscore(expiries, "-inf", time.time())
        if stale:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hdel(values, *stale)
                pipe.zrem(expiries, *stale)
                await pipe.execute()
        # The client does not decode responses, so keys and values are bytes.
        raw = cast(dict[bytes, bytes], await self.client.hgetall(values))
        return {k.decode(): v for k, v in raw.items()}
