"""Bad input over a real server: every bad frame or refused operation gets the documented
error, changes nothing, and leaves the connection usable.

"Changes nothing" is checked where a person would notice it: the board's operation
log in the database, the client's replica ``seq``, and the ``seq`` the next valid
operation is acknowledged with (it must directly follow the previous head, so
nothing was written in between). Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import websockets
from sqlalchemy import func, select

from boards import protocol as p
from boards.client import BoardClient, ClientError
from boards.models import Board, Item, Operation
from conftest import LiveServer, Seeded, settings_for
from foundation.db import create_engine, new_id
from server.ws.endpoint import ABUSE_LIMIT

TIMEOUT = 5.0
HETU = "131052-308T"  # a valid Finnish personal identity code (check character included)

# ------------------------------------------------------------------ database helpers


async def _count_ops(url: str, board: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            n = (
                await conn.execute(select(func.count()).select_from(Operation).where(Operation.board_id == board))
            ).scalar()
    finally:
        await engine.dispose()
    return int(n or 0)


async def _board_seq(url: str, board: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            seq = (await conn.execute(select(Board.seq).where(Board.id == board))).scalar()
    finally:
        await engine.dispose()
    return int(seq or 0)


async def _second_board(url: str, team: str) -> tuple[str, str]:
    """Another board of the same team, and the id of one of its stages."""
    from boards.catalogue import create_board

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            board = await create_board(conn, "Toinen polku", "journey", team_id=team)
            stage = (
                (await conn.execute(select(Item.id).where(Item.board_id == board, Item.type == "stage")))
                .scalars()
                .first()
            )
    finally:
        await engine.dispose()
    assert stage is not None
    return board, stage


# ------------------------------------------------------------------ client helpers


def _card(seeded: Seeded, text: str = "kortti", item_id: str | None = None) -> p.ItemCreate:
    return p.ItemCreate(
        id=item_id or new_id(), item_type="card", fields={"text": text}, stage=seeded.stage, lane=seeded.lane
    )


async def _error_after(client: BoardClient, send: Callable[[], Any]) -> p.Error:
    """Send something and return the next error frame the client receives."""
    count = len(client.errors)
    await send()
    await client.wait_for(lambda _: len(client.errors) > count, timeout=TIMEOUT)
    return client.errors[count]


@dataclass
class Before:
    ops: int
    seq: int


async def _before(client: BoardClient, url: str, board: str) -> Before:
    """The board's state once the client has caught up with everything committed."""
    head = await _board_seq(url, board)
    await client.wait_seq(head, timeout=TIMEOUT)
    assert client.replica.seq == head
    return Before(ops=await _count_ops(url, board), seq=head)


async def _assert_unchanged_and_alive(
    client: BoardClient, url: str, board: str, seeded: Seeded, before: Before
) -> None:
    assert await _count_ops(url, board) == before.ops, "a refused frame wrote to the operation log"
    assert await _board_seq(url, board) == before.seq, "a refused frame moved the board's sequence"
    assert client.replica.seq == before.seq, "the client received an event for a refused frame"
    assert client.connected, "the connection was closed after a single bad frame"
    card = new_id()
    ack = await client.call(_card(seeded, "vielä toimii", card), timeout=TIMEOUT)
    assert ack.seq == before.seq + 1 and not ack.duplicate
    await client.wait_seq(ack.seq, timeout=TIMEOUT)
    assert client.replica.items[card]["fields"] == {"text": "vielä toimii"}
    assert await _count_ops(url, board) == before.ops + 1


