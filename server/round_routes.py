"""Programmes and coaching rounds: the schedule of sessions, its calendar files and the coach's dashboard.

Everyone in a round's team reads its schedule; coaches of the programme and
admins change it and see the dashboard (counts only). A round that is none of
the person's answers 404.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from auth import schedule
from auth.sessions import SessionInfo
from boards import exercises
from boards import protocol as p
from boards import round_facilitation as facilitation
from boards.engine import Submission
from boards.round_dashboard import team_summaries
from boards.side_by_side import exercise_board, side_by_side
from boards.templates import TEMPLATE_NAMES
from foundation.db import new_id
from server.i18n import Translator, locale_of
from server.pages import app_state as _state
from server.pages import error_page, render, require_session
from server.security import csrf_form
from server.ws.round_socket import dashboard_socket


def _kind_names(t: Translator) -> dict[str, str]:
    return {kind: t(f"schedule.kind.{kind}") for kind in schedule.SESSION_KINDS}


def _host(request: Request) -> str:
    return urlsplit(_state(request).settings.base_url).netloc or "kumppani"


async def programmes_page(request: Request) -> Response:
    session = await require_session(request)
    if not isinstance(session, SessionInfo):
        return session
    async with _state(request).engine.connect() as conn:
        programmes = await schedule.visible_programmes(conn, session.person_id)
    return render(request, "programmes.html", {"programmes": programmes}, session=session)


async def rounds_page(request: Request) -> Response:
    session = await require_session(request)
    if not isinstance(session, SessionInfo):
        return session
    async with _state(request).engine.connect() as conn:
        rounds = await schedule.visible_rounds(conn, session.person_id)
        upcoming = await schedule.sessions(conn, [r.id for r in rounds])
    return render(
        request,
        "rounds.html",
        {"rounds": rounds, "sessions": upcoming, "local": schedule.local},
        session=session,
    )


async def _round_page(
    request: Request, session: SessionInfo, *, error: str | None = None, status: int = 200
) -> Response:
    round_id = request.path_params["round_id"]
    async with _state(request).engine.connect() as conn:
        access = await schedule.round_access(conn, round_id, session.person_id)
        if access is None:
            return error_page(request, 404, session=session)
        sessions = await schedule.sessions(conn, [round_id])
        teams = await schedule.round_teams(conn, round_id)
        summaries = await team_summaries(conn, round_id) if access.manages else []
        pushed = await exercises.exercises(conn, round_id) if access.manages else []
        current = await facilitation.state(conn, round_id)
    return render(
        request,
        "round.html",
        {
            "round": access,
            "sessions": sessions,
            "teams": teams,
            "summaries": summaries,
            "exercises": pushed,
            "facilitation": current,
            "timer_actions": facilitation.TIMER_ACTIONS,
            "templates": TEMPLATE_NAMES,
            "kinds": schedule.SESSION_KINDS,
            "local": schedule.local,
            "form_error": error,
        },
        status=status,
        session=session,
    )


async def round_page(request: Request) -> Response:
    session = await require_session(request)
    if not isinstance(session, SessionInfo):
        return session
    return await _round_page(request, session)


def _form_values(form: object) -> dict[str, str]:
    fields = ("kind", "title", "date", "start", "end", "place", "online_url", "agenda")
    return {name: str(form.get(name, "")) for name in fields}  # type: ignore[attr-defined]


async def _manage(request: Request) -> tuple[SessionInfo, schedule.RoundAccess] | Response:
    session = await require_session(request)
    if not isinstance(session, SessionInfo):
        return session
    async with _state(request).engine.connect() as conn:
        access = await schedule.round_access(conn, request.path_params["round_id"], session.person_id)
    if access is None:
        return error_page(request, 404, session=session)
    if not access.manages:
        return error_page(request, 403, session=session)
    return session, access


async def add_session(request: Request) -> Response:
    form = await csrf_form(request)
    allowed = await _manage(request)
    if isinstance(allowed, Response):
        return allowed
    session, access = allowed
    try:
        data = schedule.parse_session(_form_values(form))
    except schedule.ScheduleError as exc:
        return await _round_page(request, session, error=f"schedule.error.{exc.reason}", status=exc.status)
    async with _state(request).engine.begin() as conn:
        await schedule.add_session(conn, access.round_id, data, session.person_id)
    return RedirectResponse(f"/rounds/{access.round_id}?saved=1#schedule", status_code=303)


async def change_session(request: Request) -> Response:
    form = await csrf_form(request)
    allowed = await _manage(request)
    if isinstance(allowed, Response):
        return allowed
    session, access = allowed
    try:
        data = schedule.parse_session(_form_values(form))
        async with _state(request).engine.begin() as conn:
            changed = await schedule.change_session(
                conn, access.round_id, request.path_params["session_id"], data, session.person_id
            )
    except schedule.ScheduleError as exc:
        return await _round_page(request, session, error=f"schedule.error.{exc.reason}", status=exc.status)
    return RedirectResponse(f"/rounds/{access.round_id}?saved={int(changed)}#schedule", status_code=303)


async def remove_session(request: Request) -> Response:
    await csrf_form(request)
    allowed = await _manage(request)
    if isinstance(allowed, Response):
        return allowed
    session, access = allowed
    try:
        async with _state(request).engine.begin() as conn:
            await schedule.remove_session(conn, access.round_id, request.path_params["session_id"], session.person_id)
    except schedule.ScheduleError as exc:
        return await _round_page(request, session, error=f"schedule.error.{exc.reason}", status=exc.status)
    return RedirectResponse(f"/rounds/{access.round_id}?saved=1#schedule", status_code=303)


async def push_exercise(request: Request) -> Response:
    """The coach creates a board from a template in every team of the round at once."""
    form = await csrf_form(request)
    allowed = await _manage(request)
    if isinstance(allowed, Response):
        return allowed
    session, access = allowed
    state = _state(request)
    try:
        async with state.engine.begin() as conn:
            _, teams = await exercises.push_exercise(
                conn,
                access.round_id,
                str(form.get("title", "")),
                str(form.get("template", "")),
                session.person_id,
                locale_of(request),
            )
    except exercises.ExerciseError as exc:
        return await _round_page(request, session, error=f"exercise.error.{exc.reason}", status=exc.status)
    for team_id in teams:
        await state.hub.team_changed(team_id)
    return RedirectResponse(f"/rounds/{access.round_id}?pushed=1#exercises", status_code=303)


async def remove_exercise(request: Request) -> Response:
    await csrf_form(request)
    allowed = await _manage(request)
    if isinstance(allowed, Response):
        return allowed
    session, access = allowed
    state = _state(request)
    try:
        async with state.engine.begin() as conn:
            teams = await exercises.remove_exercise(
                conn, access.round_id, request.path_params["exercise_id"], session.person_id
            )
    except exercises.ExerciseError as exc:
        return await _round_page(request, session, error=f"exercise.error.{exc.reason}", status=exc.status)
    for team_id in teams:
        await state.hub.team_changed(team_id)
    return RedirectResponse(f"/rounds/{access.round_id}?saved=1#exercises", status_code=303)


async def _side_by_side_page(
    request: Request, session: SessionInfo, *, error: str | None = None, status: int = 200
) -> Response:
    async with _state(request).engine.connect() as conn:
        view = await side_by_side(conn, request.path_params["round_id"], request.path_params["exercise_id"])
    if view is None:
        return error_page(request, 404, session=session)
    return render(
        request,
        "side_by_side.html",
        {"view": view, "round_id": request.path_params["round_id"], "form_error": error},
        status=status,
        session=session,
    )


async def side_by_side_page(request: Request) -> Response:
    """One exercise of every team, read-only, with a comment form under each card."""
    allowed = await _manage(request)
    if isinstance(allowed, Response):
        return allowed
    return await _side_by_side_page(request, allowed[0])


async def comment_on_work(request: Request) -> Response:
    """A coach's comment on a team's card: written to the team's board like any comment, so the team sees it."""
    form = await csrf_form(request)
    allowed = await _manage(request)
    if isinstance(allowed, Response):
        return allowed
    session, access = allowed
    state = _state(request)
    exercise_id = request.path_params["exercise_id"]
    async with state.engine.connect() as conn:
        board_id = await exercise_board(conn, access.round_id, exercise_id, str(form.get("board_id", ""))[:40])
    if board_id is None:
        return error_page(request, 404, session=session)
    text = str(form.get("text", "")).strip()
    if not text:
        return await _side_by_side_page(request, session, error="side.error.no_text", status=400)
    command = p.ItemCreate(
        id=new_id(), item_type="comment", fields={"text": text[:2000]}, parent=str(form.get("item_id", ""))[:32]
    )
    try:
        outcome = await state.writes.submit(board_id, Submission(session.person_id, new_id(), command))
    except Exception:
        return await _side_by_side_page(request, session, error="side.error.not_saved", status=503)
    if outcome.error is not None:
        return await _side_by_side_page(
            request, session, error=f"side.error.{_comment_error(outcome.error.code)}", status=400
        )
    return RedirectResponse(
        f"/rounds/{access.round_id}/exercises/{exercise_id}?saved=1#team-{board_id}", status_code=303
    )


