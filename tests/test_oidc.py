"""OpenID Connect sign-in against a real (small) OpenID provider started inside the tests.

The provider is a Starlette app on its own uvicorn server: discovery, JWKS,
/authorize (approves at once) and /token (checks the client and the PKCE
verifier, signs an RS256 ID token). Switches make it misbehave. Kumppani runs
as a LiveServer; the browser is an httpx client that follows redirects by hand
between the two.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
import uvicorn
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from auth import oidc
from auth.models import AuditEvent, AuthSession, ExternalIdentity, IdentityProvider, Person
from conftest import LiveServer, free_port, settings_for
from foundation.db import create_engine
from server.i18n import Translator

FI = Translator("fi")
FAILED_TEXT = FI("error.oidc.text")
EXPIRED_TEXT = FI("error.oidc_expired.text")
CANCELLED_TEXT = FI("error.oidc_cancelled.text")
UNREACHABLE_TEXT = FI("error.oidc_unreachable.text")
NO_TEAM_TEXT = FI("no_team.title")
CLIENT_ID = "kumppani-client"
CLIENT_SECRET = "client-secret-" + "s" * 24
#: The Kumppani under test signs and seals with these (see conftest.settings_for).
SECRET_KEYS = settings_for("sqlite+aiosqlite:///unused.db", Path("unused")).secret_keys


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class TestProvider:
    """A tiny OpenID provider. ``misbehave`` holds the switches that make it lie."""

    __test__ = False

    def __init__(self, redirect_uri: str, *, sub: str = "user-1", email: str = "paula@example.fi") -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.redirect_uri = redirect_uri
        self.user: dict[str, Any] = {"sub": sub, "email": email, "email_verified": True, "name": "Paula Pilvi"}
        self.key = RSAKey.generate_key(2048, {"kid": "op-key", "use": "sig", "alg": "RS256"})
        self.misbehave: set[str] = set()
        self.codes: dict[str, dict[str, str]] = {}
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.rejected_tokens: list[str] = []
        self.fetched: list[str] = []  # discovery, key set and userinfo requests, in order
        self.access_tokens: set[str] = set()
        app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/userinfo", self.userinfo),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> TestProvider:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test provider did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)

    # -------------------------------------------------------------- endpoints

    async def discovery(self, request: Request) -> Response:
        self.fetched.append("discovery")
        return JSONResponse(
            {
                "issuer": "http://evil.example" if "metadata_issuer" in self.misbehave else self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "authorization_response_iss_parameter_supported": True,
            }
        )

    async def jwks(self, request: Request) -> Response:
        self.fetched.append("jwks")
        return JSONResponse(KeySet([self.key]).as_dict(private=False))

    async def authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.authorize_requests.append(params)
        if params.get("client_id") != CLIENT_ID or params.get("redirect_uri") != self.redirect_uri:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        back = {"state": params.get("state", ""), "iss": self.issuer}
        if "provider_error" in self.misbehave:
            return RedirectResponse(f"{self.redirect_uri}?{urlencode({'error': 'access_denied', **back})}", 302)
        if params.get("response_type") != "code" or params.get("code_challenge_method") != "S256":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(24)
        self.codes[code] = {
            "nonce": params.get("nonce", ""),
            "challenge": params.get("code_challenge", ""),
            "redirect_uri": params["redirect_uri"],
        }
        return RedirectResponse(f"{self.redirect_uri}?{urlencode({'code': code, **back})}", 302)

    def _client_ok(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        return base64.b64decode(value).decode() == f"{CLIENT_ID}:{CLIENT_SECRET}"

    async def token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.token_requests.append(form)

        def refuse(error: str, status: int = 400) -> Response:
            self.rejected_tokens.append(error)
            return JSONResponse({"error": error}, status_code=status)

        if not self._client_ok(request):
            return refuse("invalid_client", 401)
        if form.get("grant_type") != "authorization_code":
            return refuse("unsupported_grant_type")
        grant = self.codes.pop(form.get("code", ""), None)  # a code works once
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return refuse("invalid_grant")
        verifier = form.get("code_verifier", "")
        if not verifier or not secrets.compare_digest(s256(verifier), grant["challenge"]):
            return refuse("invalid_grant")
        access_token = secrets.token_urlsafe(24)
        self.access_tokens.add(access_token)
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self.id_token(grant["nonce"]),
            },
            headers={"Cache-Control": "no-store"},
        )

    async def userinfo(self, request: Request) -> Response:
        self.fetched.append("userinfo")
        if request.headers.get("authorization", "").removeprefix("Bearer ") not in self.access_tokens:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        if "userinfo_down" in self.misbehave:
            return JSONResponse({"error": "server_error"}, status_code=503)
        sub = "someone-else" if "userinfo_other_sub" in self.misbehave else self.user["sub"]
        return JSONResponse({**self.user, "sub": sub})

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        profile = ("name", "email", "email_verified")
        claims: dict[str, Any] = {
            **{k: v for k, v in self.user.items() if "profile_in_userinfo" not in self.misbehave or k not in profile},
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
        }
        if "wrong_nonce" in self.misbehave:
            claims["nonce"] = secrets.token_urlsafe(16)
        if "wrong_issuer" in self.misbehave:
            claims["iss"] = "http://127.0.0.1:1"
        if "wrong_audience" in self.misbehave:
            claims["aud"] = "someone-else"
        if "several_audiences" in self.misbehave:
            claims["aud"] = [CLIENT_ID, "someone-else"]
        if "azp" in self.misbehave:
            claims["azp"] = CLIENT_ID
        if "expired" in self.misbehave:
            claims["iat"], claims["exp"] = now - 1200, now - 600
        key = self.key
        if "wrong_key" in self.misbehave:
            key = RSAKey.generate_key(2048, {"kid": self.key.kid, "use": "sig", "alg": "RS256"})
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)

    def rotate_key(self) -> None:
        self.key = RSAKey.generate_key(2048, {"kid": secrets.token_hex(4), "use": "sig", "alg": "RS256"})


# ------------------------------------------------------------------ fixtures and helpers


@pytest.fixture
def kumppani(migrated_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    port = free_port()
    settings = settings_for(migrated_url, tmp_path, KUMPPANI_BASE_URL=f"http://127.0.0.1:{port}")
    server = LiveServer(settings, port=port).start()
    try:
        yield server
    finally:
        server.stop()


ProviderFactory = Callable[..., TestProvider]


@pytest.fixture
def make_provider(kumppani: LiveServer) -> Iterator[ProviderFactory]:
    started: list[TestProvider] = []

    def make(**kwargs: Any) -> TestProvider:
        op = TestProvider(f"{kumppani.base}/signin/oidc/callback", **kwargs).start()
        started.append(op)
        return op

    yield make
    for op in started:
        op.stop()


@pytest.fixture
def op(make_provider: ProviderFactory) -> TestProvider:
    return make_provider()


async def register(database_url: str, op: TestProvider, name: str = "Testikunnan tunnus", **kwargs: Any) -> str:
    kwargs.setdefault("client_secret", None if "client_secret_env" in kwargs else CLIENT_SECRET)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            return await oidc.add_provider(
                conn, name=name, issuer=op.issuer, client_id=CLIENT_ID, secret_keys=SECRET_KEYS, **kwargs
            )
    finally:
        await engine.dispose()


@pytest.fixture
async def provider_id(migrated_url: str, op: TestProvider) -> str:
    return await register(migrated_url, op)


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(follow_redirects=False, timeout=20) as client:
        yield client


async def counts(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return {
                table.__tablename__: int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
                for table in (Person, ExternalIdentity, AuthSession)
            }
    finally:
        await engine.dispose()


async def sign_in(
    browser: httpx.AsyncClient,
    kumppani: LiveServer,
    provider_id: str,
    *,
    next_path: str | None = None,
    tamper: Callable[[str], str] | None = None,
) -> httpx.Response:
    """Click the provider's button and follow the redirects by hand; the last response from Kumppani."""
    query = f"?{urlencode({'next': next_path})}" if next_path else ""
    start = await browser.get(f"{kumppani.base}/signin/oidc/{provider_id}{query}")
    if start.status_code != 303:
        return start
    at_provider = await browser.get(start.headers["location"])
    assert at_provider.status_code == 302, at_provider.text
    callback = at_provider.headers["location"]
    assert callback.startswith(f"{kumppani.base}/signin/oidc/callback?")
    return await browser.get(tamper(callback) if tamper else callback)