class Raw:
    """A websocket without the client library, for frames BoardClient would never send."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, url: str, *, cookie: str | None, origin: str | None) -> Raw:
        headers = [("Cookie", cookie)] if cookie else []
        ws = await websockets.connect(
            url,
            additional_headers=headers,
            origin=websockets.Origin(origin) if origin else None,
            max_size=2**22,
            compression=None,
            open_timeout=TIMEOUT,
        )
        return cls(ws)

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        await self.ws.send(json.dumps(message) if isinstance(message, dict) else message)

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.frames.append(frame)
        assert isinstance(frame, dict)
        return frame

    async def until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = TIMEOUT) -> dict[str, Any]:
        async def _loop() -> dict[str, Any]:
            while True:
                frame = await self.recv(timeout=timeout)
                if predicate(frame):
                    return frame

        return await asyncio.wait_for(_loop(), timeout)

    async def handshake(self, since: int | None = None) -> int:
        await self.send({"t": "hello", "v": p.PROTOCOL_VERSION, "since": since})
        synced = await self.until(lambda f: f["t"] == "synced")
        return int(synced["seq"])

    async def close_code(self, timeout: float = TIMEOUT) -> int | None:
        """Read until the server closes; the close code it sent."""

        async def _drain() -> None:
            while True:
                frame = json.loads(await self.ws.recv())
                self.frames.append(frame)

        with contextlib.suppress(websockets.ConnectionClosed):
            await asyncio.wait_for(_drain(), timeout)
        return self.ws.close_code  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.ws.close()


@contextlib.contextmanager
def _server(url: str, data_dir: Path, **env: str) -> Iterator[LiveServer]:
    """A live server with its own settings, on the same database as ``seeded``."""
    env.setdefault("KUMPPANI_OPS_PER_SECOND", "1000")
    env.setdefault("KUMPPANI_OPS_BURST", "5000")
    server = LiveServer(settings_for(url, data_dir, **env)).start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def _clients(server: LiveServer) -> AsyncIterator[list[BoardClient]]:
    made: list[BoardClient] = []
    try:
        yield made
    finally:
        for c in made:
            await c.close()


def _client(server: LiveServer, seeded: Seeded, made: list[BoardClient], who: str = "professional") -> BoardClient:
    client = BoardClient(server.ws_url(seeded.board), cookie=seeded.cookie(who), origin=server.base)
    made.append(client)
    return client


# ------------------------------------------------------------------ fixtures


@dataclass
class Ctx:
    seeded: Seeded
    url: str
    card: str
    other_board: str
    other_item: str

    @property
    def stage(self) -> str:
        return self.seeded.stage

    @property
    def lane(self) -> str:
        return self.seeded.lane


@pytest.fixture
async def alice(client_factory: Any) -> BoardClient:
    client: BoardClient = await client_factory("professional")
    return client


@pytest.fixture
async def ctx(alice: BoardClient, seeded: Seeded, migrated_url: str) -> Ctx:
    card = new_id()
    await alice.call(_card(seeded, "olemassa", card), timeout=TIMEOUT)
    other_board, other_item = await _second_board(migrated_url, seeded.team)
    return Ctx(seeded, migrated_url, card, other_board, other_item)


# ------------------------------------------------------------------ frames the protocol layer refuses


def _op(op_id: str, command: dict[str, Any]) -> dict[str, Any]:
    return {"t": "op", "id": op_id, "op": command}


def _create(c: Ctx, **overrides: Any) -> dict[str, Any]:
    command = {
        "type": "item.create",
        "id": new_id(),
        "item_type": "card",
        "fields": {"text": "x"},
        "stage": c.stage,
        "lane": c.lane,
    }
    return {**command, **overrides}


RAW_FRAMES: list[Any] = [
    pytest.param(lambda c: '{"t": "op", "id": "bad-1", "op": {', p.ErrorCode.BAD_JSON, None, id="malformed-json"),
    pytest.param(lambda c: "", p.ErrorCode.BAD_JSON, None, id="empty-frame"),
    pytest.param(lambda c: json.dumps([_op("bad-2", _create(c))]), p.ErrorCode.BAD_MESSAGE, None, id="json-array"),
    pytest.param(lambda c: '"ping"', p.ErrorCode.BAD_MESSAGE, None, id="json-string"),
    pytest.param(lambda c: {"t": "subscribe", "board": "x"}, p.ErrorCode.UNKNOWN_TYPE, None, id="unknown-t"),
    pytest.param(lambda c: {"id": "bad-3", "op": _create(c)}, p.ErrorCode.UNKNOWN_TYPE, None, id="missing-t"),
    pytest.param(
        lambda c: _op("bad-4", {"type": "item.explode", "id": c.card}),
        p.ErrorCode.UNKNOWN_TYPE,
        "bad-4",
        id="unknown-op-type",
    ),
    pytest.param(
        lambda c: _op("bad-5", {"type": "item.update", "id": c.card, "fields": "text"}),
        p.ErrorCode.BAD_MESSAGE,
        "bad-5",
        id="fields-not-an-object",
    ),
    pytest.param(lambda c: _op("bad-6", _create(c, id=12345678)), p.ErrorCode.BAD_MESSAGE, "bad-6", id="id-a-number"),
    pytest.param(
        lambda c: _op("bad-7", {"type": "undo", "seq": "1"}), p.ErrorCode.BAD_MESSAGE, "bad-7", id="seq-a-string"
    ),
    pytest.param(
        lambda c: _op("bad-8", {"type": "item.delete", "id": "../../etc/passwd"}),
        p.ErrorCode.BAD_MESSAGE,
        "bad-8",
        id="id-bad-characters",
    ),
    pytest.param(
        lambda c: _op("bad-9", {"type": "item.delete", "id": c.card, "force": True}),
        p.ErrorCode.BAD_MESSAGE,
        "bad-9",
        id="unknown-command-field",
    ),
    pytest.param(
        lambda c: {**_op("bad-10", {"type": "item.delete", "id": c.card}), "priority": 1},
        p.ErrorCode.BAD_MESSAGE,
        "bad-10",
        id="unknown-message-field",
    ),
    pytest.param(lambda c: {"t": "op", "id": "bad-11"}, p.ErrorCode.BAD_MESSAGE, "bad-11", id="op-missing"),
    pytest.param(lambda c: {"t": "sync", "since": -1}, p.ErrorCode.BAD_MESSAGE, None, id="negative-since"),
    pytest.param(lambda c: {"t": "hello", "v": p.PROTOCOL_VERSION}, p.ErrorCode.BAD_MESSAGE, None, id="second-hello"),
    pytest.param(
        lambda c: json.dumps(_op("bad-12", _create(c))).encode(), p.ErrorCode.BINARY_FRAME, None, id="binary-frame"
    ),
    pytest.param(
        # Otherwise a valid create: without the size check it would be refused as text_too_long.
        lambda c: _op("bad-13", _create(c, fields={"text": "x" * (p.MAX_MESSAGE_BYTES + 1)})),
        p.ErrorCode.TOO_LARGE,
        "bad-13",
        id="over-64KiB",
    ),
    pytest.param(
        # 33 000 two-byte characters: under 64 Ki characters, over 64 KiB.
        lambda c: _op("bad-14", _create(c, fields={"text": "ä" * 33_000})),
        p.ErrorCode.TOO_LARGE,
        "bad-14",
        id="over-64KiB-in-utf8-bytes",
    ),
]


@pytest.mark.parametrize(("frame", "code", "op_id"), RAW_FRAMES)
async def test_bad_frame_gets_an_error_and_changes_nothing(
    alice: BoardClient,
    ctx: Ctx,
    frame: Callable[[Ctx], Any],
    code: str,
    op_id: str | None,
) -> None:
    before = await _before(alice, ctx.url, ctx.seeded.board)
    data = frame(ctx)
    raw = json.dumps(data) if isinstance(data, dict) else data
    error = await _error_after(alice, lambda: alice.send_raw(raw))
    assert error.code == code, error.message
    assert error.message
    assert error.op == op_id
    await _assert_unchanged_and_alive(alice, ctx.url, ctx.seeded.board, ctx.seeded, before)


# ------------------------------------------------------------------ operations the engine refuses


def _update(c: Ctx, item: str, fields: dict[str, Any]) -> p.ItemUpdate:
    return p.ItemUpdate(id=item, fields=fields)


ENGINE_CASES: list[Any] = [
    pytest.param(
        lambda c: p.ItemCreate(id=new_id(), item_type="card", fields={"text": "x" * 4001}, stage=c.stage, lane=c.lane),
        p.ErrorCode.TEXT_TOO_LONG,
        id="create-text-over-4000",
    ),
    pytest.param(lambda c: _update(c, c.stage, {"title": "x" * 201}), p.ErrorCode.TEXT_TOO_LONG, id="title-over-200"),
    pytest.param(
        lambda c: p.ItemCreate(id=new_id(), item_type="card", fields={"title": "x"}, stage=c.stage, lane=c.lane),
        p.ErrorCode.UNKNOWN_FIELD,
        id="create-field-the-type-lacks",
    ),
    pytest.param(lambda c: _update(c, c.card, {"owner": "me"}), p.ErrorCode.UNKNOWN_FIELD, id="update-unknown-field"),
    pytest.param(lambda c: _update(c, c.card, {"emotion": "happy"}), p.ErrorCode.BAD_FIELD, id="int-field-text"),
    pytest.param(lambda c: _update(c, c.card, {"emotion": 7}), p.ErrorCode.BAD_FIELD, id="int-out-of-range"),
    pytest.param(lambda c: _update(c, c.card, {"key": 1}), p.ErrorCode.BAD_FIELD, id="bool-field-number"),
    pytest.param(lambda c: _update(c, c.card, {"colour": "black"}), p.ErrorCode.BAD_FIELD, id="choice-not-listed"),
    pytest.param(lambda c: _update(c, c.card, {"text": 42}), p.ErrorCode.BAD_FIELD, id="text-field-number"),
    pytest.param(
        lambda c: p.ItemCreate(id=new_id(), item_type="spreadsheet", fields={}, stage=c.stage, lane=c.lane),
        p.ErrorCode.BAD_FIELD,
        id="unknown-item-type",
    ),
    pytest.param(
        lambda c: p.ItemCreate(
            id=new_id(), item_type="card", fields={"text": f"Asiakas {HETU} soitti"}, stage=c.stage, lane=c.lane
        ),
        p.ErrorCode.IDENTITY_CODE,
        id="create-identity-code",
    ),
    pytest.param(
        lambda c: _update(c, c.card, {"text": f"hetu {HETU.lower()}"}),
        p.ErrorCode.IDENTITY_CODE,
        id="update-identity-code",
    ),
    pytest.param(
        lambda c: p.ItemCreate(id=new_id(), item_type="persona", fields={"quote": "x"}, stage=c.stage),
        p.ErrorCode.MISSING_FIELD,
        id="required-field-missing",
    ),
    pytest.param(lambda c: _update(c, c.stage, {"title": None}), p.ErrorCode.MISSING_FIELD, id="required-set-null"),
    pytest.param(lambda c: _card(c.seeded, item_id=c.card), p.ErrorCode.ID_TAKEN, id="create-existing-card-id"),
    pytest.param(lambda c: _card(c.seeded, item_id=c.stage), p.ErrorCode.ID_TAKEN, id="create-existing-stage-id"),
    pytest.param(
        lambda c: _update(c, c.other_item, {"title": "kaapattu"}), p.ErrorCode.WRONG_BOARD, id="update-other-board"
    ),
    pytest.param(
        lambda c: p.ItemMove(id=c.other_item, after=None, before=None),
        p.ErrorCode.WRONG_BOARD,
        id="move-other-board",
    ),
    pytest.param(lambda c: p.ItemDelete(id=c.other_item), p.ErrorCode.WRONG_BOARD, id="delete-other-board"),
    pytest.param(
        lambda c: p.ItemCreate(id=new_id(), item_type="card", fields={}, stage=c.other_item, lane=c.lane),
        p.ErrorCode.WRONG_BOARD,
        id="create-in-other-boards-stage",
    ),
    pytest.param(lambda c: _update(c, new_id(), {"text": "x"}), p.ErrorCode.NOT_FOUND, id="update-missing"),
    pytest.param(lambda c: p.ItemMove(id=new_id(), stage=c.stage), p.ErrorCode.NOT_FOUND, id="move-missing"),
    pytest.param(lambda c: p.ItemDelete(id=new_id()), p.ErrorCode.NOT_FOUND, id="delete-missing"),
    pytest.param(lambda c: p.VoteAdd(id=new_id()), p.ErrorCode.NOT_FOUND, id="vote-missing"),
    pytest.param(lambda c: p.Undo(seq=10_000), p.ErrorCode.NOT_FOUND, id="undo-missing-seq"),
    pytest.param(
        lambda c: p.ItemCreate(id=new_id(), item_type="card", fields={}, stage=c.lane, lane=c.lane),
        p.ErrorCode.BAD_PLACE,
        id="create-stage-is-a-lane",
    ),
    pytest.param(
        lambda c: p.ItemCreate(id=new_id(), item_type="card", fields={}, stage=c.stage, lane=c.stage),
        p.ErrorCode.BAD_PLACE,
        id="create-lane-is-a-stage",
    ),
    pytest.param(
        lambda c: p.ItemMove(id=c.card, stage=c.lane, lane=c.lane), p.ErrorCode.BAD_PLACE, id="move-stage-is-a-lane"
    ),
    pytest.param(
        lambda c: p.ItemMove(id=c.card, stage=c.stage, lane=c.lane, after=c.card),
        p.ErrorCode.BAD_PLACE,
        id="move-next-to-itself",
    ),
    pytest.param(
        lambda c: p.ItemCreate(id=new_id(), item_type="comment", fields={"text": "x"}, parent=c.lane),
        p.ErrorCode.BAD_PLACE,
        id="comment-on-a-lane",
    ),
    pytest.param(lambda c: p.VoteAdd(id=c.stage), p.ErrorCode.BAD_PLACE, id="vote-on-a-stage"),
    pytest.param(lambda c: p.ItemUpdate(id=c.card, fields={}), p.ErrorCode.BAD_MESSAGE, id="update-no-fields"),
    pytest.param(lambda c: p.VoteRemove(id=c.card), p.ErrorCode.BAD_MESSAGE, id="remove-vote-never-given"),
]


@pytest.mark.parametrize(("build", "code"), ENGINE_CASES)
async def test_refused_operation_changes_nothing(
    alice: BoardClient, ctx: Ctx, build: Callable[[Ctx], p.AnyCommand], code: str
) -> None:
    before = await _before(alice, ctx.url, ctx.seeded.board)
    other_before = await _count_ops(ctx.url, ctx.other_board), await _board_seq(ctx.url, ctx.other_board)
    with pytest.raises(ClientError) as caught:
        await alice.call(build(ctx), timeout=TIMEOUT)
    assert caught.value.error.code == code, caught.value.error.message
    assert caught.value.error.op  # the error names the operation it refuses
    await _assert_unchanged_and_alive(alice, ctx.url, ctx.seeded.board, ctx.seeded, before)
    assert (await _count_ops(ctx.url, ctx.other_board), await _board_seq(ctx.url, ctx.other_board)) == other_before


async def test_item_of_another_board_is_left_alone(alice: BoardClient, ctx: Ctx) -> None:
    """The other board's item keeps its title after update, move and delete attempts from this board."""
    for command in (
        p.ItemUpdate(id=ctx.other_item, fields={"title": "kaapattu"}),
        p.ItemMove(id=ctx.other_item),
        p.ItemDelete(id=ctx.other_item),
    ):
        with pytest.raises(ClientError) as caught:
            await alice.call(command, timeout=TIMEOUT)
        assert caught.value.error.code == p.ErrorCode.WRONG_BOARD
    engine = create_engine(ctx.url)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(select(Item.fields, Item.deleted_seq, Item.version).where(Item.id == ctx.other_item))
            ).one()
    finally:
        await engine.dispose()
    assert row.fields.get("title") != "kaapattu" and row.deleted_seq is None and row.version == 1


