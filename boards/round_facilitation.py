"""Facilitation across a round's teams: one timer, one announcement, and the plenary board.

The state lives on the round row; after each change the caller sends the new
state (:func:`state`) to every board of the round's teams and to the plenary
board, as a ``round`` frame outside the boards' operation streams. A timer is
either running (``timer_ends_at``), paused (``timer_paused_seconds`` left) or off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth import audit
from auth.hetu import contains_identity_code
from auth.models import Round, Team
from boards.catalogue import create_board
from boards.models import Board
from foundation.db import utcnow

MAX_TIMER_SECONDS = 4 * 3600
MAX_ANNOUNCEMENT = 500
TIMER_ACTIONS = ("start", "pause", "resume", "add", "stop")


class FacilitationError(ValueError):
    """A refused change; ``reason`` names the translation key ``facilitation.error.<reason>``."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class RoundState:
    round_id: str
    timer_ends_at: datetime | None
    timer_paused_seconds: int | None
    announcement: str | None
    announced_at: datetime | None
    plenary_board: str | None


async def plenary_board(conn: AsyncConnection, round_id: str) -> str | None:
    row = (
        await conn.execute(
            select(Board.id)
            .where(Board.round_id == round_id, Board.team_id.is_(None), Board.archived_at.is_(None))
            .order_by(Board.created_at)
            .limit(1)
        )
    ).scalar()
    return str(row) if row is not None else None


async def state(conn: AsyncConnection, round_id: str) -> RoundState:
    row = (
        await conn.execute(
            select(Round.timer_ends_at, Round.timer_paused_seconds, Round.announcement, Round.announced_at).where(
                Round.id == round_id
            )
        )
    ).one()
    ends = row.timer_ends_at
    if ends is not None and ends <= utcnow():
        ends = None  # a timer that ran out is off
    return RoundState(
        round_id,
        ends,
        row.timer_paused_seconds,
        row.announcement,
        row.announced_at,
        await plenary_board(conn, round_id),
    )


async def round_board_ids(conn: AsyncConnection, round_id: str) -> list[str]:
    """Every board that shows the round's timer: the teams' boards (not peer rooms) and the plenary board."""
    rows = await conn.execute(
        select(Board.id)
        .outerjoin(Team, Team.id == Board.team_id)
        .where(
            Board.archived_at.is_(None),
            Board.peer_room_id.is_(None),
            (Team.round_id == round_id) | ((Board.round_id == round_id) & Board.team_id.is_(None)),
        )
    )
    return list(rows.scalars())


def _seconds(minutes: str) -> int:
    try:
        value = float(minutes.replace(",", "."))
    except ValueError:
        raise FacilitationError("bad_minutes") from None
    seconds = round(value * 60)
    if not 0 < seconds <= MAX_TIMER_SECONDS or not math.isfinite(value):
        raise FacilitationError("bad_minutes")
    return seconds


async def set_timer(conn: AsyncConnection, round_id: str, action: str, minutes: str, actor_id: str) -> None:
    if action not in TIMER_ACTIONS:
        raise FacilitationError("bad_action")
    now = utcnow()
    current = await state(conn, round_id)
    running = current.timer_ends_at
    paused = current.timer_paused_seconds
    values: dict[str, object]
    if action == "start":
        values = {"timer_ends_at": now + timedelta(seconds=_seconds(minutes)), "timer_paused_seconds": None}
    elif action == "stop":
        values = {"timer_ends_at": None, "timer_paused_seconds": None}
    elif action == "pause":
        if running is None:
            raise FacilitationError("not_running", 409)
        left = max(1, math.ceil((running - now).total_seconds()))
        values = {"timer_ends_at": None, "timer_paused_seconds": left}
    elif action == "resume":
        if paused is None:
            raise FacilitationError("not_paused", 409)
        values = {"timer_ends_at": now + timedelta(seconds=paused), "timer_paused_seconds": None}
    else:  # add
        extra = _seconds(minutes)
        if running is not None:
            if (running - now).total_seconds() + extra > MAX_TIMER_SECONDS:
                raise FacilitationError("bad_minutes")
            values = {"timer_ends_at": running + timedelta(seconds=extra)}
        elif paused is not None:
            if paused + extra > MAX_TIMER_SECONDS:
                raise FacilitationError("bad_minutes")
            values = {"timer_paused_seconds": paused + extra}
        else:
            raise FacilitationError("no_timer", 409)
    await conn.execute(update(Round).where(Round.id == round_id).values(**values))
    await audit.record(conn, "round.timer", actor_id=actor_id, object_type="round", object_id=round_id, change=action)


async def announce(conn: AsyncConnection, round_id: str, text: str, actor_id: str) -> None:
    """Show an announcement on every board of the round; an empty text takes it down."""
    text = " ".join(text.split())
    if len(text) > MAX_ANNOUNCEMENT:
        raise FacilitationError("announcement_too_long")
    if contains_identity_code(text):
        raise FacilitationError("identity_code")
    await conn.execute(
        update(Round)
        .where(Round.id == round_id)
        .values(announcement=text or None, announced_at=utcnow() if text else None)
    )
    await audit.record(
        conn, "round.announcement", actor_id=actor_id, object_type="round", object_id=round_id, cleared=not text
    )


async def open_plenary(conn: AsyncConnection, round_id: str, title: str, text: str, actor_id: str) -> str:
    """Everyone to the plenary board: the round's board (made now if there is none) and an announcement."""
    board_id = await plenary_board(conn, round_id)
    if board_id is None:
        board_id = await create_board(conn, title, "blank", round_id=round_id)
    await announce(conn, round_id, text, actor_id)
    return board_id
