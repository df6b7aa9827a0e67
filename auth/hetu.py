"""Finnish personal identity codes (henkilötunnus) in free text.

Kumppani must not turn into a client-record system, so every text a person or
the CLI enters (board items and titles, names of people, teams and rounds,
feedback) that contains a valid identity code (check character included) is
refused with a plain hint. This is the one guard every route uses.

A code is found wherever its twelve characters stand, also glued to letters
(``HETU131052-308T``, ``131052-308Tkotona``); only a digit right before it makes
it the tail of a longer number rather than a code. Eleven characters that fail the check are
not a code and pass.
"""

from __future__ import annotations

import re

CHECK_CHARS = "0123456789ABCDEFHJKLMNPRSTUVWXY"
# Century signs: + (1800s), - Y X W V U (1900s), A B C D E F (2000s).
# A lookahead, so that candidates may overlap: a false start must not hide a code inside it.
_PATTERN = re.compile(
    r"(?<!\d)(?=(\d{2})(\d{2})(\d{2})([-+YXWVUABCDEF])(\d{3})([0-9A-Y]))",
    re.IGNORECASE,
)
#: The plain message for a refused text (English; pages show their translated key instead).
IDENTITY_CODE_MESSAGE = "Remove the personal identity code. Do not write identity codes in Kumppani."


class IdentityCodeError(ValueError):
    """A text contained a valid Finnish personal identity code."""

    def __init__(self, message: str = IDENTITY_CODE_MESSAGE) -> None:
        super().__init__(message)


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


def refuse_identity_code(*texts: str | None) -> None:
    """Raise :class:`IdentityCodeError` when any of ``texts`` contains an identity code."""
    for text in texts:
        if text and contains_identity_code(text):
            raise IdentityCodeError
