"""Creating boards from templates."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from boards.models import Board, Item
from boards.ordering import key_between
from boards.templates import template_items
from server.db import new_id, utcnow


async def create_board(
    conn: AsyncConnection,
    title: str,
    template: str = "journey",
    *,
    team_id: str | None = None,
    round_id: str | None = None,
    author_id: str | None = None,
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
    keys: dict[str, str | None] = {}
    rows = []
    for t in items:
        previous = keys.get(t.type)
        order = key_between(previous, None)
        keys[t.type] = order
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
                "author_id": author_id,
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
