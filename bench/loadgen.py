"""The load generator: one process, many websocket clients, the same code for every server.

Run by ``bench.run`` as ``python -m bench.loadgen SPEC.json``. It connects every
client in the spec, prints ``READY``, waits for ``GO <t0_ns>`` on stdin (a
``time.monotonic_ns()`` instant, which is the same clock in every process on
Linux), then:

* each writer sends at its steady rate from ``t0`` until the end of the
  measured window, embedding the send time and a unique id in the text;
* every client records each operation's arrival; operations sent inside the
  window give a latency sample at every client but their sender;
* after the window, it waits until no frame has arrived for a moment, writes
  the latency samples to ``out`` and prints ``RESULT <json>``.

For Kumppani a write is an ``op`` frame with an ``item.update`` of the writer's
card; for the relays it is a JSON message shaped like the ``ops`` frame
Kumppani sends, which the relay forwards as it is. Receivers do not decode
JSON: a regular expression finds the marker ``bench:<run>:<writer>:<n>:<µs>``
in the frame (an ``ops`` frame may carry several events).
"""

from __future__ import annotations

import array
import asyncio
import json
import re
import sys
import time
from typing import Any

from bench.seed import CARD_TEXT
from bench.wsraw import RawClient

OPS_PREFIX = b'{"t":"ops"'
SYNCED_PREFIX = b'{"t":"synced"'
ACK_PREFIX = b'{"t":"ack"'
ERROR_PREFIX = b'{"t":"error"'
RESYNC_PREFIX = b'{"t":"resync"'


class Generator:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.mode: str = spec["mode"]
        self.run_id: str = spec["run_id"]
        self.mark = re.compile(rb"bench:" + self.run_id.encode() + rb":(\d+):(\d+):(\d+)")
        self.latencies: array.array[int] = array.array("q")
        self.win_start_us = 1 << 62
        self.win_end_us = 1 << 62
        self.win_start_ns = 1 << 62
        self.win_end_ns = 1 << 62
        self.receipts_window = 0
        self.frames_window = 0
        self.last_receipt_ns = 0
        self.clients: list[Client] = []
        self.sent: dict[int, int] = {}
        self.sent_window = 0
        self.lags_us: array.array[int] = array.array("q")
        self.gen_cpu = 0.0


