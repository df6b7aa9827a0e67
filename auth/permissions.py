"""What a person may do with a board, decided from rows read in the caller's transaction.

Every route and every websocket operation asks here, so a person removed a
second ago is refused now. No access at all means the board does not exist for
that person: callers answer 404, never 403.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.consent import customers_needing_agreement_sync
from auth.models import Membership, PeerRoomMember, Person, ProgrammeCoach, Round, Team
from foundation.prepared import Prepared


@dataclass(frozen=True, slots=True)
class BoardAccess:
    role: str
    read: bool = True
    comment: bool = False
    edit: bool = False
    facilitate: bool = False


@dataclass(frozen=True, slots=True)
class BoardOwner:
    """The columns of a board that decide who may use it."""

    team_id: str | None
    round_id: str | None
    peer_room_id: str | None
    visibility: str = "team"


EDITOR_ROLES = ("professional", "customer")
PUBLISHER_ROLES = ("professional",)


def may_publish(access: BoardAccess) -> bool:
    """Publishing outside the team (a read-only share link, round visibility): professionals of the team only."""
    return access.role in PUBLISHER_ROLES and access.edit


def _team_access(role: str, is_facilitator: bool, facilitators_named: bool) -> BoardAccess:
    facilitates = is_facilitator or not facilitators_named
    if role in EDITOR_ROLES:
        return BoardAccess(role, comment=True, edit=True, facilitate=facilitates)
    if role == "coach":
        return BoardAccess(role, comment=True, facilitate=True)
    return BoardAccess(role)


def _active(conn: Connection, person_ids: set[str]) -> set[str]:
    rows = conn.execute(
        select(Person.id).where(Person.id.in_(person_ids), Person.disabled_at.is_(None), Person.erased_at.is_(None))
    )
    return {r[0] for r in rows}


async def board_access(conn: AsyncConnection, owner: BoardOwner, person_ids: Iterable[str]) -> dict[str, BoardAccess]:
    """Access of each person to a board; a person missing from the result has none."""
    return await conn.run_sync(board_access_sync, owner, person_ids)


def board_access_sync(
    conn: Connection,
    owner: BoardOwner,
    person_ids: Iterable[str],
    team_members: Iterable[Sequence[Any]] | None = None,
) -> dict[str, BoardAccess]:
    """:func:`board_access` on a plain connection (the board engine runs its transactions on a worker thread).

    ``team_members``: the rows of :func:`team_members_query` for these people, when
    the caller has read them already.
    """
    wanted = set(person_ids)
    if not wanted:
        return {}
    if owner.team_id is not None and owner.peer_room_id is None:
        # The common case, on every batch of operations: as few queries as possible.
        return _team_board_access(conn, owner.team_id, wanted, owner.visibility == "round", team_members)
    wanted = _active(conn, wanted)
    if not wanted:
        return {}
    if owner.peer_room_id is not None:
        return _peer_room_access(conn, owner.peer_room_id, wanted)
    if owner.round_id is not None:
        return _round_board_access(conn, owner.round_id, wanted)
    return {}


def _peer_room_access(conn: Connection, room_id: str, wanted: set[str]) -> dict[str, BoardAccess]:
    rows = conn.execute(
        select(PeerRoomMember.person_id, PeerRoomMember.is_facilitator).where(
            PeerRoomMember.room_id == room_id, PeerRoomMember.person_id.in_(wanted)
        )
    )
    return {pid: BoardAccess("peer", comment=True, edit=True, facilitate=bool(fac)) for pid, fac in rows}


def team_members_query(team_id: ColumnElement[Any]) -> Select[str, str, bool, bool]:
    """Members of the team among ``people`` (an expanding parameter) who can still sign in.

    Each row is (person, role, is_facilitator, facilitators_named); the team is an
    expression, so the board engine can fold this query into its own on PostgreSQL.
    """
    return (
        select(Membership.person_id, Membership.role, Membership.is_facilitator, Team.facilitators_named)
        .join(Team, Team.id == Membership.team_id)
        .join(Person, Person.id == Membership.person_id)
        .where(
            Membership.team_id == team_id,
            Membership.person_id.in_(bindparam("people", expanding=True)),
            Person.disabled_at.is_(None),
            Person.erased_at.is_(None),
        )
    )


# Built once: this runs on every batch of operations, and building a statement costs
# more than running it on SQLite.
_TEAM_MEMBERS = Prepared(team_members_query(bindparam("team_id")))


def _team_board_access(
    conn: Connection,
    team_id: str,
    wanted: set[str],
    round_visible: bool = False,
    members: Iterable[Sequence[Any]] | None = None,
) -> dict[str, BoardAccess]:
    rows: Iterable[Sequence[Any]] = (
        members if members is not None else _TEAM_MEMBERS.all(conn, {"team_id": team_id, "people": list(wanted)})
    )
    result = {pid: _team_access(role, bool(fac), bool(named)) for pid, role, fac, named in rows}
    customers = {pid for pid, access in result.items() if access.role == "customer"}
    if customers:
        # A customer sees team content only after accepting the team's current agreement.
        for pid in customers_needing_agreement_sync(conn, team_id, customers):
            del result[pid]
    remaining = wanted - result.keys()
    if not remaining:
        return result
    remaining = _active(conn, remaining)
    round_id = conn.execute(select(Team.round_id).where(Team.id == team_id)).scalar()
    if remaining and round_id is not None:
        for pid in _programme_coaches(conn, round_id, remaining):
            result[pid] = BoardAccess("coach", comment=True, facilitate=True)
    remaining = wanted - result.keys()
    if remaining and round_id is not None and round_visible:
        # Shared with the whole round: the other teams read it (customers after their own agreement).
        round_rows = conn.execute(
            select(Membership.person_id, Membership.role, Membership.team_id)
            .join(Team, Team.id == Membership.team_id)
            .where(Team.round_id == round_id, Membership.person_id.in_(remaining))
        ).all()
        for pid, role, their_team in round_rows:
            if role == "customer" and pid in customers_needing_agreement_sync(conn, their_team, {pid}):
                continue
            result[pid] = BoardAccess(role)
    return result


def _round_board_access(conn: Connection, round_id: str, wanted: set[str]) -> dict[str, BoardAccess]:
    result: dict[str, BoardAccess] = {}
    for pid in _programme_coaches(conn, round_id, wanted):
        result[pid] = BoardAccess("coach", comment=True, edit=True, facilitate=True)
    remaining = wanted - result.keys()
    if remaining:
        rows = conn.execute(
            select(Membership.person_id, Membership.role)
            .join(Team, Team.id == Membership.team_id)
            .where(Team.round_id == round_id, Membership.person_id.in_(remaining))
        )
        for pid, role in rows:
            access = BoardAccess(role, comment=role != "observer", edit=role in EDITOR_ROLES)
            previous = result.get(pid)
            if previous is None or (access.edit and not previous.edit):
                result[pid] = access
    return result


def _programme_coaches(conn: Connection, round_id: str, wanted: set[str]) -> set[str]:
    rows = conn.execute(
        select(ProgrammeCoach.person_id)
        .join(Round, Round.programme_id == ProgrammeCoach.programme_id)
        .where(Round.id == round_id, ProgrammeCoach.person_id.in_(wanted))
    )
    return {r[0] for r in rows}
