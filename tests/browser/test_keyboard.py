"""Keyboard only, clicks only, and what a screen reader hears (A2, A3, A4, A5, A6)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from boards import protocol as p
from boards.client import BoardClient
from browser.conftest import Pages, announced, check_axe, is_focused, open_actions, run, tab_to
from conftest import LiveServer, Seeded

FIRST_CELL = "Lisää kortti: Ennen yhteydenottoa, Mitä asiakas tekee"


def card(page: Any, text: str) -> Any:
    return page.locator("li.item").filter(has_text=text)


def section_of(page: Any, text: str) -> str:
    """The column heading and lane heading a card is shown under, once no edit is on its way."""
    page.wait_for_function("() => window.kumppaniBoard.store.pending.size === 0")
    return str(
        card(page, text).evaluate(
            """(li) => {
                const column = li.closest("section").querySelector("h2").textContent;
                const lane = li.closest(".cell").querySelector("h3")?.textContent ?? "";
                return `${column} / ${lane}`;
            }"""
        )
    )


def remote(live: LiveServer, world: Seeded, who: str, *commands: p.AnyCommand) -> None:
    async def go() -> None:
        client = BoardClient(live.ws_url(world.board), cookie=world.cookie(who), origin=live.base)
        await client.connect()
        try:
            for command in commands:
                await client.call(command)
        finally:
            await client.close()

    run(go())


def test_add_edit_and_move_a_card_by_keyboard_only(pages: Pages, axe_source: str) -> None:
    page = pages.board(who="customer")
    add = page.get_by_role("button", name=FIRST_CELL)
    # Keyboard users add through the stage's menu, which names each row.
    tab_to(page, page.get_by_role("button", name="Lisää kortti: Ennen yhteydenottoa", exact=True))
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Mitä asiakas tekee", exact=True)).to_be_focused()
    check_axe(page, axe_source, "the add menu")
    page.keyboard.press("Enter")
    textbox = page.get_by_role("textbox", name="Teksti")
    expect(textbox).to_be_focused()
    check_axe(page, axe_source, "the add form")
    page.keyboard.type("Soitin neuvontaan")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Lisää", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(card(page, "Soitin neuvontaan")).to_be_visible()
    expect(page.locator("#notice-text")).to_contain_text("Lisäsit: Soitin neuvontaan")
    # The form stays open for the next card, with focus in it; Escape closes it and goes back.
    expect(textbox).to_be_focused()
    page.keyboard.press("Escape")
    expect(add).to_be_focused()
    page.wait_for_function("() => window.kumppaniBoard.store.pending.size === 0")

    # The card is one tab stop: its actions open from it.
    tab_to(page, page.get_by_role("button", name="Toiminnot: Soitin neuvontaan"), backwards=True)
    page.keyboard.press("Enter")
    edit = page.get_by_role("button", name="Muokkaa korttia Soitin neuvontaan")
    expect(edit).to_be_focused()
    page.keyboard.press("Enter")
    expect(textbox).to_be_focused()
    expect(textbox).to_have_value("Soitin neuvontaan")
    check_axe(page, axe_source, "the edit form")
    page.keyboard.press("Control+A")
    page.keyboard.type("Soitin neuvontaan kahdesti")
    page.keyboard.press("Control+Enter")
    expect(card(page, "Soitin neuvontaan kahdesti")).to_be_visible()
    edit = page.get_by_role("button", name="Muokkaa korttia Soitin neuvontaan kahdesti")
    expect(edit).to_be_focused()

    page.keyboard.press("Tab")
    move = page.get_by_role("button", name="Siirrä korttia Soitin neuvontaan kahdesti")
    expect(move).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("group", name="Siirrä korttia Soitin neuvontaan kahdesti")).to_be_visible()
    check_axe(page, axe_source, "the move menu")
    tab_to(page, page.get_by_role("button", name="Seuraavaan: Yhteydenoton käsittely"))
    page.keyboard.press("Enter")
    assert section_of(page, "Soitin neuvontaan kahdesti") == "2. Yhteydenoton käsittely / Mitä asiakas tekee"
    expect(move).to_be_focused()
    expect(page.locator("#notice-text")).to_contain_text("Uusi paikka: Yhteydenoton käsittely, Mitä asiakas tekee")
    # Alt + arrow keys move the focused card too.
    page.keyboard.press("Alt+ArrowLeft")
    expect(card(page, "kahdesti")).to_have_count(1)
    page.wait_for_function("() => window.kumppaniBoard.store.pending.size === 0")
    assert section_of(page, "Soitin neuvontaan kahdesti") == "1. Ennen yhteydenottoa / Mitä asiakas tekee"
    check_axe(page, axe_source, "the board after moving")

    # The emotion of a stage, for the curve, is a plain select: arrow keys set it.
    emotion = page.locator("#board section").first.get_by_label("Asiakkaan tunne")
    tab_to(page, emotion, backwards=True)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#curve-list li").first).to_have_text("Ennen yhteydenottoa: Hyvä (+1)")
    expect(page.locator("#board section").first.get_by_label("Asiakkaan tunne")).to_be_focused()
    page.wait_for_function("() => window.kumppaniBoard.store.pending.size === 0")
    assert (
        page.evaluate(
            "() => [...window.kumppaniBoard.store.items.values()].find((i) => i.type === 'stage').fields.emotion"
        )
        == 1
    )


def test_move_a_card_with_clicks_only(pages: Pages, live: LiveServer, world: Seeded, axe_source: str) -> None:
    remote(
        live,
        world,
        "professional",
        p.ItemCreate(
            id="clickcard0001", item_type="card", fields={"text": "Siirrä minut"}, stage=world.stage, lane=world.lane
        ),
    )
    page = pages.board(who="customer")
    target = card(page, "Siirrä minut")
    open_actions(target, "Siirrä minut")
    target.get_by_role("button", name="Siirrä korttia Siirrä minut").click()
    page.get_by_role("button", name="Alemmalle riville: Kohtaamispisteet").click()
    expect(card(page, "Siirrä minut")).to_have_count(1)
    assert section_of(page, "Siirrä minut") == "1. Ennen yhteydenottoa / Kohtaamispisteet"
    # "Choose a place…" reaches any cell with pointer clicks on plain selects.
    open_actions(card(page, "Siirrä minut"), "Siirrä minut")
    card(page, "Siirrä minut").get_by_role("button", name="Siirrä korttia Siirrä minut").click()
    page.get_by_role("button", name="Valitse paikka…").click()
    check_axe(page, axe_source, "the place form")
    page.get_by_label("Vaihe", exact=True).select_option(label="Palvelutarpeen arviointi")
    page.get_by_label("Rivi", exact=True).select_option(label="Kipupisteet")
    page.get_by_role("button", name="Siirrä", exact=True).click()
    page.wait_for_function("() => window.kumppaniBoard.store.pending.size === 0")
    assert section_of(page, "Siirrä minut") == "3. Palvelutarpeen arviointi / Kipupisteet"


def test_remote_changes_are_announced_politely_without_moving_focus_or_scroll(
    pages: Pages, live: LiveServer, world: Seeded, axe_source: str
) -> None:
    page = pages.board(who="professional", height=700)
    expect(page.locator("#announcer")).to_have_attribute("aria-live", "polite")
    add = page.get_by_role("button", name="Lisää kortti: Palvelutarpeen arviointi, Kipupisteet")
    add.focus()
    add.evaluate("(node) => node.scrollIntoView({ block: 'center' })")
    page.wait_for_function("() => window.scrollY > 0")
    where = add.bounding_box()["y"]
    remote(
        live,
        world,
        "customer",
        p.ItemCreate(
            id="remotecard0001", item_type="card", fields={"text": "Jonotin kauan"}, stage=world.stage, lane=world.lane
        ),
    )
    announced(page, "Kalle Asiakas lisäsi: Jonotin kauan (Ennen yhteydenottoa, Mitä asiakas tekee).")
    expect(card(page, "Jonotin kauan")).to_be_visible()
    assert is_focused(add)
    # What the person is looking at stays put (the browser's scroll anchoring, with nodes reused).
    assert abs(add.bounding_box()["y"] - where) < 2
    expect(page.locator("#presence-list")).to_contain_text("Paula Ammattilainen (sinä)")
    check_axe(page, axe_source, "the board after an announcement")


def test_deleting_the_focused_card_remotely_moves_focus_to_its_neighbour(
    pages: Pages, live: LiveServer, world: Seeded
) -> None:
    remote(
        live,
        world,
        "customer",
        p.ItemCreate(
            id="neighbour0001", item_type="card", fields={"text": "Ensimmäinen"}, stage=world.stage, lane=world.lane
        ),
        p.ItemCreate(
            id="neighbour0002", item_type="card", fields={"text": "Toinen"}, stage=world.stage, lane=world.lane
        ),
    )
    page = pages.board(who="professional")
    page.get_by_role("button", name="Toiminnot: Ensimmäinen").focus()
    remote(live, world, "customer", p.ItemDelete(id="neighbour0001"))
    expect(card(page, "Ensimmäinen")).to_have_count(0)
    expect(page.get_by_role("button", name="Toiminnot: Toinen")).to_be_focused()
    announced(page, "Siirryit viereiseen korttiin")


def test_verbosity_mine_announces_only_changes_to_my_cards(pages: Pages, live: LiveServer, world: Seeded) -> None:
    page = pages.board(who="professional")
    page.get_by_text("Asetukset", exact=True).click()
    page.get_by_label("Ruudunlukija kertoo muiden muutoksista").select_option("mine")
    assert page.evaluate("() => localStorage.getItem('kumppani.verbosity')") == "mine"
    page.get_by_role("button", name=FIRST_CELL).click()
    page.get_by_role("textbox", name="Teksti").fill("Paulan kortti")
    page.get_by_role("button", name="Lisää", exact=True).click()
    page.wait_for_function("() => window.kumppaniBoard.store.pending.size === 0")
    own = page.evaluate(
        "() => [...window.kumppaniBoard.store.items.values()].find((i) => i.fields.text === 'Paulan kortti').id"
    )
    # Every text the live region is given, not only the last: a later announcement would replace
    # an earlier one that should not have been made.
    page.evaluate(
        """() => {
            const region = document.getElementById("announcer");
            window.announcedTexts = [];
            new MutationObserver(() => window.announcedTexts.push(region.textContent)).observe(
                region, { childList: true, subtree: true, characterData: true }
            );
        }"""
    )
    remote(
        live,
        world,
        "customer",
        p.ItemCreate(
            id="othercard0001", item_type="card", fields={"text": "Kallen kortti"}, stage=world.stage, lane=world.lane
        ),
    )
    expect(card(page, "Kallen kortti")).to_be_visible()
    remote(live, world, "customer", p.ItemUpdate(id=own, fields={"text": "Paulan kortti, Kallen lisäys"}))
    announced(page, "Kalle Asiakas muokkasi: Paulan kortti, Kallen lisäys.")
    texts = page.evaluate("() => window.announcedTexts")
    assert any("Paulan kortti, Kallen lisäys" in t for t in texts), texts
    assert not any("Kallen kortti" in t for t in texts), f"another's card was announced: {texts}"
    # The choice is remembered in this browser.
    page.reload()
    page.get_by_text("Asetukset", exact=True).click()
    expect(page.get_by_label("Ruudunlukija kertoo muiden muutoksista")).to_have_value("mine")
