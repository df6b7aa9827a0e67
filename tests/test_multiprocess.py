"""Two server processes on PostgreSQL and Redis: edits cross processes in order,
and after a Redis restart every client catches up from the database."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from boards import protocol as p
from boards.client import BoardClient
from conftest import Seeded, free_port, seed_workspace, service_missing
from foundation.db import new_id
from server.migrate import upgrade

pytestmark = [pytest.mark.pg, pytest.mark.redis, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


class PrivateRedis:
    """A Redis of our own on a free port, so the test can stop and start it."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.dir = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            service_missing("redis-server is not installed")
        self.proc = subprocess.Popen(
            [
                str(binary),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


def _wait_port(port: int, timeout: float = 20) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class ServerProcess:
    def __init__(self, database_url: str, redis_url: str, data_dir: Path, **settings: str) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "KUMPPANI_DATABASE_URL": database_url,
            "KUMPPANI_REDIS_URL": redis_url,
            "KUMPPANI_DATA_DIR": str(data_dir),
            "KUMPPANI_SECRET_KEY": "multi-process-test-key-" + "y" * 20,
            "KUMPPANI_BASE_URL": f"http://127.0.0.1:{self.port}",
            "KUMPPANI_OPS_PER_SECOND": "1000",
            "KUMPPANI_OPS_BURST": "1000",
            "KUMPPANI_LOG_LEVEL": "WARNING",
            **settings,
        }
        # The server's log goes to a file: a pipe nobody reads would block it once full.
        with open(data_dir / f"server-{self.port}.log", "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve", "--port", str(self.port)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        _wait_port(self.port, timeout=30)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, seeded: Seeded, who: str) -> BoardClient:
        return BoardClient(
            f"ws://127.0.0.1:{self.port}/ws/boards/{seeded.board}", cookie=seeded.cookie(who), origin=self.base
        )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def cluster(pg_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess, PrivateRedis, Seeded]]:
    upgrade(pg_url)
    seeded = asyncio.run(seed_workspace(pg_url))
    redis = PrivateRedis(tmp_path)
    redis.start()
    one = ServerProcess(pg_url, redis.url, tmp_path)
    two = ServerProcess(pg_url, redis.url, tmp_path)
    try:
        yield one, two, redis, seeded
    finally:
        one.stop()
        two.stop()
        redis.stop()


def _card(seeded: Seeded, text: str) -> p.ItemCreate:
    return p.ItemCreate(id=new_id(), item_type="card", fields={"text": text}, stage=seeded.stage, lane=seeded.lane)


async def test_edits_cross_processes_in_order_and_survive_a_redis_restart(cluster) -> None:  # type: ignore[no-untyped-def]
    one, two, redis, seeded = cluster
    alice = one.client(seeded, "professional")
    bob = two.client(seeded, "customer")
    alice_seen: list[int] = []
    bob_seen: list[int] = []
    alice.on_event = lambda e: alice_seen.append(e.seq)
    bob.on_event = lambda e: bob_seen.append(e.seq)
    await alice.connect()
    await bob.connect()

    # Both write at once, from two processes: everyone sees one order, without gaps.
    acks = await asyncio.gather(
        *[c.call(_card(seeded, f"{n}-{i}")) for i in range(10) for n, c in (("a", alice), ("b", bob))]
    )
    head = max(a.seq for a in acks)
    await alice.wait_seq(head)
    await bob.wait_seq(head)
    assert alice_seen == bob_seen == list(range(1, head + 1))
    assert alice.replica.comparable() == bob.replica.comparable()

    # Redis goes away; edits are still committed and acknowledged by each process.
    redis.stop()
    during = [await alice.call(_card(seeded, f"during-{i}"), timeout=30) for i in range(3)]
    during += [await bob.call(_card(seeded, f"during-b-{i}"), timeout=30) for i in range(3)]
    redis.start()

    # When Redis is back, each process catches its clients up from the database.
    head = max(a.seq for a in during)
    await alice.wait_seq(head, timeout=30)
    await bob.wait_seq(head, timeout=30)
    assert alice.replica.comparable() == bob.replica.comparable()

    # And live traffic flows across processes again.
    after = await alice.call(_card(seeded, "after"))
    await bob.wait_seq(after.seq, timeout=15)
    assert sorted(set(bob_seen)) == bob_seen and bob_seen[-1] == after.seq
    await alice.close()
    await bob.close()


async def _registered(client: BoardClient, person: str) -> None:
    """Until the server has registered the connection (its presence list, sent after, names the person)."""
    deadline = time.monotonic() + 10
    while person not in client.presence:
        assert time.monotonic() < deadline, "the connection's presence never came"
        await asyncio.sleep(0.02)


async def test_a_persons_connection_limit_counts_their_connections_in_every_process(
    pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    await asyncio.to_thread(upgrade, pg_url)  # it runs an event loop of its own
    seeded = await seed_workspace(pg_url)
    one = ServerProcess(pg_url, redis_url, tmp_path, KUMPPANI_CONNECTIONS_PER_PERSON="3")
    two = ServerProcess(pg_url, redis_url, tmp_path, KUMPPANI_CONNECTIONS_PER_PERSON="3")
    opened: list[BoardClient] = []
    try:
        for server in (one, one, two):
            client = server.client(seeded, "customer")
            await client.connect()
            opened.append(client)
            await _registered(client, seeded.customer)

        # Three open, two of them in the other process: a fourth is refused in either.
        for server in (two, one):
            refused = server.client(seeded, "customer")
            with pytest.raises(ConnectionRefusedError):
                await refused.connect()
            assert refused.closed_code == p.CloseCode.TOO_MANY_CONNECTIONS

        # Someone else is not affected.
        other = two.client(seeded, "professional")
        await other.connect()
        opened.append(other)

        # Closing one in the first process makes room in the second.
        await opened.pop(0).close()
        deadline = time.monotonic() + 10
        while True:
            again = two.client(seeded, "customer")
            try:
                await again.connect()
                opened.append(again)
                break
            except ConnectionRefusedError:
                assert again.closed_code == p.CloseCode.TOO_MANY_CONNECTIONS
                assert time.monotonic() < deadline, "the closed connection was never released"
                await asyncio.sleep(0.05)
    finally:
        for client in opened:
            await client.close()
        one.stop()
        two.stop()


async def test_own_hidden_votes_reach_the_voters_tab_on_the_other_process_only(cluster) -> None:  # type: ignore[no-untyped-def]
    one, two, _redis, seeded = cluster
    here = one.client(seeded, "customer")
    there = two.client(seeded, "customer")
    other = two.client(seeded, "professional")
    for client in (here, there, other):
        await client.connect()
    card = _card(seeded, "äänestä")
    await here.call(card)
    for _ in range(2):
        vote = await here.call(p.VoteAdd(id=card.id))
    await other.wait_seq(vote.seq, timeout=15)
    await there.wait_for(lambda r: r.votes_mine == {card.id: 2} and r.votes_used == 2, timeout=15)
    # Hidden: the professional's process delivered the customer's votes frame to the customer only.
    await other.call(_card(seeded, "perään"))
    assert other.replica.votes_mine == {} and other.replica.vote_totals == {}
    for client in (here, there, other):
        await client.close()
