"""Signing in by a link sent to one's e-mail address: 15 minutes, once.

The answer is the same whether the address is known or not, so the form tells nobody
who has an account here.
"""

from __future__ import annotations

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from auth import mail_outbox, teams
from auth.email_address import AddressError, normalise
from auth.mail_render import MailContext, signin_message
from auth.models import Person
from server.i18n import locale_of
from server.pages import app_state as _state
from server.pages import render
from server.security import csrf_form

LINK_MINUTES = 15


async def email_signin_page(request: Request) -> Response:
    return render(request, "signin_email.html", {"sent": False, "error": None})


async def email_signin(request: Request) -> Response:
    form = await csrf_form(request)
    state = _state(request)
    try:
        address = normalise(str(form.get("email", "")))
    except AddressError:
        return render(request, "signin_email.html", {"sent": False, "error": "signin_email.bad"}, status=400)
    async with state.engine.begin() as conn:
        person = (
            await conn.execute(
                select(Person.id, Person.email, Person.locale).where(
                    func.lower(Person.email) == address.lower(),
                    Person.erased_at.is_(None),
                    Person.disabled_at.is_(None),
                )
            )
        ).first()
        if person is not None:
            token = await teams.issue_email_link(conn, state.settings.secret_keys, person.id, LINK_MINUTES)
            ctx = MailContext(state.settings.base_url, state.settings.mail_sender, state.settings.secret_keys)
            link = f"{state.settings.base_url}/return/{token}"
            await mail_outbox.enqueue(
                conn,
                person.id,
                signin_message(ctx, to=person.email, locale=person.locale or locale_of(request), link=link),
            )
    if person is not None:
        state.mail.wake()
    return render(request, "signin_email.html", {"sent": True, "error": None})


def email_signin_routes() -> list[BaseRoute]:
    return [
        Route("/signin/email", email_signin_page, methods=["GET"]),
        Route("/signin/email", email_signin, methods=["POST"]),
    ]
