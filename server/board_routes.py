"""Board features over HTTP: duplicate, archive and restore, history, exports, share links, visibility."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy import or_, select, update
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from auth import audit
from auth.models import Person
from auth.permissions import BoardAccess, BoardOwner, board_access, may_publish
from auth.sessions import SessionInfo
from boards import catalogue
from boards import protocol as p
from boards.models import Board, Operation
from server.i18n import html_lang, locale_of
from server.lazy_import import import_off_loop
from server.pages import app_state as _state
from server.pages import author_languages, current_session, error_page, render
from server.security import csrf_form
from server.state import AppState

EXPORT_TYPES = {
    "md": ("text/markdown; charset=utf-8", "md"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "json": ("application/json", "json"),
    "pdf": ("application/pdf", "pdf"),
    "html": ("text/html; charset=utf-8", "html"),
}


async def _board_and_access(request: Request) -> tuple[SessionInfo, Any, BoardAccess] | Response:
    session = await current_session(request)
    if session is None:
        return RedirectResponse(f"/signin?next={request.url.path}", status_code=303)
    board_id = request.path_params["board_id"]
    async with _state(request).engine.connect() as conn:
        board = (await conn.execute(select(Board).where(Board.id == board_id))).first() if len(board_id) <= 32 else None
        access = None
        if board is not None:
            owner = BoardOwner(board.team_id, board.round_id, board.peer_room_id, board.visibility)
            access = (await board_access(conn, owner, [session.person_id])).get(session.person_id)
    if board is None or access is None:
        return error_page(request, 404, session=session)
    return session, board, access


async def _board_for_change(
    request: Request, allowed: Callable[[BoardAccess], bool]
) -> tuple[SessionInfo, Any, BoardAccess, FormData] | Response:
    """The board, the person's access and the CSRF-checked form, or the page to answer with."""
    found = await _board_and_access(request)
    if isinstance(found, Response):
        return found
    session, board, access = found
    form = await csrf_form(request)
    if not allowed(access):
        return error_page(request, 403, session=session)
    return session, board, access, form


async def _publish(state: AppState, board_id: str, event: p.Event) -> None:
    await state.hub.publish_ops(board_id, event.seq, event.seq, p.encode(p.Ops(ops=[event])))


async def duplicate(request: Request) -> Response:
    found = await _board_for_change(request, lambda access: access.edit)
    if isinstance(found, Response):
        return found
    session, board, _, _ = found
    suffix = " (kopio)" if locale_of(request) == "fi" else " (copy)"
    async with _state(request).engine.begin() as conn:
        new_id = await catalogue.duplicate_board(conn, board.id, (board.title + suffix)[:200], session.person_id)
    return RedirectResponse(f"/boards/{new_id}", status_code=303)


async def archive(request: Request) -> Response:
    found = await _board_for_change(request, lambda access: access.edit)
    if isinstance(found, Response):
        return found
    session, board, _, _ = found
    archived = request.url.path.endswith("/archive")
    state = _state(request)
    async with state.engine.begin() as conn:
        event = await catalogue.set_archived(conn, board.id, archived, session.person_id)
    await _publish(state, board.id, event)
    return RedirectResponse(f"/teams/{board.team_id}" if board.team_id else "/", status_code=303)


async def history(request: Request) -> Response:
    found = await _board_and_access(request)
    if isinstance(found, Response):
        return found
    session, board, _ = found
    log = (
        select(
            Operation.seq,
            Operation.type,
            Operation.actor_id,
            Operation.created_at,
            Operation.data,
            Person.display_name,
        )
        .outerjoin(Person, Person.id == Operation.actor_id)
        .where(Operation.board_id == board.id)
    )
    if not board.votes_revealed:
        # As on the board: until the facilitator reveals, a reader sees only their own votes.
        log = log.where(or_(Operation.type != "vote.changed", Operation.actor_id == session.person_id))
    async with _state(request).engine.connect() as conn:
        rows = (await conn.execute(log.order_by(Operation.seq.desc()).limit(300))).all()
    entries = [
        {
            "seq": r.seq,
            "type": r.type,
            "at": r.created_at,
            "who": r.display_name if r.actor_id else None,
            "what": _describe(r.data),
        }
        for r in rows
    ]
    return render(request, "history.html", {"board": board, "entries": entries}, session=session)


def _describe(data: dict[str, Any]) -> str:
    item = data.get("item")
    fields = item.get("fields", {}) if isinstance(item, dict) else data.get("fields", {})
    if isinstance(fields, dict):
        for name in ("title", "name", "text"):
            if fields.get(name):
                text = str(fields[name])
                return text if len(text) <= 60 else text[:60] + "…"
    return ""