# ------------------------------------------------------------------ limits on their own servers


async def test_board_full(seeded: Seeded, migrated_url: str, tmp_path: Path) -> None:
    with _server(migrated_url, tmp_path, KUMPPANI_MAX_ITEMS_PER_BOARD="20") as server:
        async with _clients(server) as made:
            client = _client(server, seeded, made)
            await client.connect()
            assert client.welcome is not None and client.welcome.limits["max_items"] == 20
            assert len(client.replica.items) == 13  # the journey template: 7 stages and 6 lanes
            cards = [new_id() for _ in range(7)]
            for card in cards:
                await client.call(_card(seeded, card, card), timeout=TIMEOUT)
            before = await _before(client, migrated_url, seeded.board)

            with pytest.raises(ClientError) as caught:
                await client.call(_card(seeded, "yksi liikaa"), timeout=TIMEOUT)
            assert caught.value.error.code == p.ErrorCode.BOARD_FULL
            assert await _count_ops(migrated_url, seeded.board) == before.ops
            assert client.replica.seq == before.seq and len(client.replica.items) == 20
            assert client.connected

            # Still usable: a change that adds nothing is acknowledged.
            ack = await client.call(p.ItemUpdate(id=cards[0], fields={"text": "muokattu"}), timeout=TIMEOUT)
            assert ack.seq == before.seq + 1
            # Deleting makes room; restoring into a full board is refused too.
            await client.call(p.ItemDelete(id=cards[1]), timeout=TIMEOUT)
            await client.call(_card(seeded, "mahtuu"), timeout=TIMEOUT)
            with pytest.raises(ClientError) as caught:
                await client.call(p.ItemRestore(id=cards[1]), timeout=TIMEOUT)
            assert caught.value.error.code == p.ErrorCode.BOARD_FULL
            assert await _count_ops(migrated_url, seeded.board) == before.ops + 3


