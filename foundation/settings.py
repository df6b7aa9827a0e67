"""Settings read from ``KUMPPANI_*`` environment variables.

A leaf module: it imports nothing of ours. Every invalid value raises
:class:`SettingsError` with one plain sentence that names the variable, so that
start-up can print it instead of a traceback.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

Environment = Literal["development", "production"]

DATABASE_SCHEMES = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
REDIS_SCHEMES = {"redis", "rediss"}


class SettingsError(ValueError):
    """A setting is missing or has a value we cannot use."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    secret_keys: tuple[str, ...]
    base_url: str
    env: Environment
    data_dir: Path
    log_level: str = "INFO"
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    invite_days: int = 7
    share_link_days: int = 30
    max_message_bytes: int = 64 * 1024
    max_text_chars: int = 4000
    max_items_per_board: int = 5000
    ops_per_second: int = 20
    ops_burst: int = 60
    connections_per_person: int = 10
    send_queue_frames: int = 512
    resume_max_ops: int = 2000
    retention_days: int = 365
    # The privacy notice (tietosuojaseloste): who the controller is and how to reach them.
    privacy_controller: str = ""
    privacy_contact: str = ""
    privacy_dpo: str = ""
    #: Bearer token for ``GET /metrics``; unset: no metrics, and prometheus-client is never imported.
    metrics_token: str | None = None
    # E-mail: with no SMTP host, messages are written to files under the data directory.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    mail_from: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def secret_key(self) -> str:
        """The key new signatures are made with; older keys in the list still verify."""
        return self.secret_keys[0]

    @property
    def mail_dir(self) -> Path:
        """Where messages go when no SMTP server is set."""
        return self.data_dir / "mail"

    @property
    def mail_sender(self) -> str:
        return self.mail_from or f"Kumppani <noreply@{urlsplit(self.base_url).hostname or 'localhost'}>"

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        return urlsplit(self.base_url).scheme == "https"


def normalise_database_url(value: str, variable: str = "KUMPPANI_DATABASE_URL") -> str:
    """Map the usual URL spellings to the async drivers we ship."""
    scheme, sep, rest = value.partition("://")
    if not sep or not rest:
        raise SettingsError(
            f"{variable} must be a database URL such as sqlite:///data/kumppani.db "
            f"or postgresql://user@host/db, not {value!r}."
        )
    driver = DATABASE_SCHEMES.get(scheme.lower())
    if driver is None:
        raise SettingsError(f"{variable} uses the unsupported scheme {scheme!r}; use sqlite:// or postgresql://.")
    return f"{driver}://{rest}"


def _text(env: Mapping[str, str], name: str, limit: int = 300) -> str:
    """A line of text shown to people (whitespace tidied); too long a value is a mistake, not a text."""
    value = " ".join(env.get(name, "").split())
    if len(value) > limit:
        raise SettingsError(f"{name} is longer than {limit} characters.")
    return value


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}.") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, not {value}.")
    return value


def _secret_keys(env: Mapping[str, str], name: str, data_dir: Path, production: bool) -> tuple[str, ...]:
    raw = env.get(name, "").strip()
    if raw:
        keys = tuple(k.strip() for k in raw.split(",") if k.strip())
        if any(len(k) < 32 for k in keys):
            raise SettingsError(f"{name} must be at least 32 characters long (each key, comma-separated).")
        return keys
    if production:
        raise SettingsError(f"{name} is required when KUMPPANI_ENV is production.")
    return (_load_or_create_key(data_dir / "secret_key"),)


