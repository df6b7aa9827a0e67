"""The participation agreement and the optional consents: versioned texts and append-only records.

The agreement is the basis of taking part (a public task); the optional consents
(quotes, progress e-mails, photos, research) are GDPR consents, each its own
choice, none given by default, each as easy to withdraw as to give.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from auth import audit
from auth.consent_texts import AGREEMENT, DEFAULTS, OPTIONAL_PURPOSES, PURPOSES
from auth.models import ConsentRecord, ConsentText, Membership, Round, Team
from foundation.db import new_id, utcnow

LOCALES = ("fi", "en")
METHODS = ("self", "assisted", "confirmed")


@dataclass(frozen=True, slots=True)
class Text:
    id: str
    purpose: str
    scope_id: str | None
    version: int
    locale: str
    plain: str
    full: str
    sha256: str


@dataclass(frozen=True, slots=True)
class Record:
    purpose: str
    given: bool
    method: str
    text_id: str
    version: int
    scope_id: str | None
    locale: str
    at: datetime
    actor_id: str | None


def text_digest(plain: str, full: str) -> str:
    return hashlib.sha256(f"{plain}\n\n{full}".encode()).hexdigest()


# The reads below are plain (synchronous) SQLAlchemy so that the board engine can
# run them inside its own transaction on a worker thread; the async names are
# thin wrappers for the routes.


def ensure_default_texts_sync(conn: Connection) -> None:
    """Version 1 of every default text, written once (a language added later gets its texts then)."""
    have = {
        (row.purpose, row.locale)
        for row in conn.execute(
            select(ConsentText.purpose, ConsentText.locale).where(
                ConsentText.scope_id.is_(None), ConsentText.version == 1
            )
        )
    }
    if len(have) >= len(DEFAULTS):
        return
    for (purpose, locale), text in DEFAULTS.items():
        if (purpose, locale) in have:
            continue
        conn.execute(
            insert(ConsentText).values(
                id=new_id(),
                purpose=purpose,
                scope_id=None,
                version=1,
                locale=locale,
                plain_text=text.plain,
                full_text=text.full,
                sha256=text_digest(text.plain, text.full),
                published_at=utcnow(),
            )
        )


async def ensure_default_texts(conn: AsyncConnection) -> None:
    await conn.run_sync(ensure_default_texts_sync)


def _scopes(conn: Connection, team_id: str | None) -> list[str | None]:
    """Most specific first: the team, its programme, then the defaults."""
    if team_id is None:
        return [None]
    programme = conn.execute(
        select(Round.programme_id).join(Team, Team.round_id == Round.id).where(Team.id == team_id)
    ).scalar()
    return [team_id, *([programme] if programme else []), None]


def current_text_sync(conn: Connection, purpose: str, team_id: str | None, locale: str) -> Text:
    ensure_default_texts_sync(conn)
    for scope in _scopes(conn, team_id):
        scope_clause = ConsentText.scope_id.is_(None) if scope is None else ConsentText.scope_id == scope
        rows = conn.execute(
            select(ConsentText).where(ConsentText.purpose == purpose, scope_clause).order_by(ConsentText.version.desc())
        ).all()
        if not rows:
            continue
        newest = rows[0].version
        for wanted in (locale, "fi", "en"):
            for row in rows:
                if row.version == newest and row.locale == wanted:
                    return Text(
                        row.id,
                        row.purpose,
                        row.scope_id,
                        row.version,
                        row.locale,
                        row.plain_text,
                        row.full_text,
                        row.sha256,
                    )
    raise LookupError(f"no text for {purpose}")


async def current_text(conn: AsyncConnection, purpose: str, team_id: str | None, locale: str) -> Text:
    return await conn.run_sync(current_text_sync, purpose, team_id, locale)


def records_sync(conn: Connection, person_id: str) -> list[Record]:
    """Every record of a person, oldest first (the consent history)."""
    rows = conn.execute(
        select(
            ConsentRecord.purpose,
            ConsentRecord.given,
            ConsentRecord.method,
            ConsentRecord.text_id,
            ConsentText.version,
            ConsentText.scope_id,
            ConsentRecord.locale,
            ConsentRecord.created_at,
            ConsentRecord.actor_id,
        )
        .join(ConsentText, ConsentText.id == ConsentRecord.text_id)
        .where(ConsentRecord.person_id == person_id)
        .order_by(ConsentRecord.created_at, ConsentRecord.id)
    ).all()
    return [Record(*row) for row in rows]


async def records(conn: AsyncConnection, person_id: str) -> list[Record]:
    return await conn.run_sync(records_sync, person_id)


def latest(history: Sequence[Record], purpose: str, scope_id: str | object | None = ...) -> Record | None:
    for record in reversed(history):
        if record.purpose == purpose and (scope_id is ... or record.scope_id == scope_id):
            return record
    return None


@dataclass(frozen=True, slots=True)
class AgreementStatus:
    state: str  # accepted, needs_accept, new_version, assisted_unconfirmed, withdrawn
    text: Text

    @property
    def blocks_content(self) -> bool:
        return self.state not in ("accepted", "assisted_unconfirmed")


def _status(text: Text, history: Sequence[Record]) -> AgreementStatus:
    mine = latest(history, AGREEMENT, text.scope_id)
    if mine is None:
        return AgreementStatus("needs_accept", text)
    if not mine.given:
        return AgreementStatus("withdrawn", text)
    if mine.version != text.version:
        return AgreementStatus("new_version", text)
    if mine.method == "assisted":
        return AgreementStatus("assisted_unconfirmed", text)
    return AgreementStatus("accepted", text)


def agreement_status_sync(conn: Connection, person_id: str, team_id: str, locale: str = "fi") -> AgreementStatus:
    return _status(current_text_sync(conn, AGREEMENT, team_id, locale), records_sync(conn, person_id))


async def agreement_status(conn: AsyncConnection, person_id: str, team_id: str, locale: str = "fi") -> AgreementStatus:
    return await conn.run_sync(agreement_status_sync, person_id, team_id, locale)


def customers_needing_agreement_sync(conn: Connection, team_id: str, person_ids: Iterable[str]) -> set[str]:
    """Which of these people are customers of the team who have not accepted its current agreement."""
    customers = (
        conn.execute(
            select(Membership.person_id).where(
                Membership.team_id == team_id, Membership.role == "customer", Membership.person_id.in_(set(person_ids))
            )
        )
        .scalars()
        .all()
    )
    if not customers:
        return set()
    # The version in force does not depend on the reader's language: one look for all of them.
    text = current_text_sync(conn, AGREEMENT, team_id, "fi")
    return {person for person in customers if _status(text, records_sync(conn, person)).blocks_content}


async def customers_needing_agreement(conn: AsyncConnection, team_id: str, person_ids: Iterable[str]) -> set[str]:
    return await conn.run_sync(customers_needing_agreement_sync, team_id, person_ids)


async def give(
    conn: AsyncConnection,
    person_id: str,
    purpose: str,
    text: Text,
    *,
    method: str = "self",
    actor_id: str | None = None,
    team_id: str | None = None,
) -> None:
    if purpose not in PURPOSES or method not in METHODS:
        raise ValueError("unknown purpose or method")
    await conn.execute(
        insert(ConsentRecord).values(
            id=new_id(),
            person_id=person_id,
            purpose=purpose,
            text_id=text.id,
            text_sha256=text.sha256,
            locale=text.locale,
            given=True,
            method=method,
            actor_id=actor_id or person_id,
            created_at=utcnow(),
        )
    )
    await audit.record(
        conn,
        f"consent.{'assisted' if method == 'assisted' else 'given'}",
        actor_id=actor_id or person_id,
        object_type="person",
        object_id=person_id,
        team_id=team_id,
        purpose=purpose,
        version=text.version,
        method=method,
    )


async def withdraw(
    conn: AsyncConnection,
    person_id: str,
    purpose: str,
    text: Text,
    *,
    actor_id: str | None = None,
    team_id: str | None = None,
) -> None:
    await conn.execute(
        insert(ConsentRecord).values(
            id=new_id(),
            person_id=person_id,
            purpose=purpose,
            text_id=text.id,
            text_sha256=text.sha256,
            locale=text.locale,
            given=False,
            method="self",
            actor_id=actor_id or person_id,
            created_at=utcnow(),
        )
    )
    await audit.record(
        conn,
        "consent.withdrawn",
        actor_id=actor_id or person_id,
        object_type="person",
        object_id=person_id,
        team_id=team_id,
        purpose=purpose,
        version=text.version,
    )


async def optional_choices(conn: AsyncConnection, person_id: str) -> dict[str, bool]:
    history = await records(conn, person_id)
    result = {}
    for purpose in OPTIONAL_PURPOSES:
        mine = latest(history, purpose)
        result[purpose] = bool(mine and mine.given)
    return result


async def quote_consenters(conn: AsyncConnection, person_ids: Iterable[str]) -> set[str]:
    """People whose words may be quoted in public outputs: their latest quotes consent is given."""
    result = set()
    for person in set(person_ids):
        mine = latest(await records(conn, person), "quotes")
        if mine is not None and mine.given:
            result.add(person)
    return result


async def publish_text(
    conn: AsyncConnection, purpose: str, scope_id: str | None, texts: dict[str, tuple[str, str]], actor_id: str
) -> int:
    """A new version for a team or programme (or the defaults); customers are asked again."""
    if purpose not in PURPOSES or set(texts) - set(LOCALES) or not texts:
        raise ValueError("unknown purpose or locale")
    await ensure_default_texts(conn)
    scope_clause = ConsentText.scope_id.is_(None) if scope_id is None else ConsentText.scope_id == scope_id
    newest = (
        await conn.execute(select(func.max(ConsentText.version)).where(ConsentText.purpose == purpose, scope_clause))
    ).scalar() or 0
    if scope_id is not None and newest == 0:
        newest = (
            await conn.execute(
                select(func.max(ConsentText.version)).where(
                    ConsentText.purpose == purpose, ConsentText.scope_id.is_(None)
                )
            )
        ).scalar() or 0
    version = newest + 1
    for locale, (plain, full) in texts.items():
        await conn.execute(
            insert(ConsentText).values(
                id=new_id(),
                purpose=purpose,
                scope_id=scope_id,
                version=version,
                locale=locale,
                plain_text=plain,
                full_text=full,
                sha256=text_digest(plain, full),
                published_at=utcnow(),
            )
        )
    await audit.record(
        conn,
        "consent_text.published",
        actor_id=actor_id,
        object_type="consent_text",
        object_id=scope_id,
        purpose=purpose,
        version=version,
    )
    return version
