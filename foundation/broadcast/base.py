"""The broadcast interface: pub/sub between server processes, plus ephemeral presence.

A leaf: it imports nothing of ours. Broadcast is a fast path, never storage: a
listener that misses a message (a Redis restart, say) is told by a
:class:`Reconnected` event and catches up from the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

#: Backoff while the backend is unreachable: reconnecting, and retrying a publish.
RETRY_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


def retry_delay(failures: int) -> float:
    return RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]


@dataclass(frozen=True, slots=True)
class Published:
    channel: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Reconnected:
    """The backend lost its connection and has it back: messages may have been missed."""


BackendEvent = Published | Reconnected


class BroadcastBackend(Protocol):
    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def subscribe(self, channel: str) -> None: ...

    async def unsubscribe(self, channel: str) -> None: ...

    async def publish(self, channel: str, data: bytes) -> None: ...

    async def next_event(self) -> BackendEvent: ...

    async def ping(self) -> None:
        """Raise when the backend is unreachable (used by /readyz and doctor)."""

    async def presence_put(self, scope: str, key: str, value: bytes, ttl_seconds: int) -> None: ...

    async def presence_remove(self, scope: str, key: str) -> None: ...

    async def presence_list(self, scope: str) -> dict[str, bytes]: ...

    async def release(self, key: str, holder: str) -> None:
        """Give ``key`` up if ``holder`` holds it."""
        ...

    async def claim(self, key: str, holder: str, ttl_ms: int) -> str:
        """Hold ``key`` for ``holder`` for ``ttl_ms`` unless another holds it; return who holds it now.

        The holder renews by claiming again. A lease, not a lock: it expires by itself
        when its holder stops renewing (a process that died).
        """
        ...
