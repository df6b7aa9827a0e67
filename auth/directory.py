"""Creating the people and structure of a workspace: organisations, people,
programmes, rounds, teams and memberships. Used by the CLI, the demo and admin pages.
"""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.hetu import IdentityCodeError, refuse_identity_code
from auth.models import (
    LocalAccount,
    Membership,
    Organisation,
    Person,
    Programme,
    ProgrammeCoach,
    Round,
    Team,
)
from auth.passwords import hash_password
from auth.roles import is_active_professional
from foundation.db import new_id


class DirectoryError(ValueError):
    pass


def _no_identity_code(*texts: str | None) -> None:
    """Names and usernames are text a person types too: the same guard as the boards."""
    try:
        refuse_identity_code(*texts)
    except IdentityCodeError as exc:
        raise DirectoryError(str(exc)) from None


async def create_organisation(conn: AsyncConnection, name: str) -> str:
    _no_identity_code(name)
    oid = new_id()
    await conn.execute(insert(Organisation).values(id=oid, name=name))
    return oid


async def create_person(
    conn: AsyncConnection,
    display_name: str,
    *,
    organisation_id: str | None = None,
    email: str | None = None,
    is_admin: bool = False,
    locale: str = "fi",
) -> str:
    _no_identity_code(display_name, email)
    pid = new_id()
    await conn.execute(
        insert(Person).values(
            id=pid,
            display_name=display_name,
            organisation_id=organisation_id,
            email=email,
            is_admin=is_admin,
            locale=locale,
        )
    )
    return pid


async def add_local_account(conn: AsyncConnection, person_id: str, username: str, password: str) -> None:
    if len(password) < 10:
        raise DirectoryError("The password must be at least 10 characters long.")
    _no_identity_code(username)
    taken = (await conn.execute(select(LocalAccount.person_id).where(LocalAccount.username == username))).first()
    if taken is not None:
        raise DirectoryError(f"The username {username!r} is taken.")
    await conn.execute(
        insert(LocalAccount).values(person_id=person_id, username=username, password_hash=hash_password(password))
    )


async def create_programme(conn: AsyncConnection, name: str, organisation_id: str | None = None) -> str:
    _no_identity_code(name)
    pid = new_id()
    await conn.execute(insert(Programme).values(id=pid, name=name, organisation_id=organisation_id))
    return pid


async def add_programme_coach(conn: AsyncConnection, programme_id: str, person_id: str) -> None:
    await conn.execute(insert(ProgrammeCoach).values(programme_id=programme_id, person_id=person_id))


async def create_round(conn: AsyncConnection, programme_id: str, name: str) -> str:
    _no_identity_code(name)
    rid = new_id()
    await conn.execute(insert(Round).values(id=rid, programme_id=programme_id, name=name))
    return rid


async def create_team(conn: AsyncConnection, name: str, organisation_id: str, round_id: str | None = None) -> str:
    _no_identity_code(name)
    tid = new_id()
    await conn.execute(insert(Team).values(id=tid, name=name, organisation_id=organisation_id, round_id=round_id))
    return tid


async def add_member(
    conn: AsyncConnection,
    team_id: str,
    person_id: str,
    role: str,
    *,
    contact_person_id: str | None = None,
    is_facilitator: bool = False,
) -> str:
    if role == "customer" and contact_person_id is None:
        raise DirectoryError("A customer needs a named contact person.")
    if contact_person_id is not None and not await is_active_professional(conn, team_id, contact_person_id):
        raise DirectoryError("The contact person must be an active professional of the same team.")
    mid = new_id()
    await conn.execute(
        insert(Membership).values(
            id=mid,
            team_id=team_id,
            person_id=person_id,
            role=role,
            contact_person_id=contact_person_id,
            is_facilitator=is_facilitator,
        )
    )
    if is_facilitator:
        await conn.execute(update(Team).where(Team.id == team_id).values(facilitators_named=True))
    return mid
