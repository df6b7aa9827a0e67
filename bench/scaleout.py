"""Scale-out benchmark: Kumppani processes on PostgreSQL and Redis behind the shipped nginx site.

    python -m bench.scaleout                      # 2 then 4 processes, 1000 clients, 50 boards, 500 ops/s
    python -m bench.scaleout --processes 2 --seconds 10

Every client connects through nginx (TLS, board sockets hashed by URI as in
``deploy/nginx.conf``). Two writers per board update their own card at a steady
rate, the send time in the text; every other client of the board records how
long the change took to reach it (fan-out latency, end to end through the
proxy). After the window each client waits for its board's head and compares
its replica with the database: nothing lost, nothing extra. Load generators are
separate processes (``--generate``), so the client side does not share one
interpreter with itself. Only 127.0.0.1 is ever targeted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil

from bench.proxy import Nginx
from bench.seed import REDIS_URL, create_pg_database, drop_pg_database, migrate
from bench.servers import SECRET, free_port, kumppani_bin

MARK = "scaleout:"


async def seed(url: str, *, boards: int, per_board: int) -> dict[str, Any]:
    """A team of ``per_board`` people (each with a session) and ``boards`` boards, each with one card per writer."""
    from sqlalchemy import select

    from auth import directory as d
    from auth.sessions import create_session
    from boards import protocol as p
    from boards.catalogue import create_board
    from boards.engine import Limits, Submission, apply_batch_sync
    from boards.models import Item
    from foundation.db import TransactionRunner, create_engine, new_id

    engine = create_engine(url)
    runner = TransactionRunner(engine)
    try:
        async with engine.begin() as conn:
            org = await d.create_organisation(conn, "Skaalauskunta")
            team = await d.create_team(conn, "Kotihoito", org)
            people, tokens = [], []
            for i in range(per_board):
                pid = await d.create_person(conn, f"Henkilö {i:02d}", organisation_id=org)
                await d.add_member(conn, team, pid, "professional")
                people.append(pid)
                tokens.append(await create_session(conn, pid, absolute=timedelta(hours=12)))
            made = []
            for b in range(boards):
                board = await create_board(conn, f"Skaalaus {b}", "journey", team_id=team)
                cell = {}
                for kind in ("stage", "lane"):
                    cell[kind] = (
                        await conn.execute(
                            select(Item.id).where(Item.board_id == board, Item.type == kind).order_by(Item.order_key)
                        )
                    ).scalar()
                made.append((board, cell["stage"], cell["lane"]))
        spec_boards = []
        for board, stage, lane in made:
            cards = [new_id(), new_id()]
            subs = [
                Submission(
                    people[w],
                    f"seed-{w}",
                    p.ItemCreate(id=cards[w], item_type="card", fields={"text": "0"}, stage=stage, lane=lane),
                )
                for w in range(2)
            ]
            await runner.run(apply_batch_sync, board, subs, Limits())
            spec_boards.append({"id": board, "cards": cards})
        return {"tokens": tokens, "boards": spec_boards}
    finally:
        await runner.close()
        await engine.dispose()


# ------------------------------------------------------------------ the load generator (its own process)


async def _database_items(url: str, board_ids: list[str]) -> dict[str, tuple[int, dict[str, Any]]]:
    from sqlalchemy import select

    from boards.models import Board, Item
    from foundation.db import create_engine

    engine = create_engine(url)
    result: dict[str, tuple[int, dict[str, Any]]] = {}
    try:
        async with engine.connect() as conn:
            for board in board_ids:
                head = (await conn.execute(select(Board.seq).where(Board.id == board))).scalar_one()
                rows = (
                    await conn.execute(
                        select(Item.id, Item.fields, Item.version).where(
                            Item.board_id == board, Item.deleted_seq.is_(None)
                        )
                    )
                ).all()
                result[board] = (head, {r[0]: (r[1], r[2]) for r in rows})
    finally:
        await engine.dispose()
    return result


async def generate(spec: dict[str, Any]) -> dict[str, Any]:
    import ssl

    from boards import protocol as p
    from boards.client import BoardClient

    tls = ssl.create_default_context(cafile=spec["cafile"])
    latencies: list[int] = []
    errors = 0
    clients: list[tuple[str, BoardClient]] = []
    for slot in spec["slots"]:
        board, person = slot["board"], slot["person"]
        client = BoardClient(
            f"wss://127.0.0.1:{spec['port']}/ws/boards/{board}",
            cookie=f"__Host-kumppani={spec['tokens'][person]}",
            origin=spec["origin"],
            tls=tls,
        )

        def on_event(event: p.Event, me: int = person) -> None:
            text = event.data.get("fields", {}).get("text", "")
            if text.startswith(MARK):
                writer, sent_ns = text[len(MARK) :].split(":", 2)[:2]
                if int(writer) != me:
                    latencies.append(time.monotonic_ns() - int(sent_ns))

        client.on_event = on_event
        clients.append((board, client))
    for _, client in clients:
        await client.connect()
    print("READY", flush=True)
    start_ns = int(sys.stdin.readline().split()[1])
    stop_ns = start_ns + int(spec["seconds"] * 1e9)
    interval_ns = int(1e9 / spec["rate_per_writer"])

    async def write(client: BoardClient, card: str, me: int, phase: float) -> int:
        nonlocal errors
        sent = 0
        due = start_ns + int(phase * interval_ns)
        pending = []
        while due < stop_ns:
            await asyncio.sleep(max(0, due - time.monotonic_ns()) / 1e9)
            command = p.ItemUpdate(id=card, fields={"text": f"{MARK}{me}:{time.monotonic_ns()}:{sent}"})
            pending.append(await client.send_op(command))
            sent += 1
            due += interval_ns
        for future in pending:
            try:
                await asyncio.wait_for(future, 30)
            except Exception:
                errors += 1
        return sent

    writers = [
        write(client, slot["card"], slot["person"], (i * 0.618) % 1)
        for (_, client), slot, i in zip(clients, spec["slots"], range(len(clients)), strict=True)
        if slot.get("card")
    ]
    sent = sum(await asyncio.gather(*writers))
    database = await _database_items(spec["database_url"], sorted({b for b, _ in clients}))
    mismatched = 0
    for board, client in clients:
        head, items = database[board]
        try:
            await client.wait_seq(head, timeout=60)
        except TimeoutError:
            mismatched += 1
            continue
        mine = {i: (d["fields"], d["version"]) for i, d in client.replica.items.items()}
        mismatched += mine != items
        errors += len(client.errors)
    for _, client in clients:
        await client.close()
    return {"sent": sent, "latencies": latencies, "errors": errors, "mismatched": mismatched, "clients": len(clients)}


# ------------------------------------------------------------------ the conductor


def _percentile(values: list[int], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


def run(processes: int, *, boards: int, per_board: int, rate: float, seconds: float, generators: int) -> dict[str, Any]:
    url = create_pg_database()
    workdir = Path(tempfile.mkdtemp(prefix="kumppani-scaleout-"))
    servers: list[subprocess.Popen[bytes]] = []
    proxy: Nginx | None = None
    try:
        migrate(url)
        world = asyncio.run(seed(url, boards=boards, per_board=per_board))
        ports = [free_port() for _ in range(processes)]
        proxy = Nginx.prepare(ports)
        for port in ports:
            env = {
                "PATH": "/usr/bin:/bin",
                "KUMPPANI_DATABASE_URL": url,
                "KUMPPANI_REDIS_URL": REDIS_URL,
                "KUMPPANI_DATA_DIR": str(workdir),
                "KUMPPANI_SECRET_KEY": SECRET,
                "KUMPPANI_BASE_URL": proxy.base,
                "KUMPPANI_OPS_PER_SECOND": "1000",
                "KUMPPANI_OPS_BURST": "5000",
                "KUMPPANI_CONNECTIONS_PER_PERSON": "1000",
                "KUMPPANI_LOG_LEVEL": "WARNING",
            }
            with open(workdir / f"server-{port}.log", "wb") as log:
                servers.append(
                    subprocess.Popen(
                        [kumppani_bin(), "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=log
                    )
                )
        for port in ports:
            _wait_http(f"http://127.0.0.1:{port}/readyz")
        proxy.start()
        writers_per_board = 2
        slots = [
            {
                "board": b["id"],
                "person": person,
                "card": b["cards"][person] if person < writers_per_board else None,
            }
            for b in world["boards"]
            for person in range(per_board)
        ]
        common = {
            "port": proxy.https_port,
            "origin": proxy.base,
            "cafile": str(proxy.certificate),
            "tokens": world["tokens"],
            "database_url": url,
            "seconds": seconds,
            "rate_per_writer": rate / (boards * writers_per_board),
        }
        procs = []
        for g in range(generators):
            spec = {**common, "slots": slots[g::generators]}
            path = workdir / f"generator-{g}.json"
            path.write_text(json.dumps(spec))
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.scaleout", "--generate", str(path)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.startswith("READY"):
                raise RuntimeError(f"a load generator failed to connect: {line!r}")
        tree = [psutil.Process(s.pid) for s in servers]
        load = [psutil.Process(p.pid) for p in procs]
        assert proxy.proc is not None
        nginx = [psutil.Process(proxy.proc.pid), *psutil.Process(proxy.proc.pid).children()]
        cpu_before = [_cpu(group) for group in (tree, load, nginx)]
        start = time.monotonic_ns() + 200_000_000
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(f"GO {start}\n")
            proc.stdin.flush()
        time.sleep(seconds + 0.2)
        cpu_after = [_cpu(group) for group in (tree, load, nginx)]
        busy = [100 * (after - before) / seconds for before, after in zip(cpu_before, cpu_after, strict=True)]
        results = []
        for proc in procs:
            out, _ = proc.communicate(timeout=300)
            results.append(json.loads(out.strip().splitlines()[-1]))
        latencies = [v for r in results for v in r["latencies"]]
        sent = sum(r["sent"] for r in results)
        return {
            "processes": processes,
            "clients": sum(r["clients"] for r in results),
            "boards": boards,
            "offered_ops_per_second": rate,
            "ops_per_second": sent / seconds,
            "deliveries_per_second": len(latencies) / seconds,
            "p50_ms": _percentile(latencies, 0.50),
            "p95_ms": _percentile(latencies, 0.95),
            "p99_ms": _percentile(latencies, 0.99),
            "errors": sum(r["errors"] for r in results),
            "clients_unlike_database": sum(r["mismatched"] for r in results),
            "server_cpu_percent": busy[0],
            "client_cpu_percent": busy[1],
            "nginx_cpu_percent": busy[2],
        }
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
        if proxy is not None:
            proxy.stop()
        drop_pg_database(url)


def _cpu(processes: list[psutil.Process]) -> float:
    times = [p.cpu_times() for p in processes]
    return float(sum(t.user + t.system for t in times))


def _wait_http(url: str, timeout: float = 30) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaleout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--boards", type=int, default=50)
    parser.add_argument("--clients-per-board", type=int, default=20)
    parser.add_argument("--rate", type=float, default=500, help="operations per second in total")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--generators", type=int, default=2, help="load generator processes")
    parser.add_argument("--generate", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.generate:
        print(json.dumps(asyncio.run(generate(json.loads(Path(args.generate).read_text())))), flush=True)
        return 0
    print(f"machine: {psutil.cpu_count()} CPUs, load average {psutil.getloadavg()[0]:.1f} before the runs")
    header = (
        "processes  clients  ops/s  deliveries/s  p50 ms  p95 ms  p99 ms  errors  unlike db"
        "  CPU % servers / load generators / nginx"
    )
    print(header)
    for n in args.processes:
        r = run(
            n,
            boards=args.boards,
            per_board=args.clients_per_board,
            rate=args.rate,
            seconds=args.seconds,
            generators=args.generators,
        )
        print(
            f"{r['processes']:>9}  {r['clients']:>7}  {r['ops_per_second']:>5.0f}  {r['deliveries_per_second']:>12.0f}"
            f"  {r['p50_ms']:>6.1f}  {r['p95_ms']:>6.1f}  {r['p99_ms']:>6.1f}  {r['errors']:>6}"
            f"  {r['clients_unlike_database']:>9}  {r['server_cpu_percent']:>7.0f} / {r['client_cpu_percent']:.0f}"
            f" / {r['nginx_cpu_percent']:.0f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