async def test_rate_limit_per_person(seeded: Seeded, migrated_url: str, tmp_path: Path) -> None:
    with _server(migrated_url, tmp_path, KUMPPANI_OPS_PER_SECOND="1", KUMPPANI_OPS_BURST="2") as server:
        async with _clients(server) as made:
            client = _client(server, seeded, made)
            await client.connect()
            futures = [await client.send_op(_card(seeded, str(i))) for i in range(3)]
            results = await asyncio.gather(*(asyncio.wait_for(f, TIMEOUT) for f in futures), return_exceptions=True)
            assert isinstance(results[0], p.Ack) and isinstance(results[1], p.Ack), results
            assert isinstance(results[2], ClientError), results
            assert results[2].error.code == p.ErrorCode.RATE_LIMITED
            assert results[2].error.op is not None
            assert await _count_ops(migrated_url, seeded.board) == 2
            await client.wait_seq(2, timeout=TIMEOUT)
            assert client.replica.seq == 2
            assert client.connected

            # Once a token is back (one per second) the next operation goes through.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + TIMEOUT
            while True:
                try:
                    ack = await client.call(_card(seeded, "taas"), timeout=TIMEOUT)
                    break
                except ClientError as exc:
                    assert exc.error.code == p.ErrorCode.RATE_LIMITED
                    assert loop.time() < deadline, "no token came back within the timeout"
                    await asyncio.sleep(0.25)
            assert ack.seq == 3
            await client.wait_seq(3, timeout=TIMEOUT)
            assert await _count_ops(migrated_url, seeded.board) == 3


