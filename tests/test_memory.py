"""What the serving process keeps in memory: one malloc arena, and little per websocket connection.

See docs/performance.md, "Memory".
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from server import memory
from server.ws.fastproto import EXTENSION, FramedSendProtocol

ROOT = Path(__file__).resolve().parent.parent

GLIBC = memory._glibc() is not None

# Threads that allocate at the same time, then the number of arenas glibc reports.
_ARENAS = """
import ctypes, sys, tempfile, threading
if sys.argv[1] == "limit":
    from server.memory import limit_malloc_arenas
    assert limit_malloc_arenas()
barrier = threading.Barrier(4)
kept = []
def work():
    kept.append([bytes(2000) + bytes([i % 256]) for i in range(200)])  # over pymalloc's 512 bytes: malloc
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
libc.fclose.argtypes = (ctypes.c_void_p,)
with tempfile.NamedTemporaryFile(suffix=".xml") as out:
    stream = libc.fopen(out.name.encode(), b"w")
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    print(open(out.name).read().count("<heap nr="))
"""


def _arenas(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    result = subprocess.run(
        [sys.executable, "-c", _ARENAS, mode], capture_output=True, text=True, timeout=60, cwd=ROOT, env=env
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip())


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_threads_share_one_malloc_arena_once_limited() -> None:
    assert _arenas("default") > 1  # what the limit is for: a thread of its own gets an arena of its own
    assert _arenas("limit") == 1


def test_without_glibc_the_limit_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_glibc(name: str) -> str:
        raise ValueError(name)

    monkeypatch.setattr(os, "confstr", no_glibc)
    assert memory.limit_malloc_arenas() is False


@pytest.fixture
def serve_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KUMPPANI_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'kumppani.db'}")
    monkeypatch.setenv("KUMPPANI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KUMPPANI_SECRET_KEY", "test-secret-key-" + "x" * 32)


def test_serve_limits_arenas_before_anything_starts_a_thread(monkeypatch: pytest.MonkeyPatch, serve_env: None) -> None:
    import server.schema_revision
    from server import cli

    calls: list[str] = []

    def limit(arenas: int = 1) -> bool:
        calls.append("limit")
        return True

    monkeypatch.setattr(memory, "limit_malloc_arenas", limit)

    def revision(url: str) -> str:
        calls.append("revision check")  # the first thing that runs aiosqlite, so a thread
        raise OSError("no database here")

    monkeypatch.setattr(server.schema_revision, "database_revision_sync", revision)
    args = argparse.Namespace(host="127.0.0.1", port=0, workers=1, forwarded_allow_ips="127.0.0.1")
    assert cli.cmd_serve(args) == 2
    assert calls == ["limit", "revision check"]


def test_every_worker_limits_arenas_in_the_app_factory(monkeypatch: pytest.MonkeyPatch, serve_env: None) -> None:
    import server.asgi

    calls: list[int] = []

    def limit(arenas: int = 1) -> bool:
        calls.append(arenas)
        return True

    monkeypatch.setattr(server.asgi, "limit_malloc_arenas", limit)
    monkeypatch.setattr(server.asgi, "configure_logging", lambda *args, **kwargs: None)  # the root logger is pytest's
    server.asgi.app_from_environment()
    assert calls == [1]


# ------------------------------------------------------------------ per connection


class _Transport:
    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)


def _masked_text(payload: bytes) -> bytes:
    mask = b"\x01\x02\x03\x04"
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


# As uvicorn's HTTP protocol hands an upgrade over: header names lower-cased.
HANDSHAKE = (
    b"GET /ws HTTP/1.1\r\n"
    b"host: 127.0.0.1:8000\r\n"
    b"upgrade: websocket\r\n"
    b"connection: Upgrade\r\n"
    b"sec-websocket-key: " + base64.b64encode(b"0123456789abcdef") + b"\r\n"
    b"sec-websocket-version: 13\r\n"
    b"origin: http://127.0.0.1:8000\r\n"
    b"cookie: kumppani=" + b"t" * 43 + b"\r\n"
    b"\r\n"
)


async def test_a_connection_drops_its_handshake_once_accepted_and_still_serves() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        # The application still has every header after the accept: only the server's copies go.
        seen["headers"] = dict(scope["headers"])
        seen["framed"] = EXTENSION in scope["extensions"]
        message = await receive()
        await send({"type": "websocket.send", "text": "echo " + message["text"]})
        seen["done"] = True
        await receive()  # until the client goes

    config = uvicorn.Config(app, ws=FramedSendProtocol, ws_per_message_deflate=False, lifespan="off")
    config.load()
    protocol = FramedSendProtocol(config=config, server_state=ServerState(), app_state={})
    transport = _Transport()
    protocol.connection_made(transport)  # type: ignore[arg-type]

    protocol.data_received(HANDSHAKE)
    for _ in range(20):
        await asyncio.sleep(0)
    assert transport.written.startswith(b"HTTP/1.1 101")
    assert protocol.response is None
    assert len(protocol.request.headers) == 0
    assert seen["headers"][b"origin"] == b"http://127.0.0.1:8000"
    assert seen["framed"]

    protocol.data_received(_masked_text(b"hei"))
    for _ in range(20):
        await asyncio.sleep(0)
    assert seen.get("done")
    assert transport.written.endswith(b"\x81\x08echo hei")
    protocol.connection_lost(None)
    for _ in range(5):
        await asyncio.sleep(0)


def test_the_started_app_hides_its_start_up_objects_from_the_garbage_collector(sqlite_url: str, tmp_path: Path) -> None:
    import gc

    from starlette.testclient import TestClient

    from server.app import create_app
    from server.migrate import upgrade
    from tests.conftest import settings_for

    upgrade(sqlite_url)
    gc.unfreeze()
    try:
        app = create_app(settings_for(sqlite_url, tmp_path))
        assert gc.get_freeze_count() == 0
        with TestClient(app) as client:
            assert client.get("/healthz").status_code == 200
            # Start-up made tens of thousands of lasting objects; a full collection no longer walks them.
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
