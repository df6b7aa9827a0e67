"""A person's own e-mail address: optional for customers, added and removed on "my data"."""

from __future__ import annotations

import re

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth import audit
from auth.models import Person

MAX_LENGTH = 320
# Deliberately loose: one @, something before it, a dotted domain after it, no spaces. The
# address is proven by the messages that reach it, not by a pattern.
SHAPE = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")


class AddressError(ValueError):
    pass


def normalise(value: str) -> str:
    """The address as stored (trimmed, domain in lower case); AddressError if it cannot be one."""
    address = value.strip()
    if not address or len(address) > MAX_LENGTH or not SHAPE.fullmatch(address):
        raise AddressError("not an e-mail address")
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


async def set_email(conn: AsyncConnection, person_id: str, address: str | None) -> None:
    """Store or remove the address; the audit log says that it changed, not what it is."""
    await conn.execute(update(Person).where(Person.id == person_id).values(email=address))
    await audit.record(
        conn,
        "person.email_removed" if address is None else "person.email_set",
        actor_id=person_id,
        object_type="person",
        object_id=person_id,
    )
