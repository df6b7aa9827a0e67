"""With several processes, one of them writes each board: the others forward to it.

A board's sockets may be spread over the processes. If each process wrote its
own sockets' operations, the processes would take turns at the board's row lock
in the database, each transaction waiting out the other's round trips, and each
batch would hold only one process's operations. Instead one process holds a
short lease on the board (through the broadcast backend) and writes all its
operations: the others send theirs to its inbox channel and relay its answer
(the ack or the error) to their own client. The ``ops`` frames reach every
process through the board's channel as before.

The lease makes writing faster, never correct: the database is the truth, and
the engine recognises a resent operation by its op id. So when the holder does
not answer in time (it stopped, Redis is away) the operation is written where it
arrived, and a late answer is ignored. In one process (the in-memory backend)
every operation is written at once, locally.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time

import msgspec

from boards import protocol as p
from boards.engine import Outcome, Submission
from boards.sequencer import Sequencer, restarting
from server.broadcast.base import BroadcastBackend
from server.broadcast.outbox import Outbox

log = logging.getLogger("kumppani.writes")

#: How long a process holds a board once it stops renewing (it renews while it writes).
LEASE_MS = 3000
#: How long a process trusts what it last learnt about a board's writer.
WRITER_CACHE_SECONDS = 1.0
#: How long a forwarded operation waits for the writer's answer before it is written here.
FORWARD_TIMEOUT_SECONDS = 1.0
INBOX_PREFIX = "inbox:"


class _Forward(msgspec.Struct, tag="op", tag_field="k"):
    ref: str
    reply_to: str
    board: str
    actor: str
    op_id: str
    command: p.AnyCommand


class _Answer(msgspec.Struct, tag="answer", tag_field="k"):
    ref: str
    #: The process is shutting down and wrote nothing: write it where it arrived.
    declined: bool = False
    seq: int = 0
    duplicate: bool = False
    replaced: list[p.Replaced] = []
    error: p.Error | None = None


_decoder = msgspec.json.Decoder(_Forward | _Answer)
_encoder = msgspec.json.Encoder()


class WriteRouter:
    def __init__(
        self, sequencer: Sequencer, backend: BroadcastBackend, outbox: Outbox, origin: str, *, single_process: bool
    ) -> None:
        self._sequencer = sequencer
        self._backend = backend
        self._outbox = outbox
        self.origin = origin
        self._single_process = single_process
        self._writers: dict[str, tuple[str, float]] = {}
        self._claiming: dict[str, asyncio.Task[str]] = {}
        self._waiting: dict[str, tuple[asyncio.Future[Outcome], asyncio.TimerHandle, str, Submission]] = {}
        self._refs = itertools.count()
        # Per board, the last operation routed and where to: an operation routed elsewhere
        # waits for it, so that switching between forwarding and writing here keeps the order.
        self._tails: dict[str, tuple[asyncio.Future[Outcome], str, bool]] = {}
        self._closing = False
        self.forwarded = 0
        self.written_for_others = 0
        self.fallbacks = 0

    @property
    def inbox(self) -> str:
        return INBOX_PREFIX + self.origin

    # ------------------------------------------------------------ the arriving side

    def submit(self, board_id: str, submission: Submission) -> asyncio.Future[Outcome]:
        """Like :meth:`Sequencer.enqueue`: returns at once, the future resolves after commit.

        Operations of one connection keep their order: while the board's writer is
        being looked up, later operations for the board wait behind the first.
        """
        if self._single_process or self._closing:
            return self._sequencer.enqueue(board_id, submission)
        known = self._writers.get(board_id)
        if known is not None and known[1] > time.monotonic() and board_id not in self._claiming:
            return self._route(board_id, submission, known[0])
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        claim = self._claiming.get(board_id) or self._start_claim(board_id)
        claim.add_done_callback(
            lambda done: _chain(self._route(board_id, submission, _writer_of(done, self.origin)), future)
        )
        return future

    def _start_claim(self, board_id: str) -> asyncio.Task[str]:
        claim = asyncio.create_task(self._claim(board_id))
        self._claiming[board_id] = claim
        claim.add_done_callback(lambda _: self._claiming.pop(board_id, None))
        return claim

    async def _claim(self, board_id: str) -> str:
        try:
            writer = await asyncio.wait_for(
                self._backend.claim(_lease_key(board_id), self.origin, LEASE_MS), FORWARD_TIMEOUT_SECONDS
            )
        except Exception:
            # No lease without the backend: write here, as every process did before leases,
            # and ask again only after a while rather than once per batch.
            log.warning("could not ask who writes a board; writing it here", extra={"board": board_id})
            self._writers[board_id] = (self.origin, time.monotonic() + WRITER_CACHE_SECONDS)
            return self.origin
        if len(self._writers) > 1000:
            now = time.monotonic()
            self._writers = {board: entry for board, entry in self._writers.items() if entry[1] > now}
        self._writers[board_id] = (writer, time.monotonic() + WRITER_CACHE_SECONDS)
        return writer

    def _route(self, board_id: str, submission: Submission, writer: str) -> asyncio.Future[Outcome]:
        tail = self._tails.get(board_id)
        # Wait when the previous operation goes elsewhere, or is itself still waiting to go.
        deferred = tail is not None and not tail[0].done() and (tail[1] != writer or tail[2])
        if tail is not None and deferred:
            future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
            tail[0].add_done_callback(lambda _: _chain(self._send(board_id, submission, writer), future))
        else:
            future = self._send(board_id, submission, writer)
        self._tails[board_id] = (future, writer, deferred)
        future.add_done_callback(lambda done: self._forget_tail(board_id, done))
        return future

    def _forget_tail(self, board_id: str, done: asyncio.Future[Outcome]) -> None:
        tail = self._tails.get(board_id)
        if tail is not None and tail[0] is done:
            del self._tails[board_id]

    def _send(self, board_id: str, submission: Submission, writer: str) -> asyncio.Future[Outcome]:
        if writer == self.origin:
            return self._sequencer.enqueue(board_id, submission)
        return self._forward(board_id, submission, writer)

    def _forward(self, board_id: str, submission: Submission, writer: str) -> asyncio.Future[Outcome]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        ref = f"{self.origin}:{next(self._refs)}"
        timer = loop.call_later(FORWARD_TIMEOUT_SECONDS, self._give_up, ref)
        self._waiting[ref] = (future, timer, board_id, submission)
        message = _Forward(ref, self.origin, board_id, submission.actor, submission.op_id, submission.command)
        self._outbox.put(INBOX_PREFIX + writer, _encoder.encode(message))
        self.forwarded += 1
        return future

    def _give_up(self, ref: str) -> None:
        entry = self._waiting.pop(ref, None)
        if entry is not None:
            self._write_here(entry)

    def _write_here(self, entry: tuple[asyncio.Future[Outcome], asyncio.TimerHandle, str, Submission]) -> None:
        future, timer, board_id, submission = entry
        timer.cancel()
        self.fallbacks += 1
        # The writer may be gone: write this board here until its lease would have run out.
        self._writers[board_id] = (self.origin, time.monotonic() + LEASE_MS / 1000)
        log.warning("the board's writer did not answer; writing the operation here", extra={"board": board_id})
        _chain(self._sequencer.enqueue(board_id, submission), future)

    # ------------------------------------------------------------ the writing side

    def on_message(self, data: bytes) -> None:
        """A message on this process's inbox: an operation to write, or the answer to one forwarded."""
        try:
            message = _decoder.decode(data)
        except msgspec.DecodeError:  # not JSON, or not one of ours
            log.warning("ignored a malformed message in the inbox")
            return
        if isinstance(message, _Answer):
            self._answered(message)
            return
        if self._closing:
            self._outbox.put(INBOX_PREFIX + message.reply_to, _encoder.encode(_Answer(message.ref, declined=True)))
            return
        submission = Submission(message.actor, message.op_id, message.command)
        self.written_for_others += 1
        written = self._sequencer.enqueue(message.board, submission)
        written.add_done_callback(lambda done: self._reply(message.reply_to, message.ref, done))
        # Keep the lease while others send operations here.
        known = self._writers.get(message.board)
        if (
            (known is None or known[1] <= time.monotonic())
            and message.board not in self._claiming
            and not self._closing
        ):
            self._start_claim(message.board)

    def _reply(self, reply_to: str, ref: str, done: asyncio.Future[Outcome]) -> None:
        if done.cancelled():
            return
        outcome = done.result()
        answer = _Answer(
            ref, seq=outcome.seq, duplicate=outcome.duplicate, replaced=outcome.replaced, error=outcome.error
        )
        self._outbox.put(INBOX_PREFIX + reply_to, _encoder.encode(answer))

    def _answered(self, answer: _Answer) -> None:
        entry = self._waiting.pop(answer.ref, None)
        if entry is None:
            return  # answered too late: the operation was written here meanwhile
        if answer.declined:
            self._write_here(entry)
            return
        future, timer, _, submission = entry
        timer.cancel()
        if not future.done():
            future.set_result(
                Outcome(submission.op_id, answer.seq, answer.duplicate, answer.replaced, error=answer.error)
            )

    async def begin_closing(self) -> None:
        """Before the sequencer closes: decline forwarded operations and hand the boards' leases back."""
        self._closing = True
        for board_id, (writer, _) in list(self._writers.items()):
            if writer == self.origin:
                try:
                    await asyncio.wait_for(
                        self._backend.release(_lease_key(board_id), self.origin), FORWARD_TIMEOUT_SECONDS
                    )
                except Exception:
                    break  # the leases run out by themselves
        self._writers.clear()

    def close(self) -> None:
        for future, timer, _, submission in self._waiting.values():
            timer.cancel()
            if not future.done():
                future.set_result(restarting(submission.op_id))
        self._waiting.clear()
        for task in self._claiming.values():
            task.cancel()


def _lease_key(board_id: str) -> str:
    return f"board-writer:{board_id}"


def _writer_of(claim: asyncio.Task[str], fallback: str) -> str:
    if claim.cancelled() or claim.exception() is not None:
        return fallback
    return claim.result()


def _chain(source: asyncio.Future[Outcome], target: asyncio.Future[Outcome]) -> None:
    def copy(done: asyncio.Future[Outcome]) -> None:
        if target.done():
            return
        if done.cancelled():
            target.cancel()
        elif (error := done.exception()) is not None:
            target.set_exception(error)
        else:
            target.set_result(done.result())

    source.add_done_callback(copy)
