"""What happens to a person's contributions when they leave or delete their account.

*Anonymise*: their items stay, authored by "a former participant"; their id is
removed from items, votes, reactions and the operation log. *Delete*: their items
are deleted (everyone sees them go, in real time) and their text is scrubbed from
the operation log. Either way the changes are operations with sequence numbers,
so open boards update at once and resuming clients stay consistent.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from boards import protocol as p
from boards.models import Board, Item, Operation, Reaction, Vote
from boards.system_ops import append_event, lock_board

Choice = Literal["anonymise", "delete"]
REDACTED = "redacted"


async def remove_person_from_boards(
    conn: AsyncConnection, person_id: str, board_ids: Sequence[str], choice: Choice
) -> dict[str, list[p.Event]]:
    """Apply the person's choice on these boards; returns the new events per board, to publish after commit."""
    events: dict[str, list[p.Event]] = {}
    for board_id in board_ids:
        events[board_id] = await _one_board(conn, board_id, person_id, choice)
    return {b: e for b, e in events.items() if e}


async def _one_board(conn: AsyncConnection, board_id: str, person_id: str, choice: Choice) -> list[p.Event]:
    seq, item_count = await lock_board(conn, board_id)
    op_id = f"system-{secrets.token_hex(6)}"
    events: list[p.Event] = []
    mine = (
        await conn.execute(
            select(Item.id, Item.deleted_seq, Item.version).where(
                Item.board_id == board_id, Item.author_id == person_id
            )
        )
    ).all()
    if choice == "delete":
        for item_id, deleted_seq, version in mine:
            if deleted_seq is not None:
                continue
            seq += 1
            await conn.execute(
                update(Item)
                .where(Item.id == item_id)
                .values(deleted_seq=seq, version=version + 1, updated_seq=seq, fields={}, field_meta={}, author_id=None)
            )
            item_count -= 1
            events.append(
                await append_event(
                    conn, board_id, seq, "item.deleted", item_id, {"id": item_id, "version": version + 1}, op_id
                )
            )
        already_deleted = [i for i, d, _ in mine if d is not None]
        if already_deleted:
            await conn.execute(
                update(Item).where(Item.id.in_(already_deleted)).values(fields={}, field_meta={}, author_id=None)
            )
        # The log must not keep what they wrote: their operations become "redacted".
        await conn.execute(
            update(Operation)
            .where(
                Operation.board_id == board_id,
                Operation.actor_id == person_id,
                Operation.type.in_(("item.created", "item.updated", "item.restored")),
            )
            .values(type=REDACTED, data={}, inverse=None)
        )
        for item_id, _, _ in mine:
            await conn.execute(
                update(Operation)
                .where(
                    Operation.board_id == board_id,
                    Operation.item_id == item_id,
                    Operation.type.in_(("item.created", "item.updated", "item.restored")),
                )
                .values(type=REDACTED, data={"id": item_id}, inverse=None)
            )
        reactions = (
            await conn.execute(
                select(Reaction.item_id, Reaction.emoji).where(
                    Reaction.board_id == board_id, Reaction.person_id == person_id
                )
            )
        ).all()
        await conn.execute(delete(Reaction).where(Reaction.board_id == board_id, Reaction.person_id == person_id))
        for item_id, emoji in reactions:
            seq += 1
            events.append(
                await append_event(
                    conn,
                    board_id,
                    seq,
                    "reaction.changed",
                    item_id,
                    {"id": item_id, "person": person_id, "emoji": emoji, "on": False},
                    op_id,
                )
            )
        await conn.execute(delete(Vote).where(Vote.board_id == board_id, Vote.person_id == person_id))
    else:
        await conn.execute(
            update(Item).where(Item.board_id == board_id, Item.author_id == person_id).values(author_id=None)
        )
        # Votes and reactions stay counted, under an id that points to no one.
        anonymous = f"former-{secrets.token_hex(8)}"
        await conn.execute(
            update(Vote).where(Vote.board_id == board_id, Vote.person_id == person_id).values(person_id=anonymous)
        )
        await conn.execute(
            update(Reaction)
            .where(Reaction.board_id == board_id, Reaction.person_id == person_id)
            .values(person_id=anonymous)
        )
        seq += 1
        events.append(
            await append_event(
                conn,
                board_id,
                seq,
                "author.anonymised",
                None,
                {"person": person_id, "items": [i for i, d, _ in mine if d is None]},
                op_id,
            )
        )
    # Field-level authorship and the log's actor column forget the person too.
    for item_id, meta in (await conn.execute(select(Item.id, Item.field_meta).where(Item.board_id == board_id))).all():
        if meta and any(isinstance(v, list) and len(v) > 1 and v[1] == person_id for v in meta.values()):
            cleaned = {
                k: ([v[0], None] if isinstance(v, list) and len(v) > 1 and v[1] == person_id else v)
                for k, v in meta.items()
            }
            await conn.execute(update(Item).where(Item.id == item_id).values(field_meta=cleaned))
    await conn.execute(
        update(Operation).where(Operation.board_id == board_id, Operation.actor_id == person_id).values(actor_id=None)
    )
    await _scrub_authors_in_log(conn, board_id, person_id)
    await conn.execute(update(Board).where(Board.id == board_id).values(seq=seq, item_count=item_count))
    return events


async def _scrub_authors_in_log(conn: AsyncConnection, board_id: str, person_id: str) -> None:
    """Events that embed the item (created, restored) or a person (votes, reactions) name them: remove it."""
    rows = (
        await conn.execute(
            select(Operation.seq, Operation.data).where(
                Operation.board_id == board_id,
                Operation.type.in_(("item.created", "item.restored", "vote.changed", "reaction.changed")),
            )
        )
    ).all()
    for seq, data in rows:
        changed = False
        item = data.get("item") if isinstance(data, dict) else None
        if isinstance(item, dict) and item.get("author") == person_id:
            data = {**data, "item": {**item, "author": None}}
            changed = True
        if isinstance(data, dict) and data.get("person") == person_id:
            data = {**data, "person": None}
            changed = True
        if changed:
            await conn.execute(
                update(Operation).where(Operation.board_id == board_id, Operation.seq == seq).values(data=data)
            )
