"""OpenID Connect sign-in for professionals and coaches.

The flow, in three steps the web layer strings together:

1. :func:`start_login` reads the provider's discovery document (its ``issuer``
   must equal the configured issuer exactly; kept for an hour by
   :class:`MetadataCache`), makes a fresh ``state``, ``nonce`` and PKCE
   ``code_verifier`` and returns the authorization URL together with a small
   signed value holding them (:func:`seal_pending`). The web layer keeps that
   value in one short-lived HttpOnly cookie, so it is bound to the browser; a
   new attempt replaces it, it never piles up.
2. :func:`finish_login` checks the callback against that value, exchanges the
   code (with the verifier and the client secret, unsealed for that request by
   :mod:`auth.oidc_secrets`) and validates the ID token against the provider's
   JWKS (fetched again when the token names a key id the kept set lacks):
   signature, ``iss``, ``aud`` (and ``azp`` with several audiences), ``nonce``,
   ``exp`` and ``iat``. Name and e-mail missing from the ID token are asked
   from the userinfo endpoint, whose ``sub`` must be the same.
3. :func:`find_or_create_person` keys people by (issuer, subject). Never by
   e-mail: the same address from two providers is two accounts. The provider's
   name and e-mail replace the stored ones at each sign-in.

Providers live in the ``identity_provider`` table; several can be enabled at
once. Authlib's OAuth 2.0/OIDC primitives build the requests and check the ID
token claims, joserfc verifies the signature, httpx does the talking.

The provider registry is :mod:`auth.oidc_providers` (re-exported here): it needs
none of those libraries, so a server loads this module, and them, only when a
sign-in actually goes to a provider (see ``server/oidc_routes.py``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.auth import encode_client_secret_basic, encode_client_secret_post
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from auth import audit
from auth.models import ExternalIdentity, Person
from auth.oidc_providers import LOOPBACK_HOSTS as LOOPBACK_HOSTS
from auth.oidc_providers import OidcError as OidcError
from auth.oidc_providers import Provider as Provider
from auth.oidc_providers import ProviderChoice as ProviderChoice
from auth.oidc_providers import add_provider as add_provider
from auth.oidc_providers import check_issuer as check_issuer
from auth.oidc_providers import edit_provider as edit_provider
from auth.oidc_providers import enabled_providers as enabled_providers
from auth.oidc_providers import find_provider as find_provider
from auth.oidc_providers import get_provider as get_provider
from auth.oidc_providers import list_providers as list_providers
from auth.oidc_providers import remove_provider as remove_provider
from auth.oidc_secrets import client_secret
from auth.redirects import safe_next
from auth.tokens import TokenError, check_timed, make_timed
from foundation.db import new_id

log = logging.getLogger("kumppani.oidc")

SCOPE = "openid profile email"
#: How long a started sign-in may take before the provider sends the browser back.
LOGIN_MAX_AGE = 600
#: Clock skew allowed between us and the provider, in seconds.
LEEWAY = 60
#: An ID token fresh from the token endpoint; an older one is a replay.
MAX_ID_TOKEN_AGE = 600
#: Asymmetric signatures only: never "none", never a MAC keyed with the client secret.
ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_MAX_SEALED = 2000
_MAX_ID_TOKEN = 16_000


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]
    token_auth_methods: tuple[str, ...]
    userinfo_endpoint: str | None = None


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """A started sign-in, kept signed in the browser until the provider sends it back."""

    provider_id: str
    state: str
    nonce: str
    code_verifier: str
    return_to: str


@dataclass(frozen=True, slots=True)
class SignedInPerson:
    person_id: str
    #: False when neither the provider nor the person has given a name others can see.
    has_name: bool


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    issuer: str
    subject: str
    display_name: str | None
    email: str | None


# ------------------------------------------------------------------ talking to the provider


def _endpoint(value: Any, allow_http: bool) -> str:
    if not isinstance(value, str) or len(value) > 2000:
        raise OidcError("metadata_malformed")
    parts = urlsplit(value)
    if not parts.hostname or parts.fragment:
        raise OidcError("metadata_malformed")
    if parts.scheme != "https" and not (allow_http and parts.scheme == "http"):
        raise OidcError("metadata_not_https")
    return value


async def _get_json(http: httpx.AsyncClient, url: str, reason: str) -> dict[str, Any]:
    try:
        response = await http.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError:
        raise OidcError(f"{reason}_unreachable") from None
    if response.status_code != 200:
        raise OidcError(f"{reason}_status_{response.status_code}")
    try:
        data = response.json()
    except ValueError:
        raise OidcError(f"{reason}_not_json") from None
    if not isinstance(data, dict):
        raise OidcError(f"{reason}_not_json")
    return data


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


async def discover(http: httpx.AsyncClient, issuer: str) -> ProviderMetadata:
    """The provider's metadata; its ``issuer`` must be the configured issuer, character for character."""
    data = await _get_json(http, discovery_url(issuer), "discovery")
    if not isinstance(data.get("issuer"), str) or not hmac.compare_digest(data["issuer"], issuer):
        raise OidcError("metadata_issuer_mismatch")
    allow_http = urlsplit(issuer).scheme == "http"
    offered = data.get("id_token_signing_alg_values_supported") or ["RS256"]
    if not isinstance(offered, list):
        raise OidcError("metadata_malformed")
    algorithms = tuple(a for a in offered if isinstance(a, str) and a in ALLOWED_ALGORITHMS)
    if not algorithms:
        raise OidcError("no_usable_algorithm")
    methods = data.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if not isinstance(methods, list):
        raise OidcError("metadata_malformed")
    return ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=_endpoint(data.get("authorization_endpoint"), allow_http),
        token_endpoint=_endpoint(data.get("token_endpoint"), allow_http),
        jwks_uri=_endpoint(data.get("jwks_uri"), allow_http),
        algorithms=algorithms,
        token_auth_methods=tuple(m for m in methods if isinstance(m, str)),
        userinfo_endpoint=(
            _endpoint(data["userinfo_endpoint"], allow_http) if data.get("userinfo_endpoint") is not None else None
        ),
    )


