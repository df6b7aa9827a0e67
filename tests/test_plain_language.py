"""The plain-language (selkokieli) texts keep to a budget taken from the Finnish Centre for Easy
Language's guidance: short sentences, short and common words, one subordinate idea per sentence,
and error messages of at most two sentences (requirement L3).

The budgets, for every text in web/i18n/fi-selko.json and the plain layer of the Finnish
agreement and consent texts:
- a sentence has at most 12 words (a placeholder such as {name} counts as one word);
- a word has at most 20 letters (each part of a hyphenated word on its own), which lets common
  compounds such as "yhteyshenkilöltäsi" through and stops "saavutettavuusselosteeseen";
- a sentence joins at most one kind of subordinate clause ("että", "jos", "joka", "mitä"…);
  a question word that opens the sentence is the question, not a clause;
- an error message has at most two sentences;
- none of the professional words that customers told us they stumble on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from auth.consent_texts import DEFAULTS
from server.i18n import PLAIN_LOCALE, is_customer_facing

WEB = Path(__file__).resolve().parent.parent / "web"
PLAIN: dict[str, str] = json.loads((WEB / "i18n" / f"{PLAIN_LOCALE}.json").read_text(encoding="utf-8"))
FINNISH: dict[str, str] = json.loads((WEB / "i18n" / "fi.json").read_text(encoding="utf-8"))

SENTENCE_WORDS = 12
WORD_LETTERS = 20
ERROR_SENTENCES = 2
SUBORDINATORS = frozenset(
    "että jos kun koska jotta vaikka kunnes ellei jollei "
    "joka jota jonka jossa josta johon jolla jolle jolta jotka joita joiden joissa "
    "mikä mitä minkä missä mistä mihin miten miltä kuinka".split()
)
# Word stems that are jargon to a customer; the plain catalogue says them in everyday words.
JARGON = (
    "kehittäjäasiakas",
    "fasilit",
    "segment",
    "kirjautumiseni",
    "persona",
    "persoona",
    "synteesi",
    "proaktiivi",
    "digitaali",
    "kriittis",
    "hypotee",
    "validoi",
    "templaat",
)

_PLACEHOLDER = re.compile(r"\{\w+\}")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")
_WORD = re.compile(r"[^\W_]+(?:[-–][^\W_]+)*")


def sentences(text: str) -> list[str]:
    text = _PLACEHOLDER.sub("X", text.replace("## ", ""))
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def words(sentence: str) -> list[str]:
    return _WORD.findall(sentence)


def is_error(key: str) -> bool:
    return ".error." in f".{key}" or key.endswith((".invalid.text", ".expired.text", ".used.text", ".revoked.text"))


def problems(key: str, text: str) -> list[str]:
    found: list[str] = []
    parts = sentences(text)
    if is_error(key) and len(parts) > ERROR_SENTENCES:
        found.append(f"{key}: an error message of {len(parts)} sentences (at most {ERROR_SENTENCES})")
    for sentence in parts:
        said = words(sentence)
        if len(said) > SENTENCE_WORDS:
            found.append(f"{key}: {len(said)} words in {sentence!r} (at most {SENTENCE_WORDS})")
        lowered = [w.lower() for w in said]
        clauses = {w for w in lowered[1:] if w in SUBORDINATORS}
        if len(clauses) > 1:
            found.append(f"{key}: subordinate clauses {sorted(clauses)} in {sentence!r} (at most one kind)")
        for word in said:
            for part in re.split(r"[-–]", word):
                if len(part) > WORD_LETTERS:
                    found.append(f"{key}: {part!r} has {len(part)} letters (at most {WORD_LETTERS})")
        for stem in JARGON:
            if any(stem in w for w in lowered):
                found.append(f"{key}: the word {stem!r}… is jargon to a customer")
    return found


def plain_texts() -> dict[str, str]:
    texts = dict(PLAIN)
    for (purpose, locale), text in DEFAULTS.items():
        if locale == "fi":
            texts[f"consent {purpose} (plain layer)"] = text.plain
    return texts


def test_every_plain_text_keeps_to_the_budget() -> None:
    texts = plain_texts()
    assert len(texts) > 400  # the whole catalogue is read, not a corner of it
    found = [problem for key, text in texts.items() for problem in problems(key, text)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("role.customer", "jargon"),  # "kehittäjäasiakas"
        ("team.facilitator", "jargon"),  # "fasilitaattori"
        ("board.js.field.segment", "jargon"),  # "Segmentti"
        ("sessions.title", "jargon"),  # "Kirjautumiseni"
        ("a11y.back", "letters"),  # "saavutettavuusselosteeseen"
        ("error.oidc.text", "sentences"),  # five sentences
        ("privacy.retention_text", "words"),  # one long sentence
    ],
)
def test_the_budget_flags_the_standard_finnish_texts_that_plain_finnish_rewrites(key: str, rule: str) -> None:
    """The lint can fail: real standard-Finnish texts break it, and their plain versions do not."""
    assert is_customer_facing(key)
    assert any(rule in problem for problem in problems(key, FINNISH[key])), problems(key, FINNISH[key])
    assert not problems(key, PLAIN[key])


def test_two_kinds_of_subordinate_clause_in_one_sentence_are_flagged() -> None:
    old = "Tallennamme nimen, jonka itse valitset, ja sen, mitä kirjoitat tauluille."
    assert any("subordinate" in problem for problem in problems("x", old))
    assert not problems("x", "Mitä huomasit? Kerro, mitä tapahtui.")
