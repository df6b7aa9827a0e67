"""Prometheus metrics of one process, switched on by ``KUMPPANI_METRICS_TOKEN``.

A leaf module (it imports nothing of ours), so that the engine, the hub and the
write router can each record at the timing points they already have with a
line or two: ``if (m := metrics.current) is not None: m.batch_size.observe(n)``.
prometheus-client is imported only by :func:`enable`: a process without the
setting never loads it (decision 17, decision 30b).

Counters the code already keeps (forwards, fallbacks, outbox drops, open
connections) are read when scraped, through :meth:`Instruments.read_at_scrape`,
not counted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Literal

#: The instruments of this process once :func:`enable` has run; ``None`` while metrics are off.
current: Instruments | None = None

#: Seconds; from a fraction of a millisecond (one socket write, a short transaction) to seconds (a stall).
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233)

Kind = Literal["counter", "gauge"]


class Instruments:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.operations = Counter(
            "kumppani_operations",
            "Operations this process wrote, by outcome (applied, duplicate, refused)",
            ["outcome"],
            registry=r,
        )
        self.batch_size = Histogram(
            "kumppani_batch_operations", "Operations per board transaction", buckets=BATCH_BUCKETS, registry=r
        )
        self.transaction_seconds = Histogram(
            "kumppani_transaction_seconds",
            "Time to write one batch to the database, commit included",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.fanout_seconds = Histogram(
            "kumppani_fanout_seconds",
            "Time to hand one ops frame to every local connection of its board",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.resyncs = Counter(
            "kumppani_resyncs", "Connections told to resync because their send queue was full", registry=r
        )
        self.catch_ups = Counter(
            "kumppani_catch_ups", "Ranges of a board's operations read from the database for local clients", registry=r
        )
        self.errors = Counter(
            "kumppani_errors",
            "Failures an operator should look at, by kind (write, publish, catch_up)",
            ["kind"],
            registry=r,
        )
        self._readings: list[tuple[str, str, Kind, Callable[[], float]]] = []
        r.register(_Readings(self._readings))

    def read_at_scrape(self, name: str, documentation: str, kind: Kind, read: Callable[[], float]) -> None:
        """A value the code keeps anyway (a counter attribute, a length), read at each scrape."""
        self._readings.append((name, documentation, kind, read))

    def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _Readings:
    """A collector over :meth:`Instruments.read_at_scrape`'s callables."""

    def __init__(self, readings: list[tuple[str, str, Kind, Callable[[], float]]]) -> None:
        self._readings = readings

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        for name, documentation, kind, read in self._readings:
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            yield family(name, documentation, value=float(read()))


def enable() -> Instruments:
    """Create this process's instruments (once; a second app in the same process starts afresh)."""
    global current
    current = Instruments()
    return current


def disable() -> None:
    global current
    current = None
