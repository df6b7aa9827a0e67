"""docs/protocol.md and the server agree: read from raw frames, not from the Python client's replica.

Which frames count toward the 4400 close, what an error echoes as `op`, who the author of
template structure is, what a commenter may do, what replicas are told when votes are hidden
again, and how a person's own hidden votes reach every tab of theirs.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from auth import directory
from auth.sessions import create_session
from boards import protocol as p
from conftest import LiveServer, Seeded
from foundation.db import create_engine, new_id
from server.ws.endpoint import ABUSE_LIMIT
from tests.test_bad_frames import Raw


@contextlib.asynccontextmanager
async def _raw(live: LiveServer, board: str, cookie: str) -> AsyncIterator[Raw]:
    raw = await Raw.open(live.ws_url(board), cookie=cookie, origin=live.base)
    try:
        yield raw
    finally:
        await raw.close()


def _op(op_id: str, command: dict[str, Any]) -> dict[str, Any]:
    return {"t": "op", "id": op_id, "op": command}


def _card(seeded: Seeded, item_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "item.create",
        "id": item_id,
        "item_type": "card",
        "fields": fields,
        "stage": seeded.stage,
        "lane": seeded.lane,
    }


async def _answer(raw: Raw, op_id: str) -> dict[str, Any]:
    return await raw.until(lambda f: f["t"] in ("ack", "error") and f.get("op") == op_id)


async def test_frames_the_server_understands_but_refuses_do_not_close_the_connection(
    live: LiveServer, seeded: Seeded
) -> None:
    """Section 3: only frames that are no message at all count toward 4400, not schema-invalid ones."""
    async with _raw(live, seeded.board, seeded.cookie("professional")) as raw:
        await raw.handshake()
        for i in range(ABUSE_LIMIT + 10):
            await raw.send({"t": "subscribe", "n": i})  # a newer client's message type
            await raw.send(_op(f"odd-{i}", {"type": "item.delete", "id": new_id(), "force": True}))
        await raw.send({"t": "ping"})
        await raw.until(lambda f: f["t"] == "pong")
        codes = {f["code"] for f in raw.frames if f["t"] == "error"}
        assert codes == {p.ErrorCode.UNKNOWN_TYPE, p.ErrorCode.BAD_MESSAGE}
        created = new_id()
        await raw.send(_op("still-open", _card(seeded, created, text="auki")))
        assert (await _answer(raw, "still-open"))["t"] == "ack"


async def test_an_over_long_op_id_is_not_echoed_cut_short(live: LiveServer, seeded: Seeded) -> None:
    long_id = "x" * 65
    async with _raw(live, seeded.board, seeded.cookie("professional")) as raw:
        await raw.handshake()
        await raw.send(_op(long_id, _card(seeded, new_id(), text="pitkä")))
        error = await raw.until(lambda f: f["t"] == "error")
        assert error["code"] == p.ErrorCode.BAD_MESSAGE
        assert "op" not in error  # an id the client never sent would name the wrong operation
        # An id of exactly 64 characters is fine and echoed whole.
        await raw.send(_op("y" * 64, {"type": "item.delete", "id": new_id()}))
        refused = await raw.until(lambda f: f["t"] == "error" and "op" in f)
        assert refused["op"] == "y" * 64


async def test_template_structure_has_no_author(live: LiveServer, seeded: Seeded) -> None:
    async with _raw(live, seeded.board, seeded.cookie("professional")) as raw:
        await raw.send({"t": "hello", "v": p.PROTOCOL_VERSION})
        snapshot = await raw.until(lambda f: f["t"] == "snapshot")
    structure = [i for i in snapshot["items"] if i["type"] in ("stage", "lane")]
    assert structure and all(i["author"] is None and i["seq"] == 0 for i in structure)
    keys = [i["order"] for i in structure]
    assert len(keys) == len(set(keys)), "stages and lanes share the board-level cell: keys must differ"


async def test_a_board_made_on_the_team_page_has_structure_without_an_author(live: LiveServer, seeded: Seeded) -> None:
    """Section 8: `author` is null for template structure, also on a board a person created."""
    async with httpx.AsyncClient(base_url=live.base, cookies={"kumppani": seeded.tokens["professional"]}) as http:
        await http.get(f"/teams/{seeded.team}")
        made = await http.post(
            f"/teams/{seeded.team}/boards",
            data={"csrf": http.cookies["kumppani-csrf"], "title": "Uusi polku", "template": "journey"},
            headers={"Origin": live.base},
        )
    assert made.status_code == 303
    board = made.headers["location"].removeprefix("/boards/")
    async with _raw(live, board, seeded.cookie("professional")) as raw:
        await raw.send({"t": "hello", "v": p.PROTOCOL_VERSION})
        snapshot = await raw.until(lambda f: f["t"] == "snapshot")
    assert snapshot["items"] and all(i["author"] is None for i in snapshot["items"])


async def _coach(url: str, seeded: Seeded) -> str:
    """A coach who is a member of the team (comment and facilitate, no edit); their cookie."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            coach = await directory.create_person(conn, "Kaisa Valmentaja")
            await directory.add_member(conn, seeded.team, coach, "coach")
            token = await create_session(conn, coach, absolute=timedelta(hours=1))
    finally:
        await engine.dispose()
    return f"kumppani={token}"


