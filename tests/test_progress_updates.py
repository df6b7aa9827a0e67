"""Progress updates: the status participants follow on ideas and tests, the team's updates page,
who gets an update (those who left with the consent kept, not those who withdrew), the feed and replies."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from starlette.testclient import TestClient

from auth import consent
from auth import directory as d
from auth.models import ProgressUpdate
from auth.sessions import create_session
from boards import progress
from boards import protocol as p
from boards.catalogue import create_board
from boards.client import BoardClient, ClientError
from boards.models import Item, ProgressDelivery, ProgressLink, ProgressReply
from conftest import LiveServer, Seeded
from foundation.db import create_engine, new_id
from webapp import make_client


@dataclass
class Team:
    team: str
    board: str
    idea: str
    people: dict[str, str]
    tokens: dict[str, str]


async def _team(url: str) -> Team:
    """A team with a professional and three customers: one keeps the progress consent and will leave,
    one withdraws it, one never gives it. One idea on the team's board."""
    engine = create_engine(url)
    async with engine.begin() as conn:
        org = await d.create_organisation(conn, "Kunta")
        team = await d.create_team(conn, "Kotihoito", org)
        other = await d.create_team(conn, "Toinen tiimi", org)
        people = {
            "professional": await d.create_person(conn, "Paula Ammattilainen", organisation_id=org),
            "leaver": await d.create_person(conn, "Liisa Lähtijä"),
            "withdrawer": await d.create_person(conn, "Veikko Peruja"),
            "silent": await d.create_person(conn, "Sanna Hiljainen"),
            "outsider": await d.create_person(conn, "Ulla Ulkopuolinen", organisation_id=org),
        }
        await d.add_member(conn, team, people["professional"], "professional")
        await d.add_member(conn, other, people["outsider"], "professional")
        for who in ("leaver", "withdrawer", "silent"):
            await d.add_member(conn, team, people[who], "customer", contact_person_id=people["professional"])
            text = await consent.current_text(conn, "agreement", team, "fi")
            await consent.give(conn, people[who], "agreement", text, team_id=team)
        board = await create_board(conn, "Ideat", "ideas", team_id=team)
        idea = new_id()
        seq = 1 + int((await conn.execute(select(func.count()).select_from(Item))).scalar_one())
        await conn.execute(
            insert(Item).values(
                id=idea,
                board_id=board,
                type="idea",
                order_key="a0",
                fields={"title": "Soittoaika iltaisin", "progress": "in_practice"},
                created_seq=seq,
                updated_seq=seq,
            )
        )
        tokens = {who: await create_session(conn, pid, absolute=timedelta(hours=1)) for who, pid in people.items()}
    await engine.dispose()
    return Team(team, board, idea, people, tokens)


async def _query(url: str, statement: Any) -> list[Any]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        rows = list((await conn.execute(statement)).all())
    await engine.dispose()
    return rows


def _post(client: TestClient, crew: Team, who: str, path: str, data: dict[str, Any]) -> Any:
    client.cookies.set("kumppani", crew.tokens[who])
    client.get("/healthz")
    return client.post(path, data={"csrf": str(client.cookies["kumppani-csrf"]), **data})


def _get(client: TestClient, crew: Team, who: str, path: str) -> Any:
    client.cookies.set("kumppani", crew.tokens[who])
    return client.get(path)


async def _new_session(url: str, person_id: str) -> str:
    engine = create_engine(url)
    async with engine.begin() as conn:
        token = await create_session(conn, person_id, absolute=timedelta(hours=1))
    await engine.dispose()
    return token


