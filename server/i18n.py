"""The translation catalogues: every string a person sees comes from web/i18n/<locale>.json.

Four catalogues: Finnish (the default), Swedish, English, and plain-language
Finnish (selkokieli, code ``fi-selko``). Selkokieli is Finnish, so its pages say
``<html lang="fi">``. It covers every customer-facing text (see
``CUSTOMER_PREFIXES``); a text only professionals read falls back to standard
Finnish.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from starlette.requests import Request

CATALOGUE_DIR = Path(__file__).resolve().parent.parent / "web" / "i18n"
DEFAULT_LOCALE = "fi"
PLAIN_LOCALE = "fi-selko"
LANG_COOKIE = "kumppani-lang"


@dataclass(frozen=True)
class Language:
    code: str  # the catalogue's file name and the value stored on a person's account
    html_lang: str  # what <html lang> and lang="" say (BCP 47)
    own_name: str  # the switch names each language in that language
    fallback: str | None  # where a missing key is looked up next


LANGUAGES: dict[str, Language] = {
    "fi": Language("fi", "fi", "suomi", None),
    "sv": Language("sv", "sv", "svenska", "fi"),
    "en": Language("en", "en", "English", "fi"),
    PLAIN_LOCALE: Language(PLAIN_LOCALE, "fi", "selkokieli", "fi"),
}
LOCALES = tuple(LANGUAGES)

# What only professionals, coaches and administrators see: every other key is customer-facing and
# must have its plain-language text. (Listing the exceptions, not the rule, makes a new key
# customer-facing until someone decides otherwise.) Customers do see sign-in (a session that ended
# sends them there), the team page, board settings and history, so those are not listed.
PROFESSIONAL_PREFIXES = (
    "admin.",
    "audit.",
    "no_team.",  # an organisation account that no team has yet
    "team.invite",  # creating invites and their messages
    "team.create_invite",
    "team.open_invites",
    "team.expires",
    "team.revoke",
    "team.remove",
    "team.assisted",
    "team.consent_counts",
    "team.agreement_status",
    "team.name_contact",  # naming a customer's contact person
    "team.contact_changed_flag",
    "roles.",  # refusals of role changes, which professionals and admins make
    "share.expires",
    "share.title",  # a customer does not publish outside the team
    "share.help",
    "share.create",
    "share.revoke",
    "share.ready",
    # Coaching rounds: what the round's coaches steer (customers read the schedule and the round's timer)
    "dashboard.",
    "exercise.",
    "facilitation.",
    "side.",
    "home.rounds_link",
    "schedule.error.",
    "schedule.kind_label",
    "schedule.session_title",
    "schedule.date",
    "schedule.start",
    "schedule.end",
    "schedule.place",
    "schedule.online_url",
    "schedule.agenda",
    "schedule.add",
    "schedule.save",
    "schedule.change_named",
    "schedule.remove_named",
    "schedule.unchanged",
)


def is_customer_facing(key: str) -> bool:
    return not key.startswith(PROFESSIONAL_PREFIXES)


@cache
def catalogue(locale: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((CATALOGUE_DIR / f"{locale}.json").read_text(encoding="utf-8"))
    return data


def html_lang(locale: str) -> str:
    return LANGUAGES[locale].html_lang if locale in LANGUAGES else DEFAULT_LOCALE


class Translator:
    def __init__(self, locale: str) -> None:
        self.locale = locale if locale in LANGUAGES else DEFAULT_LOCALE
        self.html_lang = html_lang(self.locale)
        self._messages = catalogue(self.locale)

    def text(self, key: str) -> str:
        """The raw catalogue text: this locale, then its fallback, then the key itself."""
        locale: str | None = self.locale
        while locale is not None:
            text = catalogue(locale).get(key)
            if text is not None:
                return text
            locale = LANGUAGES[locale].fallback
        return key

    def __call__(self, key: str, **values: Any) -> str:
        text = self._messages.get(key)
        if text is None:
            # Missing keys are caught by a test (plain Finnish leaves professional texts out on purpose).
            text = self.text(key)
        return text.format(**values) if values else text


def wanted_locale(request: Request, person_locale: str | None = None) -> str | None:
    """The locale the person chose, if any: this request's ?lang=, the browser's cookie, their account."""
    person_locale = person_locale or getattr(request.state, "person_locale", None)
    for wanted in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE), person_locale):
        if wanted in LANGUAGES:
            return wanted
    return None


def locale_of(request: Request, person_locale: str | None = None) -> str:
    """The page's locale. A page rendered for someone who has not chosen yet (a customer's first
    visit by an invite link) may have set ``request.state.first_locale``."""
    return wanted_locale(request, person_locale) or getattr(request.state, "first_locale", None) or DEFAULT_LOCALE
