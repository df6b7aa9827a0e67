"""Progress updates ("you said, we did"): a team tells its participants what came of their work.

An update goes to the team's members, unless they withdrew the progress-update
consent, and to those who have left the team with that consent given. Each recipient gets a
delivery row in the same transaction as the update (their feed entry, with a read
mark); the linked ideas and tests show their status as it is when read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth import audit, consent, mail_outbox
from auth.mail_render import LinkedItem, MailContext, progress_message
from auth.models import AuditEvent, Membership, Person, ProgressUpdate, Team
from boards.itemtypes import PROGRESS
from boards.models import Board, Item, ProgressDelivery, ProgressLink, ProgressReply
from foundation.db import new_id, utcnow

CONSENT = "progress_email"
TITLE_MAX = 200
BODY_MAX = 4000
REPLY_MAX = 2000
FOLLOWED_TYPES = ("idea", "test")
DEPARTURES = ("membership.left", "membership.removed")


class UpdateError(ValueError):
    """The update cannot be written as given; ``key`` is the message's catalogue key."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True, slots=True)
class Followed:
    """An idea or test of the team's boards, with the status participants follow."""

    id: str
    board_title: str
    type: str
    title: str
    progress: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class Reply:
    name: str
    body: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Update:
    id: str
    team_id: str
    team_name: str
    title: str
    body: str
    at: datetime
    items: list[Followed] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    read: bool = True


def _title_of(item_type: str, fields: dict[str, Any]) -> str:
    primary = fields.get("title") if item_type == "idea" else fields.get("hypothesis") or fields.get("what")
    return str(primary or "")[:TITLE_MAX]


def _followed(row: Row[Any]) -> Followed:
    fields: dict[str, Any] = dict(row.fields or {})
    progress, reason = fields.get("progress"), fields.get("progress_reason")
    return Followed(
        id=row.id,
        board_title=row.board_title,
        type=row.type,
        title=_title_of(row.type, fields),
        progress=progress if progress in PROGRESS else None,
        reason=str(reason) if reason else None,
    )


async def followed_items(conn: AsyncConnection, team_id: str) -> list[Followed]:
    """The ideas and tests on the team's boards, oldest first: what an update may link to."""
    rows = await conn.execute(
        select(Item.id, Item.type, Item.fields, Board.title.label("board_title"))
        .join(Board, Board.id == Item.board_id)
        .where(
            Board.team_id == team_id,
            Board.archived_at.is_(None),
            Item.type.in_(FOLLOWED_TYPES),
            Item.deleted_seq.is_(None),
        )
        .order_by(Board.created_at, Item.created_seq)
    )
    return [_followed(row) for row in rows]


async def _former_participants(conn: AsyncConnection, team_id: str) -> set[str]:
    """People who have left the team or were removed from it.

    Membership rows go when someone leaves; the append-only audit log is what remembers
    that they took part.
    """
    found = (
        await conn.execute(
            select(AuditEvent.object_id)
            .where(
                AuditEvent.team_id == team_id,
                AuditEvent.object_type == "person",
                AuditEvent.action.in_(DEPARTURES),
            )
            .distinct()
        )
    ).scalars()
    return {person_id for person_id in found if person_id}


async def recipients(conn: AsyncConnection, team_id: str) -> set[str]:
    """Who gets the team's updates.

    Today's members get them in the app unless they withdrew the progress-update consent;
    those who have left only with that consent given (it says it holds after they stop).
    Erased and disabled accounts get nothing.
    """
    members = set((await conn.execute(select(Membership.person_id).where(Membership.team_id == team_id))).scalars())
    people = members | await _former_participants(conn, team_id)
    if not people:
        return set()
    present = (
        await conn.execute(
            select(Person.id).where(Person.id.in_(people), Person.erased_at.is_(None), Person.disabled_at.is_(None))
        )
    ).scalars()
    result = set()
    for person_id in present:
        mine = consent.latest(await consent.records(conn, person_id), CONSENT)
        if (mine.given if mine is not None else person_id in members) is True:
            result.add(person_id)
    return result


