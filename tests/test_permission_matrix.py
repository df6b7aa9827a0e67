"""Every route and every websocket message type, for every kind of person.

The route list is read from the app itself, so a new route without an
expectation here fails the test. A refused attempt must change nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.routing import Mount, Route, WebSocketRoute

from auth import directory as d
from auth.invites import create_invite
from auth.sessions import create_session
from boards import protocol as p
from boards.catalogue import create_board
from boards.client import BoardClient, ClientError
from boards.models import Item
from conftest import LiveServer, settings_for
from server.db import create_engine, new_id
from server.models import metadata
from webapp import make_client

PERSONAS = ("anonymous", "outsider", "customer", "professional", "coach", "observer", "other_team", "other_org")
KEYS = ("test-secret-key-" + "x" * 32,)


@dataclass
class World:
    team: str
    board: str
    stage: str
    lane: str
    card: str
    invite_id: str
    invite_token: str
    people: dict[str, str]
    tokens: dict[str, str]


async def build_world(url: str) -> World:
    engine = create_engine(url)
    async with engine.begin() as conn:
        org = await d.create_organisation(conn, "Kunta")
        other_org = await d.create_organisation(conn, "Toinen kunta")
        programme = await d.create_programme(conn, "Valmennus", org)
        round_id = await d.create_round(conn, programme, "Kierros")
        team = await d.create_team(conn, "Tiimi", org, round_id)
        other_team = await d.create_team(conn, "Toinen tiimi", org, round_id)
        far_team = await d.create_team(conn, "Kaukainen tiimi", other_org)
        people = {name: await d.create_person(conn, name) for name in PERSONAS if name != "anonymous"}
        await d.add_member(conn, team, people["professional"], "professional")
        await d.add_member(conn, team, people["customer"], "customer", contact_person_id=people["professional"])
        await d.add_member(conn, team, people["observer"], "observer")
        await d.add_programme_coach(conn, programme, people["coach"])
        await d.add_member(conn, other_team, people["other_team"], "professional")
        await d.add_member(conn, far_team, people["other_org"], "professional")
        board = await create_board(conn, "Polku", "journey", team_id=team)
        from auth import consent

        text = await consent.current_text(conn, "agreement", team, "fi")
        await consent.give(conn, people["customer"], "agreement", text, team_id=team)
        stage = (await conn.execute(select(Item.id).where(Item.board_id == board, Item.type == "stage"))).scalar()
        lane = (await conn.execute(select(Item.id).where(Item.board_id == board, Item.type == "lane"))).scalar()
        invite_token = await create_invite(
            conn,
            KEYS,
            team_id=team,
            role="customer",
            created_by=people["professional"],
            contact_person_id=people["professional"],
        )
        from auth.models import Invite

        invite_id = (await conn.execute(select(Invite.id))).scalar()
        tokens = {name: await create_session(conn, pid, absolute=timedelta(hours=1)) for name, pid in people.items()}
    await engine.dispose()
    assert stage and lane and invite_id
    return World(team, board, stage, lane, "", invite_id, invite_token, people, tokens)


async def fingerprint(url: str) -> dict[str, int]:
    """Row counts of every table: a refused attempt must leave them all as they were."""
    engine = create_engine(url)
    counts = {}
    async with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in ("auth_session",):
                continue  # reading pages touches last_seen; sessions are checked by their own tests
            counts[table.name] = int((await conn.execute(select(func.count()).select_from(table))).scalar() or 0)
    await engine.dispose()
    return counts


# What each persona gets from each route. "ok" = 2xx/3xx to a page of theirs, numbers are statuses.
ANY_SIGNED_IN = {"anonymous": "signin"}
TEAM_READERS = {"customer", "professional", "coach", "observer"}


def expected(route: str, method: str, persona: str) -> set[int] | str:
    member = persona in TEAM_READERS
    signed_in = persona != "anonymous"
    if route in ("/healthz", "/readyz", "/signin", "/static", "/csp-report"):
        return "public"
    if route in ("/invite/{token}", "/return/{token}", "/signin/oidc/{provider_id}", "/signin/oidc/callback"):
        return "public"
    if route == "/lang":
        return "public"
    if route in ("/", "/welcome", "/account/sessions"):
        return {200, 303} if signed_in else {303}
    if route in ("/signout", "/signout/everywhere"):
        return {303}
    if route == "/account/sessions/{session_id}/end":  # no such session of theirs: refused, said so
        return {404} if signed_in else {303}
    if route == "/api/boards":
        return {200} if signed_in else {401}
    if route == "/session/extend":
        return {200} if signed_in else {401}
    if route in ("/admin", "/admin/people/{person_id}/end-sessions"):
        return {404} if signed_in else {404, 303}
    if route == "/boards/{board_id}":
        if not signed_in:
            return {303}
        return {200} if member else {404}
    if route == "/teams/{team_id}":
        if not signed_in:
            return {303}
        return {200} if member else {404}
    if route == "/teams/{team_id}/invites":
        if not signed_in:
            return {303}
        return {200} if persona in ("professional", "coach") else ({403} if member else {404})
    if route == "/teams/{team_id}/invites/{invite_id}/revoke":
        if not signed_in:
            return {303}
        return {303} if persona in ("professional", "coach") else ({403} if member else {404})
    if route == "/teams/{team_id}/members/{person_id}/return-link":
        if not signed_in:
            return {303}
        return {200} if persona in ("professional", "customer") else ({403} if member else {404})
    if route == "/teams/{team_id}/members/{person_id}/remove":
        if not signed_in:
            return {303}
        return {303} if persona in ("professional", "coach") else ({403} if member else {404})
    if route == "/teams/{team_id}/members/{person_id}/contact-person":
        if not signed_in:
            return {303}
        return {303} if persona == "professional" else ({403} if member else {404})
    if route == "/teams/{team_id}/boards":
        if not signed_in:
            return {303}
        return {303} if persona in ("professional", "customer") else ({403} if member else {404})
    if route in ("/teams/{team_id}/agreement", "/teams/{team_id}/agreement/confirm", "/me/leave/{team_id}"):
        if not signed_in:
            return {303}
        if route == "/me/leave/{team_id}":  # only real members can leave; a programme coach is not one
            return {200} if persona in ("customer", "professional", "observer") else {404}
        if method == "GET":
            return {200} if member else {404}
        if route == "/teams/{team_id}/agreement":
            return {303} if member else {404}
        if route == "/me/leave/{team_id}":  # no choice made: the page again, nothing changes
            return {200} if persona in ("customer", "professional", "observer") else {404}
        return {400} if member else {404}
    if route == "/teams/{team_id}/members/{person_id}/assisted-consent":
        if not signed_in:
            return {303}
        return {303} if persona == "professional" else ({403} if member else {404})
    if route in ("/me", "/me/delete") and method == "GET":
        return {200} if signed_in else {303}
    if route == "/me/delete":
        return {400} if signed_in else {303}
    if route in ("/me/consents/{purpose}", "/notifications/{notification_id}/dismiss"):
        return {303}
    if route in ("/me/export.json", "/me/export.html"):
        return {200} if signed_in else {303}
    if route in ("/admin/audit", "/admin/audit.csv", "/admin/people/{person_id}/erase") or route.startswith("/admin/"):
        return {404} if signed_in else {404, 303}  # the admin pages do not exist for anyone else
    if route.startswith(("/accessibility", "/saavutettavuusseloste", "/privacy")) or route == "/share/{token}":
        return "public"
    if route.startswith("/boards/{board_id}/"):
        if not signed_in:
            return {303}
        if not member:
            return {404}
        if route in ("/boards/{board_id}/settings", "/boards/{board_id}/history", "/boards/{board_id}/export/{kind}"):
            return {200}
        editor = persona in ("customer", "professional")
        publisher = persona == "professional"  # publishing outside the team: professionals only
        if route in ("/boards/{board_id}/duplicate", "/boards/{board_id}/archive", "/boards/{board_id}/restore"):
            return {303} if editor else {403}
        if route == "/boards/{board_id}/share":
            return {200} if publisher else {403}
        if route == "/boards/{board_id}/visibility":  # no choice sent: refused, nothing changes
            return {400} if publisher else {403}
    raise AssertionError(f"no expectation for {method} {route}: add one to this test")


def _fill(path: str, world: World) -> str:
    return (
        path.replace("{board_id}", world.board)
        .replace("{team_id}", world.team)
        .replace("{invite_id}", world.invite_id)
        .replace("{person_id}", world.people["customer"])
        .replace("{token}", world.invite_token)
        .replace("{session_id}", "0" * 32)
        .replace("{provider_id}", "0" * 32)
        .replace("{purpose}", "quotes")
        .replace("{notification_id}", "0" * 32)
        .replace("{kind}", "md")
    )


def _routes(app: Any) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if isinstance(route, Route):
            for method in sorted(route.methods or []):
                if method != "HEAD":
                    found.append((route.path, method))
        elif isinstance(route, Mount):
            found.append((route.path, "GET"))
    return found


MUTATING_FOR_FINGERPRINT = {
    "/teams/{team_id}/members/{person_id}/assisted-consent",
    "/admin/people/{person_id}/erase",
    "/admin/audit.csv",
    "/me/export.json",
    "/me/export.html",
    "/teams/{team_id}/members/{person_id}/remove",
    "/teams/{team_id}/boards",
    "/teams/{team_id}/invites",
    "/teams/{team_id}/invites/{invite_id}/revoke",
    "/teams/{team_id}/members/{person_id}/return-link",
    "/teams/{team_id}/members/{person_id}/contact-person",
    "/admin/people/{person_id}/end-sessions",
}


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_route_for_every_persona(migrated_url: str, tmp_path: Path, persona: str) -> None:
    world = asyncio.run(build_world(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        if persona != "anonymous":
            client.cookies.set("kumppani", world.tokens[persona])
        client.get("/healthz")
        csrf = client.cookies["kumppani-csrf"]
        # Signing out last: it ends the session the other requests use.
        routes = sorted(
            _routes(client.app), key=lambda r: (r[0].startswith("/signout"), r[0].endswith(("/remove", "/archive")))
        )
        for path, method in routes:
            want = expected(path, method, persona)
            if want == "public" or path == "/static":
                continue
            url = _fill(path, world)
            before = asyncio.run(fingerprint(migrated_url)) if method == "POST" else None
            if method == "POST":
                headers = {"X-CSRF-Token": csrf} if path == "/session/extend" else {}
                response = client.post(
                    url,
                    data={
                        "csrf": csrf,
                        "role": "customer",
                        "title": "T",
                        "display_name": "Nimi",
                        "contact_person_id": world.people["professional"],
                    },
                    headers=headers,
                )
            else:
                response = client.get(url)
            assert response.status_code in want, f"{persona} {method} {path}: {response.status_code}, wanted {want}"
            refused = response.status_code in (401, 403, 404) or (
                response.status_code == 303
                and response.headers.get("location", "").startswith("/signin")
                and path in MUTATING_FOR_FINGERPRINT
            )
            if before is not None and refused:
                assert asyncio.run(fingerprint(migrated_url)) == before, f"{persona} {path} changed something"


def test_every_route_has_an_expectation(migrated_url: str, tmp_path: Path) -> None:
    with make_client(migrated_url, tmp_path) as client:
        for path, method in _routes(client.app):
            expected(path, method, "customer")
        ws = [r.path for r in client.app.routes if isinstance(r, WebSocketRoute)]
    assert ws == ["/ws/boards/{board_id}"]


# ------------------------------------------------------------------ websocket message types


WS_EXPECTED = {
    # persona: (can connect, may edit, may comment)
    "customer": (True, True, True),
    "professional": (True, True, True),
    "coach": (True, False, True),
    "observer": (True, False, False),
    "outsider": (False, False, False),
    "other_team": (False, False, False),
    "other_org": (False, False, False),
    "anonymous": (False, False, False),
}


def _commands(world: World, card: str, comment: str, deleted: str) -> list[tuple[str, p.AnyCommand]]:
    """One command of every type; 'edit' ones need edit rights, 'comment' ones comment rights."""
    new = new_id()
    return [
        ("edit", p.ItemCreate(id=new, item_type="card", fields={"text": "x"}, stage=world.stage, lane=world.lane)),
        ("edit", p.ItemUpdate(id=card, fields={"text": "y"})),
        ("edit", p.ItemMove(id=card, stage=world.stage, lane=world.lane)),
        ("edit", p.VoteAdd(id=card)),
        ("edit", p.VoteRemove(id=card)),
        ("comment", p.ReactionAdd(id=card, emoji="👍")),
        ("comment", p.ReactionRemove(id=card, emoji="👍")),
        ("comment", p.ItemCreate(id=comment, item_type="comment", fields={"text": "hyvä"}, parent=card)),
        ("edit", p.ItemDelete(id=card)),
        ("edit", p.ItemRestore(id=card)),
        ("edit", p.Undo(seq=1)),
        ("edit", p.Redo(seq=1)),
        ("edit", p.BoardSet(title="Polku")),
        ("facilitate", p.BoardSet(votes_revealed=False)),
    ]


async def _ws_matrix(url: str, tmp_path: Path) -> None:
    world = await build_world(url)
    server = LiveServer(settings_for(url, tmp_path, KUMPPANI_OPS_PER_SECOND="1000", KUMPPANI_OPS_BURST="1000")).start()
    try:
        owner = BoardClient(
            server.ws_url(world.board), cookie=f"kumppani={world.tokens['professional']}", origin=server.base
        )
        await owner.connect()
        cards = {}
        for persona in PERSONAS:
            cards[persona] = new_id()
            await owner.call(
                p.ItemCreate(
                    id=cards[persona], item_type="card", fields={"text": persona}, stage=world.stage, lane=world.lane
                )
            )
        tested_types = set()
        for persona in PERSONAS:
            can_connect, may_edit, may_comment = WS_EXPECTED[persona]
            cookie = None if persona == "anonymous" else f"kumppani={world.tokens[persona]}"
            client = BoardClient(server.ws_url(world.board), cookie=cookie, origin=server.base)
            if not can_connect:
                with pytest.raises(ConnectionRefusedError):
                    await client.connect()
                want = p.CloseCode.UNAUTHENTICATED if persona == "anonymous" else p.CloseCode.NOT_FOUND
                assert client.closed_code == want, persona
                continue
            await client.connect()
            for need, command in _commands(world, cards[persona], new_id(), cards[persona]):
                tested_types.add(type(command))
                may_facilitate = persona in ("customer", "professional", "coach")
                allowed = {"edit": may_edit, "comment": may_comment, "facilitate": may_facilitate}[need]
                seq_before = owner.replica.seq
                try:
                    ack = await client.call(command)
                except ClientError as exc:
                    if allowed:
                        # Allowed but refused by the domain (e.g. nothing to undo): never a permission error.
                        assert exc.error.code != p.ErrorCode.FORBIDDEN, (persona, command)
                    else:
                        assert exc.error.code == p.ErrorCode.FORBIDDEN, (persona, command, exc.error)
                        await asyncio.sleep(0.05)
                        assert owner.replica.seq == seq_before, f"{persona}'s refused {command} changed the board"
                    continue
                assert allowed, f"{persona} was allowed {command}"
                await owner.wait_seq(ack.seq)
            await client.close()
        assert tested_types == set(p.COMMAND_TYPES), "every websocket command type is in the matrix"
        await owner.close()
    finally:
        server.stop()


def test_every_websocket_message_type_for_every_persona(migrated_url: str, tmp_path: Path) -> None:
    asyncio.run(_ws_matrix(migrated_url, tmp_path))
