"""Kumppani's benchmark: ``python -m bench.run`` (``make bench``). See docs/performance.md.

In one run, with one load generator, it measures three servers side by side:

* ``kumppani``     the full pipeline (validation, permissions, persistence, broadcast):
                   ``kumppani serve`` on a fresh migrated SQLite database;
* ``relay``        a bare relay on our own stack (Starlette + uvicorn, websockets-sansio);
* ``node``         a bare relay on Node's ``ws``;
* ``kumppani-x2``  two ``kumppani serve`` processes on two ports, PostgreSQL + Redis,
                   clients split between them.

and then resilience (every client dropped mid-run), resume, snapshot and idle memory,
prints every figure with PASS/FAIL against the targets, and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import disk, probes, seed, servers
from bench.servers import OPS_BURST, OPS_PER_SECOND, RssSampler, ServerGroup

RESULTS = servers.BENCH / "results"
WRITERS = 4
DEFAULT_CELLS = "10x50,10x200,50x50,50x200,200x50,200x200"
QUICK_CELLS = "10x50,200x200"
ALL_SERVERS = ("kumppani", "relay", "node", "kumppani-x2")
SECTIONS = ("disk", "load", "disconnect", "resume", "snapshot", "idle")


def log(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------------- setup


class Context:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="kumppani-bench-"))
        self.logs = RESULTS / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.sqlite: seed.Workspace | None = None
        self.pg: seed.Workspace | None = None
        self.people = max(args.max_clients, args.idle_connections + 1) + 8
        self.started = time.monotonic()

    def prepare_sqlite(self) -> seed.Workspace:
        if self.sqlite is None:
            url = seed.sqlite_url(self.tmp / "sqlite")
            started = time.monotonic()
            seed.migrate(url)
            self.sqlite = asyncio.run(seed.seed(url, people=self.people, writers=WRITERS))
            log(f"  fresh SQLite database migrated and seeded in {time.monotonic() - started:.1f} s")
        return self.sqlite

    def prepare_pg(self) -> seed.Workspace:
        if self.pg is None:
            started = time.monotonic()
            url = seed.create_pg_database()
            self.pg = seed.Workspace(url, "", [], [], {})  # so that cleanup drops it even if seeding fails
            seed.migrate(url)
            self.pg = asyncio.run(seed.seed(url, people=self.people, writers=WRITERS))
            log(
                f"  fresh PostgreSQL database {url.rsplit('/', 1)[1]} migrated and seeded in "
                f"{time.monotonic() - started:.1f} s"
            )
        return self.pg

    def group(self, kind: str) -> ServerGroup:
        if kind == "kumppani":
            url = self.prepare_sqlite().database_url
            seed.ensure_migrated(url)
            return servers.kumppani(url, self.tmp / "data", self.logs)
        if kind == "kumppani-x2":
            url = self.prepare_pg().database_url
            seed.ensure_migrated(url)
            return servers.kumppani(url, self.tmp / "data", self.logs, processes=2, redis_url=seed.REDIS_URL)
        if kind == "relay":
            return servers.python_relay(self.logs)
        if kind == "node":
            return servers.node_relay(self.logs)
        raise ValueError(kind)

    def quiet_disk(self) -> None:
        """Before a run: flush what earlier runs left for the disk to write.

        Kumppani fsyncs every commit; a PostgreSQL checkpoint or the kernel's
        writeback of an earlier run's files falling inside the window made single
        commits wait up to ~100 ms here, in whichever server was running then.
        """
        if self.pg is not None:
            with contextlib.suppress(Exception):
                seed.checkpoint_pg()
        os.sync()

    def workspace(self, kind: str) -> seed.Workspace:
        return self.prepare_pg() if kind == "kumppani-x2" else self.prepare_sqlite()

    def cleanup(self) -> None:
        if self.pg is not None:
            with contextlib.suppress(Exception):
                seed.drop_pg_database(self.pg.database_url)
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------------- load cells


def _client_specs(ctx: Context, kind: str, group: ServerGroup, n: int) -> list[dict[str, Any]]:
    specs = []
    ws = ctx.workspace(kind) if kind.startswith("kumppani") else None
    for i in range(n):
        proc = group.procs[i % len(group.procs)]
        spec: dict[str, Any] = {"host": "127.0.0.1", "port": proc.port, "origin": f"http://127.0.0.1:{proc.port}"}
        writer = i if i < WRITERS else -1
        spec["writer"] = writer
        if ws is not None:
            spec["path"] = f"/ws/boards/{ws.boards['load']}"
            spec["cookie"] = ws.cookie(i)
            if writer >= 0:
                spec["card"] = ws.cards["load"][writer]
        else:
            spec["path"] = "/room/bench"
            if writer >= 0:
                spec["card"] = secrets.token_hex(16)
        specs.append(spec)
    return specs


def _machine_busy() -> float:
    """CPU seconds all cores spent busy since boot (not idle, not waiting for I/O)."""
    import psutil

    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0))


def _aux_processes(ctx: Context, kind: str) -> list[Any]:
    """PostgreSQL backends of the benchmark's database and the Redis server: the x2 setup's database CPU."""
    import psutil

    if kind != "kumppani-x2" or ctx.pg is None:
        return []
    name = ctx.pg.database_url.rsplit("/", 1)[1]
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            if (proc.info["name"] or "").startswith("postgres") and f" {name} " in f" {cmd} ":
                found.append(proc)
            elif (proc.info["name"] or "").startswith("redis-server"):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _cpu_of(processes: list[Any]) -> dict[int, float]:
    out = {}
    for proc in processes:
        try:
            t = proc.cpu_times()
            out[proc.pid] = t.user + t.system
        except Exception:
            continue
    return out


def _percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def _spawn_generators(
    ctx: Context, kind: str, group: ServerGroup, n: int, rate: float, run_id: str
) -> list[tuple[subprocess.Popen[str], Path, Path]]:
    """Start the load generator processes; clients (writers too) are dealt round-robin between them."""
    args = ctx.args
    writers = min(WRITERS, n)
    clients = _client_specs(ctx, kind, group, n)
    procs = max(1, min(args.gen_procs, n))
    actor = secrets.token_hex(16)
    gens = []
    for g in range(procs):
        spec_path = ctx.tmp / f"spec-{run_id}-{g}.json"
        lat_path = ctx.tmp / f"lat-{run_id}-{g}.bin"
        spec = {
            "mode": "kumppani" if kind.startswith("kumppani") else "relay",
            "run_id": run_id,
            "clients": clients[g::procs],
            "writer_rate": rate / writers,
            "writers_total": writers,
            "warmup": args.warmup,
            "window": args.window,
            "drain": 10,
            "out": str(lat_path),
            "actor": actor,
        }
        spec_path.write_text(json.dumps(spec))
        gen = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen", str(spec_path)],
            cwd=servers.ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        gens.append((gen, spec_path, lat_path))
    return gens


def _merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {"sent": {}, "clients": []}
    for r in results:
        merged["sent"].update(r["sent"])
        merged["clients"].extend(r["clients"])
    for key in ("sent_window", "receipts_window", "frames_window", "gen_cpu_window"):
        merged[key] = sum(r[key] for r in results)
    merged["lag_p99_ms"] = max(r["lag_p99_ms"] for r in results)
    merged["lag_max_ms"] = max(r["lag_max_ms"] for r in results)
    merged["gen_cpu_max_window"] = max(r["gen_cpu_window"] for r in results)
    return merged


def load_run(ctx: Context, kind: str, n: int, rate: float, *, profile_to: Path | None = None) -> dict[str, Any]:
    """One run of one server in one cell, on a freshly started server; raises if the run is not valid."""
    args = ctx.args
    group = ctx.group(kind)
    writers = min(WRITERS, n)
    run_id = secrets.token_hex(3)
    ctx.quiet_disk()
    group.start()
    startup_peak, reset_ok = group.reset_peak()
    sampler = RssSampler(group)
    sampler.start()
    gens: list[tuple[subprocess.Popen[str], Path, Path]] = []
    try:
        gens = _spawn_generators(ctx, kind, group, n, rate, run_id)
        connect_s = 0.0
        for gen, _, _ in gens:
            assert gen.stdout is not None
            ready = gen.stdout.readline()
            if not ready.startswith("READY"):
                raise RuntimeError(f"the load generator failed to connect its clients ({ready.strip()!r})")
            connect_s = max(connect_s, float(ready.split()[2]))
        time.sleep(0.5)
        t0 = time.monotonic_ns() + 300_000_000
        for gen, _, _ in gens:
            assert gen.stdin is not None
            gen.stdin.write(f"GO {t0}\n")
            gen.stdin.flush()
        w_start = t0 + int(args.warmup * 1e9)
        w_end = w_start + int(args.window * 1e9)
        # Late in the warm-up: the servers open some database connections only when writes begin.
        time.sleep(max(0.0, (w_start - 500_000_000 - time.monotonic_ns()) / 1e9))
        aux = _aux_processes(ctx, kind)
        time.sleep(max(0.0, (w_start - time.monotonic_ns()) / 1e9))
        cpu0 = group.cpu_seconds()
        machine0 = _machine_busy()
        aux0 = _cpu_of(aux)
        spy = None
        if profile_to is not None:
            spy = subprocess.Popen(
                [
                    _py_spy(),
                    "record",
                    "--pid",
                    str(group.pids[0]),
                    "--rate",
                    "250",
                    "--duration",
                    str(int(args.window)),
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--output",
                    str(profile_to),
                    *ctx.args.py_spy_flags,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        time.sleep(max(0.0, (w_end - time.monotonic_ns()) / 1e9))
        cpu1 = group.cpu_seconds()
        machine1 = _machine_busy()
        aux1 = _cpu_of(aux)
        outputs = []
        for gen, _, _ in gens:
            assert gen.stdout is not None
            line = gen.stdout.readline()
            if not line.startswith("RESULT "):
                raise RuntimeError(f"the load generator failed ({line.strip()!r})")
            outputs.append(json.loads(line[len("RESULT ") :]))
        if spy is not None:
            spy.wait(timeout=60)
        result = _merge(outputs)
        peak = group.peak_rss_bytes()
    finally:
        sampled_peak = sampler.stop()
        for gen, _, _ in gens:
            try:
                gen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                gen.kill()
        group.stop()
    lat = array("q")
    for _, spec_path, lat_path in gens:
        with open(lat_path, "rb") as f:
            lat.frombytes(f.read())
        lat_path.unlink(missing_ok=True)
        spec_path.unlink(missing_ok=True)
    values = sorted(lat)
    sent = {int(w): k for w, k in result["sent"].items()}
    expected = 0
    got = 0
    dups = 0
    over = 0
    for c in result["clients"]:
        dups += c["dups"]
        for w, k in sent.items():
            if w == c["writer"]:
                continue
            expected += k
            distinct, lo, hi = c["seen"].get(str(w), [0, 0, 0])
            got += distinct
            if distinct and (lo < 1 or hi > k):
                over += 1
    if not reset_ok:  # the high-water mark includes start-up: use the sampled peak
        peak = sampled_peak
    cpu = cpu1 - cpu0
    receipts = result["receipts_window"]
    window = args.window
    machine_pct = 100 * (machine1 - machine0) / window
    gen_pct = 100 * result["gen_cpu_window"] / window
    db_pct = 100 * sum(aux1[pid] - aux0[pid] for pid in aux1 if pid in aux0) / window
    others_pct = max(0.0, machine_pct - gen_pct - db_pct - 100 * cpu / window)
    errors = sum(c["errors"] for c in result["clients"])
    samples = [s for c in result["clients"] for s in c["error_samples"]][:3]
    if errors and any('"internal"' in s for s in samples):
        # The server failed to save (seen when the tree under test changed mid-run): not a valid run.
        raise RuntimeError(f"the server answered {errors} operations with errors, e.g. {samples[0]}")
    return {
        "server": kind,
        "clients": n,
        "rate": rate,
        "writers": writers,
        "p50_ms": _percentile(values, 0.50) / 1000,
        "p95_ms": _percentile(values, 0.95) / 1000,
        "p99_ms": _percentile(values, 0.99) / 1000,
        "max_ms": (values[-1] / 1000) if values else float("nan"),
        "samples": len(values),
        "deliveries_per_s": receipts / window,
        "frames_per_s": result["frames_window"] / window,
        "events_per_frame": receipts / result["frames_window"] if result["frames_window"] else float("nan"),
        "cpu_us_per_frame": 1e6 * cpu / result["frames_window"] if result["frames_window"] else float("nan"),
        "expected_per_s": rate * (n - 1),
        "ops_sent_per_s": result["sent_window"] / window,
        "cpu_s": cpu,
        "cpu_pct": 100 * cpu / window,
        "cpu_us_per_delivery": 1e6 * cpu / receipts if receipts else float("nan"),
        "peak_rss_mib": peak / 2**20,
        "sampled_peak_rss_mib": sampled_peak / 2**20,
        "startup_peak_rss_mib": startup_peak / 2**20,
        "delivered_pct": 100.0 * got / expected if expected else 0.0,
        "missing": expected - got,
        "duplicates": dups,
        "unexpected": over,
        "errors": errors,
        "error_samples": samples,
        "resyncs": sum(c["resyncs"] for c in result["clients"]),
        "acks": sum(c["acks"] for c in result["clients"]),
        "gen_procs": len(gens),
        "gen_cpu_pct": gen_pct,
        "gen_cpu_max_proc_pct": 100 * result["gen_cpu_max_window"] / window,
        "machine_busy_pct": machine_pct,
        "db_cpu_pct": db_pct if aux else float("nan"),
        "cpu_us_per_delivery_with_db": 1e6 * (cpu + db_pct * window / 100) / receipts if receipts else float("nan"),
        "others_cpu_pct": others_pct,
        "disturbed": others_pct > args.max_others,
        "send_lag_p99_ms": result["lag_p99_ms"],
        "send_lag_max_ms": result["lag_max_ms"],
        "connect_s": connect_s,
    }


MEDIAN_KEYS = (
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "deliveries_per_s",
    "frames_per_s",
    "events_per_frame",
    "cpu_us_per_frame",
    "ops_sent_per_s",
    "cpu_s",
    "cpu_pct",
    "cpu_us_per_delivery",
    "peak_rss_mib",
    "sampled_peak_rss_mib",
    "startup_peak_rss_mib",
    "gen_cpu_pct",
    "gen_cpu_max_proc_pct",
    "machine_busy_pct",
    "others_cpu_pct",
    "db_cpu_pct",
    "cpu_us_per_delivery_with_db",
    "send_lag_p99_ms",
    "connect_s",
)
WORST_MIN = ("delivered_pct",)
WORST_SUM = ("missing", "duplicates", "unexpected", "errors", "resyncs")


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of each performance figure; the worst of the correctness figures."""
    out = dict(runs[0])
    for key in MEDIAN_KEYS:
        out[key] = statistics.median(r[key] for r in runs)
    for key in WORST_MIN:
        out[key] = min(r[key] for r in runs)
    for key in WORST_SUM:
        out[key] = sum(r[key] for r in runs)
    out["runs"] = len(runs)
    out["disturbed"] = sum(bool(r["disturbed"]) for r in runs)
    out["p99_ms_runs"] = [round(r["p99_ms"], 2) for r in runs]
    return out


