"""The audit log: who changed roles, invites, consents, exports and deletions. Append-only, no content."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.models import AuditEvent
from foundation.db import utcnow


async def record(
    conn: AsyncConnection,
    action: str,
    *,
    actor_id: str | None,
    object_type: str,
    object_id: str | None,
    team_id: str | None = None,
    **details: Any,
) -> None:
    await conn.execute(
        insert(AuditEvent).values(
            at=utcnow(),
            actor_id=actor_id,
            action=action,
            object_type=object_type,
            object_id=object_id,
            team_id=team_id,
            details=details,
        )
    )
