"""Prepared statements give what SQLAlchemy's execute gives, without its per-statement work on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import JSON, Boolean, Column, Integer, MetaData, String, Table, bindparam, event, insert, select, update

from foundation.db import UTCDateTime
from foundation.prepared import Prepared

metadata = MetaData()
thing = Table(
    "thing",
    metadata,
    Column("id", String(8), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("on", Boolean, nullable=False),
    Column("data", JSON),
    Column("at", UTCDateTime),
)
with_default = Table(
    "with_default", metadata, Column("id", String(8), primary_key=True), Column("n", Integer, default=7)
)

AT = datetime(2026, 12, 4, 9, 30, 15, 123456, tzinfo=UTC)
ROWS = [
    {"id": "a", "count": 1, "on": True, "data": {"text": "ä", "list": [1, 2]}, "at": AT},
    {"id": "b", "count": 2, "on": False, "data": None, "at": None},
    {"id": "c", "count": 3, "on": True, "data": {"x": 1}, "at": AT},
]

INSERT = Prepared(insert(thing), column_keys=("id", "count", "on", "data", "at"))
BY_IDS = Prepared(select(thing).where(thing.c.id.in_(bindparam("ids", expanding=True))).order_by(thing.c.id))
BUMP = Prepared(
    update(thing)
    .where(thing.c.id == bindparam("b_id"))
    .values(count=thing.c.count + bindparam("b_by"))
    .returning(thing.c.id, thing.c.count, thing.c.on, thing.c.at)
)


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    engine = sqlalchemy.create_engine(f"sqlite+pysqlite:///{tmp_path / 'p.db'}")
    metadata.create_all(engine)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    engine.statements = statements  # type: ignore[attr-defined]
    yield engine
    engine.dispose()


def test_rows_and_types_match_sqlalchemys_own_execution(engine: Any) -> None:
    with engine.begin() as conn:
        INSERT.run_many(conn, ROWS)
    with engine.connect() as conn:
        direct = BY_IDS.all(conn, {"ids": ["c", "a", "b"]})
        expected = conn.execute(BY_IDS.statement, {"ids": ["c", "a", "b"]}).all()
    assert [tuple(r) for r in direct] == [tuple(r) for r in expected]
    assert direct[0].data == {"text": "ä", "list": [1, 2]} and direct[0].at == AT and direct[0].on is True
    assert direct[1]._asdict() == expected[1]._asdict()


def test_returning_and_executemany_write_what_sqlalchemy_would(engine: Any) -> None:
    with engine.begin() as conn:
        INSERT.run_many(conn, ROWS)
        bumped = BUMP.first(conn, {"b_id": "a", "b_by": 10})
        assert bumped is not None and (bumped.id, bumped.count, bumped.on, bumped.at) == ("a", 11, True, AT)
        assert BUMP.first(conn, {"b_id": "nobody", "b_by": 1}) is None
    with engine.connect() as conn:
        counts = dict(conn.execute(select(thing.c.id, thing.c.count)).all())
    assert counts == {"a": 11, "b": 2, "c": 3}


def test_sqlite_statements_bypass_sqlalchemys_execution(engine: Any) -> None:
    with engine.begin() as conn:
        INSERT.run_many(conn, ROWS)
        BY_IDS.all(conn, {"ids": ["a"]})
    assert engine.statements == []  # no SQLAlchemy cursor execution: straight to sqlite3


def test_what_the_direct_path_does_not_cover_goes_through_sqlalchemy(engine: Any) -> None:
    with engine.begin() as conn:
        INSERT.run_many(conn, ROWS)
        assert BY_IDS.all(conn, {"ids": []}) == []  # an empty IN list
        Prepared(insert(with_default), column_keys=("id",)).run(conn, {"id": "d"})  # a Python-side default
    assert len(engine.statements) == 2
    with engine.connect() as conn:
        assert conn.execute(select(with_default.c.n)).scalar() == 7
