"""One writer per board per process: operations that arrive while a batch is being
written wait and go together in the next transaction (group commit).

Batching keeps the cost of a durable write per operation low at high rates
without adding latency at low rates: a lone operation is written at once. When
the board's writer is saturated (operations arrive faster than it writes them
one by one), it waits a couple of milliseconds for more operations before it
begins: every batch costs one transaction and one frame per recipient, however
many operations it holds, and at saturation every write saved shortens the queue.
Below that the wait would only add latency: the operations that arrive while a
batch is written go together in the next one anyway.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import foundation.metrics as metrics
from boards import protocol as p
from boards.engine import Limits, Outcome, Submission, apply_batch_sync, apply_batch_unlocked
from foundation.db import TransactionRunner

log = logging.getLogger("kumppani.sequencer")

#: Called after commit with the board, the first and last sequence numbers and the
#: encoded ``ops`` frame (the same bytes for every recipient).
Publisher = Callable[[str, int, int, bytes], Awaitable[None]]
#: Called after commit with the board, a person and a frame for that person's connections only.
PersonPublisher = Callable[[str, str, bytes], Awaitable[None]]

MAX_BATCH = 64
#: How long a saturated board's writer waits to gather operations.
COALESCE_SECONDS = 0.002
#: A board whose last write ended longer ago than this is quiet, however busy it was.
BUSY_SECONDS = 0.010
#: The utilisation above which a board's writer counts as saturated (see ``_Load``).
SATURATED = 1.0
#: Weight of the newest batch in the smoothed utilisation (about the last ten count).
_SMOOTHING = 0.2


@dataclass(slots=True)
class _Load:
    """How busy one board's writer is: its utilisation, the arrival rate times the time a write takes.

    Measured per batch as its operations times its write's duration over the time since the
    previous batch began, so the gathering wait itself does not change it: waiting longer
    gathers more operations into a batch, in proportion.
    """

    started: float
    ended: float
    utilisation: float = 0.0

    def note(self, size: int, started: float, ended: float) -> None:
        since_previous = started - self.started
        if since_previous > 0:
            sample = size * (ended - started) / since_previous
            self.utilisation += _SMOOTHING * (sample - self.utilisation)
        self.started, self.ended = started, ended

    def saturated(self, now: float) -> bool:
        return now - self.ended < BUSY_SECONDS and self.utilisation > SATURATED


@dataclass(slots=True)
class _Pending:
    submission: Submission
    future: asyncio.Future[Outcome]


def restarting(op_id: str) -> Outcome:
    """The answer to an operation that arrives while the server shuts down: nothing was written."""
    return Outcome(
        op_id, error=p.Error(p.ErrorCode.INTERNAL, "The server is restarting. Send again in a moment.", op_id)
    )


class Sequencer:
    def __init__(
        self,
        runner: TransactionRunner,
        publish: Publisher,
        limits: Limits,
        publish_to_person: PersonPublisher | None = None,
    ) -> None:
        self._runner = runner
        self._publish = publish
        self._publish_to_person = publish_to_person
        self._limits = limits
        self._queues: dict[str, deque[_Pending]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._load: dict[str, _Load] = {}
        #: How many batches waited to gather operations (for tests and timings).
        self.gathering_waits = 0
        self._closed = False

    def enqueue(self, board_id: str, submission: Submission) -> asyncio.Future[Outcome]:
        """Queue an operation and return at once; the future resolves after commit.

        Synchronous, so operations from one connection keep their order while the
        connection goes on reading its next frames.
        """
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        if self._closed:
            future.set_result(restarting(submission.op_id))
            return future
        self._queues.setdefault(board_id, deque()).append(_Pending(submission, future))
        if board_id not in self._workers:
            self._workers[board_id] = asyncio.create_task(self._run(board_id), name=f"sequencer:{board_id}")
        return future

    async def submit(self, board_id: str, submission: Submission) -> Outcome:
        return await self.enqueue(board_id, submission)

    async def close(self) -> None:
        """Finish what was submitted, then refuse new work."""
        self._closed = True
        workers = list(self._workers.values())
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)

    async def _run(self, board_id: str) -> None:
        queue = self._queues[board_id]
        try:
            while queue:
                load = self._load.get(board_id)
                if len(queue) < MAX_BATCH and load is not None and load.saturated(time.monotonic()):
                    await asyncio.sleep(COALESCE_SECONDS)
                    self.gathering_waits += 1
                started = time.monotonic()
                batch = [queue.popleft() for _ in range(min(len(queue), MAX_BATCH))]
                await self._write(board_id, batch)
                if load is None:
                    load = self._load[board_id] = _Load(started=started, ended=started)
                load.note(len(batch), started, time.monotonic())
        finally:
            self._forget_quiet_boards()
            del self._workers[board_id]
            if not queue:
                self._queues.pop(board_id, None)
            elif not self._closed:  # pragma: no cover - defensive: work arrived as we left
                self._workers[board_id] = asyncio.create_task(self._run(board_id))

    def _forget_quiet_boards(self) -> None:
        if len(self._load) > 1000:
            now = time.monotonic()
            for board_id, load in list(self._load.items()):
                if now - load.ended >= BUSY_SECONDS:
                    del self._load[board_id]

    async def _write(self, board_id: str, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        try:
            outcomes = await self._transaction(board_id, [b.submission for b in batch])
        except Exception:
            if len(batch) == 1:
                log.exception("operation failed", extra={"board": board_id})
                if (m := metrics.current) is not None:
                    m.errors.labels("write").inc()
                outcomes = [
                    Outcome(
                        batch[0].submission.op_id,
                        error=p.Error(
                            p.ErrorCode.INTERNAL,
                            "Saving failed. Your change was not saved; try again.",
                            batch[0].submission.op_id,
                        ),
                    )
                ]
            else:
                # One bad operation must not sink the others: write them one at a time.
                for pending in batch:
                    await self._write(board_id, [pending])
                return
        if (m := metrics.current) is not None:
            m.transaction_seconds.observe(time.perf_counter() - started)
            m.batch_size.observe(len(batch))
            for o in outcomes:
                m.operations.labels("refused" if o.error else "duplicate" if o.duplicate else "applied").inc()
        events = [o.event for o in outcomes if o.event is not None]
        if events:
            frame = p.encode(p.Ops(ops=events))
            try:
                await self._publish(board_id, events[0].seq, events[-1].seq, frame)
            except Exception:
                # Committed is committed: listeners catch up from the database.
                log.exception("publish failed after commit", extra={"board": board_id})
                if (m := metrics.current) is not None:
                    m.errors.labels("publish").inc()
        if self._publish_to_person is not None:
            for pending, outcome in zip(batch, outcomes, strict=True):
                if outcome.own_votes is not None:
                    try:
                        await self._publish_to_person(board_id, pending.submission.actor, p.encode(outcome.own_votes))
                    except Exception:
                        log.exception("publish to the voter failed after commit", extra={"board": board_id})
        for pending, outcome in zip(batch, outcomes, strict=True):
            if not pending.future.done():
                pending.future.set_result(outcome)

    async def _transaction(self, board_id: str, submissions: list[Submission]) -> list[Outcome]:
        if self._runner.unlocked_first:
            outcomes = await self._runner.run_unlocked(apply_batch_unlocked, board_id, submissions, self._limits)
            if outcomes is not None:
                return outcomes
        return await self._runner.run(apply_batch_sync, board_id, submissions, self._limits)
