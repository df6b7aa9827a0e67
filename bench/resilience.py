"""The disconnect cell: every client loses its connection mid-run and resumes; nothing is lost or doubled.

Run by ``bench.run`` as ``python -m bench.resilience SPEC.json``. Every client is
Kumppani's own :class:`boards.client.BoardClient`. Writers send ``item.update``
operations at a steady rate without waiting for acknowledgements; in the middle
of the run each client in turn is dropped abruptly (:meth:`BoardClient.drop`, a
TCP abort, so operations in flight are lost on the wire), stays away for a
moment, and reconnects with :meth:`BoardClient.connect`, which resumes from its
last sequence number and resends its unacknowledged operations with the same
op ids. At the end every client must have seen every operation exactly once.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import sys
import time
from collections import Counter
from typing import Any

from bench.seed import CARD_TEXT
from boards import protocol as p
from boards.client import BoardClient


async def main(spec: dict[str, Any]) -> None:
    run_id: str = spec["run_id"]
    mark = re.compile(r"bench:" + run_id + r":(\d+):(\d+):")
    n = len(spec["clients"])
    received: list[Counter[tuple[int, int]]] = [Counter() for _ in range(n)]
    clients: list[BoardClient] = []

    def _recorder(index: int) -> Any:
        counts = received[index]

        def on_event(event: p.Event) -> None:
            if event.type != "item.updated":
                return
            text = event.data.get("fields", {}).get("text")
            if isinstance(text, str):
                m = mark.match(text)
                if m:
                    counts[(int(m[1]), int(m[2]))] += 1

        return on_event

    for i, c in enumerate(spec["clients"]):
        clients.append(BoardClient(c["url"], cookie=c["cookie"], origin=c["origin"], on_event=_recorder(i)))
    limit = asyncio.Semaphore(20)

    async def _connect(client: BoardClient) -> None:
        async with limit:
            await client.connect()

    await asyncio.gather(*(_connect(c) for c in clients))

    rate = float(spec["writer_rate"])
    duration = float(spec["duration"])
    drop_start, drop_span = float(spec["drop_start"]), float(spec["drop_span"])
    offline_max = float(spec["offline_max"])
    t0 = time.monotonic() + 0.3
    futures: list[asyncio.Future[p.Ack]] = []
    sent: set[tuple[int, int]] = set()
    reconnects: list[float] = []
    failures: list[str] = []

    async def _write(index: int, writer: int, card: str) -> None:
        client = clients[index]
        interval = 1.0 / rate
        due = t0 + interval * writer / max(1, len(spec["writers"]))
        k = 0
        while due < t0 + duration:
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            k += 1
            text = f"bench:{run_id}:{writer}:{k}:{time.monotonic_ns() // 1000} {CARD_TEXT}"
            futures.append(await client.send_op(p.ItemUpdate(id=card, fields={"text": text})))
            sent.add((writer, k))
            due += interval

    async def _drop(index: int) -> None:
        client = clients[index]
        await asyncio.sleep(max(0.0, t0 + drop_start + drop_span * index / n - time.monotonic()))
        await client.drop()
        await asyncio.sleep(random.uniform(0.0, offline_max))
        started = time.monotonic()
        for attempt in range(5):
            try:
                await client.connect()
                break
            except Exception as exc:  # a refused reconnect is a failure to report, then try again
                failures.append(f"client {index} reconnect {attempt}: {exc!r}")
                await asyncio.sleep(0.2)
        reconnects.append(time.monotonic() - started)

    writers = spec["writers"]
    await asyncio.gather(
        *(_write(w["client"], w["writer"], w["card"]) for w in writers),
        *(_drop(i) for i in range(n)),
    )
    # Every operation acknowledged (resent after a reconnect if its ack was lost) ...
    acked = 0
    duplicate_acks = 0
    head = 0
    unacked = 0
    try:
        done, pending = await asyncio.wait(futures, timeout=30)
    except ValueError:
        done, pending = set(), set()
    errors: list[str] = []
    for f in done:
        if f.exception() is not None:
            errors.append(str(f.exception()))
            continue
        acked += 1
        ack = f.result()
        head = max(head, ack.seq)
        duplicate_acks += int(ack.duplicate)
    unacked = len(pending)
    # ... and every client caught up to the last of them.
    lagging = 0
    for c in clients:
        try:
            await c.wait_seq(head, timeout=30)
        except TimeoutError:
            lagging += 1
    per_client = []
    missing_total = 0
    dup_total = 0
    extra_total = 0
    once = 0
    for counts in received:
        once += sum(1 for uid in sent if counts.get(uid) == 1)
        missing = len(sent - counts.keys())
        dups = sum(v - 1 for v in counts.values() if v > 1)
        extra = len(counts.keys() - sent)
        missing_total += missing
        dup_total += dups
        extra_total += extra
        per_client.append({"received": sum(counts.values()), "missing": missing, "dups": dups})
    expected = len(sent) * n
    delivered_once = expected - missing_total
    replicas = {json.dumps(c.replica.comparable(), sort_keys=True, default=str) for c in clients}
    result = {
        "clients": n,
        "writers": len(writers),
        "sent": len(sent),
        "acked": acked,
        "resent_acked_as_duplicate": duplicate_acks,
        "unacked": unacked,
        "op_errors": errors[:5],
        "op_error_count": len(errors),
        "head": head,
        "expected_deliveries": expected,
        "delivered": delivered_once,
        "delivered_exactly_once": once,
        "delivered_pct": 100.0 * delivered_once / expected if expected else 0.0,
        "exactly_once_pct": 100.0 * once / expected if expected else 0.0,
        "missing": missing_total,
        "duplicates": dup_total,
        "unexpected": extra_total,
        "lagging_clients": lagging,
        "replicas_agree": len(replicas) == 1,
        "reconnects": len(reconnects),
        "reconnect_median_ms": sorted(reconnects)[len(reconnects) // 2] * 1000 if reconnects else 0.0,
        "reconnect_max_ms": max(reconnects) * 1000 if reconnects else 0.0,
        "reconnect_failures": failures[:5],
        "per_client_worst": sorted(per_client, key=lambda r: (-r["missing"], -r["dups"]))[:3],
    }
    print("RESULT " + json.dumps(result), flush=True)
    for c in clients:
        await c.close()


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        asyncio.run(main(json.load(f)))
