"""`GET /api/boards`: exactly the boards the person may open now, as the websocket decides."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from auth import directory
from auth.sessions import create_session
from boards.catalogue import create_board
from boards.models import Board
from conftest import Seeded
from foundation.db import create_engine, utcnow
from webapp import make_client, sign_in_as


async def _world(url: str, seeded: Seeded) -> dict[str, str]:
    """An archived board, and a customer who has not accepted the team's agreement."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            archived = await create_board(conn, "Vanha", "blank", team_id=seeded.team)
            await conn.execute(update(Board).where(Board.id == archived).values(archived_at=utcnow()))
            newcomer = await directory.create_person(conn, "Uusi Asiakas")
            await directory.add_member(conn, seeded.team, newcomer, "customer", contact_person_id=seeded.professional)
            token = await create_session(conn, newcomer, absolute=timedelta(hours=1))
    finally:
        await engine.dispose()
    return {"archived": archived, "newcomer": token}


def _listed(url: str, tmp_path: Path, token: str) -> list[dict[str, object]]:
    with make_client(url, tmp_path) as client:
        sign_in_as(client, token)
        answer = client.get("/api/boards")
    assert answer.status_code == 200
    boards: list[dict[str, object]] = answer.json()["boards"]
    return boards


def test_the_listing_shows_what_each_person_may_open(migrated_url: str, seeded: Seeded, tmp_path: Path) -> None:
    world = asyncio.run(_world(migrated_url, seeded))
    expected = {"id": seeded.board, "title": "Asiakaspolku", "template": "journey", "team": seeded.team, "round": None}
    for who, role in (("professional", "professional"), ("customer", "customer"), ("observer", "observer")):
        assert _listed(migrated_url, tmp_path, seeded.tokens[who]) == [{**expected, "role": role}]
    assert _listed(migrated_url, tmp_path, seeded.tokens["outsider"]) == []  # another team's boards only
    assert _listed(migrated_url, tmp_path, world["newcomer"]) == []  # the agreement comes first
    with make_client(migrated_url, tmp_path) as client:
        refused = client.get("/api/boards")
    assert refused.status_code == 401 and refused.json() == {"error": "Sign in first."}


async def _round_with_coach(url: str, seeded: Seeded) -> tuple[str, str, str]:
    """The team joins a coaching round with its own board; a programme coach. (round board, token, round)"""
    from auth.models import Team

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            programme = await directory.create_programme(conn, "Kehittämisohjelma", seeded.org)
            round_id = await directory.create_round(conn, programme, "Kevät")
            await conn.execute(update(Team).where(Team.id == seeded.team).values(round_id=round_id))
            coach = await directory.create_person(conn, "Kaisa Valmentaja")
            await directory.add_programme_coach(conn, programme, coach)
            board = await create_board(conn, "Kierroksen ideat", "ideas", round_id=round_id)
            token = await create_session(conn, coach, absolute=timedelta(hours=1))
    finally:
        await engine.dispose()
    return board, token, round_id


def test_a_coach_sees_the_rounds_board_and_its_teams_boards(migrated_url: str, seeded: Seeded, tmp_path: Path) -> None:
    board, coach, round_id = asyncio.run(_round_with_coach(migrated_url, seeded))
    listed = {b["id"]: (b["role"], b["team"], b["round"]) for b in _listed(migrated_url, tmp_path, coach)}
    assert listed == {seeded.board: ("coach", seeded.team, None), board: ("coach", None, round_id)}
    pro = {b["id"]: b["role"] for b in _listed(migrated_url, tmp_path, seeded.tokens["professional"])}
    assert pro == {seeded.board: "professional", board: "professional"}
