"""Every page passes axe-core (WCAG 2.0/2.1/2.2 A and AA), the invite flow works by keyboard only,
the accessibility statement takes feedback, and the board reflows at 320 px (A1, A7, A8, A10)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from auth import directory
from auth.invites import create_invite
from auth.models import AccessibilityFeedback
from boards import protocol as p
from boards.catalogue import create_board
from boards.client import BoardClient
from boards.templates import TEMPLATE_NAMES
from browser.conftest import Pages, check_axe, new_session, run, screenshot, tab_to, wait_synced
from conftest import LiveServer, Seeded
from foundation.db import create_engine


async def _boards_of_every_template(database_url: str, world: Seeded) -> dict[str, str]:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            return {
                name: await create_board(conn, f"Taulu: {name}", name, team_id=world.team) for name in TEMPLATE_NAMES
            }
    finally:
        await engine.dispose()


async def _fill(live: LiveServer, world: Seeded, boards: dict[str, str]) -> None:
    """Some content on each board, so that cards, comments, votes and reactions are drawn."""
    for number, (template, board_id) in enumerate(boards.items()):
        client = BoardClient(live.ws_url(board_id), cookie=world.cookie("customer"), origin=live.base)
        await client.connect()
        try:
            items = client.replica.items.values()
            columns = sorted((i for i in items if i["type"] in ("stage", "theme", "picture")), key=lambda i: i["order"])
            lanes = sorted((i for i in items if i["type"] == "lane"), key=lambda i: i["order"])
            stage = columns[0]["id"] if columns else None
            lane = lanes[0]["id"] if lanes else None
            kind = {"findings": "finding", "ideas": "idea", "persona": "persona"}.get(template, "card")
            fields: dict[str, Any] = {
                "card": {"text": "Odotin puhelimessa pitkään", "colour": "blue"},
                "finding": {"text": "Asiakas ei tiedä, kenelle soittaa", "key": True},
                "idea": {"title": "Yksi numero kaikkeen", "text": "Neuvonta vastaa aina"},
                "persona": {"name": "Maija", "avatar": "👵", "segment": "S3", "life_situation": "Asuu yksin"},
            }[kind]
            first = f"board{number:02d}item01"
            await client.call(p.ItemCreate(id=first, item_type=kind, fields=fields, stage=stage, lane=lane))
            await client.call(
                p.ItemCreate(id=f"{first}c", item_type="comment", fields={"text": "Sama kokemus"}, parent=first)
            )
            await client.call(p.ReactionAdd(id=first, emoji="👍"))
            await client.call(p.VoteAdd(id=first))
            if template == "findings":
                await client.call(
                    p.ItemCreate(
                        id="question00001", item_type="question", fields={"text": "Miten voisimme auttaa?"}, stage=stage
                    )
                )
            if template == "ideas":
                await client.call(
                    p.ItemCreate(
                        id="testitem00001",
                        item_type="test",
                        fields={"hypothesis": "Soitot vähenevät", "idea_ref": first},
                        stage=stage,
                    )
                )
            if template.startswith("journey"):
                for i, column in enumerate(columns):
                    await client.call(p.ItemUpdate(id=column["id"], fields={"emotion": [1, -1, -2, 0, 1, 2, 1][i % 7]}))
        finally:
            await client.close()


def test_every_page_passes_axe(
    pages: Pages, live: LiveServer, world: Seeded, migrated_url: str, axe_source: str
) -> None:
    boards = run(_boards_of_every_template(migrated_url, world))
    run(_fill(live, world, boards))

    async def admin_session() -> str:
        engine = create_engine(migrated_url)
        try:
            async with engine.begin() as conn:
                admin = await directory.create_person(conn, "Aino Ylläpitäjä", is_admin=True)
        finally:
            await engine.dispose()
        return await new_session(migrated_url, admin)

    admin_token = run(admin_session())

    visits: list[tuple[str, str | None, str]] = [
        ("sign-in", None, "/signin"),
        ("accessibility statement", None, "/accessibility"),
        ("404 signed out", None, "/no-such-page"),
        ("invalid invite", None, "/invite/not-a-real-token"),
        ("home", "customer", "/"),
        ("team", "professional", f"/teams/{world.team}"),
        ("team as customer", "customer", f"/teams/{world.team}"),
        ("agreement", "customer", f"/teams/{world.team}/agreement"),
        ("welcome", "customer", "/welcome"),
        ("my data", "customer", "/me"),
        ("sessions", "customer", "/account/sessions"),
        ("admin", admin_token, "/admin"),
        ("audit log", admin_token, "/admin/audit"),
        ("404 signed in", "customer", "/boards/0123456789abcdef0123456789abcdef"),
        ("accessibility statement signed in", "customer", "/accessibility?from=/me"),
        ("board settings", "professional", f"/boards/{world.board}/settings"),
        ("board history", "customer", f"/boards/{world.board}/history"),
    ]
    tabs: dict[str | None, Any] = {}

    def visit(who: str | None, path: str) -> Any:
        # One tab per person, reused from page to page.
        if who not in tabs:
            tabs[who] = pages.context(who).new_page()
        tabs[who].goto(live.base + path)
        return tabs[who]

    for name, who, path in visits:
        page = visit(who, path)
        expect(page.locator("h1")).to_be_visible()
        assert page.evaluate("() => document.documentElement.lang") == "fi"
        check_axe(page, axe_source, name)
    for template, board_id in boards.items():
        # Editors see every control; an observer's read-only view once for a grid and once for columns.
        for who in ("customer", "observer") if template in ("journey", "ideas") else ("customer",):
            page = visit(who, f"/boards/{board_id}")
            wait_synced(page)
            expect(page.locator("li.item").first).to_be_visible()
            check_axe(page, axe_source, f"{template} board as {who}")
    # In English, <html lang> follows the choice.
    context = pages.context("customer")
    context.add_cookies([{"name": "kumppani-lang", "value": "en", "url": live.base}])
    page = context.new_page()
    page.goto(f"{live.base}/boards/{boards['journey']}")
    wait_synced(page)
    assert page.evaluate("() => document.documentElement.lang") == "en"
    expect(page.get_by_role("heading", name="The customer's emotion curve")).to_be_visible()
    check_axe(page, axe_source, "the journey board in English")
    page.goto(f"{live.base}/accessibility")
    expect(page.get_by_role("heading", level=1)).to_have_text("Accessibility statement")
    check_axe(page, axe_source, "the accessibility statement in English")


def test_every_footer_links_the_accessibility_statement_and_feedback_gets_a_14_day_ticket(
    pages: Pages, migrated_url: str, axe_source: str
) -> None:
    page = pages.open("/me", "customer")
    page.get_by_role("contentinfo").get_by_role("link", name="Saavutettavuusseloste").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Saavutettavuusseloste")
    expect(page.get_by_label("Sivu, jota palaute koskee (vapaaehtoinen)")).to_have_value("/me")
    # Sending nothing says what to do, next to the field.
    page.get_by_role("button", name="Lähetä palaute").click()
    expect(page.get_by_role("alert")).to_contain_text("Kirjoita palaute.")
    check_axe(page, axe_source, "the feedback form with an error")
    message = page.get_by_label("Mitä huomasit?")
    tab_to(page, message)
    page.keyboard.type("Ajastimen teksti on liian pieni puhelimessa.")
    page.keyboard.press("Tab")
    page.keyboard.type("kalle@example.fi")
    tab_to(page, page.get_by_role("button", name="Lähetä palaute"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Kiitos palautteesta")
    check_axe(page, axe_source, "the thank-you page")

    async def tickets() -> list[Any]:
        engine = create_engine(migrated_url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(select(AccessibilityFeedback))).all())
        finally:
            await engine.dispose()

    [ticket] = run(tickets())
    assert ticket.message == "Ajastimen teksti on liian pieni puhelimessa."
    assert ticket.contact == "kalle@example.fi"
    assert ticket.page == "/me"
    assert ticket.due_at - ticket.created_at == timedelta(days=14)


def test_invite_agreement_name_and_board_by_keyboard_only_in_finnish(
    pages: Pages, live: LiveServer, world: Seeded, migrated_url: str, axe_source: str
) -> None:
    async def invite() -> str:
        engine = create_engine(migrated_url)
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

    token = run(invite())
    page = pages.open(f"/invite/{token}", None)
    # A customer's first visit starts in plain Finnish; this one picks standard Finnish with the keyboard.
    expect(page.get_by_role("button", name="selkokieli")).to_have_attribute("aria-current", "true")
    tab_to(page, page.get_by_role("button", name="suomi", exact=True))
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="suomi", exact=True)).to_have_attribute("aria-current", "true")
    assert page.evaluate("() => document.documentElement.lang") == "fi"
    expect(page.get_by_role("heading", level=1)).to_have_text("Sinut on kutsuttu mukaan")
    expect(page.get_by_text("Yhteyshenkilösi on Paula Ammattilainen.")).to_be_visible()
    check_axe(page, axe_source, "the invite page")
    tab_to(page, page.get_by_role("button", name="Liity mukaan"))
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text("Osallistumissopimus")
    check_axe(page, axe_source, "the agreement page")
    # One optional consent with the space bar, then accept with Enter.
    first_choice = page.get_by_role("checkbox").first
    tab_to(page, first_choice)
    page.keyboard.press("Space")
    expect(first_choice).to_be_checked()
    tab_to(page, page.get_by_role("button", name="Hyväksyn sopimuksen ja tulen mukaan"))
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text("Tervetuloa!")
    check_axe(page, axe_source, "the welcome page")
    tab_to(page, page.get_by_label("Millä nimellä muut näkevät sinut?"))
    page.keyboard.type("Kaisa")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Jatka")).to_be_focused()
    page.keyboard.press("Space")

    expect(page.get_by_role("heading", level=1)).to_have_text("Kotihoito")
    check_axe(page, axe_source, "the team page")
    tab_to(page, page.get_by_role("link", name="Asiakaspolku"))
    page.keyboard.press("Enter")
    wait_synced(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Asiakaspolku")
    expect(page.locator("#presence-list")).to_contain_text("Kaisa (sinä)")
    check_axe(page, axe_source, "the board after joining")
    # Used once: the same link now says so in plain words.
    page.goto(f"{live.base}/invite/{token}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Kutsulinkki on jo käytetty")
    check_axe(page, axe_source, "a used invite")


def test_the_board_reflows_at_320_px_with_big_enough_targets(
    pages: Pages, live: LiveServer, world: Seeded, migrated_url: str
) -> None:
    boards = run(_boards_of_every_template(migrated_url, world))
    run(_fill(live, world, boards))
    page = pages.context("customer", width=320, height=640).new_page()
    for template, board_id in boards.items():
        page.goto(f"{live.base}/boards/{board_id}")
        wait_synced(page)
        expect(page.locator("li.item").first).to_be_visible()
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{template}: the page scrolls sideways by {overflow} px at 320 px"
        small = page.evaluate(
            """() => [...document.querySelectorAll("button, select, input, textarea, summary")]
                .filter((n) => n.offsetParent !== null)
                .map((n) => [n.outerHTML.slice(0, 80), n.getBoundingClientRect()])
                .filter(([, r]) => r.width < 24 || r.height < 24)
                .map(([html]) => html)"""
        )
        assert not small, f"{template}: targets under 24 px: {small}"
    # With the large-text option on as well (1.25 x), the journey still reads in one dimension.
    page.get_by_role("button", name="Suurempi teksti").click()
    page.goto(f"{live.base}/boards/{boards['journey']}")
    wait_synced(page)
    assert page.evaluate("() => getComputedStyle(document.documentElement).fontSize") == "20px"
    assert page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0


_FOCUSED = """() => {
    const node = document.activeElement;
    const bar = document.getElementById("board-bar").getBoundingClientRect();
    const rect = node.getBoundingClientRect();
    return {
        inside: document.getElementById("board").contains(node),
        top: rect.top + window.scrollY,
        underBar: rect.top < bar.bottom - 1,
        html: node.outerHTML.slice(0, 120),
    };
}"""


def test_focus_is_not_hidden_under_the_sticky_status_bar(pages: Pages) -> None:
    page = pages.board(width=1280, height=720)
    bar = page.locator("#board-bar")
    # Going backwards through the board as a keyboard user does, each control is first placed
    # right under the bar (the page scrolled so that it starts 2 px from the top) before it gets
    # focus: left alone, the browser sees it on screen and does not scroll, and the bar covers it.
    # Room below the board to scroll any of its controls to the top, as on a board with more lanes.
    page.evaluate("() => { document.body.style.paddingBottom = '2000px'; }")
    page.locator("#board button:visible").nth(40).focus()
    checked = 0
    for _ in range(25):
        page.keyboard.press("Shift+Tab")
        previous = page.evaluate(_FOCUSED)
        if not previous["inside"]:
            break  # focus has left the board
        page.keyboard.press("Tab")
        page.evaluate(f"() => window.scrollTo(0, {previous['top']} - 2)")
        # Placed when the page could scroll that far and the bar is stuck to the top above it.
        placed = page.evaluate(
            f"""() => Math.abs(window.scrollY - ({previous["top"]} - 2)) < 1.5
                && document.getElementById("board-bar").getBoundingClientRect().top === 0"""
        )
        page.keyboard.press("Shift+Tab")
        where = page.evaluate(_FOCUSED)
        assert not where["underBar"], f"focused element under the sticky bar: {where['html']}"
        checked += placed
    assert checked >= 10, f"only {checked} controls could be placed under the bar"
    assert bar.evaluate("(node) => getComputedStyle(node).position") == "sticky"


def test_screenshots_of_the_main_pages(pages: Pages, live: LiveServer, world: Seeded, migrated_url: str) -> None:
    boards = run(_boards_of_every_template(migrated_url, world))
    run(_fill(live, world, boards))
    shots = [
        ("signin", None, "/signin"),
        ("home", "customer", "/"),
        ("team", "professional", f"/teams/{world.team}"),
        ("me", "customer", "/me"),
        ("accessibility", "customer", "/accessibility"),
        *(
            (f"board-{name}", "professional", f"/boards/{boards[name]}")
            for name in ("journey", "persona", "picture_cards", "findings", "ideas", "service_change")
        ),
    ]
    for width in (360, 1280):
        tabs: dict[str | None, Any] = {}
        for name, who, path in shots:
            if who not in tabs:
                tabs[who] = pages.context(who, width=width, height=800).new_page()
            page = tabs[who]
            response = page.goto(live.base + path)
            # The page itself, not an error or the sign-in page it redirected to.
            assert response is not None and response.status == 200, (name, width)
            assert page.url == live.base + path, (name, page.url)
            expect(page.locator("h1").first).to_be_visible()
            if path.startswith("/boards/"):
                wait_synced(page)
                expect(page.locator("li.item").first).to_be_visible()
            shot = screenshot(page, f"{name}-{width}").read_bytes()
            assert shot.startswith(b"\x89PNG\r\n\x1a\n"), name
            # The IHDR chunk: an image of the page as wide as the window (nothing wider to scroll to).
            assert int.from_bytes(shot[16:20], "big") == width, (name, width)
