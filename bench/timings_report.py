"""Summarise the JSON files that ``bench/timings/sitecustomize.py`` wrote, one per server process.

Run by hand: ``python -m bench.timings_report bench/results/timings-kumppani-x2``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

#: What each sample means, in the order printed.
LABELS = (
    ("queued", "sent → queued by the sequencer"),
    ("started", "sent → its batch's transaction starts"),
    ("tx", "the transaction (BEGIN to COMMIT)"),
    ("announced", "sent → published and acknowledged"),
    ("fanout", "one ops frame to the local connections"),
    ("tx_statements", "statements per transaction"),
    ("batch_size", "operations per batch"),
)


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2], ordered[min(n - 1, int(n * 0.99))], ordered[-1]


def summarise_process(data: dict[str, Any]) -> dict[str, Any]:
    samples: dict[str, list[float]] = data["samples"]
    out: dict[str, Any] = {"pid": data["pid"], "database": data["database"], "redis": data["redis"]}
    for key, _ in LABELS:
        if samples.get(key):
            p50, p99, worst = _quantiles(samples[key])
            out[key] = {"n": len(samples[key]), "p50": p50, "p99": p99, "max": worst}
    out["statements"] = {
        key.removeprefix("statement "): dict(zip(("p50", "p99", "max"), _quantiles(values), strict=True))
        | {"n": len(values)}
        for key, values in samples.items()
        if key.startswith("statement ")
    }
    out["gc"] = {
        key: {"n": len(values), "total_ms": sum(values), "max": max(values)}
        for key, values in samples.items()
        if key.startswith("gc") and values
    }
    out["catch_ups"] = data["counts"].get("catch_ups", 0)
    return out


def summarise(directory: Path) -> tuple[list[dict[str, Any]], str]:
    processes = [summarise_process(json.loads(p.read_text())) for p in sorted(directory.glob("server-*.json"))]
    lines: list[str] = []
    for proc in processes:
        setup = proc["database"] + (" + Redis" if proc["redis"] else "")
        lines.append(f"  server process {proc['pid']} ({setup}):")
        for key, label in LABELS:
            if key in proc:
                s = proc[key]
                unit = "" if key in ("tx_statements", "batch_size") else " ms"
                lines.append(f"    {label:<42} p50 {s['p50']:7.2f}{unit}  p99 {s['p99']:7.2f}{unit}  (n={s['n']})")
        busiest = sorted(proc["statements"].items(), key=lambda kv: -kv[1]["n"])[:8]
        for statement, s in busiest:
            lines.append(f"      {statement:<56} n={s['n']:<6} p50 {s['p50']:6.2f} ms  p99 {s['p99']:6.2f} ms")
        pauses = ", ".join(
            f"{gen} {g['n']}× (total {g['total_ms']:.0f} ms, max {g['max']:.1f} ms)"
            for gen, g in sorted(proc["gc"].items())
        )
        lines.append(
            f"    garbage collector: {pauses or 'no pauses'}; catch-ups from the database: {proc['catch_ups']}"
        )
    return processes, "\n".join(lines)


if __name__ == "__main__":
    print(summarise(Path(sys.argv[1]))[1])