def _comment_error(code: str) -> str:
    known = {p.ErrorCode.TEXT_TOO_LONG: "too_long", p.ErrorCode.IDENTITY_CODE: "identity_code"}
    return known.get(code, "bad_comment")


def _frame(current: facilitation.RoundState) -> p.RoundState:
    return p.RoundState(
        round=current.round_id,
        timer_ends_at=current.timer_ends_at.isoformat() if current.timer_ends_at else None,
        timer_paused_seconds=current.timer_paused_seconds,
        announcement=current.announcement,
        announced_at=current.announced_at.isoformat() if current.announced_at else None,
        plenary=current.plenary_board,
    )


async def _tell_the_boards(request: Request, round_id: str) -> None:
    """After commit: the round's new timer and announcement to every board of the round, in every process."""
    state = _state(request)
    async with state.engine.connect() as conn:
        frame = _frame(await facilitation.state(conn, round_id))
        boards = await facilitation.round_board_ids(conn, round_id)
    for board_id in boards:
        await state.hub.publish_control(board_id, frame)


async def facilitation_state(request: Request) -> Response:
    """What a board of the round shows of the round's facilitation, read when its socket (re)connects."""
    session = await require_session(request)
    if not isinstance(session, SessionInfo):
        return session
    async with _state(request).engine.connect() as conn:
        access = await schedule.round_access(conn, request.path_params["round_id"], session.person_id)
        if access is None:
            return error_page(request, 404, session=session)
        frame = _frame(await facilitation.state(conn, access.round_id))
    return JSONResponse(msgspec.to_builtins(frame), headers={"Cache-Control": "no-store"})


