"""Board exports: Markdown, CSV, JSON, a printable HTML page (by the caller's template) and PDF.

Public outputs quote only people who may be quoted: professionals and coaches
of the team, and customers whose latest "quotes" consent is given. Other texts
are left out with a note, so an export never publishes a customer's words
without their consent.

Votes are shown as the board shows them to the reader: everyone's totals once
the facilitator has revealed them, until then only the reader's own votes (none
on a share link, which has no reader).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from fpdf import FPDF
from sqlalchemy import false, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.consent import quote_consenters
from auth.models import Membership
from boards.models import Board, Item, Vote

STRUCTURAL = ("stage", "lane", "theme", "picture")
TEXT_FIELDS = ("title", "name", "text", "hypothesis", "why")
LEFT_OUT = {
    "fi": "(teksti ei ole mukana: kirjoittaja ei ole antanut lainauslupaa)",
    "en": "(text left out: the author has not allowed quoting)",
    "sv": "(texten är inte med: skribenten har inte gett tillstånd att citera)",
}


def export_language(locale: str) -> str:
    """The language of an export's own words: plain Finnish ("fi-selko") exports in Finnish."""
    base = locale.split("-", 1)[0]
    return base if base in LEFT_OUT else "fi"


VOTES_HIDDEN = {
    "fi": "Äänet ovat piilossa, kunnes fasilitaattori näyttää ne. Mukana ovat vain omat äänesi.",
    "en": "Votes are hidden until the facilitator reveals them. Only your own votes are shown.",
    "sv": "Rösterna är dolda tills facilitatorn visar dem. Bara dina egna röster visas.",
}
VOTE_LABEL = {
    ("fi", True): "{count} ääntä",
    ("en", True): "{count} votes",
    ("sv", True): "{count} röster",
    ("fi", False): "omia ääniäsi {count}",
    ("en", False): "your votes: {count}",
    ("sv", False): "dina röster: {count}",
}


@dataclass
class ExportItem:
    id: str
    type: str
    fields: dict[str, Any]
    quotable: bool
    votes: int = 0
    comments: list[ExportItem] = field(default_factory=list)
    author: str | None = None  # the printable page marks the author's words with their language

    def label(self) -> str:
        for name in TEXT_FIELDS:
            value = self.fields.get(name)
            if value:
                return str(value)
        return ""


@dataclass
class ExportCell:
    stage: str | None
    lane: str | None
    items: list[ExportItem]


@dataclass
class BoardExport:
    title: str
    template: str
    stages: list[ExportItem]
    lanes: list[ExportItem]
    cells: list[ExportCell]
    locale: str = "fi"
    #: False while votes are hidden: then every item's ``votes`` are the reader's own.
    votes_revealed: bool = True

    def votes_label(self, item: ExportItem) -> str:
        """ "5 votes" once revealed, "your votes: 2" while hidden; empty without votes."""
        if not item.votes:
            return ""
        return VOTE_LABEL[(_language(self), self.votes_revealed)].format(count=item.votes)

    def text_of(self, item: ExportItem) -> str:
        return item.label() if item.quotable else LEFT_OUT[export_language(self.locale)]

    def fields_of(self, item: ExportItem) -> dict[str, Any]:
        return item.fields if item.quotable else {"note": LEFT_OUT[export_language(self.locale)]}


async def _quotable_authors(conn: AsyncConnection, team_id: str | None, authors: set[str]) -> set[str]:
    if not authors:
        return set()
    staff: set[str] = set()
    if team_id is not None:
        rows = await conn.execute(
            select(Membership.person_id).where(
                Membership.team_id == team_id,
                Membership.person_id.in_(authors),
                Membership.role.in_(("professional", "coach")),
            )
        )
        staff = set(rows.scalars())
    return staff | await quote_consenters(conn, authors - staff)


async def build_export(
    conn: AsyncConnection, board_id: str, locale: str = "fi", *, reader: str | None = None
) -> BoardExport | None:
    """The board for ``reader`` (None: a share link, which shows no hidden votes)."""
    board = (
        await conn.execute(
            select(Board.title, Board.template, Board.team_id, Board.votes_revealed).where(Board.id == board_id)
        )
    ).first()
    if board is None:
        return None
    rows = (
        await conn.execute(
            select(Item.id, Item.type, Item.fields, Item.author_id, Item.parent_id, Item.stage_id, Item.lane_id)
            .where(Item.board_id == board_id, Item.deleted_seq.is_(None))
            .order_by(Item.order_key, Item.id)
        )
    ).all()
    counted = select(Vote.item_id, func.sum(Vote.count)).where(Vote.board_id == board_id)
    if not board.votes_revealed:
        counted = counted.where(Vote.person_id == reader) if reader is not None else counted.where(false())
    votes = dict((await conn.execute(counted.group_by(Vote.item_id))).all())
    quotable = await _quotable_authors(conn, board.team_id, {r.author_id for r in rows if r.author_id})
    items = {
        r.id: ExportItem(
            r.id,
            r.type,
            dict(r.fields),
            r.type in STRUCTURAL or r.author_id in quotable,
            int(votes.get(r.id) or 0),
            author=r.author_id,
        )
        for r in rows
    }
    for r in rows:
        if r.parent_id and r.parent_id in items:
            items[r.parent_id].comments.append(items[r.id])
    stages = [items[r.id] for r in rows if r.type in ("stage", "theme", "picture")]
    lanes = [items[r.id] for r in rows if r.type == "lane"]
    cells: list[ExportCell] = []
    stage_ids: list[str | None] = [s.id for s in stages] or [None]
    lane_ids: list[str | None] = [lane.id for lane in lanes] or [None]
    for stage in stage_ids:
        for lane in lane_ids:
            content = [
                items[r.id]
                for r in rows
                if r.type not in STRUCTURAL and not r.parent_id and r.stage_id == stage and r.lane_id == lane
            ]
            cells.append(ExportCell(stage, lane, content))
    loose = [
        items[r.id]
        for r in rows
        if r.type not in STRUCTURAL and not r.parent_id and (r.stage_id not in stage_ids or r.lane_id not in lane_ids)
    ]
    if loose:
        cells.append(ExportCell(None, None, loose))
    return BoardExport(board.title, board.template, stages, lanes, cells, locale, bool(board.votes_revealed))


