"""Starting, watching and stopping the servers under test, each a real subprocess.

CPU time and memory are read with psutil over the whole process tree of each
server (for ``kumppani serve`` with one worker that is one process; the
two-process setup is two trees), so the same figures mean the same thing for
Kumppani, the Python relay and the Node relay.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
NODE_DIR = BENCH / "node"
SECRET = "bench-secret-key-" + "k" * 40

#: Kumppani's per-person limit is 20 ops/s with a burst of 60; a writer here sends up to 50/s.
OPS_PER_SECOND = 1000
OPS_BURST = 5000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _hwm_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class ServerProc:
    name: str
    cmd: list[str]
    env: dict[str, str]
    port: int
    ready_path: str | None = None  # an HTTP path that answers 200 when ready; else a TCP connect
    log_path: Path | None = None
    popen: subprocess.Popen[bytes] | None = None
    ps: psutil.Process | None = None

    def start(self, timeout: float = 60) -> None:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.popen = subprocess.Popen(
            self.cmd, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.ps = psutil.Process(self.popen.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}; see {self.log_path}")
            if self._ready():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not start in {timeout} s; see {self.log_path}")

    def _ready(self) -> bool:
        try:
            if self.ready_path:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{self.ready_path}", timeout=1) as r:
                    return bool(r.status == 200)
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def tree(self) -> list[psutil.Process]:
        return _proc_tree(self.ps) if self.ps else []

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGINT)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=5)


@dataclass
class ServerGroup:
    """One server under test: one process, or two behind no proxy."""

    kind: str
    procs: list[ServerProc] = field(default_factory=list)

    def start(self) -> None:
        try:
            for p in self.procs:
                p.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for p in self.procs:
            p.stop()

    def processes(self) -> list[psutil.Process]:
        return [q for p in self.procs for q in p.tree()]

    def cpu_seconds(self) -> float:
        total = 0.0
        for q in self.processes():
            try:
                t = q.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def rss_bytes(self) -> int:
        total = 0
        for q in self.processes():
            try:
                total += q.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def peak_rss_bytes(self) -> int:
        """The sum of each process's high-water mark (VmHWM) since it started."""
        return sum(_hwm_bytes(q.pid) for q in self.processes())

    def reset_peak(self) -> tuple[int, bool]:
        """Forget start-up peaks: the high-water marks then cover serving only (needs Linux ≥ 4.0).

        Returns the start-up peak (summed high-water marks so far) and whether the reset worked.
        """
        startup = self.peak_rss_bytes()
        ok = True
        for q in self.processes():
            try:
                with open(f"/proc/{q.pid}/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                ok = False
        return startup, ok

    @property
    def pids(self) -> list[int]:
        return [p.popen.pid for p in self.procs if p.popen]


class RssSampler(threading.Thread):
    def __init__(self, group: ServerGroup, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.group = group
        self.every = every
        self.peak = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, self.group.rss_bytes())
            self._stop_event.wait(self.every)

    def stop(self) -> int:
        self._stop_event.set()
        self.join(timeout=2)
        return self.peak


def kumppani_env(database_url: str, port: int, data_dir: Path, redis_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUMPPANI_")}
    env.update(
        {
            "KUMPPANI_DATABASE_URL": database_url,
            "KUMPPANI_DATA_DIR": str(data_dir),
            "KUMPPANI_SECRET_KEY": SECRET,
            "KUMPPANI_BASE_URL": f"http://127.0.0.1:{port}",
            "KUMPPANI_OPS_PER_SECOND": str(OPS_PER_SECOND),
            "KUMPPANI_OPS_BURST": str(OPS_BURST),
            "KUMPPANI_SESSION_IDLE_MINUTES": "600",
            "KUMPPANI_LOG_LEVEL": "WARNING",
        }
    )
    if redis_url:
        env["KUMPPANI_REDIS_URL"] = redis_url
    return env


def kumppani_bin() -> str:
    candidate = Path(sys.executable).with_name("kumppani")
    return str(candidate) if candidate.exists() else "kumppani"


def kumppani(
    database_url: str, data_dir: Path, log_dir: Path, *, processes: int = 1, redis_url: str | None = None
) -> ServerGroup:
    kind = "kumppani" if processes == 1 else f"kumppani-x{processes}"
    group = ServerGroup(kind)
    for i in range(processes):
        port = free_port()
        group.procs.append(
            ServerProc(
                f"{kind}[{i}]",
                [kumppani_bin(), "serve", "--host", "127.0.0.1", "--port", str(port)],
                kumppani_env(database_url, port, data_dir, redis_url),
                port,
                ready_path="/healthz",
                log_path=log_dir / f"{kind}-{i}.log",
            )
        )
    return group


def python_relay(log_dir: Path) -> ServerGroup:
    port = free_port()
    return ServerGroup(
        "relay",
        [
            ServerProc(
                "relay",
                [sys.executable, "-m", "bench.pyrelay", "--port", str(port)],
                dict(os.environ),
                port,
                log_path=log_dir / "relay.log",
            )
        ],
    )


def node_relay(log_dir: Path) -> ServerGroup:
    port = free_port()
    return ServerGroup(
        "node",
        [
            ServerProc(
                "node",
                ["node", str(NODE_DIR / "relay.js"), str(port)],
                dict(os.environ),
                port,
                log_path=log_dir / "node.log",
            )
        ],
    )


def ensure_node_modules() -> None:
    """``npm ci`` into bench/node/node_modules (gitignored) unless it is there and current."""
    marker = NODE_DIR / "node_modules" / ".package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    if (
        marker.exists()
        and (NODE_DIR / "node_modules" / "ws").exists()
        and marker.stat().st_mtime >= lock.stat().st_mtime
    ):
        return
    print("Installing the Node relay's dependencies (npm ci)…", flush=True)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR, check=True)


@contextlib.contextmanager
def running(group: ServerGroup) -> Iterator[ServerGroup]:
    group.start()
    try:
        yield group
    finally:
        group.stop()
