"""The OpenID Connect provider registry: the ``identity_provider`` table, nothing of the protocol.

Split from :mod:`auth.oidc` so that listing the sign-in buttons, looking up a
provider and ``kumppani provider add/list`` need only SQLAlchemy: the protocol
module imports authlib, joserfc, cryptography and httpx, which a server whose
people sign in with passwords (or not yet at all) should not keep resident.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth import audit
from auth.models import IdentityProvider, Organisation
from foundation.db import new_id

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
    #: The sealed secret (auth/oidc_secrets.py), or None when ``client_secret_env`` names where it is.
    sealed_secret: str | None
    client_secret_env: str | None
    organisation_id: str | None
    enabled: bool = True

    def __repr__(self) -> str:  # keep even the sealed secret out of logs and tracebacks
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
        sealed_secret=row.client_secret,
        client_secret_env=row.client_secret_env,
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


def _check_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise OidcError("name_malformed")
    return name


def _check_client_id(client_id: str) -> str:
    if not client_id or len(client_id) > 200 or client_id != client_id.strip():
        raise OidcError("client_malformed")
    return client_id


async def _check_organisation(conn: AsyncConnection, organisation_id: str | None) -> None:
    if organisation_id is not None:
        known = (await conn.execute(select(Organisation.id).where(Organisation.id == organisation_id))).first()
        if known is None:
            raise OidcError("organisation_unknown")


def _secret_values(
    secret_keys: Sequence[str], client_secret: str | None, client_secret_env: str | None
) -> dict[str, str | None]:
    """The row's two secret columns: exactly one of them set, the secret sealed."""
    from auth import oidc_secrets  # cryptography: only where a secret is written or read

    if (client_secret is None) == (client_secret_env is None):
        raise OidcError("client_secret_one_of")
    if client_secret_env is not None:
        return {"client_secret": None, "client_secret_env": oidc_secrets.check_env_name(client_secret_env)}
    assert client_secret is not None
    return {"client_secret": oidc_secrets.seal(secret_keys, client_secret), "client_secret_env": None}


async def add_provider(
    conn: AsyncConnection,
    *,
    name: str,
    issuer: str,
    client_id: str,
    secret_keys: Sequence[str],
    client_secret: str | None = None,
    client_secret_env: str | None = None,
    organisation_id: str | None = None,
    enabled: bool = True,
) -> str:
    """Register a provider; the issuer is unique (raise OidcError("issuer_taken") otherwise).

    Give either the client secret (stored sealed with the secret key) or the name of the
    environment variable that will hold it.
    """
    name = _check_name(name)
    check_issuer(issuer)
    _check_client_id(client_id)
    secret = _secret_values(secret_keys, client_secret, client_secret_env)
    taken = (await conn.execute(select(IdentityProvider.id).where(IdentityProvider.issuer == issuer))).first()
    if taken is not None:
        raise OidcError("issuer_taken")
    await _check_organisation(conn, organisation_id)
    pid = new_id()
    await conn.execute(
        insert(IdentityProvider).values(
            id=pid,
            name=name,
            issuer=issuer,
            client_id=client_id,
            organisation_id=organisation_id,
            enabled=enabled,
            **secret,
        )
    )
    await audit.record(conn, "provider.added", actor_id=None, object_type="identity_provider", object_id=pid)
    return pid


async def find_provider(conn: AsyncConnection, provider_id: str) -> Provider | None:
    """A provider by id, enabled or not."""
    if not provider_id or len(provider_id) > 32:
        return None
    row = (await conn.execute(select(IdentityProvider).where(IdentityProvider.id == provider_id))).first()
    return _provider(row) if row is not None else None


async def edit_provider(
    conn: AsyncConnection,
    provider_id: str,
    *,
    secret_keys: Sequence[str],
    name: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    client_secret_env: str | None = None,
    organisation_id: str | None = None,
    enabled: bool | None = None,
) -> list[str]:
    """Change what is given (the issuer stays: accounts are keyed by it); the names of what changed."""
    if await find_provider(conn, provider_id) is None:
        raise OidcError("provider_unknown")
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = _check_name(name)
    if client_id is not None:
        values["client_id"] = _check_client_id(client_id)
    if client_secret is not None or client_secret_env is not None:
        values.update(_secret_values(secret_keys, client_secret, client_secret_env))
    if organisation_id is not None:
        await _check_organisation(conn, organisation_id)
        values["organisation_id"] = organisation_id
    if enabled is not None:
        values["enabled"] = enabled
    if values:
        await conn.execute(update(IdentityProvider).where(IdentityProvider.id == provider_id).values(**values))
        # Which fields changed, never their values: a secret must not reach the audit log.
        await audit.record(
            conn,
            "provider.edited",
            actor_id=None,
            object_type="identity_provider",
            object_id=provider_id,
            changed=sorted(values),
        )
    return sorted(values)


async def remove_provider(conn: AsyncConnection, provider_id: str) -> None:
    """Forget the provider. People who signed in with it keep their accounts (and can be given another way in)."""
    result = await conn.execute(delete(IdentityProvider).where(IdentityProvider.id == provider_id))
    if result.rowcount == 0:
        raise OidcError("provider_unknown")
    await audit.record(conn, "provider.removed", actor_id=None, object_type="identity_provider", object_id=provider_id)
