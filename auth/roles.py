"""Roles that hold: who facilitates, who is whose contact person, who coaches a programme.

Every change here is audited with its old and new value, and the person concerned
is told with a notification on their home page. A customer's contact person is
always an active professional of the same team: when a professional leaves a
team (removed, left, disabled or erased) their open invites are revoked and their
customers get another professional of the team as interim contact person, flagged
on the team page until a professional names the contact person. Where no other
professional is left, the change is refused (:class:`RoleError`) before anything
is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth import audit
from auth.models import Invite, Membership, Notification, Person, Programme, ProgrammeCoach, Round, Team
from foundation.db import new_id, utcnow

TEAM_ROLES = ("professional", "observer")  # roles an admin gives; customers come by invite
FACILITATING_ROLES = ("professional", "customer")


class RoleError(ValueError):
    """A refused change; ``reason`` names the translation key ``roles.error.<reason>``."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class Release:
    """What releasing a professional from a team changed."""

    revoked_invites: list[str]
    moved_customers: list[str]
    interim_contact: str | None


async def notify(conn: AsyncConnection, person_id: str, kind: str, **details: Any) -> None:
    await conn.execute(
        insert(Notification).values(id=new_id(), person_id=person_id, kind=kind, details=details, created_at=utcnow())
    )


async def _name(conn: AsyncConnection, person_id: str | None) -> str:
    if person_id is None:
        return ""
    return (await conn.execute(select(Person.display_name).where(Person.id == person_id))).scalar() or ""


async def _team_name(conn: AsyncConnection, team_id: str) -> str:
    return (await conn.execute(select(Team.name).where(Team.id == team_id))).scalar() or ""


async def active_professionals(conn: AsyncConnection, team_id: str) -> list[str]:
    """The team's professionals who can still sign in, longest-standing first."""
    rows = await conn.execute(
        select(Membership.person_id)
        .join(Person, Person.id == Membership.person_id)
        .where(
            Membership.team_id == team_id,
            Membership.role == "professional",
            Person.disabled_at.is_(None),
            Person.erased_at.is_(None),
        )
        .order_by(Membership.joined_at, Membership.person_id)
    )
    return list(rows.scalars())


async def is_active_professional(conn: AsyncConnection, team_id: str, person_id: str) -> bool:
    return person_id in await active_professionals(conn, team_id)


async def _membership(conn: AsyncConnection, team_id: str, person_id: str) -> Any:
    return (
        await conn.execute(
            select(
                Membership.role, Membership.contact_person_id, Membership.is_facilitator, Membership.contact_changed_at
            ).where(Membership.team_id == team_id, Membership.person_id == person_id)
        )
    ).first()


# ------------------------------------------------------------------ facilitators


async def refresh_facilitators_named(conn: AsyncConnection, team_id: str) -> bool:
    """Keep ``Team.facilitators_named`` true exactly while an active member is a named facilitator."""
    named = (
        await conn.execute(
            select(Membership.id)
            .join(Person, Person.id == Membership.person_id)
            .where(
                Membership.team_id == team_id,
                Membership.is_facilitator.is_(True),
                Person.disabled_at.is_(None),
                Person.erased_at.is_(None),
            )
            .limit(1)
        )
    ).first() is not None
    await conn.execute(update(Team).where(Team.id == team_id).values(facilitators_named=named))
    return named


async def refresh_teams_of(conn: AsyncConnection, person_id: str) -> None:
    """After a person was disabled: the teams they facilitated may have no named facilitator left."""
    for team_id in list(
        (await conn.execute(select(Membership.team_id).where(Membership.person_id == person_id))).scalars()
    ):
        await refresh_facilitators_named(conn, team_id)


async def set_facilitator(
    conn: AsyncConnection, team_id: str, person_id: str, named: bool, actor_id: str | None
) -> bool:
    """Name (or un-name) a member as a facilitator. Returns False when nothing changed."""
    member = await _membership(conn, team_id, person_id)
    if member is None:
        raise RoleError("not_a_member", 404)
    if member.role not in FACILITATING_ROLES:
        raise RoleError("cannot_facilitate")
    if bool(member.is_facilitator) == named:
        return False
    await conn.execute(
        update(Membership)
        .where(Membership.team_id == team_id, Membership.person_id == person_id)
        .values(is_facilitator=named)
    )
    await refresh_facilitators_named(conn, team_id)
    await audit.record(
        conn,
        "membership.facilitator",
        actor_id=actor_id,
        object_type="person",
        object_id=person_id,
        team_id=team_id,
        old=bool(member.is_facilitator),
        new=named,
    )
    await notify(
        conn,
        person_id,
        "facilitator_named" if named else "facilitator_unnamed",
        team=team_id,
        team_name=await _team_name(conn, team_id),
    )
    return True


# ------------------------------------------------------------------ team roles


