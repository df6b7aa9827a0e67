"""Exercises a coach pushes to every team of a round at once: one board from a template in each.

A pushed exercise can be taken back only while no team has touched it (every one
of its boards is still at sequence 0), so nobody's work is ever deleted this way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth import audit
from auth.models import Team
from boards.catalogue import create_board
from boards.models import Board, Item, Operation
from boards.templates import TEMPLATE_NAMES
from foundation.db import new_id


class ExerciseError(ValueError):
    """A refused change; ``reason`` names the translation key ``exercise.error.<reason>``."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class Exercise:
    id: str
    title: str
    template: str
    boards: int
    untouched: bool


async def push_exercise(
    conn: AsyncConnection, round_id: str, title: str, template: str, actor_id: str, locale: str = "fi"
) -> tuple[str, list[str]]:
    """A board in every team of the round; returns the exercise id and the teams it went to."""
    title = " ".join(title.split())[:200]
    if not title:
        raise ExerciseError("no_title")
    if template not in TEMPLATE_NAMES:
        raise ExerciseError("bad_template")
    teams = list(
        (await conn.execute(select(Team.id).where(Team.round_id == round_id, Team.archived_at.is_(None)))).scalars()
    )
    if not teams:
        raise ExerciseError("no_teams", 409)
    exercise_id = new_id()
    for team_id in teams:
        board_id = await create_board(conn, title, template, team_id=team_id, locale=locale)
        await conn.execute(update(Board).where(Board.id == board_id).values(exercise_id=exercise_id))
    await audit.record(
        conn,
        "exercise.pushed",
        actor_id=actor_id,
        object_type="exercise",
        object_id=exercise_id,
        round=round_id,
        template=template,
        teams=len(teams),
    )
    return exercise_id, teams


async def exercises(conn: AsyncConnection, round_id: str) -> list[Exercise]:
    rows: Sequence[tuple[str, str, str, int, int]] = (
        await conn.execute(
            select(
                Board.exercise_id,
                func.min(Board.title),
                func.min(Board.template),
                func.count(),
                func.max(Board.seq),
            )
            .join(Team, Team.id == Board.team_id)
            .where(Team.round_id == round_id, Board.exercise_id.is_not(None), Board.archived_at.is_(None))
            .group_by(Board.exercise_id)
            .order_by(func.min(Board.created_at))
        )
    ).all()  # type: ignore[assignment]
    return [Exercise(r[0], r[1], r[2], int(r[3]), int(r[4] or 0) == 0) for r in rows]


async def remove_exercise(conn: AsyncConnection, round_id: str, exercise_id: str, actor_id: str) -> list[str]:
    """Take a pushed exercise back from every team; refused once any team has worked on it."""
    rows = (
        await conn.execute(
            select(Board.id, Board.team_id, Board.seq)
            .join(Team, Team.id == Board.team_id)
            .where(Team.round_id == round_id, Board.exercise_id == exercise_id)
        )
    ).all()
    if not rows or len(exercise_id) > 32:
        raise ExerciseError("no_exercise", 404)
    if any(r.seq > 0 for r in rows):
        raise ExerciseError("not_empty", 409)
    board_ids = [r.id for r in rows]
    await conn.execute(delete(Operation).where(Operation.board_id.in_(board_ids)))
    await conn.execute(delete(Item).where(Item.board_id.in_(board_ids)))
    await conn.execute(delete(Board).where(Board.id.in_(board_ids)))
    await audit.record(
        conn, "exercise.removed", actor_id=actor_id, object_type="exercise", object_id=exercise_id, round=round_id
    )
    return [r.team_id for r in rows]
