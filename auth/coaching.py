"""What a coach sees: the teams of the rounds of the programmes they coach."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.models import Programme, ProgrammeCoach, Round, Team


async def coached_teams(conn: AsyncConnection, person_id: str) -> Sequence[Any]:
    """Rows (programme_name, round_name, team_id, team_name, phase), by programme, round and team."""
    return (
        await conn.execute(
            select(
                Programme.name.label("programme_name"),
                Round.name.label("round_name"),
                Team.id.label("team_id"),
                Team.name.label("team_name"),
                Team.phase,
            )
            .join(ProgrammeCoach, ProgrammeCoach.programme_id == Programme.id)
            .join(Round, Round.programme_id == Programme.id)
            .join(Team, Team.round_id == Round.id)
            .where(ProgrammeCoach.person_id == person_id, Team.archived_at.is_(None))
            .order_by(Programme.name, Round.starts_on, Round.name, Team.name)
        )
    ).all()
