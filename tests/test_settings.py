"""Settings: safe defaults, and one plain sentence naming the variable for every bad value."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from foundation.settings import SettingsError, load_settings


def test_defaults_are_embedded_sqlite_and_memory_broadcast(tmp_path: Path) -> None:
    settings = load_settings({"KUMPPANI_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'kumppani.db'}"
    assert settings.redis_url is None
    assert settings.env == "development"


def test_generated_secret_key_is_kept_private_and_reused(tmp_path: Path) -> None:
    first = load_settings({"KUMPPANI_DATA_DIR": str(tmp_path)})
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = load_settings({"KUMPPANI_DATA_DIR": str(tmp_path)})
    assert first.secret_key == again.secret_key and len(first.secret_key) >= 32


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"KUMPPANI_DATABASE_URL": "nonsense://"}, "KUMPPANI_DATABASE_URL"),
        ({"KUMPPANI_DATABASE_URL": "mysql://x/y"}, "KUMPPANI_DATABASE_URL"),
        ({"KUMPPANI_REDIS_URL": "http://localhost"}, "KUMPPANI_REDIS_URL"),
        ({"KUMPPANI_BASE_URL": "ftp://x"}, "KUMPPANI_BASE_URL"),
        ({"KUMPPANI_ENV": "staging"}, "KUMPPANI_ENV"),
        ({"KUMPPANI_SECRET_KEY": "short"}, "KUMPPANI_SECRET_KEY"),
        ({"KUMPPANI_ENV": "production", "KUMPPANI_BASE_URL": "https://k.example"}, "KUMPPANI_SECRET_KEY"),
        ({"KUMPPANI_ENV": "production", "KUMPPANI_SECRET_KEY": "k" * 40}, "KUMPPANI_BASE_URL"),
        ({"KUMPPANI_SESSION_IDLE_MINUTES": "soon"}, "KUMPPANI_SESSION_IDLE_MINUTES"),
        ({"KUMPPANI_METRICS_TOKEN": "guessable"}, "KUMPPANI_METRICS_TOKEN"),
    ],
)
def test_bad_setting_names_the_variable(tmp_path: Path, env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"KUMPPANI_DATA_DIR": str(tmp_path), **env})
    assert variable in str(caught.value)
    assert str(caught.value).count(".") >= 1 and "\n" not in str(caught.value)


def test_serve_with_broken_database_url_prints_one_sentence_not_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve"],
        env={"KUMPPANI_DATABASE_URL": "nonsense://", "KUMPPANI_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parent.parent,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "KUMPPANI_DATABASE_URL" in lines[0]