def set_cookie_names(response: httpx.Response) -> list[str]:
    """Cookies the response sets to a value (a deletion, Max-Age=0, does not count)."""
    names = []
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        value = rest.split(";", 1)[0]
        if value and value != '""' and "max-age=0" not in header.lower():
            names.append(name)
    return names


def replace_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def assert_refused(response: httpx.Response, browser: httpx.AsyncClient, text: str = FAILED_TEXT) -> None:
    assert response.status_code == 400, response.text
    assert text in response.text
    assert "kumppani" not in set_cookie_names(response)
    assert browser.cookies.get("kumppani") is None


# ------------------------------------------------------------------ success


async def test_sign_in_creates_a_person_with_an_external_identity_and_a_session(
    kumppani: LiveServer, op: TestProvider, provider_id: str, browser: httpx.AsyncClient, migrated_url: str
) -> None:
    page = await browser.get(f"{kumppani.base}/signin")
    assert "Kirjaudu: Testikunnan tunnus" in page.text
    assert f'href="/signin/oidc/{provider_id}"' in page.text
    # Sent to sign in from a board: the provider's link brings the person back there.
    page = await browser.get(f"{kumppani.base}/signin?next=/boards/abc")
    assert f'href="/signin/oidc/{provider_id}?next=/boards/abc"' in page.text

    done = await sign_in(browser, kumppani, provider_id)
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert "kumppani" in set_cookie_names(done)
    assert "kumppani-oidc" not in set_cookie_names(done)  # the pending sign-in is cleared
    home = await browser.get(f"{kumppani.base}/")
    assert home.status_code == 200 and "Paula Pilvi" in home.text

    engine = create_engine(migrated_url)
    try:
        async with engine.connect() as conn:
            identity = (await conn.execute(select(ExternalIdentity))).one()
            person = (await conn.execute(select(Person).where(Person.id == identity.person_id))).one()
            sessions = (await conn.execute(select(AuthSession.person_id))).scalars().all()
    finally:
        await engine.dispose()
    assert (identity.issuer, identity.subject) == (op.issuer, "user-1")
    assert person.display_name == "Paula Pilvi" and person.email == "paula@example.fi"
    assert sessions == [person.id]


