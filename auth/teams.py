"""Who may see and manage a team, and what they see of its members.

A person with no relation to a team gets ``None``: callers answer 404. Only the
named contact person sees a customer's e-mail and phone; coaches and admins never do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth import audit, roles
from auth.consent import customers_needing_agreement
from auth.models import Membership, Person, ProgrammeCoach, ReturnLink, Round, Team
from auth.tokens import TokenError, check_token, digest, make_token
from foundation.db import new_id, utcnow

RETURN_LINK_DAYS = 30


@dataclass(frozen=True, slots=True)
class TeamAccess:
    team_id: str
    team_name: str
    role: str  # professional, customer, coach, observer
    phase: str
    round_id: str | None
    # False only for a customer who has not accepted the team's current agreement: they
    # may read the agreement and leave, but write nothing to the team.
    agreed: bool = True

    @property
    def can_invite(self) -> bool:
        return self.agreed and self.role in ("professional", "coach")

    @property
    def can_create_boards(self) -> bool:
        return self.agreed and self.role in ("professional", "customer")

    @property
    def sees_consent_status(self) -> bool:
        return self.role == "professional"


@dataclass(frozen=True, slots=True)
class MemberView:
    person_id: str
    name: str
    role: str
    contact_person_id: str | None
    contact_name: str | None
    email: str | None
    phone: str | None
    is_facilitator: bool
    contact_changed: bool = False  # the contact person was changed for them and is not yet confirmed


async def team_access(conn: AsyncConnection, team_id: str, person_id: str) -> TeamAccess | None:
    if len(team_id) > 32:
        return None
    team = (
        await conn.execute(
            select(Team.id, Team.name, Team.phase, Team.round_id).where(Team.id == team_id, Team.archived_at.is_(None))
        )
    ).first()
    if team is None:
        return None
    active = (
        await conn.execute(
            select(Person.id).where(Person.id == person_id, Person.disabled_at.is_(None), Person.erased_at.is_(None))
        )
    ).first()
    if active is None:
        return None
    role = (
        await conn.execute(
            select(Membership.role).where(Membership.team_id == team_id, Membership.person_id == person_id)
        )
    ).scalar()
    if role is None and team.round_id is not None:
        coach = (
            await conn.execute(
                select(ProgrammeCoach.person_id)
                .join(Round, Round.programme_id == ProgrammeCoach.programme_id)
                .where(Round.id == team.round_id, ProgrammeCoach.person_id == person_id)
            )
        ).first()
        role = "coach" if coach else None
    if role is None:
        return None
    agreed = role != "customer" or not await customers_needing_agreement(conn, team_id, [person_id])
    return TeamAccess(team.id, team.name, role, team.phase, team.round_id, agreed)


async def members(
    conn: AsyncConnection, team_id: str, viewer_id: str, *, contact_details: bool = True
) -> list[MemberView]:
    """The team's members; contact details only where the viewer may see them.

    ``contact_details=False`` (a coach of the round) shows nobody's e-mail or phone but the viewer's own.
    """
    contact = Person.__table__.alias("contact")
    rows = (
        await conn.execute(
            select(
                Membership.person_id,
                Membership.role,
                Membership.contact_person_id,
                Membership.is_facilitator,
                Membership.contact_changed_at,
                Person.display_name,
                Person.email,
                Person.phone,
                contact.c.display_name.label("contact_name"),
            )
            .join(Person, Person.id == Membership.person_id)
            .outerjoin(contact, contact.c.id == Membership.contact_person_id)
            .where(Membership.team_id == team_id, Person.erased_at.is_(None))
            .order_by(Membership.role, Person.display_name)
        )
    ).all()
    result = []
    for r in rows:
        visible = r.person_id == viewer_id or (
            contact_details and ((r.role == "customer" and r.contact_person_id == viewer_id) or r.role != "customer")
        )
        # A customer's contact details: the customer and their contact person only.
        result.append(
            MemberView(
                r.person_id,
                r.display_name or "",
                r.role,
                r.contact_person_id,
                r.contact_name,
                r.email if visible else None,
                r.phone if visible else None,
                bool(r.is_facilitator),
                r.role == "customer" and r.contact_changed_at is not None,
            )
        )
    return result


async def remove_member(conn: AsyncConnection, team_id: str, person_id: str, actor_id: str) -> bool:
    """End a membership. A professional's invites end and their customers get an interim contact person
    (:class:`auth.roles.RoleError` when no other professional is left for them)."""
    role = (
        await conn.execute(
            select(Membership.role).where(Membership.team_id == team_id, Membership.person_id == person_id)
        )
    ).scalar()
    if role is None:
        return False
    if role == "professional":
        await roles.release_professional(conn, team_id, person_id, actor_id)
    else:
        await roles.revoke_invites_of(conn, person_id, actor_id, "left the team", team_id)
    await conn.execute(delete(Membership).where(Membership.team_id == team_id, Membership.person_id == person_id))
    await audit.record(
        conn,
        "membership.removed",
        actor_id=actor_id,
        object_type="person",
        object_id=person_id,
        team_id=team_id,
        old_role=role,
    )
    await roles.refresh_facilitators_named(conn, team_id)
    return True


# ------------------------------------------------------------------ return links


async def issue_return_link(
    conn: AsyncConnection, secret_keys: list[str] | tuple[str, ...], person_id: str, created_by: str
) -> str:
    """A new personal sign-in link; every older link of the person stops working."""
    now = utcnow()
    await conn.execute(
        update(ReturnLink)
        .where(ReturnLink.person_id == person_id, ReturnLink.revoked_at.is_(None), ReturnLink.used_at.is_(None))
        .values(revoked_at=now)
    )
    token = make_token(secret_keys, "return-link")
    link_id = new_id()
    await conn.execute(
        insert(ReturnLink).values(
            id=link_id,
            token_hash=digest(token),
            person_id=person_id,
            created_by_id=created_by,
            expires_at=now + timedelta(days=RETURN_LINK_DAYS),
            created_at=now,
        )
    )
    await audit.record(conn, "return_link.issued", actor_id=created_by, object_type="person", object_id=person_id)
    return token


async def issue_email_link(
    conn: AsyncConnection, secret_keys: list[str] | tuple[str, ...], person_id: str, minutes: int
) -> str:
    """A short-lived sign-in link for the person's own inbox. It leaves the contact person's
    printed link working: asking for one by e-mail is no reason to take that away."""
    token = make_token(secret_keys, "return-link")
    now = utcnow()
    await conn.execute(
        insert(ReturnLink).values(
            id=new_id(),
            token_hash=digest(token),
            person_id=person_id,
            created_by_id=person_id,
            expires_at=now + timedelta(minutes=minutes),
            created_at=now,
        )
    )
    await audit.record(conn, "email_link.issued", actor_id=person_id, object_type="person", object_id=person_id)
    return token


async def return_link_person(
    conn: AsyncConnection, secret_keys: list[str] | tuple[str, ...], token: str, now: datetime | None = None
) -> str | None:
    """Whose link this is, if it still works; it is not used up by looking."""
    try:
        check_token(secret_keys, "return-link", token)
    except TokenError:
        return None
    now = now or utcnow()
    return (
        await conn.execute(
            select(ReturnLink.person_id).where(
                and_(
                    ReturnLink.token_hash == digest(token),
                    ReturnLink.revoked_at.is_(None),
                    ReturnLink.used_at.is_(None),
                    ReturnLink.expires_at > now,
                )
            )
        )
    ).scalar()


async def use_return_link(conn: AsyncConnection, secret_keys: list[str] | tuple[str, ...], token: str) -> str | None:
    person_id = await return_link_person(conn, secret_keys, token)
    if person_id is None:
        return None
    used = await conn.execute(
        update(ReturnLink)
        .where(ReturnLink.token_hash == digest(token), ReturnLink.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if used.rowcount != 1:
        return None
    await audit.record(conn, "return_link.used", actor_id=person_id, object_type="person", object_id=person_id)
    return person_id