def parse_cells(text: str) -> list[tuple[int, int]]:
    cells = []
    for part in text.split(","):
        n, _, r = part.strip().lower().partition("x")
        cells.append((int(n), int(r)))
    return cells


def _attempt(
    ctx: Context, kind: str, n: int, rate: float, rep: int, results: dict[str, Any], *, retry: bool
) -> dict[str, Any] | None:
    """One valid run: a failed run is tried once more; a run disturbed by other load on the machine is
    run again up to --retries times, keeping the least disturbed."""
    failures = 0
    kept: dict[str, Any] | None = None
    attempts = 0
    while True:
        attempts += 1
        try:
            r = load_run(ctx, kind, n, rate)
        except Exception as exc:
            failures += 1
            log(f"  {kind:<12} run {rep + 1}: FAILED{' (will retry once)' if failures == 1 else ''}: {exc}")
            results["failed_runs"].append({"server": kind, "clients": n, "rate": rate, "error": str(exc)})
            if failures >= 2:
                return kept
            continue
        log(
            f"  {kind:<12} run {rep + 1}: p50 {r['p50_ms']:7.2f}  p99 {r['p99_ms']:7.2f} ms  "
            f"{r['deliveries_per_s']:8.0f} deliv/s  {r['cpu_us_per_delivery']:6.1f} µs/deliv  "
            f"cpu {r['cpu_pct']:5.1f}%  rss {r['peak_rss_mib']:6.1f} MiB  delivered {r['delivered_pct']:.2f}%  "
            f"gen {r['gen_cpu_pct']:4.0f}%  others {r['others_cpu_pct']:4.0f}%"
            + (f"  db {r['db_cpu_pct']:4.0f}%" if r["db_cpu_pct"] == r["db_cpu_pct"] else "")
            + ("  DISTURBED" if r["disturbed"] else "")
        )
        if kept is None or r["others_cpu_pct"] < kept["others_cpu_pct"]:
            kept = r
        if not r["disturbed"]:
            return r
        results["disturbed_runs"].append({k: r[k] for k in ("server", "clients", "rate", "others_cpu_pct", "p99_ms")})
        if not retry or attempts > ctx.args.retries or time.monotonic() - ctx.started > ctx.args.retry_until * 60:
            return kept


