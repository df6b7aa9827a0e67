"""In-memory broadcast for the embedded default: one process, no Redis."""

from __future__ import annotations

import asyncio
import time

from foundation.broadcast.base import BackendEvent, Published

QUEUE_LIMIT = 10_000


class MemoryBackend:
    def __init__(self) -> None:
        self._channels: set[str] = set()
        # Bounded: a publisher waits rather than letting memory grow without limit.
        self._queue: asyncio.Queue[BackendEvent] = asyncio.Queue(maxsize=QUEUE_LIMIT)
        self._presence: dict[str, dict[str, tuple[float, bytes]]] = {}
        self._leases: dict[str, tuple[float, str]] = {}

    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        self._channels.clear()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def publish(self, channel: str, data: bytes) -> None:
        if channel in self._channels:
            await self._queue.put(Published(channel, data))

    async def next_event(self) -> BackendEvent:
        return await self._queue.get()

    async def ping(self) -> None:
        return None

    async def presence_put(self, scope: str, key: str, value: bytes, ttl_seconds: int) -> None:
        self._presence.setdefault(scope, {})[key] = (time.monotonic() + ttl_seconds, value)

    async def presence_remove(self, scope: str, key: str) -> None:
        entries = self._presence.get(scope)
        if entries is not None:
            entries.pop(key, None)
            if not entries:
                del self._presence[scope]

    async def release(self, key: str, holder: str) -> None:
        current = self._leases.get(key)
        if current is not None and current[1] == holder:
            del self._leases[key]

    async def claim(self, key: str, holder: str, ttl_ms: int) -> str:
        now = time.monotonic()
        current = self._leases.get(key)
        if current is None or current[0] < now or current[1] == holder:
            self._leases[key] = (now + ttl_ms / 1000, holder)
            return holder
        return current[1]

    async def presence_list(self, scope: str) -> dict[str, bytes]:
        now = time.monotonic()
        entries = self._presence.get(scope, {})
        for key in [k for k, (expires, _) in entries.items() if expires < now]:
            del entries[key]
        return {key: value for key, (_, value) in entries.items()}