async def test_connections_per_person(seeded: Seeded, migrated_url: str, tmp_path: Path) -> None:
    with _server(migrated_url, tmp_path, KUMPPANI_CONNECTIONS_PER_PERSON="2") as server:
        async with _clients(server) as made:
            first, second = _client(server, seeded, made), _client(server, seeded, made)
            await first.connect()
            await second.connect()
            third = _client(server, seeded, made)
            with pytest.raises(ConnectionRefusedError):
                await third.connect()
            assert third.closed_code == p.CloseCode.TOO_MANY_CONNECTIONS

            # The two open connections are unaffected, and the limit is per person.
            ack = await first.call(_card(seeded, "kaksi riittää"), timeout=TIMEOUT)
            await second.wait_seq(ack.seq, timeout=TIMEOUT)
            other = _client(server, seeded, made, "customer")
            await other.connect()
            await other.wait_seq(ack.seq, timeout=TIMEOUT)

            # Closing one makes room again.
            await second.close()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + TIMEOUT
            while True:
                again = _client(server, seeded, made)
                try:
                    await again.connect()
                    break
                except ConnectionRefusedError:
                    assert again.closed_code == p.CloseCode.TOO_MANY_CONNECTIONS
                    assert loop.time() < deadline, "the closed connection was never released"
                    await asyncio.sleep(0.05)
            assert again.replica.seq == ack.seq