def run_load(ctx: Context, kinds: list[str], results: dict[str, Any]) -> None:
    args = ctx.args
    # The big cells carry the targets: run them first, while retries for disturbed runs are still allowed.
    cells = sorted(parse_cells(args.cells), key=lambda c: (-c[0], -c[1]))
    for n, rate in cells:
        runs = args.runs if n >= args.repeat_from else 1
        log(f"\n== {n} clients × {rate} ops/s ({runs} interleaved run{'s' if runs > 1 else ''} of {', '.join(kinds)})")
        collected: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
        for rep in range(runs):
            for kind in kinds:
                r = _attempt(ctx, kind, n, rate, rep, results, retry=n >= args.repeat_from)
                if r is None:
                    continue
                collected[kind].append(r)
        for runs_of in collected.values():
            if runs_of:
                results["load"].append(combine(runs_of) | {"all_runs": runs_of})


# ---------------------------------------------------------------------- disconnect cell


def disconnect_run(ctx: Context, kind: str) -> dict[str, Any]:
    args = ctx.args
    ws = ctx.workspace(kind)
    group = ctx.group(kind)
    n = args.disconnect_clients
    run_id = secrets.token_hex(3)
    spec_path = ctx.tmp / f"drop-{run_id}.json"
    clients = []
    writers = []
    for i in range(n):
        proc = group.procs[i % len(group.procs)]
        clients.append(
            {
                "url": f"ws://127.0.0.1:{proc.port}/ws/boards/{ws.boards['drop']}",
                "cookie": ws.cookie(i),
                "origin": f"http://127.0.0.1:{proc.port}",
            }
        )
        if i < WRITERS:
            writers.append({"client": i, "writer": i, "card": ws.cards["drop"][i]})
    spec = {
        "run_id": run_id,
        "clients": clients,
        "writers": writers,
        "writer_rate": args.disconnect_rate / len(writers),
        "duration": args.disconnect_seconds,
        "drop_start": args.disconnect_seconds * 0.25,
        "drop_span": args.disconnect_seconds * 0.5,
        "offline_max": 0.5,
    }
    spec_path.write_text(json.dumps(spec))
    with servers.running(group):
        out = subprocess.run(
            [sys.executable, "-m", "bench.resilience", str(spec_path)],
            cwd=servers.ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
    spec_path.unlink(missing_ok=True)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"the disconnect cell failed: {out.stderr.strip()[-800:]}")
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    result["server"] = kind
    result["rate"] = args.disconnect_rate
    return result


