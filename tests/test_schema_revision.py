"""``kumppani serve`` checks the schema revision without Alembic, and agrees with Alembic."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from server.cli import main
from server.migrate import alembic_config, upgrade
from server.migrate import head_revision as alembic_head
from server.schema_revision import RevisionError, database_revision, head_revision


def test_head_read_from_the_files_is_alembics_head(sqlite_url: str) -> None:
    expected = ScriptDirectory.from_config(alembic_config(sqlite_url)).get_current_head()
    assert expected is not None
    assert head_revision() == expected == alembic_head(sqlite_url)


def _migration(versions: Path, name: str, revision: str, down: str, *, typed: bool = False) -> None:
    annotation = ": str" if typed else ""
    down_annotation = ": str | tuple[str, ...] | None" if typed else ""
    (versions / f"{name}.py").write_text(
        f'"""{name}"""\n\nfrom alembic import op\n\n'
        f"revision{annotation} = {revision}\ndown_revision{down_annotation} = {down}\n"
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade() -> None:\n    pass\n\n\ndef downgrade() -> None:\n    pass\n",
        encoding="utf-8",
    )


def _alembic_heads(root: Path) -> tuple[str, ...]:
    return tuple(ScriptDirectory(str(root), version_locations=[str(root / "versions")]).get_heads())


def test_head_follows_branches_and_merges_like_alembic(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    # File names out of order on purpose: only down_revision decides the order.
    _migration(versions, "c_merge", "'ccc'", "('bb1', 'bb2')", typed=True)
    _migration(versions, "a_first", '"aaa"', "None")
    _migration(versions, "b_one", "'bb1'", "'aaa'", typed=True)
    _migration(versions, "b_two", "'bb2'", "'aaa'")
    (versions / "__init__.py").write_text("", encoding="utf-8")
    assert head_revision(versions) == "ccc"
    assert _alembic_heads(tmp_path) == ("ccc",)

    (versions / "c_merge.py").unlink()
    assert sorted(_alembic_heads(tmp_path)) == ["bb1", "bb2"]
    with pytest.raises(RevisionError, match="2 heads"):
        head_revision(versions)


def test_a_migration_on_an_unknown_revision_is_an_error(tmp_path: Path) -> None:
    _migration(tmp_path, "a_first", "'aaa'", "'zzz'")
    with pytest.raises(RevisionError, match="unknown"):
        head_revision(tmp_path)


def test_database_revision_is_none_until_migrated(db_url: str) -> None:
    assert asyncio.run(database_revision(db_url)) is None
    upgrade(db_url)
    assert asyncio.run(database_revision(db_url)) == head_revision()


def _serve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str) -> int:
    monkeypatch.setenv("KUMPPANI_DATABASE_URL", url)
    monkeypatch.setenv("KUMPPANI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KUMPPANI_SECRET_KEY", "test-secret-key-" + "x" * 32)
    return main(["serve", "--port", "1"])


@pytest.mark.parametrize("revision", [None, "0005"])
def test_serve_refuses_a_database_that_is_not_at_the_head(
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    revision: str | None,
) -> None:
    if revision is not None:
        upgrade(sqlite_url, revision)
    assert _serve(monkeypatch, tmp_path, sqlite_url) == 2
    assert capsys.readouterr().err == "kumppani: the database is not up to date. Run 'kumppani migrate' first.\n"


def test_serve_says_when_it_cannot_open_the_database(tmp_path: Path) -> None:
    # In a child process: after a failed connect, aiosqlite's worker thread may post to the loop asyncio.run
    # has closed; its RuntimeError would land in whichever test runs next (and here, at times, on stderr).
    url = f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'kumppani.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--port", "1"],
        env={"KUMPPANI_DATABASE_URL": url, "KUMPPANI_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parent.parent,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("kumppani: cannot open the database at KUMPPANI_DATABASE_URL: OperationalError.\n")