async def set_team_role(conn: AsyncConnection, team_id: str, person_id: str, role: str, actor_id: str | None) -> bool:
    """Make a person a professional or an observer of a team (adding them if needed)."""
    if role not in TEAM_ROLES:
        raise RoleError("bad_role")
    person = (
        await conn.execute(
            select(Person.id).where(Person.id == person_id, Person.disabled_at.is_(None), Person.erased_at.is_(None))
        )
    ).first()
    if person is None:
        raise RoleError("no_person", 404)
    if (await conn.execute(select(Team.id).where(Team.id == team_id))).first() is None:
        raise RoleError("no_team", 404)
    member = await _membership(conn, team_id, person_id)
    old_role = member.role if member is not None else None
    if old_role == role:
        return False
    if old_role == "customer":
        # A customer came in by an invite and an agreement; they are not turned into staff.
        raise RoleError("customer_role_fixed")
    if old_role == "professional":
        await release_professional(conn, team_id, person_id, actor_id)
    if member is None:
        await conn.execute(
            insert(Membership).values(id=new_id(), team_id=team_id, person_id=person_id, role=role, joined_at=utcnow())
        )
    else:
        values: dict[str, Any] = {"role": role}
        if role == "observer":
            values["is_facilitator"] = False  # observers do not facilitate
        await conn.execute(
            update(Membership).where(Membership.team_id == team_id, Membership.person_id == person_id).values(**values)
        )
        await refresh_facilitators_named(conn, team_id)
    await audit.record(
        conn,
        "membership.role",
        actor_id=actor_id,
        object_type="person",
        object_id=person_id,
        team_id=team_id,
        old=old_role,
        new=role,
    )
    await notify(conn, person_id, "team_role", team=team_id, team_name=await _team_name(conn, team_id), role=role)
    return True


# ------------------------------------------------------------------ contact persons


async def move_customer(
    conn: AsyncConnection, team_id: str, customer_id: str, contact_id: str, actor_id: str | None
) -> bool:
    """Name the customer's contact person: another one, or confirm the interim one (which clears the flag).

    Returns False when nothing changed.
    """
    member = await _membership(conn, team_id, customer_id)
    if member is None or member.role != "customer":
        raise RoleError("not_a_customer", 404)
    if not await is_active_professional(conn, team_id, contact_id):
        raise RoleError("contact_not_professional")
    same = member.contact_person_id == contact_id
    if same and member.contact_changed_at is None:
        return False
    await conn.execute(
        update(Membership)
        .where(Membership.team_id == team_id, Membership.person_id == customer_id)
        .values(contact_person_id=contact_id, contact_changed_at=None)
    )
    await audit.record(
        conn,
        "membership.contact_person",
        actor_id=actor_id,
        object_type="person",
        object_id=customer_id,
        team_id=team_id,
        old=member.contact_person_id,
        new=contact_id,
        confirmed=same,
    )
    if not same:
        team_name = await _team_name(conn, team_id)
        await notify(
            conn, customer_id, "contact_changed", team=team_id, team_name=team_name, name=await _name(conn, contact_id)
        )
        await notify(
            conn,
            contact_id,
            "customer_assigned",
            team=team_id,
            team_name=team_name,
            name=await _name(conn, customer_id),
        )
    return True


async def flagged_customers(conn: AsyncConnection, team_id: str) -> set[str]:
    """Customers whose contact person was changed for them and is still to be confirmed."""
    rows = await conn.execute(
        select(Membership.person_id).where(
            Membership.team_id == team_id, Membership.role == "customer", Membership.contact_changed_at.is_not(None)
        )
    )
    return set(rows.scalars())


async def _interim_for(conn: AsyncConnection, team_id: str, leaving: str, actor_id: str | None) -> str | None:
    others = [p for p in await active_professionals(conn, team_id) if p != leaving]
    if actor_id in others:
        return actor_id  # the professional who made the change takes the customers over meanwhile
    return others[0] if others else None


async def _customers_of(conn: AsyncConnection, team_id: str, professional_id: str) -> list[str]:
    rows = await conn.execute(
        select(Membership.person_id).where(
            Membership.team_id == team_id,
            Membership.role == "customer",
            Membership.contact_person_id == professional_id,
        )
    )
    return list(rows.scalars())


async def check_release(conn: AsyncConnection, team_id: str, professional_id: str, actor_id: str | None) -> None:
    """Raise :class:`RoleError` when the professional's customers would be left without a contact person."""
    if await _customers_of(conn, team_id, professional_id) and not await _interim_for(
        conn, team_id, professional_id, actor_id
    ):
        raise RoleError("last_professional", 409)


async def revoke_invites_of(
    conn: AsyncConnection, person_id: str, actor_id: str | None, reason: str, team_id: str | None = None
) -> list[str]:
    """Revoke the open invites a person made or that name them as contact person (in one team, or all)."""
    where = [
        Invite.revoked_at.is_(None),
        or_(Invite.created_by_id == person_id, Invite.contact_person_id == person_id),
    ]
    if team_id is not None:
        where.append(Invite.team_id == team_id)
    found = (await conn.execute(select(Invite.id, Invite.team_id).where(*where))).all()
    if found:
        await conn.execute(update(Invite).where(Invite.id.in_([i.id for i in found])).values(revoked_at=utcnow()))
    for invite in found:
        await audit.record(
            conn,
            "invite.revoked",
            actor_id=actor_id,
            object_type="invite",
            object_id=invite.id,
            team_id=invite.team_id,
            reason=reason,
        )
    return [i.id for i in found]


