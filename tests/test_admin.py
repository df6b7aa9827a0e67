"""Administration: organisations, programmes, rounds and teams; team roles, coaches, facilitators and
contact persons, in the admin pages and on the command line. Every change is audited with its old and
new values, the person concerned is told on their home page, and bad input changes nothing."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from auth import consent
from auth import directory as d
from auth.models import (
    AuditEvent,
    Membership,
    Notification,
    Organisation,
    Programme,
    ProgrammeCoach,
    Round,
    Team,
)
from auth.sessions import create_session
from foundation.db import create_engine
from webapp import make_client

STRUCTURE = (Organisation, Programme, Round, Team, Membership, ProgrammeCoach, AuditEvent, Notification)


@dataclass
class Office:
    org: str
    programme: str
    round: str
    team: str
    people: dict[str, str]
    tokens: dict[str, str]


async def _office(url: str) -> Office:
    engine = create_engine(url)
    async with engine.begin() as conn:
        org = await d.create_organisation(conn, "Kunta")
        programme = await d.create_programme(conn, "Sujuvat palvelut", org)
        round_id = await d.create_round(conn, programme, "Kevät")
        team = await d.create_team(conn, "Kotihoito", org, round_id)
        people = {
            "admin": await d.create_person(conn, "Aino Ylläpitäjä", is_admin=True),
            "paula": await d.create_person(conn, "Paula Ammattilainen"),
            "pekka": await d.create_person(conn, "Pekka Ammattilainen"),
            "kalle": await d.create_person(conn, "Kalle Asiakas"),
            "veera": await d.create_person(conn, "Veera Valmentaja"),
        }
        await d.add_member(conn, team, people["paula"], "professional")
        await d.add_member(conn, team, people["pekka"], "professional")
        await d.add_member(conn, team, people["kalle"], "customer", contact_person_id=people["paula"])
        text = await consent.current_text(conn, "agreement", team, "fi")
        await consent.give(conn, people["kalle"], "agreement", text, team_id=team)
        await d.add_local_account(conn, people["veera"], "veera", "salasana-123456")
        tokens = {k: await create_session(conn, pid, absolute=timedelta(hours=1)) for k, pid in people.items()}
    await engine.dispose()
    return Office(org, programme, round_id, team, people, tokens)


async def _rows(url: str, *tables: Any) -> dict[str, list[str]]:
    engine = create_engine(url)
    out = {}
    async with engine.connect() as conn:
        for table in tables:
            out[table.__tablename__] = sorted(repr(tuple(r)) for r in (await conn.execute(select(table))).all())
    await engine.dispose()
    return out


async def _audit(url: str, action: str) -> list[Any]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))).all()
    await engine.dispose()
    return list(rows)


async def _one(url: str, statement: Any) -> Any:
    engine = create_engine(url)
    async with engine.connect() as conn:
        value = (await conn.execute(statement)).all()
    await engine.dispose()
    return value


def _post(client: TestClient, office: Office, who: str, path: str, **data: str) -> Any:
    client.cookies.set("kumppani", office.tokens[who])
    client.get("/healthz")
    return client.post(path, data={"csrf": client.cookies["kumppani-csrf"], **data})


def _page(client: TestClient, office: Office, who: str, path: str) -> str:
    client.cookies.set("kumppani", office.tokens[who])
    return client.get(path).text


def test_an_admin_builds_the_structure_and_every_step_is_audited(migrated_url: str, tmp_path: Path) -> None:
    office = asyncio.run(_office(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        assert _post(client, office, "admin", "/admin/organisations", name="  Hyvinvointialue  ").status_code == 303
        org = asyncio.run(_one(migrated_url, select(Organisation.id).where(Organisation.name == "Hyvinvointialue")))
        org_id = org[0][0]
        assert _post(client, office, "admin", f"/admin/organisations/{org_id}", name="Itä-alue").status_code == 303
        again = _post(client, office, "admin", f"/admin/organisations/{org_id}", name=" Itä-alue ")
        assert "Ei muutettavaa: tiedot olivat jo nämä." in client.get(again.headers["location"]).text
        assert (
            _post(client, office, "admin", "/admin/programmes", name="Valmennus", organisation_id=org_id).status_code
            == 303
        )
        programme_id = asyncio.run(_one(migrated_url, select(Programme.id).where(Programme.name == "Valmennus")))[0][0]
        answer = _post(
            client,
            office,
            "admin",
            f"/admin/programmes/{programme_id}/rounds",
            name="Syksy",
            starts_on="2027-09-01",
            ends_on="2027-12-15",
        )
        assert answer.status_code == 303
        round_id = asyncio.run(_one(migrated_url, select(Round.id).where(Round.name == "Syksy")))[0][0]
        answer = _post(
            client, office, "admin", "/admin/teams", name="Vammaispalvelut", organisation_id=org_id, round_id=round_id
        )
        assert answer.status_code == 303
        team_id = answer.headers["location"].split("/")[3].split("?")[0]
        answer = _post(
            client, office, "admin", f"/admin/teams/{team_id}", name="Vammaispalvelut", round_id="", phase="synthesis"
        )
        assert answer.status_code == 303
        assert "Muutos on tallennettu." in client.get(answer.headers["location"]).text
        assert "Itä-alue" in _page(client, office, "admin", "/admin/organisations")
        programmes = _page(client, office, "admin", "/admin/programmes")
        assert "Valmennus" in programmes and 'value="2027-09-01"' in programmes
        assert "Vammaispalvelut" in _page(client, office, "admin", "/admin/teams")
    renamed = asyncio.run(_audit(migrated_url, "organisation.edited"))
    assert len(renamed) == 1 and renamed[0].actor_id == office.people["admin"]
    assert renamed[0].details == {"old": {"name": "Hyvinvointialue"}, "new": {"name": "Itä-alue"}}
    edited = asyncio.run(_audit(migrated_url, "team.edited"))
    assert edited[0].details == {
        "old": {"round_id": round_id, "phase": "current_state"},
        "new": {"round_id": None, "phase": "synthesis"},
    }
    created = asyncio.run(_audit(migrated_url, "round.created"))
    assert created[0].details["new"] == {"name": "Syksy", "starts_on": "2027-09-01", "ends_on": "2027-12-15"}


@pytest.mark.parametrize(
    ("path", "data", "message"),
    [
        ("/admin/organisations", {"name": "   "}, "Kirjoita nimi."),
        ("/admin/organisations", {"name": "x" * 201}, "enintään 200 merkkiä"),
        ("/admin/organisations", {"name": "Kunta 131052-308T"}, "Älä kirjoita henkilötunnuksia"),
        ("/admin/programmes", {"name": "Ohjelma", "organisation_id": "nope"}, "Valitse olemassa oleva organisaatio."),
        ("/admin/teams", {"name": "Tiimi", "organisation_id": ""}, "Valitse olemassa oleva organisaatio."),
        ("ROUND", {"name": "K", "starts_on": "2027-13-01"}, "VVVV-KK-PP"),
        ("ROUND", {"name": "K", "starts_on": "2027-05-02", "ends_on": "2027-05-01"}, "sama tai myöhempi"),
        ("TEAM", {"name": "Kotihoito", "phase": "done"}, "Valitse vaihe listasta."),
        ("ROLE", {"person_id": "PAULA", "role": "coach"}, "ammattilainen tai tarkkailija"),
        ("ROLE", {"person_id": "KALLE", "role": "observer"}, "Hänen roolinsa pysyy asiakkaana."),
        ("CONTACT", {"contact_person_id": "VEERA"}, "saman tiimin ammattilainen"),
    ],
)
def test_bad_admin_input_gets_a_plain_error_and_changes_nothing(
    migrated_url: str, tmp_path: Path, path: str, data: dict[str, str], message: str
) -> None:
    office = asyncio.run(_office(migrated_url))
    people = {key.upper(): pid for key, pid in office.people.items()}
    data = {key: people.get(value, value) for key, value in data.items()}
    path = {
        "ROUND": f"/admin/programmes/{office.programme}/rounds",
        "TEAM": f"/admin/teams/{office.team}",
        "ROLE": f"/admin/teams/{office.team}/roles",
        "CONTACT": f"/admin/teams/{office.team}/members/{office.people['kalle']}/contact-person",
    }.get(path, path)
    with make_client(migrated_url, tmp_path) as client:
        before = asyncio.run(_rows(migrated_url, *STRUCTURE))
        answer = _post(client, office, "admin", path, **data)
        assert 400 <= answer.status_code < 500
        assert message in answer.text and "Mitään ei muutettu." in answer.text
        assert asyncio.run(_rows(migrated_url, *STRUCTURE)) == before


def test_admin_pages_do_not_exist_for_anyone_else(migrated_url: str, tmp_path: Path) -> None:
    office = asyncio.run(_office(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        before = asyncio.run(_rows(migrated_url, *STRUCTURE))
        for who in ("paula", "kalle", "veera"):
            client.cookies.set("kumppani", office.tokens[who])
            for page in ("/admin/organisations", "/admin/programmes", "/admin/teams", f"/admin/teams/{office.team}"):
                assert client.get(page).status_code == 404, (who, page)
            answer = _post(
                client,
                office,
                who,
                f"/admin/programmes/{office.programme}/coaches",
                person_id=office.people[who],
            )
            assert answer.status_code == 404
        assert asyncio.run(_rows(migrated_url, *STRUCTURE)) == before


def test_a_coach_named_by_an_admin_sees_the_programmes_teams_and_is_told(migrated_url: str, tmp_path: Path) -> None:
    office = asyncio.run(_office(migrated_url))
    veera = office.people["veera"]
    with make_client(migrated_url, tmp_path) as client:
        assert "Kotihoito" not in _page(client, office, "veera", "/")
        answer = _post(client, office, "admin", f"/admin/programmes/{office.programme}/coaches", person_id=veera)
        assert answer.status_code == 303
        home = _page(client, office, "veera", "/")
        assert "Valmennat: Sujuvat palvelut" in home and f'href="/teams/{office.team}"' in home
        assert "Sinusta tehtiin valmentaja ohjelmassa Sujuvat palvelut." in home
        assert client.get(f"/teams/{office.team}").status_code == 200
        answer = _post(client, office, "admin", f"/admin/programmes/{office.programme}/coaches/{veera}/remove")
        assert answer.status_code == 303
        home = _page(client, office, "veera", "/")
        assert f'href="/teams/{office.team}"' not in home
        assert client.get(f"/teams/{office.team}").status_code == 404
    changes = asyncio.run(_audit(migrated_url, "programme.coach"))
    assert [(e.object_id, e.details["old"], e.details["new"]) for e in changes] == [
        (veera, False, True),
        (veera, True, False),
    ]


def test_an_admin_gives_team_roles_names_facilitators_and_moves_a_customer(migrated_url: str, tmp_path: Path) -> None:
    office = asyncio.run(_office(migrated_url))
    veera, paula, pekka, kalle = (office.people[k] for k in ("veera", "paula", "pekka", "kalle"))
    team = office.team
    with make_client(migrated_url, tmp_path) as client:
        assert (
            _post(client, office, "admin", f"/admin/teams/{team}/roles", person_id=veera, role="observer").status_code
            == 303
        )
        assert (
            _post(
                client, office, "admin", f"/admin/teams/{team}/roles", person_id=veera, role="professional"
            ).status_code
            == 303
        )
        answer = _post(client, office, "admin", f"/admin/teams/{team}/members/{pekka}/facilitator", facilitator="yes")
        assert answer.status_code == 303
        answer = _post(
            client, office, "admin", f"/admin/teams/{team}/members/{kalle}/contact-person", contact_person_id=veera
        )
        assert answer.status_code == 303
        admin_page = _page(client, office, "admin", f"/admin/teams/{team}")
        assert "Nimeä yhteyshenkilö: Kalle Asiakas" in admin_page
        assert "Tiimin fasilitaattorit: Pekka Ammattilainen." in _page(client, office, "paula", f"/teams/{team}")
        assert "Roolisi tiimissä Kotihoito on nyt: ammattilainen." in _page(client, office, "veera", "/")
        assert "Sinut nimettiin fasilitaattoriksi tiimissä Kotihoito." in _page(client, office, "pekka", "/")
        customer_home = _page(client, office, "kalle", "/")
        assert "Uusi yhteyshenkilösi on Veera Valmentaja." in customer_home
    rows = asyncio.run(
        _one(
            migrated_url,
            select(Membership.person_id, Membership.role, Membership.contact_person_id).where(
                Membership.team_id == team
            ),
        )
    )
    assert {tuple(r) for r in rows} == {
        (paula, "professional", None),
        (pekka, "professional", None),
        (kalle, "customer", veera),
        (veera, "professional", None),
    }
    assert [(e.details["old"], e.details["new"]) for e in asyncio.run(_audit(migrated_url, "membership.role"))] == [
        (None, "observer"),
        ("observer", "professional"),
    ]
    moved = asyncio.run(_audit(migrated_url, "membership.contact_person"))
    assert (moved[0].object_id, moved[0].details["old"], moved[0].details["new"]) == (kalle, paula, veera)
    assert "→" in _audit_page(migrated_url, tmp_path, office)


def _audit_page(url: str, tmp_path: Path, office: Office) -> str:
    with make_client(url, tmp_path) as client:
        return _page(client, office, "admin", "/admin/audit")


def test_the_command_line_does_what_the_admin_pages_do(
    migrated_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from server.cli import main

    office = asyncio.run(_office(migrated_url))
    monkeypatch.setenv("KUMPPANI_DATABASE_URL", migrated_url)
    monkeypatch.setenv("KUMPPANI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KUMPPANI_SECRET_KEY", "test-secret-key-" + "x" * 32)

    def run(*args: str) -> str:
        assert main(list(args)) == 0, args
        return capsys.readouterr().out

    def new_id(out: str) -> str:
        found = re.search(r"\(([0-9a-f]{32})\)", out)
        assert found, out
        return found.group(1)

    org = new_id(run("organisation", "add", "Länsi-alue"))
    run("organisation", "rename", org, "Länsialue")
    programme = new_id(run("programme", "add", "Kehittäjäasiakkaat", "--organisation", org))
    round_id = new_id(run("round", "add", programme, "Kevät 2027", "--starts", "2027-01-10"))
    run("round", "edit", round_id, "--name", "Kevät 2027", "--ends", "2027-05-31")
    team = new_id(run("team", "add", "Perhepalvelut", "--organisation", org, "--round", round_id))
    run("team", "edit", team, "--phase", "ideation_testing")
    run("role", "set", team, office.people["paula"], "professional")
    run("coach", "add", programme, "veera")
    run("facilitator", "add", team, office.people["paula"])
    run("contact", "move", office.team, office.people["kalle"], office.people["pekka"])
    listing = run("list")
    assert "Länsialue" in listing and "Kevät 2027  2027-01-10–2027-05-31" in listing and "Perhepalvelut" in listing
    assert "coach " + office.people["veera"] in listing

    before = asyncio.run(_rows(migrated_url, *STRUCTURE))
    assert main(["organisation", "add", "   "]) == 2
    assert main(["round", "edit", round_id, "--name", "K", "--starts", "2027-06-01"]) == 2
    assert main(["contact", "move", office.team, office.people["kalle"], "veera"]) == 2
    assert main(["coach", "add", programme, "nobody"]) == 2
    err = capsys.readouterr().err
    assert "Write a name." in err and "The end date must be on or after the start date." in err
    assert "active professional of the same team" in err and "does not exist" in err
    assert asyncio.run(_rows(migrated_url, *STRUCTURE)) == before

    state = asyncio.run(
        _one(migrated_url, select(Team.phase, Team.facilitators_named, Team.round_id).where(Team.id == team))
    )
    assert tuple(state[0]) == ("ideation_testing", True, round_id)
    audited = asyncio.run(_audit(migrated_url, "round.edited"))
    assert audited[0].actor_id is None and audited[0].details == {
        "old": {"ends_on": None},
        "new": {"ends_on": "2027-05-31"},
        "programme": programme,
    }
