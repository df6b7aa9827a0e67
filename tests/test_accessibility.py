"""The accessibility statement's feedback form: a ticket due in 14 days, plain errors, no identity codes."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from auth.models import AccessibilityFeedback
from foundation.db import create_engine
from webapp import csrf_of, make_client


async def _tickets(url: str) -> list[tuple[str, object, object]]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(AccessibilityFeedback.message, AccessibilityFeedback.created_at, AccessibilityFeedback.due_at)
            )
        ).all()
    await engine.dispose()
    return [tuple(r) for r in rows]


def test_feedback_creates_a_ticket_due_in_fourteen_days(migrated_url: str, tmp_path: Path) -> None:
    with make_client(migrated_url, tmp_path) as client:
        page = client.get("/accessibility")
        assert page.status_code == 200
        assert client.get("/saavutettavuusseloste").headers["location"] == "/accessibility"
        csrf = csrf_of(client, "/accessibility")
        sent = client.post("/accessibility/feedback", data={"csrf": csrf, "message": "Painike on liian pieni."})
        assert sent.status_code == 303 and sent.headers["location"] == "/accessibility/thanks"
    [(message, created, due)] = asyncio.run(_tickets(migrated_url))
    assert message == "Painike on liian pieni." and due - created == timedelta(days=14)  # type: ignore[operator]


def test_empty_or_identity_code_feedback_is_refused_plainly(migrated_url: str, tmp_path: Path) -> None:
    with make_client(migrated_url, tmp_path) as client:
        csrf = csrf_of(client, "/accessibility")
        assert client.post("/accessibility/feedback", data={"csrf": csrf, "message": " "}).status_code == 400
        refused = client.post("/accessibility/feedback", data={"csrf": csrf, "message": "Olen 131052-308T"})
        assert refused.status_code == 400 and "131052-308T" not in refused.text
        assert client.post("/accessibility/feedback", data={"message": "ilman lomakeavainta"}).status_code == 403
    assert asyncio.run(_tickets(migrated_url)) == []
