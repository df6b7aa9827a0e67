"""Ending a session from the sessions page: one's own ends; anyone else's is refused, and says so."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from auth.models import AuthSession
from auth.sessions import create_session, resolve_session
from conftest import Seeded
from foundation.db import create_engine
from webapp import csrf_of, make_client, sign_in_as


async def _second_session(url: str, person: str) -> tuple[str, str]:
    """Another session of ``person``: (its id, its token)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            token = await create_session(conn, person, absolute=timedelta(hours=1))
            info = await resolve_session(conn, token, idle=timedelta(hours=1))
    finally:
        await engine.dispose()
    assert info is not None
    return info.session_id, token


async def _ended(url: str, session_id: str) -> bool:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            ended = (await conn.execute(select(AuthSession.ended_at).where(AuthSession.id == session_id))).scalar()
    finally:
        await engine.dispose()
    return ended is not None


def test_ending_someone_elses_session_is_refused_and_says_so(migrated_url: str, seeded: Seeded, tmp_path: Path) -> None:
    theirs, _ = asyncio.run(_second_session(migrated_url, seeded.customer))
    mine, _ = asyncio.run(_second_session(migrated_url, seeded.professional))
    with make_client(migrated_url, tmp_path) as client:
        sign_in_as(client, seeded.tokens["professional"])
        csrf = csrf_of(client, "/account/sessions")
        refused = client.post(f"/account/sessions/{theirs}/end", data={"csrf": csrf})
        assert refused.status_code == 404
        assert "Mitään ei muutettu" in refused.text
        assert not asyncio.run(_ended(migrated_url, theirs))
        unknown = client.post(f"/account/sessions/{'0' * 32}/end", data={"csrf": csrf})
        assert unknown.status_code == 404
        ended = client.post(f"/account/sessions/{mine}/end", data={"csrf": csrf})
        assert ended.status_code == 303 and ended.headers["location"] == "/account/sessions"
        assert asyncio.run(_ended(migrated_url, mine))
        again = client.post(f"/account/sessions/{mine}/end", data={"csrf": csrf})
        assert again.status_code == 404  # already ended: not "done" a second time
