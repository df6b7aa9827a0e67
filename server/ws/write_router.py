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

One process's operations on a board keep their order whichever way they go.
Its forwards to a writer form a numbered stream; the writer takes them only in
order, and declines every later one once a number is missing (a message lost
while Redis reconnected, or dropped from a full outbox), so that nothing sent
after the missing one is written before it. An operation that is declined, or
not answered in time, is written here after the board's earlier forwards have
been settled, answered or written here themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from dataclasses import dataclass

import msgspec

from boards import protocol as p
from boards.engine import Outcome, Submission
from boards.sequencer import Sequencer, restarting
from foundation.broadcast.base import BroadcastBackend
from foundation.broadcast.outbox import Outbox

log = logging.getLogger("kumppani.writes")

#: How long a process holds a board once it stops renewing (it renews while it writes).
LEASE_MS = 3000
#: How long a process trusts what it last learnt about a board's writer.
WRITER_CACHE_SECONDS = 1.0
#: How long a forwarded operation waits for the writer's answer before it is written here.
FORWARD_TIMEOUT_SECONDS = 1.0
#: The writer takes a forwarded operation only this soon after it was sent (by the wall
#: clocks of the two processes): one that comes later may already have been written by its
#: sender, or failed there, and then been sent again under a new op id by its client.
#: Half the timeout leaves the writer time to commit, and the clocks room to differ.
FORWARD_DEADLINE_SECONDS = FORWARD_TIMEOUT_SECONDS / 2
INBOX_PREFIX = "inbox:"
#: A stream of forwards idle this long starts afresh: the writer forgets streams idle for twice as long.
STREAM_IDLE_SECONDS = 30.0


class _Forward(msgspec.Struct, tag="op", tag_field="k"):
    ref: str
    reply_to: str
    board: str
    actor: str
    op_id: str
    command: p.AnyCommand
    #: Unix time after which the writer declines it; 0 for none (a process of an older release).
    expires: float = 0.0
    #: The sender's stream of forwards to this writer for this board, and this one's number in it
    #: (from 1); empty for none.
    stream: str = ""
    n: int = 0


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


@dataclass(slots=True)
class _Waiting:
    """A forwarded operation waiting for the writer's answer."""

    future: asyncio.Future[Outcome]
    timer: asyncio.TimerHandle
    board_id: str
    submission: Submission
    #: The board's previous operation, if it was still waiting when this one was sent.
    after: asyncio.Future[Outcome] | None


@dataclass(slots=True)
class _StreamOut:
    writer: str
    stream: str
    sent: int = 0
    sent_at: float = 0.0


