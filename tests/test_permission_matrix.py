"""Every route and every websocket message type, for every kind of person.

The route list is read from the app itself, so a new route without an
expectation here fails the test. Id routes are filled with real ids: this team's
objects, someone else's session and notification, the second team's board, team,
invite and professional, and the second team's invite or person under this team's
path. A refused attempt must change nothing: every row's contents are compared,
not only how many rows there are.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient

from auth import directory as d
from auth.invites import create_invite
from auth.sessions import create_session
from boards import protocol as p
from boards.client import BoardClient, ClientError
from conftest import LiveServer, Seeded, seed_workspace, settings_for
from foundation.db import create_engine, new_id
from server.models import metadata
from webapp import make_client

PERSONAS = (
    "anonymous",
    "outsider",
    "customer",
    "customer2",
    "professional",
    "professional2",
    "coach",
    "observer",
    "admin",
    "other_team",
    "other_org",
)
KEYS = ("test-secret-key-" + "x" * 32,)
#: The seeded world's name for each persona (``outsider`` is someone in no team at all).
SEEDED_NAME = {"other_team": "second_professional", "other_org": "outsider"}


@dataclass
class World:
    """The seeded world, plus the objects the id routes act on: other people's and other teams'."""

    team: str
    board: str
    stage: str
    lane: str
    invite_id: str
    invite_token: str
    people: dict[str, str]
    tokens: dict[str, str]
    sessions: dict[str, str]
    notifications: dict[str, str]
    second_team: str
    second_board: str
    second_invite_id: str
    second_professional: str
    organisation: str
    programme: str
    round: str


async def build_world(url: str) -> World:
    from auth.models import AuthSession, Invite, Notification

    seeded = await seed_workspace(url)
    people = {
        name: seeded.people[SEEDED_NAME.get(name, name)] for name in PERSONAS if name not in ("anonymous", "outsider")
    }
    tokens = {name: seeded.tokens[SEEDED_NAME.get(name, name)] for name in people}
    engine = create_engine(url)
    async with engine.begin() as conn:
        people["outsider"] = await d.create_person(conn, "Olga Ohikulkija")
        tokens["outsider"] = await create_session(conn, people["outsider"], absolute=timedelta(hours=1))
        invite_token = await create_invite(
            conn,
            KEYS,
            team_id=seeded.team,
            role="customer",
            created_by=seeded.professional,
            contact_person_id=seeded.professional,
        )
        await create_invite(
            conn, KEYS, team_id=seeded.second_team, role="professional", created_by=seeded.second_professional
        )
        invites = dict((await conn.execute(select(Invite.team_id, Invite.id))).all())
        # One notification each, so that dismissing someone else's can be tried.
        for pid in people.values():
            await conn.execute(insert(Notification).values(id=new_id(), person_id=pid, kind="member.left", details={}))
        sessions = dict((await conn.execute(select(AuthSession.person_id, AuthSession.id))).all())
        notifications = dict((await conn.execute(select(Notification.person_id, Notification.id))).all())
    await engine.dispose()
    by_person = {pid: name for name, pid in people.items()}
    return World(
        seeded.team,
        seeded.board,
        seeded.stage,
        seeded.lane,
        invites[seeded.team],
        invite_token,
        people,
        tokens,
        {by_person[pid]: sid for pid, sid in sessions.items() if pid in by_person},
        {by_person[pid]: nid for pid, nid in notifications.items() if pid in by_person},
        seeded.second_team,
        seeded.second_board,
        invites[seeded.second_team],
        seeded.second_professional,
        seeded.org,
        seeded.programme,
        seeded.round,
    )


#: Columns that reading a page may change: a session's last use.
VOLATILE = {"auth_session": {"last_seen_at"}}


async def fingerprint(url: str) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table: a refused attempt must leave them all as they were, not only as many."""
    engine = create_engine(url)
    rows = {}
    async with engine.connect() as conn:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if c.name not in VOLATILE.get(table.name, set())]
            found = (await conn.execute(select(*columns))).all()
            rows[table.name] = sorted(tuple(repr(v) for v in row) for row in found)
    await engine.dispose()
    return rows


def _changes(before: dict[str, list[tuple[str, ...]]], after: dict[str, list[tuple[str, ...]]]) -> str:
    changed = []
    for name in before:
        gone = set(before[name]) - set(after[name])
        new = set(after[name]) - set(before[name])
        if gone or new:
            changed.append(f"{name}: -{sorted(gone)} +{sorted(new)}")
    return "; ".join(changed)


