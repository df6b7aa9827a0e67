"""Hidden votes stay hidden outside the board too: every export and the history page show the
reader only their own votes until the facilitator reveals, exactly as the board does."""

from __future__ import annotations

import csv
import io
import json
import re
import zlib
from pathlib import Path

from boards import protocol as p
from boards.engine import Limits, Submission, apply_batch
from conftest import Seeded
from foundation.db import create_engine, new_id
from webapp import csrf_of, make_client, sign_in_as

CARD_TEXT = "Odotusaika puhelimessa"


async def _board_with_votes(url: str, seeded: Seeded, *, revealed: bool) -> str:
    """A card with two of the customer's votes and one of the professional's."""
    card = new_id()
    ops = [
        (
            seeded.professional,
            p.ItemCreate(id=card, item_type="card", fields={"text": CARD_TEXT}, stage=seeded.stage, lane=seeded.lane),
        ),
        (seeded.customer, p.VoteAdd(id=card)),
        (seeded.customer, p.VoteAdd(id=card)),
        (seeded.professional, p.VoteAdd(id=card)),
    ]
    if revealed:
        ops.append((seeded.professional, p.BoardSet(votes_revealed=True)))
    engine = create_engine(url)
    try:
        for n, (actor, command) in enumerate(ops):
            async with engine.begin() as conn:
                [outcome] = await apply_batch(conn, seeded.board, [Submission(actor, f"seed-{n}", command)], Limits())
            assert outcome.error is None, outcome.error
    finally:
        await engine.dispose()
    return card


def _pdf_text(pdf: bytes) -> str:
    """The text shown in a PDF made by fpdf2: its (compressed) content streams, decoded."""
    shown = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            content = zlib.decompress(stream)
        except zlib.error:
            content = stream
        shown += re.findall(rb"\((.*?)\)\s*Tj", content, re.S)
    text = b"".join(shown).decode("latin-1")
    return re.sub(r"\\([()\\])", r"\1", text)


def _exports(url: str, seeded: Seeded, tmp_path: Path, who: str) -> dict[str, str]:
    with make_client(url, tmp_path) as http:
        sign_in_as(http, seeded.tokens[who])
        csrf = csrf_of(http, f"/boards/{seeded.board}/settings")
        out = {
            kind: http.post(f"/boards/{seeded.board}/export/{kind}", data={"csrf": csrf}).text
            for kind in ("md", "csv", "json", "html")
        }
        out["pdf"] = _pdf_text(http.post(f"/boards/{seeded.board}/export/pdf", data={"csrf": csrf}).content)
        out["history"] = http.get(f"/boards/{seeded.board}/history").text
    return out


def _csv_votes(text: str) -> tuple[str, str]:
    rows = list(csv.reader(io.StringIO(text)))
    row = next(r for r in rows if r[3] == CARD_TEXT)
    return rows[0][4], row[4]


def _json_item(text: str) -> dict[str, object]:
    data = json.loads(text)
    items = [i for c in data["cells"] for i in c["items"] if i["fields"].get("text") == CARD_TEXT]
    return {"votes_revealed": data["votes_revealed"], **items[0]}


async def test_hidden_votes_show_only_the_readers_own_in_every_export_and_the_history(
    migrated_url: str, seeded: Seeded, tmp_path: Path
) -> None:
    await _board_with_votes(migrated_url, seeded, revealed=False)
    pro = _exports(migrated_url, seeded, tmp_path, "professional")
    assert f"- {CARD_TEXT} (omia ääniäsi 1)" in pro["md"] and "3 ääntä" not in pro["md"]
    assert _csv_votes(pro["csv"]) == ("my_votes", "1")
    item = _json_item(pro["json"])
    assert item["votes_revealed"] is False and item["my_votes"] == 1 and "votes" not in item
    assert "omia ääniäsi 1" in pro["html"] and "3 ääntä" not in pro["html"]
    assert f"{CARD_TEXT} (omia ääniäsi 1)" in pro["pdf"] and "(3)" not in pro["pdf"]
    # The history names the reader's own vote, never the customer's.
    assert "Kalle Asiakas: äänesti" not in pro["history"]
    assert "Paula Ammattilainen: äänesti" in pro["history"]

    customer = _exports(migrated_url, seeded, tmp_path, "customer")
    assert f"- {CARD_TEXT} (omia ääniäsi 2)" in customer["md"]
    assert _csv_votes(customer["csv"]) == ("my_votes", "2")
    assert "Kalle Asiakas: äänesti" in customer["history"]
    assert "Paula Ammattilainen: äänesti" not in customer["history"]

    observer = _exports(migrated_url, seeded, tmp_path, "observer")
    assert "ään" not in observer["md"].split(CARD_TEXT)[1].splitlines()[0]
    assert _csv_votes(observer["csv"]) == ("my_votes", "0")
    assert "äänesti" not in observer["history"]


async def test_revealed_votes_show_everyones_totals_in_exports_and_history(
    migrated_url: str, seeded: Seeded, tmp_path: Path
) -> None:
    await _board_with_votes(migrated_url, seeded, revealed=True)
    observer = _exports(migrated_url, seeded, tmp_path, "observer")
    assert f"- {CARD_TEXT} (3 ääntä)" in observer["md"]
    assert _csv_votes(observer["csv"]) == ("votes", "3")
    item = _json_item(observer["json"])
    assert item["votes_revealed"] is True and item["votes"] == 3
    assert "3 ääntä" in observer["html"] and f"{CARD_TEXT} (3 ääntä)" in observer["pdf"]
    assert "Kalle Asiakas: äänesti" in observer["history"]