async def email_recipients(conn: AsyncConnection, team_id: str) -> set[str]:
    """Who may be e-mailed: recipients whose latest progress-update consent is given (never by default)."""
    result = set()
    for person_id in await recipients(conn, team_id):
        mine = consent.latest(await consent.records(conn, person_id), CONSENT)
        if mine is not None and mine.given:
            result.add(person_id)
    return result


async def write_update(
    conn: AsyncConnection,
    team_id: str,
    author_id: str,
    title: str,
    body: str,
    item_ids: list[str],
    mail: MailContext | None = None,
) -> tuple[str, set[str]]:
    """Store an update, its links, one delivery per recipient and (with ``mail``) an e-mail in the outbox
    for each recipient with an address and the consent given; returns the update's id and the recipients."""
    title = " ".join(title.split())
    body = body.strip()
    if not title or not body:
        raise UpdateError("updates.error.empty")
    if len(title) > TITLE_MAX or len(body) > BODY_MAX:
        raise UpdateError("updates.error.too_long")
    allowed = {item.id for item in await followed_items(conn, team_id)}
    wanted = list(dict.fromkeys(item_ids))
    if any(item_id not in allowed for item_id in wanted):
        raise UpdateError("updates.error.unknown_item")
    update_id = new_id()
    await conn.execute(
        insert(ProgressUpdate).values(
            id=update_id, team_id=team_id, author_id=author_id, title=title, body=body, created_at=utcnow()
        )
    )
    for item_id in wanted:
        await conn.execute(insert(ProgressLink).values(update_id=update_id, item_id=item_id))
    people = await recipients(conn, team_id)
    for person_id in sorted(people):
        # The author has read what they wrote.
        read_at = utcnow() if person_id == author_id else None
        await conn.execute(insert(ProgressDelivery).values(update_id=update_id, person_id=person_id, read_at=read_at))
    mailed = await _enqueue_mail(conn, mail, team_id, title, body, wanted) if mail is not None else 0
    await audit.record(
        conn,
        "progress_update.written",
        actor_id=author_id,
        object_type="progress_update",
        object_id=update_id,
        team_id=team_id,
        recipients=len(people),
        items=len(wanted),
        mailed=mailed,
    )
    return update_id, people


async def _enqueue_mail(
    conn: AsyncConnection, ctx: MailContext, team_id: str, title: str, body: str, item_ids: list[str]
) -> int:
    team = (await conn.execute(select(Team.name).where(Team.id == team_id))).scalar_one()
    by_id = {item.id: item for item in await followed_items(conn, team_id)}
    items = [LinkedItem(by_id[i].title, by_id[i].progress, by_id[i].reason) for i in item_ids]
    people = await email_recipients(conn, team_id)
    rows = (
        await conn.execute(
            select(Person.id, Person.email, Person.locale).where(Person.id.in_(people), Person.email.is_not(None))
        )
    ).all()
    for row in rows:
        message = progress_message(
            ctx, person_id=row.id, to=row.email, locale=row.locale, team=team, title=title, body=body, items=items
        )
        await mail_outbox.enqueue(conn, row.id, message)
    return len(rows)


async def _linked(conn: AsyncConnection, update_ids: list[str]) -> dict[str, list[Followed]]:
    if not update_ids:
        return {}
    rows = await conn.execute(
        select(ProgressLink.update_id, Item.id, Item.type, Item.fields, Board.title.label("board_title"))
        .join(Item, Item.id == ProgressLink.item_id)
        .join(Board, Board.id == Item.board_id)
        .where(ProgressLink.update_id.in_(update_ids), Item.deleted_seq.is_(None))
        .order_by(Item.created_seq)
    )
    result: dict[str, list[Followed]] = {}
    for row in rows:
        result.setdefault(row.update_id, []).append(_followed(row))
    return result