async def test_signing_in_again_reuses_the_person(
    kumppani: LiveServer, op: TestProvider, provider_id: str, migrated_url: str
) -> None:
    for _ in range(2):
        async with httpx.AsyncClient(follow_redirects=False, timeout=20) as browser:
            done = await sign_in(browser, kumppani, provider_id)
            assert done.status_code == 303
    assert await counts(migrated_url) == {"person": 1, "external_identity": 1, "auth_session": 2}


async def test_same_email_from_two_providers_is_two_people(
    kumppani: LiveServer, make_provider: ProviderFactory, migrated_url: str
) -> None:
    # Same e-mail, even the same subject: different issuers are different accounts.
    first, second = make_provider(), make_provider()
    ids = [await register(migrated_url, first, "Ensimmäinen"), await register(migrated_url, second, "Toinen")]
    async with httpx.AsyncClient(follow_redirects=False, timeout=20) as browser:
        page = await browser.get(f"{kumppani.base}/signin")
        assert "Kirjaudu: Ensimmäinen" in page.text and "Kirjaudu: Toinen" in page.text
    for provider_id in ids:
        async with httpx.AsyncClient(follow_redirects=False, timeout=20) as browser:
            assert (await sign_in(browser, kumppani, provider_id)).status_code == 303
    engine = create_engine(migrated_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(ExternalIdentity.issuer, ExternalIdentity.person_id))).all()
            emails = (await conn.execute(select(Person.email))).scalars().all()
    finally:
        await engine.dispose()
    assert sorted(r.issuer for r in rows) == sorted([first.issuer, second.issuer])
    assert len({r.person_id for r in rows}) == 2
    assert emails == ["paula@example.fi", "paula@example.fi"]


async def test_several_audiences_need_azp(
    kumppani: LiveServer, op: TestProvider, provider_id: str, browser: httpx.AsyncClient
) -> None:
    op.misbehave = {"several_audiences", "azp"}
    assert (await sign_in(browser, kumppani, provider_id)).status_code == 303


async def test_return_path_is_kept_and_only_on_this_site(
    kumppani: LiveServer, op: TestProvider, provider_id: str
) -> None:
    for asked, expected in (("/boards/abc", "/boards/abc"), ("//evil.example/x", "/"), ("https://evil.example", "/")):
        async with httpx.AsyncClient(follow_redirects=False, timeout=20) as browser:
            done = await sign_in(browser, kumppani, provider_id, next_path=asked)
            assert done.status_code == 303 and done.headers["location"] == expected


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("switch", "reason", "text"),
    [
        ("wrong_nonce", "id_token_claim_nonce", FAILED_TEXT),
        ("wrong_issuer", "id_token_claim_iss", FAILED_TEXT),
        ("wrong_audience", "id_token_claim_aud", FAILED_TEXT),
        ("expired", "id_token_claim_exp", FAILED_TEXT),
        ("metadata_issuer", "metadata_issuer_mismatch", FAILED_TEXT),
        ("provider_error", "provider_denied", CANCELLED_TEXT),
        ("wrong_key", "id_token_signature", FAILED_TEXT),
        ("several_audiences", "id_token_claim_azp", FAILED_TEXT),
    ],
)
async def test_a_misbehaving_provider_is_refused(
    switch: str,
    reason: str,
    text: str,
    caplog: pytest.LogCaptureFixture,
    kumppani: LiveServer,
    op: TestProvider,
    provider_id: str,
    browser: httpx.AsyncClient,
    migrated_url: str,
) -> None:
    before = await counts(migrated_url)
    op.misbehave = {switch}
    response = await sign_in(browser, kumppani, provider_id)
    assert_refused(response, browser, text)
    assert await counts(migrated_url) == before
    refusals = [r for r in caplog.records if r.name == "kumppani.oidc"]
    assert [r.reason for r in refusals] == [reason]
    assert [r.provider_id for r in refusals] == [provider_id]
    # The log line names what went wrong and never carries a token or a code from the exchange.
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in refusals)
    assert "code=" not in logged and "eyJ" not in logged
    if switch == "metadata_issuer":
        assert op.authorize_requests == []  # never sent the browser to a provider that names another issuer


