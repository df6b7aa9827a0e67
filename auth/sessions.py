"""Server-side sessions referenced by an opaque random cookie.

Only the SHA-256 of the cookie value is stored, so a database leak yields no
usable session. Ending a session makes a copied cookie worthless at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.models import AuthSession, Person
from foundation.db import utcnow

# Writing last_seen on every request would turn reads into writes; a minute is precise enough.
TOUCH_EVERY = timedelta(seconds=60)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionInfo:
    session_id: str
    person_id: str
    display_name: str
    is_admin: bool
    expires_at: datetime
    idle_deadline: datetime
    locale: str = "fi"  # the language the person last chose, remembered on their account


async def create_session(
    conn: AsyncConnection, person_id: str, *, absolute: timedelta, user_agent: str | None = None
) -> str:
    """A new session id: callers issue one at every sign-in and invite redemption."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    await conn.execute(
        insert(AuthSession).values(
            id=secrets.token_hex(16),
            token_hash=token_hash(token),
            person_id=person_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + absolute,
            user_agent=(user_agent or "")[:200] or None,
        )
    )
    return token


async def resolve_session(
    conn: AsyncConnection, token: str | None, *, idle: timedelta, now: datetime | None = None
) -> SessionInfo | None:
    """The live session for a cookie value, or None (unknown, ended, idle or past its end)."""
    if not token or len(token) > 200:
        return None
    now = now or utcnow()
    row = (
        await conn.execute(
            select(
                AuthSession.id,
                AuthSession.person_id,
                AuthSession.last_seen_at,
                AuthSession.expires_at,
                Person.display_name,
                Person.is_admin,
                Person.locale,
            )
            .join(Person, Person.id == AuthSession.person_id)
            .where(
                AuthSession.token_hash == token_hash(token),
                AuthSession.ended_at.is_(None),
                Person.disabled_at.is_(None),
                Person.erased_at.is_(None),
            )
        )
    ).first()
    if row is None or row.expires_at <= now or row.last_seen_at + idle <= now:
        return None
    last_seen = row.last_seen_at
    if now - last_seen >= TOUCH_EVERY:
        await conn.execute(update(AuthSession).where(AuthSession.id == row.id).values(last_seen_at=now))
        last_seen = now
    return SessionInfo(
        row.id,
        row.person_id,
        row.display_name or "",
        bool(row.is_admin),
        row.expires_at,
        min(row.expires_at, last_seen + idle),
        row.locale or "fi",
    )


async def end_session(conn: AsyncConnection, token: str) -> None:
    await conn.execute(
        update(AuthSession)
        .where(AuthSession.token_hash == token_hash(token), AuthSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )


async def end_all_sessions(conn: AsyncConnection, person_id: str, *, except_id: str | None = None) -> list[str]:
    """End every live session of a person; returns the ended session ids."""
    query = select(AuthSession.id).where(AuthSession.person_id == person_id, AuthSession.ended_at.is_(None))
    if except_id is not None:
        query = query.where(AuthSession.id != except_id)
    ids = list((await conn.execute(query)).scalars())
    if ids:
        await conn.execute(update(AuthSession).where(AuthSession.id.in_(ids)).values(ended_at=utcnow()))
    return ids
