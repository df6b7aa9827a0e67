"""A round's schedule of sessions, who may see and change it, and its calendar.

Times are stored in UTC and entered and shown in Europe/Helsinki. Every change
to a session raises its ``sequence``, so a calendar that subscribed to the
round's or a person's calendar replaces the event it has (same UID) instead of
adding another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth import audit
from auth.models import Membership, Person, Programme, ProgrammeCoach, Round, ScheduledSession, Team
from foundation.db import new_id, utcnow

HELSINKI = ZoneInfo("Europe/Helsinki")
SESSION_KINDS = ("info", "site_visit", "workshop", "coaching", "other")
MAX_AGENDA = 4000


class ScheduleError(ValueError):
    """A refused change; ``reason`` names the translation key ``schedule.error.<reason>``."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class RoundAccess:
    round_id: str
    round_name: str
    programme_id: str
    programme_name: str
    starts_on: date | None
    ends_on: date | None
    manages: bool  # an admin or a coach of the programme: may change the schedule and steer the teams


@dataclass(frozen=True, slots=True)
class SessionInput:
    kind: str
    title: str
    starts_at: datetime
    ends_at: datetime | None
    place: str | None
    online_url: str | None
    agenda: str | None


async def _is_admin(conn: AsyncConnection, person_id: str) -> bool:
    return bool(
        (
            await conn.execute(
                select(Person.is_admin).where(
                    Person.id == person_id, Person.disabled_at.is_(None), Person.erased_at.is_(None)
                )
            )
        ).scalar()
    )


async def round_access(conn: AsyncConnection, round_id: str, person_id: str) -> RoundAccess | None:
    """What a person may do with a round; None (callers answer 404) when it is none of theirs."""
    if len(round_id) > 32:
        return None
    row = (
        await conn.execute(
            select(
                Round.id,
                Round.name,
                Round.starts_on,
                Round.ends_on,
                Programme.id.label("pid"),
                Programme.name.label("pname"),
            )
            .join(Programme, Programme.id == Round.programme_id)
            .where(Round.id == round_id)
        )
    ).first()
    if row is None:
        return None
    active = (
        await conn.execute(
            select(Person.id).where(Person.id == person_id, Person.disabled_at.is_(None), Person.erased_at.is_(None))
        )
    ).first()
    if active is None:
        return None
    coach = (
        await conn.execute(
            select(ProgrammeCoach.person_id).where(
                ProgrammeCoach.programme_id == row.pid, ProgrammeCoach.person_id == person_id
            )
        )
    ).first() is not None
    manages = coach or await _is_admin(conn, person_id)
    if not manages:
        member = (
            await conn.execute(
                select(Membership.id)
                .join(Team, Team.id == Membership.team_id)
                .where(Team.round_id == round_id, Team.archived_at.is_(None), Membership.person_id == person_id)
                .limit(1)
            )
        ).first()
        if member is None:
            return None
    return RoundAccess(row.id, row.name, row.pid, row.pname, row.starts_on, row.ends_on, manages)


async def visible_rounds(conn: AsyncConnection, person_id: str) -> Sequence[Any]:
    """Rounds a person coaches (or, for an admin, every round) or has a team in, by programme and start."""
    base = select(
        Round.id,
        Round.name,
        Round.starts_on,
        Round.ends_on,
        Programme.id.label("programme_id"),
        Programme.name.label("programme_name"),
    ).join(Programme, Programme.id == Round.programme_id)
    if not await _is_admin(conn, person_id):
        coached = select(ProgrammeCoach.programme_id).where(ProgrammeCoach.person_id == person_id)
        member_of = (
            select(Team.round_id)
            .join(Membership, Membership.team_id == Team.id)
            .where(Membership.person_id == person_id, Team.round_id.is_not(None), Team.archived_at.is_(None))
        )
        base = base.where(or_(Round.programme_id.in_(coached), Round.id.in_(member_of)))
    return (await conn.execute(base.order_by(Programme.name, Round.starts_on, Round.name))).all()


