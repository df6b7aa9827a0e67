"""Shared fixtures: databases on both engines, Redis, a live server, and a seeded team.

Under CI=true a service that cannot be reached fails the test; elsewhere it skips
with the reason shown.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from foundation.db import create_engine
from foundation.settings import Settings, load_settings
from server.migrate import upgrade

PG_ADMIN_URL = os.environ.get("KUMPPANI_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_TEST_URL = os.environ.get("KUMPPANI_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def service_missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: services are required)")
    pytest.skip(reason)


def _pg_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def make_pg_database() -> str:
    if not _pg_reachable():
        service_missing("PostgreSQL is not reachable on 127.0.0.1:5432")
    name = f"kumppani_test_{secrets.token_hex(6)}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"postgresql+asyncpg://{base.split('://', 1)[1]}/{name}"


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'kumppani.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = make_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on the embedded default and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'kumppani.db'}"
        return
    url = make_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def migrated_url(db_url: str) -> str:
    upgrade(db_url)
    return db_url


@pytest.fixture
def redis_url() -> str:
    if not _redis_reachable():
        service_missing("Redis is not reachable on 127.0.0.1:6379")
    return REDIS_TEST_URL


def settings_for(database_url: str, data_dir: Path, **env: str) -> Settings:
    values = {
        "KUMPPANI_DATABASE_URL": database_url,
        "KUMPPANI_DATA_DIR": str(data_dir),
        "KUMPPANI_SECRET_KEY": "test-secret-key-" + "x" * 32,
        **env,
    }
    return load_settings(values)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A real uvicorn server on a free port in a thread of this process."""

    def __init__(self, settings: Settings, port: int | None = None) -> None:
        from server.app import create_app

        self.settings = settings
        self.port = port or free_port()
        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            ws="server.ws.fastproto:FramedSendProtocol",
            lifespan="on",
            ws_max_size=1 << 20,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, board_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/boards/{board_id}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@dataclass
class Seeded:
    """A small workspace with more than one of each role, so that rules about *which* one are tested.

    The team (in a coaching round, with its board) has two professionals, of whom ``professional``
    is ``customer``'s contact person and ``professional2`` is ``customer2``'s, an observer, and
    the round's coach. A second team of the same organisation and round has its own professional
    and board; ``outsider`` is a professional of another organisation's team; ``admin`` is an
    administrator who belongs to no team.
    """

    org: str
    team: str
    board: str
    stage: str
    lane: str
    professional: str
    customer: str
    observer: str
    outsider: str
    tokens: dict[str, str]
    professional2: str
    customer2: str
    coach: str
    admin: str
    programme: str
    round: str
    second_team: str
    second_board: str
    second_professional: str
    outsider_team: str

    def cookie(self, who: str, secure: bool = False) -> str:
        name = "__Host-kumppani" if secure else "kumppani"
        return f"{name}={self.tokens[who]}"

    @property
    def people(self) -> dict[str, str]:
        """Person id by the name used in ``tokens``."""
        return {
            "professional": self.professional,
            "professional2": self.professional2,
            "customer": self.customer,
            "customer2": self.customer2,
            "observer": self.observer,
            "coach": self.coach,
            "admin": self.admin,
            "second_professional": self.second_professional,
            "outsider": self.outsider,
        }