# What each persona gets from each route. "ok" = 2xx/3xx to a page of theirs, numbers are statuses.
ANY_SIGNED_IN = {"anonymous": "signin"}
TEAM_READERS = {"customer", "professional", "coach", "observer"}  # roles; see expected()
#: The admin's own pages, and changes: 303 done, 400 or 404 when the matrix's one form lacks a field or
#: names no one; what each change does is tested with the admin pages themselves.
ADMIN_PAGES = {"GET": {200}, "POST": {303, 400, 404}}


def expected(route: str, method: str, persona: str) -> set[int] | str:
    # The second customer and professional have the same rights as the first, except where a
    # rule is about one customer's contact person (``person_id`` is the first customer).
    role = {"customer2": "customer", "professional2": "professional"}.get(persona, persona)
    member = role in TEAM_READERS
    signed_in = persona != "anonymous"
    admin = persona == "admin"
    if route in ("/healthz", "/readyz", "/signin", "/static", "/csp-report"):
        return "public"
    if route in ("/invite/{token}", "/return/{token}", "/signin/oidc/{provider_id}", "/signin/oidc/callback"):
        return "public"
    if route in ("/lang", "/signin/email"):
        return "public"
    if route == "/metrics":  # only with KUMPPANI_METRICS_TOKEN and its bearer token; a session never opens it
        return {404}
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
    if route in ("/admin", "/admin/audit", "/admin/audit.csv"):
        return {200} if admin else ({404} if signed_in else {404, 303})
    if route in ("/admin/people/{person_id}/end-sessions", "/admin/people/{person_id}/erase"):
        return {303} if admin else ({404} if signed_in else {404, 303})
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
        return {200} if role in ("professional", "coach") else ({403} if member else {404})
    if route == "/teams/{team_id}/invites/{invite_id}/revoke":
        if not signed_in:
            return {303}
        return {303} if role in ("professional", "coach") else ({403} if member else {404})
    if route == "/teams/{team_id}/members/{person_id}/return-link":
        if not signed_in:
            return {303}
        # The first customer's return link: the customer or their own contact person only.
        return {200} if persona in ("professional", "customer") else ({403} if member else {404})
    if route == "/teams/{team_id}/members/{person_id}/remove":  # a coach steers teams but removes no one
        if not signed_in:
            return {303}
        return {303} if role == "professional" else ({403} if member else {404})
    if route in ("/programmes", "/rounds", "/me/calendar.ics"):
        return {200} if signed_in else {303}
    if route.startswith("/rounds/{round_id}"):
        # The second team is in the same round; the admin manages every round.
        in_round = member or persona == "other_team" or admin
        if not signed_in:
            return {303}
        if not in_round:
            return {404}
        if route.startswith("/rounds/{round_id}/exercises/{exercise_id}") and route != (
            "/rounds/{round_id}/exercises/{exercise_id}/remove"
        ):  # side by side: the round's coaches only (no exercise has the id sent)
            return {404} if persona in ("coach", "admin") else {403}
        if method == "GET":
            return {200}
        if persona not in ("coach", "admin"):
            return {403}
        # The coach's form lacks a kind or a template (400); nothing has the id sent (404).
        if route in ("/rounds/{round_id}/announcement", "/rounds/{round_id}/plenary"):
            return {303}  # no text: the announcement is taken down; the plenary board opens
        return {404} if route.endswith("/remove") else {400}
    if route == "/teams/{team_id}/members/{person_id}/contact-person":
        if not signed_in:
            return {303}
        return {303} if role == "professional" else ({403} if member else {404})
    if route == "/teams/{team_id}/boards":
        if not signed_in:
            return {303}
        return {303} if role in ("professional", "customer") else ({403} if member else {404})
    if route in ("/teams/{team_id}/agreement", "/teams/{team_id}/agreement/confirm", "/me/leave/{team_id}"):
        if not signed_in:
            return {303}
        if route == "/me/leave/{team_id}":  # only real members can leave; a programme coach is not one
            return {200} if role in ("customer", "professional", "observer") else {404}
        if method == "GET":
            return {200} if member else {404}
        if route == "/teams/{team_id}/agreement":
            return {303} if member else {404}
        if route == "/me/leave/{team_id}":  # no choice made: the page again, nothing changes
            return {200} if role in ("customer", "professional", "observer") else {404}
        return {400} if member else {404}
    if route == "/teams/{team_id}/updates":
        if not signed_in:
            return {303}
        if method == "GET":
            return {200} if member else {404}
        # No title or text sent: refused for the team's writers, nothing changes.
        return {400} if role in ("professional", "customer") else ({403} if member else {404})
    if route == "/me/email":  # no address sent: back to "my data" with the error, nothing changes
        return {303}
    if route == "/feedback/{token}":  # an invite's token is no feedback link
        return {404}
    if route == "/unsubscribe/{token}":  # an invite's token is no unsubscribe token: its purpose differs
        return {404}
    if route == "/updates":
        return {200} if signed_in else {303}
    if route == "/updates/{update_id}/replies":  # nothing was delivered to anyone yet
        return {404} if signed_in else {303}
    if route == "/teams/{team_id}/members/{person_id}/assisted-consent":
        if not signed_in:
            return {303}
        return {303} if persona == "professional" else ({403} if member else {404})
    if route in ("/me", "/me/delete") and method == "GET":
        return {200} if signed_in else {303}
    if route == "/me/delete":
        return {400} if signed_in else {303}
    if route == "/me/consents/{purpose}":
        return {303}
    if route == "/notifications/{notification_id}/dismiss":  # someone else's: refused, or a no-op
        return {303, 404} if signed_in else {303}
    if route in ("/me/export.json", "/me/export.html"):
        return {200} if signed_in else {303}
    if route.startswith("/admin/"):
        return ADMIN_PAGES[method] if admin else ({404} if signed_in else {404, 303})  # not there for anyone else
    if route.startswith(("/accessibility", "/saavutettavuusseloste", "/privacy")) or route == "/share/{token}":
        return "public"
    if route.startswith("/boards/{board_id}/"):
        if not signed_in:
            return {303}
        if not member:
            return {404}
        if route in ("/boards/{board_id}/settings", "/boards/{board_id}/history", "/boards/{board_id}/export/{kind}"):
            return {200}
        editor = role in ("customer", "professional")
        publisher = role == "professional"  # publishing outside the team: professionals only
        if route in ("/boards/{board_id}/duplicate", "/boards/{board_id}/archive", "/boards/{board_id}/restore"):
            return {303} if editor else {403}
        if route == "/boards/{board_id}/share":
            return {200} if publisher else {403}
        if route == "/boards/{board_id}/visibility":  # no choice sent: refused, nothing changes
            return {400} if publisher else {403}
    raise AssertionError(f"no expectation for {method} {route}: add one to this test")


