"""The personas the shared permission matrix does not have yet: the admin, a team's named facilitator
next to another professional, and a customer's contact person next to another professional of the
same team. Every refused attempt leaves every row of every table as it was."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from auth import consent
from auth import directory as d
from auth.sessions import create_session
from boards import protocol as p
from boards.catalogue import create_board
from boards.client import BoardClient, ClientError
from conftest import LiveServer, settings_for
from foundation.db import create_engine
from server.models import metadata
from webapp import make_client

PERSONAS = ("admin", "facilitator", "contact", "other_professional", "customer")


@dataclass
class Team:
    team: str
    board: str
    people: dict[str, str]
    tokens: dict[str, str]


async def _team(url: str) -> Team:
    engine = create_engine(url)
    async with engine.begin() as conn:
        org = await d.create_organisation(conn, "Kunta")
        team = await d.create_team(conn, "Tiimi", org)
        people = {
            "admin": await d.create_person(conn, "Aino Ylläpitäjä", is_admin=True),
            "facilitator": await d.create_person(conn, "Fanni Fasilitaattori"),
            "contact": await d.create_person(conn, "Kaisa Yhteyshenkilö"),
            "other_professional": await d.create_person(conn, "Olli Ammattilainen"),
            "customer": await d.create_person(conn, "Kalle Asiakas", email="kalle@example.fi"),
        }
        await d.add_member(conn, team, people["facilitator"], "professional", is_facilitator=True)
        await d.add_member(conn, team, people["contact"], "professional")
        await d.add_member(conn, team, people["other_professional"], "professional")
        await d.add_member(conn, team, people["customer"], "customer", contact_person_id=people["contact"])
        text = await consent.current_text(conn, "agreement", team, "fi")
        await consent.give(conn, people["customer"], "agreement", text, team_id=team)
        await consent.ensure_default_texts(conn)
        board = await create_board(conn, "Polku", "journey", team_id=team)
        tokens = {k: await create_session(conn, pid, absolute=timedelta(hours=1)) for k, pid in people.items()}
    await engine.dispose()
    return Team(team, board, people, tokens)


async def _everything(url: str) -> dict[str, list[str]]:
    engine = create_engine(url)
    out = {}
    async with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name != "auth_session":  # reading a page touches the session's last-seen time
                out[table.name] = sorted(repr(tuple(r)) for r in (await conn.execute(select(table))).all())
    await engine.dispose()
    return out


def _http_cases(team: Team) -> list[tuple[str, str, dict[str, str], dict[str, int]]]:
    """(path, method, form, status per persona). Only the contact person acts for their customer."""
    customer = team.people["customer"]
    not_admin = {"admin": 404}
    return [
        (
            f"/teams/{team.team}/members/{customer}/assisted-consent",
            "POST",
            {},
            {**not_admin, "facilitator": 403, "contact": 303, "other_professional": 403, "customer": 403},
        ),
        (
            f"/teams/{team.team}/members/{customer}/return-link",
            "POST",
            {},
            {**not_admin, "facilitator": 403, "contact": 200, "other_professional": 403, "customer": 200},
        ),
        (
            f"/boards/{team.board}/share",
            "POST",
            {},
            {**not_admin, "facilitator": 200, "contact": 200, "other_professional": 200, "customer": 403},
        ),
        (
            f"/teams/{team.team}/boards",
            "POST",
            {"title": "Uusi", "template": "journey"},
            {**not_admin, "facilitator": 303, "contact": 303, "other_professional": 303, "customer": 303},
        ),
        (
            f"/admin/teams/{team.team}/members/{team.people['other_professional']}/facilitator",
            "POST",
            {"facilitator": "yes"},
            {"admin": 303, "facilitator": 404, "contact": 404, "other_professional": 404, "customer": 404},
        ),
        (
            f"/admin/teams/{team.team}",
            "GET",
            {},
            {"admin": 200, "facilitator": 404, "contact": 404, "other_professional": 404, "customer": 404},
        ),
        (
            f"/teams/{team.team}",
            "GET",
            {},
            {"admin": 404, "facilitator": 200, "contact": 200, "other_professional": 200, "customer": 200},
        ),
        (
            f"/boards/{team.board}",
            "GET",
            {},
            {"admin": 404, "facilitator": 200, "contact": 200, "other_professional": 200, "customer": 200},
        ),
    ]


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_over_http_and_refusals_change_nothing(migrated_url: str, tmp_path: Path, persona: str) -> None:
    team = asyncio.run(_team(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        client.cookies.set("kumppani", team.tokens[persona])
        client.get("/healthz")
        csrf = client.cookies["kumppani-csrf"]
        for path, method, form, wanted in _http_cases(team):
            before = asyncio.run(_everything(migrated_url))
            if method == "POST":
                answer = client.post(path, data={"csrf": csrf, **form})
            else:
                answer = client.get(path)
            assert answer.status_code == wanted[persona], f"{persona} {method} {path}: {answer.status_code}"
            if answer.status_code >= 400:
                assert asyncio.run(_everything(migrated_url)) == before, f"{persona}'s refused {path} changed rows"


def test_only_the_contact_person_sees_the_customers_email(migrated_url: str, tmp_path: Path) -> None:
    team = asyncio.run(_team(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        for persona, sees in (("contact", True), ("facilitator", False), ("other_professional", False)):
            client.cookies.set("kumppani", team.tokens[persona])
            assert ("kalle@example.fi" in client.get(f"/teams/{team.team}").text) is sees, persona


async def _facilitation(url: str, tmp_path: Path) -> None:
    team = await _team(url)
    server = LiveServer(settings_for(url, tmp_path)).start()
    try:
        for persona in ("contact", "other_professional", "customer"):
            client = BoardClient(
                server.ws_url(team.board), cookie=f"kumppani={team.tokens[persona]}", origin=server.base
            )
            await client.connect()
            before = await _everything(url)
            for command in (p.BoardSet(locked=True), p.BoardSet(votes_revealed=True), p.BoardSet(timer_seconds=30)):
                with pytest.raises(ClientError) as refused:
                    await client.call(command)
                assert refused.value.error.code == p.ErrorCode.FORBIDDEN, (persona, command)
            assert await _everything(url) == before, f"{persona}'s refused facilitation changed something"
            # Editing stays open to every member: only facilitation follows the named facilitators.
            await client.call(p.BoardSet(title=f"Polku ({persona})"))
            await client.close()
        admin = BoardClient(server.ws_url(team.board), cookie=f"kumppani={team.tokens['admin']}", origin=server.base)
        with pytest.raises(ConnectionRefusedError):
            await admin.connect()
        assert admin.closed_code == p.CloseCode.NOT_FOUND
        facilitator = BoardClient(
            server.ws_url(team.board), cookie=f"kumppani={team.tokens['facilitator']}", origin=server.base
        )
        await facilitator.connect()
        for command in (p.BoardSet(locked=True), p.BoardSet(votes_revealed=True), p.BoardSet(timer_seconds=30)):
            await facilitator.call(command)
        await facilitator.close()
    finally:
        server.stop()


def test_named_facilitator_versus_other_members_over_the_websocket(migrated_url: str, tmp_path: Path) -> None:
    asyncio.run(_facilitation(migrated_url, tmp_path))
