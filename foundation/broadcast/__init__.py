"""Broadcast backends, picked by URL: none configured means in-memory, redis:// means Redis."""

from __future__ import annotations

from foundation.broadcast.base import BroadcastBackend


def backend_for(redis_url: str | None) -> BroadcastBackend:
    if not redis_url:
        from foundation.broadcast.memory import MemoryBackend

        return MemoryBackend()
    from foundation.broadcast.redis import RedisBackend

    return RedisBackend(redis_url)
