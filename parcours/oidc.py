"""An OpenID Connect provider as the services see it (Pro Santé Connect in production).

- **Discovery**: PSC publishes its metadata at the non-standard
  ``<issuer>/.well-known/wallet-openid-configuration``; other providers at the
  standard ``<issuer>/.well-known/openid-configuration``. Both are tried, PSC's
  first; the document's ``issuer`` must be the configured one, exactly.
- **Keys**: the provider's JWKS is fetched once and cached. A token whose ``kid``
  is not in the cache makes one refetch (the provider rotated its keys), at most
  once per ``PARCOURS_OIDC_JWKS_MIN_REFRESH_SECONDS``: a stream of tokens with
  made-up ``kid``s cannot make the service hammer the provider.
- **Verification** (``verify``): RS256 or ES256 only, signature, ``iss``, ``aud``
  (the client id unless ``PARCOURS_OIDC_AUDIENCE``), ``exp`` (and ``nbf``/``iat``
  with 30 s of leeway), ``acr`` (``eidas1``), and ``SubjectNameID``: ``8`` and an
  11-digit RPPS (12 characters). The token says who the professional is, nothing
  more: her role, CPTS and zones come from the directory (``parcours.directory_identity``).
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import jwt
import msgspec

from parcours.settings import AuthSettings

DISCOVERY_PATHS = (
    "/.well-known/wallet-openid-configuration",  # Pro Santé Connect
    "/.well-known/openid-configuration",  # the standard
)
ALGORITHMS = ["RS256", "ES256"]
SUBJECT_NAME_ID = re.compile(r"^8[0-9]{11}$")  # "8" + RPPS
LEEWAY_SECONDS = 30


class OidcError(Exception):
    """A token or a provider answer that cannot be trusted; the message says why."""


class ProviderMetadata(msgspec.Struct, frozen=True):
    issuer: str
    jwks_uri: str
    authorization_endpoint: str
    token_endpoint: str
    end_session_endpoint: str | None = None
    userinfo_endpoint: str | None = None


def rpps_of(subject_name_id: object) -> str:
    """The RPPS inside a PSC ``SubjectNameID`` (``8`` + 11 digits)."""
    if not isinstance(subject_name_id, str) or not SUBJECT_NAME_ID.match(subject_name_id):
        raise OidcError("the token's SubjectNameID is not 8 followed by an 11-digit RPPS")
    return subject_name_id[1:]


class OidcProvider:
    """Discovery, the key cache and token verification for one configured issuer."""

    def __init__(self, auth: AuthSettings, *, http: httpx.AsyncClient | None = None) -> None:
        if not auth.oidc_issuer or not auth.oidc_client_id:
            raise ValueError("an OpenID provider needs PARCOURS_OIDC_ISSUER and _CLIENT_ID")
        self.issuer = auth.oidc_issuer.rstrip("/")
        self.client_id = auth.oidc_client_id
        self.audience = auth.oidc_audience or auth.oidc_client_id
        self.acr = auth.oidc_acr
        self._min_refresh = auth.oidc_jwks_min_refresh_seconds
        self._http = http or httpx.AsyncClient(timeout=10.0)
        self._metadata: ProviderMetadata | None = None
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self.jwks_fetches = 0  # how many times the key set was fetched (tests, health)

    async def metadata(self) -> ProviderMetadata:
        if self._metadata is None:
            self._metadata = await self._discover()
        return self._metadata

    async def _discover(self) -> ProviderMetadata:
        reasons = []
        for path in DISCOVERY_PATHS:
            try:
                answer = await self._http.get(self.issuer + path)
            except httpx.HTTPError as exc:
                reasons.append(f"{path}: {type(exc).__name__}")
                continue
            if answer.status_code != 200:
                reasons.append(f"{path}: HTTP {answer.status_code}")
                continue
            try:
                found = msgspec.json.decode(answer.content, type=ProviderMetadata)
            except msgspec.ValidationError as exc:
                reasons.append(f"{path}: {exc}")
                continue
            if found.issuer.rstrip("/") != self.issuer:
                raise OidcError(f"the provider's discovery document names another issuer ({path})")
            return found
        raise OidcError(f"no discovery document at {self.issuer} ({'; '.join(reasons)})")

    async def _refresh_keys(self, *, force: bool) -> None:
        async with self._lock:
            now = time.monotonic()
            if (self._keys and not force) or now - self._fetched_at < self._min_refresh:
                return  # at most one attempt per interval, failed ones included
            self._fetched_at = now
            self.jwks_fetches += 1
            meta = await self.metadata()
            answer = await self._http.get(meta.jwks_uri)
            answer.raise_for_status()
            keys = {}
            try:
                for entry in jwt.PyJWKSet.from_dict(answer.json()).keys:
                    if entry.key_id and entry.public_key_use in (None, "sig"):
                        keys[entry.key_id] = entry.key
            except (ValueError, jwt.PyJWTError) as exc:
                raise OidcError(f"the provider's key set cannot be read ({exc})") from None
            self._keys = keys

    async def signing_key(self, kid: str | None) -> Any:
        if not kid:
            raise OidcError("the token names no signing key (kid)")
        if kid not in self._keys:
            try:
                await self._refresh_keys(force=True)
            except httpx.HTTPError as exc:
                raise OidcError(
                    f"the provider's keys cannot be read ({type(exc).__name__})"
                ) from exc
        key = self._keys.get(kid)
        if key is None:
            raise OidcError("the token is signed by a key the provider does not publish")
        return key

    async def verify(self, token: str, *, nonce: str | None = None) -> dict[str, Any]:
        """The verified claims of a provider's token, or ``OidcError`` saying what is wrong."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise OidcError(f"the token is not a JWT: {exc}") from None
        if header.get("alg") not in ALGORITHMS:
            raise OidcError(f"the token's algorithm must be one of {', '.join(ALGORITHMS)}")
        key = await self.signing_key(header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise OidcError("the token has expired; sign in again") from None
        except jwt.InvalidAudienceError:
            raise OidcError("the token was issued for another audience") from None
        except jwt.InvalidIssuerError:
            raise OidcError("the token was issued by another issuer") from None
        except jwt.PyJWTError as exc:
            raise OidcError(f"the token is not valid: {exc}") from None
        if self.acr and claims.get("acr") != self.acr:
            raise OidcError(f"the sign-in's assurance level (acr) must be {self.acr}")
        if nonce is not None and claims.get("nonce") != nonce:
            raise OidcError("the ID token's nonce is not the one of this sign-in")
        rpps_of(claims.get("SubjectNameID"))
        return claims

    def issued_here(self, token: str) -> bool:
        """Does the (unverified) token name this provider as its issuer?"""
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return False
        return str(claims.get("iss", "")).rstrip("/") == self.issuer
