"""Operations the system writes on a board's behalf (departures, archiving): sequenced like any other."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from boards import protocol as p
from boards.models import Board, Operation
from foundation.db import utcnow


async def lock_board(conn: AsyncConnection, board_id: str) -> tuple[int, int]:
    """Lock the board row for this transaction; returns (seq, item_count)."""
    row = (
        await conn.execute(
            update(Board).where(Board.id == board_id).values(seq=Board.seq).returning(Board.seq, Board.item_count)
        )
    ).first()
    if row is None:
        raise LookupError("no such board")
    return int(row.seq), int(row.item_count)


async def append_event(
    conn: AsyncConnection,
    board_id: str,
    seq: int,
    event_type: str,
    item_id: str | None,
    data: dict[str, Any],
    op_id: str,
) -> p.Event:
    """Write one system event with sequence number ``seq``; the caller updates the board's seq."""
    now = utcnow()
    await conn.execute(
        insert(Operation).values(
            board_id=board_id,
            seq=seq,
            op_id=op_id,
            actor_id=None,
            type=event_type,
            item_id=item_id,
            data=data,
            inverse=None,
            created_at=now,
        )
    )
    at = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return p.Event(seq=seq, type=event_type, actor=None, op=op_id, at=at, data=data)
