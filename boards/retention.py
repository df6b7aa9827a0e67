"""Retention: personal data of finished teams is pruned after a configurable period.

A team is due when it was archived, or its round ended, longer ago than the
period. Its boards keep their content, without authors; its customers who take
part nowhere else are erased (their writings stay, anonymised); memberships and
invites go. Each pruned team is audited.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth import audit
from auth.models import Invite, Membership, Round, Team
from boards.contributions import remove_person_from_boards
from boards.departures import erase_account
from boards.models import Board, Item


async def due_teams(conn: AsyncConnection, now: datetime, period: timedelta) -> list[str]:
    cutoff = now - period
    rows = await conn.execute(
        select(Team.id)
        .outerjoin(Round, Round.id == Team.round_id)
        .where(
            Team.pruned_at.is_(None),
            or_(Team.archived_at < cutoff, Round.ends_on < cutoff.date()),
        )
    )
    return list(rows.scalars())


async def prune(conn: AsyncConnection, now: datetime, period: timedelta) -> list[str]:
    """Prune every due team; returns their ids."""
    pruned = []
    for team_id in await due_teams(conn, now, period):
        boards = list((await conn.execute(select(Board.id).where(Board.team_id == team_id))).scalars())
        members = (
            await conn.execute(select(Membership.person_id, Membership.role).where(Membership.team_id == team_id))
        ).all()
        for person_id, role in members:
            others = (
                await conn.execute(
                    select(Membership.id).where(Membership.person_id == person_id, Membership.team_id != team_id)
                )
            ).first()
            if role == "customer" and others is None:
                await erase_account(conn, person_id, "anonymise", actor_id=None, reason="retention period ended")
            else:
                await remove_person_from_boards(conn, person_id, boards, "anonymise")
        # Authors who left earlier are anonymised too.
        authors = (
            set(
                (
                    await conn.execute(
                        select(Item.author_id).where(Item.board_id.in_(boards), Item.author_id.is_not(None))
                    )
                ).scalars()
            )
            if boards
            else set()
        )
        for author in authors:
            if author is not None:
                await remove_person_from_boards(conn, author, boards, "anonymise")
        await conn.execute(delete(Membership).where(Membership.team_id == team_id))
        await conn.execute(delete(Invite).where(Invite.team_id == team_id))
        await conn.execute(update(Team).where(Team.id == team_id).values(pruned_at=now))
        await audit.record(
            conn,
            "retention.pruned",
            actor_id=None,
            object_type="team",
            object_id=team_id,
            team_id=team_id,
            boards=len(boards),
            people=len(members),
        )
        pruned.append(team_id)
    return pruned
