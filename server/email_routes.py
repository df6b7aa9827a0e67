"""Adding and removing one's own e-mail address on "my data"."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from auth.email_address import AddressError, normalise, set_email
from server.pages import app_state as _state
from server.pages import require_session
from server.security import csrf_form


async def change_email(request: Request) -> Response:
    session = await require_session(request)
    if isinstance(session, Response):
        return session
    form = await csrf_form(request)
    address: str | None = None
    if form.get("remove") != "yes":
        try:
            address = normalise(str(form.get("email", "")))
        except AddressError:
            return RedirectResponse("/me?email=bad#me-profile", status_code=303)
    async with _state(request).engine.begin() as conn:
        await set_email(conn, session.person_id, address)
    return RedirectResponse(f"/me?email={'saved' if address else 'removed'}#me-profile", status_code=303)


def email_routes() -> list[BaseRoute]:
    return [Route("/me/email", change_email, methods=["POST"])]
