"""Realistic Finnish content for the demo journey: what a home-care customer meets."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from boards import protocol as p
from boards.engine import Limits, Submission, apply_batch
from boards.models import Item
from server.db import new_id

# (stage index, lane kind, text)
JOURNEY_CARDS = [
    (0, "actions", "Tytär huomaa, ettei äiti enää jaksa käydä kaupassa."),
    (0, "feelings", "Huoli: kehen voi soittaa? Ei halua olla vaivaksi."),
    (0, "touchpoints", "Hyvinvointialueen verkkosivut"),
    (1, "actions", "Soittaa asiakasohjaukseen ja jonottaa."),
    (1, "pain_points", "Jonotus kestää 40 minuuttia, puhelu katkeaa."),
    (1, "critical_points", "Soittopyyntö ei välity oikealle työntekijälle."),
    (2, "actions", "Palveluohjaaja tulee kotikäynnille."),
    (2, "feelings", "Helpotus: joku kuuntelee ja kysyy, mikä on tärkeää."),
    (2, "opportunities", "Omaisen voi kutsua mukaan kotikäynnille."),
    (3, "pain_points", "Suunnitelmassa on vaikeita sanoja."),
    (5, "actions", "Hoitaja käy aamuisin ja iltaisin."),
    (5, "pain_points", "Joka kerta eri hoitaja, pitää kertoa kaikki uudelleen."),
    (6, "opportunities", "Puhelu kuukauden päästä: onko apu oikeanlaista?"),
]


async def seed_demo_content(conn: AsyncConnection, board_id: str, author_id: str) -> None:
    """Write the demo cards as real operations, so the board's history shows them."""
    stages = (
        (
            await conn.execute(
                select(Item.id).where(Item.board_id == board_id, Item.type == "stage").order_by(Item.order_key)
            )
        )
        .scalars()
        .all()
    )
    lanes = {
        row.kind: row.id
        for row in (
            await conn.execute(
                select(Item.id, Item.fields["kind"].as_string().label("kind")).where(
                    Item.board_id == board_id, Item.type == "lane"
                )
            )
        ).all()
    }
    submissions = [
        Submission(
            author_id,
            f"demo-{index}",
            p.ItemCreate(id=new_id(), item_type="card", fields={"text": text}, stage=stages[stage], lane=lanes[kind]),
        )
        for index, (stage, kind, text) in enumerate(JOURNEY_CARDS)
    ]
    outcomes = await apply_batch(conn, board_id, submissions, Limits())
    failed = [o.error for o in outcomes if o.error is not None]
    if failed:
        raise RuntimeError(f"demo content was refused: {failed[0].message}")
