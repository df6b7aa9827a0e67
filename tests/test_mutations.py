"""The planted breaks of ``tests/mutations.py`` still fit the source (``make mutate`` runs them).

A refactoring that changes one of the guarded functions makes this fail, so the
mutation list is updated with it instead of silently testing nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mutate import apply
from mutations import MUTATIONS, Mutation

ROOT = Path(__file__).resolve().parent.parent

#: The security- and privacy-critical functions: each has at least one planted break.
GUARDED = {
    "the CSRF check": ("server/security.py", "csrf_form"),
    "the safe-next helper": ("auth/redirects.py", "safe_next"),
    "the board CSV's neutralising": ("boards/board_export.py", "_csv_safe"),
    "the audit CSV's neutralising": ("server/consent_routes.py", "_csv_safe"),
    "vote hiding in events": ("boards/engine.py", "_vote"),
    "vote hiding in snapshots": ("boards/queries.py", "snapshot"),
    "the permission check": ("auth/permissions.py", "_team_board_access"),
    "the contact-details rule": ("auth/teams.py", "members"),
}


def _function_source(path: str, name: str) -> str:
    source = (ROOT / path).read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return ast.get_source_segment(source, node) or ""
    raise AssertionError(f"{path} has no function {name}")


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_each_planted_break_applies_to_the_current_source(mutation: Mutation) -> None:
    source = (ROOT / mutation.path).read_text(encoding="utf-8")
    mutated = apply(source, mutation)
    assert mutated != source
    if mutation.path.endswith(".py"):
        ast.parse(mutated)  # still Python: the break is in behaviour, not a syntax error


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_each_planted_break_names_tests_that_exist(mutation: Mutation) -> None:
    assert mutation.tests
    for test in mutation.tests:
        file, _, function = test.partition("::")
        path = ROOT / file
        assert path.is_file(), test
        if function:
            assert f"def {function}(" in path.read_text(encoding="utf-8"), test


def test_names_are_unique() -> None:
    names = [m.name for m in MUTATIONS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("what", GUARDED)
def test_every_guarded_function_has_a_planted_break(what: str) -> None:
    path, function = GUARDED[what]
    body = _function_source(path, function)
    assert any(m.path == path and m.old in body for m in MUTATIONS), f"no planted break in {what}"
