"""Sessions: server-side, ended for real, and sockets closed when access ends (timeouts: test_session_timeouts.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from boards import protocol as p
from boards.client import BoardClient
from conftest import LiveServer, Seeded
from foundation.db import create_engine
from webapp import csrf_of, make_client, sign_in_as


def test_sign_in_gives_a_new_session_and_sign_out_ends_it_for_copies_too(
    migrated_url: str, seeded: Seeded, tmp_path: Path
) -> None:
    import asyncio as aio

    from auth.directory import add_local_account

    async def add() -> None:
        engine = create_engine(migrated_url)
        async with engine.begin() as conn:
            await add_local_account(conn, seeded.professional, "paula", "oikein-hyva-salasana")
        await engine.dispose()

    aio.run(add())
    with make_client(migrated_url, tmp_path) as client:
        csrf = csrf_of(client)
        wrong = client.post("/signin", data={"csrf": csrf, "username": "paula", "password": "väärä-salasana"})
        assert wrong.status_code == 400 and "väärin" in wrong.text
        ok = client.post("/signin", data={"csrf": csrf, "username": "paula", "password": "oikein-hyva-salasana"})
        assert ok.status_code == 303
        token = client.cookies.get("kumppani")
        assert token and token not in seeded.tokens.values()
        assert client.get("/").status_code == 200
        copied = dict(client.cookies)
        out = client.post("/signout", data={"csrf": csrf_of(client, "/")})
        assert out.status_code == 303
    with make_client(migrated_url, tmp_path) as replay:
        for name, value in copied.items():
            replay.cookies.set(name, value)
        page = replay.get("/")
        assert page.status_code == 303 and page.headers["location"] == "/signin"


def test_session_cookie_is_host_prefixed_secure_httponly_lax(migrated_url: str, seeded: Seeded, tmp_path: Path) -> None:
    from auth.directory import add_local_account

    async def add() -> None:
        engine = create_engine(migrated_url)
        async with engine.begin() as conn:
            await add_local_account(conn, seeded.professional, "paula", "oikein-hyva-salasana")
        await engine.dispose()

    asyncio.run(add())
    with make_client(migrated_url, tmp_path, KUMPPANI_BASE_URL="https://testserver") as client:
        client.base_url = "https://testserver"  # type: ignore[assignment]
        csrf = csrf_of(client)
        response = client.post("/signin", data={"csrf": csrf, "username": "paula", "password": "oikein-hyva-salasana"})
        cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and "__Host-kumppani=" in v)
        parts = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"secure", "httponly", "path"} <= parts and "domain" not in parts
        assert "samesite=lax" in cookie.lower() and "path=/" in cookie.lower()
        assert len(cookie) < 4096
        assert response.headers["strict-transport-security"].startswith("max-age=31536000")


def test_security_headers_on_every_page(migrated_url: str, tmp_path: Path) -> None:
    with make_client(migrated_url, tmp_path) as client:
        for path in ("/signin", "/healthz", "/no-such-page"):
            headers = client.get(path).headers
            csp = headers["content-security-policy"]
            for directive in (
                "script-src 'self' 'nonce-",
                "object-src 'none'",
                "base-uri 'none'",
                "frame-ancestors 'none'",
                "form-action 'self'",
                "report-uri",
            ):
                assert directive in csp
            assert "unsafe-inline" not in csp
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "no-referrer"
            assert "permissions-policy" in headers


def test_not_found_page_is_plain_language(migrated_url: str, tmp_path: Path) -> None:
    with make_client(migrated_url, tmp_path) as client:
        page = client.get("/no-such-page")
        assert page.status_code == 404 and "Sivua ei löydy" in page.text and "Traceback" not in page.text


async def _connected(live: LiveServer, seeded: Seeded, who: str) -> BoardClient:
    client = BoardClient(live.ws_url(seeded.board), cookie=seeded.cookie(who), origin=live.base)
    await client.connect()
    return client


async def test_signing_out_everywhere_closes_open_boards(live: LiveServer, seeded: Seeded) -> None:
    import httpx

    board = await _connected(live, seeded, "customer")
    async with httpx.AsyncClient(base_url=live.base, cookies={"kumppani": seeded.tokens["customer"]}) as http:
        page = await http.get("/account/sessions")
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        await http.post("/signout/everywhere", data={"csrf": csrf})
    await board.wait_for(lambda r: not board.connected, timeout=5)
    assert board.closed_code == p.CloseCode.UNAUTHENTICATED
    again = BoardClient(live.ws_url(seeded.board), cookie=seeded.cookie("customer"), origin=live.base)
    try:
        await again.connect()
    except ConnectionRefusedError:
        pass
    assert again.closed_code == p.CloseCode.UNAUTHENTICATED


async def test_removed_member_is_disconnected_within_five_seconds(live: LiveServer, seeded: Seeded) -> None:
    import httpx

    customer = await _connected(live, seeded, "customer")
    async with httpx.AsyncClient(base_url=live.base, cookies={"kumppani": seeded.tokens["professional"]}) as http:
        page = await http.get(f"/teams/{seeded.team}")
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        removed = await http.post(f"/teams/{seeded.team}/members/{seeded.customer}/remove", data={"csrf": csrf})
        assert removed.status_code == 303
    await customer.wait_for(lambda r: not customer.connected, timeout=5)
    assert customer.closed_code == p.CloseCode.FORBIDDEN
    again = BoardClient(live.ws_url(seeded.board), cookie=seeded.cookie("customer"), origin=live.base)
    try:
        await again.connect()
    except ConnectionRefusedError:
        pass
    assert again.closed_code == p.CloseCode.NOT_FOUND


def test_return_link_signs_in_once_and_a_new_one_revokes_the_old(
    migrated_url: str, seeded: Seeded, tmp_path: Path
) -> None:
    with make_client(migrated_url, tmp_path) as pro:
        sign_in_as(pro, seeded.tokens["professional"])
        csrf = csrf_of(pro, f"/teams/{seeded.team}")
        first = pro.post(f"/teams/{seeded.team}/members/{seeded.customer}/return-link", data={"csrf": csrf})
        link1 = first.text.split('id="new-link" class="wide" value="')[1].split('"')[0]
        second = pro.post(f"/teams/{seeded.team}/members/{seeded.customer}/return-link", data={"csrf": csrf})
        link2 = second.text.split('id="new-link" class="wide" value="')[1].split('"')[0]
    path1, path2 = link1.split("testserver")[1], link2.split("testserver")[1]
    with make_client(migrated_url, tmp_path) as device:
        assert device.get(path1).status_code == 410
        assert device.get(path2).status_code == 200
        assert device.get(path2).status_code == 200  # looking does not use it
        csrf = csrf_of(device)
        assert device.post(path2, data={"csrf": csrf}).status_code == 303
        assert device.get("/").status_code == 200
    with make_client(migrated_url, tmp_path) as again:
        csrf = csrf_of(again)
        assert again.post(path2, data={"csrf": csrf}).status_code == 410


def test_only_the_contact_person_sees_a_customers_contact_details(
    migrated_url: str, seeded: Seeded, tmp_path: Path
) -> None:
    from sqlalchemy import update

    from auth.models import Person

    details = {
        "customer": ("kalle@example.invalid", "0401234567"),
        "customer2": ("kaisa@example.invalid", "0407654321"),
        "professional": ("paula@example.invalid", "0501112222"),
    }

    async def give_contact_details() -> None:
        engine = create_engine(migrated_url)
        async with engine.begin() as conn:
            for who, (email, phone) in details.items():
                await conn.execute(
                    update(Person).where(Person.id == seeded.people[who]).values(email=email, phone=phone)
                )
        await engine.dispose()

    asyncio.run(give_contact_details())
    # Who sees whose e-mail and phone on the team page: a customer's only they and their own
    # contact person; another professional of the same team and the observer never. A coach steers
    # the team but sees no one's contact details, a professional's included (issue 22).
    sees = {
        "professional": {"customer", "professional"},
        "professional2": {"customer2", "professional"},
        "customer": {"customer", "professional"},
        "customer2": {"customer2", "professional"},
        "observer": {"professional"},
        "coach": set(),
    }
    with make_client(migrated_url, tmp_path) as client:
        for viewer, visible in sees.items():
            sign_in_as(client, seeded.tokens[viewer])
            page = client.get(f"/teams/{seeded.team}")
            assert page.status_code == 200, viewer
            for owner, (email, phone) in details.items():
                shown = email in page.text or phone in page.text
                assert shown == (owner in visible), f"{viewer} {'sees' if shown else 'does not see'} {owner}'s details"
        for stranger in ("outsider", "second_professional", "admin"):
            sign_in_as(client, seeded.tokens[stranger])
            page = client.get(f"/teams/{seeded.team}")
            assert page.status_code == 404, stranger
            assert not any(email in page.text for email, _ in details.values())
