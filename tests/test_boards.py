"""Co-development boards: every template, the typical operations, facilitator controls, exports."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from auth import consent
from auth.models import Team
from boards import protocol as p
from boards.catalogue import create_board
from boards.client import BoardClient, ClientError
from boards.models import Item
from boards.templates import TEMPLATE_NAMES
from conftest import LiveServer, Seeded
from foundation.db import create_engine, new_id
from webapp import csrf_of, make_client, sign_in_as

EXPECTED_STRUCTURE = {
    "journey": {"stage": 7, "lane": 6},
    "journey_short": {"stage": 3, "lane": 6},
    "persona": {"persona": 1},
    "service_change": {"stage": 3, "lane": 4},
    "picture_cards": {"picture": 8},
    "findings": {"theme": 2},
    "ideas": {"stage": 5},
    "service_model": {"stage": 7, "lane": 4},
    "blank": {},
}


async def _new_board(url: str, seeded: Seeded, template: str) -> tuple[str, dict[str, list[dict[str, object]]]]:
    engine = create_engine(url)
    async with engine.begin() as conn:
        board = await create_board(conn, f"Taulu {template}", template, team_id=seeded.team)
        rows = (
            await conn.execute(
                select(Item.id, Item.type, Item.fields).where(Item.board_id == board).order_by(Item.order_key)
            )
        ).all()
    await engine.dispose()
    by_type: dict[str, list[dict[str, object]]] = {}
    for item_id, kind, fields in rows:
        by_type.setdefault(kind, []).append({"id": item_id, **fields})
    return board, by_type


def _client(live: LiveServer, seeded: Seeded, board: str, who: str = "professional") -> BoardClient:
    return BoardClient(live.ws_url(board), cookie=seeded.cookie(who), origin=live.base)


def test_every_template_has_its_structure(migrated_url: str, seeded: Seeded) -> None:
    assert set(EXPECTED_STRUCTURE) == set(TEMPLATE_NAMES)
    for template, expected in EXPECTED_STRUCTURE.items():
        _, by_type = asyncio.run(_new_board(migrated_url, seeded, template))
        assert {k: len(v) for k, v in by_type.items()} == expected, template
    _, journey = asyncio.run(_new_board(migrated_url, seeded, "journey"))
    assert journey["stage"][0]["title"] == "Ennen yhteydenottoa"
    assert [s["title"] for s in journey["stage"]][-1] == "Seuranta ja palvelutarpeen arviointi"
    assert [lane["kind"] for lane in journey["lane"]] == [
        "actions",
        "touchpoints",
        "feelings",
        "pain_points",
        "critical_points",
        "opportunities",
    ]
    _, change = asyncio.run(_new_board(migrated_url, seeded, "service_change"))
    assert change["lane"][0]["title"] == "Mihin asiakkaat käyttävät palvelua?"


async def test_journey_typical_operations_and_exports(
    live: LiveServer, seeded: Seeded, migrated_url: str, tmp_path: Path
) -> None:
    board, structure = await _new_board(migrated_url, seeded, "journey")
    pro = _client(live, seeded, board)
    customer = _client(live, seeded, board, "customer")
    await pro.connect()
    await customer.connect()
    stage, lane = structure["stage"][1]["id"], structure["lane"][3]["id"]
    pain = new_id()
    await pro.call(
        p.ItemCreate(id=pain, item_type="card", fields={"text": "Jonotus kestää 40 minuuttia"}, stage=stage, lane=lane)
    )
    mine = new_id()
    await customer.call(
        p.ItemCreate(id=mine, item_type="card", fields={"text": "Kukaan ei soittanut takaisin"}, stage=stage, lane=lane)
    )
    await customer.call(p.ItemCreate(id=new_id(), item_type="comment", fields={"text": "Sama kokemus"}, parent=pain))
    await pro.call(p.ItemUpdate(id=structure["stage"][1]["id"], fields={"emotion": -2}))
    await pro.call(p.ItemUpdate(id=pain, fields={"critical": "information_transfer"}))
    await customer.call(p.VoteAdd(id=pain))
    await pro.call(p.BoardSet(votes_revealed=True))  # exports show totals once revealed
    last = await pro.call(p.ReactionAdd(id=pain, emoji="👍"))
    await customer.wait_seq(last.seq)
    assert customer.replica.items[structure["stage"][1]["id"]]["fields"]["emotion"] == -2

    with make_client(migrated_url, tmp_path) as http:
        sign_in_as(http, seeded.tokens["professional"])
        csrf = csrf_of(http, f"/boards/{board}/settings")
        markdown = http.post(f"/boards/{board}/export/md", data={"csrf": csrf}).text
        rows = list(csv.reader(io.StringIO(http.post(f"/boards/{board}/export/csv", data={"csrf": csrf}).text)))
        data = json.loads(http.post(f"/boards/{board}/export/json", data={"csrf": csrf}).text)
        pdf = http.post(f"/boards/{board}/export/pdf", data={"csrf": csrf})
        page = http.post(f"/boards/{board}/export/html", data={"csrf": csrf}).text
    # The professional's card is there, with its place and votes; the customer gave no quote consent.
    assert "## Yhteydenoton käsittely – Kipupisteet" in markdown
    assert "- Jonotus kestää 40 minuuttia (1 ääntä)" in markdown
    assert "Kukaan ei soittanut takaisin" not in markdown and "lainauslupaa" in markdown
    assert "Sama kokemus" not in markdown
    assert [
        "Yhteydenoton käsittely",
        "Kipupisteet",
        "card",
        "Jonotus kestää 40 minuuttia",
        "1",
        "(teksti ei ole mukana: kirjoittaja ei ole antanut lainauslupaa)",
    ] in rows
    cell = next(c for c in data["cells"] if c["stage"] == "Yhteydenoton käsittely")
    assert cell["items"][0]["fields"].get("text") == "Jonotus kestää 40 minuuttia"
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert "Jonotus kestää 40 minuuttia" in page and "Kukaan ei soittanut" not in page

    # With quote consent, the customer's words are included.
    engine = create_engine(migrated_url)
    async with engine.begin() as conn:
        await consent.give(conn, seeded.customer, "quotes", await consent.current_text(conn, "quotes", None, "fi"))
    await engine.dispose()
    with make_client(migrated_url, tmp_path) as http:
        sign_in_as(http, seeded.tokens["professional"])
        csrf = csrf_of(http, f"/boards/{board}/settings")
        markdown = http.post(f"/boards/{board}/export/md", data={"csrf": csrf}).text
    assert "- Kukaan ei soittanut takaisin" in markdown and "  - 💬 Sama kokemus" in markdown
    await pro.close()
    await customer.close()


async def test_ideas_votes_hidden_until_revealed_and_tests_follow(
    live: LiveServer, seeded: Seeded, migrated_url: str
) -> None:
    board, structure = await _new_board(migrated_url, seeded, "ideas")
    columns = {s["status"]: s["id"] for s in structure["stage"]}
    pro = _client(live, seeded, board)
    customer = _client(live, seeded, board, "customer")
    observer = _client(live, seeded, board, "observer")
    for c in (pro, customer, observer):
        await c.connect()
    idea = new_id()
    await customer.call(
        p.ItemCreate(
            id=idea,
            item_type="idea",
            fields={"title": "Sama hoitaja aamuin illoin", "cornerstone": "human_encounter"},
            stage=columns["idea"],
        )
    )
    for voter in (pro, pro, customer):
        await voter.call(p.VoteAdd(id=idea))
    await observer.wait_seq(customer.replica.seq)
    assert observer.replica.vote_totals == {}  # hidden until the facilitator reveals
    with pytest.raises(ClientError) as refused:
        await observer.call(p.BoardSet(votes_revealed=True))
    assert refused.value.error.code == p.ErrorCode.FORBIDDEN
    revealed = await pro.call(p.BoardSet(votes_revealed=True))
    await observer.wait_seq(revealed.seq)
    assert observer.replica.vote_totals == {idea: 3} and observer.replica.board["votes_revealed"] is True
    # The idea becomes a test with a result the team and coach can follow.
    await pro.call(p.ItemMove(id=idea, stage=columns["testing"]))
    test = new_id()
    await pro.call(
        p.ItemCreate(
            id=test,
            item_type="test",
            fields={
                "idea_ref": idea,
                "hypothesis": "Tuttu hoitaja vähentää huolta",
                "what": "Vakituinen pari kahdelle viikolle",
                "with_whom": "Kymmenen asiakasta",
                "measure": "Huolikysely",
                "when": "maaliskuu",
                "status": "running",
            },
            stage=columns["testing"],
        )
    )
    last = await pro.call(
        p.ItemUpdate(id=test, fields={"status": "done", "result": "adopt", "learned": "Asiakkaat rauhallisempia"})
    )
    await customer.wait_seq(last.seq)
    assert customer.replica.items[test]["fields"]["result"] == "adopt"
    assert customer.replica.items[idea]["stage"] == columns["testing"]
    for c in (pro, customer, observer):
        await c.close()


async def test_lock_stops_edits_until_unlocked_and_the_timer_runs(
    live: LiveServer, seeded: Seeded, migrated_url: str
) -> None:
    board, structure = await _new_board(migrated_url, seeded, "journey_short")
    pro = _client(live, seeded, board)
    customer = _client(live, seeded, board, "customer")
    await pro.connect()
    await customer.connect()
    locked = await pro.call(p.BoardSet(locked=True, timer_seconds=300))
    await customer.wait_seq(locked.seq)
    assert customer.replica.board["locked"] is True and customer.replica.board["timer_ends_at"]
    with pytest.raises(ClientError) as refused:
        await customer.call(
            p.ItemCreate(
                id=new_id(),
                item_type="card",
                fields={"text": "tauolla"},
                stage=structure["stage"][0]["id"],
                lane=structure["lane"][0]["id"],
            )
        )
    assert refused.value.error.code == p.ErrorCode.LOCKED
    await pro.call(p.BoardSet(locked=False, timer_seconds=0))
    ack = await customer.call(
        p.ItemCreate(
            id=new_id(),
            item_type="card",
            fields={"text": "tauon jälkeen"},
            stage=structure["stage"][0]["id"],
            lane=structure["lane"][0]["id"],
        )
    )
    await pro.wait_seq(ack.seq)
    assert pro.replica.board["timer_ends_at"] is None
    renamed = await customer.call(p.BoardSet(title="Uusi nimi"))
    undo = await customer.call(p.Undo(seq=renamed.seq))
    await pro.wait_seq(undo.seq)
    assert pro.replica.board["title"] == "Taulu journey_short"
    await pro.close()
    await customer.close()


async def test_persona_picture_cards_and_findings_take_their_items(
    live: LiveServer, seeded: Seeded, migrated_url: str
) -> None:
    persona_board, persona = await _new_board(migrated_url, seeded, "persona")
    client = _client(live, seeded, persona_board)
    await client.connect()
    persona_id = persona["persona"][0]["id"]
    last = await client.call(
        p.ItemUpdate(
            id=persona_id,
            fields={
                "name": "Aino, 82",
                "avatar": "👵",
                "life_situation": "Asuu yksin kerrostalossa",
                "segment": "S2",
                "quote": "En halua olla vaivaksi.",
            },
        )
    )
    await client.wait_seq(last.seq)
    assert client.replica.items[persona_id]["fields"]["segment"] == "S2"
    with pytest.raises(ClientError) as bad:
        await client.call(p.ItemUpdate(id=persona_id, fields={"segment": "S9"}))
    assert bad.value.error.code == p.ErrorCode.BAD_FIELD
    await client.close()

    pictures_board, pictures = await _new_board(migrated_url, seeded, "picture_cards")
    client = _client(live, seeded, pictures_board, "customer")
    await client.connect()
    picture = pictures["picture"][0]
    assert Path(__file__).parent.parent.joinpath("web", "static", "pictures", f"{picture['picture']}.svg").exists()
    note = new_id()
    await client.call(
        p.ItemCreate(id=note, item_type="card", fields={"text": "Työntekijä kysyy mielipidettäni"}, stage=picture["id"])
    )
    await client.call(
        p.ItemCreate(id=new_id(), item_type="comment", fields={"text": "Ryhmän huomio"}, parent=picture["id"])
    )
    await client.close()

    findings_board, findings = await _new_board(migrated_url, seeded, "findings")
    client = _client(live, seeded, findings_board)
    await client.connect()
    theme = findings["theme"][0]["id"]
    finding = new_id()
    await client.call(
        p.ItemCreate(id=finding, item_type="finding", fields={"text": "Tieto ei kulje", "key": True}, stage=theme)
    )
    hmw = await client.call(
        p.ItemCreate(
            id=new_id(),
            item_type="question",
            stage=findings["theme"][1]["id"],
            fields={"text": "Miten voisimme varmistaa, että tieto kulkee?"},
        )
    )
    await client.wait_seq(hmw.seq)
    assert client.replica.items[finding]["fields"]["key"] is True
    await client.close()


def test_duplicate_archive_restore_history_and_share(migrated_url: str, seeded: Seeded, tmp_path: Path) -> None:
    with make_client(migrated_url, tmp_path) as http:
        sign_in_as(http, seeded.tokens["professional"])
        csrf = csrf_of(http, f"/boards/{seeded.board}/settings")
        copy = http.post(f"/boards/{seeded.board}/duplicate", data={"csrf": csrf})
        assert copy.status_code == 303
        copy_id = copy.headers["location"].rsplit("/", 1)[1]
        assert "Asiakaspolku (kopio)" in http.get(f"/boards/{copy_id}").text
        assert http.post(f"/boards/{copy_id}/archive", data={"csrf": csrf}).status_code == 303
        assert "Asiakaspolku (kopio)" not in http.get(f"/teams/{seeded.team}").text
        assert http.post(f"/boards/{copy_id}/restore", data={"csrf": csrf}).status_code == 303
        assert "Asiakaspolku (kopio)" in http.get(f"/teams/{seeded.team}").text
        history = http.get(f"/boards/{copy_id}/history").text
        assert history.count("<li>") >= 2  # archived, restored
        shared = http.post(f"/boards/{seeded.board}/share", data={"csrf": csrf}).text
        link = shared.split('id="share-link" class="wide" value="')[1].split('"')[0].split("testserver")[1]
    with make_client(migrated_url, tmp_path) as anyone:
        page = anyone.get(link)
        assert page.status_code == 200 and "<h1>Asiakaspolku</h1>" in page.text and "/ws/" not in page.text
    with make_client(migrated_url, tmp_path) as http:
        sign_in_as(http, seeded.tokens["professional"])
        csrf = csrf_of(http, f"/boards/{seeded.board}/settings")
        http.post(f"/boards/{seeded.board}/share", data={"csrf": csrf, "revoke": "yes"})
        assert http.get(link).status_code == 410


def test_round_visibility_lets_other_teams_read_but_not_write(
    migrated_url: str, seeded: Seeded, tmp_path: Path
) -> None:
    from datetime import timedelta

    from auth import directory as d
    from auth.sessions import create_session

    async def other_team_member() -> str:
        engine = create_engine(migrated_url)
        async with engine.begin() as conn:
            programme = await d.create_programme(conn, "Ohjelma")
            round_id = await d.create_round(conn, programme, "Kierros")
            await conn.execute(update(Team).where(Team.id == seeded.team).values(round_id=round_id))
            other = await d.create_team(conn, "Naapuritiimi", seeded.org, round_id)
            person = await d.create_person(conn, "Naapuri")
            await d.add_member(conn, other, person, "professional")
            token = await create_session(conn, person, absolute=timedelta(hours=1))
        await engine.dispose()
        return token

    token = asyncio.run(other_team_member())
    with make_client(migrated_url, tmp_path) as http:
        http.cookies.set("kumppani", token)
        assert http.get(f"/boards/{seeded.board}").status_code == 404
        sign_in_as(http, seeded.tokens["professional"])
        csrf = csrf_of(http, f"/boards/{seeded.board}/settings")
        assert (
            http.post(f"/boards/{seeded.board}/visibility", data={"csrf": csrf, "visibility": "round"}).status_code
            == 303
        )
        http.cookies.set("kumppani", token)
        assert http.get(f"/boards/{seeded.board}").status_code == 200
        csrf = csrf_of(http, f"/boards/{seeded.board}/settings")
        assert http.post(f"/boards/{seeded.board}/duplicate", data={"csrf": csrf}).status_code == 403


def test_demo_seeds_a_journey_a_persona_and_an_idea_board_in_finnish(migrated_url: str, tmp_path: Path) -> None:
    from conftest import settings_for
    from server.demo import run_demo

    output = asyncio.run(run_demo(settings_for(migrated_url, tmp_path)))
    assert "/invite/" in output and "paula" in output

    async def boards() -> dict[str, int]:
        from boards.models import Board

        engine = create_engine(migrated_url)
        async with engine.connect() as conn:
            rows = (await conn.execute(select(Board.template, Board.item_count))).all()
        await engine.dispose()
        counts: dict[str, int] = {}
        for template, items in rows:
            counts[template] = max(items, counts.get(template, 0))
        return counts

    seeded_boards = asyncio.run(boards())
    assert seeded_boards["journey"] > 13 and seeded_boards["persona"] >= 2 and seeded_boards["ideas"] > 5


def test_demo_seeds_a_round_of_three_teams_with_a_schedule_and_customers(migrated_url: str, tmp_path: Path) -> None:
    from auth.models import Round, ScheduledSession, Team
    from boards.round_dashboard import team_summaries
    from conftest import settings_for
    from server.demo import run_demo

    asyncio.run(run_demo(settings_for(migrated_url, tmp_path)))

    async def read() -> tuple[int, list[str], list[tuple[int, int]]]:
        engine = create_engine(migrated_url)
        async with engine.connect() as conn:
            round_id = (await conn.execute(select(Round.id))).scalar_one()
            sessions = (
                await conn.execute(select(ScheduledSession.kind).where(ScheduledSession.round_id == round_id))
            ).scalars()
            kinds = sorted(sessions)
            teams = int(
                (await conn.execute(select(func.count()).select_from(Team).where(Team.round_id == round_id))).scalar()
                or 0
            )
            counts = [(s.customers, s.agreements) for s in await team_summaries(conn, round_id)]
        await engine.dispose()
        return teams, kinds, counts

    teams, kinds, counts = asyncio.run(read())
    assert teams == 3
    assert kinds.count("workshop") == 4 and {"info", "site_visit", "coaching"} <= set(kinds)
    assert sum(c for c, _ in counts) == 4 and sum(a for _, a in counts) == 3
