"""Liveness and readiness."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from conftest import settings_for
from server.app import create_app


def test_healthz_and_readyz(migrated_url: str, tmp_path: Path) -> None:
    with TestClient(create_app(settings_for(migrated_url, tmp_path))) as client:
        assert client.get("/healthz").text == "ok"
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"ready": True}


def test_readyz_names_the_unreachable_database(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://nobody@127.0.0.1:1/none"
    with TestClient(create_app(settings_for(url, tmp_path))) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["problems"] == ["database unreachable"]


def test_readyz_names_unreachable_redis(migrated_url: str, tmp_path: Path) -> None:
    settings = settings_for(migrated_url, tmp_path, KUMPPANI_REDIS_URL="redis://127.0.0.1:1/0")
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert "redis unreachable" in response.json()["problems"]
