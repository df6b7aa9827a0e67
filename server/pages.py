"""HTML pages: sign-in, home, board, invite redemption, language, errors.

Handlers read with GET and change things only with POST (CSRF-checked).
Everything a person reads comes from the translation catalogue.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from auth import consent, invites
from auth.coaching import coached_teams
from auth.hetu import contains_identity_code
from auth.models import ExternalIdentity, LocalAccount, Membership, Notification, Organisation, Person, Team
from auth.oidc_providers import enabled_providers
from auth.passwords import verify_password
from auth.permissions import BoardOwner, board_access
from auth.redirects import safe_next
from auth.sessions import SessionInfo, create_session, end_session, resolve_session
from boards import progress
from boards.models import Board, Item
from foundation.settings import Settings
from server.i18n import (
    DEFAULT_LOCALE,
    LANG_COOKIE,
    LANGUAGES,
    LOCALES,
    PLAIN_LOCALE,
    Translator,
    html_lang,
    locale_of,
    wanted_locale,
)
from server.ratelimit import BucketMap
from server.security import client_address, csp_nonce, csrf_form, csrf_token
from server.state import AppState
from server.timefmt import format_date, format_datetime

log = logging.getLogger("kumppani.pages")

WEB = Path(__file__).resolve().parent.parent / "web"
templates = Jinja2Templates(directory=str(WEB / "templates"))
templates.env.autoescape = True

# Sign-in throttling: per address and per username; failures only.
_signin_by_address = BucketMap(rate=0.2, capacity=10)
_signin_by_account = BucketMap(rate=0.1, capacity=5)
_invite_by_address = BucketMap(rate=0.5, capacity=20)


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.kumppani
    return state


_state = app_state


def set_session_cookie(response: Response, state: AppState, token: str) -> None:
    response.set_cookie(
        state.cookie_name,
        token,
        httponly=True,
        samesite="lax",
        path="/",
        secure=state.settings.secure_cookies,
        max_age=state.settings.session_absolute_hours * 3600,
    )


async def require_session(request: Request) -> SessionInfo | Response:
    """The signed-in person's session, or the redirect to sign in (to come back here afterwards)."""
    session = await current_session(request)
    if session is None:
        return RedirectResponse(f"/signin?next={request.url.path}", status_code=303)
    return session


async def current_session(request: Request) -> SessionInfo | None:
    state = _state(request)
    token = request.cookies.get(state.cookie_name)
    if not token:
        return None
    async with state.engine.begin() as conn:
        session = await resolve_session(conn, token, idle=timedelta(minutes=state.settings.session_idle_minutes))
    if session is not None:
        # A browser without the language cookie gets the language remembered on the account.
        request.state.person_locale = session.locale
    return session


def render(
    request: Request, name: str, context: dict[str, Any], *, status: int = 200, session: SessionInfo | None = None
) -> HTMLResponse:
    locale = locale_of(request, session.locale if session else None)
    t = Translator(locale)
    response = templates.TemplateResponse(
        request,
        name,
        {
            "t": t,
            "locale": locale,
            "html_lang": t.html_lang,
            "languages": LANGUAGES.values(),
            "fmt_date": lambda value: format_date(value, locale),
            "fmt_datetime": lambda value: format_datetime(value, locale),
            "csrf": csrf_token(request),
            "nonce": csp_nonce(request),
            "me": session,
            "path": request.url.path,
            **context,
        },
        status_code=status,
    )
    return response


def error_page(
    request: Request,
    status: int,
    key: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    session: SessionInfo | None = None,
) -> HTMLResponse:
    key = key or f"error.{status}"
    response = render(request, "error.html", {"status": status, "key": key}, status=status, session=session)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


async def agreement_gate(request: Request, session: SessionInfo, team_id: str | None) -> Response | None:
    """A customer who has not accepted the team's current agreement sees the agreement, not the content."""
    if team_id is None:
        return None
    async with _state(request).engine.connect() as conn:
        role = (
            await conn.execute(
                select(Membership.role).where(Membership.team_id == team_id, Membership.person_id == session.person_id)
            )
        ).scalar()
        if role != "customer":
            return None
        status = await consent.agreement_status(conn, session.person_id, team_id, locale_of(request))
    if status.state == "accepted":
        return None
    if status.state == "assisted_unconfirmed":
        return RedirectResponse(f"/teams/{team_id}/agreement/confirm?next={request.url.path}", status_code=303)
    return RedirectResponse(f"/teams/{team_id}/agreement?next={request.url.path}", status_code=303)


# ------------------------------------------------------------------ sign-in