def names_of(export: BoardExport) -> dict[str | None, str]:
    names: dict[str | None, str] = {None: ""}
    for item in export.stages + export.lanes:
        names[item.id] = item.label()
    return names


def to_markdown(export: BoardExport) -> str:
    names = names_of(export)
    lines = [f"# {export.title}", ""]
    if not export.votes_revealed:
        lines += [f"_{VOTES_HIDDEN[_language(export)]}_", ""]
    for cell in export.cells:
        if not cell.items:
            continue
        heading = " – ".join(n for n in (names.get(cell.stage, ""), names.get(cell.lane, "")) if n) or "–"
        lines += [f"## {heading}", ""]
        for item in cell.items:
            votes = f" ({export.votes_label(item)})" if item.votes else ""
            lines.append(f"- {_md(export.text_of(item))}{votes}")
            if item.quotable and item.type in ("persona", "test", "idea"):
                for name, value in item.fields.items():
                    if value not in (None, "") and name not in TEXT_FIELDS[:2]:
                        lines.append(f"  - {name}: {_md(str(value))}")
            for comment in item.comments:
                lines.append(f"  - 💬 {_md(export.text_of(comment))}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _language(export: BoardExport) -> str:
    return export_language(export.locale)


def _md(text: str) -> str:
    return " ".join(text.split()).replace("<", "&lt;")


def _csv_safe(value: object) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas: neutralise them."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(export: BoardExport) -> str:
    names = names_of(export)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["stage", "lane", "type", "text", "votes" if export.votes_revealed else "my_votes", "comments"])
    for cell in export.cells:
        for item in cell.items:
            writer.writerow(
                [
                    _csv_safe(v)
                    for v in (
                        names.get(cell.stage, ""),
                        names.get(cell.lane, ""),
                        item.type,
                        export.text_of(item),
                        item.votes,
                        " | ".join(export.text_of(c) for c in item.comments),
                    )
                ]
            )
    return out.getvalue()


def to_json(export: BoardExport) -> str:
    names = names_of(export)

    def item(i: ExportItem) -> dict[str, Any]:
        return {
            "id": i.id,
            "type": i.type,
            "fields": export.fields_of(i),
            ("votes" if export.votes_revealed else "my_votes"): i.votes,
            "comments": [item(c) for c in i.comments],
        }

    return json.dumps(
        {
            "title": export.title,
            "template": export.template,
            "votes_revealed": export.votes_revealed,
            "stages": [{"id": s.id, "title": s.label(), "fields": s.fields} for s in export.stages],
            "lanes": [{"id": lane.id, "title": lane.label(), "kind": lane.fields.get("kind")} for lane in export.lanes],
            "cells": [
                {
                    "stage": names.get(c.stage) or None,
                    "lane": names.get(c.lane) or None,
                    "items": [item(i) for i in c.items],
                }
                for c in export.cells
                if c.items
            ],
        },
        ensure_ascii=False,
        indent=2,
    )


def to_pdf(export: BoardExport) -> bytes:
    """A plain, printable PDF: headings per cell, one paragraph per item."""
    names = names_of(export)
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_title(_latin(export.title))
    pdf.set_font("Helvetica", "B", 18)
    pdf.multi_cell(0, 10, _latin(export.title), new_x="LMARGIN", new_y="NEXT")
    if not export.votes_revealed:
        pdf.set_font("Helvetica", "I", 10)
        pdf.multi_cell(0, 6, _latin(VOTES_HIDDEN[_language(export)]), new_x="LMARGIN", new_y="NEXT")
    for cell in export.cells:
        if not cell.items:
            continue
        heading = " - ".join(n for n in (names.get(cell.stage, ""), names.get(cell.lane, "")) if n) or "-"
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 13)
        pdf.multi_cell(0, 8, _latin(heading), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 11)
        for item in cell.items:
            votes = f" ({export.votes_label(item)})" if item.votes else ""
            pdf.multi_cell(0, 6, _latin(f"- {export.text_of(item)}{votes}"), new_x="LMARGIN", new_y="NEXT")
            for comment in item.comments:
                pdf.multi_cell(0, 6, _latin(f"    > {export.text_of(comment)}"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _latin(text: str) -> str:
    """The PDF core fonts cover Latin-1 (Finnish and Swedish letters included); others become '?'."""
    return text.encode("latin-1", "replace").decode("latin-1")
