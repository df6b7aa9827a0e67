"""Imports go one way: server -> boards -> auth -> leaves. Domain code never imports the app."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LEAVES = {
    "server.settings",
    "server.db",
    "server.broadcast",
    "server.broadcast.base",
    "server.broadcast.memory",
    "server.broadcast.redis",
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
