"""The OpenID Connect provider registry: the ``identity_provider`` table, nothing of the protocol.

Split from :mod:`auth.oidc` so that listing the sign-in buttons, looking up a
provider and ``kumppani provider add/list`` need only SQLAlchemy: the protocol
module imports authlib, joserfc, cryptography and httpx, which a server whose
people sign in with passwords (or not yet at all) should not keep resident.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.models import IdentityProvider, Organisation
from server.db import new_id

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class OidcError(Exception):
    """A sign-in that must not go through. ``reason`` is for the log, never for the page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ProviderChoice:
    """What the sign-in page shows: a button per enabled provider."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Provider:
    id: str
    name: str
    issuer: str
    client_id: str
    client_secret: str
    organisation_id: str | None
    enabled: bool = True

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return f"Provider(id={self.id!r}, name={self.name!r}, issuer={self.issuer!r})"


def check_issuer(issuer: str) -> str:
    """The issuer if usable: https (plain http only on this machine), no query or fragment."""
    if not issuer or len(issuer) > 500 or issuer != issuer.strip():
        raise OidcError("issuer_malformed")
    parts = urlsplit(issuer)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise OidcError("issuer_malformed")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise OidcError("issuer_not_https")
    return issuer


def _provider(row: Any) -> Provider:
    return Provider(
        id=row.id,
        name=row.name,
        issuer=row.issuer,
        client_id=row.client_id,
        client_secret=row.client_secret,
        organisation_id=row.organisation_id,
        enabled=bool(row.enabled),
    )


async def enabled_providers(conn: AsyncConnection) -> list[ProviderChoice]:
    rows = await conn.execute(
        select(IdentityProvider.id, IdentityProvider.name)
        .where(IdentityProvider.enabled.is_(True))
        .order_by(IdentityProvider.name, IdentityProvider.id)
    )
    return [ProviderChoice(row.id, row.name) for row in rows]


async def get_provider(conn: AsyncConnection, provider_id: str) -> Provider | None:
    """An enabled provider by id, or None."""
    if not provider_id or len(provider_id) > 32:
        return None
    row = (
        await conn.execute(
            select(IdentityProvider).where(IdentityProvider.id == provider_id, IdentityProvider.enabled.is_(True))
        )
    ).first()
    return _provider(row) if row is not None else None


async def list_providers(conn: AsyncConnection) -> list[Provider]:
    rows = await conn.execute(select(IdentityProvider).order_by(IdentityProvider.name))
    return [_provider(row) for row in rows]


async def add_provider(
    conn: AsyncConnection,
    *,
    name: str,
    issuer: str,
    client_id: str,
    client_secret: str,
    organisation_id: str | None = None,
    enabled: bool = True,
) -> str:
    """Register a provider; the issuer is unique (raise OidcError("issuer_taken") otherwise)."""
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise OidcError("name_malformed")
    check_issuer(issuer)
    if not client_id or len(client_id) > 200 or not client_secret or len(client_secret) > 500:
        raise OidcError("client_malformed")
    taken = (await conn.execute(select(IdentityProvider.id).where(IdentityProvider.issuer == issuer))).first()
    if taken is not None:
        raise OidcError("issuer_taken")
    if organisation_id is not None:
        known = (await conn.execute(select(Organisation.id).where(Organisation.id == organisation_id))).first()
        if known is None:
            raise OidcError("organisation_unknown")
    pid = new_id()
    await conn.execute(
        insert(IdentityProvider).values(
            id=pid,
            name=name,
            issuer=issuer,
            client_id=client_id,
            client_secret=client_secret,
            organisation_id=organisation_id,
            enabled=enabled,
        )
    )
    return pid
