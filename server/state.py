"""What the running app holds: settings, database engine, hub, sequencer and write router, rate limits."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from boards.sequencer import Sequencer
from foundation.settings import Settings
from server.mail_sender import MailSender
from server.ratelimit import BucketMap
from server.ws.connection import Connection
from server.ws.hub import Hub
from server.ws.write_router import WriteRouter


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    hub: Hub
    sequencer: Sequencer
    writes: WriteRouter
    op_buckets: BucketMap
    mail: MailSender
    extra_origins: frozenset[str] = frozenset()
    #: Anonymous feedback per (hashed) address, team and day: in memory only, never stored.
    feedback_buckets: BucketMap = field(default_factory=lambda: BucketMap(10 / 3600, 10))
    _by_person: dict[str, set[Connection]] = field(default_factory=lambda: defaultdict(set))
    #: Connections being opened (counted against the limit before they are tracked).
    _reserved: dict[str, int] = field(default_factory=dict)

    @property
    def cookie_name(self) -> str:
        # The __Host- prefix makes browsers refuse the cookie unless it is Secure, host-only and Path=/.
        return "__Host-kumppani" if self.settings.secure_cookies else "kumppani"

    def track(self, conn: Connection) -> None:
        self._by_person[conn.person_id].add(conn)

    def untrack(self, conn: Connection) -> None:
        conns = self._by_person.get(conn.person_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self._by_person[conn.person_id]

    def reserve(self, person_id: str) -> None:
        self._reserved[person_id] = self._reserved.get(person_id, 0) + 1

    def release(self, person_id: str) -> None:
        left = self._reserved.get(person_id, 0) - 1
        if left > 0:
            self._reserved[person_id] = left
        else:
            self._reserved.pop(person_id, None)

    def connections_of(self, person_id: str) -> int:
        """Open in this process, and being opened."""
        return len(self._by_person.get(person_id, ())) + self._reserved.get(person_id, 0)

    def connections_for(self, person_id: str) -> list[Connection]:
        return list(self._by_person.get(person_id, ()))
