"""Organisation sign-in in Chromium, through a real OpenID provider (panva's oidc-provider).

The person finds the provider's control on Kumppani's sign-in page by its name,
signs in at the provider's own pages, and lands back signed in with their name
shown. The page's Content-Security-Policy applies throughout, as in production.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from browser.conftest import check_axe, run, tab_to
from conftest import LiveServer
from openid_provider import OpenIdProvider, register_provider
from server.i18n import Translator

FI = Translator("fi")

PROVIDER_NAME = "Testikunnan tunnus"
BUTTON_NAME = f"Kirjaudu: {PROVIDER_NAME}"


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser context; an uncaught script error on any page fails the test."""
    context = browser.new_context(locale="fi-FI", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    # Nothing leaves the machine: the provider's page asks for a web font on the internet.
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/]).*"), lambda route: route.abort())
    errors: list[str] = []
    context.on("page", lambda page: page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}")))
    try:
        yield context
    finally:
        context.close()
    assert not errors, "script errors in the page:\n" + "\n".join(errors)


def _sign_in_at_provider(page: Any, login: str) -> None:
    """What a person does on the provider's own pages: log in, then allow Kumppani."""
    page.get_by_placeholder("Enter any login").fill(login)
    page.get_by_placeholder("and password").fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()


def test_a_person_signs_in_with_the_providers_button(
    context: Any, signin_live: LiveServer, openid_provider: OpenIdProvider, axe_source: str
) -> None:
    run(register_provider(signin_live.settings, openid_provider, PROVIDER_NAME))
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{signin_live.base}/signin")
    check_axe(page, axe_source, "the sign-in page with a provider")
    page.get_by_role("link", name=BUTTON_NAME).click()

    expect(page).to_have_url(re.compile("^" + re.escape(openid_provider.issuer)))
    _sign_in_at_provider(page, "paula")

    expect(page).to_have_url(re.compile("^" + re.escape(signin_live.base)))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Paula Pilvi")
    # In no team yet: the page says who can add them (and with which account), not an empty home.
    expect(page.get_by_role("heading", name=FI("no_team.title"))).to_be_visible()
    expect(page.get_by_text(FI("no_team.email", email="paula.pilvi@kunta.example"))).to_be_visible()
    check_axe(page, axe_source, "the page of a person in no team")
    assert blocked == []


def test_the_providers_button_works_by_keyboard(
    context: Any, signin_live: LiveServer, openid_provider: OpenIdProvider
) -> None:
    run(register_provider(signin_live.settings, openid_provider, PROVIDER_NAME))
    page = context.new_page()
    page.goto(f"{signin_live.base}/signin")
    link = page.get_by_role("link", name=BUTTON_NAME)
    tab_to(page, link)
    assert link.evaluate("(node) => getComputedStyle(node).outlineStyle") != "none"  # focus is visible
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile("^" + re.escape(openid_provider.issuer)))
    page.keyboard.type("paula")
    page.keyboard.press("Tab")
    page.keyboard.type("any password")
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Continue")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_contain_text("Paula Pilvi")


def test_a_person_the_provider_gives_no_name_picks_one(
    context: Any, signin_live: LiveServer, openid_provider: OpenIdProvider, axe_source: str
) -> None:
    run(register_provider(signin_live.settings, openid_provider, PROVIDER_NAME))
    page = context.new_page()
    page.goto(f"{signin_live.base}/signin")
    page.get_by_role("link", name=BUTTON_NAME).click()
    _sign_in_at_provider(page, "nimeton")

    name = page.get_by_label(FI("welcome.name_label"))
    expect(name).to_be_visible()
    check_axe(page, axe_source, "the name question after an organisation sign-in")
    name.fill("Nimi Itse")
    page.get_by_role("button", name=FI("welcome.continue")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Nimi Itse")


def test_a_sign_in_cancelled_at_the_provider_says_so(
    context: Any, signin_live: LiveServer, openid_provider: OpenIdProvider, axe_source: str
) -> None:
    run(register_provider(signin_live.settings, openid_provider, PROVIDER_NAME))
    page = context.new_page()
    # The person changes their mind at the provider.
    page.goto(f"{signin_live.base}/signin")
    page.get_by_role("link", name=BUTTON_NAME).click()
    page.get_by_role("link", name="[ Cancel ]").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(FI("error.oidc_cancelled.title"))
    expect(page.get_by_text(FI("error.oidc_cancelled.text"))).to_be_visible()
    check_axe(page, axe_source, "a cancelled sign-in")
    assert not any(c["name"] == "kumppani" for c in context.cookies())


def test_an_unreachable_provider_is_told_apart_from_a_refusal(
    context: Any, signin_live: LiveServer, openid_provider: OpenIdProvider, axe_source: str
) -> None:
    run(register_provider(signin_live.settings, openid_provider, PROVIDER_NAME))
    page = context.new_page()
    page.goto(f"{signin_live.base}/signin")
    openid_provider.stop()
    page.get_by_role("link", name=BUTTON_NAME).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(FI("error.oidc_unreachable.title"))
    expect(page.get_by_text(FI("error.oidc_unreachable.text"))).to_be_visible()
    expect(page.get_by_text(FI("error.oidc.text"))).to_have_count(0)
    check_axe(page, axe_source, "an unreachable provider")
    assert not any(c["name"] == "kumppani" for c in context.cookies())
