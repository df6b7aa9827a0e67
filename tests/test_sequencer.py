"""Group commit: a busy board's operations go out together; a quiet board's at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from boards import protocol as p
from boards.engine import Limits, Outcome, Submission
from boards.sequencer import BUSY_SECONDS, Sequencer


class RecordingRunner:
    """Stands in for the database: every batch gets consecutive sequence numbers."""

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


async def test_busy_board_batches_and_quiet_board_writes_at_once() -> None:
    runner = RecordingRunner()
    frames: list[tuple[int, int]] = []

    async def publish(board_id: str, first: int, last: int, frame: bytes) -> None:
        frames.append((first, last))

    sequencer = Sequencer(runner, publish, Limits())  # type: ignore[arg-type]
    started = time.monotonic()
    first = await sequencer.submit("b", _op(1))
    assert first.seq == 1 and runner.batches == [["op1"]]
    assert time.monotonic() - started < BUSY_SECONDS  # alone on a quiet board: no waiting

    # Right after a write the board is busy: operations arriving a moment apart share a batch.
    futures = [sequencer.enqueue("b", _op(2))]
    await asyncio.sleep(0.0005)
    futures.append(sequencer.enqueue("b", _op(3)))
    outcomes = await asyncio.gather(*futures)
    assert [o.seq for o in outcomes] == [2, 3]
    assert runner.batches[1] == ["op2", "op3"]
    assert frames == [(1, 1), (2, 3)]  # one frame for the batch

    await asyncio.sleep(BUSY_SECONDS * 2)  # quiet again
    await sequencer.submit("b", _op(4))
    assert runner.batches[-1] == ["op4"]
    await sequencer.close()
