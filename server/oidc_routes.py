"""OpenID Connect sign-in pages: start at a provider, come back to the callback.

The started sign-in (state, nonce, PKCE verifier, provider, where to go next) is
kept in one short-lived signed HttpOnly cookie. Starting again replaces it, so
abandoned attempts never make the Cookie header grow. The callback always
clears it; only a fully verified answer makes a session.

The protocol (:mod:`auth.oidc`, with authlib, joserfc, cryptography and httpx)
is imported only when a sign-in starts at an enabled provider or a callback
brings a pending sign-in cookie: a server whose people sign in with passwords
does not keep it resident.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from auth.oidc_providers import OidcError, Provider, get_provider
from auth.sessions import create_session, end_session
from server.lazy_import import import_off_loop
from server.pages import app_state as _state
from server.pages import error_page, set_session_cookie
from server.ratelimit import BucketMap
from server.security import client_address
from server.state import AppState

if TYPE_CHECKING:
    import httpx

    from auth.oidc import MetadataCache, VerifiedIdentity

log = logging.getLogger("kumppani.oidc")

CALLBACK_PATH = "/signin/oidc/callback"
HTTP_TIMEOUT_SECONDS = 10.0


def pending_cookie_name(state: AppState) -> str:
    return "__Host-kumppani-oidc" if state.settings.secure_cookies else "kumppani-oidc"


def redirect_uri(state: AppState) -> str:
    return state.settings.base_url + CALLBACK_PATH


def _http() -> httpx.AsyncClient:
    import httpx

    return httpx.AsyncClient(
        timeout=httpx.Timeout(HTTP_TIMEOUT_SECONDS), follow_redirects=False, headers={"User-Agent": "Kumppani"}
    )


def _start_buckets(request: Request) -> BucketMap:
    # Each start fetches the provider's metadata: keep one address from making us hammer a provider.
    buckets: BucketMap | None = getattr(request.app.state, "oidc_start_buckets", None)
    if buckets is None:
        buckets = BucketMap(rate=0.5, capacity=30)
        request.app.state.oidc_start_buckets = buckets
    return buckets


def _metadata_cache(request: Request) -> MetadataCache:
    """This process's cache of providers' discovery documents and keys (made at the first sign-in)."""
    from auth.oidc import MetadataCache

    cache: MetadataCache | None = getattr(request.app.state, "oidc_metadata_cache", None)
    if cache is None:
        cache = MetadataCache()
        request.app.state.oidc_metadata_cache = cache
    return cache


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _clear_pending(response: Response, state: AppState) -> None:
    response.delete_cookie(
        pending_cookie_name(state), path="/", secure=state.settings.secure_cookies, httponly=True, samesite="lax"
    )


def refusal_page(reason: str) -> tuple[int, str]:
    """What the person is told about a refused sign-in: the status and the page's text key."""
    if reason == "no_pending_login":
        return 400, "error.oidc_expired"
    if reason == "provider_denied":
        return 400, "error.oidc_cancelled"
    if reason.endswith("_unreachable") or re.fullmatch(r"(discovery|jwks|token)_status_5\d\d", reason):
        return 502, "error.oidc_unreachable"
    return 400, "error.oidc"


def _failure(request: Request, reason: str, provider_id: str | None = None) -> Response:
    # The reason is a fixed word of ours: never a token, a code or what the provider wrote.
    log.warning("oidc sign-in refused", extra={"reason": reason, "provider_id": provider_id or "-"})
    status, key = refusal_page(reason)
    response = error_page(request, status, key)
    _clear_pending(response, _state(request))
    return _no_store(response)


async def oidc_start(request: Request) -> Response:
    state = _state(request)
    # The sign-in page links here. Another site may link here too, but it must not start a sign-in in
    # someone's browser behind their back: send such a visit to the sign-in page, where they choose.
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return _no_store(RedirectResponse("/signin", status_code=303))
    bucket = _start_buckets(request).get(client_address(request))
    if not bucket.take():
        return error_page(request, 429, "error.429", headers={"Retry-After": str(int(bucket.retry_after()) + 1)})
    async with state.engine.connect() as conn:
        provider = await get_provider(conn, request.path_params["provider_id"])
    if provider is None:
        return error_page(request, 404)
    await import_off_loop("auth.oidc")
    from auth import oidc

    try:
        async with _http() as http:
            url, sealed = await oidc.start_login(
                http,
                provider,
                redirect_uri=redirect_uri(state),
                secret_keys=state.settings.secret_keys,
                return_to=request.query_params.get("next"),
                cache=_metadata_cache(request),
            )
    except OidcError as exc:
        return _failure(request, exc.reason, provider.id)
    response = RedirectResponse(url, status_code=303)
    # One cookie, always the same name: a new attempt overwrites the previous one.
    response.set_cookie(
        pending_cookie_name(state),
        sealed,
        max_age=oidc.LOGIN_MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",  # the provider sends the browser back with a top-level GET
        secure=state.settings.secure_cookies,
    )
    return _no_store(response)


async def oidc_callback(request: Request) -> Response:
    state = _state(request)
    sealed = request.cookies.get(pending_cookie_name(state))
    if not sealed:
        return _failure(request, "no_pending_login")
    await import_off_loop("auth.oidc")
    from auth import oidc

    pending = None
    try:
        pending = oidc.open_pending(state.settings.secret_keys, sealed)
        async with state.engine.connect() as conn:
            provider = await get_provider(conn, pending.provider_id)
        if provider is None:
            raise OidcError("provider_gone")
        async with _http() as http:
            identity = await oidc.finish_login(
                http,
                provider,
                pending,
                dict(request.query_params),
                redirect_uri=redirect_uri(state),
                secret_keys=state.settings.secret_keys,
                cache=_metadata_cache(request),
            )
        token, has_name = await _sign_in(request, state, provider, identity)
    except OidcError as exc:
        return _failure(request, exc.reason, pending.provider_id if pending else None)
    # Without a name others can see, the person picks one first (as a customer does after an invite).
    target = pending.return_to if has_name else f"/welcome?{urlencode({'next': pending.return_to})}"
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, state, token)
    _clear_pending(response, state)
    return _no_store(response)


async def _sign_in(
    request: Request, state: AppState, provider: Provider, identity: VerifiedIdentity
) -> tuple[str, bool]:
    """A new session for the person behind the identity (and whether they have a name); an earlier
    session in this browser ends."""
    from auth import oidc  # loaded already: the identity comes from it

    for attempt in (1, 2):
        try:
            async with state.engine.begin() as conn:
                person = await oidc.find_or_create_person(conn, provider, identity)
                token = await create_session(
                    conn,
                    person.person_id,
                    absolute=timedelta(hours=state.settings.session_absolute_hours),
                    user_agent=request.headers.get("user-agent"),
                )
                old = request.cookies.get(state.cookie_name)
                if old:
                    await end_session(conn, old)
            return token, person.has_name
        except IntegrityError:
            # Another first sign-in of the same (issuer, subject) won the race: take its person.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def oidc_routes() -> list[BaseRoute]:
    return [
        # The callback first: otherwise "callback" would be taken for a provider id.
        Route(CALLBACK_PATH, oidc_callback, methods=["GET"]),
        Route("/signin/oidc/{provider_id}", oidc_start, methods=["GET"]),
    ]
