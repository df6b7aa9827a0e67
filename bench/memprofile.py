"""Where an idle connection's memory goes: Kumppani in this process under tracemalloc, idle clients in another.

Run by hand: ``python -m bench.memprofile [CONNECTIONS]`` (default 300). It
serves Kumppani with uvicorn (with the websocket protocol and the malloc arena
limit of ``kumppani serve``) in a thread of this process on a fresh SQLite
database, opens one warm connection and then CONNECTIONS idle ones from a
child process, and prints the Python
allocations that grew, per connection, grouped by the line that made them.
The RSS growth measured by ``bench.run`` is larger: it also counts the C
allocations tracemalloc cannot see (socket buffers, OpenSSL-free transports,
the allocator's own slack).
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import psutil

from bench import seed, servers

CLIENT = r"""
import asyncio, json, sys
from bench.wsraw import RawClient
spec = json.loads(sys.argv[1])
async def main():
    clients = []
    sem = asyncio.Semaphore(50)
    async def one(cookie):
        async with sem:
            ready = asyncio.get_running_loop().create_future()
            def on(payload, at):
                if payload.startswith(b'{"t":"synced"') and not ready.done():
                    ready.set_result(None)
            ws = await RawClient.connect(
                "127.0.0.1", spec["port"], spec["path"], origin=spec["origin"], cookie=cookie, on_message=on
            )
            ws.send(b'{"t":"hello","v":1}')
            await asyncio.wait_for(ready, 60)
            clients.append(ws)
    await asyncio.gather(*(one(c) for c in spec["cookies"]))
    print("OPEN", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
asyncio.run(main())
"""


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    from server.memory import limit_malloc_arenas

    limit_malloc_arenas()
    import uvicorn

    from foundation.settings import load_settings
    from server.app import create_app

    tmp = Path(tempfile.mkdtemp(prefix="kumppani-memprofile-"))
    url = seed.sqlite_url(tmp)
    seed.migrate(url)
    ws = asyncio.run(seed.seed(url, people=count + 2, snapshot_items=0, resume_missed=0))
    port = servers.free_port()
    env = servers.kumppani_env(url, port, tmp)
    settings = load_settings(env)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        ws="server.ws.fastproto:FramedSendProtocol",  # as kumppani serve
        ws_per_message_deflate=False,
        ws_max_size=1 << 20,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    path = f"/ws/boards/{ws.boards['idle']}"
    origin = f"http://127.0.0.1:{port}"

    def open_clients(cookies: list[str]) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CLIENT,
                json.dumps({"port": port, "path": path, "origin": origin, "cookies": cookies}),
            ],
            cwd=servers.ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("OPEN"), line
        return proc

    warm = open_clients([ws.cookie(0)])
    time.sleep(1)
    gc.collect()
    tracemalloc.start(12)
    rss0 = psutil.Process().memory_info().rss
    before = tracemalloc.take_snapshot()
    idle = open_clients([ws.cookie(i + 1) for i in range(count)])
    time.sleep(2)
    gc.collect()
    after = tracemalloc.take_snapshot()
    rss1 = psutil.Process().memory_info().rss
    traced = sum(s.size_diff for s in after.compare_to(before, "filename"))
    print(
        f"{count} idle connections: RSS +{(rss1 - rss0) / count / 1024:.1f} KiB per connection "
        f"(tracemalloc itself adds some), Python allocations +{traced / count / 1024:.1f} KiB per connection"
    )
    print("\nBy file:")
    for stat in after.compare_to(before, "filename")[:15]:
        print(
            f"  {stat.size_diff / count / 1024:7.2f} KiB  "
            f"{stat.traceback[0].filename.replace(str(servers.ROOT) + '/', '')}"
        )
    print("\nBy allocation site (outermost Kumppani frame shown when there is one):")
    for stat in after.compare_to(before, "traceback")[:25]:
        frames = list(stat.traceback)
        site = frames[-1]
        ours = next(
            (f for f in reversed(frames) if str(servers.ROOT) in f.filename and "/.venv/" not in f.filename), None
        )
        where = f"{site.filename.split('site-packages/')[-1].split('python3.11/')[-1]}:{site.lineno}"
        extra = (
            f"  ← {ours.filename.replace(str(servers.ROOT) + '/', '')}:{ours.lineno}"
            if ours and ours is not site
            else ""
        )
        print(f"  {stat.size_diff / count / 1024:7.2f} KiB  {stat.count_diff / count:6.1f} blocks  {where}{extra}")
    # The server first: clients leaving one by one would fill the output with failed presence sends.
    server.should_exit = True
    thread.join(timeout=10)
    for proc in (idle, warm):
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