async def test_a_tampered_state_is_refused(
    kumppani: LiveServer, op: TestProvider, provider_id: str, browser: httpx.AsyncClient, migrated_url: str
) -> None:
    response = await sign_in(
        browser, kumppani, provider_id, tamper=lambda url: replace_query(url, state=secrets.token_urlsafe(32))
    )
    assert_refused(response, browser)
    assert op.token_requests == []  # the code was never even exchanged
    assert await counts(migrated_url) == {"person": 0, "external_identity": 0, "auth_session": 0}


async def test_a_tampered_pending_cookie_is_refused(
    kumppani: LiveServer, op: TestProvider, provider_id: str, browser: httpx.AsyncClient, migrated_url: str
) -> None:
    def tamper(url: str) -> str:
        sealed = browser.cookies["kumppani-oidc"]
        browser.cookies.delete("kumppani-oidc")
        forged = sealed[:-2] + ("AA" if not sealed.endswith("AA") else "BB")
        browser.cookies.set("kumppani-oidc", forged, domain="127.0.0.1")
        return url

    assert_refused(await sign_in(browser, kumppani, provider_id, tamper=tamper), browser)
    assert await counts(migrated_url) == {"person": 0, "external_identity": 0, "auth_session": 0}


async def test_a_callback_without_the_pending_cookie_is_refused(
    kumppani: LiveServer, op: TestProvider, provider_id: str, browser: httpx.AsyncClient, migrated_url: str
) -> None:
    """Another browser (or a replay after the cookie was used) cannot finish someone's sign-in."""
    start = await browser.get(f"{kumppani.base}/signin/oidc/{provider_id}")
    callback = (await browser.get(start.headers["location"])).headers["location"]
    async with httpx.AsyncClient(follow_redirects=False, timeout=20) as other:
        assert_refused(await other.get(callback), other, EXPIRED_TEXT)
    assert (await browser.get(callback)).status_code == 303
    replay = await browser.get(callback)  # the pending cookie was cleared when it was used
    assert replay.status_code == 400 and EXPIRED_TEXT in replay.text
    assert "kumppani" not in set_cookie_names(replay)
    assert await counts(migrated_url) == {"person": 1, "external_identity": 1, "auth_session": 1}


async def test_a_disabled_or_unknown_provider_cannot_be_used(
    kumppani: LiveServer, op: TestProvider, migrated_url: str, browser: httpx.AsyncClient
) -> None:
    disabled = await register(migrated_url, op, "Pois käytöstä", enabled=False)
    assert "Pois käytöstä" not in (await browser.get(f"{kumppani.base}/signin")).text
    for provider_id in (disabled, "no-such-provider"):
        assert (await browser.get(f"{kumppani.base}/signin/oidc/{provider_id}")).status_code == 404
    assert op.authorize_requests == []


async def test_an_unreachable_provider_is_told_apart_from_a_refusal(
    kumppani: LiveServer, op: TestProvider, provider_id: str, browser: httpx.AsyncClient, migrated_url: str
) -> None:
    op.stop()
    response = await browser.get(f"{kumppani.base}/signin/oidc/{provider_id}")
    assert response.status_code == 502
    assert UNREACHABLE_TEXT in response.text and FAILED_TEXT not in response.text
    assert "kumppani-oidc" not in set_cookie_names(response)
    assert await counts(migrated_url) == {"person": 0, "external_identity": 0, "auth_session": 0}


async def test_another_site_cannot_start_a_sign_in(
    kumppani: LiveServer, op: TestProvider, provider_id: str, browser: httpx.AsyncClient
) -> None:
    for site in ("cross-site", "same-site"):
        response = await browser.get(f"{kumppani.base}/signin/oidc/{provider_id}", headers={"Sec-Fetch-Site": site})
        assert response.status_code == 303 and response.headers["location"] == "/signin"
        assert set_cookie_names(response) in ([], ["kumppani-csrf"])
    assert op.authorize_requests == []
    # From the sign-in page itself (or typed into the address bar) it starts.
    for site in ("same-origin", "none"):
        response = await browser.get(f"{kumppani.base}/signin/oidc/{provider_id}", headers={"Sec-Fetch-Site": site})
        assert response.status_code == 303 and response.headers["location"].startswith(op.issuer)


# ------------------------------------------------------------------ name, e-mail and the first page


