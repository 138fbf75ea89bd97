"""Bearer JWTs: who is calling, for which CPTS, in which role.

Every route except health and the schema requires a token with ``sub``
(an RPPS or a system id), ``role`` and ``cpts``, each of the exact shape of
``contracts.shapes`` (and ``specialty``, ``zones`` when present): a token whose
claims do not fit is a 401 that says which claim. The token comes in the
``Authorization`` header; only the stream routes, which browsers open without
headers, also take ``?access_token=``. Development and tests sign
with HS256 and a shared secret; production verifies with a public key or a
JWKS URL. ``mint`` makes development tokens (``parcours token``).

With an OpenID provider configured (``PARCOURS_OIDC_ISSUER``: Pro Santé Connect),
its RS256/ES256 tokens are verified by ``parcours.oidc`` and the caller is the
directory's entry for the token's RPPS (``parcours.directory_identity``): role, CPTS
and zones never come from such a token. A browser signed in through
``parcours.signin`` is authenticated by its session cookie instead
(``parcours.web_session``), with a CSRF token on every request that changes something.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from contracts import shapes
from contracts.roles import Role
from parcours import directory_identity, web_session
from parcours.oidc import OidcError, OidcProvider, rpps_of
from parcours.principal import Principal
from parcours.problems import scrubbed
from parcours.settings import Settings

PUBLIC_PATHS = {
    "/health",
    "/schema",
    "/dashboard",
    "/coordinator",
    "/auth/",
    "/static",
    "/fhir/r4/metadata",
}
# long-lived feeds (Server-Sent Events, WebSocket): never shed, may carry ?access_token=
STREAM_PATHS = frozenset({"/v1/me/notifications/stream"})
QUERY_TOKEN_PATHS = STREAM_PATHS
CPTS_HEADER = "x-parcours-cpts"  # which CPTS, for an RPPS listed in several
# the directory's answer for a provider's token is reused this long (seconds)
DIRECTORY_CACHE_SECONDS = 30.0


class Claims(msgspec.Struct, frozen=True):
    """The claims Parcours reads from a verified token (others are ignored)."""

    sub: shapes.SubjectId
    role: shapes.RoleName  # type: ignore[valid-type]
    cpts: shapes.CptsSlug
    exp: int | float
    specialty: shapes.Specialty | None = None
    zones: shapes.Zones = []  # type: ignore[valid-type]


def checked_claims(claims: dict[str, Any]) -> Claims:
    """The claims with their types and shapes, or a 401 naming the claim at fault."""
    missing = [c for c in ("role", "cpts") if not claims.get(c)]
    if missing:
        raise NotAuthorizedException(f"the token lacks the claim(s): {', '.join(missing)}")
    try:
        return msgspec.convert(claims, Claims)
    except msgspec.ValidationError as exc:
        reason, _, where = str(exc).partition(" - at `")
        claim = where.rstrip("`").removeprefix("$.") or "?"
        raise NotAuthorizedException(
            f"the token's claim `{claim}` is not valid: {scrubbed(reason)}"
        ) from None


def mint(
    settings: Settings,
    *,
    sub: str,
    role: str,
    cpts: str,
    ttl_seconds: int = 12 * 3600,
    now: float | None = None,
    **claims: Any,
) -> str:
    if not settings.auth.jwt_secret:
        raise RuntimeError("minting needs PARCOURS_JWT_SECRET (development only)")
    issued = int(now if now is not None else time.time())
    payload = {"sub": sub, "role": role, "cpts": cpts, "iat": issued, "exp": issued + ttl_seconds}
    payload.update(claims)
    return jwt.encode(payload, settings.auth.jwt_secret, algorithm="HS256")


class TokenVerifier:
    """Verifies tokens, caching the verified principal of recent tokens until they expire."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._cache: dict[tuple[str, str | None], tuple[float, Principal]] = {}
        self._jwks = jwt.PyJWKClient(settings.auth.jwks_url) if settings.auth.jwks_url else None
        self.oidc = OidcProvider(settings.auth) if settings.auth.oidc_issuer else None

    def _key(self, token: str) -> tuple[Any, list[str]]:
        s = self._settings.auth
        if self._jwks is not None:
            return self._jwks.get_signing_key_from_jwt(token).key, ["RS256", "ES256"]
        if s.jwt_public_key:
            return s.jwt_public_key, ["RS256", "ES256"]
        return s.jwt_secret, ["HS256"]

    def _for_provider(self, token: str) -> bool:
        """Is this a token of the OpenID provider (rather than a development/system token)?"""
        if self.oidc is None:
            return False
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            return False
        s = self._settings.auth
        other_asymmetric = bool(self._jwks is not None or s.jwt_public_key)
        return alg != "HS256" and (not other_asymmetric or self.oidc.issued_here(token))

    async def verify(self, token: str, db: Any = None, cpts: str | None = None) -> Principal:
        """The caller a token names; ``db`` reads the directory for a provider's token."""
        cached = self._cache.get((token, cpts))
        if cached and cached[0] > time.time():
            return cached[1]
        if self._for_provider(token):
            principal, until = await self._provider_principal(token, db, cpts)
        else:
            principal, until = self._local_principal(token)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[(token, cpts)] = (until, principal)
        return principal

    async def _provider_principal(
        self, token: str, db: Any, cpts: str | None
    ) -> tuple[Principal, float]:
        assert self.oidc is not None
        try:
            claims = await self.oidc.verify(token)
        except OidcError as exc:
            raise NotAuthorizedException(str(exc)) from None
        principal = await directory_principal(db, rpps_of(claims["SubjectNameID"]), cpts)
        return principal, min(float(claims["exp"]), time.time() + DIRECTORY_CACHE_SECONDS)

    def _local_principal(self, token: str) -> tuple[Principal, float]:
        try:
            key, algorithms = self._key(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self._settings.auth.jwt_audience,
                options={
                    "require": ["exp", "sub"],
                    "verify_aud": bool(self._settings.auth.jwt_audience),
                },
            )
        except jwt.ExpiredSignatureError:
            raise NotAuthorizedException("the token has expired; ask for a new one") from None
        except jwt.PyJWTError as exc:
            raise NotAuthorizedException(f"the token is not valid: {exc}") from None
        checked = checked_claims(claims)
        principal = Principal(
            sub=checked.sub,
            role=checked.role,
            cpts=checked.cpts,
            specialty=checked.specialty,
            zones=tuple(checked.zones),
        )
        return principal, float(claims["exp"])


