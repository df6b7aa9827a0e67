"""A person's sessions (keep alive, list, end, sign out everywhere), return links, and admin revocation."""

from __future__ import annotations

import hmac
from datetime import timedelta

from sqlalchemy import select, update
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from auth import audit, roles, teams
from auth.models import AuthSession, Person
from auth.sessions import create_session, end_all_sessions, token_hash
from boards import protocol as p
from foundation.db import utcnow
from server.pages import app_state as _state
from server.pages import current_session, error_page, render, set_session_cookie
from server.security import csrf_cookie_name, csrf_form


async def extend_session(request: Request) -> Response:
    """The "Continue" button of the timeout warning: a fetch with the CSRF token in a header."""
    sent = request.headers.get("x-csrf-token", "")
    expected = request.cookies.get(csrf_cookie_name(_state(request).settings), "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        return JSONResponse({"error": "csrf"}, status_code=403)
    state = _state(request)
    token = request.cookies.get(state.cookie_name)
    session = await current_session(request)
    if session is None or not token:
        return JSONResponse({"error": "signed_out"}, status_code=401)
    now = utcnow()
    async with state.engine.begin() as conn:
        await conn.execute(
            update(AuthSession).where(AuthSession.token_hash == token_hash(token)).values(last_seen_at=now)
        )
    idle = timedelta(minutes=state.settings.session_idle_minutes)
    deadline = min(session.expires_at, now + idle)
    return JSONResponse({"idle_deadline": deadline.isoformat(), "seconds_left": int((deadline - now).total_seconds())})


async def sessions_page(request: Request) -> Response:
    session = await current_session(request)
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    async with _state(request).engine.connect() as conn:
        rows = (
            await conn.execute(
                select(AuthSession.id, AuthSession.created_at, AuthSession.last_seen_at, AuthSession.user_agent)
                .where(
                    AuthSession.person_id == session.person_id,
                    AuthSession.ended_at.is_(None),
                    AuthSession.expires_at > utcnow(),
                )
                .order_by(AuthSession.last_seen_at.desc())
            )
        ).all()
    return render(request, "sessions.html", {"sessions": rows, "current": session.session_id}, session=session)


async def end_one_session(request: Request) -> Response:
    session = await current_session(request)
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    await csrf_form(request)
    target = request.path_params["session_id"]
    state = _state(request)
    async with state.engine.begin() as conn:
        result = await conn.execute(
            update(AuthSession)
            .where(AuthSession.id == target, AuthSession.person_id == session.person_id, AuthSession.ended_at.is_(None))
            .values(ended_at=utcnow())
        )
    if not result.rowcount:
        # Someone else's session, an unknown id or one that has ended: say so, do not pretend.
        return error_page(request, 404, "sessions.not_found", session=session)
    await state.hub.kick(
        person_id=session.person_id, session_id=target, code=p.CloseCode.UNAUTHENTICATED, reason="signed out"
    )
    return RedirectResponse("/account/sessions", status_code=303)


async def signout_everywhere(request: Request) -> Response:
    session = await current_session(request)
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    await csrf_form(request)
    state = _state(request)
    async with state.engine.begin() as conn:
        await end_all_sessions(conn, session.person_id)
    await state.hub.kick(person_id=session.person_id, code=p.CloseCode.UNAUTHENTICATED, reason="signed out")
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(state.cookie_name, path="/", secure=state.settings.secure_cookies, httponly=True)
    return response


async def return_page(request: Request) -> Response:
    """Look only (mail scanners open links too); signing in is the POST."""
    state = _state(request)
    async with state.engine.connect() as conn:
        person = await teams.return_link_person(conn, state.settings.secret_keys, request.path_params["token"])
    if person is None:
        return error_page(request, 410, "return.invalid")
    return render(request, "return.html", {"token": request.path_params["token"]})


async def return_submit(request: Request) -> Response:
    state = _state(request)
    await csrf_form(request)
    async with state.engine.begin() as conn:
        person = await teams.use_return_link(conn, state.settings.secret_keys, request.path_params["token"])
        if person is None:
            return error_page(request, 410, "return.invalid")
        token = await create_session(
            conn,
            person,
            absolute=timedelta(hours=state.settings.session_absolute_hours),
            user_agent=request.headers.get("user-agent"),
        )
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(response, state, token)
    return response


async def admin_page(request: Request) -> Response:
    session = await current_session(request)
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    if not session.is_admin:
        return error_page(request, 404, session=session)
    async with _state(request).engine.connect() as conn:
        people = (
            await conn.execute(
                select(Person.id, Person.display_name, Person.is_admin, Person.disabled_at)
                .where(Person.erased_at.is_(None))
                .order_by(Person.display_name)
            )
        ).all()
    return render(request, "admin.html", {"people": people}, session=session)


async def admin_end_sessions(request: Request) -> Response:
    session = await current_session(request)
    if session is None or not session.is_admin:
        return error_page(request, 404, session=session)
    form = await csrf_form(request)
    person_id = request.path_params["person_id"]
    disable = form.get("disable") == "1"
    state = _state(request)
    async with state.engine.begin() as conn:
        exists = (await conn.execute(select(Person.id).where(Person.id == person_id))).first()
        if exists is None:
            return error_page(request, 404, session=session)
        if disable:
            # A disabled professional is no one's contact person any more: their customers are handed over first.
            try:
                await roles.release_everywhere(conn, person_id, session.person_id)
            except roles.RoleError as exc:
                return error_page(request, exc.status, f"roles.error.{exc.reason}", session=session)
        ended = await end_all_sessions(conn, person_id)
        if disable:
            await conn.execute(update(Person).where(Person.id == person_id).values(disabled_at=utcnow()))
            await roles.refresh_teams_of(conn, person_id)
        await audit.record(
            conn,
            "account.disabled" if disable else "sessions.revoked",
            actor_id=session.person_id,
            object_type="person",
            object_id=person_id,
            sessions=len(ended),
        )
    await state.hub.kick(person_id=person_id, code=p.CloseCode.UNAUTHENTICATED, reason="signed out by an admin")
    return RedirectResponse("/admin", status_code=303)


def account_routes() -> list[BaseRoute]:
    return [
        Route("/session/extend", extend_session, methods=["POST"]),
        Route("/account/sessions", sessions_page, methods=["GET"]),
        Route("/account/sessions/{session_id}/end", end_one_session, methods=["POST"]),
        Route("/signout/everywhere", signout_everywhere, methods=["POST"]),
        Route("/return/{token}", return_page, methods=["GET"]),
        Route("/return/{token}", return_submit, methods=["POST"]),
        Route("/admin", admin_page, methods=["GET"]),
        Route("/admin/people/{person_id}/end-sessions", admin_end_sessions, methods=["POST"]),
    ]