async def signin_page(request: Request) -> Response:
    if await current_session(request):
        return RedirectResponse("/", status_code=303)
    async with _state(request).engine.connect() as conn:
        providers = await enabled_providers(conn)
    context = {
        "error": None,
        "username": "",
        "providers": providers,
        "next": safe_next(request.query_params.get("next")),
    }
    return render(request, "signin.html", context)


async def signin_submit(request: Request) -> Response:
    state = _state(request)
    form = await csrf_form(request)
    username = str(form.get("username", "")).strip()[:100]
    password = str(form.get("password", ""))[:1000]
    address = client_address(request)
    by_address = _signin_by_address.get(address)
    by_account = _signin_by_account.get(username.casefold())
    if by_address.tokens < 1 or by_account.tokens < 1:
        wait = int(max(by_address.retry_after(), by_account.retry_after())) + 1
        return error_page(request, 429, "error.signin_throttled", headers={"Retry-After": str(wait)})
    async with state.engine.begin() as conn:
        row = (
            await conn.execute(
                select(LocalAccount.person_id, LocalAccount.password_hash)
                .join(Person, Person.id == LocalAccount.person_id)
                .where(LocalAccount.username == username, Person.disabled_at.is_(None), Person.erased_at.is_(None))
            )
        ).first()
        if not verify_password(row.password_hash if row else None, password) or row is None:
            by_address.take()
            by_account.take()
            log.info("sign-in failed")
            context = {"error": "signin.failed", "username": username, "providers": await enabled_providers(conn)}
            return render(request, "signin.html", context, status=400)
        token = await create_session(
            conn,
            row.person_id,
            absolute=timedelta(hours=state.settings.session_absolute_hours),
            user_agent=request.headers.get("user-agent"),
        )
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(response, state, token)
    return response


async def signout(request: Request) -> Response:
    state = _state(request)
    await csrf_form(request)
    token = request.cookies.get(state.cookie_name)
    session = await current_session(request)
    if token:
        async with state.engine.begin() as conn:
            await end_session(conn, token)
    if session is not None:
        await state.hub.kick(person_id=session.person_id, session_id=session.session_id, code=4401, reason="signed out")
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(state.cookie_name, path="/", secure=state.settings.secure_cookies, httponly=True)
    return response


async def set_language(request: Request) -> Response:
    form = await csrf_form(request)
    lang = str(form.get("lang", ""))
    target = safe_next(form.get("next"))
    response = RedirectResponse(target, status_code=303)
    if lang in LOCALES:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=365 * 86400,
            path="/",
            samesite="lax",
            secure=_state(request).settings.secure_cookies,
            httponly=True,
        )
        session = await current_session(request)
        if session is not None:
            async with _state(request).engine.begin() as conn:
                await conn.execute(update(Person).where(Person.id == session.person_id).values(locale=lang))
    return response


# ------------------------------------------------------------------ home and boards


async def home(request: Request) -> Response:
    session = await current_session(request)
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    state = _state(request)
    async with state.engine.connect() as conn:
        memberships = (
            await conn.execute(
                select(Team.id, Team.name, Team.phase, Membership.role, Membership.contact_person_id)
                .join(Membership, Membership.team_id == Team.id)
                .where(Membership.person_id == session.person_id, Team.archived_at.is_(None))
                .order_by(Team.name)
            )
        ).all()
        teams = []
        for team in memberships:
            boards = (
                await conn.execute(
                    select(Board.id, Board.title, Board.template)
                    .where(Board.team_id == team.id, Board.archived_at.is_(None))
                    .order_by(Board.created_at)
                )
            ).all()
            contact = None
            if team.contact_person_id:
                contact = (
                    await conn.execute(
                        select(Person.display_name, Person.email, Person.phone).where(
                            Person.id == team.contact_person_id
                        )
                    )
                ).first()
            teams.append(
                {
                    "id": team.id,
                    "name": team.name,
                    "role": team.role,
                    "phase": team.phase,
                    "boards": boards,
                    "contact": contact,
                }
            )
        coached = await coached_teams(conn, session.person_id)
        notes = (
            await conn.execute(
                select(Notification.id, Notification.kind, Notification.details)
                .where(Notification.person_id == session.person_id, Notification.read_at.is_(None))
                .order_by(Notification.created_at)
            )
        ).all()
        updates_recent = (await progress.feed(conn, session.person_id))[:5]
        updates_unread = await progress.unread_count(conn, session.person_id)
        no_team = not (teams or notes or coached or session.is_admin or updates_recent)
        account = await _organisation_account(conn, session.person_id) if no_team else None
    if account is not None:
        # Signed in with an organisation account, in no team yet: say who can change that.
        return render(request, "no_team.html", {"account": account}, session=session)
    t = Translator(locale_of(request))
    notifications = [{"id": n.id, "text": t(f"notification.{n.kind}", **_note_values(t, n.details))} for n in notes]
    member_of = {team["id"] for team in teams}
    programmes: dict[str, list[Any]] = {}
    for row in coached:
        if row.team_id not in member_of:
            programmes.setdefault(row.programme_name, []).append(row)
    return render(
        request,
        "home.html",
        {
            "teams": teams,
            "notifications": notifications,
            "coached": programmes,
            "updates_recent": updates_recent,
            "updates_unread": updates_unread,
        },
        session=session,
    )


