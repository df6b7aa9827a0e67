"""The participation agreement gates every write to team content, not only reads.

The POST routes are read from the app itself: a new route is walked automatically,
and only the routes listed in ``NOT_TEAM_CONTENT`` (each with its reason) are left
out. A customer who has not accepted the agreement is refused on every other one,
and the refusal changes no row of any table.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.routing import Route

from auth import consent
from auth import directory as d
from auth.invites import create_invite
from auth.models import Invite
from auth.sessions import create_session
from boards import protocol as p
from boards.catalogue import create_board
from boards.client import BoardClient
from boards.models import Board, Item
from conftest import LiveServer, settings_for
from foundation.db import create_engine
from server.models import metadata
from webapp import make_client

KEYS = ("test-secret-key-" + "x" * 32,)

# Routes a customer must reach before accepting: none of them writes the team's content.
NOT_TEAM_CONTENT = {
    "/signin": "signing in",
    "/signout": "signing out",
    "/signout/everywhere": "signing out",
    "/account/sessions/{session_id}/end": "ending one's own session",
    "/session/extend": "keeping one's session alive",
    "/lang": "choosing the language",
    "/invite/{token}": "joining: the agreement is shown right after",
    "/return/{token}": "signing in with a personal link",
    "/welcome": "one's own display name",
    "/teams/{team_id}/agreement": "accepting the agreement itself",
    "/teams/{team_id}/agreement/confirm": "confirming or declining an assisted agreement",
    "/teams/{team_id}/members/{person_id}/return-link": "a personal sign-in link for another device",
    "/me/consents/{purpose}": "giving or withdrawing an optional consent",
    "/me/leave/{team_id}": "leaving the team",
    "/me/delete": "deleting one's account",
    "/me/export.json": "the right of access to one's data",
    "/me/export.html": "the right of access to one's data",
    "/notifications/{notification_id}/dismiss": "dismissing one's own notice",
    "/accessibility/feedback": "feedback on accessibility, not about the team",
    "/csp-report": "browser reports",
    "/me/email": "one's own e-mail address",
    "/signin/email": "asking for a sign-in link",
    "/unsubscribe/{token}": "stopping progress e-mails, without signing in",
    "/feedback/{token}": "anonymous feedback, tied to no person",
    # Replies come from people an update reached, those who left (agreement withdrawn) included.
    "/updates/{update_id}/replies": "answering an update one received",
}


@dataclass
class Unagreed:
    team: str
    board: str
    card: str
    invite_id: str
    invite_token: str
    customer: str
    professional: str
    token: str


async def _world(url: str) -> Unagreed:
    engine = create_engine(url)
    async with engine.begin() as conn:
        org = await d.create_organisation(conn, "Kunta")
        programme = await d.create_programme(conn, "Valmennus", org)
        round_id = await d.create_round(conn, programme, "Kierros")
        team = await d.create_team(conn, "Tiimi", org, round_id)
        pro = await d.create_person(conn, "Paula Ammattilainen")
        customer = await d.create_person(conn, "Kalle Asiakas")
        await d.add_member(conn, team, pro, "professional")
        # Kalle joined but has not accepted the participation agreement.
        await d.add_member(conn, team, customer, "customer", contact_person_id=pro)
        board = await create_board(conn, "Polku", "journey", team_id=team)
        card = (await conn.execute(select(Item.id).where(Item.board_id == board, Item.type == "stage"))).scalar()
        invite_token = await create_invite(
            conn, KEYS, team_id=team, role="customer", created_by=pro, contact_person_id=pro
        )
        invite_id = (await conn.execute(select(Invite.id))).scalar()
        token = await create_session(conn, customer, absolute=timedelta(hours=1))
        # The default texts are written on first read; written now, so that only a write by a route shows.
        await consent.ensure_default_texts(conn)
    await engine.dispose()
    assert card and invite_id
    return Unagreed(team, board, card, invite_id, invite_token, customer, pro, token)


async def _everything(url: str) -> dict[str, list[str]]:
    """The contents of every table (sessions aside: reading a page touches their last-seen time)."""
    engine = create_engine(url)
    out = {}
    async with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name == "auth_session":
                continue
            out[table.name] = sorted(repr(tuple(r)) for r in (await conn.execute(select(table))).all())
    await engine.dispose()
    return out


def _post_routes(app: Any) -> list[str]:
    return sorted(r.path for r in app.routes if isinstance(r, Route) and "POST" in (r.methods or ()))


def _fill(path: str, world: Unagreed) -> str:
    values = {
        "team_id": world.team,
        "board_id": world.board,
        "invite_id": world.invite_id,
        "person_id": world.customer,
        "token": world.invite_token,
        "kind": "md",
        "purpose": "quotes",
    }
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), world.team), path)


# Every field any form of the app takes, with a value that would be accepted.
def _form(world: Unagreed, csrf: str) -> dict[str, str]:
    return {
        "csrf": csrf,
        "title": "Uusi taulu",
        "template": "journey",
        "role": "customer",
        "contact_person_id": world.professional,
        "visibility": "round",
        "name": "Nimi",
        "display_name": "Nimi",
        "text": "Teksti",
        "message": "Viesti",
        "person_id": world.customer,
        "programme_id": world.team,
        "organisation_id": world.team,
        "round_id": world.team,
        "team_id": world.team,
        "facilitator": "yes",
        "contributions": "anonymise",
    }


def test_an_unagreed_customer_is_refused_on_every_write_route(migrated_url: str, tmp_path: Path) -> None:
    world = asyncio.run(_world(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        client.cookies.set("kumppani", world.token)
        client.get("/healthz")
        csrf = client.cookies["kumppani-csrf"]
        routes = _post_routes(client.app)
        assert set(NOT_TEAM_CONTENT) <= set(routes), "an exempt route no longer exists: drop it from the list"
        walked = [path for path in routes if path not in NOT_TEAM_CONTENT]
        assert "/teams/{team_id}/boards" in walked and len(walked) >= 15
        before = asyncio.run(_everything(migrated_url))
        for path in walked:
            response = client.post(_fill(path, world), data=_form(world, csrf))
            assert response.status_code in (403, 404), f"POST {path}: {response.status_code}"
            assert asyncio.run(_everything(migrated_url)) == before, f"POST {path} changed something"


def test_the_same_customer_writes_once_the_agreement_is_accepted(migrated_url: str, tmp_path: Path) -> None:
    """The refusals above come from the agreement: accepting it opens the same routes."""
    world = asyncio.run(_world(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        client.cookies.set("kumppani", world.token)
        client.get("/healthz")
        csrf = client.cookies["kumppani-csrf"]
        refused = client.post(f"/teams/{world.team}/boards", data=_form(world, csrf))
        assert refused.status_code == 403
        accepted = client.post(f"/teams/{world.team}/agreement", data={"csrf": csrf, "accept": "yes"})
        assert accepted.status_code == 303
        created = client.post(f"/teams/{world.team}/boards", data=_form(world, csrf))
        assert created.status_code == 303 and created.headers["location"].startswith("/boards/")


async def _websocket_refused(url: str, tmp_path: Path) -> None:
    world = await _world(url)
    server = LiveServer(settings_for(url, tmp_path)).start()
    try:
        client = BoardClient(server.ws_url(world.board), cookie=f"kumppani={world.token}", origin=server.base)
        with pytest.raises(ConnectionRefusedError):
            await client.connect()
        assert client.closed_code == p.CloseCode.NOT_FOUND
    finally:
        server.stop()
    engine = create_engine(url)
    async with engine.connect() as conn:
        assert (await conn.execute(select(Board.seq).where(Board.id == world.board))).scalar() == 0
        assert not await consent.customers_needing_agreement(conn, world.team, [world.professional])
    await engine.dispose()


def test_an_unagreed_customer_cannot_open_a_board_socket(migrated_url: str, tmp_path: Path) -> None:
    asyncio.run(_websocket_refused(migrated_url, tmp_path))