async def test_connections_opened_at_once_still_keep_to_the_limit(
    seeded: Seeded, migrated_url: str, tmp_path: Path
) -> None:
    """Each takes its place before anything is awaited, so a burst cannot slip past the count."""
    with _server(migrated_url, tmp_path, KUMPPANI_CONNECTIONS_PER_PERSON="2") as server:
        async with _clients(server) as made:
            burst = [_client(server, seeded, made) for _ in range(6)]
            results = await asyncio.gather(*(c.connect() for c in burst), return_exceptions=True)
            opened = [c for c, r in zip(burst, results, strict=True) if r is None]
            refused = [c for c, r in zip(burst, results, strict=True) if isinstance(r, ConnectionRefusedError)]
            assert len(opened) == 2 and len(refused) == 4, results
            assert {c.closed_code for c in refused} == {p.CloseCode.TOO_MANY_CONNECTIONS}


# ------------------------------------------------------------------ handshake


async def test_op_before_hello_is_not_ready(live: LiveServer, seeded: Seeded, migrated_url: str) -> None:
    raw = await Raw.open(live.ws_url(seeded.board), cookie=seeded.cookie("professional"), origin=live.base)
    try:
        early = _card(seeded, "liian aikaisin")
        await raw.send(p.encode(p.Op(id="early-1", op=early)).decode())
        error = await raw.recv()
        assert error["t"] == "error" and error["code"] == p.ErrorCode.NOT_READY
        assert await _count_ops(migrated_url, seeded.board) == 0

        # The connection still takes a hello, and the early op was not kept for later.
        await raw.send({"t": "hello", "v": p.PROTOCOL_VERSION})
        welcome = await raw.recv()
        assert welcome["t"] == "welcome" and welcome["v"] == p.PROTOCOL_VERSION
        snapshot = await raw.recv()
        assert snapshot["t"] == "snapshot" and snapshot["seq"] == 0
        assert early.id not in {i["id"] for i in snapshot["items"]}
        assert (await raw.recv()) == {"t": "synced", "seq": 0}
        await raw.send(p.encode(p.Op(id="on-time-1", op=_card(seeded, "ajallaan"))).decode())
        ack = await raw.until(lambda f: f["t"] in ("ack", "error"))
        assert ack == {"t": "ack", "op": "on-time-1", "seq": 1}
        assert not any(f["t"] == "ack" and f["op"] == "early-1" for f in raw.frames)
        assert await _count_ops(migrated_url, seeded.board) == 1
    finally:
        await raw.close()


async def test_bad_hello_keeps_waiting_for_a_good_one(live: LiveServer, seeded: Seeded) -> None:
    raw = await Raw.open(live.ws_url(seeded.board), cookie=seeded.cookie("professional"), origin=live.base)
    try:
        for bad, code in (
            ("{hello", p.ErrorCode.BAD_JSON),
            ('{"t": "hello", "v": "1"}', p.ErrorCode.BAD_MESSAGE),
            ('{"t": "hello"}', p.ErrorCode.BAD_MESSAGE),
            ('{"t": "ping"}', p.ErrorCode.NOT_READY),
        ):
            await raw.send(bad)
            error = await raw.recv()
            assert (error["t"], error["code"]) == ("error", code), bad
        assert await raw.handshake() == 0
    finally:
        await raw.close()