async def _facilitate(request: Request, change: str) -> Response:
    form = await csrf_form(request)
    allowed = await _manage(request)
    if isinstance(allowed, Response):
        return allowed
    session, access = allowed
    t = Translator(locale_of(request))
    try:
        async with _state(request).engine.begin() as conn:
            if change == "timer":
                await facilitation.set_timer(
                    conn, access.round_id, str(form.get("action", "")), str(form.get("minutes", "")), session.person_id
                )
            elif change == "announcement":
                await facilitation.announce(conn, access.round_id, str(form.get("text", ""))[:2000], session.person_id)
            else:
                await facilitation.open_plenary(
                    conn, access.round_id, t("plenary.board_title"), t("plenary.announcement"), session.person_id
                )
    except facilitation.FacilitationError as exc:
        return await _round_page(request, session, error=f"facilitation.error.{exc.reason}", status=exc.status)
    await _tell_the_boards(request, access.round_id)
    return RedirectResponse(f"/rounds/{access.round_id}?saved=1#facilitation", status_code=303)


async def round_timer(request: Request) -> Response:
    return await _facilitate(request, "timer")


async def round_announcement(request: Request) -> Response:
    return await _facilitate(request, "announcement")


async def round_plenary(request: Request) -> Response:
    return await _facilitate(request, "plenary")


def _ics(body: str, filename: str) -> Response:
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


async def round_calendar(request: Request) -> Response:
    session = await require_session(request)
    if not isinstance(session, SessionInfo):
        return session
    round_id = request.path_params["round_id"]
    async with _state(request).engine.connect() as conn:
        access = await schedule.round_access(conn, round_id, session.person_id)
        if access is None:
            return error_page(request, 404, session=session)
        rows = await schedule.sessions(conn, [round_id])
    t = Translator(locale_of(request))
    name = f"{access.programme_name}: {access.round_name}"
    return _ics(schedule.calendar(name, rows, _host(request), _kind_names(t)), f"round-{round_id}.ics")


async def my_calendar(request: Request) -> Response:
    """Every session of every round the person coaches or has a team in."""
    session = await require_session(request)
    if not isinstance(session, SessionInfo):
        return session
    async with _state(request).engine.connect() as conn:
        rounds = await schedule.visible_rounds(conn, session.person_id)
        rows = await schedule.sessions(conn, [r.id for r in rounds])
    t = Translator(locale_of(request))
    return _ics(schedule.calendar(t("schedule.my_calendar"), rows, _host(request), _kind_names(t)), "kumppani.ics")


def round_routes() -> list[BaseRoute]:
    return [
        Route("/programmes", programmes_page, methods=["GET"]),
        Route("/rounds", rounds_page, methods=["GET"]),
        Route("/rounds/{round_id}", round_page, methods=["GET"]),
        Route("/rounds/{round_id}/calendar.ics", round_calendar, methods=["GET"]),
        Route("/rounds/{round_id}/sessions", add_session, methods=["POST"]),
        Route("/rounds/{round_id}/sessions/{session_id}", change_session, methods=["POST"]),
        Route("/rounds/{round_id}/sessions/{session_id}/remove", remove_session, methods=["POST"]),
        Route("/rounds/{round_id}/exercises", push_exercise, methods=["POST"]),
        Route("/rounds/{round_id}/exercises/{exercise_id}/remove", remove_exercise, methods=["POST"]),
        Route("/rounds/{round_id}/exercises/{exercise_id}", side_by_side_page, methods=["GET"]),
        Route("/rounds/{round_id}/exercises/{exercise_id}/comments", comment_on_work, methods=["POST"]),
        Route("/rounds/{round_id}/facilitation", facilitation_state, methods=["GET"]),
        Route("/rounds/{round_id}/timer", round_timer, methods=["POST"]),
        Route("/rounds/{round_id}/announcement", round_announcement, methods=["POST"]),
        Route("/rounds/{round_id}/plenary", round_plenary, methods=["POST"]),
        Route("/me/calendar.ics", my_calendar, methods=["GET"]),
        WebSocketRoute("/ws/rounds/{round_id}/dashboard", dashboard_socket),
    ]
