"""Who is who: organisations, people, programmes, teams, memberships, invites,
sessions, consents and the audit log.

Tables are singular nouns. Personal data columns are listed in
``auth.personal_data`` and a test keeps that list complete.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from foundation.db import Base, UTCDateTime, new_id, utcnow

ROLES = ("professional", "customer", "coach", "observer")
INVITE_ROLES = ("customer", "professional", "observer", "coach")


def _id() -> Mapped[str]:
    return mapped_column(String(32), primary_key=True, default=new_id)


class Organisation(Base):
    __tablename__ = "organisation"
    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Person(Base):
    """Anyone who uses Kumppani. Customers may use a pseudonym and give no contact data."""

    __tablename__ = "person"
    id: Mapped[str] = _id()
    display_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    organisation_id: Mapped[str | None] = mapped_column(ForeignKey("organisation.id"))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    locale: Mapped[str] = mapped_column(String(10), default="fi")
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erasure_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LocalAccount(Base):
    """Username and argon2 password hash, for admins and organisations without an IdP."""

    __tablename__ = "local_account"
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdentityProvider(Base):
    """An organisation's OpenID provider. The client secret is sealed, or read from an environment
    variable named here (see auth/oidc_secrets.py); one of the two is set, never the plain secret."""

    __tablename__ = "identity_provider"
    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(200))
    issuer: Mapped[str] = mapped_column(String(500), unique=True)
    client_id: Mapped[str] = mapped_column(String(200))
    client_secret: Mapped[str | None] = mapped_column(String(1000))
    client_secret_env: Mapped[str | None] = mapped_column(String(100))
    organisation_id: Mapped[str | None] = mapped_column(ForeignKey("organisation.id"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class ExternalIdentity(Base):
    """An OpenID Connect account, keyed by (issuer, subject): never linked by e-mail."""

    __tablename__ = "external_identity"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)
    id: Mapped[str] = _id()
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Programme(Base):
    __tablename__ = "programme"
    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[str | None] = mapped_column(ForeignKey("organisation.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProgrammeCoach(Base):
    __tablename__ = "programme_coach"
    programme_id: Mapped[str] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)


class Round(Base):
    __tablename__ = "round"
    id: Mapped[str] = _id()
    programme_id: Mapped[str] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    # Facilitation across the round's teams (boards.round_facilitation): one timer and one
    # announcement that every team's boards show.
    timer_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    timer_paused_seconds: Mapped[int | None] = mapped_column(Integer)
    announcement: Mapped[str | None] = mapped_column(String(500))
    announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ScheduledSession(Base):
    """A session of a round's schedule: info session, site visit, workshop, coaching."""

    __tablename__ = "scheduled_session"
    __table_args__ = (CheckConstraint("kind in ('info', 'site_visit', 'workshop', 'coaching', 'other')", name="kind"),)
    id: Mapped[str] = _id()
    round_id: Mapped[str] = mapped_column(ForeignKey("round.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    place: Mapped[str | None] = mapped_column(String(300))
    online_url: Mapped[str | None] = mapped_column(String(500))
    agenda: Mapped[str | None] = mapped_column(Text)
    # The calendar SEQUENCE: raised on every change, so a calendar replaces the event it has.
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Team(Base):
    """A development project of one organisation, in a round or standing alone."""

    __tablename__ = "team"
    __table_args__ = (
        CheckConstraint(
            "phase in ('current_state', 'customer_insight', 'synthesis', 'ideation_testing', 'service_model')",
            name="phase",
        ),
    )
    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    round_id: Mapped[str | None] = mapped_column(ForeignKey("round.id"), index=True)
    phase: Mapped[str] = mapped_column(String(30), default="current_state")
    # True while at least one member is a named facilitator (kept so by auth.roles): then only they facilitate.
    facilitators_named: Mapped[bool] = mapped_column(Boolean, default=False)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pruned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Membership(Base):
    """A person in a team with a role. A customer always names a contact person."""

    __tablename__ = "membership"
    __table_args__ = (
        UniqueConstraint("team_id", "person_id"),
        CheckConstraint("role in ('professional', 'customer', 'coach', 'observer')", name="role"),
        CheckConstraint("role <> 'customer' OR contact_person_id IS NOT NULL", name="customer_has_contact"),
    )
    id: Mapped[str] = _id()
    team_id: Mapped[str] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    contact_person_id: Mapped[str | None] = mapped_column(ForeignKey("person.id"))
    is_facilitator: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when the contact person was changed for the customer (their professional left): the
    # team page flags it until a professional names the contact person.
    contact_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PeerRoom(Base):
    """A customers-only room. No professional, coach or admin may read it."""

    __tablename__ = "peer_room"
    id: Mapped[str] = _id()
    team_id: Mapped[str | None] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)
    round_id: Mapped[str | None] = mapped_column(ForeignKey("round.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PeerRoomMember(Base):
    __tablename__ = "peer_room_member"
    room_id: Mapped[str] = mapped_column(ForeignKey("peer_room.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    is_facilitator: Mapped[bool] = mapped_column(Boolean, default=False)


class Invite(Base):
    """An invite link. Only the SHA-256 of its token is stored."""

    __tablename__ = "invite"
    __table_args__ = (
        CheckConstraint("role in ('professional', 'customer', 'coach', 'observer')", name="role"),
        CheckConstraint("role <> 'customer' OR contact_person_id IS NOT NULL", name="customer_has_contact"),
    )
    id: Mapped[str] = _id()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    contact_person_id: Mapped[str | None] = mapped_column(ForeignKey("person.id"))
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("person.id"))
    max_uses: Mapped[int] = mapped_column(Integer, default=1)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuthSession(Base):
    """A server-side session; the cookie holds only a random id whose hash is stored."""

    __tablename__ = "auth_session"
    id: Mapped[str] = _id()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_agent: Mapped[str | None] = mapped_column(String(200))


class ConsentText(Base):
    """A versioned participation agreement or optional-consent text."""

    __tablename__ = "consent_text"
    __table_args__ = (UniqueConstraint("purpose", "scope_id", "version", "locale"),)
    id: Mapped[str] = _id()
    purpose: Mapped[str] = mapped_column(String(40))
    scope_id: Mapped[str | None] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    locale: Mapped[str] = mapped_column(String(10))
    plain_text: Mapped[str] = mapped_column(Text)
    full_text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsentRecord(Base):
    """Append-only: a given or withdrawn consent is a new row, never an update."""

    __tablename__ = "consent_record"
    id: Mapped[str] = _id()
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(40))
    text_id: Mapped[str] = mapped_column(ForeignKey("consent_text.id"))
    text_sha256: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(10))
    given: Mapped[bool] = mapped_column(Boolean)
    method: Mapped[str] = mapped_column(String(20), default="self")
    actor_id: Mapped[str | None] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProgressUpdate(Base):
    """A team's message to all its participants, past ones included, about what came of the work."""

    __tablename__ = "progress_update"
    id: Mapped[str] = _id()
    team_id: Mapped[str] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[str | None] = mapped_column(ForeignKey("person.id"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MailOutbox(Base):
    """A message waiting to be sent, written in the same transaction as what caused it."""

    __tablename__ = "mail_outbox"
    id: Mapped[str] = _id()
    person_id: Mapped[str | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"), index=True)
    recipient: Mapped[str] = mapped_column(String(320))
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    message: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """Who changed roles, invites, consents, exports and deletions. No content bodies."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_object", "object_type", "object_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(32))
    team_id: Mapped[str | None] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ReturnLink(Base):
    """A customer's personal sign-in link for another device. A new one revokes the old."""

    __tablename__ = "return_link"
    id: Mapped[str] = _id()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("person.id"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(Base):
    """A message to one person shown on their home page (e.g. "your customer left the team")."""

    __tablename__ = "notification"
    id: Mapped[str] = _id()
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AccessibilityFeedback(Base):
    """Feedback from the accessibility statement's form: a ticket due in 14 days (digipalvelulaki)."""

    __tablename__ = "accessibility_feedback"
    id: Mapped[str] = _id()
    message: Mapped[str] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(String(320))
    page: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
