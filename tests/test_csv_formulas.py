"""CSV exports neutralise what a spreadsheet would run as a formula, in the cells that hold user text."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from auth import audit
from auth.sessions import create_session
from boards import protocol as p
from boards.client import BoardClient
from boards.models import Item
from conftest import LiveServer, Seeded
from foundation.db import create_engine, new_id
from webapp import csrf_of, make_client, sign_in_as

# What a spreadsheet starts evaluating: =, +, -, @, and a tab or carriage return before one.
FORMULAS = ('=HYPERLINK("https://evil.example")', "+1+2", "-3+4", "@SUM(A1)", "\t=1", "\r=1")


async def test_board_csv_neutralises_stage_names_card_texts_and_comments(
    live: LiveServer, seeded: Seeded, migrated_url: str, tmp_path: Path
) -> None:
    pro = BoardClient(live.ws_url(seeded.board), cookie=seeded.cookie("professional"), origin=live.base)
    await pro.connect()
    last = await pro.call(p.ItemUpdate(id=seeded.stage, fields={"title": "=STAGE()"}))
    cards = {}
    for text in FORMULAS:
        card = new_id()
        cards[card] = text
        await pro.call(
            p.ItemCreate(id=card, item_type="card", fields={"text": text}, stage=seeded.stage, lane=seeded.lane)
        )
    first = next(iter(cards))
    last = await pro.call(p.ItemCreate(id=new_id(), item_type="comment", fields={"text": "=COMMENT()"}, parent=first))
    await pro.wait_seq(last.seq)
    await pro.close()

    engine = create_engine(migrated_url)
    async with engine.connect() as conn:
        stored = dict((await conn.execute(select(Item.id, Item.fields).where(Item.id.in_(cards)))).all())
    await engine.dispose()
    with make_client(migrated_url, tmp_path) as http:
        sign_in_as(http, seeded.tokens["professional"])
        csrf = csrf_of(http, f"/boards/{seeded.board}/settings")
        rows = list(csv.reader(io.StringIO(http.post(f"/boards/{seeded.board}/export/csv", data={"csrf": csrf}).text)))
    header, body = rows[0], rows[1:]
    text_at, stage_at, comments_at = header.index("text"), header.index("stage"), header.index("comments")
    exported = {row[text_at] for row in body}
    for card, text in cards.items():
        # The text as stored (the board may tidy whitespace), with a quote in front.
        assert "'" + stored[card]["text"] in exported, text
    assert not any(row[text_at][:1] in "=+-@\t\r" for row in body if row[text_at])
    assert {row[stage_at] for row in body} == {"'=STAGE()"}
    assert "'=COMMENT()" in {row[comments_at] for row in body}


def test_audit_csv_neutralises_every_cell(migrated_url: str, seeded: Seeded, tmp_path: Path) -> None:
    import asyncio

    async def hostile_event() -> str:
        engine = create_engine(migrated_url)
        async with engine.begin() as conn:
            await audit.record(
                conn, "=ACTION()", actor_id="+ACTOR", object_type="@TYPE", object_id="-ID", team_id="=TEAM"
            )
            token = await create_session(conn, seeded.admin, absolute=timedelta(hours=1))
        await engine.dispose()
        return token

    token = asyncio.run(hostile_event())
    with make_client(migrated_url, tmp_path) as client:
        sign_in_as(client, token)
        csrf = csrf_of(client, "/admin")
        response = client.post("/admin/audit.csv", data={"csrf": csrf})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.text)))
    (row,) = [r for r in rows if "'=ACTION()" in r]
    assert {"'+ACTOR", "'@TYPE", "'-ID", "'=TEAM"} <= set(row)
    assert not any(cell[:1] in "=+-@\t\r" for r in rows[1:] for cell in r if cell)
