"""The mail sender: a background task that empties the outbox, by SMTP or into the mail folder.

Each message is sent inside the transaction that claimed it and marked sent before that
transaction commits; the SMTP client is imported only when a message goes by SMTP (the
serving process imports nothing it does not need at start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from email import message_from_string
from email.message import Message

from sqlalchemy.ext.asyncio import AsyncEngine

from auth import mail_outbox
from foundation.settings import Settings

log = logging.getLogger("kumppani.mail")

POLL_SECONDS = 5.0


class MailSender:
    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if not self.settings.smtp_host:
            self.settings.mail_dir.mkdir(parents=True, exist_ok=True)
        self._task = asyncio.create_task(self._run(), name="mail-sender")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """A message was committed in this process: send now rather than at the next poll."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                while await self.send_one():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the mail outbox could not be read")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            self._wake.clear()

    async def send_one(self) -> bool:
        """Send the oldest due message; False when none is due."""
        async with self.engine.begin() as conn:
            pending = await mail_outbox.claim_next(conn)
            if pending is None:
                return False
            try:
                await self._deliver(pending)
            except Exception as exc:
                log.warning("sending mail failed (attempt %d): %s", pending.attempts + 1, exc)
                await mail_outbox.mark_failed(conn, pending, f"{type(exc).__name__}: {exc}")
            else:
                await mail_outbox.mark_sent(conn, pending.id)
        return True

    async def _deliver(self, pending: mail_outbox.Pending) -> None:
        message = message_from_string(pending.message)
        if self.settings.smtp_host:
            await self._smtp(message)
        else:
            self._to_folder(pending.id, pending.message)

    async def _smtp(self, message: Message) -> None:
        # Imported here: only a process that sends by SMTP needs the client.
        import aiosmtplib

        s = self.settings
        await aiosmtplib.send(
            message,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username or None,
            password=s.smtp_password or None,
            start_tls=s.smtp_starttls,
            timeout=30,
        )

    def _to_folder(self, row_id: str, text: str) -> None:
        # Written under a temporary name and renamed, so a reader never sees half a message
        # and a second write of the same row replaces the first.
        target = self.settings.mail_dir / f"{row_id}.eml"
        partial = target.with_suffix(".part")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)