async def export(request: Request) -> Response:
    found = await _board_and_access(request)
    if isinstance(found, Response):
        return found
    session, board, _ = found
    await csrf_form(request)  # a POST: exports are audited, and GETs change nothing
    kind = request.path_params["kind"]
    if kind not in EXPORT_TYPES:
        return error_page(request, 404, session=session)
    # boards.board_export pulls in fpdf2 (Pillow, fontTools): loaded for the first export, not at start-up.
    await import_off_loop("boards.board_export")
    from boards import board_export

    state = _state(request)
    locale = locale_of(request)
    async with state.engine.begin() as conn:
        data = await board_export.build_export(conn, board.id, locale, reader=session.person_id)
        langs = await author_languages(conn, board.id, html_lang(locale))
        await audit.record(
            conn,
            "export.board",
            actor_id=session.person_id,
            object_type="board",
            object_id=board.id,
            team_id=board.team_id,
            format=kind,
        )
    assert data is not None
    if kind == "html":
        return render(
            request,
            "board_print.html",
            {"export": data, "names": board_export.names_of(data), "langs": langs},
            session=session,
        )
    body: str | bytes
    if kind == "md":
        body = board_export.to_markdown(data)
    elif kind == "csv":
        body = board_export.to_csv(data)
    elif kind == "json":
        body = board_export.to_json(data)
    else:
        # Laying out a large board takes a while; on a thread the event loop gets its turns meanwhile.
        body = await asyncio.to_thread(board_export.to_pdf, data)
    media, suffix = EXPORT_TYPES[kind]
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="kumppani-board.{suffix}"', "Cache-Control": "no-store"},
    )


async def share(request: Request) -> Response:
    found = await _board_for_change(request, may_publish)
    if isinstance(found, Response):
        return found
    session, board, _, form = found
    state = _state(request)
    expires = None
    async with state.engine.begin() as conn:
        if form.get("revoke") == "yes":
            await catalogue.revoke_share_link(conn, board.id, session.person_id)
            link = None
        else:
            token, expires = await catalogue.create_share_link(
                conn, state.settings.secret_keys, board.id, session.person_id, state.settings.share_link_days
            )
            link = f"{state.settings.base_url}/share/{token}"
    return render(request, "share.html", {"board": board, "link": link, "expires": expires}, session=session)


async def visibility(request: Request) -> Response:
    found = await _board_for_change(request, may_publish)
    if isinstance(found, Response):
        return found
    session, board, _, form = found
    value = str(form.get("visibility", ""))
    if value not in ("team", "round"):
        return error_page(request, 400, session=session)
    async with _state(request).engine.begin() as conn:
        await conn.execute(update(Board).where(Board.id == board.id).values(visibility=value))
        await audit.record(
            conn,
            "board.visibility",
            actor_id=session.person_id,
            object_type="board",
            object_id=board.id,
            team_id=board.team_id,
            old=board.visibility,
            new=value,
        )
    return RedirectResponse(f"/boards/{board.id}/settings", status_code=303)


async def settings_page(request: Request) -> Response:
    found = await _board_and_access(request)
    if isinstance(found, Response):
        return found
    session, board, access = found
    return render(
        request,
        "board_settings.html",
        {"board": board, "access": access, "may_publish": may_publish(access)},
        session=session,
    )


async def shared_view(request: Request) -> Response:
    """The read-only share link: the board as a printable page, no sign-in, no websocket."""
    await import_off_loop("boards.board_export")
    from boards import board_export

    state = _state(request)
    async with state.engine.connect() as conn:
        board_id = await catalogue.board_for_share(conn, state.settings.secret_keys, request.path_params["token"])
        data = await board_export.build_export(conn, board_id, locale_of(request)) if board_id else None
        langs = await author_languages(conn, board_id, html_lang(locale_of(request))) if board_id else {}
    if data is None:
        return error_page(request, 410, "share.invalid")
    response = render(
        request,
        "board_print.html",
        {"export": data, "names": board_export.names_of(data), "shared": True, "langs": langs},
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def board_routes() -> list[BaseRoute]:
    return [
        Route("/boards/{board_id}/settings", settings_page, methods=["GET"]),
        Route("/boards/{board_id}/duplicate", duplicate, methods=["POST"]),
        Route("/boards/{board_id}/archive", archive, methods=["POST"]),
        Route("/boards/{board_id}/restore", archive, methods=["POST"]),
        Route("/boards/{board_id}/history", history, methods=["GET"]),
        Route("/boards/{board_id}/export/{kind}", export, methods=["POST"]),
        Route("/boards/{board_id}/share", share, methods=["POST"]),
        Route("/boards/{board_id}/visibility", visibility, methods=["POST"]),
        Route("/share/{token}", shared_view, methods=["GET"]),
    ]