async def test_a_commenter_changes_only_their_own_comments(live: LiveServer, seeded: Seeded, migrated_url: str) -> None:
    """Section 6: comment-only access is comments and reactions, and only one's own comments change."""
    coach_cookie = await _coach(migrated_url, seeded)
    card, theirs, mine = new_id(), new_id(), new_id()
    async with (
        _raw(live, seeded.board, seeded.cookie("professional")) as pro,
        _raw(live, seeded.board, coach_cookie) as coach,
    ):
        await pro.handshake()
        await coach.handshake()
        await pro.send(_op("p1", _card(seeded, card, text="kortti")))
        await pro.send(
            _op(
                "p2",
                {
                    "type": "item.create",
                    "id": theirs,
                    "item_type": "comment",
                    "fields": {"text": "pro"},
                    "parent": card,
                },
            )
        )
        assert (await _answer(pro, "p2"))["t"] == "ack"
        comment = {
            "type": "item.create",
            "id": mine,
            "item_type": "comment",
            "fields": {"text": "coach"},
            "parent": card,
        }
        steps: list[tuple[str, dict[str, Any], str]] = [
            ("c1", comment, "ack"),
            ("c2", {"type": "item.update", "id": mine, "fields": {"text": "korjattu"}}, "ack"),
            ("c3", {"type": "reaction.add", "id": card, "emoji": "👍"}, "ack"),
            ("c4", {"type": "item.update", "id": theirs, "fields": {"text": "muutettu"}}, p.ErrorCode.FORBIDDEN),
            ("c5", {"type": "item.delete", "id": theirs}, p.ErrorCode.FORBIDDEN),
            ("c6", {"type": "item.update", "id": card, "fields": {"text": "muutettu"}}, p.ErrorCode.FORBIDDEN),
            ("c7", _card(seeded, new_id(), text="oma kortti"), p.ErrorCode.FORBIDDEN),
            ("c8", {"type": "vote.add", "id": card}, p.ErrorCode.FORBIDDEN),
            ("c9", {"type": "item.delete", "id": mine}, "ack"),
        ]
        for op_id, command, expected in steps:
            await coach.send(_op(op_id, command))
            answer = await _answer(coach, op_id)
            assert (answer["t"] if answer["t"] == "ack" else answer["code"]) == expected, (op_id, answer)


