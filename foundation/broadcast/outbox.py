"""Publishing to other processes, in order, off the write path.

A publish must never hold up an acknowledgement (the database, not the
broadcast, is what makes an operation safe), and a publish that fails must not
be forgotten: when Redis restarts, a subscriber that reconnected before our
publishing connection did would otherwise never hear of the operation. So the
outbox keeps each message until the backend has taken it, retrying with
backoff, and publishes in the order messages were put.

A leaf: it imports only the broadcast interface.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from foundation.broadcast.base import BroadcastBackend, retry_delay

log = logging.getLogger("kumppani.broadcast")

DEFAULT_LIMIT = 10_000


class Outbox:
    """An ordered queue of messages for the backend, with one task publishing them."""

    def __init__(self, backend: BroadcastBackend, limit: int = DEFAULT_LIMIT) -> None:
        self._backend = backend
        self._limit = limit
        # (channel, data, droppable): a droppable message can be lost without harm,
        # because the receiver finds the gap and reads the database (operations) or
        # the next refresh replaces it (presence).
        self._queue: deque[tuple[str, bytes, bool]] = deque()
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="broadcast-outbox")

    async def close(self, drain_seconds: float = 2.0) -> None:
        """Give what is queued a short while to go out, then stop."""
        if self._task is None:
            return
        if self._queue:
            try:
                await asyncio.wait_for(self._empty.wait(), drain_seconds)
            except TimeoutError:
                log.warning("broadcast outbox closed with %d messages unsent", len(self._queue))
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None

    def put(self, channel: str, data: bytes, *, droppable: bool = True) -> None:
        if len(self._queue) >= self._limit and not self._drop_one():
            log.error("broadcast outbox full of messages that must not be dropped")
        self._queue.append((channel, data, droppable))
        self._empty.clear()
        self._wake.set()

    def __len__(self) -> int:
        return len(self._queue)

    def _drop_one(self) -> bool:
        # Never the head: it may be in flight.
        for index in range(1, len(self._queue)):
            if self._queue[index][2]:
                del self._queue[index]
                self.dropped += 1
                return True
        return False

    async def _run(self) -> None:
        failures = 0
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            channel, data, _ = self._queue[0]
            try:
                await self._backend.publish(channel, data)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if failures == 0:
                    log.warning("broadcast publish failed (%s); retrying until the backend is back", error)
                delay = retry_delay(failures)
                failures += 1
                await asyncio.sleep(delay)
                continue
            if failures:
                log.info("broadcast publishing again after %d failed attempts", failures)
                failures = 0
            self._queue.popleft()
            if not self._queue:
                self._empty.set()