async def test_name_and_email_are_refreshed_at_each_sign_in(
    kumppani: LiveServer, op: TestProvider, provider_id: str, migrated_url: str
) -> None:
    async with httpx.AsyncClient(follow_redirects=False, timeout=20) as browser:
        assert (await sign_in(browser, kumppani, provider_id)).status_code == 303
    op.user.update(name="Paula Pilvi-Sade", email="paula.sade@example.fi")
    async with httpx.AsyncClient(follow_redirects=False, timeout=20) as browser:
        assert (await sign_in(browser, kumppani, provider_id)).headers["location"] == "/"
        assert "Paula Pilvi-Sade" in (await browser.get(f"{kumppani.base}/")).text
    engine = create_engine(migrated_url)
    try:
        async with engine.connect() as conn:
            [person] = (await conn.execute(select(Person.display_name, Person.email))).all()
    finally:
        await engine.dispose()
    assert tuple(person) == ("Paula Pilvi-Sade", "paula.sade@example.fi")


async def test_a_first_sign_in_without_a_name_asks_for_one(
    kumppani: LiveServer, op: TestProvider, provider_id: str, browser: httpx.AsyncClient
) -> None:
    del op.user["name"]
    done = await sign_in(browser, kumppani, provider_id, next_path="/me")
    assert done.status_code == 303 and done.headers["location"] == "/welcome?next=%2Fme"
    page = await browser.get(f"{kumppani.base}/welcome?next=%2Fme")
    assert FI("welcome.name_label") in page.text
    empty = await browser.post(
        f"{kumppani.base}/welcome",
        data={"csrf": browser.cookies["kumppani-csrf"], "display_name": " ", "next": "/me"},
        headers={"Origin": kumppani.base},
    )
    assert empty.status_code == 400 and FI("welcome.name_missing") in empty.text
    assert 'name="next" value="/me"' in empty.text  # asked again, still on the way to /me
    chosen = await browser.post(
        f"{kumppani.base}/welcome",
        data={"csrf": browser.cookies["kumppani-csrf"], "display_name": "Paula P.", "next": "/"},
        headers={"Origin": kumppani.base},
    )
    assert chosen.status_code == 303
    assert "Paula P." in (await browser.get(f"{kumppani.base}/")).text
    # The provider still gives no name: the chosen one stays, and the person is not asked again.
    async with httpx.AsyncClient(follow_redirects=False, timeout=20) as again:
        assert (await sign_in(again, kumppani, provider_id)).headers["location"] == "/"
        assert "Paula P." in (await again.get(f"{kumppani.base}/")).text


async def test_name_and_email_come_from_userinfo_when_the_id_token_lacks_them(
    kumppani: LiveServer, op: TestProvider, provider_id: str, browser: httpx.AsyncClient, migrated_url: str
) -> None:
    op.misbehave = {"profile_in_userinfo"}
    assert (await sign_in(browser, kumppani, provider_id)).headers["location"] == "/"
    assert op.fetched[-1] == "userinfo"
    assert "Paula Pilvi" in (await browser.get(f"{kumppani.base}/")).text


async def test_userinfo_about_someone_else_is_refused(
    kumppani: LiveServer, op: TestProvider, provider_id: str, browser: httpx.AsyncClient, migrated_url: str
) -> None:
    op.misbehave = {"profile_in_userinfo", "userinfo_other_sub"}
    assert_refused(await sign_in(browser, kumppani, provider_id), browser)
    assert await counts(migrated_url) == {"person": 0, "external_identity": 0, "auth_session": 0}


async def test_a_userinfo_endpoint_that_fails_costs_the_name_not_the_sign_in(
    kumppani: LiveServer, op: TestProvider, provider_id: str, browser: httpx.AsyncClient
) -> None:
    op.misbehave = {"profile_in_userinfo", "userinfo_down"}
    assert (await sign_in(browser, kumppani, provider_id)).headers["location"] == "/welcome?next=%2F"


async def test_a_person_without_a_team_is_told_who_can_add_them(
    kumppani: LiveServer, op: TestProvider, provider_id: str, browser: httpx.AsyncClient
) -> None:
    assert (await sign_in(browser, kumppani, provider_id)).status_code == 303
    home = await browser.get(f"{kumppani.base}/")
    assert home.status_code == 200
    for key in ("no_team.title", "no_team.who_professional", "no_team.who_coach", "no_team.who_admin"):
        assert FI(key) in home.text
    assert FI("no_team.email", email="paula@example.fi") in home.text


# ------------------------------------------------------------------ PKCE and cookie size


