"""The ``kumppani`` command: serve, migrate, demo, user add, provider add/list, doctor."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence

from server.settings import Settings, SettingsError, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"kumppani: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args: argparse.Namespace) -> int:
    from server.memory import limit_malloc_arenas

    # Before the revision check: its aiosqlite thread would leave an arena for later threads to take.
    limit_malloc_arenas()

    import uvicorn

    # Not server.migrate: Alembic would stay resident in the serving process for nothing.
    from server.schema_revision import database_revision_sync, head_revision

    settings = _settings()
    try:
        current = database_revision_sync(settings.database_url)
    except Exception as exc:
        print(
            f"kumppani: cannot open the database at KUMPPANI_DATABASE_URL: {exc.__class__.__name__}.", file=sys.stderr
        )
        return 2
    if current != head_revision():
        print("kumppani: the database is not up to date. Run 'kumppani migrate' first.", file=sys.stderr)
        return 2
    if args.workers > 1 and settings.is_sqlite:
        print(
            "kumppani: several workers need PostgreSQL and Redis (KUMPPANI_DATABASE_URL, KUMPPANI_REDIS_URL).",
            file=sys.stderr,
        )
        return 2
    if args.workers > 1 and not settings.redis_url:
        print(
            "kumppani: several workers need KUMPPANI_REDIS_URL so that they can broadcast to each other.",
            file=sys.stderr,
        )
        return 2
    # Printed before binding: uvicorn says below whether it could listen there.
    listening = f"http://{args.host}:{args.port}"
    public = "" if settings.base_url.rstrip("/") == listening else f", public address {settings.base_url}"
    print(f"Starting Kumppani on {listening}{public}  (stop with Ctrl+C)", flush=True)
    uvicorn.run(
        "server.asgi:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        ws="server.ws.fastproto:FramedSendProtocol",
        ws_per_message_deflate=False,
        ws_max_size=1 << 20,
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
        log_level=settings.log_level.lower(),
        access_log=not settings.is_production,
    )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from server.migrate import upgrade

    settings = _settings()
    try:
        upgrade(settings.database_url)
    except Exception as exc:
        print(f"kumppani: migrating the database failed: {exc}", file=sys.stderr)
        return 1
    print("The database is up to date.")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from server.demo import run_demo

    settings = _settings()
    print(asyncio.run(run_demo(settings)))
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    from auth.directory import DirectoryError, add_local_account, create_person
    from server.db import create_engine

    settings = _settings()
    password = args.password or getpass.getpass("Password (at least 10 characters): ")

    async def _add() -> None:
        engine = create_engine(settings.database_url)
        try:
            async with engine.begin() as conn:
                pid = await create_person(conn, args.name or args.username, email=args.email, is_admin=args.admin)
                await add_local_account(conn, pid, args.username, password)
        finally:
            await engine.dispose()

    try:
        asyncio.run(_add())
    except DirectoryError as exc:
        print(f"kumppani: {exc}", file=sys.stderr)
        return 2
    print(f"Added {args.username}{' (admin)' if args.admin else ''}.")
    return 0


def cmd_provider_add(args: argparse.Namespace) -> int:
    from auth.oidc_providers import OidcError, add_provider
    from server.db import create_engine

    settings = _settings()
    secret = args.client_secret or getpass.getpass("Client secret: ")
    messages = {
        "issuer_taken": "a provider with this issuer already exists.",
        "issuer_malformed": "the issuer must be a URL such as https://login.example.fi (no query or fragment).",
        "issuer_not_https": "the issuer must start with https:// (plain http only on localhost).",
        "name_malformed": "give the provider a name of at most 200 characters.",
        "client_malformed": "give a client id (at most 200 characters) and a client secret (at most 500).",
        "organisation_unknown": "there is no organisation with this id.",
    }

    async def _add() -> str:
        engine = create_engine(settings.database_url)
        try:
            async with engine.begin() as conn:
                return await add_provider(
                    conn,
                    name=args.name,
                    issuer=args.issuer,
                    client_id=args.client_id,
                    client_secret=secret,
                    organisation_id=args.organisation,
                    enabled=not args.disabled,
                )
        finally:
            await engine.dispose()

    try:
        provider_id = asyncio.run(_add())
    except OidcError as exc:
        print(f"kumppani: {messages.get(exc.reason, exc.reason)}", file=sys.stderr)
        return 2
    print(f"Added the sign-in provider {args.name} ({provider_id}).")
    print(f"Register this redirect URI at the provider: {settings.base_url}/signin/oidc/callback")
    return 0


def cmd_provider_list(args: argparse.Namespace) -> int:
    from auth.oidc_providers import list_providers
    from server.db import create_engine

    settings = _settings()

    async def _list() -> list[str]:
        engine = create_engine(settings.database_url)
        try:
            async with engine.connect() as conn:
                return [
                    f"{p.id}  {p.name}  {p.issuer}  client {p.client_id}{'' if p.enabled else '  (disabled)'}"
                    for p in await list_providers(conn)
                ]
        finally:
            await engine.dispose()

    lines = asyncio.run(_list())
    print("\n".join(lines) if lines else "No sign-in providers.")
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from boards.retention import prune
    from server.db import create_engine, utcnow

    settings = _settings()
    days = args.days or settings.retention_days

    async def _run() -> list[str]:
        engine = create_engine(settings.database_url)
        try:
            async with engine.begin() as conn:
                return await prune(conn, utcnow(), timedelta(days=days))
        finally:
            await engine.dispose()

    pruned = asyncio.run(_run())
    print(f"Pruned personal data of {len(pruned)} team(s) finished more than {days} days ago.")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from server.doctor import run_doctor

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"✗ settings: {exc}")
        return 1
    ok, report = asyncio.run(run_doctor(settings))
    print(report)
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kumppani", description="Kumppani co-development boards.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--forwarded-allow-ips", default="127.0.0.1")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(func=cmd_migrate)
    sub.add_parser("demo", help="create (or refresh) the demo workspace and print how to get in").set_defaults(
        func=cmd_demo
    )
    user = sub.add_parser("user", help="manage local accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="add a local account")
    add.add_argument("username")
    add.add_argument("--name", help="display name")
    add.add_argument("--email")
    add.add_argument("--admin", action="store_true")
    add.add_argument("--password", help="omit to be asked (safer: not kept in shell history)")
    add.set_defaults(func=cmd_user_add)
    provider = sub.add_parser("provider", help="manage OpenID Connect sign-in providers")
    provider_sub = provider.add_subparsers(dest="provider_command", required=True)
    padd = provider_sub.add_parser("add", help="add a sign-in provider (several can be enabled at once)")
    padd.add_argument("--name", required=True, help="shown on the sign-in button")
    padd.add_argument("--issuer", required=True, help="the provider's issuer URL, exactly as in its metadata")
    padd.add_argument("--client-id", required=True)
    padd.add_argument("--client-secret", help="omit to be asked (safer: not kept in shell history)")
    padd.add_argument("--organisation", help="organisation id for people who sign in with this provider")
    padd.add_argument("--disabled", action="store_true", help="add it switched off")
    padd.set_defaults(func=cmd_provider_add)
    provider_sub.add_parser("list", help="list sign-in providers").set_defaults(func=cmd_provider_list)
    sub.add_parser("doctor", help="check settings, database, Redis and migrations").set_defaults(func=cmd_doctor)
    retention = sub.add_parser("retention", help="prune personal data of teams finished long enough ago")
    retention.add_argument("--days", type=int, help="override KUMPPANI_RETENTION_DAYS")
    retention.set_defaults(func=cmd_retention)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
