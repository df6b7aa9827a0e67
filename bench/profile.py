"""Summarise a py-spy ``--format raw`` profile (collapsed stacks) into the hotspots that matter.

``bench.run --profile`` records with ``py-spy record --gil --nonblocking``: only
the thread holding the GIL is sampled, which is Python's CPU time (py-spy's idle
detection is unreliable in some VMs, where threads waiting in epoll or on a
queue are otherwise counted as busy). Each line of the file is ``frame;frame;...;frame COUNT`` with the outermost frame
first and frames written as ``function (path:line)``. We report:

* self time by area (where the sampled frame's file lives: SQLAlchemy, the
  SQLite driver, websockets, uvicorn, asyncio, Kumppani's own code, ...);
* inclusive time of Kumppani's own functions and of the library entry points
  they call (a function counts once per stack, however deep the recursion);
* self time of the top functions.

Run by hand: ``python -m bench.profile bench/results/profile-kumppani-200x200.txt``.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

AREAS = (
    ("sqlalchemy", "SQLAlchemy"),
    ("aiosqlite", "aiosqlite (thread hand-off)"),
    ("sqlite3", "sqlite3"),
    ("asyncpg", "asyncpg"),
    ("redis", "redis client"),
    ("websockets", "websockets (protocol)"),
    ("uvicorn", "uvicorn"),
    ("starlette", "Starlette"),
    ("msgspec", "msgspec"),
    ("asyncio", "asyncio event loop"),
    ("/boards/", "Kumppani boards/"),
    ("/server/", "Kumppani server/"),
    ("/auth/", "Kumppani auth/"),
    ("threading.py", "threads (aiosqlite, py)"),
    ("concurrent", "threads (executor)"),
)


# py-spy prints some of our files without their directory.
OURS_BARE = {"hub.py", "connection.py", "endpoint.py", "sequencer.py", "engine.py", "queries.py", "permissions.py"}


def area_of(path: str) -> str:
    for needle, name in AREAS:
        if needle in path:
            return name
    if path in OURS_BARE:
        return "Kumppani server/ws, boards/"
    if path.startswith("<") or not path:
        return "native/other"
    return "other Python: " + Path(path).name


REPO_ROOT = str(Path(__file__).resolve().parent.parent)


def _split(frame: str) -> tuple[str, str, str]:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip(), "", ""
    return m["func"], m["file"] or "", m["line"] or ""


def _short(path: str) -> str:
    for marker in ("site-packages/", f"{REPO_ROOT}/", "lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def summarise(path: Path, top: int = 18) -> dict[str, Any]:
    total = 0
    by_area: Counter[str] = Counter()
    by_self: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for raw in path.read_text(errors="replace").splitlines():
        raw = raw.rstrip()
        if not raw:
            continue
        stack_text, _, count_text = raw.rpartition(" ")
        try:
            count = int(count_text)
        except ValueError:
            continue
        frames = [f for f in stack_text.split(";") if f]
        if not frames:
            continue
        if frames[0].startswith(("thread ", "process ")):
            frames = frames[1:]
        if not frames:
            continue
        total += count
        func, file, _line = _split(frames[-1])
        by_area[area_of(file)] += count
        by_self[f"{func} ({_short(file)})"] += count
        seen: set[str] = set()
        for frame in frames:
            f, fl, _ = _split(frame)
            key = f"{f} ({_short(fl)})"
            if key not in seen:
                seen.add(key)
                inclusive[key] += count
    if total == 0:
        return {"samples": 0, "text": "  (no samples: py-spy could not attach?)"}

    def pct(n: int) -> float:
        return 100.0 * n / total

    ours = [
        (k, v)
        for k, v in inclusive.most_common()
        if any(s in k for s in ("(boards/", "(server/", "(auth/")) or k.rsplit("(", 1)[-1].rstrip(")") in OURS_BARE
    ][:top]
    libs = [
        (k, v)
        for k, v in inclusive.most_common()
        if not any(s in k for s in ("(boards/", "(server/", "(auth/", "asyncio/", "threading.py", "<module>", "run ("))
        and k.rsplit("(", 1)[-1].rstrip(")") not in OURS_BARE
    ][:top]
    lines = [
        f"  {total} samples of the thread holding the GIL (py-spy --gil: Python CPU time; C code that releases the "
        "GIL, such as SQLite's own work and socket system calls, is not in it)",
        "  Self time by area:",
    ]
    lines += [f"    {pct(v):5.1f}%  {k}" for k, v in by_area.most_common(14)]
    lines.append("  Inclusive time, Kumppani's own functions:")
    lines += [f"    {pct(v):5.1f}%  {k}" for k, v in ours]
    lines.append("  Inclusive time, library functions:")
    lines += [f"    {pct(v):5.1f}%  {k}" for k, v in libs]
    lines.append("  Self time, top functions:")
    lines += [f"    {pct(v):5.1f}%  {k}" for k, v in by_self.most_common(top)]
    return {
        "samples": total,
        "areas": {k: round(pct(v), 2) for k, v in by_area.most_common()},
        "inclusive_ours": {k: round(pct(v), 2) for k, v in ours},
        "inclusive_libs": {k: round(pct(v), 2) for k, v in libs},
        "self": {k: round(pct(v), 2) for k, v in by_self.most_common(top)},
        "text": "\n".join(lines),
    }


if __name__ == "__main__":
    print(summarise(Path(sys.argv[1]))["text"])
