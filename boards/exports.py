"""Exports: everything we hold about one person ("My data")."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from auth import consent
from auth.models import ConsentText, Membership, Person, Team
from boards.models import Board, Item, Reaction, Vote


async def personal_export(conn: AsyncConnection, person_id: str) -> dict[str, Any]:
    """The person's own data and writings, and no one else's personal data."""
    person = (
        await conn.execute(
            select(Person.display_name, Person.email, Person.phone, Person.locale, Person.created_at).where(
                Person.id == person_id
            )
        )
    ).first()
    assert person is not None
    contact = Person.__table__.alias("contact")
    memberships = (
        await conn.execute(
            select(Team.name, Membership.role, Membership.joined_at, contact.c.display_name.label("contact"))
            .join(Membership, Membership.team_id == Team.id)
            .outerjoin(contact, contact.c.id == Membership.contact_person_id)
            .where(Membership.person_id == person_id)
        )
    ).all()
    history = await consent.records(conn, person_id)
    texts = (
        {
            row.id: row
            for row in (
                await conn.execute(select(ConsentText).where(ConsentText.id.in_({r.text_id for r in history})))
            ).all()
        }
        if history
        else {}
    )
    items = (
        await conn.execute(
            select(Item.id, Item.type, Item.fields, Item.created_at, Item.deleted_seq, Board.title)
            .join(Board, Board.id == Item.board_id)
            .where(Item.author_id == person_id)
            .order_by(Item.created_at)
        )
    ).all()
    votes = (
        await conn.execute(
            select(Vote.item_id, Vote.count, Board.title)
            .join(Board, Board.id == Vote.board_id)
            .where(Vote.person_id == person_id)
        )
    ).all()
    reactions = (
        await conn.execute(
            select(Reaction.item_id, Reaction.emoji, Board.title)
            .join(Board, Board.id == Reaction.board_id)
            .where(Reaction.person_id == person_id)
        )
    ).all()
    return {
        "profile": {
            "display_name": person.display_name,
            "email": person.email,
            "phone": person.phone,
            "language": person.locale,
            "created_at": person.created_at.isoformat(),
        },
        "memberships": [
            {"team": m.name, "role": m.role, "joined_at": m.joined_at.isoformat(), "contact_person": m.contact}
            for m in memberships
        ],
        "consents": [
            {
                "purpose": r.purpose,
                "given": r.given,
                "method": r.method,
                "version": r.version,
                "language": r.locale,
                "at": r.at.isoformat(),
                "text_sha256": texts[r.text_id].sha256 if r.text_id in texts else None,
                "text": texts[r.text_id].plain_text if r.text_id in texts else None,
            }
            for r in history
        ],
        "writings": [
            {
                "board": i.title,
                "type": i.type,
                "fields": i.fields,
                "created_at": i.created_at.isoformat(),
                "deleted": i.deleted_seq is not None,
            }
            for i in items
        ],
        "votes": [{"board": v.title, "item": v.item_id, "count": v.count} for v in votes],
        "reactions": [{"board": r.title, "item": r.item_id, "emoji": r.emoji} for r in reactions],
    }
