"""The translation catalogue: every string a person sees comes from web/i18n/<locale>.json.

Finnish is the default; English on request. Customer-facing texts are written
in plain language (selkokieli) in both.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from starlette.requests import Request

CATALOGUE_DIR = Path(__file__).resolve().parent.parent / "web" / "i18n"
LOCALES = ("fi", "en")
DEFAULT_LOCALE = "fi"
LANG_COOKIE = "kumppani-lang"


@cache
def catalogue(locale: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((CATALOGUE_DIR / f"{locale}.json").read_text(encoding="utf-8"))
    return data


class Translator:
    def __init__(self, locale: str) -> None:
        self.locale = locale if locale in LOCALES else DEFAULT_LOCALE
        self._messages = catalogue(self.locale)

    def __call__(self, key: str, **values: Any) -> str:
        text = self._messages.get(key)
        if text is None:
            # Missing keys are caught by a test; at run time fall back to Finnish, then the key.
            text = catalogue(DEFAULT_LOCALE).get(key, key)
        return text.format(**values) if values else text


def locale_of(request: Request, person_locale: str | None = None) -> str:
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or person_locale
    return wanted if wanted in LOCALES else DEFAULT_LOCALE