def run_disconnect(ctx: Context, kinds: list[str], results: dict[str, Any]) -> None:
    args = ctx.args
    log(
        f"\n== disconnect cell: {args.disconnect_clients} clients × {args.disconnect_rate} ops/s for "
        f"{args.disconnect_seconds:g} s; every client dropped once mid-run, then resumed"
    )
    for kind in kinds:
        try:
            r = disconnect_run(ctx, kind)
        except Exception as exc:
            log(f"  {kind:<12} FAILED: {exc}")
            results["disconnect"].append({"server": kind, "error": str(exc)})
            continue
        results["disconnect"].append(r)
        log(
            f"  {kind:<12} sent {r['sent']}, acked {r['acked']}; delivered exactly once "
            f"{r['delivered_exactly_once']}/{r['expected_deliveries']} ({r['exactly_once_pct']:.3f}%), "
            f"missing {r['missing']}, duplicates {r['duplicates']}, reconnects {r['reconnects']} "
            f"(median {r['reconnect_median_ms']:.0f} ms), replicas agree: {r['replicas_agree']}"
        )


# ---------------------------------------------------------------------- resume, snapshot, idle


def _target(
    ws: seed.Workspace | None, group: ServerGroup, board: str | None, person: int, proc: int = 0
) -> probes.Target:
    port = group.procs[proc].port
    if ws is None:
        return probes.Target("127.0.0.1", port, "/room/idle", f"http://127.0.0.1:{port}", None)
    return probes.Target("127.0.0.1", port, f"/ws/boards/{board}", f"http://127.0.0.1:{port}", ws.cookie(person))


def run_reads(ctx: Context, kinds: list[str], results: dict[str, Any], sections: set[str]) -> None:
    args = ctx.args
    log("\n== resume after 1,000 missed operations and snapshot of a 2,000-item board (hello → synced)")
    for kind in kinds:
        ws = ctx.workspace(kind)
        group = ctx.group(kind)
        entry: dict[str, Any] = {"server": kind}
        try:
            with servers.running(group):
                if "resume" in sections:
                    target = _target(ws, group, ws.boards["resume"], 1)
                    entry["resume"] = asyncio.run(probes.repeat_hello(target, ws.resume_since, args.repeats))
                if "snapshot" in sections:
                    target = _target(ws, group, ws.boards["snapshot"], 2)
                    entry["snapshot"] = asyncio.run(probes.repeat_hello(target, None, args.repeats))
        except Exception as exc:
            log(f"  {kind:<12} FAILED: {exc}")
            entry["error"] = str(exc)
        try:
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.probes",
                    ws.database_url,
                    ws.boards["snapshot"],
                    ws.people[2],
                    ws.boards["resume"],
                    str(ws.resume_since),
                    str(args.repeats),
                ],
                cwd=servers.ROOT,
                capture_output=True,
                text=True,
                timeout=300,
            )
            if out.returncode != 0:
                raise RuntimeError(
                    out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"
                )
            entry["server_side"] = json.loads(out.stdout.strip().splitlines()[-1])
        except Exception as exc:
            log(f"  {kind:<12} server-side query timing FAILED: {exc}")
            entry["server_side_error"] = str(exc)
        results["reads"].append(entry)
        ss = entry.get("server_side", {})
        nothing = {"query_ms": float("nan"), "encode_ms": float("nan")}
        if "resume" in entry:
            r = entry["resume"]
            log(
                f"  {kind:<12} resume {r['events']} missed ops: median {r['median_ms']:.1f} ms (min {r['min_ms']:.1f}, "
                f"max {r['max_ms']:.1f}); server query {ss.get('resume', nothing)['query_ms']:.1f} ms + encode "
                f"{ss.get('resume', nothing)['encode_ms']:.1f} ms"
            )
        if "snapshot" in entry:
            r = entry["snapshot"]
            log(
                f"  {kind:<12} snapshot {r['items']} items ({r['bytes'] / 1024:.0f} KiB): median "
                f"{r['median_ms']:.1f} ms "
                f"(min {r['min_ms']:.1f}, max {r['max_ms']:.1f}); server query "
                f"{ss.get('snapshot', nothing)['query_ms']:.1f} ms "
                f"+ encode {ss.get('snapshot', nothing)['encode_ms']:.1f} ms"
            )