async def seed_workspace(database_url: str) -> Seeded:
    from datetime import timedelta

    from sqlalchemy import select

    from auth import consent
    from auth import directory as d
    from auth.sessions import create_session
    from boards.catalogue import create_board
    from boards.models import Item

    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            org = await d.create_organisation(conn, "Testikunta")
            other_org = await d.create_organisation(conn, "Muu kunta")
            programme = await d.create_programme(conn, "Kehittämisohjelma", org)
            round_id = await d.create_round(conn, programme, "Kevään kierros")
            team = await d.create_team(conn, "Kotihoito", org, round_id)
            second_team = await d.create_team(conn, "Päivätoiminta", org, round_id)
            other_team = await d.create_team(conn, "Muu tiimi", other_org)
            pro = await d.create_person(conn, "Paula Ammattilainen", organisation_id=org)
            pro2 = await d.create_person(conn, "Pekka Ohjaaja", organisation_id=org)
            cust = await d.create_person(conn, "Kalle Asiakas")
            cust2 = await d.create_person(conn, "Kaisa Palvelunkäyttäjä")
            obs = await d.create_person(conn, "Olli Tarkkailija")
            coach = await d.create_person(conn, "Cecilia Valmentaja", organisation_id=org)
            admin = await d.create_person(conn, "Aada Ylläpitäjä", is_admin=True)
            second_pro = await d.create_person(conn, "Toni Toisesta", organisation_id=org)
            out = await d.create_person(conn, "Ulla Ulkopuolinen", organisation_id=other_org)
            await d.add_member(conn, team, pro, "professional")
            await d.add_member(conn, team, pro2, "professional")
            await d.add_member(conn, team, cust, "customer", contact_person_id=pro)
            await d.add_member(conn, team, cust2, "customer", contact_person_id=pro2)
            await d.add_member(conn, team, obs, "observer")
            await d.add_programme_coach(conn, programme, coach)
            await d.add_member(conn, second_team, second_pro, "professional")
            await d.add_member(conn, other_team, out, "professional")
            board = await create_board(conn, "Asiakaspolku", "journey", team_id=team)
            second_board = await create_board(conn, "Toisen tiimin polku", "journey_short", team_id=second_team)
            stage = (
                (
                    await conn.execute(
                        select(Item.id).where(Item.board_id == board, Item.type == "stage").order_by(Item.order_key)
                    )
                )
                .scalars()
                .first()
            )
            lane = (
                (
                    await conn.execute(
                        select(Item.id).where(Item.board_id == board, Item.type == "lane").order_by(Item.order_key)
                    )
                )
                .scalars()
                .first()
            )
            # The customers have accepted the participation agreement, as every customer does before taking part.
            text = await consent.current_text(conn, "agreement", team, "fi")
            for customer in (cust, cust2):
                await consent.give(conn, customer, "agreement", text, team_id=team)
            people = {
                "professional": pro,
                "professional2": pro2,
                "customer": cust,
                "customer2": cust2,
                "observer": obs,
                "coach": coach,
                "admin": admin,
                "second_professional": second_pro,
                "outsider": out,
            }
            tokens = {}
            for who, pid in people.items():
                tokens[who] = await create_session(conn, pid, absolute=timedelta(hours=12))
    finally:
        await engine.dispose()
    assert stage and lane
    return Seeded(
        org=org,
        team=team,
        board=board,
        stage=stage,
        lane=lane,
        professional=pro,
        customer=cust,
        observer=obs,
        outsider=out,
        tokens=tokens,
        professional2=pro2,
        customer2=cust2,
        coach=coach,
        admin=admin,
        programme=programme,
        round=round_id,
        second_team=second_team,
        second_board=second_board,
        second_professional=second_pro,
        outsider_team=other_team,
    )


@pytest.fixture
async def seeded(migrated_url: str) -> Seeded:
    return await seed_workspace(migrated_url)


@pytest.fixture
def live(migrated_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(
        settings_for(migrated_url, tmp_path, KUMPPANI_OPS_PER_SECOND="1000", KUMPPANI_OPS_BURST="5000")
    ).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def client_factory(live: LiveServer, seeded: Seeded) -> AsyncIterator[object]:
    from boards.client import BoardClient

    made: list[BoardClient] = []

    async def make(who: str = "professional", *, connect: bool = True) -> BoardClient:
        client = BoardClient(live.ws_url(seeded.board), cookie=seeded.cookie(who), origin=live.base)
        made.append(client)
        if connect:
            await client.connect()
        return client

    yield make
    for c in made:
        await c.close()


_SERVICE_MARKERS = {"pg": "PostgreSQL", "redis": "Redis", "browser": "browser"}
_service_outcomes: dict[str, dict[str, int]] = {m: {"passed": 0, "failed": 0, "skipped": 0} for m in _SERVICE_MARKERS}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
        return
    for marker in _SERVICE_MARKERS:
        if marker in report.keywords:
            _service_outcomes[marker][report.outcome] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Show that the PostgreSQL, Redis and browser tests really ran, not only that nothing failed."""
    parts = [
        f"{name}: {o['passed']} passed, {o['failed']} failed, {o['skipped']} skipped"
        for marker, name in _SERVICE_MARKERS.items()
        for o in [_service_outcomes[marker]]
    ]
    terminalreporter.write_line("services: " + "; ".join(parts))
