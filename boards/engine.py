"""Applying operations to a board: validate, authorise, sequence, persist, in one transaction.

:func:`apply_batch` takes the operations that arrived for one board while the
previous batch was being written, and in one transaction:

1. locks the board row (on SQLite the first statement is a write, so the
   database's write lock is taken at once; PostgreSQL serialises writers of the
   same board across processes);
2. reads the actors' access to the board from the membership tables;
3. recognises resent operations by their client op id and acknowledges them
   again without applying them twice;
4. validates and applies every operation in arrival order against the item
   rows, giving each accepted one the board's next sequence number;
5. writes item rows, votes, reactions and the operation log, and commits.

On PostgreSQL steps 1–3 and the reading of the items are one statement
(:mod:`boards.board_read`), and the item updates, the operation log and the
board's new sequence number another: each statement there is a round trip, and
other processes writing to the board wait on its row lock meanwhile.

Only then does the caller acknowledge and publish. A rejected operation gets an
error and changes nothing; the others in the batch are unaffected.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import msgspec
from sqlalchemy import (
    JSON,
    Column,
    Table,
    Text,
    and_,
    bindparam,
    column,
    delete,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy import cast as cast_
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.hetu import contains_identity_code
from auth.permissions import BoardAccess, BoardOwner, board_access_sync
from boards import protocol as p
from boards.board_read import BoardRead, build_statement, read_board
from boards.itemtypes import ITEM_TYPES, FieldError, validate_fields
from boards.models import Board, Item, Operation, Reaction, Vote
from boards.ordering import key_between
from foundation.db import utcnow
from foundation.prepared import Prepared

MAX_REACTION_KINDS = 12


class Rejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class Submission:
    actor: str
    op_id: str
    command: p.AnyCommand


@dataclass(slots=True)
class Outcome:
    """What to tell the sender: an ack (with the event, if new) or an error."""

    op_id: str
    seq: int = 0
    duplicate: bool = False
    replaced: list[p.Replaced] = field(default_factory=list)
    error: p.Error | None = None
    event: p.Event | None = None
    #: For the voter's connections only, after a hidden vote: their votes on the board now.
    own_votes: p.Votes | None = None


@dataclass(slots=True)
class Limits:
    max_items: int = 5000
    max_text: int = 4000


@dataclass(slots=True)
class ItemState:
    id: str
    board_id: str
    type: str
    parent_id: str | None
    stage_id: str | None
    lane_id: str | None
    order_key: str
    fields: dict[str, Any]
    field_meta: dict[str, Any]
    author_id: str | None
    version: int
    created_seq: int
    updated_seq: int
    deleted_seq: int | None
    is_new: bool = False
    dirty: bool = False

    def to_wire(self) -> dict[str, Any]:
        return item_to_wire(self)


def item_to_wire(item: Any) -> dict[str, Any]:
    """The item as clients see it (the same shape in snapshots and events)."""
    return wire_item(
        item.id,
        item.type,
        item.parent_id,
        item.stage_id,
        item.lane_id,
        item.order_key,
        item.fields,
        item.author_id,
        item.version,
        item.updated_seq,
        item.deleted_seq,
    )


def wire_item(
    item_id: str,
    item_type: str,
    parent_id: str | None,
    stage_id: str | None,
    lane_id: str | None,
    order_key: str,
    fields: dict[str, Any],
    author_id: str | None,
    version: int,
    updated_seq: int,
    deleted_seq: int | None,
) -> dict[str, Any]:
    """:func:`item_to_wire` from the values of :data:`WIRE_ITEM_COLUMNS`, in that order (snapshots read tuples)."""
    return {
        "id": item_id,
        "type": item_type,
        "parent": parent_id,
        "stage": stage_id,
        "lane": lane_id,
        "order": order_key,
        "fields": fields,
        "author": author_id,
        "version": version,
        "seq": updated_seq,
        "deleted": deleted_seq is not None,
    }


WIRE_ITEM_COLUMNS = (
    Item.id,
    Item.type,
    Item.parent_id,
    Item.stage_id,
    Item.lane_id,
    Item.order_key,
    Item.fields,
    Item.author_id,
    Item.version,
    Item.updated_seq,
    Item.deleted_seq,
)


_ITEM_COLUMNS = [c for c in Item.__table__.columns if c.name not in ("created_at", "updated_at")]
_ITEM_COLUMN_NAMES = tuple(c.name for c in _ITEM_COLUMNS)


class _Batch:
    """The in-memory working state of one transaction."""

    def __init__(self, conn: Connection, board: Any, limits: Limits, now: datetime) -> None:
        self.conn = conn
        self.board = board
        self.board_id: str = board.id
        self.seq: int = board.seq
        self.item_count: int = board.item_count
        # The board's own settings as this batch changes them (board.set).
        self.settings: dict[str, Any] = {
            "title": board.title,
            "locked": board.locked,
            "votes_revealed": board.votes_revealed,
            "timer_ends_at": board.timer_ends_at,
        }
        self.settings_dirty = False
        self.limits = limits
        self.now = now
        self.at = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.items: dict[str, ItemState | None] = {}
        self.vote_changes: dict[tuple[str, str], int] = {}
        self.votes: dict[tuple[str, str], int] = {}
        self.votes_total: dict[str, int] = {}
        self.person_votes: dict[str, int] = {}
        self.reaction_changes: dict[tuple[str, str, str], bool] = {}
        self.reactions: dict[tuple[str, str, str], bool] = {}
        self.operations: list[dict[str, Any]] = []
        self.operation_index: dict[int, dict[str, Any]] = {}

    # -------------------------------------------------------------- loading

    def load_items(self, ids: set[str]) -> None:
        wanted = [i for i in ids if i not in self.items]
        if not wanted:
            return
        self.add_loaded(wanted, (row._asdict() for row in _LOAD_ITEMS_PREPARED.all(self.conn, {"ids": wanted})))

    def add_loaded(self, wanted: Iterable[str], rows: Iterable[Mapping[Any, Any]]) -> None:
        """Items read for ``wanted``; a wanted id without a row does not exist."""
        for row in rows:
            self.items[row["id"]] = ItemState(**row)
        for missing in wanted:
            self.items.setdefault(missing, None)

    def item(self, item_id: str | None, *, allow_deleted: bool = False) -> ItemState:
        state = self.items.get(item_id) if item_id else None
        if state is None:
            raise Rejected(p.ErrorCode.NOT_FOUND, "That item does not exist.")
        if state.board_id != self.board_id:
            raise Rejected(p.ErrorCode.WRONG_BOARD, "That item is on another board.")
        if state.deleted_seq is not None and not allow_deleted:
            raise Rejected(p.ErrorCode.DELETED, "That item has been deleted.")
        return state

    def cell_neighbours(
        self,
        stage: str | None,
        lane: str | None,
        parent: str | None,
        after: ItemState | None,
        before: ItemState | None,
        moving: str | None,
    ) -> tuple[str | None, str | None]:
        """Keys to place between. Items created earlier in this batch are considered too.

        ``after`` wins: the item goes directly after it, between its key and the next key in the
        cell as it is now, whatever the client thought came next (a ``before`` that is not
        ``after``'s successor is ignored). Only ``before`` alone places just before it.
        """
        if after is not None:
            return after.order_key, self._next_key(stage, lane, parent, after.order_key, moving)
        if before is not None:
            return self._previous_key(stage, lane, parent, before.order_key, moving), before.order_key
        return self._cell_extreme(stage, lane, parent, moving, last=True), None

    def free_key(self, stage: str | None, lane: str | None, parent: str | None, key: str, moving: str) -> str:
        """``key`` if no other live item of the cell has it, else a key directly after that item.

        An undone move or a restore puts an item back at its old key, which someone else's item
        may have taken meanwhile; equal keys would leave the order to the ids.
        """
        stored = self.conn.execute(
            select(func.count()).where(self._cell_filter(stage, lane, parent, moving), Item.order_key == key)
        ).scalar()
        if not stored and key not in self._pending_in_cell(stage, lane, parent, moving):
            return key
        return key_between(key, self._next_key(stage, lane, parent, key, moving))

    def _cell_filter(self, stage: str | None, lane: str | None, parent: str | None, moving: str | None) -> Any:
        clauses = [
            Item.board_id == self.board_id,
            Item.deleted_seq.is_(None),
            Item.stage_id.is_(None) if stage is None else Item.stage_id == stage,
            Item.lane_id.is_(None) if lane is None else Item.lane_id == lane,
            Item.parent_id.is_(None) if parent is None else Item.parent_id == parent,
        ]
        if moving is not None:
            clauses.append(Item.id != moving)
        return and_(*clauses)

    def _pending_in_cell(
        self, stage: str | None, lane: str | None, parent: str | None, moving: str | None
    ) -> list[str]:
        return [
            s.order_key
            for s in self.items.values()
            if s is not None
            and s.dirty
            and s.board_id == self.board_id
            and s.deleted_seq is None
            and s.stage_id == stage
            and s.lane_id == lane
            and s.parent_id == parent
            and s.id != moving
        ]

    def _cell_extreme(
        self, stage: str | None, lane: str | None, parent: str | None, moving: str | None, *, last: bool
    ) -> str | None:
        agg = func.max(Item.order_key) if last else func.min(Item.order_key)
        stored = (self.conn.execute(select(agg).where(self._cell_filter(stage, lane, parent, moving)))).scalar()
        keys = [k for k in [stored, *self._pending_in_cell(stage, lane, parent, moving)] if k]
        if not keys:
            return None
        return max(keys) if last else min(keys)

    def _next_key(
        self, stage: str | None, lane: str | None, parent: str | None, key: str, moving: str | None
    ) -> str | None:
        stored = (
            self.conn.execute(
                select(func.min(Item.order_key)).where(
                    self._cell_filter(stage, lane, parent, moving), Item.order_key > key
                )
            )
        ).scalar()
        keys = [k for k in [stored, *self._pending_in_cell(stage, lane, parent, moving)] if k and k > key]
        return min(keys) if keys else None

    def _previous_key(
        self, stage: str | None, lane: str | None, parent: str | None, key: str, moving: str | None
    ) -> str | None:
        stored = (
            self.conn.execute(
                select(func.max(Item.order_key)).where(
                    self._cell_filter(stage, lane, parent, moving), Item.order_key < key
                )
            )
        ).scalar()
        keys = [k for k in [stored, *self._pending_in_cell(stage, lane, parent, moving)] if k and k < key]
        return max(keys) if keys else None

    # -------------------------------------------------------------- recording

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def record(
        self,
        sub: Submission,
        seq: int,
        event_type: str,
        item_id: str | None,
        data: dict[str, Any],
        inverse: dict[str, Any] | None,
    ) -> p.Event:
        row = {
            "board_id": self.board_id,
            "seq": seq,
            "op_id": sub.op_id,
            "actor_id": sub.actor,
            "type": event_type,
            "item_id": item_id,
            "data": data,
            "inverse": inverse,
            "created_at": self.now,
        }
        self.operations.append(row)
        self.operation_index[seq] = row
        return _public_event(seq, event_type, sub.actor, sub.op_id, self.at, data)

    # -------------------------------------------------------------- writing

    def writes_in_one_statement(self) -> bool:
        """Whether :meth:`flush` is only the one statement of changed items, the operation log and the board."""
        return (
            bool(self.operations)
            and not self.vote_changes
            and not self.reaction_changes
            and not any(s is not None and s.is_new for s in self.items.values())
        )

    def flush_if_unchanged(self, row_version: str) -> bool:
        """PostgreSQL without a transaction: write in one statement if the board row is still ``row_version``.

        False, and nothing written, when another writer has changed the board since it was read.
        """
        assert self.writes_in_one_statement()
        changed = [s for s in self.items.values() if s is not None and s.dirty and not s.is_new]
        values = self._write_values(changed)
        values["row_version"] = row_version
        statement = _WRITE_IF_UNCHANGED_WITH_SETTINGS if self.settings_dirty else _WRITE_IF_UNCHANGED
        return bool(self.conn.execute(statement, values).scalar())

    def _write_values(self, changed: list[ItemState]) -> dict[str, Any]:
        """The parameters of the one-statement write (PostgreSQL) for the ``changed`` items."""
        values: dict[str, Any] = {"b_id": self.board_id, "b_seq": self.seq, "b_item_count": self.item_count}
        if self.settings_dirty:
            values.update({f"b_{k}": v for k, v in self.settings.items()})
        values.update(
            w_items=_encode_json([_item_update_row(s) for s in changed]),
            w_operations=_encode_json([_operation_row(o) for o in self.operations]),
            w_now=self.now,
        )
        return values

    def flush(self) -> None:
        new_items = [s for s in self.items.values() if s is not None and s.is_new]
        changed = [s for s in self.items.values() if s is not None and s.dirty and not s.is_new]
        # PostgreSQL: changed items, the operation log and the board in one statement (one round trip).
        in_one = bool(self.operations) and self.conn.dialect.name == "postgresql"
        if new_items:
            self.conn.execute(
                insert(Item), [{**_state_row(s), "created_at": self.now, "updated_at": self.now} for s in new_items]
            )
        if changed and not in_one:
            # One statement for all changed items (executemany), not one round trip each.
            _ITEM_UPDATE.run_many(
                self.conn,
                [{f"b_{k}": v for k, v in _item_update_row(s).items()} | {"b_updated_at": self.now} for s in changed],
            )
        for (item_id, person), count in self.vote_changes.items():
            self.conn.execute(delete(Vote).where(Vote.item_id == item_id, Vote.person_id == person))
            if count > 0:
                self.conn.execute(
                    insert(Vote).values(item_id=item_id, person_id=person, board_id=self.board_id, count=count)
                )
        for (item_id, person, emoji), on in self.reaction_changes.items():
            self.conn.execute(
                delete(Reaction).where(
                    Reaction.item_id == item_id, Reaction.person_id == person, Reaction.emoji == emoji
                )
            )
            if on:
                self.conn.execute(
                    insert(Reaction).values(item_id=item_id, person_id=person, emoji=emoji, board_id=self.board_id)
                )
        if not self.operations:
            return
        if in_one:
            self.conn.execute(_WRITE_WITH_SETTINGS if self.settings_dirty else _WRITE, self._write_values(changed))
        else:
            values: dict[str, Any] = {"b_id": self.board_id, "b_seq": self.seq, "b_item_count": self.item_count}
            if self.settings_dirty:
                values.update({f"b_{k}": v for k, v in self.settings.items()})
            _INSERT_OPERATIONS.run_many(self.conn, self.operations)
            (_ADVANCE_BOARD_WITH_SETTINGS_PREPARED if self.settings_dirty else _ADVANCE_BOARD_PREPARED).run(
                self.conn, values
            )


_ITEM_UPDATE_COLUMNS = (
    "parent_id",
    "stage_id",
    "lane_id",
    "order_key",
    "fields",
    "field_meta",
    "author_id",
    "version",
    "updated_seq",
    "deleted_seq",
    "updated_at",
)
_ITEM_TABLE = cast(Table, Item.__table__)
_ITEM_UPDATE = Prepared(
    update(_ITEM_TABLE)
    .where(_ITEM_TABLE.c.id == bindparam("b_id"))
    .values({name: bindparam(f"b_{name}") for name in _ITEM_UPDATE_COLUMNS})
)


# The statements of every batch are built once: on SQLite, building and caching a
# statement costs more than running it.
_BOARD_TABLE = cast(Table, Board.__table__)
_LOAD_ITEMS = select(*_ITEM_COLUMNS).where(_ITEM_TABLE.c.id.in_(bindparam("ids", expanding=True)))
_LOAD_ITEMS_PREPARED = Prepared(_LOAD_ITEMS)
# The columns of :meth:`_Batch.record`'s rows.
_INSERT_OPERATIONS = Prepared(
    insert(cast(Table, Operation.__table__)),
    column_keys=("board_id", "seq", "op_id", "actor_id", "type", "item_id", "data", "inverse", "created_at"),
)
_ADVANCE_BOARD = (
    update(_BOARD_TABLE)
    .where(_BOARD_TABLE.c.id == bindparam("b_id"))
    .values(seq=bindparam("b_seq"), item_count=bindparam("b_item_count"))
)
_ADVANCE_BOARD_WITH_SETTINGS = _ADVANCE_BOARD.values(
    {name: bindparam(f"b_{name}") for name in ("title", "locked", "votes_revealed", "timer_ends_at")}
)
_ADVANCE_BOARD_PREPARED = Prepared(_ADVANCE_BOARD)
_ADVANCE_BOARD_WITH_SETTINGS_PREPARED = Prepared(_ADVANCE_BOARD_WITH_SETTINGS)


def _recordset(name: str, parameter: str, columns: Sequence[Column[Any]]) -> Any:
    """PostgreSQL's ``json_to_recordset(:parameter) AS name(column type, ...)``: rows sent as one JSON text."""
    rows = func.json_to_recordset(cast_(bindparam(parameter, type_=Text), JSON))
    return rows.table_valued(*(column(c.name, c.type) for c in columns)).render_derived(name=name, with_types=True)


_OPERATION_TABLE = cast(Table, Operation.__table__)
_WRITTEN_OPERATION_COLUMNS = tuple(c for c in _OPERATION_TABLE.columns if c.name not in ("board_id", "created_at"))
_changed_rows = _recordset(
    "changed", "w_items", [_ITEM_TABLE.c.id, *(_ITEM_TABLE.c[n] for n in _ITEM_UPDATE_COLUMNS if n != "updated_at")]
)
_new_operations = _recordset("new_operation", "w_operations", _WRITTEN_OPERATION_COLUMNS)


def _update_changed_items(advanced: Any | None = None) -> Any:
    """The changed items (``w_items``); with ``advanced``, only if that board update found its row."""
    where = [_ITEM_TABLE.c.id == _changed_rows.c.id]
    if advanced is not None:
        where.append(_ITEM_TABLE.c.board_id == advanced.c.id)
    values = {n: _changed_rows.c[n] for n in _ITEM_UPDATE_COLUMNS if n != "updated_at"}
    return update(_ITEM_TABLE).where(*where).values(values | {"updated_at": bindparam("w_now")}).cte("update_items")


def _log_operations(advanced: Any | None = None) -> Any:
    """The operation log's new rows (``w_operations``); with ``advanced``, only if that board update found its row."""
    board_id = advanced.c.id if advanced is not None else bindparam("b_id", type_=_OPERATION_TABLE.c.board_id.type)
    rows = select(
        board_id,
        *(_new_operations.c[c.name] for c in _WRITTEN_OPERATION_COLUMNS),
        bindparam("w_now", type_=_OPERATION_TABLE.c.created_at.type),
    )
    if advanced is not None:
        rows = rows.select_from(_new_operations.join(advanced, literal_column("true")))
    columns = ["board_id", *(c.name for c in _WRITTEN_OPERATION_COLUMNS), "created_at"]
    return insert(_OPERATION_TABLE).from_select(columns, rows).cte("log_operations")


_UPDATE_CHANGED_ITEMS = _update_changed_items()
_LOG_OPERATIONS = _log_operations()
# Data-modifying WITH parts run to completion whether or not the statement reads them.
_WRITE = _ADVANCE_BOARD.add_cte(_UPDATE_CHANGED_ITEMS, _LOG_OPERATIONS)
_WRITE_WITH_SETTINGS = _ADVANCE_BOARD_WITH_SETTINGS.add_cte(_UPDATE_CHANGED_ITEMS, _LOG_OPERATIONS)


def _write_if_unchanged(advance: Any) -> Any:
    """The same write, done only if the board row is still the version read (``row_version``).

    The parts of one statement cannot see each other's changes, only each other's
    RETURNING rows: the items and the log join the board's update, so when it
    finds the row changed (no row), they write nothing either. Its count is 1 or 0.
    """
    advanced = (
        advance.where(literal_column("board.xmin::text") == bindparam("row_version"))
        .returning(_BOARD_TABLE.c.id)
        .cte("advanced")
    )
    return (
        select(func.count()).select_from(advanced).add_cte(_update_changed_items(advanced), _log_operations(advanced))
    )


_WRITE_IF_UNCHANGED = _write_if_unchanged(_ADVANCE_BOARD)
_WRITE_IF_UNCHANGED_WITH_SETTINGS = _write_if_unchanged(_ADVANCE_BOARD_WITH_SETTINGS)
_json_encoder = msgspec.json.Encoder()


def _encode_json(value: Any) -> str:
    return _json_encoder.encode(value).decode()


def _item_update_row(s: ItemState) -> dict[str, Any]:
    """The id and the columns an update writes (all but ``updated_at``, which is the batch's time)."""
    return {k: v for k, v in _state_row(s).items() if k == "id" or k in _ITEM_UPDATE_COLUMNS}


def _operation_row(row: dict[str, Any]) -> dict[str, Any]:
    return {c.name: row[c.name] for c in _WRITTEN_OPERATION_COLUMNS}


def _state_row(s: ItemState) -> dict[str, Any]:
    return {
        "id": s.id,
        "board_id": s.board_id,
        "type": s.type,
        "parent_id": s.parent_id,
        "stage_id": s.stage_id,
        "lane_id": s.lane_id,
        "order_key": s.order_key,
        "fields": s.fields,
        "field_meta": s.field_meta,
        "author_id": s.author_id,
        "version": s.version,
        "created_seq": s.created_seq,
        "updated_seq": s.updated_seq,
        "deleted_seq": s.deleted_seq,
    }


# ------------------------------------------------------------------ the handlers


def _referenced_ids(command: p.AnyCommand) -> set[str]:
    ids: set[str] = set()
    for name in ("id", "stage", "lane", "parent", "after", "before"):
        value = getattr(command, name, None)
        if isinstance(value, str):
            ids.add(value)
    return ids


def _needs(access: BoardAccess, command: p.AnyCommand, batch: _Batch, actor: str) -> None:
    if isinstance(command, p.BoardSet):
        facilitating = (
            command.locked is not None or command.votes_revealed is not None or (command.timer_seconds is not None)
        )
        allowed = (access.facilitate or not facilitating) and (access.edit or command.title is None)
        if facilitating and not access.facilitate:
            raise Rejected(
                p.ErrorCode.FORBIDDEN, "Only a facilitator can lock the board, reveal votes or run the timer."
            )
    elif isinstance(command, (p.ReactionAdd, p.ReactionRemove)):
        allowed = access.comment
    elif isinstance(command, p.ItemCreate) and command.item_type == "comment":
        allowed = access.comment
    elif isinstance(command, (p.ItemUpdate, p.ItemDelete, p.ItemRestore)):
        target = batch.items.get(command.id)
        is_own_comment = target is not None and target.type == "comment" and target.author_id == actor
        allowed = access.edit or (access.comment and is_own_comment)
    else:
        allowed = access.edit
    if not allowed:
        raise Rejected(p.ErrorCode.FORBIDDEN, "You can read this board but not change it.")


def _place(batch: _Batch, item_type: str, stage_id: str | None, lane_id: str | None, parent_id: str | None) -> None:
    spec = ITEM_TYPES[item_type]
    if spec.placement == "board":
        if stage_id or lane_id or parent_id:
            raise Rejected(p.ErrorCode.BAD_PLACE, f"A {item_type} belongs to the board itself, not in a cell.")
        return
    if spec.placement == "child":
        if parent_id is None:
            raise Rejected(p.ErrorCode.BAD_PLACE, f"A {item_type} needs a parent item.")
        parent = batch.item(parent_id)
        if parent.type not in spec.parents:
            raise Rejected(p.ErrorCode.BAD_PLACE, f"A {item_type} cannot be added to a {parent.type}.")
        if stage_id or lane_id:
            raise Rejected(p.ErrorCode.BAD_PLACE, f"A {item_type} sits under its parent, not in a cell.")
        return
    if parent_id is not None:
        raise Rejected(p.ErrorCode.BAD_PLACE, f"A {item_type} cannot have a parent.")
    if stage_id is not None:
        stage = batch.item(stage_id)
        if stage.type not in ("stage", "theme", "picture"):
            raise Rejected(p.ErrorCode.BAD_PLACE, "The stage must be a stage, theme or picture of this board.")
    if lane_id is not None and batch.item(lane_id).type != "lane":
        raise Rejected(p.ErrorCode.BAD_PLACE, "The lane must be a lane of this board.")


def _neighbour(
    batch: _Batch, item_id: str | None, stage: str | None, lane: str | None, parent: str | None
) -> ItemState | None:
    """A neighbour the client named, if it is still in that cell (else it is ignored)."""
    if item_id is None:
        return None
    state = batch.items.get(item_id)
    if (
        state is None
        or state.board_id != batch.board_id
        or state.deleted_seq is not None
        or state.stage_id != stage
        or state.lane_id != lane
        or state.parent_id != parent
    ):
        return None
    return state


def _create(batch: _Batch, sub: Submission, cmd: p.ItemCreate) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    spec = ITEM_TYPES.get(cmd.item_type)
    if spec is None:
        raise Rejected(p.ErrorCode.BAD_FIELD, f"Unknown item type {cmd.item_type!r}.")
    if batch.items.get(cmd.id) is not None:
        raise Rejected(p.ErrorCode.ID_TAKEN, "An item with that id exists already.")
    if batch.item_count >= batch.limits.max_items:
        raise Rejected(p.ErrorCode.BOARD_FULL, f"The board is full: at most {batch.limits.max_items} items.")
    values = {**spec.defaults, **_validated(spec.name, cmd.fields, batch)}
    for required in spec.required:
        if not values.get(required):
            raise Rejected(p.ErrorCode.MISSING_FIELD, f"The field {required} cannot be empty.")
    _place(batch, cmd.item_type, cmd.stage, cmd.lane, cmd.parent)
    after = _neighbour(batch, cmd.after, cmd.stage, cmd.lane, cmd.parent)
    before = _neighbour(batch, cmd.before, cmd.stage, cmd.lane, cmd.parent)
    low, high = batch.cell_neighbours(cmd.stage, cmd.lane, cmd.parent, after, before, None)
    seq = batch.next_seq()
    state = ItemState(
        id=cmd.id,
        board_id=batch.board_id,
        type=cmd.item_type,
        parent_id=cmd.parent,
        stage_id=cmd.stage,
        lane_id=cmd.lane,
        order_key=key_between(low, high),
        fields=values,
        field_meta={name: [seq, sub.actor] for name in values},
        author_id=sub.actor,
        version=1,
        created_seq=seq,
        updated_seq=seq,
        deleted_seq=None,
        is_new=True,
        dirty=True,
    )
    batch.items[cmd.id] = state
    batch.item_count += 1
    return "item.created", cmd.id, {"item": state.to_wire()}, {"kind": "delete", "id": cmd.id}


def _validated(type_name: str, values: dict[str, Any], batch: _Batch) -> dict[str, Any]:
    try:
        return validate_fields(ITEM_TYPES[type_name], values, max_text=batch.limits.max_text)
    except FieldError as exc:
        raise Rejected(exc.code, str(exc)) from None


def _update(
    batch: _Batch, sub: Submission, item_id: str, values: dict[str, Any], base: int | None, replaced: list[p.Replaced]
) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    state = batch.item(item_id)
    clean = _validated(state.type, values, batch)
    if not clean:
        raise Rejected(p.ErrorCode.BAD_MESSAGE, "Nothing to change: give at least one field.")
    seq = batch.next_seq()
    previous = {name: state.fields.get(name) for name in clean}
    fields = dict(state.fields)
    meta = dict(state.field_meta)
    for name, value in clean.items():
        last = meta.get(name)
        if base is not None and last and last[0] > base and last[1] != sub.actor:
            replaced.append(p.Replaced(field=name, by=last[1], seq=last[0]))
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
        meta[name] = [seq, sub.actor]
    state.fields, state.field_meta = fields, meta
    state.version += 1
    state.updated_seq = seq
    state.dirty = True
    data = {"id": item_id, "fields": clean, "version": state.version}
    return "item.updated", item_id, data, {"kind": "update", "id": item_id, "fields": previous}


def _move(batch: _Batch, sub: Submission, cmd: p.ItemMove) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    state = batch.item(cmd.id)
    spec = ITEM_TYPES[state.type]
    stage, lane = (cmd.stage, cmd.lane) if spec.placement == "cell" else (None, None)
    if spec.placement == "cell":
        _place(batch, state.type, stage, lane, None)
    after = _neighbour(batch, cmd.after, stage, lane, state.parent_id)
    before = _neighbour(batch, cmd.before, stage, lane, state.parent_id)
    if cmd.id in (cmd.after, cmd.before):
        raise Rejected(p.ErrorCode.BAD_PLACE, "An item cannot be placed next to itself.")
    low, high = batch.cell_neighbours(stage, lane, state.parent_id, after, before, cmd.id)
    return _set_position(batch, state, stage, lane, key_between(low, high))


def _set_position(
    batch: _Batch, state: ItemState, stage: str | None, lane: str | None, order_key: str
) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    inverse = {
        "kind": "position",
        "id": state.id,
        "stage": state.stage_id,
        "lane": state.lane_id,
        "order": state.order_key,
    }
    seq = batch.next_seq()
    state.stage_id, state.lane_id, state.order_key = stage, lane, order_key
    state.version += 1
    state.updated_seq = seq
    state.dirty = True
    data = {"id": state.id, "stage": stage, "lane": lane, "order": order_key, "version": state.version}
    return "item.moved", state.id, data, inverse


def _delete(batch: _Batch, item_id: str) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    state = batch.item(item_id)
    seq = batch.next_seq()
    state.deleted_seq = seq
    state.version += 1
    state.updated_seq = seq
    state.dirty = True
    batch.item_count -= 1
    return "item.deleted", item_id, {"id": item_id, "version": state.version}, {"kind": "restore", "id": item_id}


def _restore(batch: _Batch, item_id: str) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    state = batch.item(item_id, allow_deleted=True)
    if state.deleted_seq is None:
        raise Rejected(p.ErrorCode.BAD_MESSAGE, "That item is not deleted.")
    if batch.item_count >= batch.limits.max_items:
        raise Rejected(p.ErrorCode.BOARD_FULL, f"The board is full: at most {batch.limits.max_items} items.")
    state.order_key = batch.free_key(state.stage_id, state.lane_id, state.parent_id, state.order_key, state.id)
    seq = batch.next_seq()
    state.deleted_seq = None
    state.version += 1
    state.updated_seq = seq
    state.dirty = True
    batch.item_count += 1
    return "item.restored", item_id, {"item": state.to_wire()}, {"kind": "delete", "id": item_id}


def _load_votes(batch: _Batch, item_id: str, person: str) -> None:
    if (item_id, person) in batch.votes:
        return
    rows = (
        batch.conn.execute(
            select(Vote.item_id, Vote.person_id, Vote.count).where(
                Vote.board_id == batch.board_id,
                (Vote.item_id == item_id) | (Vote.person_id == person),
            )
        )
    ).all()
    batch.votes[(item_id, person)] = 0
    if item_id not in batch.votes_total:
        batch.votes_total[item_id] = sum(c for i, _, c in rows if i == item_id)
    if person not in batch.person_votes:
        batch.person_votes[person] = sum(c for _, who, c in rows if who == person)
    for i, who, c in rows:
        if i == item_id and who == person:
            batch.votes[(item_id, person)] = c


def _vote(batch: _Batch, sub: Submission, item_id: str, delta: int) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    state = batch.item(item_id)
    if state.type in ("stage", "lane", "comment"):
        raise Rejected(p.ErrorCode.BAD_PLACE, f"A {state.type} cannot be voted on.")
    _load_votes(batch, item_id, sub.actor)
    mine = batch.votes[(item_id, sub.actor)]
    if delta > 0 and batch.person_votes[sub.actor] >= batch.board.vote_budget:
        raise Rejected(p.ErrorCode.VOTE_BUDGET, f"You have used all your {batch.board.vote_budget} votes.")
    if delta < 0 and mine == 0:
        raise Rejected(p.ErrorCode.BAD_MESSAGE, "You have no vote on that item.")
    batch.next_seq()
    mine += delta
    batch.votes[(item_id, sub.actor)] = mine
    batch.vote_changes[(item_id, sub.actor)] = mine
    batch.person_votes[sub.actor] += delta
    batch.votes_total[item_id] += delta
    if batch.settings["votes_revealed"]:
        data: dict[str, Any] = {"id": item_id, "person": sub.actor, "count": mine, "total": batch.votes_total[item_id]}
    else:
        # Hidden until the facilitator reveals: others learn only that something changed.
        data = {"id": item_id, "hidden": True}
    inverse = {"kind": "vote", "id": item_id, "delta": -delta}
    return "vote.changed", item_id, data, inverse


def _react(
    batch: _Batch, sub: Submission, item_id: str, emoji: str, on: bool
) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    batch.item(item_id)
    key = (item_id, sub.actor, emoji)
    if key not in batch.reactions:
        rows = (
            (
                batch.conn.execute(
                    select(Reaction.emoji).where(Reaction.item_id == item_id, Reaction.person_id == sub.actor)
                )
            )
            .scalars()
            .all()
        )
        for existing in rows:
            batch.reactions.setdefault((item_id, sub.actor, existing), True)
        batch.reactions.setdefault(key, False)
    if batch.reactions[key] == on:
        raise Rejected(
            p.ErrorCode.BAD_MESSAGE, "That reaction is already there." if on else "There is no such reaction."
        )
    if (
        on
        and sum(1 for (i, who, _), v in batch.reactions.items() if i == item_id and who == sub.actor and v)
        >= MAX_REACTION_KINDS
    ):
        raise Rejected(p.ErrorCode.BAD_MESSAGE, "Too many reactions on one item.")
    batch.next_seq()
    batch.reactions[key] = on
    batch.reaction_changes[key] = on
    data = {"id": item_id, "person": sub.actor, "emoji": emoji, "on": on}
    return "reaction.changed", item_id, data, {"kind": "react", "id": item_id, "emoji": emoji, "on": not on}


def _vote_totals(batch: _Batch) -> dict[str, int]:
    rows = batch.conn.execute(
        select(Vote.item_id, func.sum(Vote.count)).where(Vote.board_id == batch.board_id).group_by(Vote.item_id)
    )
    totals = {item_id: int(total or 0) for item_id, total in rows}
    for (item_id, _person), _count in batch.vote_changes.items():
        totals[item_id] = batch.votes_total.get(item_id, totals.get(item_id, 0))
    return totals


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z") if value else None


def _board_set(batch: _Batch, changes: dict[str, Any]) -> tuple[str, str | None, dict[str, Any], dict[str, Any]]:
    """Apply board settings; ``changes`` holds title, locked, votes_revealed and timer_ends_at."""
    if not changes:
        raise Rejected(p.ErrorCode.BAD_MESSAGE, "Nothing to change on the board.")
    if "title" in changes:
        title = " ".join(str(changes["title"]).split())
        if not title:
            raise Rejected(p.ErrorCode.MISSING_FIELD, "The board needs a name.")
        if contains_identity_code(title):
            raise Rejected(
                p.ErrorCode.IDENTITY_CODE,
                "Remove the personal identity code. Do not write identity codes on the board.",
            )
        changes["title"] = title
    inverse = {"kind": "board", "settings": {k: batch.settings[k] for k in changes if k != "timer_ends_at"}}
    batch.next_seq()
    batch.settings.update(changes)
    batch.settings_dirty = True
    data: dict[str, Any] = {k: (_iso(v) if k == "timer_ends_at" else v) for k, v in changes.items()}
    if changes.get("votes_revealed"):
        data["totals"] = _vote_totals(batch)
    elif "votes_revealed" in changes:
        # Hidden again: replicas replace their totals with these (none), as on a reveal.
        data["totals"] = {}
    return "board.changed", None, data, inverse


def _board_changes(cmd: p.BoardSet, now: datetime) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if cmd.title is not None:
        changes["title"] = cmd.title
    if cmd.locked is not None:
        changes["locked"] = cmd.locked
    if cmd.votes_revealed is not None:
        changes["votes_revealed"] = cmd.votes_revealed
    if cmd.timer_seconds is not None:
        changes["timer_ends_at"] = now + timedelta(seconds=cmd.timer_seconds) if cmd.timer_seconds else None
    return changes


def _load_operation(batch: _Batch, seq: int) -> dict[str, Any] | None:
    if seq in batch.operation_index:
        return batch.operation_index[seq]
    row = (
        batch.conn.execute(
            select(Operation.seq, Operation.actor_id, Operation.type, Operation.data, Operation.inverse).where(
                Operation.board_id == batch.board_id, Operation.seq == seq
            )
        )
    ).first()
    return dict(row._mapping) if row else None


def _revert(
    batch: _Batch, sub: Submission, seq: int, *, redo: bool, replaced: list[p.Replaced]
) -> tuple[str, str | None, dict[str, Any], dict[str, Any]]:
    """Undo applies the stored inverse of one's own operation; redo undoes one's own undo."""
    target = _load_operation(batch, seq)
    if target is None:
        raise Rejected(p.ErrorCode.NOT_FOUND, "There is no such operation to undo.")
    if target["actor_id"] != sub.actor:
        raise Rejected(p.ErrorCode.NOT_YOURS, "You can only undo your own changes.")
    is_undo = bool(target["data"].get("undo_of")) and not target["data"].get("redo")
    if redo and not is_undo:
        raise Rejected(p.ErrorCode.CANNOT_UNDO, "Only an undo can be redone.")
    inverse = target["inverse"]
    if not inverse:
        raise Rejected(p.ErrorCode.CANNOT_UNDO, "That change cannot be undone.")
    kind = inverse["kind"]
    if kind == "board":
        event_type, item_id, data, new_inverse = _board_set(batch, dict(inverse["settings"]))
        data = {**data, "undo_of": seq, **({"redo": True} if redo else {})}
        return event_type, item_id, data, new_inverse
    batch.load_items({inverse["id"]})
    if kind == "delete":
        result = _delete(batch, inverse["id"])
    elif kind == "restore":
        result = _restore(batch, inverse["id"])
    elif kind == "update":
        result = _update(batch, sub, inverse["id"], inverse["fields"], None, replaced)
    elif kind == "position":
        state = batch.item(inverse["id"])
        order = batch.free_key(inverse["stage"], inverse["lane"], state.parent_id, inverse["order"], state.id)
        result = _set_position(batch, state, inverse["stage"], inverse["lane"], order)
    elif kind == "vote":
        result = _vote(batch, sub, inverse["id"], inverse["delta"])
    elif kind == "react":
        result = _react(batch, sub, inverse["id"], inverse["emoji"], inverse["on"])
    else:  # pragma: no cover - every stored inverse kind is listed above
        raise Rejected(p.ErrorCode.CANNOT_UNDO, "That change cannot be undone.")
    event_type, item_id, data, new_inverse = result
    data = {**data, "undo_of": seq}
    if redo:
        data["redo"] = True
    return event_type, item_id, data, new_inverse


def _apply(
    batch: _Batch, sub: Submission, cmd: p.AnyCommand, replaced: list[p.Replaced]
) -> tuple[str, str | None, dict[str, Any], dict[str, Any] | None]:
    if isinstance(cmd, p.ItemCreate):
        return _create(batch, sub, cmd)
    if isinstance(cmd, p.ItemUpdate):
        return _update(batch, sub, cmd.id, cmd.fields, cmd.base, replaced)
    if isinstance(cmd, p.ItemMove):
        return _move(batch, sub, cmd)
    if isinstance(cmd, p.ItemDelete):
        return _delete(batch, cmd.id)
    if isinstance(cmd, p.ItemRestore):
        return _restore(batch, cmd.id)
    if isinstance(cmd, p.VoteAdd):
        return _vote(batch, sub, cmd.id, +1)
    if isinstance(cmd, p.VoteRemove):
        return _vote(batch, sub, cmd.id, -1)
    if isinstance(cmd, p.ReactionAdd):
        return _react(batch, sub, cmd.id, cmd.emoji, True)
    if isinstance(cmd, p.ReactionRemove):
        return _react(batch, sub, cmd.id, cmd.emoji, False)
    if isinstance(cmd, p.Undo):
        return _revert(batch, sub, cmd.seq, redo=False, replaced=replaced)
    if isinstance(cmd, p.Redo):
        return _revert(batch, sub, cmd.seq, redo=True, replaced=replaced)
    if isinstance(cmd, p.BoardSet):
        return _board_set(batch, _board_changes(cmd, batch.now))
    raise Rejected(p.ErrorCode.UNKNOWN_TYPE, "Unknown operation.")  # pragma: no cover


def _snapshot_state(batch: _Batch) -> tuple[Any, ...]:
    return (
        {k: (copy.copy(v) if v is not None else None) for k, v in batch.items.items()},
        batch.seq,
        batch.item_count,
        dict(batch.votes),
        dict(batch.vote_changes),
        dict(batch.votes_total),
        dict(batch.person_votes),
        dict(batch.reactions),
        dict(batch.reaction_changes),
        dict(batch.settings),
        batch.settings_dirty,
    )


def _restore_state(batch: _Batch, saved: tuple[Any, ...]) -> None:
    (
        batch.items,
        batch.seq,
        batch.item_count,
        batch.votes,
        batch.vote_changes,
        batch.votes_total,
        batch.person_votes,
        batch.reactions,
        batch.reaction_changes,
        batch.settings,
        batch.settings_dirty,
    ) = saved


_BOARD_LOCK_COLUMNS = (
    Board.id,
    Board.seq,
    Board.item_count,
    Board.locked,
    Board.archived_at,
    Board.vote_budget,
    Board.votes_revealed,
    Board.team_id,
    Board.round_id,
    Board.peer_room_id,
    Board.title,
    Board.timer_ends_at,
    Board.visibility,
)


# Updating the board row first takes its write lock at once (SQLite: the database's;
# PostgreSQL: the row's), so writers of one board queue here, not later.
_LOCK_BOARD = Prepared(
    update(_BOARD_TABLE)
    .where(_BOARD_TABLE.c.id == bindparam("board_id"))
    .values(seq=_BOARD_TABLE.c.seq)
    .returning(*(_BOARD_TABLE.c[column.key] for column in _BOARD_LOCK_COLUMNS))
)
# With the actors, the unique index (board_id, actor_id, op_id) finds each op id at
# once; without them, every operation in the board's history was read, every batch.
_PREVIOUS_SEQS = select(Operation.actor_id, Operation.op_id, Operation.seq).where(
    Operation.board_id == bindparam("board_id"),
    Operation.actor_id.in_(bindparam("people", expanding=True)),
    Operation.op_id.in_(bindparam("op_ids", expanding=True)),
)
_PREVIOUS_SEQS_PREPARED = Prepared(_PREVIOUS_SEQS)
_READ_BOARD = build_statement(_BOARD_LOCK_COLUMNS, _PREVIOUS_SEQS, _LOAD_ITEMS, lock=False)
_LOCK_AND_READ_BOARD = build_statement(_BOARD_LOCK_COLUMNS, _PREVIOUS_SEQS, _LOAD_ITEMS, lock=True)


async def apply_batch(
    conn: AsyncConnection, board_id: str, submissions: Sequence[Submission], limits: Limits
) -> list[Outcome]:
    """:func:`apply_batch_sync` on an async connection, inside the caller's transaction."""
    return await conn.run_sync(apply_batch_sync, board_id, submissions, limits)


def _wanted(submissions: Sequence[Submission]) -> tuple[set[str], set[str], set[str]]:
    """What a batch reads: its actors, its op ids and the items its operations refer to."""
    ids: set[str] = set()
    for sub in submissions:
        ids |= _referenced_ids(sub.command)
    return {s.actor for s in submissions}, {s.op_id for s in submissions}, ids


def apply_batch_sync(
    conn: Connection, board_id: str, submissions: Sequence[Submission], limits: Limits
) -> list[Outcome]:
    """Apply submissions in order inside the caller's transaction; the caller commits."""
    now = utcnow()
    actors, op_ids, ids = _wanted(submissions)
    found: BoardRead | None = None
    if conn.dialect.name == "postgresql":
        # Every statement is a round trip there, and while this transaction holds the
        # board's row lock, every other process writing to the board waits for each
        # one: lock and read in one statement (boards.board_read), write in one.
        found = read_board(conn, _LOCK_AND_READ_BOARD, board_id, actors, op_ids, ids)
        if found is not None and not found.current:
            found = read_board(conn, _READ_BOARD, board_id, actors, op_ids, ids)  # now under the lock
        board = found.board if found is not None else None
    else:
        # SQLite: the first statement is a write, so the database's write lock is taken at once.
        board = _LOCK_BOARD.first(conn, {"board_id": board_id})
    if board is None:
        return [
            Outcome(s.op_id, error=p.Error(p.ErrorCode.NOT_FOUND, "The board does not exist.", s.op_id))
            for s in submissions
        ]
    batch = _Batch(conn, board, limits, now)
    outcomes = _apply_all(batch, found, ids, actors, submissions)
    batch.flush()
    _attach_own_votes(conn, board_id, submissions, outcomes)
    return outcomes


def _attach_own_votes(
    conn: Connection, board_id: str, submissions: Sequence[Submission], outcomes: list[Outcome]
) -> None:
    """A hidden vote names no one, so each voter's other tabs learn their votes from this.

    Read after the batch's votes are written; attached to each voter's last hidden vote.
    """
    last: dict[str, Outcome] = {}
    for sub, outcome in zip(submissions, outcomes, strict=True):
        event = outcome.event
        if event is not None and event.type == "vote.changed" and event.data.get("hidden"):
            last[sub.actor] = outcome
    for actor, outcome in last.items():
        outcome.own_votes = own_votes_frame(outcome.seq, conn.execute(own_votes_statement(board_id, actor)).all())


def own_votes_statement(board_id: str, person_id: str) -> Any:
    """(item id, count) of every vote of ``person_id`` on the board."""
    return select(Vote.item_id, Vote.count).where(
        Vote.board_id == board_id, Vote.person_id == person_id, Vote.count > 0
    )


def own_votes_frame(seq: int, rows: Iterable[Any]) -> p.Votes:
    mine = {item_id: int(count) for item_id, count in rows}
    return p.Votes(seq=seq, mine=mine, used=sum(mine.values()))


#: Commands whose batch needs more than the one statement of changed items, log and board:
#: new items, votes and reactions (undo and redo may bring either back).
_NOT_IN_ONE_STATEMENT = (p.ItemCreate, p.VoteAdd, p.VoteRemove, p.ReactionAdd, p.ReactionRemove, p.Undo, p.Redo)


def apply_batch_unlocked(
    conn: Connection, board_id: str, submissions: Sequence[Submission], limits: Limits
) -> list[Outcome] | None:
    """PostgreSQL, on a connection without a transaction: read without locking, write only if nothing changed.

    Two statements, each atomic on its own: the read (:mod:`boards.board_read`, no
    lock) and one write that checks the board row's version. One process writes
    each board (the write router), so another writer between the two is rare; then,
    or when the batch needs more than that one write (new items, votes, reactions:
    most are known from the commands, before reading), or the board is not found,
    the answer is None and nothing was written: the caller runs
    :func:`apply_batch_sync` in a transaction instead.
    """
    if any(isinstance(s.command, _NOT_IN_ONE_STATEMENT) for s in submissions):
        return None  # known before reading: the read would be wasted
    now = utcnow()
    actors, op_ids, ids = _wanted(submissions)
    found = read_board(conn, _READ_BOARD, board_id, actors, op_ids, ids)
    if found is None:
        return None
    batch = _Batch(conn, found.board, limits, now)
    outcomes = _apply_all(batch, found, ids, actors, submissions)
    if not batch.operations:
        return outcomes  # nothing to write: refusals and resent operations, as read
    if not batch.writes_in_one_statement() or not batch.flush_if_unchanged(found.board.row_version):
        return None
    return outcomes


def _apply_all(
    batch: _Batch, found: BoardRead | None, ids: set[str], actors: set[str], submissions: Sequence[Submission]
) -> list[Outcome]:
    """Validate and apply each submission against ``batch``; reads what ``found`` does not hold."""
    conn, board = batch.conn, batch.board
    if found is not None:
        access = board_access_sync(conn, _owner(board), actors, found.members)
        seen = {(actor, op_id): seq for actor, op_id, seq in found.seen_ops if actor is not None}
        batch.add_loaded(ids, (dict(zip(_ITEM_COLUMN_NAMES, values, strict=True)) for values in found.items))
    else:
        access = board_access_sync(conn, _owner(board), actors)
        seen = _previous_seqs(conn, board.id, submissions)
        batch.load_items(ids)

    outcomes: list[Outcome] = []
    in_batch: dict[tuple[str, str], int] = {}
    for sub in submissions:
        previous = seen.get((sub.actor, sub.op_id)) or in_batch.get((sub.actor, sub.op_id))
        if previous is not None:
            outcomes.append(Outcome(sub.op_id, seq=previous, duplicate=True))
            continue
        replaced: list[p.Replaced] = []
        saved = _snapshot_state(batch)
        try:
            who = access.get(sub.actor)
            if who is None:
                raise Rejected(p.ErrorCode.FORBIDDEN, "You cannot change this board now. Reload the page.")
            _needs(who, sub.command, batch, sub.actor)
            unlocking = isinstance(sub.command, p.BoardSet) and who.facilitate
            if board.archived_at is not None or (batch.settings["locked"] and not unlocking):
                raise Rejected(p.ErrorCode.LOCKED, "The board is locked. Wait until the facilitator opens it.")
            event_type, item_id, data, inverse = _apply(batch, sub, sub.command, replaced)
        except Rejected as exc:
            _restore_state(batch, saved)
            outcomes.append(Outcome(sub.op_id, error=p.Error(exc.code, exc.message, sub.op_id)))
            continue
        event = batch.record(sub, batch.seq, event_type, item_id, data, inverse)
        in_batch[(sub.actor, sub.op_id)] = batch.seq
        outcomes.append(Outcome(sub.op_id, seq=batch.seq, replaced=replaced, event=event))
    return outcomes


def _owner(board: Any) -> BoardOwner:
    return BoardOwner(board.team_id, board.round_id, board.peer_room_id, board.visibility)


def _previous_seqs(conn: Connection, board_id: str, submissions: Sequence[Submission]) -> dict[tuple[str, str], int]:
    actors = {s.actor for s in submissions}
    op_ids = {s.op_id for s in submissions}
    rows = _PREVIOUS_SEQS_PREPARED.all(conn, {"board_id": board_id, "people": list(actors), "op_ids": list(op_ids)})
    return {(actor, op_id): seq for actor, op_id, seq in rows if actor is not None}


def _public_event(seq: int, event_type: str, actor: str | None, op_id: str, at: str, data: dict[str, Any]) -> p.Event:
    """The event as everyone sees it. A hidden vote names no one: not who voted, nor their op id."""
    if event_type == "vote.changed" and data.get("hidden"):
        return p.Event(seq=seq, type=event_type, actor=None, op="", at=at, data=data)
    return p.Event(seq=seq, type=event_type, actor=actor, op=op_id, at=at, data=data)


def stored_event(
    seq: int, event_type: str, actor: str | None, op_id: str, created_at: datetime, data: dict[str, Any]
) -> p.Event:
    """An event read back from the operation log, as it was sent live."""
    at = created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return _public_event(seq, event_type, actor, op_id, at, data)
