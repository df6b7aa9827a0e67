"""Is the database at the code's schema revision? Answered without Alembic.

``kumppani serve`` asks this once before it starts. Importing Alembic for it
would keep ~11 MiB resident in the serving process for its whole life, so the
head revision is read from the migration files' source and the database's
revision from Alembic's version table with plain SQLAlchemy. ``server.migrate``
(Alembic proper) stays the tool that changes the schema.
"""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from foundation.db import create_engine

VERSIONS = Path(__file__).with_name("migrations") / "versions"
#: Alembic's default, which ``server/migrations/env.py`` keeps.
VERSION_TABLE = "alembic_version"


class RevisionError(Exception):
    """The migration files do not form a history with exactly one head."""


def _assignments(source: str, names: Iterable[str]) -> dict[str, object]:
    """Module-level ``name = <literal>`` (or ``name: T = <literal>``) values, as Alembic's templates write them."""
    wanted = set(names)
    found: dict[str, object] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in wanted:
            found[target.id] = ast.literal_eval(value)
    return found


def _as_tuple(down: object, path: Path) -> tuple[str, ...]:
    if down is None:
        return ()
    if isinstance(down, str):
        return (down,)
    if isinstance(down, list | tuple) and all(isinstance(d, str) for d in down):
        return tuple(down)
    raise RevisionError(f"{path.name}: down_revision is neither a revision id nor a list of them")


def head_revision(versions: Path = VERSIONS) -> str:
    """The one revision no other migration builds on, like Alembic's ``ScriptDirectory.get_current_head()``."""
    revisions: dict[str, tuple[str, ...]] = {}
    for path in sorted(versions.glob("*.py")):
        values = _assignments(path.read_text(encoding="utf-8"), ("revision", "down_revision"))
        revision = values.get("revision")
        if revision is None:
            continue  # not a migration (Alembic skips such files too)
        if not isinstance(revision, str) or revision in revisions:
            raise RevisionError(f"{path.name}: revision is missing, not a string or used twice")
        revisions[revision] = _as_tuple(values.get("down_revision"), path)
    built_on = {down for downs in revisions.values() for down in downs}
    if not built_on <= revisions.keys():
        raise RevisionError(f"migrations build on unknown revisions: {sorted(built_on - revisions.keys())}")
    heads = sorted(revisions.keys() - built_on)
    if len(heads) != 1:
        raise RevisionError(f"the migrations have {len(heads)} heads, not one: {heads}")
    return heads[0]


def _read_revision(connection: Connection) -> str | None:
    # A database never migrated has no version table: that is "not up to date", not "cannot open".
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:
        # Several heads applied: never the single head this code needs.
        return ",".join(sorted(rows))
    return rows[0] if rows else None


async def database_revision(database_url: str) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    engine = create_engine(database_url, pool=False)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_read_revision)
    finally:
        await engine.dispose()


def database_revision_sync(database_url: str) -> str | None:
    return asyncio.run(database_revision(database_url))