def victim(persona: str) -> str:
    """Whose session and notification a persona tries to end and dismiss: never their own."""
    return "customer2" if persona == "customer" else "customer"


def _fill(path: str, world: World, persona: str, scope: str = "own") -> str:
    """Real ids in every id route.

    ``own``: this team's board, team and invite, its first customer, and someone else's
    session and notification. ``other_team``: the second team's board, team, invite and
    professional. ``mixed``: this team's path with the second team's invite and person in it.
    """
    board, team = (world.second_board, world.second_team) if scope == "other_team" else (world.board, world.team)
    own_objects = scope == "own"
    return (
        path.replace("{board_id}", board)
        .replace("{team_id}", team)
        .replace("{invite_id}", world.invite_id if own_objects else world.second_invite_id)
        .replace("{person_id}", world.people["customer"] if own_objects else world.second_professional)
        .replace("{token}", world.invite_token)
        .replace("{session_id}", world.sessions[victim(persona)])
        .replace("{provider_id}", "0" * 32)
        .replace("{purpose}", "quotes")
        .replace("{notification_id}", world.notifications[victim(persona)])
        .replace("{update_id}", "0" * 32)
        .replace("{kind}", "md")
        .replace("{organisation_id}", world.organisation)
        .replace("{programme_id}", world.programme)
        .replace("{round_id}", world.round)
        .replace("{exercise_id}", "0" * 32)
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
    "/rounds/{round_id}/sessions",
    "/rounds/{round_id}/sessions/{session_id}",
    "/rounds/{round_id}/sessions/{session_id}/remove",
    "/rounds/{round_id}/exercises",
    "/rounds/{round_id}/timer",
    "/rounds/{round_id}/exercises/{exercise_id}/comments",
    "/rounds/{round_id}/announcement",
    "/rounds/{round_id}/plenary",
    "/rounds/{round_id}/exercises/{exercise_id}/remove",
}
#: Routes filled with someone else's object: whatever they answer, nothing may change.
OTHERS_OBJECTS = {"/account/sessions/{session_id}/end", "/notifications/{notification_id}/dismiss"}
FORM = {"role": "customer", "title": "T", "display_name": "Nimi"}


