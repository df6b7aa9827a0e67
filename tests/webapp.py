"""Helpers for HTTP tests: a TestClient on a seeded app, forms with their CSRF token."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

from conftest import settings_for
from server.app import create_app

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def make_client(database_url: str, tmp_path: Path, **env: str) -> TestClient:
    settings = settings_for(
        database_url, tmp_path, KUMPPANI_BASE_URL=env.pop("KUMPPANI_BASE_URL", "http://testserver"), **env
    )
    return TestClient(create_app(settings), follow_redirects=False)


def csrf_of(client: TestClient, path: str = "/signin") -> str:
    page = client.get(path)
    match = CSRF_FIELD.search(page.text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def sign_in_as(client: TestClient, token: str, secure: bool = False) -> None:
    client.cookies.set("__Host-kumppani" if secure else "kumppani", token)


def post_form(client: TestClient, path: str, data: dict[str, str] | None = None, *, page: str = "/signin"):  # type: ignore[no-untyped-def]
    token = csrf_of(client, page)
    return client.post(path, data={"csrf": token, **(data or {})})
