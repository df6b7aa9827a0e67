"""What the admin pages list: organisations, programmes with rounds and coaches, teams and members.

An admin sees names and roles, never a customer's e-mail or phone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.models import LocalAccount, Membership, Organisation, Person, Programme, ProgrammeCoach, Round, Team


@dataclass
class ProgrammeView:
    id: str
    name: str
    organisation_id: str | None
    rounds: list[Any] = field(default_factory=list)
    coaches: list[Any] = field(default_factory=list)


async def organisations(conn: AsyncConnection) -> Sequence[Any]:
    return (await conn.execute(select(Organisation.id, Organisation.name).order_by(Organisation.name))).all()


async def people(conn: AsyncConnection) -> Sequence[Any]:
    """People who can be given a role: active, with their local username when they have one."""
    return (
        await conn.execute(
            select(Person.id, Person.display_name, LocalAccount.username)
            .outerjoin(LocalAccount, LocalAccount.person_id == Person.id)
            .where(Person.disabled_at.is_(None), Person.erased_at.is_(None))
            .order_by(Person.display_name, Person.id)
        )
    ).all()


async def programmes(conn: AsyncConnection) -> list[ProgrammeView]:
    found = {
        r.id: ProgrammeView(r.id, r.name, r.organisation_id)
        for r in await conn.execute(
            select(Programme.id, Programme.name, Programme.organisation_id).order_by(Programme.name)
        )
    }
    for r in await conn.execute(
        select(Round.id, Round.programme_id, Round.name, Round.starts_on, Round.ends_on).order_by(
            Round.starts_on, Round.name
        )
    ):
        found[r.programme_id].rounds.append(r)
    for c in await conn.execute(
        select(ProgrammeCoach.programme_id, Person.id, Person.display_name)
        .join(Person, Person.id == ProgrammeCoach.person_id)
        .where(Person.erased_at.is_(None))
        .order_by(Person.display_name)
    ):
        found[c.programme_id].coaches.append(c)
    return list(found.values())


async def teams(conn: AsyncConnection) -> Sequence[Any]:
    return (
        await conn.execute(
            select(
                Team.id,
                Team.name,
                Team.phase,
                Team.round_id,
                Organisation.name.label("organisation_name"),
                Round.name.label("round_name"),
                Programme.name.label("programme_name"),
            )
            .join(Organisation, Organisation.id == Team.organisation_id)
            .outerjoin(Round, Round.id == Team.round_id)
            .outerjoin(Programme, Programme.id == Round.programme_id)
            .where(Team.archived_at.is_(None))
            .order_by(Team.name)
        )
    ).all()


async def team(conn: AsyncConnection, team_id: str) -> Any:
    if len(team_id) > 32:
        return None
    return (
        await conn.execute(
            select(Team.id, Team.name, Team.phase, Team.round_id, Team.organisation_id).where(Team.id == team_id)
        )
    ).first()


async def team_members(conn: AsyncConnection, team_id: str) -> Sequence[Any]:
    contact = Person.__table__.alias("contact")
    return (
        await conn.execute(
            select(
                Membership.person_id,
                Membership.role,
                Membership.is_facilitator,
                Membership.contact_person_id,
                Membership.contact_changed_at,
                Person.display_name,
                contact.c.display_name.label("contact_name"),
            )
            .join(Person, Person.id == Membership.person_id)
            .outerjoin(contact, contact.c.id == Membership.contact_person_id)
            .where(Membership.team_id == team_id, Person.erased_at.is_(None))
            .order_by(Membership.role, Person.display_name)
        )
    ).all()


async def find_person(conn: AsyncConnection, who: str) -> str | None:
    """A person by local username or by id (the command line names people either way)."""
    by_name = (await conn.execute(select(LocalAccount.person_id).where(LocalAccount.username == who))).scalar()
    if by_name is not None:
        return str(by_name)
    by_id = (await conn.execute(select(Person.id).where(Person.id == who, Person.erased_at.is_(None)))).scalar()
    return str(by_id) if by_id is not None else None