async def directory_principal(db: Any, rpps: str, cpts: str | None) -> Principal:
    """The directory's principal for a provider-verified RPPS, or a 401/403 saying why."""
    if db is None:
        raise NotAuthorizedException("this service cannot read the CPTS directory")
    try:
        return await directory_identity.principal_for(db, rpps, cpts)
    except directory_identity.NotInDirectory as exc:
        raise PermissionDeniedException(str(exc)) from None
    except directory_identity.SeveralCpts as exc:
        raise NotAuthorizedException(
            f"{exc}: send the header X-Parcours-CPTS with one of: {', '.join(exc.cpts)}"
        ) from None


def _pool(connection: ASGIConnection) -> Any:
    resources = getattr(connection.app.state, "resources", None)
    return resources.pool if resources is not None else None


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: Any, verifier: TokenVerifier, **kwargs: Any) -> None:
        super().__init__(app, exclude=[f"^{p}" for p in PUBLIC_PATHS], **kwargs)
        self._verifier = verifier

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if not token and connection.scope["path"] in QUERY_TOKEN_PATHS:
            # browsers' EventSource and WebSocket cannot set headers: accept ?access_token=
            token = connection.query_params.get("access_token", "")
        if not token and web_session.COOKIE in connection.cookies:
            return await self._from_session(connection)
        if not token:
            raise NotAuthorizedException("a bearer token is required (Authorization: Bearer …)")
        cpts = connection.headers.get(CPTS_HEADER) or None
        principal = await self._verifier.verify(token, _pool(connection), cpts)
        return AuthenticationResult(user=principal, auth=token)

    async def _from_session(self, connection: ASGIConnection) -> AuthenticationResult:
        pool = _pool(connection)
        session = await web_session.load_session(pool, connection.cookies[web_session.COOKIE])
        if session is None or session.expires_at <= dt.datetime.now(dt.UTC):
            raise NotAuthorizedException("the session has ended: sign in again (/auth/login)")
        method = connection.scope.get("method", "GET")
        if method not in web_session.SAFE_METHODS and not web_session.csrf_matches(
            session, connection.headers.get(web_session.CSRF_HEADER)
        ):
            raise PermissionDeniedException("the CSRF token is missing or wrong (X-CSRF-Token)")
        principal = session.principal
        if self._verifier.oidc is not None and self._verifier.oidc.issued_here(session.token):
            # the directory again (cached a few seconds): a deactivation or a new role holds
            # for open sessions too, and the provider's token must still be valid
            principal = await self._verifier.verify(session.token, pool, principal.cpts)
        return AuthenticationResult(user=principal, auth=session.token)


def requires(
    *roles: str | Role,
) -> Callable[[ASGIConnection, BaseRouteHandler], Awaitable[None]]:
    """A guard: the caller's role must be one of ``roles``."""
    allowed = frozenset(str(r) for r in roles)

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        # async on purpose: Litestar runs a sync guard in a worker thread, on every request
        principal: Principal = connection.user
        if principal.role not in allowed:
            raise PermissionDeniedException(
                f"role {principal.role!r} may not do this; allowed: {', '.join(sorted(allowed))}"
            )

    return guard
