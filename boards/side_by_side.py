"""One exercise of every team of a round, side by side, for the round's coaches to read and comment on.

Coaches read every team board of their rounds anyway; this puts one pushed
exercise of each team next to the others. Peer rooms are never part of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.models import Team
from boards.models import Board, Item

# Not boards.board_export: serving pages never loads the PDF library (tests/test_imports.py).
STRUCTURAL = ("stage", "lane", "theme", "picture")
TEXT_FIELDS = ("title", "name", "text", "what", "hypothesis", "why")


@dataclass
class WorkItem:
    id: str
    type: str
    text: str
    comments: list[str] = field(default_factory=list)

    def label(self) -> str:
        return self.text


@dataclass
class TeamWork:
    team_id: str
    team_name: str
    board_id: str
    items: list[tuple[str, WorkItem]] = field(default_factory=list)  # (where on the board, item)


@dataclass
class SideBySide:
    title: str
    template: str
    teams: list[TeamWork]


async def side_by_side(conn: AsyncConnection, round_id: str, exercise_id: str) -> SideBySide | None:
    if len(exercise_id) > 32:
        return None
    rows = (
        await conn.execute(
            select(Board.id, Board.title, Board.template, Team.id.label("team_id"), Team.name)
            .join(Team, Team.id == Board.team_id)
            .where(
                Team.round_id == round_id,
                Board.exercise_id == exercise_id,
                Board.peer_room_id.is_(None),
                Board.archived_at.is_(None),
            )
            .order_by(Team.name)
        )
    ).all()
    if not rows:
        return None
    teams = []
    for row in rows:
        work = TeamWork(row.team_id, row.name, row.id)
        items = (
            await conn.execute(
                select(Item.id, Item.type, Item.fields, Item.parent_id, Item.stage_id, Item.lane_id)
                .where(Item.board_id == row.id, Item.deleted_seq.is_(None))
                .order_by(Item.order_key, Item.id)
            )
        ).all()
        names = {i.id: _text(i.fields) for i in items if i.type in STRUCTURAL}
        content = {i.id: WorkItem(i.id, i.type, _text(i.fields)) for i in items if i.type not in STRUCTURAL}
        for i in items:
            if i.parent_id in content and i.id in content:
                content[i.parent_id].comments.append(content[i.id].text)
        for i in items:
            if i.id in content and i.parent_id is None:
                place = " · ".join(filter(None, (names.get(i.stage_id or ""), names.get(i.lane_id or ""))))
                work.items.append((place, content[i.id]))
        teams.append(work)
    return SideBySide(rows[0].title, rows[0].template, teams)


def _text(fields: dict[str, object] | None) -> str:
    for name in TEXT_FIELDS:
        value = (fields or {}).get(name)
        if value:
            return str(value)
    return ""


async def exercise_board(conn: AsyncConnection, round_id: str, exercise_id: str, board_id: str) -> str | None:
    """The board, if it is this exercise's board of a team of the round."""
    found = (
        await conn.execute(
            select(Board.id)
            .join(Team, Team.id == Board.team_id)
            .where(Team.round_id == round_id, Board.exercise_id == exercise_id, Board.id == board_id)
        )
    ).scalar()
    return str(found) if found is not None else None
