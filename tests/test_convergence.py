"""Convergence under random concurrent operations, abrupt disconnects and resends.

Three clients (two of them may be the same person) send random operations to one
board while connections drop and come back. Whatever the server answers, at the
end every replica, a fresh snapshot and the database agree; the operation log is
1..N without gaps; and no client op id was applied twice.

Hypothesis generates a *plan* (a list of steps); each example runs it with
``asyncio.run`` against one live server per test function, on a fresh board.
"""

from __future__ import annotations

import asyncio
import collections
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from boards import protocol as p
from boards.catalogue import create_board
from boards.client import BOARD_SETTINGS, BoardClient, ClientError
from boards.models import Board, Item, Operation, Reaction, Vote
from boards.queries import board_to_wire
from conftest import LiveServer, Seeded, drop_pg_database, make_pg_database, seed_workspace, settings_for
from foundation.db import create_engine, new_id
from server.migrate import upgrade

#: Answers the server may legitimately give to a random operation.
EXPECTED_ERRORS = frozenset(
    {
        p.ErrorCode.NOT_FOUND,
        p.ErrorCode.DELETED,
        p.ErrorCode.VOTE_BUDGET,
        p.ErrorCode.BAD_MESSAGE,
        p.ErrorCode.CANNOT_UNDO,
        p.ErrorCode.BAD_PLACE,
        p.ErrorCode.ID_TAKEN,
    }
)
ANSWER_TIMEOUT = 15.0
CONVERGE_TIMEOUT = 5.0

# ------------------------------------------------------------------ the server