@dataclass(slots=True)
class _StreamIn:
    stream: str
    expected: int
    intact: bool
    seen_at: float


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
        self._waiting: dict[str, _Waiting] = {}
        self._streams_out: dict[str, _StreamOut] = {}
        self._streams_in: dict[tuple[str, str], _StreamIn] = {}
        self._refs = itertools.count()
        # Per board, the last operation routed and where to: an operation routed elsewhere
        # waits for it, so that switching between forwarding and writing here keeps the order.
        self._tails: dict[str, tuple[asyncio.Future[Outcome], str, bool]] = {}
        self._closing = False
        self.forwarded = 0
        self.written_for_others = 0
        self.fallbacks = 0
        self.declined_late = 0
        self.declined_out_of_order = 0

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
        if self._closing:
            # Shutting down while asking: hand a lease just taken back now, not when it runs out.
            if writer == self.origin:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        self._backend.release(_lease_key(board_id), self.origin), FORWARD_TIMEOUT_SECONDS
                    )
            return writer
        if len(self._writers) > 1000:
            now = time.monotonic()
            self._writers = {board: entry for board, entry in self._writers.items() if entry[1] > now}
            self._streams_out = {board: stream for board, stream in self._streams_out.items() if board in self._writers}
        self._writers[board_id] = (writer, time.monotonic() + WRITER_CACHE_SECONDS)
        return writer

    def _route(self, board_id: str, submission: Submission, writer: str) -> asyncio.Future[Outcome]:
        tail = self._tails.get(board_id)
        # Wait when the previous operation goes elsewhere, or is itself still waiting to go, or
        # when this one would start a new stream: the old one's operations may still be on their
        # way to being written here, and the writer would take a new stream's first at once.
        stream = self._streams_out.get(board_id)
        new_stream = writer != self.origin and (stream is None or stream.writer != writer)
        pending = tail[0] if tail is not None and not tail[0].done() else None
        deferred = pending is not None and tail is not None and (tail[1] != writer or tail[2] or new_stream)
        if pending is not None and deferred:
            future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
            pending.add_done_callback(lambda _: _chain(self._send(board_id, submission, writer, None), future))
        else:
            # Not deferred: a pending previous operation went to the same writer, on the same stream.
            future = self._send(board_id, submission, writer, pending)
        self._tails[board_id] = (future, writer, deferred)
        future.add_done_callback(lambda done: self._forget_tail(board_id, done))
        return future

    def _forget_tail(self, board_id: str, done: asyncio.Future[Outcome]) -> None:
        tail = self._tails.get(board_id)
        if tail is not None and tail[0] is done:
            del self._tails[board_id]

    def _send(
        self, board_id: str, submission: Submission, writer: str, after: asyncio.Future[Outcome] | None
    ) -> asyncio.Future[Outcome]:
        if writer == self.origin:
            return self._sequencer.enqueue(board_id, submission)
        return self._forward(board_id, submission, writer, after)

    def _forward(
        self, board_id: str, submission: Submission, writer: str, after: asyncio.Future[Outcome] | None
    ) -> asyncio.Future[Outcome]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        ref = f"{self.origin}:{next(self._refs)}"
        timer = loop.call_later(FORWARD_TIMEOUT_SECONDS, self._give_up, ref)
        stream = self._streams_out.get(board_id)
        now = time.monotonic()
        if stream is None or stream.writer != writer or now - stream.sent_at > STREAM_IDLE_SECONDS:
            stream = self._streams_out[board_id] = _StreamOut(writer, secrets.token_hex(6))
        stream.sent += 1
        stream.sent_at = now
        self._waiting[ref] = _Waiting(future, timer, board_id, submission, after)
        message = _Forward(
            ref,
            self.origin,
            board_id,
            submission.actor,
            submission.op_id,
            submission.command,
            expires=time.time() + FORWARD_DEADLINE_SECONDS,
            stream=stream.stream,
            n=stream.sent,
        )
        self._outbox.put(INBOX_PREFIX + writer, _encoder.encode(message))
        self.forwarded += 1
        return future

    def _give_up(self, ref: str) -> None:
        entry = self._waiting.pop(ref, None)
        if entry is not None:
            self._write_here(entry)

    def _write_here(self, entry: _Waiting) -> None:
        entry.timer.cancel()
        self.fallbacks += 1
        board_id = entry.board_id
        # The writer may be gone: write this board here until its lease would have run out. The
        # stream ends: the writer declines the rest of it, and a later one starts afresh.
        self._writers[board_id] = (self.origin, time.monotonic() + LEASE_MS / 1000)
        self._streams_out.pop(board_id, None)
        log.warning("the board's writer did not take the operation; writing it here", extra={"board": board_id})

        def write() -> None:
            _chain(self._sequencer.enqueue(board_id, entry.submission), entry.future)

        if entry.after is not None and not entry.after.done():
            entry.after.add_done_callback(lambda _: write())
        else:
            write()

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
        late = bool(message.expires) and time.time() > message.expires
        in_order = self._in_order(message, intact=not (self._closing or late))
        if self._closing or late or not in_order:
            if late:
                self.declined_late += 1
                log.warning(
                    "declined a forwarded operation that came too late (or the processes' clocks differ)",
                    extra={"board": message.board},
                )
            elif not in_order and not self._closing:
                self.declined_out_of_order += 1
                log.warning(
                    "declined a forwarded operation sent after one that is missing", extra={"board": message.board}
                )
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

    def _in_order(self, message: _Forward, *, intact: bool) -> bool:
        """True if ``message`` is the next of its stream and nothing of the stream was declined.

        ``intact`` False: this one is declined anyway, and so is the rest of its stream.
        """
        if not message.stream:
            return intact  # from a process of an older release: no numbers to check
        key = (message.reply_to, message.board)
        now = time.monotonic()
        known = self._streams_in.get(key)
        if known is None or known.stream != message.stream:
            if len(self._streams_in) > 1000:
                self._streams_in = {
                    k: v for k, v in self._streams_in.items() if now - v.seen_at < 2 * STREAM_IDLE_SECONDS
                }
            known = self._streams_in[key] = _StreamIn(message.stream, 1, True, now)
        in_order = known.intact and message.n == known.expected
        known.expected = message.n + 1
        known.intact = in_order and intact
        known.seen_at = now
        return in_order

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
        entry.timer.cancel()
        if not entry.future.done():
            entry.future.set_result(
                Outcome(entry.submission.op_id, answer.seq, answer.duplicate, answer.replaced, error=answer.error)
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
        for entry in self._waiting.values():
            entry.timer.cancel()
            if not entry.future.done():
                entry.future.set_result(restarting(entry.submission.op_id))
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
