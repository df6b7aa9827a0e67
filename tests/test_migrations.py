"""Migrations upgrade an empty database on both engines, and agree with the models."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from foundation.db import create_engine
from server.migrate import current_revision, head_revision, upgrade
from server.models import metadata


def test_upgrade_from_empty_and_models_agree(db_url: str) -> None:
    upgrade(db_url)
    assert asyncio.run(current_revision(db_url)) == head_revision(db_url)
    diff, tables = asyncio.run(_compare(db_url))
    assert diff == [], f"models and migrations disagree: {diff}"
    assert {
        "person",
        "team",
        "membership",
        "board",
        "item",
        "operation",
        "invite",
        "auth_session",
        "consent_record",
        "audit_event",
        "programme",
        "round",
        "scheduled_session",
    } <= tables


async def _compare(db_url: str) -> tuple[list[object], set[str]]:
    engine = create_engine(db_url, pool=False)
    try:
        async with engine.connect() as conn:

            def _diff(sync_conn):  # type: ignore[no-untyped-def]
                context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                return compare_metadata(context, metadata)

            diff = await conn.run_sync(_diff)
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    return diff, tables


@pytest.mark.pg
def test_order_keys_compare_bytewise_on_postgresql(pg_url: str) -> None:
    """Fractional order keys need byte order: a locale collation would tie or reorder 'Z' and 'a'."""
    upgrade(pg_url)

    async def collation() -> tuple[str | None, list[str]]:
        engine = create_engine(pg_url, pool=False)
        async with engine.connect() as conn:
            name = (
                await conn.execute(
                    text(
                        "SELECT collation_name FROM information_schema.columns "
                        "WHERE table_name = 'item' AND column_name = 'order_key'"
                    )
                )
            ).scalar()
            ordered = [
                r[0]
                for r in (
                    await conn.execute(
                        text("SELECT k FROM (VALUES ('a'::varchar COLLATE \"C\"), ('Z'), ('V')) AS t(k) ORDER BY k")
                    )
                ).all()
            ]
        await engine.dispose()
        return name, ordered

    name, ordered = asyncio.run(collation())
    assert name == "C" and ordered == ["V", "Z", "a"]
