"""Board templates: the ready structure a new board starts with.

Every template is the same model: structural items (stages as columns, lanes as
rows, themes or pictures as columns) and content items in their cells. Texts are
Finnish or English as the board is created; a board's content is the team's own.
The practices come from the seed documents (see ../shared/seeds/).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TemplateItem:
    key: str
    type: str
    fields: dict[str, Any]
    stage: str | None = None
    lane: str | None = None


def _pick(locale: str, fi: str, en: str) -> str:
    return fi if locale == "fi" else en


# Seed 004: the seven stages of the strategic customer journey.
JOURNEY_STAGES_7 = [
    ("Ennen yhteydenottoa", "Before contact"),
    ("Yhteydenoton käsittely", "Handling the contact"),
    ("Palvelutarpeen arviointi", "Assessing the service need"),
    ("Palvelukokonaisuuden suunnittelu", "Planning the service package"),
    ("Palvelujen järjestäminen", "Organising the services"),
    ("Palvelujen toteutus", "Delivering the services"),
    ("Seuranta ja palvelutarpeen arviointi", "Following up and evaluating the service need"),
]
# Seed 002: a short journey.
JOURNEY_STAGES_3 = [("Ennen", "Before"), ("Aikana", "During"), ("Jälkeen", "After")]
JOURNEY_LANES = [
    ("actions", "Mitä asiakas tekee", "What the customer does"),
    ("touchpoints", "Kohtaamispisteet", "Touchpoints"),
    ("feelings", "Ajatukset ja tunteet", "Thoughts and feelings"),
    ("pain_points", "Kipupisteet", "Pain points"),
    ("critical_points", "Kriittiset kohdat", "Critical points"),
    ("opportunities", "Mahdollisuudet", "Opportunities"),
]
# Seed 001: the service before, now and in the near future, against four questions.
CHANGE_STAGES = [("Ennen", "Before"), ("Nyt", "Now"), ("Lähitulevaisuudessa", "Near future")]
CHANGE_LANES = [
    ("questions", "Mihin asiakkaat käyttävät palvelua?", "What do customers use the service for?"),
    ("questions", "Miten hyvin palvelu vastaa asiakkaan tarpeeseen?", "How well does the service meet the need?"),
    ("questions", "Miten asiakas osallistuu?", "How does the customer take part?"),
    ("questions", "Miten työntekijät tukevat asiakkaan osallistumista?", "How do workers support that?"),
]
SERVICE_MODEL_LANES = [
    ("actions", "Mitä asiakas tekee", "What the customer does"),
    ("front_stage", "Mitä henkilöstö tekee asiakkaan kanssa", "What staff do with the customer"),
    ("back_stage", "Mitä henkilöstö tekee taustalla", "What staff do behind the scenes"),
    ("tools", "Välineet ja järjestelmät", "Tools and systems"),
]
IDEA_COLUMNS = [
    ("idea", "Ideat", "Ideas"),
    ("voted", "Äänestetyt", "Voted"),
    ("testing", "Testissä", "Being tested"),
    ("adopted", "Käyttöön", "Adopted"),
    ("dropped", "Hylätyt", "Dropped"),
]
# Shipped, self-made pictures (web/static/pictures/) for the picture-card exercise of seed 001.
PICTURES = [
    ("kohtaaminen", "Kohtaaminen", "Meeting"),
    ("kuuntelu", "Kuunteleminen", "Listening"),
    ("suunnittelu", "Yhdessä suunnittelu", "Planning together"),
    ("tieto", "Tieto ja neuvonta", "Information and advice"),
    ("valinta", "Valinnan mahdollisuus", "A choice"),
    ("tuki", "Tuki", "Support"),
    ("palaute", "Palaute", "Feedback"),
    ("vertaistuki", "Vertaistuki", "Peer support"),
]


def _stages(titles: list[tuple[str, str]], locale: str) -> list[TemplateItem]:
    return [TemplateItem(f"s{i}", "stage", {"title": _pick(locale, fi, en)}) for i, (fi, en) in enumerate(titles)]


def _lanes(lanes: list[tuple[str, str, str]], locale: str) -> list[TemplateItem]:
    return [
        TemplateItem(f"l{i}", "lane", {"title": _pick(locale, fi, en), "kind": kind})
        for i, (kind, fi, en) in enumerate(lanes)
    ]


def template_items(name: str, locale: str = "fi") -> list[TemplateItem]:
    if name == "journey":
        return _stages(JOURNEY_STAGES_7, locale) + _lanes(JOURNEY_LANES, locale)
    if name == "journey_short":
        return _stages(JOURNEY_STAGES_3, locale) + _lanes(JOURNEY_LANES, locale)
    if name == "service_change":
        return _stages(CHANGE_STAGES, locale) + _lanes(CHANGE_LANES, locale)
    if name == "service_model":
        return _stages(JOURNEY_STAGES_7, locale) + _lanes(SERVICE_MODEL_LANES, locale)
    if name == "ideas":
        return [
            TemplateItem(f"s{i}", "stage", {"title": _pick(locale, fi, en), "status": status})
            for i, (status, fi, en) in enumerate(IDEA_COLUMNS)
        ]
    if name == "findings":
        return [
            TemplateItem("t0", "theme", {"title": _pick(locale, "Lajittelemattomat havainnot", "Unsorted findings")}),
            TemplateItem("t1", "theme", {"title": _pick(locale, "Miten voisimme…?", "How might we…?")}),
        ]
    if name == "picture_cards":
        return [
            TemplateItem(f"p{i}", "picture", {"picture": key, "title": _pick(locale, fi, en)})
            for i, (key, fi, en) in enumerate(PICTURES)
        ]
    if name == "persona":
        return [TemplateItem("persona", "persona", {"name": _pick(locale, "Nimetön persona", "Unnamed persona")})]
    if name == "blank":
        return []
    raise KeyError(name)


TEMPLATE_NAMES = (
    "journey",
    "journey_short",
    "persona",
    "service_change",
    "picture_cards",
    "findings",
    "ideas",
    "service_model",
    "blank",
)
