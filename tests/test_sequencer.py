"""Group commit: a busy board's operations go out together; a quiet board's at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from boards import protocol as p
from boards.engine import Limits, Outcome, Submission
from boards.sequencer import BUSY_SECONDS, Sequencer, _Load


class RecordingRunner:
    """Stands in for the database: every batch gets consecutive sequence numbers."""

    unlocked_first = False

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.seq = 0

    async def run(self, fn: Any, board_id: str, submissions: list[Submission], limits: Limits) -> list[Outcome]:
        self.batches.append([s.op_id for s in submissions])
        await asyncio.sleep(0.001)  # a commit takes a moment
        outcomes = []
        for s in submissions:
            self.seq += 1
            event = p.Event(seq=self.seq, type="item.updated", actor=s.actor, op=s.op_id, at="", data={})
            outcomes.append(Outcome(s.op_id, seq=self.seq, event=event))
        return outcomes


def _op(n: int) -> Submission:
    return Submission("person", f"op{n}", p.ItemDelete(id="x"))


class SlowRunner(RecordingRunner):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    async def run(self, fn: Any, board_id: str, submissions: list[Submission], limits: Limits) -> list[Outcome]:
        await asyncio.sleep(self.seconds)
        return await super().run(fn, board_id, submissions, limits)


def _sequencer(runner: RecordingRunner) -> tuple[Sequencer, list[tuple[int, int]]]:
    frames: list[tuple[int, int]] = []

    async def publish(board_id: str, first: int, last: int, frame: bytes) -> None:
        frames.append((first, last))

    return Sequencer(runner, publish, Limits()), frames  # type: ignore[arg-type]


async def _send_spaced(sequencer: Sequencer, count: int, seconds: float) -> list[Outcome]:
    futures = []
    for n in range(count):
        futures.append(sequencer.enqueue("b", _op(n)))
        await asyncio.sleep(seconds)
    return await asyncio.gather(*futures)


async def test_quiet_board_writes_at_once() -> None:
    runner = RecordingRunner()
    sequencer, frames = _sequencer(runner)
    started = time.monotonic()
    first = await sequencer.submit("b", _op(1))
    assert first.seq == 1 and runner.batches == [["op1"]] and frames == [(1, 1)]
    assert time.monotonic() - started < BUSY_SECONDS  # alone on a quiet board: no waiting
    assert sequencer.gathering_waits == 0
    await sequencer.close()


async def test_board_that_keeps_up_never_waits_to_gather() -> None:
    # A steady stream whose writes take a fraction of the time between operations:
    # waiting would gather nothing and only delay each operation.
    runner = RecordingRunner()
    sequencer, frames = _sequencer(runner)
    outcomes = await _send_spaced(sequencer, 12, 0.008)
    assert [o.seq for o in outcomes] == list(range(1, 13))
    assert sequencer.gathering_waits == 0
    assert all(len(batch) == 1 for batch in runner.batches)
    assert frames == [(n, n) for n in range(1, 13)]
    await sequencer.close()


async def test_saturated_board_gathers_operations_into_batches() -> None:
    # Writes that take longer than the gap between operations: the writer waits to gather,
    # and each batch goes out as one frame.
    runner = SlowRunner(0.003)
    sequencer, frames = _sequencer(runner)
    outcomes = await _send_spaced(sequencer, 40, 0.001)
    assert [o.seq for o in outcomes] == list(range(1, 41))
    assert sequencer.gathering_waits > 0
    assert max(len(batch) for batch in runner.batches) >= 3
    assert len(frames) == len(runner.batches) < 40
    assert frames[-1][1] == 40
    await sequencer.close()


def test_utilisation_does_not_depend_on_the_gathering_wait() -> None:
    # One operation every 5 ms, each write 2 ms: 40 % busy, whether batches start at once or
    # after a wait (then they hold more operations, and start less often).
    at_once, waiting = _Load(started=0.0, ended=0.0), _Load(started=0.0, ended=0.0)
    for n in range(1, 60):
        at_once.note(1, n * 0.005, n * 0.005 + 0.002)
        waiting.note(2, n * 0.010, n * 0.010 + 0.002)
    assert abs(at_once.utilisation - 0.4) < 0.01
    assert abs(waiting.utilisation - 0.4) < 0.01
    assert not at_once.saturated(60 * 0.005)