async def test_pkce_s256_is_used_and_the_provider_checks_the_verifier(
    kumppani: LiveServer, op: TestProvider, provider_id: str, browser: httpx.AsyncClient
) -> None:
    assert (await sign_in(browser, kumppani, provider_id)).status_code == 303
    [asked] = op.authorize_requests
    [exchanged] = op.token_requests
    assert asked["code_challenge_method"] == "S256"
    assert asked["code_challenge"] == s256(exchanged["code_verifier"])
    assert asked["nonce"] and asked["state"] and "openid" in asked["scope"].split()

    # Kumppani's side of PKCE: a fresh verifier for every sign-in, never on the front channel
    # (whoever sees the authorize address or the callback cannot redeem the code without it).
    start = await browser.get(f"{kumppani.base}/signin/oidc/{provider_id}")
    assert exchanged["code_verifier"] not in start.headers["location"]
    assert (await sign_in(browser, kumppani, provider_id)).status_code == 303
    second_ask, second_exchange = op.authorize_requests[-1], op.token_requests[-1]
    assert second_exchange["code_verifier"] != exchanged["code_verifier"]
    assert second_ask["code_challenge"] == s256(second_exchange["code_verifier"]) != asked["code_challenge"]
    assert len(second_exchange["code_verifier"]) >= 43  # RFC 7636: 43 to 128 characters


async def test_the_provider_refuses_a_token_request_without_a_verifier(
    kumppani: LiveServer, op: TestProvider, provider_id: str, browser: httpx.AsyncClient
) -> None:
    start = await browser.get(f"{kumppani.base}/signin/oidc/{provider_id}")
    callback = (await browser.get(start.headers["location"])).headers["location"]
    code = parse_qs(urlsplit(callback).query)["code"][0]
    refused = await browser.post(
        f"{op.issuer}/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": op.redirect_uri},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert refused.status_code == 400
    # The code is spent: Kumppani's own (correct) exchange now fails too, and no session is made.
    assert_refused(await browser.get(callback), browser)


async def test_twenty_abandoned_sign_ins_leave_one_small_cookie(
    kumppani: LiveServer, make_provider: ProviderFactory, migrated_url: str, browser: httpx.AsyncClient
) -> None:
    ops = [make_provider(), make_provider()]
    ids = [await register(migrated_url, ops[0], "Yksi"), await register(migrated_url, ops[1], "Kaksi")]
    for i in range(20):
        start = await browser.get(f"{kumppani.base}/signin/oidc/{ids[i % 2]}?next=/boards/{'x' * 150}")
        assert start.status_code == 303
    request = browser.build_request("GET", f"{kumppani.base}/signin/oidc/callback")
    cookie_header = request.headers.get("cookie", "")
    assert cookie_header.count("kumppani-oidc=") == 1
    assert len(cookie_header) < 4096
    assert len(browser.cookies["kumppani-oidc"]) < 1000
    # The latest attempt still finishes.
    callback = (await browser.get(start.headers["location"])).headers["location"]
    assert (await browser.get(callback)).status_code == 303


# ------------------------------------------------------------------ domain and CLI


def test_issuers_must_be_https_except_on_this_machine() -> None:
    assert oidc.check_issuer("https://login.example.fi") == "https://login.example.fi"
    assert oidc.check_issuer("http://127.0.0.1:9000") == "http://127.0.0.1:9000"
    for bad in ("http://login.example.fi", "ftp://x", "https://login.example.fi?x=1", "", " https://a.fi"):
        with pytest.raises(oidc.OidcError):
            oidc.check_issuer(bad)


def test_pending_sign_in_is_signed_and_expires() -> None:
    keys = ("k" * 40,)
    pending = oidc.PendingLogin("p" * 32, "s" * 43, "n" * 43, "v" * 64, "/boards/1")
    sealed = oidc.seal_pending(keys, pending)
    assert oidc.open_pending(keys, sealed) == pending
    with pytest.raises(oidc.OidcError):
        oidc.open_pending(("other" * 10,), sealed)
    with pytest.raises(oidc.OidcError):
        oidc.open_pending(keys, sealed, max_age=-1)


def _cli(monkeypatch: pytest.MonkeyPatch, database_url: str, data_dir: Path, *keys: str) -> Callable[..., int]:
    from server.cli import main

    monkeypatch.setenv("KUMPPANI_DATABASE_URL", database_url)
    monkeypatch.setenv("KUMPPANI_DATA_DIR", str(data_dir))
    monkeypatch.setenv("KUMPPANI_SECRET_KEY", ",".join(keys or SECRET_KEYS))
    return lambda *args: main(list(args))


