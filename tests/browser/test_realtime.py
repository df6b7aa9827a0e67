"""Two browsers on one board, and a server restart under an unsent edit."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import expect

from boards.client import BoardClient
from browser.conftest import Pages, check_axe, open_actions, run, wait_synced
from conftest import LiveServer, Seeded


def add_card(page: Any, text: str, button: str = "Lisää kortti: Ennen yhteydenottoa, Mitä asiakas tekee") -> None:
    page.get_by_role("button", name=button).click()
    page.get_by_role("textbox", name="Teksti").fill(text)
    page.get_by_role("button", name="Lisää", exact=True).click()


def card(page: Any, text: str) -> Any:
    return page.locator("li.item").filter(has_text=text)


def test_a_card_added_in_one_browser_shows_in_the_other_within_a_second(pages: Pages, axe_source: str) -> None:
    professional = pages.board(who="professional")
    customer = pages.board(who="customer")
    expect(customer.locator("#presence-list")).to_contain_text("Paula Ammattilainen")
    started = time.monotonic()
    add_card(professional, "Odotin puhelimessa 40 minuuttia")
    expect(card(customer, "Odotin puhelimessa 40 minuuttia")).to_be_visible(timeout=1000)
    assert time.monotonic() - started < 2.5  # the click itself included
    expect(card(customer, "Odotin puhelimessa")).to_contain_text("Kirjoittaja: Paula Ammattilainen")
    check_axe(customer, axe_source, "the board after a remote card")


def test_concurrent_edits_of_one_card_converge(pages: Pages, axe_source: str) -> None:
    a = pages.board(who="professional")
    b = pages.board(who="customer")
    add_card(a, "Alkuperäinen teksti")
    expect(card(b, "Alkuperäinen teksti")).to_be_visible()
    for page in (a, b):
        open_actions(card(page, "Alkuperäinen teksti"), "Alkuperäinen teksti")
        card(page, "Alkuperäinen teksti").get_by_role("button", name="Muokkaa korttia Alkuperäinen teksti").click()
    # Each sees that the other is editing the card.
    expect(card(a, "Alkuperäinen teksti")).to_contain_text("Kalle Asiakas muokkaa tätä")
    a.get_by_role("textbox", name="Teksti").fill("Paulan versio")
    b.get_by_role("textbox", name="Teksti").fill("Kallen versio")
    a.get_by_role("button", name="Tallenna", exact=True).click()
    b.get_by_role("button", name="Tallenna", exact=True).click()
    for page in (a, b):
        page.wait_for_function("() => window.kumppaniBoard.store.pending.size === 0")
    final = a.locator("li.item .card-text").first.inner_text()
    assert final in ("Paulan versio", "Kallen versio")
    expect(b.locator("li.item .card-text").first).to_have_text(final)
    expect(a.locator("li.item .card-text")).to_have_count(1)
    # The later save replaced the other's: that person is told so, with undo.
    loser = b if final == "Kallen versio" else a
    expect(loser.locator("#notice-text")).to_contain_text("korvasi")
    expect(loser.get_by_role("button", name="Kumoa")).to_be_visible()
    check_axe(loser, axe_source, "the board with a 'replaced' notice")


def test_an_edit_made_while_the_server_is_down_is_saved_exactly_once(
    pages: Pages, live: LiveServer, world: Seeded, axe_source: str
) -> None:
    page = pages.board(who="customer")
    live.stop()
    expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
    add_card(page, "Tehty katkon aikana")
    expect(page.locator("#conn-queue")).to_contain_text("1 muutos odottaa")
    expect(card(page, "Tehty katkon aikana")).to_contain_text("odottaa lähetystä")
    check_axe(page, axe_source, "the board while offline")
    again = LiveServer(live.settings, port=live.port).start()
    try:
        wait_synced(page, timeout=15_000)
        expect(page.locator("#conn")).to_have_attribute("data-state", "online")
        page.wait_for_function("() => window.kumppaniBoard.store.pending.size === 0")
        expect(page.locator("#conn-queue")).to_have_text("")
        expect(card(page, "Tehty katkon aikana")).not_to_contain_text("odottaa lähetystä")

        async def cards_with_text() -> int:
            client = BoardClient(again.ws_url(world.board), cookie=world.cookie("professional"), origin=again.base)
            await client.connect()
            try:
                return sum(1 for i in client.replica.items.values() if i["fields"].get("text") == "Tehty katkon aikana")
            finally:
                await client.close()

        assert run(cards_with_text()) == 1
    finally:
        again.stop()


def test_an_unsent_edit_survives_reloading_the_page(pages: Pages, live: LiveServer, world: Seeded) -> None:
    page = pages.board(who="customer")
    live.stop()
    expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
    add_card(page, "Säilyy uudelleenlatauksessa")
    saved = page.evaluate(f"() => sessionStorage.getItem('kumppani.pending.{world.board}')")
    assert saved and "Säilyy uudelleenlatauksessa" in saved
    again = LiveServer(live.settings, port=live.port).start()
    try:
        page.reload()
        wait_synced(page)
        page.wait_for_function("() => window.kumppaniBoard.store.pending.size === 0")
        expect(card(page, "Säilyy uudelleenlatauksessa")).to_have_count(1)
        assert page.evaluate(f"() => sessionStorage.getItem('kumppani.pending.{world.board}')") is None

        async def count() -> int:
            client = BoardClient(again.ws_url(world.board), cookie=world.cookie("professional"), origin=again.base)
            await client.connect()
            try:
                texts = [i["fields"].get("text") for i in client.replica.items.values()]
                return texts.count("Säilyy uudelleenlatauksessa")
            finally:
                await client.close()

        assert run(count()) == 1
    finally:
        again.stop()