def _order(route: tuple[str, str]) -> tuple[bool, bool]:
    # Signing out last: it ends the session the other requests use; removing and erasing people
    # and archiving the board just before.
    return route[0].startswith("/signout"), route[0].endswith(("/remove", "/archive", "/erase", "/end-sessions"))


def _request(client: TestClient, world: World, path: str, method: str, url: str, csrf: str) -> Any:
    if method != "POST":
        return client.get(url)
    headers = {"X-CSRF-Token": csrf} if path == "/session/extend" else {}
    data = {"csrf": csrf, **FORM, "contact_person_id": world.people["professional"]}
    return client.post(url, data=data, headers=headers)


def _signed_in_client(client: TestClient, world: World, persona: str) -> str:
    if persona != "anonymous":
        client.cookies.set("kumppani", world.tokens[persona])
    client.get("/healthz")
    return str(client.cookies["kumppani-csrf"])


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_route_for_every_persona(migrated_url: str, tmp_path: Path, persona: str) -> None:
    world = asyncio.run(build_world(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        csrf = _signed_in_client(client, world, persona)
        # The rows as they are now, while only refused requests have come since it was read.
        known: dict[str, list[tuple[str, ...]]] | None = None
        for path, method in sorted(_routes(client.app), key=_order):
            want = expected(path, method, persona)
            if want == "public" or path == "/static":
                continue
            url = _fill(path, world, persona)
            before = (known or asyncio.run(fingerprint(migrated_url))) if method == "POST" else None
            response = _request(client, world, path, method, url, csrf)
            assert response.status_code in want, f"{persona} {method} {path}: {response.status_code}, wanted {want}"
            refused = (
                response.status_code in (401, 403, 404)
                or path in OTHERS_OBJECTS
                or (
                    response.status_code == 303
                    and response.headers.get("location", "").startswith("/signin")
                    and path in MUTATING_FOR_FINGERPRINT
                )
            )
            if before is not None and refused:
                after = asyncio.run(fingerprint(migrated_url))
                assert after == before, f"{persona} {path} changed {_changes(before, after)}"
                known = after
            elif not refused:
                known = None  # an allowed request may change rows (a page view can write an audit entry)


def _id_routes(client: TestClient, *names: str) -> list[tuple[str, str]]:
    return [
        (path, method)
        for path, method in sorted(_routes(client.app), key=_order)
        if any("{" + n + "}" in path for n in names) and not path.startswith("/admin")
    ]


# Everyone but the second team's own professional, the round's coach (who coaches both teams)
# and the admin: for them the second team's objects do not exist.
STRANGERS_TO_THE_SECOND_TEAM = [p for p in PERSONAS if p not in ("other_team", "coach", "admin")]


@pytest.mark.parametrize("persona", STRANGERS_TO_THE_SECOND_TEAM)
def test_another_teams_objects_do_not_exist_and_stay_as_they_were(
    migrated_url: str, tmp_path: Path, persona: str
) -> None:
    world = asyncio.run(build_world(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        csrf = _signed_in_client(client, world, persona)
        before = asyncio.run(fingerprint(migrated_url))
        for path, method in _id_routes(client, "team_id", "board_id"):
            if expected(path, method, persona) == "public":
                continue
            response = _request(client, world, path, method, _fill(path, world, persona, "other_team"), csrf)
            want = {303} if persona == "anonymous" else {404}
            assert response.status_code in want, f"{persona} {method} {path}: {response.status_code}, wanted {want}"
            if method == "POST":
                after = asyncio.run(fingerprint(migrated_url))
                assert after == before, f"{persona} {path} changed {_changes(before, after)}"


@pytest.mark.parametrize("persona", ["professional", "coach", "customer", "admin"])
def test_another_teams_invite_or_person_under_this_teams_path_changes_nothing(
    migrated_url: str, tmp_path: Path, persona: str
) -> None:
    world = asyncio.run(build_world(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        csrf = _signed_in_client(client, world, persona)
        before = asyncio.run(fingerprint(migrated_url))
        for path, method in _id_routes(client, "invite_id", "person_id"):
            response = _request(client, world, path, method, _fill(path, world, persona, "mixed"), csrf)
            assert response.status_code in (303, 400, 403, 404), f"{persona} {method} {path}: {response.status_code}"
            after = asyncio.run(fingerprint(migrated_url))
            assert after == before, f"{persona} {path} changed {_changes(before, after)}"


def test_every_route_has_an_expectation(migrated_url: str, tmp_path: Path) -> None:
    with make_client(migrated_url, tmp_path) as client:
        for path, method in _routes(client.app):
            expected(path, method, "customer")
        ws = [r.path for r in client.app.routes if isinstance(r, WebSocketRoute)]
    assert ws == ["/ws/boards/{board_id}", "/ws/rounds/{round_id}/dashboard"]


# ------------------------------------------------------------------ websocket message types


WS_EXPECTED = {
    # persona: (can connect, may edit, may comment)
    "customer": (True, True, True),
    "customer2": (True, True, True),
    "professional": (True, True, True),
    "professional2": (True, True, True),
    "admin": (False, False, False),
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
                may_facilitate = persona in ("customer", "customer2", "professional", "professional2", "coach")
                allowed = {"edit": may_edit, "comment": may_comment, "facilitate": may_facilitate}[need]
                before = None if allowed else await fingerprint(url)
                try:
                    ack = await client.call(command)
                except ClientError as exc:
                    if allowed:
                        # Allowed but refused by the domain (e.g. nothing to undo): never a permission error.
                        assert exc.error.code != p.ErrorCode.FORBIDDEN, (persona, command)
                    else:
                        assert exc.error.code == p.ErrorCode.FORBIDDEN, (persona, command, exc.error)
                        # The refusal is answered after its transaction is over: nothing written, so
                        # nothing can be published either (events go out only after a commit).
                        after = await fingerprint(url)
                        assert before is not None
                        assert after == before, f"{persona}'s refused {command} changed {_changes(before, after)}"
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


async def test_a_customer_who_has_not_accepted_the_agreement_has_no_board(
    live: LiveServer, seeded: Seeded, migrated_url: str
) -> None:
    engine = create_engine(migrated_url)
    async with engine.begin() as conn:
        newcomer = await d.create_person(conn, "Uusi Asiakas")
        await d.add_member(conn, seeded.team, newcomer, "customer", contact_person_id=seeded.professional)
        token = await create_session(conn, newcomer, absolute=timedelta(hours=1))
    await engine.dispose()
    client = BoardClient(live.ws_url(seeded.board), cookie=f"kumppani={token}", origin=live.base)
    with pytest.raises(ConnectionRefusedError):
        await client.connect()
    assert client.closed_code == p.CloseCode.NOT_FOUND
    # The customers who have accepted it are on the board.
    accepted = BoardClient(live.ws_url(seeded.board), cookie=seeded.cookie("customer2"), origin=live.base)
    await accepted.connect()
    await accepted.close()


async def _dashboard_matrix(url: str, tmp_path: Path) -> None:
    import json

    import websockets

    from auth import consent
    from auth.models import Membership, Person

    world = await build_world(url)
    engine = create_engine(url)
    async with engine.connect() as conn:
        customers = (
            (
                await conn.execute(
                    select(Membership.person_id).where(Membership.team_id == world.team, Membership.role == "customer")
                )
            )
            .scalars()
            .all()
        )
        names = (await conn.execute(select(Person.display_name).where(Person.id.in_(customers)))).scalars().all()
        agreed = [c for c in customers if not (await consent.agreement_status(conn, c, world.team)).blocks_content]
    await engine.dispose()
    server = LiveServer(settings_for(url, tmp_path)).start()
    try:
        for persona in PERSONAS:
            headers = [] if persona == "anonymous" else [("Cookie", f"kumppani={world.tokens[persona]}")]
            async with websockets.connect(
                f"ws://127.0.0.1:{server.port}/ws/rounds/{world.round}/dashboard",
                additional_headers=headers,
                origin=websockets.Origin(server.base),
            ) as ws:
                try:
                    raw = await asyncio.wait_for(ws.recv(), 5)
                except websockets.ConnectionClosed as closed:
                    want = p.CloseCode.UNAUTHENTICATED if persona == "anonymous" else p.CloseCode.NOT_FOUND
                    assert persona not in ("coach", "admin"), f"the {persona} could not open the dashboard"
                    assert closed.rcvd is not None and closed.rcvd.code == want, persona
                    continue
            assert persona in ("coach", "admin"), f"{persona} opened the coach's dashboard"
            frame = json.loads(raw)
            team = next(t for t in frame["teams"] if t["team"] == world.team)
            # Counts only: how many customers and accepted agreements, never who.
            assert (team["customers"], team["agreements"]) == (len(customers), len(agreed))
            for secret in [*customers, *names]:
                assert secret and secret not in str(raw), "the dashboard names a customer"
    finally:
        server.stop()


def test_only_the_coach_and_admin_open_the_dashboard_and_it_holds_counts_only(
    migrated_url: str, tmp_path: Path
) -> None:
    asyncio.run(_dashboard_matrix(migrated_url, tmp_path))
