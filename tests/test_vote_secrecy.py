"""Hidden votes, judged by what the server sends: the raw frames, not a client's replica.

The Python client throws hidden vote events away, so a test that reads its replica
cannot see a server that leaks the voter or the total. These read every frame as JSON.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from boards import protocol as p
from boards.catalogue import create_board
from boards.client import BoardClient
from boards.models import Item
from conftest import LiveServer, Seeded
from foundation.db import create_engine, new_id


def _messages(client: BoardClient) -> list[dict[str, Any]]:
    assert client.frames is not None
    return [json.loads(frame) for frame in client.frames]


def _vote_events(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for m in messages if m["t"] == "ops" for e in m["ops"] if e["type"] == "vote.changed"]


def _snapshots(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["t"] == "snapshot"]


async def _ideas_board(url: str, seeded: Seeded) -> tuple[str, str]:
    engine = create_engine(url)
    async with engine.begin() as conn:
        board = await create_board(conn, "Ideat", "ideas", team_id=seeded.team)
        stage = (
            await conn.execute(select(Item.id).where(Item.board_id == board, Item.type == "stage").limit(1))
        ).scalar_one()
    await engine.dispose()
    return board, stage


def _client(live: LiveServer, seeded: Seeded, board: str, who: str) -> BoardClient:
    return BoardClient(live.ws_url(board), cookie=seeded.cookie(who), origin=live.base, record_frames=True)


async def test_a_hidden_vote_frame_names_no_one_and_no_count(
    live: LiveServer, seeded: Seeded, migrated_url: str
) -> None:
    board, stage = await _ideas_board(migrated_url, seeded)
    voter = _client(live, seeded, board, "customer")
    watcher = _client(live, seeded, board, "observer")
    await voter.connect()
    await watcher.connect()
    idea = new_id()
    await voter.call(p.ItemCreate(id=idea, item_type="idea", fields={"title": "Idea"}, stage=stage))
    await voter.call(p.VoteAdd(id=idea))
    last = await voter.call(p.VoteAdd(id=idea))
    await watcher.wait_seq(last.seq)
    await voter.wait_seq(last.seq)
    for who, client in (("watcher", watcher), ("voter", voter)):
        events = _vote_events(_messages(client))
        assert len(events) == 2, who
        for e in events:
            # Exactly this and nothing more: no person, count, total or op id to tell who voted.
            assert e["data"] == {"id": idea, "hidden": True}, (who, e)
            assert e.get("actor") is None and not e.get("op"), (who, e)

    # A late reader resuming from the operation log gets the same anonymous events.
    late = _client(live, seeded, board, "observer")
    late.replica.seq = 1
    await late.connect(resume=True)
    resumed = _vote_events(_messages(late))
    assert [e["data"] for e in resumed] == [{"id": idea, "hidden": True}] * 2
    assert all(e.get("actor") is None and not e.get("op") for e in resumed)
    for c in (voter, watcher, late):
        await c.close()


async def test_a_snapshot_shows_only_the_readers_own_votes_until_revealed(
    live: LiveServer, seeded: Seeded, migrated_url: str
) -> None:
    board, stage = await _ideas_board(migrated_url, seeded)
    pro = _client(live, seeded, board, "professional")
    customer = _client(live, seeded, board, "customer")
    await pro.connect()
    await customer.connect()
    idea, other = new_id(), new_id()
    await pro.call(p.ItemCreate(id=idea, item_type="idea", fields={"title": "Yksi"}, stage=stage))
    await pro.call(p.ItemCreate(id=other, item_type="idea", fields={"title": "Toinen"}, stage=stage))
    for voter, item in ((pro, idea), (pro, idea), (customer, idea), (customer, other)):
        await voter.call(p.VoteAdd(id=item))

    async def snapshot_of(who: str) -> dict[str, Any]:
        reader = _client(live, seeded, board, who)
        await reader.connect()
        await reader.close()
        (snap,) = _snapshots(_messages(reader))
        return snap

    hidden = {who: (await snapshot_of(who))["votes"] for who in ("professional", "customer", "observer")}
    assert hidden["professional"]["mine"] == {idea: 2} and hidden["professional"]["totals"] == {}
    assert hidden["customer"]["mine"] == {idea: 1, other: 1} and hidden["customer"]["totals"] == {}
    assert hidden["observer"]["mine"] == {} and hidden["observer"]["totals"] == {}
    assert not any(v["revealed"] for v in hidden.values())

    revealed = await pro.call(p.BoardSet(votes_revealed=True))
    await customer.wait_seq(revealed.seq)
    (reveal,) = [e for m in _messages(customer) if m["t"] == "ops" for e in m["ops"] if e["seq"] == revealed.seq]
    assert reveal["data"]["totals"] == {idea: 3, other: 1}
    shown = (await snapshot_of("observer"))["votes"]
    assert shown["revealed"] is True and shown["totals"] == {idea: 3, other: 1} and shown["mine"] == {}
    await pro.close()
    await customer.close()
