"""The composition root: ``create_app(settings)`` wires storage, broadcast, the
sequencer and the hub into a Starlette app. Nothing is created at import time.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from boards.engine import Limits
from boards.sequencer import Sequencer
from foundation import metrics
from foundation.broadcast import backend_for
from foundation.db import TransactionRunner, create_engine
from foundation.settings import Settings
from server.logs import request_id
from server.mail_sender import MailSender
from server.memory import freeze_startup_objects
from server.ratelimit import BucketMap
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


async def metrics_page(request: Request) -> Response:
    """Prometheus text format, for a scraper that sends the metrics token; 404 when metrics are off."""
    state: AppState = request.app.state.kumppani
    token = state.settings.metrics_token
    instruments = metrics.current
    if token is None or instruments is None:
        return PlainTextResponse("Not found", status_code=404)
    given = request.headers.get("authorization", "")
    if not secrets.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return PlainTextResponse(
            "The metrics need the bearer token.", status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    body, content_type = instruments.exposition()
    return Response(body, media_type=content_type)


def _read_at_scrape(instruments: metrics.Instruments, state: AppState) -> None:
    """What the hub, outbox and write router count anyway."""
    hub, writes = state.hub, state.writes
    readings: list[tuple[str, str, metrics.Kind, Callable[[], float]]] = [
        ("kumppani_connections", "Open board connections in this process", "gauge", lambda: len(hub.all_connections())),
        ("kumppani_outbox_queued", "Messages waiting to be published to Redis", "gauge", lambda: len(hub.outbox)),
        (
            "kumppani_outbox_dropped",
            "Operation and presence messages dropped from a full outbox",
            "counter",
            lambda: hub.outbox.dropped,
        ),
        (
            "kumppani_forwarded_operations",
            "Operations sent to the board's writer in another process",
            "counter",
            lambda: writes.forwarded,
        ),
        (
            "kumppani_written_for_others",
            "Operations written here for another process's clients",
            "counter",
            lambda: writes.written_for_others,
        ),
        (
            "kumppani_forward_fallbacks",
            "Forwarded operations written here after all (no answer, or declined)",
            "counter",
            lambda: writes.fallbacks,
        ),
        (
            "kumppani_forwards_declined_late",
            "Forwards declined because they came after their deadline",
            "counter",
            lambda: writes.declined_late,
        ),
        (
            "kumppani_forwards_declined_out_of_order",
            "Forwards declined after a missing one",
            "counter",
            lambda: writes.declined_out_of_order,
        ),
        (
            "kumppani_gathering_waits",
            "Batches that waited 2 ms to gather operations",
            "counter",
            lambda: state.sequencer.gathering_waits,
        ),
    ]
    for reading in readings:
        instruments.read_at_scrape(*reading)


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
            mail=MailSender(engine, settings),
            extra_origins=extra_origins,
        )
        app.state.kumppani = state
        if settings.metrics_token is not None:
            _read_at_scrape(metrics.enable(), state)
        await hub.start()
        state.mail.start()
        if not hub.single_process:
            await hub.serve_inbox(writes.inbox, writes.on_message)
        freeze_startup_objects()
        try:
            yield
        finally:
            await state.mail.stop()
            await writes.begin_closing()
            await sequencer.close()
            writes.close()
            await writer.close()
            await hub.stop()
            await engine.dispose()
            metrics.disable()

    from server.a11y_routes import a11y_routes
    from server.account_routes import account_routes
    from server.admin_routes import admin_routes
    from server.api_routes import api_routes
    from server.board_routes import board_routes
    from server.consent_routes import consent_routes
    from server.email_routes import email_routes
    from server.email_signin_routes import email_signin_routes
    from server.feedback_routes import feedback_routes
    from server.mail_routes import mail_routes
    from server.oidc_routes import oidc_routes
    from server.pages import EXCEPTION_HANDLERS, page_routes
    from server.privacy_routes import privacy_routes
    from server.progress_routes import progress_routes
    from server.round_routes import round_routes
    from server.team_routes import team_routes

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_page),
        WebSocketRoute("/ws/boards/{board_id}", board_socket),
        *team_routes(),
        *progress_routes(),
        *round_routes(),
        *mail_routes(),
        *email_routes(),
        *email_signin_routes(),
        *feedback_routes(),
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
