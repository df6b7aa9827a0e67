"""The ``kumppani`` command: serve, migrate, demo, user add, provider add/list/edit/disable/remove, doctor,
and the administration of organisations, programmes, rounds, teams and roles (as the admin pages)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from foundation.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection


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
    if settings.smtp_host:
        print(f"E-mail goes through {settings.smtp_host}:{settings.smtp_port}.", flush=True)
    else:
        print(f"E-mail is not sent: messages are written to {settings.mail_dir}/", flush=True)
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
        resealed = asyncio.run(_reseal_provider_secrets(settings))
    except Exception as exc:
        print(f"kumppani: migrating the database failed: {exc}", file=sys.stderr)
        return 1
    print("The database is up to date.")
    if resealed:
        print(f"Sealed the client secrets of {resealed} sign-in provider(s) with the newest secret key.")
    return 0


async def _reseal_provider_secrets(settings: Settings) -> int:
    """Client secrets stored in plain text get sealed, and sealed ones move to the newest key."""
    from auth.oidc_secrets import reseal_all
    from foundation.db import create_engine

    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            return await reseal_all(conn, settings.secret_keys)
    finally:
        await engine.dispose()


def cmd_demo(args: argparse.Namespace) -> int:
    from server.demo import run_demo

    settings = _settings()
    print(asyncio.run(run_demo(settings)))
    return 0


def _ask_secret(prompt: str, flag: str) -> str | None:
    """Ask on the terminal; without one (a script, a pipe) say which flag to give instead."""
    if not sys.stdin.isatty():
        print(f"kumppani: give {flag}, or run the command in a terminal to be asked.", file=sys.stderr)
        return None
    try:
        return getpass.getpass(prompt)
    except (EOFError, KeyboardInterrupt):
        print("\nkumppani: nothing was given; nothing was added.", file=sys.stderr)
        return None


def cmd_user_add(args: argparse.Namespace) -> int:
    from auth.directory import DirectoryError, add_local_account, create_person
    from auth.hetu import IDENTITY_CODE_MESSAGE, contains_identity_code
    from foundation.db import create_engine

    settings = _settings()
    if any(contains_identity_code(text or "") for text in (args.username, args.name, args.email)):
        print(f"kumppani: {IDENTITY_CODE_MESSAGE}", file=sys.stderr)
        return 2
    password = args.password or _ask_secret("Password (at least 10 characters): ", "--password")
    if password is None:
        return 2

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


#: What the ``provider`` commands print for each refusal (OidcError.reason).
PROVIDER_MESSAGES = {
    "issuer_taken": "a provider with this issuer already exists.",
    "issuer_malformed": "the issuer must be a URL such as https://login.example.fi (no query or fragment).",
    "issuer_not_https": "the issuer must start with https:// (plain http only on localhost).",
    "name_malformed": "give the provider a name of at most 200 characters.",
    "client_malformed": "give a client id (at most 200 characters) and a client secret (at most 500).",
    "client_secret_one_of": "give either --client-secret or --client-secret-env, not both.",
    "client_secret_env_malformed": "--client-secret-env must name an environment variable, such as IDP_SECRET.",
    "organisation_unknown": "there is no organisation with this id.",
    "provider_unknown": "there is no sign-in provider with this id (see 'kumppani provider list').",
    "discovery_unreachable": "the provider did not answer at {url}.",
    "discovery_not_json": "the provider's answer at {url} is not its OpenID metadata.",
    "metadata_issuer_mismatch": "the metadata at {url} names another issuer; give the issuer exactly as it does.",
    "metadata_not_https": "the provider's metadata names endpoints that are not https.",
    "metadata_malformed": "the provider's metadata at {url} lacks endpoints Kumppani needs.",
    "no_usable_algorithm": "the provider signs ID tokens only with algorithms Kumppani refuses (use RS256 or ES256).",
}


def _provider_refusal(reason: str, issuer: str = "") -> int:
    url = f"{issuer.rstrip('/')}/.well-known/openid-configuration" if issuer else ""
    message = PROVIDER_MESSAGES.get(reason)
    if message is None and reason.startswith("discovery_status_"):
        message = f"the provider answered {reason.rsplit('_', 1)[1]} at {{url}}."
    print(f"kumppani: {(message or reason).format(url=url)}", file=sys.stderr)
    return 2


async def _check_discovery(issuer: str) -> None:
    """Fetch the provider's metadata once: a typo in the issuer shows now, not at someone's first sign-in."""
    import httpx

    from auth.oidc import discover

    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0), follow_redirects=False) as http:
        await discover(http, issuer)


def _secret_options(args: argparse.Namespace, *, ask: bool) -> tuple[str | None, str | None]:
    if args.client_secret and args.client_secret_env:
        return args.client_secret, args.client_secret_env  # refused by the domain with its own message
    if args.client_secret_env:
        return None, args.client_secret_env
    if args.client_secret:
        return args.client_secret, None
    return (_ask_secret("Client secret: ", "--client-secret or --client-secret-env"), None) if ask else (None, None)


def cmd_provider_add(args: argparse.Namespace) -> int:
    from auth.hetu import IDENTITY_CODE_MESSAGE, contains_identity_code
    from auth.oidc_providers import OidcError, add_provider, check_issuer
    from foundation.db import create_engine

    settings = _settings()
    if contains_identity_code(args.name):
        print(f"kumppani: {IDENTITY_CODE_MESSAGE}", file=sys.stderr)
        return 2
    try:
        check_issuer(args.issuer)
    except OidcError as exc:
        return _provider_refusal(exc.reason)
    secret, secret_env = _secret_options(args, ask=True)
    if secret is None and secret_env is None:
        return 2  # no terminal to ask on, or nothing typed: _ask_secret said so

    async def _add() -> str:
        await _check_discovery(args.issuer)
        engine = create_engine(settings.database_url)
        try:
            async with engine.begin() as conn:
                return await add_provider(
                    conn,
                    name=args.name,
                    issuer=args.issuer,
                    client_id=args.client_id,
                    secret_keys=settings.secret_keys,
                    client_secret=secret,
                    client_secret_env=secret_env,
                    organisation_id=args.organisation,
                    enabled=not args.disabled,
                )
        finally:
            await engine.dispose()

    try:
        provider_id = asyncio.run(_add())
    except OidcError as exc:
        return _provider_refusal(exc.reason, args.issuer)
    print(f"Added the sign-in provider {' '.join(args.name.split())} ({provider_id}).")
    if secret_env:
        print(f"The client secret is read from the environment variable {secret_env} of each Kumppani process.")
    print(f"Register this redirect URI at the provider: {settings.base_url}/signin/oidc/callback")
    return 0


def cmd_provider_list(args: argparse.Namespace) -> int:
    from auth.oidc_providers import list_providers
    from foundation.db import create_engine

    settings = _settings()

    async def _list() -> list[str]:
        engine = create_engine(settings.database_url)
        try:
            async with engine.connect() as conn:
                return [
                    f"{p.id}  {p.name}  {p.issuer}  client {p.client_id}  "
                    + (f"secret from ${p.client_secret_env}" if p.client_secret_env else "secret sealed")
                    + ("" if p.enabled else "  (disabled)")
                    for p in await list_providers(conn)
                ]
        finally:
            await engine.dispose()

    lines = asyncio.run(_list())
    print("\n".join(lines) if lines else "No sign-in providers.")
    print(f"Redirect URI to register at each provider: {settings.base_url}/signin/oidc/callback")
    return 0


def _provider_change(provider_id: str, done: str, **changes: Any) -> int:
    from auth.oidc_providers import OidcError, edit_provider
    from foundation.db import create_engine

    settings = _settings()

    async def _edit() -> list[str]:
        engine = create_engine(settings.database_url)
        try:
            async with engine.begin() as conn:
                return await edit_provider(conn, provider_id, secret_keys=settings.secret_keys, **changes)
        finally:
            await engine.dispose()

    try:
        changed = asyncio.run(_edit())
    except OidcError as exc:
        return _provider_refusal(exc.reason)
    print(done.format(changed=", ".join(changed) or "nothing"))
    print("Running Kumppani processes use the change from their next sign-in.")
    return 0


def cmd_provider_edit(args: argparse.Namespace) -> int:
    secret, secret_env = _secret_options(args, ask=args.ask_secret)
    return _provider_change(
        args.provider_id,
        "Changed: {changed}.",
        name=args.name,
        client_id=args.client_id,
        client_secret=secret,
        client_secret_env=secret_env,
        organisation_id=args.organisation,
        enabled=True if args.enable else None,
    )


def cmd_provider_disable(args: argparse.Namespace) -> int:
    return _provider_change(args.provider_id, "Disabled: its button is gone from the sign-in page.", enabled=False)


def cmd_provider_remove(args: argparse.Namespace) -> int:
    from auth.oidc_providers import OidcError, remove_provider
    from foundation.db import create_engine

    settings = _settings()

    async def _remove() -> None:
        engine = create_engine(settings.database_url)
        try:
            async with engine.begin() as conn:
                await remove_provider(conn, args.provider_id)
        finally:
            await engine.dispose()

    try:
        asyncio.run(_remove())
    except OidcError as exc:
        return _provider_refusal(exc.reason)
    print("Removed. People who signed in with it keep their accounts but cannot sign in with it any more.")
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from boards.retention import prune
    from foundation.db import create_engine, utcnow

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


# ------------------------------------------------------------------ administration


def _admin_run(action: Callable[[AsyncConnection], Awaitable[str]]) -> int:
    """Run one administration change in one transaction; a refused change prints why and writes nothing."""
    from auth.roles import RoleError
    from boards.administration import AdminError
    from foundation.db import create_engine
    from server.i18n import Translator

    settings = _settings()

    async def _run() -> str:
        engine = create_engine(settings.database_url)
        try:
            async with engine.begin() as conn:
                return await action(conn)
        finally:
            await engine.dispose()

    try:
        print(asyncio.run(_run()))
    except AdminError as exc:
        print(f"kumppani: {Translator('en')(f'admin.error.{exc.reason}.text')}", file=sys.stderr)
        return 2
    except RoleError as exc:
        print(f"kumppani: {Translator('en')(f'roles.error.{exc.reason}.text')}", file=sys.stderr)
        return 2
    return 0


async def _person(conn: AsyncConnection, who: str) -> str:
    from auth.overview import find_person
    from auth.roles import RoleError

    person = await find_person(conn, who)
    if person is None:
        raise RoleError("no_person", 404)
    return person


def cmd_list(args: argparse.Namespace) -> int:
    from auth import overview

    async def _list(conn: AsyncConnection) -> str:
        lines = ["Organisations:"]
        lines += [f"  {o.id}  {o.name}" for o in await overview.organisations(conn)]
        lines.append("Programmes:")
        for programme in await overview.programmes(conn):
            lines.append(f"  {programme.id}  {programme.name}")
            lines += [f"    round {r.id}  {r.name}  {r.starts_on or ''}–{r.ends_on or ''}" for r in programme.rounds]
            lines += [f"    coach {c.id}  {c.display_name or ''}" for c in programme.coaches]
        lines.append("Teams:")
        lines += [
            f"  {t.id}  {t.name}  ({t.organisation_name}{', ' + t.round_name if t.round_name else ''})"
            for t in await overview.teams(conn)
        ]
        return "\n".join(lines)

    return _admin_run(_list)


def cmd_organisation(args: argparse.Namespace) -> int:
    from boards import administration as admin

    async def _do(conn: AsyncConnection) -> str:
        if args.organisation_command == "add":
            return f"Added the organisation {args.name} ({await admin.create_organisation(conn, args.name, None)})."
        changed = await admin.edit_organisation(conn, args.id, args.name, None)
        return "Renamed the organisation." if changed else "Nothing to change."

    return _admin_run(_do)


def cmd_programme(args: argparse.Namespace) -> int:
    from boards import administration as admin

    async def _do(conn: AsyncConnection) -> str:
        if args.programme_command == "add":
            pid = await admin.create_programme(conn, args.name, args.organisation, None)
            return f"Added the programme {args.name} ({pid})."
        changed = await admin.edit_programme(conn, args.id, args.name, args.organisation, None)
        return "Saved the programme." if changed else "Nothing to change."

    return _admin_run(_do)


def cmd_round(args: argparse.Namespace) -> int:
    from boards import administration as admin

    async def _do(conn: AsyncConnection) -> str:
        if args.round_command == "add":
            rid = await admin.create_round(conn, args.programme, args.name, args.starts, args.ends, None)
            return f"Added the round {args.name} ({rid})."
        from sqlalchemy import select

        from auth.models import Round

        current = (await conn.execute(select(Round.starts_on, Round.ends_on).where(Round.id == args.id))).first()
        if current is None:
            raise admin.AdminError("no_round", 404)
        # An omitted date stays as it was; "none" clears it.
        starts = current.starts_on if args.starts is None else ("" if args.starts == "none" else args.starts)
        ends = current.ends_on if args.ends is None else ("" if args.ends == "none" else args.ends)
        changed = await admin.edit_round(conn, args.id, args.name, starts, ends, None)
        return "Saved the round." if changed else "Nothing to change."

    return _admin_run(_do)


def cmd_team(args: argparse.Namespace) -> int:
    from auth import overview
    from boards import administration as admin

    async def _do(conn: AsyncConnection) -> str:
        if args.team_command == "add":
            tid = await admin.create_team(conn, args.name, args.organisation, args.round, None)
            return f"Added the team {args.name} ({tid})."
        team = await overview.team(conn, args.id)
        if team is None:
            raise admin.AdminError("no_team", 404)
        round_id = team.round_id if args.round is None else (None if args.round == "none" else args.round)
        changed = await admin.edit_team(conn, args.id, args.name or team.name, round_id, args.phase or team.phase, None)
        return "Saved the team." if changed else "Nothing to change."

    return _admin_run(_do)


def cmd_role(args: argparse.Namespace) -> int:
    from auth import roles

    async def _do(conn: AsyncConnection) -> str:
        changed = await roles.set_team_role(conn, args.team, await _person(conn, args.person), args.role, None)
        return f"{args.person} is now {args.role} in the team." if changed else "Nothing to change."

    return _admin_run(_do)


def cmd_coach(args: argparse.Namespace) -> int:
    from auth import roles

    async def _do(conn: AsyncConnection) -> str:
        coach = args.coach_command == "add"
        changed = await roles.set_coach(conn, args.programme, await _person(conn, args.person), coach, None)
        if not changed:
            return "Nothing to change."
        return f"{args.person} {'is now a coach' if coach else 'is no longer a coach'} in the programme."

    return _admin_run(_do)


def cmd_facilitator(args: argparse.Namespace) -> int:
    from auth import roles

    async def _do(conn: AsyncConnection) -> str:
        named = args.facilitator_command == "add"
        changed = await roles.set_facilitator(conn, args.team, await _person(conn, args.person), named, None)
        if not changed:
            return "Nothing to change."
        return f"{args.person} {'is now a named facilitator' if named else 'is no longer a facilitator'}."

    return _admin_run(_do)


def cmd_contact(args: argparse.Namespace) -> int:
    from auth import roles

    async def _do(conn: AsyncConnection) -> str:
        customer, contact = await _person(conn, args.customer), await _person(conn, args.contact)
        await roles.move_customer(conn, args.team, customer, contact, None)
        return f"{args.contact} is now the contact person of {args.customer}."

    return _admin_run(_do)


def _add_admin_commands(sub: Any) -> None:
    sub.add_parser(
        "list", help="list organisations, programmes, rounds, coaches and teams with their ids"
    ).set_defaults(func=cmd_list)
    org = sub.add_parser("organisation", help="add or rename an organisation")
    org_sub = org.add_subparsers(dest="organisation_command", required=True)
    org_sub.add_parser("add").add_argument("name")
    rename = org_sub.add_parser("rename")
    rename.add_argument("id")
    rename.add_argument("name")
    org.set_defaults(func=cmd_organisation)

    programme = sub.add_parser("programme", help="add or edit a coaching programme")
    programme_sub = programme.add_subparsers(dest="programme_command", required=True)
    padd = programme_sub.add_parser("add")
    padd.add_argument("name")
    padd.add_argument("--organisation", help="organisation id")
    pedit = programme_sub.add_parser("edit")
    pedit.add_argument("id")
    pedit.add_argument("--name", required=True)
    pedit.add_argument("--organisation", help="organisation id (omit for none)")
    programme.set_defaults(func=cmd_programme)

    round_ = sub.add_parser("round", help="add or edit a round of a programme")
    round_sub = round_.add_subparsers(dest="round_command", required=True)
    radd = round_sub.add_parser("add")
    radd.add_argument("programme", help="programme id")
    radd.add_argument("name")
    redit = round_sub.add_parser("edit")
    redit.add_argument("id")
    redit.add_argument("--name", required=True)
    for parser in (radd, redit):
        parser.add_argument("--starts", help="YYYY-MM-DD ('none' clears it when editing)")
        parser.add_argument("--ends", help="YYYY-MM-DD ('none' clears it when editing)")
    round_.set_defaults(func=cmd_round)

    team = sub.add_parser("team", help="add or edit a team")
    team_sub = team.add_subparsers(dest="team_command", required=True)
    tadd = team_sub.add_parser("add")
    tadd.add_argument("name")
    tadd.add_argument("--organisation", required=True, help="organisation id")
    tadd.add_argument("--round", help="round id (omit for a standalone team)")
    tedit = team_sub.add_parser("edit")
    tedit.add_argument("id")
    tedit.add_argument("--name")
    tedit.add_argument("--round", help="round id, or 'none' for a standalone team")
    tedit.add_argument("--phase")
    team.set_defaults(func=cmd_team)

    role = sub.add_parser("role", help="give a person a role in a team")
    role_sub = role.add_subparsers(dest="role_command", required=True)
    rset = role_sub.add_parser("set")
    rset.add_argument("team", help="team id")
    rset.add_argument("person", help="username or person id")
    rset.add_argument("role", choices=("professional", "observer"))
    role.set_defaults(func=cmd_role)

    coach = sub.add_parser("coach", help="give or take the coach role in a programme")
    coach_sub = coach.add_subparsers(dest="coach_command", required=True)
    for name in ("add", "remove"):
        c = coach_sub.add_parser(name)
        c.add_argument("programme", help="programme id")
        c.add_argument("person", help="username or person id")
    coach.set_defaults(func=cmd_coach)

    facilitator = sub.add_parser("facilitator", help="name or un-name a team's facilitator")
    facilitator_sub = facilitator.add_subparsers(dest="facilitator_command", required=True)
    for name in ("add", "remove"):
        f = facilitator_sub.add_parser(name)
        f.add_argument("team", help="team id")
        f.add_argument("person", help="username or person id")
    facilitator.set_defaults(func=cmd_facilitator)

    contact = sub.add_parser("contact", help="move a customer to another contact person")
    contact_sub = contact.add_subparsers(dest="contact_command", required=True)
    move = contact_sub.add_parser("move")
    move.add_argument("team", help="team id")
    move.add_argument("customer", help="username or person id of the customer")
    move.add_argument("contact", help="username or person id of the new contact person")
    contact.set_defaults(func=cmd_contact)


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


def _secret_arguments(parser: argparse.ArgumentParser, hint: str) -> None:
    parser.add_argument("--client-secret", help=f"stored sealed with KUMPPANI_SECRET_KEY; {hint}")
    parser.add_argument(
        "--client-secret-env", metavar="VARIABLE", help="read the secret from this environment variable instead"
    )


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
    _secret_arguments(padd, "omit both to be asked (safer: not kept in shell history)")
    padd.add_argument("--organisation", help="organisation id for people who sign in with this provider")
    padd.add_argument("--disabled", action="store_true", help="add it switched off")
    padd.set_defaults(func=cmd_provider_add)
    provider_sub.add_parser("list", help="list sign-in providers (never their secrets)").set_defaults(
        func=cmd_provider_list
    )
    pedit = provider_sub.add_parser("edit", help="change a provider's name, client or organisation, or enable it")
    pedit.add_argument("provider_id")
    pedit.add_argument("--name", help="shown on the sign-in button")
    pedit.add_argument("--client-id")
    _secret_arguments(pedit, "a new secret, or where to read it from")
    pedit.add_argument("--ask-secret", action="store_true", help="be asked for a new client secret")
    pedit.add_argument("--organisation", help="organisation id for people who sign in with this provider")
    pedit.add_argument("--enable", action="store_true", help="switch a disabled provider back on")
    pedit.set_defaults(func=cmd_provider_edit)
    pdisable = provider_sub.add_parser("disable", help="switch a provider off (its button goes away)")
    pdisable.add_argument("provider_id")
    pdisable.set_defaults(func=cmd_provider_disable)
    premove = provider_sub.add_parser("remove", help="forget a provider (people keep their accounts)")
    premove.add_argument("provider_id")
    premove.set_defaults(func=cmd_provider_remove)
    sub.add_parser("doctor", help="check settings, database, Redis and migrations").set_defaults(func=cmd_doctor)
    retention = sub.add_parser("retention", help="prune personal data of teams finished long enough ago")
    retention.add_argument("--days", type=int, help="override KUMPPANI_RETENTION_DAYS")
    retention.set_defaults(func=cmd_retention)
    _add_admin_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
