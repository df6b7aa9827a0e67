"""Web security: response headers with a per-request CSP nonce, and CSRF checks.

State-changing requests must come from our own pages: the Origin (or
Sec-Fetch-Site) header must say so, and the form must carry the CSRF token that
matches the CSRF cookie (double submit). GET and HEAD never change anything.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from foundation.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_cookie_name(settings: Settings) -> str:
    return "__Host-kumppani-csrf" if settings.secure_cookies else "kumppani-csrf"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.origin = _origin(settings.base_url)
        ws_origin = self.origin.replace("https://", "wss://").replace("http://", "ws://")
        self.connect_src = f"'self' {ws_origin}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        method = scope["method"]
        if method not in SAFE_METHODS and not self._same_origin(scope):
            await _plain(send, 403, "This request did not come from Kumppani's own page.")
            return
        csrf_token = _cookie(scope, csrf_cookie_name(self.settings))
        new_csrf = None
        if not csrf_token:
            new_csrf = secrets.token_urlsafe(24)
            scope["state"]["csrf_token"] = new_csrf
        else:
            scope["state"]["csrf_token"] = csrf_token

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(self._headers(nonce))
                if new_csrf is not None:
                    headers.append((b"set-cookie", self._csrf_cookie(new_csrf)))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _same_origin(self, scope: Scope) -> bool:
        headers = dict(scope.get("headers", []))
        origin = headers.get(b"origin")
        # Under Referrer-Policy: no-referrer browsers send "Origin: null" with form posts;
        # Sec-Fetch-Site then tells where the request came from.
        if origin is not None and origin != b"null":
            allowed = {self.origin}
            host = headers.get(b"host")
            if host and not self.settings.is_production:
                allowed.add(f"http://{host.decode('latin-1')}")
            return origin.decode("latin-1").rstrip("/") in allowed
        site = headers.get(b"sec-fetch-site")
        if site is not None:
            return site in (b"same-origin", b"none")
        # Neither header: not a browser (browsers send Origin on every POST). The CSRF token still applies.
        return True

    def _csrf_cookie(self, value: str) -> bytes:
        parts = [f"{csrf_cookie_name(self.settings)}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if self.settings.secure_cookies:
            parts.append("Secure")
        return "; ".join(parts).encode()

    def _headers(self, nonce: str) -> list[tuple[bytes, bytes]]:
        csp = (
            f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; "
            f"font-src 'self'; connect-src {self.connect_src}; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'; form-action 'self'; report-uri /csp-report"
        )
        headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        if self.settings.secure_cookies:
            headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
        return headers


def _cookie(scope: Scope, name: str) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for key, value in headers:
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == name:
                    return v
    return None


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def csrf_form(request: Request) -> FormData:
    """The submitted form, after checking its CSRF token against the cookie."""
    form = await request.form()
    sent = form.get("csrf")
    expected = request.cookies.get(csrf_cookie_name(request.app.state.kumppani.settings))
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "csrf")
    return form


def csrf_token(request: Request) -> str:
    token: str = request.scope.get("state", {}).get("csrf_token", "")
    return token


def csp_nonce(request: Request) -> str:
    nonce: str = request.scope.get("state", {}).get("csp_nonce", "")
    return nonce


def install_security(app: Starlette, settings: Settings) -> None:
    app.add_middleware(SecurityHeadersMiddleware, settings=settings)


def client_address(request: Request) -> str:
    client: Any = request.client
    return str(client.host) if client else "unknown"