async def test_unsupported_version_is_closed_with_4426(live: LiveServer, seeded: Seeded) -> None:
    unsupported = max(p.SUPPORTED_VERSIONS) + 1
    raw = await Raw.open(live.ws_url(seeded.board), cookie=seeded.cookie("professional"), origin=live.base)
    await raw.send({"t": "hello", "v": unsupported})
    error = await raw.recv()
    assert error["t"] == "error" and str(p.PROTOCOL_VERSION) in error["message"]
    assert await raw.close_code() == p.CloseCode.UNSUPPORTED_VERSION
    assert not any(f["t"] in ("welcome", "snapshot") for f in raw.frames)


async def test_unsupported_version_error_has_a_declared_code(live: LiveServer, seeded: Seeded) -> None:
    """Every error code a client can receive is an ErrorCode constant (and so documented)."""
    raw = await Raw.open(live.ws_url(seeded.board), cookie=seeded.cookie("professional"), origin=live.base)
    await raw.send({"t": "hello", "v": max(p.SUPPORTED_VERSIONS) + 1})
    error = await raw.recv()
    await raw.close_code()
    declared = {v for k, v in vars(p.ErrorCode).items() if k.isupper()}
    assert error["code"] in declared, f"error code {error['code']!r} is not declared in ErrorCode"


@pytest.mark.parametrize("origin", ["https://evil.example", None, "null"], ids=["foreign", "missing", "null"])
async def test_foreign_or_missing_origin_is_refused_before_accept(
    live: LiveServer, seeded: Seeded, origin: str | None
) -> None:
    with pytest.raises(websockets.InvalidStatus) as caught:
        await Raw.open(live.ws_url(seeded.board), cookie=seeded.cookie("professional"), origin=origin)
    assert caught.value.response.status_code == 403


@pytest.mark.parametrize(
    "cookie",
    [None, "kumppani=not-a-session-token", "secure-name"],
    ids=["no-cookie", "unknown-token", "__Host-cookie-on-http"],
)
async def test_without_a_session_the_socket_is_closed_with_4401(
    live: LiveServer, seeded: Seeded, cookie: str | None
) -> None:
    if cookie == "secure-name":
        # A real session, under the name only https deployments read.
        cookie = seeded.cookie("professional", secure=True)
    raw = await Raw.open(live.ws_url(seeded.board), cookie=cookie, origin=live.base)
    with contextlib.suppress(websockets.ConnectionClosed):
        await raw.send({"t": "hello", "v": p.PROTOCOL_VERSION})
    assert await raw.close_code() == p.CloseCode.UNAUTHENTICATED
    assert not any(f["t"] in ("welcome", "snapshot") for f in raw.frames)


async def test_many_bad_frames_close_with_4400(live: LiveServer, seeded: Seeded, migrated_url: str) -> None:
    raw = await Raw.open(live.ws_url(seeded.board), cookie=seeded.cookie("professional"), origin=live.base)
    assert await raw.handshake() == 0
    for i in range(ABUSE_LIMIT + 10):
        try:
            await raw.send(f'{{"t": "op", "id": "junk-{i}", ')
        except websockets.ConnectionClosed:
            break
    assert await raw.close_code() == p.CloseCode.PROTOCOL_ABUSE
    errors = [f for f in raw.frames if f["t"] == "error"]
    assert ABUSE_LIMIT <= len(errors) <= ABUSE_LIMIT + 1
    assert {e["code"] for e in errors} == {p.ErrorCode.BAD_JSON}
    assert await _count_ops(migrated_url, seeded.board) == 0


async def test_bad_frames_up_to_the_limit_keep_the_connection(
    live: LiveServer, seeded: Seeded, migrated_url: str
) -> None:
    raw = await Raw.open(live.ws_url(seeded.board), cookie=seeded.cookie("professional"), origin=live.base)
    try:
        assert await raw.handshake() == 0
        for i in range(ABUSE_LIMIT):
            await raw.send(f"junk {i}")
        await raw.send({"t": "ping"})
        await raw.until(lambda f: f["t"] == "pong")
        assert sum(1 for f in raw.frames if f["t"] == "error") == ABUSE_LIMIT
        await raw.send(p.encode(p.Op(id="after-junk", op=_card(seeded))).decode())
        assert await raw.until(lambda f: f["t"] in ("ack", "error")) == {"t": "ack", "op": "after-junk", "seq": 1}
    finally:
        await raw.close()


# ------------------------------------------------------------------ resuming from a bad position


