"""Password hashing with argon2id (argon2-cffi's defaults follow RFC 9106's recommendation)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_dummy: str | None = None


def _dummy_hash() -> str:
    """Verifying against this when the account does not exist keeps the timing the same.

    Made on first use, not at import: hashing takes 64 MiB for a moment in every process.
    """
    global _dummy
    if _dummy is None:
        _dummy = _hasher.hash("not a real password, only for timing")
    return _dummy


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)