@dataclass
class Env:
    url: str
    server: LiveServer
    seeded: Seeded


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    """One migrated database, seeded team and live server for all examples of a test."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'kumppani.db'}" if request.param == "sqlite" else make_pg_database()
    try:
        upgrade(url)
        seeded = asyncio.run(seed_workspace(url))
        server = LiveServer(
            settings_for(
                url,
                tmp_path,
                KUMPPANI_OPS_PER_SECOND="1000",
                KUMPPANI_OPS_BURST="5000",
                KUMPPANI_CONNECTIONS_PER_PERSON="100",
            )
        ).start()
        try:
            yield Env(url, server, seeded)
        finally:
            server.stop()
    finally:
        if request.param == "postgresql":
            drop_pg_database(url)


# ------------------------------------------------------------------ plans

CLIENT = st.integers(0, 2)
PICK = st.integers(0, 30)
STAGE = st.integers(0, 2)
LANE = st.integers(0, 1)
TEXT = st.text(alphabet="abö ", max_size=6)
#: Where to put a card: at the end, after / before / between neighbours from the
#: client's replica, or next to any card ever created (possibly elsewhere or deleted).
PLACE = st.tuples(st.sampled_from(["end", "after", "before", "between", "stale"]), PICK)
FIELDS = st.one_of(
    st.builds(lambda t: {"text": t}, TEXT),
    st.builds(lambda e: {"emotion": e}, st.integers(-2, 2)),
    st.just({"text": None}),
    st.just({"colour": "blue", "text": "x"}),
)
EMOJI = st.sampled_from(["👍", "❤️", "🎉"])

SHAPES = {
    "create": st.tuples(st.just("create"), CLIENT, STAGE, LANE, PLACE, TEXT),
    "update": st.tuples(st.just("update"), CLIENT, PICK, FIELDS),
    "move": st.tuples(st.just("move"), CLIENT, PICK, STAGE, LANE, PLACE),
    "delete": st.tuples(st.just("delete"), CLIENT, PICK),
    "restore": st.tuples(st.just("restore"), CLIENT, PICK),
    "vote": st.tuples(st.just("vote"), CLIENT, PICK, st.booleans()),
    "react": st.tuples(st.just("react"), CLIENT, PICK, EMOJI, st.booleans()),
    "undo": st.tuples(st.just("undo"), CLIENT, PICK),
    "redo": st.tuples(st.just("redo"), CLIENT, PICK),
    "resend": st.tuples(st.just("resend"), CLIENT, PICK),
    "drop": st.tuples(st.just("drop"), CLIENT),
    "reconnect": st.tuples(st.just("reconnect"), CLIENT),
    "settle": st.tuples(st.just("settle"), CLIENT),
}
#: Kinds of step, repeated to weight them: a quarter of the steps create cards.
KINDS = ["create"] * 5 + ["move"] * 3 + ["update"] * 2 + [k for k in SHAPES if k not in ("create", "move", "update")]
STEP = st.sampled_from(KINDS).flatmap(lambda kind: SHAPES[kind])
#: Who the third client is (the first is the professional, the second the customer), and the steps.
PLAN = st.tuples(st.sampled_from(["professional", "customer"]), st.lists(STEP, min_size=10, max_size=50))

# ------------------------------------------------------------------ running a plan


async def _wait(
    clients: list[BoardClient], predicate: Callable[[BoardClient], bool], timeout: float, what: str
) -> None:
    """Wait until ``predicate`` holds for every client (each holds once it holds: all are monotone here)."""
    deadline = time.monotonic() + timeout
    for client in clients:
        if predicate(client):
            continue
        try:
            await client.wait_for(lambda _r, c=client: predicate(c), max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout}s waiting until {what}") from None


@dataclass
class Run:
    env: Env
    board: str
    stages: list[str]
    lanes: list[str]
    clients: list[BoardClient]
    people: list[str]
    cards: list[str] = field(default_factory=list)
    #: Per client: every op id it sent and its command, in order.
    sent: list[list[tuple[str, p.AnyCommand]]] = field(default_factory=lambda: [[], [], []])
    #: Per client: sequence numbers of its applied operations and their commands.
    applied: list[dict[int, p.AnyCommand]] = field(default_factory=lambda: [{}, {}, {}])
    #: Every answer that reached a client: (client, op id, ack or error).
    answers: list[tuple[int, str, p.Ack | p.Error]] = field(default_factory=list)

    async def send(self, c: int, command: p.AnyCommand, op_id: str | None = None) -> None:
        client = self.clients[c]
        if op_id is None:
            op_id = client.new_op_id()
            self.sent[c].append((op_id, command))
        future = await client.send_op(command, op_id)

        def done(f: asyncio.Future[p.Ack]) -> None:
            if f.cancelled():
                return
            exc = f.exception()
            if exc is None:
                ack = f.result()
                self.answers.append((c, op_id, ack))
                self.applied[c].setdefault(ack.seq, command)
            elif isinstance(exc, ClientError):
                self.answers.append((c, op_id, exc.error))
            else:  # fails the final check: only server errors are expected here
                self.answers.append((c, op_id, p.Error(code="client_exception", message=repr(exc), op=op_id)))

        future.add_done_callback(done)

    def card(self, pick: int) -> str | None:
        return self.cards[pick % len(self.cards)] if self.cards else None

    def place(self, c: int, stage: str, lane: str, how: tuple[str, int]) -> tuple[str | None, str | None]:
        mode, pick = how
        if mode == "stale":
            if not self.cards:
                return None, None
            return self.card(pick), self.card(pick + 1)
        cell = [i["id"] for i in self.clients[c].replica.ordered(stage, lane)]
        if mode == "end" or not cell:
            return None, None
        index = pick % len(cell)
        if mode == "after":
            return cell[index], None
        if mode == "before":
            return None, cell[index]
        return cell[index], cell[index + 1] if index + 1 < len(cell) else None

    async def step(self, step: tuple[Any, ...]) -> None:
        kind, c = step[0], step[1]
        client = self.clients[c]
        if kind == "create":
            _, _, s, ln, how, text = step
            stage, lane = self.stages[s], self.lanes[ln]
            after, before = self.place(c, stage, lane, how)
            card = new_id()
            self.cards.append(card)
            await self.send(
                c,
                p.ItemCreate(
                    id=card,
                    item_type="card",
                    fields={"text": text},
                    stage=stage,
                    lane=lane,
                    after=after,
                    before=before,
                ),
            )
        elif kind == "move":
            _, _, pick, s, ln, how = step
            card = self.card(pick)
            if card is None:
                return
            stage, lane = self.stages[s], self.lanes[ln]
            after, before = self.place(c, stage, lane, how)
            await self.send(c, p.ItemMove(id=card, stage=stage, lane=lane, after=after, before=before))
        elif kind in ("update", "delete", "restore", "vote", "react"):
            card = self.card(step[2])
            if card is None:
                return
            command: p.AnyCommand
            if kind == "update":
                command = p.ItemUpdate(id=card, fields=dict(step[3]))
            elif kind == "delete":
                command = p.ItemDelete(id=card)
            elif kind == "restore":
                command = p.ItemRestore(id=card)
            elif kind == "vote":
                command = p.VoteAdd(id=card) if step[3] else p.VoteRemove(id=card)
            else:
                command = p.ReactionAdd(id=card, emoji=step[3]) if step[4] else p.ReactionRemove(id=card, emoji=step[3])
            await self.send(c, command)
        elif kind == "undo":
            seqs = sorted(self.applied[c])
            if seqs:
                await self.send(c, p.Undo(seq=seqs[step[2] % len(seqs)]))
        elif kind == "redo":
            undos = sorted(s for s, cmd in self.applied[c].items() if isinstance(cmd, p.Undo))
            if undos:
                await self.send(c, p.Redo(seq=undos[step[2] % len(undos)]))
        elif kind == "resend":
            if self.sent[c]:
                op_id, command = self.sent[c][step[2] % len(self.sent[c])]
                await self.send(c, command, op_id)
        elif kind == "drop":
            if client.connected:
                await client.drop()
        elif kind == "reconnect":
            if not client.connected:
                await client.connect()
        elif kind == "settle":
            if client.connected:
                await _wait([client], _answered, ANSWER_TIMEOUT, f"client {c} is answered")
        else:  # pragma: no cover - every step kind is listed above
            raise AssertionError(kind)


def _answered(client: BoardClient) -> bool:
    return client.unacknowledged == 0


def _diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    lines = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            lines.append(f"  {key}: {a.get(key, '<missing>')!r} != {b.get(key, '<missing>')!r}")
    return "\n".join(lines[:20])


async def _new_board(env: Env) -> tuple[str, list[str], list[str]]:
    engine = create_engine(env.url)
    try:
        async with engine.begin() as conn:
            board = await create_board(conn, "Konvergenssi", "journey", team_id=env.seeded.team)
            rows = (
                await conn.execute(
                    select(Item.id, Item.type).where(Item.board_id == board).order_by(Item.type, Item.order_key)
                )
            ).all()
    finally:
        await engine.dispose()
    stages = [i for i, t in rows if t == "stage"]
    lanes = [i for i, t in rows if t == "lane"]
    return board, stages, lanes


async def _database_state(url: str, board: str) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            board_row = (await conn.execute(select(Board).where(Board.id == board))).one()
            items = (
                await conn.execute(
                    select(
                        Item.id,
                        Item.type,
                        Item.parent_id,
                        Item.stage_id,
                        Item.lane_id,
                        Item.order_key,
                        Item.fields,
                        Item.version,
                        Item.author_id,
                    ).where(Item.board_id == board, Item.deleted_seq.is_(None))
                )
            ).all()
            ops = (
                await conn.execute(
                    select(Operation.seq, Operation.actor_id, Operation.op_id, Operation.type, Operation.inverse)
                    .where(Operation.board_id == board)
                    .order_by(Operation.seq)
                )
            ).all()
            reactions = (
                await conn.execute(
                    select(Reaction.item_id, Reaction.person_id, Reaction.emoji).where(Reaction.board_id == board)
                )
            ).all()
            votes = (
                await conn.execute(select(Vote.item_id, Vote.person_id, Vote.count).where(Vote.board_id == board))
            ).all()
    finally:
        await engine.dispose()
    # What the votes must be by the operation log alone: each vote change (undos too) is stored
    # with its inverse, so -inverse.delta is what it did, whatever the vote rows say.
    logged: collections.Counter[tuple[str, str]] = collections.Counter()
    for r in ops:
        if r.type == "vote.changed":
            logged[(r.inverse["id"], r.actor_id)] -= r.inverse["delta"]
    wire = board_to_wire(board_row)
    return {
        "head": board_row.seq,
        "board": {name: wire[name] for name in BOARD_SETTINGS},
        "items": {
            r.id: (r.type, r.parent_id, r.stage_id, r.lane_id, r.order_key, r.fields, r.version, r.author_id)
            for r in items
        },
        "ops": [(r.seq, r.actor_id, r.op_id) for r in ops],
        "reactions": sorted(tuple(r) for r in reactions),
        "votes": {(r.item_id, r.person_id): r.count for r in votes if r.count},
        "logged_votes": {key: n for key, n in logged.items() if n},
    }


def _votes_of(votes: dict[tuple[str, str], int], person: str) -> dict[str, int]:
    return {item: n for (item, who), n in votes.items() if who == person}


def _totals(votes: dict[tuple[str, str], int]) -> dict[str, int]:
    totals: collections.Counter[str] = collections.Counter()
    for (item, _), n in votes.items():
        totals[item] += n
    return dict(sorted(totals.items()))


async def _check_votes_as_each_reader_sees_them(
    env: Env, url: str, people: dict[str, str], db: dict[str, Any], revealed: bool
) -> None:
    """A fresh snapshot shows each person their own votes, and the totals only once revealed."""
    assert db["votes"] == db["logged_votes"], "the vote rows differ from what the operation log did"
    for who, person in people.items():
        reader = BoardClient(url, cookie=env.seeded.cookie(who), origin=env.server.base)
        await reader.connect()
        try:
            assert reader.replica.votes_mine == _votes_of(db["votes"], person), f"{who}'s own votes"
            assert reader.replica.vote_totals == (_totals(db["votes"]) if revealed else {}), f"totals {who} sees"
        finally:
            await reader.close()


async def run_plan(env: Env, plan: tuple[str, list[tuple[Any, ...]]]) -> None:
    third, steps = plan
    seeded = env.seeded
    board, stages, lanes = await _new_board(env)
    url = env.server.ws_url(board)
    who = ["professional", "customer", third]
    clients = [BoardClient(url, cookie=seeded.cookie(w), origin=env.server.base) for w in who]
    people = [getattr(seeded, w) for w in who]
    run = Run(env, board, stages, lanes, clients, people)
    fresh: BoardClient | None = None
    try:
        for client in clients:
            await client.connect()
        for step in steps:
            await run.step(step)

        # Everyone back online; every operation answered.
        for client in clients:
            if not client.connected:
                await client.connect()
        await _wait(clients, _answered, ANSWER_TIMEOUT, "every operation is acknowledged or refused")
        # A barrier through the sequencer: once a refused op sent after everything else is
        # answered, every earlier frame of that connection (explicit resends included) is done.
        for client in clients:
            with pytest.raises(ClientError) as refused:
                await client.call(p.ItemRestore(id=new_id()), timeout=ANSWER_TIMEOUT)
            assert refused.value.error.code == p.ErrorCode.NOT_FOUND

        db = await _database_state(env.url, board)
        head = db["head"]
        try:
            await _wait(clients, lambda c: c.replica.seq >= head, CONVERGE_TIMEOUT, f"every replica reaches seq {head}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the replicas are at {[c.replica.seq for c in clients]}") from None
        fresh = BoardClient(url, cookie=seeded.cookie("professional"), origin=env.server.base)
        await fresh.connect()
        expected = fresh.replica.comparable()

        # (a) replicas == fresh snapshot == database: items with their authors, board settings,
        # reactions, and votes as each reader may see them (hidden until revealed, then totals).
        assert expected["seq"] == head
        assert expected["items"] == db["items"], "snapshot differs from the database:\n" + _diff(
            expected["items"], db["items"]
        )
        assert expected["board"] == db["board"]
        assert expected["reactions"] == db["reactions"]
        assert expected["vote_totals"] == {}, "votes are hidden: no one sees totals"
        for index, client in enumerate(clients):
            mine = client.replica.comparable()
            assert mine["seq"] == head, f"client {index} is at seq {mine['seq']}, the board at {head}"
            assert mine["items"] == expected["items"], f"client {index} items diverged:\n" + _diff(
                mine["items"], expected["items"]
            )
            assert mine == expected, f"client {index} diverged"
        readers = {"professional": seeded.professional, "customer": seeded.customer, "observer": seeded.observer}
        await _check_votes_as_each_reader_sees_them(env, url, readers, db, revealed=False)
        # Revealed, every replica gets the totals the database holds.
        reveal = await clients[0].call(p.BoardSet(votes_revealed=True), timeout=ANSWER_TIMEOUT)
        await _wait(clients, lambda c: c.replica.seq >= reveal.seq, CONVERGE_TIMEOUT, "every replica sees the reveal")
        after = await _database_state(env.url, board)
        for index, client in enumerate(clients):
            assert client.replica.vote_totals == _totals(after["votes"]), f"client {index} revealed totals"
            assert client.replica.comparable()["board"] == after["board"]
        await _check_votes_as_each_reader_sees_them(env, url, readers, after, revealed=True)

        event(f"applied operations: {min(head // 10 * 10, 40)}+")
        event(f"refused operations: {min(sum(isinstance(a, p.Error) for _, _, a in run.answers) // 5 * 5, 20)}+")
        event(f"duplicate acks: {min(sum(isinstance(a, p.Ack) and a.duplicate for _, _, a in run.answers), 3)}+")
        event(f"drops: {min(sum(s[0] == 'drop' for s in steps), 3)}+")
        event(f"steps: {min(len(steps) // 10 * 10, 40)}+")

        # (b) the log is 1..N without gaps or duplicates
        seqs = [seq for seq, _, _ in db["ops"]]
        assert seqs == list(range(1, head + 1))

        # (c) no op id applied twice, and every applied op id is one a client sent
        counts = collections.Counter((actor, op_id) for _, actor, op_id in db["ops"])
        twice = {k: n for k, n in counts.items() if n > 1}
        assert not twice, f"applied more than once: {twice}"
        sent_ids = {(people[c], op_id) for c in range(3) for op_id, _ in run.sent[c]}
        assert set(counts) <= sent_ids
        by_seq = {seq: (actor, op_id) for seq, actor, op_id in db["ops"]}
        for c, op_id, answer in run.answers:
            if isinstance(answer, p.Ack):
                assert by_seq.get(answer.seq) == (people[c], op_id), f"ack {answer} of {op_id} names another op"
            else:
                assert answer.code in EXPECTED_ERRORS, f"unexpected error for {op_id}: {answer}"
    finally:
        for client in [*clients, fresh]:
            if client is not None:
                await client.close()


@settings(
    max_examples=int(os.environ.get("KUMPPANI_CONVERGENCE_EXAMPLES", "35")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=PLAN)
# The smallest plan hypothesis found failing (timing-dependent; see the deterministic test below):
# the customer's client reconnects with an empty replica while the board's first card is committed.
@example(plan=("professional", [("drop", 1), ("create", 0, 2, 1, ("end", 27), "")]))
# Votes for sure (hidden, then revealed at the end), whatever the random plans hold.
@example(
    plan=(
        "customer",
        [
            ("create", 0, 0, 0, ("end", 0), "ääni"),
            ("settle", 0),
            ("vote", 1, 0, True),
            ("vote", 1, 0, True),
            ("vote", 1, 0, False),
            ("vote", 0, 0, True),
            ("undo", 0, 1),
            ("react", 2, 0, "👍", True),
        ],
    )
)
def test_replicas_snapshot_and_database_converge(env: Env, plan: tuple[str, list[tuple[Any, ...]]]) -> None:
    asyncio.run(asyncio.wait_for(run_plan(env, plan), 120))


# ------------------------------------------------------------------ deterministic


async def test_drop_in_the_middle_of_a_burst_applies_every_op_once(client_factory, seeded, migrated_url) -> None:
    """Ten ops sent, the connection lost before their acks, ten more queued offline: after
    the reconnect all twenty are acknowledged and each is in the log exactly once."""
    alice = await client_factory("professional")
    bob = await client_factory("customer")
    target = new_id()
    await alice.call(
        p.ItemCreate(id=target, item_type="card", fields={"text": "0"}, stage=seeded.stage, lane=seeded.lane)
    )
    futures: dict[str, asyncio.Future[p.Ack]] = {}

    async def burst(first: int, last: int) -> None:
        for i in range(first, last):
            op_id = alice.new_op_id()
            if i % 2:
                command: p.AnyCommand = p.ItemUpdate(id=target, fields={"text": str(i)})
            else:
                command = p.ItemCreate(
                    id=new_id(), item_type="card", fields={"text": str(i)}, stage=seeded.stage, lane=seeded.lane
                )
            futures[op_id] = await alice.send_op(command, op_id)

    await burst(0, 10)
    await alice.drop()
    unacknowledged_at_drop = alice.unacknowledged
    assert unacknowledged_at_drop > 0, "the drop should come before the burst is acknowledged"
    await burst(10, 20)
    assert alice.unacknowledged == unacknowledged_at_drop + 10

    await alice.connect()
    acks = {op_id: await asyncio.wait_for(f, ANSWER_TIMEOUT) for op_id, f in futures.items()}
    assert alice.unacknowledged == 0

    db = await _database_state(migrated_url, seeded.board)
    ops = {op_id: (seq, actor) for seq, actor, op_id in db["ops"]}
    counts = collections.Counter(op_id for _, _, op_id in db["ops"])
    assert len(db["ops"]) == 21
    for op_id, ack in acks.items():
        assert counts[op_id] == 1, f"{op_id} applied {counts[op_id]} times"
        assert ops[op_id] == (ack.seq, seeded.professional)
    assert len({ack.seq for ack in acks.values()}) == 20
    assert [seq for seq, _, _ in db["ops"]] == list(range(1, 22))
    # Ten updates of the target on top of its creation, each once.
    assert db["items"][target][6] == 11

    await alice.wait_seq(db["head"])
    await bob.wait_seq(db["head"])
    assert alice.replica.comparable() == bob.replica.comparable()
    assert alice.replica.comparable()["items"] == db["items"]


async def test_live_event_queued_during_the_snapshot_read_is_not_lost(live, seeded, monkeypatch) -> None:
    """The smallest plan hypothesis found, made deterministic: bob reconnects with nothing
    (a snapshot) while alice's first card is committed between bob's snapshot read and
    bob's catch-up being sent."""
    from server.ws import endpoint

    read, release = threading.Event(), threading.Event()
    real_snapshot = endpoint.snapshot

    async def snapshot_then_hold(conn: Any, board_id: str, person_id: str) -> p.Snapshot | None:
        snap = await real_snapshot(conn, board_id, person_id)
        if person_id == seeded.customer and not release.is_set():
            read.set()
            await asyncio.to_thread(release.wait, ANSWER_TIMEOUT)
        return snap

    monkeypatch.setattr(endpoint, "snapshot", snapshot_then_hold)
    alice = BoardClient(live.ws_url(seeded.board), cookie=seeded.cookie("professional"), origin=live.base)
    bob = BoardClient(live.ws_url(seeded.board), cookie=seeded.cookie("customer"), origin=live.base)
    try:
        await alice.connect()
        connecting = asyncio.create_task(bob.connect())
        assert await asyncio.to_thread(read.wait, ANSWER_TIMEOUT), "the snapshot read was not intercepted"
        ack = await alice.call(
            p.ItemCreate(id=new_id(), item_type="card", fields={"text": "a"}, stage=seeded.stage, lane=seeded.lane)
        )
        release.set()
        await connecting
        try:
            await bob.wait_seq(ack.seq, timeout=CONVERGE_TIMEOUT)
        except TimeoutError:
            pytest.fail(f"bob stays at seq {bob.replica.seq}; the board is at {ack.seq}")
        assert bob.replica.comparable() == alice.replica.comparable()
    finally:
        release.set()
        await alice.close()
        await bob.close()
