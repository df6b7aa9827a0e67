"""Planted breaks of the security- and privacy-critical functions, and the tests that must catch each.

Each mutation replaces one exact piece of source text (which must occur exactly once
in its file) with a broken version. ``tests/mutate.py`` applies them one at a time to
a copy of the project and runs the listed tests there: every one must make at least
one of them fail. ``tests/test_mutations.py`` checks on every run that each still
applies to the current source, so a refactoring cannot silently retire one.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Which tests run: SQLite only, and no browser unless the break is in what the browser runs.
SERVER_ONLY = "not pg and not redis and not browser"
WITH_BROWSER = "not pg and not redis"


@dataclass(frozen=True)
class Mutation:
    name: str
    why: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    markers: str = SERVER_ONLY


MUTATIONS = (
    # ---------------------------------------------------------------- CSRF
    Mutation(
        "csrf-any-token",
        "the CSRF check takes any token, not only this browser's",
        "server/security.py",
        "if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):",
        "if not isinstance(sent, str) or not expected:",
        ("tests/test_csrf.py",),
    ),
    Mutation(
        "csrf-off",
        "a form post without a CSRF token goes through",
        "server/security.py",
        '        raise HTTPException(403, "csrf")\n    return form',
        "        pass\n    return form",
        ("tests/test_csrf.py", "tests/test_invites.py"),
    ),
    # ---------------------------------------------------------------- safe next
    Mutation(
        "next-backslash",
        "next=/\\evil.example passes (browsers read /\\ as //)",
        "auth/redirects.py",
        'if not form.startswith("/") or form.startswith("//") or "\\\\" in form:',
        'if not form.startswith("/") or form.startswith("//"):',
        ("tests/test_safe_next.py",),
    ),
    Mutation(
        "next-encoded",
        "a percent-encoded second slash passes",
        "auth/redirects.py",
        "for form in (value, unquote(value)):",
        "for form in (value,):",
        ("tests/test_safe_next.py",),
    ),
    Mutation(
        "next-unchecked-on-language-switch",
        "the language switch redirects to any next",
        "server/pages.py",
        '    target = safe_next(form.get("next"))\n    response = RedirectResponse(target, status_code=303)',
        '    target = str(form.get("next", "/"))\n    response = RedirectResponse(target, status_code=303)',
        ("tests/test_safe_next.py",),
    ),
    # ---------------------------------------------------------------- CSV neutralising
    Mutation(
        "csv-board-formulas",
        "the board CSV writes formulas as they are",
        "boards/board_export.py",
        """    return "'" + text if text[:1] in ("=", "+", "-", "@", "\\t", "\\r") else text""",
        "    return text",
        ("tests/test_csv_formulas.py",),
    ),
    Mutation(
        "csv-audit-formulas",
        "the audit CSV writes formulas as they are",
        "server/consent_routes.py",
        """    return "'" + text if text[:1] in ("=", "+", "-", "@", "\\t", "\\r") else text""",
        "    return text",
        ("tests/test_csv_formulas.py",),
    ),
    # ---------------------------------------------------------------- vote hiding
    Mutation(
        "hidden-vote-names-voter-and-total",
        "a hidden vote event carries the voter, their count and the total",
        "boards/engine.py",
        '        data = {"id": item_id, "hidden": True}',
        '        data = {"id": item_id, "hidden": True, "person": sub.actor, "total": batch.votes_total[item_id]}',
        ("tests/test_vote_secrecy.py",),
    ),
    Mutation(
        "hidden-vote-keeps-actor",
        "a hidden vote event is sent with its actor and op id",
        "boards/engine.py",
        '        return p.Event(seq=seq, type=event_type, actor=None, op="", at=at, data=data)',
        "        return p.Event(seq=seq, type=event_type, actor=actor, op=op_id, at=at, data=data)",
        ("tests/test_vote_secrecy.py",),
    ),
    Mutation(
        "snapshot-totals-unrevealed",
        "every snapshot carries every unrevealed total",
        "boards/queries.py",
        "        if board.votes_revealed:\n",
        "        if True:\n",
        ("tests/test_vote_secrecy.py",),
    ),
    Mutation(
        "vote-stored-one-too-high",
        "a vote is stored one too high",
        "boards/engine.py",
        "    batch.vote_changes[(item_id, sub.actor)] = mine\n",
        "    batch.vote_changes[(item_id, sub.actor)] = mine + 1\n",
        ("tests/test_convergence.py::test_replicas_snapshot_and_database_converge",),
    ),
    # ---------------------------------------------------------------- permissions
    Mutation(
        "observer-edits",
        "an observer may edit and comment",
        "auth/permissions.py",
        "        return BoardAccess(role, comment=True, facilitate=True)\n    return BoardAccess(role)\n",
        "        return BoardAccess(role, comment=True, facilitate=True)\n"
        "    return BoardAccess(role, comment=True, edit=True)\n",
        ("tests/test_permission_matrix.py::test_every_websocket_message_type_for_every_persona",),
    ),
    Mutation(
        "round-reads-team-boards",
        "the other teams of a round read a board that is not shared with the round",
        "auth/permissions.py",
        "    if remaining and round_id is not None and round_visible:",
        "    if remaining and round_id is not None:",
        ("tests/test_permission_matrix.py",),
    ),
    Mutation(
        "customer-without-agreement",
        "a customer reads the team's boards before accepting the agreement",
        "auth/permissions.py",
        "            del result[pid]\n",
        "            pass\n",
        ("tests/test_permission_matrix.py::test_a_customer_who_has_not_accepted_the_agreement_has_no_board",),
    ),
    Mutation(
        "end-anyones-session",
        "anyone ends anyone's session by its id",
        "server/account_routes.py",
        "AuthSession.id == target, AuthSession.person_id == session.person_id, AuthSession.ended_at.is_(None)",
        "AuthSession.id == target, AuthSession.ended_at.is_(None)",
        ("tests/test_permission_matrix.py::test_every_route_for_every_persona",),
    ),
    Mutation(
        "dismiss-anyones-notification",
        "anyone marks anyone's notification read (an UPDATE: the row count stays the same)",
        "server/consent_routes.py",
        'Notification.id == request.path_params["notification_id"], Notification.person_id == session.person_id',
        'Notification.id == request.path_params["notification_id"]',
        ("tests/test_permission_matrix.py::test_every_route_for_every_persona",),
    ),
    # ---------------------------------------------------------------- contact details
    Mutation(
        "contact-details-to-every-professional",
        "every professional of the team sees a customer's e-mail and phone",
        "auth/teams.py",
        '(r.role == "customer" and r.contact_person_id == viewer_id)',
        '(r.role == "customer" and viewer_id in {m.person_id for m in rows if m.role == "professional"})',
        ("tests/test_sessions.py::test_only_the_contact_person_sees_a_customers_contact_details",),
    ),
    Mutation(
        "contact-details-to-everyone",
        "every member sees a customer's e-mail and phone",
        "auth/teams.py",
        'contact_details and ((r.role == "customer" and r.contact_person_id == viewer_id) or r.role != "customer")',
        "True",
        ("tests/test_sessions.py::test_only_the_contact_person_sees_a_customers_contact_details",),
    ),
    # ---------------------------------------------------------------- session timeouts
    Mutation(
        "http-idle-ten-years",
        "pages let a session idle for ten years",
        "server/pages.py",
        "idle=timedelta(minutes=state.settings.session_idle_minutes)",
        "idle=timedelta(days=3650)",
        ("tests/test_session_timeouts.py",),
    ),
    Mutation(
        "websocket-idle-ten-years",
        "the websocket lets a session idle for ten years",
        "server/ws/endpoint.py",
        "idle=timedelta(minutes=state.settings.session_idle_minutes)",
        "idle=timedelta(days=3650)",
        ("tests/test_session_timeouts.py",),
    ),
    Mutation(
        "sign-in-lasts-ten-years",
        "a password sign-in makes a session that lasts ten years",
        "server/pages.py",
        "            row.person_id,\n            absolute=timedelta(hours=state.settings.session_absolute_hours),",
        "            row.person_id,\n            absolute=timedelta(days=3650),",
        ("tests/test_session_timeouts.py",),
    ),
    # ---------------------------------------------------------------- the board page
    Mutation(
        "verbosity-mine-announces-all",
        "with 'only my cards' chosen, the screen reader still hears everyone's changes",
        "web/static/board-announce.js",
        '(this.level === "mine" && !concernsMe)',
        "false",
        ("tests/browser/test_keyboard.py::test_verbosity_mine_announces_only_changes_to_my_cards",),
        WITH_BROWSER,
    ),
    Mutation(
        "focus-under-the-status-bar",
        "a focused control may scroll under the sticky status bar",
        "web/static/board.js",
        'document.documentElement.style.scrollPaddingTop = sticky ? `${bar.offsetHeight + 8}px` : "";',
        'document.documentElement.style.scrollPaddingTop = "";',
        ("tests/browser/test_pages.py::test_focus_is_not_hidden_under_the_sticky_status_bar",),
        WITH_BROWSER,
    ),
    # ---------------------------------------------------------------- the checks of the checks
    Mutation(
        "protocol-doc-field-only-elsewhere",
        "a command's field is named elsewhere in the protocol document but not in its own section",
        "docs/protocol.md",
        "| `after`, `before` | item id or null | neighbours in the target cell, see [order keys]",
        "| `after` | item id or null | neighbours in the target cell, see [order keys]",
        ("tests/test_protocol_docs.py",),
    ),
    Mutation(
        "catalogue-scan-misses-choices",
        "the catalogue scan sees only the first side of a ?: choice of keys",
        "tests/test_i18n.py",
        'SCRIPT_LITERAL = re.compile(r"""(?:^|[?:(]|\\|\\|)\\s*(["\'])([A-Za-z0-9_.\\-]+)\\1""")',
        'SCRIPT_LITERAL = re.compile(r"""(?:^|[(])\\s*(["\'])([A-Za-z0-9_.\\-]+)\\1""")',
        ("tests/test_i18n.py",),
    ),
)
