"""PostgreSQL: lock a board and read everything a batch needs, in one round trip.

On PostgreSQL every statement of a batch's transaction is a round trip through
the event loop, which under load waits behind the fan-out of frames; and while
the transaction holds the board's row lock, every other process writing to the
board waits for each of them. Locking the board row, reading the actors' team
membership, the op ids seen before and the referenced items were four round
trips; this statement does all four.

All parts of one statement read the snapshot taken when it starts, but the row
lock may be granted only after another transaction has committed: then the
locked row is a newer version (another ``xmin``) than the snapshot's, and
:attr:`BoardRead.current` is false. Every writer of a board's items, votes and
operation log updates the board row in its transaction (the engine advances
``seq``; the departure clean-up locks the row with an update too), so when the
versions agree, nothing the statement read has changed; when they do not, the
engine reads again (``lock=False``: it holds the lock already). Membership is
not guarded by the board's lock anyway: it is read as of the start of the
statement, as it would have been a moment earlier.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Row, Select, Text, bindparam, cast, func, literal_column, select
from sqlalchemy.engine import Connection

from auth.permissions import team_members_query
from boards.models import Board

_decode = msgspec.json.Decoder()

#: The version of the board row: the transaction that wrote it.
_ROW_VERSION: ColumnElement[str] = literal_column("board.xmin::text")


@dataclass(slots=True)
class BoardRead:
    board: Any  # the row: the columns asked for, and row_version
    members: list[list[Any]]
    seen_ops: list[list[Any]]
    items: list[list[Any]]
    current: bool


def build_statement(
    board_columns: Iterable[Any],
    previous_seqs: Select[*tuple[Any, ...]],
    load_items: Select[*tuple[Any, ...]],
    *,
    lock: bool,
) -> Select[*tuple[Any, ...]]:
    """The combined statement, from the engine's own queries (their parameters: board_id, op_ids, ids, people)."""
    board = select(*board_columns, _ROW_VERSION.label("row_version")).where(Board.id == bindparam("board_id"))
    if lock:
        board = board.with_for_update(key_share=True)  # FOR NO KEY UPDATE: what an UPDATE of the row takes
    found = board.cte("found").prefix_with("MATERIALIZED")
    snapshot_version = (
        select(_ROW_VERSION)
        .select_from(Board)
        .where(Board.id == bindparam("board_id"))
        .correlate(None)
        .scalar_subquery()
    )
    team_id = select(Board.team_id).where(Board.id == bindparam("board_id")).correlate(None).scalar_subquery()
    return select(
        found,
        snapshot_version.label("snapshot_version"),
        _json_rows(team_members_query(team_id)).label("members"),
        _json_rows(previous_seqs).label("seen_ops"),
        _json_rows(load_items).label("items"),
    )


def _json_rows(query: Select[*tuple[Any, ...]]) -> ColumnElement[str]:
    """The query's rows as one JSON text of arrays (``[]`` when there are none)."""
    rows = query.subquery()
    aggregated = func.json_agg(func.json_build_array(*rows.c))
    return select(func.coalesce(cast(aggregated, Text), literal_column("'[]'"))).correlate(None).scalar_subquery()


def read_board(
    conn: Connection,
    statement: Select[*tuple[Any, ...]],
    board_id: str,
    people: Iterable[str],
    op_ids: Iterable[str],
    item_ids: Iterable[str],
) -> BoardRead | None:
    row: Row[*tuple[Any, ...]] | None = conn.execute(
        statement, {"board_id": board_id, "people": list(people), "op_ids": list(op_ids), "ids": list(item_ids)}
    ).first()
    if row is None:
        return None
    return BoardRead(
        board=row,
        members=_decode.decode(row.members),
        seen_ops=_decode.decode(row.seen_ops),
        items=_decode.decode(row.items),
        current=row.row_version == row.snapshot_version,
    )
