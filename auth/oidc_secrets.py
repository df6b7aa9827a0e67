"""Identity providers' client secrets: sealed with the secret key, or read from the environment.

A provider row holds either ``client_secret`` (sealed: Fernet, AES-128-CBC with
HMAC-SHA256, from ``cryptography``, which Authlib brings) or ``client_secret_env``,
the name of an environment variable that holds the secret (for deployments that
keep secrets in a vault and hand them to the process that way). Never the
secret itself: a copy of the database or a backup does not give it away.

Each key of ``KUMPPANI_SECRET_KEY`` (a comma-separated list, newest first)
derives its own Fernet key with HKDF under a name of this purpose only, so the
secret key signing cookies and tokens is never used as an encryption key as is.
The newest key seals; every key opens, so a key rotation keeps providers
working, and ``kumppani migrate`` re-seals with the newest key.

Imported only where a secret is needed (a token exchange, the ``provider``
commands): ``cryptography`` should not stay resident in a serving process.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping, Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.models import IdentityProvider
from auth.oidc_providers import OidcError

#: Marks a sealed value; a stored secret without it is from before secrets were sealed.
SEALED_PREFIX = "fernet:"
_PURPOSE = b"kumppani identity-provider client secret v1"
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,99}")
MAX_SECRET = 500


def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def _sealer(secret_keys: Sequence[str]) -> MultiFernet:
    if not secret_keys:
        raise OidcError("no_secret_key")
    return MultiFernet([_fernet(key) for key in secret_keys])


def seal(secret_keys: Sequence[str], secret: str) -> str:
    """The secret sealed with the newest key, ready to store."""
    if not secret or len(secret) > MAX_SECRET:
        raise OidcError("client_malformed")
    return SEALED_PREFIX + _sealer(secret_keys).encrypt(secret.encode()).decode("ascii")


def unseal(secret_keys: Sequence[str], stored: str) -> str:
    """The secret from its stored form; OidcError when no key in the list opens it."""
    if not stored.startswith(SEALED_PREFIX):
        return stored  # stored before sealing, until `kumppani migrate` seals it
    try:
        return _sealer(secret_keys).decrypt(stored.removeprefix(SEALED_PREFIX).encode("ascii")).decode()
    except (InvalidToken, UnicodeError):
        raise OidcError("client_secret_unreadable") from None


def check_env_name(name: str) -> str:
    if not _ENV_NAME.fullmatch(name):
        raise OidcError("client_secret_env_malformed")
    return name


def client_secret(
    secret_keys: Sequence[str],
    *,
    sealed: str | None,
    env_name: str | None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The provider's client secret, wherever its row says it is."""
    if env_name:
        value = (os.environ if environ is None else environ).get(env_name, "")
        if not value:
            raise OidcError("client_secret_env_missing")
        return value
    if not sealed:
        raise OidcError("client_secret_missing")
    return unseal(secret_keys, sealed)


async def reseal_all(conn: AsyncConnection, secret_keys: Sequence[str]) -> int:
    """Seal secrets stored in plain text and re-seal the rest with the newest key; how many changed.

    A secret that no key opens (sealed with a key since removed from the list)
    is left as it is: ``kumppani provider edit --client-secret`` replaces it.
    """
    sealer = _sealer(secret_keys)
    rows = (
        await conn.execute(
            select(IdentityProvider.id, IdentityProvider.client_secret).where(
                IdentityProvider.client_secret.is_not(None)
            )
        )
    ).all()
    changed = 0
    for row in rows:
        stored: str = row.client_secret
        if stored.startswith(SEALED_PREFIX):
            try:
                token = sealer.rotate(stored.removeprefix(SEALED_PREFIX).encode("ascii"))
            except InvalidToken:
                continue
            new = SEALED_PREFIX + token.decode("ascii")
        else:
            new = seal(secret_keys, stored)
        await conn.execute(update(IdentityProvider).where(IdentityProvider.id == row.id).values(client_secret=new))
        changed += 1
    return changed