def run_idle(ctx: Context, kinds: list[str], results: dict[str, Any]) -> None:
    count = ctx.args.idle_connections
    log(f"\n== memory per idle connection ({count} idle connections)")
    for kind in kinds:
        group = ctx.group(kind)
        try:
            with servers.running(group):
                if kind.startswith("kumppani"):
                    ws = ctx.workspace(kind)
                    targets = [_target(ws, group, ws.boards["idle"], i, i % len(group.procs)) for i in range(count + 1)]
                else:
                    targets = [_target(None, group, None, 0)] * (count + 1)
                r = asyncio.run(probes.idle_memory(group, targets, kumppani=kind.startswith("kumppani")))
        except Exception as exc:
            log(f"  {kind:<12} FAILED: {exc}")
            results["idle"].append({"server": kind, "error": str(exc)})
            continue
        r["server"] = kind
        results["idle"].append(r)
        log(
            f"  {kind:<12} RSS {r['rss_before_mib']:.1f} → {r['rss_after_mib']:.1f} MiB: "
            f"{r['kib_per_connection']:.1f} KiB per connection"
        )


# ---------------------------------------------------------------------- disk


def run_disk(ctx: Context, results: dict[str, Any]) -> None:
    """The disk's own commit times, before the load cells (bench/disk.py)."""
    ctx.quiet_disk()
    log("\n== disk: durable SQLite commits alone, in the benchmark's directory")
    r = disk.probe(ctx.tmp)
    results["disk"].append(r)
    log("  " + disk.describe(r))


# ---------------------------------------------------------------------- profile


def _py_spy() -> str:
    candidate = Path(sys.executable).with_name("py-spy")
    return str(candidate) if candidate.exists() else (shutil.which("py-spy") or "py-spy")


def run_profile(ctx: Context, results: dict[str, Any]) -> None:
    if not (Path(_py_spy()).exists() or shutil.which("py-spy")):
        log("\n== profile skipped: py-spy is not installed (pip install py-spy)")
        return
    n, rate = 200, 200
    if ctx.args.profile_cell:
        n, rate = parse_cells(ctx.args.profile_cell)[0]
    out = RESULTS / f"profile-kumppani-{n}x{rate}.txt"
    log(f"\n== profiling kumppani under {n} clients × {rate} ops/s with py-spy → {out.relative_to(servers.ROOT)}")
    r = load_run(ctx, "kumppani", n, rate, profile_to=out)
    from bench.profile import summarise

    summary = summarise(out)
    summary["run"] = {k: r[k] for k in ("p99_ms", "cpu_pct", "cpu_us_per_delivery", "deliveries_per_s")}
    results["profile"] = summary
    log(f"  (under py-spy: p99 {r['p99_ms']:.1f} ms, server CPU {r['cpu_pct']:.0f}% of a core)")
    log(summary["text"])


# ---------------------------------------------------------------------- timings

TIMINGS_SITE = Path(__file__).resolve().parent / "timings"


def run_timings(ctx: Context, kinds: list[str], results: dict[str, Any]) -> None:
    """One more 200×200 run of each Kumppani setup, timed from inside (bench/timings/sitecustomize.py)."""
    from bench.timings_report import summarise

    results["timings"] = {}
    for kind in kinds:
        out = RESULTS / f"timings-{kind}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        log(f"\n== timings inside {kind} under 200 clients × 200 ops/s → {out.relative_to(servers.ROOT)}")
        saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "BENCH_TIMINGS_DIR")}
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(TIMINGS_SITE), saved["PYTHONPATH"]) if p)
        os.environ["BENCH_TIMINGS_DIR"] = str(out)
        try:
            r = load_run(ctx, kind, 200, 200)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        processes, text = summarise(out)
        results["timings"][kind] = {"run": {k: r[k] for k in ("p50_ms", "p99_ms", "cpu_pct")}, "processes": processes}
        log(f"  (this run: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms)")
        log(text)


# ---------------------------------------------------------------------- report


def _find(rows: list[dict[str, Any]], server: str, n: int, rate: float) -> dict[str, Any] | None:
    for r in rows:
        if r["server"] == server and r["clients"] == n and r["rate"] == rate:
            return r
    return None


def _get(row: dict[str, Any] | None, key: str) -> float | None:
    return None if row is None else float(row[key])


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0 or a != a or b != b:
        return None
    return a / b


def _fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    if value is None or value != value:
        return "–"
    return f"{value:{spec}}{suffix}"


