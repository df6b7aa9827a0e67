"""Progress e-mails through the outbox, checked at a real SMTP server on loopback (aiosmtpd):
who gets one, its headers and parts, the one-click unsubscribe, the mail folder of the default
set-up, and exactly-once delivery across a server killed while sending."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update
from test_progress_updates import Team, _optional, _post, _query, _team

from auth.models import MailOutbox, Person
from conftest import free_port
from foundation.db import create_engine
from webapp import make_client

ROOT = Path(__file__).resolve().parent.parent
ADDRESSES = {"leaver": "liisa@example.org", "withdrawer": "veikko@example.org", "silent": "sanna@example.org"}


class Recorder:
    """An SMTP handler that keeps what arrives; while ``holding``, it keeps the sender waiting
    in DATA (the message is not accepted) until released."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []
        self.holding = False
        self.in_data = threading.Event()
        self.release: asyncio.Event | None = None
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.holding:
            self.release = asyncio.Event()
            self.in_data.set()
            await self.release.wait()
            return "451 4.3.0 not accepted, try again"
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, Controller]]:
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield recorder, controller
    finally:
        if recorder.release is not None:
            controller.loop.call_soon_threadsafe(recorder.release.set)
        controller.stop()


def _until(condition: Callable[[], bool], what: str, limit: float = 30) -> None:
    """Wait for a condition; the limit only ends a test that would otherwise hang."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.05)


def _with_addresses(url: str, crew: Team, **locales: str) -> None:
    async def run() -> None:
        engine = create_engine(url)
        async with engine.begin() as conn:
            for who, address in ADDRESSES.items():
                values: dict[str, str] = {"email": address}
                if who in locales:
                    values["locale"] = locales[who]
                await conn.execute(update(Person).where(Person.id == crew.people[who]).values(**values))
        await engine.dispose()

    asyncio.run(run())


def _smtp_env(controller: Controller) -> dict[str, str]:
    return {
        "KUMPPANI_SMTP_HOST": "127.0.0.1",
        "KUMPPANI_SMTP_PORT": str(controller.port),
        "KUMPPANI_SMTP_STARTTLS": "false",
        "KUMPPANI_MAIL_FROM": "Kumppani <kumppani@example.org>",
    }


def test_a_progress_email_reaches_only_who_consented_and_unsubscribes_in_one_click(
    migrated_url: str, tmp_path: Path, smtp: tuple[Recorder, Controller]
) -> None:
    recorder, controller = smtp
    crew = asyncio.run(_team(migrated_url))
    _with_addresses(migrated_url, crew, leaver="en")
    with make_client(migrated_url, tmp_path, **_smtp_env(controller)) as client:
        for who in ("leaver", "withdrawer"):
            _post(client, crew, who, "/me/consents/progress_email", {"give": "yes"})
        _post(client, crew, "withdrawer", "/me/consents/progress_email", {"give": "no"})
        _post(client, crew, "leaver", f"/me/leave/{crew.team}", {"contributions": "anonymise"})
        data = {"title": "Evenings", "body": "Your idea is being put into practice.", "items": [crew.idea]}
        assert _post(client, crew, "professional", f"/teams/{crew.team}/updates", data).status_code == 303
        _until(lambda: len(recorder.received) == 1, "the progress e-mail")

        recipients, message = recorder.received[0]
        assert recipients == [ADDRESSES["leaver"]]
        assert message["To"] == ADDRESSES["leaver"] and message["From"] == "Kumppani <kumppani@example.org>"
        assert message["Subject"] == "Update: Evenings"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsubscribe = str(message["List-Unsubscribe"]).strip("<>")
        assert unsubscribe.startswith("http://testserver/unsubscribe/")
        plain = message.get_body(("plain",))
        html = message.get_body(("html",))
        assert plain is not None and html is not None
        text = plain.get_content()
        assert "Your idea is being put into practice." in text
        assert "Soittoaika iltaisin: being put into practice" in text and unsubscribe in text
        # No tracking: no images, and the only links are the service's own.
        assert "<img" not in html.get_content()

        # One click from the mail client: no session, no CSRF token.
        client.cookies.clear()
        path = unsubscribe.removeprefix("http://testserver")
        assert client.post(path, content=b"List-Unsubscribe=One-Click").status_code == 200
        assert asyncio.run(_optional(migrated_url, crew.people["leaver"]))["progress_email"] is False
        assert client.post("/unsubscribe/not-a-token", content=b"List-Unsubscribe=One-Click").status_code == 404

        again = {"title": "Later", "body": "More news."}
        assert _post(client, crew, "professional", f"/teams/{crew.team}/updates", again).status_code == 303
        # The second update put nothing in the outbox: nobody consents any more.
        assert len(asyncio.run(_query(migrated_url, select(MailOutbox.id)))) == 1


def test_without_an_smtp_server_messages_go_to_the_mail_folder(migrated_url: str, tmp_path: Path) -> None:
    crew = asyncio.run(_team(migrated_url))
    _with_addresses(migrated_url, crew)
    with make_client(migrated_url, tmp_path) as client:
        _post(client, crew, "silent", "/me/consents/progress_email", {"give": "yes"})
        data = {"title": "Illat", "body": "Otetaan käyttöön.", "items": [crew.idea]}
        assert _post(client, crew, "professional", f"/teams/{crew.team}/updates", data).status_code == 303
        folder = tmp_path / "mail"
        _until(lambda: any(folder.glob("*.eml")), "a message in the mail folder")
    files = list(folder.glob("*.eml"))
    assert len(files) == 1
    message = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert message["To"] == ADDRESSES["silent"] and message["Subject"] == "Tiedote: Illat"
    sent = asyncio.run(_query(migrated_url, select(MailOutbox.sent_at)))
    assert len(sent) == 1 and sent[0][0] is not None


class Served:
    """``kumppani serve`` in a process of its own, so that the test can kill it."""

    def __init__(self, url: str, data_dir: Path, port: int, env: dict[str, str]) -> None:
        self.port = port
        environment = {
            **os.environ,
            "KUMPPANI_DATABASE_URL": url,
            "KUMPPANI_DATA_DIR": str(data_dir),
            "KUMPPANI_SECRET_KEY": "test-secret-key-" + "x" * 32,
            "KUMPPANI_BASE_URL": f"http://127.0.0.1:{port}",
            "KUMPPANI_LOG_LEVEL": "WARNING",
            **env,
        }
        with open(data_dir / f"server-{port}.log", "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
                cwd=ROOT,
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        _until(self._ready, "the server to start")

    def _ready(self) -> bool:
        assert self.proc.poll() is None, "the server process ended"
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


def test_the_outbox_delivers_exactly_once_across_a_server_killed_while_sending(
    migrated_url: str, tmp_path: Path, smtp: tuple[Recorder, Controller]
) -> None:
    recorder, controller = smtp
    crew = asyncio.run(_team(migrated_url))
    _with_addresses(migrated_url, crew)
    port = free_port()
    recorder.holding = True
    first = Served(migrated_url, tmp_path, port, _smtp_env(controller))
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as web:
            for who in ("leaver", "silent"):
                web.cookies.set("kumppani", crew.tokens[who])
                web.get("/healthz")
                csrf = web.cookies["kumppani-csrf"]
                web.post("/me/consents/progress_email", data={"csrf": csrf, "give": "yes"})
            web.cookies.set("kumppani", crew.tokens["professional"])
            csrf = web.cookies["kumppani-csrf"]
            data = {"csrf": csrf, "title": "Illat", "body": "Otetaan käyttöön."}
            assert web.post(f"/teams/{crew.team}/updates", data=data).status_code == 303
        # Both messages are committed; the first is in the middle of being sent. Kill the server now.
        assert recorder.in_data.wait(30), "the server never started sending"
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait(timeout=20)
    finally:
        first.stop()
    assert recorder.release is not None
    recorder.holding = False
    controller.loop.call_soon_threadsafe(recorder.release.set)
    assert recorder.received == []

    second = Served(migrated_url, tmp_path, free_port(), _smtp_env(controller))
    try:
        _until(lambda: len(recorder.received) >= 2, "both messages after the restart")
        _until(
            lambda: all(row[0] is not None for row in asyncio.run(_query(migrated_url, select(MailOutbox.sent_at)))),
            "the outbox to mark both sent",
        )
    finally:
        second.stop()
    ids = Counter(str(message["Message-ID"]) for _, message in recorder.received)
    stored = {row[0] for row in asyncio.run(_query(migrated_url, select(MailOutbox.message_id)))}
    assert set(ids) == stored and len(stored) == 2
    assert all(count == 1 for count in ids.values()), ids
    assert sorted(rcpt for rcpts, _ in recorder.received for rcpt in rcpts) == sorted(
        [ADDRESSES["leaver"], ADDRESSES["silent"]]
    )


def test_a_customer_adds_and_removes_an_email_address_and_bad_ones_change_nothing(
    migrated_url: str, tmp_path: Path
) -> None:
    crew = asyncio.run(_team(migrated_url))
    customer = crew.people["silent"]

    def stored() -> str | None:
        return asyncio.run(_query(migrated_url, select(Person.email).where(Person.id == customer)))[0][0]

    with make_client(migrated_url, tmp_path) as client:
        saved = _post(client, crew, "silent", "/me/email", {"email": "  Sanna@Example.ORG "})
        assert saved.status_code == 303 and stored() == "Sanna@example.org"
        page = client.get(saved.headers["location"])
        assert 'role="status"' in page.text and 'value="Sanna@example.org"' in page.text
        for bad in ("sanna", "sanna@", "sanna@example", "a b@example.org", "x" * 320 + "@example.org"):
            refused = _post(client, crew, "silent", "/me/email", {"email": bad})
            assert refused.headers["location"].startswith("/me?email=bad")
            assert stored() == "Sanna@example.org"
        alert = client.get("/me?email=bad")
        assert 'role="alert"' in alert.text and "Tämä ei ole sähköpostiosoite" in alert.text
        assert _post(client, crew, "silent", "/me/email", {"remove": "yes"}).status_code == 303
        assert stored() is None


def test_a_sign_in_link_by_email_lasts_fifteen_minutes_works_once_and_tells_nothing_of_unknown_addresses(
    migrated_url: str, tmp_path: Path, smtp: tuple[Recorder, Controller]
) -> None:
    from datetime import timedelta

    from auth.models import ReturnLink
    from foundation.db import utcnow

    recorder, controller = smtp
    crew = asyncio.run(_team(migrated_url))
    _with_addresses(migrated_url, crew, silent="sv")
    with make_client(migrated_url, tmp_path, **_smtp_env(controller)) as client:

        def ask(address: str) -> Any:
            form = client.get("/signin/email")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert csrf
            return client.post("/signin/email", data={"csrf": csrf.group(1), "email": address})

        known = ask("SANNA@example.org")
        _until(lambda: len(recorder.received) == 1, "the sign-in link")
        unknown = ask("nobody@example.org")
        assert known.status_code == unknown.status_code == 200
        per_request = re.compile(r'(value|nonce)="[^"]+"')
        assert per_request.sub("", known.text) == per_request.sub("", unknown.text)
        assert len(asyncio.run(_query(migrated_url, select(MailOutbox.id)))) == 1
        assert ask("not an address").status_code == 400

        recipients, message = recorder.received[0]
        assert recipients == [ADDRESSES["silent"]] and message["Subject"] == "Inloggningslänk"
        assert message["List-Unsubscribe"] is None
        plain = message.get_body(("plain",))
        assert plain is not None
        found = re.search(r"http://testserver(/return/\S+)", plain.get_content())
        assert found
        link = found.group(1)
        expires = asyncio.run(_query(migrated_url, select(ReturnLink.expires_at)))[0][0]
        assert timedelta(minutes=14) < expires - utcnow() <= timedelta(minutes=15)

        def use() -> Any:
            page = client.get(link)
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            return client.post(link, data={"csrf": csrf.group(1) if csrf else ""})

        client.cookies.clear()
        first = use()
        assert first.status_code == 303 and client.cookies.get("kumppani")
        client.cookies.clear()
        assert use().status_code == 410

        ask("sanna@example.org")
        _until(lambda: len(recorder.received) == 2, "a second sign-in link")
        second = message_from_bytes(recorder.received[1][1].as_bytes(), policy=policy.default)
        body = second.get_body(("plain",))
        assert body is not None
        late = re.search(r"http://testserver(/return/\S+)", body.get_content())
        assert late
        link = late.group(1)

        async def expire() -> None:
            engine = create_engine(migrated_url)
            async with engine.begin() as conn:
                await conn.execute(update(ReturnLink).values(expires_at=utcnow() - timedelta(seconds=1)))
            await engine.dispose()

        asyncio.run(expire())
        client.cookies.clear()
        assert use().status_code == 410