class Client:
    __slots__ = ("acks", "dups", "errors", "gen", "index", "ready", "resyncs", "seen", "spec", "writer", "ws")

    def __init__(self, gen: Generator, index: int, spec: dict[str, Any]) -> None:
        self.gen = gen
        self.index = index
        self.spec = spec
        self.writer: int = spec.get("writer", -1)
        self.seen: dict[int, set[int]] = {}
        self.dups = 0
        self.acks = 0
        self.errors: list[str] = []
        self.resyncs = 0
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ws: RawClient | None = None

    def on_message(self, payload: bytes, at: int) -> None:
        gen = self.gen
        if payload.startswith(OPS_PREFIX):
            if not self.ready.done():
                return  # before the snapshot is in, nothing counts
            mine = self.writer
            counted = False
            for m in gen.mark.finditer(payload):
                w = int(m[1])
                if w == mine:
                    continue
                n = int(m[2])
                seen = self.seen.get(w)
                if seen is None:
                    seen = self.seen[w] = set()
                if n in seen:
                    self.dups += 1
                    continue
                seen.add(n)
                sent = int(m[3])
                if gen.win_start_us <= sent <= gen.win_end_us:
                    gen.latencies.append(at // 1000 - sent)
                if gen.win_start_ns <= at <= gen.win_end_ns:
                    gen.receipts_window += 1
                    if not counted:
                        counted = True
                        gen.frames_window += 1
                gen.last_receipt_ns = at
        elif payload.startswith(ACK_PREFIX):
            self.acks += 1
        elif payload.startswith(SYNCED_PREFIX):
            if not self.ready.done():
                self.ready.set_result(None)
        elif payload.startswith(ERROR_PREFIX):
            self.errors.append(payload[:300].decode(errors="replace"))
            if not self.ready.done():
                self.ready.set_exception(ConnectionError(self.errors[-1]))
        elif payload.startswith(RESYNC_PREFIX):
            self.resyncs += 1

    async def connect(self) -> None:
        s = self.spec
        self.ws = await RawClient.connect(
            s["host"], s["port"], s["path"], origin=s.get("origin"), cookie=s.get("cookie"), on_message=self.on_message
        )
        if self.gen.mode == "kumppani":
            self.ws.send(b'{"t":"hello","v":1}')
            await asyncio.wait_for(self.ready, 60)
        else:
            self.ready.set_result(None)

    def summary(self) -> dict[str, Any]:
        return {
            "writer": self.writer,
            "seen": {str(w): [len(s), min(s) if s else 0, max(s) if s else 0] for w, s in self.seen.items()},
            "dups": self.dups,
            "acks": self.acks,
            "errors": len(self.errors),
            "error_samples": self.errors[:3],
            "resyncs": self.resyncs,
            "open": bool(self.ws and self.ws.open),
        }


def _frame_for(gen: Generator, client: Client, n: int, ts_us: int) -> bytes:
    w = client.writer
    text = f"bench:{gen.run_id}:{w}:{n}:{ts_us} {CARD_TEXT}"
    card = client.spec["card"]
    if gen.mode == "kumppani":
        return (
            f'{{"t":"op","id":"{gen.run_id}-{w}-{n}","op":{{"type":"item.update","id":"{card}",'
            f'"fields":{{"text":"{text}"}}}}}}'
        ).encode()
    # For the relays: the shape and size of the ops frame Kumppani would send for this operation.
    return (
        f'{{"t":"ops","ops":[{{"seq":{n},"type":"item.updated","actor":"{gen.spec["actor"]}",'
        f'"op":"{gen.run_id}-{w}-{n}","at":"2025-06-01T12:00:00.000Z","data":{{"id":"{card}",'
        f'"fields":{{"text":"{text}"}},"version":{n + 1}}}}}]}}'
    ).encode()


async def _write(gen: Generator, client: Client, t0: int, stop: int, rate: float, phase: float) -> None:
    interval = 1e9 / rate
    due = t0 + phase * interval
    n = 0
    ws = client.ws
    assert ws is not None
    while True:
        now = time.monotonic_ns()
        if due >= stop:
            break
        if due > now:
            await asyncio.sleep((due - now) / 1e9)
        n += 1
        ts_ns = time.monotonic_ns()
        ts_us = ts_ns // 1000
        ws.send(_frame_for(gen, client, n, ts_us))
        if gen.win_start_ns <= ts_ns <= gen.win_end_ns:
            gen.sent_window += 1
            gen.lags_us.append(int(ts_ns - due) // 1000)
        due += interval
    gen.sent[client.writer] = n


async def _cpu_marks(gen: Generator) -> None:
    now = time.monotonic_ns()
    await asyncio.sleep(max(0, gen.win_start_ns - now) / 1e9)
    start = time.process_time()
    await asyncio.sleep(max(0, gen.win_end_ns - time.monotonic_ns()) / 1e9)
    gen.gen_cpu = time.process_time() - start


def _load(spec_path: str) -> dict[str, Any]:
    with open(spec_path) as f:
        spec: dict[str, Any] = json.load(f)
    return spec


def _save(path: str, values: array.array[int]) -> None:
    with open(path, "wb") as f:
        values.tofile(f)


async def main(spec: dict[str, Any]) -> None:
    gen = Generator(spec)
    gen.clients = [Client(gen, i, c) for i, c in enumerate(spec["clients"])]
    started = time.monotonic()
    limit = asyncio.Semaphore(int(spec.get("connect_concurrency", 25)))

    async def _connect(client: Client) -> None:
        async with limit:
            await client.connect()

    await asyncio.gather(*(_connect(c) for c in gen.clients))
    connect_seconds = time.monotonic() - started
    print(f"READY {len(gen.clients)} {connect_seconds:.3f}", flush=True)

    loop = asyncio.get_running_loop()
    line = await loop.run_in_executor(None, sys.stdin.readline)
    t0 = int(line.split()[1])
    warmup, window = float(spec["warmup"]), float(spec["window"])
    gen.win_start_ns = t0 + int(warmup * 1e9)
    gen.win_end_ns = gen.win_start_ns + int(window * 1e9)
    gen.win_start_us = gen.win_start_ns // 1000
    gen.win_end_us = gen.win_end_ns // 1000
    writers = [c for c in gen.clients if c.writer >= 0]
    total_writers = int(spec["writers_total"])
    marks = asyncio.create_task(_cpu_marks(gen))
    await asyncio.gather(
        *(_write(gen, c, t0, gen.win_end_ns, float(spec["writer_rate"]), c.writer / total_writers) for c in writers)
    )
    await marks
    # Drain: wait until frames stop arriving (or give up).
    deadline = time.monotonic() + float(spec.get("drain", 10))
    quiet = float(spec.get("quiet", 0.6)) * 1e9
    gen.last_receipt_ns = max(gen.last_receipt_ns, time.monotonic_ns())
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        if time.monotonic_ns() - gen.last_receipt_ns > quiet:
            break
    _save(spec["out"], gen.latencies)
    lags = sorted(gen.lags_us)
    result = {
        "connected": len(gen.clients),
        "connect_seconds": connect_seconds,
        "sent": {str(w): n for w, n in gen.sent.items()},
        "sent_window": gen.sent_window,
        "lag_p99_ms": (lags[int(0.99 * (len(lags) - 1))] / 1000) if lags else 0.0,
        "lag_max_ms": (lags[-1] / 1000) if lags else 0.0,
        "receipts_window": gen.receipts_window,
        "frames_window": gen.frames_window,
        "latency_count": len(gen.latencies),
        "gen_cpu_window": gen.gen_cpu,
        "clients": [c.summary() for c in gen.clients],
    }
    print("RESULT " + json.dumps(result), flush=True)
    for c in gen.clients:
        if c.ws is not None:
            c.ws.close()
    await asyncio.sleep(0.2)


if __name__ == "__main__":
    asyncio.run(main(_load(sys.argv[1])))
