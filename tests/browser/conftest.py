"""Browser tests: Playwright's Python API driving Debian's Chromium against a live server.

The browser layer runs on SQLite only (the storage engines have their own tests).
Without /usr/bin/chromium or axe-core these tests skip with the reason shown, and
fail under CI=true. Tests wait on conditions with timeouts, never on fixed sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from conftest import LiveServer, Seeded, free_port, seed_workspace, service_missing, settings_for
from openid_provider import OpenIdProvider, missing_reason, start_openid_provider
from server.migrate import upgrade

CHROMIUM = Path("/usr/bin/chromium")
HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = HERE.parent.parent / "test-output" / "screenshots"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(params=["sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLite only: the browser layer does not depend on the database engine."""
    yield f"sqlite+aiosqlite:///{tmp_path / 'kumppani.db'}"


@contextlib.contextmanager
def outside_playwright_loop() -> Iterator[None]:
    """Playwright's sync API marks its event loop as running in this thread between calls;
    step out of it to run other asyncio code (migrations, seeding, database checks)."""
    loop = asyncio._get_running_loop()
    asyncio._set_running_loop(None)
    try:
        yield
    finally:
        asyncio._set_running_loop(loop)


@pytest.fixture
def migrated_url(db_url: str) -> str:
    with outside_playwright_loop():
        upgrade(db_url)
    return db_url


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        service_missing("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - a dev dependency
        service_missing("Playwright for Python is not installed")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
    except Exception as exc:  # pragma: no cover - depends on the machine
        playwright.stop()
        service_missing(f"Chromium did not start: {exc}")
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()
        asyncio._set_running_loop(None)  # the async tests after this package run their own loops


@pytest.fixture(scope="package")
def axe_source() -> str:
    if not AXE.exists():
        service_missing("axe-core is not installed: run `npm ci` in tests/browser")
    return AXE.read_text(encoding="utf-8")


@pytest.fixture
def signin_live(migrated_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A live server whose public address is its own port, as the provider's redirect URI needs."""
    port = free_port()
    settings = settings_for(migrated_url, tmp_path, KUMPPANI_BASE_URL=f"http://127.0.0.1:{port}")
    server = LiveServer(settings, port=port).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def openid_provider(signin_live: LiveServer) -> Iterator[OpenIdProvider]:
    """panva's oidc-provider on loopback, with one client whose redirect URI is ``signin_live``'s callback."""
    reason = missing_reason()
    if reason is not None:
        service_missing(reason)
    provider = start_openid_provider(f"{signin_live.base}/signin/oidc/callback")
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def world(live: LiveServer, migrated_url: str) -> Seeded:
    """The seeded team (professional, customer, observer) on the live server's database."""
    return run(seed_workspace(migrated_url))


class Pages:
    """Opens pages as one of the seeded people, each in a browser context of its own."""

    def __init__(self, browser: Any, live: LiveServer, world: Seeded) -> None:
        self.browser = browser
        self.live = live
        self.world = world
        self.contexts: list[Any] = []
        self.errors: list[str] = []

    def context(self, who: str | None = None, *, width: int = 1280, height: int = 900, **options: Any) -> Any:
        context = self.browser.new_context(viewport={"width": width, "height": height}, locale="fi-FI", **options)
        context.set_default_timeout(10_000)
        context.on("page", self._watch)
        if who is not None:
            self.add_session(context, self.world.tokens[who] if who in self.world.tokens else who)
        self.contexts.append(context)
        return context

    def _watch(self, page: Any) -> None:
        # An uncaught script error fails the test, whatever it was doing.
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))

    def add_session(self, context: Any, token: str) -> None:
        context.add_cookies([{"name": "kumppani", "value": token, "url": self.live.base}])

    def open(self, path: str, who: str | None = "professional", **options: Any) -> Any:
        page = self.context(who, **options).new_page()
        page.goto(self.live.base + path)
        return page

    def board(self, board_id: str | None = None, who: str = "professional", **options: Any) -> Any:
        page = self.open(f"/boards/{board_id or self.world.board}", who, **options)
        wait_synced(page)
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(browser: Any, live: LiveServer, world: Seeded) -> Iterator[Pages]:
    made = Pages(browser, live, world)
    try:
        yield made
    finally:
        made.close()
    assert not made.errors, "script errors in the page:\n" + "\n".join(made.errors)


def wait_synced(page: Any, timeout: float = 10_000) -> None:
    page.wait_for_function("() => window.kumppaniBoard && window.kumppaniBoard.synced", timeout=timeout)


def run(coro: Any) -> Any:
    """Run a coroutine from a synchronous browser test."""
    with outside_playwright_loop():
        return asyncio.run(coro)


async def new_session(database_url: str, person_id: str) -> str:
    from auth.sessions import create_session
    from foundation.db import create_engine

    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            return await create_session(conn, person_id, absolute=timedelta(hours=12))
    finally:
        await engine.dispose()


def check_axe(page: Any, axe_source: str, where: str) -> None:
    """axe-core finds no WCAG 2.0/2.1/2.2 A and AA violation on the page as it is now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated over the DevTools protocol, which the page's CSP does not apply to.
        page.evaluate(axe_source)
    violations = page.evaluate(
        """async (tags) => {
            const options = { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] };
            const result = await axe.run(document, options);
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 4).map((n) => ({
                    target: n.target, html: n.html.slice(0, 160), why: n.failureSummary,
                })),
            }));
        }""",
        WCAG_TAGS,
    )
    assert not violations, f"axe violations on {where} ({page.url}):\n" + json.dumps(
        violations, indent=2, ensure_ascii=False
    )


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def open_actions(scope: Any, text: str) -> Any:
    """Open a card's actions (its one tab stop, the "Toiminnot" button) unless they are open."""
    button = scope.get_by_role("button", name=f"Toiminnot: {text}")
    if button.get_attribute("aria-expanded") != "true":
        button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    return button


def is_focused(locator: Any) -> bool:
    return bool(locator.evaluate("(node) => node === document.activeElement"))


def tab_to(page: Any, locator: Any, *, backwards: bool = False, limit: int = 120) -> None:
    """Press Tab (or Shift+Tab) until `locator` has focus: the keyboard's way to get somewhere."""
    for _ in range(limit):
        if is_focused(locator):
            return
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
    raise AssertionError(f"could not reach {locator} with the keyboard in {limit} presses")


def announced(page: Any, text: str, timeout: float = 8_000) -> None:
    """Wait until the polite live region says `text` (announcements are batched, up to 3 s apart)."""
    page.wait_for_function(
        "(text) => document.getElementById('announcer').textContent.includes(text)", arg=text, timeout=timeout
    )
