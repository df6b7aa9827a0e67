"""In Chromium: an admin signs in, gives a person the coach role in a programme in the admin pages,
and that person, signing in, sees the programme's teams on their home page. The admin pages pass axe."""

from __future__ import annotations

import re
from typing import Any

from browser.conftest import Pages, check_axe, run
from conftest import LiveServer
from foundation.db import create_engine

PASSWORD = "salasana-1234567"


async def _programme_and_people(url: str) -> dict[str, str]:
    from auth import directory as d

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            org = await d.create_organisation(conn, "Itä-Suomen hyvinvointialue")
            programme = await d.create_programme(conn, "Sujuvat palvelut", org)
            other = await d.create_programme(conn, "Toinen ohjelma", org)
            spring = await d.create_round(conn, programme, "Kevät 2027")
            home_care = await d.create_team(conn, "Kotihoidon tiimi", org, spring)
            paula = await d.create_person(conn, "Paula Ammattilainen")
            await d.add_member(conn, home_care, paula, "professional", is_facilitator=True)
            await d.add_member(
                conn, home_care, await d.create_person(conn, "Kalle Asiakas"), "customer", contact_person_id=paula
            )
            await d.create_team(conn, "Vammaispalvelujen tiimi", org, spring)
            await d.create_team(conn, "Toisen ohjelman tiimi", org, await d.create_round(conn, other, "Syksy"))
            admin = await d.create_person(conn, "Aino Ylläpitäjä", is_admin=True)
            await d.add_local_account(conn, admin, "aino", PASSWORD)
            coach = await d.create_person(conn, "Veera Valmentaja")
            await d.add_local_account(conn, coach, "veera", PASSWORD)
    finally:
        await engine.dispose()
    return {"programme": programme}


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(base + "/signin")
    page.get_by_label("Käyttäjätunnus").fill(username)
    page.get_by_label("Salasana").fill(PASSWORD)
    page.get_by_role("button", name="Kirjaudu", exact=True).click()


def test_an_admin_makes_a_person_a_coach_who_then_sees_the_programmes_teams(
    pages: Pages, live: LiveServer, migrated_url: str, axe_source: str
) -> None:
    from playwright.sync_api import expect

    run(_programme_and_people(migrated_url))

    coach = pages.context().new_page()
    _sign_in(coach, live.base, "veera")
    expect(coach.get_by_role("heading", level=1)).to_contain_text("Veera Valmentaja")
    expect(coach.get_by_role("link", name="Kotihoidon tiimi")).to_have_count(0)

    admin = pages.context().new_page()
    _sign_in(admin, live.base, "aino")
    admin.get_by_role("navigation", name="Päävalikko").get_by_role("link", name="Ylläpito").click()
    check_axe(admin, axe_source, "the admin people page")
    admin.get_by_role("link", name="Ohjelmat").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Ohjelmat")
    check_axe(admin, axe_source, "the admin programmes page")
    admin.get_by_label("Valmentajaksi ohjelmaan Sujuvat palvelut").select_option(label="Veera Valmentaja (veera)")
    admin.get_by_role("button", name="Anna valmentajan rooli ohjelmassa Sujuvat palvelut").click()
    expect(admin.get_by_role("status")).to_have_text("Muutos on tallennettu.")
    coaches = admin.get_by_role("region", name="Sujuvat palvelut")
    expect(
        coaches.get_by_role("button", name="Poista valmentajan rooli: Veera Valmentaja, Sujuvat palvelut")
    ).to_be_visible()
    check_axe(admin, axe_source, "the admin programmes page with a coach")
    for name, heading in (("Tiimit", "Tiimit"), ("Organisaatiot", "Organisaatiot")):
        admin.get_by_role("link", name=name, exact=True).click()
        expect(admin.get_by_role("heading", level=1)).to_have_text(heading)
        check_axe(admin, axe_source, f"the admin page {name}")
    admin.get_by_role("link", name="Tiimit", exact=True).click()
    admin.get_by_role("link", name="Kotihoidon tiimi").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Kotihoidon tiimi")
    members = admin.get_by_role("table", name="Tiimin Kotihoidon tiimi jäsenet")
    expect(members.get_by_role("button", name="Poista fasilitaattorin rooli: Paula Ammattilainen")).to_be_visible()
    expect(members.get_by_label("Yhteyshenkilö: Kalle Asiakas", exact=True)).to_have_value(re.compile(r"[0-9a-f]{32}"))
    check_axe(admin, axe_source, "the admin team page")

    coach.reload()
    expect(coach.get_by_role("heading", name="Valmennat: Sujuvat palvelut")).to_be_visible()
    expect(coach.get_by_text("Sinusta tehtiin valmentaja ohjelmassa Sujuvat palvelut.")).to_be_visible()
    check_axe(coach, axe_source, "a coach's home page")
    expect(coach.get_by_role("link", name="Toisen ohjelman tiimi")).to_have_count(0)
    coach.get_by_role("link", name="Vammaispalvelujen tiimi").click()
    expect(coach.get_by_role("heading", level=1)).to_have_text("Vammaispalvelujen tiimi")