def test_an_update_reaches_who_left_with_the_consent_and_not_who_withdrew(migrated_url: str, tmp_path: Path) -> None:
    crew = asyncio.run(_team(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        for who in ("leaver", "withdrawer"):
            assert _post(client, crew, who, "/me/consents/progress_email", {"give": "yes"}).status_code == 303
        assert _post(client, crew, "withdrawer", "/me/consents/progress_email", {"give": "no"}).status_code == 303
        left = _post(client, crew, "leaver", f"/me/leave/{crew.team}", {"contributions": "anonymise"})
        assert left.status_code == 200
        # Leaving her last team ended her sessions but kept the consent as she chose it.
        leaver = crew.people["leaver"]
        assert asyncio.run(_optional(migrated_url, leaver))["progress_email"] is True

        page = _get(client, crew, "professional", f"/teams/{crew.team}/updates")
        assert page.status_code == 200
        assert "Soittoaika iltaisin" in page.text and "Viedään käytäntöön" in page.text

        sent = _post(
            client,
            crew,
            "professional",
            f"/teams/{crew.team}/updates",
            {"title": "Illat kokeiluun", "body": "Ehdotuksenne otetaan käyttöön.", "items": [crew.idea]},
        )
        assert sent.status_code == 303
        delivered = {row[0] for row in asyncio.run(_query(migrated_url, select(ProgressDelivery.person_id)))}
        # Today's members who did not withdraw, and the one who left with the consent kept.
        names = {person: who for who, person in crew.people.items()}
        assert {names[person] for person in delivered} == {"leaver", "professional", "silent"}
        assert crew.people["withdrawer"] not in delivered

        crew.tokens["leaver"] = asyncio.run(_new_session(migrated_url, leaver))
        home = _get(client, crew, "leaver", "/")
        assert home.status_code == 200
        assert "Lukemattomia 1" in home.text and "Illat kokeiluun" in home.text
        feed = _get(client, crew, "leaver", "/updates")
        assert "Ehdotuksenne otetaan käyttöön." in feed.text and "Viedään käytäntöön" in feed.text
        assert "Lukemattomia" not in _get(client, crew, "leaver", "/").text
        update_id = asyncio.run(_query(migrated_url, select(ProgressUpdate.id)))[0][0]
        replied = _post(client, crew, "leaver", f"/updates/{update_id}/replies", {"body": "Hienoa, kiitos!"})
        assert replied.status_code == 303

        team_page = _get(client, crew, "professional", f"/teams/{crew.team}/updates")
        assert "Hienoa, kiitos!" in team_page.text and "Liisa Lähtijä" in team_page.text
        # The one who withdrew sees nothing and cannot reply.
        assert "Illat kokeiluun" not in _get(client, crew, "withdrawer", "/updates").text
        refused = _post(client, crew, "withdrawer", f"/updates/{update_id}/replies", {"body": "Minäkin"})
        assert refused.status_code == 404
        assert len(asyncio.run(_query(migrated_url, select(ProgressReply.id)))) == 1


async def _optional(url: str, person_id: str) -> dict[str, bool]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        choices = await consent.optional_choices(conn, person_id)
    await engine.dispose()
    return choices


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"title": " ", "body": "Tekstiä"}, "Kirjoita tiedotteelle otsikko ja teksti."),
        ({"title": "Otsikko", "body": ""}, "Kirjoita tiedotteelle otsikko ja teksti."),
        ({"title": "x" * 201, "body": "Tekstiä"}, "Teksti on liian pitkä."),
        ({"title": "Otsikko", "body": "Tekstiä", "items": ["not-an-item"]}, "Valittua ideaa tai kokeilua ei löydy"),
    ],
)
def test_a_bad_update_is_refused_with_a_clear_error_and_writes_nothing(
    migrated_url: str, tmp_path: Path, data: dict[str, Any], message: str
) -> None:
    crew = asyncio.run(_team(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        refused = _post(client, crew, "professional", f"/teams/{crew.team}/updates", data)
        assert refused.status_code == 400
        assert re.search(r'role="alert"[^>]*>' + re.escape(message), refused.text)
        for table in (ProgressUpdate.id, ProgressDelivery.person_id, ProgressLink.item_id):
            assert asyncio.run(_query(migrated_url, select(table))) == []


def test_only_the_team_reads_and_writes_its_updates(migrated_url: str, tmp_path: Path) -> None:
    crew = asyncio.run(_team(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        assert _get(client, crew, "outsider", f"/teams/{crew.team}/updates").status_code == 404
        data = {"title": "Otsikko", "body": "Tekstiä"}
        assert _post(client, crew, "outsider", f"/teams/{crew.team}/updates", data).status_code == 404
        client.cookies.clear()
        assert client.get(f"/teams/{crew.team}/updates").status_code == 303
        # Without the form's CSRF token nothing is written.
        client.cookies.set("kumppani", crew.tokens["professional"])
        assert client.post(f"/teams/{crew.team}/updates", data=data).status_code in (400, 403)
        assert asyncio.run(_query(migrated_url, select(ProgressUpdate.id))) == []


def test_the_latest_update_of_a_team_is_the_newest(migrated_url: str, tmp_path: Path) -> None:
    crew = asyncio.run(_team(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        for title in ("Ensimmäinen", "Toinen"):
            data = {"title": title, "body": "Tekstiä"}
            assert _post(client, crew, "professional", f"/teams/{crew.team}/updates", data).status_code == 303

        async def latest() -> str | None:
            engine = create_engine(migrated_url)
            async with engine.connect() as conn:
                found = await progress.latest_update(conn, crew.team)
            await engine.dispose()
            return found.title if found else None

        assert asyncio.run(latest()) == "Toinen"


async def _status_over_websocket(server: LiveServer, seeded: Seeded, url: str) -> None:
    client = BoardClient(server.ws_url(seeded.board), cookie=seeded.cookie("professional"), origin=server.base)
    await client.connect()
    try:
        idea = new_id()
        await client.call(
            p.ItemCreate(id=idea, item_type="idea", fields={"title": "Ilta-ajat"}, stage=seeded.stage, lane=seeded.lane)
        )
        await client.call(p.ItemUpdate(id=idea, fields={"progress": "in_practice"}))
        for fields in ({"progress": "not_taken_forward"}, {"progress": "not_taken_forward", "progress_reason": "  "}):
            with pytest.raises(ClientError) as refused:
                await client.call(p.ItemUpdate(id=idea, fields=fields))
            assert refused.value.error.code == p.ErrorCode.MISSING_FIELD
            assert "progress_reason" in refused.value.error.message
        with pytest.raises(ClientError) as unknown:
            await client.call(p.ItemUpdate(id=idea, fields={"progress": "done"}))
        assert unknown.value.error.code == p.ErrorCode.BAD_FIELD
        stored = await _query(url, select(Item.fields).where(Item.id == idea))
        assert stored[0][0]["progress"] == "in_practice"
        reason = "Rahoitus ei riitä tänä vuonna."
        await client.call(p.ItemUpdate(id=idea, fields={"progress": "not_taken_forward", "progress_reason": reason}))
        stored = await _query(url, select(Item.fields).where(Item.id == idea))
        assert stored[0][0]["progress"] == "not_taken_forward" and stored[0][0]["progress_reason"] == reason
    finally:
        await client.close()


async def test_progress_is_a_fixed_vocabulary_and_not_taken_forward_needs_a_reason(
    live: LiveServer, seeded: Seeded, migrated_url: str
) -> None:
    await _status_over_websocket(live, seeded, migrated_url)


def test_erasing_an_account_removes_its_feed_its_mail_and_its_name_from_replies(
    migrated_url: str, tmp_path: Path
) -> None:
    from auth.models import MailOutbox, Person
    from boards import departures

    crew = asyncio.run(_team(migrated_url))
    leaver = crew.people["leaver"]

    async def give_address() -> None:
        engine = create_engine(migrated_url)
        async with engine.begin() as conn:
            await conn.execute(Person.__table__.update().where(Person.id == leaver).values(email="liisa@example.org"))
        await engine.dispose()

    asyncio.run(give_address())
    with make_client(migrated_url, tmp_path, KUMPPANI_SMTP_HOST="127.0.0.1", KUMPPANI_SMTP_PORT="9") as client:
        _post(client, crew, "leaver", "/me/consents/progress_email", {"give": "yes"})
        data = {"title": "Illat", "body": "Tekstiä"}
        assert _post(client, crew, "professional", f"/teams/{crew.team}/updates", data).status_code == 303
        update_id = asyncio.run(_query(migrated_url, select(ProgressUpdate.id)))[0][0]
        assert _post(client, crew, "leaver", f"/updates/{update_id}/replies", {"body": "Kiitos"}).status_code == 303

    async def erase() -> None:
        engine = create_engine(migrated_url)
        async with engine.begin() as conn:
            await departures.erase_account(conn, leaver, "anonymise", actor_id=leaver, reason="own wish")
        await engine.dispose()

    asyncio.run(erase())
    assert asyncio.run(_query(migrated_url, select(MailOutbox.id).where(MailOutbox.person_id == leaver))) == []
    assert (
        asyncio.run(
            _query(migrated_url, select(ProgressDelivery.person_id).where(ProgressDelivery.person_id == leaver))
        )
        == []
    )
    replies = asyncio.run(_query(migrated_url, select(ProgressReply.person_id, ProgressReply.body)))
    assert replies == [(None, "Kiitos")]