async def test_hiding_votes_again_tells_replicas_to_clear_totals(live: LiveServer, seeded: Seeded) -> None:
    card = new_id()
    async with (
        _raw(live, seeded.board, seeded.cookie("professional")) as pro,
        _raw(live, seeded.board, seeded.cookie("observer")) as watcher,
    ):
        await pro.handshake()
        await watcher.handshake()
        for op_id, command in (
            ("v1", _card(seeded, card, text="ääni")),
            ("v2", {"type": "vote.add", "id": card}),
            ("v3", {"type": "board.set", "votes_revealed": True}),
            ("v4", {"type": "board.set", "votes_revealed": False}),
        ):
            await pro.send(_op(op_id, command))
            assert (await _answer(pro, op_id))["t"] == "ack"
        changes = []
        while len(changes) < 2:
            frame = await watcher.until(lambda f: f["t"] == "ops")
            changes += [e["data"] for e in frame["ops"] if e["type"] == "board.changed"]
    assert changes[0] == {"votes_revealed": True, "totals": {card: 1}}
    assert changes[1] == {"votes_revealed": False, "totals": {}}


async def test_own_hidden_votes_reach_every_tab_of_the_voter_and_no_one_else(live: LiveServer, seeded: Seeded) -> None:
    card = new_id()
    async with (
        _raw(live, seeded.board, seeded.cookie("customer")) as tab_a,
        _raw(live, seeded.board, seeded.cookie("customer")) as tab_b,
        _raw(live, seeded.board, seeded.cookie("professional")) as other,
    ):
        await tab_a.handshake()
        await tab_b.handshake()
        await other.handshake()
        await tab_a.send(_op("a1", _card(seeded, card, text="äänestä")))
        head = (await _answer(tab_a, "a1"))["seq"]
        await tab_a.send(_op("a2", {"type": "vote.add", "id": card}))
        await tab_a.send(_op("a3", {"type": "vote.add", "id": card}))
        ack = await _answer(tab_a, "a3")
        votes = await tab_b.until(lambda f: f["t"] == "votes" and f["seq"] == ack["seq"])
        assert votes == {"t": "votes", "seq": ack["seq"], "mine": {card: 2}, "used": 2}
        hidden = [e for f in tab_b.frames if f["t"] == "ops" for e in f["ops"] if e["type"] == "vote.changed"]
        assert hidden and all(e["actor"] is None and e["data"] == {"id": card, "hidden": True} for e in hidden)
        # The other person gets the hidden events, and no votes frame.
        if not any(f["t"] == "ops" and f["ops"][-1]["seq"] >= ack["seq"] for f in other.frames):
            await other.until(lambda f: f["t"] == "ops" and f["ops"][-1]["seq"] >= ack["seq"])
        await other.send({"t": "ping"})
        await other.until(lambda f: f["t"] == "pong")
        assert not [f for f in other.frames if f["t"] == "votes"]
    # A device that was away catches up by events and learns its votes before `synced`.
    async with _raw(live, seeded.board, seeded.cookie("customer")) as device:
        await device.send({"t": "hello", "v": p.PROTOCOL_VERSION, "since": head})
        await device.until(lambda f: f["t"] == "synced")
        kinds = [f["t"] for f in device.frames]
        assert kinds[:4] == ["welcome", "ops", "votes", "synced"]
        assert device.frames[2] == {"t": "votes", "seq": ack["seq"], "mine": {card: 2}, "used": 2}


@pytest.mark.parametrize("revealed", [False, True])
async def test_replica_follows_own_votes_from_votes_frames(
    live: LiveServer, seeded: Seeded, client_factory: Any, revealed: bool
) -> None:
    """The Python client (written from the document) keeps its own votes right on a second tab."""
    voter = await client_factory("customer")
    second = await client_factory("customer")
    card = new_id()
    await voter.call(p.ItemCreate(id=card, item_type="card", stage=seeded.stage, lane=seeded.lane))
    if revealed:
        await (await client_factory("professional")).call(p.BoardSet(votes_revealed=True))
    ack = await voter.call(p.VoteAdd(id=card))
    await second.wait_seq(ack.seq)
    await second.wait_for(lambda _: second.replica.votes_mine == {card: 1})
    assert second.replica.votes_used == 1
