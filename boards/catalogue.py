"""Creating boards from templates."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth import audit
from auth.tokens import TokenError, check_token, digest, make_token
from boards import protocol as p
from boards.models import Board, Item
from boards.ordering import key_between
from boards.system_ops import append_event, lock_board
from boards.templates import template_items
from foundation.db import new_id, utcnow


async def create_board(
    conn: AsyncConnection,
    title: str,
    template: str = "journey",
    *,
    team_id: str | None = None,
    round_id: str | None = None,
    locale: str = "fi",
) -> str:
    """A new board with its template's structure, at sequence 0 (the snapshot holds it)."""
    if (team_id is None) == (round_id is None):
        raise ValueError("a board belongs to exactly one team or one round")
    items = template_items(template, locale)
    board_id = new_id()
    await conn.execute(
        insert(Board).values(
            id=board_id,
            title=title,
            template=template,
            team_id=team_id,
            round_id=round_id,
            seq=0,
            item_count=len(items),
        )
    )
    ids = {t.key: new_id() for t in items}
    now = utcnow()
    # One run of keys per cell: stages, lanes, themes and pictures all sit in the board-level
    # cell, and keys shared there would leave their order to the random ids.
    keys: dict[tuple[str | None, str | None], str] = {}
    rows = []
    for t in items:
        cell = (t.stage, t.lane)
        order = key_between(keys.get(cell), None)
        keys[cell] = order
        rows.append(
            {
                "id": ids[t.key],
                "board_id": board_id,
                "type": t.type,
                "parent_id": None,
                "stage_id": ids.get(t.stage) if t.stage else None,
                "lane_id": ids.get(t.lane) if t.lane else None,
                "order_key": order,
                "fields": t.fields,
                "field_meta": {},
                "author_id": None,  # template structure has no author (docs/protocol.md section 8)
                "version": 1,
                "created_seq": 0,
                "updated_seq": 0,
                "deleted_seq": None,
                "created_at": now,
                "updated_at": now,
            }
        )
    if rows:
        await conn.execute(insert(Item), rows)
    return board_id


async def duplicate_board(conn: AsyncConnection, board_id: str, title: str, author_id: str) -> str:
    """A copy of the board's live items with new ids, at sequence 0 (history is not copied)."""
    source = (
        await conn.execute(
            select(Board.title, Board.template, Board.team_id, Board.round_id, Board.vote_budget).where(
                Board.id == board_id
            )
        )
    ).first()
    if source is None:
        raise LookupError("no such board")
    rows = (await conn.execute(select(Item).where(Item.board_id == board_id, Item.deleted_seq.is_(None)))).all()
    new_board = new_id()
    await conn.execute(
        insert(Board).values(
            id=new_board,
            title=title,
            template=source.template,
            team_id=source.team_id,
            round_id=source.round_id,
            vote_budget=source.vote_budget,
            seq=0,
            item_count=len(rows),
        )
    )
    ids = {r.id: new_id() for r in rows}
    now = utcnow()
    if rows:
        await conn.execute(
            insert(Item),
            [
                {
                    "id": ids[r.id],
                    "board_id": new_board,
                    "type": r.type,
                    "parent_id": ids.get(r.parent_id),
                    "stage_id": ids.get(r.stage_id),
                    "lane_id": ids.get(r.lane_id),
                    "order_key": r.order_key,
                    "fields": r.fields,
                    "field_meta": {},
                    "author_id": r.author_id,
                    "version": 1,
                    "created_seq": 0,
                    "updated_seq": 0,
                    "deleted_seq": None,
                    "created_at": now,
                    "updated_at": now,
                }
                for r in rows
            ],
        )
    await audit.record(
        conn,
        "board.duplicated",
        actor_id=author_id,
        object_type="board",
        object_id=new_board,
        team_id=source.team_id,
        source=board_id,
    )
    return new_board


async def set_archived(conn: AsyncConnection, board_id: str, archived: bool, actor_id: str) -> p.Event:
    """Archive or restore; open boards learn of it at once (an archived board takes no changes)."""
    seq, _ = await lock_board(conn, board_id)
    await conn.execute(
        update(Board).where(Board.id == board_id).values(archived_at=utcnow() if archived else None, seq=seq + 1)
    )
    event = await append_event(
        conn, board_id, seq + 1, "board.changed", None, {"archived": archived}, f"system-{secrets.token_hex(6)}"
    )
    await audit.record(
        conn,
        "board.archived" if archived else "board.restored",
        actor_id=actor_id,
        object_type="board",
        object_id=board_id,
    )
    return event


async def create_share_link(
    conn: AsyncConnection, secret_keys: Sequence[str], board_id: str, actor_id: str, days: int
) -> tuple[str, datetime]:
    """A read-only link to the board that stops working after ``days``; a new one revokes the old."""
    token = make_token(secret_keys, "share")
    expires = utcnow() + timedelta(days=days)
    old = (await conn.execute(select(Board.share_token_hash, Board.team_id).where(Board.id == board_id))).first()
    await conn.execute(
        update(Board).where(Board.id == board_id).values(share_token_hash=digest(token), share_expires_at=expires)
    )
    await audit.record(
        conn,
        "board.shared",
        actor_id=actor_id,
        object_type="board",
        object_id=board_id,
        team_id=old.team_id if old else None,
        replaced_link=bool(old and old.share_token_hash),
        expires_at=expires.isoformat(),
    )
    return token, expires


async def revoke_share_link(conn: AsyncConnection, board_id: str, actor_id: str) -> None:
    team_id = (await conn.execute(select(Board.team_id).where(Board.id == board_id))).scalar()
    await conn.execute(update(Board).where(Board.id == board_id).values(share_token_hash=None, share_expires_at=None))
    await audit.record(
        conn, "board.share_revoked", actor_id=actor_id, object_type="board", object_id=board_id, team_id=team_id
    )


async def board_for_share(
    conn: AsyncConnection, secret_keys: Sequence[str], token: str, now: datetime | None = None
) -> str | None:
    try:
        check_token(secret_keys, "share", token)
    except TokenError:
        return None
    return (
        await conn.execute(
            select(Board.id).where(
                Board.share_token_hash == digest(token),
                Board.share_expires_at > (now or utcnow()),
                Board.archived_at.is_(None),
            )
        )
    ).scalar()
