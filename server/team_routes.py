"""The team page: members and their contact persons, boards, phase, invites, return links."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from auth import consent, invites, roles, teams
from auth.hetu import contains_identity_code
from auth.models import INVITE_ROLES, Membership, Round
from boards.catalogue import create_board
from boards.models import Board
from boards.templates import TEMPLATE_NAMES
from server.pages import agreement_gate, current_session, error_page, render
from server.pages import app_state as _state
from server.security import csrf_form


async def _team_context(request: Request, *, status: int = 200, **extra: object) -> Response:
    session = await current_session(request)
    if session is None:
        return RedirectResponse(f"/signin?next={request.url.path}", status_code=303)
    team_id = request.path_params["team_id"]
    gate = await agreement_gate(request, session, team_id)
    if gate is not None:
        return gate
    async with _state(request).engine.connect() as conn:
        access = await teams.team_access(conn, team_id, session.person_id)
        if access is None:
            return error_page(request, 404, session=session)
        # A coach steers the round's teams but is not one of them: no one's contact details.
        people = await teams.members(conn, team_id, session.person_id, contact_details=access.role != "coach")
        statuses: dict[str, str] = {}
        if access.role in ("professional", "coach"):
            for m in people:
                if m.role == "customer":
                    statuses[m.person_id] = (await consent.agreement_status(conn, m.person_id, team_id)).state
        boards = (
            await conn.execute(
                select(Board.id, Board.title, Board.template)
                .where(Board.team_id == team_id, Board.archived_at.is_(None))
                .order_by(Board.created_at)
            )
        ).all()
        open_invites = await invites.open_invites(conn, team_id) if access.can_invite else []
        active = set(await roles.active_professionals(conn, team_id))
        round_name = (
            (await conn.execute(select(Round.name).where(Round.id == access.round_id))).scalar()
            if access.round_id
            else None
        )
    professionals = [m for m in people if m.role == "professional" and m.person_id in active]
    return render(
        request,
        "team.html",
        {
            "team": access,
            "members": people,
            "facilitators": [m for m in people if m.is_facilitator],
            "names_contacts": access.role == "professional" and access.agreed,
            "boards": boards,
            "round_name": round_name,
            "invites": open_invites,
            "professionals": professionals,
            "roles": INVITE_ROLES,
            "templates": TEMPLATE_NAMES,
            # Professionals see each member's status; coaches only counts.
            "statuses": statuses if access.role == "professional" else {},
            "consent_counts": (len(statuses), sum(1 for s in statuses.values() if s == "accepted"))
            if access.role == "coach"
            else None,
            **extra,
        },
        status=status,
        session=session,
    )


async def team_page(request: Request) -> Response:
    return await _team_context(request)


async def create_invite(request: Request) -> Response:
    session = await current_session(request)
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    form = await csrf_form(request)
    state = _state(request)
    team_id = request.path_params["team_id"]
    role = str(form.get("role", ""))
    contact = str(form.get("contact_person_id", "")) or None
    async with state.engine.begin() as conn:
        access = await teams.team_access(conn, team_id, session.person_id)
        if access is None:
            return error_page(request, 404, session=session)
        if not access.can_invite:
            return error_page(request, 403, session=session)
        if role not in INVITE_ROLES or (role == "coach" and access.role != "coach"):
            return await _team_context(request, form_error="team.invite_bad_role")
        try:
            token = await invites.create_invite(
                conn,
                state.settings.secret_keys,
                team_id=team_id,
                role=role,
                created_by=session.person_id,
                contact_person_id=contact if role == "customer" else None,
                days=state.settings.invite_days,
            )
        except ValueError:
            return await _team_context(request, form_error="team.invite_needs_contact")
    return await _team_context(request, new_link=f"{state.settings.base_url}/invite/{token}")


async def revoke_invite(request: Request) -> Response:
    session = await current_session(request)
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    await csrf_form(request)
    team_id = request.path_params["team_id"]
    async with _state(request).engine.begin() as conn:
        access = await teams.team_access(conn, team_id, session.person_id)
        if access is None:
            return error_page(request, 404, session=session)
        if not access.can_invite:
            return error_page(request, 403, session=session)
        ours = [i for i in await invites.open_invites(conn, team_id) if i.id == request.path_params["invite_id"]]
        if not ours:
            return error_page(request, 404, session=session)
        await invites.revoke(conn, ours[0].id, session.person_id)
    return RedirectResponse(f"/teams/{team_id}", status_code=303)


async def issue_return_link(request: Request) -> Response:
    """The contact person (or the customer) makes a new personal sign-in link; the old one stops working."""
    session = await current_session(request)
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    await csrf_form(request)
    state = _state(request)
    team_id, person_id = request.path_params["team_id"], request.path_params["person_id"]
    async with state.engine.begin() as conn:
        access = await teams.team_access(conn, team_id, session.person_id)
        if access is None:
            return error_page(request, 404, session=session)
        member = (
            await conn.execute(
                select(Membership.role, Membership.contact_person_id).where(
                    Membership.team_id == team_id, Membership.person_id == person_id
                )
            )
        ).first()
        if member is None or member.role != "customer":
            return error_page(request, 404, session=session)
        if session.person_id not in (person_id, member.contact_person_id):
            return error_page(request, 403, session=session)
        token = await teams.issue_return_link(conn, state.settings.secret_keys, person_id, session.person_id)
    return await _team_context(request, new_link=f"{state.settings.base_url}/return/{token}", link_kind="return")


async def remove_member(request: Request) -> Response:
    session = await current_session(request)
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    await csrf_form(request)
    state = _state(request)
    team_id, person_id = request.path_params["team_id"], request.path_params["person_id"]
    async with state.engine.begin() as conn:
        access = await teams.team_access(conn, team_id, session.person_id)
        if access is None:
            return error_page(request, 404, session=session)
        if access.role != "professional" or not access.agreed:
            return error_page(request, 403, session=session)
        try:
            removed = await teams.remove_member(conn, team_id, person_id, session.person_id)
        except roles.RoleError as exc:
            return error_page(request, exc.status, f"roles.error.{exc.reason}", session=session)
        if not removed:
            return error_page(request, 404, session=session)
        board_ids = list((await conn.execute(select(Board.id).where(Board.team_id == team_id))).scalars())
    # Access ended: their open boards of this team close now, in every process.
    await state.hub.kick(person_id=person_id, team_board_ids=board_ids or ["-"])
    return RedirectResponse(f"/teams/{team_id}", status_code=303)


async def new_board(request: Request) -> Response:
    session = await current_session(request)
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    form = await csrf_form(request)
    team_id = request.path_params["team_id"]
    title = " ".join(str(form.get("title", "")).split())[:200]
    template = str(form.get("template", "journey"))
    async with _state(request).engine.begin() as conn:
        access = await teams.team_access(conn, team_id, session.person_id)
        if access is None:
            return error_page(request, 404, session=session)
        if not access.can_create_boards:
            return error_page(request, 403, session=session)
        if not title or template not in TEMPLATE_NAMES:
            return await _team_context(request, status=400, form_error="team.board_needs_title")
        if contains_identity_code(title):
            # The same guard as renaming the board on the websocket (board.set).
            return await _team_context(request, status=400, form_error="team.board_identity_code")
        board_id = await create_board(conn, title, template, team_id=team_id)
    await _state(request).hub.team_changed(team_id)  # the coach's dashboard counts the new board
    return RedirectResponse(f"/boards/{board_id}", status_code=303)


async def name_contact_person(request: Request) -> Response:
    """A professional of the team names a customer's contact person (another one, or confirms the interim one)."""
    session = await current_session(request)
    if session is None:
        return RedirectResponse("/signin", status_code=303)
    form = await csrf_form(request)
    team_id, person_id = request.path_params["team_id"], request.path_params["person_id"]
    contact = str(form.get("contact_person_id", ""))
    async with _state(request).engine.begin() as conn:
        access = await teams.team_access(conn, team_id, session.person_id)
        if access is None:
            return error_page(request, 404, session=session)
        if access.role != "professional" or not access.agreed:
            return error_page(request, 403, session=session)
        try:
            await roles.move_customer(conn, team_id, person_id, contact, session.person_id)
        except roles.RoleError as exc:
            return error_page(request, exc.status, f"roles.error.{exc.reason}", session=session)
    return RedirectResponse(f"/teams/{team_id}", status_code=303)


def team_routes() -> list[BaseRoute]:
    return [
        Route("/teams/{team_id}", team_page, methods=["GET"]),
        Route("/teams/{team_id}/invites", create_invite, methods=["POST"]),
        Route("/teams/{team_id}/invites/{invite_id}/revoke", revoke_invite, methods=["POST"]),
        Route("/teams/{team_id}/members/{person_id}/return-link", issue_return_link, methods=["POST"]),
        Route("/teams/{team_id}/members/{person_id}/remove", remove_member, methods=["POST"]),
        Route("/teams/{team_id}/members/{person_id}/contact-person", name_contact_person, methods=["POST"]),
        Route("/teams/{team_id}/boards", new_board, methods=["POST"]),
    ]
