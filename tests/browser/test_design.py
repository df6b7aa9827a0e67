"""The board as a product (issue 24): a card is one tab stop, a phone reads a journey stage by
stage, and the figures the issue sets targets for are measured here and kept in test-output/."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import expect

from boards.catalogue import create_board
from boards.demo_content import seed_demo_content
from browser.conftest import SCREENSHOTS, Pages, check_axe, run, screenshot
from conftest import LiveServer, Seeded
from foundation.db import create_engine

MEASURES = SCREENSHOTS.parent / "measures.json"
TAB_STOPS_TARGET = 40
PHONE_HEIGHT_TARGET = 2500


async def _demo_journey(database_url: str, world: Seeded) -> str:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            board = await create_board(conn, "Kotihoidon asiakaspolku", "journey", team_id=world.team)
            await seed_demo_content(conn, board, world.professional)
            return board
    finally:
        await engine.dispose()


def _record(name: str, value: float, target: float) -> None:
    MEASURES.parent.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = json.loads(MEASURES.read_text()) if MEASURES.exists() else {}
    figures[name] = {"measured": value, "target": target}
    MEASURES.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")


def _tab_stops(page: Any, inside: str | None = None) -> list[str]:
    """Press Tab from the top of the page until focus wraps round: the stops (in `inside` only)."""
    page.evaluate("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }")
    seen: list[Any] = []
    for _ in range(300):
        page.keyboard.press("Tab")
        marker = page.evaluate(
            """(inside) => {
                const node = document.activeElement;
                if (!node || node === document.body) return null;
                if (!node.dataset.tabMark) node.dataset.tabMark = String(Math.random());
                const counted = !inside || Boolean(node.closest(inside));
                const name = node.getAttribute("aria-label") || node.textContent.trim().slice(0, 40);
                return [node.dataset.tabMark, name, counted];
            }""",
            inside,
        )
        if marker is None or (seen and marker[0] == seen[0][0]):
            break
        seen.append(marker)
    else:
        raise AssertionError("Tab never came back round")
    return [name for _, name, counted in seen if counted]


def test_the_demo_journey_is_few_tab_stops_and_short_on_a_phone(
    pages: Pages, live: LiveServer, world: Seeded, migrated_url: str, axe_source: str
) -> None:
    board = run(_demo_journey(migrated_url, world))
    page = pages.board(board, who="customer", width=1280, height=900)
    expect(page.locator("li.item")).to_have_count(13)
    # The board: the stage navigation and everything in #board. The page around it (header,
    # board heading, facilitation panel, footer) is measured and kept as well.
    stops = _tab_stops(page)
    board_stops = _tab_stops(page, "#board, .stage-nav")
    _record("journey_page_tab_stops_1280", len(stops), TAB_STOPS_TARGET)
    _record("journey_board_tab_stops_1280", len(board_stops), TAB_STOPS_TARGET)
    assert len(board_stops) <= TAB_STOPS_TARGET, f"{len(board_stops)} tab stops on the demo journey: {board_stops}"
    # At 1280 px some stages are out of view: the cue says which are shown, and a button goes on.
    page.evaluate("() => { document.querySelector('.board-scroll').scrollLeft = 0; }")
    cue = page.locator("#stage-cue")
    expect(cue).to_contain_text("Näkyvissä vaiheet 1–")
    expect(cue).not_to_contain_text("1–7/7")
    page.get_by_role("button", name="Seuraava vaihe").click()
    expect(cue).not_to_contain_text("vaiheet 1–")
    page.get_by_label("Näytä vaihe").select_option(label="7. Seuranta ja palvelutarpeen arviointi")
    expect(page.locator("section.column").last).to_be_focused()
    expect(cue).to_contain_text("–7/7")
    check_axe(page, axe_source, "the demo journey at 1280 px")
    screenshot(page, "design-journey-1280")

    phone = pages.board(board, who="customer", width=360, height=800)
    expect(phone.locator("section.column:visible")).to_have_count(1)
    height = phone.evaluate("() => document.documentElement.scrollHeight")
    _record("journey_height_360_stage_view", height, PHONE_HEIGHT_TARGET)
    screenshot(phone, "design-journey-360")
    assert height <= PHONE_HEIGHT_TARGET, f"the journey is {height} px tall at 360 px"
    expect(phone.locator("#stage-cue")).to_have_text("Vaihe 1/7")
    phone.get_by_role("button", name="Seuraava vaihe").click()
    expect(phone.locator("#stage-cue")).to_have_text("Vaihe 2/7")
    expect(phone.locator("section.column:visible h2")).to_contain_text("Yhteydenoton käsittely")
    check_axe(phone, axe_source, "the demo journey at 360 px")


def test_a_card_is_one_tab_stop_with_its_actions_and_shortcuts(
    pages: Pages, live: LiveServer, world: Seeded, migrated_url: str, axe_source: str
) -> None:
    board = run(_demo_journey(migrated_url, world))
    page = pages.board(board, who="customer")
    text = "Palveluohjaaja tulee kotikäynnille."
    menu = page.get_by_role("button", name=f"Toiminnot: {text}")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_role("button", name=f"Muokkaa korttia {text}")).to_have_count(0)
    menu.focus()
    page.keyboard.press("Enter")
    edit = page.get_by_role("button", name=f"Muokkaa korttia {text}")
    expect(edit).to_be_focused()
    check_axe(page, axe_source, "a card's open actions")
    page.keyboard.press("Escape")
    expect(menu).to_be_focused()
    expect(menu).to_have_attribute("aria-expanded", "false")
    # E on the Actions button opens the edit form; Escape goes back to the card.
    page.keyboard.press("e")
    expect(page.get_by_role("textbox", name="Teksti")).to_be_focused()
    page.keyboard.press("Escape")
    expect(edit).to_be_focused()
    # The help dialog lists the shortcuts.
    page.get_by_role("button", name="Pikanäppäimet").click()
    dialog = page.get_by_role("dialog", name="Pikanäppäimet")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Muokkaa korttia")
    check_axe(page, axe_source, "the shortcuts dialog")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Pikanäppäimet")).to_be_focused()
    # A stage's add menu names every row; choosing one opens the form in that cell.
    add = page.get_by_role("button", name="Lisää kortti: Palvelutarpeen arviointi", exact=True)
    add.click()
    page.get_by_role("group", name="Lisää kortti: Palvelutarpeen arviointi").get_by_role(
        "button", name="Ajatukset ja tunteet"
    ).click()
    expect(page.get_by_role("textbox", name="Teksti")).to_be_focused()
    expect(
        page.get_by_role("group", name="Lisää kortti: Palvelutarpeen arviointi, Ajatukset ja tunteet")
    ).to_be_visible()


def test_a_new_invite_link_has_focus_and_a_copy_button(pages: Pages, world: Seeded, axe_source: str) -> None:
    context = pages.context("professional", permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(f"{pages.live.base}/teams/{world.team}")
    page.get_by_role("button", name="Luo kutsulinkki").click()
    link = page.get_by_role("textbox", name="Linkki")
    expect(link).to_be_focused()
    copy = page.get_by_role("button", name="Kopioi linkki")
    copy.click()
    expect(page.locator("#copy-status")).to_have_text("Linkki on kopioitu. Voit liittää sen viestiin.")
    expect(copy).to_be_focused()
    assert page.evaluate("() => navigator.clipboard.readText()") == link.input_value()
    check_axe(page, axe_source, "a new invite link")


LINE_TARGET = 80
LONGEST_LINE = """() => {
    // The most characters on one rendered line of running text in <main>.
    let longest = 0;
    for (const block of document.querySelectorAll("main p, main li, main dd")) {
        const walker = document.createTreeWalker(block, NodeFilter.SHOW_TEXT);
        const lines = new Map();
        const range = document.createRange();
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            for (let i = 0; i < node.length; i++) {
                range.setStart(node, i);
                range.setEnd(node, i + 1);
                const rect = range.getClientRects()[0];
                if (!rect) continue;
                const top = Math.round(rect.top);
                lines.set(top, (lines.get(top) || 0) + 1);
            }
        }
        for (const count of lines.values()) longest = Math.max(longest, count);
    }
    return longest;
}"""


def test_text_pages_keep_lines_short(pages: Pages, world: Seeded) -> None:
    longest: dict[str, int] = {}
    for name, who, path in (
        ("accessibility", None, "/accessibility"),
        ("privacy", None, "/privacy"),
        ("me", "customer", "/me"),
        ("home", "customer", "/"),
    ):
        page = pages.open(path, who, width=1280, height=900)
        longest[name] = page.evaluate(LONGEST_LINE)
        page.close()
    _record("text_pages_longest_line_chars", max(longest.values()), LINE_TARGET)
    assert max(longest.values()) <= LINE_TARGET, f"characters on the longest line: {longest}"
