"""Anonymous feedback pages: the questions (no sign-in) and the answer.

Abuse is limited by a token bucket in memory, keyed by a keyed hash of the address, the
team and the day; the address itself is neither stored nor logged with an answer.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from boards import feedback
from foundation.db import utcnow
from server.pages import app_state as _state
from server.pages import error_page, render
from server.security import client_address, csrf_form


def _bucket_key(request: Request, team_id: str) -> str:
    secret = _state(request).settings.secret_key.encode()
    seen = f"{client_address(request)}|{team_id}|{utcnow().date().isoformat()}".encode()
    return hmac.new(secret, seen, hashlib.sha256).hexdigest()


async def _target(request: Request) -> feedback.Target | None:
    state = _state(request)
    async with state.engine.connect() as conn:
        return await feedback.target_of(conn, state.settings.secret_keys, request.path_params["token"])


async def feedback_page(request: Request) -> Response:
    target = await _target(request)
    if target is None:
        return error_page(request, 404, "feedback.bad_link")
    return render(request, "feedback.html", {"target": target, "done": False, "values": {}, "comment": ""})


async def feedback_answer(request: Request) -> Response:
    form = await csrf_form(request)
    target = await _target(request)
    if target is None:
        return error_page(request, 404, "feedback.bad_link")
    values = {q: str(form.get(q, "")) for q in feedback.QUESTIONS}
    comment = str(form.get("comment", ""))
    context = {"target": target, "done": False, "values": values, "comment": comment}
    state = _state(request)
    if not state.feedback_buckets.take(_bucket_key(request, target.team_id)):
        return render(request, "feedback.html", {**context, "error": "feedback.error.too_many"}, status=429)
    try:
        async with state.engine.begin() as conn:
            await feedback.answer(conn, target, values, comment)
    except feedback.FeedbackError as exc:
        return render(request, "feedback.html", {**context, "error": exc.key}, status=400)
    return render(request, "feedback.html", {**context, "done": True})


def feedback_routes() -> list[BaseRoute]:
    return [
        Route("/feedback/{token}", feedback_page, methods=["GET"]),
        Route("/feedback/{token}", feedback_answer, methods=["POST"]),
    ]
