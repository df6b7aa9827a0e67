"""Invite links: scanners never use them up, bad links explain themselves, redemption is atomic."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from auth import invites
from auth.models import AuthSession, Invite, Membership, Person
from conftest import Seeded
from foundation.db import create_engine, utcnow
from webapp import csrf_of, make_client

KEYS = ("test-secret-key-" + "x" * 32,)


async def _invite(url: str, seeded: Seeded, role: str = "customer", **kwargs: object) -> str:
    engine = create_engine(url)
    async with engine.begin() as conn:
        token = await invites.create_invite(
            conn,
            KEYS,
            team_id=seeded.team,
            role=role,
            created_by=seeded.professional,
            contact_person_id=seeded.professional if role == "customer" else None,
            **kwargs,
        )  # type: ignore[arg-type]
    await engine.dispose()
    return token


async def _count(url: str, model: type) -> int:
    engine = create_engine(url)
    async with engine.connect() as conn:
        n = (await conn.execute(select(func.count()).select_from(model))).scalar()
    await engine.dispose()
    return int(n or 0)


async def _set_invite(url: str, **values: object) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(update(Invite).values(**values))
    await engine.dispose()


def test_scanners_opening_the_link_do_not_use_it(migrated_url: str, seeded: Seeded, tmp_path: Path) -> None:
    token = asyncio.run(_invite(migrated_url, seeded))
    with make_client(migrated_url, tmp_path) as client:
        for _ in range(3):
            page = client.get(f"/invite/{token}")
            assert page.status_code == 200
            assert "Paula Ammattilainen" in page.text  # the contact person is named on the invite
        assert client.head(f"/invite/{token}").status_code == 200
        assert page.headers["referrer-policy"] == "no-referrer"
        people_before = asyncio.run(_count(migrated_url, Person))
        csrf = csrf_of(client, f"/invite/{token}")
        joined = client.post(f"/invite/{token}", data={"csrf": csrf, "display_name": "Kaisa"})
        # A customer reads the participation agreement before anything else.
        assert joined.status_code == 303
        assert joined.headers["location"].startswith(f"/teams/{seeded.team}/agreement")
        assert "kumppani" in joined.cookies or "kumppani=" in joined.headers.get("set-cookie", "")
    assert asyncio.run(_count(migrated_url, Person)) == people_before + 1


@pytest.mark.parametrize("kind", ["tampered", "unknown"])
def test_tampered_or_unknown_link_is_400_with_a_plain_page(
    migrated_url: str, seeded: Seeded, tmp_path: Path, kind: str
) -> None:
    from auth.tokens import make_token

    token = asyncio.run(_invite(migrated_url, seeded))
    bad = (
        token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
        if kind == "tampered"
        else make_token(KEYS, "invite")
    )
    with make_client(migrated_url, tmp_path) as client:
        page = client.get(f"/invite/{bad}")
        assert page.status_code == 400
        assert "pyydä uusi yhteyshenkilöltäsi" in page.text
        csrf = csrf_of(client)
        assert client.post(f"/invite/{bad}", data={"csrf": csrf}).status_code == 400
        assert "kumppani" not in client.cookies
    assert asyncio.run(_count(migrated_url, AuthSession)) == len(seeded.tokens)  # only the seeded ones


@pytest.mark.parametrize("kind", ["expired", "used", "revoked"])
def test_expired_used_or_revoked_link_is_410_and_creates_nothing(
    migrated_url: str, seeded: Seeded, tmp_path: Path, kind: str
) -> None:
    token = asyncio.run(_invite(migrated_url, seeded))
    change = {
        "expired": {"expires_at": utcnow() - timedelta(seconds=1)},
        "used": {"uses": 1},
        "revoked": {"revoked_at": utcnow()},
    }[kind]
    asyncio.run(_set_invite(migrated_url, **change))
    people = asyncio.run(_count(migrated_url, Person))
    with make_client(migrated_url, tmp_path) as client:
        assert client.get(f"/invite/{token}").status_code == 410
        csrf = csrf_of(client)
        page = client.post(f"/invite/{token}", data={"csrf": csrf, "display_name": "X"})
        assert page.status_code == 410 and "Kutsulinkki" in page.text
    assert asyncio.run(_count(migrated_url, Person)) == people
    assert asyncio.run(_count(migrated_url, AuthSession)) == len(seeded.tokens)


def test_a_customer_link_works_once(migrated_url: str, seeded: Seeded, tmp_path: Path) -> None:
    token = asyncio.run(_invite(migrated_url, seeded))
    memberships = asyncio.run(_count(migrated_url, Membership))
    with make_client(migrated_url, tmp_path) as client:
        csrf = csrf_of(client, f"/invite/{token}")
        assert client.post(f"/invite/{token}", data={"csrf": csrf}).status_code == 303
    with make_client(migrated_url, tmp_path) as other:
        csrf = csrf_of(other)
        assert other.post(f"/invite/{token}", data={"csrf": csrf}).status_code == 410
    assert asyncio.run(_count(migrated_url, Membership)) == memberships + 1


def test_post_without_csrf_token_changes_nothing(migrated_url: str, seeded: Seeded, tmp_path: Path) -> None:
    token = asyncio.run(_invite(migrated_url, seeded))
    memberships = asyncio.run(_count(migrated_url, Membership))
    with make_client(migrated_url, tmp_path) as client:
        client.get("/signin")
        assert client.post(f"/invite/{token}", data={"display_name": "X"}).status_code == 403
        csrf = csrf_of(client)
        cross = client.post(f"/invite/{token}", data={"csrf": csrf}, headers={"Origin": "https://evil.example"})
        assert cross.status_code == 403
    assert asyncio.run(_count(migrated_url, Membership)) == memberships


def test_customer_invite_needs_a_contact_person(migrated_url: str, seeded: Seeded) -> None:
    async def attempt() -> None:
        engine = create_engine(migrated_url)
        try:
            async with engine.begin() as conn:
                await invites.create_invite(
                    conn,
                    KEYS,
                    team_id=seeded.team,
                    role="customer",
                    created_by=seeded.professional,
                    contact_person_id=None,
                )
        finally:
            await engine.dispose()

    with pytest.raises(ValueError, match="contact person"):
        asyncio.run(attempt())


def test_invite_token_never_reaches_the_logs(
    migrated_url: str, seeded: Seeded, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from server.logs import configure_logging

    token = asyncio.run(_invite(migrated_url, seeded))
    configure_logging("DEBUG", json_lines=True)
    handler = logging.getLogger().handlers[0]
    records: list[str] = []
    capture = logging.Handler()
    capture.emit = lambda record: records.append(handler.format(record))  # type: ignore[method-assign]
    for f in handler.filters:
        capture.addFilter(f)
    logging.getLogger().addHandler(capture)
    try:
        with make_client(migrated_url, tmp_path) as client:
            client.get(f"/invite/{token}")
            logging.getLogger("uvicorn.access").info('%s - "GET %s HTTP/1.1" %d', "127.0.0.1", f"/invite/{token}", 200)
    finally:
        root = logging.getLogger()
        root.handlers[:] = []
        root.setLevel(logging.WARNING)
    assert records, "nothing was logged"
    assert not any(token in line for line in records)
    assert any("/invite/[redacted]" in line for line in records)
