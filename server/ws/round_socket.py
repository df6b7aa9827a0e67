"""The coach's live dashboard: ``/ws/rounds/{round_id}/dashboard``.

It watches the hub channels of every board of the round's teams and of the
teams themselves; when something happens there, the teams that changed are read
again (after a short pause that gathers a burst of edits into one frame) and
sent. The client sends nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy import select
from starlette.websockets import WebSocket, WebSocketDisconnect

from auth.schedule import round_access
from auth.sessions import resolve_session
from boards import protocol as p
from boards.models import Board
from boards.round_dashboard import TeamSummary, team_summaries, team_summary
from server.state import AppState
from server.ws.endpoint import origin_allowed

log = logging.getLogger("kumppani.dashboard")

#: How long a change waits for others before the dashboard reads the teams again: a burst of
#: edits in ten teams becomes one frame, well within the one-second promise.
GATHER_SECONDS = 0.15


def _wire(summary: TeamSummary) -> p.DashboardTeam:
    return p.DashboardTeam(
        team=summary.team_id,
        name=summary.name,
        phase=summary.phase,
        boards=summary.boards,
        customers=summary.customers,
        agreements=summary.agreements,
        open_tests=summary.open_tests,
        finished_tests=summary.finished_tests,
        last_activity=summary.last_activity,
        latest_update=summary.latest_update,
    )


async def _admit(state: AppState, round_id: str, token: str | None) -> int | None:
    async with state.engine.begin() as db:
        info = await resolve_session(db, token, idle=timedelta(minutes=state.settings.session_idle_minutes))
        if info is None:
            return p.CloseCode.UNAUTHENTICATED
        access = await round_access(db, round_id, info.person_id)
    return None if access is not None and access.manages else p.CloseCode.NOT_FOUND


class _Watch:
    """The channels of one dashboard and the teams waiting to be read again."""

    def __init__(self, state: AppState, round_id: str) -> None:
        self.state = state
        self.round_id = round_id
        self.board_team: dict[str, str] = {}
        self.teams: set[str] = set()
        self.dirty: set[str] = set()
        self.wake = asyncio.Event()

    def changed(self, channel: str) -> None:
        kind, _, key = channel.partition(":")
        team = key if kind == "team" else self.board_team.get(key)
        if team is not None:
            self.dirty.add(team)
            self.wake.set()

    async def refresh_channels(self) -> None:
        """Watch every board of every team of the round (a pushed exercise adds boards)."""
        async with self.state.engine.connect() as db:
            summaries = await team_summaries(db, self.round_id)
            teams = {s.team_id for s in summaries}
            rows = (
                await db.execute(
                    select(Board.id, Board.team_id).where(
                        Board.team_id.in_(teams) if teams else Board.id.is_(None),
                        Board.peer_room_id.is_(None),
                        Board.archived_at.is_(None),
                    )
                )
            ).all()
        hub = self.state.hub
        for team in teams - self.teams:
            await hub.watch(f"team:{team}", self.changed)
        boards = {r.id: r.team_id for r in rows}
        for board in boards.keys() - self.board_team.keys():
            await hub.watch(f"board:{board}", self.changed)
        for board in self.board_team.keys() - boards.keys():
            await hub.unwatch(f"board:{board}", self.changed)
        self.teams |= teams
        self.board_team = boards

    async def close(self) -> None:
        for board in self.board_team:
            await self.state.hub.unwatch(f"board:{board}", self.changed)
        for team in self.teams:
            await self.state.hub.unwatch(f"team:{team}", self.changed)


async def dashboard_socket(websocket: WebSocket) -> None:
    state: AppState = websocket.app.state.kumppani
    if not origin_allowed(websocket, state):
        await websocket.close(code=p.CloseCode.FORBIDDEN)
        return
    round_id = websocket.path_params["round_id"]
    refused = await _admit(state, round_id, websocket.cookies.get(state.cookie_name))
    await websocket.accept()
    if refused is not None:
        await websocket.close(code=refused)
        return
    watch = _Watch(state, round_id)
    reader = asyncio.create_task(_drain(websocket))
    try:
        await watch.refresh_channels()
        async with state.engine.connect() as db:
            first = await team_summaries(db, round_id)
        await websocket.send_text(
            p.encode(p.Dashboard(round=round_id, teams=[_wire(s) for s in first], full=True)).decode()
        )
        while not reader.done():
            waiting = asyncio.create_task(watch.wake.wait())
            await asyncio.wait({waiting, reader}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            if reader.done():
                break
            await asyncio.sleep(GATHER_SECONDS)
            watch.wake.clear()
            dirty, watch.dirty = watch.dirty, set()
            await watch.refresh_channels()
            changed = []
            async with state.engine.connect() as db:
                for team in sorted(dirty):
                    summary = await team_summary(db, team)
                    if summary is not None:
                        changed.append(_wire(summary))
            if changed:
                await websocket.send_text(p.encode(p.Dashboard(round=round_id, teams=changed)).decode())
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        await watch.close()
        with contextlib.suppress(Exception):
            await websocket.close()


async def _drain(websocket: WebSocket) -> None:
    """The client sends nothing; reading tells us when it leaves."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
    except (WebSocketDisconnect, RuntimeError):
        return
