"""Realistic Finnish content for the demo journey: what a home-care customer meets."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from boards import protocol as p
from boards.engine import Limits, Submission, apply_batch
from boards.models import Item
from foundation.db import new_id

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


PERSONAS = [
    {
        "name": "Aino, 82",
        "avatar": "👵",
        "life_situation": "Asuu yksin kerrostalossa. Tytär käy viikonloppuisin.",
        "problems": "Muisti heikkenee. Ei jaksa jonottaa puhelimessa.",
        "goals": "Haluaa asua kotona mahdollisimman pitkään.",
        "service_use": "Kotihoito kahdesti päivässä, ateriapalvelu.",
        "quote": "En halua olla kenellekään vaivaksi.",
        "segment": "S2",
    },
    {
        "name": "Matti, 67, omaishoitaja",
        "avatar": "🧓",
        "life_situation": "Hoitaa puolisoaan kotona.",
        "problems": "Ei ehdi omiin menoihin. Tieto tukipalveluista on hajallaan.",
        "goals": "Vapaapäiviä ja yksi yhteyshenkilö.",
        "service_use": "Omaishoidon tuki, intervallijaksot.",
        "quote": "Kun soitan, haluan puhua jonkun kanssa, joka tuntee meidät.",
        "segment": "S3",
    },
]
IDEAS = [
    ("idea", "Sama hoitaja aamuin illoin", "human_encounter"),
    ("idea", "Takaisinsoitto tunnin sisällä", "earning_trust"),
    ("voted", "Omaiselle kutsu kotikäynnille", "proactive_approach"),
]


async def seed_personas(conn: AsyncConnection, board_id: str, author_id: str) -> None:
    persona = (await conn.execute(select(Item.id).where(Item.board_id == board_id, Item.type == "persona"))).scalar()
    submissions: list[Submission] = []
    if persona:
        submissions.append(Submission(author_id, "demo-persona-0", p.ItemUpdate(id=persona, fields=PERSONAS[0])))
    submissions.append(
        Submission(author_id, "demo-persona-1", p.ItemCreate(id=new_id(), item_type="persona", fields=PERSONAS[1]))
    )
    await _apply(conn, board_id, submissions)


async def seed_ideas(conn: AsyncConnection, board_id: str, author_id: str) -> None:
    columns = {
        row.status: row.id
        for row in (
            await conn.execute(
                select(Item.id, Item.fields["status"].as_string().label("status")).where(
                    Item.board_id == board_id, Item.type == "stage"
                )
            )
        ).all()
    }
    submissions = [
        Submission(
            author_id,
            f"demo-idea-{i}",
            p.ItemCreate(
                id=new_id(),
                item_type="idea",
                fields={"title": title, "cornerstone": cornerstone},
                stage=columns[status],
            ),
        )
        for i, (status, title, cornerstone) in enumerate(IDEAS)
    ]
    await _apply(conn, board_id, submissions)


async def _apply(conn: AsyncConnection, board_id: str, submissions: list[Submission]) -> None:
    outcomes = await apply_batch(conn, board_id, submissions, Limits())
    failed = [o.error for o in outcomes if o.error is not None]
    if failed:
        raise RuntimeError(f"demo content was refused: {failed[0].message}")
