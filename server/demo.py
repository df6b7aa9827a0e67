"""``kumppani demo``: a realistic Finnish demo workspace, and how to get in.

The first run creates it; later runs refresh the demo passwords and print new
invite links (the old links stay valid until they expire), so ``make run``
always shows how to sign in. Passwords are random for each run, never constants.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth import consent, schedule
from auth import directory as d
from auth.invites import create_invite
from auth.models import LocalAccount, Membership, Organisation, Team
from auth.passwords import hash_password
from boards.catalogue import create_board
from boards.demo_content import seed_demo_content, seed_ideas, seed_personas
from boards.exercises import push_exercise
from foundation.db import create_engine
from foundation.settings import Settings

DEMO_ORG = "Demokunnan hyvinvointialue"
NEIGHBOUR_ORG = "Naapurikunnan hyvinvointialue"

# The round's schedule as in THL's coaching (seed 003): an info session, the coaches' site visit,
# four workshops over seven days, and intermediate coaching. Helsinki wall-clock time.
SESSIONS = (
    (
        "info",
        "Infotilaisuus: valmennuksen tavoitteet",
        "2027-01-12",
        "13:00",
        "14:30",
        "",
        "https://meet.example.org/info",
    ),
    ("site_visit", "Valmentajien käynti tiimeissä", "2027-01-19", "09:00", "12:00", "Tiimien omat toimipisteet", ""),
    ("workshop", "Työpaja 1: nykytila ja asiakasymmärrys", "2027-02-02", "09:00", "12:00", "Kunnantalo, sali 2", ""),
    ("workshop", "Työpaja 2: synteesi", "2027-02-04", "09:00", "12:00", "", "https://meet.example.org/tyopaja"),
    (
        "workshop",
        "Työpaja 3: ideointi ja testaus",
        "2027-02-06",
        "09:00",
        "12:00",
        "",
        "https://meet.example.org/tyopaja",
    ),
    ("workshop", "Työpaja 4: palvelumalli", "2027-02-08", "09:00", "12:00", "Kunnantalo, sali 2", ""),
    ("coaching", "Välivalmennus", "2027-03-02", "14:00", "15:30", "", "https://meet.example.org/valmennus"),
)


@dataclass(frozen=True)
class DemoAccount:
    username: str
    name: str
    role: str


ACCOUNTS = (
    DemoAccount("admin", "Aino Ylläpitäjä", "admin"),
    DemoAccount("valmentaja", "Veera Valmentaja", "coach"),
    DemoAccount("paula", "Paula Palveluohjaaja", "professional"),
    DemoAccount("sami", "Sami Sairaanhoitaja", "professional"),
    DemoAccount("anna", "Anna Asiakasohjaaja", "professional"),
)


def _password() -> str:
    return secrets.token_urlsafe(9)


async def _person_by_username(conn: AsyncConnection, username: str) -> str | None:
    return (await conn.execute(select(LocalAccount.person_id).where(LocalAccount.username == username))).scalar()


async def _create(conn: AsyncConnection, passwords: dict[str, str]) -> None:
    org = await d.create_organisation(conn, DEMO_ORG)
    people: dict[str, str] = {}
    for account in ACCOUNTS:
        pid = await d.create_person(
            conn,
            account.name,
            organisation_id=org,
            is_admin=account.role == "admin",
            email=f"{account.username}@demo.invalid",
        )
        await d.add_local_account(conn, pid, account.username, passwords[account.username])
        people[account.username] = pid
    programme = await d.create_programme(conn, "Sujuvat palvelut -valmennus", org)
    await d.add_programme_coach(conn, programme, people["valmentaja"])
    spring = await d.create_round(conn, programme, "Kevät 2027")
    home_care = await d.create_team(conn, "Kotihoidon asiakaspolku", org, spring)
    carers = await d.create_team(conn, "Omaishoidon tuki", org, spring)
    await d.add_member(conn, home_care, people["paula"], "professional", is_facilitator=True)
    await d.add_member(conn, home_care, people["sami"], "professional")
    await d.add_member(conn, carers, people["anna"], "professional", is_facilitator=True)
    journey = await create_board(conn, "Kotihoidon asiakaspolku nyt", "journey", team_id=home_care)
    await seed_demo_content(conn, journey, people["paula"])
    personas = await create_board(conn, "Asiakkaamme: persoonat", "persona", team_id=home_care)
    await seed_personas(conn, personas, people["sami"])
    ideas = await create_board(conn, "Ideat ja kokeilut", "ideas", team_id=home_care)
    await seed_ideas(conn, ideas, people["paula"])
    await create_board(conn, "Palvelu ennen, nyt ja lähitulevaisuudessa", "service_change", team_id=home_care)
    await create_board(conn, "Omaishoitajan polku", "journey", team_id=carers)
    # A third team of the round, from another organisation, and customers who have joined.
    neighbour = await d.create_organisation(conn, NEIGHBOUR_ORG)
    family = await d.create_team(conn, "Perhekeskuksen palveluohjaus", neighbour, spring)
    pirkko = await d.create_person(conn, "Pirkko Perhetyöntekijä", organisation_id=neighbour)
    await d.add_member(conn, family, pirkko, "professional", is_facilitator=True)
    await create_board(conn, "Perheen polku palveluihin", "journey_short", team_id=family)
    for team, contact, name in (
        (home_care, people["paula"], "Kalle K."),
        (home_care, people["sami"], "Maija M."),
        (carers, people["anna"], "Omaishoitaja Eeva"),
        (family, pirkko, "Perheen äiti Laura"),
    ):
        customer = await d.create_person(conn, name)
        await d.add_member(conn, team, customer, "customer", contact_person_id=contact)
        if name != "Maija M.":  # one customer has not yet accepted the agreement: the coach sees the count
            text = await consent.current_text(conn, "agreement", team, "fi")
            await consent.give(conn, customer, "agreement", text, team_id=team)
    for kind, title, day, start, end, place, url in SESSIONS:
        form = {"kind": kind, "title": title, "date": day, "start": start, "end": end, "place": place}
        form["online_url"] = url
        await schedule.add_session(conn, spring, schedule.parse_session(form), people["valmentaja"])
    await push_exercise(conn, spring, "Kierroksen harjoitus: persoonat", "persona", people["valmentaja"])


async def run_demo(settings: Settings) -> str:
    engine = create_engine(settings.database_url)
    passwords = {a.username: _password() for a in ACCOUNTS}
    try:
        async with engine.begin() as conn:
            exists = await _person_by_username(conn, "paula") is not None
            if not exists:
                await _create(conn, passwords)
            else:
                for account in ACCOUNTS:
                    await conn.execute(
                        update(LocalAccount)
                        .where(LocalAccount.username == account.username)
                        .values(password_hash=hash_password(passwords[account.username]))
                    )
            lines = [
                "",
                "Kumppani demo" + (" (refreshed)" if exists else " (created)"),
                f"  Sign in at {settings.base_url}/signin with one of these (new passwords each run):",
            ]
            for account in ACCOUNTS:
                lines.append(
                    f"    {account.role:<13} {account.name:<24} {account.username:<11} {passwords[account.username]}"
                )
            lines.append("  Customer invite links (open one in a private window; valid 7 days, one use each):")
            teams = (
                await conn.execute(
                    select(Team.id, Team.name)
                    .join(Organisation, Organisation.id == Team.organisation_id)
                    .where(Organisation.name == DEMO_ORG)
                    .order_by(Team.name)
                )
            ).all()
            for team_id, team_name in teams:
                contact = (
                    await conn.execute(
                        select(Membership.person_id)
                        .where(Membership.team_id == team_id, Membership.role == "professional")
                        .order_by(Membership.is_facilitator.desc(), Membership.joined_at)
                    )
                ).scalar()
                if contact is None:
                    continue
                token = await create_invite(
                    conn,
                    settings.secret_keys,
                    team_id=team_id,
                    role="customer",
                    created_by=contact,
                    contact_person_id=contact,
                    days=settings.invite_days,
                )
                lines.append(f"    {team_name}: {settings.base_url}/invite/{token}")
            lines.append("")
    finally:
        await engine.dispose()
    return "\n".join(lines)
