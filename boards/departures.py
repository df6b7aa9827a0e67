"""Leaving a team and deleting an account, with the person's choice for their contributions.

Both return the board events to publish after commit and tell the caller whose
sockets to close. The contact person is told (a notification on their home page).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth import audit, consent, roles
from auth.consent_texts import AGREEMENT, OPTIONAL_PURPOSES
from auth.models import (
    ExternalIdentity,
    LocalAccount,
    MailOutbox,
    Membership,
    Notification,
    PeerRoomMember,
    Person,
    ReturnLink,
)
from auth.sessions import end_all_sessions
from boards import protocol as p
from boards.contributions import Choice, remove_person_from_boards
from boards.models import Board, ProgressDelivery, ProgressReply
from foundation.db import new_id, utcnow


@dataclass
class Departure:
    events: dict[str, list[p.Event]] = field(default_factory=dict)
    board_ids: list[str] = field(default_factory=list)
    sessions_ended: bool = False


async def _team_boards(conn: AsyncConnection, team_id: str) -> list[str]:
    return list((await conn.execute(select(Board.id).where(Board.team_id == team_id))).scalars())


async def _notify_contact(conn: AsyncConnection, person_id: str, team_id: str, kind: str) -> None:
    contact = (
        await conn.execute(
            select(Membership.contact_person_id).where(Membership.team_id == team_id, Membership.person_id == person_id)
        )
    ).scalar()
    if contact:
        name = (await conn.execute(select(Person.display_name).where(Person.id == person_id))).scalar()
        await conn.execute(
            insert(Notification).values(
                id=new_id(),
                person_id=contact,
                kind=kind,
                details={"team": team_id, "name": name or ""},
                created_at=utcnow(),
            )
        )


async def leave_team(conn: AsyncConnection, person_id: str, team_id: str, choice: Choice) -> Departure:
    """Withdraw participation in one team: agreement withdrawn, membership ended, contributions as chosen."""
    role = (
        await conn.execute(
            select(Membership.role).where(Membership.team_id == team_id, Membership.person_id == person_id)
        )
    ).scalar()
    if role is None:
        raise LookupError("not a member")
    if role == "professional":
        await roles.release_professional(conn, team_id, person_id, person_id)
    else:
        await roles.revoke_invites_of(conn, person_id, person_id, "left the team", team_id)
    await _notify_contact(conn, person_id, team_id, "customer_left")
    text = await consent.current_text(conn, AGREEMENT, team_id, "fi")
    await consent.withdraw(conn, person_id, AGREEMENT, text, team_id=team_id)
    await conn.execute(delete(Membership).where(Membership.team_id == team_id, Membership.person_id == person_id))
    await roles.refresh_facilitators_named(conn, team_id)
    boards = await _team_boards(conn, team_id)
    result = Departure(await remove_person_from_boards(conn, person_id, boards, choice), boards)
    await audit.record(
        conn,
        "membership.left",
        actor_id=person_id,
        object_type="person",
        object_id=person_id,
        team_id=team_id,
        old_role=role,
        contributions=choice,
    )
    remaining = (await conn.execute(select(Membership.id).where(Membership.person_id == person_id))).first()
    if remaining is None:
        # Nothing left to take part in: end every session. The optional consents stay as the
        # person chose them: the progress-update consent says it holds after they have stopped.
        await end_all_sessions(conn, person_id)
        result.sessions_ended = True
    return result


async def _withdraw_optional(conn: AsyncConnection, person_id: str) -> None:
    choices = await consent.optional_choices(conn, person_id)
    for purpose in OPTIONAL_PURPOSES:
        if choices.get(purpose):
            text = await consent.current_text(conn, purpose, None, "fi")
            await consent.withdraw(conn, person_id, purpose, text)


async def erase_account(
    conn: AsyncConnection, person_id: str, choice: Choice, *, actor_id: str | None, reason: str
) -> Departure:
    """Delete an account: personal fields emptied one by one, contributions as chosen, a marker kept.

    A professional's customers get an interim contact person first (:class:`auth.roles.RoleError`, and
    nothing changed, where a team would have no professional left for them).
    """
    await roles.release_everywhere(conn, person_id, actor_id)
    teams = list((await conn.execute(select(Membership.team_id).where(Membership.person_id == person_id))).scalars())
    result = Departure()
    for team_id in teams:
        await _notify_contact(conn, person_id, team_id, "customer_deleted")
        boards = await _team_boards(conn, team_id)
        result.board_ids += boards
        result.events.update(await remove_person_from_boards(conn, person_id, boards, choice))
    await _withdraw_optional(conn, person_id)
    await end_all_sessions(conn, person_id)
    result.sessions_ended = True
    await conn.execute(delete(Membership).where(Membership.person_id == person_id))
    for team_id in teams:
        await roles.refresh_facilitators_named(conn, team_id)
    await conn.execute(delete(PeerRoomMember).where(PeerRoomMember.person_id == person_id))
    await conn.execute(delete(LocalAccount).where(LocalAccount.person_id == person_id))
    await conn.execute(update(ExternalIdentity).where(ExternalIdentity.person_id == person_id).values(subject=None))
    await conn.execute(delete(ReturnLink).where(ReturnLink.person_id == person_id))
    await conn.execute(delete(Notification).where(Notification.person_id == person_id))
    # Progress updates: no more mail, no feed; replies go as the person chose for contributions.
    await conn.execute(delete(MailOutbox).where(MailOutbox.person_id == person_id))
    await conn.execute(delete(ProgressDelivery).where(ProgressDelivery.person_id == person_id))
    if choice == "delete":
        await conn.execute(delete(ProgressReply).where(ProgressReply.person_id == person_id))
    else:
        await conn.execute(update(ProgressReply).where(ProgressReply.person_id == person_id).values(person_id=None))
    await conn.execute(
        update(Person)
        .where(Person.id == person_id)
        .values(display_name=None, email=None, phone=None, erased_at=utcnow(), erasure_reason=reason[:200])
    )
    await audit.record(
        conn,
        "account.erased",
        actor_id=actor_id,
        object_type="person",
        object_id=person_id,
        contributions=choice,
        reason=reason[:200],
        by_admin=actor_id != person_id,
    )
    return result
