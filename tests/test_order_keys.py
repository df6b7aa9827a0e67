"""Order keys: every create and move lands where docs/protocol.md section 9 says, and no two
live items of a cell ever share a key, whatever neighbours the client names and whatever the ids.

The property test drives the real engine (``apply_batch``) with random sequences of creates,
moves, deletes, restores and undos, several of them at times in one batch, naming random
`after`/`before` neighbours: right ones, stale ones, ones in the wrong order, ones in another
cell, the item itself, unknown ids. A model of the board built only from the emitted events
says where each item must land; the database must agree with the model after every batch.
"""

from __future__ import annotations

import asyncio
import string
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from boards import protocol as p
from boards.catalogue import create_board
from boards.engine import Limits, Submission, apply_batch
from boards.models import Item
from boards.ordering import key_between
from conftest import Seeded, seed_workspace
from foundation.db import create_engine

Cell = tuple[str | None, str | None, str | None]

ITEM_ID = st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=8, max_size=32)
#: A reference to one of the items known so far, by position (wrapped around), or None.
REF = st.one_of(st.none(), st.integers(min_value=0, max_value=60))
#: Cells for cards: two cells of the grid and the board-level cell (no stage, no lane).
CELL = st.integers(min_value=0, max_value=2)

ACTION = st.one_of(
    st.tuples(st.just("create"), ITEM_ID, CELL, REF, REF),
    st.tuples(st.just("move"), REF, CELL, REF, REF),
    st.tuples(st.just("delete"), REF),
    st.tuples(st.just("restore"), REF),
    st.tuples(st.just("undo"), st.integers(min_value=0, max_value=60)),
)
#: Batches of one to three operations, as the sequencer groups what arrives together.
SCRIPT = st.lists(st.lists(ACTION, min_size=1, max_size=3), min_size=1, max_size=12)


@dataclass
class Placed:
    cell: Cell
    key: str
    live: bool


def _ordered(model: dict[str, Placed], cell: Cell, without: str | None = None) -> list[str]:
    """The cell as the protocol orders it: by key, then by id, both as plain strings."""
    ids = [i for i, s in model.items() if s.live and s.cell == cell and i != without]
    return sorted(ids, key=lambda i: (model[i].key, i))


def _expected_index(model: dict[str, Placed], cmd: p.ItemCreate | p.ItemMove, cell: Cell, moving: str) -> int:
    """Where section 9 says the item goes in the cell without it."""
    order = _ordered(model, cell, without=moving)
    after = cmd.after if cmd.after in order else None
    before = cmd.before if cmd.before in order else None
    if after is not None:
        return order.index(after) + 1
    if before is not None:
        return order.index(before)
    return len(order)


def _apply_event(model: dict[str, Placed], event: p.Event) -> None:
    data = event.data
    if event.type in ("item.created", "item.restored"):
        item = data["item"]
        model[item["id"]] = Placed((item["stage"], item["lane"], item["parent"]), item["order"], True)
    elif event.type == "item.moved":
        parent = model[data["id"]].cell[2]
        model[data["id"]] = Placed((data["stage"], data["lane"], parent), data["order"], True)
    elif event.type == "item.deleted":
        model[data["id"]].live = False


_ROWS = select(Item.id, Item.type, Item.stage_id, Item.lane_id, Item.parent_id, Item.order_key, Item.deleted_seq)


