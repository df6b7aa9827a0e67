"""Where to send someone next: only ever a path on this site.

Every page that takes a ``next`` (language switch, welcome, agreement, sign-in) asks
here, so that one rule decides what counts as "on this site". Browsers read a
backslash as a slash (``/\\evil.example`` is ``//evil.example``, another site) and
drop tabs and newlines inside a URL, so anything that could become a second
leading slash or a scheme is refused, also once percent-decoded.
"""

from __future__ import annotations

from urllib.parse import unquote

MAX_NEXT_LENGTH = 200


def safe_next(value: object, default: str = "/") -> str:
    """``value`` when it is a path on this site, else ``default``."""
    if not isinstance(value, str) or not value or len(value) > MAX_NEXT_LENGTH:
        return default
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        return default
    for form in (value, unquote(value)):
        if not form.startswith("/") or form.startswith("//") or "\\" in form:
            return default
    return value
