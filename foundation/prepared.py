"""Statements the board engine runs on every batch, compiled once and run on SQLite's own cursor.

SQLAlchemy's ``Connection.execute`` costs about 40 µs of Python per statement
(execution context, parameters, result set-up), several times what SQLite needs
to run one of the engine's statements; a batch runs seven, on the thread that
the serving event loop shares the GIL with. A :class:`Prepared` statement is
still a SQLAlchemy Core construct, compiled by SQLAlchemy for the connection's
dialect, with SQLAlchemy's own type processing for its parameters and columns
(dates, JSON, booleans). Only the execution is direct: the compiled text and the
processed parameters go straight to the DBAPI cursor of the connection (for
aiosqlite, SQLAlchemy's own DBAPI adapter), inside the transaction SQLAlchemy
began.

On other databases (PostgreSQL) and for what the direct path does not cover
(an empty ``IN`` list, columns with Python-side defaults), it is
``Connection.execute``. Rows come back as named tuples on the direct path and as
SQLAlchemy rows otherwise: both unpack, have the columns as attributes and
``_asdict()``.

A leaf module: it imports nothing of ours.
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler

_EXPANDING = re.compile(r"__\[POSTCOMPILE_(\w+)\]")

Processor = Callable[[Any], Any] | None


class _Compiled:
    """One statement compiled for SQLite's ``?`` parameters, with its processors."""

    def __init__(self, statement: Any, dialect: Dialect, column_keys: Sequence[str] | None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        assert isinstance(compiled, SQLCompiler)
        # Columns filled in by Python-side defaults need SQLAlchemy's own execution.
        self.direct = dialect.paramstyle == "qmark" and not (compiled.insert_prefetch or compiled.update_prefetch)
        self.text = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self.expanding = frozenset(_EXPANDING.findall(self.text))
        self.processors: tuple[Processor, ...] = tuple(
            _bind_processor(compiled.binds[name].type, dialect) for name in self.names
        )
        columns = _result_columns(statement)
        self.row: Any = namedtuple("Row", [c.key for c in columns], rename=True) if columns else None  # type: ignore[misc]
        self.results: tuple[Processor, ...] = tuple(
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
        )
        self.any_result_processor = any(p is not None for p in self.results)
        self._texts: dict[tuple[int, ...], str] = {}

    def text_for(self, params: Mapping[str, Any]) -> str:
        """The text with each expanding ``IN`` list as that many parameters."""
        if not self.expanding:
            return self.text
        lengths = tuple(len(params[name]) for name in sorted(self.expanding))
        text = self._texts.get(lengths)
        if text is None:
            sizes = dict(zip(sorted(self.expanding), lengths, strict=True))
            text = _EXPANDING.sub(lambda m: ", ".join("?" * sizes[m.group(1)]), self.text)
            self._texts[lengths] = text
        return text

    def parameters(self, params: Mapping[str, Any]) -> list[Any]:
        values: list[Any] = []
        for name, process in zip(self.names, self.processors, strict=True):
            value = params[name]
            if name in self.expanding:
                values.extend(value if process is None else [process(v) for v in value])
            else:
                values.append(value if process is None else process(value))
        return values

    def rows(self, raw: Iterable[Sequence[Any]]) -> list[Any]:
        assert self.row is not None
        make = self.row._make
        if not self.any_result_processor:
            return [make(r) for r in raw]
        processors = self.results
        return [make([v if p is None else p(v) for p, v in zip(processors, r, strict=True)]) for r in raw]


def _bind_processor(type_: Any, dialect: Dialect) -> Processor:
    processor: Processor = type_.dialect_impl(dialect).bind_processor(dialect)
    return processor


def _result_columns(statement: Any) -> list[Any]:
    if getattr(statement, "is_select", False):
        return list(statement.selected_columns)
    if getattr(statement, "is_dml", False):
        return list(statement.exported_columns)  # the RETURNING columns, if any
    return []


class Prepared:
    """A Core statement to run many times; see the module's docstring."""

    def __init__(self, statement: Executable, *, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self._column_keys = list(column_keys) if column_keys is not None else None
        # Per kind of dialect, not per object: every engine has a dialect of its own.
        self._compiled: dict[tuple[str, str, Any], _Compiled] = {}

    def _direct(self, conn: Connection, params: Iterable[Mapping[str, Any]]) -> _Compiled | None:
        dialect = conn.dialect
        if dialect.name != "sqlite":
            return None
        key = (dialect.name, dialect.driver, dialect.server_version_info)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = _Compiled(self.statement, dialect, self._column_keys)
        if not compiled.direct:
            return None
        if compiled.expanding and any(not p[name] for p in params for name in compiled.expanding):
            return None  # an empty IN list: SQLAlchemy renders an always-false expression
        return compiled

    def all(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        """Every row, as named tuples (the columns as attributes)."""
        compiled = self._direct(conn, (params,))
        if compiled is None:
            return list(conn.execute(self.statement, dict(params)).all())
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(compiled.text_for(params), compiled.parameters(params))
            return compiled.rows(cursor.fetchall())
        finally:
            cursor.close()

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Any | None:
        rows = self.all(conn, params)
        return rows[0] if rows else None

    def run(self, conn: Connection, params: Mapping[str, Any]) -> None:
        """A statement without result rows."""
        self.run_many(conn, [params])

    def run_many(self, conn: Connection, params: Sequence[Mapping[str, Any]]) -> None:
        """The same statement for each set of parameters (executemany)."""
        if not params:
            return
        compiled = self._direct(conn, params)
        if compiled is None:
            conn.execute(self.statement, [dict(p) for p in params] if len(params) > 1 else dict(params[0]))
            return
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if len(params) == 1 or compiled.expanding:
                for p in params:
                    cursor.execute(compiled.text_for(p), compiled.parameters(p))
            else:
                cursor.executemany(compiled.text, [compiled.parameters(p) for p in params])
        finally:
            cursor.close()
