"""Dates, times and durations as people in Finland read them, in each interface language.

Times are stored in UTC and shown in Europe/Helsinki. The formats follow each
language's own convention in Finland: Finnish and Finland-Swedish write
"4.12.2026 klo 21.45" / "4.12.2026 kl. 21.45"; English writes
"4 December 2026, 21:45". (Durations on the board, such as the timer, are
written by web/static/board-facilitate.js from the catalogue's units.)
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

HELSINKI = ZoneInfo("Europe/Helsinki")

_EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# Word before the time of day, and the separator inside it, per language (plain Finnish is Finnish).
_CLOCK = {"fi": ("klo", "."), "sv": ("kl.", "."), "en": ("", ":")}


def _language(locale: str) -> str:
    base = locale.split("-", 1)[0]
    return base if base in _CLOCK else "fi"


def local(moment: datetime | str) -> datetime:
    """The moment on Helsinki's clock (a naive value is taken to be UTC, as the database stores it;
    a string is an ISO 8601 time, as the personal data export writes it)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(HELSINKI)


def format_date(value: date | datetime | str, locale: str) -> str:
    day = local(value).date() if isinstance(value, (datetime, str)) else value
    if _language(locale) == "en":
        return f"{day.day} {_EN_MONTHS[day.month - 1]} {day.year}"
    return f"{day.day}.{day.month}.{day.year}"


def format_time(value: datetime | str, locale: str) -> str:
    moment = local(value)
    _word, sep = _CLOCK[_language(locale)]
    return f"{moment.hour}{sep}{moment.minute:02d}" if sep == "." else f"{moment.hour:02d}{sep}{moment.minute:02d}"


def format_datetime(value: datetime | str, locale: str) -> str:
    word, _sep = _CLOCK[_language(locale)]
    when = format_time(value, locale)
    if word:
        return f"{format_date(value, locale)} {word} {when}"
    return f"{format_date(value, locale)}, {when}"
