"""The broadcast outbox: publishes in order, keeps retrying while the backend is away,
and never makes the caller wait for the backend."""

from __future__ import annotations

import asyncio

from foundation.broadcast.outbox import Outbox


class FlakyBackend:
    """Fails the first ``failures`` publishes, like Redis right after a restart."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.attempts = 0
        self.published: list[tuple[str, bytes]] = []
        self.gate: asyncio.Event | None = None

    async def publish(self, channel: str, data: bytes) -> None:
        self.attempts += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("Connection closed by server.")
        self.published.append((channel, data))


async def _until(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_failed_publish_is_retried_until_it_goes_out_in_order() -> None:
    backend = FlakyBackend(failures=3)
    outbox = Outbox(backend)  # type: ignore[arg-type]
    outbox.start()
    for n in range(5):
        outbox.put("board:b", f"op {n}".encode())
    await _until(lambda: len(backend.published) == 5)
    assert [d for _, d in backend.published] == [f"op {n}".encode() for n in range(5)]
    assert backend.attempts == 8
    await outbox.close()


async def test_put_returns_at_once_while_the_backend_is_slow() -> None:
    backend = FlakyBackend()
    backend.gate = asyncio.Event()
    outbox = Outbox(backend)  # type: ignore[arg-type]
    outbox.start()
    outbox.put("board:b", b"first")
    outbox.put("board:b", b"second")
    await asyncio.sleep(0.05)
    assert backend.published == [] and len(outbox) == 2
    backend.gate.set()
    await _until(lambda: len(backend.published) == 2)
    await outbox.close()


async def test_when_full_droppable_messages_go_first_and_kicks_stay() -> None:
    backend = FlakyBackend()
    backend.gate = asyncio.Event()
    outbox = Outbox(backend, limit=3)  # type: ignore[arg-type]
    outbox.start()
    outbox.put("board:b", b"op 1")
    outbox.put("control", b"kick", droppable=False)
    outbox.put("board:b", b"op 2")
    outbox.put("board:b", b"op 3")  # full: op 2 (the oldest droppable behind the head) goes
    assert outbox.dropped == 1
    backend.gate.set()
    await _until(lambda: len(backend.published) == 3)
    assert [d for _, d in backend.published] == [b"op 1", b"kick", b"op 3"]
    await outbox.close()


async def test_close_gives_queued_messages_a_chance_to_go_out() -> None:
    backend = FlakyBackend(failures=1)
    outbox = Outbox(backend)  # type: ignore[arg-type]
    outbox.start()
    outbox.put("board:b", b"last words")
    await outbox.close(drain_seconds=2)
    assert backend.published == [("board:b", b"last words")]