def _rows(database_url: str) -> list[Any]:
    import asyncio

    async def read() -> list[Any]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(select(IdentityProvider).order_by(IdentityProvider.name))).all())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_cli_adds_several_providers_after_checking_their_discovery(
    make_provider: ProviderFactory,
    migrated_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli = _cli(monkeypatch, migrated_url, tmp_path)
    first, second, lying = make_provider(), make_provider(), make_provider()
    for name, op in (("Kunta A", first), ("Kunta B", second)):
        args = ["provider", "add", "--name", name, "--issuer", op.issuer, "--client-id", "kp"]
        assert cli(*args, "--client-secret", "very-secret-value") == 0
    assert first.fetched == ["discovery"]  # add asked the provider itself
    capsys.readouterr()

    dup = ["provider", "add", "--name", "Taas A", "--issuer", first.issuer, "--client-id", "kp"]
    assert cli(*dup, "--client-secret", "s") == 2
    assert "already exists" in capsys.readouterr().err
    plain_http = ["provider", "add", "--name", "X", "--issuer", "http://x.fi", "--client-id", "k"]
    assert cli(*plain_http, "--client-secret", "s") == 2
    assert "https://" in capsys.readouterr().err
    lying.misbehave = {"metadata_issuer"}
    assert (
        cli("provider", "add", "--name", "V", "--issuer", lying.issuer, "--client-id", "k", "--client-secret", "s") == 2
    )
    assert "names another issuer" in capsys.readouterr().err
    lying.stop()
    assert (
        cli("provider", "add", "--name", "V", "--issuer", lying.issuer, "--client-id", "k", "--client-secret", "s") == 2
    )
    assert "did not answer" in capsys.readouterr().err

    assert cli("provider", "list") == 0
    out = capsys.readouterr().out
    assert "Kunta A" in out and second.issuer in out and "/signin/oidc/callback" in out
    assert "very-secret-value" not in out  # secrets are never listed
    rows = _rows(migrated_url)
    assert [r.name for r in rows] == ["Kunta A", "Kunta B"]
    # Not in plain text in the database either.
    assert all(r.client_secret.startswith("fernet:") and "very-secret-value" not in r.client_secret for r in rows)


def test_cli_edits_disables_and_removes_a_provider(
    kumppani: LiveServer,
    op: TestProvider,
    migrated_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import asyncio

    cli = _cli(monkeypatch, migrated_url, tmp_path)
    assert (
        cli("provider", "add", "--name", "Vanha", "--issuer", op.issuer, "--client-id", "wrong", "--client-secret", "x")
        == 0
    )
    [row] = _rows(migrated_url)

    async def attempt() -> int:
        async with httpx.AsyncClient(follow_redirects=False, timeout=20) as browser:
            return (await sign_in(browser, kumppani, row.id)).status_code

    # Wrong client: the provider refuses to send the person back.
    with pytest.raises(AssertionError):
        asyncio.run(attempt())
    assert (
        cli(
            "provider",
            "edit",
            row.id,
            "--name",
            "Uusi nimi",
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
        )
        == 0
    )
    assert "Changed: client_id, client_secret, client_secret_env, name." in capsys.readouterr().out
    assert asyncio.run(attempt()) == 303

    assert cli("provider", "disable", row.id) == 0
    page = httpx.get(f"{kumppani.base}/signin")
    assert "Uusi nimi" not in page.text
    assert httpx.get(f"{kumppani.base}/signin/oidc/{row.id}").status_code == 404
    assert cli("provider", "edit", row.id, "--enable") == 0
    assert "Kirjaudu: Uusi nimi" in httpx.get(f"{kumppani.base}/signin").text

    assert cli("provider", "edit", "no-such-provider", "--name", "X") == 2
    assert "no sign-in provider with this id" in capsys.readouterr().err
    assert cli("provider", "edit", row.id, "--client-secret", "a", "--client-secret-env", "B") == 2
    assert "not both" in capsys.readouterr().err
    assert cli("provider", "remove", row.id) == 0
    assert _rows(migrated_url) == []
    assert cli("provider", "remove", row.id) == 2

    async def audited() -> list[Any]:
        engine = create_engine(migrated_url)
        try:
            async with engine.connect() as conn:
                return list(
                    (
                        await conn.execute(
                            select(AuditEvent.action, AuditEvent.details)
                            .where(AuditEvent.object_id == row.id)
                            .order_by(AuditEvent.id)
                        )
                    ).all()
                )
        finally:
            await engine.dispose()

    events = asyncio.run(audited())
    assert [e.action for e in events] == [
        "provider.added",
        "provider.edited",
        "provider.edited",
        "provider.edited",
        "provider.removed",
    ]
    assert CLIENT_SECRET not in str(events)  # which fields changed, never their values


# ------------------------------------------------------------------ client secrets


async def test_the_secret_can_come_from_an_environment_variable(
    kumppani: LiveServer, op: TestProvider, migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider_id = await register(migrated_url, op, client_secret_env="TEST_IDP_CLIENT_SECRET")
    async with httpx.AsyncClient(follow_redirects=False, timeout=20) as browser:
        # Not set in this process: the exchange is never tried with a wrong secret.
        assert_refused(await sign_in(browser, kumppani, provider_id), browser)
    assert op.token_requests == []
    monkeypatch.setenv("TEST_IDP_CLIENT_SECRET", CLIENT_SECRET)
    async with httpx.AsyncClient(follow_redirects=False, timeout=20) as browser:
        assert (await sign_in(browser, kumppani, provider_id)).status_code == 303


async def test_doctor_says_when_a_providers_secret_cannot_be_read(
    op: TestProvider, migrated_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.doctor import run_doctor

    await register(migrated_url, op, "Ympäristöstä", client_secret_env="TEST_IDP_DOCTOR_SECRET")
    monkeypatch.delenv("TEST_IDP_DOCTOR_SECRET", raising=False)
    settings = settings_for(migrated_url, tmp_path)
    ok, report = await run_doctor(settings)
    assert not ok and "✗ sign-in provider Ympäristöstä" in report and "TEST_IDP_DOCTOR_SECRET" in report
    monkeypatch.setenv("TEST_IDP_DOCTOR_SECRET", "x")
    ok, report = await run_doctor(settings)
    assert ok and "✓ sign-in provider Ympäristöstä: client secret readable" in report


def test_sealed_secrets_survive_a_key_rotation() -> None:
    from auth import oidc_secrets

    old, new = "old-secret-key-" + "o" * 32, "new-secret-key-" + "n" * 32
    sealed = oidc_secrets.seal((old,), "the client secret")
    assert "the client secret" not in sealed
    assert oidc_secrets.unseal((new, old), sealed) == "the client secret"  # old key still opens
    with pytest.raises(oidc.OidcError):
        oidc_secrets.unseal((new,), sealed)  # a key no longer in the list does not
    assert oidc_secrets.seal((old,), "the client secret") != sealed  # never the same text twice


def test_migrate_seals_plain_secrets_and_moves_them_to_the_newest_key(
    migrated_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from sqlalchemy import insert

    from auth import oidc_secrets

    old, new = "old-secret-key-" + "o" * 32, "new-secret-key-" + "n" * 32

    async def seed() -> None:
        engine = create_engine(migrated_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    insert(IdentityProvider).values(
                        id="p" * 32, name="Vanha", issuer="https://a.example.fi", client_id="c", client_secret="plain"
                    )
                )
                await conn.execute(
                    insert(IdentityProvider).values(
                        id="q" * 32,
                        name="Sinetöity",
                        issuer="https://b.example.fi",
                        client_id="c",
                        client_secret=oidc_secrets.seal((old,), "sealed-before"),
                    )
                )
        finally:
            await engine.dispose()

    asyncio.run(seed())
    assert _cli(monkeypatch, migrated_url, tmp_path, new, old)("migrate") == 0
    stored = {r.name: r.client_secret for r in _rows(migrated_url)}
    assert all(value.startswith("fernet:") for value in stored.values())
    assert oidc_secrets.unseal((new,), stored["Vanha"]) == "plain"
    assert oidc_secrets.unseal((new,), stored["Sinetöity"]) == "sealed-before"  # the old key can now go


# ------------------------------------------------------------------ discovery and key cache


async def test_discovery_and_keys_are_kept_between_sign_ins_and_refetched_for_a_new_key(
    kumppani: LiveServer, op: TestProvider, provider_id: str
) -> None:
    for _ in range(2):
        async with httpx.AsyncClient(follow_redirects=False, timeout=20) as browser:
            assert (await sign_in(browser, kumppani, provider_id)).status_code == 303
    assert op.fetched == ["discovery", "jwks"]
    op.rotate_key()  # the provider signs with a key id the kept set does not have
    async with httpx.AsyncClient(follow_redirects=False, timeout=20) as browser:
        assert (await sign_in(browser, kumppani, provider_id)).status_code == 303
    assert op.fetched == ["discovery", "jwks", "jwks"]


async def test_kept_metadata_expires_and_unknown_key_ids_do_not_hammer_the_provider(
    kumppani: LiveServer, op: TestProvider
) -> None:
    now = [1000.0]
    cache = oidc.MetadataCache(lifetime=600, refetch_interval=60, clock=lambda: now[0])
    async with httpx.AsyncClient(timeout=20) as http:
        metadata = await cache.metadata(http, op.issuer)
        await cache.keys(http, metadata, key_id=op.key.kid)
        for _ in range(3):
            assert await cache.metadata(http, op.issuer) is metadata
            await cache.keys(http, metadata, key_id="made-up")  # refetched once, then not within a minute
        assert op.fetched == ["discovery", "jwks", "jwks"]
        now[0] += 61
        await cache.keys(http, metadata, key_id="made-up")
        await cache.keys(http, metadata, key_id=op.key.kid)
        assert op.fetched == ["discovery", "jwks", "jwks", "jwks"]
        now[0] += 600
        await cache.metadata(http, op.issuer)
        await cache.keys(http, metadata, key_id=op.key.kid)
        assert op.fetched == ["discovery", "jwks", "jwks", "jwks", "discovery", "jwks"]
        op.misbehave = {"metadata_issuer"}
        now[0] += 600
        with pytest.raises(oidc.OidcError):
            await cache.metadata(http, op.issuer)  # a bad answer is not kept in place of the good one
        op.misbehave = set()
        assert (await cache.metadata(http, op.issuer)).issuer == op.issuer
