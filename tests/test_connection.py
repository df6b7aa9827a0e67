"""A slow client never makes the fan-out wait or memory grow: it is told to resync."""

from __future__ import annotations

import asyncio
from typing import Any

from boards import protocol as p
from server.ws.connection import Connection, Outgoing
from server.ws.fastproto import frame_text


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
        conn.deliver(
            seq, Outgoing(f'{{"t":"ops","seq":{seq}}}'.encode())
        )  # returns at once even though the socket is stuck
    assert conn.lagging
    assert conn.queued <= 8
    socket.release.set()
    for _ in range(50):
        await asyncio.sleep(0)
    resync = [p.decode_server(m) for m in socket.sent if '"resync"' in m]
    assert len(resync) == 1 and isinstance(resync[0], p.Resync)
    conn.resume(100)  # after the client synced
    conn.deliver(101, Outgoing(b'{"t":"ops","seq":101}'))
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
        conn.deliver(seq, Outgoing(str(seq).encode()))
    assert len(asyncio.all_tasks()) == tasks_before
    assert sent == [str(s) for s in range(1, 1001)]
    conn.deliver(500, Outgoing(b"old"))  # already delivered: dropped
    assert sent[-1] == "1000"


async def test_frames_queued_while_paused_flow_after_resume_skipping_what_the_snapshot_had() -> None:
    sent: list[str] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["text"])

    conn = Connection(send, board_id="b", person_id="p", name="n", role="customer", conn_id="c", queue_limit=8)
    for seq in (1, 2, 3, 4):
        conn.deliver(seq, Outgoing(str(seq).encode()))
    assert sent == []
    conn.resume(2)  # the snapshot covered up to 2
    for _ in range(10):
        await asyncio.sleep(0)
    assert sent == ["3", "4"]


async def test_one_framing_for_every_recipient_and_asgi_when_the_socket_says_no() -> None:
    framed: list[list[bytes]] = [[], []]
    asgi: list[str] = []
    accepting = [True, True]

    async def send(message: dict[str, Any]) -> None:
        asgi.append(message["text"])

    def framed_send(index: int) -> Any:
        def send_framed(frame: bytes) -> bool:
            if not accepting[index]:
                return False
            framed[index].append(frame)
            return True

        return send_framed

    conns = [
        Connection(
            send,
            board_id="b",
            person_id="p",
            name="n",
            role="customer",
            conn_id=str(i),
            queue_limit=8,
            send_framed=framed_send(i),
        )
        for i in range(2)
    ]
    for conn in conns:
        conn.resume(0)
    first = Outgoing(b'{"t":"ops","seq":1}')
    for conn in conns:
        conn.deliver(1, first)
    assert framed[0] == framed[1] == [frame_text(first.payload)]
    assert framed[0][0] is framed[1][0]  # framed once, the same bytes object for both
    accepting[1] = False  # e.g. the socket's buffer is full: the ASGI send waits for it
    second = Outgoing(b'{"t":"ops","seq":2}')
    for conn in conns:
        conn.deliver(2, second)
    assert framed[1] == [frame_text(first.payload)] and asgi == ['{"t":"ops","seq":2}']


def test_framed_bytes_are_what_websockets_itself_would_send() -> None:
    from websockets.server import ServerProtocol

    for payload in (b"{}", "ä".encode() * 100, b"x" * 70_000):
        protocol = ServerProtocol()
        protocol.state = protocol.state.__class__.OPEN
        protocol.send_text(payload)
        assert b"".join(protocol.data_to_send()) == frame_text(payload)