def load_table(results: dict[str, Any]) -> str:
    rows = results["load"]
    head = (
        f"{'cell':<9} {'server':<12} {'runs':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'deliv/s':>8} "
        f"{'µs CPU/d':>8} {'CPU %':>6} {'RSS MiB':>8} {'deliv %':>8} {'p99×N':>6} {'CPU×N':>6} {'RSS×N':>6} "
        f"{'ev/fr':>5} {'gen %':>5} {'db %':>5} {'oth %':>5}"
    )
    lines = [head, "-" * len(head)]
    cells = sorted({(r["clients"], r["rate"]) for r in rows})
    for n, rate in cells:
        node = _find(rows, "node", n, rate)
        for server in ALL_SERVERS:
            r = _find(rows, server, n, rate)
            if r is None:
                continue
            runs = f"{r.get('runs', 1)}{'*' if r.get('disturbed') else ''}"
            lines.append(
                f"{f'{n}×{rate:g}':<9} {server:<12} {runs:>5} {r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} "
                f"{r['p99_ms']:>8.2f} {r['deliveries_per_s']:>8.0f} {r['cpu_us_per_delivery']:>8.1f} "
                f"{r['cpu_pct']:>6.1f} {r['peak_rss_mib']:>8.1f} {r['delivered_pct']:>8.2f} "
                f"{_fmt(_ratio(r['p99_ms'], _get(node, 'p99_ms'))):>6} "
                f"{_fmt(_ratio(r['cpu_us_per_delivery'], _get(node, 'cpu_us_per_delivery'))):>6} "
                f"{_fmt(_ratio(r['peak_rss_mib'], _get(node, 'peak_rss_mib'))):>6} "
                f"{_fmt(r.get('events_per_frame'), '.1f'):>5} {r['gen_cpu_pct']:>5.0f} "
                f"{_fmt(r.get('db_cpu_pct'), '.0f'):>5} {r.get('others_cpu_pct', float('nan')):>5.0f}"
            )
        lines.append("")
    return "\n".join(lines)


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []

    def check(
        name: str, value: float | None, limit: float, unit: str, detail: str = "", *rows: dict[str, Any] | None
    ) -> None:
        ok = value is not None and value == value and value <= limit
        disturbed = any(r is not None and r.get("disturbed") for r in rows)
        checks.append(
            {
                "target": name,
                "value": value,
                "limit": limit,
                "unit": unit,
                "pass": ok,
                "disturbed": disturbed,
                "detail": detail,
            }
        )

    rows = results["load"]
    k = _find(rows, "kumppani", 200, 200)
    node = _find(rows, "node", 200, 200)
    x2 = _find(rows, "kumppani-x2", 200, 200)
    if k and node:
        check(
            "200×200 SQLite: p99 ≤ 1.5× Node relay",
            _ratio(k["p99_ms"], node["p99_ms"]),
            1.5,
            "×",
            f"{k['p99_ms']:.2f} ms vs {node['p99_ms']:.2f} ms",
            k,
            node,
        )
        check(
            "200×200 SQLite: server CPU per delivery ≤ 1.5× Node",
            _ratio(k["cpu_us_per_delivery"], node["cpu_us_per_delivery"]),
            1.5,
            "×",
            f"{k['cpu_us_per_delivery']:.1f} µs vs {node['cpu_us_per_delivery']:.1f} µs",
            k,
            node,
        )
        check(
            "200×200 SQLite: peak RSS ≤ 1.0× Node",
            _ratio(k["peak_rss_mib"], node["peak_rss_mib"]),
            1.0,
            "×",
            f"{k['peak_rss_mib']:.1f} MiB vs {node['peak_rss_mib']:.1f} MiB",
        )
    if k:
        missing_pct = 100.0 - k["delivered_pct"] + (100.0 if k["duplicates"] else 0.0)
        check(
            "200×200 SQLite: 100 % delivered exactly once",
            missing_pct,
            0.0,
            "% short",
            f"{k['delivered_pct']:.3f}% delivered, {k['missing']} missing, {k['duplicates']} duplicates",
        )
    for d in results["disconnect"]:
        if "error" in d:
            check(f"disconnect cell ({d['server']}): 100 % delivered exactly once", None, 0.0, "% short", d["error"])
            continue
        short = 100.0 - d["exactly_once_pct"]
        check(
            f"disconnect cell ({d['server']}): 100 % delivered exactly once",
            short,
            0.0,
            "% short",
            f"{d['delivered_exactly_once']}/{d['expected_deliveries']}, {d['missing']} missing, {d['duplicates']} "
            "duplicates",
        )
    if k and x2:
        check(
            "200×200 two processes PostgreSQL+Redis: p99 ≤ 2× single process",
            _ratio(x2["p99_ms"], k["p99_ms"]),
            2.0,
            "×",
            f"{x2['p99_ms']:.2f} ms vs {k['p99_ms']:.2f} ms",
            k,
            x2,
        )
    for entry in results["reads"]:
        if "resume" in entry:
            check(
                f"resume after {entry['resume']['events']} missed ({entry['server']}) ≤ 100 ms",
                entry["resume"]["median_ms"],
                100,
                "ms",
            )
        if "snapshot" in entry:
            check(
                f"snapshot of {entry['snapshot']['items']} items ({entry['server']}) ≤ 50 ms",
                entry["snapshot"]["median_ms"],
                50,
                "ms",
            )
    for entry in results["idle"]:
        if entry["server"].startswith("kumppani") and "error" not in entry:
            check(f"memory per idle connection ({entry['server']}) ≤ 50 KiB", entry["kib_per_connection"], 50, "KiB")
    return checks


def targets_table(checks: list[dict[str, Any]]) -> str:
    lines = []
    for c in checks:
        value = c["value"]
        shown = "–" if value is None or value != value else f"{value:.2f} {c['unit']}"
        verdict = ("PASS" if c["pass"] else "FAIL") + ("?" if c.get("disturbed") else " ")
        lines.append(f"  {verdict} {c['target']:<62} {shown:>12}  {c['detail']}")
    if any(c.get("disturbed") for c in checks):
        lines.append(
            "  PASS?/FAIL?: measured while other processes loaded the machine (see oth %); "
            "the ratio is not reliable, run again on a quiet machine."
        )
    return "\n".join(lines)