def _load_or_create_key(path: Path) -> str:
    """The embedded default keeps a generated key beside its database, readable only by us."""
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            path.chmod(0o600)
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check every setting; raise SettingsError on the first bad one."""
    env = os.environ if environ is None else environ

    mode = env.get("KUMPPANI_ENV", "development").strip().lower() or "development"
    if mode not in ("development", "production"):
        raise SettingsError(f"KUMPPANI_ENV must be development or production, not {mode!r}.")
    production = mode == "production"

    data_dir = Path(env.get("KUMPPANI_DATA_DIR", "data")).expanduser()

    raw_db = env.get("KUMPPANI_DATABASE_URL", "").strip()
    if raw_db:
        database_url = normalise_database_url(raw_db)
    else:
        database_url = f"sqlite+aiosqlite:///{data_dir / 'kumppani.db'}"

    redis_url = env.get("KUMPPANI_REDIS_URL", "").strip() or None
    if redis_url is not None:
        parts = urlsplit(redis_url)
        if parts.scheme not in REDIS_SCHEMES or not parts.hostname:
            raise SettingsError(f"KUMPPANI_REDIS_URL must look like redis://host:6379/0, not {redis_url!r}.")

    base_url = env.get("KUMPPANI_BASE_URL", "").strip() or "http://127.0.0.1:8000"
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"KUMPPANI_BASE_URL must be an http(s) URL, not {base_url!r}.")
    if production and parts.scheme != "https":
        raise SettingsError("KUMPPANI_BASE_URL must start with https:// when KUMPPANI_ENV is production.")

    log_level = env.get("KUMPPANI_LOG_LEVEL", "INFO").strip().upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(f"KUMPPANI_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {log_level!r}.")
    metrics_token = env.get("KUMPPANI_METRICS_TOKEN", "").strip() or None
    if metrics_token is not None and len(metrics_token) < 24:
        raise SettingsError("KUMPPANI_METRICS_TOKEN must be at least 24 characters long (or unset: no metrics).")

    starttls = env.get("KUMPPANI_SMTP_STARTTLS", "true").strip().lower()
    if starttls not in ("true", "false"):
        raise SettingsError(f"KUMPPANI_SMTP_STARTTLS must be true or false, not {starttls!r}.")
    mail_from = _text(env, "KUMPPANI_MAIL_FROM")
    if mail_from and "@" not in mail_from:
        raise SettingsError(f"KUMPPANI_MAIL_FROM must be an e-mail address, not {mail_from!r}.")

    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        secret_keys=_secret_keys(env, "KUMPPANI_SECRET_KEY", data_dir, production),
        base_url=base_url.rstrip("/"),
        env="production" if production else "development",
        data_dir=data_dir,
        log_level=log_level,
        session_idle_minutes=_int(env, "KUMPPANI_SESSION_IDLE_MINUTES", 30, 1, 24 * 60),
        session_absolute_hours=_int(env, "KUMPPANI_SESSION_ABSOLUTE_HOURS", 12, 1, 24 * 30),
        invite_days=_int(env, "KUMPPANI_INVITE_DAYS", 7, 1, 90),
        share_link_days=_int(env, "KUMPPANI_SHARE_LINK_DAYS", 30, 1, 365),
        ops_per_second=_int(env, "KUMPPANI_OPS_PER_SECOND", 20, 1, 10_000),
        ops_burst=_int(env, "KUMPPANI_OPS_BURST", 60, 1, 100_000),
        connections_per_person=_int(env, "KUMPPANI_CONNECTIONS_PER_PERSON", 10, 1, 1000),
        max_items_per_board=_int(env, "KUMPPANI_MAX_ITEMS_PER_BOARD", 5000, 10, 1_000_000),
        retention_days=_int(env, "KUMPPANI_RETENTION_DAYS", 365, 1, 36500),
        privacy_controller=_text(env, "KUMPPANI_PRIVACY_CONTROLLER"),
        privacy_contact=_text(env, "KUMPPANI_PRIVACY_CONTACT"),
        privacy_dpo=_text(env, "KUMPPANI_PRIVACY_DPO"),
        metrics_token=metrics_token,
        smtp_host=env.get("KUMPPANI_SMTP_HOST", "").strip(),
        smtp_port=_int(env, "KUMPPANI_SMTP_PORT", 587, 1, 65535),
        smtp_username=env.get("KUMPPANI_SMTP_USERNAME", "").strip(),
        smtp_password=env.get("KUMPPANI_SMTP_PASSWORD", ""),
        smtp_starttls=starttls == "true",
        mail_from=mail_from,
    )
