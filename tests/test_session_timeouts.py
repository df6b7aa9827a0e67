"""Session timeouts, enforced by the server with its own settings, over HTTP and the websocket.

The session is made by signing in through the server (so its end comes from the
server's absolute limit), then aged in the database: as if it had been idle, or
in use for longer than the absolute limit. Non-default limits show that the
server reads its settings rather than a constant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from auth.directory import add_local_account
from auth.models import AuthSession
from auth.sessions import token_hash
from boards import protocol as p
from boards.client import BoardClient
from conftest import LiveServer, Seeded, settings_for
from foundation.db import create_engine, utcnow
from webapp import csrf_of, make_client

IDLE = timedelta(minutes=20)
ABSOLUTE = timedelta(hours=3)
LIMITS = {"KUMPPANI_SESSION_IDLE_MINUTES": "20", "KUMPPANI_SESSION_ABSOLUTE_HOURS": "3"}
MINUTE = timedelta(minutes=1)


def _sign_in(url: str, seeded: Seeded, tmp_path: Path) -> str:
    """A session as the server makes it: the professional signs in with a password."""

    async def account() -> None:
        engine = create_engine(url)
        async with engine.begin() as conn:
            await add_local_account(conn, seeded.professional, "paula", "oikein-hyva-salasana")
        await engine.dispose()

    asyncio.run(account())
    with make_client(url, tmp_path, **LIMITS) as client:
        csrf = csrf_of(client)
        signed_in = client.post("/signin", data={"csrf": csrf, "username": "paula", "password": "oikein-hyva-salasana"})
        assert signed_in.status_code == 303
        token = client.cookies.get("kumppani")
    assert token
    return token


def _age(url: str, token: str, *, idle: timedelta, in_use: timedelta) -> None:
    """Make the session look ``in_use`` old (created and its end moved back) and last used ``idle`` ago."""

    async def age() -> None:
        engine = create_engine(url)
        async with engine.begin() as conn:
            mine = AuthSession.token_hash == token_hash(token)
            created, expires = (
                await conn.execute(select(AuthSession.created_at, AuthSession.expires_at).where(mine))
            ).one()
            values = {"created_at": created - in_use, "expires_at": expires - in_use, "last_seen_at": utcnow() - idle}
            await conn.execute(update(AuthSession).where(mine).values(**values))
        await engine.dispose()

    asyncio.run(age())


AGES = {
    "idle just under the limit": (IDLE - MINUTE, timedelta(), True),
    "idle past the limit": (IDLE + MINUTE, timedelta(), False),
    "in use just under the absolute limit": (MINUTE, ABSOLUTE - 2 * MINUTE, True),
    "in use past the absolute limit": (MINUTE, ABSOLUTE + MINUTE, False),
}


@pytest.mark.parametrize("age", AGES)
def test_http_honours_the_servers_idle_and_absolute_limits(
    migrated_url: str, seeded: Seeded, tmp_path: Path, age: str
) -> None:
    idle, in_use, alive = AGES[age]
    token = _sign_in(migrated_url, seeded, tmp_path)
    _age(migrated_url, token, idle=idle, in_use=in_use)
    with make_client(migrated_url, tmp_path, **LIMITS) as client:
        client.cookies.set("kumppani", token)
        home = client.get("/")
    if alive:
        assert home.status_code == 200
    else:
        assert home.status_code == 303 and home.headers["location"] == "/signin"


@pytest.fixture
def limited_live(migrated_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(settings_for(migrated_url, tmp_path, **LIMITS)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("age", AGES)
async def test_the_websocket_honours_the_servers_idle_and_absolute_limits(
    migrated_url: str, seeded: Seeded, tmp_path: Path, limited_live: LiveServer, age: str
) -> None:
    idle, in_use, alive = AGES[age]
    token = await asyncio.to_thread(_sign_in, migrated_url, seeded, tmp_path)
    await asyncio.to_thread(_age, migrated_url, token, idle=idle, in_use=in_use)
    client = BoardClient(limited_live.ws_url(seeded.board), cookie=f"kumppani={token}", origin=limited_live.base)
    if alive:
        await client.connect()
        assert client.connected
        await client.close()
    else:
        with pytest.raises(ConnectionRefusedError):
            await client.connect()
        assert client.closed_code == p.CloseCode.UNAUTHENTICATED
