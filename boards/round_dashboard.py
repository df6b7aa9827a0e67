"""The coach's dashboard: every team of a round at a glance.

Counts only: how many customers a team has and how many of them have accepted
the participation agreement, never who. Peer rooms are left out entirely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.consent import customers_needing_agreement
from auth.models import Membership, ProgressUpdate, Team
from auth.schedule import local
from boards.models import Board, Item, Operation


@dataclass(frozen=True, slots=True)
class TeamSummary:
    team_id: str
    name: str
    phase: str
    boards: int
    customers: int
    agreements: int
    open_tests: int
    finished_tests: int
    last_activity: str | None  # Helsinki time, ISO 8601
    latest_update: str | None  # the title of the team's latest progress update

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def team_summaries(conn: AsyncConnection, round_id: str) -> list[TeamSummary]:
    teams = (
        await conn.execute(
            select(Team.id, Team.name, Team.phase)
            .where(Team.round_id == round_id, Team.archived_at.is_(None))
            .order_by(Team.name)
        )
    ).all()
    return [await _summary(conn, t) for t in teams]


async def team_summary(conn: AsyncConnection, team_id: str) -> TeamSummary | None:
    team = (
        await conn.execute(select(Team.id, Team.name, Team.phase).where(Team.id == team_id, Team.archived_at.is_(None)))
    ).first()
    return None if team is None else await _summary(conn, team)


def _team_boards(team_id: str) -> Any:
    return select(Board.id).where(Board.team_id == team_id, Board.peer_room_id.is_(None), Board.archived_at.is_(None))


async def _summary(conn: AsyncConnection, team: Sequence[Any]) -> TeamSummary:
    team_id, name, phase = team[0], team[1], team[2]
    boards = (
        await conn.execute(select(func.count()).select_from(Board).where(Board.id.in_(_team_boards(team_id))))
    ).scalar() or 0
    customers = list(
        (
            await conn.execute(
                select(Membership.person_id).where(Membership.team_id == team_id, Membership.role == "customer")
            )
        ).scalars()
    )
    needing = await customers_needing_agreement(conn, team_id, customers) if customers else set()
    tests = (
        await conn.execute(
            select(Item.fields).where(
                Item.board_id.in_(_team_boards(team_id)), Item.type == "test", Item.deleted_seq.is_(None)
            )
        )
    ).scalars()
    statuses = [(fields or {}).get("status") for fields in tests]
    last: datetime | None = (
        await conn.execute(select(func.max(Operation.created_at)).where(Operation.board_id.in_(_team_boards(team_id))))
    ).scalar()
    update = (
        await conn.execute(
            select(ProgressUpdate.title)
            .where(ProgressUpdate.team_id == team_id)
            .order_by(ProgressUpdate.created_at.desc())
            .limit(1)
        )
    ).scalar()
    return TeamSummary(
        team_id=team_id,
        name=name,
        phase=phase,
        boards=int(boards),
        customers=len(customers),
        agreements=len(customers) - len(needing),
        open_tests=sum(1 for s in statuses if s != "done"),
        finished_tests=sum(1 for s in statuses if s == "done"),
        last_activity=local(last).isoformat(timespec="minutes") if last is not None else None,
        latest_update=update,
    )
