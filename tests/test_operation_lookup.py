"""Recognising a resent operation must not read the board's whole history.

Every batch asks the operation log whether its op ids were seen before. A board
that has been in use for months has tens of thousands of operations; if the
lookup reads all of them, every edit on that board gets slower as the board
ages. These tests give a board a long history and check both that a resend
from early in it is still recognised and that the database finds op ids through
the unique index (board, actor, op id) rather than by reading the board's log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from boards import protocol as p
from boards.engine import _PREVIOUS_SEQS, Limits, Submission, apply_batch
from boards.models import Operation
from foundation.db import create_engine, new_id
from tests.conftest import Seeded

HISTORY = 3000


async def _long_history(conn: AsyncConnection, seeded: Seeded) -> None:
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = [
        {
            "board_id": seeded.board,
            "seq": 1_000_000 + n,
            "op_id": f"history-{n}",
            "actor_id": seeded.professional if n % 2 else seeded.customer,
            "type": "item.updated",
            "item_id": None,
            "data": {},
            "inverse": None,
            "created_at": now,
        }
        for n in range(HISTORY)
    ]
    await conn.execute(insert(Operation), rows)
    await conn.execute(text("ANALYZE"))


async def _plan(conn: AsyncConnection, seeded: Seeded) -> str:
    query = _PREVIOUS_SEQS.params(
        board_id=seeded.board, people=[seeded.professional, seeded.customer], op_ids=["history-7", "new-op"]
    ).compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    if conn.dialect.name == "sqlite":
        rows = (await conn.execute(text(f"EXPLAIN QUERY PLAN {query}"))).all()
        return "\n".join(str(row[-1]) for row in rows)
    # A small table may be cheaper to scan than to look up; what matters is that the index can be used.
    await conn.execute(text("SET LOCAL enable_seqscan = off"))
    await conn.execute(text("SET LOCAL enable_bitmapscan = off"))
    plan = (await conn.execute(text(f"EXPLAIN (FORMAT JSON) {query}"))).scalar()
    return "\n".join(_index_conditions(plan))


def _index_conditions(node: Any) -> list[str]:
    """Every "Index Cond" in a PostgreSQL JSON plan (what the index finds, not what is filtered after)."""
    if isinstance(node, list):
        return [c for child in node for c in _index_conditions(child)]
    if isinstance(node, dict):
        found = [node["Index Cond"]] if "Index Cond" in node else []
        return found + [c for value in node.values() for c in _index_conditions(value)]
    return []


async def test_a_resend_is_recognised_on_a_board_with_a_long_history(migrated_url: str, seeded: Seeded) -> None:
    engine = create_engine(migrated_url)
    try:
        async with engine.begin() as conn:
            await _long_history(conn, seeded)
            plan = await _plan(conn, seeded)
        card = new_id()
        create = p.ItemCreate(id=card, item_type="card", fields={"text": "uusi"}, stage=seeded.stage, lane=seeded.lane)
        async with engine.begin() as conn:
            [first] = await apply_batch(conn, seeded.board, [Submission(seeded.professional, "c1", create)], Limits())
        async with engine.begin() as conn:
            [again] = await apply_batch(conn, seeded.board, [Submission(seeded.professional, "c1", create)], Limits())
            old = p.ItemUpdate(id=card, fields={"text": "vanha"})
            [old_resend] = await apply_batch(
                conn, seeded.board, [Submission(seeded.professional, "history-1", old)], Limits()
            )
    finally:
        await engine.dispose()

    assert first.seq is not None and not first.duplicate
    assert again.duplicate and again.seq == first.seq
    # history-1 was the professional's operation number 1 000 001: a resend of it changes nothing.
    assert old_resend.duplicate and old_resend.seq == 1_000_001
    if migrated_url.startswith("sqlite"):
        assert "actor_id=? AND op_id=?" in plan, plan
    else:
        assert "op_id" in plan and "actor_id" in plan, plan
