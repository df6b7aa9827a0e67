"""The admin pages: organisations, programmes (rounds, coaches) and teams (roles, facilitators,
contact persons). The rules and the auditing are in ``boards.administration`` and ``auth.roles``;
these handlers check that the person is an admin, read the form and show the result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from auth import overview, roles
from auth.sessions import SessionInfo
from boards import administration as admin
from server.pages import app_state as _state
from server.pages import current_session, error_page, render
from server.security import csrf_form

# An action returns where to go next and whether anything changed.
Action = Callable[[AsyncConnection, FormData, dict[str, str], str], Awaitable[tuple[str, bool]]]


async def _admin(request: Request) -> SessionInfo | Response:
    session = await current_session(request)
    if session is None or not session.is_admin:
        return error_page(request, 404, session=session)  # the admin pages do not exist for anyone else
    return session


def _field(form: FormData, name: str) -> str:
    return str(form.get(name, "")).strip()


def _page(request: Request, name: str, context: Mapping[str, object], session: SessionInfo) -> Response:
    saved = request.query_params.get("saved")
    return render(request, name, {"saved": saved == "1", "unchanged": saved == "0", **context}, session=session)


async def organisations_page(request: Request) -> Response:
    session = await _admin(request)
    if isinstance(session, Response):
        return session
    async with _state(request).engine.connect() as conn:
        orgs = await overview.organisations(conn)
    return _page(request, "admin_organisations.html", {"organisations": orgs}, session)


async def programmes_page(request: Request) -> Response:
    session = await _admin(request)
    if isinstance(session, Response):
        return session
    async with _state(request).engine.connect() as conn:
        context = {
            "programmes": await overview.programmes(conn),
            "organisations": await overview.organisations(conn),
            "people": await overview.people(conn),
        }
    return _page(request, "admin_programmes.html", context, session)


async def teams_page(request: Request) -> Response:
    session = await _admin(request)
    if isinstance(session, Response):
        return session
    async with _state(request).engine.connect() as conn:
        context = {
            "teams": await overview.teams(conn),
            "organisations": await overview.organisations(conn),
            "programmes": await overview.programmes(conn),
        }
    return _page(request, "admin_teams.html", context, session)


async def team_page(request: Request) -> Response:
    session = await _admin(request)
    if isinstance(session, Response):
        return session
    async with _state(request).engine.connect() as conn:
        team = await overview.team(conn, request.path_params["team_id"])
        if team is None:
            return error_page(request, 404, session=session)
        members = await overview.team_members(conn, team.id)
        context = {
            "team": team,
            "members": members,
            "professionals": [m for m in members if m.person_id in await roles.active_professionals(conn, team.id)],
            "people": await overview.people(conn),
            "programmes": await overview.programmes(conn),
            "phases": admin.PHASES,
            "team_roles": roles.TEAM_ROLES,
        }
    return _page(request, "admin_team.html", context, session)


async def _act(request: Request, action: Action, back: str) -> Response:
    """Run one admin change in one transaction; a refused change shows why and writes nothing."""
    session = await _admin(request)
    if isinstance(session, Response):
        return session
    form = await csrf_form(request)
    params = {key: str(value) for key, value in request.path_params.items()}
    try:
        async with _state(request).engine.begin() as conn:
            target, changed = await action(conn, form, params, session.person_id)
    except admin.AdminError as exc:
        key, status = f"admin.error.{exc.reason}", exc.status
    except roles.RoleError as exc:
        key, status = f"roles.error.{exc.reason}", exc.status
    else:
        return RedirectResponse(f"{target}?saved={int(changed)}", status_code=303)
    return render(request, "admin_refused.html", {"key": key, "back": back}, status=status, session=session)


# ------------------------------------------------------------------ the changes


async def _create_organisation(
    conn: AsyncConnection, form: FormData, _: dict[str, str], actor: str
) -> tuple[str, bool]:
    await admin.create_organisation(conn, form.get("name"), actor)
    return "/admin/organisations", True


async def _edit_organisation(
    conn: AsyncConnection, form: FormData, params: dict[str, str], actor: str
) -> tuple[str, bool]:
    return "/admin/organisations", await admin.edit_organisation(
        conn, params["organisation_id"], form.get("name"), actor
    )


async def _create_programme(conn: AsyncConnection, form: FormData, _: dict[str, str], actor: str) -> tuple[str, bool]:
    await admin.create_programme(conn, form.get("name"), _field(form, "organisation_id") or None, actor)
    return "/admin/programmes", True


async def _edit_programme(
    conn: AsyncConnection, form: FormData, params: dict[str, str], actor: str
) -> tuple[str, bool]:
    organisation = _field(form, "organisation_id") or None
    return "/admin/programmes", await admin.edit_programme(
        conn, params["programme_id"], form.get("name"), organisation, actor
    )


async def _create_round(conn: AsyncConnection, form: FormData, params: dict[str, str], actor: str) -> tuple[str, bool]:
    await admin.create_round(
        conn, params["programme_id"], form.get("name"), form.get("starts_on"), form.get("ends_on"), actor
    )
    return "/admin/programmes", True


async def _edit_round(conn: AsyncConnection, form: FormData, params: dict[str, str], actor: str) -> tuple[str, bool]:
    changed = await admin.edit_round(
        conn, params["round_id"], form.get("name"), form.get("starts_on"), form.get("ends_on"), actor
    )
    return "/admin/programmes", changed


async def _add_coach(conn: AsyncConnection, form: FormData, params: dict[str, str], actor: str) -> tuple[str, bool]:
    return "/admin/programmes", await roles.set_coach(
        conn, params["programme_id"], _field(form, "person_id"), True, actor
    )


async def _remove_coach(conn: AsyncConnection, form: FormData, params: dict[str, str], actor: str) -> tuple[str, bool]:
    return "/admin/programmes", await roles.set_coach(conn, params["programme_id"], params["person_id"], False, actor)


async def _create_team(conn: AsyncConnection, form: FormData, _: dict[str, str], actor: str) -> tuple[str, bool]:
    team_id = await admin.create_team(
        conn, form.get("name"), _field(form, "organisation_id"), _field(form, "round_id") or None, actor
    )
    return f"/admin/teams/{team_id}", True


async def _edit_team(conn: AsyncConnection, form: FormData, params: dict[str, str], actor: str) -> tuple[str, bool]:
    team_id = params["team_id"]
    changed = await admin.edit_team(
        conn, team_id, form.get("name"), _field(form, "round_id") or None, _field(form, "phase"), actor
    )
    return f"/admin/teams/{team_id}", changed


async def _set_role(conn: AsyncConnection, form: FormData, params: dict[str, str], actor: str) -> tuple[str, bool]:
    team_id = params["team_id"]
    changed = await roles.set_team_role(conn, team_id, _field(form, "person_id"), _field(form, "role"), actor)
    return f"/admin/teams/{team_id}", changed


async def _set_facilitator(
    conn: AsyncConnection, form: FormData, params: dict[str, str], actor: str
) -> tuple[str, bool]:
    team_id = params["team_id"]
    named = _field(form, "facilitator")
    if named not in ("yes", "no"):
        raise admin.AdminError("bad_choice")
    changed = await roles.set_facilitator(conn, team_id, params["person_id"], named == "yes", actor)
    return f"/admin/teams/{team_id}", changed


async def _move_customer(conn: AsyncConnection, form: FormData, params: dict[str, str], actor: str) -> tuple[str, bool]:
    team_id = params["team_id"]
    changed = await roles.move_customer(conn, team_id, params["person_id"], _field(form, "contact_person_id"), actor)
    return f"/admin/teams/{team_id}", changed


def _post(path: str, action: Action, back: str) -> Route:
    async def endpoint(request: Request) -> Response:
        return await _act(request, action, back.format(**request.path_params))

    return Route(path, endpoint, methods=["POST"])


def admin_routes() -> list[BaseRoute]:
    return [
        Route("/admin/organisations", organisations_page, methods=["GET"]),
        Route("/admin/programmes", programmes_page, methods=["GET"]),
        Route("/admin/teams", teams_page, methods=["GET"]),
        Route("/admin/teams/{team_id}", team_page, methods=["GET"]),
        _post("/admin/organisations", _create_organisation, "/admin/organisations"),
        _post("/admin/organisations/{organisation_id}", _edit_organisation, "/admin/organisations"),
        _post("/admin/programmes", _create_programme, "/admin/programmes"),
        _post("/admin/programmes/{programme_id}", _edit_programme, "/admin/programmes"),
        _post("/admin/programmes/{programme_id}/rounds", _create_round, "/admin/programmes"),
        _post("/admin/rounds/{round_id}", _edit_round, "/admin/programmes"),
        _post("/admin/programmes/{programme_id}/coaches", _add_coach, "/admin/programmes"),
        _post("/admin/programmes/{programme_id}/coaches/{person_id}/remove", _remove_coach, "/admin/programmes"),
        _post("/admin/teams", _create_team, "/admin/teams"),
        _post("/admin/teams/{team_id}", _edit_team, "/admin/teams/{team_id}"),
        _post("/admin/teams/{team_id}/roles", _set_role, "/admin/teams/{team_id}"),
        _post("/admin/teams/{team_id}/members/{person_id}/facilitator", _set_facilitator, "/admin/teams/{team_id}"),
        _post("/admin/teams/{team_id}/members/{person_id}/contact-person", _move_customer, "/admin/teams/{team_id}"),
    ]
