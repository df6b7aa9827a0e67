"""Progress updates: the team's page for writing them and reading replies, and each person's own feed."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from auth import teams
from auth.mail_render import MailContext
from boards import feedback, progress
from server.pages import agreement_gate, current_session, error_page, render
from server.pages import app_state as _state
from server.security import csrf_form

WRITERS = ("professional", "customer")


def mail_context(request: Request) -> MailContext:
    settings = _state(request).settings
    return MailContext(settings.base_url, settings.mail_sender, settings.secret_keys)


async def _team_updates_page(request: Request, *, status: int = 200, **extra: object) -> Response:
    session = await current_session(request)
    if session is None:
        return RedirectResponse(f"/signin?next={request.url.path}", status_code=303)
    team_id = request.path_params["team_id"]
    gate = await agreement_gate(request, session, team_id)
    if gate is not None:
        return gate
    async with _state(request).engine.connect() as conn:
        access = await teams.team_access(conn, team_id, session.person_id)
        if access is None:
            return error_page(request, 404, session=session)
        updates = await progress.team_updates(conn, team_id)
        items = await progress.followed_items(conn, team_id)
        answers = await feedback.results(conn, team_id)
    keys = _state(request).settings.secret_keys
    links = {u.id: feedback.link_token(keys, team_id, u.id) for u in updates}
    return render(
        request,
        "updates.html",
        {
            "team": access,
            "updates": updates,
            "items": items,
            "may_write": access.agreed and access.role in WRITERS,
            "written": request.query_params.get("written") == "1",
            "feedback": answers,
            "feedback_link": feedback.link_token(keys, team_id),
            "feedback_links": links,
            "threshold": feedback.THRESHOLD,
            **extra,
        },
        status=status,
        session=session,
    )


async def team_updates(request: Request) -> Response:
    return await _team_updates_page(request)


async def write_update(request: Request) -> Response:
    session = await current_session(request)
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    form = await csrf_form(request)
    team_id = request.path_params["team_id"]
    title, body = str(form.get("title", "")), str(form.get("body", ""))
    item_ids = [str(value) for value in form.getlist("items")]
    error: str | None = None
    async with _state(request).engine.begin() as conn:
        access = await teams.team_access(conn, team_id, session.person_id)
        if access is None:
            return error_page(request, 404, session=session)
        if not (access.agreed and access.role in WRITERS):
            return error_page(request, 403, session=session)
        try:
            await progress.write_update(conn, team_id, session.person_id, title, body, item_ids, mail_context(request))
        except progress.UpdateError as exc:
            error = exc.key
    if error is None:
        _state(request).mail.wake()
    else:
        return await _team_updates_page(request, status=400, form_error=error, title=title, body=body)
    return RedirectResponse(f"/teams/{team_id}/updates?written=1", status_code=303)


async def my_updates(request: Request) -> Response:
    """A person's own feed; opening it marks what was there as read."""
    session = await current_session(request)
    if session is None:
        return RedirectResponse(f"/signin?next={request.url.path}", status_code=303)
    async with _state(request).engine.begin() as conn:
        feed = await progress.feed(conn, session.person_id)
        await progress.mark_read(conn, session.person_id)
    keys = _state(request).settings.secret_keys
    links = {u.id: feedback.link_token(keys, u.team_id, u.id) for u in feed}
    replied = request.query_params.get("replied") == "1"
    return render(
        request, "my_updates.html", {"feed": feed, "replied": replied, "feedback_links": links}, session=session
    )


async def reply(request: Request) -> Response:
    session = await current_session(request)
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    form = await csrf_form(request)
    update_id = request.path_params["update_id"]
    body = str(form.get("body", ""))
    async with _state(request).engine.begin() as conn:
        try:
            await progress.reply(conn, session.person_id, update_id, body)
        except LookupError:
            return error_page(request, 404, session=session)
        except progress.UpdateError as exc:
            feed = await progress.feed(conn, session.person_id)
            return render(
                request,
                "my_updates.html",
                {"feed": feed, "form_error": exc.key, "error_update": update_id, "feedback_links": {}},
                status=400,
                session=session,
            )
    return RedirectResponse("/updates?replied=1", status_code=303)


def progress_routes() -> list[BaseRoute]:
    return [
        Route("/teams/{team_id}/updates", team_updates, methods=["GET"]),
        Route("/teams/{team_id}/updates", write_update, methods=["POST"]),
        Route("/updates", my_updates, methods=["GET"]),
        Route("/updates/{update_id}/replies", reply, methods=["POST"]),
    ]
