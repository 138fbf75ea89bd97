"""Browser sessions: a random id in an HTTP-only, SameSite=Lax cookie, the rest in
PostgreSQL (``web_sessions``, migration 0070), so that signing out ends the session
everywhere at once.

The cookie is ``Secure`` unless the service runs in development or test over
plain HTTP on the loopback. A session carries its CSRF token: a request authenticated
by the cookie that changes something (POST, PUT, PATCH, DELETE) must send the same
value in ``X-CSRF-Token`` (JavaScript) or a ``csrf`` form field (HTML forms); the
cookie alone is never enough. A session ends at the earliest of its TTL
(``PARCOURS_SESSION_TTL_SECONDS``) and the expiry of the token it was opened with.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

import msgspec

from parcours.principal import Principal

COOKIE = "parcours_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class WebSession(msgspec.Struct, frozen=True):
    principal: Principal
    token: str  # forwarded as the bearer to the other services
    csrf: str
    expires_at: dt.datetime


def _hash(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


async def open_session(
    db: Any, principal: Principal, token: str, expires_at: dt.datetime
) -> tuple[str, WebSession]:
    """A new session; returns the cookie's value and the session."""
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    await db.execute(
        """INSERT INTO web_sessions (id_hash, sub, role, cpts, specialty, zones, token, csrf,
                                     expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        _hash(session_id),
        principal.sub,
        principal.role,
        principal.cpts,
        principal.specialty,
        list(principal.zones),
        token,
        csrf,
        expires_at,
    )
    await db.execute("DELETE FROM web_sessions WHERE expires_at < now() - interval '1 day'")
    return session_id, WebSession(principal, token, csrf, expires_at)


async def load_session(db: Any, session_id: str | None) -> WebSession | None:
    if not session_id or len(session_id) > 100:
        return None
    row = await db.fetchrow(
        """SELECT sub, role, cpts, specialty, zones, token, csrf, expires_at FROM web_sessions
           WHERE id_hash = $1 AND expires_at > now()""",
        _hash(session_id),
    )
    if row is None:
        return None
    principal = Principal(
        sub=row["sub"],
        role=row["role"],
        cpts=row["cpts"],
        specialty=row["specialty"],
        zones=tuple(row["zones"]),
    )
    return WebSession(principal, row["token"], row["csrf"], row["expires_at"])


async def close_session(db: Any, session_id: str | None) -> None:
    if session_id:
        await db.execute("DELETE FROM web_sessions WHERE id_hash = $1", _hash(session_id))


def csrf_matches(session: WebSession, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), str(sent).encode())


def cookie_secure(settings: Any) -> bool:
    """Secure cookies everywhere but development and tests over HTTP on the loopback."""
    return settings.environment == "production" or settings.http.host not in (
        "127.0.0.1",
        "localhost",
        "::1",
    )
