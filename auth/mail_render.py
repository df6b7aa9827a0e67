"""E-mail messages in the person's language: a short subject, a plain-text part and a simple HTML
part, no tracking pixels and no rewritten links, and a one-click unsubscribe (RFC 8058).

The texts live here rather than in the web catalogues because the domain layer does not
import the web layer; plain Finnish readers get the Finnish texts, which are written plainly.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

from auth.tokens import check_timed, make_timed

UNSUBSCRIBE_MAX_AGE = 2 * 365 * 24 * 3600

TEXTS: dict[str, dict[str, str]] = {
    "fi": {
        "subject": "Tiedote: {title}",
        "from_team": "Tiimi {team} kertoo, mitä yhteisestä työstä seurasi.",
        "items": "Ideat ja kokeilut:",
        "read": "Lue ja vastaa palvelussa:",
        "why": "Saat tämän viestin, koska annoit luvan lähettää tiedotteita.",
        "stop": "Peru tiedotteet:",
        "received": "saatu",
        "in_progress": "työn alla",
        "in_practice": "otetaan käyttöön",
        "not_taken_forward": "ei tehdä",
        "none": "ei vielä tietoa",
        "reason": "syy",
        "signin_subject": "Kirjautumislinkki",
        "signin_text": "Kirjaudu Kumppaniin tällä linkillä. Se toimii kerran ja 15 minuuttia.",
        "signin_ignore": "Jos et pyytänyt linkkiä, voit jättää viestin huomiotta.",
    },
    "sv": {
        "subject": "Lägesrapport: {title}",
        "from_team": "Teamet {team} berättar vad det gemensamma arbetet har lett till.",
        "items": "Idéer och tester:",
        "read": "Läs och svara i tjänsten:",
        "why": "Du får det här meddelandet eftersom du har samtyckt till lägesrapporter.",
        "stop": "Avsluta rapporterna:",
        "received": "mottagen",
        "in_progress": "under arbete",
        "in_practice": "införs i praktiken",
        "not_taken_forward": "förs inte vidare",
        "none": "inget läge ännu",
        "reason": "orsak",
        "signin_subject": "Inloggningslänk",
        "signin_text": "Logga in i Kumppani med den här länken. Den fungerar en gång i 15 minuter.",
        "signin_ignore": "Om du inte bad om länken kan du strunta i meddelandet.",
    },
    "en": {
        "subject": "Update: {title}",
        "from_team": "The team {team} tells you what came of the work you did together.",
        "items": "Ideas and tests:",
        "read": "Read and reply in the service:",
        "why": "You get this message because you agreed to receive progress updates.",
        "stop": "Stop these updates:",
        "received": "received",
        "in_progress": "being worked on",
        "in_practice": "being put into practice",
        "not_taken_forward": "not taken forward",
        "none": "no status yet",
        "reason": "reason",
        "signin_subject": "Sign-in link",
        "signin_text": "Sign in to Kumppani with this link. It works once, for 15 minutes.",
        "signin_ignore": "If you did not ask for the link, you can ignore this message.",
    },
}


def mail_language(locale: str) -> str:
    return locale if locale in TEXTS else "fi"


@dataclass(frozen=True, slots=True)
class MailContext:
    """What a message needs from the settings: where links point, who sends, the signing keys."""

    base_url: str
    sender: str
    secret_keys: Sequence[str]


@dataclass(frozen=True, slots=True)
class LinkedItem:
    title: str
    progress: str | None
    reason: str | None


def unsubscribe_token(secret_keys: Sequence[str], person_id: str) -> str:
    return make_timed(secret_keys, "unsubscribe", person_id)


def unsubscriber(secret_keys: Sequence[str], token: str) -> str:
    """The person an unsubscribe token was made for; raises auth.tokens.TokenError if it is not one."""
    return check_timed(secret_keys, "unsubscribe", token, UNSUBSCRIBE_MAX_AGE)


def progress_message(
    ctx: MailContext,
    *,
    person_id: str,
    to: str,
    locale: str,
    team: str,
    title: str,
    body: str,
    items: Sequence[LinkedItem],
) -> EmailMessage:
    words = TEXTS[mail_language(locale)]
    unsubscribe = f"{ctx.base_url}/unsubscribe/{unsubscribe_token(ctx.secret_keys, person_id)}"
    read = f"{ctx.base_url}/updates"
    lines = [
        f"{item.title}: {words[item.progress or 'none']}"
        + (f" ({words['reason']}: {item.reason})" if item.progress == "not_taken_forward" and item.reason else "")
        for item in items
    ]
    plain = [words["from_team"].format(team=team), "", title, "", body, ""]
    if lines:
        plain += [words["items"], *(f"- {line}" for line in lines), ""]
    plain += [words["read"], read, "", "-- ", words["why"], f"{words['stop']} {unsubscribe}", ""]
    message = EmailMessage()
    message["Subject"] = words["subject"].format(title=title)[:120]
    message["From"] = ctx.sender
    message["To"] = to
    message["Message-ID"] = make_msgid(domain=ctx.sender.rpartition("@")[2].strip(">") or "localhost")
    message["Content-Language"] = mail_language(locale)
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("\n".join(plain))
    esc = html.escape
    parts = [f"<p>{esc(words['from_team'].format(team=team))}</p>", f"<h1>{esc(title)}</h1>"]
    parts += [f"<p>{esc(paragraph)}</p>" for paragraph in body.split("\n\n") if paragraph.strip()]
    if lines:
        parts.append(f"<p>{esc(words['items'])}</p><ul>{''.join(f'<li>{esc(line)}</li>' for line in lines)}</ul>")
    parts.append(f'<p>{esc(words["read"])} <a href="{esc(read)}">{esc(read)}</a></p>')
    parts.append(f'<p>{esc(words["why"])} <a href="{esc(unsubscribe)}">{esc(words["stop"])}</a></p>')
    html_lang = mail_language(locale)
    message.add_alternative(
        f'<!doctype html><html lang="{html_lang}"><body>{"".join(parts)}</body></html>', subtype="html"
    )
    return message


def signin_message(ctx: MailContext, *, to: str, locale: str, link: str) -> EmailMessage:
    """A one-time sign-in link: transactional, so it has no unsubscribe link."""
    words = TEXTS[mail_language(locale)]
    message = EmailMessage()
    message["Subject"] = words["signin_subject"]
    message["From"] = ctx.sender
    message["To"] = to
    message["Message-ID"] = make_msgid(domain=ctx.sender.rpartition("@")[2].strip(">") or "localhost")
    message["Content-Language"] = mail_language(locale)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("\n".join([words["signin_text"], "", link, "", words["signin_ignore"], ""]))
    esc = html.escape
    message.add_alternative(
        f'<!doctype html><html lang="{mail_language(locale)}"><body><p>{esc(words["signin_text"])}</p>'
        f'<p><a href="{esc(link)}">{esc(link)}</a></p><p>{esc(words["signin_ignore"])}</p></body></html>',
        subtype="html",
    )
    return message
