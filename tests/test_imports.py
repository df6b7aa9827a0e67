"""Imports go one way: server -> boards -> auth -> leaves. Domain code never imports the app.

And the serving process imports nothing it does not need to serve: see the end of this file.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LEAVES = {
    "server.settings",
    "server.db",
    "server.prepared",  # with server.db, the database leaf
    "server.broadcast",
    "server.broadcast.base",
    "server.broadcast.memory",
    "server.broadcast.redis",
    "server.metrics",  # recorded at the engine's, hub's and router's timing points
}
OURS = ("server", "boards", "auth", "web")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m.split(".")[0] in OURS}


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _violations(package: str, allowed: tuple[str, ...]) -> list[str]:
    bad = []
    for path in (ROOT / package).rglob("*.py"):
        for name in _imports(path):
            top = name.split(".")[0]
            if top == package or top in allowed:
                continue
            if name in LEAVES or any(name.startswith(leaf + ".") for leaf in LEAVES):
                continue
            if top == "server" and ".".join(name.split(".")[:2]) in LEAVES:
                continue
            bad.append(f"{_module(path)} imports {name}")
    return bad


def test_auth_imports_only_leaves() -> None:
    assert _violations("auth", ()) == []


def test_boards_imports_only_auth_and_leaves() -> None:
    assert _violations("boards", ("auth",)) == []


def test_leaves_import_nothing_of_ours() -> None:
    bad = []
    for leaf in LEAVES:
        path = ROOT / (leaf.replace(".", "/") + ".py")
        if not path.exists():
            path = ROOT / leaf.replace(".", "/") / "__init__.py"
        for name in _imports(path):
            if name.split(".")[0] in OURS and not name.startswith("server.broadcast"):
                bad.append(f"{leaf} imports {name}")
    assert bad == []


# ------------------------------------------------------------------ what the serving process keeps resident

#: Never needed to serve boards, pages or password sign-in: each is megabytes kept
#: resident for a process's whole life (see docs/performance.md, "Memory").
NOT_AT_START = (
    *("alembic", "mako", "authlib", "joserfc", "cryptography", "httpx", "fpdf", "PIL", "fontTools"),
    "prometheus_client",  # only with KUMPPANI_METRICS_TOKEN set (decision 30b)
)

_SERVE_LIKE = """
import asyncio, json, sys
from server.cli import build_parser
from server.schema_revision import database_revision_sync, head_revision
from server.settings import load_settings
from server.app import create_app

url, data_dir = sys.argv[1], sys.argv[2]
# What cmd_serve does before uvicorn starts, then the app with its lifespan and a few pages.
build_parser()
assert database_revision_sync(url) == head_revision()
settings = load_settings({
    "KUMPPANI_DATABASE_URL": url,
    "KUMPPANI_DATA_DIR": data_dir,
    "KUMPPANI_SECRET_KEY": "test-secret-key-" + "x" * 32,
})
app = create_app(settings)

async def get(path):
    sent = []
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}
    async def send(message):
        sent.append(message)
    host = settings.base_url.split("://", 1)[1].encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", host)], "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    return sent[0]["status"]

async def main():
    async with app.router.lifespan_context(app):
        # The sign-in page lists providers; an unknown provider is a 404 without the protocol.
        return {p: await get(p) for p in ("/healthz", "/signin", "/signin/oidc/nosuchprovider")}

statuses = asyncio.run(main())
print(json.dumps({"statuses": statuses, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def test_serving_imports_no_migration_tool_oidc_stack_or_pdf_library(tmp_path: Path) -> None:
    from server.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'kumppani.db'}"
    upgrade(url)
    # A fresh interpreter: in this one other tests have imported all of these already.
    result = subprocess.run(
        [sys.executable, "-c", _SERVE_LIKE, url, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["statuses"] == {"/healthz": 200, "/signin": 200, "/signin/oidc/nosuchprovider": 404}
    assert sorted(set(NOT_AT_START) & set(found["modules"])) == []


async def test_heavy_modules_are_imported_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from server.lazy_import import import_off_loop

    (tmp_path / "kumppani_lazy_probe.py").write_text(
        "import threading\nTHREAD = threading.current_thread()\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "kumppani_lazy_probe", raising=False)
    await import_off_loop("kumppani_lazy_probe")
    probe = sys.modules["kumppani_lazy_probe"]
    assert probe.THREAD is not threading.current_thread()
    await import_off_loop("kumppani_lazy_probe")  # loaded: nothing to do
    assert sys.modules["kumppani_lazy_probe"] is probe
