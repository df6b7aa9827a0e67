"""A client written from docs/protocol.md alone: httpx and websockets, no code of ours.

It signs in as the document says (the CSRF cookie, then the form), lists its boards with
`GET /api/boards`, opens one, creates a card, edits it and moves another card directly after
it, reading only raw frames. If the document and the server part ways, this test fails.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import websockets

from auth.directory import add_local_account
from conftest import LiveServer, Seeded
from foundation.db import create_engine

USERNAME, PASSWORD = "paula", "salasana-joka-on-pitka"
TIMEOUT = 5.0


async def _give_local_account(url: str, seeded: Seeded) -> None:
    """Setting up the account (an administrator's job: `kumppani user add`), not part of the client."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await add_local_account(conn, seeded.professional, USERNAME, PASSWORD)
    finally:
        await engine.dispose()


class Frames:
    """Raw JSON frames from the board socket, as a client reads them."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def until(self, wanted: Any) -> dict[str, Any]:
        async def loop() -> dict[str, Any]:
            while True:
                frame = json.loads(await self.ws.recv())
                self.seen.append(frame)
                if wanted(frame):
                    return frame

        return await asyncio.wait_for(loop(), TIMEOUT)

    async def answer(self, op_id: str) -> dict[str, Any]:
        return await self.until(lambda f: f["t"] in ("ack", "error") and f.get("op") == op_id)

    def _seen_event(self, seq: int) -> dict[str, Any] | None:
        return next((e for f in self.seen if f["t"] == "ops" for e in f["ops"] if e["seq"] == seq), None)

    async def event(self, seq: int) -> dict[str, Any]:
        """Event ``seq`` from an ``ops`` frame (it may come before or after the ack)."""
        if self._seen_event(seq) is None:
            await self.until(lambda f: f["t"] == "ops" and any(e["seq"] == seq for e in f["ops"]))
        found = self._seen_event(seq)
        assert found is not None
        return found


def _ordered(items: list[dict[str, Any]], cell: tuple[Any, Any, Any]) -> list[str]:
    """Section 9: compare order keys as plain strings, then ids."""
    inside = [i for i in items if (i["stage"], i["lane"], i["parent"]) == cell]
    return [i["id"] for i in sorted(inside, key=lambda i: (i["order"], i["id"]))]


async def test_a_client_written_from_the_document_signs_in_lists_opens_and_edits(
    live: LiveServer, seeded: Seeded, migrated_url: str
) -> None:
    await _give_local_account(migrated_url, seeded)
    async with httpx.AsyncClient(base_url=live.base, follow_redirects=False) as http:
        assert (await http.get("/api/boards")).status_code == 401

        # Section 1, "Getting a session": the CSRF cookie's value goes back in the form.
        await http.get("/signin")
        csrf = http.cookies["kumppani-csrf"]
        wrong = await http.post(
            "/signin", data={"username": USERNAME, "password": "väärä", "csrf": csrf}, headers={"Origin": live.base}
        )
        assert wrong.status_code == 400
        signed_in = await http.post(
            "/signin", data={"username": USERNAME, "password": PASSWORD, "csrf": csrf}, headers={"Origin": live.base}
        )
        assert signed_in.status_code == 303
        session = http.cookies["kumppani"]

        # "Finding boards": the listing, exactly the documented fields.
        listing = await http.get("/api/boards")
        assert listing.status_code == 200 and listing.headers["cache-control"] == "no-store"
        boards = listing.json()["boards"]
        assert boards == [
            {
                "id": seeded.board,
                "title": "Asiakaspolku",
                "template": "journey",
                "team": seeded.team,
                "round": None,
                "role": "professional",
            }
        ]

    board = boards[0]["id"]
    async with websockets.connect(
        f"{live.base.replace('http://', 'ws://')}/ws/boards/{board}",
        origin=websockets.Origin(live.base),
        additional_headers=[("Cookie", f"kumppani={session}")],
    ) as ws:
        frames = Frames(ws)
        await frames.send({"t": "hello", "v": 1})
        welcome = await frames.until(lambda f: f["t"] == "welcome")
        snapshot = await frames.until(lambda f: f["t"] == "snapshot")
        synced = await frames.until(lambda f: f["t"] == "synced")
        assert welcome["board"] == board and synced["seq"] == snapshot["seq"] == 0
        stages = [i for i in snapshot["items"] if i["type"] == "stage"]
        lanes = [i for i in snapshot["items"] if i["type"] == "lane"]
        stage, lane = stages[0]["id"], lanes[0]["id"]
        cell = (stage, lane, None)

        first, second, third = "c0ffee00" * 4, "c0ffee01" * 4, "c0ffee02" * 4
        for op_id, item_id, text in (("k-1", first, "Odotin puhelimessa"), ("k-2", second, "Soitto takaisin")):
            await frames.send(
                {
                    "t": "op",
                    "id": op_id,
                    "op": {
                        "type": "item.create",
                        "id": item_id,
                        "item_type": "card",
                        "fields": {"text": text},
                        "stage": stage,
                        "lane": lane,
                    },
                }
            )
            ack = await frames.answer(op_id)
            assert ack["t"] == "ack", ack
        created = await frames.event(ack["seq"])
        assert created["type"] == "item.created" and created["actor"] == welcome["person"]
        assert created["data"]["item"]["fields"] == {"text": "Soitto takaisin"}

        # Edit the first card; the event says what changed.
        await frames.send(
            {"t": "op", "id": "k-3", "op": {"type": "item.update", "id": first, "fields": {"text": "Odotin 40 min"}}}
        )
        edited = await frames.answer("k-3")
        update = await frames.event(edited["seq"])
        assert update["type"] == "item.updated" and update["data"]["fields"] == {"text": "Odotin 40 min"}

        # A third card "after the first, before the first" (a stale view) lands directly after the first.
        await frames.send(
            {
                "t": "op",
                "id": "k-4",
                "op": {
                    "type": "item.create",
                    "id": third,
                    "item_type": "card",
                    "stage": stage,
                    "lane": lane,
                    "after": first,
                    "before": first,
                },
            }
        )
        placed = await frames.answer("k-4")
        assert (await frames.event(placed["seq"]))["type"] == "item.created"

        # A fresh snapshot (sync from 0) is the board as everyone now sees it.
        await frames.send({"t": "sync", "since": 0})
        fresh = await frames.until(lambda f: f["t"] == "snapshot")
        by_id = {i["id"]: i for i in fresh["items"]}
        assert by_id[first]["fields"] == {"text": "Odotin 40 min"}
        assert _ordered(fresh["items"], cell) == [first, third, second]
        keys = [i["order"] for i in fresh["items"] if (i["stage"], i["lane"], i["parent"]) == cell]
        assert len(keys) == len(set(keys))
