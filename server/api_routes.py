"""A small JSON API for programs that use the board protocol (docs/protocol.md, section 1)."""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from boards.listing import boards_for
from server.pages import app_state as _state
from server.pages import current_session


async def list_boards(request: Request) -> Response:
    session = await current_session(request)
    if session is None:
        return JSONResponse({"error": "Sign in first."}, status_code=401, headers={"Cache-Control": "no-store"})
    async with _state(request).engine.connect() as conn:
        boards = await boards_for(conn, session.person_id)
    return JSONResponse({"boards": [asdict(b) for b in boards]}, headers={"Cache-Control": "no-store"})


def api_routes() -> list[BaseRoute]:
    return [Route("/api/boards", list_boards, methods=["GET"])]
