"""Invite links: random, signed for the invite purpose, stored only as a hash.

Opening a link (GET or HEAD, as mail scanners do) only looks it up; redeeming
is a separate step that uses it up atomically.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth import audit
from auth.hetu import refuse_identity_code
from auth.models import INVITE_ROLES, Invite, Membership, Person, Team
from auth.roles import is_active_professional
from auth.tokens import TokenError, check_token, digest, make_token
from foundation.db import new_id, utcnow


class InviteProblem(enum.Enum):
    INVALID = "invalid"  # tampered or unknown: HTTP 400
    EXPIRED = "expired"  # HTTP 410 from here on
    USED = "used"
    REVOKED = "revoked"

    @property
    def status(self) -> int:
        return 400 if self is InviteProblem.INVALID else 410


class InviteError(ValueError):
    def __init__(self, problem: InviteProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True)
class InviteView:
    id: str
    team_id: str
    team_name: str
    role: str
    contact_person_id: str | None
    contact_name: str | None
    expires_at: datetime
    uses: int
    max_uses: int


async def create_invite(
    conn: AsyncConnection,
    secret_keys: Sequence[str],
    *,
    team_id: str,
    role: str,
    created_by: str | None,
    contact_person_id: str | None = None,
    days: int = 7,
    max_uses: int | None = None,
) -> str:
    """A new invite; returns the token (shown once, never stored)."""
    if role not in INVITE_ROLES:
        raise ValueError(f"unknown role {role!r}")
    if role == "customer":
        if contact_person_id is None:
            raise ValueError("a customer invite must name the customer's contact person")
        if not await is_active_professional(conn, team_id, contact_person_id):
            raise ValueError("the contact person must be an active professional of the team")
    token = make_token(secret_keys, "invite")
    invite_id = new_id()
    await conn.execute(
        insert(Invite).values(
            id=invite_id,
            token_hash=digest(token),
            team_id=team_id,
            role=role,
            contact_person_id=contact_person_id if role == "customer" else None,
            created_by_id=created_by,
            max_uses=max_uses if max_uses is not None else 1,
            uses=0,
            expires_at=utcnow() + timedelta(days=days),
        )
    )
    await audit.record(
        conn,
        "invite.created",
        actor_id=created_by,
        object_type="invite",
        object_id=invite_id,
        team_id=team_id,
        role=role,
    )
    return token


async def look_up(
    conn: AsyncConnection, secret_keys: Sequence[str], token: str, now: datetime | None = None
) -> InviteView:
    """The invite behind a token, without using it up. Raises InviteError."""
    try:
        check_token(secret_keys, "invite", token)
    except TokenError:
        raise InviteError(InviteProblem.INVALID) from None
    row = (
        await conn.execute(
            select(*Invite.__table__.c, Team.name.label("team_name"), Person.display_name.label("contact_name"))
            .join(Team, Team.id == Invite.team_id)
            .outerjoin(Person, Person.id == Invite.contact_person_id)
            .where(Invite.token_hash == digest(token))
        )
    ).first()
    if row is None:
        raise InviteError(InviteProblem.INVALID)
    invite = row
    now = now or utcnow()
    if invite.revoked_at is not None:
        raise InviteError(InviteProblem.REVOKED)
    if invite.uses >= invite.max_uses:
        raise InviteError(InviteProblem.USED)
    if invite.expires_at <= now:
        raise InviteError(InviteProblem.EXPIRED)
    return InviteView(
        invite.id,
        invite.team_id,
        row.team_name,
        invite.role,
        invite.contact_person_id,
        row.contact_name,
        invite.expires_at,
        invite.uses,
        invite.max_uses,
    )


async def redeem(
    conn: AsyncConnection,
    secret_keys: Sequence[str],
    token: str,
    *,
    person_id: str | None = None,
    display_name: str | None = None,
) -> tuple[str, InviteView]:
    """Use the invite up (atomically) and make the person a member. Returns (person id, invite).

    A person who is signed in joins as themselves; otherwise a new person is
    created with the given display name (a pseudonym is fine); a name with an identity code
    then raises :class:`auth.hetu.IdentityCodeError` before anything is used up.
    """
    if person_id is None:
        refuse_identity_code(display_name)
    view = await look_up(conn, secret_keys, token)
    if view.contact_person_id is not None and not await is_active_professional(
        conn, view.team_id, view.contact_person_id
    ):
        # Revoked when the contact person left; checked again here so that no customer ever joins without one.
        raise InviteError(InviteProblem.REVOKED)
    now = utcnow()
    used = await conn.execute(
        update(Invite)
        .where(
            Invite.id == view.id, Invite.uses < Invite.max_uses, Invite.revoked_at.is_(None), Invite.expires_at > now
        )
        .values(uses=Invite.uses + 1)
    )
    if used.rowcount != 1:
        raise InviteError(InviteProblem.USED)
    if person_id is None:
        person_id = new_id()
        await conn.execute(insert(Person).values(id=person_id, display_name=display_name))
    existing = (
        await conn.execute(
            select(Membership.id).where(Membership.team_id == view.team_id, Membership.person_id == person_id)
        )
    ).first()
    if existing is None:
        await conn.execute(
            insert(Membership).values(
                id=new_id(),
                team_id=view.team_id,
                person_id=person_id,
                role=view.role,
                contact_person_id=view.contact_person_id,
                joined_at=now,
            )
        )
    await audit.record(
        conn,
        "invite.used",
        actor_id=person_id,
        object_type="invite",
        object_id=view.id,
        team_id=view.team_id,
        role=view.role,
    )
    return person_id, view


async def revoke(conn: AsyncConnection, invite_id: str, actor_id: str) -> bool:
    result = await conn.execute(
        update(Invite).where(Invite.id == invite_id, Invite.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    if result.rowcount:
        team_id = (await conn.execute(select(Invite.team_id).where(Invite.id == invite_id))).scalar()
        await audit.record(
            conn, "invite.revoked", actor_id=actor_id, object_type="invite", object_id=invite_id, team_id=team_id
        )
    return bool(result.rowcount)


async def open_invites(conn: AsyncConnection, team_id: str) -> list[InviteView]:
    now = utcnow()
    rows = (
        await conn.execute(
            select(*Invite.__table__.c, Team.name.label("team_name"), Person.display_name.label("contact_name"))
            .join(Team, Team.id == Invite.team_id)
            .outerjoin(Person, Person.id == Invite.contact_person_id)
            .where(
                Invite.team_id == team_id,
                Invite.revoked_at.is_(None),
                Invite.expires_at > now,
                Invite.uses < Invite.max_uses,
            )
            .order_by(Invite.created_at)
        )
    ).all()
    return [
        InviteView(
            i.id, i.team_id, i.team_name, i.role, i.contact_person_id, i.contact_name, i.expires_at, i.uses, i.max_uses
        )
        for i in rows
    ]
