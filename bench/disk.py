"""How long a durable commit takes on this machine's disk, by itself.

Kumppani acknowledges an operation only after its transaction is on disk: on
SQLite a WAL commit with ``synchronous=FULL``, which ends in an fsync. The
relays write nothing. When one fsync takes tens of milliseconds, every
operation that arrives meanwhile waits for it, so the disk's slowest commits
show up in Kumppani's p99 and not in the relays'. This probe measures them
without a server: the same kind of commit (one row of about the size of an
operation), at about the rate the server commits batches at 200 ops/s, on the
same file system as the benchmark's databases, with the same shape of write as
a benchmark batch (two items updated, two operations logged, the board's
sequence advanced), so the database file grows and is checkpointed as the
server's does.

``python -m bench.disk [DIRECTORY] [COMMITS]`` prints the figures.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TEXT = "x" * 400
ITEMS = 2000
INTERVAL_S = 0.008  # ~125 commits a second: 200 ops/s in batches of 1.6
SLOW_MS = 10.0


_SCHEMA = """
CREATE TABLE board (id INTEGER PRIMARY KEY, seq INTEGER);
INSERT INTO board VALUES (1, 0);
CREATE TABLE item (id INTEGER PRIMARY KEY, fields TEXT, updated_seq INTEGER);
CREATE TABLE operation (
    board_id INTEGER, seq INTEGER, actor_id TEXT, op_id TEXT, data TEXT,
    PRIMARY KEY (board_id, seq), UNIQUE (board_id, actor_id, op_id)
);
"""


def probe(directory: Path, commits: int = 1000) -> dict[str, Any]:
    path = directory / "disk-probe.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
        conn.executemany("INSERT INTO item (id, fields) VALUES (?, ?)", ((i, TEXT) for i in range(ITEMS)))
        times: list[float] = []
        for n in range(commits):
            started = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE board SET seq = seq WHERE id = 1")
            for k in (2 * n, 2 * n + 1):
                conn.execute("UPDATE item SET fields = ?, updated_seq = ? WHERE id = ?", (f"{TEXT}{k}", k, k % 4))
                conn.execute(
                    "INSERT INTO operation (board_id, seq, actor_id, op_id, data) VALUES (1, ?, ?, ?, ?)",
                    (k, f"actor-{k % 4}", f"op-{k:032d}", TEXT),
                )
            conn.execute("UPDATE board SET seq = ? WHERE id = 1", (2 * n + 1,))
            conn.execute("COMMIT")
            elapsed = time.perf_counter() - started
            times.append(elapsed * 1000)
            time.sleep(max(0.0, INTERVAL_S - elapsed))
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    ordered = sorted(times)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "commits": commits,
        "p50_ms": at(0.50),
        "p99_ms": at(0.99),
        "p999_ms": at(0.999),
        "max_ms": ordered[-1],
        "slow": sum(1 for t in times if t > SLOW_MS),
        "slow_ms": SLOW_MS,
        "slowest_ms": [round(t, 1) for t in ordered[-5:]],
    }


def describe(r: dict[str, Any]) -> str:
    return (
        f"SQLite WAL commits with fsync, {r['commits']} batches alone: "
        f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
        f"p99.9 {r['p999_ms']:.1f} ms, max {r['max_ms']:.1f} ms; {r['slow']} slower than {r['slow_ms']:g} ms "
        f"(slowest {', '.join(f'{t:g}' for t in r['slowest_ms'])})"
    )


def main(argv: list[str]) -> None:
    commits = int(argv[1]) if len(argv) > 1 else 1000
    if argv:
        print(describe(probe(Path(argv[0]), commits)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        print(describe(probe(Path(tmp), commits)))


if __name__ == "__main__":
    main(sys.argv[1:])
