"""The realtime engine end to end: real server, real websockets, both databases."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import func, select

from boards import protocol as p
from boards.client import BoardClient, ClientError
from boards.models import Item, Operation
from foundation.db import create_engine, new_id


async def _count_ops(url: str, board: str) -> int:
    engine = create_engine(url)
    async with engine.connect() as conn:
        n = (
            await conn.execute(select(func.count()).select_from(Operation).where(Operation.board_id == board))
        ).scalar()
    await engine.dispose()
    return int(n or 0)


async def test_card_created_by_one_reaches_the_other_in_order(client_factory, seeded) -> None:
    alice = await client_factory("professional")
    bob = await client_factory("customer")
    card = new_id()
    ack = await alice.call(
        p.ItemCreate(
            id=card, item_type="card", fields={"text": "Odotin puhelimessa"}, stage=seeded.stage, lane=seeded.lane
        )
    )
    await bob.wait_seq(ack.seq)
    assert bob.replica.items[card]["fields"] == {"text": "Odotin puhelimessa"}
    assert bob.replica.items[card]["author"] == seeded.professional
    await bob.call(p.ItemUpdate(id=card, fields={"text": "Odotin puhelimessa 40 min"}))
    await alice.wait_for(lambda r: r.items[card]["fields"]["text"].endswith("40 min"))
    assert alice.replica.comparable() == bob.replica.comparable()


async def test_resent_operation_is_applied_once(client_factory, seeded, migrated_url) -> None:
    alice = await client_factory("professional")
    card = new_id()
    command = p.ItemCreate(id=card, item_type="card", fields={"text": "kerran"}, stage=seeded.stage, lane=seeded.lane)
    first = await asyncio.wait_for(await alice.send_op(command, op_id="same-op"), 5)
    again = await asyncio.wait_for(await alice.send_op(command, op_id="same-op"), 5)
    assert again.duplicate and again.seq == first.seq
    assert await _count_ops(migrated_url, seeded.board) == 1


async def test_reconnect_with_last_seq_receives_exactly_what_was_missed(client_factory, seeded) -> None:
    alice = await client_factory("professional")
    bob = await client_factory("customer")
    first = await alice.call(
        p.ItemCreate(id=new_id(), item_type="card", fields={"text": "0"}, stage=seeded.stage, lane=seeded.lane)
    )
    await bob.wait_seq(first.seq)
    await bob.close()
    seen_before = bob.replica.seq
    cards = [new_id() for _ in range(5)]
    for c in cards:
        await alice.call(p.ItemCreate(id=c, item_type="card", fields={"text": c}, stage=seeded.stage, lane=seeded.lane))
    events: list[p.Event] = []
    bob.on_event = events.append
    await bob.connect()
    assert [e.seq for e in events] == list(range(seen_before + 1, seen_before + 6))
    assert set(cards) <= set(bob.replica.items)
    assert bob.replica.comparable() == alice.replica.comparable()


async def test_observer_cannot_change_the_board(client_factory, seeded, migrated_url) -> None:
    olli = await client_factory("observer")
    with pytest.raises(ClientError) as caught:
        await olli.call(
            p.ItemCreate(id=new_id(), item_type="card", fields={"text": "x"}, stage=seeded.stage, lane=seeded.lane)
        )
    assert caught.value.error.code == p.ErrorCode.FORBIDDEN
    assert await _count_ops(migrated_url, seeded.board) == 0


async def test_move_between_neighbours_orders_cards(client_factory, seeded) -> None:
    alice = await client_factory("professional")
    a, b, c = new_id(), new_id(), new_id()
    for card in (a, b, c):
        await alice.call(
            p.ItemCreate(id=card, item_type="card", fields={"text": card}, stage=seeded.stage, lane=seeded.lane)
        )
    assert [i["id"] for i in alice.replica.ordered(seeded.stage, seeded.lane)] == [a, b, c]
    ack = await alice.call(p.ItemMove(id=c, stage=seeded.stage, lane=seeded.lane, after=a, before=b))
    await alice.wait_seq(ack.seq)
    assert [i["id"] for i in alice.replica.ordered(seeded.stage, seeded.lane)] == [a, c, b]
    ack = await alice.call(p.ItemMove(id=a, stage=seeded.stage, lane=seeded.lane))
    await alice.wait_seq(ack.seq)
    assert [i["id"] for i in alice.replica.ordered(seeded.stage, seeded.lane)] == [c, b, a]


async def test_undo_and_redo_own_operations(client_factory, seeded) -> None:
    alice = await client_factory("professional")
    card = new_id()
    await alice.call(
        p.ItemCreate(id=card, item_type="card", fields={"text": "eka"}, stage=seeded.stage, lane=seeded.lane)
    )
    edit = await alice.call(p.ItemUpdate(id=card, fields={"text": "toka"}))
    undo = await alice.call(p.Undo(seq=edit.seq))
    await alice.wait_seq(undo.seq)
    assert alice.replica.items[card]["fields"]["text"] == "eka"
    redo = await alice.call(p.Redo(seq=undo.seq))
    await alice.wait_seq(redo.seq)
    assert alice.replica.items[card]["fields"]["text"] == "toka"
    delete = await alice.call(p.ItemDelete(id=card))
    await alice.wait_seq(delete.seq)
    assert card not in alice.replica.items
    restored = await alice.call(p.Undo(seq=delete.seq))
    await alice.wait_seq(restored.seq)
    assert alice.replica.items[card]["fields"]["text"] == "toka"


async def test_cannot_undo_someone_elses_operation(client_factory, seeded) -> None:
    alice = await client_factory("professional")
    bob = await client_factory("customer")
    ack = await alice.call(
        p.ItemCreate(id=new_id(), item_type="card", fields={"text": "a"}, stage=seeded.stage, lane=seeded.lane)
    )
    with pytest.raises(ClientError) as caught:
        await bob.call(p.Undo(seq=ack.seq))
    assert caught.value.error.code == p.ErrorCode.NOT_YOURS


async def test_edit_that_replaces_anothers_is_reported(client_factory, seeded) -> None:
    alice = await client_factory("professional")
    bob = await client_factory("customer")
    card = new_id()
    created = await alice.call(
        p.ItemCreate(id=card, item_type="card", fields={"text": "a"}, stage=seeded.stage, lane=seeded.lane)
    )
    await bob.wait_seq(created.seq)
    await alice.call(p.ItemUpdate(id=card, fields={"text": "alice"}, base=created.seq))
    replaced = await bob.call(p.ItemUpdate(id=card, fields={"text": "bob"}, base=created.seq))
    assert [(r.field, r.by) for r in replaced.replaced] == [("text", seeded.professional)]


async def test_votes_respect_the_budget_and_stay_hidden(client_factory, seeded) -> None:
    alice = await client_factory("professional")
    bob = await client_factory("customer")
    bob.frames = []  # what the server sends bob from here on
    card = new_id()
    await alice.call(
        p.ItemCreate(id=card, item_type="card", fields={"text": "idea"}, stage=seeded.stage, lane=seeded.lane)
    )
    for _ in range(5):
        await alice.call(p.VoteAdd(id=card))
    with pytest.raises(ClientError) as caught:
        await alice.call(p.VoteAdd(id=card))
    assert caught.value.error.code == p.ErrorCode.VOTE_BUDGET
    await bob.wait_seq(alice.replica.seq)
    sent = [e for frame in bob.frames for m in [json.loads(frame)] if m["t"] == "ops" for e in m["ops"]]
    votes = [e for e in sent if e["type"] == "vote.changed"]
    assert len(votes) == 5 and all(e["data"] == {"id": card, "hidden": True} for e in votes)


async def test_presence_shows_who_is_editing(client_factory, seeded) -> None:
    alice = await client_factory("professional")
    bob = await client_factory("customer")
    await alice.wait_for(lambda r: seeded.customer in alice.presence)
    await bob.set_editing(seeded.stage)
    await alice.wait_for(lambda r: alice.presence[seeded.customer].editing == seeded.stage)
    await bob.close()
    await alice.wait_for(lambda r: seeded.customer not in alice.presence)


async def test_snapshot_on_first_connect_has_the_template(client_factory, seeded) -> None:
    alice = await client_factory("professional")
    types = sorted({i["type"] for i in alice.replica.items.values()})
    assert types == ["lane", "stage"]
    assert sum(1 for i in alice.replica.items.values() if i["type"] == "stage") == 7


async def test_outsider_gets_not_found(live, seeded) -> None:
    client = BoardClient(live.ws_url(seeded.board), cookie=seeded.cookie("outsider"), origin=live.base)
    with pytest.raises(ConnectionRefusedError):
        await client.connect()
    assert client.closed_code == p.CloseCode.NOT_FOUND


async def test_items_written_match_the_log(client_factory, seeded, migrated_url) -> None:
    alice = await client_factory("professional")
    for i in range(10):
        await alice.call(
            p.ItemCreate(id=new_id(), item_type="card", fields={"text": str(i)}, stage=seeded.stage, lane=seeded.lane)
        )
    engine = create_engine(migrated_url)
    async with engine.connect() as conn:
        n = (
            await conn.execute(
                select(func.count()).select_from(Item).where(Item.board_id == seeded.board, Item.type == "card")
            )
        ).scalar()
    await engine.dispose()
    assert n == 10
