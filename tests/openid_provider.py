"""A real OpenID provider for the tests: panva's ``oidc-provider`` (npm) on loopback.

Kumppani did not write it, so a sign-in that works against it works against a
provider that follows the specification, not against our reading of it. It is
installed from ``tests/openid-provider/package-lock.json`` by ``make test``
(``.ci/browser-deps.sh``). Its sign-in pages are the package's development
interactions: a login form that takes any login and any password, then a consent
form. Profile claims come from the userinfo endpoint, not the ID token.

Use :func:`start_openid_provider` (or the ``openid_provider`` fixture of the
browser tests) with the redirect URI of the Kumppani under test, then
:func:`register_provider` to give Kumppani's sign-in page its button.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foundation.settings import Settings

HERE = Path(__file__).resolve().parent / "openid-provider"
SERVER = HERE / "server.mjs"
INSTALLED = HERE / "node_modules" / "oidc-provider" / "package.json"
CLIENT_ID = "kumppani-test-client"
CLIENT_SECRET = "kumppani-test-client-secret-" + "z" * 20
#: Logins the provider knows, with the claims it gives about them.
ACCOUNTS: dict[str, dict[str, Any]] = {
    "paula": {
        "name": "Paula Pilvi",
        "given_name": "Paula",
        "family_name": "Pilvi",
        "email": "paula.pilvi@kunta.example",
        "email_verified": True,
    },
    # An account whose provider gives no name at all: Kumppani has to ask for one.
    "nimeton": {"email": "nimeton@kunta.example", "email_verified": True},
}


def missing_reason() -> str | None:
    """Why the provider cannot start here, or None."""
    if shutil.which("node") is None:
        return "Node.js is not installed (the test OpenID provider runs on it)"
    if not INSTALLED.exists():
        return "oidc-provider is not installed: run `npm ci` in tests/openid-provider (make test does)"
    return None


@dataclass
class OpenIdProvider:
    """A running provider process; ``stop()`` ends it."""

    issuer: str
    process: subprocess.Popen[str]
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    log: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def start_openid_provider(
    redirect_uri: str, *, accounts: dict[str, dict[str, Any]] | None = None, timeout: float = 30
) -> OpenIdProvider:
    """Start the provider with one confidential client whose only redirect URI is ``redirect_uri``."""
    reason = missing_reason()
    if reason is not None:
        raise RuntimeError(reason)
    config = {
        "port": 0,
        "client": {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
        },
        "accounts": ACCOUNTS if accounts is None else accounts,
    }
    process = subprocess.Popen(
        ["node", str(SERVER), json.dumps(config)],
        cwd=HERE,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    if not first or not first[0].strip():
        process.kill()
        process.wait(timeout=10)
        raise RuntimeError(f"the test OpenID provider did not start: {process.stderr.read()[-2000:]}")
    provider = OpenIdProvider(issuer=json.loads(first[0])["issuer"], process=process)
    # Drain its standard error so that a chatty provider never blocks on a full pipe.
    stderr = process.stderr

    def drain() -> None:
        for line in stderr:
            provider.log.append(line.rstrip())

    threading.Thread(target=drain, daemon=True).start()
    return provider


async def register_provider(settings: Settings, provider: OpenIdProvider, name: str) -> str:
    """Add the running provider to the Kumppani of ``settings`` (what `kumppani provider add` stores)."""
    from auth.oidc_providers import add_provider
    from foundation.db import create_engine

    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            return await add_provider(
                conn,
                name=name,
                issuer=provider.issuer,
                client_id=provider.client_id,
                client_secret=provider.client_secret,
                secret_keys=settings.secret_keys,
            )
    finally:
        await engine.dispose()
