"""The invite -> agreement -> board journey in Swedish and in plain Finnish, by accessible names in
each language, axe-clean at every step, with a screenshot of each step kept under test-output/;
and the key pages axe-clean in every language (A1, L1, L2)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from auth.invites import create_invite
from auth.models import Person
from boards import protocol as p
from boards.client import BoardClient
from browser.conftest import Pages, check_axe, run, screenshot, wait_synced
from conftest import LiveServer, Seeded
from foundation.db import create_engine, new_id


@dataclass(frozen=True)
class Journey:
    """What a person reads on the way, in one language."""

    locale: str
    html_lang: str
    switch_to: str | None  # the switch button pressed on the invite page, if the start is not this language
    invite_title: str
    invite_role: str
    join: str
    agreement_title: str
    first_block: str
    accept: str
    welcome_title: str
    name_label: str
    continue_: str
    you: str
    add_card: str


SWEDISH = Journey(
    locale="sv",
    html_lang="sv",
    switch_to="svenska",
    invite_title="Du är inbjuden",
    invite_role="Du är med som kund och utvecklare, en jämlik medlem i teamet.",
    join="Gå med",
    agreement_title="Deltagaravtal",
    first_block="Din roll",
    accept="Jag godkänner avtalet och är med",
    welcome_title="Välkommen!",
    name_label="Med vilket namn ser de andra dig?",
    continue_="Fortsätt",
    you="Kaisa (du)",
    add_card="Lägg till ett kort",
)
PLAIN_FINNISH = Journey(
    locale="fi-selko",
    html_lang="fi",
    switch_to=None,  # a customer's first visit by invite starts in plain Finnish
    invite_title="Sinut on kutsuttu mukaan",
    invite_role="Olet mukana asiakkaana. Olet yhtä tärkeä jäsen kuin muut.",
    join="Liity mukaan",
    agreement_title="Sopimus mukana olosta",
    first_block="Sinun roolisi",
    accept="Hyväksyn sopimuksen ja tulen mukaan",
    welcome_title="Tervetuloa!",
    name_label="Millä nimellä muut näkevät sinut?",
    continue_="Jatka",
    you="Kaisa (sinä)",
    add_card="Lisää kortti",
)


def _customer_invite(live: LiveServer, world: Seeded, database_url: str) -> str:
    async def make() -> str:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                return await create_invite(
                    conn,
                    live.settings.secret_keys,
                    team_id=world.team,
                    role="customer",
                    created_by=world.professional,
                    contact_person_id=world.professional,
                )
        finally:
            await engine.dispose()

    return str(run(make()))


def _step(page: Any, axe_source: str, journey: Journey, name: str) -> None:
    assert page.evaluate("() => document.documentElement.lang") == journey.html_lang
    check_axe(page, axe_source, f"{name} ({journey.locale})")
    screenshot(page, f"journey-{journey.locale}-{name}")


@pytest.mark.parametrize("journey", [SWEDISH, PLAIN_FINNISH], ids=lambda j: j.locale)
def test_invite_agreement_and_board_in_swedish_and_in_plain_finnish(
    pages: Pages, live: LiveServer, world: Seeded, migrated_url: str, axe_source: str, journey: Journey
) -> None:
    token = _customer_invite(live, world, migrated_url)
    page = pages.open(f"/invite/{token}", None)
    if journey.switch_to is not None:
        expect(page.get_by_role("button", name="selkokieli")).to_have_attribute("aria-current", "true")
        page.get_by_role("button", name=journey.switch_to).click()
    expect(page.get_by_role("button", name=journey.switch_to or "selkokieli")).to_have_attribute("aria-current", "true")
    expect(page.get_by_role("heading", level=1)).to_have_text(journey.invite_title)
    expect(page.get_by_text(journey.invite_role)).to_be_visible()
    _step(page, axe_source, journey, "1-invite")
    page.get_by_role("button", name=journey.join).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(journey.agreement_title)
    expect(page.get_by_role("heading", level=2, name=journey.first_block)).to_be_visible()
    for box in page.get_by_role("checkbox").all():
        expect(box).not_to_be_checked()
    _step(page, axe_source, journey, "2-agreement")
    page.get_by_role("button", name=journey.accept).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(journey.welcome_title)
    page.get_by_label(journey.name_label).fill("Kaisa")
    _step(page, axe_source, journey, "3-welcome")
    page.get_by_role("button", name=journey.continue_).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Kotihoito")
    page.get_by_role("link", name="Asiakaspolku").click()
    wait_synced(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Asiakaspolku")
    expect(page.locator("#presence-list")).to_contain_text(journey.you)
    expect(page.get_by_role("button", name=journey.add_card).first).to_be_visible()
    _step(page, axe_source, journey, "4-board")


@pytest.mark.parametrize("locale", ["sv", "fi-selko", "en"])
def test_key_pages_pass_axe_in_every_language(
    pages: Pages, live: LiveServer, world: Seeded, axe_source: str, locale: str
) -> None:
    context = pages.context("customer")
    context.add_cookies([{"name": "kumppani-lang", "value": locale, "url": live.base}])
    page = context.new_page()
    for path in ("/", "/me", "/account/sessions", "/accessibility", "/privacy", f"/teams/{world.team}"):
        page.goto(live.base + path)
        expect(page.locator("h1")).to_be_visible()
        assert page.evaluate("() => document.documentElement.lang") == ("fi" if locale == "fi-selko" else locale)
        check_axe(page, axe_source, f"{path} in {locale}")
    page.goto(f"{live.base}/boards/{world.board}")
    wait_synced(page)
    check_axe(page, axe_source, f"the board in {locale}")


def test_words_keep_the_language_their_author_writes_in(
    pages: Pages, live: LiveServer, world: Seeded, migrated_url: str, axe_source: str
) -> None:
    """A Swedish-speaking professional's card on a Finnish page is marked lang="sv"; a Finnish
    author's card is not marked (it is in the page's language), and on a Swedish page it is "fi"."""

    async def speaks_swedish() -> None:
        engine = create_engine(migrated_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(update(Person).where(Person.id == world.professional).values(locale="sv"))
        finally:
            await engine.dispose()

    run(speaks_swedish())
    for who, text in (("professional", "Ingen ringde tillbaka"), ("customer", "Kukaan ei soittanut")):
        remote(
            who,
            live,
            world,
            p.ItemCreate(id=new_id(), item_type="card", fields={"text": text}, stage=world.stage, lane=world.lane),
        )
    page = pages.board(who="customer")
    expect(page.locator(".card-text", has_text="Ingen ringde tillbaka")).to_have_attribute("lang", "sv")
    expect(page.locator(".card-text", has_text="Kukaan ei soittanut")).not_to_have_attribute("lang", re.compile("."))
    check_axe(page, axe_source, "a board with a Swedish card on a Finnish page")
    # The printable export marks the author's words the same way.
    page.get_by_role("link", name="Taulun asetukset").click()
    page.get_by_role("button", name="Tulostettava sivu").click()
    expect(page.locator('[lang="sv"]', has_text="Ingen ringde tillbaka")).to_be_visible()
    check_axe(page, axe_source, "the printable export with a Swedish card")
    context = pages.context("professional")
    context.add_cookies([{"name": "kumppani-lang", "value": "sv", "url": live.base}])
    swedish = context.new_page()
    swedish.goto(f"{live.base}/boards/{world.board}")
    wait_synced(swedish)
    assert swedish.evaluate("() => document.documentElement.lang") == "sv"
    expect(swedish.locator(".card-text", has_text="Kukaan ei soittanut")).to_have_attribute("lang", "fi")
    expect(swedish.locator(".card-text", has_text="Ingen ringde tillbaka")).not_to_have_attribute(
        "lang", re.compile(".")
    )


def remote(who: str, live: LiveServer, world: Seeded, command: p.AnyCommand) -> None:
    async def go() -> None:
        client = BoardClient(live.ws_url(world.board), cookie=world.cookie(who), origin=live.base)
        await client.connect()
        try:
            await client.call(command)
        finally:
            await client.close()

    run(go())
