"""Fresh databases for the benchmark: migrated, with one team, its people and sessions, and boards.

Everything is written with Kumppani's own code (the directory, sessions, board
catalogue and the board engine's ``apply_batch``), so the rows look exactly like
the ones a running server writes.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"

CARD_TEXT = "Odotin puhelimessa 40 minuuttia ennen kuin kukaan vastasi, ja sitten puhelu katkesi."


@dataclass
class Workspace:
    database_url: str
    team: str
    people: list[str]
    tokens: list[str]
    boards: dict[str, str]
    cards: dict[str, list[str]] = field(default_factory=dict)
    stage: str = ""
    lane: str = ""
    resume_since: int = 0
    resume_missed: int = 0
    snapshot_items: int = 0

    def cookie(self, index: int) -> str:
        return f"kumppani={self.tokens[index]}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'kumppani.db'}"


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_pg_database() -> str:
    name = f"kumppani_bench_{secrets.token_hex(5)}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def checkpoint_pg() -> None:
    """Flush PostgreSQL's dirty pages now, so that no checkpoint falls inside a measured window."""
    asyncio.run(_pg_admin("CHECKPOINT"))


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def migrate(url: str) -> None:
    from server.migrate import upgrade

    upgrade(url)


def ensure_migrated(url: str) -> None:
    """Upgrade again if a migration was added since the database was made (the tree may change under a long run)."""
    from server.schema_revision import database_revision_sync, head_revision

    if database_revision_sync(url) != head_revision():
        migrate(url)


async def _apply(engine: Any, board: str, submissions: list[Any], chunk: int = 200) -> int:
    from boards.engine import Limits, apply_batch

    seq = 0
    for start in range(0, len(submissions), chunk):
        async with engine.begin() as conn:
            outcomes = await apply_batch(conn, board, submissions[start : start + chunk], Limits(max_items=100_000))
        for outcome in outcomes:
            if outcome.error is not None:
                raise RuntimeError(f"seeding failed: {outcome.error.code} {outcome.error.message}")
            seq = max(seq, outcome.seq)
    return seq


async def seed(
    url: str, *, people: int, writers: int = 4, snapshot_items: int = 2000, resume_missed: int = 1000
) -> Workspace:
    """One team of ``people`` professionals with a session each, and the benchmark's boards."""
    from sqlalchemy import select

    from auth import directory as d
    from auth.sessions import create_session
    from boards import protocol as p
    from boards.catalogue import create_board
    from boards.engine import Submission
    from boards.models import Item
    from foundation.db import create_engine, new_id

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            org = await d.create_organisation(conn, "Benchmark kunta")
            team = await d.create_team(conn, "Kotihoito", org)
            person_ids: list[str] = []
            tokens: list[str] = []
            for i in range(people):
                pid = await d.create_person(conn, f"Henkilö {i:03d}", organisation_id=org)
                await d.add_member(conn, team, pid, "professional")
                person_ids.append(pid)
                tokens.append(await create_session(conn, pid, absolute=timedelta(hours=12)))
            boards = {
                name: await create_board(conn, f"Benchmark {name}", "journey", team_id=team)
                for name in ("load", "drop", "resume", "snapshot", "idle")
            }
            structure: dict[str, list[str]] = {}
            for kind in ("stage", "lane"):
                structure[kind] = list(
                    (
                        await conn.execute(
                            select(Item.id)
                            .where(Item.board_id == boards["snapshot"], Item.type == kind)
                            .order_by(Item.order_key)
                        )
                    ).scalars()
                )
            first: dict[str, tuple[str, str]] = {}
            for name, board in boards.items():
                stage = (
                    await conn.execute(
                        select(Item.id).where(Item.board_id == board, Item.type == "stage").order_by(Item.order_key)
                    )
                ).scalar()
                lane = (
                    await conn.execute(
                        select(Item.id).where(Item.board_id == board, Item.type == "lane").order_by(Item.order_key)
                    )
                ).scalar()
                assert stage and lane
                first[name] = (stage, lane)
            template_items = len(
                list((await conn.execute(select(Item.id).where(Item.board_id == boards["snapshot"]))).scalars())
            )

        ws = Workspace(url, team, person_ids, tokens, boards)
        ws.stage, ws.lane = first["load"]

        # One card per writer on the boards where writers update cards.
        for name in ("load", "drop", "resume"):
            stage, lane = first[name]
            cards = [new_id() for _ in range(writers)]
            subs = [
                Submission(
                    person_ids[w],
                    f"seed-{name}-{w}",
                    p.ItemCreate(id=cards[w], item_type="card", fields={"text": CARD_TEXT}, stage=stage, lane=lane),
                )
                for w in range(writers)
            ]
            head = await _apply(engine, boards[name], subs)
            ws.cards[name] = cards
            if name == "resume":
                ws.resume_since = head

        # A client that last saw ``resume_since`` has missed ``resume_missed`` operations.
        card = ws.cards["resume"][0]
        subs = [
            Submission(person_ids[0], f"missed-{i}", p.ItemUpdate(id=card, fields={"text": f"{CARD_TEXT} ({i})"}))
            for i in range(resume_missed)
        ]
        await _apply(engine, boards["resume"], subs)
        ws.resume_missed = resume_missed

        # A board of ``snapshot_items`` items in all, spread over its cells, by several authors.
        stages, lanes = structure["stage"], structure["lane"]
        wanted = max(0, snapshot_items - template_items)
        subs = []
        for i in range(wanted):
            subs.append(
                Submission(
                    person_ids[i % max(1, min(len(person_ids), 8))],
                    f"snap-{i}",
                    p.ItemCreate(
                        id=new_id(),
                        item_type="card",
                        fields={"text": f"{CARD_TEXT} #{i}", "colour": "yellow"},
                        stage=stages[i % len(stages)],
                        lane=lanes[(i // len(stages)) % len(lanes)],
                    ),
                )
            )
        await _apply(engine, boards["snapshot"], subs)
        ws.snapshot_items = template_items + wanted
        return ws
    finally:
        await engine.dispose()
