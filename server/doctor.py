"""``kumppani doctor``: check the setup and say in plain words what is wrong."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from foundation.broadcast import backend_for
from foundation.db import create_engine
from foundation.settings import Settings
from server.migrate import current_revision, head_revision


async def _provider_secrets(conn: AsyncConnection, settings: Settings) -> list[str]:
    """Whether each enabled sign-in provider's client secret can be read here."""
    from auth.oidc_providers import OidcError, list_providers
    from auth.oidc_secrets import client_secret

    lines = []
    for provider in await list_providers(conn):
        if not provider.enabled:
            continue
        try:
            client_secret(settings.secret_keys, sealed=provider.sealed_secret, env_name=provider.client_secret_env)
        except OidcError as exc:
            where = (
                f"the environment variable {provider.client_secret_env} is not set here"
                if exc.reason == "client_secret_env_missing"
                else "no key of KUMPPANI_SECRET_KEY opens it; set it again with 'kumppani provider edit'"
            )
            lines.append(
                f"✗ sign-in provider {provider.name} ({provider.id}): its client secret cannot be read: {where}."
            )
        else:
            lines.append(f"✓ sign-in provider {provider.name}: client secret readable")
    return lines


async def run_doctor(settings: Settings) -> tuple[bool, str]:
    lines = [f"✓ settings: {settings.env} mode, base URL {settings.base_url}"]
    ok = True
    engine = create_engine(settings.database_url, pool=False)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        lines.append(f"✓ database: reachable ({'SQLite' if settings.is_sqlite else 'PostgreSQL'})")
        try:
            current = await current_revision(settings.database_url)
        except Exception:
            current = None
        head = head_revision(settings.database_url)
        if current == head:
            lines.append(f"✓ migrations: up to date ({head})")
            async with engine.connect() as conn:
                provider_lines = await _provider_secrets(conn, settings)
            ok = ok and not any(line.startswith("✗") for line in provider_lines)
            lines.extend(provider_lines)
        else:
            ok = False
            lines.append(
                f"✗ migrations: the database is at {current or 'nothing'}, the code needs {head}. "
                "Run 'kumppani migrate'."
            )
    except Exception as exc:
        ok = False
        lines.append(
            f"✗ database: cannot connect with KUMPPANI_DATABASE_URL ({exc.__class__.__name__}). "
            "Check the address, user and that the server is running."
        )
    finally:
        await engine.dispose()
    if settings.redis_url:
        backend = backend_for(settings.redis_url)
        try:
            await backend.connect()
            await backend.ping()
            lines.append("✓ redis: reachable")
        except Exception as exc:
            ok = False
            lines.append(
                f"✗ redis: cannot connect with KUMPPANI_REDIS_URL ({exc.__class__.__name__}). "
                "Check that Redis is running."
            )
        finally:
            try:
                await backend.disconnect()
            except Exception:
                pass
    else:
        lines.append("✓ broadcast: in memory (one process; set KUMPPANI_REDIS_URL to run several)")
    if settings.is_production and settings.is_sqlite:
        lines.append("! production on SQLite works for one process only; use PostgreSQL for more.")
    return ok, "\n".join(lines)