async def visible_programmes(conn: AsyncConnection, person_id: str) -> list[dict[str, Any]]:
    """Programmes a person coaches (an admin: all) or has a team in, each with its visible rounds."""
    query = select(Programme.id, Programme.name)
    if not await _is_admin(conn, person_id):
        coached = select(ProgrammeCoach.programme_id).where(ProgrammeCoach.person_id == person_id)
        member_of = (
            select(Round.programme_id)
            .join(Team, Team.round_id == Round.id)
            .join(Membership, Membership.team_id == Team.id)
            .where(Membership.person_id == person_id, Team.archived_at.is_(None))
        )
        query = query.where(or_(Programme.id.in_(coached), Programme.id.in_(member_of)))
    found: dict[str, dict[str, Any]] = {
        r.id: {"name": r.name, "rounds": []} for r in await conn.execute(query.order_by(Programme.name))
    }
    for r in await visible_rounds(conn, person_id):
        if r.programme_id in found:
            found[r.programme_id]["rounds"].append(r)
    return list(found.values())


async def round_teams(conn: AsyncConnection, round_id: str) -> Sequence[Any]:
    from auth.models import Organisation

    return (
        await conn.execute(
            select(Team.id, Team.name, Team.phase, Organisation.name.label("organisation_name"))
            .join(Organisation, Organisation.id == Team.organisation_id)
            .where(Team.round_id == round_id, Team.archived_at.is_(None))
            .order_by(Team.name)
        )
    ).all()


async def sessions(conn: AsyncConnection, round_ids: Sequence[str]) -> Sequence[Any]:
    if not round_ids:
        return []
    return (
        await conn.execute(
            select(
                ScheduledSession.id,
                ScheduledSession.round_id,
                ScheduledSession.kind,
                ScheduledSession.title,
                ScheduledSession.starts_at,
                ScheduledSession.ends_at,
                ScheduledSession.place,
                ScheduledSession.online_url,
                ScheduledSession.agenda,
                ScheduledSession.sequence,
                ScheduledSession.updated_at,
                Round.name.label("round_name"),
            )
            .join(Round, Round.id == ScheduledSession.round_id)
            .where(ScheduledSession.round_id.in_(list(round_ids)))
            .order_by(ScheduledSession.starts_at, ScheduledSession.title)
        )
    ).all()


def parse_session(form: dict[str, str]) -> SessionInput:
    """A session from a form: date and times are Helsinki wall-clock time."""
    kind = form.get("kind", "")
    if kind not in SESSION_KINDS:
        raise ScheduleError("bad_kind")
    title = " ".join(form.get("title", "").split())[:200]
    if not title:
        raise ScheduleError("no_title")
    try:
        day = date.fromisoformat(form.get("date", ""))
        start = time.fromisoformat(form.get("start", ""))
        end_text = form.get("end", "")
        end = time.fromisoformat(end_text) if end_text else None
    except ValueError:
        raise ScheduleError("bad_time") from None
    starts_at = datetime.combine(day, start, HELSINKI).astimezone(UTC)
    ends_at = datetime.combine(day, end, HELSINKI).astimezone(UTC) if end is not None else None
    if ends_at is not None and ends_at <= starts_at:
        raise ScheduleError("ends_before_start")
    url = form.get("online_url", "").strip()
    if (url and not url.startswith(("https://", "http://"))) or len(url) > 500:
        raise ScheduleError("bad_url")
    agenda = form.get("agenda", "").strip()
    if len(agenda) > MAX_AGENDA:
        raise ScheduleError("agenda_too_long")
    place = " ".join(form.get("place", "").split())[:300]
    return SessionInput(kind, title, starts_at, ends_at, place or None, url or None, agenda or None)


