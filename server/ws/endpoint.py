"""The board websocket: handshake, resume, reader loop and an explicit dispatch table.

See docs/protocol.md for the contract. Every frame is parsed by
``boards.protocol`` and every operation is authorised inside its transaction by
the engine; a bad frame gets an error frame and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from starlette.websockets import WebSocket, WebSocketDisconnect

from auth.permissions import BoardAccess, BoardOwner, board_access
from auth.sessions import SessionInfo, resolve_session
from boards import protocol as p
from boards.engine import Outcome, Submission
from boards.queries import board_row, events_since, own_votes, snapshot
from server.ratelimit import BucketMap, TokenBucket
from server.state import AppState
from server.ws.connection import Connection, Outgoing
from server.ws.fastproto import EXTENSION as SEND_FRAMED

log = logging.getLogger("kumppani.ws")

HELLO_TIMEOUT = 10.0
ABUSE_LIMIT = 20  # bad frames within ABUSE_WINDOW seconds before we hang up
ABUSE_WINDOW = 10.0


def origin_allowed(websocket: WebSocket, state: AppState) -> bool:
    origin = websocket.headers.get("origin")
    if not origin:
        return False
    allowed = {_origin_of(state.settings.base_url), *state.extra_origins}
    host = websocket.headers.get("host")
    if host and not state.settings.is_production:
        # In development the server may be reached as 127.0.0.1 or localhost alike.
        allowed.add(f"http://{host}")
    return origin.rstrip("/") in allowed


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class _Session:
    state: AppState
    websocket: WebSocket
    conn: Connection
    access: BoardAccess
    bucket: TokenBucket
    abuse: list[float]


async def board_socket(websocket: WebSocket) -> None:
    state: AppState = websocket.app.state.kumppani
    if not origin_allowed(websocket, state):
        # Refused before accept: the client sees HTTP 403, no socket is opened.
        await websocket.close(code=p.CloseCode.FORBIDDEN)
        return
    board_id = websocket.path_params["board_id"]
    admitted = await _admit(state, board_id, websocket.cookies.get(state.cookie_name))
    if isinstance(admitted, int):
        await websocket.accept()
        reason = "sign in first" if admitted == p.CloseCode.UNAUTHENTICATED else "no such board"
        await websocket.close(code=admitted, reason=reason)
        return
    info, access = admitted
    conn_id = secrets.token_hex(8)
    if not await _room_for(state, info.person_id, conn_id):
        await websocket.accept()
        await websocket.close(code=p.CloseCode.TOO_MANY_CONNECTIONS, reason="too many connections")
        return

    async def close(code: int, reason: str) -> None:
        try:
            await websocket.close(code=code, reason=reason)
        except Exception:  # already gone
            pass

    reserved = True
    session: _Session | None = None
    try:
        await websocket.accept()
        conn = Connection(
            websocket.send,
            board_id=board_id,
            person_id=info.person_id,
            name=info.display_name,
            role=access.role,
            conn_id=conn_id,
            queue_limit=state.settings.send_queue_frames,
            session_id=info.session_id,
            close=close,
            send_framed=websocket.scope.get("extensions", {}).get(SEND_FRAMED),
        )
        session = _Session(state, websocket, conn, access, state.op_buckets.get(info.person_id), [])
        state.track(conn)
        state.release(info.person_id)  # the tracked connection counts from now on
        reserved = False
        hello = await _await_hello(session)
        if hello is None:
            return
        await state.hub.join(conn)
        await conn.send_direct(
            p.Welcome(
                v=p.PROTOCOL_VERSION,
                board=board_id,
                person=info.person_id,
                name=info.display_name,
                seq=0,
                limits=_limits(state),
            )
        )
        await _catch_up(session, hello.since)
        await _announce(session, "joined")
        await _read_loop(session)
    except WebSocketDisconnect:
        pass
    finally:
        if reserved:
            state.release(info.person_id)
        if session is not None:
            state.untrack(session.conn)
            await state.hub.leave(session.conn)
            await _depart(session)
        await state.hub.unregister_connection(info.person_id, conn_id)


async def _room_for(state: AppState, person_id: str, conn_id: str) -> bool:
    """Take a place for one more connection of the person, or False when they have as many as allowed.

    The place is taken before anything is awaited, so that connections opening at once in
    this process count each other; the other processes count it once it is registered.
    """
    state.reserve(person_id)
    try:
        here = state.connections_of(person_id) - 1  # open or opening here, besides this one
        if await state.hub.connections_of(person_id, here) >= state.settings.connections_per_person:
            state.release(person_id)
            return False
        await state.hub.register_connection(person_id, conn_id)
    except BaseException:
        state.release(person_id)
        raise
    return True


async def _admit(state: AppState, board_id: str, token: str | None) -> tuple[SessionInfo, BoardAccess] | int:
    """The session and the access to the board, or the close code that refuses the socket.

    A function of its own so that the rows it reads are not kept alive for the
    whole life of the connection (they hold SQLAlchemy's result metadata).
    """
    async with state.engine.begin() as db:
        info = await resolve_session(db, token, idle=timedelta(minutes=state.settings.session_idle_minutes))
        if info is None:
            return p.CloseCode.UNAUTHENTICATED
        board = await board_row(db, board_id) if len(board_id) <= 32 else None
        if board is None:
            return p.CloseCode.NOT_FOUND
        owner = BoardOwner(board.team_id, board.round_id, board.peer_room_id, board.visibility)
        access = (await board_access(db, owner, [info.person_id])).get(info.person_id)
    return p.CloseCode.NOT_FOUND if access is None else (info, access)


def _limits(state: AppState) -> dict[str, int]:
    s = state.settings
    return {
        "max_message_bytes": p.MAX_MESSAGE_BYTES,
        "max_text_chars": s.max_text_chars,
        "max_items": s.max_items_per_board,
        "ops_per_second": s.ops_per_second,
        "ops_burst": s.ops_burst,
    }


async def _await_hello(session: _Session) -> p.Hello | None:
    ws = session.websocket
    deadline = time.monotonic() + HELLO_TIMEOUT
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            await ws.close(code=p.CloseCode.HELLO_TIMEOUT, reason="no hello")
            return None
        try:
            raw = await asyncio.wait_for(_receive_text(session), timeout=remaining)
        except TimeoutError:
            await ws.close(code=p.CloseCode.HELLO_TIMEOUT, reason="no hello")
            return None
        if raw is None:
            continue
        try:
            message = p.decode_client(raw)
        except p.ProtocolError as exc:
            await _error(session, exc.code, str(exc), p.op_id_of(raw))
            continue
        if not isinstance(message, p.Hello):
            await _error(session, p.ErrorCode.NOT_READY, "Say hello first.", None)
            continue
        if message.v not in p.SUPPORTED_VERSIONS:
            await _error(
                session,
                p.ErrorCode.UNSUPPORTED_VERSION,
                f"Protocol version {message.v} is not supported; use {p.PROTOCOL_VERSION}.",
                None,
            )
            await ws.close(code=p.CloseCode.UNSUPPORTED_VERSION, reason="unsupported version")
            return None
        return message


async def _receive_text(session: _Session) -> str | None:
    """The next text frame, or None after answering a binary one with an error."""
    message = await session.websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        await _error(session, p.ErrorCode.BINARY_FRAME, "Send text frames with JSON, not binary frames.", None)
        return None
    return str(text)


async def _catch_up(session: _Session, since: int | None) -> None:
    """Send what the client missed (or a snapshot), then let live frames flow."""
    state, conn = session.state, session.conn
    conn.pause()
    frames: list[Outgoing] = []
    async with state.engine.connect() as db:
        events = None
        if since:  # 0 or none: the client has nothing yet, so it gets a snapshot
            events = await events_since(db, conn.board_id, since, state.settings.resume_max_ops)
        if events is None:
            snap = await snapshot(db, conn.board_id, conn.person_id)
            if snap is None:
                raise WebSocketDisconnect(p.CloseCode.NOT_FOUND)
            frames.append(Outgoing.of(snap))
            head = snap.seq
        else:
            if events:
                frames.append(Outgoing.of(p.Ops(ops=events)))
            head = events[-1].seq if events else since or 0
            # Hidden votes in those events name no one: the person's own come separately.
            frames.append(Outgoing.of(await own_votes(db, conn.board_id, conn.person_id, head)))
    frames.append(Outgoing.of(p.Synced(seq=head)))
    # Ahead of whatever was published meanwhile: the client must see the catch-up first.
    conn.resume(head, frames)


async def _read_loop(session: _Session) -> None:
    while True:
        raw = await _receive_text(session)
        if raw is None:
            if await _abusive(session):
                return
            continue
        try:
            message = p.decode_client(raw)
        except p.ProtocolError as exc:
            await _error(session, exc.code, str(exc), p.op_id_of(raw))
            if exc.garbage and await _abusive(session):
                return
            continue
        handler = HANDLERS.get(type(message))
        if handler is None:  # pragma: no cover - every message type has a handler
            await _error(session, p.ErrorCode.UNKNOWN_TYPE, "Unknown message type.", None)
            continue
        await handler(session, message)


async def _abusive(session: _Session, code: int = p.CloseCode.PROTOCOL_ABUSE) -> bool:
    now = time.monotonic()
    session.abuse = [t for t in session.abuse if now - t < ABUSE_WINDOW]
    session.abuse.append(now)
    if len(session.abuse) > ABUSE_LIMIT:
        await session.websocket.close(code=code, reason="too many bad messages")
        return True
    return False


async def _error(session: _Session, code: str, message: str, op_id: str | None) -> None:
    await session.conn.send_direct(p.Error(code=code, message=message, op=op_id))


# ------------------------------------------------------------------ handlers


async def _on_op(session: _Session, message: Any) -> None:
    assert isinstance(message, p.Op)
    if not session.bucket.take():
        await _error(
            session,
            p.ErrorCode.RATE_LIMITED,
            "You are sending changes too fast. Wait a moment and send again.",
            message.id,
        )
        await _abusive(session, p.CloseCode.RATE_ABUSE)
        return
    conn = session.conn
    future = session.state.writes.submit(conn.board_id, Submission(conn.person_id, message.id, message.op))
    future.add_done_callback(lambda f: _reply(conn, f))


def _reply(conn: Connection, future: asyncio.Future[Outcome]) -> None:
    if future.cancelled():
        return
    outcome = future.result()
    if outcome.error is not None:
        reply: p.ServerMessage = outcome.error
    else:
        reply = p.Ack(op=outcome.op_id, seq=outcome.seq, duplicate=outcome.duplicate, replaced=outcome.replaced)
    conn.send_control(Outgoing.of(reply))


async def _on_sync(session: _Session, message: Any) -> None:
    assert isinstance(message, p.Sync)
    await _catch_up(session, message.since)


async def _on_presence(session: _Session, message: Any) -> None:
    assert isinstance(message, p.PresenceSet)
    if session.conn.editing == message.editing:
        return
    session.conn.editing = message.editing
    await _announce(session, "editing")


async def _on_ping(session: _Session, message: Any) -> None:
    await session.conn.send_direct(p.Pong())


async def _on_hello(session: _Session, message: Any) -> None:
    await _error(session, p.ErrorCode.BAD_MESSAGE, "You said hello already. To resume, send sync.", None)


HANDLERS: dict[type[p.ClientMessage], Callable[[_Session, Any], Awaitable[None]]] = {
    p.Op: _on_op,
    p.Sync: _on_sync,
    p.PresenceSet: _on_presence,
    p.Ping: _on_ping,
    p.Hello: _on_hello,
}


# ------------------------------------------------------------------ presence


async def _announce(session: _Session, change: str) -> None:
    conn, hub = session.conn, session.state.hub
    try:
        await hub.presence_put(conn)
        if change == "joined":
            await conn.send_direct(p.Presence(people=await hub.presence_list(conn.board_id)))
        await hub.publish_control(
            conn.board_id,
            p.PresenceChanged(
                person=conn.person_id, name=conn.name, role=conn.role, state=change, editing=conn.editing
            ),
        )
    except Exception:
        # Presence is a courtesy; editing goes on without it.
        log.warning("presence update failed", extra={"board": conn.board_id})


async def _depart(session: _Session) -> None:
    conn, hub = session.conn, session.state.hub
    try:
        await hub.presence_remove(conn)
        still_here = any(e.person == conn.person_id for e in await hub.presence_list(conn.board_id))
        if not still_here:
            await hub.publish_control(
                conn.board_id, p.PresenceChanged(person=conn.person_id, name=conn.name, role=conn.role, state="left")
            )
    except Exception:
        log.warning("presence removal failed", extra={"board": conn.board_id})


def make_buckets(rate: int, burst: int) -> BucketMap:
    return BucketMap(rate, burst)
