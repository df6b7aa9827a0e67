"""Fractional ordering keys: a position between any two others without renumbering.

Keys are strings over 62 digits compared as plain strings (the same order in
Python, SQLite and PostgreSQL's "C" collation we sort by in code). A key never
ends in the smallest digit, so there is always room before it. Items with equal
keys (two people dropping into the same gap at once) are ordered by id, so every
client shows the same order.
"""

from __future__ import annotations

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BASE = len(DIGITS)
_VALUE = {c: i for i, c in enumerate(DIGITS)}
FIRST_KEY = DIGITS[BASE // 2]
MAX_KEY_LENGTH = 200


def is_valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and all(c in _VALUE for c in key) and key[-1] != DIGITS[0]


def key_between(before: str | None, after: str | None) -> str:
    """A key strictly between ``before`` and ``after`` (either may be None: an open end)."""
    if before is not None and after is not None and before >= after:
        # The engine reads both neighbours from the cell as it is; keys out of order mean a bug,
        # and quietly placing after ``before`` is what once produced equal keys.
        raise ValueError(f"no key between {before!r} and {after!r}")
    if after is None:
        return _key_after(before or "")
    if not before:
        return _key_before(after)
    return _midpoint(before, after)


def _key_after(key: str) -> str:
    """Grow slowly when appending: bump the first digit that can still be bumped."""
    if not key:
        return FIRST_KEY
    for index, char in enumerate(key):
        value = _VALUE[char]
        if value < BASE - 1:
            return key[:index] + DIGITS[value + 1]
    return key + FIRST_KEY


def _key_before(key: str) -> str:
    for index, char in enumerate(key):
        value = _VALUE[char]
        if value > 1:
            return key[:index] + DIGITS[value - 1]
        if value == 1:
            break
    return _midpoint("", key)


def _midpoint(low: str, high: str | None) -> str:
    """Digit-wise midpoint of ``low`` < ``high``; ``low`` is padded with the zero digit."""
    prefix = []
    index = 0
    while True:
        low_digit = _VALUE[low[index]] if index < len(low) else 0
        high_digit = BASE if high is None or index >= len(high) else _VALUE[high[index]]
        if low_digit == high_digit:
            prefix.append(DIGITS[low_digit])
            index += 1
            continue
        middle = (low_digit + high_digit) // 2
        if middle > low_digit:
            return "".join(prefix) + DIGITS[middle]
        # Adjacent digits: keep low's digit and find room after the rest of low.
        return "".join(prefix) + DIGITS[low_digit] + _midpoint(low[index + 1 :], None)


def spread_keys(count: int) -> list[str]:
    """Evenly spaced keys for ``count`` items (used to rebuild a crowded cell)."""
    keys: list[str] = []
    previous: str | None = None
    for _ in range(count):
        previous = _key_after(previous or "")
        keys.append(previous)
    return keys