class Scenario:
    def __init__(self, url: str, seeded: Seeded) -> None:
        self.url = url
        self.seeded = seeded

    async def run(self, script: list[list[tuple[Any, ...]]]) -> None:
        engine = create_engine(self.url)
        try:
            async with engine.begin() as conn:
                board = await create_board(conn, "Järjestys", "journey", team_id=self.seeded.team)
                rows = (await conn.execute(_ROWS.where(Item.board_id == board))).all()
            model = {r.id: Placed((r.stage_id, r.lane_id, r.parent_id), r.order_key, True) for r in rows}
            stages = sorted((r for r in rows if r.type == "stage"), key=lambda r: r.order_key)
            lanes = sorted((r for r in rows if r.type == "lane"), key=lambda r: r.order_key)
            cells: list[Cell] = [
                (stages[0].id, lanes[0].id, None),
                (stages[1].id, lanes[0].id, None),
                (None, None, None),
            ]
            known = list(model)
            seqs: list[int] = []
            for number, batch in enumerate(script):
                submissions = [
                    Submission(self.seeded.professional, f"op-{number}-{n}", cmd)
                    for n, action in enumerate(batch)
                    if (cmd := self._command(action, known, cells, seqs)) is not None
                ]
                if not submissions:
                    continue
                async with engine.begin() as conn:
                    outcomes = await apply_batch(conn, board, submissions, Limits())
                for sub, outcome in zip(submissions, outcomes, strict=True):
                    if outcome.event is None:
                        continue
                    self._check_landing(model, sub.command, outcome.event)
                    _apply_event(model, outcome.event)
                    seqs.append(outcome.seq)
                    if isinstance(sub.command, p.ItemCreate):
                        known.append(sub.command.id)
                async with engine.connect() as conn:
                    stored = (await conn.execute(_ROWS.where(Item.board_id == board))).all()
                self._check_stored(model, stored)
        finally:
            await engine.dispose()

    @staticmethod
    def _command(action: tuple[Any, ...], known: list[str], cells: list[Cell], seqs: list[int]) -> p.AnyCommand | None:
        def ref(index: int | None) -> str | None:
            return None if index is None else known[index % len(known)]

        kind = action[0]
        if kind == "create":
            _, item_id, cell, after, before = action
            stage, lane, _parent = cells[cell]
            return p.ItemCreate(
                id=item_id, item_type="card", fields={}, stage=stage, lane=lane, after=ref(after), before=ref(before)
            )
        if kind == "move":
            _, target, cell, after, before = action
            stage, lane, _parent = cells[cell]
            return p.ItemMove(id=ref(target) or known[0], stage=stage, lane=lane, after=ref(after), before=ref(before))
        if kind == "delete":
            return p.ItemDelete(id=ref(action[1]) or known[-1])
        if kind == "restore":
            return p.ItemRestore(id=ref(action[1]) or known[-1])
        if not seqs:
            return None
        return p.Undo(seq=seqs[action[1] % len(seqs)])

    @staticmethod
    def _check_landing(model: dict[str, Placed], cmd: p.AnyCommand, event: p.Event) -> None:
        if not isinstance(cmd, (p.ItemCreate, p.ItemMove)):
            return
        if isinstance(cmd, p.ItemCreate):
            moving, cell = cmd.id, (cmd.stage, cmd.lane, cmd.parent)
        else:
            moving = cmd.id
            cell = (event.data["stage"], event.data["lane"], model[moving].cell[2])
        expected = _expected_index(model, cmd, cell, moving)
        landed = {**model}
        landed[moving] = Placed(
            cell, event.data["item"]["order"] if "item" in event.data else event.data["order"], True
        )
        order = _ordered(landed, cell)
        assert order.index(moving) == expected, (cmd, order, {i: landed[i].key for i in order})

    @staticmethod
    def _check_stored(model: dict[str, Placed], stored: Any) -> None:
        by_cell: dict[Cell, list[str]] = {}
        for row in stored:
            placed = model[row.id]
            assert (placed.cell, placed.key, placed.live) == (
                (row.stage_id, row.lane_id, row.parent_id),
                row.order_key,
                row.deleted_seq is None,
            )
            if row.deleted_seq is None:
                by_cell.setdefault(placed.cell, []).append(row.order_key)
        for cell, keys in by_cell.items():
            assert len(keys) == len(set(keys)), f"equal keys in cell {cell}: {sorted(keys)}"


def test_creates_and_moves_land_where_the_protocol_says_and_keys_never_repeat(migrated_url: str) -> None:
    loop = asyncio.new_event_loop()
    try:
        scenario = Scenario(migrated_url, loop.run_until_complete(seed_workspace(migrated_url)))

        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
            database=None,
        )
        @given(SCRIPT)
        def check(script: list[list[tuple[Any, ...]]]) -> None:
            loop.run_until_complete(scenario.run(script))

        check()
    finally:
        loop.close()


async def test_after_with_a_before_out_of_order_lands_directly_after_and_not_on_the_next_key(
    migrated_url: str, seeded: Seeded
) -> None:
    """The defect as first found: `after` X with a `before` that is not after X took a key just
    above X's without looking at X's successor, and so the successor's own key."""
    a, b, c = "aaaaaaaa", "bbbbbbbb", "cccccccc"
    engine = create_engine(migrated_url)
    try:
        cell = {"stage": seeded.stage, "lane": seeded.lane}
        for op_id, cmd in (
            ("1", p.ItemCreate(id=a, item_type="card", **cell)),
            ("2", p.ItemCreate(id=b, item_type="card", **cell)),
            ("3", p.ItemCreate(id=c, item_type="card", after=a, before=a, **cell)),
        ):
            async with engine.begin() as conn:
                [outcome] = await apply_batch(
                    conn, seeded.board, [Submission(seeded.professional, op_id, cmd)], Limits()
                )
            assert outcome.error is None
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(Item.order_key, Item.id)
                    .where(Item.board_id == seeded.board, Item.type == "card")
                    .order_by(Item.order_key, Item.id)
                )
            ).all()
    finally:
        await engine.dispose()
    assert [i for _, i in rows] == [a, c, b]
    assert len({k for k, _ in rows}) == 3


def test_key_between_refuses_neighbours_out_of_order() -> None:
    assert "V" < key_between("V", "W") < "W"
    try:
        key_between("W", "V")
    except ValueError:
        pass
    else:
        raise AssertionError("key_between accepted neighbours out of order")
