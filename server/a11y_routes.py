"""The accessibility statement (saavutettavuusseloste) and its feedback form.

The statement is public: anyone may read it and send feedback, signed in or not
(digipalvelulaki 306/2019). Each piece of feedback is stored as a ticket that is
due in 14 days. No CAPTCHA: a per-address rate limit keeps the form usable.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from sqlalchemy import insert
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from auth.hetu import contains_identity_code
from auth.models import AccessibilityFeedback
from auth.redirects import safe_next
from foundation.db import new_id, utcnow
from server.pages import current_session, error_page, render
from server.ratelimit import BucketMap
from server.security import client_address, csrf_form
from server.state import AppState

log = logging.getLogger("kumppani.a11y")

STATEMENT_UPDATED = date(2026, 11, 24)
ANSWER_WITHIN = timedelta(days=14)
MAX_MESSAGE = 4000
MAX_CONTACT = 320
MAX_PAGE = 300

_feedback_by_address = BucketMap(rate=0.05, capacity=10)


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.kumppani
    return state


def _page_of(value: object) -> str:
    """The page the feedback is about: a local path only, never a full address."""
    return safe_next(" ".join(str(value or "").split())[:MAX_PAGE], "")


async def _statement(
    request: Request, *, form: dict[str, str] | None = None, error: str | None = None, status: int = 200
) -> Response:
    session = await current_session(request)
    values = form or {"message": "", "contact": "", "page": _page_of(request.query_params.get("from"))}
    return render(
        request,
        "accessibility.html",
        {"form": values, "error": error, "updated": STATEMENT_UPDATED},
        status=status,
        session=session,
    )


async def statement(request: Request) -> Response:
    return await _statement(request)


async def feedback(request: Request) -> Response:
    form = await csrf_form(request)
    message = str(form.get("message", "")).strip()
    contact = " ".join(str(form.get("contact", "")).split())
    page = _page_of(form.get("page"))
    values = {"message": message[:MAX_MESSAGE], "contact": contact[:MAX_CONTACT], "page": page}
    if not message:
        return await _statement(request, form=values, error="a11y.feedback.missing", status=400)
    if len(message) > MAX_MESSAGE or len(contact) > MAX_CONTACT:
        return await _statement(request, form=values, error="a11y.feedback.too_long", status=400)
    if contains_identity_code(message) or contains_identity_code(contact):
        values["message"] = ""
        return await _statement(request, form=values, error="a11y.feedback.identity_code", status=400)
    # Only what would be stored counts against the address's rate.
    bucket = _feedback_by_address.get(client_address(request))
    if not bucket.take():
        return error_page(request, 429, "error.429", headers={"Retry-After": str(int(bucket.retry_after()) + 1)})
    now = utcnow()
    feedback_id = new_id()
    async with _state(request).engine.begin() as conn:
        await conn.execute(
            insert(AccessibilityFeedback).values(
                id=feedback_id,
                message=message,
                contact=contact or None,
                page=page or None,
                created_at=now,
                due_at=now + ANSWER_WITHIN,
            )
        )
    log.info("accessibility feedback received", extra={"feedback_id": feedback_id})
    return RedirectResponse("/accessibility/thanks", status_code=303)


async def thanks(request: Request) -> Response:
    session = await current_session(request)
    return render(request, "accessibility_thanks.html", {}, session=session)


async def finnish_address(request: Request) -> Response:
    return RedirectResponse("/accessibility", status_code=308)


def a11y_routes() -> list[BaseRoute]:
    return [
        Route("/accessibility", statement, methods=["GET"]),
        Route("/accessibility/feedback", feedback, methods=["POST"]),
        Route("/accessibility/thanks", thanks, methods=["GET"]),
        Route("/saavutettavuusseloste", finnish_address, methods=["GET"]),
    ]
