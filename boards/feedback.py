"""Anonymous feedback: a few plain questions per team and per progress update.

Nothing that identifies a person is stored with an answer: no person, cookie, address,
user agent or exact time, only the date. Results are shown to the team once there are at
least ``THRESHOLD`` answers, so that no one answer can be picked out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.hetu import contains_identity_code
from auth.models import ProgressUpdate, Team
from auth.tokens import TokenError, check_timed, make_timed
from boards.models import FeedbackAnswer
from foundation.db import new_id, utcnow

THRESHOLD = 5
QUESTIONS = ("worth", "heard")
CHOICES = ("yes", "partly", "no")
COMMENT_MAX = 1000
LINK_MAX_AGE = 2 * 365 * 24 * 3600


class FeedbackError(ValueError):
    """The answer cannot be taken as given; ``key`` is the message's catalogue key."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True, slots=True)
class Target:
    team_id: str
    team_name: str
    update_id: str | None
    update_title: str | None


@dataclass(frozen=True, slots=True)
class Results:
    answers: int
    shown: bool
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)


def link_token(secret_keys: Sequence[str], team_id: str, update_id: str | None = None) -> str:
    return make_timed(secret_keys, "feedback", f"{team_id}.{update_id or ''}")


async def target_of(conn: AsyncConnection, secret_keys: Sequence[str], token: str) -> Target | None:
    """What a feedback link is for, if it is one and its team (and update) still exist."""
    try:
        value = check_timed(secret_keys, "feedback", token, LINK_MAX_AGE)
    except TokenError:
        return None
    team_id, _, update_id = value.partition(".")
    team = (await conn.execute(select(Team.name).where(Team.id == team_id, Team.archived_at.is_(None)))).scalar()
    if team is None:
        return None
    if not update_id:
        return Target(team_id, team, None, None)
    title = (
        await conn.execute(
            select(ProgressUpdate.title).where(ProgressUpdate.id == update_id, ProgressUpdate.team_id == team_id)
        )
    ).scalar()
    return Target(team_id, team, update_id, title) if title is not None else None


async def answer(conn: AsyncConnection, target: Target, values: dict[str, str], comment: str) -> None:
    chosen = {q: values.get(q, "") for q in QUESTIONS}
    if any(v and v not in CHOICES for v in chosen.values()):
        raise FeedbackError("feedback.error.choice")
    comment = comment.strip()
    if not comment and not any(chosen.values()):
        raise FeedbackError("feedback.error.empty")
    if len(comment) > COMMENT_MAX:
        raise FeedbackError("feedback.error.too_long")
    if contains_identity_code(comment):
        raise FeedbackError("feedback.error.identity_code")
    await conn.execute(
        insert(FeedbackAnswer).values(
            id=new_id(),
            team_id=target.team_id,
            update_id=target.update_id,
            answered_on=utcnow().date(),
            worth=chosen["worth"] or None,
            heard=chosen["heard"] or None,
            comment=comment or None,
        )
    )


async def results(conn: AsyncConnection, team_id: str) -> Results:
    """The team's answers counted; nothing of them below the threshold but how many there are."""
    rows = (
        await conn.execute(
            select(FeedbackAnswer.worth, FeedbackAnswer.heard, FeedbackAnswer.comment)
            .where(FeedbackAnswer.team_id == team_id)
            .order_by(FeedbackAnswer.id)
        )
    ).all()
    if len(rows) < THRESHOLD:
        return Results(len(rows), False)
    counts = {q: {choice: Counter(getattr(r, q) for r in rows)[choice] for choice in CHOICES} for q in QUESTIONS}
    # Ordered by random id, not by time, so the order says nothing of who answered when.
    return Results(len(rows), True, counts, [r.comment for r in rows if r.comment])