async def release_professional(
    conn: AsyncConnection, team_id: str, professional_id: str, actor_id: str | None
) -> Release:
    """A professional stops being one in this team: their invites end, their customers get an interim contact."""
    await check_release(conn, team_id, professional_id, actor_id)
    now = utcnow()
    open_invites = await revoke_invites_of(conn, professional_id, actor_id, "professional left the team", team_id)
    customers = await _customers_of(conn, team_id, professional_id)
    interim = await _interim_for(conn, team_id, professional_id, actor_id) if customers else None
    if customers and interim is not None:
        await conn.execute(
            update(Membership)
            .where(Membership.team_id == team_id, Membership.person_id.in_(customers))
            .values(contact_person_id=interim, contact_changed_at=now)
        )
        team_name = await _team_name(conn, team_id)
        interim_name = await _name(conn, interim)
        for customer in customers:
            await audit.record(
                conn,
                "membership.contact_person",
                actor_id=actor_id,
                object_type="person",
                object_id=customer,
                team_id=team_id,
                old=professional_id,
                new=interim,
                reason="contact person left the team",
            )
            await notify(conn, customer, "contact_changed", team=team_id, team_name=team_name, name=interim_name)
            await notify(
                conn,
                interim,
                "customer_assigned",
                team=team_id,
                team_name=team_name,
                name=await _name(conn, customer),
            )
    return Release(open_invites, customers, interim)


async def professional_teams(conn: AsyncConnection, person_id: str) -> list[str]:
    rows = await conn.execute(
        select(Membership.team_id).where(Membership.person_id == person_id, Membership.role == "professional")
    )
    return list(rows.scalars())


async def check_release_everywhere(conn: AsyncConnection, person_id: str, actor_id: str | None) -> list[str]:
    """The names of the teams where this person is the only professional left for customers."""
    blocked = []
    for team_id in await professional_teams(conn, person_id):
        try:
            await check_release(conn, team_id, person_id, actor_id)
        except RoleError:
            blocked.append(await _team_name(conn, team_id))
    return blocked


async def release_everywhere(conn: AsyncConnection, person_id: str, actor_id: str | None) -> None:
    """Before a professional is disabled or erased: every team of theirs, checked first, then changed."""
    blocked = await check_release_everywhere(conn, person_id, actor_id)
    if blocked:
        raise RoleError("last_professional", 409)
    for team_id in await professional_teams(conn, person_id):
        await release_professional(conn, team_id, person_id, actor_id)
        await refresh_facilitators_named(conn, team_id)
    # Invites they made in any other role (a coach's, say) end with the account too.
    await revoke_invites_of(conn, person_id, actor_id, "account closed")


# ------------------------------------------------------------------ coaches


async def set_coach(
    conn: AsyncConnection, programme_id: str, person_id: str, coach: bool, actor_id: str | None
) -> bool:
    """Give or take the coach role in a programme. Returns False when nothing changed."""
    programme = (await conn.execute(select(Programme.name).where(Programme.id == programme_id))).first()
    if programme is None:
        raise RoleError("no_programme", 404)
    person = (
        await conn.execute(
            select(Person.id).where(Person.id == person_id, Person.disabled_at.is_(None), Person.erased_at.is_(None))
        )
    ).first()
    if person is None:
        raise RoleError("no_person", 404)
    was = (
        await conn.execute(
            select(ProgrammeCoach.person_id).where(
                ProgrammeCoach.programme_id == programme_id, ProgrammeCoach.person_id == person_id
            )
        )
    ).first() is not None
    if was == coach:
        return False
    if coach:
        await conn.execute(insert(ProgrammeCoach).values(programme_id=programme_id, person_id=person_id))
    else:
        await conn.execute(
            delete(ProgrammeCoach).where(
                ProgrammeCoach.programme_id == programme_id, ProgrammeCoach.person_id == person_id
            )
        )
        # Their invites to the programme's teams were made as its coach: they end with the role.
        programme_teams = (
            select(Team.id).join(Round, Round.id == Team.round_id).where(Round.programme_id == programme_id)
        )
        for team_id in list((await conn.execute(programme_teams)).scalars()):
            if await _membership(conn, team_id, person_id) is None:
                await revoke_invites_of(conn, person_id, actor_id, "coach role ended", team_id)
    await audit.record(
        conn,
        "programme.coach",
        actor_id=actor_id,
        object_type="person",
        object_id=person_id,
        programme=programme_id,
        old=was,
        new=coach,
    )
    await notify(
        conn, person_id, "coach_added" if coach else "coach_removed", programme=programme_id, name=programme.name
    )
    return True
