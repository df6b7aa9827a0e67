"""Signed tokens, one namespace per purpose, with key rotation.

A token made for one purpose (say an invite) does not verify for another (say a
websocket ticket), because each purpose has its own salt. The newest key signs;
every key in the list still verifies, so keys can be rotated without breaking
links already sent.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import Literal

from itsdangerous import BadSignature, Signer, TimestampSigner

Purpose = Literal[
    "invite", "return-link", "ws-ticket", "unsubscribe", "export", "share", "csrf", "oidc-state", "feedback"
]


class TokenError(ValueError):
    pass


def _keys(secret_keys: Sequence[str]) -> list[str]:
    # itsdangerous signs with the last key and verifies with all of them.
    return list(reversed(secret_keys))


def make_token(secret_keys: Sequence[str], purpose: Purpose, nbytes: int = 16) -> str:
    """A random value (>=128 bits) signed for one purpose."""
    value = secrets.token_urlsafe(nbytes)
    return Signer(_keys(secret_keys), salt=f"kumppani.{purpose}").sign(value).decode()


def check_token(secret_keys: Sequence[str], purpose: Purpose, token: str) -> str:
    """The token if its signature is valid for this purpose; raise TokenError otherwise."""
    if not token or len(token) > 300:
        raise TokenError("malformed")
    try:
        Signer(_keys(secret_keys), salt=f"kumppani.{purpose}").unsign(token.encode())
    except BadSignature:
        raise TokenError("bad signature") from None
    return token


def make_timed(secret_keys: Sequence[str], purpose: Purpose, value: str) -> str:
    return TimestampSigner(_keys(secret_keys), salt=f"kumppani.{purpose}").sign(value).decode()


def check_timed(secret_keys: Sequence[str], purpose: Purpose, token: str, max_age: int) -> str:
    try:
        return (
            TimestampSigner(_keys(secret_keys), salt=f"kumppani.{purpose}")
            .unsign(token.encode(), max_age=max_age)
            .decode()
        )
    except BadSignature:
        raise TokenError("bad or expired signature") from None


def digest(token: str) -> str:
    """What we store instead of a token: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()