async def test_hello_since_ahead_of_the_board_still_gets_live_events(
    live: LiveServer, seeded: Seeded, alice: BoardClient
) -> None:
    """A client whose replica is ahead of the board (say, the server's data was restored
    from a backup) must not be left deaf: it gets the board as it is, and new events."""
    first = await alice.call(_card(seeded, "ensimmäinen"), timeout=TIMEOUT)
    raw = await Raw.open(live.ws_url(seeded.board), cookie=seeded.cookie("customer"), origin=live.base)
    try:
        await raw.handshake(since=first.seq + 100)
        second = await alice.call(_card(seeded, "toinen"), timeout=TIMEOUT)
        try:
            await raw.until(
                lambda f: (
                    (f["t"] == "ops" and any(e["seq"] == second.seq for e in f["ops"]))
                    or (f["t"] == "snapshot" and f["seq"] >= second.seq)
                )
            )
        except TimeoutError:
            pytest.fail(
                f"after hello with since={first.seq + 100} (board at {first.seq}) the connection never "
                f"received event {second.seq}; frames: {[f['t'] for f in raw.frames]}"
            )
    finally:
        await raw.close()


async def test_live_events_do_not_overtake_the_handshake(live: LiveServer, seeded: Seeded, client_factory: Any) -> None:
    """While others write, a newcomer still gets welcome, snapshot, synced in that order,
    and then every later event exactly once with no gap (seq numbers after the snapshot's)."""
    bob: BoardClient = await client_factory("customer")
    for attempt in range(10):
        futures = [await bob.send_op(_card(seeded, f"{attempt}-{i}")) for i in range(30)]
        raw = await Raw.open(live.ws_url(seeded.board), cookie=seeded.cookie("professional"), origin=live.base)
        try:
            await raw.handshake()
            stream = [f["t"] for f in raw.frames]
            assert stream == ["welcome", "snapshot", "synced"], f"attempt {attempt}: {stream}"
            head = raw.frames[-1]["seq"]
            acks = await asyncio.gather(*(asyncio.wait_for(f, TIMEOUT) for f in futures))
            last = max(a.seq for a in acks)
            seq = head
            while seq < last:
                frame = await raw.until(lambda f: f["t"] == "ops")
                for event in frame["ops"]:
                    if event["seq"] <= seq:
                        continue
                    assert event["seq"] == seq + 1, f"attempt {attempt}: gap after {seq}: {event['seq']}"
                    seq = event["seq"]
        finally:
            await raw.close()


# ------------------------------------------------------------------ permissions


async def test_commenter_cannot_change_someone_elses_comment(
    live: LiveServer, seeded: Seeded, alice: BoardClient, migrated_url: str
) -> None:
    """A coach on a team board may comment, and edit their own comments, but not others'."""
    from auth import directory as d
    from auth.sessions import create_session

    engine = create_engine(migrated_url)
    try:
        async with engine.begin() as conn:
            coach = await d.create_person(conn, "Cecilia Valmentaja")
            await d.add_member(conn, seeded.team, coach, "coach")
            token = await create_session(conn, coach, absolute=timedelta(hours=1))
    finally:
        await engine.dispose()
    card, comment = new_id(), new_id()
    await alice.call(_card(seeded, "kortti", card), timeout=TIMEOUT)
    await alice.call(
        p.ItemCreate(id=comment, item_type="comment", fields={"text": "Paulan kommentti"}, parent=card),
        timeout=TIMEOUT,
    )
    cecilia = BoardClient(live.ws_url(seeded.board), cookie=f"kumppani={token}", origin=live.base)
    try:
        await cecilia.connect()
        own = new_id()
        await cecilia.call(
            p.ItemCreate(id=own, item_type="comment", fields={"text": "oma"}, parent=card), timeout=TIMEOUT
        )
        await cecilia.call(p.ItemUpdate(id=own, fields={"text": "oma, korjattu"}), timeout=TIMEOUT)
        with pytest.raises(ClientError) as caught:
            await cecilia.call(p.ItemUpdate(id=card, fields={"text": "ei saa"}), timeout=TIMEOUT)
        assert caught.value.error.code == p.ErrorCode.FORBIDDEN

        before = await _before(cecilia, migrated_url, seeded.board)
        for command in (p.ItemUpdate(id=comment, fields={"text": "muutettu"}), p.ItemDelete(id=comment)):
            try:
                ack = await cecilia.call(command, timeout=TIMEOUT)
            except ClientError as exc:
                assert exc.error.code == p.ErrorCode.FORBIDDEN, type(command).__name__
            else:
                pytest.fail(f"a commenter's {p.tag_of(type(command))} of another person's comment was accepted: {ack}")
        assert await _count_ops(migrated_url, seeded.board) == before.ops
        assert cecilia.replica.items[comment]["fields"] == {"text": "Paulan kommentti"}
    finally:
        await cecilia.close()
