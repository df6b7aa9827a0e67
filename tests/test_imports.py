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
OURS = ("server", "boards", "auth", "foundation", "web")

#: Each package and the packages of ours it may import: the tree read top to bottom is the
#: layering of docs/architecture.md. `web` holds templates, catalogues and static files only.
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "server": ("boards", "auth", "foundation", "web"),
    "boards": ("auth", "foundation"),
    "auth": ("foundation",),
    "foundation": (),
    "web": (),
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            # A relative import could climb out of its package unseen; we use none.
            found.add("<relative import>")
    return {m for m in found if m.split(".")[0] in OURS or m == "<relative import>"}


def violations(root: Path) -> list[str]:
    """Every import under root that goes against MAY_IMPORT, as "module imports name"."""
    bad = []
    for package, allowed in MAY_IMPORT.items():
        for path in sorted((root / package).rglob("*.py")):
            module = ".".join(path.relative_to(root).with_suffix("").parts)
            for name in sorted(_imports(path)):
                top = name.split(".")[0]
                if top != package and top not in allowed:
                    bad.append(f"{module} imports {name}")
    return bad


def test_every_import_goes_down_the_layers() -> None:
    assert violations(ROOT) == []


@pytest.mark.parametrize(
    ("package", "wrong"),
    [
        ("foundation", "auth.sessions"),
        ("foundation", "server.app"),
        ("auth", "boards.engine"),
        ("auth", "server.app"),
        ("boards", "server.ws.hub"),
        ("boards", "web"),
    ],
)
def test_a_wrong_import_in_each_direction_is_caught(tmp_path: Path, package: str, wrong: str) -> None:
    for name in MAY_IMPORT:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / package / "fine.py").write_text("import json\nfrom foundation.db import new_id\n", encoding="utf-8")
    if package == "foundation":
        (tmp_path / package / "fine.py").write_text("import json\n", encoding="utf-8")
    (tmp_path / package / "wrong.py").write_text(f"from {wrong} import something\n", encoding="utf-8")
    assert violations(tmp_path) == [f"{package}.wrong imports {wrong}"]


def test_the_real_tree_is_what_the_check_walks() -> None:
    # A renamed package would make the check above pass vacuously.
    for package in MAY_IMPORT:
        assert any((ROOT / package).rglob("*.py")), package
    assert (ROOT / "foundation" / "db.py").exists() and not (ROOT / "server" / "db.py").exists()


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
from foundation.settings import load_settings
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
