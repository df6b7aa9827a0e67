"""The shipped nginx site in front of two ``kumppani serve`` processes on PostgreSQL and Redis.

nginx runs from ``deploy/nginx.conf`` itself, with only its ports, upstream
servers and certificate substituted (``bench/proxy.py``). Through it: edits on
several boards reach every client and the database, and a rolling restart (one
process stopped while its clients keep editing) loses nothing and applies
nothing twice.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import websockets
from sqlalchemy import select

from bench.proxy import Nginx, nginx_binary
from boards import protocol as p
from boards.client import BoardClient
from conftest import Seeded, free_port, seed_workspace, service_missing
from foundation.db import create_engine, new_id
from server.migrate import upgrade

pytestmark = [pytest.mark.pg, pytest.mark.redis, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
BOARDS = 6
METRICS_TOKEN = "proxy-test-metrics-" + "m" * 20


@pytest.fixture
def nginx_installed() -> str:
    binary = nginx_binary()
    if binary is None:
        service_missing("nginx is not installed (make test installs Debian's nginx with .ci/nginx.sh)")
    assert binary is not None
    return binary


def test_shipped_site_passes_nginx_t(nginx_installed: str) -> None:
    proxy = Nginx.prepare([free_port(), free_port()])
    try:
        checked = proxy.check()
        assert checked.returncode == 0, checked.stderr
        rendered = (proxy.workdir / "site.conf").read_text()
        shipped = (ROOT / "deploy" / "nginx.conf").read_text()
        # Only ports, servers and certificates differ: the locations and the board affinity are the shipped ones.
        for line in shipped.splitlines():
            if line.strip().startswith(("location", "hash", "least_conn", "proxy_", "map", "client_max_body")):
                assert line in rendered.splitlines(), line
    finally:
        proxy.stop()


class KumppaniProcess:
    """``kumppani serve`` as its own process, its log in a file."""

    def __init__(self, database_url: str, redis_url: str, data_dir: Path, base_url: str) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "KUMPPANI_DATABASE_URL": database_url,
            "KUMPPANI_REDIS_URL": redis_url,
            "KUMPPANI_DATA_DIR": str(data_dir),
            "KUMPPANI_SECRET_KEY": "proxy-test-key-" + "z" * 30,
            "KUMPPANI_BASE_URL": base_url,
            "KUMPPANI_OPS_PER_SECOND": "1000",
            "KUMPPANI_OPS_BURST": "1000",
            "KUMPPANI_LOG_LEVEL": "WARNING",
            "KUMPPANI_METRICS_TOKEN": METRICS_TOKEN,
        }
        self.log_path = data_dir / f"server-{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve", "--port", str(self.port)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, f"port {self.port} never became ready"
            time.sleep(0.05)

    def board_sockets(self) -> int:
        """Established connections to this process (nginx's, one per client socket)."""
        return sum(
            1
            for c in psutil.Process(self.proc.pid).net_connections(kind="tcp")
            if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == self.port
        )

    def metrics(self) -> dict[str, float]:
        """This process's metrics, read as Prometheus would: samples by name and labels."""
        from prometheus_client.parser import text_string_to_metric_families

        answer = httpx.get(
            f"http://127.0.0.1:{self.port}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=5
        )
        assert answer.status_code == 200, answer.text
        samples = {}
        for family in text_string_to_metric_families(answer.text):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if k != "le")
                if "le" not in sample.labels:
                    samples[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
        return samples

    def stop(self) -> int:
        """SIGTERM, as systemd or Kubernetes stops a process; its exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@dataclass
class Board:
    id: str
    stage: str
    lane: str


@dataclass
class Cluster:
    seeded: Seeded
    boards: list[Board]
    processes: list[KumppaniProcess]
    proxy: Nginx
    database_url: str
    redis_url: str

    def client(self, board: Board, who: str) -> BoardClient:
        return BoardClient(
            self.proxy.ws_url(board.id),
            cookie=self.seeded.cookie(who, secure=True),
            origin=self.proxy.base,
            tls=self.proxy.client_ssl(),
        )


async def _more_boards(database_url: str, seeded: Seeded, count: int) -> list[Board]:
    from boards.catalogue import create_board
    from boards.models import Item

    engine = create_engine(database_url)
    made = []
    try:
        async with engine.begin() as conn:
            for n in range(count):
                board = await create_board(conn, f"Polku {n}", "journey", team_id=seeded.team)
                rows = (
                    await conn.execute(
                        select(Item.type, Item.id)
                        .where(Item.board_id == board, Item.type.in_(("stage", "lane")))
                        .order_by(Item.order_key)
                    )
                ).all()
                first = {kind: next(i for k, i in rows if k == kind) for kind in ("stage", "lane")}
                made.append(Board(board, first["stage"], first["lane"]))
    finally:
        await engine.dispose()
    return made


@pytest.fixture
async def cluster(nginx_installed: str, pg_url: str, redis_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    await asyncio.to_thread(upgrade, pg_url)
    seeded = await seed_workspace(pg_url)
    boards = [Board(seeded.board, seeded.stage, seeded.lane), *await _more_boards(pg_url, seeded, BOARDS - 1)]
    # The processes' public address is the proxy's: their Origin check and cookies follow it.
    proxy = Nginx.prepare([])
    processes = [KumppaniProcess(pg_url, redis_url, tmp_path, proxy.base) for _ in range(2)]
    proxy.backends = [process.port for process in processes]
    proxy.write_config()
    try:
        for process in processes:
            await asyncio.to_thread(process.wait_ready)
        proxy.start()
        yield Cluster(seeded, boards, processes, proxy, pg_url, redis_url)
    finally:
        for process in processes:
            process.stop()
        proxy.stop()


async def database_state(url: str, board_id: str) -> dict[str, Any]:
    from boards.models import Board as BoardRow
    from boards.models import Item, Operation

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            head = (await conn.execute(select(BoardRow.seq).where(BoardRow.id == board_id))).scalar_one()
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
                    ).where(Item.board_id == board_id, Item.deleted_seq.is_(None))
                )
            ).all()
            ops = (
                await conn.execute(
                    select(Operation.seq, Operation.op_id).where(Operation.board_id == board_id).order_by(Operation.seq)
                )
            ).all()
    finally:
        await engine.dispose()
    return {
        "head": head,
        "items": {row[0]: tuple(row[1:]) for row in items},
        "ops": [(seq, op_id) for seq, op_id in ops],
    }


def _card(board: Board, text: str) -> p.ItemCreate:
    return p.ItemCreate(id=new_id(), item_type="card", fields={"text": text}, stage=board.stage, lane=board.lane)


async def _assert_clients_match_database(
    cluster: Cluster, clients: dict[str, list[BoardClient]], sent: dict[str, list[str]]
) -> None:
    for board_id, board_clients in clients.items():
        db = await database_state(cluster.database_url, board_id)
        counts = collections.Counter(op_id for _, op_id in db["ops"])
        for op_id in sent[board_id]:
            assert counts[op_id] == 1, f"{op_id} is in the operation log {counts[op_id]} times"
        assert len(db["ops"]) == len(sent[board_id]) == db["head"]
        assert [seq for seq, _ in db["ops"]] == list(range(1, db["head"] + 1))
        for client in board_clients:
            await client.wait_seq(db["head"], timeout=30)
            assert client.replica.comparable()["items"] == db["items"]


async def test_edits_through_nginx_reach_every_client_and_the_database(cluster: Cluster) -> None:
    # Plain requests go through the proxy too, each with its request id.
    async with httpx.AsyncClient(verify=cluster.proxy.client_ssl()) as http:
        answer = await http.get(f"{cluster.proxy.base}/readyz")
        assert answer.status_code == 200 and answer.headers["x-request-id"]
        insecure = await http.get(f"http://127.0.0.1:{cluster.proxy.http_port}/", follow_redirects=False)
        assert insecure.status_code == 301
        # The metrics are each process's own, scraped at its address; the proxy does not pass them on.
        outside = await http.get(f"{cluster.proxy.base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert outside.status_code == 404
        tokenless = await http.get(f"http://127.0.0.1:{cluster.processes[0].port}/metrics")
        assert tokenless.status_code == 401

    clients = {
        board.id: [cluster.client(board, "professional"), cluster.client(board, "customer")] for board in cluster.boards
    }
    # One more on the first board straight to each process: a board's writes then arrive at both.
    first = cluster.boards[0]
    for process in cluster.processes:
        clients[first.id].append(
            BoardClient(
                f"ws://127.0.0.1:{process.port}/ws/boards/{first.id}",
                cookie=cluster.seeded.cookie("professional", secure=True),
                origin=cluster.proxy.base,
            )
        )
    for board_clients in clients.values():
        for client in board_clients:
            await client.connect()
    assert sum(process.board_sockets() for process in cluster.processes) >= 2 * BOARDS + 2

    by_id = {board.id: board for board in cluster.boards}
    sent: dict[str, list[str]] = collections.defaultdict(list)

    async def write(board_id: str, client: BoardClient, n: int) -> None:
        for i in range(n):
            op_id = client.new_op_id()
            sent[board_id].append(op_id)
            await asyncio.wait_for(await client.send_op(_card(by_id[board_id], f"{op_id} {i}"), op_id), 15)

    await asyncio.gather(*[write(b, c, 8) for b, board_clients in clients.items() for c in board_clients])
    await _assert_clients_match_database(cluster, clients, sent)

    # What the processes report adds up to what the database holds.
    scraped = [await asyncio.to_thread(process.metrics) for process in cluster.processes]

    def total(name: str) -> float:
        return sum(s.get(name, 0.0) for s in scraped)

    written = sum(len(op_ids) for op_ids in sent.values())
    assert total("kumppani_operations_total{outcome=applied}") == written
    assert total("kumppani_batch_operations_sum") == written
    assert 0 < total("kumppani_transaction_seconds_count") <= written
    assert total("kumppani_connections") == sum(len(c) for c in clients.values())
    assert total("kumppani_fanout_seconds_count") >= total("kumppani_transaction_seconds_count")
    # The first board had a client straight at each process: one of them forwarded to the other.
    assert total("kumppani_forwarded_operations_total") >= 8
    assert total("kumppani_written_for_others_total") > 0
    assert total("kumppani_errors_total{kind=write}") == total("kumppani_outbox_dropped_total") == 0
    for board_clients in clients.values():
        for client in board_clients:
            await client.close()


async def _stay_connected(client: BoardClient, codes: list[int], stop: asyncio.Event) -> None:
    """Reconnect (with the last sequence number, resending what is unacknowledged) whenever the socket closes."""
    while not stop.is_set():
        if client.connected:
            await asyncio.sleep(0.01)
            continue
        if client.closed_code is not None:
            codes.append(client.closed_code)
            client.closed_code = None
        try:
            await client.connect()
        except (ConnectionRefusedError, OSError, websockets.InvalidStatus, websockets.InvalidHandshake):
            await asyncio.sleep(0.1)


async def test_a_rolling_restart_loses_nothing_and_applies_nothing_twice(cluster: Cluster) -> None:
    import redis.asyncio as aioredis

    clients = {
        board.id: [cluster.client(board, "professional"), cluster.client(board, "customer")] for board in cluster.boards
    }
    everyone = [c for board_clients in clients.values() for c in board_clients]
    for client in everyone:
        await client.connect()
    # Stop the process that serves more of the sockets (the proxy spreads boards by their URI).
    stopping, staying = sorted(cluster.processes, key=KumppaniProcess.board_sockets, reverse=True)
    moving = stopping.board_sockets()
    assert moving > 0

    by_id = {board.id: board for board in cluster.boards}
    sent: dict[str, list[str]] = collections.defaultdict(list)
    futures: list[asyncio.Future[p.Ack]] = []
    codes: list[int] = []
    stop = asyncio.Event()
    keepers = [asyncio.create_task(_stay_connected(c, codes, stop)) for c in everyone]
    writing = 40
    a_third_sent = asyncio.Event()

    async def write(board_id: str, client: BoardClient) -> None:
        for i in range(writing):
            op_id = client.new_op_id()
            sent[board_id].append(op_id)
            futures.append(await client.send_op(_card(by_id[board_id], f"{op_id} {i}"), op_id))
            if len(futures) >= len(everyone) * writing // 3:
                a_third_sent.set()
            await asyncio.sleep(0.02)

    writers = [asyncio.create_task(write(b, c)) for b, board_clients in clients.items() for c in board_clients]
    await a_third_sent.wait()
    exit_status = await asyncio.to_thread(stopping.stop)
    # uvicorn finishes its shutdown, then raises the signal again, as a process stopped by it should.
    assert exit_status in (0, -signal.SIGTERM), stopping.log_path.read_text()

    # It handed its boards back instead of leaving them leased to a process that is gone.
    redis = aioredis.from_url(cluster.redis_url)
    try:
        holders = [await redis.get(f"kumppani:board-writer:{board.id}") for board in cluster.boards]
    finally:
        await redis.aclose()
    assert not [h for h in holders if h is not None and h.decode().startswith(f"{stopping.proc.pid}-")]

    await asyncio.gather(*writers)
    acks = [await asyncio.wait_for(f, 30) for f in futures]
    stop.set()
    await asyncio.gather(*keepers)
    assert len(acks) == len(everyone) * writing
    # Its sockets were closed as a service restart; they came back through the proxy to the other process.
    assert codes and set(codes) == {1012}, codes
    assert len(codes) == moving
    assert staying.board_sockets() == len(everyone)
    await _assert_clients_match_database(cluster, clients, sent)
    for client in everyone:
        await client.close()
