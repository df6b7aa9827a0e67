"""Unsubscribing from progress e-mails without signing in.

The link in every message carries a token signed for this one purpose. Opening it shows
a button; the POST (also what a mail client sends for RFC 8058 one-click) withdraws the
progress-update consent. The POST has no CSRF token on purpose: the signed token is the
proof, and all it can do is stop e-mails.
"""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from auth import consent
from auth.mail_render import unsubscriber
from auth.models import Person
from auth.tokens import TokenError
from boards.progress import CONSENT
from server.pages import app_state as _state
from server.pages import error_page, render


async def _person(request: Request) -> tuple[str, str] | None:
    try:
        person_id = unsubscriber(_state(request).settings.secret_keys, request.path_params["token"])
    except TokenError:
        return None
    async with _state(request).engine.connect() as conn:
        row = (
            await conn.execute(
                select(Person.id, Person.locale).where(Person.id == person_id, Person.erased_at.is_(None))
            )
        ).first()
    return (row.id, row.locale) if row else None


async def unsubscribe_page(request: Request) -> Response:
    if await _person(request) is None:
        return error_page(request, 404, "unsubscribe.bad_link")
    return render(request, "unsubscribe.html", {"token": request.path_params["token"], "done": False})


async def unsubscribe(request: Request) -> Response:
    found = await _person(request)
    if found is None:
        return error_page(request, 404, "unsubscribe.bad_link")
    person_id, locale = found
    async with _state(request).engine.begin() as conn:
        mine = consent.latest(await consent.records(conn, person_id), CONSENT)
        if mine is not None and mine.given:
            text = await consent.current_text(conn, CONSENT, None, locale)
            await consent.withdraw(conn, person_id, CONSENT, text)
    return render(request, "unsubscribe.html", {"token": request.path_params["token"], "done": True})


def mail_routes() -> list[BaseRoute]:
    return [
        Route("/unsubscribe/{token}", unsubscribe_page, methods=["GET"]),
        Route("/unsubscribe/{token}", unsubscribe, methods=["POST"]),
    ]
