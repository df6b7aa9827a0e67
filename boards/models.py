"""Boards, their items, votes and reactions, and the operation log.

The operation log is the board's history: every accepted operation has the
board's next sequence number and is written in the same transaction that
changes the item rows.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from foundation.db import Base, UTCDateTime, new_id, utcnow


class Board(Base):
    __tablename__ = "board"
    __table_args__ = (
        CheckConstraint("visibility in ('team', 'round')", name="visibility"),
        CheckConstraint("team_id IS NOT NULL OR round_id IS NOT NULL", name="has_owner"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)
    round_id: Mapped[str | None] = mapped_column(ForeignKey("round.id", ondelete="CASCADE"), index=True)
    peer_room_id: Mapped[str | None] = mapped_column(ForeignKey("peer_room.id", ondelete="CASCADE"))
    template: Mapped[str] = mapped_column(String(40), default="blank")
    title: Mapped[str] = mapped_column(String(200))
    seq: Mapped[int] = mapped_column(Integer, default=0)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    votes_revealed: Mapped[bool] = mapped_column(Boolean, default=False)
    vote_budget: Mapped[int] = mapped_column(Integer, default=5)
    visibility: Mapped[str] = mapped_column(String(10), default="team")
    share_token_hash: Mapped[str | None] = mapped_column(String(64))
    share_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    timer_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set on the boards a coach pushed to every team of a round at once (boards.exercises).
    exercise_id: Mapped[str | None] = mapped_column(String(32), index=True)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Item(Base):
    """A structural item (stage, lane) or a content item (card, persona, idea, comment...).

    ``fields`` holds the typed fields of the item's type; ``field_meta`` maps
    each field to the sequence number and author of its last write, which is
    how per-field last-writer-wins and "your edit replaced X's" are decided.
    """

    __tablename__ = "item"
    __table_args__ = (Index("ix_item_board_cell", "board_id", "stage_id", "lane_id", "order_key"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    board_id: Mapped[str] = mapped_column(ForeignKey("board.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(30))
    parent_id: Mapped[str | None] = mapped_column(String(32))
    stage_id: Mapped[str | None] = mapped_column(String(32))
    lane_id: Mapped[str | None] = mapped_column(String(32))
    # Byte order on every engine: fractional keys compare as plain strings, never by a locale's rules.
    order_key: Mapped[str] = mapped_column(String(200).with_variant(String(200, collation="C"), "postgresql"))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    field_meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    author_id: Mapped[str | None] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_seq: Mapped[int] = mapped_column(Integer)
    updated_seq: Mapped[int] = mapped_column(Integer)
    deleted_seq: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Operation(Base):
    """One accepted operation. ``op_id`` is the client's id: a resend is recognised by it."""

    __tablename__ = "operation"
    __table_args__ = (UniqueConstraint("board_id", "actor_id", "op_id"),)
    board_id: Mapped[str] = mapped_column(ForeignKey("board.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    op_id: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[str | None] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(30))
    item_id: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    inverse: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Vote(Base):
    __tablename__ = "vote"
    item_id: Mapped[str] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    board_id: Mapped[str] = mapped_column(ForeignKey("board.id", ondelete="CASCADE"), index=True)
    count: Mapped[int] = mapped_column(Integer, default=1)


class Reaction(Base):
    __tablename__ = "reaction"
    item_id: Mapped[str] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    emoji: Mapped[str] = mapped_column(String(16), primary_key=True)
    board_id: Mapped[str] = mapped_column(ForeignKey("board.id", ondelete="CASCADE"), index=True)


class ProgressLink(Base):
    """An idea or test a progress update is about; its status is read when the update is shown."""

    __tablename__ = "progress_link"
    update_id: Mapped[str] = mapped_column(ForeignKey("progress_update.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), primary_key=True)


class ProgressDelivery(Base):
    """One recipient of one update, written with the update: their feed entry and its read mark."""

    __tablename__ = "progress_delivery"
    update_id: Mapped[str] = mapped_column(ForeignKey("progress_update.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), primary_key=True, index=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FeedbackAnswer(Base):
    """One anonymous answer: no person, cookie, address, user agent or time of day, only the date."""

    __tablename__ = "feedback_answer"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    team_id: Mapped[str] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)
    update_id: Mapped[str | None] = mapped_column(ForeignKey("progress_update.id", ondelete="CASCADE"))
    answered_on: Mapped[date] = mapped_column(Date)
    worth: Mapped[str | None] = mapped_column(String(10))
    heard: Mapped[str | None] = mapped_column(String(10))
    comment: Mapped[str | None] = mapped_column(String(1000))


class ProgressReply(Base):
    """A recipient's answer to an update; the team sees it on its updates page."""

    __tablename__ = "progress_reply"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    update_id: Mapped[str] = mapped_column(ForeignKey("progress_update.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[str | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