async def _replies(conn: AsyncConnection, update_ids: list[str]) -> dict[str, list[Reply]]:
    if not update_ids:
        return {}
    rows = await conn.execute(
        select(ProgressReply.update_id, ProgressReply.body, ProgressReply.created_at, Person.display_name)
        .outerjoin(Person, Person.id == ProgressReply.person_id)
        .where(ProgressReply.update_id.in_(update_ids))
        .order_by(ProgressReply.created_at)
    )
    result: dict[str, list[Reply]] = {}
    for row in rows:
        result.setdefault(row.update_id, []).append(Reply(row.display_name or "", row.body, row.created_at))
    return result


async def team_updates(conn: AsyncConnection, team_id: str) -> list[Update]:
    """The team's updates, newest first, with linked items and the replies the team has had."""
    rows = (
        await conn.execute(
            select(ProgressUpdate, Team.name.label("team_name"))
            .join(Team, Team.id == ProgressUpdate.team_id)
            .where(ProgressUpdate.team_id == team_id)
            .order_by(ProgressUpdate.created_at.desc(), ProgressUpdate.id)
        )
    ).all()
    ids = [row.id for row in rows]
    links, replies = await _linked(conn, ids), await _replies(conn, ids)
    return [
        Update(r.id, r.team_id, r.team_name, r.title, r.body, r.created_at, links.get(r.id, []), replies.get(r.id, []))
        for r in rows
    ]


async def latest_update(conn: AsyncConnection, team_id: str) -> Update | None:
    """The team's newest update (the coach dashboard shows it per team), or None."""
    row = (
        await conn.execute(
            select(ProgressUpdate, Team.name.label("team_name"))
            .join(Team, Team.id == ProgressUpdate.team_id)
            .where(ProgressUpdate.team_id == team_id)
            .order_by(ProgressUpdate.created_at.desc(), ProgressUpdate.id)
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return Update(row.id, row.team_id, row.team_name, row.title, row.body, row.created_at)


async def feed(conn: AsyncConnection, person_id: str) -> list[Update]:
    """The updates delivered to a person, newest first, each with its read mark."""
    rows = (
        await conn.execute(
            select(ProgressUpdate, Team.name.label("team_name"), ProgressDelivery.read_at)
            .join(ProgressDelivery, ProgressDelivery.update_id == ProgressUpdate.id)
            .join(Team, Team.id == ProgressUpdate.team_id)
            .where(ProgressDelivery.person_id == person_id)
            .order_by(ProgressUpdate.created_at.desc(), ProgressUpdate.id)
        )
    ).all()
    ids = [row.id for row in rows]
    links = await _linked(conn, ids)
    return [
        Update(
            r.id, r.team_id, r.team_name, r.title, r.body, r.created_at, links.get(r.id, []), [], r.read_at is not None
        )
        for r in rows
    ]


async def unread_count(conn: AsyncConnection, person_id: str) -> int:
    return int(
        (
            await conn.execute(
                select(func.count())
                .select_from(ProgressDelivery)
                .where(ProgressDelivery.person_id == person_id, ProgressDelivery.read_at.is_(None))
            )
        ).scalar_one()
    )


async def mark_read(conn: AsyncConnection, person_id: str) -> None:
    await conn.execute(
        update(ProgressDelivery)
        .where(ProgressDelivery.person_id == person_id, ProgressDelivery.read_at.is_(None))
        .values(read_at=utcnow())
    )


async def reply(conn: AsyncConnection, person_id: str, update_id: str, body: str) -> str:
    """A recipient answers an update; only someone it was delivered to may."""
    delivered = (
        await conn.execute(
            select(ProgressDelivery.person_id).where(
                ProgressDelivery.update_id == update_id, ProgressDelivery.person_id == person_id
            )
        )
    ).first()
    if delivered is None:
        raise LookupError("not delivered")
    body = body.strip()
    if not body:
        raise UpdateError("updates.error.empty_reply")
    if len(body) > REPLY_MAX:
        raise UpdateError("updates.error.too_long")
    reply_id = new_id()
    await conn.execute(
        insert(ProgressReply).values(
            id=reply_id, update_id=update_id, person_id=person_id, body=body, created_at=utcnow()
        )
    )
    return reply_id