def other_tables(results: dict[str, Any]) -> str:
    out = []
    for r in results.get("disk", []):
        out.append("Disk (bench/disk.py; Kumppani's p99 carries its slowest commits, the relays write nothing):")
        out.append("  " + disk.describe(r))
    if results["disconnect"]:
        out.append("Disconnect cell (every client dropped once mid-run and resumed):")
        for d in results["disconnect"]:
            if "error" in d:
                out.append(f"  {d['server']:<12} FAILED: {d['error']}")
                continue
            out.append(
                f"  {d['server']:<12} {d['clients']} clients, {d['rate']:g} ops/s: {d['sent']} ops sent, "
                f"{d['acked']} acked; "
                f"exactly once {d['exactly_once_pct']:.3f}% ({d['missing']} missing, {d['duplicates']} duplicates); "
                f"reconnect median {d['reconnect_median_ms']:.0f} ms, max {d['reconnect_max_ms']:.0f} ms; replicas "
                f"agree: {d['replicas_agree']}"
            )
    if results["reads"]:
        out.append("Resume and snapshot (client-measured hello → synced, median; server-side query time):")
        nothing = {"query_ms": float("nan"), "encode_ms": float("nan")}
        for e in results["reads"]:
            if "error" in e:
                out.append(f"  {e['server']:<12} FAILED: {e['error']}")
            ss = e.get("server_side", {"resume": nothing, "snapshot": nothing})
            if "resume" in e:
                r = e["resume"]
                out.append(
                    f"  {e['server']:<12} resume {r['events']} ops: {r['median_ms']:.1f} ms "
                    f"(query {ss['resume']['query_ms']:.1f} ms, encode {ss['resume']['encode_ms']:.1f} ms, "
                    f"{r['bytes'] / 1024:.0f} KiB)"
                )
            if "snapshot" in e:
                r = e["snapshot"]
                out.append(
                    f"  {e['server']:<12} snapshot {r['items']} items: {r['median_ms']:.1f} ms "
                    f"(query {ss['snapshot']['query_ms']:.1f} ms, encode {ss['snapshot']['encode_ms']:.1f} ms, "
                    f"{r['bytes'] / 1024:.0f} KiB)"
                )
    if results["idle"]:
        out.append("Memory per idle connection (RSS growth of the server tree / connections):")
        for e in results["idle"]:
            if "error" in e:
                out.append(f"  {e['server']:<12} FAILED: {e['error']}")
                continue
            out.append(
                f"  {e['server']:<12} {e['kib_per_connection']:.1f} KiB ({e['connections']} connections, "
                f"{e['rss_before_mib']:.1f} → {e['rss_after_mib']:.1f} MiB)"
            )
    return "\n".join(out)


def report(results: dict[str, Any]) -> str:
    parts = [
        "",
        "=" * 100,
        "Kumppani benchmark — " + results["meta"]["started"],
        f"Kumppani runs with KUMPPANI_OPS_PER_SECOND={OPS_PER_SECOND} and KUMPPANI_OPS_BURST={OPS_BURST} "
        "(the default per-person limit of 20 ops/s, burst 60, would refuse a benchmark writer's 12.5–50 ops/s).",
        f"Measured window {results['meta']['window']:g} s after {results['meta']['warmup']:g} s of warm-up; "
        f"cells with ≥ {results['meta']['repeat_from']} clients: median of {results['meta']['runs']} interleaved runs.",
        "Latency: send → receipt at every other client. deliv/s: receipts per second in the window. "
        "µs CPU/d: server user+system CPU per delivery.",
        "RSS: peak resident memory of the server process tree. ×N: ratio to the Node ws relay in the same cell. "
        "ev/fr: events per ops frame (Kumppani batches). gen %: load generator CPU; db %: PostgreSQL backends and "
        "Redis (x2 only); oth %: everything else on the machine (% of one core; both cores = 200 %).",
        f"runs with *: some runs were disturbed (other processes above {results['meta']['max_others']:g} % of a core "
        "even after retries); see disturbed_runs in the JSON.",
        "",
    ]
    if results["load"]:
        parts.append(load_table(results))
    parts.append(other_tables(results))
    parts.append("")
    parts.append("Targets:")
    parts.append(targets_table(results["targets"]))
    context = context_lines(results)
    if context:
        parts.append("")
        parts.append("For context (not targets), 200×200:")
        parts.extend(context)
    return "\n".join(parts)


def context_lines(results: dict[str, Any]) -> list[str]:
    """What the targets' medians hide: each run's p99, and Kumppani against the relay on its own stack."""
    lines = []
    for server in ("kumppani", "relay", "node", "kumppani-x2"):
        row = _find(results["load"], server, 200, 200)
        if row is not None and row.get("p99_ms_runs"):
            shown = ", ".join(f"{v:g}" for v in row["p99_ms_runs"])
            lines.append(f"  p99 of each run, {server:<12} {shown} ms")
    k = _find(results["load"], "kumppani", 200, 200)
    relay = _find(results["load"], "relay", 200, 200)
    if k and relay:
        lines.append(
            "  Kumppani vs the bare relay on the same Python stack: "
            f"p99 {_fmt(_ratio(k['p99_ms'], relay['p99_ms']), suffix='×')}, "
            f"CPU per delivery {_fmt(_ratio(k['cpu_us_per_delivery'], relay['cpu_us_per_delivery']), suffix='×')}, "
            f"peak RSS {_fmt(_ratio(k['peak_rss_mib'], relay['peak_rss_mib']), suffix='×')}"
        )
    return lines


