"""Bearer JWTs: who is calling, for which CPTS, in which role.

Every route except health and the schema requires a token with ``sub``
(an RPPS or a system id), ``role`` and ``cpts``, each of the exact shape of
``contracts.shapes`` (and ``specialty``, ``zones`` when present): a token whose
claims do not fit is a 401 that says which claim. The token comes in the
``Authorization`` header; only the stream routes and the dashboard, which
browsers open without headers, also take ``?access_token=``. Development and tests sign
with HS256 and a shared secret; production verifies with a public key or a
JWKS URL. ``mint`` makes development tokens (``parcours token``).
"""

from __future__ import annotations

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
from parcours.problems import scrubbed
from parcours.settings import Settings

PUBLIC_PATHS = {"/health", "/schema", "/dashboard", "/static", "/fhir/r4/metadata"}
# long-lived feeds (Server-Sent Events, WebSocket): never shed, may carry ?access_token=
STREAM_PATHS = frozenset({"/v1/me/notifications/stream"})
QUERY_TOKEN_PATHS = STREAM_PATHS | {"/dashboard"}


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


class Principal(msgspec.Struct, frozen=True):
    sub: str
    role: str
    cpts: str
    specialty: str | None = None
    zones: tuple[str, ...] = ()

    @property
    def actor_role(self) -> str:
        """The role acted in: a specialist acts as their specialty."""
        return self.specialty if self.role == Role.SPECIALIST and self.specialty else self.role


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
    if not settings.jwt_secret:
        raise RuntimeError("minting needs PARCOURS_JWT_SECRET (development only)")
    issued = int(now if now is not None else time.time())
    payload = {"sub": sub, "role": role, "cpts": cpts, "iat": issued, "exp": issued + ttl_seconds}
    payload.update(claims)
    return jwt.encode(payload, settings.jwt_secret, algorithm="HS256")


class TokenVerifier:
    """Verifies tokens, caching the verified claims of recent tokens until they expire."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._jwks = jwt.PyJWKClient(settings.jwks_url) if settings.jwks_url else None

    def _key(self, token: str) -> tuple[Any, list[str]]:
        s = self._settings
        if self._jwks is not None:
            return self._jwks.get_signing_key_from_jwt(token).key, ["RS256", "ES256"]
        if s.jwt_public_key:
            return s.jwt_public_key, ["RS256", "ES256"]
        return s.jwt_secret, ["HS256"]

    def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached and cached[0] > time.time():
            return cached[1]
        try:
            key, algorithms = self._key(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self._settings.jwt_audience,
                options={
                    "require": ["exp", "sub"],
                    "verify_aud": bool(self._settings.jwt_audience),
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
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[token] = (float(claims["exp"]), principal)
        return principal


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
        if not token:
            raise NotAuthorizedException("a bearer token is required (Authorization: Bearer …)")
        principal = self._verifier.verify(token)
        return AuthenticationResult(user=principal, auth=token)


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