def _note_values(t: Translator, details: dict[str, Any]) -> dict[str, str]:
    values = {key: str(value) for key, value in details.items()}
    values["name"] = values.get("name") or t("team.no_name")
    values.setdefault("team_name", "")
    if "role" in values:
        values["role"] = t(f"role.{values['role']}")
    return values


async def _organisation_account(conn: AsyncConnection, person_id: str) -> dict[str, str | None] | None:
    """The e-mail and organisation of a person who signs in with an organisation account, else None."""
    row = (
        await conn.execute(
            select(Person.email, Organisation.name)
            .join(ExternalIdentity, ExternalIdentity.person_id == Person.id)
            .outerjoin(Organisation, Organisation.id == Person.organisation_id)
            .where(Person.id == person_id)
            .limit(1)
        )
    ).first()
    return None if row is None else {"email": row.email, "organisation": row.name}


async def board_page(request: Request) -> Response:
    session = await current_session(request)
    if session is None:
        return RedirectResponse(f"/signin?next=/boards/{request.path_params['board_id']}", status_code=303)
    state = _state(request)
    board_id = request.path_params["board_id"]
    async with state.engine.connect() as conn:
        board = (await conn.execute(select(Board).where(Board.id == board_id))).first() if len(board_id) <= 32 else None
    if board is not None:
        gate = await agreement_gate(request, session, board.team_id)
        if gate is not None:
            return gate
    async with state.engine.connect() as conn:
        access = None
        if board is not None:
            owner = BoardOwner(board.team_id, board.round_id, board.peer_room_id, board.visibility)
            access = (await board_access(conn, owner, [session.person_id])).get(session.person_id)
        team_name = None
        # The coaching round whose timer and announcements the board shows.
        round_id = board.round_id if board is not None and board.peer_room_id is None else None
        if board is not None and board.team_id:
            team_row = (await conn.execute(select(Team.name, Team.round_id).where(Team.id == board.team_id))).first()
            if team_row is not None:
                team_name, round_id = team_row.name, team_row.round_id if board.peer_room_id is None else None
    if board is None or access is None:
        return error_page(request, 404, session=session)
    t = Translator(locale_of(request, session.locale))
    strings = {key.removeprefix("board.js."): value for key, value in _js_strings(t).items()}
    async with state.engine.connect() as conn:
        langs = await author_languages(conn, board.id, t.html_lang)
    return render(
        request,
        "board.html",
        {
            "board": board,
            "team_name": team_name,
            "round_id": round_id,
            "access": access,
            "strings_json": json.dumps(strings, ensure_ascii=False).replace("<", "\\u003c"),
            "author_langs_json": json.dumps(langs),
        },
        session=session,
    )


async def author_languages(conn: AsyncConnection, board_id: str, page_lang: str) -> dict[str, str]:
    """The language of each author on the board whose language is not the page's, from the language
    their account is in, so that their words are marked with `lang` (WCAG 3.1.2)."""
    rows = await conn.execute(
        select(Person.id, Person.locale)
        .where(Person.id.in_(select(Item.author_id).where(Item.board_id == board_id).distinct()))
        .where(Person.erased_at.is_(None))
    )
    return {row.id: lang for row in rows if (lang := html_lang(row.locale or DEFAULT_LOCALE)) != page_lang}


def _js_strings(t: Translator) -> dict[str, str]:
    from server.i18n import catalogue

    return {k: t(k) for k in catalogue("fi") if k.startswith("board.js.")}


# ------------------------------------------------------------------ invites


async def invite_page(request: Request) -> Response:
    """Look only: scanners that open the link (GET or HEAD) do not use it up."""
    state = _state(request)
    token = request.path_params["token"]
    async with state.engine.connect() as conn:
        try:
            view = await invites.look_up(conn, state.settings.secret_keys, token)
        except invites.InviteError as exc:
            return error_page(request, exc.problem.status, f"invite.{exc.problem.value}")
    request.state.first_locale = first_locale(view.role)
    return render(request, "invite.html", {"invite": view, "token": token})


def first_locale(role: str) -> str | None:
    """A customer invited by link starts in plain Finnish until they choose a language themselves."""
    return PLAIN_LOCALE if role == "customer" else None


