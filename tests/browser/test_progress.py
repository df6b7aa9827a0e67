"""In Chromium: a professional marks an idea "being put into practice" and writes an update; a
customer who left the team but kept the consent gets it by e-mail and in the app and replies, and
the team sees the reply; a customer who withdrew the consent gets nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import update
from test_mail import Recorder, _until, smtp  # noqa: F401  (the SMTP server fixture)

from auth import consent
from auth import directory as d
from auth.models import Person
from boards import departures
from boards import protocol as p
from browser.conftest import Pages, check_axe, new_session, open_actions, run
from browser.test_features import remote
from conftest import LiveServer, Seeded, settings_for
from foundation.db import create_engine, new_id

LEAVER = "kalle@example.org"
WITHDRAWER = "veikko@example.org"


@pytest.fixture
def live(migrated_url: str, tmp_path: Path, smtp: tuple[Recorder, Any]) -> Iterator[LiveServer]:  # noqa: F811
    _, controller = smtp
    server = LiveServer(
        settings_for(
            migrated_url,
            tmp_path,
            KUMPPANI_SMTP_HOST="127.0.0.1",
            KUMPPANI_SMTP_PORT=str(controller.port),
            KUMPPANI_SMTP_STARTTLS="false",
        )
    ).start()
    try:
        yield server
    finally:
        server.stop()


async def _prepare(url: str, world: Seeded) -> str:
    """The seeded customer keeps the progress consent and leaves; a second customer withdraws it."""
    engine = create_engine(url)
    async with engine.begin() as conn:
        withdrawer = await d.create_person(conn, "Veikko Peruja", email=WITHDRAWER)
        await d.add_member(conn, world.team, withdrawer, "customer", contact_person_id=world.professional)
        agreement = await consent.current_text(conn, "agreement", world.team, "fi")
        await consent.give(conn, withdrawer, "agreement", agreement, team_id=world.team)
        text = await consent.current_text(conn, "progress_email", None, "fi")
        await consent.give(conn, withdrawer, "progress_email", text)
        await consent.withdraw(conn, withdrawer, "progress_email", text)
        await conn.execute(update(Person).where(Person.id == world.customer).values(email=LEAVER))
        await consent.give(conn, world.customer, "progress_email", text)
        await departures.leave_team(conn, world.customer, world.team, "anonymise")
    await engine.dispose()
    return withdrawer


def test_an_update_reaches_who_left_with_the_consent_and_the_team_sees_the_reply(
    pages: Pages,
    live: LiveServer,
    world: Seeded,
    migrated_url: str,
    axe_source: str,
    smtp: tuple[Recorder, Any],  # noqa: F811
) -> None:
    recorder, _ = smtp
    idea = new_id()
    remote(
        live,
        world,
        "professional",
        p.ItemCreate(id=idea, item_type="idea", fields={"title": "Iltasoitot"}, stage=world.stage, lane=world.lane),
    )
    withdrawer = run(_prepare(migrated_url, world))

    board = pages.board()
    open_actions(board, "Iltasoitot")
    board.get_by_role("button", name=re.compile(r"^Muokkaa.*Iltasoitot")).first.click()
    board.get_by_role("combobox", name="Tilanne osallistujille").select_option(label="viedään käytäntöön")
    board.get_by_role("button", name="Tallenna").click()
    expect(board.locator("li.item").filter(has_text="Iltasoitot")).to_contain_text("viedään käytäntöön")

    team = pages.open(f"/teams/{world.team}/updates")
    team.get_by_label("Otsikko").fill("Iltasoitot kokeiluun")
    team.get_by_label("Teksti").fill("Ehdotuksenne otetaan käyttöön.")
    team.get_by_role("checkbox", name=re.compile("Iltasoitot")).check()
    team.get_by_role("button", name="Lähetä tiedote").click()
    expect(team.get_by_role("status")).to_have_text("Tiedote lähetetty.")
    check_axe(team, axe_source, "the team's updates page")

    _until(lambda: len(recorder.received) == 1, "the e-mail to the customer who left")
    recipients, message = recorder.received[0]
    assert recipients == [LEAVER]
    assert "Iltasoitot: otetaan käyttöön" in str(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]

    customer = pages.open("/", run(new_session(migrated_url, world.customer)))
    expect(customer.locator("#updates-unread")).to_have_text("Lukemattomia 1")
    customer.get_by_role("link", name="Lue tiedotteet").click()
    expect(customer.get_by_role("heading", name=re.compile("Iltasoitot kokeiluun"))).to_be_visible()
    customer.get_by_label("Vastaa tiedotteeseen Iltasoitot kokeiluun").fill("Hienoa, kiitos!")
    customer.get_by_role("button", name="Lähetä vastaus").click()
    expect(customer.get_by_role("status")).to_have_text("Vastaus lähetetty tiimille.")
    check_axe(customer, axe_source, "the customer's feed")

    team.reload()
    expect(team.get_by_role("article").filter(has_text="Iltasoitot kokeiluun")).to_contain_text("Hienoa, kiitos!")

    nothing = pages.open("/updates", run(new_session(migrated_url, withdrawer)))
    expect(nothing.get_by_text("Sinulle ei ole vielä tiedotteita.")).to_be_visible()
    assert [r for r, _ in recorder.received] == [[LEAVER]]
