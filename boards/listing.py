"""The boards a person may open, for `GET /api/boards`: the same access check as the websocket."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import CompoundSelect, or_, select, union
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.models import Membership, PeerRoomMember, ProgrammeCoach, Round, Team
from auth.permissions import BoardOwner, board_access
from boards.models import Board


@dataclass(frozen=True, slots=True)
class ListedBoard:
    id: str
    title: str
    template: str
    team: str | None
    round: str | None
    role: str


async def boards_for(conn: AsyncConnection, person_id: str) -> list[ListedBoard]:
    """Every live (not archived) board the person may open now, oldest first.

    Candidates are the boards near the person (their teams, the rounds of their teams and of
    the programmes they coach, their peer rooms); each is then checked with
    :func:`auth.permissions.board_access`, so a customer who has not accepted a team's
    agreement, a disabled person or a board shared only within a team is not listed.
    """
    teams = select(Membership.team_id).where(Membership.person_id == person_id)
    rounds: CompoundSelect[Any] = union(
        select(Team.round_id).where(Team.id.in_(teams), Team.round_id.is_not(None)),
        select(Round.id)
        .join(ProgrammeCoach, ProgrammeCoach.programme_id == Round.programme_id)
        .where(ProgrammeCoach.person_id == person_id),
    )
    round_teams = select(Team.id).where(Team.round_id.in_(rounds))
    rooms = select(PeerRoomMember.room_id).where(PeerRoomMember.person_id == person_id)
    rows = (
        await conn.execute(
            select(
                Board.id,
                Board.title,
                Board.template,
                Board.team_id,
                Board.round_id,
                Board.peer_room_id,
                Board.visibility,
            )
            .where(
                Board.archived_at.is_(None),
                or_(
                    Board.team_id.in_(teams),
                    Board.team_id.in_(round_teams),
                    Board.round_id.in_(rounds),
                    Board.peer_room_id.in_(rooms),
                ),
            )
            .order_by(Board.created_at, Board.id)
        )
    ).all()
    listed = []
    for row in rows:
        owner = BoardOwner(row.team_id, row.round_id, row.peer_room_id, row.visibility)
        access = (await board_access(conn, owner, [person_id])).get(person_id)
        if access is not None:
            listed.append(ListedBoard(row.id, row.title, row.template, row.team_id, row.round_id, access.role))
    return listed
