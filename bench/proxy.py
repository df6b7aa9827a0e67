"""Debian's nginx in front of Kumppani processes on loopback, from the shipped site.

``deploy/nginx.conf`` stays the one source: :func:`render_site` substitutes only
the listen ports, the upstream servers and the certificate paths, and refuses
when the shipped file no longer has the lines it substitutes, so a test or a
benchmark never runs a site that differs from the shipped one in its locations,
upstreams or affinity rules. :class:`Nginx` runs it unprivileged-style: its pid,
logs and temporary files in a directory of its own, in the foreground.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_SITE = ROOT / "deploy" / "nginx.conf"

_UPSTREAM = re.compile(r"(upstream\s+\w+\s*\{)(.*?)(\})", re.DOTALL)
_UPSTREAM_SERVER = re.compile(r"^\s*server\s+\S+;\s*$\n?", re.MULTILINE)


class SiteChanged(Exception):
    """The shipped site lacks a line the renderer substitutes."""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def _replace_once(text: str, pattern: str, replacement: str) -> str:
    new, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    if count != 1:
        raise SiteChanged(f"expected one line matching {pattern!r} in {SHIPPED_SITE.name}, found {count}")
    return new


def render_site(
    site: str, *, backends: Sequence[int], http_port: int, https_port: int, certificate: Path, key: Path
) -> str:
    """The shipped site with loopback ports, these backends and this certificate."""
    servers = "".join(f"    server 127.0.0.1:{port};\n" for port in backends)

    def upstream(match: re.Match[str]) -> str:
        body = match.group(2)
        first = _UPSTREAM_SERVER.search(body)
        if first is None:
            raise SiteChanged(f"an upstream block in {SHIPPED_SITE.name} names no servers")
        kept = _UPSTREAM_SERVER.sub("", body)
        at = len(_UPSTREAM_SERVER.sub("", body[: first.start()]))
        return match.group(1) + kept[:at] + servers + kept[at:] + match.group(3)

    text, upstreams = _UPSTREAM.subn(upstream, site)
    if upstreams < 2:
        raise SiteChanged(f"expected the two upstreams (pages and board sockets) in {SHIPPED_SITE.name}")
    text = _replace_once(text, r"^(\s*)listen 80;", rf"\g<1>listen 127.0.0.1:{http_port};")
    text = _replace_once(text, r"^(\s*)listen 443 ssl", rf"\g<1>listen 127.0.0.1:{https_port} ssl")
    text = _replace_once(text, r"^(\s*ssl_certificate)\s+\S+;", rf"\g<1> {certificate};")
    return _replace_once(text, r"^(\s*ssl_certificate_key)\s+\S+;", rf"\g<1> {key};")


def main_config(workdir: Path, site: Path, *, worker_connections: int = 8192) -> str:
    """An nginx.conf whose every path is under ``workdir``, including the rendered site."""
    # As root, nginx runs its workers as this user; a root test run then still has unprivileged workers.
    user = "user nobody nogroup;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {name}_temp_path {workdir / name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 1;\n"
        f"worker_rlimit_nofile {worker_connections * 2};\n"
        f"pid {workdir / 'nginx.pid'};\n"
        f"error_log {workdir / 'error.log'} warn;\n"
        f"events {{ worker_connections {worker_connections}; }}\n"
        "http {\n"
        f"    access_log {workdir / 'access.log'};\n"
        f"{temp}\n"
        f"    include {site};\n"
        "}\n"
    )


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, made with the openssl command."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert)),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Nginx:
    """nginx in the foreground with the rendered shipped site; :meth:`start` then :meth:`stop`."""

    backends: Sequence[int]
    workdir: Path
    http_port: int = 0
    https_port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def prepare(cls, backends: Sequence[int]) -> Nginx:
        # Not under pytest's tmp_path: its 0700 parents would keep the unprivileged workers out.
        workdir = Path(tempfile.mkdtemp(prefix="kumppani-nginx-"))
        workdir.chmod(0o755)
        proxy = cls(backends=backends, workdir=workdir, http_port=_free_port(), https_port=_free_port())
        proxy.write_config()
        return proxy

    @property
    def certificate(self) -> Path:
        return self.workdir / "cert.pem"

    @property
    def config(self) -> Path:
        return self.workdir / "nginx.conf"

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def ws_url(self, board_id: str) -> str:
        return f"wss://127.0.0.1:{self.https_port}/ws/boards/{board_id}"

    def client_ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.certificate))

    def write_config(self) -> None:
        cert, key = self_signed_certificate(self.workdir)
        key.chmod(0o600)
        site = render_site(
            SHIPPED_SITE.read_text(),
            backends=self.backends,
            http_port=self.http_port,
            https_port=self.https_port,
            certificate=cert,
            key=key,
        )
        (self.workdir / "site.conf").write_text(site)
        self.config.write_text(main_config(self.workdir, self.workdir / "site.conf"))

    def command(self, *extra: str) -> list[str]:
        binary = nginx_binary()
        if binary is None:
            raise FileNotFoundError("nginx is not installed")
        return [binary, "-p", str(self.workdir), "-c", str(self.config), "-e", str(self.workdir / "error.log"), *extra]

    def check(self) -> subprocess.CompletedProcess[str]:
        """``nginx -t`` on the rendered configuration."""
        return subprocess.run(self.command("-t"), capture_output=True, text=True)

    def start(self, timeout: float = 20) -> Nginx:
        self.proc = subprocess.Popen(
            self.command("-g", "daemon off;"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.https_port), timeout=0.5):
                    return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not start: {self.error_log()}") from None
                time.sleep(0.05)

    def error_log(self) -> str:
        path = self.workdir / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)
