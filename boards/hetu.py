"""Finnish personal identity codes (henkilötunnus) in free text.

Kumppani must not turn into a client-record system, so text that contains a
valid identity code (checksum included) is refused with a plain hint.
"""

from __future__ import annotations

import re

CHECK_CHARS = "0123456789ABCDEFHJKLMNPRSTUVWXY"
# Century signs: + (1800s), - Y X W V U (1900s), A B C D E F (2000s).
_PATTERN = re.compile(
    r"(?<![0-9A-Za-z])(\d{2})(\d{2})(\d{2})([-+YXWVUABCDEF])(\d{3})([0-9A-Y])(?![0-9A-Za-z])",
    re.IGNORECASE,
)


def _valid(day: str, month: str, digits: str, check: str) -> bool:
    if not (1 <= int(day) <= 31 and 1 <= int(month) <= 12):
        return False
    number = int(day + month + digits[0:2] + digits[2:])
    return CHECK_CHARS[number % 31] == check.upper()


def contains_identity_code(text: str) -> bool:
    for match in _PATTERN.finditer(text):
        day, month, year, _sign, individual, check = match.groups()
        if _valid(day, month, year + individual, check):
            return True
    return False
