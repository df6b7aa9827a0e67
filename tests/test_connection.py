"""A slow client never makes the fan-out wait or memory grow: it is told to resync."""

from __future__ import annotations

import asyncio
from typing import Any

from boards import protocol as p
from server.ws.connection import Connection


class StuckSocket:
    """A send that never completes, like a client that stopped reading."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.release = asyncio.Event()

    async def send(self, message: dict[str, Any]) -> None:
        await self.release.wait()
        self.sent.append(message["text"])


async def test_slow_client_is_told_to_resync_instead_of_queueing_forever() -> None:
    socket = StuckSocket()
    conn = Connection(socket.send, board_id="b", person_id="p", name="n", role="customer", conn_id="c", queue_limit=8)
    conn.resume(0)
    for seq in range(1, 101):
        conn.deliver(seq, f'{{"t":"ops","seq":{seq}}}')  # returns at once even though the socket is stuck
    assert conn.lagging
    assert conn.queued <= 8
    socket.release.set()
    for _ in range(50):
        await asyncio.sleep(0)
    resync = [p.decode_server(m) for m in socket.sent if '"resync"' in m]
    assert len(resync) == 1 and isinstance(resync[0], p.Resync)
    conn.resume(100)  # after the client synced
    conn.deliver(101, '{"t":"ops","seq":101}')
    await asyncio.sleep(0)
    assert socket.sent[-1] == '{"t":"ops","seq":101}'


async def test_fast_client_gets_frames_in_order_without_tasks() -> None:
    sent: list[str] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["text"])

    conn = Connection(send, board_id="b", person_id="p", name="n", role="customer", conn_id="c", queue_limit=8)
    conn.resume(0)
    tasks_before = len(asyncio.all_tasks())
    for seq in range(1, 1001):
        conn.deliver(seq, str(seq))
    assert len(asyncio.all_tasks()) == tasks_before
    assert sent == [str(s) for s in range(1, 1001)]
    conn.deliver(500, "old")  # already delivered: dropped
    assert sent[-1] == "1000"


async def test_frames_queued_while_paused_flow_after_resume_skipping_what_the_snapshot_had() -> None:
    sent: list[str] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["text"])

    conn = Connection(send, board_id="b", person_id="p", name="n", role="customer", conn_id="c", queue_limit=8)
    for seq in (1, 2, 3, 4):
        conn.deliver(seq, str(seq))
    assert sent == []
    conn.resume(2)  # the snapshot covered up to 2
    for _ in range(10):
        await asyncio.sleep(0)
    assert sent == ["3", "4"]
