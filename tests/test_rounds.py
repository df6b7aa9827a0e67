"""Coaching rounds: programmes and rounds pages, the schedule and its calendar files, what a coach
sees of a team (counts, never who) and the coach's live dashboard."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import websockets
from sqlalchemy import select, update
from starlette.testclient import TestClient

from auth import consent
from auth import directory as d
from auth.models import Membership, Person, ScheduledSession
from auth.sessions import create_session
from boards import protocol as p
from boards.catalogue import create_board
from boards.client import BoardClient
from conftest import LiveServer, settings_for
from foundation.db import create_engine
from webapp import make_client


@dataclass
class Round:
    programme: str
    round: str
    teams: dict[str, str]
    boards: dict[str, str]
    people: dict[str, str]
    tokens: dict[str, str]


async def _round(url: str) -> Round:
    """A programme with a round of two teams of different organisations; in the first team two
    customers, one of whom has accepted the agreement; a coach; someone of another programme."""
    engine = create_engine(url)
    async with engine.begin() as conn:
        org_a = await d.create_organisation(conn, "Itäkunta")
        org_b = await d.create_organisation(conn, "Länsikunta")
        programme = await d.create_programme(conn, "Sujuvat palvelut")
        round_id = await d.create_round(conn, programme, "Kierros 1")
        other_programme = await d.create_programme(conn, "Muu ohjelma")
        teams = {
            "a": await d.create_team(conn, "Kotihoito", org_a, round_id),
            "b": await d.create_team(conn, "Perhekeskus", org_b, round_id),
        }
        people = {
            "coach": await d.create_person(conn, "Veera Valmentaja", email="veera@example.org"),
            "pro": await d.create_person(conn, "Paula Ammattilainen", email="paula@example.org"),
            "pro_b": await d.create_person(conn, "Pirjo Toinen", email="pirjo@example.org"),
            "customer": await d.create_person(conn, "Kalle Asiakas", email="kalle@example.org"),
            "customer2": await d.create_person(conn, "Kaisa Uusi"),
            "other_coach": await d.create_person(conn, "Olli Muuvalmentaja"),
        }
        for who, phone in (("pro", "0401234567"), ("customer", "0507654321")):
            await conn.execute(update(Person).where(Person.id == people[who]).values(phone=phone))
        await d.add_programme_coach(conn, programme, people["coach"])
        await d.add_programme_coach(conn, other_programme, people["other_coach"])
        await d.add_member(conn, teams["a"], people["pro"], "professional")
        await d.add_member(conn, teams["b"], people["pro_b"], "professional")
        await d.add_member(conn, teams["a"], people["customer"], "customer", contact_person_id=people["pro"])
        await d.add_member(conn, teams["a"], people["customer2"], "customer", contact_person_id=people["pro"])
        text = await consent.current_text(conn, "agreement", teams["a"], "fi")
        await consent.give(conn, people["customer"], "agreement", text, team_id=teams["a"])
        boards = {key: await create_board(conn, "Asiakaspolku", "journey", team_id=team) for key, team in teams.items()}
        tokens = {key: await create_session(conn, pid, absolute=timedelta(hours=1)) for key, pid in people.items()}
    await engine.dispose()
    return Round(programme, round_id, teams, boards, people, tokens)


def _as(client: TestClient | httpx.Client, world: Round, who: str) -> str:
    client.cookies.set("kumppani", world.tokens[who])
    page = client.get("/rounds")
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def _post(client: TestClient | httpx.Client, world: Round, who: str, path: str, **data: str) -> Any:
    return client.post(path, data={"csrf": _as(client, world, who), **data})


def _get(client: TestClient | httpx.Client, world: Round, who: str, path: str) -> Any:
    _as(client, world, who)
    return client.get(path)


def _sessions(url: str) -> list[Any]:
    async def read() -> list[Any]:
        engine = create_engine(url)
        async with engine.connect() as conn:
            rows = list((await conn.execute(select(ScheduledSession))).all())
        await engine.dispose()
        return rows

    return asyncio.run(read())


WORKSHOP = {
    "kind": "workshop",
    "title": "Työpaja 1: asiakasymmärrys",
    "date": "2027-01-15",
    "start": "09:00",
    "end": "12:00",
    "place": "Kunnantalo, sali 2",
    "online_url": "https://meet.example.org/tyopaja1",
    "agenda": "Asiakaspolku ja persoonat",
}


def test_programmes_and_rounds_pages_show_only_ones_own(migrated_url: str, tmp_path: Path) -> None:
    world = asyncio.run(_round(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        for who in ("coach", "pro", "customer"):
            _as(client, world, who)
            assert "Sujuvat palvelut" in client.get("/programmes").text, who
            assert "Kierros 1" in client.get("/rounds").text, who
            assert client.get(f"/rounds/{world.round}").status_code == 200, who
        _as(client, world, "other_coach")
        assert "Sujuvat palvelut" not in client.get("/programmes").text
        assert "Muu ohjelma" in client.get("/programmes").text
        assert client.get(f"/rounds/{world.round}").status_code == 404
        assert client.get(f"/rounds/{world.round}/calendar.ics").status_code == 404
        client.cookies.clear()
        assert client.get("/rounds").status_code == 303


def test_a_coach_schedules_a_session_in_helsinki_time_and_the_calendar_shows_it(
    migrated_url: str, tmp_path: Path
) -> None:
    world = asyncio.run(_round(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        assert _post(client, world, "coach", f"/rounds/{world.round}/sessions", **WORKSHOP).status_code == 303
        page = client.get(f"/rounds/{world.round}").text
        assert "15.01.2027 09.00–12.00" in page and "Kunnantalo, sali 2" in page
        # A member of a team of the round reads the schedule and gets it as a calendar.
        _as(client, world, "customer")
        assert "Työpaja 1: asiakasymmärrys" in client.get(f"/rounds/{world.round}").text
        ics = client.get("/me/calendar.ics")
        assert ics.headers["content-type"].startswith("text/calendar")
        body = ics.text.replace("\r\n ", "")
        # 09:00 in Helsinki in January (UTC+2) is 07:00 UTC.
        assert "DTSTART:20270115T070000Z" in body and "DTEND:20270115T100000Z" in body
        assert "SEQUENCE:0" in body and "SUMMARY:Työpaja 1: asiakasymmärrys" in body
        assert "LOCATION:Kunnantalo\\, sali 2" in body
        assert all(len(line.encode()) <= 75 for line in ics.text.split("\r\n"))
        _as(client, world, "other_coach")
        assert "VEVENT" not in client.get("/me/calendar.ics").text


def test_moving_a_session_keeps_its_uid_and_raises_its_sequence(migrated_url: str, tmp_path: Path) -> None:
    world = asyncio.run(_round(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        _post(client, world, "coach", f"/rounds/{world.round}/sessions", **WORKSHOP)
        (session,) = _sessions(migrated_url)
        before = client.get(f"/rounds/{world.round}/calendar.ics").text
        uid = re.search(r"UID:(\S+)", before)
        assert uid and session.id in uid.group(1)
        moved = {**WORKSHOP, "date": "2027-06-15", "start": "10:00", "end": "11:30"}
        answer = _post(client, world, "coach", f"/rounds/{world.round}/sessions/{session.id}", **moved)
        assert answer.status_code == 303
        after = client.get(f"/rounds/{world.round}/calendar.ics").text
        assert f"UID:{uid.group(1)}" in after and after.count("BEGIN:VEVENT") == 1
        assert "SEQUENCE:1" in after
        # 10:00 in Helsinki in June (UTC+3) is 07:00 UTC.
        assert "DTSTART:20270615T070000Z" in after and "DTEND:20270615T083000Z" in after
        # Saving it unchanged does not raise the sequence.
        _post(client, world, "coach", f"/rounds/{world.round}/sessions/{session.id}", **moved)
        assert "SEQUENCE:1" in client.get(f"/rounds/{world.round}/calendar.ics").text


def test_bad_sessions_are_refused_with_a_reason_and_change_nothing(migrated_url: str, tmp_path: Path) -> None:
    world = asyncio.run(_round(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        cases = {
            "Valitse tapaamisen laji": {"kind": "party"},
            "Anna tapaamiselle otsikko": {"title": "  "},
            "Anna päivä ja kellonaika": {"date": "15.1.2027"},
            "ei voi päättyä ennen": {"end": "08:00"},
            "pitää alkaa https://": {"online_url": "javascript:alert(1)"},
        }
        for message, change in cases.items():
            answer = _post(client, world, "coach", f"/rounds/{world.round}/sessions", **{**WORKSHOP, **change})
            assert answer.status_code == 400, change
            assert message in answer.text, change
        assert _sessions(migrated_url) == []
        # Team members read the schedule but do not change it; others do not see the round at all.
        assert _post(client, world, "pro", f"/rounds/{world.round}/sessions", **WORKSHOP).status_code == 403
        assert _post(client, world, "customer", f"/rounds/{world.round}/sessions", **WORKSHOP).status_code == 403
        assert _post(client, world, "other_coach", f"/rounds/{world.round}/sessions", **WORKSHOP).status_code == 404
        assert _sessions(migrated_url) == []
        assert "Uusi tapaaminen" not in client.get(f"/rounds/{world.round}").text


def test_a_coach_sees_counts_only_on_the_team_page_and_cannot_remove_members(migrated_url: str, tmp_path: Path) -> None:
    world = asyncio.run(_round(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        _as(client, world, "coach")
        page = client.get(f"/teams/{world.teams['a']}").text
        assert "Asiakkaita 2, sopimuksen hyväksyneitä 1" in page
        for secret in ("paula@example.org", "0401234567", "kalle@example.org", "0507654321", "Sopimus:"):
            assert secret not in page, secret
        assert "Poista tiimistä" not in page
        answer = _post(client, world, "coach", f"/teams/{world.teams['a']}/members/{world.people['customer2']}/remove")
        assert answer.status_code == 403
        # The round page: every team with its counts, no one's name or contact details.
        round_page = client.get(f"/rounds/{world.round}").text
        assert "Kotihoito" in round_page and "Perhekeskus" in round_page
        for secret in ("Kalle", "Kaisa", "paula@example.org"):
            assert secret not in round_page, secret
        # The professional still sees the customer's contact details as their contact person.
        _as(client, world, "pro")
        assert "kalle@example.org" in client.get(f"/teams/{world.teams['a']}").text

    async def still_member() -> bool:
        engine = create_engine(migrated_url)
        async with engine.connect() as conn:
            row = (
                await conn.execute(select(Membership.id).where(Membership.person_id == world.people["customer2"]))
            ).first()
        await engine.dispose()
        return row is not None

    assert asyncio.run(still_member())


async def _frame(ws: Any, timeout: float = 5) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), timeout)
    frame: dict[str, Any] = json.loads(raw)
    return frame


async def _dashboard(url: str, tmp_path: Path) -> None:
    world = await _round(url)
    server = LiveServer(settings_for(url, tmp_path)).start()
    dashboard_url = f"ws://127.0.0.1:{server.port}/ws/rounds/{world.round}/dashboard"
    origin = websockets.Origin(server.base)
    try:
        async with websockets.connect(
            dashboard_url, additional_headers=[("Cookie", f"kumppani={world.tokens['coach']}")], origin=origin
        ) as ws:
            raw_first = await asyncio.wait_for(ws.recv(), 5)
            first = json.loads(raw_first)
            assert first["t"] == "dashboard" and first["full"] is True
            teams = {t["name"]: t for t in first["teams"]}
            assert set(teams) == {"Kotihoito", "Perhekeskus"}
            assert (teams["Kotihoito"]["customers"], teams["Kotihoito"]["agreements"]) == (2, 1)
            assert teams["Kotihoito"]["open_tests"] == 0 and "last_activity" not in teams["Kotihoito"]
            for secret in ("Kalle", "Kaisa", world.people["customer"], "example.org"):
                assert secret not in raw_first, secret
            # A professional of team B plans a test on their board: the dashboard hears of it.
            pro_b = BoardClient(
                server.ws_url(world.boards["b"]), cookie=f"kumppani={world.tokens['pro_b']}", origin=server.base
            )
            await pro_b.connect()
            await pro_b.call(
                p.ItemCreate(id="testcard01", item_type="test", fields={"what": "Soitto", "status": "running"})
            )
            changed = await _frame(ws)
            assert changed["t"] == "dashboard" and "full" not in changed
            assert [t["name"] for t in changed["teams"]] == ["Perhekeskus"]
            assert changed["teams"][0]["open_tests"] == 1 and changed["teams"][0]["last_activity"]
            await pro_b.call(p.ItemUpdate(id="testcard01", fields={"status": "done"}))
            done = await _frame(ws)
            assert (done["teams"][0]["open_tests"], done["teams"][0]["finished_tests"]) == (0, 1)
            await pro_b.close()
        # Nobody but the round's coaches (and admins) opens the dashboard.
        for who in ("pro", "customer", "other_coach"):
            async with websockets.connect(
                dashboard_url, additional_headers=[("Cookie", f"kumppani={world.tokens[who]}")], origin=origin
            ) as ws:
                try:
                    await asyncio.wait_for(ws.recv(), 5)
                    raise AssertionError(f"{who} got a dashboard frame")
                except websockets.ConnectionClosed as closed:
                    assert closed.rcvd is not None and closed.rcvd.code == p.CloseCode.NOT_FOUND, who
    finally:
        server.stop()


def test_the_coach_dashboard_updates_live_with_counts_only(migrated_url: str, tmp_path: Path) -> None:
    asyncio.run(_dashboard(migrated_url, tmp_path))


def _boards_of(url: str, exercise: bool = True) -> list[Any]:
    from boards.models import Board

    async def read() -> list[Any]:
        engine = create_engine(url)
        async with engine.connect() as conn:
            query = select(Board.id, Board.team_id, Board.title, Board.exercise_id)
            if exercise:
                query = query.where(Board.exercise_id.is_not(None))
            rows = list((await conn.execute(query)).all())
        await engine.dispose()
        return rows

    return asyncio.run(read())


def test_a_coach_pushes_an_exercise_to_every_team_and_takes_it_back_while_empty(
    migrated_url: str, tmp_path: Path
) -> None:
    world = asyncio.run(_round(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        exercise = {"title": "Persoonat", "template": "persona"}
        # Members of the teams do not push exercises; bad input changes nothing.
        assert _post(client, world, "pro", f"/rounds/{world.round}/exercises", **exercise).status_code == 403
        bad = _post(client, world, "coach", f"/rounds/{world.round}/exercises", title="Persoonat", template="nope")
        assert bad.status_code == 400 and "Valitse pohja listasta" in bad.text
        assert _boards_of(migrated_url) == []
        assert _post(client, world, "coach", f"/rounds/{world.round}/exercises", **exercise).status_code == 303
        pushed = _boards_of(migrated_url)
        assert sorted(b.team_id for b in pushed) == sorted(world.teams.values())
        assert len({b.exercise_id for b in pushed}) == 1
        # Each team sees it among its boards.
        for who, team in (("pro", "a"), ("pro_b", "b")):
            _as(client, world, who)
            assert "Persoonat" in client.get(f"/teams/{world.teams[team]}").text
        _as(client, world, "coach")
        page = client.get(f"/rounds/{world.round}").text
        assert "Poista harjoitus kaikilta tiimeiltä: Persoonat" in page
        remove = f"/rounds/{world.round}/exercises/{pushed[0].exercise_id}/remove"
        assert _post(client, world, "coach", remove).status_code == 303
        assert _boards_of(migrated_url) == []
        # Pushed again and worked on by one team: it stays.
        _post(client, world, "coach", f"/rounds/{world.round}/exercises", **exercise)
        pushed = _boards_of(migrated_url)

    async def edit() -> None:
        server = LiveServer(settings_for(migrated_url, tmp_path)).start()
        try:
            board = next(b.id for b in pushed if b.team_id == world.teams["b"])
            pro_b = BoardClient(server.ws_url(board), cookie=f"kumppani={world.tokens['pro_b']}", origin=server.base)
            await pro_b.connect()
            await pro_b.call(p.ItemCreate(id="persona001", item_type="persona", fields={"name": "Aino"}))
            await pro_b.close()
        finally:
            server.stop()

    asyncio.run(edit())
    with make_client(migrated_url, tmp_path) as client:
        refused = _post(client, world, "coach", f"/rounds/{world.round}/exercises/{pushed[0].exercise_id}/remove")
        assert refused.status_code == 409 and "ainakin yksi tiimi on jo työstänyt" in refused.text
        assert len(_boards_of(migrated_url)) == 2


async def _raw_board_socket(server: LiveServer, board: str, token: str) -> Any:
    ws = await websockets.connect(
        server.ws_url(board),
        additional_headers=[("Cookie", f"kumppani={token}")],
        origin=websockets.Origin(server.base),
    )
    await ws.send(json.dumps({"t": "hello", "v": p.PROTOCOL_VERSION}))
    while (await _frame(ws))["t"] != "synced":
        pass
    return ws


async def _next_round_frame(ws: Any) -> dict[str, Any]:
    while True:
        frame = await _frame(ws)
        if frame["t"] == "round":
            return frame


async def _facilitation(url: str, tmp_path: Path) -> None:
    from datetime import datetime

    world = await _round(url)
    server = LiveServer(settings_for(url, tmp_path)).start()
    try:
        team_a = await _raw_board_socket(server, world.boards["a"], world.tokens["pro"])
        team_b = await _raw_board_socket(server, world.boards["b"], world.tokens["pro_b"])
        # Through the live server: its hub is the one the boards' sockets are on.
        with httpx.Client(base_url=server.base, follow_redirects=False) as client:
            assert (
                _post(client, world, "coach", f"/rounds/{world.round}/timer", action="start", minutes="5").status_code
                == 303
            )
            frames = [await _next_round_frame(ws) for ws in (team_a, team_b)]
            assert frames[0] == frames[1] and frames[0]["round"] == world.round
            left = (datetime.fromisoformat(frames[0]["timer_ends_at"]) - datetime.now().astimezone()).total_seconds()
            assert 290 < left <= 300
            _post(client, world, "coach", f"/rounds/{world.round}/timer", action="pause")
            paused = [await _next_round_frame(ws) for ws in (team_a, team_b)]
            assert all("timer_ends_at" not in f and 290 < f["timer_paused_seconds"] <= 300 for f in paused)
            _post(client, world, "coach", f"/rounds/{world.round}/timer", action="add", minutes="2")
            added = await _next_round_frame(team_a)
            assert added["timer_paused_seconds"] == paused[0]["timer_paused_seconds"] + 120
            await _next_round_frame(team_b)
            _post(
                client, world, "coach", f"/rounds/{world.round}/announcement", text="Tauko loppuu, palatkaa tauluille"
            )
            said = [await _next_round_frame(ws) for ws in (team_a, team_b)]
            assert all(f["announcement"] == "Tauko loppuu, palatkaa tauluille" for f in said)
            # Team members do not steer the round; bad input is refused with a reason and sends nothing.
            assert _post(client, world, "pro", f"/rounds/{world.round}/timer", action="stop").status_code == 403
            bad = _post(client, world, "coach", f"/rounds/{world.round}/timer", action="start", minutes="0")
            assert bad.status_code == 400 and "Anna aika minuutteina" in bad.text
            code = _post(client, world, "coach", f"/rounds/{world.round}/announcement", text="Kalle 131052-308T")
            assert code.status_code == 400 and "henkilötunnus" in code.text
            # Everyone to the plenary board: a round board that every member of the round opens.
            assert _post(client, world, "coach", f"/rounds/{world.round}/plenary").status_code == 303
            plenary = [await _next_round_frame(ws) for ws in (team_a, team_b)]
            board = plenary[0]["plenary"]
            assert board and plenary[1]["plenary"] == board and plenary[0]["timer_paused_seconds"]
            for who in ("pro", "pro_b", "customer", "coach"):
                assert _get(client, world, who, f"/boards/{board}").status_code == 200, who
            # The state read when a board connects is the state the frames carry.
            state = _get(client, world, "customer", f"/rounds/{world.round}/facilitation").json()
            assert state["plenary"] == board and state["announcement"] == "Kaikki yhteiselle taululle!"
            assert _get(client, world, "other_coach", f"/rounds/{world.round}/facilitation").status_code == 404
            assert _get(client, world, "other_coach", f"/boards/{board}").status_code == 404
        await team_a.close()
        await team_b.close()
    finally:
        server.stop()


def test_the_round_timer_and_announcements_reach_every_teams_boards(migrated_url: str, tmp_path: Path) -> None:
    asyncio.run(_facilitation(migrated_url, tmp_path))


async def _side_by_side(url: str, tmp_path: Path) -> None:
    world = await _round(url)
    server = LiveServer(settings_for(url, tmp_path)).start()
    try:
        with httpx.Client(base_url=server.base, follow_redirects=False) as client:
            _post(client, world, "coach", f"/rounds/{world.round}/exercises", title="Ideat", template="ideas")
            boards = {b.team_id: b for b in await asyncio.to_thread(_boards_of, url)}
            exercise = boards[world.teams["a"]].exercise_id
            for who, team, idea in (("pro", "a", "Soittokierros aamuisin"), ("pro_b", "b", "Perhekahvila")):
                writer = BoardClient(
                    server.ws_url(boards[world.teams[team]].id),
                    cookie=f"kumppani={world.tokens[who]}",
                    origin=server.base,
                )
                await writer.connect()
                await writer.call(p.ItemCreate(id=f"idea-{team}-0001", item_type="idea", fields={"title": idea}))
                await writer.close()
            view = f"/rounds/{world.round}/exercises/{exercise}"
            page = _get(client, world, "coach", view).text
            assert "Soittokierros aamuisin" in page and "Perhekahvila" in page
            assert page.index("Kotihoito") < page.index("Soittokierros") < page.index("Perhekeskus")
            assert _get(client, world, "pro", view).status_code == 403
            assert _get(client, world, "other_coach", view).status_code == 404
            # The coach comments on team A's idea; team A sees it live on its own board.
            team_a = BoardClient(
                server.ws_url(boards[world.teams["a"]].id), cookie=f"kumppani={world.tokens['pro']}", origin=server.base
            )
            await team_a.connect()
            comment = {
                "board_id": boards[world.teams["a"]].id,
                "item_id": "idea-a-0001",
                "text": "Hyvä! Kokeilkaa viikko.",
            }
            answer = await asyncio.to_thread(_post, client, world, "coach", f"{view}/comments", **comment)
            assert answer.status_code == 303
            await team_a.wait_for(
                lambda r: any(
                    i["type"] == "comment" and i["fields"].get("text") == comment["text"] for i in r.items.values()
                )
            )
            await team_a.close()
            assert "Hyvä! Kokeilkaa viikko." in _get(client, world, "coach", view).text
            # A comment on another round's board, or an empty one, is refused and writes nothing.
            wrong = {**comment, "board_id": world.boards["a"]}
            assert _post(client, world, "coach", f"{view}/comments", **wrong).status_code == 404
            empty = _post(client, world, "coach", f"{view}/comments", **{**comment, "text": " "})
            assert empty.status_code == 400 and "Kirjoita kommentti ensin" in empty.text
            assert _post(client, world, "pro", f"{view}/comments", **comment).status_code == 403
            assert _get(client, world, "coach", view).text.count("Hyvä! Kokeilkaa viikko.") == 1
    finally:
        server.stop()


def test_a_coach_reads_every_teams_work_side_by_side_and_comments_on_it(migrated_url: str, tmp_path: Path) -> None:
    asyncio.run(_side_by_side(migrated_url, tmp_path))
