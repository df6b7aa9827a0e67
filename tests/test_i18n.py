"""The translation catalogues are complete: every key a template or the board's scripts use exists
in Finnish, Swedish and English, which have the same keys and placeholders, and every customer-facing
key has its plain-language (selkokieli) text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from auth.consent_texts import PURPOSES as CONSENT_PURPOSES
from auth.models import INVITE_ROLES, ROLES
from boards.itemtypes import ITEM_TYPES
from boards.protocol import ErrorCode
from boards.templates import TEMPLATE_NAMES
from server.i18n import PLAIN_LOCALE, is_customer_facing
from server.privacy_routes import PURPOSES, RIGHTS

WEB = Path(__file__).resolve().parent.parent / "web"
SERVER = Path(__file__).resolve().parent.parent / "server"
FULL_LOCALES = ("fi", "sv", "en")  # complete catalogues
LOCALES = (*FULL_LOCALES, PLAIN_LOCALE)  # plain Finnish covers the customer-facing keys only
CATALOGUES: dict[str, dict[str, str]] = {
    locale: json.loads((WEB / "i18n" / f"{locale}.json").read_text(encoding="utf-8")) for locale in LOCALES
}
JS_PREFIX = "board.js."  # server/pages.py hands these keys to the board page, without the prefix

TEMPLATE_KEY = re.compile(r"""\bt\(\s*(["'])([A-Za-z0-9_.\-]+)\1\s*[,)]""")
TEMPLATE_PREFIX = re.compile(r"""\bt\(\s*(["'])([A-Za-z0-9_.\-]+\.)\1\s*\+""")
ERROR_PAGE_KEY = re.compile(r"""error_page\([^)]*?,\s*\d{3}\s*,\s*f?["']([a-z0-9_.{}]+)["']""")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
PHASES = ("current_state", "customer_insight", "synthesis", "ideation_testing", "service_model")
# Prefixes completed at run time in templates, and the values they are completed with.
EXPANSIONS: dict[str, tuple[str, ...]] = {
    "role.": ROLES,
    "template.": TEMPLATE_NAMES,
    "phase.": PHASES,
    "invite.role.": INVITE_ROLES,
    "privacy.purpose.": PURPOSES,
    "privacy.right.": RIGHTS,
    "export.purpose.": CONSENT_PURPOSES,
}


def _templates() -> list[Path]:
    return sorted((WEB / "templates").rglob("*.html"))


def _scripts() -> list[Path]:
    return sorted((WEB / "static").rglob("*.js"))


def template_keys() -> dict[str, str]:
    """Every literal key in t("...") calls of the templates, with where it was found."""
    found: dict[str, str] = {}
    for path in _templates():
        text = path.read_text(encoding="utf-8")
        for match in TEMPLATE_KEY.finditer(text):
            found.setdefault(match.group(2), path.name)
        for match in TEMPLATE_PREFIX.finditer(text):
            prefix = match.group(2)
            for value in EXPANSIONS.get(prefix, ()):
                found.setdefault(prefix + value, f"{path.name} ({prefix}…)")
    # Error pages: error.html shows "<key>.title" and "<key>.text" for each status the app answers with.
    for status in (400, 403, 404, 410, 429, 500):
        for part in ("title", "text"):
            found.setdefault(f"error.{status}.{part}", "error.html")
    for path in sorted(SERVER.rglob("*.py")):
        for match in ERROR_PAGE_KEY.finditer(path.read_text(encoding="utf-8")):
            key = match.group(1)
            if "{" not in key:
                for part in ("title", "text"):
                    found.setdefault(f"{key}.{part}", path.name)
    return found


def template_prefixes() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in _templates():
        for match in TEMPLATE_PREFIX.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(match.group(2), path.name)
    return found


def _first_argument(text: str, start: int) -> str:
    """The source of a call's first argument, from just after its "(" to the first top-level , or )."""
    depth = 0
    quote = ""
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if ch == "\\":
                continue
            if ch == quote:
                quote = ""
            continue
        if ch in "\"'`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                return text[start:i]
            depth -= 1
        elif ch == "," and depth == 0:
            return text[start:i]
    return text[start:]


SCRIPT_CALL = re.compile(r"(?<![\w$])t\(")
SCRIPT_LITERAL = re.compile(r"""(?:^|[?:(]|\|\|)\s*(["'])([A-Za-z0-9_.\-]+)\1""")
SCRIPT_INDIRECT = re.compile(r"""["']((?:emotion|reaction)_[a-z_]+)["']""")


def scan_script(text: str) -> set[str]:
    """Keys one script passes to t(): literals, including both sides of a ?: choice (without the prefix)."""
    found = set()
    for match in SCRIPT_CALL.finditer(text):
        argument = _first_argument(text, match.end()).strip()
        found |= {lit.group(2) for lit in SCRIPT_LITERAL.finditer(argument)}
    return found | {match.group(1) for match in SCRIPT_INDIRECT.finditer(text)}


def script_keys() -> dict[str, str]:
    """Keys the board's scripts pass to t(), with the script they were found in."""
    found: dict[str, str] = {}
    for path in _scripts():
        for key in sorted(scan_script(path.read_text(encoding="utf-8"))):
            found.setdefault(JS_PREFIX + key, path.name)
    return found


def script_families() -> dict[str, str]:
    """Keys the scripts build at run time (field labels, choices, item types, error codes, roles)."""
    found: dict[str, str] = {}
    content = [name for name, t in ITEM_TYPES.items() if not t.structural and name != "comment"]
    for name, item_type in ITEM_TYPES.items():
        found[f"{JS_PREFIX}type.{name}"] = "item types"
        for field, spec in item_type.fields.items():
            found[f"{JS_PREFIX}field.{field}"] = f"fields of {name}"
            for choice in spec.choices:
                found[f"{JS_PREFIX}choice.{field}.{choice}"] = f"choices of {name}.{field}"
    for name in [*content, "stage", "theme", "picture"]:
        found[f"{JS_PREFIX}add.{name}"] = "add buttons"
    for name in ("stage", "theme", "picture"):
        found[f"{JS_PREFIX}column_noun.{name}"] = "columns"
    for code in (v for k, v in vars(ErrorCode).items() if not k.startswith("_")):
        found[f"{JS_PREFIX}error.{code}"] = "error codes"
    found[f"{JS_PREFIX}error.generic"] = "error codes"
    for role in (*ROLES, "peer"):
        found[f"{JS_PREFIX}role_{role}"] = "presence roles"
    return found


def _needed_in(locale: str, key: str) -> bool:
    return locale != PLAIN_LOCALE or is_customer_facing(key)


def _missing(keys: dict[str, str]) -> list[str]:
    return [
        f"{key} ({where}) missing in {locale}.json"
        for key, where in sorted(keys.items())
        for locale in LOCALES
        if _needed_in(locale, key) and key not in CATALOGUES[locale]
    ]


@pytest.mark.parametrize("locale", ["sv", "en"])
def test_every_full_catalogue_has_the_same_keys_as_finnish(locale: str) -> None:
    fi, other = set(CATALOGUES["fi"]), set(CATALOGUES[locale])
    assert not fi - other, f"missing in {locale}.json: {sorted(fi - other)}"
    assert not other - fi, f"only in {locale}.json: {sorted(other - fi)}"


def test_plain_finnish_has_every_customer_facing_key_and_no_other() -> None:
    customer = {key for key in CATALOGUES["fi"] if is_customer_facing(key)}
    plain = set(CATALOGUES[PLAIN_LOCALE])
    assert not customer - plain, f"customer-facing keys without plain-language text: {sorted(customer - plain)}"
    assert not plain - customer, (
        f"in {PLAIN_LOCALE}.json but not customer-facing in fi.json: {sorted(plain - customer)}"
    )


def test_the_customer_facing_line_falls_where_customers_are() -> None:
    """What a customer meets is in; what only professionals and admins use is out."""
    for key in (
        "invite.title",
        "agreement.accept",
        "board.js.add_card",
        "error.404.text",
        "me.withdraw",
        "signin.title",
    ):
        assert is_customer_facing(key), key
    for key in ("admin.title", "audit.csv", "team.create_invite", "team.remove_named", "share.create"):
        assert not is_customer_facing(key), key


@pytest.mark.parametrize("locale", ["sv", "en", PLAIN_LOCALE])
def test_every_catalogue_has_the_placeholders_of_finnish(locale: str) -> None:
    wrong = [
        key
        for key, text in CATALOGUES[locale].items()
        if key in CATALOGUES["fi"] and set(PLACEHOLDER.findall(text)) != set(PLACEHOLDER.findall(CATALOGUES["fi"][key]))
    ]
    assert not wrong, f"placeholders differ between fi and {locale}: {wrong}"


def test_no_translation_is_empty() -> None:
    empty = [
        f"{locale}: {key}" for locale in LOCALES for key, text in CATALOGUES[locale].items() if not str(text).strip()
    ]
    assert not empty, empty


def test_every_key_used_in_a_template_exists() -> None:
    keys = template_keys()
    assert len(keys) > 100  # the scan finds the templates' keys at all
    missing = _missing(keys)
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("prefix", sorted(template_prefixes()))
def test_every_key_prefix_used_in_a_template_has_keys(prefix: str) -> None:
    for locale in FULL_LOCALES:
        assert any(key.startswith(prefix) for key in CATALOGUES[locale]), f"no {prefix}* keys in {locale}.json"


def test_every_key_used_in_the_board_scripts_exists() -> None:
    keys = script_keys()
    assert len(keys) > 100
    missing = _missing(keys)
    assert not missing, "\n".join(missing)


def test_every_key_the_board_scripts_build_exists() -> None:
    missing = _missing(script_families())
    assert not missing, "\n".join(missing)


def test_the_scan_finds_a_missing_key() -> None:
    """The scanners the tests above use see plain keys, both sides of a choice, and a missing key."""
    source = (
        'x = t(count === 1 ? "queued_one" : "queued_many", { count }); y = this.t("online"); z = t(`field.${n}`);'
        ' w = t("no_such_key_anywhere"); v = "emotion_calm";'
    )
    seen = scan_script(source)
    assert seen == {"queued_one", "queued_many", "online", "no_such_key_anywhere", "emotion_calm"}
    missing = _missing({JS_PREFIX + key: "sample" for key in seen})
    assert f"{JS_PREFIX}no_such_key_anywhere (sample) missing in fi.json" in missing
    template = '{{ t("nav.home") }} {{ t(\'nav.missing_key\', n=1) }} {{ t("role." + member.role) }}'
    assert [m.group(2) for m in TEMPLATE_KEY.finditer(template)] == ["nav.home", "nav.missing_key"]
    assert [m.group(2) for m in TEMPLATE_PREFIX.finditer(template)] == ["role."]