async def fetch_keys(http: httpx.AsyncClient, jwks_uri: str) -> KeySet:
    data = await _get_json(http, jwks_uri, "jwks")
    keys = data.get("keys")
    if not isinstance(keys, list):
        raise OidcError("jwks_malformed")
    # Signing keys only, and never a symmetric one: a shared key in a public set signs for anyone.
    usable = [k for k in keys if isinstance(k, dict) and k.get("kty") != "oct" and k.get("use", "sig") == "sig"]
    try:
        return KeySet.import_key_set({"keys": usable})
    except (JoseError, ValueError, TypeError, KeyError):
        raise OidcError("jwks_malformed") from None


def _key_id(id_token: str) -> str | None:
    """The ``kid`` in the token's header, unverified: only to tell whether the key set is current."""
    try:
        header = json.loads(_unb64(id_token.split(".", 1)[0][:2000]))
    except (ValueError, binascii.Error):
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


class MetadataCache:
    """Providers' discovery documents and key sets, kept for ``lifetime`` seconds.

    A sign-in then costs the provider one token request (and userinfo), not
    three more. An ID token signed with a key id the cached set lacks means the
    provider rotated its keys: the set is fetched again at once, but at most once
    per ``refetch_interval``, so that tokens with made-up key ids cannot make us
    hammer the provider. Failures are not kept: the next sign-in asks again.
    One per process; ``clock`` is there for the tests.
    """

    def __init__(
        self, *, lifetime: float = 3600.0, refetch_interval: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lifetime = lifetime
        self.refetch_interval = refetch_interval
        self.clock = clock
        self._metadata: dict[str, tuple[float, ProviderMetadata]] = {}
        self._keys: dict[str, tuple[float, KeySet]] = {}
        self._refetched: dict[str, float] = {}  # when a key set was last fetched for an unknown key id

    def _fresh(self, fetched_at: float) -> bool:
        return self.clock() - fetched_at < self.lifetime

    async def metadata(self, http: httpx.AsyncClient, issuer: str) -> ProviderMetadata:
        cached = self._metadata.get(issuer)
        if cached is not None and self._fresh(cached[0]):
            return cached[1]
        metadata = await discover(http, issuer)
        self._metadata[issuer] = (self.clock(), metadata)
        return metadata

    async def keys(self, http: httpx.AsyncClient, metadata: ProviderMetadata, *, key_id: str | None) -> KeySet:
        uri = metadata.jwks_uri
        cached = self._keys.get(uri)
        if cached is not None and self._fresh(cached[0]):
            keys = cached[1]
            if key_id is None or any(k.kid == key_id for k in keys.keys):
                return keys
            last = self._refetched.get(uri)
            if last is not None and self.clock() - last < self.refetch_interval:
                return keys  # the signature check refuses the token
            self._refetched[uri] = self.clock()
        keys = await fetch_keys(http, uri)
        self._keys[uri] = (self.clock(), keys)
        return keys


# ------------------------------------------------------------------ the pending sign-in


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal_pending(secret_keys: Sequence[str], pending: PendingLogin) -> str:
    """The pending sign-in as one short signed value (about 400 bytes)."""
    payload = json.dumps(
        {
            "p": pending.provider_id,
            "s": pending.state,
            "n": pending.nonce,
            "v": pending.code_verifier,
            "r": pending.return_to,
        },
        separators=(",", ":"),
    )
    return make_timed(secret_keys, "oidc-state", _b64(payload.encode()))


def open_pending(secret_keys: Sequence[str], sealed: str, *, max_age: int = LOGIN_MAX_AGE) -> PendingLogin:
    """The pending sign-in if the value is ours, unaltered and younger than ``max_age``."""
    if not sealed or len(sealed) > _MAX_SEALED:
        raise OidcError("pending_malformed")
    try:
        data = json.loads(_unb64(check_timed(secret_keys, "oidc-state", sealed, max_age)))
    except TokenError:
        raise OidcError("pending_bad_or_expired") from None
    except (ValueError, binascii.Error):
        raise OidcError("pending_malformed") from None
    fields = ("p", "s", "n", "v", "r")
    if not isinstance(data, dict) or not all(isinstance(data.get(f), str) and data[f] for f in fields):
        raise OidcError("pending_malformed")
    return PendingLogin(data["p"], data["s"], data["n"], data["v"], safe_return_path(data["r"]))


def safe_return_path(value: str | None) -> str:
    """A path on this site to go to after signing in; anything else becomes ``/``."""
    return safe_next(value)


async def start_login(
    http: httpx.AsyncClient,
    provider: Provider,
    *,
    redirect_uri: str,
    secret_keys: Sequence[str],
    return_to: str | None = None,
    cache: MetadataCache | None = None,
) -> tuple[str, str]:
    """The authorization URL to send the browser to, and the sealed pending sign-in to keep."""
    metadata = await (cache or MetadataCache()).metadata(http, provider.issuer)
    pending = PendingLogin(
        provider_id=provider.id,
        state=generate_token(43),
        nonce=generate_token(43),
        code_verifier=generate_token(64),
        return_to=safe_return_path(return_to),
    )
    url: str = prepare_grant_uri(
        metadata.authorization_endpoint,
        provider.client_id,
        "code",
        redirect_uri=redirect_uri,
        scope=SCOPE,
        state=pending.state,
        nonce=pending.nonce,
        code_challenge=create_s256_code_challenge(pending.code_verifier),
        code_challenge_method="S256",
    )
    return url, seal_pending(secret_keys, pending)


@dataclass(frozen=True, slots=True)
class _Client:
    """What Authlib's client authentication reads: the id and the secret, for one request."""

    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"_Client(client_id={self.client_id!r})"


async def exchange_code(
    http: httpx.AsyncClient,
    provider: Provider,
    metadata: ProviderMetadata,
    *,
    code: str,
    code_verifier: str,
    redirect_uri: str,
    secret_keys: Sequence[str],
) -> dict[str, Any]:
    """Trade the code (and the PKCE verifier) for tokens at the token endpoint."""
    client = _Client(
        provider.client_id,
        client_secret(secret_keys, sealed=provider.sealed_secret, env_name=provider.client_secret_env),
    )
    body: str = prepare_token_request(
        "authorization_code", code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    encode = encode_client_secret_basic
    if "client_secret_basic" not in metadata.token_auth_methods and "client_secret_post" in metadata.token_auth_methods:
        encode = encode_client_secret_post
    url, headers, body = encode(client, "POST", metadata.token_endpoint, headers, body)
    try:
        response = await http.post(url, content=body, headers=headers)
    except httpx.HTTPError:
        raise OidcError("token_unreachable") from None
    if response.status_code != 200:
        raise OidcError(f"token_status_{response.status_code}")
    try:
        data = response.json()
    except ValueError:
        raise OidcError("token_not_json") from None
    if not isinstance(data, dict) or not isinstance(data.get("id_token"), str):
        raise OidcError("token_without_id_token")
    return data


def validate_id_token(
    id_token: str,
    *,
    keys: KeySet,
    issuer: str,
    client_id: str,
    nonce: str,
    algorithms: Sequence[str] = ("RS256",),
    access_token: str | None = None,
    now: int | None = None,
) -> dict[str, Any]:
    """The ID token's claims after checking signature, iss, aud/azp, nonce, exp and iat."""
    if len(id_token) > _MAX_ID_TOKEN:
        raise OidcError("id_token_too_long")
    allowed = [a for a in algorithms if a in ALLOWED_ALGORITHMS]
    try:
        token = jwt.decode(id_token, keys, registry=JWSRegistry(algorithms=allowed, strict_check_header=False))
    except (JoseError, ValueError, TypeError, KeyError):
        raise OidcError("id_token_signature") from None
    now = int(time.time()) if now is None else now
    params: dict[str, Any] = {"nonce": nonce, "client_id": client_id}
    if access_token:
        params["access_token"] = access_token
    claims = CodeIDToken(
        token.claims,
        token.header,
        {
            "iss": {"essential": True, "value": issuer},
            "sub": {"essential": True},
            "aud": {"essential": True, "value": client_id},
            "exp": {"essential": True},
            "iat": {"essential": True},
            "nonce": {"essential": True, "value": nonce},
        },
        params,
    )
    try:
        claims.validate(now=now, leeway=LEEWAY)
    except JoseError as exc:
        raise OidcError(f"id_token_claim_{getattr(exc, 'claim', None) or exc.error}") from None
    except (ValueError, TypeError, KeyError):
        raise OidcError("id_token_malformed") from None
    # Belt and braces over the library: these are the checks the whole sign-in rests on.
    if claims.get("iss") != issuer:
        raise OidcError("id_token_claim_iss")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if client_id not in audiences:
        raise OidcError("id_token_claim_aud")
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise OidcError("id_token_claim_azp")
    if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"], nonce):
        raise OidcError("id_token_claim_nonce")
    if claims["iat"] < now - MAX_ID_TOKEN_AGE - LEEWAY:
        raise OidcError("id_token_claim_iat")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= 255:
        raise OidcError("id_token_claim_sub")
    return dict(claims)


async def finish_login(
    http: httpx.AsyncClient,
    provider: Provider,
    pending: PendingLogin,
    callback: Mapping[str, str],
    *,
    redirect_uri: str,
    secret_keys: Sequence[str],
    cache: MetadataCache | None = None,
) -> VerifiedIdentity:
    """Check the provider's answer against the pending sign-in and return who signed in."""
    cache = cache or MetadataCache()
    if pending.provider_id != provider.id:
        raise OidcError("provider_mismatch")
    if "error" in callback:
        # The person said no (or cancelled) at the provider: that is not a fault to report as one.
        raise OidcError("provider_denied" if callback["error"] == "access_denied" else "provider_error")
    state = callback.get("state", "")
    if not state or not hmac.compare_digest(state.encode(), pending.state.encode()):
        raise OidcError("state_mismatch")
    code = callback.get("code", "")
    if not code or len(code) > 2000:
        raise OidcError("code_missing")
    # RFC 9207: a provider that names itself in the answer must name the issuer we started with.
    if "iss" in callback and callback["iss"] != provider.issuer:
        raise OidcError("callback_issuer_mismatch")
    metadata = await cache.metadata(http, provider.issuer)
    tokens = await exchange_code(
        http,
        provider,
        metadata,
        code=code,
        code_verifier=pending.code_verifier,
        redirect_uri=redirect_uri,
        secret_keys=secret_keys,
    )
    keys = await cache.keys(http, metadata, key_id=_key_id(tokens["id_token"]))
    access_token = tokens.get("access_token")
    claims = validate_id_token(
        tokens["id_token"],
        keys=keys,
        issuer=provider.issuer,
        client_id=provider.client_id,
        nonce=pending.nonce,
        algorithms=metadata.algorithms,
        access_token=access_token if isinstance(access_token, str) else None,
    )
    if (_display_name(claims) is None or _email(claims) is None) and metadata.userinfo_endpoint and access_token:
        # Many providers keep profile claims out of the ID token of a code flow (OIDC Core 5.4).
        claims = {**await fetch_userinfo(http, metadata.userinfo_endpoint, str(access_token), claims["sub"]), **claims}
        claims = {k: v for k, v in claims.items() if v is not None}
    return VerifiedIdentity(
        issuer=provider.issuer,
        subject=claims["sub"],
        display_name=_display_name(claims),
        email=_email(claims),
    )


async def fetch_userinfo(http: httpx.AsyncClient, endpoint: str, access_token: str, subject: str) -> dict[str, Any]:
    """The profile claims the userinfo endpoint gives; its ``sub`` must be the ID token's (OIDC Core 5.3.2).

    A provider that does not answer costs the person their name (they are asked for one), not the sign-in.
    """
    try:
        response = await http.get(
            endpoint, headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        )
    except httpx.HTTPError:
        log.warning("oidc userinfo skipped", extra={"reason": "userinfo_unreachable"})
        return {}
    if response.status_code != 200 or not response.headers.get("content-type", "").startswith("application/json"):
        log.warning("oidc userinfo skipped", extra={"reason": f"userinfo_status_{response.status_code}"})
        return {}
    try:
        data = response.json()
    except ValueError:
        log.warning("oidc userinfo skipped", extra={"reason": "userinfo_not_json"})
        return {}
    if not isinstance(data, dict):
        return {}
    if data.get("sub") != subject:
        raise OidcError("userinfo_subject_mismatch")
    return {
        k: data[k]
        for k in ("name", "given_name", "family_name", "preferred_username", "email", "email_verified")
        if k in data
    }


def _display_name(claims: Mapping[str, Any]) -> str | None:
    name = claims.get("name")
    if not isinstance(name, str) or not name.strip():
        parts = [claims.get("given_name"), claims.get("family_name")]
        name = " ".join(p for p in parts if isinstance(p, str) and p.strip())
    if not name:
        name = claims.get("preferred_username")
    if not isinstance(name, str):
        return None
    name = " ".join(name.split())[:100]
    return name or None


def _email(claims: Mapping[str, Any]) -> str | None:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or len(email) > 320 or claims.get("email_verified") is False:
        return None
    return email


# ------------------------------------------------------------------ people


async def find_or_create_person(
    conn: AsyncConnection, provider: Provider, identity: VerifiedIdentity
) -> SignedInPerson:
    """The person behind (issuer, subject), created on first sign-in. E-mail never links accounts.

    The name and e-mail the provider gives replace the stored ones at every
    sign-in (the organisation's directory is their source); what it leaves out
    is kept, such as a name the person chose because the provider gave none.

    Two first sign-ins racing each other: one insert fails on the unique
    (issuer, subject) and the caller retries, finding the other's person.
    """
    row = (
        await conn.execute(
            select(ExternalIdentity.person_id, Person.display_name, Person.disabled_at, Person.erased_at)
            .join(Person, Person.id == ExternalIdentity.person_id)
            .where(ExternalIdentity.issuer == identity.issuer, ExternalIdentity.subject == identity.subject)
        )
    ).first()
    if row is not None:
        if row.disabled_at is not None or row.erased_at is not None:
            raise OidcError("person_disabled")
        fresh = {k: v for k, v in (("display_name", identity.display_name), ("email", identity.email)) if v is not None}
        if fresh:
            await conn.execute(update(Person).where(Person.id == row.person_id).values(**fresh))
        return SignedInPerson(row.person_id, has_name=bool(identity.display_name or row.display_name))
    person_id = new_id()
    await conn.execute(
        insert(Person).values(
            id=person_id,
            display_name=identity.display_name,
            email=identity.email,
            organisation_id=provider.organisation_id,
        )
    )
    await conn.execute(
        insert(ExternalIdentity).values(
            id=new_id(), person_id=person_id, issuer=identity.issuer, subject=identity.subject
        )
    )
    await audit.record(
        conn,
        "person.created_by_signin",
        actor_id=person_id,
        object_type="person",
        object_id=person_id,
        provider_id=provider.id,
    )
    return SignedInPerson(person_id, has_name=identity.display_name is not None)
