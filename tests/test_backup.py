"""The runbook's backup and restore (docs/deployment.md): pg_dump of a database in use,
pg_restore into a fresh one, and the restored boards are the same, up to date and servable."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from conftest import drop_pg_database, make_pg_database, seed_workspace, service_missing
from foundation.db import create_engine, new_id
from server.migrate import upgrade
from server.schema_revision import database_revision_sync, head_revision

pytestmark = [pytest.mark.pg]


def _libpq(url: str) -> str:
    """What pg_dump understands: the same address without SQLAlchemy's driver name."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _fingerprints(url: str) -> dict[str, tuple[int, str]]:
    """Every table's row count and a digest of its rows in a fixed order."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            tables = (
                await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"))
            ).scalars()
            result = {}
            for table in list(tables):
                digest = "md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                row = (await conn.execute(text(f'SELECT count(*), {digest} FROM "{table}" t'))).one()
                result[table] = (row[0], row[1])
    finally:
        await engine.dispose()
    return result


async def _add_cards(
    url: str, board: str, stage: str, lane: str, actor: str, count: int, prefix: str = "before"
) -> None:
    from boards import protocol as p
    from boards.engine import Limits, Submission, apply_batch_sync
    from foundation.db import TransactionRunner

    engine = create_engine(url)
    runner = TransactionRunner(engine)
    try:
        submissions = [
            Submission(
                actor,
                f"{prefix}-{n}",
                p.ItemCreate(id=new_id(), item_type="card", fields={"text": f"kortti {n}"}, stage=stage, lane=lane),
            )
            for n in range(count)
        ]
        outcomes = await runner.run(apply_batch_sync, board, submissions, Limits())
        assert all(o.error is None for o in outcomes)
    finally:
        await runner.close()
        await engine.dispose()


def test_a_pg_dump_restores_into_a_fresh_database_with_the_same_boards(pg_url: str, tmp_path: Path) -> None:
    for tool in ("pg_dump", "pg_restore"):
        if shutil.which(tool) is None:
            service_missing(f"{tool} is not installed")
    upgrade(pg_url)
    seeded = asyncio.run(seed_workspace(pg_url))
    asyncio.run(_add_cards(pg_url, seeded.board, seeded.stage, seeded.lane, seeded.professional, 12))
    before = asyncio.run(_fingerprints(pg_url))
    assert before["operation"][0] == 12 and before["item"][0] > 12

    dump = tmp_path / "kumppani.dump"
    # As in the runbook: custom format, no owners or privileges (the restoring role owns everything).
    subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={dump}", _libpq(pg_url)],
        check=True,
        capture_output=True,
    )
    fresh = make_pg_database()
    try:
        subprocess.run(
            ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", f"--dbname={_libpq(fresh)}", str(dump)],
            check=True,
            capture_output=True,
        )
        assert asyncio.run(_fingerprints(fresh)) == before
        # The restored database is current: `kumppani serve` would start on it without a migration.
        assert database_revision_sync(fresh) == head_revision()
        # And it goes on where it stopped: a resent operation is still known, a new one gets the next number.
        asyncio.run(_add_cards(fresh, seeded.board, seeded.stage, seeded.lane, seeded.professional, 1))
        assert asyncio.run(_board_seq(fresh, seeded.board)) == 12
        asyncio.run(_add_cards(fresh, seeded.board, seeded.stage, seeded.lane, seeded.professional, 1, "after"))
        seq = asyncio.run(_board_seq(fresh, seeded.board))
        assert seq == 13
    finally:
        drop_pg_database(fresh)


async def _board_seq(url: str, board: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT seq FROM board WHERE id = :b"), {"b": board})).scalar_one())
    finally:
        await engine.dispose()
