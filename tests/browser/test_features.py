"""The facilitator's controls and timer, votes, comments, reactions, personas, undo, and display
preferences (large text, reduced motion, colours with a text label)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from boards import protocol as p
from boards.catalogue import create_board
from boards.client import BoardClient
from browser.conftest import Pages, announced, check_axe, open_actions, run
from conftest import LiveServer, Seeded
from foundation.db import create_engine


def card(page: Any, text: str) -> Any:
    return page.locator("li.item").filter(has_text=text)


def remote(live: LiveServer, world: Seeded, who: str, *commands: p.AnyCommand, board: str | None = None) -> None:
    async def go() -> None:
        client = BoardClient(live.ws_url(board or world.board), cookie=world.cookie(who), origin=live.base)
        await client.connect()
        try:
            for command in commands:
                await client.call(command)
        finally:
            await client.close()

    run(go())


def test_facilitator_locks_reveals_votes_and_runs_a_timer(
    pages: Pages, live: LiveServer, world: Seeded, axe_source: str
) -> None:
    remote(
        live,
        world,
        "customer",
        p.ItemCreate(
            id="votecard00001", item_type="card", fields={"text": "Äänestettävä"}, stage=world.stage, lane=world.lane
        ),
    )
    facilitator = pages.board(who="professional")
    customer = pages.board(who="customer")
    observer = pages.board(who="observer")
    expect(observer.get_by_role("heading", name="Työpajan ohjaus")).to_have_count(0)
    expect(observer.get_by_role("button", name="Lisää kortti: Ennen yhteydenottoa, Mitä asiakas tekee")).to_have_count(
        0
    )

    # Votes are secret until revealed: the voter sees their own, nobody sees totals.
    open_actions(customer, "Äänestettävä")
    customer.get_by_role("button", name="Äänestä: Äänestettävä").click()
    expect(card(customer, "Äänestettävä")).to_contain_text("Äänesi: 1")
    expect(customer.locator("#votes-left")).to_have_text("Ääniä jäljellä 4/5")
    customer.get_by_role("button", name="Äänestä: Äänestettävä").click()
    expect(card(customer, "Äänestettävä")).to_contain_text("Äänesi: 2")
    expect(card(facilitator, "Äänestettävä")).not_to_contain_text("Kaikkien äänet")
    facilitator.get_by_role("button", name="Näytä äänet").click()
    expect(card(facilitator, "Äänestettävä")).to_contain_text("Kaikkien äänet: 2")
    expect(card(observer, "Äänestettävä")).to_contain_text("Kaikkien äänet: 2")
    announced(customer, "Kaikkien äänet näkyvät nyt.")
    customer.get_by_role("button", name="Peru ääni: Äänestettävä").click()
    expect(card(facilitator, "Äänestettävä")).to_contain_text("Kaikkien äänet: 1")
    expect(card(customer, "Äänestettävä")).to_contain_text("Äänesi: 1")

    # Locking takes the editing controls away from everyone and says why.
    facilitator.get_by_role("button", name="Lukitse taulu").click()
    expect(customer.locator("#lock-state")).to_be_visible()
    expect(customer.get_by_role("button", name="Lisää kortti: Ennen yhteydenottoa, Mitä asiakas tekee")).to_have_count(
        0
    )
    announced(customer, "Paula Ammattilainen lukitsi taulun.")
    check_axe(customer, axe_source, "a locked board")
    facilitator.get_by_role("button", name="Avaa lukitus").click()
    expect(customer.get_by_role("button", name="Lisää kortti: Ennen yhteydenottoa, Mitä asiakas tekee")).to_be_visible()

    # The timer runs for everyone; it is announced when it starts, not every second.
    facilitator.get_by_label("Ajastin (minuuttia)").fill("3")
    facilitator.get_by_role("button", name="Käynnistä ajastin").click()
    expect(customer.locator("#timer")).to_contain_text(re.compile(r"Aikaa jäljellä 2 min \d+ s"))
    expect(customer.locator("#timer")).to_have_attribute("role", "timer")
    announced(customer, "Paula Ammattilainen käynnisti ajastimen: 3 min.")
    check_axe(facilitator, axe_source, "the board with a running timer")
    facilitator.get_by_role("button", name="Pysäytä ajastin").click()
    expect(customer.locator("#timer")).to_be_hidden()
    announced(customer, "Paula Ammattilainen pysäytti ajastimen.")
    # A short timer (set over the protocol) ends with one announcement.
    remote(live, world, "professional", p.BoardSet(timer_seconds=2))
    announced(customer, "Aika loppui.", timeout=10_000)
    expect(customer.locator("#timer")).to_have_text("Aika loppui.")


def test_comments_reactions_delete_and_undo(pages: Pages, live: LiveServer, world: Seeded, axe_source: str) -> None:
    remote(
        live,
        world,
        "professional",
        p.ItemCreate(
            id="commentcard01", item_type="card", fields={"text": "Kommentoitava"}, stage=world.stage, lane=world.lane
        ),
    )
    page = pages.board(who="customer")
    other = pages.board(who="professional")
    target = card(page, "Kommentoitava")
    open_actions(target, "Kommentoitava")
    target.get_by_role("button", name="Kommentit (0): Kommentoitava").click()
    expect(page.get_by_role("textbox", name="Kirjoita kommentti")).to_be_focused()
    page.keyboard.type("Minulle kävi samoin")
    page.keyboard.press("Control+Enter")
    expect(target).to_contain_text("Minulle kävi samoin")
    open_actions(card(other, "Kommentoitava"), "Kommentoitava")
    expect(card(other, "Kommentoitava").get_by_role("button", name="Kommentit (1): Kommentoitava")).to_be_visible()
    announced(other, "Kalle Asiakas kommentoi korttia Kommentoitava: Minulle kävi samoin")
    check_axe(page, axe_source, "an open comment thread")

    target.get_by_role("button", name="Reagoi korttiin: Kommentoitava").click()
    page.get_by_role("button", name="Hyvä idea").click()
    expect(card(other, "Kommentoitava")).to_contain_text("Hyvä idea 1")
    expect(target.get_by_role("button", name="Reagoi korttiin: Kommentoitava")).to_be_focused()

    target.get_by_role("button", name="Poista kortti Kommentoitava").click()
    expect(card(page, "Kommentoitava")).to_have_count(0)
    expect(page.locator("#notice-text")).to_have_text("Poistit kortin Kommentoitava.")
    expect(card(other, "Kommentoitava")).to_have_count(0)
    page.get_by_role("button", name="Kumoa").click()
    expect(card(page, "Kommentoitava")).to_be_visible()
    expect(card(other, "Kommentoitava")).to_be_visible()
    expect(page.locator("#notice-text")).to_have_text("Kumottu.")
    expect(page.get_by_role("button", name="Sulje")).to_be_focused()


def test_persona_is_edited_field_by_field(
    pages: Pages, live: LiveServer, world: Seeded, migrated_url: str, axe_source: str
) -> None:
    async def persona_board() -> str:
        engine = create_engine(migrated_url)
        try:
            async with engine.begin() as conn:
                return await create_board(conn, "Personat", "persona", team_id=world.team)
        finally:
            await engine.dispose()

    board = run(persona_board())
    page = pages.board(board, who="customer")
    persona = page.locator("li.item").first
    expect(persona.get_by_role("heading", level=3)).to_have_text("Nimetön persona")
    persona.get_by_role("button", name="Muokkaa nimeä: Nimetön persona").click()
    page.get_by_role("textbox", name="Nimi").fill("Maija, 82")
    page.get_by_role("button", name="Tallenna", exact=True).click()
    expect(persona.get_by_role("heading", level=3)).to_have_text("Maija, 82")
    expect(persona.get_by_role("button", name="Muokkaa nimeä: Maija, 82")).to_be_focused()
    persona.get_by_role("button", name="Muokkaa: Elämäntilanne (Maija, 82)").click()
    page.get_by_role("textbox", name="Elämäntilanne").fill("Asuu yksin, tytär käy viikonloppuisin")
    page.keyboard.press("Control+Enter")
    expect(persona).to_contain_text("Asuu yksin, tytär käy viikonloppuisin")
    persona.get_by_role("button", name="Muokkaa: Segmentti (Maija, 82)").click()
    page.get_by_role("combobox", name="Segmentti").select_option("S3")
    page.get_by_role("button", name="Tallenna", exact=True).click()
    expect(persona).to_contain_text("S3 – Vaivattomuus")
    check_axe(page, axe_source, "a persona board after editing")


def test_large_text_reduced_motion_and_colour_labels(pages: Pages, live: LiveServer, world: Seeded) -> None:
    context = pages.context("customer", reduced_motion="reduce")
    page = context.new_page()
    page.goto(f"{live.base}/boards/{world.board}")
    page.wait_for_function("() => window.kumppaniBoard && window.kumppaniBoard.synced")
    remote(
        live,
        world,
        "professional",
        p.ItemCreate(
            id="colourcard001",
            item_type="card",
            fields={"text": "Sininen lappu", "colour": "blue"},
            stage=world.stage,
            lane=world.lane,
        ),
    )
    expect(card(page, "Sininen lappu")).to_contain_text("Väri: sininen")
    assert (
        card(page, "Sininen lappu").evaluate("(li) => getComputedStyle(li.firstElementChild).animationName") == "none"
    )
    # Without the preference, the same highlight is animated.
    moving = pages.board(who="observer")
    remote(live, world, "professional", p.ItemUpdate(id="colourcard001", fields={"text": "Sininen lappu!"}))
    expect(card(moving, "Sininen lappu!")).to_have_class("item fresh")
    assert (
        card(moving, "Sininen lappu!").evaluate("(li) => getComputedStyle(li.firstElementChild).animationName")
        == "arrive"
    )

    button = page.get_by_role("button", name="Suurempi teksti")
    expect(button).to_have_attribute("aria-pressed", "false")
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("() => getComputedStyle(document.documentElement).fontSize") == "20px"
    page.goto(f"{live.base}/me")
    assert page.evaluate("() => getComputedStyle(document.documentElement).fontSize") == "20px"
    expect(page.get_by_role("button", name="Suurempi teksti")).to_have_attribute("aria-pressed", "true")
