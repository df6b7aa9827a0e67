"""A ``next`` never sends anyone off the site: one rule, on every route that takes one."""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from auth.redirects import safe_next
from conftest import Seeded
from foundation.db import create_engine
from webapp import csrf_of, make_client, sign_in_as

# Browsers read a backslash as a slash and drop tabs and newlines, so each of these is another site
# (or a script) once it is in a Location header; the encoded ones are what arrives after the form or
# query string is decoded once more by something on the way.
OFF_SITE = (
    "//evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    "https://evil.example",
    "http:evil.example",
    "javascript:alert(1)",
    "evil.example",
    "/%2Fevil.example",
    "/%5Cevil.example",
    "%2F%2Fevil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    " //evil.example",
    "",
)
ON_SITE = ("/", "/me", "/teams/abc?tab=members", "/boards/x#card-1")


@pytest.mark.parametrize("value", OFF_SITE)
def test_off_site_next_becomes_the_default(value: str) -> None:
    assert safe_next(value, "/default") == "/default"


@pytest.mark.parametrize("value", ON_SITE)
def test_a_path_on_this_site_is_kept(value: str) -> None:
    assert safe_next(value, "/default") == value


def test_not_a_string_or_too_long_becomes_the_default() -> None:
    assert safe_next(None, "/d") == "/d"
    assert safe_next(["/me"], "/d") == "/d"
    assert safe_next("/" + "a" * 300, "/d") == "/d"


def _next_fields(page: str, path: str) -> set[str]:
    """The page's own next fields (the language switch on every page has one too, with the page's path)."""
    return {html.unescape(v) for v in re.findall(r'name="next" value="([^"]*)"', page)} - {path}


def _hidden_next(client: TestClient, path: str, value: str) -> str:
    values = _next_fields(client.get(path, params={"next": value}).text, path)
    assert len(values) == 1, (path, values)
    return values.pop()


def _redirects(client: TestClient, path: str, data: dict[str, str]) -> str:
    response = client.post(path, data=data)
    assert response.status_code == 303, (path, response.status_code)
    return response.headers["location"]


@pytest.mark.parametrize("value", [v for v in OFF_SITE if v] + ["/me"])
def test_the_sign_in_page_passes_on_only_a_path_on_this_site(migrated_url: str, tmp_path: Path, value: str) -> None:
    async def provider() -> None:
        from auth.oidc import add_provider

        engine = create_engine(migrated_url)
        async with engine.begin() as conn:
            await add_provider(
                conn,
                name="Kunta",
                issuer="https://login.example.invalid",
                client_id="kumppani",
                secret_keys=("test-secret-key-" + "x" * 32,),
                client_secret="salainen",
            )
        await engine.dispose()

    asyncio.run(provider())
    with make_client(migrated_url, tmp_path) as client:
        page = client.get("/signin", params={"next": value}).text
    links = re.findall(r'href="(/signin/oidc/[^"]*)"', page)
    assert links, "no provider link on the sign-in page"
    passed_on = {parse_qs(urlsplit(html.unescape(link)).query).get("next", ["/"])[0] for link in links}
    assert passed_on == {value if value == "/me" else "/"}


@pytest.mark.parametrize("value", [v for v in OFF_SITE if v] + ["/me"])
def test_every_route_that_takes_next_keeps_it_on_this_site(
    migrated_url: str, seeded: Seeded, tmp_path: Path, value: str
) -> None:
    def wanted(default: str) -> str:
        return value if value == "/me" else default

    team = seeded.team
    with make_client(migrated_url, tmp_path) as client:
        sign_in_as(client, seeded.tokens["customer"])
        csrf = csrf_of(client, "/me")
        assert _redirects(client, "/lang", {"csrf": csrf, "lang": "fi", "next": value}) == wanted("/")
        assert _hidden_next(client, "/welcome", value) == wanted("/")
        asked_again = client.post("/welcome", data={"csrf": csrf, "display_name": "", "next": value})
        assert asked_again.status_code == 400 and _next_fields(asked_again.text, "/welcome") == {wanted("/")}
        assert _redirects(client, "/welcome", {"csrf": csrf, "display_name": "Kalle", "next": value}) == wanted("/")
        assert _hidden_next(client, f"/teams/{team}/agreement", value) == wanted(f"/teams/{team}")
        accepted = _redirects(client, f"/teams/{team}/agreement", {"csrf": csrf, "accept": "yes", "next": value})
        assert accepted == wanted(f"/teams/{team}")
        assert _hidden_next(client, f"/teams/{team}/agreement/confirm", value) == wanted(f"/teams/{team}")
        confirmed = _redirects(
            client, f"/teams/{team}/agreement/confirm", {"csrf": csrf, "confirm": "yes", "next": value}
        )
        assert confirmed == wanted(f"/teams/{team}")
