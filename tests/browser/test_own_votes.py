"""A person's own hidden votes show on every tab and device of theirs, not only where they voted."""

from __future__ import annotations

from playwright.sync_api import expect

from boards import protocol as p
from browser.conftest import Pages, open_actions
from browser.test_features import card, remote
from conftest import LiveServer, Seeded


def test_hidden_votes_show_on_the_voters_other_tabs_and_devices(pages: Pages, live: LiveServer, world: Seeded) -> None:
    remote(
        live,
        world,
        "customer",
        p.ItemCreate(
            id="owncard00001", item_type="card", fields={"text": "Oma ääni"}, stage=world.stage, lane=world.lane
        ),
    )
    tab = pages.board(who="customer")
    other_tab = pages.board(who="customer")
    professional = pages.board(who="professional")

    open_actions(tab, "Oma ääni")
    tab.get_by_role("button", name="Äänestä: Oma ääni").click()
    expect(card(tab, "Oma ääni")).to_contain_text("Äänesi: 1")
    expect(card(other_tab, "Oma ääni")).to_contain_text("Äänesi: 1")
    expect(other_tab.locator("#votes-left")).to_have_text("Ääniä jäljellä 4/5")
    open_actions(other_tab, "Oma ääni")
    expect(other_tab.get_by_role("button", name="Peru ääni: Oma ääni")).to_be_visible()

    # A vote from another device (a program, here) reaches both tabs; nobody else learns of it.
    remote(live, world, "customer", p.VoteAdd(id="owncard00001"))
    expect(card(tab, "Oma ääni")).to_contain_text("Äänesi: 2")
    expect(card(other_tab, "Oma ääni")).to_contain_text("Äänesi: 2")
    expect(tab.locator("#votes-left")).to_have_text("Ääniä jäljellä 3/5")
    expect(card(professional, "Oma ääni")).not_to_contain_text("Äänesi")
    expect(card(professional, "Oma ääni")).not_to_contain_text("Kaikkien äänet")

    other_tab.get_by_role("button", name="Peru ääni: Oma ääni").click()
    expect(card(tab, "Oma ääni")).to_contain_text("Äänesi: 1")
    expect(tab.locator("#votes-left")).to_have_text("Ääniä jäljellä 4/5")