async def add_session(conn: AsyncConnection, round_id: str, data: SessionInput, actor_id: str) -> str:
    session_id = new_id()
    await conn.execute(
        insert(ScheduledSession).values(
            id=session_id, round_id=round_id, sequence=0, updated_at=utcnow(), **_values(data)
        )
    )
    await audit.record(
        conn, "session.added", actor_id=actor_id, object_type="session", object_id=session_id, round=round_id
    )
    return session_id


async def change_session(
    conn: AsyncConnection, round_id: str, session_id: str, data: SessionInput, actor_id: str
) -> bool:
    """Change a session (move it, say); False when nothing changed. The calendar sequence goes up by one."""
    old = (
        await conn.execute(
            select(ScheduledSession).where(ScheduledSession.id == session_id, ScheduledSession.round_id == round_id)
        )
    ).first()
    if old is None:
        raise ScheduleError("no_session", 404)
    values = _values(data)
    if all(getattr(old, key) == value for key, value in values.items()):
        return False
    await conn.execute(
        update(ScheduledSession)
        .where(ScheduledSession.id == session_id)
        .values(sequence=old.sequence + 1, updated_at=utcnow(), **values)
    )
    await audit.record(
        conn,
        "session.changed",
        actor_id=actor_id,
        object_type="session",
        object_id=session_id,
        round=round_id,
        old_start=old.starts_at.isoformat(),
        new_start=data.starts_at.isoformat(),
    )
    return True


async def remove_session(conn: AsyncConnection, round_id: str, session_id: str, actor_id: str) -> None:
    done = await conn.execute(
        delete(ScheduledSession).where(ScheduledSession.id == session_id, ScheduledSession.round_id == round_id)
    )
    if done.rowcount != 1:
        raise ScheduleError("no_session", 404)
    await audit.record(
        conn, "session.removed", actor_id=actor_id, object_type="session", object_id=session_id, round=round_id
    )


def _values(data: SessionInput) -> dict[str, Any]:
    return {
        "kind": data.kind,
        "title": data.title,
        "starts_at": data.starts_at,
        "ends_at": data.ends_at,
        "place": data.place,
        "online_url": data.online_url,
        "agenda": data.agenda,
    }


def local(moment: datetime) -> datetime:
    """Helsinki wall-clock time (an aggregate read from SQLite may come back without its zone: it is UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(HELSINKI)


# ------------------------------------------------------------------ calendar (RFC 5545)


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545 3.1)."""
    raw = line.encode()
    if len(raw) <= 75:
        return line
    parts: list[str] = []
    current = ""
    for char in line:
        limit = 75 if not parts else 74
        if len((current + char).encode()) > limit:
            parts.append(current)
            current = char
        else:
            current += char
    parts.append(current)
    return "\r\n ".join(parts)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def calendar(name: str, rows: Sequence[Any], host: str, kind_names: dict[str, str]) -> str:
    """An iCalendar file of sessions. UIDs are the sessions' ids, so an update replaces an event."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Kumppani//Coaching rounds//FI",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_escape(name)}",
        "X-WR-TIMEZONE:Europe/Helsinki",
    ]
    for row in rows:
        ends = row.ends_at or row.starts_at + timedelta(hours=1)
        description = [kind_names.get(row.kind, row.kind), row.round_name]
        if row.agenda:
            description.append(row.agenda)
        if row.online_url:
            description.append(row.online_url)
        lines += [
            "BEGIN:VEVENT",
            f"UID:{row.id}@{host}",
            f"SEQUENCE:{row.sequence}",
            f"DTSTAMP:{_stamp(row.updated_at)}",
            f"LAST-MODIFIED:{_stamp(row.updated_at)}",
            f"DTSTART:{_stamp(row.starts_at)}",
            f"DTEND:{_stamp(ends)}",
            f"SUMMARY:{_escape(row.title)}",
            f"DESCRIPTION:{_escape(chr(10).join(description))}",
        ]
        location = row.place or row.online_url
        if location:
            lines.append(f"LOCATION:{_escape(location)}")
        if row.online_url:
            lines.append(f"URL:{_escape(row.online_url)}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