# ---------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m bench.run", description="Kumppani's benchmark (see docs/performance.md)."
    )
    ap.add_argument(
        "--quick", action="store_true", help=f"a fast subset: cells {QUICK_CELLS}, one run each, shorter windows"
    )
    ap.add_argument("--cells", help=f"comma-separated CLIENTSxOPS cells (default {DEFAULT_CELLS})")
    ap.add_argument("--servers", default=",".join(ALL_SERVERS), help="which servers to run (default: all four)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"which sections to run (default: {','.join(SECTIONS)})")
    ap.add_argument("--runs", type=int, help="interleaved runs of the big cells, reported as the median (default 3)")
    ap.add_argument(
        "--repeat-from", type=int, default=200, help="cells with at least this many clients get --runs runs"
    )
    ap.add_argument("--window", type=float, help="measured seconds per run (default 6)")
    ap.add_argument("--warmup", type=float, help="warm-up seconds before the window (default 2)")
    ap.add_argument("--no-pg", action="store_true", help="skip the two-process PostgreSQL + Redis server")
    ap.add_argument("--disconnect-clients", type=int, help="clients in the disconnect cell (default 50)")
    ap.add_argument("--disconnect-rate", type=float, help="ops/s in the disconnect cell (default 200)")
    ap.add_argument("--disconnect-seconds", type=float, help="length of the disconnect cell (default 8)")
    ap.add_argument("--idle-connections", type=int, help="idle connections for memory per connection (default 500)")
    ap.add_argument("--repeats", type=int, default=7, help="repetitions of the resume and snapshot timings")
    ap.add_argument("--profile", action="store_true", help="also profile Kumppani at 200×200 with py-spy")
    ap.add_argument("--profile-cell", help="the cell to profile (default 200x200)")
    ap.add_argument(
        "--timings",
        action="store_true",
        help="also time the stages of an operation inside each Kumppani setup at 200×200 (bench/timings/)",
    )
    ap.add_argument(
        "--max-others",
        type=float,
        default=40.0,
        help="a run is disturbed when other processes used more than this %% of a core (default 40)",
    )
    ap.add_argument(
        "--retries", type=int, default=1, help="extra runs of a big cell's run when it is disturbed (default 1)"
    )
    ap.add_argument(
        "--retry-until",
        type=float,
        default=7.0,
        help="no more retries after this many minutes, to bound the whole run (default 7)",
    )
    ap.add_argument(
        "--gen-procs", type=int, default=2, help="load generator processes, clients dealt between them (default 2)"
    )
    ap.add_argument("--strict", action="store_true", help="exit with status 1 when a target fails")
    ap.add_argument("--output", type=Path, help="where to write the JSON results (default bench/results/)")
    return ap


def apply_defaults(args: argparse.Namespace) -> None:
    quick = args.quick
    args.cells = args.cells or (QUICK_CELLS if quick else DEFAULT_CELLS)
    args.runs = args.runs or (1 if quick else 3)
    args.window = args.window or (4.0 if quick else 6.0)
    args.warmup = args.warmup or (1.5 if quick else 2.0)
    args.disconnect_clients = args.disconnect_clients or (30 if quick else 50)
    args.disconnect_rate = args.disconnect_rate or (100.0 if quick else 200.0)
    args.disconnect_seconds = args.disconnect_seconds or (5.0 if quick else 8.0)
    args.idle_connections = args.idle_connections or (200 if quick else 500)
    args.py_spy_flags = ["--gil"]
    args.max_clients = max([n for n, _ in parse_cells(args.cells)] + [args.disconnect_clients])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    apply_defaults(args)
    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    unknown = set(kinds) - set(ALL_SERVERS)
    if unknown:
        print(f"unknown servers: {', '.join(sorted(unknown))} (choose from {', '.join(ALL_SERVERS)})", file=sys.stderr)
        return 2
    if args.no_pg:
        kinds = [k for k in kinds if k != "kumppani-x2"]
    sections = {s.strip() for s in args.only.split(",") if s.strip()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    results: dict[str, Any] = {
        "meta": {
            "started": started,
            "command": " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])]),
            "python": platform.python_version(),
            "node": _version(["node", "--version"]),
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "cells": args.cells,
            "runs": args.runs,
            "repeat_from": args.repeat_from,
            "window": args.window,
            "warmup": args.warmup,
            "max_others": args.max_others,
            "retries": args.retries,
            "gen_procs": args.gen_procs,
            "ops_per_second_limit": OPS_PER_SECOND,
            "ops_burst_limit": OPS_BURST,
            "load_average_start": os.getloadavg(),
        },
        "load": [],
        "failed_runs": [],
        "disturbed_runs": [],
        "disconnect": [],
        "reads": [],
        "idle": [],
        "disk": [],
    }
    log(
        f"Kumppani benchmark, {started}: servers {', '.join(kinds)}; sections "
        f"{', '.join(s for s in SECTIONS if s in sections)}"
    )
    log(
        f"Kumppani is started with KUMPPANI_OPS_PER_SECOND={OPS_PER_SECOND} KUMPPANI_OPS_BURST={OPS_BURST} (default "
        "20/60)."
    )
    if "node" in kinds:
        servers.ensure_node_modules()
    ctx = Context(args)
    bench_started = time.monotonic()
    output = args.output or RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"

    def save() -> None:
        results["meta"]["seconds"] = time.monotonic() - bench_started
        results["targets"] = targets(results)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(results, indent=2, default=str))
        (RESULTS / "latest.json").write_text(json.dumps(results, indent=2, default=str))

    steps: list[tuple[str, Callable[[], None]]] = []
    if "disk" in sections:
        steps.append(("disk", lambda: run_disk(ctx, results)))
    if "load" in sections:
        steps.append(("load", lambda: run_load(ctx, kinds, results)))
    kumppani_kinds = [k for k in kinds if k.startswith("kumppani")]
    if "disconnect" in sections and kumppani_kinds:
        steps.append(("disconnect", lambda: run_disconnect(ctx, kumppani_kinds, results)))
    if sections & {"resume", "snapshot"} and kumppani_kinds:
        steps.append(("reads", lambda: run_reads(ctx, kumppani_kinds, results, sections)))
    if "idle" in sections:
        steps.append(("idle", lambda: run_idle(ctx, [k for k in kinds if k != "kumppani-x2"], results)))
    if args.profile:
        steps.append(("profile", lambda: run_profile(ctx, results)))
    if args.timings and kumppani_kinds:
        steps.append(("timings", lambda: run_timings(ctx, kumppani_kinds, results)))
    try:
        for _, step in steps:
            step()
            save()
    except KeyboardInterrupt:
        log("interrupted; reporting what was measured")
    finally:
        ctx.cleanup()
    save()
    log(report(results))
    log(
        f"\nResults: {output.relative_to(servers.ROOT) if output.is_relative_to(servers.ROOT) else output}"
        f"  ({results['meta']['seconds'] / 60:.1f} min)"
    )
    if args.strict and not all(c["pass"] for c in results["targets"]):
        return 1
    return 0


def _version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return "?"


if __name__ == "__main__":
    raise SystemExit(main())
