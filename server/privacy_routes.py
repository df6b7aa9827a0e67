"""The privacy notice (tietosuojaseloste): public, in every language, built from settings.

The controller and its contact come from settings (KUMPPANI_PRIVACY_*), and the
keeping time from KUMPPANI_RETENTION_DAYS, so the notice says what this
installation really does. The purposes and the rights are the catalogue's texts.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.pages import app_state, current_session, render

PURPOSES = ("agreement", "boards", "contact", "optional", "security")
RIGHTS = ("access", "rectify", "erase", "withdraw", "object", "complain")


async def privacy_notice(request: Request) -> Response:
    session = await current_session(request)
    settings = app_state(request).settings
    return render(
        request,
        "privacy.html",
        {
            "controller": settings.privacy_controller,
            "contact": settings.privacy_contact,
            "dpo": settings.privacy_dpo,
            "retention_days": settings.retention_days,
            "purposes": PURPOSES,
            "rights": RIGHTS,
        },
        session=session,
    )


def privacy_routes() -> list[BaseRoute]:
    return [Route("/privacy", privacy_notice, methods=["GET"])]
