"""Board templates: the ready structure a new board starts with.

The texts are Finnish by default with English alongside; a board keeps the
language it was created in (a board's content is the team's own text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TemplateItem:
    key: str
    type: str
    fields: dict[str, Any]
    stage: str | None = None
    lane: str | None = None


@dataclass(frozen=True)
class Template:
    name: str
    title: dict[str, str]
    items: tuple[TemplateItem, ...] = field(default_factory=tuple)


def _stages(titles: list[tuple[str, str]], locale: str) -> list[TemplateItem]:
    return [
        TemplateItem(f"s{i}", "stage", {"title": fi if locale == "fi" else en}) for i, (fi, en) in enumerate(titles)
    ]


def _lanes(lanes: list[tuple[str, str, str]], locale: str) -> list[TemplateItem]:
    return [
        TemplateItem(f"l{i}", "lane", {"title": fi if locale == "fi" else en, "kind": kind})
        for i, (kind, fi, en) in enumerate(lanes)
    ]


JOURNEY_STAGES_7 = [
    ("Ennen yhteydenottoa", "Before contact"),
    ("Yhteydenoton käsittely", "Handling the contact"),
    ("Palvelutarpeen arviointi", "Assessing the service need"),
    ("Palvelukokonaisuuden suunnittelu", "Planning the service package"),
    ("Palvelujen järjestäminen", "Organising the services"),
    ("Palvelujen toteutus", "Delivering the services"),
    ("Seuranta ja palvelutarpeen arviointi", "Following up and evaluating the service need"),
]
JOURNEY_STAGES_3 = [("Ennen", "Before"), ("Aikana", "During"), ("Jälkeen", "After")]
JOURNEY_LANES = [
    ("actions", "Mitä asiakas tekee", "What the customer does"),
    ("touchpoints", "Kohtaamispisteet", "Touchpoints"),
    ("feelings", "Ajatukset ja tunteet", "Thoughts and feelings"),
    ("pain_points", "Kipupisteet", "Pain points"),
    ("critical_points", "Kriittiset kohdat", "Critical points"),
    ("opportunities", "Mahdollisuudet", "Opportunities"),
]


def template_items(name: str, locale: str = "fi") -> list[TemplateItem]:
    if name == "journey":
        return _stages(JOURNEY_STAGES_7, locale) + _lanes(JOURNEY_LANES, locale)
    if name == "journey_short":
        return _stages(JOURNEY_STAGES_3, locale) + _lanes(JOURNEY_LANES, locale)
    if name == "blank":
        return []
    raise KeyError(name)


TEMPLATE_NAMES = ("journey", "journey_short", "blank")