async def invite_redeem(request: Request) -> Response:
    state = _state(request)
    form = await csrf_form(request)
    token = request.path_params["token"]
    bucket = _invite_by_address.get(client_address(request))
    if not bucket.take():
        return error_page(request, 429, "error.429", headers={"Retry-After": str(int(bucket.retry_after()) + 1)})
    session = await current_session(request)
    display_name = " ".join(str(form.get("display_name", "")).split())[:60] or None
    if session is None and display_name and contains_identity_code(display_name):
        # Never stored, and never dropped quietly either: the person is told and asked again.
        async with state.engine.connect() as conn:
            try:
                view = await invites.look_up(conn, state.settings.secret_keys, token)
            except invites.InviteError as exc:
                return error_page(request, exc.problem.status, f"invite.{exc.problem.value}")
        return render(
            request,
            "invite.html",
            {"invite": view, "token": token, "error": "welcome.identity_code"},
            status=400,
            session=session,
        )
    async with state.engine.begin() as conn:
        try:
            person_id, _invite = await invites.redeem(
                conn,
                state.settings.secret_keys,
                token,
                person_id=session.person_id if session else None,
                display_name=display_name,
            )
        except invites.InviteError as exc:
            return error_page(request, exc.problem.status, f"invite.{exc.problem.value}")
        # A new session id at redemption: whatever session existed before is not reused.
        new_token = await create_session(
            conn,
            person_id,
            absolute=timedelta(hours=state.settings.session_absolute_hours),
            user_agent=request.headers.get("user-agent"),
        )
        if session is not None:
            old = request.cookies.get(state.cookie_name)
            if old:
                await end_session(conn, old)
        else:
            # The new account remembers the language the invite page was read in.
            chosen = wanted_locale(request) or first_locale(_invite.role)
            if chosen is not None:
                await conn.execute(update(Person).where(Person.id == person_id).values(locale=chosen))
    # A customer reads and accepts the participation agreement before anything else, then picks a name.
    after = "/welcome" if session is None else "/"
    if _invite.role == "customer":
        target = f"/teams/{_invite.team_id}/agreement?next=/teams/{_invite.team_id}"
    else:
        target = after
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, state, new_token)
    return response


async def welcome_page(request: Request) -> Response:
    session = await current_session(request)
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    return render(
        request,
        "welcome.html",
        {"name": session.display_name, "error": None, "next": safe_next(request.query_params.get("next"))},
        session=session,
    )


async def welcome_submit(request: Request) -> Response:
    session = await current_session(request)
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    form = await csrf_form(request)
    name = " ".join(str(form.get("display_name", "")).split())[:60]
    problem = "welcome.name_missing" if not name else "welcome.identity_code" if contains_identity_code(name) else None
    if problem is not None:
        # Asked again, still on the way to where they were going.
        context = {"name": "", "error": problem, "next": safe_next(form.get("next"))}
        return render(request, "welcome.html", context, status=400, session=session)
    async with _state(request).engine.begin() as conn:
        await conn.execute(update(Person).where(Person.id == session.person_id).values(display_name=name))
    return RedirectResponse(safe_next(form.get("next")), status_code=303)


# ------------------------------------------------------------------ misc


async def csp_report(request: Request) -> Response:
    body = await request.body()
    log.warning("csp violation reported", extra={"bytes": len(body)})
    return PlainTextResponse("", status_code=204)


async def not_found(request: Request, exc: Exception) -> Response:
    return error_page(request, 404)


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    key = "error.csrf" if isinstance(exc, HTTPException) and exc.detail == "csrf" else None
    if status not in (400, 403, 404, 405, 410, 429):
        status = 500
    if status == 405:
        return PlainTextResponse(Translator(locale_of(request))("error.405"), status_code=405)
    return error_page(request, status, key)


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return error_page(request, 500)


def page_routes(settings: Settings) -> list[BaseRoute]:
    return [
        Route("/", home),
        Route("/signin", signin_page, methods=["GET"]),
        Route("/signin", signin_submit, methods=["POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/lang", set_language, methods=["POST"]),
        Route("/boards/{board_id}", board_page),
        Route("/invite/{token}", invite_page, methods=["GET"]),
        Route("/invite/{token}", invite_redeem, methods=["POST"]),
        Route("/welcome", welcome_page, methods=["GET"]),
        Route("/welcome", welcome_submit, methods=["POST"]),
        Route("/csp-report", csp_report, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=str(WEB / "static")), name="static"),
    ]


EXCEPTION_HANDLERS: dict[Any, Any] = {404: not_found, HTTPException: http_error, Exception: server_error}
