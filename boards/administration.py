"""What an admin changes in the structure: organisations, programmes, rounds and teams.

Used by the admin pages and the ``kumppani`` command alike. Every change is audited
with the old and the new values of what changed. Names are free text, so they go
through the identity-code guard (``auth.hetu``).
Bad input raises :class:`AdminError` before anything is written.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth import audit
from auth.hetu import contains_identity_code
from auth.models import Organisation, Programme, Round, Team
from foundation.db import new_id

MAX_NAME = 200
PHASES = ("current_state", "customer_insight", "synthesis", "ideation_testing", "service_model")


class AdminError(ValueError):
    """A refused change; ``reason`` names the translation key ``admin.error.<reason>``."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def clean_name(value: object) -> str:
    """A name as stored: spaces collapsed, 1–200 characters, no identity code."""
    name = " ".join(str(value or "").split())
    if not name:
        raise AdminError("name_missing")
    if len(name) > MAX_NAME:
        raise AdminError("name_too_long")
    if contains_identity_code(name):
        raise AdminError("identity_code")
    return name


def parse_date(value: object) -> date | None:
    """An ISO date (YYYY-MM-DD) or nothing."""
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise AdminError("bad_date") from None


async def _exists(conn: AsyncConnection, column: Any, value: str | None, reason: str) -> None:
    if value is None or (await conn.execute(select(column).where(column == value))).first() is None:
        raise AdminError(reason, 404 if reason.startswith("no_") else 400)


def _changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    changed = [key for key in new if old.get(key) != new[key]]

    def plain(value: Any) -> Any:
        return value.isoformat() if isinstance(value, date) else value

    return {k: plain(old.get(k)) for k in changed}, {k: plain(new[k]) for k in changed}


async def _record(
    conn: AsyncConnection,
    action: str,
    kind: str,
    object_id: str,
    actor_id: str | None,
    old: Any,
    new: Any,
    **extra: Any,
) -> None:
    await audit.record(
        conn, action, actor_id=actor_id, object_type=kind, object_id=object_id, old=old, new=new, **extra
    )


# ------------------------------------------------------------------ organisations


async def create_organisation(conn: AsyncConnection, name: object, actor_id: str | None) -> str:
    values = {"name": clean_name(name)}
    oid = new_id()
    await conn.execute(insert(Organisation).values(id=oid, **values))
    await _record(conn, "organisation.created", "organisation", oid, actor_id, None, values)
    return oid


async def edit_organisation(conn: AsyncConnection, organisation_id: str, name: object, actor_id: str | None) -> bool:
    row = (await conn.execute(select(Organisation.name).where(Organisation.id == organisation_id))).first()
    if row is None:
        raise AdminError("no_organisation", 404)
    old, new = _changes({"name": row.name}, {"name": clean_name(name)})
    if not new:
        return False
    await conn.execute(update(Organisation).where(Organisation.id == organisation_id).values(**new))
    await _record(conn, "organisation.edited", "organisation", organisation_id, actor_id, old, new)
    return True


# ------------------------------------------------------------------ programmes and rounds


async def create_programme(
    conn: AsyncConnection, name: object, organisation_id: str | None, actor_id: str | None
) -> str:
    if organisation_id:
        await _exists(conn, Organisation.id, organisation_id, "no_organisation")
    values = {"name": clean_name(name), "organisation_id": organisation_id or None}
    pid = new_id()
    await conn.execute(insert(Programme).values(id=pid, **values))
    await _record(conn, "programme.created", "programme", pid, actor_id, None, values)
    return pid


async def edit_programme(
    conn: AsyncConnection, programme_id: str, name: object, organisation_id: str | None, actor_id: str | None
) -> bool:
    row = (
        await conn.execute(select(Programme.name, Programme.organisation_id).where(Programme.id == programme_id))
    ).first()
    if row is None:
        raise AdminError("no_programme", 404)
    if organisation_id:
        await _exists(conn, Organisation.id, organisation_id, "no_organisation")
    old, new = _changes(
        {"name": row.name, "organisation_id": row.organisation_id},
        {"name": clean_name(name), "organisation_id": organisation_id or None},
    )
    if not new:
        return False
    await conn.execute(update(Programme).where(Programme.id == programme_id).values(**new))
    await _record(conn, "programme.edited", "programme", programme_id, actor_id, old, new)
    return True


def _round_values(name: object, starts_on: object, ends_on: object) -> dict[str, Any]:
    starts, ends = parse_date(starts_on), parse_date(ends_on)
    if starts and ends and ends < starts:
        raise AdminError("ends_before_start")
    return {"name": clean_name(name), "starts_on": starts, "ends_on": ends}


async def create_round(
    conn: AsyncConnection, programme_id: str, name: object, starts_on: object, ends_on: object, actor_id: str | None
) -> str:
    await _exists(conn, Programme.id, programme_id, "no_programme")
    values = _round_values(name, starts_on, ends_on)
    rid = new_id()
    await conn.execute(insert(Round).values(id=rid, programme_id=programme_id, **values))
    await _record(conn, "round.created", "round", rid, actor_id, None, _changes({}, values)[1], programme=programme_id)
    return rid


async def edit_round(
    conn: AsyncConnection, round_id: str, name: object, starts_on: object, ends_on: object, actor_id: str | None
) -> bool:
    row = (
        await conn.execute(
            select(Round.name, Round.starts_on, Round.ends_on, Round.programme_id).where(Round.id == round_id)
        )
    ).first()
    if row is None:
        raise AdminError("no_round", 404)
    old, new = _changes(
        {"name": row.name, "starts_on": row.starts_on, "ends_on": row.ends_on}, _round_values(name, starts_on, ends_on)
    )
    if not new:
        return False
    await conn.execute(update(Round).where(Round.id == round_id).values(**_round_values(name, starts_on, ends_on)))
    await _record(conn, "round.edited", "round", round_id, actor_id, old, new, programme=row.programme_id)
    return True


# ------------------------------------------------------------------ teams


async def create_team(
    conn: AsyncConnection, name: object, organisation_id: str, round_id: str | None, actor_id: str | None
) -> str:
    await _exists(conn, Organisation.id, organisation_id or None, "no_organisation")
    if round_id:
        await _exists(conn, Round.id, round_id, "no_round")
    values = {"name": clean_name(name), "organisation_id": organisation_id, "round_id": round_id or None}
    tid = new_id()
    await conn.execute(insert(Team).values(id=tid, **values))
    await audit.record(
        conn, "team.created", actor_id=actor_id, object_type="team", object_id=tid, team_id=tid, old=None, new=values
    )
    return tid


async def edit_team(
    conn: AsyncConnection,
    team_id: str,
    name: object,
    round_id: str | None,
    phase: str,
    actor_id: str | None,
) -> bool:
    row = (await conn.execute(select(Team.name, Team.round_id, Team.phase).where(Team.id == team_id))).first()
    if row is None:
        raise AdminError("no_team", 404)
    if round_id:
        await _exists(conn, Round.id, round_id, "no_round")
    if phase not in PHASES:
        raise AdminError("bad_phase")
    old, new = _changes(
        {"name": row.name, "round_id": row.round_id, "phase": row.phase},
        {"name": clean_name(name), "round_id": round_id or None, "phase": phase},
    )
    if not new:
        return False
    await conn.execute(update(Team).where(Team.id == team_id).values(**new))
    await audit.record(
        conn, "team.edited", actor_id=actor_id, object_type="team", object_id=team_id, team_id=team_id, old=old, new=new
    )
    return True
