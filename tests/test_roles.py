"""Roles that hold: named facilitators, publishing by professionals only, and what happens to a
professional's customers and invites when the professional is removed, leaves, is disabled or erased."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from auth import directory as d
from auth import roles
from auth.invites import InviteError, create_invite, redeem
from auth.models import AuditEvent, Invite, Membership, Notification, Person, Team
from auth.sessions import create_session
from boards import protocol as p
from boards.catalogue import board_for_share, create_board
from boards.client import BoardClient, ClientError
from boards.models import Board
from conftest import LiveServer, settings_for
from foundation.db import create_engine, utcnow
from server.timefmt import format_date
from webapp import make_client

KEYS = ("test-secret-key-" + "x" * 32,)


@dataclass
class Crew:
    """A team in a round with two professionals (one the named facilitator), a customer of the first,
    a coach of the programme and an admin; one open customer invite by the first professional."""

    team: str
    board: str
    people: dict[str, str]
    tokens: dict[str, str]
    invite_token: str


async def _crew(url: str, *, facilitator: bool = True) -> Crew:
    engine = create_engine(url)
    async with engine.begin() as conn:
        org = await d.create_organisation(conn, "Kunta")
        programme = await d.create_programme(conn, "Valmennus", org)
        round_id = await d.create_round(conn, programme, "Kierros 1")
        team = await d.create_team(conn, "Kotihoito", org, round_id)
        names = {
            "facilitator": "Fanni Fasilitaattori",
            "professional": "Pekka Ammattilainen",
            "customer": "Kalle Asiakas",
            "coach": "Veera Valmentaja",
            "admin": "Aino Ylläpitäjä",
        }
        people = {key: await d.create_person(conn, name, is_admin=key == "admin") for key, name in names.items()}
        await d.add_member(conn, team, people["facilitator"], "professional", is_facilitator=facilitator)
        await d.add_member(conn, team, people["professional"], "professional")
        await d.add_member(conn, team, people["customer"], "customer", contact_person_id=people["facilitator"])
        await d.add_programme_coach(conn, programme, people["coach"])
        from auth import consent

        text = await consent.current_text(conn, "agreement", team, "fi")
        await consent.give(conn, people["customer"], "agreement", text, team_id=team)
        board = await create_board(conn, "Polku", "journey", team_id=team)
        invite = await create_invite(
            conn,
            KEYS,
            team_id=team,
            role="customer",
            created_by=people["facilitator"],
            contact_person_id=people["facilitator"],
        )
        tokens = {key: await create_session(conn, pid, absolute=timedelta(hours=1)) for key, pid in people.items()}
    await engine.dispose()
    return Crew(team, board, people, tokens, invite)


async def _rows(url: str, *tables: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the given tables, sorted: a refused attempt must leave them exactly as they were."""
    engine = create_engine(url)
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with engine.connect() as conn:
        for table in tables:
            rows = (await conn.execute(select(table))).all()
            out[table.__tablename__] = sorted((tuple(r) for r in rows), key=repr)
    await engine.dispose()
    return out


async def _scalar(url: str, statement: Any) -> Any:
    engine = create_engine(url)
    async with engine.connect() as conn:
        value = (await conn.execute(statement)).scalar()
    await engine.dispose()
    return value


def _as(client: TestClient, crew: Crew, who: str) -> str:
    client.cookies.set("kumppani", crew.tokens[who])
    client.get("/healthz")
    return str(client.cookies["kumppani-csrf"])


def _post(client: TestClient, crew: Crew, who: str, path: str, **data: str) -> Any:
    csrf = _as(client, crew, who)
    return client.post(path, data={"csrf": csrf, **data})


# ------------------------------------------------------------------ named facilitators


