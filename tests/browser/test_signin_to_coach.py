"""The whole people side in Chromium, in one go: a person signs in with the provider's button at a
real OpenID provider (panva's oidc-provider) and lands signed in with their name shown; an admin gives
that very person the coach role in a programme in the admin pages; the person's home page then lists
the programme's teams."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from browser.conftest import check_axe, run
from browser.test_admin import _programme_and_people, _sign_in
from conftest import LiveServer
from openid_provider import OpenIdProvider, register_provider

PROVIDER_NAME = "Testikunnan tunnus"


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="fi-FI", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    # Nothing leaves the machine: the provider's page asks for a web font on the internet.
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/]).*"), lambda route: route.abort())
    try:
        yield context
    finally:
        context.close()


def test_a_person_signed_in_at_the_provider_is_made_a_coach_and_sees_the_programmes_teams(
    browser: Any,
    context: Any,
    signin_live: LiveServer,
    openid_provider: OpenIdProvider,
    migrated_url: str,
    axe_source: str,
) -> None:
    run(_programme_and_people(migrated_url))
    run(register_provider(signin_live.settings, openid_provider, PROVIDER_NAME))

    person = context.new_page()
    person.goto(f"{signin_live.base}/signin")
    person.get_by_role("link", name=f"Kirjaudu: {PROVIDER_NAME}").click()
    expect(person).to_have_url(re.compile("^" + re.escape(openid_provider.issuer)))
    person.get_by_placeholder("Enter any login").fill("paula")
    person.get_by_placeholder("and password").fill("any password")
    person.get_by_role("button", name="Sign-in").click()
    person.get_by_role("button", name="Continue").click()
    expect(person).to_have_url(re.compile("^" + re.escape(signin_live.base)))
    expect(person.get_by_role("heading", level=1)).to_contain_text("Paula Pilvi")
    expect(person.get_by_role("link", name="Kotihoidon tiimi")).to_have_count(0)

    admin_context = browser.new_context(locale="fi-FI", viewport={"width": 1280, "height": 900})
    try:
        admin = admin_context.new_page()
        _sign_in(admin, signin_live.base, "aino")
        admin.get_by_role("navigation", name="Päävalikko").get_by_role("link", name="Ylläpito").click()
        admin.get_by_role("link", name="Ohjelmat").click()
        choice = admin.get_by_label("Valmentajaksi ohjelmaan Sujuvat palvelut")
        # The person who signed in at the provider, by the name the provider gave.
        expect(choice.locator("option", has_text="Paula Pilvi")).to_have_count(1)
        choice.select_option(label="Paula Pilvi")
        admin.get_by_role("button", name="Anna valmentajan rooli ohjelmassa Sujuvat palvelut").click()
        expect(admin.get_by_role("status")).to_have_text("Muutos on tallennettu.")
    finally:
        admin_context.close()

    person.goto(f"{signin_live.base}/")
    expect(person.get_by_role("heading", name="Valmennat: Sujuvat palvelut")).to_be_visible()
    expect(person.get_by_role("link", name="Kotihoidon tiimi")).to_be_visible()
    expect(person.get_by_role("link", name="Vammaispalvelujen tiimi")).to_be_visible()
    expect(person.get_by_role("link", name="Toisen ohjelman tiimi")).to_have_count(0)
    check_axe(person, axe_source, "the home page of a coach who signed in at the provider")
