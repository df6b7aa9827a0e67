"""The mail outbox: messages stored in the caller's transaction, sent later by the sender worker.

A message is a row with its full text and a fixed Message-ID, so a restart loses
nothing and a resend (after a failure) is the same message. Failures back off
exponentially; after ``MAX_ATTEMPTS`` the row stays, with its last error, unsent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.models import MailOutbox
from foundation.db import new_id, utcnow

MAX_ATTEMPTS = 12
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class Pending:
    id: str
    recipient: str
    message: str
    attempts: int


async def enqueue(conn: AsyncConnection, person_id: str | None, message: EmailMessage) -> str:
    """Store a ready message (it must carry To and Message-ID); returns the outbox row's id."""
    row_id = new_id()
    await conn.execute(
        insert(MailOutbox).values(
            id=row_id,
            person_id=person_id,
            recipient=str(message["To"]),
            message_id=str(message["Message-ID"]),
            message=message.as_string(),
            attempts=0,
            next_attempt_at=utcnow(),
            created_at=utcnow(),
        )
    )
    return row_id


async def claim_next(conn: AsyncConnection) -> Pending | None:
    """The oldest message due, locked for this transaction (another process skips it).

    The lock lasts while the caller sends; if the process dies, the lock goes with its
    connection and the row is still unsent for the next worker.
    """
    row = (
        await conn.execute(
            select(MailOutbox.id, MailOutbox.recipient, MailOutbox.message, MailOutbox.attempts)
            .where(
                MailOutbox.sent_at.is_(None),
                MailOutbox.attempts < MAX_ATTEMPTS,
                MailOutbox.next_attempt_at <= utcnow(),
            )
            .order_by(MailOutbox.next_attempt_at, MailOutbox.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
    ).first()
    return Pending(row.id, row.recipient, row.message, row.attempts) if row else None


async def mark_sent(conn: AsyncConnection, row_id: str) -> None:
    """Sent: the row keeps its Message-ID and times, not the address or the text (kept no longer than needed)."""
    await conn.execute(
        update(MailOutbox)
        .where(MailOutbox.id == row_id)
        .values(sent_at=utcnow(), last_error=None, recipient="", message="")
    )


def backoff(attempts: int) -> timedelta:
    """The wait after the given number of failed attempts: 30 s, 1 min, 2 min … at most 6 h."""
    wait: timedelta = FIRST_RETRY * 2 ** max(attempts - 1, 0)
    return min(wait, LONGEST_RETRY)


async def mark_failed(conn: AsyncConnection, pending: Pending, error: str) -> None:
    attempts = pending.attempts + 1
    await conn.execute(
        update(MailOutbox)
        .where(MailOutbox.id == pending.id)
        .values(attempts=attempts, next_attempt_at=utcnow() + backoff(attempts), last_error=error[:300])
    )
