"""Reading boards: snapshots, missed operations, and the board row."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import String, bindparam, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.models import Person
from boards import protocol as p
from boards.engine import WIRE_ITEM_COLUMNS, own_votes_frame, own_votes_statement, stored_event, wire_item
from boards.models import Board, Item, Operation, Reaction, Vote


async def board_row(conn: AsyncConnection, board_id: str) -> Any | None:
    return (await conn.execute(select(Board).where(Board.id == board_id))).first()


def board_to_wire(board: Any) -> dict[str, Any]:
    return {
        "id": board.id,
        "title": board.title,
        "template": board.template,
        "team": board.team_id,
        "round": board.round_id,
        "locked": board.locked,
        "archived": board.archived_at is not None,
        "votes_revealed": board.votes_revealed,
        "vote_budget": board.vote_budget,
        "visibility": board.visibility,
        "timer_ends_at": board.timer_ends_at.isoformat(timespec="seconds").replace("+00:00", "Z")
        if board.timer_ends_at
        else None,
    }


async def snapshot(conn: AsyncConnection, board_id: str, person_id: str) -> p.Snapshot | None:
    """The whole live board as ``person_id`` may see it, at least as new as its ``seq``.

    The sequence number is read first, so the items may already include changes
    after it; replaying those events is harmless (each sets absolute values),
    whereas items older than ``seq`` would lose changes.
    """
    board = (await conn.execute(select(Board).where(Board.id == board_id))).first()
    if board is None:
        return None
    rows = (await conn.execute(_SNAPSHOT_ITEMS, {"board_id": board_id})).all()
    # Tuples, not attribute access, and msgspec for the JSON: a big board has thousands of rows.
    items = [
        wire_item(item_id, kind, parent, stage, lane, order, _fields(fields), author, version, seq, deleted)
        for item_id, kind, parent, stage, lane, order, fields, author, version, seq, deleted in rows
    ]
    vote_rows = (
        await conn.execute(select(Vote.item_id, Vote.person_id, Vote.count).where(Vote.board_id == board_id))
    ).all()
    votes: dict[str, Any] = {"revealed": board.votes_revealed, "mine": {}, "totals": {}}
    for item_id, person, count in vote_rows:
        if person == person_id:
            votes["mine"][item_id] = count
        if board.votes_revealed:
            votes["totals"][item_id] = votes["totals"].get(item_id, 0) + count
    votes["used"] = sum(votes["mine"].values())
    reactions = [
        {"id": i, "person": who, "emoji": e}
        for i, who, e in (
            await conn.execute(
                select(Reaction.item_id, Reaction.person_id, Reaction.emoji).where(Reaction.board_id == board_id)
            )
        ).all()
    ]
    author_ids = {item["author"] for item in items if item["author"]}
    authors: dict[str, str | None] = {}
    if author_ids:
        names = await conn.execute(
            select(Person.id, Person.display_name).where(Person.id.in_(author_ids), Person.erased_at.is_(None))
        )
        authors = {pid: name for pid, name in names}
    return p.Snapshot(
        seq=board.seq,
        board=board_to_wire(board),
        items=items,
        votes=votes,
        reactions=reactions,
        authors=authors,
    )


# ``fields`` as the stored JSON text where the driver gives text (SQLite): msgspec decodes
# it several times faster than the JSON type's json.loads. asyncpg decodes json itself.
_SNAPSHOT_ITEMS = (
    select(*(type_coerce(c, String) if c is Item.fields else c for c in WIRE_ITEM_COLUMNS))
    .where(Item.board_id == bindparam("board_id"), Item.deleted_seq.is_(None))
    .order_by(Item.order_key, Item.id)
)
_decode_json = msgspec.json.Decoder()


def _fields(value: Any) -> dict[str, Any]:
    return _decode_json.decode(value) if isinstance(value, str | bytes) else value  # type: ignore[no-any-return]


async def events_since(conn: AsyncConnection, board_id: str, since: int, limit: int) -> list[p.Event] | None:
    """Operations after ``since`` in order, or None when a snapshot is needed instead."""
    head = (await conn.execute(select(Board.seq).where(Board.id == board_id))).scalar()
    if head is None:
        return None
    if head - since > limit or since > head:
        # Too far behind, or ahead of the board (a client of an older database): start afresh.
        return None
    return await events_between(conn, board_id, since + 1, head)


async def events_between(conn: AsyncConnection, board_id: str, first: int, last: int) -> list[p.Event]:
    rows = (await conn.execute(_EVENTS, {"board_id": board_id, "first": first, "last": last})).all()
    return [stored_event(seq, kind, actor, op_id, at, _fields(data)) for seq, kind, actor, op_id, at, data in rows]


_EVENTS = (
    select(
        Operation.seq,
        Operation.type,
        Operation.actor_id,
        Operation.op_id,
        Operation.created_at,
        type_coerce(Operation.data, String),
    )
    .where(
        Operation.board_id == bindparam("board_id"),
        Operation.seq >= bindparam("first"),
        Operation.seq <= bindparam("last"),
    )
    .order_by(Operation.seq)
)


async def item_count(conn: AsyncConnection, board_id: str) -> int:
    return int(
        (
            await conn.execute(
                select(func.count()).select_from(Item).where(Item.board_id == board_id, Item.deleted_seq.is_(None))
            )
        ).scalar()
        or 0
    )


async def own_votes(conn: AsyncConnection, board_id: str, person_id: str, seq: int) -> p.Votes:
    """The person's votes on the board, for a client that caught up by events (which may hide them)."""
    return own_votes_frame(seq, (await conn.execute(own_votes_statement(board_id, person_id))).all())
