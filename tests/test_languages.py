"""Four interface languages: the switch, the account's memory of the choice, plain Finnish on a
customer's first visit by invite, Helsinki time in each language's format, and the privacy notice."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from auth import invites
from auth.models import Person
from boards.board_export import BoardExport, ExportCell, ExportItem, to_markdown
from conftest import Seeded
from foundation.db import create_engine
from server.timefmt import format_date, format_datetime
from webapp import csrf_of, make_client, sign_in_as

KEYS = ("test-secret-key-" + "x" * 32,)
HTML_LANG = re.compile(r'<html lang="([^"]+)">')


async def _invite(url: str, seeded: Seeded, role: str) -> str:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            return await invites.create_invite(
                conn,
                KEYS,
                team_id=seeded.team,
                role=role,
                created_by=seeded.professional,
                contact_person_id=seeded.professional if role == "customer" else None,
            )
    finally:
        await engine.dispose()


async def _locale_of(url: str, display_name: str) -> str:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return str((await conn.execute(select(Person.locale).where(Person.display_name == display_name))).scalar())
    finally:
        await engine.dispose()


def _lang(html: str) -> str:
    match = HTML_LANG.search(html)
    assert match, "no <html lang>"
    return match.group(1)


def test_the_switch_offers_four_languages_each_named_in_itself(
    migrated_url: str, seeded: Seeded, tmp_path: Path
) -> None:
    with make_client(migrated_url, tmp_path) as client:
        page = client.get("/accessibility").text
    buttons = re.findall(
        r'<button type="submit" name="lang" value="([^"]+)" lang="([^"]+)"[^>]*>([^<]+)</button>', page
    )
    assert buttons == [
        ("fi", "fi", "suomi"),
        ("sv", "sv", "svenska"),
        ("en", "en", "English"),
        ("fi-selko", "fi", "selkokieli"),
    ]


def test_a_choice_is_kept_in_the_browser_and_on_the_account(migrated_url: str, seeded: Seeded, tmp_path: Path) -> None:
    with make_client(migrated_url, tmp_path) as client:
        sign_in_as(client, seeded.tokens["customer"])
        answer = client.post("/lang", data={"csrf": csrf_of(client, "/me"), "lang": "sv", "next": "/me"})
        assert answer.status_code == 303 and answer.headers["location"] == "/me"
        page = client.get("/me").text
        assert _lang(page) == "sv" and "Mina uppgifter och samtycken" in page
    assert asyncio.run(_locale_of(migrated_url, "Kalle Asiakas")) == "sv"
    # Another browser, without the cookie: the account remembers.
    with make_client(migrated_url, tmp_path) as other:
        sign_in_as(other, seeded.tokens["customer"])
        page = other.get("/me").text
        assert _lang(page) == "sv" and "Ladda ner mina uppgifter" in page


def test_plain_finnish_is_finnish_in_plain_words(migrated_url: str, seeded: Seeded, tmp_path: Path) -> None:
    with make_client(migrated_url, tmp_path) as client:
        sign_in_as(client, seeded.tokens["customer"])
        client.cookies.set("kumppani-lang", "fi-selko")
        page = client.get("/account/sessions").text
    assert _lang(page) == "fi"
    assert "<h1>Omat laitteet</h1>" in page and "Kirjautumiseni" not in page
    # The switch shows which language is in use.
    assert 'aria-current="true">selkokieli</button>' in page


def test_a_customers_first_visit_by_invite_is_in_plain_finnish(
    migrated_url: str, seeded: Seeded, tmp_path: Path
) -> None:
    token = asyncio.run(_invite(migrated_url, seeded, "customer"))
    with make_client(migrated_url, tmp_path) as client:
        page = client.get(f"/invite/{token}").text
        assert _lang(page) == "fi"
        assert "Olet mukana asiakkaana. Olet yhtä tärkeä jäsen kuin muut." in page
        assert 'value="fi-selko" lang="fi" aria-current="true"' in page
        answer = client.post(
            f"/invite/{token}", data={"csrf": csrf_of(client, f"/invite/{token}"), "display_name": "Siiri"}
        )
        assert answer.status_code == 303
        agreement = client.get(answer.headers["location"]).text
        assert "Sopimus mukana olosta" in agreement  # the agreement goes on in plain Finnish
    assert asyncio.run(_locale_of(migrated_url, "Siiri")) == "fi-selko"


def test_a_chosen_language_wins_over_the_plain_start(migrated_url: str, seeded: Seeded, tmp_path: Path) -> None:
    token = asyncio.run(_invite(migrated_url, seeded, "customer"))
    with make_client(migrated_url, tmp_path) as client:
        client.cookies.set("kumppani-lang", "sv")
        page = client.get(f"/invite/{token}").text
    assert _lang(page) == "sv" and "Du är med som kund och utvecklare" in page


def test_a_professionals_invite_starts_in_standard_finnish(migrated_url: str, seeded: Seeded, tmp_path: Path) -> None:
    token = asyncio.run(_invite(migrated_url, seeded, "professional"))
    with make_client(migrated_url, tmp_path) as client:
        page = client.get(f"/invite/{token}").text
    assert 'value="fi" lang="fi" aria-current="true"' in page and "Olet mukana ammattilaisena." in page


@pytest.mark.parametrize(
    ("locale", "winter", "summer"),
    [
        ("fi", "4.12.2026 klo 21.45", "1.7.2026 klo 15.05"),
        ("fi-selko", "4.12.2026 klo 21.45", "1.7.2026 klo 15.05"),
        ("sv", "4.12.2026 kl. 21.45", "1.7.2026 kl. 15.05"),
        ("en", "4 December 2026, 21:45", "1 July 2026, 15:05"),
    ],
)
def test_times_are_on_helsinkis_clock_in_each_languages_format(locale: str, winter: str, summer: str) -> None:
    assert format_datetime(datetime(2026, 12, 4, 19, 45, tzinfo=UTC), locale) == winter  # UTC+2
    assert format_datetime(datetime(2026, 7, 1, 12, 5, tzinfo=UTC), locale) == summer  # UTC+3
    # Just before midnight UTC it is already the next day in Helsinki.
    assert format_date(datetime(2026, 12, 31, 23, 30, tzinfo=UTC), locale).startswith(("1.1.2027", "1 January 2027"))
    assert format_date(date(2026, 11, 24), locale) in ("24.11.2026", "24 November 2026")


def test_the_sessions_page_shows_helsinki_time(migrated_url: str, seeded: Seeded, tmp_path: Path) -> None:
    with make_client(migrated_url, tmp_path) as client:
        sign_in_as(client, seeded.tokens["customer"])
        client.cookies.set("kumppani-lang", "sv")
        page = client.get("/account/sessions").text
    now = datetime.now(UTC)
    expected = format_date(now, "sv")
    assert re.search(rf"Inloggad {re.escape(expected)} kl\. \d{{1,2}}\.\d\d", page), page


def test_the_privacy_notice_comes_from_settings_in_every_language(
    migrated_url: str, seeded: Seeded, tmp_path: Path
) -> None:
    env = {
        "KUMPPANI_PRIVACY_CONTROLLER": "Testin hyvinvointialue",
        "KUMPPANI_PRIVACY_CONTACT": "tietosuoja@testi.example",
        "KUMPPANI_RETENTION_DAYS": "200",
    }
    titles = {
        "fi": "Tietosuojaseloste",
        "sv": "Dataskyddsbeskrivning",
        "en": "Privacy notice",
        "fi-selko": "Tietosuoja",
    }
    with make_client(migrated_url, tmp_path, **env) as client:
        for locale, title in titles.items():
            client.cookies.set("kumppani-lang", locale)
            page = client.get("/privacy").text
            assert f"<h1>{title}</h1>" in page
            assert "Testin hyvinvointialue" in page and "tietosuoja@testi.example" in page
            assert "200" in page
        # Linked from every page's footer, next to the accessibility statement.
        for path in ("/signin", "/accessibility", f"/invite/{asyncio.run(_invite(migrated_url, seeded, 'customer'))}"):
            footer = client.get(path).text.split('<footer class="site-footer">', 1)[1]
            assert 'href="/privacy"' in footer and 'href="/accessibility' in footer


def test_an_unset_controller_says_so_instead_of_staying_blank(
    migrated_url: str, seeded: Seeded, tmp_path: Path
) -> None:
    with make_client(migrated_url, tmp_path) as client:
        page = client.get("/privacy").text
    assert page.count("Ylläpitäjä ei ole vielä antanut tätä tietoa.") == 2


@pytest.mark.parametrize(
    ("locale", "note", "votes"),
    [
        ("sv", "(texten är inte med: skribenten har inte gett tillstånd att citera)", "(2 röster)"),
        ("fi-selko", "(teksti ei ole mukana: kirjoittaja ei ole antanut lainauslupaa)", "(2 ääntä)"),
        ("en", "(text left out: the author has not allowed quoting)", "(2 votes)"),
    ],
)
def test_a_board_export_speaks_the_readers_language(locale: str, note: str, votes: str) -> None:
    quoted = ExportItem("a", "card", {"text": "Jonotus kestää"}, quotable=True, votes=2)
    unquoted = ExportItem("b", "card", {"text": "Kukaan ei soittanut"}, quotable=False)
    export = BoardExport("Taulu", "journey", [], [], [ExportCell(None, None, [quoted, unquoted])], locale)
    markdown = to_markdown(export)
    assert f"- Jonotus kestää {votes}" in markdown
    assert note in markdown and "Kukaan ei soittanut" not in markdown


def test_the_personal_data_page_names_consents_and_dates_in_the_readers_language(
    migrated_url: str, seeded: Seeded, tmp_path: Path
) -> None:
    with make_client(migrated_url, tmp_path) as client:
        sign_in_as(client, seeded.tokens["customer"])
        client.cookies.set("kumppani-lang", "sv")
        page = client.post("/me/export.html", data={"csrf": csrf_of(client, "/me")}).text
    assert "Deltagaravtal" in page and ">agreement<" not in page and " agreement " not in page
    today = format_date(datetime.now(UTC), "sv")
    assert re.search(rf"{re.escape(today)} kl\. \d{{1,2}}\.\d\d · Deltagaravtal", page), page