def test_team_page_names_the_facilitators(migrated_url: str, tmp_path: Path) -> None:
    crew = asyncio.run(_crew(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        _as(client, crew, "customer")
        page = client.get(f"/teams/{crew.team}").text
    assert "Tiimin fasilitaattorit: Fanni Fasilitaattori." in page


def test_only_the_named_facilitator_gets_the_facilitation_controls(migrated_url: str, tmp_path: Path) -> None:
    crew = asyncio.run(_crew(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        _as(client, crew, "facilitator")
        assert 'id="facilitate"' in client.get(f"/boards/{crew.board}").text
        for other in ("professional", "customer"):
            _as(client, crew, other)
            assert 'id="facilitate"' not in client.get(f"/boards/{crew.board}").text, other


async def _facilitation_over_websocket(url: str, tmp_path: Path) -> None:
    crew = await _crew(url)
    server = LiveServer(settings_for(url, tmp_path)).start()
    try:
        for who in ("professional", "customer"):
            client = BoardClient(server.ws_url(crew.board), cookie=f"kumppani={crew.tokens[who]}", origin=server.base)
            await client.connect()
            for command in (p.BoardSet(locked=True), p.BoardSet(votes_revealed=True), p.BoardSet(timer_seconds=60)):
                with pytest.raises(ClientError) as refused:
                    await client.call(command)
                assert refused.value.error.code == p.ErrorCode.FORBIDDEN, (who, command)
            await client.close()
        engine = create_engine(url)
        async with engine.connect() as conn:
            state = (
                await conn.execute(
                    select(Board.seq, Board.locked, Board.votes_revealed, Board.timer_ends_at).where(
                        Board.id == crew.board
                    )
                )
            ).one()
        await engine.dispose()
        assert tuple(state) == (0, False, False, None)
        facilitator = BoardClient(
            server.ws_url(crew.board), cookie=f"kumppani={crew.tokens['facilitator']}", origin=server.base
        )
        await facilitator.connect()
        await facilitator.call(p.BoardSet(locked=True))
        await facilitator.close()
        assert await _scalar(url, select(Board.locked).where(Board.id == crew.board)) is True
    finally:
        server.stop()


def test_named_facilitator_alone_facilitates_over_the_websocket(migrated_url: str, tmp_path: Path) -> None:
    asyncio.run(_facilitation_over_websocket(migrated_url, tmp_path))


def test_a_team_without_named_facilitators_lets_every_member_facilitate(migrated_url: str, tmp_path: Path) -> None:
    crew = asyncio.run(_crew(migrated_url, facilitator=False))
    with make_client(migrated_url, tmp_path) as client:
        for who in ("facilitator", "professional", "customer"):
            _as(client, crew, who)
            assert 'id="facilitate"' in client.get(f"/boards/{crew.board}").text, who
        assert "Tiimi ei ole nimennyt fasilitaattoreita" in client.get(f"/teams/{crew.team}").text


def test_un_naming_the_last_facilitator_returns_facilitation_to_everyone(sqlite_url: str) -> None:
    from server.migrate import upgrade

    upgrade(sqlite_url)
    crew = asyncio.run(_crew(sqlite_url))

    async def run() -> None:
        engine = create_engine(sqlite_url)
        async with engine.begin() as conn:
            assert await roles.set_facilitator(conn, crew.team, crew.people["facilitator"], False, crew.people["admin"])
        await engine.dispose()

    asyncio.run(run())
    assert asyncio.run(_scalar(sqlite_url, select(Team.facilitators_named).where(Team.id == crew.team))) is False
    events = asyncio.run(_rows(sqlite_url, AuditEvent))["audit_event"]
    changed = [e for e in events if e[2] == crew.people["admin"] and e[3] == "membership.facilitator"]
    assert changed and changed[0][7]["old"] is True and changed[0][7]["new"] is False
    kinds = asyncio.run(_rows(sqlite_url, Notification))["notification"]
    assert any(n[1] == crew.people["facilitator"] and n[2] == "facilitator_unnamed" for n in kinds)


# ------------------------------------------------------------------ publishing outside the team


def test_share_links_and_round_visibility_are_for_professionals_only(migrated_url: str, tmp_path: Path) -> None:
    crew = asyncio.run(_crew(migrated_url, facilitator=False))
    with make_client(migrated_url, tmp_path) as client:
        before = asyncio.run(_rows(migrated_url, Board, AuditEvent))
        for who in ("customer", "coach"):
            assert _post(client, crew, who, f"/boards/{crew.board}/share").status_code == 403, who
            answer = _post(client, crew, who, f"/boards/{crew.board}/visibility", visibility="round")
            assert answer.status_code == 403, who
            _as(client, crew, who)
            assert "Luo uusi jakolinkki" not in client.get(f"/boards/{crew.board}/settings").text
        assert asyncio.run(_rows(migrated_url, Board, AuditEvent)) == before
        answer = _post(client, crew, "professional", f"/boards/{crew.board}/visibility", visibility="round")
        assert answer.status_code == 303
    events = asyncio.run(_rows(migrated_url, AuditEvent))["audit_event"]
    visibility = [e for e in events if e[3] == "board.visibility"]
    assert visibility[0][2] == crew.people["professional"]
    assert visibility[0][7] == {"old": "team", "new": "round"}


def test_a_share_link_expires_after_the_configured_days_and_is_audited(migrated_url: str, tmp_path: Path) -> None:
    crew = asyncio.run(_crew(migrated_url))
    with make_client(migrated_url, tmp_path, KUMPPANI_SHARE_LINK_DAYS="3") as client:
        page = _post(client, crew, "professional", f"/boards/{crew.board}/share")
        assert page.status_code == 200
        link = page.text.split('id="share-link" class="wide" value="', 1)[1].split('"', 1)[0]
        token = link.rsplit("/", 1)[1]
        expected_end = format_date(utcnow() + timedelta(days=3), "fi")  # Helsinki date, as the page shows it
        assert f"Linkki toimii {expected_end} asti." in page.text
        client.cookies.clear()
        assert client.get(f"/share/{token}").status_code == 200

    async def later(days: int) -> str | None:
        engine = create_engine(migrated_url)
        async with engine.connect() as conn:
            found = await board_for_share(conn, KEYS, token, now=utcnow() + timedelta(days=days))
        await engine.dispose()
        return found

    assert asyncio.run(later(2)) == crew.board
    assert asyncio.run(later(4)) is None
    events = asyncio.run(_rows(migrated_url, AuditEvent))["audit_event"]
    shared = [e for e in events if e[3] == "board.shared"]
    assert shared[0][2] == crew.people["professional"] and shared[0][7]["expires_at"].startswith(
        (utcnow() + timedelta(days=3)).date().isoformat()
    )


# ------------------------------------------------------------------ a professional leaves


def test_removing_a_contact_person_hands_their_customers_over_and_revokes_their_invites(
    migrated_url: str, tmp_path: Path
) -> None:
    crew = asyncio.run(_crew(migrated_url))
    fanni, pekka, kalle = (crew.people[k] for k in ("facilitator", "professional", "customer"))
    with make_client(migrated_url, tmp_path) as client:
        answer = _post(client, crew, "professional", f"/teams/{crew.team}/members/{fanni}/remove")
        assert answer.status_code == 303
        contact = asyncio.run(
            _scalar(migrated_url, select(Membership.contact_person_id).where(Membership.person_id == kalle))
        )
        assert contact == pekka  # the professional who removed her took her customers over
        team_page = client.get(f"/teams/{crew.team}").text
        assert "Yhteyshenkilö vaihtui, koska edellinen lähti tiimistä." in team_page
        assert client.get(f"/invite/{crew.invite_token}").status_code == 410
        _as(client, crew, "customer")
        home = client.get("/").text
        assert "Yhteyshenkilösi tiimissä Kotihoito vaihtui. Uusi yhteyshenkilösi on Pekka Ammattilainen." in home
        # Naming the contact person (here: confirming Pekka) clears the flag.
        answer = _post(
            client, crew, "professional", f"/teams/{crew.team}/members/{kalle}/contact-person", contact_person_id=pekka
        )
        assert answer.status_code == 303
        assert "Yhteyshenkilö vaihtui" not in client.get(f"/teams/{crew.team}").text
    events = asyncio.run(_rows(migrated_url, AuditEvent))["audit_event"]
    moved = [e for e in events if e[3] == "membership.contact_person" and e[5] == kalle]
    assert moved[0][7]["old"] == fanni and moved[0][7]["new"] == pekka
    assert any(e[3] == "invite.revoked" and e[2] == pekka for e in events)


def test_the_last_professional_cannot_be_removed_from_their_customers(migrated_url: str, tmp_path: Path) -> None:
    crew = asyncio.run(_crew(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        # Fanni first removes Pekka (no customers of his), then tries herself, the customer's only professional.
        assert (
            _post(
                client, crew, "facilitator", f"/teams/{crew.team}/members/{crew.people['professional']}/remove"
            ).status_code
            == 303
        )
        before = asyncio.run(_rows(migrated_url, Membership, Invite, Notification))
        answer = _post(client, crew, "facilitator", f"/teams/{crew.team}/members/{crew.people['facilitator']}/remove")
        assert answer.status_code == 409
        assert "Asiakkaille ei jäisi yhteyshenkilöä" in answer.text
        assert asyncio.run(_rows(migrated_url, Membership, Invite, Notification)) == before


def test_erasing_a_contact_person_leaves_every_customer_an_active_contact_and_no_usable_invite(
    migrated_url: str, tmp_path: Path
) -> None:
    crew = asyncio.run(_crew(migrated_url))
    fanni = crew.people["facilitator"]
    with make_client(migrated_url, tmp_path) as client:
        answer = _post(client, crew, "admin", f"/admin/people/{fanni}/erase", contributions="anonymise")
        assert answer.status_code == 303

    async def check() -> None:
        engine = create_engine(migrated_url)
        async with engine.begin() as conn:
            customers = (
                await conn.execute(
                    select(Membership.contact_person_id, Person.disabled_at, Person.erased_at)
                    .join(Person, Person.id == Membership.contact_person_id)
                    .where(Membership.role == "customer")
                )
            ).all()
            assert customers and all(
                c.disabled_at is None and c.erased_at is None and c.contact_person_id != fanni for c in customers
            )
            assert (await conn.execute(select(Team.facilitators_named).where(Team.id == crew.team))).scalar() is False
            with pytest.raises(InviteError):
                await redeem(conn, KEYS, crew.invite_token, display_name="Uusi")
        await engine.dispose()

    asyncio.run(check())


def test_erasing_the_only_professional_of_customers_is_refused_and_changes_nothing(
    migrated_url: str, tmp_path: Path
) -> None:
    crew = asyncio.run(_crew(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        assert (
            _post(
                client, crew, "facilitator", f"/teams/{crew.team}/members/{crew.people['professional']}/remove"
            ).status_code
            == 303
        )
        before = asyncio.run(_rows(migrated_url, Membership, Invite, Person, Notification))
        fanni = crew.people["facilitator"]
        assert _post(client, crew, "admin", f"/admin/people/{fanni}/erase").status_code == 409
        assert _post(client, crew, "admin", f"/admin/people/{fanni}/end-sessions", disable="1").status_code == 409
        assert _post(client, crew, "facilitator", "/me/delete", contributions="anonymise").status_code == 409
        assert asyncio.run(_rows(migrated_url, Membership, Invite, Person, Notification)) == before


def test_disabling_a_contact_person_hands_their_customers_over(migrated_url: str, tmp_path: Path) -> None:
    crew = asyncio.run(_crew(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        answer = _post(client, crew, "admin", f"/admin/people/{crew.people['facilitator']}/end-sessions", disable="1")
        assert answer.status_code == 303
    contact = asyncio.run(
        _scalar(
            migrated_url, select(Membership.contact_person_id).where(Membership.person_id == crew.people["customer"])
        )
    )
    assert contact == crew.people["professional"]
    assert asyncio.run(_scalar(migrated_url, select(Team.facilitators_named).where(Team.id == crew.team))) is False


def test_a_customer_cannot_join_with_a_contact_person_who_is_no_longer_active(migrated_url: str) -> None:
    crew = asyncio.run(_crew(migrated_url))

    async def run() -> None:
        engine = create_engine(migrated_url)
        async with engine.begin() as conn:
            # Disabled behind the application's back: the invite itself was never revoked.
            from sqlalchemy import update

            await conn.execute(
                update(Person).where(Person.id == crew.people["facilitator"]).values(disabled_at=utcnow())
            )
        async with engine.connect() as conn:
            with pytest.raises(InviteError):
                await redeem(conn, KEYS, crew.invite_token, display_name="Uusi")
            with pytest.raises(ValueError):
                await create_invite(
                    conn,
                    KEYS,
                    team_id=crew.team,
                    role="customer",
                    created_by=crew.people["professional"],
                    contact_person_id=crew.people["facilitator"],
                )
            with pytest.raises(d.DirectoryError):
                newcomer = await d.create_person(conn, "Uusi")
                await d.add_member(conn, crew.team, newcomer, "customer", contact_person_id=crew.people["facilitator"])
            await conn.rollback()
        await engine.dispose()

    asyncio.run(run())


def test_naming_a_contact_person_who_is_not_a_professional_is_refused(migrated_url: str, tmp_path: Path) -> None:
    crew = asyncio.run(_crew(migrated_url))
    kalle = crew.people["customer"]
    with make_client(migrated_url, tmp_path) as client:
        before = asyncio.run(_rows(migrated_url, Membership, AuditEvent, Notification))
        for candidate in (crew.people["coach"], kalle, "nobody"):
            answer = _post(
                client,
                crew,
                "professional",
                f"/teams/{crew.team}/members/{kalle}/contact-person",
                contact_person_id=candidate,
            )
            assert answer.status_code == 400
            assert "Yhteyshenkilön pitää olla saman tiimin ammattilainen" in answer.text
        answer = _post(
            client,
            crew,
            "customer",
            f"/teams/{crew.team}/members/{kalle}/contact-person",
            contact_person_id=crew.people["professional"],
        )
        assert answer.status_code == 403
        assert asyncio.run(_rows(migrated_url, Membership, AuditEvent, Notification)) == before


# ------------------------------------------------------------------ the upgrade


def test_the_upgrade_makes_named_facilitators_hold_and_withdraws_links_without_an_end(db_url: str) -> None:
    """A team that named a facilitator before the upgrade has only them facilitate after it."""
    from sqlalchemy import text

    from server.migrate import upgrade

    upgrade(db_url, "0006")

    async def before() -> None:
        engine = create_engine(db_url)
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO organisation (id, name, created_at) VALUES ('o', 'Kunta', :now)"), {"now": utcnow()}
            )
            for team in ("named", "open"):
                await conn.execute(
                    text(
                        "INSERT INTO team (id, name, organisation_id, phase, facilitators_named, created_at) "
                        "VALUES (:id, :id, 'o', 'current_state', false, :now)"
                    ),
                    {"id": team, "now": utcnow()},
                )
            await conn.execute(
                text(
                    "INSERT INTO person (id, display_name, is_admin, locale, created_at) "
                    "VALUES ('p', 'P', false, 'fi', :now)"
                ),
                {"now": utcnow()},
            )
            for team, facilitator in (("named", True), ("open", False)):
                await conn.execute(
                    text(
                        "INSERT INTO membership (id, team_id, person_id, role, is_facilitator, joined_at) "
                        "VALUES (:id, :team, 'p', 'professional', :fac, :now)"
                    ),
                    {"id": "m" + team, "team": team, "fac": facilitator, "now": utcnow()},
                )
            await conn.execute(
                text(
                    "INSERT INTO board (id, team_id, template, title, seq, item_count, locked, votes_revealed, "
                    "vote_budget, visibility, share_token_hash, created_at) "
                    "VALUES ('b', 'named', 'blank', 'B', 0, 0, false, false, 5, 'team', :hash, :now)"
                ),
                {"hash": "a" * 64, "now": utcnow()},
            )
        await engine.dispose()

    asyncio.run(before())
    upgrade(db_url)
    named = asyncio.run(_scalar(db_url, select(Team.facilitators_named).where(Team.id == "named")))
    open_ = asyncio.run(_scalar(db_url, select(Team.facilitators_named).where(Team.id == "open")))
    assert (named, open_) == (True, False)
    assert asyncio.run(_scalar(db_url, select(Board.share_token_hash).where(Board.id == "b"))) is None


def test_a_coachs_invites_end_with_the_coach_role_and_with_the_account(migrated_url: str, tmp_path: Path) -> None:
    crew = asyncio.run(_crew(migrated_url))

    async def coach_invites() -> list[str]:
        engine = create_engine(migrated_url)
        async with engine.begin() as conn:
            tokens = [
                await create_invite(conn, KEYS, team_id=crew.team, role="observer", created_by=crew.people["coach"])
                for _ in range(2)
            ]
        await engine.dispose()
        return tokens

    first, second = asyncio.run(coach_invites())
    programme = asyncio.run(_scalar(migrated_url, select(Team.round_id).where(Team.id == crew.team)))
    from auth.models import Round

    programme = asyncio.run(_scalar(migrated_url, select(Round.programme_id).where(Round.id == programme)))
    with make_client(migrated_url, tmp_path) as client:
        assert client.get(f"/invite/{first}").status_code == 200
        answer = _post(client, crew, "admin", f"/admin/programmes/{programme}/coaches/{crew.people['coach']}/remove")
        assert answer.status_code == 303
        assert client.get(f"/invite/{first}").status_code == 410
        assert client.get(f"/invite/{second}").status_code == 410
