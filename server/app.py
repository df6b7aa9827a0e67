"""The composition root: ``create_app(settings)`` wires storage, broadcast, the
sequencer and the hub into a Starlette app. Nothing is created at import time.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from boards.engine import Limits
from boards.sequencer import Sequencer
from server.broadcast import backend_for
from server.db import TransactionRunner, create_engine
from server.logs import request_id
from server.memory import freeze_startup_objects
from server.ratelimit import BucketMap
from server.settings import Settings
from server.state import AppState
from server.ws.endpoint import board_socket
from server.ws.hub import Hub
from server.ws.write_router import WriteRouter

log = logging.getLogger("kumppani.app")


class RequestIdMiddleware:
    """Give every request an id, put it in the logs and echo it in a response header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = secrets.token_hex(8)
        token = request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id if scope["type"] == "http" else send)
        finally:
            request_id.reset(token)


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> JSONResponse:
    state: AppState = request.app.state.kumppani
    problems: list[str] = []
    try:
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        problems.append("database unreachable")
    if state.settings.redis_url:
        try:
            await state.hub.backend.ping()
        except Exception:
            problems.append("redis unreachable")
    if problems:
        return JSONResponse({"ready": False, "problems": problems}, status_code=503)
    return JSONResponse({"ready": True})


def create_app(settings: Settings, *, extra_origins: frozenset[str] = frozenset()) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        hub = Hub(backend_for(settings.redis_url), engine)
        limits = Limits(max_items=settings.max_items_per_board, max_text=settings.max_text_chars)
        writer = TransactionRunner(engine)
        sequencer = Sequencer(writer, hub.publish_ops, limits, hub.publish_to_person)
        writes = WriteRouter(sequencer, hub.backend, hub.outbox, hub.origin, single_process=hub.single_process)
        state = AppState(
            settings=settings,
            engine=engine,
            hub=hub,
            sequencer=sequencer,
            writes=writes,
            op_buckets=BucketMap(settings.ops_per_second, settings.ops_burst),
            extra_origins=extra_origins,
        )
        app.state.kumppani = state
        await hub.start()
        if not hub.single_process:
            await hub.serve_inbox(writes.inbox, writes.on_message)
        freeze_startup_objects()
        try:
            yield
        finally:
            await writes.begin_closing()
            await sequencer.close()
            writes.close()
            await writer.close()
            await hub.stop()
            await engine.dispose()

    from server.a11y_routes import a11y_routes
    from server.account_routes import account_routes
    from server.admin_routes import admin_routes
    from server.api_routes import api_routes
    from server.board_routes import board_routes
    from server.consent_routes import consent_routes
    from server.oidc_routes import oidc_routes
    from server.pages import EXCEPTION_HANDLERS, page_routes
    from server.privacy_routes import privacy_routes
    from server.team_routes import team_routes

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        WebSocketRoute("/ws/boards/{board_id}", board_socket),
        *team_routes(),
        *account_routes(),
        *admin_routes(),
        *consent_routes(),
        *board_routes(),
        *oidc_routes(),
        *a11y_routes(),
        *privacy_routes(),
        *api_routes(),
        *page_routes(settings),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, debug=False, exception_handlers=EXCEPTION_HANDLERS)
    from server.security import install_security

    install_security(app, settings)
    app.add_middleware(RequestIdMiddleware)
    return app
