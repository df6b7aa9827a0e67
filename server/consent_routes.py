"""The participation agreement, "My data and consents", leaving, deletion, data export, audit log."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from sqlalchemy import select, update
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from auth import audit, consent, roles, teams
from auth.consent_texts import AGREEMENT, OPTIONAL_PURPOSES
from auth.models import AuditEvent, Membership, Notification, Person, Team
from auth.redirects import safe_next
from auth.sessions import SessionInfo
from boards import departures
from boards import protocol as p
from boards.exports import personal_export
from foundation.db import utcnow
from server.i18n import locale_of
from server.pages import app_state as _state
from server.pages import current_session, error_page, render, require_session
from server.security import csrf_form
from server.state import AppState

CHOICES = ("anonymise", "delete")


async def agreement_page(request: Request) -> Response:
    session = await require_session(request)
    if isinstance(session, Response):
        return session
    team_id = request.path_params["team_id"]
    locale = locale_of(request)
    async with _state(request).engine.begin() as conn:
        access = await teams.team_access(conn, team_id, session.person_id)
        if access is None:
            return error_page(request, 404, session=session)
        status = await consent.agreement_status(conn, session.person_id, team_id, locale)
        optional = {
            purpose: await consent.current_text(conn, purpose, team_id, locale) for purpose in OPTIONAL_PURPOSES
        }
        choices = await consent.optional_choices(conn, session.person_id)
    return render(
        request,
        "agreement.html",
        {
            "team": access,
            "status": status,
            "blocks": _blocks(status.text.plain),
            "optional": optional,
            "choices": choices,
            "next": safe_next(request.query_params.get("next"), f"/teams/{team_id}"),
        },
        session=session,
    )


def _blocks(plain: str) -> list[tuple[str, str]]:
    """The plain-language text as (heading, paragraph) blocks, from its '## ' headings."""
    blocks = []
    for chunk in plain.split("## "):
        if chunk.strip():
            heading, _, body = chunk.partition("\n")
            blocks.append((heading.strip(), body.strip()))
    return blocks


async def agreement_submit(request: Request) -> Response:
    session = await require_session(request)
    if isinstance(session, Response):
        return session
    form = await csrf_form(request)
    team_id = request.path_params["team_id"]
    locale = locale_of(request)
    async with _state(request).engine.begin() as conn:
        if await teams.team_access(conn, team_id, session.person_id) is None:
            return error_page(request, 404, session=session)
        if form.get("accept") != "yes":
            return RedirectResponse(f"/teams/{team_id}/agreement", status_code=303)
        text = await consent.current_text(conn, AGREEMENT, team_id, locale)
        await consent.give(conn, session.person_id, AGREEMENT, text, team_id=team_id)
        current = await consent.optional_choices(conn, session.person_id)
        for purpose in OPTIONAL_PURPOSES:
            wanted = form.get(f"consent_{purpose}") == "yes"
            if wanted and not current[purpose]:
                await consent.give(
                    conn,
                    session.person_id,
                    purpose,
                    await consent.current_text(conn, purpose, team_id, locale),
                    team_id=team_id,
                )
    target = safe_next(form.get("next"), f"/teams/{team_id}")
    if not session.display_name:
        return RedirectResponse(f"/welcome?next={target}", status_code=303)
    return RedirectResponse(target, status_code=303)


async def assisted_consent(request: Request) -> Response:
    """The contact person records a consent the customer gave on paper; the customer confirms it later."""
    session = await require_session(request)
    if isinstance(session, Response):
        return session
    await csrf_form(request)
    team_id, person_id = request.path_params["team_id"], request.path_params["person_id"]
    async with _state(request).engine.begin() as conn:
        if await teams.team_access(conn, team_id, session.person_id) is None:
            return error_page(request, 404, session=session)
        contact = (
            await conn.execute(
                select(Membership.contact_person_id).where(
                    Membership.team_id == team_id, Membership.person_id == person_id, Membership.role == "customer"
                )
            )
        ).scalar()
        if contact is None:
            return error_page(request, 404, session=session)
        if contact != session.person_id:
            return error_page(request, 403, session=session)
        text = await consent.current_text(conn, AGREEMENT, team_id, "fi")
        await consent.give(
            conn, person_id, AGREEMENT, text, method="assisted", actor_id=session.person_id, team_id=team_id
        )
    return RedirectResponse(f"/teams/{team_id}", status_code=303)


async def confirm_page(request: Request) -> Response:
    session = await require_session(request)
    if isinstance(session, Response):
        return session
    team_id = request.path_params["team_id"]
    async with _state(request).engine.connect() as conn:
        access = await teams.team_access(conn, team_id, session.person_id)
        if access is None:
            return error_page(request, 404, session=session)
        status = await consent.agreement_status(conn, session.person_id, team_id, locale_of(request))
    return render(
        request,
        "agreement_confirm.html",
        {
            "team": access,
            "blocks": _blocks(status.text.plain),
            "status": status,
            "next": safe_next(request.query_params.get("next"), f"/teams/{team_id}"),
        },
        session=session,
    )


async def confirm_submit(request: Request) -> Response:
    session = await require_session(request)
    if isinstance(session, Response):
        return session
    form = await csrf_form(request)
    team_id = request.path_params["team_id"]
    async with _state(request).engine.begin() as conn:
        if await teams.team_access(conn, team_id, session.person_id) is None:
            return error_page(request, 404, session=session)
        if form.get("confirm") not in ("yes", "no"):
            return error_page(request, 400, session=session)
        text = await consent.current_text(conn, AGREEMENT, team_id, locale_of(request))
        if form.get("confirm") == "yes":
            await consent.give(conn, session.person_id, AGREEMENT, text, method="confirmed", team_id=team_id)
        else:
            await consent.withdraw(conn, session.person_id, AGREEMENT, text, team_id=team_id)
            return RedirectResponse(f"/me/leave/{team_id}", status_code=303)
    return RedirectResponse(safe_next(form.get("next"), f"/teams/{team_id}"), status_code=303)


# ------------------------------------------------------------------ my data and consents


async def me_page(request: Request) -> Response:
    session = await require_session(request)
    if isinstance(session, Response):
        return session
    locale = locale_of(request)
    async with _state(request).engine.connect() as conn:
        memberships = (
            await conn.execute(
                select(Team.id, Team.name, Membership.role)
                .join(Membership, Membership.team_id == Team.id)
                .where(Membership.person_id == session.person_id)
                .order_by(Team.name)
            )
        ).all()
        statuses = {}
        for team_id, _, role in memberships:
            if role == "customer":
                statuses[team_id] = (await consent.agreement_status(conn, session.person_id, team_id, locale)).state
        choices = await consent.optional_choices(conn, session.person_id)
        texts = {purpose: await consent.current_text(conn, purpose, None, locale) for purpose in OPTIONAL_PURPOSES}
        person = (
            await conn.execute(
                select(Person.display_name, Person.email, Person.phone).where(Person.id == session.person_id)
            )
        ).first()
    return render(
        request,
        "me.html",
        {
            "memberships": memberships,
            "statuses": statuses,
            "choices": choices,
            "texts": texts,
            "person": person,
            "email_state": request.query_params.get("email"),
        },
        session=session,
    )


async def toggle_consent(request: Request) -> Response:
    session = await require_session(request)
    if isinstance(session, Response):
        return session
    form = await csrf_form(request)
    purpose = request.path_params["purpose"]
    if purpose not in OPTIONAL_PURPOSES:
        return error_page(request, 404, session=session)
    async with _state(request).engine.begin() as conn:
        text = await consent.current_text(conn, purpose, None, locale_of(request))
        if form.get("give") == "yes":
            await consent.give(conn, session.person_id, purpose, text)
        else:
            await consent.withdraw(conn, session.person_id, purpose, text)
    return RedirectResponse("/me#consents", status_code=303)


async def leave_page(request: Request) -> Response:
    session = await require_session(request)
    if isinstance(session, Response):
        return session
    team_id = request.path_params["team_id"]
    async with _state(request).engine.connect() as conn:
        access = await teams.team_access(conn, team_id, session.person_id)
        member = (
            await conn.execute(
                select(Membership.id).where(Membership.team_id == team_id, Membership.person_id == session.person_id)
            )
        ).first()
    if access is None or member is None:
        return error_page(request, 404, session=session)
    return render(request, "leave.html", {"team": access}, session=session)


async def _publish_departure(state: AppState, person_id: str, result: departures.Departure) -> None:
    for board_id, events in result.events.items():
        if events:
            frame = p.encode(p.Ops(ops=events))
            await state.hub.publish_ops(board_id, events[0].seq, events[-1].seq, frame)
    if result.sessions_ended:
        await state.hub.kick(person_id=person_id, code=p.CloseCode.UNAUTHENTICATED, reason="left")
    elif result.board_ids:
        await state.hub.kick(person_id=person_id, team_board_ids=result.board_ids, reason="left the team")


async def leave_submit(request: Request) -> Response:
    session = await require_session(request)
    if isinstance(session, Response):
        return session
    form = await csrf_form(request)
    team_id = request.path_params["team_id"]
    choice = str(form.get("contributions", ""))
    if choice not in CHOICES:
        return await leave_page(request)
    state = _state(request)
    async with state.engine.begin() as conn:
        try:
            result = await departures.leave_team(conn, session.person_id, team_id, choice)  # type: ignore[arg-type]
        except LookupError:
            return error_page(request, 404, session=session)
        except roles.RoleError as exc:
            return error_page(request, exc.status, f"roles.error.{exc.reason}", session=session)
    await _publish_departure(state, session.person_id, result)
    response = render(request, "left.html", {"ended": result.sessions_ended}, session=None)
    if result.sessions_ended:
        response.delete_cookie(state.cookie_name, path="/", secure=state.settings.secure_cookies, httponly=True)
    return response


async def delete_page(request: Request) -> Response:
    session = await require_session(request)
    if isinstance(session, Response):
        return session
    return render(request, "delete.html", {}, session=session)


async def delete_submit(request: Request) -> Response:
    session = await require_session(request)
    if isinstance(session, Response):
        return session
    form = await csrf_form(request)
    choice = str(form.get("contributions", ""))
    if choice not in CHOICES:
        return render(request, "delete.html", {"error": "delete.choose"}, status=400, session=session)
    state = _state(request)
    async with state.engine.begin() as conn:
        try:
            result = await departures.erase_account(
                conn,
                session.person_id,
                choice,  # type: ignore[arg-type]
                actor_id=session.person_id,
                reason="self-service",
            )
        except roles.RoleError as exc:
            return error_page(request, exc.status, f"roles.error.{exc.reason}", session=session)
    await _publish_departure(state, session.person_id, result)
    response = render(request, "left.html", {"ended": True, "deleted": True}, session=None)
    response.delete_cookie(state.cookie_name, path="/", secure=state.settings.secure_cookies, httponly=True)
    return response


async def export_json(request: Request) -> Response:
    session = await require_session(request)
    if isinstance(session, Response):
        return session
    await csrf_form(request)  # a POST: an export is audited, and GETs change nothing
    async with _state(request).engine.begin() as conn:
        data = await personal_export(conn, session.person_id)
        await audit.record(
            conn,
            "export.personal",
            actor_id=session.person_id,
            object_type="person",
            object_id=session.person_id,
            format="json",
        )
    body = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="kumppani-omat-tiedot.json"',
            "Cache-Control": "no-store",
        },
    )


async def export_html(request: Request) -> Response:
    session = await require_session(request)
    if isinstance(session, Response):
        return session
    await csrf_form(request)
    async with _state(request).engine.begin() as conn:
        data = await personal_export(conn, session.person_id)
        await audit.record(
            conn,
            "export.personal",
            actor_id=session.person_id,
            object_type="person",
            object_id=session.person_id,
            format="html",
        )
    response = render(request, "export.html", {"data": data}, session=session)
    response.headers["Cache-Control"] = "no-store"
    return response


async def dismiss_notification(request: Request) -> Response:
    session = await require_session(request)
    if isinstance(session, Response):
        return session
    await csrf_form(request)
    async with _state(request).engine.begin() as conn:
        await conn.execute(
            update(Notification)
            .where(
                Notification.id == request.path_params["notification_id"], Notification.person_id == session.person_id
            )
            .values(read_at=utcnow())
        )
    return RedirectResponse("/", status_code=303)


# ------------------------------------------------------------------ admin: audit log and erasure


async def _admin(request: Request) -> SessionInfo | Response:
    session = await current_session(request)
    if session is None or not session.is_admin:
        return error_page(request, 404, session=session)
    return session


async def audit_page(request: Request) -> Response:
    session = await _admin(request)
    if isinstance(session, Response):
        return session
    async with _state(request).engine.connect() as conn:
        rows = (await conn.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(500))).all()
    return render(request, "audit.html", {"events": rows}, session=session)


def _csv_safe(value: Any) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas: neutralise them."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def audit_csv(request: Request) -> Response:
    session = await _admin(request)
    if isinstance(session, Response):
        return session
    await csrf_form(request)
    async with _state(request).engine.begin() as conn:
        rows = (await conn.execute(select(AuditEvent).order_by(AuditEvent.id))).all()
        await audit.record(
            conn, "export.audit", actor_id=session.person_id, object_type="audit_event", object_id=None, rows=len(rows)
        )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "at", "actor", "action", "object_type", "object_id", "team", "details"])
    for r in rows:
        writer.writerow(
            [
                _csv_safe(v)
                for v in (
                    r.id,
                    r.at.isoformat(),
                    r.actor_id,
                    r.action,
                    r.object_type,
                    r.object_id,
                    r.team_id,
                    json.dumps(r.details, ensure_ascii=False),
                )
            ]
        )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="kumppani-audit.csv"'},
    )


async def admin_erase(request: Request) -> Response:
    session = await _admin(request)
    if isinstance(session, Response):
        return session
    form = await csrf_form(request)
    person_id = request.path_params["person_id"]
    choice = str(form.get("contributions", "anonymise"))
    if choice not in CHOICES:
        choice = "anonymise"
    state = _state(request)
    async with state.engine.begin() as conn:
        exists = (
            await conn.execute(select(Person.id).where(Person.id == person_id, Person.erased_at.is_(None)))
        ).first()
        if exists is None:
            return error_page(request, 404, session=session)
        try:
            result = await departures.erase_account(
                conn,
                person_id,
                choice,  # type: ignore[arg-type]
                actor_id=session.person_id,
                reason="erasure request to admin",
            )
        except roles.RoleError as exc:
            return error_page(request, exc.status, f"roles.error.{exc.reason}", session=session)
    await _publish_departure(state, person_id, result)
    return RedirectResponse("/admin", status_code=303)


def consent_routes() -> list[BaseRoute]:
    return [
        Route("/teams/{team_id}/agreement", agreement_page, methods=["GET"]),
        Route("/teams/{team_id}/agreement", agreement_submit, methods=["POST"]),
        Route("/teams/{team_id}/agreement/confirm", confirm_page, methods=["GET"]),
        Route("/teams/{team_id}/agreement/confirm", confirm_submit, methods=["POST"]),
        Route("/teams/{team_id}/members/{person_id}/assisted-consent", assisted_consent, methods=["POST"]),
        Route("/me", me_page, methods=["GET"]),
        Route("/me/consents/{purpose}", toggle_consent, methods=["POST"]),
        Route("/me/leave/{team_id}", leave_page, methods=["GET"]),
        Route("/me/leave/{team_id}", leave_submit, methods=["POST"]),
        Route("/me/delete", delete_page, methods=["GET"]),
        Route("/me/delete", delete_submit, methods=["POST"]),
        Route("/me/export.json", export_json, methods=["POST"]),
        Route("/me/export.html", export_html, methods=["POST"]),
        Route("/notifications/{notification_id}/dismiss", dismiss_notification, methods=["POST"]),
        Route("/admin/audit", audit_page, methods=["GET"]),
        Route("/admin/audit.csv", audit_csv, methods=["POST"]),
        Route("/admin/people/{person_id}/erase", admin_erase, methods=["POST"]),
    ]
