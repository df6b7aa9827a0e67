"""A form post needs this browser's own CSRF token: a missing, foreign or cookie-less one is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from boards.models import Board
from conftest import Seeded
from foundation.db import create_engine
from webapp import csrf_of, make_client, sign_in_as


async def _boards(url: str) -> int:
    engine = create_engine(url)
    async with engine.connect() as conn:
        count = int((await conn.execute(select(func.count()).select_from(Board))).scalar() or 0)
    await engine.dispose()
    return count


@pytest.mark.parametrize("token", ["missing", "another browser's", "empty", "without the cookie"])
def test_a_post_without_this_browsers_token_is_refused_and_changes_nothing(
    migrated_url: str, seeded: Seeded, tmp_path: Path, token: str
) -> None:
    boards = asyncio.run(_boards(migrated_url))
    path = f"/teams/{seeded.team}/boards"
    with make_client(migrated_url, tmp_path) as other_browser:
        foreign = csrf_of(other_browser)
    with make_client(migrated_url, tmp_path) as client:
        sign_in_as(client, seeded.tokens["professional"])
        own = csrf_of(client, f"/teams/{seeded.team}")
        assert foreign != own
        sent = {"missing": None, "another browser's": foreign, "empty": "", "without the cookie": own}[token]
        if token == "without the cookie":
            client.cookies.delete("kumppani-csrf")
        data = {"title": "Uusi taulu", "template": "blank"} | ({} if sent is None else {"csrf": sent})
        assert client.post(path, data=data).status_code == 403
    assert asyncio.run(_boards(migrated_url)) == boards


def test_a_post_with_this_browsers_token_goes_through(migrated_url: str, seeded: Seeded, tmp_path: Path) -> None:
    boards = asyncio.run(_boards(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        sign_in_as(client, seeded.tokens["professional"])
        own = csrf_of(client, f"/teams/{seeded.team}")
        created = client.post(f"/teams/{seeded.team}/boards", data={"csrf": own, "title": "Uusi", "template": "blank"})
        assert created.status_code == 303
    assert asyncio.run(_boards(migrated_url)) == boards + 1
